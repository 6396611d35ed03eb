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
from collections.abc import Iterable, Mapping
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

__all__ = [
    "DOUBLE_DIPPING_COLUMNS",
    "RULES",
    "active_enrolments",
    "breaches",
    "double_dipping",
    "with_evidence",
]

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
    rule: str, person: str, rows: list[Mapping[str, Any]], policy: Policy, detail: str, **extra: Any
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


def _since_order(row: Mapping[str, Any]) -> tuple[bool, str, str]:
    """Who was enrolled first: by ``since`` (rows without one last), then person id."""
    return (not isinstance(row["since"], str), str(row["since"]), str(row["person_id"]))


def breaches(
    enrolments: Iterable[Mapping[str, Any]], policy: Policy, rules: Iterable[str] = RULES
) -> list[dict[str, Any]]:
    """The double-dipping rules: the findings among some enrolments, in plain Python.

    The one place the rules are written: :func:`double_dipping` (every person of the graph) and
    :func:`graph.queries.would_break.would_break` (one enrolment, the enrolments of its person and
    household around it) both call it.

    Parameters
    ----------
    enrolments:
        Rows with ``record_id`` (the record key), ``programme``, ``status``, ``since``,
        ``amount``, ``person_id`` and ``household_id`` (the person's household group,
        ``person:<id>`` if none). Rows whose status is not active under ``policy`` are left out.
        A rule looks at a person's (or a household's) enrolments together: give all of them.
    policy:
        The policy.
    rules:
        The rules to apply (those the policy enables).

    Returns
    -------
    One dict per finding, ordered by rule (as :data:`RULES`) then person: the columns of
    :data:`DOUBLE_DIPPING_COLUMNS` but ``tie`` and ``links``, and ``_records`` / ``_persons``
    (the finding's record keys and persons, in the order of ``enrolments``).
    """
    rules = set(rules)
    active = [r for r in enrolments if policy.is_active(r.get("status"))]
    by_person: dict[Any, list[Mapping[str, Any]]] = {}
    for row in active:
        by_person.setdefault(row["person_id"], []).append(row)
    findings: list[dict[str, Any]] = []

    if "cash_cap" in rules and policy.cash_cap is not None:
        cap = policy.cash_cap
        for person, rows in by_person.items():
            cash = [r for r in rows if policy.counts_toward_cap(r["programme"])]
            n_cash = len({r["programme"] for r in cash})
            if n_cash > cap:
                detail = f"{n_cash} cash programmes; the cap is {cap}"
                findings.append(_finding("cash_cap", person, cash, policy, detail))

    if "exclusive_pair" in rules and policy.exclusive_pairs:
        for person, rows in by_person.items():
            held = {r["programme"] for r in rows}
            for a, b in policy.exclusive_pairs:
                if a in held and b in held:
                    both = [r for r in rows if r["programme"] in (a, b)]
                    detail = f"{a} and {b} exclude each other"
                    findings.append(_finding("exclusive_pair", person, both, policy, detail))

    if "one_per_household" in rules and policy.one_per_household:
        limited = set(policy.one_per_household)
        by_home: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
        for row in active:
            home = str(row["household_id"])
            if row["programme"] in limited and not home.startswith(ALONE):
                by_home.setdefault((home, row["programme"]), []).append(row)
        for (household, code), rows in by_home.items():
            order = list(dict.fromkeys(r["person_id"] for r in sorted(rows, key=_since_order)))
            if len(order) < 2:
                continue
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
        for person, rows in by_person.items():
            by_code: dict[str, list[Mapping[str, Any]]] = {}
            for row in rows:
                by_code.setdefault(row["programme"], []).append(row)
            for code, same in by_code.items():
                n_records = len({r["record_id"] for r in same})
                if n_records > 1:
                    detail = f"enrolled in {code} under {n_records} records"
                    findings.append(_finding("duplicate_enrolment", person, same, policy, detail))

    rank = {rule: i for i, rule in enumerate(RULES)}
    # stable: a person's findings of one rule stay in the policy's (or the rows') order
    findings.sort(key=lambda f: (rank[f["rule"]], str(f["person_id"])))
    return findings


def with_evidence(
    findings: list[dict[str, Any]],
    own_links: Mapping[Any, list[tuple]],
    at_record: Mapping[str, list[tuple]],
) -> list[dict[str, Any]]:
    """Give each finding of :func:`breaches` its ``links`` and ``tie`` (and drop its ``_records``
    and ``_persons``): ``own_links`` are each person's scored links among their own records,
    ``at_record`` every link at each record, as ``(from, to, probability)`` rows."""
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
    return findings


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
    if active.empty:
        return pd.DataFrame(columns=list(DOUBLE_DIPPING_COLUMNS))
    unknown_codes = sorted(c for c in active["programme"].unique() if c not in policy.programmes)
    if unknown_codes:
        log.warning(
            "programmes not in policy %s count as cash allowances: %s",
            policy.label,
            ", ".join(unknown_codes),
        )

    # every rule needs two enrolments of a person, or of a household in a one-per-household
    # programme (the cash cap is at least 1): the rows of anyone else cannot break one
    several = active["person_id"].duplicated(keep=False)
    if policy.one_per_household:
        shared = active["programme"].isin(policy.one_per_household)
        several |= shared & active.duplicated(["household_id", "programme"], keep=False)
    findings = breaches(active[several.to_numpy()].to_dict("records"), policy, rules)

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
    with_evidence(findings, own_links, at_record)
    frame = pd.DataFrame(findings, columns=list(DOUBLE_DIPPING_COLUMNS))
    rank = {rule: i for i, rule in enumerate(RULES)}
    frame = frame.sort_values(
        ["rule", "person_id"], key=lambda s: s.map(rank) if s.name == "rule" else s
    )
    return frame.reset_index(drop=True)
