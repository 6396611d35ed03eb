"""The embedded graph store: the identity graph as column tables on disk, durable, read lazily.

Nothing to install or run: this is ekjon's default store, kept in a folder (normally
``$EKJON_HOME/graph``) that holds

- ``tables-<generation>/``: the whole graph at the start of the generation, as one Arrow table per
  node label and per edge type and end labels, with a manifest holding the counts and the publish
  state of that moment (absent in the first generation; see :mod:`graph.embedded.tables`),
- ``journal-<generation>.ekj``: every row-level commit since, appended in order,
- ``commit-<generation>.ekc``: how many bytes of that journal are committed (two small slots written
  in turn, each with its own checksum),
- ``LOCK``: held (``flock``) exclusively by the one process writing the store, or shared by the
  processes reading it (``read_only=True``); the writer's pid is in it.

**Opening reads no graph.** Counts come from the manifest; ``nodes``, ``edges`` and
``shared_identifiers`` read the columns they need from the memory-mapped tables; ``node`` and
``neighbours`` binary-search the sorted ids.

**A row-level write touches only its rows.** The HTTP API's one-record publishes and every merge
or delete go into the journal and into a *delta* laid over the tables (:mod:`graph.embedded.delta`):
the final state of each node and edge written since the tables, found in the tables by binary
search when first touched. Reads answer from the tables with the delta laid over them; a reader
replays the journal into a delta when it first reads. No graph of the whole store is built: a
networkx graph (:attr:`graph`, :mod:`graph.embedded.memory`) is made only if asked for. A writer
that wrote rows folds its journal into the next generation's tables when it closes if that is
cheap (small tables, or a journal of at least 1/64 of them): the tables the journal did not touch
are hard-linked into the new generation, the others written anew with the delta laid over them.

**A complete publish writes whole tables.** :meth:`EmbeddedStore.table_writer` takes what
:func:`engine.publish.publish` writes as columns (as Neo4j's import files do) and, when the
publish ends, writes them as the next generation: the new graph replaces the old one at the
rename of its folder. Inside :func:`graph.store.publishing` that rename is the publish's end, so
a publish cut short leaves the old generation untouched and readers see it.

The journal is a sequence of *frames* (:mod:`graph.embedded.frames`): each batch a write method
takes is one frame, appended and ``fsync``-ed before the call returns and before memory changes;
then the commit record is updated to the journal's new length and ``fsync``-ed: what a call
reported written survives a crash, and the store knows how far its journal was committed. The
writes of a publish of a few records (``begin_publish(run, complete=False)``, e.g. one record
stored through the API) are the exception: its begin is committed at once, its writes are appended
and committed with its end, one ``fsync`` of the journal and one of the commit record for the
whole publish (not two per write). A crash before its end leaves the publish unfinished, as
before, whatever of its writes reached the disk; it is published again. Opening the store checks
the journal against the committed length:

- bytes *after* the committed length that are no valid frame are a write that never returned (a
  crash mid-append): a writer discards them with a warning, a reader ignores them (and leaves the
  file as it is);
- a journal that is shorter than its committed length, or damaged before it, has lost committed
  work: :class:`StoreCorrupted`, naming the file and the byte, whoever opens it. Damage followed by
  valid frames is the same. A table file missing or not of the size the manifest records is the
  same.

A store written by an older ekjon (a pickled ``snapshot-<generation>.ekg``, no commit record) is
read as it was; its first writer's compaction writes tables. With ``fsync=False`` (bulk loads) the
journal is synced and the record written only when the store is opened and closed: a power cut
may then lose the commits since the open, as the parameter says.

A publish into the store is marked in the journal: a begin frame before its first write, an end
frame after its last (:meth:`EmbeddedStore.begin_publish`, :func:`graph.store.publishing`). A
writer replays everything, so after a publish was cut short it holds the half-written graph and its
:meth:`~EmbeddedStore.publish_state` says which publish did not finish (readers of it are refused,
:func:`graph.store.require_complete`). A reader replays the journal only up to the first begin that
has no end: it shows the graph of the last complete publish, and says so. The store is never
compacted while a publish is unfinished, so that graph stays on disk until a publish finishes.

When the journal outgrows 1/16 of the tables (and ``compact_bytes``), the store writes the next
generation's tables beside the old ones and switches to them with a rename; a crash at any point
of this leaves either the old generation or the new one complete. Only a writer deletes what a
crash left behind; a reader never changes a file.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ekjon.collector import cycle_collection_paused
from graph import schema
from graph.embedded.frames import (
    _BEGIN,
    _COMMIT_SLOTS,
    _DELETE_EDGES,
    _DELETE_NODES,
    _END,
    _MERGE_EDGES,
    _MERGE_NODES,
    _REPLACE_EDGES,
    _STATE,
    _WHAT_TO_DO,
    FORMAT_VERSION,
    _commit_slot,
    _encode,
    _fsync_dir,
    _iter_frames,
    _read_commit_record,
    _scan,
    _write_all,
)
from graph.embedded.tables import (
    TableSet,
    TableWriter,
    edge_file,
    keep_tables,
    node_file,
    rows_table,
    unique_rows,
    write_manifest,
    write_tables,
)
from graph.store import (
    DIRECTIONS,
    Direction,
    GraphStoreError,
    Neighbour,
    PublishState,
    ReadOnlyStore,
    StoreCorrupted,
    StoreLocked,
    StoreWriteFailed,
    UnfinishedPublish,
    batches,
    now_iso,
)

if TYPE_CHECKING:  # networkx is imported only when the graph is built in memory
    import networkx as nx

    from graph.embedded.memory import GraphMemory

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no cross-process lock
    fcntl = None  # type: ignore[assignment]

__all__ = ["EmbeddedStore"]

log = logging.getLogger("graph.embedded")

_TABLES = re.compile(r"tables-(\d{8})")
_SNAPSHOT = re.compile(r"snapshot-(\d{8})\.ekg")  # an older ekjon's pickled snapshot
_JOURNAL = re.compile(r"journal-(\d{8})\.ekj")
_COMMIT_NAME = re.compile(r"commit-(\d{8})\.ekc")


class EmbeddedStore:
    """The identity graph as column tables, durable in the folder ``path`` (see the module).

    Parameters
    ----------
    path:
        The store's folder (created if absent), normally ``$EKJON_HOME/graph``.
    batch_size:
        Rows per commit: each batch of a write call is one journal frame and one ``fsync``.
    compact_bytes:
        The journal is folded into a new generation of tables once it is larger than this and
        than the tables.
    fsync:
        ``False`` skips the ``fsync`` of each commit (the journal is synced when the store is
        opened and closed): faster bulk loads, but a power cut (not a process crash) may then lose
        the commits since the store was opened.
    read_only:
        Open for reading only: a shared lock (readers run side by side; a writer keeps them out
        and they keep a writer out), no file is created, cut, compacted or deleted, write methods
        raise :class:`ReadOnlyStore`, and the graph shown is the last complete publish's (see
        :meth:`publish_state`). A folder that does not exist reads as an empty graph.
    compact_on_close:
        A writer that wrote rows (not whole tables) folds its journal into a new generation of
        tables when it closes, so that readers read tables again, not a replayed journal; only
        when the tables are small (``compact_bytes``) or the journal is at least 1/64 of them
        (rewriting a million persons' tables for a few records would take a minute).

    Raises
    ------
    StoreLocked
        If another process has the folder open for writing (or, to a writer, for reading).
    StoreCorrupted
        If the files are damaged beyond a torn journal tail, or committed writes are missing.

    Example
    -------
    >>> import tempfile
    >>> with EmbeddedStore(tempfile.mkdtemp()) as store:
    ...     store.merge_nodes("Phone", [{"id": "01711000001"}])
    ...     store.count("Phone")
    1
    1
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        batch_size: int = 20_000,
        compact_bytes: int = 64 * 2**20,
        fsync: bool = True,
        read_only: bool = False,
        compact_on_close: bool = True,
    ) -> None:
        if batch_size < 1:
            raise ValueError(
                f"The 'batch_size' parameter of EmbeddedStore must be a positive int. "
                f"Got {batch_size}."
            )
        self.path = Path(path)
        self.batch_size = batch_size
        self.compact_bytes = compact_bytes
        self.fsync = fsync
        self.read_only = read_only
        self.compact_on_close = compact_on_close
        self._lock = threading.RLock()
        self._gen = 0
        self._tables = TableSet(None)
        self._memory: GraphMemory | None = None  # the whole graph, built only when asked for
        self._legacy = False  # an older ekjon's store: its snapshot is in memory, no tables
        self._replayed = False  # the journal's rows are laid over the tables (self._tables.delta)
        self._changes = False  # the journal (up to _replay_stop) holds writes of graph rows
        self._wrote = False  # this process wrote rows into the journal
        self._replay_stop = 0
        self._journal_bytes = 0
        self._begun: set[str] = set()  # complete publishes this process began
        # publishes of a few records (complete=False) this process began: their writes are synced
        # together by their end (one fsync, not one per write); their begin is synced at once
        self._partial: set[str] = set()
        self._unsynced = False  # journal frames appended but not yet synced and recorded
        self._staged: tuple[Path, dict[str, Any]] | None = None
        self._writing: Path | None = None  # the folder a table writer is writing
        self._closed = True
        self._journal_fd: int | None = None
        self._commit_fd: int | None = None
        self._commit_seq = 0
        self._state = PublishState()
        self._lock_fd: int | None = None
        if not read_only:
            self.path.mkdir(parents=True, exist_ok=True)
        if self.path.is_dir():
            self._lock_fd = self._take_lock()
        try:
            with cycle_collection_paused():
                self._open_files()
        except BaseException:
            self._release_lock()
            raise
        self._closed = False
        if self._state.unfinished:
            # a writer (ekjon resolve, ekjon serve) says it; readers tell their users themselves
            log.log(
                logging.INFO if read_only else logging.WARNING,
                "%s: %s%s",
                self.path,
                self._state.describe(),
                "; showing the graph as that publish found it"
                if self._state.shows_last_complete
                else "; the next complete publish finishes it",
            )

    # --- public: the GraphStore protocol ----------------------------------------------------------

    @property
    def graph(self) -> nx.DiGraph:
        """The whole graph as a networkx DiGraph, for networkx algorithms (built on first use:
        the whole store in memory, kept up to date by later writes). Read-only: write through
        the store. Nothing else needs it: reads and writes go to the tables and the journal."""
        with self._lock:
            self._check_open()
            return self._mem().graph

    def merge_nodes(self, label: str, rows: Iterable[Mapping[str, Any]]) -> int:
        """Create or update nodes of ``label``; see :meth:`graph.store.GraphStore.merge_nodes`."""
        schema.node_spec(label)
        self._check_writable()
        written = 0
        for batch in batches(rows, self.batch_size):
            cleaned = schema.clean_node_rows(label, batch, first_row=written)
            with self._lock:
                self._check_open()
                self._view()
                self._commit((_MERGE_NODES, label, cleaned))
            written += len(cleaned)
        return written

    def merge_edges(
        self, edge_type: str, from_label: str, to_label: str, rows: Iterable[Mapping[str, Any]]
    ) -> int:
        """Create or update edges; see :meth:`graph.store.GraphStore.merge_edges`."""
        schema.check_ends(edge_type, from_label, to_label)
        self._check_writable()
        written = 0
        for batch in batches(rows, self.batch_size):
            cleaned = schema.clean_edge_rows(edge_type, from_label, to_label, batch, written)
            with self._lock:
                self._check_open()
                self._view().check_ends_exist(edge_type, from_label, to_label, cleaned)
                self._commit((_MERGE_EDGES, edge_type, from_label, to_label, cleaned))
            written += len(cleaned)
        return written

    def replace_edges_from(
        self, edge_type: str, from_label: str, to_label: str, rows: Iterable[Mapping[str, Any]]
    ) -> int:
        """Replace edges out of the named nodes; see :meth:`GraphStore.replace_edges_from`."""
        schema.check_ends(edge_type, from_label, to_label)
        self._check_writable()
        written = 0
        replaced: set[str] = set()  # a node whose rows span two batches is cleared only once
        for batch in batches(rows, self.batch_size):
            cleaned = schema.clean_edge_rows(edge_type, from_label, to_label, batch, written)
            fresh = list(dict.fromkeys(s for s, _, _ in cleaned if s not in replaced))
            with self._lock:
                self._check_open()
                self._view().check_ends_exist(edge_type, from_label, to_label, cleaned)
                self._commit((_REPLACE_EDGES, edge_type, from_label, to_label, fresh, cleaned))
            replaced.update(fresh)
            written += len(cleaned)
        return written

    def delete_edges(
        self, edge_type: str, from_label: str, to_label: str, rows: Iterable[Mapping[str, Any]]
    ) -> int:
        """Delete edges; see :meth:`graph.store.GraphStore.delete_edges`."""
        schema.check_ends(edge_type, from_label, to_label)
        self._check_writable()
        deleted = 0
        seen = 0
        for batch in batches(rows, self.batch_size):
            cleaned = schema.clean_edge_rows(
                edge_type, from_label, to_label, batch, seen, with_props=False
            )
            seen += len(cleaned)
            with self._lock:
                self._check_open()
                view = self._view()
                present = list(
                    dict.fromkeys(
                        (s, t)
                        for s, t, _ in cleaned
                        if view.has_edge(edge_type, from_label, s, to_label, t)
                    )
                )
                if present:
                    self._commit((_DELETE_EDGES, edge_type, from_label, to_label, present))
            deleted += len(present)
        return deleted

    def delete_nodes(self, label: str, ids: Iterable[str]) -> int:
        """Delete nodes and their edges; see :meth:`graph.store.GraphStore.delete_nodes`."""
        schema.node_spec(label)
        self._check_writable()
        deleted = 0
        seen = 0
        for batch in batches(ids, self.batch_size):
            cleaned = schema.clean_ids(label, batch, seen)
            seen += len(cleaned)
            with self._lock:
                self._check_open()
                view = self._view()
                present = list(dict.fromkeys(i for i in cleaned if view.has_node(label, i)))
                if present:
                    self._commit((_DELETE_NODES, label, present))
            deleted += len(present)
        return deleted

    def table_writer(self) -> TableWriter:
        """A writer for a complete publish as whole tables (a :class:`graph.store.GraphWriter`).

        :func:`engine.publish.publish` writes the whole graph into it, column by column, and
        calls its ``finish()``: the tables become the store's next generation, replacing the
        graph. Inside :func:`graph.store.publishing` (a complete publish this store began) they
        are switched in by :meth:`end_publish`, so a publish cut short leaves the graph as it
        was; otherwise at ``finish()``. ``finish()`` returns how many nodes and edges the graph
        lost, per label and edge type.

        Raises
        ------
        ReadOnlyStore
        """
        self._check_writable()
        folder = self._tables_path(self._gen + 1, temporary=True)
        if self._staged is not None:
            self._staged = None  # a later complete publish supersedes the one waiting
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        self._writing = folder
        return TableWriter(self._install, folder)

    def _view(self) -> GraphMemory | TableSet:
        """What reads are answered from: the tables with the journal's rows laid over them (read
        from the journal once), or an older ekjon's snapshot in memory."""
        if self._legacy:
            assert self._memory is not None
            return self._memory
        if self._changes and not self._replayed:
            with cycle_collection_paused():
                self._replay(self._tables)
        self._replayed = True
        return self._tables

    def node(self, label: str, id: str) -> dict[str, Any] | None:
        """The node's properties with its ``id``, or ``None``."""
        schema.node_spec(label)
        with self._lock:
            self._check_open()
            return self._view().node(label, id)

    def neighbours(
        self,
        label: str,
        id: str,
        edge_type: str | None = None,
        direction: Direction = "out",
        neighbour_label: str | None = None,
    ) -> list[Neighbour]:
        """The edges at one node; see :meth:`graph.store.GraphStore.neighbours`."""
        schema.node_spec(label)
        if edge_type is not None:
            schema.edge_spec(edge_type)
        if neighbour_label is not None:
            schema.node_spec(neighbour_label)
        if direction not in DIRECTIONS:
            raise ValueError(
                f"The 'direction' parameter must be one of {', '.join(DIRECTIONS)}. "
                f"Got {direction!r}."
            )
        with self._lock:
            self._check_open()
            return self._view().neighbours(label, id, edge_type, direction, neighbour_label)

    def present(self, label: str, ids: Sequence[str]) -> set[str]:
        """Which of ``ids`` are nodes of ``label``: what ``nodes(label, ["id"], ids=ids)`` holds,
        as a set, without building a frame (a publish of a few records looks up a handful)."""
        schema.node_spec(label)
        with self._lock:
            self._check_open()
            return self._view().present(label, ids)

    def nodes(
        self,
        label: str,
        properties: Sequence[str] | None = None,
        ids: Iterable[str] | None = None,
    ) -> pd.DataFrame:
        """Every node of ``label`` as a table; see :meth:`graph.store.GraphStore.nodes`."""
        schema.node_spec(label)
        with self._lock:
            self._check_open()
            return self._view().nodes(label, properties, ids)

    def edges(
        self,
        edge_type: str,
        from_ids: Iterable[str] | None = None,
        to_ids: Iterable[str] | None = None,
    ) -> pd.DataFrame:
        """Every edge of ``edge_type`` as a table; see :meth:`graph.store.GraphStore.edges`."""
        schema.edge_spec(edge_type)
        with self._lock:
            self._check_open()
            return self._view().edges(edge_type, from_ids, to_ids)

    def edge_pairs(self, edge_type: str, from_label: str, to_label: str) -> pa.Table:
        """The ``from`` and ``to`` of the ``edge_type`` edges between two labels as an Arrow
        table (``large_string`` columns): the memory-mapped table as it is, with the rows
        written since laid over it, no pandas (at a million persons, making the five million
        ``HAS`` ends into Python strings is much of what a whole-graph question costs). A store
        an older ekjon wrote is read into memory: its edges are cut by the labels."""
        schema.edge_spec(edge_type)
        text = pa.large_string()
        with self._lock:
            self._check_open()
            view = self._view()
            if isinstance(view, TableSet):
                table = view.edge_pairs((edge_type, from_label, to_label))
            else:
                frame = view.edges(edge_type)
                keep = (frame["from_label"] == from_label).to_numpy(dtype=bool) & (
                    frame["to_label"] == to_label
                ).to_numpy(dtype=bool)
                table = pa.table(
                    {
                        end: pa.array(frame[end].to_numpy(dtype=object)[keep], type=text)
                        for end in ("from", "to")
                    }
                )
        if table is None:
            empty = pa.array([], text)
            return pa.table({"from": empty, "to": empty})
        return table.select(["from", "to"])

    def warm(self) -> None:
        """Make the tables' look-up indexes now (a server at start), not on first use."""
        with self._lock:
            self._check_open()
            view = self._view()
            if isinstance(view, TableSet):
                view.warm()

    def edge_list(
        self,
        edge_type: str,
        from_ids: Iterable[str] | None = None,
        to_ids: Iterable[str] | None = None,
    ) -> list[dict[str, Any]]:
        """The edges of ``edge_type`` from ``from_ids`` (and / or to ``to_ids``) as plain rows:
        :meth:`edges` without pandas, for answers of a few rows (``/v1/persons/{id}/programmes``).
        Each row has ``from``, ``to``, ``from_label``, ``to_label`` and the properties the edge
        has (no missing ones)."""
        schema.edge_spec(edge_type)
        starts = None if from_ids is None else list(dict.fromkeys(from_ids))
        ends = None if to_ids is None else list(dict.fromkeys(to_ids))
        with self._lock:
            self._check_open()
            view = self._view()
            if isinstance(view, TableSet):
                return view.edge_list(edge_type, starts, ends)
            frame = view.edges(edge_type, starts, ends)
        return schema.present_rows(frame)

    def shared_identifiers(
        self, labels: Sequence[str], exclude_sources: Iterable[str] = ()
    ) -> pd.DataFrame:
        """Identifiers of several households; see :meth:`GraphStore.shared_identifiers`."""
        for label in labels:
            schema.node_spec(label)
        with self._lock:
            self._check_open()
            return self._view().shared_identifiers(labels, exclude_sources)

    def count(self, name: str) -> int:
        """How many nodes have the label ``name``, or edges the type ``name``."""
        schema.check_name(name)
        with self._lock:
            self._check_open()
            return self._view().count(name)

    def begin_publish(self, run: str, *, complete: bool = True) -> None:
        """Mark the publish ``run`` begun: a journal frame, committed before any of its writes.

        See :meth:`graph.store.GraphStore.begin_publish`. Until it ends, the store is not
        compacted: a new generation would make the half-written graph the one readers see.
        """
        if not isinstance(run, str) or not run.strip():
            raise ValueError(f"A publish is named by a non-empty string. Got {run!r}.")
        with self._lock:
            self._check_open()
            self._check_writable()
            self._commit((_BEGIN, run, now_iso(), bool(complete)))
            if complete:
                self._begun.add(run)
            else:
                self._partial.add(run)

    def end_publish(self, run: str) -> None:
        """Mark the publish ``run`` finished; see :meth:`graph.store.GraphStore.end_publish`.

        If a complete publish's tables wait (:meth:`table_writer`), switching them in is the end.
        """
        with self._lock:
            self._check_open()
            self._check_writable()
            ended = self._state.ended(run, now_iso())  # refuses a run that has not begun
            ending = next(u for u in self._state.unfinished if u.run == run)
            if self._staged is not None and ending.complete:
                folder, manifest = self._staged
                self._staged = None
                self._switch(folder, manifest, ended)
                self._memory = None
            else:
                self._commit((_END, run, now_iso()))  # synced: the publish's writes with it
            self._begun.discard(run)
            self._partial.discard(run)

    def begin_publishes(self, runs: Sequence[str]) -> None:
        """Mark several publishes of a few records each begun (``complete=False``), as
        :meth:`begin_publish` of each in turn, in one commit: their begin frames are appended and
        synced together, before any of their writes (one ``fsync`` of the journal and one of the
        commit record, not two per publish)."""
        for run in runs:
            if not isinstance(run, str) or not run.strip():
                raise ValueError(f"A publish is named by a non-empty string. Got {run!r}.")
        with self._lock:
            self._check_open()
            self._check_writable()
            started = now_iso()
            for i, run in enumerate(runs):
                self._commit((_BEGIN, run, started, False), synced_later=i < len(runs) - 1)
                self._partial.add(run)

    def end_publishes(self, runs: Sequence[str]) -> None:
        """Mark publishes :meth:`begin_publishes` began finished, as :meth:`end_publish` of each
        in turn, in one commit (their end frames synced together, and their writes with them)."""
        with self._lock:
            self._check_open()
            self._check_writable()
            finished = now_iso()
            for run in runs:
                self._state.ended(run, finished)  # refuses a run that has not begun
            for i, run in enumerate(runs):
                self._commit((_END, run, finished), synced_later=i < len(runs) - 1)
                self._begun.discard(run)
                self._partial.discard(run)

    def publish_state(self) -> PublishState:
        """The publishes into the graph; see :class:`graph.store.PublishState`.

        Opened ``read_only``, the store shows the graph as it was before the first unfinished
        publish began (``shows_last_complete``) whenever that graph is still on disk: always,
        unless the graph was cleared or compacted by hand while the publish was unfinished.
        """
        with self._lock:
            self._check_open()
            return self._state

    def clear(self) -> None:
        """Delete everything: the next generation starts with no tables."""
        with self._lock:
            self._check_open()
            self._check_writable()
            self._compact(empty=True, state=self._state.cleared())

    def compact(self) -> None:
        """Fold the journal into a new generation of tables (also automatic).

        Compacting while a publish is unfinished keeps it unfinished in the new generation;
        readers are then refused until a publish finishes, where they would otherwise see the
        last complete graph.
        """
        with self._lock:
            self._check_open()
            self._check_writable()
            self._compact()

    def close(self) -> None:
        """Close the journal and release the folder's lock. Closing twice is harmless.

        A writer that wrote rows folds the journal into tables first (``compact_on_close``). Without
        ``fsync``, the journal is synced here once and its length recorded as committed.
        """
        with self._lock:
            if self._closed:
                return
            try:
                if (
                    self.compact_on_close
                    and not self.read_only
                    and self._wrote
                    and self._changes
                    and not self._state.unfinished
                    and (
                        self._legacy
                        or self._tables.bytes <= self.compact_bytes
                        or self._journal_bytes * 64 >= self._tables.bytes
                    )
                ):
                    self._compact()
            except OSError as error:  # the journal stands; the next writer folds it
                log.warning("%s: could not fold the journal into tables: %s", self.path, error)
            self._closed = True
            try:
                if self._journal_fd is not None and (not self.fsync or self._unsynced):
                    os.fsync(self._journal_fd)
                    self._record_commit(self._journal_bytes, durable=True)
            except OSError as error:
                log.warning("%s: could not record the last commits: %s", self.path, error)
            finally:
                for fd in (self._journal_fd, self._commit_fd):
                    if fd is not None:
                        os.close(fd)
                self._journal_fd = self._commit_fd = None
                for unused in (self._staged and self._staged[0], self._writing):
                    if unused is not None:  # a publish whose end never came
                        shutil.rmtree(unused, ignore_errors=True)
                self._staged = self._writing = None
                self._memory = None
                self._tables = TableSet(None)
                self._release_lock()

    def __enter__(self) -> EmbeddedStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        if self._closed:
            state = "closed"
        else:
            view = self._view()
            n = (
                sum(view.count(label) for label in schema.NODES)
                if isinstance(view, TableSet)
                else len(view)
            )
            state = f"{n} nodes, generation {self._gen}"
        if self.read_only:
            state += ", read-only"
        return f"EmbeddedStore({str(self.path)!r}, {state})"

    # --- the graph in memory ----------------------------------------------------------------------

    def _mem(self) -> GraphMemory:
        """The whole graph in memory (for :attr:`graph`): the tables loaded with the journal's
        rows laid over them (once; later writes are applied to it too)."""
        if self._memory is None:
            from graph.embedded.memory import GraphMemory

            memory = GraphMemory(self.path)
            tables = self._view()
            assert isinstance(tables, TableSet)  # an older ekjon's store is in memory already
            with cycle_collection_paused():
                for op in tables.operations():
                    memory.apply(op)
            self._memory = memory
        return self._memory

    def _replay(self, memory: GraphMemory | TableSet) -> None:
        """Apply the journal's writes (up to where this process replays) to ``memory``: an older
        store's snapshot in memory, or the tables (as rows laid over them)."""
        if not self._changes:
            return
        path = self._journal_path(self._gen)
        frames = _iter_frames(path, tolerate_torn_tail=False, stop=self._replay_stop)
        next(frames, None)  # the header
        commits = 0
        for op in frames:
            if op[0] not in (_BEGIN, _END):
                memory.apply(op)
                commits += 1
        log.info("%s: replayed %d commits", path, commits)

    def _install(self, writer: TableWriter, count_edges: bool = True) -> dict[str, int]:
        """A complete publish's tables (:meth:`table_writer`) as the next generation: written now,
        switched in now or, inside a publish this store began, by its end."""
        with self._lock:
            self._check_open()
            self._check_writable()
            folder = writer.folder
            try:
                nodes, edges = writer.tables()
                lost = self._lost(nodes, edges if count_edges else None)
                manifest = write_tables(folder, nodes, edges, fsync=self.fsync)
            except BaseException as error:
                writer.close()
                shutil.rmtree(folder, ignore_errors=True)
                if isinstance(error, OSError):
                    raise self._write_failed(folder, error) from error
                raise
            finally:
                self._writing = None
            del nodes, edges
            waiting = any(u.run in self._begun and u.complete for u in self._state.unfinished)
            if waiting:
                self._staged = (folder, manifest)
            else:
                self._switch(folder, manifest, self._state)
                self._memory = None
            return lost

    def _lost(self, nodes: dict[str, tuple], edges: dict[tuple, tuple] | None) -> dict[str, int]:
        """How many nodes and edges (``edges`` given) the graph has that the new tables do not,
        per name."""
        view = self._view()
        lost: dict[str, int] = {}
        if isinstance(view, TableSet) and view.empty:
            return lost
        string = pa.large_string()
        for label in schema.NODES:
            if isinstance(view, TableSet):
                old = view.node_ids(label)
            else:
                old = pa.array([i for i, _ in view.node_rows(label)], type=string)
            new = nodes.get(label)
            kept = 0
            if new is not None and len(old):
                kept = pc.sum(pc.is_in(old, value_set=new[0].column("id"))).as_py() or 0
            if len(old) - kept:
                lost[label] = len(old) - kept
        if edges is None:
            return lost
        if isinstance(view, TableSet):
            pairs = {g: view.edge_pairs(g) for g in view.all_groups()}
            groups = {g: table for g, table in pairs.items() if table is not None}
        else:
            groups = {
                key: pa.table(
                    {
                        "from": pa.array([a for a, _, _ in rows], type=string),
                        "to": pa.array([b for _, b, _ in rows], type=string),
                    }
                )
                for key, rows in view.edge_rows().items()
            }
        for key, old_table in groups.items():
            new = edges.get(key)
            n = old_table.num_rows
            if new is not None and n:
                n -= _common_edges(old_table, new[0])
            if n:
                lost[key[0]] = lost.get(key[0], 0) + n
        return lost

    # --- disk ---

    def _check_open(self) -> None:
        if self._closed:
            raise GraphStoreError(f"The graph store at {self.path} is closed.")

    def _check_writable(self) -> None:
        if self.read_only:
            raise ReadOnlyStore(
                f"The graph store at {self.path} is open for reading only; open it without "
                "read_only=True to write."
            )

    def _take_lock(self) -> int | None:
        """Lock the folder: shared for a reader, exclusive for a writer (``flock``, not waiting).

        A writer writes its pid into ``LOCK`` for the messages of those it keeps out; a reader
        writes nothing (it creates an absent ``LOCK`` file, or, where it cannot, reads unlocked:
        a folder no one can write to has no writer).
        """
        lock = self.path / "LOCK"
        if self.read_only:
            try:
                fd = os.open(lock, os.O_RDONLY)
            except FileNotFoundError:
                try:
                    fd = os.open(lock, os.O_RDONLY | os.O_CREAT, 0o644)
                except OSError:
                    return None
            except PermissionError:
                return None
        else:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        if fcntl is None:  # pragma: no cover
            return fd
        try:
            fcntl.flock(fd, (fcntl.LOCK_SH if self.read_only else fcntl.LOCK_EX) | fcntl.LOCK_NB)
        except OSError:
            readers_only = False
            if not self.read_only:
                try:  # kept out by readers only, or by a writer?
                    fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
                    readers_only = True
                except OSError:
                    pass
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            if readers_only:
                raise StoreLocked(
                    f"The graph store at {self.path} is being read by another process (e.g. "
                    "`ekjon findings` or a notebook); let it finish (or close it) and try again."
                ) from None
            if self.read_only:
                raise StoreLocked(
                    f"The graph store at {self.path} is open for writing in another process (pid "
                    f"{holder}, e.g. `ekjon resolve` or `ekjon serve`); read it when that process "
                    "has finished (ask a running `ekjon serve` through its API), or use another "
                    "EKJON_HOME."
                ) from None
            raise StoreLocked(
                f"The graph store at {self.path} is open in another process (pid {holder}); "
                "close that process (e.g. a running `ekjon serve`) or use another EKJON_HOME."
            ) from None
        if not self.read_only:
            os.ftruncate(fd, 0)
            os.pwrite(fd, str(os.getpid()).encode(), 0)
        return fd

    def _release_lock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing the descriptor releases the flock
            self._lock_fd = None

    def _sync(self, fd: int) -> None:
        if self.fsync:
            os.fsync(fd)

    def _snapshot_path(self, generation: int) -> Path:
        return self.path / f"snapshot-{generation:08d}.ekg"

    def _journal_path(self, generation: int) -> Path:
        return self.path / f"journal-{generation:08d}.ekj"

    def _commit_path(self, generation: int) -> Path:
        return self.path / f"commit-{generation:08d}.ekc"

    def _cut(self, marks: list[tuple[int, tuple]]) -> int | None:
        """Where a reader stops replaying: the offset of the first publish begun in this journal
        that has not finished; None if every publish finished, or if one the snapshot holds has not
        (the snapshot has it half-written: there is no complete graph to show)."""
        begun = {u.run: (-1, u.complete) for u in self._state.unfinished}
        for offset, mark in marks:
            if mark[0] == _BEGIN:
                begun.setdefault(mark[1], (offset, bool(mark[3])))
            elif mark[1] in begun:
                if begun[mark[1]][1]:
                    begun.clear()
                else:
                    del begun[mark[1]]
        if not begun:
            return None
        first = min(offset for offset, _ in begun.values())
        return None if first < 0 else first

    @staticmethod
    def _marked(state: PublishState, mark: tuple) -> PublishState:
        """``state`` after one publish mark (a journal's begin or end, or a snapshot's state)."""
        if mark[0] == _BEGIN:
            return state.begun(mark[1], mark[2], bool(mark[3]))
        if mark[0] == _END:
            if all(u.run != mark[1] for u in state.unfinished):
                return state  # never written so by a store; nothing to end
            return state.ended(mark[1], mark[2])
        _, last_run, last_finished, unfinished, changes = mark
        return PublishState(
            last_run,
            last_finished,
            tuple(UnfinishedPublish(*publish) for publish in unfinished),
            changes,
        )

    def _record_commit(self, length: int, durable: bool) -> None:
        """Record that the journal's first ``length`` bytes are committed (in the next slot)."""
        assert self._commit_fd is not None
        self._commit_seq += 1
        slot = _COMMIT_SLOTS[self._commit_seq % 2]
        os.pwrite(self._commit_fd, _commit_slot(self._gen, self._commit_seq, length), slot)
        if durable:
            os.fsync(self._commit_fd)

    def _tables_path(self, generation: int, temporary: bool = False) -> Path:
        return self.path / f"tables-{generation:08d}{'.tmp' if temporary else ''}"

    def _open_files(self) -> None:
        names = os.listdir(self.path) if self.path.is_dir() else []
        if not self.read_only:
            for name in names:
                if name.endswith(".tmp"):  # a compaction or publish that did not finish
                    leftover = self.path / name
                    if leftover.is_dir():
                        shutil.rmtree(leftover)
                    else:
                        os.unlink(leftover)
        tables = [int(m.group(1)) for n in names if (m := _TABLES.fullmatch(n))]
        snapshots = [int(m.group(1)) for n in names if (m := _SNAPSHOT.fullmatch(n))]
        self._gen = max(tables + snapshots, default=0)
        if self._gen in tables:
            self._tables = TableSet.open(self._tables_path(self._gen))
            if self._tables.state is not None:
                self._state = self._marked(self._state, (_STATE, *self._tables.state))
        elif self._gen in snapshots:  # an older ekjon's store: its snapshot into memory
            from graph.embedded.memory import GraphMemory

            self._legacy = True
            self._memory = GraphMemory(self.path)
            self._load_snapshot(self._snapshot_path(self._gen), self._memory)
        self._open_journal(self._journal_path(self._gen))
        if self._memory is not None:
            with cycle_collection_paused():
                self._replay(self._memory)
        if self.read_only:
            return
        for name in names:
            # Older generations are superseded; a newer journal without its tables is what a
            # failed compaction left (it holds no commits).
            match = _TABLES.fullmatch(name) or _SNAPSHOT.fullmatch(name)
            match = match or _JOURNAL.fullmatch(name) or _COMMIT_NAME.fullmatch(name)
            if match and int(match.group(1)) != self._gen:
                old = self.path / name
                if old.is_dir():
                    shutil.rmtree(old)
                else:
                    os.unlink(old)

    def _load_snapshot(self, path: Path, memory: GraphMemory) -> None:
        """An older ekjon's pickled snapshot (frames of merges) into ``memory``."""
        frames = _iter_frames(path, tolerate_torn_tail=False)
        header = next(frames, None)
        if header is None or tuple(header[:2]) != ("snapshot", FORMAT_VERSION):
            raise StoreCorrupted(
                f"{path} is not an ekjon graph snapshot of format {FORMAT_VERSION}"
            )
        end = None
        with cycle_collection_paused():
            for op in frames:
                if end is not None:
                    raise StoreCorrupted(f"{path} has frames after its end frame")
                if op[0] == "end":
                    end = op
                elif op[0] == _STATE:
                    self._state = self._marked(self._state, op)
                else:
                    memory.apply(op)
        if end is None:
            raise StoreCorrupted(f"{path} is incomplete (no end frame)")
        if (len(memory), memory.count_edges()) != (end[1], end[2]):
            raise StoreCorrupted(f"{path} holds other counts than its end frame says")

    def _open_journal(self, path: Path) -> None:
        """Check the generation's journal against its commit record, and see what it holds.

        Frames up to the committed length must all be there and valid: damage there is committed
        work lost, and raises. Bytes after it that are no valid frame are a write that never
        returned (a crash mid-append): a writer cuts them off, a reader leaves them be. A reader
        replays (when it needs the graph in memory) only up to the first publish that has not
        finished (see :meth:`_cut`).
        """
        commit = _read_commit_record(self._commit_path(self._gen), self._gen)
        committed = None if commit is None else commit[1]
        self._commit_seq = 0 if commit is None else commit[0]
        size, valid, marks, changes = _scan(path) if path.exists() else (0, 0, [], [])
        if committed is not None and valid < committed:
            end = "its frames are valid only up to" if valid < size else "it ends at"
            raise StoreCorrupted(
                f"{path} is damaged: {end} byte {valid} of {size}, but writes up to byte "
                f"{committed} were committed to it (as {self._commit_path(self._gen).name} "
                f"records), so committed writes are lost. {_WHAT_TO_DO}"
            )
        if valid < size:
            why = (
                "after the last committed write: a write that never finished (a crash mid-write)"
                if committed is not None
                else "(the store has no commit record, from an older ekjon: taken for a write "
                "that never finished)"
            )
            if self.read_only:
                log.warning(
                    "%s: ignoring %d bytes at its end %s; the next writer discards them",
                    path,
                    size - valid,
                    why,
                )
            else:
                log.warning("%s: discarding %d bytes at its end %s", path, size - valid, why)
        stop = valid
        final = self._state
        for _, mark in marks:
            final = self._marked(final, mark)
        if self.read_only:
            cut = self._cut(marks)
            if cut is not None:
                stop = cut
        if valid:
            with open(path, "rb") as file:
                first = next(_iter_frames(path, tolerate_torn_tail=False, stop=valid), None)
            del file
            header = ("journal", FORMAT_VERSION, self._gen)
            if first is not None and tuple(first) != header:
                raise StoreCorrupted(f"{path} does not belong to generation {self._gen}")
        self._replay_stop = stop
        self._changes = any(offset < stop for offset in changes)
        if self.read_only:
            self._state = replace(final, shows_last_complete=stop < valid)
            self._journal_bytes = valid
            return
        self._state = final
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
        try:
            os.ftruncate(fd, valid)
            os.lseek(fd, valid, os.SEEK_SET)
            if not valid:
                frame = _encode(("journal", FORMAT_VERSION, self._gen))
                _write_all(fd, frame)
                valid = len(frame)
            # durable before the commit record says so (also without ``fsync``: once per open)
            os.fsync(fd)
            _fsync_dir(self.path)
            self._commit_fd = os.open(self._commit_path(self._gen), os.O_RDWR | os.O_CREAT, 0o644)
            if committed != valid:
                self._record_commit(valid, durable=True)
        except BaseException:
            os.close(fd)
            if self._commit_fd is not None:
                os.close(self._commit_fd)
                self._commit_fd = None
            raise
        self._journal_fd = fd
        self._journal_bytes = valid
        self._replay_stop = valid

    def _write_failed(self, where: Path, error: OSError) -> StoreWriteFailed:
        return StoreWriteFailed(
            f"Could not write to {where}: {error.strerror or error}. The write was not "
            "committed; the graph's publish state shows an unfinished publish, if one was "
            "running. Free space on that disk (or fix the device) and run the publish again "
            "(`ekjon resolve`)."
        )

    def _commit(self, op: tuple, *, synced_later: bool = False) -> None:
        """Append ``op`` to the journal, fsync, record the new committed length, then apply it in
        memory (a graph write needs the graph in memory: the caller built it first).

        Raises
        ------
        StoreWriteFailed
            If the journal cannot be written (a full disk): the write is not committed and the
            journal is cut back to its last commit.
        """
        assert self._journal_fd is not None
        frame = _encode(op)
        # a write of a partial publish is synced by the publish's end (its begin already is):
        # cut short, the publish stays unfinished whatever of its writes reached the disk
        # (``synced_later``: a publish mark the next commit syncs with it, see begin_publishes)
        deferred = synced_later or (bool(self._partial) and op[0] not in (_BEGIN, _END))
        try:
            _write_all(self._journal_fd, frame)
            if not deferred:
                self._sync(self._journal_fd)
        except BaseException as error:
            # Never leave half a frame before the next commit: cut the journal back.
            try:
                os.ftruncate(self._journal_fd, self._journal_bytes)
                os.lseek(self._journal_fd, self._journal_bytes, os.SEEK_SET)
            except OSError:
                pass
            if isinstance(error, OSError):
                raise self._write_failed(self._journal_path(self._gen), error) from error
            raise
        self._journal_bytes += len(frame)
        self._replay_stop = self._journal_bytes
        self._unsynced = deferred
        if self.fsync and not deferred:
            try:
                self._record_commit(self._journal_bytes, durable=True)
            except OSError as error:  # the commit stands in the journal; only the check weakens
                log.warning("%s: could not record the commit: %s", self.path, error)
        if op[0] in (_BEGIN, _END):
            self._state = self._marked(self._state, op)
        else:
            self._changes = self._wrote = True
            with cycle_collection_paused():
                if not self._legacy:  # the caller laid the journal over the tables first
                    self._tables.apply(op)
                if self._memory is not None:
                    self._memory.apply(op)
        # Never compact a publish half-done: new tables would make it the graph a reader sees.
        if (
            self._changes
            and not self._state.unfinished
            and self._journal_bytes > max(self.compact_bytes, self._tables.bytes // 16)
        ):
            try:
                self._compact()
            except OSError as error:  # the commit stands; compaction is retried after the next one
                log.warning("%s: compaction failed, will retry: %s", self.path, error)

    def _compact(self, empty: bool = False, state: PublishState | None = None) -> None:
        """Write the graph (or, with ``empty``, no graph) as the next generation's tables.

        The publish state goes with it (``state``, default the store's).
        """
        state = self._state if state is None else state
        nodes: dict[str, tuple[pa.Table, Any]] = {}
        edges: dict[tuple[str, str, str], tuple[pa.Table, Any]] = {}
        kept: list[str] = []  # the files of tables the journal left as they were
        if not empty and not self._legacy:
            tables = self._view()
            assert isinstance(tables, TableSet)
            with cycle_collection_paused():
                for label in schema.NODES:
                    if not tables.delta.touches(label):
                        if label in tables.manifest["nodes"]:
                            kept.append(node_file(label))
                        continue
                    table = tables._node_table(label)
                    if table is not None:
                        nodes[label] = unique_rows(table, ["id"])
                for ends in tables.all_groups():
                    if not tables.delta.touches(ends):
                        kept.append(edge_file(*ends))
                        continue
                    table = tables._edge_table(ends)
                    if table is not None:
                        edges[ends] = unique_rows(table, ["from", "to"])
        elif not empty:
            memory = self._mem()
            with cycle_collection_paused():
                for label in schema.NODES:
                    rows = list(memory.node_rows(label))
                    if rows:
                        ids = [node_id for node_id, _ in rows]
                        table = rows_table(label, {"id": ids}, [p for _, p in rows])
                        nodes[label] = unique_rows(table, ["id"])
                for key, group in memory.edge_rows().items():
                    table = rows_table(
                        key[0],
                        {"from": [a for a, _, _ in group], "to": [b for _, b, _ in group]},
                        [p for _, _, p in group],
                    )
                    edges[key] = unique_rows(table, ["from", "to"])
        folder = self._tables_path(self._gen + 1, temporary=True)
        shutil.rmtree(folder, ignore_errors=True)
        try:
            manifest = write_tables(folder, nodes, edges, fsync=self.fsync)
            if kept:
                assert self._tables.folder is not None
                keep_tables(self._tables.folder, folder, kept, self._tables.manifest, manifest)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        self._switch(folder, manifest, state)

    def _switch(self, folder: Path, manifest: dict[str, Any], state: PublishState) -> None:
        """Make the tables in ``folder`` (a temporary folder) the next generation, with ``state``.

        The next generation's journal and commit record are created first and the tables'
        folder renamed into place last: until that rename, the store on disk is the old
        generation, untouched; after it, the new one, complete. The old files are deleted last
        (or by the next writer's open, if that fails).
        """
        old, new = self._gen, self._gen + 1
        final = self._tables_path(new)
        journal = self._journal_path(new)
        commit = self._commit_path(new)
        header = _encode(("journal", FORMAT_VERSION, new))
        journal_fd = os.open(journal, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        commit_fd = None
        try:
            _write_all(journal_fd, header)
            self._sync(journal_fd)
            commit_fd = os.open(commit, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
            os.pwrite(commit_fd, _commit_slot(new, 1, len(header)), _COMMIT_SLOTS[1])
            self._sync(commit_fd)
            unfinished = [(u.run, u.started, u.complete) for u in state.unfinished]
            manifest = {
                **manifest,
                "generation": new,
                "state": [state.last_run, state.last_finished, unfinished, state.changes],
            }
            write_manifest(folder, manifest, fsync=self.fsync)
            os.replace(folder, final)
        except BaseException as error:
            os.close(journal_fd)
            if commit_fd is not None:
                os.close(commit_fd)
            journal.unlink(missing_ok=True)
            commit.unlink(missing_ok=True)
            shutil.rmtree(folder, ignore_errors=True)
            if isinstance(error, OSError):
                raise self._write_failed(folder, error) from error
            raise
        # The new generation is now the store.
        _fsync_dir(self.path)
        assert self._journal_fd is not None and self._commit_fd is not None
        os.close(self._journal_fd)
        os.close(self._commit_fd)
        self._journal_fd = journal_fd
        self._commit_fd = commit_fd
        self._commit_seq = 1
        self._journal_bytes = len(header)
        self._replay_stop = len(header)
        self._changes = self._replayed = False
        self._gen = new
        self._state = state
        self._tables = TableSet.open(final)
        self._memory = None  # built again from the tables if asked for
        self._legacy = False
        for path in (self._snapshot_path(old), self._journal_path(old), self._commit_path(old)):
            path.unlink(missing_ok=True)
        shutil.rmtree(self._tables_path(old), ignore_errors=True)
        log.info("%s: generation %d written (%d bytes)", self.path, new, self._tables.bytes)


def _common_edges(old: pa.Table, new: pa.Table) -> int:
    """How many of the ``old`` edges (``from``, ``to``) are among the ``new`` ones (each table
    holding an edge once): both sorted together, an edge of both is two equal rows side by side,
    one of each table. Sorting is several times faster than hashing the ends' strings."""
    if not old.num_rows or not new.num_rows:
        return 0
    both = pa.concat_tables([old.select(["from", "to"]), new.select(["from", "to"])])
    order = pc.sort_indices(both, sort_keys=[("from", "ascending"), ("to", "ascending")])
    same = np.ones(both.num_rows - 1, dtype=bool)
    for end in ("from", "to"):
        column = both.column(end).take(order).combine_chunks()
        same &= pc.equal(column.slice(1), column.slice(0, len(column) - 1)).to_numpy(
            zero_copy_only=False
        )
    rows = order.to_numpy()
    from_old = rows < old.num_rows
    return int((same & (from_old[1:] != from_old[:-1])).sum())
