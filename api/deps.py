"""The routes' dependencies, declared once as ``Annotated`` aliases: the service, and the caller
with the roles a route admits.

A route names who may call it by the alias it takes: ``caller: Analyst`` admits analyst keys,
``caller: Reviewer`` reviewer keys, and so on. Each alias is a FastAPI ``Security`` dependency
whose scopes are the roles, so the role matrix can be read off ``app.routes`` (the tests do).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Header, HTTPException, Request, Security
from fastapi.concurrency import run_in_threadpool
from fastapi.security import APIKeyHeader, SecurityScopes

from api.access import UNREAD, ApiKey
from api.masking import mask
from api.service import Service
from engine.privacy import mask_text

__all__ = [
    "Admin",
    "Analyst",
    "AnalystOrReviewer",
    "Caller",
    "Mis",
    "Reviewer",
    "ServiceDep",
    "in_thread",
    "personal",
]

T = TypeVar("T")


# The dependencies are coroutines, answered on the event loop: FastAPI runs a plain function's
# dependency in the thread pool, one hand-over each, which on the API's one core cost more than
# the dependency itself.
async def get_service(request: Request) -> Service:
    return request.app.state.service


ServiceDep = Annotated[Service, Depends(get_service)]

_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="An ekjon API key.")


@dataclass(frozen=True)
class Caller:
    """Who is calling: their key, the purpose they named (analysts), this request's id."""

    key: ApiKey
    purpose: str | None
    request_id: str

    @property
    def reveals(self) -> bool:
        """Whether identifiers are shown in full: an analyst who named a purpose."""
        return self.purpose is not None and self.key.role == "analyst"

    def may_use_source(self, source: str) -> bool:
        """Whether this key may act for ``source`` (an mis key: its own sources only)."""
        return self.key.role != "mis" or source in self.key.sources


async def _caller(
    scopes: SecurityScopes,
    request: Request,
    service: ServiceDep,
    token: Annotated[str | None, Depends(_key_header)] = None,
    purpose: Annotated[
        str | None,
        Header(
            alias="X-Purpose",
            description="Why an analyst needs identifiers in full (one of the configured "
            "purposes); the reveal is audited.",
        ),
    ] = None,
) -> Caller:
    if not token:
        raise HTTPException(401, "No API key: send it in the X-API-Key header.")
    key = service.access.remembered(token)
    if key is UNREAD:  # read from the file in the thread pool: it may wait for an audit commit
        key = await run_in_threadpool(service.access.authenticate, token)
    if key is None:
        raise HTTPException(401, "Unknown or revoked API key.")
    if key.role not in scopes.scopes:
        raise HTTPException(
            403,
            f"{_article(key.role).capitalize()} {key.role} key may not call {request.method} "
            f"{request.url.path}; it needs {_article(scopes.scopes[0])} "
            f"{' or '.join(scopes.scopes)} key.",
        )
    wait = service.limiter.take(key.key_id)
    if wait > 0:
        raise HTTPException(
            429,
            f"Too many requests for key {key.key_id}; try again in {wait:.1f} s.",
            headers={"Retry-After": str(max(1, round(wait)))},
        )
    if purpose is not None:
        purpose = purpose.strip()
        if purpose not in service.settings.purposes:
            raise HTTPException(
                422,
                f"X-Purpose {purpose!r} is not one of {', '.join(service.settings.purposes)}.",
            )
    request_id = request.headers.get("X-Request-ID") or uuid.uuid4().hex
    return Caller(key, purpose or None, request_id)


def _article(role: str) -> str:
    """The article before a role's name as it is said ("an mis key", "a reviewer key")."""
    return "an" if role[:1] in "aeiou" or role == "mis" else "a"


def _role(*roles: str) -> Any:
    return Security(_caller, scopes=list(roles))


Mis = Annotated[Caller, _role("mis")]
Analyst = Annotated[Caller, _role("analyst")]
Reviewer = Annotated[Caller, _role("reviewer")]
AnalystOrReviewer = Annotated[Caller, _role("analyst", "reviewer")]
Admin = Annotated[Caller, _role("admin")]


async def in_thread(work: Callable[..., T], *args: Any) -> T:
    """``work(*args)`` in the thread pool (it may wait: for a lock, the graph, an audit commit).

    A route that is a coroutine and hands its work over with this makes one hand-over to the
    thread pool a request; FastAPI runs a plain function's route in the pool and then checks
    its answer against the response model in the pool again, a second hand-over. On the one core
    the API runs on, each costs about as much as the checking itself.
    """
    return await run_in_threadpool(work, *args)


def personal(
    service: Service,
    caller: Caller,
    route: str,
    persons: Iterable[str],
    answer: Any,
    *,
    keep: Sequence[str] = (),
    request: str = "",
) -> Any:
    """An answer that carries personal data, made ready to leave: one audit row written first
    (no row, no answer: a failure to write it is a 503), identifiers masked unless the caller
    named a purpose. The answer as sent is kept under the idempotency keys ``keep`` (for
    ``request``, the digest of what was asked) in the audit row's commit."""
    # a record no person holds is named by its key, which for NID- or phone-keyed registries is
    # the identifier itself: the audit log keeps it masked, as every other file does
    people: Sequence[str] = sorted({mask_text(str(p)) for p in persons if p})
    sent = answer if caller.reveals else mask(answer)
    kept = [(k, request, 200, json.dumps(sent, ensure_ascii=False)) for k in keep]
    try:
        service.access.audit(
            caller.key,
            route,
            people,
            purpose=caller.purpose,
            revealed=caller.reveals,
            answers=kept,
        )
    except Exception as exc:  # fail closed: the answer does not leave unaudited
        raise HTTPException(
            503,
            "The audit log could not be written; nothing was answered.",
            headers={"Retry-After": "5"},
        ) from exc
    return sent
