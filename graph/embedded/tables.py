"""The embedded store's graph on disk as column tables: one Arrow file per label and edge group.

A *generation* of the graph is a folder ``tables-<generation>/`` holding

- ``node-<Label>.arrow``: every node of the label, one row each, a column per property (missing
  where a node lacks it); beside it ``...by-id.arrow``, the rows' order by ``id``;
- ``edge-<TYPE>-<From>-<To>.arrow``: every edge of the type between the two labels, a column per
  property; beside it ``...by-from.arrow`` and ``...by-to.arrow``, the rows' order by ``from``
  (then ``to``) and by ``to``, so the edges out of a node and into it are both found fast;
- ``manifest.json``: the counts, each file's size, and the publish state of the generation.

The files are Arrow IPC files, uncompressed, and are memory-mapped when read: opening the store
reads only the manifest; a question reads the columns it needs (the findings' table scans); a
walk (``node``, ``neighbours``) binary-searches the ids in their order and touches a few pages.
Rows stay in the order they were written (sorting a table of many columns would copy it all). A
generation is written whole into ``tables-<generation>.tmp/`` and renamed into place (see
:mod:`graph.embedded.store`), so it is never seen half-written.

Property values keep their types: a column of strings, 64-bit integers, floats or booleans; a
property whose values mix types (rare) is kept as text tagged with each value's type.
"""

from __future__ import annotations

import bisect
import json
import os
import shutil
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from graph import schema
from graph.embedded.delta import Delta
from graph.embedded.frames import _MERGE_EDGES, _MERGE_NODES, _WHAT_TO_DO, _fsync_dir
from graph.store import (
    SHARED_COLUMNS,
    InvalidRow,
    MissingNode,
    Neighbour,
    StoreCorrupted,
    StoreWriteFailed,
)

__all__ = [
    "TableSet",
    "TableWriter",
    "edge_file",
    "keep_tables",
    "node_file",
    "unique_rows",
    "write_tables",
]

TABLES_FORMAT = 2
MANIFEST = "manifest.json"
#: Field metadata marking a column of mixed types, kept as tagged text (``i:3``, ``s:x``...).
_TAGGED = {b"ekjon": b"tagged"}
_STRING = pa.large_string()
_LOAD_ROWS = 50_000


def node_file(label: str) -> str:
    return f"node-{label}.arrow"


def edge_file(edge_type: str, from_label: str, to_label: str) -> str:
    return f"edge-{edge_type}-{from_label}-{to_label}.arrow"


def _order_file(name: str, key: str) -> str:
    """The file of ``name``'s rows in the order of ``key`` (``id``, ``from`` or ``to``)."""
    return name[: -len(".arrow")] + f".by-{key}.arrow"


# --- values -> typed columns ----------------------------------------------------------------------


def _tag(value: Any) -> str | None:
    if value is None or (type(value) is float and value != value):
        return None
    kind = type(value)
    if kind is bool or isinstance(value, np.bool_):
        return "b:1" if value else "b:0"
    if isinstance(value, int | np.integer):
        return f"i:{int(value)}"
    if isinstance(value, float | np.floating):
        return f"f:{float(value)!r}"
    return f"s:{value}"


def _untag(value: str | None) -> Any:
    if value is None:
        return None
    kind, text = value[0], value[2:]
    if kind == "i":
        return int(text)
    if kind == "f":
        return float(text)
    if kind == "b":
        return text == "1"
    return text


def _tagged(values: Iterable[Any]) -> pa.Array:
    return pa.array([_tag(v) for v in values], type=_STRING)


def _column(what: str, name: str, values: Any) -> tuple[pa.Array, bool]:
    """``values`` (a Series, array or list) as a typed Arrow array; ``True`` if tagged.

    Raises
    ------
    InvalidRow
        If a value is not a str, int, float or bool (dates, lists...).
    """
    if isinstance(values, pa.ChunkedArray | pa.Array):
        array = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    else:
        if isinstance(values, pd.Series):
            values = values.to_numpy()
        try:
            array = pa.array(values, from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            return _checked_tagged(what, name, values), True
    kind = array.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return array.cast(_STRING), False
    if pa.types.is_integer(kind):
        return array.cast(pa.int64()), False
    if pa.types.is_floating(kind):
        return array.cast(pa.float64()), False
    if pa.types.is_boolean(kind) or pa.types.is_null(kind):
        return array, False
    return _checked_tagged(what, name, values), True


def _checked_tagged(what: str, name: str, values: Any) -> pa.Array:
    values = list(values)
    for i, value in enumerate(values):
        if value is None or isinstance(value, str | bool | int | float | np.generic):
            continue
        if value is pd.NA or value is pd.NaT:
            values[i] = None
            continue
        raise InvalidRow(
            what,
            i,
            f"property {name!r} is a {type(value).__name__} ({value!r}); a property is a str, int, "
            "float or bool (dates as ISO 'YYYY-MM-DD' strings).",
        )
    return _tagged(values)


def _table(what: str, columns: Mapping[str, Any], keys: Sequence[str]) -> pa.Table:
    """A typed table of ``keys`` (non-empty strings) then the properties, from parallel columns.

    Raises
    ------
    InvalidRow
        If a key is missing, empty or not a string, or a value has no property type.
    """
    arrays: list[pa.Array] = []
    fields: list[pa.Field] = []
    if all(key in columns for key in keys) and not len(columns[keys[0]]):
        return pa.table({key: pa.array([], type=_STRING) for key in keys})
    for key in keys:
        if key not in columns:
            raise InvalidRow(what, 0, f"the rows have no {key!r}.")
        array, tagged = _column(what, key, columns[key])
        if tagged or not pa.types.is_large_string(array.type) or array.null_count:
            bad = _first_bad_key(columns[key])
            raise InvalidRow(
                what,
                bad[0],
                f"{key!r} must be a non-empty string, got {bad[1]!r}; identifiers such as NIDs "
                "and phone numbers are strings of digits.",
            )
        empty = pc.equal(pc.utf8_length(array), 0)
        if pc.any(empty).as_py():
            raise InvalidRow(
                what, int(np.flatnonzero(empty.to_numpy(zero_copy_only=False))[0]), f"{key!r} is ''"
            )
        arrays.append(array)
        fields.append(pa.field(key, _STRING))
    for name in sorted(n for n in columns if n not in keys):
        if name in schema.EDGE_COLUMNS and "from" in keys:
            raise InvalidRow(what, 0, f"{name!r} is reserved and cannot be a property.")
        array, tagged = _column(what, name, columns[name])
        if pa.types.is_null(array.type):
            continue  # every value missing: the property is absent
        arrays.append(array)
        fields.append(pa.field(name, array.type, metadata=_TAGGED if tagged else None))
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


def _first_bad_key(values: Any) -> tuple[int, Any]:
    for i, value in enumerate(list(values)):
        if not isinstance(value, str) or not value:
            return i, value
    return 0, None


def rows_table(what: str, keys: dict[str, list], props: list[dict]) -> pa.Table:
    """A table from key columns and one property dict per row (missing: absent)."""
    names = sorted({name for row in props for name in row})
    columns: dict[str, Any] = dict(keys)
    for name in names:
        columns[name] = [row.get(name) for row in props]
    return _table(what, columns, list(keys))


def _concat(tables: list[pa.Table]) -> pa.Table:
    """One table of ``tables`` (columns a part lacks are missing there; types unified)."""
    if len(tables) == 1:
        return tables[0]
    try:
        return pa.concat_tables(tables, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        pass
    kinds: dict[str, set] = {}
    for part in tables:
        for f in part.schema:
            kinds.setdefault(f.name, set()).add((f.type, bool(f.metadata)))
    mixed = {name for name, seen in kinds.items() if len(seen) > 1}
    fixed = []
    for part in tables:
        for name in mixed & set(part.column_names):
            i = part.schema.get_field_index(name)
            values = _py(part.column(name), part.schema.field(name))
            part = part.set_column(i, pa.field(name, _STRING, metadata=_TAGGED), _tagged(values))
        fixed.append(part)
    return pa.concat_tables(fixed, promote_options="permissive")


def _py(column: pa.ChunkedArray | pa.Array, field: pa.Field) -> list[Any]:
    values = column.to_pylist()
    if field.metadata and field.metadata.get(b"ekjon") == b"tagged":
        return [_untag(v) for v in values]
    return values


def _order(table: pa.Table, keys: Sequence[str]) -> np.ndarray:
    sort_keys = [(key, "ascending") for key in keys]
    return pc.sort_indices(table.select(list(keys)), sort_keys=sort_keys).to_numpy()


def unique_rows(table: pa.Table, keys: Sequence[str]) -> tuple[pa.Table, np.ndarray]:
    """``table`` with one row per key (the last row given of each), and its rows' order by keys.

    The rows are not moved (only a table that repeats a key is cut down).
    """
    order = _order(table, keys)
    if table.num_rows < 2:
        return table, order
    same = np.ones(table.num_rows - 1, dtype=bool)
    for key in keys:
        column = table.column(key).take(pa.array(order)).combine_chunks()
        same &= pc.equal(column.slice(1), column.slice(0, len(column) - 1)).to_numpy(
            zero_copy_only=False
        )
    if not same.any():
        return table, order
    run = np.cumsum(np.concatenate([[True], ~same])) - 1
    last = np.full(int(run[-1]) + 1, -1, dtype=np.int64)
    np.maximum.at(last, run, order)
    table = table.take(pa.array(np.sort(last)))
    return table, _order(table, keys)


# --- writing a generation -------------------------------------------------------------------------


def _write_file(path: Path, table: pa.Table, fsync: bool) -> int:
    with pa.OSFile(str(path), "wb") as sink:
        with pa.ipc.new_file(sink, table.schema) as writer:
            writer.write_table(table)
    if fsync:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    return path.stat().st_size


def write_tables(
    folder: Path,
    nodes: Mapping[str, tuple],
    edges: Mapping[tuple[str, str, str], tuple],
    fsync: bool = True,
) -> dict[str, Any]:
    """Write node and edge tables into ``folder``: per table ``(table, order by key)`` (see
    :func:`unique_rows`) and, optionally, the file in ``folder`` that holds the table as it is
    (a :class:`TableWriter`'s), which then becomes the table's file without being written again.

    Returns the manifest's content (without the publish state, which the store adds when it
    switches the generation in with :func:`write_manifest`). Files of ``folder`` that are no
    table's (what a table writer wrote and was merged) are deleted.
    """
    folder.mkdir(parents=True, exist_ok=True)
    files: dict[str, int] = {}
    counts: dict[str, int] = {}
    groups: list[list[Any]] = []

    def write(name: str, table: pa.Table, written: Path | None = None) -> None:
        if written is None:
            files[name] = _write_file(folder / name, table, fsync)
            return
        os.replace(written, folder / name)
        if fsync:
            fd = os.open(folder / name, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        files[name] = (folder / name).stat().st_size

    def order(values: np.ndarray) -> pa.Table:
        return pa.table({"row": pa.array(values.astype(np.int64, copy=False))})

    for label, (table, by_id, *written) in nodes.items():
        if table.num_rows:
            name = node_file(label)
            write(name, table, written[0] if written else None)
            write(_order_file(name, "id"), order(by_id))
            counts[label] = table.num_rows
    for (edge_type, from_label, to_label), (table, by_from, *written) in edges.items():
        if not table.num_rows:
            continue
        name = edge_file(edge_type, from_label, to_label)
        write(name, table, written[0] if written else None)
        write(_order_file(name, "from"), order(by_from))
        write(_order_file(name, "to"), order(_order(table, ["to"])))
        groups.append([edge_type, from_label, to_label, table.num_rows, name])
    for leftover in folder.iterdir():
        if leftover.name not in files:
            leftover.unlink()
    return {"format": TABLES_FORMAT, "nodes": counts, "edges": groups, "files": files}


def keep_tables(
    old: Path, folder: Path, names: Sequence[str], old_manifest: dict[str, Any], manifest: dict
) -> None:
    """Put the tables ``names`` of the generation in ``old`` into ``folder`` as they are (hard
    links: nothing is copied) and into ``manifest`` (what :func:`write_tables` returned)."""
    for name in names:
        for file in (name, *(_order_file(name, key) for key in ("id", "from", "to"))):
            if file not in old_manifest["files"]:
                continue
            try:
                os.link(old / file, folder / file)
            except OSError:  # a file system without hard links
                shutil.copyfile(old / file, folder / file)
            manifest["files"][file] = old_manifest["files"][file]
    for label, n in old_manifest["nodes"].items():
        if node_file(label) in names:
            manifest["nodes"][label] = n
    for group in old_manifest["edges"]:
        if group[4] in names:
            manifest["edges"].append(group)


def write_manifest(folder: Path, manifest: dict[str, Any], fsync: bool = True) -> None:
    """Write the manifest (last, once the files are on disk)."""
    path = folder / MANIFEST
    with open(path, "w", encoding="utf-8") as file:
        json.dump(manifest, file)
        file.flush()
        if fsync:
            os.fsync(file.fileno())
    if fsync:
        _fsync_dir(folder)


# --- reading a generation -------------------------------------------------------------------------


class _Sorted:
    """A sorted string column (through an order, if given) as a sequence for :mod:`bisect`.

    The column's chunks are read where they are (memory-mapped, not combined into one copy):
    a binary search touches a few pages of a million-row column, not all of it.
    """

    def __init__(self, column: pa.ChunkedArray | pa.Array, order: np.ndarray | None = None) -> None:
        self.column = column
        self.order = order
        chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
        self._chunks = [c for c in chunks if len(c)]
        self._starts = np.cumsum([0, *(len(c) for c in self._chunks)])[:-1].tolist()
        self._samples: list[str] | None = None

    def __len__(self) -> int:
        return len(self.column)

    def __getitem__(self, i: int) -> str:
        row = i if self.order is None else int(self.order[i])
        at = bisect.bisect_right(self._starts, row) - 1
        return self._chunks[at][row - self._starts[at]].as_py()

    def _sample(self) -> list[str]:
        """Every :data:`_STEP`-th value, as Python strings (made on first use): a look-up
        bisects this list first, then a window of :data:`_STEP` rows of the column, a dozen reads
        of it instead of about forty."""
        if self._samples is None:
            self._samples = [self[i] for i in range(0, len(self), _STEP)]
        return self._samples

    def rows(self, value: str) -> range | np.ndarray:
        sample = self._sample()
        at = bisect.bisect_left(sample, value)  # sample[at - 1] < value <= sample[at]
        start = (at - 1) * _STEP + 1 if at else 0
        after = bisect.bisect_right(sample, value, at)  # sample[after] > value
        end = min(len(self), after * _STEP)
        lo = bisect.bisect_left(self, value, start, min(len(self), at * _STEP))
        hi = bisect.bisect_right(self, value, lo, max(lo, end))
        return range(lo, hi) if self.order is None else self.order[lo:hi]

    def find(self, values: Sequence[str]) -> np.ndarray:
        """The rows holding any of ``values``: a binary search each for a few, one scan for many."""
        if len(values) <= _FEW:
            found = [np.asarray(self.rows(v), dtype=np.int64) for v in values]
            return np.sort(np.concatenate(found)) if found else np.zeros(0, dtype=np.int64)
        mask = pc.is_in(self.column, value_set=pa.array(list(values), type=_STRING))
        return np.flatnonzero(mask.to_numpy(zero_copy_only=False))


#: Up to this many ids, rows are found by binary search; beyond, by one scan of the column.
_FEW = 200
#: A sorted column's look-up first bisects every this-many-th value, kept as Python strings (at
#: a million rows, 8,000 of them: 20-35 ms to make, once).
_STEP = 128


def _take(table: pa.Table, rows: np.ndarray) -> pa.Table:
    """The (sorted) ``rows`` of ``table``, read where they are: Arrow's ``take`` on a table of
    many chunks first copies every column into one (at a million records, the whole Record
    table for one row); slices and a filter do not."""
    if len(rows) <= _FEW:
        parts = [table.slice(int(row), 1) for row in rows]
        return pa.concat_tables(parts) if parts else table.slice(0, 0)
    keep = np.zeros(table.num_rows, dtype=bool)
    keep[rows] = True
    return table.filter(pa.array(keep))


def _without(table: pa.Table, rows: np.ndarray) -> pa.Table:
    """``table`` without the (sorted) ``rows``: slices of it between them, nothing copied (a
    few rows a journal changed, out of millions)."""
    if not len(rows):
        return table
    if len(rows) > 1_000:  # many: one filtered copy is cheaper than thousands of slices
        keep = np.ones(table.num_rows, dtype=bool)
        keep[rows] = False
        return table.filter(pa.array(keep))
    starts = [0, *(int(r) + 1 for r in rows)]
    ends = [*(int(r) for r in rows), table.num_rows]
    parts = [table.slice(a, b - a) for a, b in zip(starts, ends, strict=True) if b > a]
    return pa.concat_tables(parts) if parts else table.slice(0, 0)


class TableSet:
    """One generation's tables, read from ``folder`` (memory-mapped, column by column), with the
    rows written since laid over them (:attr:`delta`, see :mod:`graph.embedded.delta`).

    Raises
    ------
    StoreCorrupted
        If the manifest cannot be read or a file is missing or not of the size it records.
    """

    def __init__(self, folder: Path | None, manifest: dict[str, Any] | None = None) -> None:
        self.folder = folder
        self.manifest = manifest or {"nodes": {}, "edges": [], "files": {}}
        self.delta = Delta()
        self._tables: dict[str, pa.Table] = {}
        self._sorted: dict[tuple[str, str], _Sorted] = {}
        self._groups: dict[str, list[tuple[str, str, int, str]]] = {}
        self._laid: dict[tuple, pa.Table | None] = {}  # tables with the delta laid over them
        self._laid_version = 0
        for edge_type, from_label, to_label, n, name in self.manifest["edges"]:
            self._groups.setdefault(edge_type, []).append((from_label, to_label, n, name))

    @classmethod
    def open(cls, folder: Path) -> TableSet:
        path = folder / MANIFEST
        try:
            manifest = json.loads(path.read_text(encoding="utf-8"))
            if manifest.get("format") != TABLES_FORMAT:
                raise ValueError(f"format {manifest.get('format')!r}, not {TABLES_FORMAT}")
        except (OSError, ValueError) as error:
            raise StoreCorrupted(f"{path} cannot be read ({error}). {_WHAT_TO_DO}") from None
        for name, size in manifest["files"].items():
            try:
                found = (folder / name).stat().st_size
            except FileNotFoundError:
                raise StoreCorrupted(
                    f"{folder / name} is missing from the graph's tables. {_WHAT_TO_DO}"
                ) from None
            if found != size:
                raise StoreCorrupted(
                    f"{folder / name} is damaged: {found} bytes where {size} were written. "
                    f"{_WHAT_TO_DO}"
                )
        return cls(folder, manifest)

    @property
    def state(self) -> list | None:
        """The publish state of the generation, as the manifest keeps it."""
        return self.manifest.get("state")

    @property
    def bytes(self) -> int:
        return sum(self.manifest["files"].values())

    @property
    def empty(self) -> bool:
        """No node at all (tables and delta)."""
        return not any(self.count(label) for label in schema.NODES)

    # --- the files as written ---------------------------------------------------------------------

    def _file(self, name: str) -> pa.Table:
        table = self._tables.get(name)
        if table is None:
            assert self.folder is not None
            path = self.folder / name
            try:
                source = pa.memory_map(str(path), "r")
                table = pa.ipc.open_file(source).read_all()
            except (OSError, pa.ArrowInvalid) as error:
                raise StoreCorrupted(f"{path} cannot be read: {error}. {_WHAT_TO_DO}") from None
            self._tables[name] = table
        return table

    def _base_node_table(self, label: str) -> pa.Table | None:
        if label not in self.manifest["nodes"]:
            return None
        return self._file(node_file(label))

    def _base_edge_table(self, group: tuple[str, str, str]) -> pa.Table | None:
        name = edge_file(*group)
        if name not in self.manifest["files"]:
            return None
        return self._file(name)

    def _ids(self, label: str) -> _Sorted | None:
        found = self._sorted.get((label, "id"))
        if found is None:
            table = self._base_node_table(label)
            if table is None:
                return None
            order = self._file(_order_file(node_file(label), "id")).column("row")
            found = _Sorted(table.column("id"), order.to_numpy())
            self._sorted[(label, "id")] = found
        return found

    def _ends(self, name: str, end: str) -> _Sorted:
        found = self._sorted.get((name, end))
        if found is None:
            column = self._file(name).column(end)
            order = self._file(_order_file(name, end)).column("row").to_numpy()
            found = self._sorted[(name, end)] = _Sorted(column, order)
        return found

    def warm(self) -> None:
        """Make ahead what look-ups make on first use: each label's sorted ids and each edge
        file's sorted ends, with their samples (a server's first requests would otherwise wait for
        them: up to a second at a million persons, read from disk)."""
        for label in self.manifest["nodes"]:
            found = self._ids(label)
            if found is not None:
                found._sample()
        for edge_type, from_label, to_label, _, _ in self.manifest["edges"]:
            name = edge_file(edge_type, from_label, to_label)
            if name in self.manifest["files"]:
                for end in ("from", "to"):
                    self._ends(name, end)._sample()

    def base_nodes(self, label: str, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The properties (without ``id``) of the tables' nodes among ``ids``."""
        sorted_ids = self._ids(label) if ids else None
        if sorted_ids is None:
            return {}
        rows = sorted_ids.find(list(dict.fromkeys(ids)))
        if not len(rows):
            return {}
        part = _take(self._base_node_table(label), rows)  # type: ignore[arg-type]
        return dict(zip(part.column("id").to_pylist(), _props(part, ("id",)), strict=True))

    def base_edges(
        self, group: tuple[str, str, str], end: str, ids: Sequence[str]
    ) -> list[tuple[str, str, dict[str, Any]]]:
        """``(from, to, properties)`` of the tables' edges of ``group`` whose ``end`` is in
        ``ids``."""
        if not ids or self._base_edge_table(group) is None:
            return []
        name = edge_file(*group)
        rows = self._ends(name, end).find(list(dict.fromkeys(ids)))
        if not len(rows):
            return []
        part = _take(self._file(name), rows)
        return list(
            zip(
                part.column("from").to_pylist(),
                part.column("to").to_pylist(),
                _props(part, ("from", "to")),
                strict=True,
            )
        )

    # --- the rows written since (the delta) -------------------------------------------------------

    def apply(self, op: tuple) -> None:
        """Lay one journal operation over the tables (see :mod:`graph.embedded.delta`)."""
        self.delta.apply(self, op)

    def all_groups(self) -> list[tuple[str, str, str]]:
        """Every ``(type, from_label, to_label)`` with edges in the tables or the delta."""
        groups = [(t, f, to) for t, f, to, _, _ in self.manifest["edges"]]
        return groups + [g for g in self.delta.groups() if g not in groups]

    def has_node(self, label: str, id: str) -> bool:
        return bool(self.delta.node_state(self, label, [id]))

    def present(self, label: str, ids: Sequence[str]) -> set[str]:
        """Which of ``ids`` are nodes: those written since (not deleted), and those of the
        tables the delta has not touched, found by a binary search each (no rows read)."""
        touched = self.delta.nodes.get(label, {})
        found = {i for i in ids if touched.get(i) is not None}
        rest = [i for i in dict.fromkeys(ids) if i not in touched]
        sorted_ids = self._ids(label) if rest else None
        if sorted_ids is not None:
            found.update(i for i in rest if len(sorted_ids.rows(i)))
        return found

    def has_edge(
        self, edge_type: str, from_label: str, source: str, to_label: str, target: str
    ) -> bool:
        group = (edge_type, from_label, to_label)
        return any(t == target for _, t, _ in self.delta.edges_at(self, group, "from", [source]))

    def check_ends_exist(
        self, edge_type: str, from_label: str, to_label: str, rows: list[tuple[str, str, dict]]
    ) -> None:
        """Raise :class:`MissingNode` if an edge row's end is not in the graph."""
        starts = self.delta.node_state(self, from_label, [s for s, _, _ in rows])
        ends = self.delta.node_state(self, to_label, [t for _, t, _ in rows])
        MissingNode.check(edge_type, from_label, to_label, rows, starts, ends)

    def _laid_over(self, key: tuple, make: Any) -> pa.Table | None:
        """A table with the delta laid over it, kept until the delta changes."""
        if self._laid_version != self.delta.version:
            self._laid = {}
            self._laid_version = self.delta.version
        if key not in self._laid:
            self._laid[key] = make()
        return self._laid[key]

    def _node_table(self, label: str, columns: Sequence[str] | None = None) -> pa.Table | None:
        """The nodes of ``label`` (only ``columns`` of them, those that exist), as they are now."""
        base = self._base_node_table(label)
        if base is not None and columns is not None:
            base = base.select([c for c in columns if c in base.column_names])
        if not self.delta.touches(label):
            return base
        key = ("node", label, None if columns is None else tuple(columns))
        return self._laid_over(key, lambda: self._lay_nodes(label, base, columns, None))

    def _lay_nodes(
        self,
        label: str,
        base: pa.Table | None,
        columns: Sequence[str] | None,
        ids: Sequence[str] | None,
    ) -> pa.Table | None:
        """``base`` (nodes of ``label``) without the rows the delta touched, with its rows."""
        touched = self.delta.nodes.get(label, {})
        if base is not None and touched and base.num_rows:
            drop = pc.is_in(base.column("id"), value_set=pa.array(list(touched), type=_STRING))
            base = _without(base, np.flatnonzero(drop.to_numpy(zero_copy_only=False)))
        rows = self.delta.node_rows(label, ids)
        added = None
        if rows:
            added = rows_table(label, {"id": [i for i, _ in rows]}, [p for _, p in rows])
            if columns is not None:
                added = added.select([c for c in columns if c in added.column_names])
        parts = [t for t in (base, added) if t is not None and t.num_rows]
        if not parts:
            return None
        table = _concat(parts)
        if columns is None:
            table = table.select(["id", *sorted(c for c in table.column_names if c != "id")])
        return table

    def _edge_table(
        self, group: tuple[str, str, str], columns: Sequence[str] | None = None
    ) -> pa.Table | None:
        """The edges of ``group`` (only ``columns`` of them, those that exist), as they are now."""
        base = self._base_edge_table(group)
        if base is not None and columns is not None:
            base = base.select([c for c in columns if c in base.column_names])
        if not self.delta.touches(group):
            return base
        key = ("edge", group, None if columns is None else tuple(columns))
        return self._laid_over(key, lambda: self._lay_edges(group, base, columns, None, None))

    def _lay_edges(
        self,
        group: tuple[str, str, str],
        base: pa.Table | None,
        columns: Sequence[str] | None,
        starts: set[str] | None,
        ends: set[str] | None,
    ) -> pa.Table | None:
        """``base`` (edges of ``group``) without the edges the delta touched, with its edges (from
        ``starts`` / to ``ends`` only)."""
        touched = self.delta.edges.get(group, {})
        if base is not None and touched and base.num_rows:
            froms = pa.array(list(self.delta.out.get(group, {})), type=_STRING)
            maybe = np.flatnonzero(
                pc.is_in(base.column("from"), value_set=froms).to_numpy(zero_copy_only=False)
            )
            if len(maybe):
                at = pa.array(maybe)
                pairs = zip(
                    base.column("from").take(at).to_pylist(),
                    base.column("to").take(at).to_pylist(),
                    strict=True,
                )
                drop = [row for row, pair in zip(maybe, pairs, strict=True) if pair in touched]
                base = _without(base, np.asarray(drop, dtype=np.int64))
        rows = self.delta.edge_rows(group, starts, ends)
        added = None
        if rows:
            added = rows_table(
                group[0],
                {"from": [s for s, _, _ in rows], "to": [t for _, t, _ in rows]},
                [p for _, _, p in rows],
            )
            if columns is not None:
                added = added.select([c for c in columns if c in added.column_names])
        parts = [t for t in (base, added) if t is not None and t.num_rows]
        if not parts:
            return None
        table = _concat(parts)
        if columns is None:
            rest = sorted(c for c in table.column_names if c not in ("from", "to"))
            table = table.select(["from", "to", *rest])
        return table

    # --- counts and rows ------------------------------------------------------------------------

    def count(self, name: str) -> int:
        if name in schema.NODES:
            return int(self.manifest["nodes"].get(name, 0)) + self.delta.nodes_added[name]
        base = sum(n for _, _, n, _ in self._groups.get(name, ()))
        return base + self.delta.edges_added[name]

    def groups(self, edge_type: str) -> list[tuple[str, str, int, str]]:
        """``(from_label, to_label, count, file)`` of each edge file of ``edge_type`` (and of
        the end labels only the delta has edges between)."""
        found = list(self._groups.get(edge_type, []))
        known = {(f, t) for f, t, _, _ in found}
        for kind, from_label, to_label in self.delta.groups():
            if kind == edge_type and (from_label, to_label) not in known:
                found.append((from_label, to_label, 0, edge_file(kind, from_label, to_label)))
        return found

    @staticmethod
    def _row(table: pa.Table, i: int) -> dict[str, Any]:
        row = {}
        for f, column in zip(table.schema, table.columns, strict=True):
            value = column[i].as_py()
            if value is not None:
                if f.metadata and f.metadata.get(b"ekjon") == b"tagged":
                    value = _untag(value)
                row[f.name] = value
        return row

    def node(self, label: str, id: str) -> dict[str, Any] | None:
        found = self.delta.node_state(self, label, [id]).get(id)
        return None if found is None else {"id": id, **found}

    def neighbours(
        self,
        label: str,
        id: str,
        edge_type: str | None,
        direction: str,
        neighbour_label: str | None,
    ) -> list[Neighbour]:
        if self.node(label, id) is None:
            return []
        found = []
        nodes: dict[tuple[str, str], dict] = {}
        for kind in [edge_type] if edge_type is not None else list(schema.EDGES):
            for from_label, to_label, _, _ in self.groups(kind):
                sides = []
                if direction in ("out", "both") and from_label == label:
                    sides.append(("from", to_label))
                if direction in ("in", "both") and to_label == label:
                    sides.append(("to", from_label))
                for end, other_label in sides:
                    if neighbour_label is not None and other_label != neighbour_label:
                        continue
                    group = (kind, from_label, to_label)
                    for s, t, props in self.delta.edges_at(self, group, end, [id]):
                        other = t if end == "from" else s
                        key = (other_label, other)
                        if key not in nodes:
                            nodes[key] = {"id": other, **(self.node(other_label, other) or {})}
                        found.append(Neighbour(kind, dict(props), other_label, dict(nodes[key])))
        found.sort(key=lambda n: (n.edge_type, n.label, n.props["id"]))
        return found

    def node_ids(self, label: str) -> pa.Array:
        table = self._node_table(label, ["id"])
        if table is None:
            return pa.array([], type=_STRING)
        return table.column("id").combine_chunks()

    def edge_pairs(self, group: tuple[str, str, str]) -> pa.Table | None:
        """The ``from`` and ``to`` of the edges of ``group`` (``None`` if none)."""
        return self._edge_table(group, ["from", "to"])

    def nodes(
        self,
        label: str,
        properties: Sequence[str] | None = None,
        ids: Iterable[str] | None = None,
    ) -> pd.DataFrame:
        order = None if properties is None else ["id", *(p for p in properties if p != "id")]
        if ids is None:
            table = self._node_table(label, order)
        else:  # the rows of these ids only: found by binary search, the delta laid over them
            wanted = list(dict.fromkeys(ids))
            base = self._base_node_table(label)
            sorted_ids = self._ids(label)
            if base is not None and sorted_ids is not None:
                if order is not None:  # the columns asked for, then the rows: less to copy
                    base = base.select([c for c in order if c in base.column_names])
                base = _take(base, sorted_ids.find(wanted))
            table = self._lay_nodes(label, base, order, wanted)
        if table is None:
            return pd.DataFrame(columns=order or ["id"])
        if order is not None:
            table = _select(table, order)
        return _frame(table, missing_as_nan=properties is None)

    def edges(
        self,
        edge_type: str,
        from_ids: Iterable[str] | None = None,
        to_ids: Iterable[str] | None = None,
    ) -> pd.DataFrame:
        starts = None if from_ids is None else list(dict.fromkeys(from_ids))
        ends = None if to_ids is None else list(dict.fromkeys(to_ids))
        parts: list[pa.Table] = []
        labels: list[tuple[str, str, int]] = []
        targets = 0
        for from_label, to_label, _, name in self.groups(edge_type):
            group = (edge_type, from_label, to_label)
            if starts is None and ends is None:
                table = self._edge_table(group)
            else:  # found by binary search (or one scan for many ids), the delta laid over
                table = self._base_edge_table(group)
                if table is not None:
                    end, values = ("from", starts) if starts is not None else ("to", ends)
                    assert values is not None
                    table = _take(table, self._ends(name, end).find(values))
                    if starts is not None and ends is not None:
                        table = table.filter(
                            pc.is_in(table.column("to"), value_set=pa.array(ends, type=_STRING))
                        )
                table = self._lay_edges(
                    group,
                    table,
                    None,
                    None if starts is None else set(starts),
                    None if ends is None else set(ends),
                )
            if table is None or not table.num_rows:
                continue
            parts.append(table)
            labels.append((from_label, to_label, table.num_rows))
            targets += self.count(to_label)
        if not parts:
            return pd.DataFrame(columns=list(schema.EDGE_COLUMNS))
        # one table, converted once (no copies of a frame per end labels, nor of a reorder)
        table = _concat(parts)
        names = sorted(c for c in table.column_names if c not in schema.EDGE_COLUMNS)
        table = table.select(["from", "to", *names])
        # ends of labels with far fewer nodes than edges (sources, programmes) repeat
        few = targets * 4 < table.num_rows
        frame = _frame(table, True, frozenset({"to"}) if few else frozenset())
        for at, (side, index) in enumerate((("from_label", 0), ("to_label", 1)), start=2):
            values = [_constant(label[index], label[2]) for label in labels]
            frame.insert(at, side, values[0] if len(values) == 1 else np.concatenate(values))
        return frame

    def edge_list(
        self,
        edge_type: str,
        from_ids: Sequence[str] | None = None,
        to_ids: Sequence[str] | None = None,
    ) -> list[dict[str, Any]]:
        """The edges of ``edge_type`` at a few named nodes as plain rows: what :meth:`edges` gives,
        without pandas (a frame of a handful of rows costs milliseconds to make; these rows, tens
        of microseconds). Each row: ``from``, ``to``, ``from_label``, ``to_label`` and the
        properties the edge has."""
        if from_ids is None and to_ids is None:
            raise ValueError("edge_list reads the edges at named nodes: give from_ids or to_ids.")
        end, ids = ("from", from_ids) if from_ids is not None else ("to", to_ids)
        assert ids is not None
        ends = None if from_ids is None or to_ids is None else set(to_ids)
        rows: list[dict[str, Any]] = []
        for from_label, to_label, _, _ in self.groups(edge_type):
            group = (edge_type, from_label, to_label)
            for s, t, props in self.delta.edges_at(self, group, end, ids):
                if ends is None or t in ends:
                    rows.append(
                        {"from": s, "to": t, "from_label": from_label, "to_label": to_label} | props
                    )
        return rows

    def shared_identifiers(
        self, labels: Sequence[str], exclude_sources: Iterable[str]
    ) -> pd.DataFrame:
        """See :meth:`graph.store.GraphStore.shared_identifiers`: hash joins and groupings over
        the tables in Arrow, only the answer made into pandas."""
        columns = list(SHARED_COLUMNS)
        excluded = pa.array(sorted(set(exclude_sources)), type=_STRING)
        left_out = None
        if len(excluded):
            records = self._node_table("Record", ["id", "source"])
            if records is not None and "source" in records.column_names:
                source = records.column("source")
                if source.type != _STRING:  # tagged or not text: compare as text
                    source = pa.array([_untag(v) for v in source.to_pylist()]).cast(_STRING)
                left_out = records.column("id").filter(pc.is_in(source, value_set=excluded))
        parts = []
        for label in dict.fromkeys(labels):
            for from_label, to_label, _, _ in self.groups("HAS"):
                if (from_label, to_label) != ("Record", label):
                    continue
                table = self._edge_table(("HAS", from_label, to_label), ["from", "to"])
                if table is None:
                    continue
                if left_out is not None and len(left_out):
                    table = table.filter(pc.invert(pc.is_in(table.column("from"), left_out)))
                # only identifiers given at least twice
                counts = pc.value_counts(table.column("to"))
                several = counts.field("values").filter(pc.greater(counts.field("counts"), 1))
                table = table.filter(pc.is_in(table.column("to"), value_set=several))
                parts.append(
                    pa.table(
                        {
                            "label": pa.array(np.full(table.num_rows, label), type=_STRING),
                            "identifier": table.column("to"),
                            "record": table.column("from"),
                        }
                    )
                )
        given = pa.concat_tables(parts).combine_chunks() if parts else None
        if given is None or not given.num_rows:
            return pd.DataFrame(columns=columns)
        # every step on numbers: identifiers, records' persons and households coded once
        label_column = given.column("label").combine_chunks()
        identifier = given.column("identifier").combine_chunks()
        record = given.column("record").combine_chunks()
        ident = np.zeros(given.num_rows, dtype=np.int64)
        offset = 0
        for label in dict.fromkeys(labels):
            mine = pc.equal(label_column, label).to_numpy(zero_copy_only=False)
            if mine.any():
                coded = pc.dictionary_encode(identifier.filter(pa.array(mine)))
                ident[mine] = coded.indices.to_numpy(zero_copy_only=False) + offset
                offset += len(coded.dictionary)
        of = self._pairs("OF", "Record", "Person")
        at = pc.index_in(record, value_set=of.column("from"))
        person = of.column("to").combine_chunks().take(at)  # missing where the record has none
        member = self._pairs("MEMBER_OF", "Person", "Household")
        homes = pc.dictionary_encode(member.column("to").combine_chunks())
        homes = homes.indices.to_numpy(zero_copy_only=False)
        first = pc.index_in(person, value_set=member.column("from"))
        pairs_ident = [ident[pc.is_valid(first).to_numpy(zero_copy_only=False)]]
        pairs_home = [homes[first.drop_null().to_numpy()]]
        # a person in several households (rare): each membership beyond the first
        counts = pc.value_counts(member.column("from"))
        several = counts.field("values").filter(pc.greater(counts.field("counts"), 1))
        if len(several):
            many = pc.is_in(person, value_set=several).to_numpy(zero_copy_only=False)
            rows = np.flatnonzero(many)
            theirs = person.take(pa.array(rows)).to_pylist()
            wanted = set(theirs)
            all_rows: dict[str, list[int]] = {}
            for i, p in enumerate(member.column("from").to_pylist()):
                if p in wanted:
                    all_rows.setdefault(p, []).append(i)
            extra = [
                (ident[r], homes[m])
                for r, p in zip(rows, theirs, strict=True)
                for m in all_rows[p][1:]
            ]
            if extra:
                pairs_ident.append(np.array([e[0] for e in extra], dtype=np.int64))
                pairs_home.append(np.array([e[1] for e in extra], dtype=np.int64))
        n = np.bincount(ident, minlength=offset)
        keys = np.concatenate(pairs_ident) * (int(homes.max(initial=0)) + 1) + np.concatenate(
            pairs_home
        )
        found, with_ = np.unique(keys, return_counts=True)
        common_ident = found // (int(homes.max(initial=0)) + 1)
        common = np.zeros(offset, dtype=bool)
        common[common_ident[with_ == n[common_ident]]] = True
        keep = pa.array(~common[ident])
        shared = pa.table(
            {
                "label": label_column.filter(keep),
                "identifier": identifier.filter(keep),
                "record": record.filter(keep),
                "person": person.filter(keep),
            }
        )
        return _frame(shared, missing_as_nan=False)

    def _pairs(self, edge_type: str, from_label: str, to_label: str) -> pa.Table:
        """The ``from`` and ``to`` of one edge group (empty if none)."""
        table = self._edge_table((edge_type, from_label, to_label), ["from", "to"])
        if table is not None:
            return table
        return pa.table({"from": pa.array([], _STRING), "to": pa.array([], _STRING)})

    # --- into memory ------------------------------------------------------------------------------

    def operations(self) -> Iterator[tuple]:
        """The whole graph as journal operations (merges), to build the graph in memory."""
        for label in schema.NODES:
            table = self._node_table(label)
            if table is None:
                continue
            for start in range(0, table.num_rows, _LOAD_ROWS):
                part = table.slice(start, _LOAD_ROWS)
                ids = part.column("id").to_pylist()
                yield (_MERGE_NODES, label, list(zip(ids, _props(part, ("id",)), strict=True)))
        for group in self.all_groups():
            table = self._edge_table(group)
            if table is None:
                continue
            for start in range(0, table.num_rows, _LOAD_ROWS):
                part = table.slice(start, _LOAD_ROWS)
                rows = zip(
                    part.column("from").to_pylist(),
                    part.column("to").to_pylist(),
                    _props(part, ("from", "to")),
                    strict=True,
                )
                yield (_MERGE_EDGES, *group, list(rows))


def _props(table: pa.Table, keys: Sequence[str]) -> list[dict[str, Any]]:
    names = [f for f in table.schema if f.name not in keys]
    columns = [_py(table.column(f.name), f) for f in names]
    out: list[dict[str, Any]] = []
    for values in zip(*columns, strict=True) if columns else ([()] * table.num_rows):
        out.append({f.name: v for f, v in zip(names, values, strict=True) if v is not None})
    return out


def _select(table: pa.Table, order: Sequence[str]) -> pa.Table:
    arrays, fields = [], []
    for name in order:
        if name in table.column_names:
            arrays.append(table.column(name))
            fields.append(table.schema.field(name))
        else:
            arrays.append(pa.nulls(table.num_rows))
            fields.append(pa.field(name, pa.null()))
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


#: Columns of node and edge ids: mostly distinct values, converted without looking for repeats.
_KEYS = frozenset({"id", "from", "to"})


def _frame(
    table: pa.Table, missing_as_nan: bool, repeated: frozenset[str] = frozenset()
) -> pd.DataFrame:
    """``table`` as pandas, typed as the in-memory graph's tables are (see graph.store.table).

    Property columns (few distinct values: roles, statuses, districts) share one Python string per
    distinct value; id columns (``repeated`` aside) are converted without that search, five times
    faster for distinct values.
    """
    columns: dict[str, Any] = {}
    for f, column in zip(table.schema, table.columns, strict=True):
        if f.metadata and f.metadata.get(b"ekjon") == b"tagged":
            values = pd.Series(_py(column, f), dtype=object).infer_objects()
        elif pa.types.is_null(f.type):
            values = pd.Series(np.full(table.num_rows, None, dtype=object))
        else:
            distinct = f.name in _KEYS and f.name not in repeated
            values = column.to_pandas(deduplicate_objects=not distinct)
        if values.dtype == object and column.null_count and missing_as_nan:
            values = values.where(values.notna(), np.nan)
        columns[f.name] = values
    return pd.DataFrame(columns, columns=table.column_names)


def _constant(value: str, n: int) -> np.ndarray:
    """An object array of ``n`` times ``value`` (``np.full`` is forty times slower for objects)."""
    out = np.empty(n, dtype=object)
    out[:] = value
    return out


class _Spill:
    """The batches of one table, on disk as they come: files of one schema each, written on as
    long as batches fit the schema (a batch without a property gets it missing)."""

    def __init__(self, folder: Path, name: str) -> None:
        self.folder = folder
        self.name = name
        self.paths: list[Path] = []
        self._sink: Any = None
        self._writer: Any = None
        self._schema: pa.Schema | None = None

    def append(self, table: pa.Table) -> None:
        if self._schema is not None:
            fitted = _fit(table, self._schema)
            if fitted is None:
                self.close()
            else:
                table = fitted
        try:
            if self._writer is None:
                path = self.folder / f"{self.name}.part{len(self.paths)}.arrow"
                self.paths.append(path)
                self._sink = pa.OSFile(str(path), "wb")
                self._writer = pa.ipc.new_file(self._sink, table.schema)
                self._schema = table.schema
            self._writer.write_table(table)
        except OSError as error:
            raise StoreWriteFailed(
                f"Could not write to {self.paths[-1]}: {error.strerror or error}. Nothing of "
                "this publish is in the graph yet; free space on that disk (or fix the device) "
                "and run the publish again (`ekjon resolve`)."
            ) from error

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._sink.close()
            self._writer = self._sink = self._schema = None

    def read(self) -> tuple[pa.Table, Path | None]:
        """The whole table (memory-mapped), and its file if it is one file (else None)."""
        self.close()
        parts = [pa.ipc.open_file(pa.memory_map(str(path), "r")).read_all() for path in self.paths]
        return _concat(parts), self.paths[0] if len(parts) == 1 else None


def _fit(table: pa.Table, schema: pa.Schema) -> pa.Table | None:
    """``table`` with the columns of ``schema`` (missing ones all missing), or None if it has
    another column or a column of another type."""
    if not set(table.column_names) <= set(schema.names):
        return None
    arrays = []
    for f in schema:
        if f.name in table.column_names:
            if table.schema.field(f.name) != f:
                return None
            arrays.append(table.column(f.name))
        else:
            arrays.append(pa.nulls(table.num_rows, type=f.type))
    return pa.Table.from_arrays(arrays, schema=schema)


class TableWriter:
    """A complete publish written as whole tables (a :class:`graph.store.GraphWriter`).

    Each call's columns go to disk at once, into ``folder`` (the next generation's, being
    written), so a publish holds no table in memory; :meth:`finish` hands them to the store,
    which makes them its next generation (see :meth:`EmbeddedStore.table_writer`).
    """

    def __init__(self, install: Any, folder: Path) -> None:
        self._install = install
        self.folder = folder
        self.written: dict[str, int] = {}
        self._nodes: dict[str, _Spill] = {}
        self._edges: dict[tuple[str, str, str], _Spill] = {}

    def count(self, name: str) -> int:
        schema.check_name(name)
        return self.written.get(name, 0)

    def add_nodes(self, label: str, columns: Mapping[str, Any]) -> int:
        schema.node_spec(label)
        table = _table(label, columns, ["id"])
        if label not in self._nodes:
            self._nodes[label] = _Spill(self.folder, node_file(label)[: -len(".arrow")])
        self._nodes[label].append(table)
        self.written[label] = self.written.get(label, 0) + table.num_rows
        return table.num_rows

    def add_edges(
        self, edge_type: str, from_label: str, to_label: str, columns: Mapping[str, Any]
    ) -> int:
        schema.check_ends(edge_type, from_label, to_label)
        table = _table(edge_type, columns, ["from", "to"])
        if from_label == to_label and table.num_rows:
            loops = pc.equal(table.column("from"), table.column("to"))
            if pc.any(loops).as_py():
                i = int(np.flatnonzero(loops.to_numpy(zero_copy_only=False))[0])
                raise InvalidRow(
                    edge_type,
                    i,
                    f"the edge joins {from_label} {table.column('from')[i].as_py()!r} to itself.",
                )
        key = (edge_type, from_label, to_label)
        if key not in self._edges:
            self._edges[key] = _Spill(self.folder, edge_file(*key)[: -len(".arrow")])
        self._edges[key].append(table)
        self.written[edge_type] = self.written.get(edge_type, 0) + table.num_rows
        return table.num_rows

    def tables(
        self,
    ) -> tuple[dict[str, tuple], dict[tuple[str, str, str], tuple]]:
        """The written tables, one row per node or edge (the last written wins), each with its
        rows' order by key and, where the table is one file as written, that file (see
        :func:`write_tables`; the tables are memory-mapped from the files).

        Raises
        ------
        MissingNode
            If an edge names a node that was not written.
        """
        nodes = {}
        for label, spill in self._nodes.items():
            table, path = spill.read()
            unique, order = unique_rows(table, ["id"])
            nodes[label] = (unique, order, path if unique is table else None)
        edges = {}
        ends: dict[str, list[tuple[str, pa.ChunkedArray]]] = {}
        for key, spill in self._edges.items():
            table, path = spill.read()
            unique, by_from = unique_rows(table, ["from", "to"])
            edge_type, from_label, to_label = key
            ends.setdefault(from_label, []).append((edge_type, unique.column("from")))
            ends.setdefault(to_label, []).append((edge_type, unique.column("to")))
            edges[key] = (unique, by_from, path if unique is table else None)
        for label, named in ends.items():  # one look-up per label (a hash of its ids each)
            known = nodes.get(label, (None, None))[0]
            values = pa.chunked_array(
                [chunk for _, column in named for chunk in column.chunks], type=_STRING
            )
            present = (
                pc.is_in(values, value_set=known.column("id"))
                if known is not None
                else pa.array(np.zeros(len(values), dtype=bool))
            )
            if not pc.all(present).as_py():
                missing = pc.unique(values.filter(pc.invert(present))).to_pylist()
                first = missing[0]
                edge_type = next(t for t, c in named if pc.any(pc.equal(c, first)).as_py())
                raise MissingNode(edge_type, [(label, m) for m in missing[:6]])
        return nodes, edges

    def close(self) -> None:
        """Close the files being written (the store deletes the folder if it is not used)."""
        for spill in [*self._nodes.values(), *self._edges.values()]:
            spill.close()

    def finish(self, count_edges: bool = True) -> dict[str, int]:
        """Hand the tables to the store (see the class); what the graph lost, per label and type
        (without ``count_edges``, per label only: comparing every edge of the old and the new
        graph takes about 25 s at a million persons)."""
        return self._install(self, count_edges)
