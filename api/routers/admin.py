"""``/v1/keys`` and ``/v1/audit``: an admin makes and revokes keys and reads the audit log."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query

from api.access import AccessError
from api.deps import Admin, ServiceDep
from api.schemas.admin import AuditPage, Key, KeyRequest, NewKey
from api.schemas.common import REFUSALS, Problem

router = APIRouter(tags=["admin"])


@router.post("/keys", response_model=NewKey, status_code=201, responses=REFUSALS)
def create_key(request: KeyRequest, caller: Admin, service: ServiceDep) -> Any:
    """Make a key. Its token is in this answer only: keep it safe."""
    try:
        made = service.access.create_key(request.name, request.role, request.sources)
    except AccessError as exc:
        raise HTTPException(422, str(exc)) from None
    return {**made.key.to_dict(), "token": made.token}


@router.get("/keys", response_model=list[Key], responses=REFUSALS)
def list_keys(caller: Admin, service: ServiceDep) -> Any:
    """Every key ever made, revoked ones with the time they were revoked."""
    return [k.to_dict() for k in service.access.keys()]


@router.delete(
    "/keys/{key_id}",
    response_model=Key,
    responses={**REFUSALS, 404: {"model": Problem, "description": "No such key."}},
)
def revoke_key(key_id: str, caller: Admin, service: ServiceDep) -> Any:
    """Revoke a key: every later request with it is refused (401)."""
    try:
        return service.access.revoke(key_id).to_dict()
    except AccessError as exc:
        raise HTTPException(404, str(exc)) from None


@router.get("/audit", response_model=AuditPage, responses=REFUSALS)
def audit(
    caller: Admin,
    service: ServiceDep,
    after: Annotated[int, Query(ge=0, description="Rows after this sequence number.")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    key_id: Annotated[str | None, Query(max_length=64, description="One key's rows.")] = None,
) -> Any:
    """The audit log, oldest first: every read of personal data and every reveal."""
    rows = service.access.audit_rows(after=after, limit=limit, key_id=key_id)
    return {"rows": rows, "next_after": rows[-1]["seq"] if len(rows) == limit else None}
