"""Shapes of ``/v1/ingest/jobs`` and ``/v1/jobs/{id}``."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field


class Job(BaseModel):
    """An ingest job: a data file and its mapping, ingested in the background."""

    job_id: str
    source: str = Field(description="The source the mapping names.")
    file: str = Field(description="The data file's name as uploaded.")
    status: Literal["queued", "running", "succeeded", "failed"]
    created_at: str
    started_at: str | None
    finished_at: str | None
    report: dict[str, Any] | None = Field(
        description="Once succeeded: rows_read, ingested, unchanged, new_versions, quarantined, "
        "field_warnings, the reports' paths under the home, seconds."
    )
    error: str | None = Field(description="Once failed: why.")
