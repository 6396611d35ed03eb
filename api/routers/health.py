"""``GET /v1/health``: is the service up, and what does it serve (no key needed)."""

from __future__ import annotations

import time

from fastapi import APIRouter
from pydantic import BaseModel

from api.deps import ServiceDep

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str
    backend: str
    resolver_loaded: bool
    model_version: str | None
    uptime_seconds: float
    start_seconds: dict[str, float]


@router.get("/health", response_model=Health)
def health(service: ServiceDep) -> Health:
    """Whether the service is up; no key needed, no personal data given."""
    return Health(
        status="ok",
        backend=service.backend,
        resolver_loaded=service.resolver is not None,
        model_version=getattr(service.model, "model_version", None),
        uptime_seconds=round(time.time() - service.started_at, 1),
        start_seconds={k: round(v, 3) for k, v in service.start_seconds.items()},
    )
