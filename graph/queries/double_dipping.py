"""Double dipping: persons (and households) holding programmes a policy says they may not hold.

The rules come from a versioned policy file (:mod:`graph.policy`); only active enrolments count:

===================  ===========================================================================
rule                 a finding is
===================  ===========================================================================
cash_cap             a person with more than ``cash_cap`` cash programmes that count toward the cap
exclusive_pair       a person in both programmes of an exclusive pair (one finding per pair)
one_per_household    a household with two or more members in a one-per-household programme
duplicate_enrolment  a person enrolled in one programme under two or more records
===================  ===========================================================================

Every finding carries its evidence: the records, their sources, the scored links among them and
the weakest of those links on the paths that tie the records to one person (``tie``).
"""

from __future__ import annotations

import logging
from typing import Any, Final

import pandas as pd

from graph.policy import Policy, load_policy
from graph.queries._common import (
    ALONE,
    GraphTables,
    format_links,
    household_of,
    is_active,
    joined,
    tie_strength,
    without_gc,
)
from graph.store import GraphStore

__all__ = ["DOUBLE_DIPPING_COLUMNS", "RULES", "active_enrolments", "double_dipping"]

log = logging.getLogger(__name__)

RULES: Final = ("cash_cap", "exclusive_pair", "one_per_household", "duplicate_enrolment")

DOUBLE_DIPPING_COLUMNS: Final = (
    "person_id",
    "rule",
    "programmes",
    "record_ids",
    "household_id",
    "sources",
    "tie",
    "links",
    "detail",
    "policy",
)


def active_enrolments(
    store: GraphStore, policy: Policy, *, tables: GraphTables | None = None
) -> pd.DataFrame:
    """Active enrolments: ``record_id, programme, status, since, amount, person_id, household_id``.

    ``household_id`` is the person's household group (``person:<id>`` if none).
    """
    tables = tables or GraphTables(store)
    enrolled = tables.edges("ENROLLED_IN").copy()
    for column in ("status", "since", "amount"):
        if column not in enrolled.columns:
            enrolled[column] = None
    active = enrolled[
        is_active(enrolled["status"], policy.active_statuses, policy.missing_status_is_active)
    ]
    frame = pd.DataFrame(
        {
            "record_id": active["from"].to_numpy(dtype=object),
            "programme": active["to"].to_numpy(dtype=object),
            "status": active["status"].to_numpy(dtype=object),
            "since": active["since"].to_numpy(dtype=object),
            "amount": active["amount"].to_numpy(),
        }
    )
    frame["person_id"] = tables.persons(pd.Index(frame["record_id"])).to_numpy()
    frame["household_id"] = household_of(frame["person_id"], tables.households).to_numpy()
    return frame


def _finding(
    rule: str, person: str, rows: list[dict[str, Any]], policy: Policy, detail: str, **extra: Any
) -> dict[str, Any]:
    records = list(dict.fromkeys(r["record_id"] for r in rows))
    return {
        "person_id": person,
        "rule": rule,
        "programmes": joined(r["programme"] for r in rows),
        "record_ids": ";".join(sorted(records)),
        "household_id": extra.get("household_id", joined(r["household_id"] for r in rows)),
        "sources": joined(r.split("/", 1)[0] for r in records),
        "detail": detail,
        "policy": policy.label,
        "_records": records,
        "_persons": list(dict.fromkeys(r["person_id"] for r in rows)),
    }


def _grouped(rows: pd.DataFrame, *by: str) -> dict[Any, list[dict[str, Any]]]:
    """The (few) flagged rows as plain dicts, grouped by the ``by`` columns."""
    groups: dict[Any, list[dict[str, Any]]] = {}
    for row in rows.to_dict("records"):
        key = row[by[0]] if len(by) == 1 else tuple(row[b] for b in by)
        groups.setdefault(key, []).append(row)
    return groups


@without_gc
def double_dipping(
    store: GraphStore,
    policy: Policy | None = None,
    rules: tuple[str, ...] = RULES,
    *,
    tables: GraphTables | None = None,
) -> pd.DataFrame:
    """Findings of double dipping under ``policy``, one row per finding.

    Parameters
    ----------
    store:
        Any graph store.
    policy:
        The policy (default: :func:`graph.policy.load_policy`'s current file).
    rules:
        The rules to apply (default: all of :data:`RULES` the policy enables).
    tables:
        Whole-graph tables to share with other queries (see :class:`GraphTables`).

    Returns
    -------
    A DataFrame with columns :data:`DOUBLE_DIPPING_COLUMNS`: ``person_id`` (for
    ``one_per_household``: the members enrolled after the first, ``;``-joined), ``rule``,
    ``programmes`` and ``record_ids`` (``;``-joined), ``household_id``, ``sources``, ``tie`` (the
    weakest scored link tying the records to one person; NaN if they are tied by clustering or
    the assignment alone, or belong to different persons), ``links`` (``a~b=probability``),
    ``detail`` and ``policy`` (``name-vN``). Sorted by rule, then person.

    Raises
    ------
    ValueError
        If ``rules`` names an unknown rule.

    Example
    -------
    >>> findings = double_dipping(store)                                 # doctest: +SKIP
    >>> findings[["person_id", "rule", "programmes"]].head()             # doctest: +SKIP
    """
    policy = policy or load_policy()
    unknown = set(rules) - set(RULES)
    if unknown:
        raise ValueError(
            f"Unknown double-dipping rule {sorted(unknown)[0]!r}; the rules are {', '.join(RULES)}."
        )
    tables = tables or GraphTables(store)
    active = active_enrolments(store, policy, tables=tables)
    findings: list[dict[str, Any]] = []
    if active.empty:
        return pd.DataFrame(columns=list(DOUBLE_DIPPING_COLUMNS))
    unknown_codes = sorted(c for c in active["programme"].unique() if c not in policy.programmes)
    if unknown_codes:
        log.warning(
            "programmes not in policy %s count as cash allowances: %s",
            policy.label,
            ", ".join(unknown_codes),
        )

    if "cash_cap" in rules and policy.cash_cap is not None:
        counts = active["programme"].map(policy.counts_toward_cap).astype(bool)
        cash = active[counts]
        n = cash.groupby("person_id")["programme"].nunique()
        over = cash[cash["person_id"].isin(n[n > policy.cash_cap].index)]
        for person, rows in _grouped(over, "person_id").items():
            n_cash = len({r["programme"] for r in rows})
            findings.append(
                _finding(
                    "cash_cap",
                    person,
                    rows,
                    policy,
                    f"{n_cash} cash programmes; the cap is {policy.cash_cap}",
                )
            )

    if "exclusive_pair" in rules and policy.exclusive_pairs:
        holders = {
            code: set(active.loc[active["programme"] == code, "person_id"])
            for pair in policy.exclusive_pairs
            for code in pair
        }
        for a, b in policy.exclusive_pairs:
            both = holders[a] & holders[b]
            if not both:
                continue
            rows_of = active[active["person_id"].isin(both) & active["programme"].isin((a, b))]
            for person, rows in _grouped(rows_of, "person_id").items():
                findings.append(
                    _finding(
                        "exclusive_pair", person, rows, policy, f"{a} and {b} exclude each other"
                    )
                )

    if "one_per_household" in rules and policy.one_per_household:
        subset = active[
            active["programme"].isin(policy.one_per_household)
            & ~active["household_id"].astype(str).str.startswith(ALONE)
        ]
        members = subset.groupby(["household_id", "programme"])["person_id"].nunique()
        flagged = members[members > 1].reset_index()[["household_id", "programme"]]
        rows_of = subset.merge(flagged, on=["household_id", "programme"])
        for (household, code), rows in _grouped(rows_of, "household_id", "programme").items():
            first = sorted(
                rows,
                key=lambda r: (not isinstance(r["since"], str), str(r["since"]), r["person_id"]),
            )
            order = list(dict.fromkeys(r["person_id"] for r in first))
            findings.append(
                _finding(
                    "one_per_household",
                    ";".join(order[1:]),
                    rows,
                    policy,
                    f"{len(order)} members of household {household} receive {code}; "
                    f"first enrolled: {order[0]}",
                    household_id=household,
                )
            )

    if "duplicate_enrolment" in rules and policy.duplicate_enrolment:
        n = active.groupby(["person_id", "programme"])["record_id"].nunique()
        flagged = n[n > 1].reset_index()[["person_id", "programme"]]
        rows_of = active.merge(flagged, on=["person_id", "programme"])
        for (person, code), rows in _grouped(rows_of, "person_id", "programme").items():
            n_records = len({r["record_id"] for r in rows})
            findings.append(
                _finding(
                    "duplicate_enrolment",
                    person,
                    rows,
                    policy,
                    f"enrolled in {code} under {n_records} records",
                )
            )

    if not findings:
        return pd.DataFrame(columns=list(DOUBLE_DIPPING_COLUMNS))
    links = tables.links([r for f in findings for r in f["_records"]])
    # each person's own links (a path may run through their other records), as plain rows
    person_of = tables.person_of
    rows = list(zip(links["from"], links["to"], links["probability"], strict=True))
    persons_from = links["from"].map(person_of).to_numpy()
    persons_to = links["to"].map(person_of).to_numpy()
    own_links: dict[Any, list[tuple]] = {}
    at_record: dict[str, list[tuple]] = {}
    for row, person, other in zip(rows, persons_from, persons_to, strict=True):
        if person == other:
            own_links.setdefault(person, []).append(row)
        at_record.setdefault(row[0], []).append(row)
        at_record.setdefault(row[1], []).append(row)
    for f in findings:
        records = f.pop("_records")
        persons = f.pop("_persons")
        if len(persons) == 1:
            mine = own_links.get(persons[0], [])
            f["links"] = format_links(records, mine, touching=True)
            f["tie"] = tie_strength(records, mine)
        else:
            near = [row for r in dict.fromkeys(records) for row in at_record.get(r, ())]
            f["links"] = format_links(records, near)
            f["tie"] = float("nan")
    frame = pd.DataFrame(findings, columns=list(DOUBLE_DIPPING_COLUMNS))
    rank = {rule: i for i, rule in enumerate(RULES)}
    frame = frame.sort_values(
        ["rule", "person_id"], key=lambda s: s.map(rank) if s.name == "rule" else s
    )
    return frame.reset_index(drop=True)
