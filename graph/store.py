"""The identity graph's storage interface: one narrow ``GraphStore`` protocol every store satisfies.

Two stores implement it: :class:`graph.embedded.EmbeddedStore` (networkx in memory, durable on
disk, the default) and :class:`graph.neo4j.store.Neo4jStore`. Code above the store (resolution,
queries, the API) talks only to this protocol, so it runs unchanged on both; one contract test suite
(``tests/graph/test_store_contract.py``) holds both stores to the same behaviour.

The protocol is batch-first. Writes take iterables of plain dict rows and are idempotent upserts, so
a load that failed half-way can simply be run again. Reads return plain dicts, small lists, or
pandas DataFrames of a whole label or edge type (or of the nodes and edges at some ids): questions
over the whole graph are written as DataFrame joins over those tables, which run the same on both
stores. Where a whole table would be millions of rows to find a few hundred, the store narrows first
(``shared_identifiers``: the phones and wallets that cross households; Neo4j keeps that answer
in the graph and keeps it right on every write) and the query reads only what touches those. No
Cypher leaks through the interface.

Rules every store keeps (the graph model itself is in :mod:`graph.schema`):

- A node is named by its label and its ``id`` (a non-empty string); the same id under two labels is
  two nodes. A node row is ``{"id": ..., <property>: <value>, ...}``.
- An edge is named by ``(from, type, to)``: there is at most one edge of a type between two nodes.
  An edge row is ``{"from": <id>, "to": <id>, <property>: <value>, ...}``.
- Property values are ``str``, ``int``, ``float`` or ``bool``. Merging a row sets the properties it
  names and keeps the others; a value of ``None`` (or NaN) removes that property. Dates are ISO
  strings.
- Rows are written in batches of at most ``batch_size`` rows. Each batch is atomic: all of its rows
  are written, or (on an error) none. A bad row fails its batch with an error that names the row;
  batches before it stay written. Writes are idempotent, so after fixing the row the whole call can
  be repeated.

A publish is many batches, so a publish cut short (a killed process, a full disk, a lost server)
leaves the graph part old, part new. Every store therefore keeps a *publish state*: whoever
publishes says so first (:meth:`GraphStore.begin_publish`, durable before the first write) and
last (:meth:`GraphStore.end_publish`, after the last), best through :func:`publishing`; readers
ask :func:`require_complete` before they read, which refuses a graph with an unfinished publish
(:class:`PublishInterrupted`) unless the store shows them the last complete one instead (the
embedded store opened ``read_only`` does). Running the complete publish again finishes it: writes
are idempotent and publishing is a diff.
"""

from __future__ import annotations

from collections.abc import Container, Iterable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from itertools import islice
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, Protocol, TypeVar, runtime_checkable

import pandas as pd

if TYPE_CHECKING:
    import pyarrow as pa

from ekjon.errors import EkjonError

__all__ = [
    "Direction",
    "GraphStore",
    "GraphStoreError",
    "GraphWriter",
    "InvalidEdgeEnds",
    "InvalidRow",
    "MissingNode",
    "Neighbour",
    "PublishInterrupted",
    "PublishState",
    "ReadOnlyStore",
    "StoreCorrupted",
    "StoreLocked",
    "StoreUnavailable",
    "StoreWriteFailed",
    "TableStore",
    "TableWriter",
    "UnfinishedPublish",
    "UnknownEdgeType",
    "UnknownLabel",
    "publishing",
    "require_complete",
]

Direction = Literal["out", "in", "both"]
DIRECTIONS: tuple[str, ...] = ("out", "in", "both")


# --- errors ---------------------------------------------------------------------------------------


class GraphStoreError(EkjonError):
    """Base of every error a graph store raises on purpose."""


class UnknownLabel(GraphStoreError, ValueError):
    """A node label that is not in the graph model (:data:`graph.schema.NODES`)."""


class UnknownEdgeType(GraphStoreError, ValueError):
    """An edge type that is not in the graph model (:data:`graph.schema.EDGES`)."""


class InvalidEdgeEnds(GraphStoreError, ValueError):
    """An edge type asked to join two labels it does not join (e.g. ``OF`` from a Phone)."""


class InvalidRow(GraphStoreError, ValueError):
    """A row that cannot be written: no id, an id that is not a string, a value of the wrong type.

    ``label`` is the node label or edge type, ``row`` the row's 0-based position in the call.
    """

    def __init__(self, label: str, row: int, reason: str) -> None:
        self.label = label
        self.row = row
        self.reason = reason
        super().__init__(f"{label} row {row}: {reason}")


class MissingNode(GraphStoreError, LookupError):
    """An edge row whose ``from`` or ``to`` node is not in the graph (merge the nodes first)."""

    def __init__(self, edge_type: str, missing: Sequence[tuple[str, str]]) -> None:
        self.edge_type = edge_type
        self.missing = list(missing)
        shown = ", ".join(f"{label} {id_!r}" for label, id_ in self.missing[:5])
        more = f" and {len(self.missing) - 5} more" if len(self.missing) > 5 else ""
        super().__init__(
            f"{edge_type} edges name nodes that are not in the graph: {shown}{more}; "
            "merge those nodes before their edges."
        )

    @classmethod
    def check(
        cls,
        edge_type: str,
        from_label: str,
        to_label: str,
        rows: Iterable[tuple[str, str, Any]],
        starts: Container[str],
        ends: Container[str],
    ) -> None:
        """Raise for the edge rows whose start is not among ``starts`` or end among ``ends``."""
        missing: dict[tuple[str, str], None] = {}
        for source, target, _ in rows:
            if source not in starts:
                missing[(from_label, source)] = None
            if target not in ends:
                missing[(to_label, target)] = None
        if missing:
            raise cls(edge_type, list(missing))


class StoreUnavailable(GraphStoreError):
    """The store cannot be reached or opened (Neo4j down, wrong credentials, missing database)."""


class StoreLocked(GraphStoreError):
    """The embedded store's folder is open in another process that excludes this one: a writer
    excludes every other opener, a reader excludes writers."""


class StoreCorrupted(GraphStoreError):
    """The embedded store's files are damaged beyond the torn tail a crash can leave."""


class StoreWriteFailed(GraphStoreError):
    """The store could not write (a full disk, a failing device): the write was not committed."""


class ReadOnlyStore(GraphStoreError):
    """A write to a store opened for reading only (``read_only=True``)."""


class PublishInterrupted(GraphStoreError):
    """A publish into the graph began and has not finished: the graph is part old, part new.

    ``state`` is the store's :class:`PublishState`.
    """

    def __init__(self, message: str, state: PublishState) -> None:
        self.state = state
        super().__init__(message)


# --- the publish state ----------------------------------------------------------------------------


def now_iso() -> str:
    """The time now in UTC, as publish states record it (``2026-01-31T09:15:02Z``)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class UnfinishedPublish:
    """A publish that began and has not ended: still running, or interrupted.

    ``run`` names it (e.g. ``"resolve run 12"``), ``started`` is when it began (ISO, UTC) and
    ``complete`` says whether it publishes the whole graph (``ekjon resolve``) or adds a few
    records to it (the API's stored ``/v1/resolve``).
    """

    run: str
    started: str
    complete: bool = True


@dataclass(frozen=True)
class PublishState:
    """What a store knows of the publishes into it.

    Attributes
    ----------
    last_run, last_finished:
        The last complete publish that finished, and when (ISO, UTC); ``None`` if none has (or the
        graph was published by an ekjon older than publish states, or cleared since).
    unfinished:
        Publishes that began and have not finished, oldest first. A complete publish that
        finishes finishes them all (it rewrote the whole graph); a partial one only itself.
    changes:
        Grows with every begin and end: a reader that sees the same number before and after a
        read knows no publish began or ended in between.
    shows_last_complete:
        ``True`` when the store's reads show the graph as it was before the unfinished publishes
        began (the embedded store opened ``read_only``), not the half-written graph.
    """

    last_run: str | None = None
    last_finished: str | None = None
    unfinished: tuple[UnfinishedPublish, ...] = ()
    changes: int = 0
    shows_last_complete: bool = False

    @property
    def complete(self) -> bool:
        """Whether reads see a graph that no unfinished publish is half-way through."""
        return not self.unfinished or self.shows_last_complete

    def begun(self, run: str, started: str, complete: bool = True) -> PublishState:
        """The state after ``run`` begins (a run already unfinished keeps its first start)."""
        unfinished = self.unfinished
        if all(u.run != run for u in unfinished):
            unfinished = (*unfinished, UnfinishedPublish(run, started, complete))
        return replace(self, unfinished=unfinished, changes=self.changes + 1)

    def ended(self, run: str, finished: str) -> PublishState:
        """The state after ``run`` ends.

        Raises
        ------
        GraphStoreError
            If ``run`` is not an unfinished publish.
        """
        ending = next((u for u in self.unfinished if u.run == run), None)
        if ending is None:
            raise GraphStoreError(
                f"No publish of {run!r} has begun, so it cannot end; call begin_publish first."
            )
        if not ending.complete:
            left = tuple(u for u in self.unfinished if u.run != run)
            return replace(self, unfinished=left, changes=self.changes + 1)
        return replace(
            self, last_run=run, last_finished=finished, unfinished=(), changes=self.changes + 1
        )

    def cleared(self) -> PublishState:
        """The state after the graph is cleared: no complete publish; unfinished ones stay."""
        return replace(self, last_run=None, last_finished=None, changes=self.changes + 1)

    def describe(self) -> str:
        """The unfinished publishes and the last complete one, in words."""
        if not self.unfinished:
            return (
                f"the last publish was {self.last_run}, finished {self.last_finished}"
                if self.last_run
                else "no publish is recorded"
            )
        first = self.unfinished[0]
        what = f"the publish of {first.run} began {first.started} and has not finished"
        if len(self.unfinished) > 1:
            others = ", ".join(u.run for u in self.unfinished[1:])
            what += f" (nor have the publishes of {others})"
        last = (
            f"the last complete publish was {self.last_run}, finished {self.last_finished}"
            if self.last_run
            else "no complete publish is recorded"
        )
        return f"{what}; {last}"


def require_complete(store: GraphStore, where: str | None = None) -> PublishState:
    """The store's publish state, if its reads show a complete graph; else refuse.

    Readers call this before reading (and may call it again after, comparing
    :attr:`PublishState.changes`, on a store other processes write, such as Neo4j).

    Parameters
    ----------
    where:
        How to name the graph in the message (default: the store's folder, or its server).

    Raises
    ------
    PublishInterrupted
        If a publish into the graph began and has not finished, and the store's reads show the
        half-written graph. The message names the publish and says what to do.
    """
    state = store.publish_state()
    if state.complete:
        return state
    if where is None:
        path, uri = getattr(store, "path", None), getattr(store, "uri", None)
        where = str(path) if path is not None else f"Neo4j at {uri}" if uri else repr(store)
    raise PublishInterrupted(
        f"The graph in {where} is not complete: {state.describe()}. The publish was "
        "interrupted (or is still running), so part of the graph is old and part new. Run "
        "`ekjon resolve` again to finish it (if one is running, wait for it).",
        state,
    )


@contextmanager
def publishing(
    store: GraphStore | GraphWriter, run: str, *, complete: bool = True
) -> Iterator[None]:
    """Mark what runs inside as the publish ``run`` into ``store``.

    The begin is durable before the first write; the end is written only if the block finishes
    without an error, so a publish cut short (killed, a full disk) stays *unfinished* and readers
    are told (:func:`require_complete`). A :class:`GraphWriter` (a first load's import files) keeps
    no state: the block just runs.

    Parameters
    ----------
    run:
        What is published, in words a reader's message can show (e.g. ``"resolve run 12"``).
    complete:
        ``False`` for a publish that adds a few records (``publish(..., complete=False)``): its end
        does not finish a complete publish left unfinished before it.

    Example
    -------
    >>> with publishing(store, "resolve run 12"):       # doctest: +SKIP
    ...     publish(store, records, assignment, links)
    """
    if not isinstance(store, GraphStore):
        yield
        return
    store.begin_publish(run, complete=complete)
    yield
    store.end_publish(run)


@contextmanager
def publishing_each(store: GraphStore | GraphWriter, runs: Sequence[str]) -> Iterator[None]:
    """Mark what runs inside as the publishes ``runs``, each of a few records (``complete=False``),
    begun together and ended together: what :func:`publishing` of each, nested in the order given,
    marks (a publish cut short leaves every one of them unfinished). A store that can
    (``begin_publishes``, the embedded store) commits the begins in one commit and the ends in
    another, not one commit a mark.
    """
    if not isinstance(store, GraphStore) or not runs:
        yield
        return
    if not hasattr(store, "begin_publishes"):
        with ExitStack() as marks:
            for run in runs:
                marks.enter_context(publishing(store, run, complete=False))
            yield
        return
    store.begin_publishes(runs)  # type: ignore[attr-defined]
    yield
    store.end_publishes(list(reversed(runs)))  # type: ignore[attr-defined]  # as nested blocks end


# --- the protocol ---------------------------------------------------------------------------------


class Neighbour(NamedTuple):
    """One edge out of (or into) a node, with the node at its other end.

    ``props`` is the neighbour's properties including its ``id``.
    """

    edge_type: str
    edge_props: dict[str, Any]
    label: str
    props: dict[str, Any]


@runtime_checkable
class GraphStore(Protocol):
    """Where the identity graph lives. See the module docstring for the rules every store keeps.

    Every label and edge type is checked against :mod:`graph.schema`; an unknown one raises
    :class:`UnknownLabel` / :class:`UnknownEdgeType` before anything is written. Stores are context
    managers (``with open_store(...) as store:``) and close on exit.
    """

    batch_size: int

    def merge_nodes(self, label: str, rows: Iterable[Mapping[str, Any]]) -> int:
        """Create or update nodes of ``label``.

        Parameters
        ----------
        label:
            A node label of the graph model, e.g. ``"Record"``.
        rows:
            Dicts with ``"id"`` and the properties to set; ``None`` removes a property.

        Returns
        -------
        The number of rows written.

        Raises
        ------
        UnknownLabel, InvalidRow
        """
        ...

    def merge_edges(
        self, edge_type: str, from_label: str, to_label: str, rows: Iterable[Mapping[str, Any]]
    ) -> int:
        """Create or update edges ``(from:from_label)-[edge_type]->(to:to_label)``.

        Both ends must already exist. Repeating a row updates the edge's properties; it never makes
        a second edge.

        Parameters
        ----------
        rows:
            Dicts with ``"from"`` and ``"to"`` (node ids) and the edge properties to set.

        Returns
        -------
        The number of rows written.

        Raises
        ------
        UnknownEdgeType, UnknownLabel, InvalidEdgeEnds, InvalidRow
        MissingNode
            If an end of an edge is not in the graph; that batch is not written.
        """
        ...

    def replace_edges_from(
        self, edge_type: str, from_label: str, to_label: str, rows: Iterable[Mapping[str, Any]]
    ) -> int:
        """Make ``rows`` the complete set of ``edge_type`` edges to ``to_label`` from each ``from``.

        For every ``from`` id named in ``rows``, its existing ``edge_type`` edges to ``to_label``
        nodes are removed and the rows written in their place (with only the rows' properties).
        Ids not named in ``rows`` keep their edges. Resolution uses it to re-point
        ``Record-OF->Person`` edges when a re-run moves a record to another person.

        Returns
        -------
        The number of rows written.

        Raises
        ------
        The same errors as :meth:`merge_edges`.
        """
        ...

    def delete_edges(
        self, edge_type: str, from_label: str, to_label: str, rows: Iterable[Mapping[str, Any]]
    ) -> int:
        """Delete the edges named by rows of ``{"from": id, "to": id}``; absent edges are skipped.

        Returns
        -------
        The number of edges deleted.
        """
        ...

    def delete_nodes(self, label: str, ids: Iterable[str]) -> int:
        """Delete nodes of ``label`` with their edges; absent ids are skipped.

        Returns
        -------
        The number of nodes deleted.
        """
        ...

    def node(self, label: str, id: str) -> dict[str, Any] | None:
        """The node's properties including ``"id"``, or ``None`` if there is no such node."""
        ...

    def neighbours(
        self,
        label: str,
        id: str,
        edge_type: str | None = None,
        direction: Direction = "out",
        neighbour_label: str | None = None,
    ) -> list[Neighbour]:
        """The edges at one node and the nodes at their other ends.

        Parameters
        ----------
        edge_type:
            Only edges of this type (default: all).
        direction:
            ``"out"`` (edges from the node), ``"in"`` (edges to it) or ``"both"``.
        neighbour_label:
            Only neighbours with this label (e.g. ``"Phone"`` among a record's ``HAS`` edges).

        Returns
        -------
        Neighbours sorted by edge type, label and id; an empty list if the node does not exist.
        """
        ...

    def nodes(
        self,
        label: str,
        properties: Sequence[str] | None = None,
        ids: Iterable[str] | None = None,
    ) -> pd.DataFrame:
        """Every node of ``label`` as a table, one row per node, in no particular order.

        Columns are ``id`` then the properties in alphabetical order (only ``properties``, in that
        order, if given); a node without a property has a missing value there.

        Parameters
        ----------
        ids:
            Only the nodes with these ids (absent ids are skipped): a few rows of a large label
            without reading the whole label.
        """
        ...

    def edges(
        self,
        edge_type: str,
        from_ids: Iterable[str] | None = None,
        to_ids: Iterable[str] | None = None,
    ) -> pd.DataFrame:
        """Every edge of ``edge_type`` as a table, one row per edge, in no particular order.

        Columns are ``from``, ``to``, ``from_label``, ``to_label``, then the edge properties in
        alphabetical order (with ``from_ids`` / ``to_ids``: the properties those edges have).

        Parameters
        ----------
        from_ids, to_ids:
            Only the edges from (to) a node with one of these ids, of any label the edge type
            joins; both given, edges matching both.
        """
        ...

    def edge_list(
        self,
        edge_type: str,
        from_ids: Iterable[str] | None = None,
        to_ids: Iterable[str] | None = None,
    ) -> list[dict[str, Any]]:
        """The edges of ``edge_type`` from ``from_ids`` (and / or to ``to_ids``) as plain rows,
        for answers of a few edges (``/v1/persons/{id}/programmes``): :meth:`edges` without a
        table. Each row has ``from``, ``to``, ``from_label``, ``to_label`` and the properties the
        edge has (none missing), in no particular order."""
        ...

    def edge_pairs(self, edge_type: str, from_label: str, to_label: str) -> pa.Table:
        """The ``from`` and ``to`` ids of every ``edge_type`` edge from a ``from_label`` node to a
        ``to_label`` node, as an Arrow table of two ``large_string`` columns in no particular
        order (empty if the type joins no such labels): what a whole-graph question hashes,
        without a Python string per end."""
        ...

    def warm(self) -> None:
        """Get ready to answer now rather than on first use (a server at start): the embedded
        store makes its look-up indexes, Neo4j opens its connection. Answers do not change."""
        ...

    def shared_identifiers(
        self, labels: Sequence[str], exclude_sources: Iterable[str] = ()
    ) -> pd.DataFrame:
        """Identifiers given by the records of more than one household, with those records.

        The graph-side narrowing of the suspicious-identifier question: of the millions of
        phones and wallets, only the few that cross households come back. An identifier node of
        ``labels`` (``Record-HAS->`` it) counts the records that give it, except records whose
        ``source`` property is in ``exclude_sources``. It is returned when at least two records
        give it and no one ``Household`` holds them all: no household that the person
        (``Record-OF->Person``) of every one of them is a member of (``MEMBER_OF``). A record
        without a person, or a person without a household, is in no household.

        Returns
        -------
        One row per (identifier, record giving it), in no particular order: ``label``,
        ``identifier``, ``record`` and ``person`` (missing where the record has none).
        """
        ...

    def count(self, name: str) -> int:
        """How many nodes carry the label ``name``, or how many edges have the type ``name``."""
        ...

    def begin_publish(self, run: str, *, complete: bool = True) -> None:
        """Record, durably and before any of its writes, that the publish ``run`` begins.

        Until :meth:`end_publish` of the same run, the graph counts as part old, part new (see
        :class:`PublishState`). Use :func:`publishing` rather than calling this directly.

        Raises
        ------
        ReadOnlyStore
            If the store was opened for reading only.
        """
        ...

    def end_publish(self, run: str) -> None:
        """Record that the publish ``run`` wrote its last row.

        Raises
        ------
        GraphStoreError
            If ``run`` has not begun (or has already ended).
        """
        ...

    def publish_state(self) -> PublishState:
        """What the store knows of the publishes into it (see :class:`PublishState`)."""
        ...

    def clear(self) -> None:
        """Delete every node and edge of the graph model (the last complete publish is forgotten;
        unfinished publishes stay unfinished)."""
        ...

    def close(self) -> None:
        """Release the store (files, locks, connections). The store is unusable afterwards."""
        ...

    def __enter__(self) -> GraphStore: ...

    def __exit__(self, *exc: object) -> None: ...


@runtime_checkable
class GraphWriter(Protocol):
    """Where a first load is written as column tables, not merged row by row.

    :func:`engine.publish.publish` writes into one of these exactly what it would merge into a
    :class:`GraphStore` (e.g. :class:`graph.neo4j.bulk.ImportFiles`, the files of Neo4j's offline
    importer). Rows are appended: each node is written once, before the edges that name it.
    """

    def count(self, name: str) -> int:
        """Rows written so far of the label or edge type ``name``."""
        ...

    def add_nodes(self, label: str, columns: Mapping[str, Any]) -> int:
        """Write nodes of ``label`` from parallel columns (``id`` and properties); how many."""
        ...

    def add_edges(
        self, edge_type: str, from_label: str, to_label: str, columns: Mapping[str, Any]
    ) -> int:
        """Write edges from parallel columns ``from``, ``to`` and properties; how many."""
        ...


@runtime_checkable
class TableWriter(GraphWriter, Protocol):
    """A :class:`GraphWriter` whose tables become a store's whole graph when finished."""

    def finish(self, count_edges: bool = True) -> dict[str, int]:
        """Make the tables written the store's graph (see :class:`TableStore`); returns how many
        nodes and (with ``count_edges``) edges the graph lost, per label and edge type."""
        ...


@runtime_checkable
class TableStore(Protocol):
    """A :class:`GraphStore` that takes a complete publish as whole tables, column by column,
    instead of merged rows (the embedded store): much faster, and nothing to diff."""

    def table_writer(self) -> TableWriter:
        """A writer the complete publish writes the whole graph into, then finishes. Inside
        :func:`publishing`, the new graph replaces the old one when the publish ends."""
        ...


# --- helpers both stores share --------------------------------------------------------------------

T = TypeVar("T")


def batches(rows: Iterable[T], size: int) -> Iterator[list[T]]:
    """``rows`` in consecutive lists of at most ``size`` items."""
    iterator = iter(rows)
    while batch := list(islice(iterator, size)):
        yield batch


TABLE_CHUNK = 100_000

SHARED_COLUMNS: tuple[str, ...] = ("label", "identifier", "record", "person")


def column_table(columns: Mapping[str, list], order: Sequence[str]) -> pd.DataFrame:
    """A table from column lists, typed as :func:`table` types the same rows given as dicts.

    Columns holding only numbers (and NaN) become numeric; the rest stay ``object``. Faster than
    :func:`table` for millions of rows: no dict per row.
    """
    if not columns or not len(next(iter(columns.values()))):
        return pd.DataFrame(columns=list(order))
    frame = pd.DataFrame(
        {name: pd.Series(values, dtype=object) for name, values in columns.items()},
        columns=list(order),
    )
    return frame.infer_objects()


def table(
    records: Iterable[dict[str, Any]], leading: Sequence[str], only: Sequence[str] | None = None
) -> pd.DataFrame:
    """A DataFrame of ``records`` with the ``leading`` columns first, then the rest alphabetically.

    With ``only``, the columns are ``leading`` then ``only`` (missing values where a record lacks
    one). Records are turned into frames :data:`TABLE_CHUNK` at a time, so a store can stream
    millions of them without holding them all as dicts. Both stores build their tables through this
    one function so that column order and dtypes agree between them.
    """
    order = None if only is None else [*leading, *(name for name in only if name not in leading)]
    frames = [pd.DataFrame(chunk, columns=order) for chunk in batches(records, TABLE_CHUNK)]
    if not frames:
        return pd.DataFrame(columns=order or list(leading))
    frame = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True, sort=False)
    if order is None:
        order = [*leading, *sorted(name for name in frame.columns if name not in leading)]
    return frame[order]
