"""Shapes several resources share."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Problem(BaseModel):
    """Why a request was refused: one line."""

    detail: str = Field(examples=["Unknown or revoked API key."])


class Page(BaseModel):
    """One page of rows of a larger answer."""

    model_config = ConfigDict(extra="forbid")

    total: int = Field(description="Rows in the whole answer (after the filters).")
    offset: int
    limit: int
    rows: list[dict[str, Any]]


#: The refusals every keyed route may answer with.
REFUSALS: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem, "description": "No key, or an unknown or revoked one."},
    403: {"model": Problem, "description": "The key's role or sources do not allow this."},
    422: {"description": "A field, parameter or header is not valid (named in the answer)."},
    429: {"model": Problem, "description": "Too many requests for this key (see Retry-After)."},
}
