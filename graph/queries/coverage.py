"""Coverage: poor households that receive nothing, and well-off households that receive.

A household's proxy-means-test (PMT) score is the ``pmt_score`` publishing gave the ``Household``
node (the median of its members' records' scores; the household survey gives them), or, in a graph
without it, the median over the members' records. Lower is poorer. Households without a score are
not judged.
A household *receives* if any member has an active enrolment (statuses as the policy says).
"""

from __future__ import annotations

import logging
from itertools import groupby
from operator import itemgetter
from typing import Final

import pandas as pd

from graph.policy import Policy, load_policy
from graph.queries._common import ALONE, GraphTables, without_gc
from graph.queries.double_dipping import active_enrolments
from graph.store import GraphStore

__all__ = ["COVERAGE_COLUMNS", "coverage"]

log = logging.getLogger(__name__)

COVERAGE_COLUMNS: Final = (
    "household_id",
    "finding",
    "pmt_score",
    "members",
    "enrolled_members",
    "programmes",
    "district",
    "union",
)


@without_gc
def coverage(
    store: GraphStore,
    pmt_cutoff: float,
    *,
    well_off_cutoff: float | None = None,
    policy: Policy | None = None,
    tables: GraphTables | None = None,
) -> pd.DataFrame:
    """Exclusion and inclusion errors by household PMT score.

    Parameters
    ----------
    store:
        Any graph store.
    pmt_cutoff:
        Households with a PMT score below this are poor: a poor household without any active
        enrolment is reported as ``poor_not_covered``.
    well_off_cutoff:
        Households with a PMT score at or above this are well off: one with an active enrolment is
        reported as ``well_off_covered`` (default: ``pmt_cutoff``).
    policy:
        Which statuses are active (default: the current policy).
    tables:
        Whole-graph tables to share with other queries (see :class:`GraphTables`).

    Returns
    -------
    A DataFrame with columns :data:`COVERAGE_COLUMNS`: ``household_id``, ``finding``
    (``poor_not_covered`` / ``well_off_covered``), ``pmt_score``, ``members``,
    ``enrolled_members``, ``programmes`` (``;``-joined), ``district``, ``union``; poorest first
    within each finding.

    Example
    -------
    >>> coverage(store, pmt_cutoff=30).groupby("finding").size()      # doctest: +SKIP
    """
    policy = policy or load_policy()
    well_off = pmt_cutoff if well_off_cutoff is None else well_off_cutoff
    if well_off < pmt_cutoff:
        raise ValueError(
            f"The 'well_off_cutoff' parameter of coverage must be at least pmt_cutoff "
            f"({pmt_cutoff}). Got {well_off}."
        )
    tables = tables or GraphTables(store)
    households = tables.households
    if households.empty:
        return pd.DataFrame(columns=list(COVERAGE_COLUMNS))
    # the households' own PMT scores (publish sets them), else the members' records' scores
    nodes = store.nodes("Household", ["pmt_score", "district", "union"])
    if nodes["pmt_score"].notna().any():
        member = tables.edges("MEMBER_OF")
        group_of = pd.Series(
            member["from"].map(households).to_numpy(), index=member["to"].to_numpy()
        )
        group_of = group_of[~group_of.index.duplicated()]
        scored = nodes.assign(household_id=nodes["id"].map(group_of).to_numpy())
    else:
        records = tables.record_table(["pmt_score", "district", "union"]).copy()
        records["household_id"] = records["id"].map(tables.person_of).map(households)
        scored = records
    scored = scored[scored["household_id"].notna() & scored["pmt_score"].notna()]
    pmt = (
        pd.to_numeric(scored["pmt_score"], errors="coerce").groupby(scored["household_id"]).median()
    )
    place = scored.groupby("household_id")[["district", "union"]].first()
    members = households.groupby(households).size()

    active = active_enrolments(store, policy, tables=tables)
    active = active[~active["household_id"].astype(str).str.startswith(ALONE)]
    enrolled = active.groupby("household_id")["person_id"].nunique().rename("enrolled_members")
    frame = pd.DataFrame({"pmt_score": pmt})
    frame["members"] = members.reindex(frame.index).fillna(0).astype(int)
    frame = frame.join(enrolled, how="left").join(place, how="left")
    frame["enrolled_members"] = frame["enrolled_members"].fillna(0).astype(int)
    poor = frame[(frame["pmt_score"] < pmt_cutoff) & (frame["enrolled_members"] == 0)]
    rich = frame[(frame["pmt_score"] >= well_off) & (frame["enrolled_members"] > 0)]
    # the programmes of the listed households only (a join per household is slow at scale)
    listed = active[active["household_id"].isin(pd.Index(rich.index))]
    pairs = listed[["household_id", "programme"]].drop_duplicates()
    pairs = pairs.sort_values(["household_id", "programme"], kind="stable")
    # joined per household in one pass (a grouped join calls Python per household: slow)
    programmes = pd.Series(
        {
            household: ";".join(code for _, code in group)
            for household, group in groupby(
                zip(pairs["household_id"], pairs["programme"], strict=True), key=itemgetter(0)
            )
        },
        dtype=object,
    )
    poor = poor.assign(programmes="")
    rich = rich.assign(programmes=programmes.reindex(rich.index).fillna("").to_numpy())
    out = pd.concat(
        [poor.assign(finding="poor_not_covered"), rich.assign(finding="well_off_covered")]
    )
    out = out.rename_axis("household_id").reset_index()
    out = out.sort_values(["finding", "pmt_score", "household_id"], ascending=[True, True, True])
    out["finding"] = pd.Categorical(
        out["finding"], categories=["poor_not_covered", "well_off_covered"]
    )
    out = out.sort_values(["finding", "pmt_score", "household_id"]).reset_index(drop=True)
    out["finding"] = out["finding"].astype(str)
    return out[list(COVERAGE_COLUMNS)]
