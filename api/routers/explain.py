"""``/v1/explain`` and ``/v1/decisions``: why two records score as they do, and reviewers'
decisions that two records are (or are not) one person.

Explaining a pair uses every current record for context (how common a name is, how many people
share a phone), as the batch does: the record store's current records are read once and kept
until the graph changes (a resolve or an ingest job says so). Decisions bind every later resolve;
they are written with the reviewer's key name as the reviewer.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query

from api.deps import AnalystOrReviewer, Reviewer, ServiceDep, personal
from api.routers._page import Limit, Offset, page
from api.schemas.common import REFUSALS, Problem
from api.schemas.review import Decision, DecisionPage, DecisionRequest, Explanation
from api.service import Service

router = APIRouter(tags=["review"])

RecordKey = Annotated[
    str,
    Query(
        min_length=3,
        max_length=200,
        pattern=r"^[^/]+/.+$",
        description="A record key: source/record_id.",
        examples=["dss_old_age/OA946857565"],
    ),
]


def _current_records(service: Service) -> Any:
    """Every current record of the record store, read once (until the graph changes)."""
    from engine.ingest.store import RecordStore

    def read() -> Any:
        with RecordStore(service.home.records) as store:
            return store.current()

    if not service.home.records.exists():
        raise HTTPException(404, "No records have been ingested yet.")
    return service.cached("explain.records", read)


def _persons_of(service: Service, keys: list[str]) -> dict[str, str | None]:
    """The person each record is filed under in the graph (``None``: not in the graph)."""
    out: dict[str, str | None] = {}
    with service.graph() as store:
        for key in keys:
            owners = [] if store is None else store.neighbours("Record", key, "OF", "out", "Person")
            out[key] = owners[0].props["id"] if owners else None
    return out


def _filed(persons: dict[str, str | None]) -> list[str]:
    """The persons some records are filed under (for the audit)."""
    return [p for p in persons.values() if p]


@router.get(
    "/explain",
    response_model=Explanation,
    responses={**REFUSALS, 404: {"model": Problem, "description": "A record is not known."}},
)
def explain(
    left: RecordKey, right: RecordKey, caller: AnalystOrReviewer, service: ServiceDep
) -> Any:
    """Each feature's contribution to the match score of two records, the cannot-link rules that
    apply, and whether the pair alone would link."""
    from engine.resolve.explain import UnknownRecord, explain_pair

    if service.model is None:
        raise HTTPException(503, "The match model is not loaded yet.", headers={"Retry-After": "5"})
    records = _current_records(service)
    try:
        explanation = explain_pair(records, left, right, service.model)
    except UnknownRecord as exc:
        raise HTTPException(404, str(exc)) from None
    persons = _persons_of(service, [left, right])
    answer = {
        **explanation.to_dict(),
        # by side, not by record key: keys of NID-keyed registries are masked as values only
        "persons": {"left": persons[left], "right": persons[right]},
        "text": explanation.to_text(),
    }
    return personal(service, caller, "GET /v1/explain", _filed(persons), answer)


@router.post(
    "/decisions",
    status_code=201,
    response_model=Decision,
    responses={
        **REFUSALS,
        422: {
            "description": "A record is unknown or malformed, the two are one, or a field "
            "is missing (named in the answer)."
        },
    },
)
def decide(body: DecisionRequest, caller: Reviewer, service: ServiceDep) -> Any:
    """Decide that two records are (``same``) or are not (``not_same``) one person; the reason
    is kept for the auditors and the decision binds every later resolve."""
    from engine.resolve.decisions import DecisionError
    from engine.review import decide as keep

    try:
        decision, checked = keep(
            service.home, body.a, body.b, body.verdict, reason=body.reason, reviewer=caller.key.name
        )
    except DecisionError as exc:
        raise HTTPException(422, str(exc)) from None
    persons = _persons_of(service, [decision.a, decision.b])
    answer = {**asdict(decision), "checked": checked}
    return personal(service, caller, "POST /v1/decisions", _filed(persons), answer)


@router.get("/decisions", response_model=DecisionPage, responses=REFUSALS)
def decisions(
    caller: Reviewer,
    service: ServiceDep,
    offset: Offset = 0,
    limit: Limit = 100,
    record: Annotated[
        str | None,
        Query(min_length=1, max_length=200, description="Only decisions about this record key."),
    ] = None,
) -> Any:
    """The decisions in force (the latest for each pair), oldest first."""
    from engine.review import decisions as in_force

    found = in_force(service.home, record=record)
    answer = page(service, found, offset, limit)
    keys = sorted({row[side] for row in answer["rows"] for side in ("a", "b")})
    persons = _persons_of(service, keys)
    return personal(service, caller, "GET /v1/decisions", _filed(persons), answer)
