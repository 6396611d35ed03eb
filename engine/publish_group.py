"""A storing group's publish: the few records the API keeps together, written into the graph as
plain rows (:func:`publish_group`), what :func:`engine.publish.publish` writes for them as frames.

A partial publish of a dozen records through frames is some thirty pandas steps of a few hundred
microseconds each whatever the group's size; as rows it is a few milliseconds. The two ways are
held equal by ``tests/engine/test_publish_group.py`` (every journal write, in order); groups the
rows do not cover go through :func:`engine.publish.publish` itself.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import pandas as pd

from engine.normalise import account_phone, nid_core
from engine.publish import (
    _NID_LENGTHS,
    _OPERATORS,
    _ROLES,
    PublishReport,
    _programme_rows,
    _Publisher,
    publish,
)
from engine.publish_persons import _num_text
from engine.record import CANONICAL_FIELDS, is_missing_value
from graph.policy import Policy, load_policy
from graph.schema import account_id
from graph.store import GraphStore, GraphWriter

__all__ = ["publish_group"]

log = logging.getLogger(__name__)

T = TypeVar("T")


def publish_group(
    store: GraphStore,
    records: Sequence[Mapping[str, Any]],
    person_ids: Sequence[str],
    *,
    policy: Policy | None = None,
    model_version: str | None = None,
) -> PublishReport:
    """A partial publish of a few canonical records (one storing group of the API) with their
    persons: what ``publish(store, records, assignment, complete=False,
    source_households="missing")`` writes, the same nodes, edges and journal writes in the same
    order, built as plain rows rather than pandas frames (a frame step costs a few hundred
    microseconds whatever the group's size, and a group's publish took some thirty of them).

    Groups the rows do not cover are published by :func:`publish` itself: a graph without
    records, records already in the graph (their stale edges are pruned), a record given twice,
    a record without a person, two records naming one household, or reference records (their
    registry edges). ``tests/engine/test_publish_group.py`` holds both ways equal.
    """
    started = time.perf_counter()
    policy = policy or load_policy()
    report = _publish_rows(store, records, person_ids, policy)
    if report is None:
        frame = pd.DataFrame(list(records), columns=list(CANONICAL_FIELDS))
        report = publish(
            store,
            frame,
            pd.DataFrame(
                {
                    "source": frame["source"],
                    "record_id": frame["record_id"],
                    "person_id": list(person_ids),
                }
            ),
            policy=policy,
            model_version=model_version,
            source_households="missing",
            complete=False,
        )
    else:
        log.info("published %s", report.summary())
    report.seconds = time.perf_counter() - started
    return report


def _text_value(value: Any) -> str | None:
    """One value as :func:`engine.publish_persons._text` gives a column's."""
    if is_missing_value(value):
        return None
    text = value if isinstance(value, str) else _num_text(value)
    return text or None


def _frame_column(values: list[Any]) -> list[Any]:
    """A column's values as ``pd.DataFrame(records)`` holds them: whole numbers beside missing
    values or fractions become floats (``NaN`` for the missing), as pandas makes them."""
    given = [v for v in values if not is_missing_value(v)]
    if not given or not all(type(v) in (int, float) for v in given):
        return values
    if len(given) == len(values) and all(type(v) is int for v in given):
        return values
    return [float("nan") if is_missing_value(v) else float(v) for v in values]


def _present(store: GraphStore, label: str, ids: list[str]) -> set[str]:
    """Which of ``ids`` the graph holds as nodes of ``label``."""
    if not ids:
        return set()
    find = getattr(store, "present", None)  # the embedded store's, without a frame
    return find(label, ids) if find is not None else set(store.nodes(label, ["id"], ids=ids)["id"])


def _publish_rows(
    store: GraphStore,
    given: Sequence[Mapping[str, Any]],
    person_ids: Sequence[str],
    policy: Policy,
) -> PublishReport | None:
    """:func:`publish_group` as rows, or ``None`` for a group the rows do not cover."""
    if isinstance(store, GraphWriter) or not given or len(person_ids) != len(given):
        return None
    n = len(given)
    columns = {c: _frame_column([r.get(c) for r in given]) for c in CANONICAL_FIELDS}
    sources = [_text_value(v) for v in columns["source"]]
    record_ids = [_text_value(v) for v in columns["record_id"]]
    persons = [_text_value(p) for p in person_ids]
    if None in sources or None in record_ids or None in persons:
        return None
    keys = [f"{s}/{i}" for s, i in zip(sources, record_ids, strict=True)]
    if len(set(keys)) < n or any(k == "reference" for k in columns["kind"]):
        return None
    homes = [
        (_text_value(h), s)
        for h, s in zip(columns["household_id"], columns["source"], strict=True)
        if not is_missing_value(h)
    ]
    if any(h is None for h, _ in homes) or len(set(homes)) < len(homes):
        return None
    if store.count("Record") == 0 or _present(store, "Record", keys):
        return None

    report = PublishReport()
    pub = _Publisher(store, policy, None, report)
    pub.partial = True

    def value(column: str, j: int) -> Any:
        v = columns[column][j]
        return None if is_missing_value(v) else v

    # sources, programmes: the ones new to the graph, a source made from its first record
    named = list(dict.fromkeys(columns["source"]))
    have = _present(store, "Source", named)
    source_rows = []
    for j in range(n):
        source = columns["source"][j]
        if source not in have:
            have.add(source)
            source_rows.append(
                {"id": source, "kind": value("kind", j), "registry": None, "records": 1}
            )
    report.sources = pub.nodes("Source", source_rows, new=True) if source_rows else 0
    codes = list(dict.fromkeys(p for p in columns["programme"] if not is_missing_value(p)))
    programmes = _programme_rows(codes, policy, report)
    have = _present(store, "Programme", [r["id"] for r in programmes])
    report.programmes = pub.nodes(
        "Programme", [r for r in programmes if r["id"] not in have], new=True
    )

    # persons and households: from the first record of each person the graph lacks
    have = _present(store, "Person", list(dict.fromkeys(persons)))
    first: list[int] = []
    for j, person in enumerate(persons):
        if person not in have:
            have.add(person)
            first.append(j)
    person_rows = []
    for j in first:
        name = value("full_name", j)
        person_rows.append(
            {
                "id": persons[j],
                "name": value("full_name_bn", j) if name is None else name,
                "gender": value("gender", j),
                "date_of_birth": value("date_of_birth", j),
                "district": value("district", j),
                "records": 1,
            }
        )
    report.persons = pub.nodes("Person", person_rows, new=True)
    members = [j for j in first if value("household_id", j) is not None]
    # in the order of their relations (missing last), as _persons_and_households orders them
    members.sort(
        key=lambda j: (value("relation_to_head", j) is None, value("relation_to_head", j) or "")
    )
    member_rows, household_rows = [], []
    for j in members:
        home = f"{columns['source'][j]}/{_text_value(columns['household_id'][j])}"
        member_rows.append(
            {"from": persons[j], "to": home, "relation": value("relation_to_head", j)}
        )
        pmt = value("pmt_score", j)
        household_rows.append(
            {
                "id": home,
                "members": 1,
                "pmt_score": float("nan") if pmt is None else float(pmt),
                "district": value("district", j),
                "union": value("union", j),
            }
        )
    have = _present(store, "Household", [r["id"] for r in household_rows])
    report.households = pub.nodes(
        "Household", [r for r in household_rows if r["id"] not in have], new=True
    )
    pub.edges("MEMBER_OF", "Person", "Household", member_rows)

    # records, their sources, enrolments and identifiers, persons
    report.records += pub.nodes(
        "Record",
        [{"id": keys[j], **{c: columns[c][j] for c in CANONICAL_FIELDS}} for j in range(n)],
    )
    pub.edges(
        "FROM",
        "Record",
        "Source",
        [{"from": keys[j], "to": columns["source"][j]} for j in range(n)],
    )
    pub.edges(
        "ENROLLED_IN",
        "Record",
        "Programme",
        [
            {
                "from": keys[j],
                "to": columns["programme"][j],
                **{c: columns[c][j] for c in ("status", "since", "amount")},
            }
            for j in range(n)
            if not is_missing_value(columns["programme"][j])
        ],
    )
    for label, (nodes, edges) in _identifier_rows(keys, columns).items():
        written = pub.nodes(label, _firsts_by(nodes, lambda r: r["id"]))
        report._add(report.identifiers, label, written)
        pub.edges("HAS", "Record", label, edges)
    pub.edges(
        "OF",
        "Record",
        "Person",
        [{"from": k, "to": p} for k, p in zip(keys, persons, strict=True)],
        replace=True,
    )
    return report


def _identifier_rows(
    keys: list[str], columns: Mapping[str, list[Any]]
) -> dict[str, tuple[list[dict[str, Any]], list[dict[str, Any]]]]:
    """Per identifier label, its node rows and ``HAS`` rows for a few records: what
    :func:`_identifier_columns` gives a chunk of them, as rows."""
    out: dict[str, tuple[list[dict[str, Any]], list[dict[str, Any]]]] = {}
    nids: list[tuple[str, str, str, str]] = []  # key, id, form, given
    for column in ("nid", "nid_alt"):
        bad = []
        for key, raw in zip(keys, columns[column], strict=True):
            text = _text_value(raw)
            if text is None:
                continue
            if len(text) not in _NID_LENGTHS:
                bad.append(text)
                continue
            nids.append((key, nid_core(text), "10" if len(text) == 10 else "13", str(len(text))))
        if bad:
            log.warning(
                "%d %s values are not 10, 13 or 17 digits long and are not published (e.g. %r)",
                len(bad),
                column,
                bad[0],
            )
    if nids:
        nids = _firsts_by(nids, lambda nid: nid[:2])
        out["NID"] = (
            [{"id": i, "form": f} for _, i, f, _ in nids],
            [{"from": k, "to": i, "role": _ROLES["NID"], "form": g} for k, i, _, g in nids],
        )
    brns = [(k, b) for k, v in zip(keys, columns["brn"], strict=True) if (b := _text_value(v))]
    if brns:
        out["BRN"] = (
            [{"id": b} for _, b in brns],
            [{"from": k, "to": b, "role": _ROLES["BRN"]} for k, b in brns],
        )
    phones = [(k, p) for k, v in zip(keys, columns["phone"], strict=True) if (p := _text_value(v))]
    if phones:
        out["Phone"] = (
            [{"id": p, "operator": _OPERATORS.get(p[2:3])} for _, p in phones],
            [{"from": k, "to": p, "role": _ROLES["Phone"]} for k, p in phones],
        )
    accounts = []
    for key, raw, provider in zip(
        keys, columns["account_number"], columns["account_provider"], strict=True
    ):
        number = _text_value(raw)
        if number is not None:
            provider = _text_value(provider) or "unknown"
            accounts.append((key, account_id(provider, number), provider, number))
    if accounts:
        out["Account"] = (
            [
                {"id": i, "provider": p, "number": n, "phone": account_phone(n, p)}
                for _, i, p, n in accounts
            ],
            [{"from": k, "to": i, "role": _ROLES["Account"]} for k, i, _, _ in accounts],
        )
    return out


def _firsts_by(rows: list[T], key: Callable[[T], Any]) -> list[T]:
    """The first of the ``rows`` with each ``key``, in order (``drop_duplicates``' keep first)."""
    seen: set[Any] = set()
    return [r for r in rows if not (key(r) in seen or seen.add(key(r)))]
