"""Which programmes does this person receive, across every MIS?

:func:`programmes_of` takes a person id, a record key or any identifier value and follows the graph
to the persons behind it and every enrolment of theirs, with the records and scored links that tie
the enrolments to the person.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Final

import pandas as pd

from graph.queries._common import UNRESOLVED, tie_strength
from graph.schema import account_id, present
from graph.store import GraphStore

__all__ = [
    "WALLET_PROVIDERS",
    "ProgrammesOf",
    "candidate_nodes",
    "programme_nodes",
    "programmes_of",
]

log = logging.getLogger(__name__)

#: Providers tried when a bare number is looked up as a wallet (``provider:number`` is exact).
WALLET_PROVIDERS: Final = ("bkash", "nagad", "rocket", "upay", "tap", "unknown")

ENROLMENT_COLUMNS: Final = (
    "person_id",
    "programme",
    "programme_name",
    "cash",
    "status",
    "since",
    "amount",
    "record_id",
    "source",
    "tie",
    "links",
)
RECORD_COLUMNS: Final = ("person_id", "record_id", "source", "kind", "programme", "name", "via")


_LINK_COLUMNS: Final = ("from", "to", "probability", "model_version")


@dataclass
class ProgrammesOf:
    """The answer of :func:`programmes_of`.

    The rows are plain dicts (cheap to build, ready for JSON); the DataFrame views are made on
    first use.

    Attributes
    ----------
    query:
        The value asked about.
    matched:
        ``(label, id)`` of each node the value named (a Person, a Record, an NID, a Phone...).
    persons:
        The persons behind it (a shared phone leads to several).
    enrolment_rows, record_rows, link_rows:
        The rows of :attr:`enrolments`, :attr:`records` and :attr:`links`.
    """

    query: str
    matched: list[tuple[str, str]] = field(default_factory=list)
    persons: list[str] = field(default_factory=list)
    enrolment_rows: list[dict[str, Any]] = field(default_factory=list)
    record_rows: list[dict[str, Any]] = field(default_factory=list)
    link_rows: list[dict[str, Any]] = field(default_factory=list)

    @property
    def found(self) -> bool:
        """True if the value named anything in the graph."""
        return bool(self.matched)

    @cached_property
    def enrolments(self) -> pd.DataFrame:
        """One row per enrolment record: ``person_id, programme, programme_name, cash, status,
        since, amount, record_id, source, tie, links``.

        ``tie`` is the weakest link on the strongest paths of scored links joining the record to
        the person's other enrolments (NaN: the person has one enrolment, or resolution tied them
        without a scored path); ``links`` lists the record's links to the person's other records as
        ``a~b=probability``.
        """
        frame = pd.DataFrame(self.enrolment_rows, columns=list(ENROLMENT_COLUMNS))
        return frame.sort_values(["person_id", "programme", "record_id"]).reset_index(drop=True)

    @cached_property
    def records(self) -> pd.DataFrame:
        """Every record of the persons (enrolments, survey, reference): ``person_id, record_id,
        source, kind, programme, name, via`` (``via``: the identifier that led to it, if any)."""
        return pd.DataFrame(self.record_rows, columns=list(RECORD_COLUMNS))

    @cached_property
    def links(self) -> pd.DataFrame:
        """Scored links touching the persons' records: ``from, to, probability, model_version``."""
        frame = pd.DataFrame(self.link_rows, columns=list(_LINK_COLUMNS))
        return frame.sort_values("probability", ascending=False).reset_index(drop=True)


def candidate_nodes(value: str) -> list[tuple[str, str]]:
    """``(label, id)`` nodes a cleaned value may name, most specific first."""
    out: list[tuple[str, str]] = []
    if "/" in value:
        out.append(("Record", value))
    if ":" in value:
        out.append(("Account", value))
    out.append(("Person", value))
    if value.isdigit():
        if len(value) == 17:
            out.append(("NID", value[4:]))
        if len(value) in (10, 13):
            out.append(("NID", value))
        if len(value) in (16, 17):
            out.append(("BRN", value))
        if len(value) == 11:
            out.append(("Phone", value))
        if len(value) in (11, 12):  # a wallet: the mobile number (Rocket: plus one digit)
            out.extend(("Account", account_id(provider, value)) for provider in WALLET_PROVIDERS)
    return out


@dataclass
class _Found:
    """What a lookup gathered: the nodes matched, the persons, and each person's records."""

    matched: list[tuple[str, str]] = field(default_factory=list)
    persons: dict[str, None] = field(default_factory=dict)
    via: dict[str, str] = field(default_factory=dict)
    # person -> [(record props, [(programme props, edge props)], [(other record, edge props)])]
    records: dict[str, list[tuple[dict, list[tuple[dict, dict]], list[tuple[str, dict]]]]] = field(
        default_factory=dict
    )


def _gather(
    store: GraphStore,
    value: str,
    records: bool = True,
    programmes: Mapping[str, Mapping[str, Any]] | None = None,
) -> _Found:
    """Walk the store through the protocol: ``node`` / ``neighbours`` calls to find the persons,
    then a handful of look-ups for all their records (:func:`_views`)."""
    found = _Found()
    for label, node_id in candidate_nodes(value):
        if store.node(label, node_id) is None:
            continue
        found.matched.append((label, node_id))
        if label == "Person":
            found.persons[node_id] = None
            continue
        if label == "Record":
            keys = [node_id]
        else:
            keys = [n.props["id"] for n in store.neighbours(label, node_id, "HAS", direction="in")]
            if label == "NID":  # the other forms of the same card (EC extract)
                for other in store.neighbours(label, node_id, "SAME_NID", direction="both"):
                    keys += [
                        n.props["id"]
                        for n in store.neighbours("NID", other.props["id"], "HAS", direction="in")
                    ]
        for key in keys:
            found.via.setdefault(key, f"{label} {node_id}")
            owners = store.neighbours("Record", key, "OF", neighbour_label="Person")
            if owners:
                found.persons.update(dict.fromkeys(n.props["id"] for n in owners))
            else:
                found.persons[UNRESOLVED + key] = None
    _views(store, found, records, programmes)
    return found


def _views(
    store: GraphStore,
    found: _Found,
    records: bool,
    programmes: Mapping[str, Mapping[str, Any]] | None,
) -> None:
    """Each person's records, their enrolments and scored links: read for all the persons at once,
    a handful of ``edges`` / ``nodes`` look-ups whatever the number of records (a store answers
    each in about the time of one ``neighbours``). Without ``records`` the Record nodes are not
    read (a record is then its key and source)."""
    persons = list(found.persons)
    resolved = [p for p in persons if not p.startswith(UNRESOLVED)]
    keys_of: dict[str, list[str]] = {
        p: [p[len(UNRESOLVED) :]] for p in persons if p not in resolved
    }
    if resolved:
        for edge in store.edge_list("OF", to_ids=resolved):
            keys_of.setdefault(str(edge["to"]), []).append(str(edge["from"]))
    keys = list(dict.fromkeys(k for p in persons for k in keys_of.get(p, ())))
    props: dict[str, dict[str, Any]] = {}
    enrolled: dict[str, list[tuple[dict, dict]]] = {}
    links: dict[str, list[tuple[str, dict]]] = {}
    if keys and records:
        for row in store.nodes("Record", ids=keys).to_dict("records"):
            props[str(row["id"])] = present(row)
    if keys:
        enrolments = store.edge_list("ENROLLED_IN", from_ids=keys)
        if enrolments:
            codes = {edge["to"] for edge in enrolments}
            if programmes is None or not codes <= set(programmes):
                programmes = programme_nodes(store, codes)
            for edge in enrolments:
                programme = dict(programmes.get(str(edge["to"])) or {"id": edge["to"]})
                enrolled.setdefault(str(edge["from"]), []).append((programme, _edge_props(edge)))
        for end, other in (("from", "to"), ("to", "from")):
            for edge in store.edge_list("SAME_AS", **{f"{end}_ids": keys}):
                links.setdefault(str(edge[end]), []).append((str(edge[other]), _edge_props(edge)))
    for person in persons:
        views = []
        for key in sorted(keys_of.get(person, ())):
            on = sorted(enrolled.get(key, []), key=lambda e: str(e[0]["id"]))
            linked = sorted(links.get(key, []), key=lambda e: e[0])
            own = props.get(key) or {"id": key, "source": key.split("/", 1)[0]}
            views.append((own, on, linked))
        found.records[person] = views


def programme_nodes(
    store: GraphStore, codes: Iterable[str] | None = None
) -> dict[str, dict[str, Any]]:
    """The ``Programme`` nodes' properties by code (``codes`` only, if given): a few dozen, worth
    keeping by a caller that asks often (:func:`programmes_of`'s ``programmes``)."""
    nodes = store.nodes("Programme", ids=codes)
    return {str(r["id"]): present(r) for r in nodes.to_dict("records")}


_ENDS: Final = frozenset({"from", "to", "from_label", "to_label"})


def _edge_props(edge: dict[str, Any]) -> dict[str, Any]:
    return present({k: v for k, v in edge.items() if k not in _ENDS})


_VIEW = (
    "RETURN pid, properties(r) AS record, "
    "[(r)-[e:ENROLLED_IN]->(g:Programme) | [properties(g), properties(e)]] AS enrolled, "
    "[(r)-[l:SAME_AS]-(o:Record) | [o.id, properties(l)]] AS links"
)


def _gather_cypher(run_read: Any, value: str) -> _Found:
    """The same walk as :func:`_gather` in two Cypher queries (for Neo4j: two round trips)."""
    found = _Found()
    parts, params = [], {}
    for i, (label, node_id) in enumerate(candidate_nodes(value)):
        params[f"v{i}"] = node_id
        node = f"(n:`{label}` {{id: $v{i}}})"  # labels from the schema's allow-list only
        if label == "Person":
            tail = "RETURN n.id AS id, null AS key, n.id AS person"
        elif label == "Record":
            tail = (
                "OPTIONAL MATCH (n)-[:OF]->(p:Person) "
                "RETURN n.id AS id, n.id AS key, p.id AS person"
            )
        elif label == "NID":
            tail = (
                "OPTIONAL MATCH (n)-[:SAME_NID*0..1]-(:NID)<-[:HAS]-(r:Record) "
                "OPTIONAL MATCH (r)-[:OF]->(p:Person) "
                "RETURN DISTINCT n.id AS id, r.id AS key, p.id AS person"
            )
        else:
            tail = (
                "OPTIONAL MATCH (n)<-[:HAS]-(r:Record) OPTIONAL MATCH (r)-[:OF]->(p:Person) "
                "RETURN n.id AS id, r.id AS key, p.id AS person"
            )
        parts.append(f"MATCH {node} WITH n, {i} AS i {tail}, i")
    rows = run_read(
        "CALL () { " + " UNION ALL ".join(parts) + " } RETURN i, id, key, person ORDER BY i, key",
        **params,
    )
    candidates = candidate_nodes(value)
    for row in rows:
        label = candidates[row["i"]][0]
        if (label, row["id"]) not in found.matched:
            found.matched.append((label, row["id"]))
        if label == "Person":
            found.persons[row["person"]] = None
            continue
        key = row["key"]
        if key is None:
            continue
        found.via.setdefault(key, f"{label} {row['id']}")
        found.persons[row["person"] or UNRESOLVED + key] = None
    if not found.persons:
        return found
    resolved = [p for p in found.persons if not p.startswith(UNRESOLVED)]
    lone = [p[len(UNRESOLVED) :] for p in found.persons if p.startswith(UNRESOLVED)]
    rows = run_read(
        "CALL () { "
        "UNWIND $persons AS pid MATCH (:Person {id: pid})<-[:OF]-(r:Record) " + _VIEW + " "
        "UNION ALL "
        "UNWIND $lone AS key MATCH (r:Record {id: key}) WITH $prefix + key AS pid, r " + _VIEW + " "
        "} RETURN pid, record, enrolled, links ORDER BY pid, record.id",
        persons=resolved,
        lone=lone,
        prefix=UNRESOLVED,
    )
    for row in rows:
        views = found.records.setdefault(row["pid"], [])
        views.append(
            (
                dict(row["record"]),
                [(dict(g), dict(e)) for g, e in row["enrolled"]],
                [(o, dict(e)) for o, e in row["links"]],
            )
        )
    return found


def programmes_of(
    store: GraphStore,
    value: str,
    *,
    records: bool = True,
    programmes: Mapping[str, Mapping[str, Any]] | None = None,
) -> ProgrammesOf:
    """Every enrolment, across all MISs, of the person(s) a value names.

    On Neo4j the walk is two Cypher queries (``Neo4jStore.run_read``); on other stores a few
    protocol calls to find the persons and a handful of look-ups for all their records. Both give
    the same answer.

    Parameters
    ----------
    store:
        Any graph store.
    value:
        A person id, a record key (``source/record_id``), or a *cleaned* identifier: an NID in any
        form (10, 13 or 17 ASCII digits), a BRN, an 11-digit mobile number, a wallet or account
        (``provider:number``, or a bare wallet number). Clean raw input first (Bangla digits,
        ``+880`` ...) with ``engine.normalise``; the CLI and API do.
    records:
        False to leave the records' own properties unread (other stores than Neo4j): the answer
        then has its enrolments and links, and records that are their key and source only.
    programmes:
        The ``Programme`` nodes by code (:func:`programme_nodes`), when the caller keeps them;
        read again if a programme found is not among them.

    Returns
    -------
    A :class:`ProgrammesOf`; ``found`` is False if the value names nothing.

    Example
    -------
    >>> answer = programmes_of(store, "01711000001")                  # doctest: +SKIP
    >>> answer.persons                                                # doctest: +SKIP
    ['P1', 'P2']
    >>> answer.enrolments[["person_id", "programme", "status", "tie"]]  # doctest: +SKIP
    """
    value = value.strip()
    run_read = getattr(store, "run_read", None)
    if callable(run_read):
        found = _gather_cypher(run_read, value)
    else:
        found = _gather(store, value, records, programmes)
    answer = ProgrammesOf(query=value, matched=found.matched, persons=list(found.persons))
    via = found.via
    record_rows: list[dict[str, Any]] = []
    enrolment_rows: list[dict[str, Any]] = []
    link_rows: dict[tuple[str, str], dict[str, Any]] = {}
    for person in answer.persons:
        views = found.records.get(person, [])
        keyset = {props["id"] for props, _, _ in views}
        adjacency: dict[str, dict[str, float]] = {}
        mine: list[dict[str, Any]] = []
        for props, enrolled, links in views:
            key = props["id"]
            for other, edge in links:
                p = edge.get("probability")
                pair = (key, other) if key < other else (other, key)
                link_rows[pair] = {
                    "from": pair[0],
                    "to": pair[1],
                    "probability": p,
                    "model_version": edge.get("model_version"),
                }
                if other in keyset and p is not None:
                    adjacency.setdefault(key, {})[other] = float(p)
                    adjacency.setdefault(other, {})[key] = float(p)
            for programme, edge in enrolled:
                mine.append(
                    {
                        "person_id": person,
                        "programme": programme["id"],
                        "programme_name": programme.get("name", programme["id"]),
                        "cash": programme.get("cash"),
                        "status": edge.get("status"),
                        "since": edge.get("since"),
                        "amount": edge.get("amount"),
                        "record_id": key,
                        "source": props.get("source"),
                    }
                )
            record_rows.append(
                {
                    "person_id": person,
                    "record_id": key,
                    "source": props.get("source"),
                    "kind": props.get("kind"),
                    "programme": props.get("programme"),
                    "name": props.get("full_name") or props.get("full_name_bn"),
                    "via": via.get(key),
                }
            )
        enrolled_keys = [row["record_id"] for row in mine]
        for row in mine:
            key = row["record_id"]
            others = [k for k in enrolled_keys if k != key]
            row["tie"] = tie_strength([key, *others], adjacency) if others else float("nan")
            row["links"] = ";".join(
                f"{a}~{b}={p:.3f}"
                for a, b, p in sorted(
                    ((min(key, o), max(key, o), p) for o, p in adjacency.get(key, {}).items()),
                    key=lambda t: -t[2],
                )
            )
        enrolment_rows.extend(mine)
    answer.enrolment_rows = enrolment_rows
    answer.record_rows = record_rows
    answer.link_rows = list(link_rows.values())
    return answer
