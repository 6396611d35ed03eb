"""A first load of the identity graph through Neo4j's offline importer, for national-scale loads.

Writing millions of records over Bolt is bounded by round trips and per-row transaction work
(about 3,000 records/s for a 1M-person world). ``neo4j-admin database import full`` instead builds
the store files directly from CSV, an order of magnitude faster, but only into an empty database
of a stopped server. So a first load goes:

1. :class:`ImportFiles` collects the graph as the importer's CSV files: one file per call, its own
   header line naming the columns' roles and types (``:ID``, ``:START_ID``, ``:END_ID``,
   ``amount:long``...; nodes numbered by ekjon, ``--id-type=actual``, the string ``id`` a
   property). :func:`engine.publish.publish` writes into it (a :class:`~graph.store.GraphWriter`)
   exactly what it would write into a :class:`~graph.store.GraphStore`, column by column instead
   of row by row, so the imported graph is the graph a Bolt publish gives.
2. :func:`load` checks that ekjon's own server (``ekjon neo4j start``) holds no nodes, stops it
   (or waits for :func:`stop_in_background`, begun before the files were written), runs the
   importer into its database, starts it again and creates the constraints and indexes.

Updates after the first load go over Bolt as usual (``ekjon resolve --backend neo4j``): they are
idempotent, retryable ``MERGE`` batches. A user's own Neo4j (``EKJON_NEO4J_URI``) is only written
over Bolt; the importer needs the server's files.

Example
-------
>>> files = ImportFiles(home / "neo4j" / "import")                  # doctest: +SKIP
>>> publish(files, records, assignment, links)                      # doctest: +SKIP
>>> result = load(home, files)                                      # doctest: +SKIP
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv

from graph import schema
from graph.store import GraphStoreError, InvalidRow, MissingNode

__all__ = [
    "ImportFailed",
    "ImportFiles",
    "ImportResult",
    "NotEmpty",
    "NotOwnServer",
    "check_empty_database",
    "first_load",
    "import_files",
    "load",
    "own_server_is_empty",
    "stop_in_background",
    "wait_for_stop",
]

log = logging.getLogger(__name__)

T = TypeVar("T")


class NotEmpty(GraphStoreError):
    """The database a first load would import into already holds nodes."""


class NotOwnServer(GraphStoreError):
    """A first load was asked for while ekjon is pointed at another Neo4j (``EKJON_NEO4J_URI``)."""


@dataclass
class ImportResult:
    """What :func:`load` did.

    Attributes
    ----------
    nodes, edges:
        Nodes per label and edges per type in the database after the import.
    seconds:
        Wall-clock seconds per step (``stop``, ``import``, ``start``, ``schema``).
    """

    nodes: dict[str, int] = field(default_factory=dict)
    edges: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


#: pandas' name for what a column holds -> the property type it becomes.
_INFERRED = {
    "string": pa.string(),
    "boolean": pa.bool_(),
    "integer": pa.int64(),
    "floating": pa.float64(),
    "mixed-integer-float": pa.float64(),
    "decimal": pa.float64(),
}
#: How the importer names a property type in a header (strings need none).
_HEADER_TYPES = {pa.bool_(): "boolean", pa.int64(): "long", pa.float64(): "double"}


def _arrow_type(what: str, values: pd.Series) -> pa.DataType | None:
    """The property type of a column's values, or None if it has none (every value missing).

    Raises
    ------
    InvalidRow
        If the column holds something else (dates, lists...) or mixes strings with numbers.
    """
    inferred = pd.api.types.infer_dtype(values, skipna=True)
    if inferred == "empty":
        return None
    if inferred in _INFERRED:
        return _INFERRED[inferred]
    present = values.dropna()
    kinds = sorted({type(v).__name__ for v in present.to_numpy()[:1000]})
    raise InvalidRow(
        what,
        0,
        f"property {values.name!r} holds {inferred} values ({', '.join(kinds)}); the importer "
        "needs one type per property: str, int, float or bool (dates as ISO strings).",
    )


def _arrow_array(what: str, values: pd.Series) -> pa.Array | None:
    """A column's values as an Arrow array of its property type; None if every value is missing.

    One pass: Arrow reads the type off the values as it converts them (str, int, float, bool);
    anything else goes through :func:`_arrow_type`, which converts or refuses it by name.

    Raises
    ------
    InvalidRow
        If the column holds something else (dates, lists...) or mixes strings with numbers.
    """
    try:
        array = pa.array(values, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        array = None
    if array is not None:
        if pa.types.is_null(array.type):
            return None
        if array.type in _ARROW_KINDS:
            return array
    kind = _arrow_type(what, values)
    return None if kind is None else pa.array(values, type=kind, from_pandas=True)


#: The property types :func:`_arrow_array` takes as Arrow read them.
_ARROW_KINDS = frozenset({pa.string(), pa.bool_(), pa.int64(), pa.float64()})


def _has_line_break(values: pa.Array | pa.ChunkedArray) -> bool:
    """Whether any string holds a line break: one scan of the bytes behind the strings."""
    for chunk in values.chunks if isinstance(values, pa.ChunkedArray) else [values]:
        _, offsets, data = chunk.buffers()
        if data is None or not len(chunk):
            continue
        kind = np.int64 if pa.types.is_large_string(chunk.type) else np.int32
        # the slice's own offsets, so only its strings' bytes are read
        ends = np.frombuffer(offsets, dtype=kind)[chunk.offset : chunk.offset + len(chunk) + 1]
        raw = np.frombuffer(data, dtype=np.uint8)[ends[0] : ends[-1]]
        if raw.size and ((raw == 10) | (raw == 13)).any():
            return True
    return False


def _columns(columns: Mapping[str, Any]) -> dict[str, pd.Series]:
    """Parallel columns (lists, arrays or Series, taken by position) as Series of one length.

    A list keeps its Python values as they are (``object``), so a list of ints with a ``None``
    stays ints, as a Bolt write would store them, instead of becoming floats. No frame is built:
    that would copy every column into one block.
    """
    out: dict[str, pd.Series] = {}
    for name, values in columns.items():
        if isinstance(values, pd.Series):
            out[name] = values  # its index is never used: every use is by position
        elif isinstance(values, np.ndarray):
            out[name] = pd.Series(values)
        else:
            out[name] = pd.Series(list(values), dtype=object)
    lengths = {len(v) for v in out.values()}
    if len(lengths) > 1:
        raise ValueError(f"The columns have different lengths: {sorted(lengths)}.")
    return out


#: Tables waiting for the writer thread at most (see ImportFiles._write).
_WAITING_TABLES = 4

#: Node numbers stay below 2**31, so that an edge's two ends fit one 64-bit key.
_MAX_NODES = 2**31
#: The labels whose ``shared_identifiers`` answer an import writes ready (the phones and wallets
#: the suspicious-identifier question asks about); any other question is worked out when asked.
_KEPT_LABELS = ("Phone", "Account")


def _crossing(
    identifiers: np.ndarray,
    persons: np.ndarray,
    members: np.ndarray,
    homes: np.ndarray,
    size: int,
) -> np.ndarray:
    """The identifiers that cross households, all as node numbers below ``size``.

    ``identifiers`` and ``persons``: for each record that counts, the identifier it gives and its
    person (-1 if none). ``members``/``homes``: the MEMBER_OF edges, sorted by person. An
    identifier crosses households when two records or more give it and no one household holds
    the persons of them all (a record without a person, or a person without a household, is in
    none).
    """
    given = np.bincount(identifiers, minlength=size)  # records giving each identifier
    # every (identifier, household) a giver's person is a member of
    start = np.searchsorted(members, persons, side="left")
    stop = np.searchsorted(members, persons, side="right")
    stop[persons < 0] = start[persons < 0]
    many = stop - start
    rows = np.repeat(np.arange(len(persons)), many)
    at = np.repeat(start - np.cumsum(many) + many, many) + np.arange(len(rows))
    held = np.zeros(size, dtype=np.int64)  # the most givers one household holds
    if len(rows):
        key = identifiers[rows] * size + homes[at]
        uniq, counts = np.unique(key, return_counts=True)
        np.maximum.at(held, uniq // size, counts)
    return np.flatnonzero((given >= 2) & (held < given))


def _in_dict(values: np.ndarray, members: Mapping[Any, Any] | set[Any]) -> np.ndarray:
    """Which of ``values`` are keys of ``members``, as a bool array (hash lookups)."""
    return np.fromiter(map(members.__contains__, values), dtype=bool, count=len(values))


class ImportFiles:
    """The identity graph as CSV files for ``neo4j-admin database import full``.

    Only for a first load: rows are appended, never merged, so each node is written once (a
    node written again is refused) and repeated edges are dropped here (the importer would make
    two). Nodes are numbered as they come, one numbering for all labels, and the files name them
    by number (the importer's ``--id-type=actual``: no id lookups of its own); the string ``id``
    stays a property, as over Bolt. So an edge can only be written once both its nodes are.

    Each call's table is written to disk by a thread of its own while the caller goes on;
    :attr:`nodes`, :attr:`edges`, :meth:`arguments` and :meth:`finish` wait until every file is
    complete (and raise a write error, such as a full disk, then). :meth:`arguments` also writes
    two small files outside the graph model: the Neo4j store's kept answer to
    ``shared_identifiers``, worked out from what was written (see docs/neo4j.md).

    Parameters
    ----------
    folder:
        Where the files go; created if missing, emptied of earlier import files.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        for old in self.folder.glob("*.csv"):
            old.unlink()
        self._nodes: dict[str, list[Path]] = {}
        self._edges: dict[str, list[Path]] = {}
        #: files being written by the writer thread, oldest first
        self._pending: deque[Future[None]] = deque()
        self._writer: ThreadPoolExecutor | None = None
        #: per name and header, the file still open for more rows of that kind (writer thread's)
        self._open: dict[tuple[str, tuple[str, ...]], pa_csv.CSVWriter] = {}
        #: the names and headers that have a file open (the caller's view of ``_open``)
        self._started: set[tuple[str, tuple[str, ...]]] = set()
        self.written: dict[str, int] = {}
        self.multiline = False
        #: per label, node id -> node number
        self._numbers: dict[str, dict[str, int]] = {}
        self._numbered = 0
        #: per label, each call's ids and first number; and the last call's, as an index
        self._calls: dict[str, list[tuple[np.ndarray, int]]] = {}
        self._latest: dict[str, tuple[pd.Index, int]] = {}
        self._seen_edges: dict[str, set[int]] = {}
        self._files = 0
        #: what the kept answer to ``shared_identifiers`` is worked out from (_kept_answer_files):
        #: each Record call's first number and sources, each Source call's columns, and the
        #: node numbers of the HAS (to a kept label), OF and MEMBER_OF edges
        self._record_sources: list[tuple[int, np.ndarray]] = []
        self._sources: list[pd.DataFrame] = []
        self._sharing_edges: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}

    def count(self, name: str) -> int:
        """Rows written so far of the label or edge type ``name`` (0 before any)."""
        schema.check_name(name)
        return self.written.get(name, 0)

    def add_nodes(self, label: str, columns: Mapping[str, Any]) -> int:
        """Write nodes of ``label`` from parallel columns (``id`` and properties).

        Missing values (None, NaN) leave the property out. Returns the number of nodes written.

        Raises
        ------
        UnknownLabel, InvalidRow
        """
        schema.node_spec(label)
        frame = _columns(columns)
        if schema.NODE_KEY not in frame:
            raise InvalidRow(label, 0, f"the rows have no {schema.NODE_KEY!r}.")
        ids = frame[schema.NODE_KEY]
        n = len(ids)
        if not n:
            return 0
        self._check_ids(label, ids, schema.NODE_KEY)
        numbers = self._numbers.setdefault(label, {})
        values = ids.to_numpy(dtype=object)
        first = self._numbered
        if first + n > _MAX_NODES:
            raise GraphStoreError(
                f"Import files take at most {_MAX_NODES:,} nodes; {label} would pass that."
            )
        known = len(numbers)
        numbers.update(zip(values, range(first, first + n), strict=True))
        if len(numbers) != known + n:
            self._refuse_again(label, values, first)
        self._numbered += n
        self._calls.setdefault(label, []).append((values, first))
        self._latest[label] = (pd.Index(values), first)
        if label == "Record":
            source = frame.get("source")
            none = np.full(n, None, dtype=object)
            self._record_sources.append((first, none if source is None else source.to_numpy()))
        elif label == "Source":
            self._sources.append(
                pd.DataFrame({k: frame[k] for k in ("id", "kind", "registry") if k in frame})
            )
        keys = [(":ID", pa.array(np.arange(first, first + n, dtype=np.int64)))]
        return self._write(self._nodes.setdefault(label, []), label, keys, frame)

    def add_edges(
        self, edge_type: str, from_label: str, to_label: str, columns: Mapping[str, Any]
    ) -> int:
        """Write edges ``(from_label)-[edge_type]->(to_label)`` from columns ``from``, ``to``, ...

        An edge already written (same type and ends) is skipped. Returns the number written.

        Raises
        ------
        UnknownEdgeType, UnknownLabel, InvalidEdgeEnds, InvalidRow
        MissingNode
            If an end names a node not written (nodes come before the edges between them).
        """
        schema.check_ends(edge_type, from_label, to_label)
        frame = _columns(columns)
        for key in (schema.EDGE_FROM, schema.EDGE_TO):
            if key not in frame:
                raise InvalidRow(edge_type, 0, f"the rows have no {key!r}.")
        if not len(frame[schema.EDGE_FROM]):
            return 0
        start_ids = frame.pop(schema.EDGE_FROM)
        starts = self._node_numbers(edge_type, from_label, start_ids, schema.EDGE_FROM)
        ends = self._node_numbers(edge_type, to_label, frame.pop(schema.EDGE_TO), schema.EDGE_TO)
        if from_label == to_label:
            loops = starts == ends
            if loops.any():
                i = int(np.flatnonzero(loops)[0])
                raise InvalidRow(
                    edge_type, i, f"the edge joins {from_label} {start_ids.iloc[i]!r} to itself."
                )
        # one edge per (type, from, to), the last row's properties winning as a merge would
        pairs = (starts << 32) | ends  # node numbers stay below 2**31
        keep = ~pd.Index(pairs).duplicated(keep="last")
        if from_label != "Record":
            # Records come once each, so edges out of them cannot repeat across calls; others can.
            seen = self._seen_edges.setdefault(f"{edge_type}:{from_label}:{to_label}", set())
            keep &= ~_in_dict(pairs, seen)
            seen.update(pairs[keep].tolist())
        if not keep.all():
            starts, ends = starts[keep], ends[keep]
            frame = {name: values[keep] for name, values in frame.items()}
        if not len(starts):
            return 0
        if edge_type in ("OF", "MEMBER_OF") or (edge_type == "HAS" and to_label in _KEPT_LABELS):
            name = to_label if edge_type == "HAS" else edge_type
            self._sharing_edges.setdefault(name, []).append((starts, ends))
        keys = [(":START_ID", pa.array(starts)), (":END_ID", pa.array(ends))]
        return self._write(self._edges.setdefault(edge_type, []), edge_type, keys, frame)

    @property
    def nodes(self) -> dict[str, list[Path]]:
        """Per label, its node files (each written in full: waits for the writer)."""
        self.finish()
        return self._nodes

    @property
    def edges(self) -> dict[str, list[Path]]:
        """Per edge type, its edge files (each written in full: waits for the writer)."""
        self.finish()
        return self._edges

    def finish(self) -> None:
        """Wait until every file is on disk.

        Raises
        ------
        OSError
            If a file could not be written (the first such error).
        """
        if self._writer is None:
            return
        self._pending.append(self._writer.submit(self._close_all))
        try:
            while self._pending:
                self._pending.popleft().result()
        finally:
            self._writer.shutdown()
            self._writer = None
            self._started.clear()  # closed: rows written after this begin new files

    def _close_all(self) -> None:
        """Close the open files (in the writer thread: only it touches them)."""
        open_files, self._open = list(self._open.values()), {}
        for writer in open_files:
            writer.close()

    def _append(self, key: tuple[str, tuple[str, ...]], table: pa.Table, path: Path | None) -> None:
        """Write ``table`` on in the open file for ``key``, or begin ``path`` (writer thread)."""
        writer = self._open.get(key)
        if writer is None:
            writer = self._open[key] = pa_csv.CSVWriter(path, table.schema)
        writer.write_table(table)

    def arguments(self) -> list[str]:
        """The importer's ``--nodes`` / ``--relationships`` (and ``--multiline-fields``) options.

        Waits until every file is written.
        """
        args = [f"--nodes={label}={path}" for label, paths in self.nodes.items() for path in paths]
        args += [
            f"--relationships={edge_type}={path}"
            for edge_type, paths in self.edges.items()
            for path in paths
        ]
        if self.multiline:
            args.append("--multiline-fields=true")
        return ["--id-type=actual", *args, *self._kept_answer_files()]

    def _kept_answer_files(self) -> list[str]:
        """Write the Neo4j store's kept answer to ``shared_identifiers`` for the kept labels and
        the reference sources: the cache node and its edge to each identifier that crosses
        households, as :class:`graph.neo4j.store.Neo4jStore` keeps it. So the first question
        after the load is answered from it. Returns the importer's options for the two files.

        Worked out on node numbers (:func:`_crossing`), as the store's Cypher asks it, records of
        reference sources aside.
        """
        from graph.neo4j.store import CACHE_ID, CACHE_LABEL, SHARED_TYPE

        sources = pd.concat(self._sources) if self._sources else pd.DataFrame({"id": []})
        excluded = sorted(schema.reference_sources(sources))
        if any(";" in name for name in excluded):
            return []  # not writable as the importer's list: worked out on the first question
        size = self._numbered + 1
        left_out = np.zeros(size, dtype=bool)
        for first, values in self._record_sources:
            left_out[first : first + len(values)] = pd.Index(values).isin(excluded)

        def pairs(name: str) -> tuple[np.ndarray, np.ndarray]:
            parts = self._sharing_edges.get(name, [])
            if not parts:
                return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
            return np.concatenate([a for a, _ in parts]), np.concatenate([b for _, b in parts])

        person_of = np.full(size, -1, dtype=np.int64)
        records, persons = pairs("OF")
        person_of[records] = persons
        members, homes = pairs("MEMBER_OF")
        order = np.argsort(members, kind="stable")
        members, homes = members[order], homes[order]

        shared: list[np.ndarray] = []
        for label in _KEPT_LABELS:
            givers, identifiers = pairs(label)
            keep = ~left_out[givers]
            shared.append(
                _crossing(identifiers[keep], person_of[givers[keep]], members, homes, size)
            )
        cache = self._numbered  # the next free node number
        node_path = self.folder / "kept-shared-node.csv"
        edge_path = self.folder / "kept-shared-edges.csv"
        pa_csv.write_csv(
            pa.table(
                {
                    ":ID": pa.array([cache], pa.int64()),
                    "id": [CACHE_ID],
                    "version": ["import"],
                    "labels:string[]": [";".join(_KEPT_LABELS)],
                    "excluded:string[]": [";".join(excluded) or None],
                }
            ),
            node_path,
        )
        ends = np.concatenate(shared) if shared else np.zeros(0, dtype=np.int64)
        pa_csv.write_csv(
            pa.table({":START_ID": np.full(len(ends), cache, dtype=np.int64), ":END_ID": ends}),
            edge_path,
        )
        return [f"--nodes={CACHE_LABEL}={node_path}", f"--relationships={SHARED_TYPE}={edge_path}"]

    # --- internals --------------------------------------------------------------------------------

    @staticmethod
    def _check_ids(what: str, ids: pd.Series, key: str) -> None:
        try:
            values = pa.array(ids, type=pa.string(), from_pandas=True)
            bad = ids.isna() | ids.eq("") if values.null_count else ids.eq("")
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            bad = ~ids.map(lambda v: isinstance(v, str) and v != "")
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            value = ids.iloc[i]
            raise InvalidRow(
                what,
                i,
                f"{key!r} must be a non-empty string, got {value!r} ({type(value).__name__}); "
                "identifiers such as NIDs and phone numbers are strings of digits.",
            )

    def _refuse_again(self, label: str, values: np.ndarray, first: int) -> None:
        """Undo the numbering of a call that repeats a node, and refuse it (InvalidRow)."""
        numbers = self._numbers[label]
        again = pd.Index(values).duplicated()
        for earlier, start in self._calls.get(label, []):
            again |= pd.Index(values).isin(earlier)
            for at in np.flatnonzero(pd.Index(earlier).isin(values)):
                numbers[earlier[at]] = start + int(at)  # its number from the earlier call
        for value, number in zip(values, range(first, first + len(values)), strict=True):
            if numbers.get(value) == number:
                del numbers[value]
        i = int(np.flatnonzero(again)[0])
        raise InvalidRow(
            label, i, f"{label} {values[i]!r} is written twice; each node is written once."
        )

    def _node_numbers(self, edge_type: str, label: str, ids: pd.Series, end: str) -> np.ndarray:
        """The numbers of the nodes an edge end names (each must have been written).

        Looked up first among the label's last call's nodes (a small table, fast to probe: the
        edges of a chunk of records are written just after its records), then among all.
        """
        numbers = self._numbers.get(label, {})
        values = ids.to_numpy(dtype=object)
        out = np.empty(len(values), dtype=np.int64)
        rest = np.ones(len(values), dtype=bool)
        try:
            if label in self._latest:
                latest, first = self._latest[label]
                at = latest.get_indexer(values)
                rest = at < 0
                out[~rest] = at[~rest] + first
            if rest.any():
                out[rest] = np.fromiter(
                    map(numbers.__getitem__, values[rest]), np.int64, count=int(rest.sum())
                )
            return out
        except (KeyError, TypeError):
            pass
        self._check_ids(edge_type, ids, end)
        missing = ids[~_in_dict(ids.to_numpy(dtype=object), numbers)].unique()
        raise MissingNode(edge_type, [(label, str(value)) for value in missing]) from None

    def _write(
        self,
        paths: list[Path],
        name: str,
        keys: list[tuple[str, pa.Array]],
        frame: dict[str, pd.Series],
    ) -> int:
        names = [header for header, _ in keys]
        arrays = [array for _, array in keys]
        for column, values in frame.items():
            array = _arrow_array(name, values.rename(column))
            if array is None:
                continue  # a property nobody has
            kind = array.type
            names.append(f"{column}:{_HEADER_TYPES[kind]}" if kind in _HEADER_TYPES else column)
            arrays.append(array)
            if kind == pa.string() and not self.multiline and _has_line_break(array):
                self.multiline = True  # a value holds a line break: the importer must be told
        table = pa.Table.from_arrays(arrays, names=names)
        # Rows with the header of rows written before go on in their file: a few large files
        # rather than one per call (the importer reads each file's start before it begins).
        key = (name, tuple(names))
        path = None
        if key not in self._started:
            self._files += 1
            path = self.folder / f"{self._files:05d}-{name}.csv"
            self._started.add(key)
            paths.append(path)
        # Strings are quoted (an empty string stays a property), missing values left empty.
        # Written by a thread of its own (Arrow's writer lets go of the GIL) while the next table
        # is built; a few tables at most wait, so memory stays bounded.
        if self._writer is None:
            self._writer = ThreadPoolExecutor(1, thread_name_prefix="ekjon-import-files")
        self._pending.append(self._writer.submit(self._append, key, table, path))
        while len(self._pending) > _WAITING_TABLES:
            self._pending.popleft().result()
        self.written[name] = self.written.get(name, 0) + len(table)
        return len(table)


# --- the load -------------------------------------------------------------------------------------


def _admin_command(java: str, jar_dir: Path, heap: str) -> list[str]:
    return [java, f"-Xmx{heap}", "-cp", str(jar_dir / "lib" / "*"), "org.neo4j.cli.AdminTool"]


def load(
    home: Path,
    files: ImportFiles,
    *,
    bolt_port: int | None = None,
    http_port: int | None = None,
    heap: str | None = None,
    pagecache: str | None = None,
    importer_heap: str = "2g",
    importer_memory: str = "2g",
    threads: int | None = None,
    database: str = "neo4j",
    check_empty: bool = True,
    progress: Callable[[str], None] | None = None,
) -> ImportResult:
    """Import ``files`` into the database of ekjon's own server for ``home``, which must be empty.

    The server is stopped for the import and started again afterwards (on the ports it had, read
    from its credentials file, unless given), and the constraints and indexes are created.

    Parameters
    ----------
    home:
        ekjon's home (``$EKJON_HOME``); the server lives in ``home / "neo4j"``.
    files:
        The graph, as :func:`engine.publish.publish` wrote it into an :class:`ImportFiles`.
    heap, pagecache:
        The restarted server's memory (default: what it was last started with).
    importer_heap, importer_memory:
        The importer's JVM heap and its off-heap budget (``--max-off-heap-memory``).
    check_empty:
        Refuse if the database holds nodes (checked by starting the server if it is not running).
        Callers that checked already, just before writing ``files``, pass False.

    Raises
    ------
    NotEmpty
        If the database already holds nodes.
    NotOwnServer
        If ``EKJON_NEO4J_URI`` points ekjon at another Neo4j.
    graph.neo4j.server.Neo4jServerError
        If the server cannot be stopped or started, or the importer fails (the message ends with
        the importer's output).
    OSError
        If an import file could not be written (before the server is stopped).
    """
    from graph.neo4j import server
    from graph.neo4j.store import Neo4jStore

    note = progress or (lambda message: None)
    result = ImportResult()
    home = Path(home)
    paths = server._Paths.of(home)
    files.finish()  # every file on disk before the server is touched (raises a write error)
    if check_empty:
        check_empty_database(home, database=database)
    if not paths.credentials.exists():
        raise server.Neo4jServerError(
            f"ekjon's Neo4j server was never started for {home}: run `ekjon neo4j start` once "
            "(it sets the password), then the import."
        )
    creds = server._read_credentials(paths)
    known_bolt, known_http = _ports(creds)
    bolt_port = bolt_port or known_bolt
    http_port = known_http if http_port is None else http_port
    heap = heap or creds.get("heap")  # as the server was last started
    pagecache = pagecache or creds.get("pagecache")

    step = time.perf_counter()
    note("stopping Neo4j")
    wait_for_stop(home)
    server.stop(home)
    result.seconds["stop"] = time.perf_counter() - step

    step = time.perf_counter()
    note("importing")
    java = server._find_java()
    server.build_launcher()
    report = paths.logs / "import.report"
    paths.logs.mkdir(parents=True, exist_ok=True)
    command = [
        *_admin_command(java, server.LAUNCHER_DIR / "target", importer_heap),
        "database",
        "import",
        "full",
        database,
        "--overwrite-destination=true",
        f"--max-off-heap-memory={importer_memory}",
        f"--report-file={report}",
        *([f"--threads={threads}"] if threads else []),
        *files.arguments(),
    ]
    env = {**os.environ, "NEO4J_HOME": str(paths.home), "NEO4J_CONF": str(paths.home / "conf")}
    import_log = paths.logs / "import.log"
    with open(import_log, "w", encoding="utf-8") as out:
        returncode = subprocess.run(
            command,
            cwd=paths.home,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            check=False,
        ).returncode
    result.seconds["import"] = time.perf_counter() - step
    if returncode != 0:
        raise server.Neo4jServerError(
            f"Neo4j's importer failed (exit code {returncode}); the server is stopped and its "
            f"database {database!r} is likely unusable: delete {paths.data} before starting it "
            f"again, fix the cause and import again. See {import_log}:\n{server._tail(import_log)}"
        )
    log.info("imported: %s", server._tail(import_log, 8).replace("\n", " "))

    step = time.perf_counter()
    note("starting Neo4j")
    options: dict[str, Any] = {"bolt_port": bolt_port, "http_port": http_port}
    if heap:
        options["heap"] = heap
    if pagecache:
        options["pagecache"] = pagecache
    server.start(home, **options)
    result.seconds["start"] = time.perf_counter() - step

    step = time.perf_counter()
    note("creating constraints and indexes")
    uri, user, password = server.credentials(home)
    _create_schema(uri, user, password, database)
    with Neo4jStore(uri, user, password, database) as store:  # the schema is there: no work
        result.seconds["schema"] = time.perf_counter() - step
        for label in schema.NODES:
            result.nodes[label] = store.count(label)
        for edge_type in schema.EDGES:
            result.edges[edge_type] = store.count(edge_type)
    return result


def import_files(home: Path) -> ImportFiles:
    """Empty import files in the import folder of ekjon's own server for ``home``."""
    from graph.neo4j import server

    return ImportFiles(server._Paths.of(home).home / "import")


#: Background stops under way, per home (see :func:`stop_in_background`).
_stopping: dict[Path, threading.Thread] = {}


def stop_in_background(home: Path) -> None:
    """Begin stopping ekjon's server for ``home`` in a background thread.

    The import needs the server stopped, and stopping takes seconds of waiting but no work of
    ours: begun once the database is known to be empty, before the import files are written, the
    stop is over by the time :func:`load` needs it (``load`` waits for it, and stops the server
    itself if the background stop failed).
    """
    from graph.neo4j import server

    key = Path(home).resolve()

    def stop() -> None:
        try:
            server.stop(key)
        except Exception as error:  # load() stops again, and reports the failure then
            log.warning("stopping Neo4j in the background failed: %s", error)

    thread = threading.Thread(target=stop, name="ekjon-neo4j-stop")
    thread.start()
    _stopping[key] = thread


def wait_for_stop(home: Path) -> None:
    """Wait until a :func:`stop_in_background` begun for ``home`` is over (none: return)."""
    pending = _stopping.pop(Path(home).resolve(), None)
    if pending is not None:
        pending.join()


def _create_schema(uri: str, user: str, password: str, database: str) -> None:
    """The graph's indexes and constraints, made on the freshly imported database.

    What :class:`~graph.neo4j.store.Neo4jStore` makes on opening, ordered for a full database:
    the plain indexes in one transaction (populated together, in one pass over the nodes, in the
    background), then the uniqueness constraints one by one (each returns once its index is
    populated; Records, the largest, first), then a wait for every index.
    """
    import neo4j

    from graph.neo4j.store import schema_statements

    statements = schema_statements()
    indexes = [s for s in statements if s.startswith("CREATE INDEX")]
    constraints = [s for s in statements if s not in indexes]
    with neo4j.GraphDatabase.driver(uri, auth=(user, password)) as driver:
        with driver.session(database=database) as session:
            with session.begin_transaction() as tx:
                for statement in indexes:
                    tx.run(statement).consume()
                tx.commit()
            for statement in constraints:
                session.run(statement).consume()
            session.run("CALL db.awaitIndexes(600)").consume()


def _ports(creds: Mapping[str, Any]) -> tuple[int, int]:
    """The Bolt and HTTP ports (0: HTTP off) a server's credentials file records."""
    bolt = int(str(creds["uri"]).rsplit(":", 1)[1])
    http = int(str(creds["http_uri"]).rsplit(":", 1)[1]) if creds.get("http_uri") else 0
    return bolt, http


def check_own_server() -> None:
    """Refuse (``NotOwnServer``) when ``EKJON_NEO4J_URI`` points ekjon at another Neo4j."""
    if os.environ.get("EKJON_NEO4J_URI"):
        raise NotOwnServer(
            "EKJON_NEO4J_URI is set: a bulk import only goes into ekjon's own server (`ekjon "
            "neo4j start`), whose files it writes. Unset EKJON_NEO4J_URI, or publish into your "
            "own Neo4j over Bolt with `ekjon resolve --backend neo4j`."
        )


def own_server_is_empty(home: Path) -> bool:
    """Whether ekjon's own Neo4j server for ``home`` runs and holds no node (and ekjon is not
    pointed at another Neo4j): then a first load can go through the offline importer."""
    from graph.neo4j import server

    if os.environ.get("EKJON_NEO4J_URI") or server.status(home) is None:
        return False
    try:
        check_empty_database(home)
    except NotEmpty:
        return False
    return True


def check_empty_database(home: Path, database: str = "neo4j") -> None:
    """Refuse (``NotEmpty``) if the database of ekjon's server for ``home`` holds any node (but
    the store's own cache and publish-state nodes, which hold no data).

    Starts the server if it is not running (it is left running).

    Raises
    ------
    NotEmpty
    NotOwnServer
        If ``EKJON_NEO4J_URI`` is set.
    graph.neo4j.server.Neo4jServerError
        If the server cannot be started.
    """
    from graph.neo4j import server

    check_own_server()
    paths = server._Paths.of(home)
    if server.status(home) is None:
        if not (paths.data / "databases" / database).is_dir():
            return  # never started, or its data deleted: nothing to lose
        bolt_port, http_port = _ports(server._read_credentials(paths))
        server.start(home, bolt_port=bolt_port, http_port=http_port)
    uri, user, password = server.credentials(home)
    import neo4j

    from graph.neo4j.store import CACHE_LABEL, PUBLISH_LABEL

    with neo4j.GraphDatabase.driver(uri, auth=(user, password)) as driver:
        records, _, _ = driver.execute_query(
            f"MATCH (n) WHERE NOT n:{CACHE_LABEL} AND NOT n:{PUBLISH_LABEL} RETURN count(n) AS n",
            database_=database,
        )
    found = records[0]["n"]
    if found:
        raise NotEmpty(
            f"The Neo4j database {database!r} under {Path(home) / 'neo4j'} already holds {found:,} "
            "nodes; a bulk import only goes into an empty database. To update the graph, publish "
            "over Bolt (`ekjon resolve --backend neo4j`); to load it afresh, stop the server, "
            f"delete {Path(home) / 'neo4j' / 'data'} and run the import again."
        )


class ImportFailed(GraphStoreError):
    """A first load failed after ekjon's server was stopped for it: nothing was imported."""


def first_load(
    home: Path,
    write: Callable[[ImportFiles], T],
    *,
    stop_first: bool = True,
    keep_files: bool = False,
    heap: str | None = None,
    pagecache: str | None = None,
    importer_memory: str = "2g",
    progress: Callable[[str], None] | None = None,
) -> tuple[T, ImportResult]:
    """A first load of ekjon's own, empty Neo4j database: ``write`` the graph into import files,
    then import them with Neo4j's offline importer (:func:`load`).

    Parameters
    ----------
    home:
        ekjon's home; the server lives in ``home / "neo4j"``.
    write:
        Writes the graph into the :class:`ImportFiles` it is given (e.g. a publish of the last
        resolve); its answer is returned.
    stop_first:
        Stop the server in the background as soon as its database is known to be empty, so the
        stop is over when the files are written (for a write of seconds); ``False`` keeps it
        running while ``write`` works (for a write of minutes, such as a whole resolve).
    keep_files:
        Keep the import files after a successful import.
    heap, pagecache, importer_memory, progress:
        As :func:`load` takes them.

    Returns
    -------
    (answer of write, ImportResult)

    Raises
    ------
    NotOwnServer, NotEmpty
        Before anything is written.
    ImportFailed
        If writing or importing failed while the server was stopped for the import (the message
        says how to start it again; its database is still empty).
    graph.neo4j.server.Neo4jServerError, OSError
        If writing or importing failed with the server running.
    """
    check_own_server()
    note = progress or (lambda message: None)
    note("checking that the Neo4j database is empty")
    check_empty_database(home)
    stopped = False  # stopped for the import: said on a failure before load() restarts it
    try:
        if stop_first:
            stop_in_background(home)
            stopped = True
        files = import_files(home)
        note("writing the graph as import files")
        answer = write(files)
        files.finish()  # every file on disk (a full disk is said here, not in the importer)
        stopped = False  # from here on, load() restarts the server or says why it could not
        result = load(
            home,
            files,
            heap=heap,
            pagecache=pagecache,
            importer_heap=importer_memory,
            importer_memory=importer_memory,
            check_empty=False,
            progress=note,
        )
    except Exception as exc:
        if stopped:
            wait_for_stop(home)
            raise ImportFailed(
                f"{exc}\nekjon's Neo4j server was stopped for the import and nothing was "
                "imported: `ekjon neo4j start` starts it again (its database is still empty)."
            ) from exc
        raise
    if not keep_files:
        remove(files)
    return answer, result


def remove(files: ImportFiles) -> None:
    """Delete the import files (after a successful load)."""
    shutil.rmtree(files.folder, ignore_errors=True)
