"""The embedded graph store: the identity graph as a networkx DiGraph in memory, durable on disk.

Nothing to install or run: this is ekjon's default store, kept in a folder (normally
``$EKJON_HOME/graph``) that holds

- ``snapshot-<generation>.ekg``: the whole graph at the start of the generation (absent in the first
  generation), with the publish state of that moment,
- ``journal-<generation>.ekj``: every commit since, appended in order,
- ``commit-<generation>.ekc``: how many bytes of that journal are committed (two small slots written
  in turn, each with its own checksum),
- ``LOCK``: held (``flock``) exclusively by the one process writing the store, or shared by the
  processes reading it (``read_only=True``); the writer's pid is in it.

The snapshot and the journal are sequences of *frames*: a 16-byte header (magic, payload length,
payload CRC-32, header CRC-32) and a pickled payload (read back with an unpickler that refuses every
class, so the files can only ever yield plain data). Each batch a write method takes is one frame,
appended and ``fsync``-ed before the call returns and before memory changes; then the commit record
is updated to the journal's new length and ``fsync``-ed: what a call reported written survives a
crash, and the store knows how far its journal was committed. Opening the store checks the journal
against that length:

- bytes *after* the committed length that are no valid frame are a write that never returned (a
  crash mid-append): a writer discards them with a warning, a reader ignores them (and leaves the
  file as it is);
- a journal that is shorter than its committed length, or damaged before it, has lost committed
  work: :class:`StoreCorrupted`, naming the file and the byte, whoever opens it. Damage followed by
  valid frames is the same.

A store written by an older ekjon has no commit record: its bad last frame is taken for a torn
append, as it always was (with a warning), and a writer's first open writes the record. With
``fsync=False`` (bulk loads) the journal is synced and the record written only when the store is
opened and closed: a power cut may then lose the commits since the open, as the parameter says.

A publish into the store is marked in the journal: a begin frame before its first write, an end
frame after its last (:meth:`EmbeddedStore.begin_publish`, :func:`graph.store.publishing`). A
writer replays everything, so after a publish was cut short it holds the half-written graph and its
:meth:`~EmbeddedStore.publish_state` says which publish did not finish (readers of it are refused,
:func:`graph.store.require_complete`). A reader replays the journal only up to the first begin that
has no end: it shows the graph of the last complete publish, and says so. The store is never
compacted while a publish is unfinished, so that graph stays on disk until a publish finishes.

When the journal outgrows the snapshot (and ``compact_bytes``), the store writes a new snapshot of
the whole graph to a temporary file, ``fsync``-s it, renames it into place and starts an empty
journal of the next generation; the old files are deleted only after that. A crash at any point of
this leaves either the old generation or the new one complete. Only a writer deletes what a crash
left behind; a reader never changes a file.

In memory, nodes are keyed ``(label, id)``; ``graph.nodes[key]`` holds the properties, and
``graph[u][v]`` maps each edge type between ``u`` and ``v`` to the edge's properties. Identical edge
property dicts, repeated categorical values and empty adjacency dicts are shared between nodes and
edges to keep memory down, so the graph must be treated as read-only: write through the store.
"""

from __future__ import annotations

import contextlib
import gc
import io
import logging
import os
import pickle
import re
import struct
import threading
import zlib
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import replace
from itertools import islice
from pathlib import Path
from types import MappingProxyType
from typing import Any

import networkx as nx
import pandas as pd

from graph import schema
from graph.store import (
    DIRECTIONS,
    SHARED_COLUMNS,
    Direction,
    GraphStoreError,
    MissingNode,
    Neighbour,
    PublishState,
    ReadOnlyStore,
    StoreCorrupted,
    StoreLocked,
    StoreWriteFailed,
    UnfinishedPublish,
    batches,
    column_table,
    now_iso,
    table,
)

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no cross-process lock
    fcntl = None  # type: ignore[assignment]

__all__ = ["EmbeddedStore"]

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
_MAGIC = b"EKJ1"
# magic, payload length, payload CRC-32, CRC-32 of the header's first 12 bytes
_HEADER = struct.Struct("<4sIII")
_SNAPSHOT = re.compile(r"snapshot-(\d{8})\.ekg")
_JOURNAL = re.compile(r"journal-(\d{8})\.ekj")
_COMMIT_NAME = re.compile(r"commit-(\d{8})\.ekc")
# The commit record: magic, generation, sequence, committed journal length, CRC-32 of the rest.
# Written to two slots in turn (in two disk sectors), so a torn write spoils one, never both.
_COMMIT = struct.Struct("<4sQQQI")
_COMMIT_MAGIC = b"EKC1"
_COMMIT_SLOTS = (0, 512)
# Publish marks are small; frames at least this long are not decoded when looking for them.
_MARK_BYTES = 4096
_WHAT_TO_DO = (
    "Nothing was changed. Restore the store's folder from a backup, or move the folder aside and "
    "run `ekjon resolve` to publish the graph again from the record store (person and household "
    "IDs are kept by the identity ledger)."
)
_SNAPSHOT_ROWS = 20_000

#: Adjacency of a node without edges in that direction: one shared, immutable empty mapping.
_NO_EDGES: Mapping[Any, Any] = MappingProxyType({})

# Journal operations (the first element of every payload).
_MERGE_NODES = "N"
_MERGE_EDGES = "E"
_REPLACE_EDGES = "R"
_DELETE_EDGES = "DE"
_DELETE_NODES = "DN"
# Publish marks (:meth:`EmbeddedStore.begin_publish`, ``end_publish``) and, in a snapshot, the
# publish state as it was when the snapshot was taken.
_BEGIN = "PB"
_END = "PE"
_STATE = "PS"


# --- frames ---------------------------------------------------------------------------------------


class _PlainDataUnpickler(pickle.Unpickler):
    """Unpickles plain data only: a store file can never make Python import or run anything."""

    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"the store files hold plain data only, not {module}.{name}")


def _encode(payload: object) -> bytes:
    body = pickle.dumps(payload, protocol=5)
    head = struct.pack("<4sII", _MAGIC, len(body), zlib.crc32(body))
    return head + struct.pack("<I", zlib.crc32(head)) + body


def _decode(body: bytes) -> Any:
    return _PlainDataUnpickler(io.BytesIO(body)).load()


def _frame_at(data: bytes, offset: int) -> int | None:
    """The offset just after the valid frame at ``offset`` in ``data``, or None if none is there."""
    if len(data) - offset < _HEADER.size:
        return None
    magic, length, body_crc, head_crc = _HEADER.unpack_from(data, offset)
    if magic != _MAGIC or zlib.crc32(data[offset : offset + 12]) != head_crc:
        return None
    start, end = offset + _HEADER.size, offset + _HEADER.size + length
    if end > len(data) or zlib.crc32(data[start:end]) != body_crc:
        return None
    return end


class _TornTail(Exception):
    """Internal: the file's valid frames end at ``offset``; what follows is a torn last append."""

    def __init__(self, offset: int) -> None:
        self.offset = offset


def _walk(
    path: Path,
    tolerate_torn_tail: bool,
    stop: int | None = None,
    decode_below: int | None = None,
) -> Iterator[tuple[int, Any]]:
    """``(offset, payload)`` of the frames in ``path``, read one at a time, up to byte ``stop``.

    With ``decode_below``, only frames whose payload is shorter are decoded (the others yield
    ``None``): a quick walk that checks every frame and finds the small ones (publish marks).

    A bad frame that no valid frame follows is a torn tail (a crash during the last append): with
    ``tolerate_torn_tail`` the iteration raises :class:`_TornTail`. A bad frame followed by valid
    ones is damage.

    Raises
    ------
    StoreCorrupted
    """
    with open(path, "rb") as file:
        size = os.fstat(file.fileno()).st_size
        end = size if stop is None else min(stop, size)
        offset = 0
        while offset < end:
            head = file.read(_HEADER.size)
            body: bytes | None = None
            length = 0
            if len(head) == _HEADER.size:
                magic, length, body_crc, head_crc = _HEADER.unpack(head)
                if (
                    magic == _MAGIC
                    and zlib.crc32(head[:12]) == head_crc
                    and offset + _HEADER.size + length <= end
                ):
                    body = file.read(length)
                    if len(body) != length or zlib.crc32(body) != body_crc:
                        body = None
            if body is None:
                file.seek(offset)
                rest = file.read(size - offset)
                later = _next_valid_frame(rest, 1)
                if later is None and tolerate_torn_tail:
                    raise _TornTail(offset)
                where = (
                    f"; valid frames follow at byte {offset + later}" if later is not None else ""
                )
                raise StoreCorrupted(
                    f"{path} is damaged at byte {offset} of {size}{where}. {_WHAT_TO_DO}"
                )
            payload = None
            if decode_below is None or length < decode_below:
                try:
                    payload = _decode(body)
                except Exception as error:  # a valid checksum, unreadable data: a bug, tampering
                    raise StoreCorrupted(
                        f"{path}: the frame at byte {offset} cannot be read: {error}. {_WHAT_TO_DO}"
                    ) from None
            yield offset, payload
            offset += _HEADER.size + length


def _iter_frames(path: Path, tolerate_torn_tail: bool, stop: int | None = None) -> Iterator[Any]:
    """The payloads of the frames in ``path`` (up to byte ``stop``); see :func:`_walk`."""
    for _, payload in _walk(path, tolerate_torn_tail, stop):
        yield payload


def _scan(path: Path) -> tuple[int, int, list[tuple[int, tuple]]]:
    """Check every frame of the journal ``path`` without applying any.

    Returns
    -------
    ``(size, valid, marks)``: the file's size, where its valid frames end (before a torn tail, if
    any) and the publish marks (``(offset, payload)`` of each begin and end) in order.

    Raises
    ------
    StoreCorrupted
        If a damaged frame has valid frames after it.
    """
    size = path.stat().st_size
    marks: list[tuple[int, tuple]] = []
    valid = size
    try:
        for offset, payload in _walk(path, tolerate_torn_tail=True, decode_below=_MARK_BYTES):
            if isinstance(payload, tuple) and payload and payload[0] in (_BEGIN, _END):
                marks.append((offset, payload))
    except _TornTail as torn:
        valid = torn.offset
    return size, valid, marks


def _read_commit_record(path: Path, generation: int) -> tuple[int, int] | None:
    """``(sequence, committed length)`` from the commit record ``path``, or None (absent, or
    neither slot readable)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    best = None
    for start in _COMMIT_SLOTS:
        slot = data[start : start + _COMMIT.size]
        if len(slot) < _COMMIT.size:
            continue
        magic, gen, sequence, length, crc = _COMMIT.unpack(slot)
        if magic != _COMMIT_MAGIC or gen != generation or zlib.crc32(slot[:-4]) != crc:
            continue
        if best is None or sequence > best[0]:
            best = (sequence, length)
    return best


def _commit_slot(generation: int, sequence: int, length: int) -> bytes:
    head = struct.pack("<4sQQQ", _COMMIT_MAGIC, generation, sequence, length)
    return head + struct.pack("<I", zlib.crc32(head))


def _next_valid_frame(data: bytes, start: int) -> int | None:
    position = data.find(_MAGIC, start)
    while position != -1:
        if _frame_at(data, position) is not None:
            return position
        position = data.find(_MAGIC, position + 1)
    return None


@contextlib.contextmanager
def _no_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while millions of small objects are made.

    Without this, its full collections rescan the growing graph again and again: loading a
    snapshot takes about twice as long.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms that cannot open directories
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


_MISSING = float("nan")  # a property an edge lacks, as a table of row dicts shows it


# --- the store ------------------------------------------------------------------------------------


class EmbeddedStore:
    """The identity graph in a networkx DiGraph, durable in the folder ``path``.

    Parameters
    ----------
    path:
        The store's folder (created if absent), normally ``$EKJON_HOME/graph``.
    batch_size:
        Rows per commit: each batch of a write call is one journal frame and one ``fsync``.
    compact_bytes:
        The journal is compacted into a new snapshot once it is larger than this and than the
        snapshot.
    fsync:
        ``False`` skips the ``fsync`` of each commit (the journal is synced when the store is
        opened and closed): faster bulk loads, but a power cut (not a process crash) may then lose
        the commits since the store was opened.
    read_only:
        Open for reading only: a shared lock (readers run side by side; a writer keeps them out
        and they keep a writer out), no file is created, cut, compacted or deleted, write methods
        raise :class:`ReadOnlyStore`, and the graph shown is the last complete publish's (see
        :meth:`publish_state`). A folder that does not exist reads as an empty graph.

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
        self._lock = threading.RLock()
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
            self._reset_memory()
            with _no_gc():
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
        """The graph itself, for networkx algorithms. Read-only: write through the store."""
        return self._g

    def merge_nodes(self, label: str, rows: Iterable[Mapping[str, Any]]) -> int:
        """Create or update nodes of ``label``; see :meth:`graph.store.GraphStore.merge_nodes`."""
        schema.node_spec(label)
        self._check_writable()
        written = 0
        for batch in batches(rows, self.batch_size):
            cleaned = schema.clean_node_rows(label, batch, first_row=written)
            with self._lock:
                self._check_open()
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
                self._check_ends_exist(edge_type, from_label, to_label, cleaned)
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
                self._check_ends_exist(edge_type, from_label, to_label, cleaned)
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
                present = list(
                    dict.fromkeys(
                        (s, t)
                        for s, t, _ in cleaned
                        if self._has_edge(edge_type, from_label, s, to_label, t)
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
                index = self._index[label]
                present = list(dict.fromkeys(i for i in cleaned if i in index))
                if present:
                    self._commit((_DELETE_NODES, label, present))
            deleted += len(present)
        return deleted

    def node(self, label: str, id: str) -> dict[str, Any] | None:
        """The node's properties with its ``id``, or ``None``."""
        schema.node_spec(label)
        with self._lock:
            self._check_open()
            key = self._index[label].get(id)
            if key is None:
                return None
            return {"id": id, **self._g._node[key]}

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
            key = self._index[label].get(id)
            if key is None:
                return []
            sides = []
            if direction in ("out", "both"):
                sides.append(self._g._succ[key])
            if direction in ("in", "both"):
                sides.append(self._g._pred[key])
            found = []
            node_props = self._g._node
            for adjacency in sides:
                for other, types in adjacency.items():
                    if neighbour_label is not None and other[0] != neighbour_label:
                        continue
                    for kind, props in types.items():
                        if edge_type is None or kind == edge_type:
                            found.append(
                                Neighbour(
                                    kind,
                                    dict(props),
                                    other[0],
                                    {"id": other[1], **node_props[other]},
                                )
                            )
        found.sort(key=lambda n: (n.edge_type, n.label, n.props["id"]))
        return found

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
            node_props = self._g._node
            index = self._index[label]
            if ids is None:
                names, keys = list(index), list(index.values())
            else:
                names = [i for i in dict.fromkeys(ids) if i in index]
                keys = [index[i] for i in names]
            if properties is None:
                records = ({"id": i, **node_props[k]} for i, k in zip(names, keys, strict=True))
                return table(records, ("id",), properties)
            wanted = list(dict.fromkeys(p for p in properties if p != "id"))
            with _no_gc():
                props = [node_props[k] for k in keys]
                columns = {"id": names}
                for name in wanted:  # missing as None, as the Neo4j store gives it
                    columns[name] = [row.get(name) for row in props]
                return column_table(columns, ["id", *(p for p in properties if p != "id")])

    def edges(
        self,
        edge_type: str,
        from_ids: Iterable[str] | None = None,
        to_ids: Iterable[str] | None = None,
    ) -> pd.DataFrame:
        """Every edge of ``edge_type`` as a table; see :meth:`graph.store.GraphStore.edges`.

        The edges of all types out of a label are gathered in one walk over that label's
        adjacency; each type's table is built when first asked for and kept until the next write,
        so the whole-graph queries pay for the walk once.
        """
        spec = schema.edge_spec(edge_type)
        if from_ids is not None or to_ids is not None:
            with self._lock:
                self._check_open()
                return table(self._some_edges(spec, from_ids, to_ids), schema.EDGE_COLUMNS)
        with self._lock:
            self._check_open()
            if edge_type not in self._tables:
                with _no_gc():
                    for from_label in spec.from_labels:
                        self._walk_edges(from_label)
                    self._tables[edge_type] = self._edge_table(edge_type)
            return self._tables[edge_type].copy()

    def _some_edges(
        self, spec: schema.EdgeSpec, from_ids: Iterable[str] | None, to_ids: Iterable[str] | None
    ) -> list[dict[str, Any]]:
        """The edges of one type at the named nodes, as rows (see :meth:`edges`)."""
        edge_type = spec.type
        from_labels = set(spec.from_labels)
        to_labels = {b for _, b in spec.ends}
        ends = None if to_ids is None else set(to_ids)
        rows = []
        if from_ids is not None:
            succ = self._g._succ
            for from_id in dict.fromkeys(from_ids):
                for from_label in spec.from_labels:
                    key = self._index[from_label].get(from_id)
                    if key is None:
                        continue
                    for other, types in succ[key].items():
                        props = types.get(edge_type)
                        if (
                            props is not None
                            and other[0] in to_labels
                            and (ends is None or other[1] in ends)
                        ):
                            rows.append(
                                {
                                    "from": from_id,
                                    "to": other[1],
                                    "from_label": from_label,
                                    "to_label": other[0],
                                    **props,
                                }
                            )
            return rows
        pred = self._g._pred
        for to_id in ends or ():
            for to_label in to_labels:
                key = self._index[to_label].get(to_id)
                if key is None:
                    continue
                for other, types in pred[key].items():
                    props = types.get(edge_type)
                    if props is not None and other[0] in from_labels:
                        rows.append(
                            {
                                "from": other[1],
                                "to": to_id,
                                "from_label": other[0],
                                "to_label": to_label,
                                **props,
                            }
                        )
        return rows

    def shared_identifiers(
        self, labels: Sequence[str], exclude_sources: Iterable[str] = ()
    ) -> pd.DataFrame:
        """Identifiers of several households; see :meth:`GraphStore.shared_identifiers`.

        A walk over the identifiers' incoming ``HAS`` edges: only identifiers given by two records
        or more are looked at further.
        """
        for label in labels:
            schema.node_spec(label)
        excluded = set(exclude_sources)
        found: dict[str, list] = {name: [] for name in SHARED_COLUMNS}
        with self._lock, _no_gc():
            self._check_open()
            succ, pred, node_props = self._g._succ, self._g._pred, self._g._node
            # per record: None if its source is excluded, else (person, households); equal
            # household sets are one object, so members of one household compare by identity
            of_record: dict[tuple[str, str], tuple | None] = {}
            of_person: dict[tuple[str, str], frozenset] = {}
            interned: dict[frozenset, frozenset] = {}
            nowhere: frozenset = frozenset()

            def look(record: tuple[str, str]) -> tuple | None:
                if node_props[record].get("source") in excluded:
                    return None
                for other, types in succ[record].items():
                    if other[0] == "Person" and "OF" in types:
                        homes = of_person.get(other)
                        if homes is None:
                            homes = frozenset(
                                h for h, kinds in succ[other].items() if "MEMBER_OF" in kinds
                            )
                            homes = of_person[other] = interned.setdefault(homes, homes)
                        return (other, homes)
                return (None, nowhere)

            for label in dict.fromkeys(labels):
                for key in self._index[label].values():
                    into = pred[key]
                    if len(into) < 2:
                        continue
                    given = 0
                    common: frozenset | None = None
                    for record, types in into.items():
                        if "HAS" not in types:
                            continue
                        info = of_record.get(record, False)
                        if info is False:
                            info = of_record[record] = look(record)
                        if info is None:
                            continue
                        given += 1
                        homes = info[1]
                        if common is None:
                            common = homes
                        elif common and homes is not common:
                            common = common & homes
                    if given < 2 or common:
                        continue
                    for record, types in into.items():
                        info = of_record.get(record) if "HAS" in types else None
                        if info is None:
                            continue
                        found["label"].append(label)
                        found["identifier"].append(key[1])
                        found["record"].append(record[1])
                        found["person"].append(None if info[0] is None else info[0][1])
        return pd.DataFrame(found, columns=list(SHARED_COLUMNS))

    def _walk_edges(self, from_label: str) -> None:
        """Collect every edge out of ``from_label`` nodes, by type, as columns."""
        if from_label in self._walked:
            return
        succ = self._g._succ
        rows: dict[str, list] = self._edge_rows
        for from_id, key in self._index[from_label].items():
            for other, types in succ[key].items():
                for kind, props in types.items():
                    found = rows.get(kind)
                    if found is None:
                        found = rows[kind] = [[], [], [], [], []]
                    found[0].append(from_id)
                    found[1].append(other[1])
                    found[2].append(from_label)
                    found[3].append(other[0])
                    found[4].append(props)
        self._walked.add(from_label)

    def _edge_table(self, edge_type: str) -> pd.DataFrame:
        """The table of ``edge_type`` from the walked columns (which it then lets go of)."""
        found = self._edge_rows.pop(edge_type, None)
        if found is None:
            return pd.DataFrame(columns=list(schema.EDGE_COLUMNS))
        starts, ends, from_labels, to_labels, props = found
        columns: dict[str, list] = dict(
            zip(schema.EDGE_COLUMNS, (starts, ends, from_labels, to_labels), strict=True)
        )
        names = sorted({name for row in props if row for name in row})
        for name in names:
            columns[name] = [row.get(name, _MISSING) for row in props]
        return column_table(columns, [*schema.EDGE_COLUMNS, *names])

    def count(self, name: str) -> int:
        """How many nodes have the label ``name``, or edges the type ``name``."""
        schema.check_name(name)
        with self._lock:
            self._check_open()
            if name in schema.NODES:
                return len(self._index[name])
            return self._edge_count[name]

    def begin_publish(self, run: str, *, complete: bool = True) -> None:
        """Mark the publish ``run`` begun: a journal frame, committed before any of its writes.

        See :meth:`graph.store.GraphStore.begin_publish`. Until it ends, the store is not
        compacted: a snapshot would make the half-written graph the one readers see.
        """
        if not isinstance(run, str) or not run.strip():
            raise ValueError(f"A publish is named by a non-empty string. Got {run!r}.")
        with self._lock:
            self._check_open()
            self._check_writable()
            self._commit((_BEGIN, run, now_iso(), bool(complete)))

    def end_publish(self, run: str) -> None:
        """Mark the publish ``run`` finished; see :meth:`graph.store.GraphStore.end_publish`."""
        with self._lock:
            self._check_open()
            self._check_writable()
            self._state.ended(run, "")  # refuses a run that has not begun, before writing
            self._commit((_END, run, now_iso()))

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
        """Delete everything: the next generation starts from an empty snapshot."""
        with self._lock:
            self._check_open()
            self._check_writable()
            self._compact(empty=True, state=self._state.cleared())

    def compact(self) -> None:
        """Write the whole graph as a new snapshot and start an empty journal (also automatic).

        Compacting while a publish is unfinished keeps it unfinished in the snapshot; readers
        are then refused until a publish finishes, where they would otherwise see the last
        complete graph.
        """
        with self._lock:
            self._check_open()
            self._check_writable()
            self._compact()

    def close(self) -> None:
        """Close the journal and release the folder's lock. Closing twice is harmless.

        Without ``fsync``, the journal is synced here once and its length recorded as committed.
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
            try:
                if self._journal_fd is not None and not self.fsync:
                    os.fsync(self._journal_fd)
                    self._record_commit(self._journal_bytes, durable=True)
            except OSError as error:
                log.warning("%s: could not record the last commits: %s", self.path, error)
            finally:
                for fd in (self._journal_fd, self._commit_fd):
                    if fd is not None:
                        os.close(fd)
                self._journal_fd = self._commit_fd = None
                self._release_lock()

    def __enter__(self) -> EmbeddedStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"{len(self._g._node)} nodes, generation {self._gen}"
        if self.read_only:
            state += ", read-only"
        return f"EmbeddedStore({str(self.path)!r}, {state})"

    # --- memory -----------------------------------------------------------------------------------

    def _reset_memory(self) -> None:
        self._g = nx.DiGraph()
        nx.freeze(self._g)
        self._index: dict[str, dict[str, tuple[str, str]]] = {label: {} for label in schema.NODES}
        self._edge_count: Counter[str] = Counter()
        self._values: dict[str, str] = {}  # one shared copy of each categorical value
        self._edge_props: dict[tuple, dict] = {}  # one shared dict per distinct edge properties
        self._categorical = {label: spec.categorical for label, spec in schema.NODES.items()}
        self._repetitive = {t for t, spec in schema.EDGES.items() if spec.repetitive}
        # the one shared {type: {}} dict of all edges of a type without properties
        self._bare: dict[str, dict[str, dict]] = {t: {t: {}} for t in schema.EDGES}
        self._forget_tables()

    def _forget_tables(self) -> None:
        """Drop the edge tables kept for reads (every write calls this)."""
        self._tables: dict[str, pd.DataFrame] = {}
        self._edge_rows: dict[str, list[list]] = {}
        self._walked: set[str] = set()

    def _changed(self) -> None:
        self._forget_tables()
        clear_cache = getattr(nx, "_clear_cache", None)
        if clear_cache is not None:
            clear_cache(self._g)

    def _apply(self, op: tuple) -> None:
        kind = op[0]
        if kind in (_BEGIN, _END, _STATE):  # the publish state, not the graph
            self._state = self._marked(self._state, op)
            return
        if kind == _MERGE_NODES:
            self._apply_merge_nodes(op[1], op[2])
        elif kind == _MERGE_EDGES:
            self._apply_merge_edges(op[1], op[2], op[3], op[4])
        elif kind == _REPLACE_EDGES:
            self._apply_replace_edges(*op[1:])
        elif kind == _DELETE_EDGES:
            self._apply_delete_edges(op[1], op[2], op[3], op[4])
        elif kind == _DELETE_NODES:
            self._apply_delete_nodes(op[1], op[2])
        else:
            raise StoreCorrupted(f"{self.path}: unknown operation {kind!r} in the journal")
        self._changed()

    def _share(self, props: dict, categorical: frozenset[str]) -> None:
        """Replace categorical string values by the one shared copy of each."""
        values = self._values
        for name, value in props.items():  # only values change: safe while iterating
            if type(value) is str and name in categorical:
                props[name] = values.setdefault(value, value)

    def _apply_merge_nodes(self, label: str, rows: list[tuple[str, dict]]) -> None:
        index = self._index[label]
        node, succ, pred = self._g._node, self._g._succ, self._g._pred
        categorical = self._categorical[label]
        for node_id, props in rows:
            key = index.get(node_id)
            if key is None:
                if None in props.values():
                    props = {k: v for k, v in props.items() if v is not None}
                if categorical:
                    self._share(props, categorical)
                key = (label, node_id)
                index[node_id] = key
                node[key] = props
                succ[key] = _NO_EDGES
                pred[key] = _NO_EDGES
            else:
                current = node[key]
                for name, value in props.items():
                    if value is None:
                        current.pop(name, None)
                    else:
                        current[name] = value
                if categorical:
                    self._share(current, categorical)

    def _one_type(self, edge_type: str, props: dict) -> dict:
        """The ``{edge_type: props}`` dict of an edge, shared with equal ones if the type repeats.

        ``props`` must be the caller's to keep; ``None`` values are dropped.
        """
        if None in props.values():
            props = {k: v for k, v in props.items() if v is not None}
        if not props:
            return self._bare[edge_type]
        if edge_type not in self._repetitive:
            return {edge_type: props}
        # Types in the key keep True apart from 1; key order only costs a missed share.
        key = (edge_type, tuple(props.items()), tuple(map(type, props.values())))
        shared = self._edge_props.get(key)
        if shared is None:
            shared = self._edge_props[key] = {edge_type: props}
        return shared

    def _with_type(self, types: dict, edge_type: str, props: dict) -> dict:
        """``types`` (an edge's {type: props}) after merging ``props`` into ``edge_type``."""
        old = types.get(edge_type)
        if old is None:
            self._edge_count[edge_type] += 1
            merged = props
        else:
            merged = {**old, **props}
        if len(types) == 1 and old is not None:
            return self._one_type(edge_type, merged)
        return {**types, edge_type: {k: v for k, v in merged.items() if v is not None}}

    def _missing(self, label: str, node_id: str) -> StoreCorrupted:
        return StoreCorrupted(f"{self.path}: the journal names a missing {label} {node_id!r}")

    def _key(self, label: str, node_id: str) -> tuple[str, str]:
        key = self._index[label].get(node_id)
        if key is None:
            raise self._missing(label, node_id)
        return key

    def _apply_merge_edges(
        self, edge_type: str, from_label: str, to_label: str, rows: list[tuple[str, str, dict]]
    ) -> None:
        succ, pred = self._g._succ, self._g._pred
        starts, ends = self._index[from_label], self._index[to_label]
        one_type, bare = self._one_type, self._bare[edge_type]
        # Snapshot frames share one props object between equal edges: look each up only once.
        seen: dict[int, dict] = {}
        added = 0
        for source, target, props in rows:
            u = starts.get(source)
            v = ends.get(target)
            if u is None or v is None:
                raise self._missing(*((from_label, source) if u is None else (to_label, target)))
            out = succ[u]
            types = out.get(v)
            if types is None:
                if not props:
                    new = bare
                else:
                    cached = seen.get(id(props))
                    if cached is None:
                        cached = seen[id(props)] = one_type(edge_type, props)
                    new = cached
                added += 1
            else:
                new = self._with_type(types, edge_type, props)
            if out is _NO_EDGES:
                out = succ[u] = {}
            into = pred[v]
            if into is _NO_EDGES:
                into = pred[v] = {}
            out[v] = new
            into[u] = new
        self._edge_count[edge_type] += added

    def _remove_edge(self, edge_type: str, u: tuple, v: tuple) -> bool:
        succ, pred = self._g._succ, self._g._pred
        types = succ[u].get(v)
        if types is None or edge_type not in types:
            return False
        if len(types) == 1:
            del succ[u][v]
            del pred[v][u]
        else:
            rest = {k: p for k, p in types.items() if k != edge_type}
            if len(rest) == 1:
                ((kind, props),) = rest.items()
                rest = self._one_type(kind, dict(props))
            succ[u][v] = rest
            pred[v][u] = rest
        self._edge_count[edge_type] -= 1
        return True

    def _apply_replace_edges(
        self,
        edge_type: str,
        from_label: str,
        to_label: str,
        sources: list[str],
        rows: list[tuple[str, str, dict]],
    ) -> None:
        for source in sources:
            u = self._key(from_label, source)
            for v in [v for v in self._g._succ[u] if v[0] == to_label]:
                self._remove_edge(edge_type, u, v)
        self._apply_merge_edges(edge_type, from_label, to_label, rows)

    def _apply_delete_edges(
        self, edge_type: str, from_label: str, to_label: str, rows: list[tuple[str, str]]
    ) -> None:
        for source, target in rows:
            self._remove_edge(edge_type, self._key(from_label, source), self._key(to_label, target))

    def _apply_delete_nodes(self, label: str, ids: list[str]) -> None:
        g = self._g
        index = self._index[label]
        for node_id in ids:
            key = index.pop(node_id, None)
            if key is None:
                continue
            for v, types in g._succ[key].items():
                del g._pred[v][key]
                self._edge_count.subtract(types.keys())
            for u, types in g._pred[key].items():
                if u != key:
                    del g._succ[u][key]
                    self._edge_count.subtract(types.keys())
            del g._succ[key], g._pred[key], g._node[key]

    def _has_edge(
        self, edge_type: str, from_label: str, source: str, to_label: str, target: str
    ) -> bool:
        u = self._index[from_label].get(source)
        v = self._index[to_label].get(target)
        if u is None or v is None:
            return False
        types = self._g._succ[u].get(v)
        return types is not None and edge_type in types

    def _check_ends_exist(
        self, edge_type: str, from_label: str, to_label: str, rows: list[tuple[str, str, dict]]
    ) -> None:
        starts, ends = self._index[from_label], self._index[to_label]
        missing: dict[tuple[str, str], None] = {}
        for source, target, _ in rows:
            if source not in starts:
                missing[(from_label, source)] = None
            if target not in ends:
                missing[(to_label, target)] = None
        if missing:
            raise MissingNode(edge_type, list(missing))

    # --- disk -------------------------------------------------------------------------------------

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

    def _open_files(self) -> None:
        names = os.listdir(self.path) if self.path.is_dir() else []
        if not self.read_only:
            for name in names:
                if name.endswith(".tmp"):  # a compaction that did not finish
                    os.unlink(self.path / name)
        generations = [int(m.group(1)) for n in names if (m := _SNAPSHOT.fullmatch(n))]
        self._gen = max(generations, default=0)
        self._snapshot_bytes = 0
        if generations:
            self._load_snapshot(self._snapshot_path(self._gen))
        self._open_journal(self._journal_path(self._gen))
        if self.read_only:
            return
        for name in names:
            # Older generations are superseded by the snapshot; a newer journal without its
            # snapshot is what a failed compaction left (it holds no commits).
            match = _SNAPSHOT.fullmatch(name) or _JOURNAL.fullmatch(name)
            match = match or _COMMIT_NAME.fullmatch(name)
            if match and int(match.group(1)) != self._gen:
                os.unlink(self.path / name)

    def _load_snapshot(self, path: Path) -> None:
        frames = _iter_frames(path, tolerate_torn_tail=False)
        header = next(frames, None)
        if header is None or tuple(header[:2]) != ("snapshot", FORMAT_VERSION):
            raise StoreCorrupted(
                f"{path} is not an ekjon graph snapshot of format {FORMAT_VERSION}"
            )
        end = None
        for op in frames:
            if end is not None:
                raise StoreCorrupted(f"{path} has frames after its end frame")
            if op[0] == "end":
                end = op
            else:
                self._apply(op)
        if end is None:
            raise StoreCorrupted(f"{path} is incomplete (no end frame)")
        if (len(self._g._node), self._edge_count.total()) != (end[1], end[2]):
            raise StoreCorrupted(f"{path} holds other counts than its end frame says")
        self._snapshot_bytes = path.stat().st_size

    def _open_journal(self, path: Path) -> None:
        """Check the generation's journal against its commit record, then replay it.

        Frames up to the committed length must all be there and valid: damage there is committed
        work lost, and raises. Bytes after it that are no valid frame are a write that never
        returned (a crash mid-append): a writer cuts them off, a reader leaves them be. A reader
        replays only up to the first publish that has not finished (see :meth:`_cut`).
        """
        commit = _read_commit_record(self._commit_path(self._gen), self._gen)
        committed = None if commit is None else commit[1]
        self._commit_seq = 0 if commit is None else commit[0]
        size, valid, marks = _scan(path) if path.exists() else (0, 0, [])
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
        if self.read_only:
            for _, mark in marks:
                final = self._marked(final, mark)
            cut = self._cut(marks)
            if cut is not None:
                stop = cut
        header = ("journal", FORMAT_VERSION, self._gen)
        commits = 0
        if valid:
            frames = _iter_frames(path, tolerate_torn_tail=False, stop=stop)
            first = next(frames, None)
            if first is not None and tuple(first) != header:
                raise StoreCorrupted(f"{path} does not belong to generation {self._gen}")
            for op in frames:
                self._apply(op)
                commits += 1
        if commits:
            log.info("%s: replayed %d commits", path, commits)
        if self.read_only:
            self._state = replace(final, shows_last_complete=stop < valid)
            self._journal_bytes = valid
            return
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
        try:
            os.ftruncate(fd, valid)
            os.lseek(fd, valid, os.SEEK_SET)
            if not valid:
                frame = _encode(header)
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

    def _commit(self, op: tuple) -> None:
        """Append ``op`` to the journal, fsync, record the new committed length, then apply it in
        memory.

        Raises
        ------
        StoreWriteFailed
            If the journal cannot be written (a full disk): the write is not committed and the
            journal is cut back to its last commit.
        """
        assert self._journal_fd is not None
        frame = _encode(op)
        try:
            _write_all(self._journal_fd, frame)
            self._sync(self._journal_fd)
        except BaseException as error:
            # Never leave half a frame before the next commit: cut the journal back.
            with contextlib.suppress(OSError):
                os.ftruncate(self._journal_fd, self._journal_bytes)
                os.lseek(self._journal_fd, self._journal_bytes, os.SEEK_SET)
            if isinstance(error, OSError):
                raise StoreWriteFailed(
                    f"Could not write to {self._journal_path(self._gen)}: "
                    f"{error.strerror or error}. The write was not committed; the graph's "
                    "publish state shows an unfinished publish, if one was running. Free space "
                    "on that disk (or fix the device) and run the publish again (`ekjon "
                    "resolve`)."
                ) from error
            raise
        self._journal_bytes += len(frame)
        if self.fsync:
            try:
                self._record_commit(self._journal_bytes, durable=True)
            except OSError as error:  # the commit stands in the journal; only the check weakens
                log.warning("%s: could not record the commit: %s", self.path, error)
        if op[0] in (_BEGIN, _END):
            self._state = self._marked(self._state, op)
        else:
            with _no_gc():
                self._apply(op)
        # Never compact a publish half-done: a snapshot would make it the graph a reader sees.
        if not self._state.unfinished and self._journal_bytes > max(
            self.compact_bytes, self._snapshot_bytes
        ):
            try:
                self._compact()
            except OSError as error:  # the commit stands; compaction is retried after the next one
                log.warning("%s: compaction failed, will retry: %s", self.path, error)

    def _snapshot_frames(
        self, generation: int, empty: bool, state: PublishState
    ) -> Iterator[bytes]:
        yield _encode(("snapshot", FORMAT_VERSION, generation))
        unfinished = [(u.run, u.started, u.complete) for u in state.unfinished]
        yield _encode((_STATE, state.last_run, state.last_finished, unfinished, state.changes))
        if empty:
            yield _encode(("end", 0, 0))
            return
        node_props = self._g._node
        for label, index in self._index.items():
            items = iter(index.items())
            while chunk := list(islice(items, _SNAPSHOT_ROWS)):
                rows = [(node_id, node_props[key]) for node_id, key in chunk]
                yield _encode((_MERGE_NODES, label, rows))
        pending: dict[tuple[str, str, str], list] = {}
        for u, out in self._g._succ.items():
            for v, types in out.items():
                for kind, props in types.items():
                    group = pending.setdefault((kind, u[0], v[0]), [])
                    group.append((u[1], v[1], props))
                    if len(group) >= _SNAPSHOT_ROWS:
                        yield _encode((_MERGE_EDGES, kind, u[0], v[0], group))
                        del pending[(kind, u[0], v[0])]
        for (kind, from_label, to_label), group in pending.items():
            yield _encode((_MERGE_EDGES, kind, from_label, to_label, group))
        yield _encode(("end", len(node_props), self._edge_count.total()))

    def _compact(self, empty: bool = False, state: PublishState | None = None) -> None:
        """Snapshot the graph (or, with ``empty``, no graph) as the next generation.

        The next generation's journal and commit record are created first and the snapshot
        renamed into place last: until that rename, the store on disk is the old generation,
        untouched; after it, the new one, complete. The old files are deleted last (or by the
        next writer's open, if that fails). The snapshot keeps the publish state (``state``,
        default the store's).
        """
        state = self._state if state is None else state
        old, new = self._gen, self._gen + 1
        final = self._snapshot_path(new)
        temporary = final.with_name(final.name + ".tmp")
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
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            try:
                for frame in self._snapshot_frames(new, empty, state):
                    _write_all(fd, frame)
                self._sync(fd)
            finally:
                os.close(fd)
            os.replace(temporary, final)
        except BaseException:
            os.close(journal_fd)
            if commit_fd is not None:
                os.close(commit_fd)
            journal.unlink(missing_ok=True)
            commit.unlink(missing_ok=True)
            temporary.unlink(missing_ok=True)
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
        self._snapshot_bytes = final.stat().st_size
        self._gen = new
        self._state = state
        if empty:
            self._reset_memory()
        for path in (self._snapshot_path(old), self._journal_path(old), self._commit_path(old)):
            path.unlink(missing_ok=True)
        log.info(
            "%s: compacted into generation %d (%d bytes)", self.path, new, self._snapshot_bytes
        )
