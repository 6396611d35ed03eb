"""Which double-dipping rules would one more enrolment break?

:func:`would_break` answers it for one enrolment before (or right after) it is stored: the policy's
rules (:func:`graph.queries.double_dipping`) are applied to the enrolments of the person it
belongs to and of their household's members, with this one added (an older version of the same
record replaced). Only that small part of the graph is read, so it takes milliseconds on a national
graph; the findings are those that name this enrolment's record.

Example
-------
>>> found = would_break(store, {"record_id": "dss_old_age/9", "programme": "widow_allowance",
...     "status": "active"}, person_id="P0000000013")            # doctest: +SKIP
>>> found[["rule", "programmes", "detail", "policy"]]          # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from graph.policy import Policy, load_policy
from graph.queries._common import UNRESOLVED, GraphTables
from graph.queries.double_dipping import DOUBLE_DIPPING_COLUMNS, double_dipping
from graph.store import GraphStore

__all__ = ["would_break"]

_ENDS = {"OF": ("Record", "Person"), "ENROLLED_IN": ("Record", "Programme")}


class _Around:
    """The store's read interface over the part of the graph around one person: the ``OF``,
    ``ENROLLED_IN`` and ``MEMBER_OF`` edges given here; anything else read from the store."""

    def __init__(self, store: GraphStore, tables: Mapping[str, pd.DataFrame]) -> None:
        self._store = store
        self._tables = dict(tables)

    def edges(
        self,
        edge_type: str,
        from_ids: Iterable[str] | None = None,
        to_ids: Iterable[str] | None = None,
    ) -> pd.DataFrame:
        frame = self._tables.get(edge_type)
        if frame is None:
            return self._store.edges(edge_type, from_ids=from_ids, to_ids=to_ids)
        if from_ids is not None:
            frame = frame[frame["from"].isin(set(from_ids))]
        if to_ids is not None:
            frame = frame[frame["to"].isin(set(to_ids))]
        return frame.reset_index(drop=True)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


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
    policy = policy or load_policy()
    key, programme = str(enrolment["record_id"]), enrolment.get("programme")
    if not programme:
        return pd.DataFrame(columns=list(DOUBLE_DIPPING_COLUMNS))
    person = person_id or UNRESOLVED + key
    # the person's household groups, and everyone in them
    extra = household_id if household_id and store.node("Household", household_id) else None
    seeds = {person}
    if extra is not None:
        seeds |= set(store.edges("MEMBER_OF", to_ids=[extra])["from"])
    persons = seeds | set(GraphTables(store).household_groups_of(seeds).index)
    member = store.edges("MEMBER_OF", from_ids=persons)[["from", "to"]]
    if extra is not None:
        member = pd.concat([member, pd.DataFrame({"from": [person], "to": [extra]})])

    of = store.edges("OF", to_ids=persons)
    of = of[of["from"] != key]
    enrolled = store.edges("ENROLLED_IN", from_ids=set(of["from"]))
    enrolled = enrolled[enrolled["from"] != key]
    if enrolled.empty:  # every rule needs two enrolments (the cash cap is at least 1)
        return pd.DataFrame(columns=list(DOUBLE_DIPPING_COLUMNS))
    terms = {c: enrolment.get(c) for c in ("status", "since", "amount")}
    tables = {
        "ENROLLED_IN": _plus(enrolled, "ENROLLED_IN", key, programme, **terms),
        "OF": _plus(of, "OF", key, person_id) if person_id else of,
        "MEMBER_OF": member.drop_duplicates().assign(from_label="Person", to_label="Household"),
    }
    found = double_dipping(_Around(store, tables), policy)  # type: ignore[arg-type]
    named = found["record_ids"].map(lambda ids: key in str(ids).split(";")).astype(bool)
    return found[named].reset_index(drop=True)


def _plus(edges: pd.DataFrame, edge_type: str, frm: str, to: str, **props: Any) -> pd.DataFrame:
    """``edges`` (a table of ``store.edges``) with one more edge."""
    from_label, to_label = _ENDS[edge_type]
    row = {"from": frm, "to": to, "from_label": from_label, "to_label": to_label, **props}
    return pd.DataFrame([*edges.to_dict("records"), row])  # a few rows: no dtype to keep
