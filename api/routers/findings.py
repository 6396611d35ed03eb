"""``/v1/findings/...``: the analysts' whole-graph questions, a page at a time.

Each finding list is worked out once over the graph (:mod:`graph.queries`, the tables shared
between them) and kept until the graph changes; a request filters and pages it. A filter value
that matches nothing gives no rows, never an error. Every page is audited with the persons (or,
for coverage, the households) on it, and identifiers are masked unless the analyst named a
purpose (:func:`api.deps.personal`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Any

import pandas as pd
from fastapi import APIRouter, HTTPException, Query

from api.deps import Analyst, Caller, ServiceDep, personal
from api.routers._page import Limit, Offset, page
from api.schemas.common import REFUSALS, Page
from api.schemas.findings import PolicyPage, ReferencePage
from api.service import Service

router = APIRouter(prefix="/findings", tags=["findings"])

#: The programme filter both the double-dipping and the coverage findings take.
Programme = Annotated[
    str | None,
    Query(
        min_length=1,
        max_length=100,
        description="Only findings involving this programme code.",
        examples=["old_age_allowance"],
    ),
]


def _graph_tables(service: Service, store: Any) -> Any:
    """The graph's whole tables, read once for every finding (until the graph changes)."""
    from graph.queries import GraphTables

    return service.cached("findings.tables", lambda: GraphTables(store))


def _found(service: Service, name: str, query: Any) -> Any:
    """A finding list over the whole graph, kept until the graph changes."""
    with service.graph() as store:
        if store is None:
            raise HTTPException(503, "The graph is not open yet.", headers={"Retry-After": "5"})
        tables = _graph_tables(service, store)
        return service.cached(f"findings.{name}", lambda: query(store, tables))


def _holding(column: pd.Series, value: str) -> pd.Series:
    """Which ``;``-joined cells hold ``value`` as one of their items."""
    return column.fillna("").astype(str).map(lambda cell: value in cell.split(";")).astype(bool)


def _people(values: Iterable[Any]) -> list[str]:
    """The IDs in cells that may hold several, ``;``-joined."""
    return [p for v in values if isinstance(v, str) for p in v.split(";") if p]


def _answer(
    service: Service,
    caller: Caller,
    route: str,
    found: pd.DataFrame,
    offset: int,
    limit: int,
    who: str,
    **extra: Any,
) -> Any:
    answer = page(service, found, offset, limit)
    people = _people(row.get(who) for row in answer["rows"])
    return personal(service, caller, route, people, {**answer, **extra})


@router.get("/double-dipping", response_model=PolicyPage, responses=REFUSALS)
def double_dipping(
    caller: Analyst,
    service: ServiceDep,
    offset: Offset = 0,
    limit: Limit = 100,
    rule: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=100,
            description="cash_cap, exclusive_pair, one_per_household or duplicate_enrolment.",
        ),
    ] = None,
    programme: Programme = None,
) -> Any:
    """Persons and households holding programmes the policy says they may not hold together
    (cash cap, exclusive pairs, one per household, one programme under two records), each with
    its records and the scored links tying them."""
    from graph.policy import default_policy
    from graph.queries import double_dipping as query

    policy = default_policy()
    found = _found(
        service,
        f"double_dipping.{policy.label}",
        lambda store, tables: query(store, policy, tables=tables),
    )
    if rule is not None:
        found = found[found["rule"] == rule]
    if programme is not None:
        found = found[_holding(found["programmes"], programme)]
    return _answer(
        service,
        caller,
        "GET /v1/findings/double-dipping",
        found,
        offset,
        limit,
        "person_id",
        policy_version=policy.label,
    )


@router.get("/suspicious", response_model=Page, responses=REFUSALS)
def suspicious(
    caller: Analyst,
    service: ServiceDep,
    offset: Offset = 0,
    limit: Limit = 100,
    min_risk: Annotated[
        float,
        Query(
            ge=0, le=1, allow_inf_nan=False, description="Only identifiers at this risk or above."
        ),
    ] = 0.5,
    identifier_type: Annotated[
        str | None, Query(min_length=1, max_length=100, description="wallet or phone.")
    ] = None,
) -> Any:
    """Wallets and phones used by several persons who are not one household, highest risk first
    (sharing inside a household is never listed)."""
    from graph.queries import suspicious_identifiers

    found = _found(
        service,
        "suspicious",
        lambda store, tables: suspicious_identifiers(store, min_risk=0.0, tables=tables),
    )
    found = found[found["risk"] >= min_risk]
    if identifier_type is not None:
        found = found[found["identifier_type"] == identifier_type]
    route = "GET /v1/findings/suspicious"
    return _answer(service, caller, route, found, offset, limit, "person_ids")


@router.get("/reference-checks", response_model=ReferencePage, responses=REFUSALS)
def reference_checks(
    caller: Analyst,
    service: ServiceDep,
    offset: Offset = 0,
    limit: Limit = 100,
    check: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=100,
            description="wallet_not_own, phone_not_own, nid_not_in_ec, brn_not_in_bdris or "
            "brn_dob_mismatch.",
        ),
    ] = None,
    source: Annotated[
        str | None,
        Query(min_length=1, max_length=100, description="Only records of this source."),
    ] = None,
) -> Any:
    """Records that disagree with the reference registries: wallets and phones owned by someone
    outside the household, NIDs the EC does not know, BRNs BDRIS does not know or dates."""
    from graph.queries import reference_checks as query

    found = _found(service, "reference_checks", lambda store, tables: query(store, tables=tables))
    skipped = list(found.attrs.get("skipped", []))
    if check is not None:
        found = found[found["check"] == check]
    if source is not None:
        found = found[found["record_id"].astype(str).str.startswith(f"{source}/")]
    route = "GET /v1/findings/reference-checks"
    return _answer(service, caller, route, found, offset, limit, "person_id", skipped=skipped)


@router.get("/coverage", response_model=PolicyPage, responses=REFUSALS)
def coverage(
    caller: Analyst,
    service: ServiceDep,
    pmt_cutoff: Annotated[
        float,
        Query(
            allow_inf_nan=False,
            description="Households with a PMT score below this are poor (lower is poorer).",
            examples=[30],
        ),
    ],
    well_off_cutoff: Annotated[
        float | None,
        Query(
            allow_inf_nan=False,
            description="Households at or above this are well off (default: pmt_cutoff).",
        ),
    ] = None,
    offset: Offset = 0,
    limit: Limit = 100,
    finding: Annotated[
        str | None,
        Query(min_length=1, max_length=100, description="poor_not_covered or well_off_covered."),
    ] = None,
    district: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=100,
            description="A district: its name in English or Bangla, or its BBS geocode.",
            examples=["Chuadanga"],
        ),
    ] = None,
    programme: Programme = None,
) -> Any:
    """Poor households (PMT below the cut-off) receiving nothing, and well-off households
    receiving a programme; poorest first."""
    from engine.errors import InvalidValue
    from engine.normalise import district_code
    from graph.policy import default_policy
    from graph.queries import coverage as query

    policy = default_policy()
    with service.graph() as store:
        if store is None:
            raise HTTPException(503, "The graph is not open yet.", headers={"Retry-After": "5"})
        tables = _graph_tables(service, store)
        try:
            found = query(
                store, pmt_cutoff, well_off_cutoff=well_off_cutoff, policy=policy, tables=tables
            )
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from None
    if finding is not None:
        found = found[found["finding"] == finding]
    if district is not None:
        try:
            code = district_code(district)
        except InvalidValue:
            code = district
        found = found[found["district"] == code]
    if programme is not None:
        found = found[_holding(found["programmes"], programme)]
    return _answer(
        service,
        caller,
        "GET /v1/findings/coverage",
        found,
        offset,
        limit,
        "household_id",
        policy_version=policy.label,
    )
