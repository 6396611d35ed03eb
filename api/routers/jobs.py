"""``/v1/ingest/jobs`` and ``/v1/jobs/{id}``: MIS files ingested in the background.

An MIS key uploads a data file and its mapping (multipart; files only, never URLs); the mapping's
source must be one of the key's. The answer is 202 with the job's ``Location``; the job runs on
the service's one ingest worker (:mod:`api.jobs`) and its state is read back with GET, by the key
that made it only (any other key is told there is no such job).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, HTTPException, Path, Request, Response, UploadFile

from api.deps import Mis, ServiceDep
from api.jobs import IngestJobs, safe_name
from api.schemas.common import REFUSALS, Problem
from api.schemas.jobs import Job

router = APIRouter(tags=["jobs"])

#: Seconds a client should wait before asking again about a job not finished.
RETRY_SECONDS = 2


def _jobs(request: Request) -> IngestJobs:
    return request.app.state.jobs


@router.post(
    "/ingest/jobs",
    status_code=202,
    response_model=Job,
    responses={
        **REFUSALS,
        403: {"model": Problem, "description": "The mapping's source is not one of the key's."},
        422: {"description": "The mapping is not valid, or the data file's format unknown."},
    },
)
def submit(
    request: Request,
    response: Response,
    caller: Mis,
    service: ServiceDep,
    data: Annotated[UploadFile, File(description="The data file: CSV, Parquet, JSONL or Excel.")],
    mapping: Annotated[
        UploadFile, File(description="Its mapping YAML (docs/mapping.md), naming the source.")
    ],
) -> Any:
    """Queue a data file and its mapping for ingest; poll the job at ``Location``."""
    from engine.errors import MappingError
    from engine.ingest.mapping import mapping_from_dict, parse_mapping_yaml

    try:
        text = mapping.file.read().decode("utf-8")
        where = safe_name(mapping.filename)
        parsed = mapping_from_dict(parse_mapping_yaml(text, where), path=where)
        name = safe_name(data.filename)
        parsed.file_format(name)
    except UnicodeDecodeError:
        raise HTTPException(422, "The mapping is not UTF-8 text.") from None
    except MappingError as exc:
        raise HTTPException(422, str(exc)) from None
    if not caller.may_use_source(parsed.source):
        raise HTTPException(
            403,
            f"Key {caller.key.key_id} may ingest for {', '.join(caller.key.sources)} only, not "
            f"for {parsed.source!r}.",
        )
    job = _jobs(request).submit(caller.key.key_id, parsed.source, text, name, data.file)
    response.headers["Location"] = f"/v1/jobs/{job['job_id']}"
    response.headers["Retry-After"] = str(RETRY_SECONDS)
    return job


@router.get(
    "/jobs/{job_id}",
    response_model=Job,
    responses={**REFUSALS, 404: {"model": Problem, "description": "No such job of this key's."}},
)
def job(
    job_id: Annotated[str, Path(min_length=1, max_length=64, description="The job's id.")],
    response: Response,
    caller: Mis,
    service: ServiceDep,
) -> Any:
    """An ingest job: queued, running, succeeded (with the ingest's counts) or failed (why)."""
    found = service.access.job(job_id)
    if found is None or found["key_id"] != caller.key.key_id:
        raise HTTPException(404, f"No job {job_id!r} of this key.")
    if found["status"] in ("queued", "running"):
        response.headers["Retry-After"] = str(RETRY_SECONDS)
    return found
