"""Which double-dipping rules would one more enrolment break?

:func:`would_break` answers it for one enrolment before (or right after) it is stored: the policy's
rules (:func:`graph.queries.double_dipping.breaches`, the same function the whole-graph question
calls) are applied to the enrolments of the person it belongs to and of their household's
members, with this one added (an older version of the same record replaced). Only that small part
of the graph is read, a few ``node`` / ``neighbours`` look-ups (:func:`enrolments_near`), so it
takes milliseconds on a national graph; the findings are those that name this enrolment's record.

Example
-------
>>> found = would_break(store, {"record_id": "dss_old_age/9", "programme": "widow_allowance",
...     "status": "active"}, person_id="P0000000013")            # doctest: +SKIP
>>> found[["rule", "programmes", "detail", "policy"]]          # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, NamedTuple

import pandas as pd

from graph.policy import Policy, load_policy
from graph.queries._common import ALONE, UNRESOLVED
from graph.queries.double_dipping import DOUBLE_DIPPING_COLUMNS, breaches, with_evidence
from graph.queries.programmes import programme_nodes
from graph.store import GraphStore

__all__ = ["Near", "enrolments_near", "would_break", "would_break_rows"]

#: The enrolment's terms the rules read (besides its record and programme).
TERMS: Final = ("status", "since", "amount")


class Near(NamedTuple):
    """What :func:`enrolments_near` read around one person.

    Attributes
    ----------
    enrolments:
        One dict per enrolment (``ENROLLED_IN`` edge) of the person and of everyone in their
        household group: ``record_id`` (the record key), ``source``, ``programme``,
        ``programme_name``, ``cash``, ``status``, ``since``, ``amount``, ``person_id`` and
        ``household_id`` (the group, ``person:<id>`` if none); the person's own first, in the
        store's order.
    household:
        The person's household group (its smallest household id), ``None`` if they have none.
    records:
        Record key -> person, for every record of those persons (enrolled or not).
    """

    enrolments: list[dict[str, Any]]
    household: str | None
    records: dict[str, str]


def enrolments_near(
    store: GraphStore,
    person_id: str | None,
    household_id: str | None = None,
    *,
    programmes: Mapping[str, Mapping[str, Any]] | None = None,
    households: bool = True,
) -> Near:
    """The enrolments of a person and of everyone in their household group, as the rules read
    them.

    The group is what :func:`graph.queries._common.household_groups` makes of the ``MEMBER_OF``
    edges (followed from the person until no new person or household turns up), named by its
    smallest household id; ``household_id``, a household the graph holds that the person joins
    (a new person's), is part of it. Read with a few ``store.edges`` calls for the nodes at hand
    (each one look-up however many nodes it names), not one call per node.

    Parameters
    ----------
    store:
        Any graph store.
    person_id:
        The person; ``None`` for one the graph does not hold yet (then only ``household_id``'s
        members are read).
    household_id:
        A household the person belongs to besides those the graph gives them.
    programmes:
        The ``Programme`` nodes' properties by code, when the caller keeps them (they are few;
        :func:`graph.queries.programmes.programme_nodes`); read again if one found is not among
        them.
    households:
        False to read the person's own enrolments only (their household group unread, ``None``):
        enough to check an enrolment in a programme no rule limits per household.

    Returns
    -------
    Near
    """
    persons: dict[str, None] = dict.fromkeys([person_id] if person_id else [])
    homes: set[str] = set()
    if households and household_id:
        joined = [e["from"] for e in store.edge_list("MEMBER_OF", to_ids=[household_id])]
        if joined or store.node("Household", household_id) is not None:
            homes.add(household_id)
            persons.update(dict.fromkeys(joined))
    new_persons = set(persons) if households else set()
    while new_persons:
        found = [e["to"] for e in store.edge_list("MEMBER_OF", from_ids=list(new_persons))]
        new_homes = set(found) - homes
        if not new_homes:
            break
        homes |= new_homes
        members = [e["from"] for e in store.edge_list("MEMBER_OF", to_ids=list(new_homes))]
        new_persons = set(members) - set(persons)
        persons.update(dict.fromkeys(sorted(new_persons)))
    group = min(homes) if homes else None
    # a handful of edges each: read as rows, not as frames
    of = store.edge_list("OF", to_ids=list(persons)) if persons else []
    records: dict[str, str] = {e["from"]: e["to"] for e in of}
    enrolled = store.edge_list("ENROLLED_IN", from_ids=list(records)) if records else []
    if not enrolled:
        return Near([], group, records)
    codes = [e["to"] for e in enrolled]
    if programmes is None or not set(codes) <= set(programmes):
        programmes = programme_nodes(store, set(codes))
    rank = {p: i for i, p in enumerate(persons)}
    rows = []
    for edge, code in zip(enrolled, codes, strict=True):
        key = edge["from"]
        person = records[key]
        programme = programmes.get(code) or {}
        rows.append(
            {
                "record_id": key,
                "source": key.split("/", 1)[0],
                "programme": code,
                "programme_name": _plain(programme.get("name")) or code,
                "cash": _plain(programme.get("cash")),
                **{t: _plain(edge.get(t)) for t in TERMS},
                "person_id": person,
                "household_id": group or ALONE + person,
            }
        )
    rows.sort(key=lambda r: (rank[r["person_id"]], r["record_id"], r["programme"]))
    return Near(rows, group, records)


def _plain(value: Any) -> Any:
    """A table's value as the rules and answers read it: missing (NaN) as ``None``."""
    return None if value is None or (isinstance(value, float) and value != value) else value


def would_break_rows(
    store: GraphStore,
    enrolment: Mapping[str, Any],
    *,
    person_id: str | None,
    household_id: str | None = None,
    policy: Policy | None = None,
    near: Near | None = None,
    evidence: bool = True,
) -> list[dict[str, Any]]:
    """:func:`would_break` as plain dicts (no pandas: for one record at a time).

    ``near`` is :func:`enrolments_near` of the same person and household when the caller has read
    it already (the API shows the person's enrolments too). Read without ``households`` it finds
    the same rules broken for a programme the policy does not limit per household
    (:meth:`~graph.policy.Policy.per_household`), each finding's ``household_id`` then being the
    person's own (``person:<id>``). Without ``evidence`` the findings carry no ``links`` and
    ``tie`` (the SAME_AS look-ups they need are skipped).
    """
    policy = policy or load_policy()
    key, programme = str(enrolment["record_id"]), enrolment.get("programme")
    if not programme:
        return []
    if near is None:
        near = enrolments_near(store, person_id, household_id)
    # an older version of the record is replaced by the enrolment as given
    rows = [r for r in near.enrolments if r["record_id"] != key]
    if not rows:  # every rule needs two enrolments (the cash cap is at least 1)
        return []
    person = person_id or UNRESOLVED + key
    group = near.household or ALONE + person
    terms = {t: enrolment.get(t) for t in TERMS}
    rows.append(
        {
            "record_id": key,
            "programme": programme,
            **terms,
            "person_id": person,
            "household_id": group,
        }
    )
    found = [f for f in breaches(rows, policy) if key in f["_records"]]
    if not evidence:
        for f in found:
            del f["_records"], f["_persons"]
        return found
    person_of = {**near.records, key: person}
    wanted = {r for f in found for r in f["_records"]}
    own = {p for f in found if len(f["_persons"]) == 1 for p in f["_persons"]}
    wanted |= {r for r, p in person_of.items() if p in own}
    own_links: dict[Any, list[tuple]] = {}
    at_record: dict[str, list[tuple]] = {}
    for record in sorted(wanted):
        for link in store.neighbours("Record", record, "SAME_AS", "both", neighbour_label="Record"):
            other = link.props["id"]
            row = (record, other, link.edge_props.get("probability"))
            at_record.setdefault(record, []).append(row)
            if person_of.get(other) == person_of.get(record) and record in person_of:
                own_links.setdefault(person_of[record], []).append(row)
    return with_evidence(found, own_links, at_record)


def would_break(
    store: GraphStore,
    enrolment: Mapping[str, Any],
    *,
    person_id: str | None,
    household_id: str | None = None,
    policy: Policy | None = None,
) -> pd.DataFrame:
    """The double-dipping findings one enrolment would make, under ``policy``.

    Parameters
    ----------
    store:
        Any graph store.
    enrolment:
        ``record_id`` (the record key, ``source/record_id``), ``programme`` and optionally
        ``status``, ``since``, ``amount``. Whether or not the graph holds the record already, the
        check sees it as given here.
    person_id:
        The person the record belongs to; ``None`` for a person the graph does not hold yet.
    household_id:
        A household the person belongs to besides those the graph gives them (a new person's,
        e.g. ``source/household_id``).
    policy:
        The policy (default: :func:`graph.policy.load_policy`'s current file).

    Returns
    -------
    A DataFrame with columns :data:`~graph.queries.double_dipping.DOUBLE_DIPPING_COLUMNS`, one row
    per finding that names the enrolment's record; empty when it breaks no rule (or names no
    programme).
    """
    found = would_break_rows(
        store, enrolment, person_id=person_id, household_id=household_id, policy=policy
    )
    return pd.DataFrame(found, columns=list(DOUBLE_DIPPING_COLUMNS))
