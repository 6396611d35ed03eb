"""What the routes share to answer: ``offset`` / ``limit`` parameters, one page of a DataFrame as
plain JSON rows, and graph values made ready for JSON."""

from __future__ import annotations

import json
from typing import Annotated, Any, Final

import numpy as np
import pandas as pd
from fastapi import HTTPException, Query

from api.service import Service, Settings

#: The most rows a page may ask for in the OpenAPI document (the service's setting may be lower).
PAGE_MAX: Final = Settings.page_max

Offset = Annotated[
    int, Query(ge=0, le=2**31 - 1, description="Rows to skip (a page's start in the answer).")
]
Limit = Annotated[int, Query(ge=1, le=PAGE_MAX, description="Most rows on this page.")]


def plain(value: Any) -> Any:
    """A value ready for JSON: numpy scalars as Python ones, NaN as null, through dicts and
    lists."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def json_rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """A DataFrame's rows as plain JSON values (numpy numbers as numbers, NaN as null)."""
    if frame.empty:
        return []
    return json.loads(frame.to_json(orient="records", double_precision=15, force_ascii=False))


def page(service: Service, frame: pd.DataFrame, offset: int, limit: int) -> dict[str, Any]:
    """``{total, offset, limit, rows}``: the rows ``offset`` .. ``offset + limit`` of ``frame``.

    Raises
    ------
    HTTPException
        422 if ``limit`` is above the service's ``page_max``.
    """
    if limit > service.settings.page_max:
        raise HTTPException(
            422, f"limit {limit} is above the most rows a page holds ({service.settings.page_max})."
        )
    rows = frame.iloc[offset : offset + limit] if offset < len(frame) else frame.iloc[0:0]
    return {"total": len(frame), "offset": offset, "limit": limit, "rows": json_rows(rows)}
