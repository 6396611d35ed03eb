"""Shapes of ``/v1/keys`` and ``/v1/audit``."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class KeyRequest(BaseModel):
    """A key to make."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200, examples=["DSS old-age allowance MIS"])
    role: Literal["mis", "analyst", "reviewer", "admin"]
    sources: list[str] = Field(
        default_factory=list,
        max_length=100,
        description="The sources an mis key may resolve and ingest for (required for mis).",
    )


class Key(BaseModel):
    """A key as the service knows it (never its secret)."""

    key_id: str
    name: str
    role: str
    sources: list[str]
    created_at: str
    revoked_at: str | None = None


class NewKey(Key):
    """A key just made: ``token`` is shown now and never again."""

    token: str = Field(description="The key to send in X-API-Key: ek_<key_id>_<secret>.")


class AuditRow(BaseModel):
    seq: int
    at: str
    key_id: str
    role: str
    route: str
    persons: list[str]
    purpose: str | None
    revealed: bool
    hash: str


class AuditPage(BaseModel):
    rows: list[AuditRow]
    next_after: int | None = Field(description="Pass as ?after= for the next page (null: none).")
