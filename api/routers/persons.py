"""``/v1/persons/{id}``: a person's records, programmes, neighbourhood and ledger history.

Every answer carries personal data: one audit row each, identifiers masked unless the analyst
named a purpose (:func:`api.deps.personal`).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query

from api.deps import Analyst, AnalystOrReviewer, Caller, ServiceDep, in_thread, personal
from api.routers._page import plain
from api.schemas.common import REFUSALS, Problem
from api.schemas.persons import History, Neighbourhood, PersonRecords, Programmes
from api.service import Service

router = APIRouter(prefix="/persons", tags=["persons"])

PersonId = Annotated[
    str,
    Path(
        pattern=r"^P\d{10}$",
        description="A person ID: P, 9 digits and a check digit.",
        examples=["P0000000013"],
    ),
]
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    **REFUSALS,
    404: {"model": Problem, "description": "No such person in the graph."},
}


def _person_or_404(store: Any, person_id: str) -> dict[str, Any]:
    found = store.node("Person", person_id)
    if found is None:
        raise HTTPException(404, f"No person {person_id} in the graph.")
    return found


@router.get("/{person_id}", response_model=PersonRecords, responses=NOT_FOUND)
def person(person_id: PersonId, caller: Analyst, service: ServiceDep) -> Any:
    """The records filed under a person, with every canonical field, and their households."""
    with service.graph() as store:
        _person_or_404(store, person_id)
        records = [
            plain(n.props) for n in store.neighbours("Person", person_id, "OF", "in", "Record")
        ]
        households = [
            n.props["id"]
            for n in store.neighbours("Person", person_id, "MEMBER_OF", "out", "Household")
        ]
    answer = {"person_id": person_id, "records": records, "households": households}
    return personal(service, caller, "GET /v1/persons/{id}", [person_id], answer)


@router.get("/{person_id}/programmes", response_model=Programmes, responses=NOT_FOUND)
async def programmes(person_id: PersonId, caller: Analyst, service: ServiceDep) -> Any:
    """Every programme the person receives, across every MIS, each with its enrolment record."""
    return await in_thread(_programmes, person_id, caller, service)


def _programmes(person_id: str, caller: Caller, service: Service) -> dict[str, Any]:
    from graph.queries import programmes_of
    from graph.queries.programmes import programme_nodes

    with service.graph() as store:
        _person_or_404(store, person_id)
        kept = service.cached("programme nodes", lambda: programme_nodes(store))
        # the answer lists enrolments: the records' own properties need not be read
        found = programmes_of(store, person_id, records=False, programmes=kept)
    rows = [plain(r) for r in found.enrolment_rows if r.get("person_id") == person_id]
    answer = {"person_id": person_id, "enrolments": rows}
    return personal(service, caller, "GET /v1/persons/{id}/programmes", [person_id], answer)


@router.get("/{person_id}/neighbourhood", response_model=Neighbourhood, responses=NOT_FOUND)
def neighbourhood(
    person_id: PersonId,
    caller: Analyst,
    service: ServiceDep,
    depth: Annotated[int, Query(ge=1, le=4, description="Edges out to walk.")] = 2,
    limit: Annotated[int, Query(ge=1, le=2000, description="Most nodes returned.")] = 200,
) -> Any:
    """The nodes within ``depth`` edges of the person (records, identifiers, households,
    programmes) and the edges among them, as JSON."""
    from graph.queries import neighbourhood as walk

    with service.graph() as store:
        _person_or_404(store, person_id)
        graph = walk(store, "Person", person_id, depth=depth, limit=limit)
    nodes = [
        {"key": key, "label": d["label"], "id": d["id"], "depth": d["depth"], "props": d["props"]}
        for key, d in graph.nodes(data=True)
    ]
    edges = [
        {"source": a, "target": b, "type": d["type"], "props": d["props"]}
        for a, b, d in graph.edges(data=True)
    ]
    persons = [n["id"] for n in nodes if n["label"] == "Person"]
    answer = {
        "person_id": person_id,
        "nodes": plain(nodes),
        "edges": plain(edges),
        "truncated": bool(graph.graph.get("truncated")),
    }
    return personal(service, caller, "GET /v1/persons/{id}/neighbourhood", persons, answer)


@router.get("/{person_id}/history", response_model=History, responses=NOT_FOUND)
def history(person_id: PersonId, caller: AnalystOrReviewer, service: ServiceDep) -> Any:
    """The identity ledger's events about the person ID: created, merged, split, retired; each
    with the records that moved, why, when and under which model."""
    from engine.review import ReviewError, id_history

    try:
        info, events = id_history(service.home, person_id)
    except ReviewError as exc:
        raise HTTPException(404, str(exc)) from None
    rows = [plain(r) for r in events.to_dict(orient="records")]
    answer = {"id": plain(info), "events": rows}
    return personal(service, caller, "GET /v1/persons/{id}/history", [person_id], answer)
