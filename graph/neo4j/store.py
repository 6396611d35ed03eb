"""The Neo4j graph store: the identity graph in a Neo4j 5 database, behind ``GraphStore``.

Follows the Neo4j driver's guidance: one driver per store (open one store per process and share
it); the database always named; writes as ``UNWIND $rows ... MERGE`` batches inside retryable
transaction functions (every write is idempotent, so a retry is safe); uniqueness constraints on
``id`` for every label, and the schema's indexes, created at start-up. Values are always query
parameters. Labels and edge types cannot be parameters: they are checked against the allow-list in
:mod:`graph.schema` before being written into a query.

Each batch of a write call is one transaction: a batch with an edge whose end is missing is rolled
back whole.

The publish state (:class:`graph.store.PublishState`) is one node outside the graph model,
``(:EkjonPublish {id: "graph"})``, written in a transaction of its own before a publish's first
write and after its last. Neo4j cannot show a reader the graph as it was before a publish began,
so readers of a graph with an unfinished publish are refused (:func:`graph.store.require_complete`).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import pandas as pd
import pyarrow as pa

from graph import schema
from graph.store import (
    DIRECTIONS,
    SHARED_COLUMNS,
    Direction,
    MissingNode,
    Neighbour,
    PublishState,
    ReadOnlyStore,
    StoreUnavailable,
    StoreWriteFailed,
    UnfinishedPublish,
    batches,
    column_table,
    now_iso,
    table,
)

__all__ = ["Neo4jStore"]

log = logging.getLogger(__name__)

T = TypeVar("T")

_MISSING = float("nan")  # a property an edge lacks, as the embedded store's tables show it


def _collected(key: str, values: Sequence[str]) -> str:
    """``RETURN`` of one row of columns: ``key`` collected, and each of ``values`` collected
    wrapped in a one-item list (``collect`` drops nulls; a wrapped null keeps its place)."""
    return "RETURN " + ", ".join([f"collect({key})", *(f"collect([{value}])" for value in values)])


HOW_TO_START = (
    "start ekjon's server with `ekjon neo4j start`, or set EKJON_NEO4J_URI, EKJON_NEO4J_USER and "
    "EKJON_NEO4J_PASSWORD (and EKJON_NEO4J_DATABASE, default neo4j) to use your own Neo4j 5"
)


def _label(label: str) -> str:
    """A node label from the schema's allow-list, quoted for Cypher (anything else raises)."""
    return f"`{schema.node_spec(label).label}`"


def _type(edge_type: str) -> str:
    """An edge type from the schema's allow-list, quoted for Cypher (anything else raises)."""
    return f"`{schema.edge_spec(edge_type).type}`"


#: The node that keeps which identifiers cross households (``shared_identifiers``), by an edge
#: ``EKJON_SHARED`` to each, and that every write able to change that answer locks first. It is
#: outside the graph model: no ``GraphStore`` read shows it, and ``clear`` removes it.
CACHE_LABEL = "EkjonCache"
CACHE_ID = "shared_identifiers"
SHARED_TYPE = "EKJON_SHARED"

#: The node that keeps the publish state (outside the graph model, like the cache).
PUBLISH_LABEL = "EkjonPublish"
PUBLISH_ID = "graph"

#: A write batch naming more nodes than this drops the kept answer rather than work it out again
#: for every identifier it reaches: a publish over a loaded graph rewrites every record, and the
#: next scan working the whole answer out once costs less than doing it batch by batch.
KEEP_LIMIT = 1_000

#: From a node a write changed to the identifier nodes ``(i)`` whose sharing that can change.
_REACH = {
    "Record": "(a)-[:HAS]->(i:{label})",
    "Person": "(a)<-[:OF]-(:Record)-[:HAS]->(i:{label})",
    "Household": "(a)<-[:MEMBER_OF]-(:Person)<-[:OF]-(:Record)-[:HAS]->(i:{label})",
}

#: Whether an identifier crosses households: given by two records or more (bar excluded sources)
#: and no one household holds the persons of them all (a record without a person, or a person
#: without a household, is in none). The pieces every query of it shares: the records that count
#: (``r`` giving ``i``), a person ``p``'s households, and the test on the list ``hss`` of each
#: record's households.
_COUNTED = "(i)<-[:HAS]-(r:Record) WHERE NOT coalesce(r.source, '') IN $excluded "
_HOUSEHOLDS = "COLLECT { MATCH (p)-[:MEMBER_OF]->(h:Household) RETURN h }"
_NONE_HOLDS_ALL = "size(reduce(c = hss[0], x IN hss | [h IN c WHERE h IN x])) = 0"
#: ... asked of the identifiers ``i`` in hand, as ``shared``.
_CROSSES = (
    f"OPTIONAL MATCH {_COUNTED}"
    "OPTIONAL MATCH (r)-[:OF]->(p:Person) "
    f"WITH i, r, {_HOUSEHOLDS} AS hs "
    "WITH i, count(r) AS n, collect(hs) AS hss "
    f"WITH i, n >= 2 AND {_NONE_HOLDS_ALL} AS shared "
)


def schema_statements() -> list[str]:
    """The constraints and indexes the graph model asks for, each safe to run again."""
    statements = []
    for label, spec in schema.NODES.items():
        lower = label.lower()
        statements.append(
            f"CREATE CONSTRAINT ekjon_{lower}_id IF NOT EXISTS "
            f"FOR (n:{_label(label)}) REQUIRE n.id IS UNIQUE"
        )
        for prop in spec.indexed:
            statements.append(
                f"CREATE INDEX ekjon_{lower}_{prop} IF NOT EXISTS "
                f"FOR (n:{_label(label)}) ON (n.{prop})"
            )
    statements.append(
        f"CREATE CONSTRAINT ekjon_cache_id IF NOT EXISTS "
        f"FOR (n:{CACHE_LABEL}) REQUIRE n.id IS UNIQUE"
    )
    statements.append(
        f"CREATE CONSTRAINT ekjon_publish_id IF NOT EXISTS "
        f"FOR (n:{PUBLISH_LABEL}) REQUIRE n.id IS UNIQUE"
    )
    return statements


def _edge_anchors(
    edge_type: str, to_label: str, rows: Sequence[tuple[str, str, Any]]
) -> dict[str, list[str]] | None:
    """The nodes whose identifiers' sharing writing these edges can change, or None (no edge
    type that sharing depends on)."""
    if edge_type == "HAS":
        return {to_label: [t for _, t, _ in rows]}
    if edge_type == "OF":
        return {"Record": [s for s, _, _ in rows]}
    if edge_type == "MEMBER_OF":
        return {"Person": [s for s, _, _ in rows]}
    return None


class Neo4jStore:
    """The identity graph in a Neo4j 5 database.

    Parameters
    ----------
    uri:
        The server's Bolt URI, e.g. ``bolt://127.0.0.1:7687`` or ``neo4j+s://...``.
    user, password:
        The credentials.
    database:
        The database to use; it must exist (Neo4j Community has the one database ``neo4j``).
    batch_size:
        Rows per transaction.
    read_only:
        Only read: no constraints or indexes are created at start (a user who may only read can
        open it), and graph writes raise :class:`graph.store.ReadOnlyStore`. The kept answer of
        ``shared_identifiers`` is still kept where the user may write it.

    Raises
    ------
    StoreUnavailable
        If the server cannot be reached, refuses the credentials, or has no such database.
    """

    def __init__(
        self,
        uri: str,
        user: str,
        password: str,
        database: str = "neo4j",
        batch_size: int = 10_000,
        connection_timeout: float = 10.0,
        read_only: bool = False,
    ) -> None:
        import neo4j
        from neo4j.exceptions import AuthError, DriverError, Neo4jError, ServiceUnavailable

        if batch_size < 1:
            raise ValueError(
                f"The 'batch_size' parameter of Neo4jStore must be a positive int. "
                f"Got {batch_size}."
            )
        self.uri = uri
        self.database = database
        self.batch_size = batch_size
        self.read_only = read_only
        self._driver = neo4j.GraphDatabase.driver(
            uri,
            auth=(user, password),
            connection_timeout=connection_timeout,
            # "unknown label" warnings are normal on an empty database; keep the log useful.
            notifications_disabled_categories=["UNRECOGNIZED", "DEPRECATION"],
        )
        try:
            self._driver.verify_connectivity()
            if not read_only:
                self._create_schema()
        except AuthError as error:
            self._driver.close()
            raise StoreUnavailable(
                f"Neo4j at {uri} refused the credentials of user {user!r} ({error.message}); "
                "check EKJON_NEO4J_USER / EKJON_NEO4J_PASSWORD or the server's credentials file."
            ) from None
        except (ServiceUnavailable, DriverError, OSError) as error:
            self._driver.close()
            raise StoreUnavailable(
                f"Neo4j is not reachable at {uri} ({' '.join(str(error).split())}); {HOW_TO_START}."
            ) from None
        except Neo4jError as error:
            self._driver.close()
            raise StoreUnavailable(
                f"Neo4j at {uri} cannot serve database {database!r}: {error.message}"
            ) from None

    # --- plumbing ---------------------------------------------------------------------------------

    def _create_schema(self) -> None:
        for statement in schema_statements():
            self._driver.execute_query(statement, database_=self.database)
        self._driver.execute_query("CALL db.awaitIndexes(300)", database_=self.database)

    def _write(self, work: Callable[[Any], T]) -> T:
        if self.read_only:
            raise ReadOnlyStore(
                f"The Neo4j store at {self.uri} (database {self.database!r}) is open for reading "
                "only; open it without read_only=True to write."
            )
        return self._write_anyway(work)

    def _write_anyway(self, work: Callable[[Any], T]) -> T:
        """A write even through a read-only store: only for what is not the graph (the cache)."""
        return self._run(work, write=True)

    def _run(self, work: Callable[[Any], T], write: bool) -> T:
        """``work`` in a retryable transaction; a server lost or failing on the way (after the
        driver's retries) raises the store's own errors, so callers say it in one line."""
        from neo4j.exceptions import DatabaseError, ServiceUnavailable, SessionExpired

        try:
            with self._driver.session(database=self.database) as session:
                return session.execute_write(work) if write else session.execute_read(work)
        except (ServiceUnavailable, SessionExpired) as error:
            raise StoreUnavailable(
                f"Neo4j at {self.uri} stopped answering ({' '.join(str(error).split())}); "
                + ("the write was not committed. " if write else "")
                + "Check the server (`ekjon neo4j status`) and run the command again."
            ) from error
        except DatabaseError as error:  # the server could not do it: a full disk, say
            if not write:
                raise
            raise StoreWriteFailed(
                f"Neo4j at {self.uri} could not write ({error.code}: {error.message}); the write "
                "was not committed. Fix the server (its disk, its logs) and run the publish again."
            ) from error

    def _write_query(self, query: str, **params: Any) -> int:
        """Run one write query in its own retryable transaction; its single ``n`` value, or 0."""

        def work(tx: Any) -> int:
            record = tx.run(query, params).single()
            return 0 if record is None else record["n"]

        return self._write(work)

    def _read(self, work: Callable[[Any], T]) -> T:
        return self._run(work, write=False)

    def run_read(self, cypher: str, **params: Any) -> list[dict[str, Any]]:
        """Run a read-only Cypher query (values as ``params``) and return its rows as dicts.

        Not part of the ``GraphStore`` protocol: for Neo4j-only tools. Prefer the protocol's tables.
        """
        return self._read(lambda tx: [record.data() for record in tx.run(cypher, params)])

    @staticmethod
    def _missing(tx: Any, label: str, ids: Iterable[str]) -> list[tuple[str, str]]:
        query = (
            f"UNWIND $ids AS id OPTIONAL MATCH (n:{_label(label)} {{id: id}}) "
            "WITH id, n WHERE n IS NULL RETURN id"
        )
        return [(label, record["id"]) for record in tx.run(query, ids=list(dict.fromkeys(ids)))]

    def _merge_edges_in(
        self,
        tx: Any,
        edge_type: str,
        from_label: str,
        to_label: str,
        rows: list[tuple[str, str, dict]],
    ) -> None:
        query = (
            f"UNWIND $rows AS row "
            f"MATCH (a:{_label(from_label)} {{id: row.from}}) "
            f"MATCH (b:{_label(to_label)} {{id: row.to}}) "
            f"MERGE (a)-[r:{_type(edge_type)}]->(b) SET r += row.props "
            "RETURN count(*) AS written"
        )
        params = [{"from": s, "to": t, "props": p} for s, t, p in rows]
        written = tx.run(query, rows=params).single()["written"]
        if written < len(rows):
            missing = self._missing(tx, from_label, (s for s, _, _ in rows))
            missing += self._missing(tx, to_label, (t for _, t, _ in rows))
            raise MissingNode(edge_type, missing)  # rolls the whole batch back

    # --- the shared-identifier cache -------------------------------------------------------------
    #
    # ``shared_identifiers`` is asked of every phone and wallet: at a million persons that is a
    # walk of some four million paths, several seconds on a warm server and twice that on a cold
    # one. So its answer is kept in the graph (``CACHE_LABEL``): a first call works it out and
    # stores it, and every write that can change it (HAS, OF or MEMBER_OF edges, a record's
    # source, a deleted record, person or household) works it out again for the identifiers it
    # reaches, in its own transaction. Those writes lock the cache node first, so they run one at
    # a time, and a first call knows whether the graph changed while it read (the node's
    # ``version``): then it answers but stores nothing. A batch of more than KEEP_LIMIT nodes
    # drops the kept answer instead; the next call works it out again.

    @staticmethod
    def _guard(tx: Any) -> tuple[list[str], list[str]] | None:
        """Lock the cache for a write that can change sharing; the cached labels and excluded
        sources, or None if nothing is cached."""
        record = tx.run(
            f"MERGE (c:{CACHE_LABEL} {{id: $id}}) SET c.version = $token "
            "RETURN c.labels AS labels, c.excluded AS excluded",
            id=CACHE_ID,
            token=uuid.uuid4().hex,
        ).single()
        if record["labels"] is None:
            return None
        return list(record["labels"]), list(record["excluded"] or [])

    @staticmethod
    def _reached(
        tx: Any, state: tuple[list[str], list[str]], anchors: Mapping[str, Iterable[str]]
    ) -> dict[str, set[str]]:
        """Per cached label, the identifiers a change at the ``anchors`` nodes can touch."""
        labels, _ = state
        found: dict[str, set[str]] = {label: set() for label in labels}
        for anchor, ids in anchors.items():
            named = list(dict.fromkeys(ids))
            if not named:
                continue
            for label in labels:
                if anchor == label:
                    found[label].update(named)
                elif anchor in _REACH:
                    path = _REACH[anchor].format(label=_label(label))
                    query = (
                        f"UNWIND $ids AS id MATCH (a:{_label(anchor)} {{id: id}}) "
                        f"MATCH {path} RETURN DISTINCT i.id AS id"
                    )
                    found[label].update(r["id"] for r in tx.run(query, ids=named))
        return found

    @staticmethod
    def _recompute(
        tx: Any, state: tuple[list[str], list[str]], reached: Mapping[str, set[str]]
    ) -> None:
        """Work out again whether each of the ``reached`` identifiers crosses households."""
        _, excluded = state
        for label, ids in reached.items():
            if not ids:
                continue
            query = (
                f"UNWIND $ids AS id MATCH (i:{_label(label)} {{id: id}}) "
                + _CROSSES
                + f"MATCH (c:{CACHE_LABEL} {{id: $cache}}) "
                f"OPTIONAL MATCH (c)-[s:{SHARED_TYPE}]->(i) "
                f"FOREACH (_ IN CASE WHEN shared AND s IS NULL THEN [1] ELSE [] END | "
                f"CREATE (c)-[:{SHARED_TYPE}]->(i)) "
                "FOREACH (_ IN CASE WHEN NOT shared AND s IS NOT NULL THEN [1] ELSE [] END | "
                "DELETE s)"
            )
            tx.run(query, ids=sorted(ids), excluded=excluded, cache=CACHE_ID).consume()

    def _write_sharing(
        self,
        work: Callable[[Any], T],
        anchors: Mapping[str, Sequence[str]] | None,
        before: Mapping[str, Sequence[str]] | None = None,
    ) -> T:
        """Run ``work`` in one transaction; with ``anchors``, as a write that can change sharing.

        ``before``: nodes whose identifiers are found before ``work`` runs (it deletes them or
        their edges); ``anchors``: after.
        """
        if anchors is None and before is None:
            return self._write(work)

        def guarded(tx: Any) -> T:
            state = self._guard(tx)
            if state is None:
                return work(tx)
            named = sum(
                len(ids)
                for given in (before or {}, anchors or {})
                for anchor, ids in given.items()
                if anchor in _REACH or anchor in state[0]
            )
            if named > KEEP_LIMIT:
                tx.run(
                    f"MATCH (c:{CACHE_LABEL} {{id: $id}}) REMOVE c.labels, c.excluded "
                    f"WITH c MATCH (c)-[s:{SHARED_TYPE}]->() DELETE s",
                    id=CACHE_ID,
                ).consume()
                return work(tx)
            reached = self._reached(tx, state, before or {})
            result = work(tx)
            for label, ids in self._reached(tx, state, anchors or {}).items():
                reached[label] |= ids
            self._recompute(tx, state, reached)
            return result

        return self._write(guarded)

    # --- the GraphStore protocol ------------------------------------------------------------------

    def merge_nodes(self, label: str, rows: Iterable[Mapping[str, Any]]) -> int:
        """Create or update nodes of ``label``; see :meth:`graph.store.GraphStore.merge_nodes`."""
        query = f"UNWIND $rows AS row MERGE (n:{_label(label)} {{id: row.id}}) SET n += row.props"
        written = 0
        for batch in batches(rows, self.batch_size):
            cleaned = schema.clean_node_rows(label, batch, first_row=written)
            params = [{"id": i, "props": p} for i, p in cleaned]
            # a record's source decides whether it counts towards sharing
            resourced = [i for i, p in cleaned if "source" in p] if label == "Record" else []

            def work(tx: Any, params: list = params) -> None:
                tx.run(query, rows=params).consume()

            self._write_sharing(work, {"Record": resourced} if resourced else None)
            written += len(cleaned)
        return written

    def merge_edges(
        self, edge_type: str, from_label: str, to_label: str, rows: Iterable[Mapping[str, Any]]
    ) -> int:
        """Create or update edges; see :meth:`graph.store.GraphStore.merge_edges`."""
        schema.check_ends(edge_type, from_label, to_label)
        written = 0
        for batch in batches(rows, self.batch_size):
            cleaned = schema.clean_edge_rows(edge_type, from_label, to_label, batch, written)

            def work(tx: Any, cleaned: list = cleaned) -> None:
                self._merge_edges_in(tx, edge_type, from_label, to_label, cleaned)

            self._write_sharing(work, _edge_anchors(edge_type, to_label, cleaned))
            written += len(cleaned)
        return written

    def replace_edges_from(
        self, edge_type: str, from_label: str, to_label: str, rows: Iterable[Mapping[str, Any]]
    ) -> int:
        """Replace edges out of the named nodes; see :meth:`GraphStore.replace_edges_from`."""
        schema.check_ends(edge_type, from_label, to_label)
        # Anchored on the start node's unique-id lookup first: written as one pattern, the planner
        # may scan every edge of the type for each row instead (66 s for 9k rows at 1M records).
        remove = (
            f"UNWIND $sources AS source "
            f"MATCH (a:{_label(from_label)} {{id: source}}) "
            f"MATCH (a)-[r:{_type(edge_type)}]->(:{_label(to_label)}) DELETE r"
        )
        written = 0
        replaced: set[str] = set()  # a node whose rows span two batches is cleared only once
        for batch in batches(rows, self.batch_size):
            cleaned = schema.clean_edge_rows(edge_type, from_label, to_label, batch, written)
            fresh = list(dict.fromkeys(s for s, _, _ in cleaned if s not in replaced))

            def work(tx: Any, cleaned: list = cleaned, fresh: list = fresh) -> None:
                tx.run(remove, sources=fresh).consume()
                self._merge_edges_in(tx, edge_type, from_label, to_label, cleaned)

            anchors = _edge_anchors(edge_type, to_label, cleaned)
            # the identifiers a record gave until now lose it
            before = {"Record": fresh} if edge_type == "HAS" else None
            self._write_sharing(work, anchors, before)
            replaced.update(fresh)
            written += len(cleaned)
        return written

    def delete_edges(
        self, edge_type: str, from_label: str, to_label: str, rows: Iterable[Mapping[str, Any]]
    ) -> int:
        """Delete edges; see :meth:`graph.store.GraphStore.delete_edges`."""
        schema.check_ends(edge_type, from_label, to_label)
        query = (  # both ends looked up by id first, as in replace_edges_from
            f"UNWIND $rows AS row "
            f"MATCH (a:{_label(from_label)} {{id: row.from}}) "
            f"MATCH (b:{_label(to_label)} {{id: row.to}}) "
            f"MATCH (a)-[r:{_type(edge_type)}]->(b) DELETE r RETURN count(r) AS n"
        )
        deleted = 0
        seen = 0
        for batch in batches(rows, self.batch_size):
            cleaned = schema.clean_edge_rows(
                edge_type, from_label, to_label, batch, seen, with_props=False
            )
            seen += len(cleaned)
            pairs = [{"from": s, "to": t} for s, t in dict.fromkeys((s, t) for s, t, _ in cleaned)]

            def work(tx: Any, pairs: list = pairs) -> int:
                record = tx.run(query, rows=pairs).single()
                return 0 if record is None else record["n"]

            deleted += self._write_sharing(work, _edge_anchors(edge_type, to_label, cleaned))
        return deleted

    def delete_nodes(self, label: str, ids: Iterable[str]) -> int:
        """Delete nodes and their edges; see :meth:`graph.store.GraphStore.delete_nodes`."""
        query = (
            f"UNWIND $ids AS id MATCH (n:{_label(label)} {{id: id}}) "
            "DETACH DELETE n RETURN count(*) AS n"
        )
        deleted = 0
        seen = 0
        for batch in batches(ids, self.batch_size):
            cleaned = list(dict.fromkeys(schema.clean_ids(label, batch, seen)))
            seen += len(batch)

            def work(tx: Any, cleaned: list = cleaned) -> int:
                record = tx.run(query, ids=cleaned).single()
                return 0 if record is None else record["n"]

            # the identifiers of a deleted record, person or household (found before it goes)
            before = {label: cleaned} if label in _REACH else None
            deleted += self._write_sharing(work, None, before)
        return deleted

    def node(self, label: str, id: str) -> dict[str, Any] | None:
        """The node's properties with its ``id``, or ``None``."""
        query = f"MATCH (n:{_label(label)} {{id: $id}}) RETURN properties(n) AS props"
        record = self._read(lambda tx: tx.run(query, id=id).single())
        return None if record is None else dict(record["props"])

    def neighbours(
        self,
        label: str,
        id: str,
        edge_type: str | None = None,
        direction: Direction = "out",
        neighbour_label: str | None = None,
    ) -> list[Neighbour]:
        """The edges at one node; see :meth:`graph.store.GraphStore.neighbours`."""
        node = _label(label)
        relationship = "[r]" if edge_type is None else f"[r:{_type(edge_type)}]"
        other = "(m)" if neighbour_label is None else f"(m:{_label(neighbour_label)})"
        if direction not in DIRECTIONS:
            raise ValueError(
                f"The 'direction' parameter must be one of {', '.join(DIRECTIONS)}. "
                f"Got {direction!r}."
            )
        left, right = {"out": ("-", "->"), "in": ("<-", "-"), "both": ("-", "-")}[direction]
        query = (
            f"MATCH (n:{node} {{id: $id}}){left}{relationship}{right}{other} "
            f"WHERE NOT m:{CACHE_LABEL} "
            "RETURN type(r) AS type, properties(r) AS edge, labels(m) AS labels, "
            "properties(m) AS props"
        )
        records = self._read(lambda tx: list(tx.run(query, id=id)))
        found = [
            Neighbour(r["type"], dict(r["edge"]), self._label_of(r["labels"]), dict(r["props"]))
            for r in records
        ]
        found.sort(key=lambda n: (n.edge_type, n.label, n.props["id"]))
        return found

    @staticmethod
    def _label_of(labels: Sequence[str]) -> str:
        for label in labels:
            if label in schema.NODES:
                return label
        return labels[0]

    def nodes(
        self,
        label: str,
        properties: Sequence[str] | None = None,
        ids: Iterable[str] | None = None,
    ) -> pd.DataFrame:
        """Every node of ``label`` as a table; see :meth:`graph.store.GraphStore.nodes`."""
        match = f"MATCH (n:{_label(label)}) "
        params: dict[str, Any] = {}
        if ids is not None:
            match = f"UNWIND $ids AS id MATCH (n:{_label(label)} {{id: id}}) "
            params["ids"] = list(dict.fromkeys(ids))
        if properties is None:
            query = match + "RETURN properties(n) AS props"

            def work(tx: Any) -> pd.DataFrame:
                return table((dict(r[0]) for r in tx.run(query, params)), ("id",))

        else:
            wanted = list(dict.fromkeys(p for p in properties if p != "id"))
            params.update({f"p{i}": name for i, name in enumerate(wanted)})
            query = match + _collected("n.id", [f"n[$p{i}]" for i in range(len(wanted))])
            order = ["id", *(p for p in properties if p != "id")]

            def work(tx: Any) -> pd.DataFrame:
                ids_, *values = tx.run(query, params).single()
                columns = {"id": ids_}
                for name, column in zip(wanted, values, strict=True):
                    columns[name] = [value[0] for value in column]
                return column_table(columns, order)

        return self._read(work)

    def edges(
        self,
        edge_type: str,
        from_ids: Iterable[str] | None = None,
        to_ids: Iterable[str] | None = None,
    ) -> pd.DataFrame:
        """Every edge of ``edge_type`` as a table; see :meth:`graph.store.GraphStore.edges`.

        One query per pair of labels the type joins. A whole table comes back as one row of
        columns (lists), with only the property names the type's edges carry: a Bolt message per
        edge would cost the driver far more than the server's work.
        """
        spec = schema.edge_spec(edge_type)
        kind = _type(edge_type)
        params: dict[str, Any] = {}
        if from_ids is not None:
            params["from_ids"] = list(dict.fromkeys(from_ids))
        if to_ids is not None:
            params["to_ids"] = list(dict.fromkeys(to_ids))
        names_query = f"MATCH ()-[r:{kind}]->() UNWIND keys(r) AS k RETURN DISTINCT k"

        def work(tx: Any) -> pd.DataFrame:
            if from_ids is None and to_ids is None:
                names = sorted(r[0] for r in tx.run(names_query))
            else:
                names = None  # few rows: read each edge's properties
            columns: dict[str, list] = {name: [] for name in schema.EDGE_COLUMNS}
            props: list[dict] = []
            for from_label, to_label in spec.ends:
                a = f"(a:{_label(from_label)})"
                b = f"(b:{_label(to_label)})"
                where = ""
                if from_ids is not None:
                    head = f"UNWIND $from_ids AS id MATCH (a:{_label(from_label)} {{id: id}}) "
                    if to_ids is not None:
                        where = "WHERE b.id IN $to_ids "
                    pattern = f"{head}MATCH (a)-[r:{kind}]->{b} "
                elif to_ids is not None:
                    head = f"UNWIND $to_ids AS id MATCH (b:{_label(to_label)} {{id: id}}) "
                    pattern = f"{head}MATCH {a}-[r:{kind}]->(b) "
                else:
                    pattern = f"MATCH {a}-[r:{kind}]->{b} "
                before = len(columns["from"])
                if names is None:
                    query = pattern + where + "RETURN a.id, b.id, properties(r)"
                    for start, end, found in tx.run(query, params):
                        columns["from"].append(start)
                        columns["to"].append(end)
                        props.append(found)
                else:
                    params.update({f"k{i}": name for i, name in enumerate(names)})
                    query = pattern + _collected(
                        "a.id", ["b.id", *(f"r[$k{i}]" for i in range(len(names)))]
                    )
                    starts, ends, *values = tx.run(query, params).single()
                    columns["from"].extend(starts)
                    columns["to"].extend(ends[i][0] for i in range(len(ends)))
                    props.extend(zip(*values, strict=True) if values else [()] * len(starts))
                added = len(columns["from"]) - before
                columns["from_label"].extend([from_label] * added)
                columns["to_label"].extend([to_label] * added)
            if names is None:
                names = sorted({name for row in props for name in row})
                for name in names:
                    columns[name] = [row.get(name, _MISSING) for row in props]
            else:
                for i, name in enumerate(names):
                    columns[name] = [_MISSING if row[i][0] is None else row[i][0] for row in props]
            return column_table(columns, [*schema.EDGE_COLUMNS, *names])

        return self._read(work)

    def edge_list(
        self,
        edge_type: str,
        from_ids: Iterable[str] | None = None,
        to_ids: Iterable[str] | None = None,
    ) -> list[dict[str, Any]]:
        """The edges as plain rows; see :meth:`graph.store.GraphStore.edge_list`."""
        frame = self.edges(edge_type, from_ids, to_ids)
        return schema.present_rows(frame)

    def edge_pairs(self, edge_type: str, from_label: str, to_label: str) -> pa.Table:
        """The ends of the edges between two labels; see :meth:`GraphStore.edge_pairs`.

        One row of two collected columns (a Bolt message per edge would cost far more)."""
        kind = _type(edge_type)
        starts: list[str] = []
        ends: list[str] = []
        if (from_label, to_label) in schema.edge_spec(edge_type).ends:
            query = (
                f"MATCH (a:{_label(from_label)})-[:{kind}]->(b:{_label(to_label)}) "
                "RETURN collect(a.id), collect(b.id)"
            )
            starts, ends = self._read(lambda tx: tx.run(query).single())
        text = pa.large_string()
        return pa.table({"from": pa.array(starts, text), "to": pa.array(ends, text)})

    def warm(self) -> None:
        """Open a connection now (the server keeps its own caches warm)."""
        self._read(lambda tx: tx.run("RETURN 1").consume())

    def shared_identifiers(
        self, labels: Sequence[str], exclude_sources: Iterable[str] = ()
    ) -> pd.DataFrame:
        """Identifiers of several households; see :meth:`GraphStore.shared_identifiers`.

        Read from the kept answer when there is one for these labels and excluded sources (see
        the cache's notes above): only the shared identifiers and their records are touched.
        Otherwise worked out over every identifier and kept for the next call.
        """
        wanted = list(dict.fromkeys(labels))
        for label in wanted:
            _label(label)
        excluded = sorted(set(exclude_sources))
        found, version = self._kept_shared(wanted, excluded)
        if found is None:
            found = self._work_out_shared(wanted, excluded)
            self._keep_shared(found, wanted, excluded, version)
        return pd.DataFrame(found, columns=list(SHARED_COLUMNS))

    def _kept_shared(self, labels: list[str], excluded: list[str]) -> tuple[dict | None, Any]:
        """The kept answer's rows (None if none is kept for these labels and excluded sources),
        and the cache's version as read (None if there is no cache node)."""

        def work(tx: Any) -> tuple[dict | None, Any]:
            state = tx.run(
                f"MATCH (c:{CACHE_LABEL} {{id: $id}}) "
                "RETURN c.labels AS labels, c.excluded AS excluded, c.version AS version",
                id=CACHE_ID,
            ).single()
            if state is None:
                return None, None
            if (
                state["labels"] is None
                or not set(labels) <= set(state["labels"])
                or sorted(state["excluded"] or []) != excluded
            ):
                return None, state["version"]
            found: dict[str, list] = {name: [] for name in SHARED_COLUMNS}
            for label in labels:
                query = (
                    f"MATCH (:{CACHE_LABEL} {{id: $id}})-[:{SHARED_TYPE}]->(i:{_label(label)}) "
                    f"MATCH {_COUNTED}"
                    "OPTIONAL MATCH (r)-[:OF]->(p:Person) RETURN i.id, r.id, p.id"
                )
                for identifier, record, person in tx.run(query, id=CACHE_ID, excluded=excluded):
                    found["label"].append(label)
                    found["identifier"].append(identifier)
                    found["record"].append(record)
                    found["person"].append(person)
            return found, state["version"]

        return self._read(work)

    def _work_out_shared(self, labels: list[str], excluded: list[str]) -> dict[str, list]:
        """Every identifier of ``labels`` asked whether it crosses households.

        Identifiers with fewer than two ``HAS`` edges are skipped on their stored degree. Each
        label is asked in two halves (by the last character of the identifier), all four side by
        side: the phones far outnumber the wallets, and the server works on every query at once.
        """
        found: dict[str, list] = {name: [] for name in SHARED_COLUMNS}
        jobs = [(label, half) for label in labels for half in (True, False)]
        queries = {
            label: (
                f"MATCH (i:{_label(label)}) WHERE COUNT {{ (i)<-[:HAS]-() }} >= 2 "
                "AND (right(i.id, 1) IN $even) = $half "
                f"MATCH {_COUNTED}"
                "OPTIONAL MATCH (r)-[:OF]->(p:Person) "
                f"WITH i, r, p, {_HOUSEHOLDS} AS hs "
                "WITH i, collect([r, p]) AS rows, collect(hs) AS hss "
                f"WHERE size(rows) >= 2 AND {_NONE_HOLDS_ALL} "
                "UNWIND rows AS row RETURN i.id, row[0].id, row[1].id"
            )
            for label in labels
        }

        def run(job: tuple[str, bool]) -> list:
            label, half = job
            return self._read(
                lambda tx: list(
                    tx.run(queries[label], excluded=excluded, even=list("02468"), half=half)
                )
            )

        with ThreadPoolExecutor(max_workers=max(len(jobs), 1)) as pool:
            for (label, _), rows in zip(jobs, pool.map(run, jobs), strict=True):
                for identifier, record, person in rows:
                    found["label"].append(label)
                    found["identifier"].append(identifier)
                    found["record"].append(record)
                    found["person"].append(person)
        return found

    def _keep_shared(
        self, found: Mapping[str, list], labels: list[str], excluded: list[str], version: Any
    ) -> None:
        """Keep an answer worked out from the graph as it was at cache ``version``.

        Kept only if no write that can change sharing came in since (the version is the same);
        a user who may only read keeps nothing and is answered the long way each time.
        """
        from neo4j.exceptions import Neo4jError

        shared: dict[str, list[str]] = {label: [] for label in labels}
        for label, identifier in dict.fromkeys(
            zip(found["label"], found["identifier"], strict=True)
        ):
            shared[label].append(identifier)

        def work(tx: Any) -> bool:
            now = tx.run(  # a write of our own first: the lock, so the version cannot move now
                f"MERGE (c:{CACHE_LABEL} {{id: $id}}) SET c.kept = $token "
                "RETURN c.version AS version",
                id=CACHE_ID,
                token=uuid.uuid4().hex,
            ).single()["version"]
            if now != version:
                return False
            tx.run(
                f"MATCH (:{CACHE_LABEL} {{id: $id}})-[s:{SHARED_TYPE}]->() DELETE s", id=CACHE_ID
            ).consume()
            for label, ids in shared.items():
                tx.run(
                    f"MATCH (c:{CACHE_LABEL} {{id: $id}}) UNWIND $ids AS identifier "
                    f"MATCH (i:{_label(label)} {{id: identifier}}) "
                    f"CREATE (c)-[:{SHARED_TYPE}]->(i)",
                    id=CACHE_ID,
                    ids=ids,
                ).consume()
            tx.run(
                f"MATCH (c:{CACHE_LABEL} {{id: $id}}) "
                "SET c.labels = $labels, c.excluded = $excluded",
                id=CACHE_ID,
                labels=labels,
                excluded=excluded,
            ).consume()
            return True

        try:
            if not self._write_anyway(work):
                log.debug("the graph changed while shared identifiers were read; not kept")
        except (Neo4jError, StoreWriteFailed) as error:
            log.info("shared identifiers not kept (%s); they are worked out on each call", error)

    # --- the publish state -----------------------------------------------------------------------

    @staticmethod
    def _state_of(props: Mapping[str, Any] | None) -> PublishState:
        if not props:
            return PublishState()
        runs = props.get("open_runs") or []
        started = props.get("open_started") or []
        complete = props.get("open_complete") or []
        return PublishState(
            props.get("last_run"),
            props.get("last_finished"),
            tuple(
                UnfinishedPublish(run, when, bool(whole))
                for run, when, whole in zip(runs, started, complete, strict=True)
            ),
            int(props.get("changes") or 0),
        )

    def _change_state(self, change: Callable[[PublishState], PublishState]) -> None:
        """Read, change and write the publish state in one transaction (the node locked first)."""

        def work(tx: Any) -> None:
            record = tx.run(
                f"MERGE (s:{PUBLISH_LABEL} {{id: $id}}) SET s.locked = true "
                "RETURN properties(s) AS s",
                id=PUBLISH_ID,
            ).single()
            state = change(self._state_of(record["s"]))
            tx.run(
                f"MATCH (s:{PUBLISH_LABEL} {{id: $id}}) SET s.last_run = $last_run, "
                "s.last_finished = $last_finished, s.open_runs = $runs, s.open_started = $started, "
                "s.open_complete = $complete, s.changes = $changes REMOVE s.locked",
                id=PUBLISH_ID,
                last_run=state.last_run,
                last_finished=state.last_finished,
                # an empty list is stored as no property
                runs=[u.run for u in state.unfinished] or None,
                started=[u.started for u in state.unfinished] or None,
                complete=[u.complete for u in state.unfinished] or None,
                changes=state.changes,
            ).consume()

        self._write(work)

    def begin_publish(self, run: str, *, complete: bool = True) -> None:
        """Mark the publish ``run`` begun; see :meth:`graph.store.GraphStore.begin_publish`."""
        if not isinstance(run, str) or not run.strip():
            raise ValueError(f"A publish is named by a non-empty string. Got {run!r}.")
        started = now_iso()
        self._change_state(lambda state: state.begun(run, started, bool(complete)))

    def end_publish(self, run: str) -> None:
        """Mark the publish ``run`` finished; see :meth:`graph.store.GraphStore.end_publish`."""
        finished = now_iso()
        self._change_state(lambda state: state.ended(run, finished))

    def publish_state(self) -> PublishState:
        """The publishes into the graph; see :class:`graph.store.PublishState`."""
        record = self._read(
            lambda tx: tx.run(
                f"MATCH (s:{PUBLISH_LABEL} {{id: $id}}) RETURN properties(s) AS s", id=PUBLISH_ID
            ).single()
        )
        return self._state_of(None if record is None else record["s"])

    def count(self, name: str) -> int:
        """How many nodes have the label ``name``, or edges the type ``name``."""
        schema.check_name(name)
        if name in schema.NODES:
            query = f"MATCH (n:{_label(name)}) RETURN count(n) AS n"
        else:
            query = f"MATCH ()-[r:{_type(name)}]->() RETURN count(r) AS n"
        return self._read(lambda tx: tx.run(query).single()["n"])

    def clear(self) -> None:
        """Delete every node of the graph model's labels, with their edges, in batches.

        Nodes with other labels (someone else's data in the same database) are left alone. The
        last complete publish is forgotten; unfinished publishes stay unfinished.
        """
        self._change_state(PublishState.cleared)
        for label in schema.NODES:  # Records first: they carry most edges
            query = (
                f"MATCH (n:{_label(label)}) WITH n LIMIT $limit DETACH DELETE n "
                "RETURN count(*) AS n"
            )
            while self._write_query(query, limit=self.batch_size):
                pass
        self._write_query(f"MATCH (c:{CACHE_LABEL}) DETACH DELETE c")

    def close(self) -> None:
        """Close the driver. Closing twice is harmless."""
        self._driver.close()

    def __enter__(self) -> Neo4jStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Neo4jStore({self.uri!r}, database={self.database!r})"
