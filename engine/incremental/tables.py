"""The one-record resolver's state as Arrow tables opened memory-mapped, so a fresh process
(``ekjon match``, the API starting) answers without reading a million records into memory.

The batch writes them (:func:`write_tables`) beside the Parquet files of
:mod:`engine.incremental.state`, in ``tables/``:

=======================  ========================================================================
file                     contents
=======================  ========================================================================
``prepared.arrow``       the prepared frame with ``person_id``, uncompressed: a record's
                         candidates are taken from it by row
``records.arrow``        ``key, row``: every record's ``source/record_id``, sorted
``persons.arrow``        ``person, start, stop``: every person, sorted, and where its rows are in
``person_rows.arrow``    ``row``: the rows, person after person
``keys.arrow``           ``hash, record``: the blocking keys, rule after rule (``meta.json`` says
                         where each rule's part starts)
``<name>.arrow``         one lookup table per data-wide fact of the
                         :class:`~engine.resolve.prepare_one.RegistryContext` (codes, NID links,
                         name counts, ...), sorted by its key
``meta.json``            the tables' version, the record count and the rules' offsets
=======================  ========================================================================

Opening maps the files; a lookup is a binary search (a few microseconds). What a resolver
learns afterwards (:meth:`~engine.incremental.resolver.IncrementalResolver.add`) lies over the
tables in memory.
"""

from __future__ import annotations

import bisect
import dataclasses
import hashlib
import json
import os
import shutil
from collections.abc import Iterator, Mapping, MutableMapping, MutableSet, Sequence
from json.encoder import encode_basestring  # type: ignore[attr-defined]
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from engine.errors import IncrementalError
from engine.resolve.block_index import RuleIndex
from engine.resolve.blocking import BlockingRule
from engine.resolve.crowded import Namesakes
from engine.resolve.prepare_one import RegistryContext

TABLES_DIR: Final = "tables"
#: 2: a tuple's parts as one text key
TABLES_VERSION: Final = 2
META_FILE: Final = "meta.json"
#: the context's lookups that are big at a million records; the others are read whole
_LAZY_CODES: Final = frozenset({"household", "brn_key"})
#: lookups a table remembers (positions, not values), then forgets all at once
_FOUND_LIMIT: Final = 1 << 16


# -- writing ---------------------------------------------------------------------------------


def write_tables(
    folder: Path,
    prepared: pd.DataFrame,
    context: RegistryContext,
    indexes: Sequence[RuleIndex],
    sample: pd.DataFrame | None = None,
    *,
    table: pa.Table | None = None,
) -> Path:
    """Write the tables of a resolver's state into ``folder/tables`` (replacing the old ones
    whole: a reader sees the old tables or the new). ``prepared`` holds ``person_id``; ``table``
    is ``prepared`` as Arrow when the caller has made it already.

    The checks a resolver makes when it starts (does :func:`prepare_one` give the batch's rows
    for ``sample``; does compare read name counts per record) are made here too, and kept with
    the fingerprint of the code that made them: a resolver running the same code takes their
    answers instead of checking again (about a second)."""
    target = folder / TABLES_DIR
    tmp = folder / f"{TABLES_DIR}.{os.getpid()}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    if table is None:
        table = pa.Table.from_pandas(prepared, preserve_index=False)
    _write(tmp / "prepared.arrow", table)
    keys = [f"{s}/{r}" for s, r in zip(prepared["source"], prepared["record_id"], strict=True)]
    _write_sorted(tmp / "records.arrow", {"key": pa.array(keys, pa.string())}, ["key"], row=True)
    person = table.column("person_id").combine_chunks()
    order = pc.sort_indices(person).to_numpy()
    ordered = person.take(order)
    starts = np.flatnonzero(
        np.r_[True, ~pc.equal(ordered[1:], ordered[:-1]).to_numpy(zero_copy_only=False)]
    )
    stops = np.r_[starts[1:], len(ordered)]
    _write(
        tmp / "persons.arrow",
        pa.table({"person": ordered.take(starts), "start": starts, "stop": stops}),
    )
    _write(tmp / "person_rows.arrow", pa.table({"row": order.astype(np.int64)}))
    offsets, hashes, records = {}, [], []
    at = 0
    for index in indexes:
        h, r = index.merged()
        offsets[index.rule.name] = [at, at + len(h)]
        at += len(h)
        hashes.append(h)
        records.append(r)
    _write(
        tmp / "keys.arrow",
        pa.table(
            {
                "hash": np.concatenate(hashes) if hashes else np.empty(0, np.uint64),
                "record": np.concatenate(records) if records else np.empty(0, np.int64),
            }
        ),
    )
    lookups = _write_context(tmp, context)
    meta = {"version": TABLES_VERSION, "records": len(prepared), "rules": offsets}
    meta["lookups"] = lookups
    meta["checks"] = _checks(prepared, context, sample)
    (tmp / META_FILE).write_text(json.dumps(meta), encoding="utf-8")
    old = folder / f"{TABLES_DIR}.{os.getpid()}.old"
    if target.exists():
        target.rename(old)
    tmp.rename(target)
    shutil.rmtree(old, ignore_errors=True)
    return target


def code_fingerprint() -> str:
    """The sha256 of the code that prepares and compares records (what the start-up checks
    depend on): engine/resolve/prepare*.py and compare.py, engine/normalise, engine/record.py."""
    root = Path(__file__).resolve().parents[1]
    files = [
        *sorted((root / "resolve").glob("prepare*.py")),
        root / "resolve" / "compare.py",
        root / "record.py",
        *sorted(
            p
            for p in (root / "normalise").rglob("*")
            if p.is_file() and "__pycache__" not in p.parts
        ),
    ]
    digest = hashlib.sha256()
    for path in files:
        digest.update(str(path.relative_to(root)).encode("utf-8"))
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _checks(
    prepared: pd.DataFrame, context: RegistryContext, sample: pd.DataFrame | None
) -> dict[str, Any]:
    from engine.incremental.scoring import counts_read_per_record
    from engine.resolve.prepare_one import prepare_one_mismatches

    columns = [c for c in prepared.columns if c != "person_id"]
    checks: dict[str, Any] = {"code": code_fingerprint()}
    first = prepared.iloc[: min(len(prepared), 1)][columns].reset_index(drop=True)
    checks["counts_read_per_record"] = counts_read_per_record(first)
    if sample is not None and not sample.empty:
        rows = prepared.iloc[sample["row"].to_numpy()][columns].reset_index(drop=True)
        renumbered = sample.assign(row=np.arange(len(sample)))
        checks["prepare_one_differs"] = prepare_one_mismatches(renumbered, rows, context)
    return checks


def _write_context(folder: Path, context: RegistryContext) -> dict[str, str]:
    """One sorted table per lookup of the context; returns field -> how it is kept."""
    kept: dict[str, str] = {}
    for kind, table in context.codes.items():
        if kind in _LAZY_CODES:
            _write_mapping(folder / f"code-{kind}.arrow", table)
    small = {k: v for k, v in context.codes.items() if k not in _LAZY_CODES}
    (folder / "codes.json").write_text(json.dumps(small, ensure_ascii=False), encoding="utf-8")
    places = {f"{child}>{parent}": t for (child, parent), t in context.places.parents.items()}
    (folder / "places.json").write_text(json.dumps(places, ensure_ascii=False), encoding="utf-8")
    for spec in dataclasses.fields(context):
        name = spec.name
        value = getattr(context, name)
        if name in ("codes", "places"):
            continue
        if name == "namesakes":
            _write(folder / "namesakes.arrow", pa.table({"key": pa.array(value.keys, pa.string())}))
            _write(folder / "namesake-years.arrow", pa.table({"lo": value.lo, "hi": value.hi}))
            kept[name] = "namesakes"
            continue
        if name == "households":
            rows = [
                (code, rid, full)
                for code, members in value.items()
                for rid, full in members.items()
            ]
            _write_sorted(
                folder / f"{name}.arrow",
                {
                    "household": pa.array([r[0] for r in rows], pa.int64()),
                    "record_id": pa.array([r[1] for r in rows], pa.string()),
                    "name": pa.array([r[2] for r in rows], pa.string()),
                },
                ["household", "record_id"],
            )
            kept[name] = "households"
        elif _is_set(value):
            _write_tuples(folder / f"{name}.arrow", list(value), value=False)
            kept[name] = "set"
        elif isinstance(value, SortedTuples | Mapping):
            if isinstance(value, SortedTuples) or (value and isinstance(next(iter(value)), tuple)):
                _write_tuples(folder / f"{name}.arrow", list(value.items()), value=True)
                kept[name] = "tuples"
            else:
                _write_mapping(folder / f"{name}.arrow", value)
                kept[name] = "mapping"
        else:
            raise IncrementalError(f"the resolver's context has a field {name!r} of unknown kind")
    return kept


def _is_set(value: object) -> bool:
    if isinstance(value, SortedTuples):
        return not value._with_value
    return isinstance(value, set | frozenset)


def _write(path: Path, table: pa.Table) -> None:
    # one record batch: a column is one array on the mapped file, searched without a copy
    table = table.combine_chunks()
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)


def _write_sorted(
    path: Path, columns: dict[str, pa.Array], by: list[str], *, row: bool = False
) -> None:
    table = pa.table(columns)
    if row:
        table = table.append_column("row", pa.array(np.arange(len(table)), pa.int64()))
    order = pc.sort_indices(table, sort_keys=[(c, "ascending") for c in by])
    _write(path, table.take(order))


def _write_mapping(path: Path, mapping: Mapping[Any, Any]) -> None:
    items = list(mapping.items())
    keys = [k for k, _ in items]
    values = [v for _, v in items]
    _write_sorted(path, {"key": pa.array(keys), "value": pa.array(values)}, ["key"])


def _write_tuples(path: Path, items: list[Any], *, value: bool) -> None:
    """A set of tuples (``value=False``) or a mapping of tuple keys: each tuple as one text key
    (:func:`_tuple_key`), sorted, looked up with one binary search."""
    keys = [_written_key(item[0] if value else item) for item in items]
    values = pa.array([item[1] for item in items]) if value else pa.array([True] * len(items))
    _write_sorted(path, {"key": pa.array(keys, pa.string()), "value": values}, ["key"])


def _written_key(key: tuple[Any, ...]) -> str:
    """:func:`_tuple_key`, about four times as fast for tuples of text and whole numbers (the
    JSON encoder's own string escaping, without the encoder around it); millions are written."""
    parts = []
    for k in key:
        kind = type(k)
        if kind is str:
            parts.append(encode_basestring(k))
        elif kind is int or (isinstance(k, np.integer) and kind is not np.bool_):
            parts.append(str(int(k)))
        else:
            return _tuple_key(key)
    return "[" + ", ".join(parts) + "]"


def _tuple_key(key: tuple[Any, ...]) -> str:
    """A tuple of text and whole numbers as one text (JSON: one for one, and back)."""
    return json.dumps([int(k) if isinstance(k, np.integer) else k for k in key], ensure_ascii=False)


# -- reading ---------------------------------------------------------------------------------


class Tables:
    """The memory-mapped tables of ``folder/tables`` (see the module docstring)."""

    def __init__(self, folder: Path, records: int) -> None:
        self.folder = folder / TABLES_DIR
        try:
            self.meta = json.loads((self.folder / META_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise IncrementalError(_damaged(self.folder / META_FILE, exc)) from None
        if self.meta.get("version") != TABLES_VERSION or self.meta.get("records") != records:
            raise IncrementalError(
                f"{self.folder} holds the tables of another saved state than {folder}: run "
                "`ekjon resolve` again to write them anew."
            )
        self.prepared = self.read("prepared")

    def checked(self, name: str) -> Any:
        """What the start-up check ``name`` answered when the tables were written, if this is
        the code that answered it (``None``: check again)."""
        checks = self.meta.get("checks") or {}
        if name not in checks or checks.get("code") != code_fingerprint():
            return None
        return checks[name]

    @staticmethod
    def present(folder: Path) -> bool:
        return (folder / TABLES_DIR / META_FILE).exists()

    def read(self, name: str) -> pa.Table:
        path = self.folder / f"{name}.arrow"
        try:
            return pa.ipc.open_file(pa.memory_map(str(path))).read_all()
        except (OSError, pa.ArrowException) as exc:
            raise IncrementalError(_damaged(path, exc)) from None

    def indexes(self, rules: Sequence[BlockingRule]) -> list[RuleIndex]:
        keys = self.read("keys")
        hashes = _numbers(keys.column("hash"))
        records = _numbers(keys.column("record"))
        out = []
        for rule in rules:
            start, stop = self.meta["rules"].get(rule.name, [0, 0])
            out.append(RuleIndex(rule, hashes[start:stop], records[start:stop]))
        return out

    def positions(self) -> RowOfKey:
        table = self.read("records")
        return RowOfKey(table.column("key"), table.column("row"))

    def person_rows(self) -> PersonRows:
        persons = self.read("persons")
        return PersonRows(
            persons.column("person"),
            _numbers(persons.column("start")),
            _numbers(persons.column("stop")),
            _numbers(self.read("person_rows").column("row")),
        )

    def context(self) -> RegistryContext:
        """The context, its big lookups read where asked (:class:`Sorted`, ...)."""
        codes: dict[str, MutableMapping[str, int]] = {
            kind: dict(table)
            for kind, table in json.loads(
                (self.folder / "codes.json").read_text(encoding="utf-8")
            ).items()
        }
        for kind in _LAZY_CODES:
            if (self.folder / f"code-{kind}.arrow").exists():
                codes[kind] = self._mapping(f"code-{kind}")
        context = RegistryContext(codes, {}, {}, {}, {}, set())  # type: ignore[arg-type]
        places = json.loads((self.folder / "places.json").read_text(encoding="utf-8"))
        for key, table in places.items():
            child, _, parent = key.partition(">")
            context.places.parents[(child, parent)] = table
        for name, how in self.meta["lookups"].items():
            if how == "mapping":
                value: Any = self._mapping(name)
            elif how == "tuples":
                value = SortedTuples(self.read(name), with_value=True)
            elif how == "set":
                value = SortedTuples(self.read(name), with_value=False)
            elif how == "namesakes":
                years = self.read("namesake-years")
                value = Namesakes.saved(
                    _Values(self.read(name).column("key")),
                    _numbers(years.column("lo")),
                    _numbers(years.column("hi")),
                )
            else:
                value = Households(self.read(name))
            setattr(context, name, value)
        return context

    def _mapping(self, name: str) -> Sorted:
        table = self.read(name)
        return Sorted(table.column("key"), table.column("value"))


def _damaged(path: Path, exc: Exception) -> str:
    return (
        f"{path} cannot be read ({type(exc).__name__}: {exc}): the one-record resolver's saved "
        "index is damaged or was cut short. Run `ekjon resolve` again to write it anew."
    )


def dense_columns(table: pa.Table, columns: Sequence[str]) -> dict[str, np.ndarray]:
    """The columns of ``table`` that are whole numbers or booleans without a missing value, or
    decimal numbers, each as one NumPy array (a view of the memory-mapped file; booleans unpacked,
    decimals with a missing value copied with NaN for it): indexing them gives what Arrow's
    ``take`` then ``to_numpy`` gives, about a tenth of a millisecond less a record. (A whole
    number column with a missing value is not one of them: Arrow gives the rows taken as whole
    numbers, or as decimals when one of them is missing.)"""
    dense = {}
    for c in columns:
        column = table.column(c)
        kind = column.type
        plain = pa.types.is_integer(kind) or pa.types.is_boolean(kind)
        plain = (plain and column.null_count == 0) or pa.types.is_floating(kind)
        if plain and column.num_chunks == 1:
            values = column.chunk(0).to_numpy(zero_copy_only=False)
            values.setflags(write=False)
            dense[c] = values
    return dense


def column_batch(table: pa.Table, columns: Sequence[str]) -> pa.RecordBatch | pa.Table:
    """``table``'s ``columns`` as one record batch on the mapped file where each is one chunk
    (and not of dictionary type, which NumPy reads otherwise from a chunk): a ``take`` from it
    has less set-up than from a table; else the table's selection."""
    chosen = table.select(list(columns))
    if any(
        chosen.column(c).num_chunks != 1 or pa.types.is_dictionary(chosen.schema.field(c).type)
        for c in columns
    ):
        return chosen
    return pa.RecordBatch.from_arrays(
        [chosen.column(c).chunk(0) for c in columns], names=list(columns)
    )


def _numbers(column: pa.ChunkedArray) -> np.ndarray:
    """A numeric column without nulls as a numpy array on the mapped file (no copy)."""
    if column.num_chunks == 1:
        return column.chunk(0).to_numpy()
    return column.to_numpy()


#: A sorted text column is first searched in every ``_STEP``-th of its values (:class:`_Values`).
_STEP: Final = 64


class _Values(Sequence[Any]):
    """An Arrow column read one value at a time (for :mod:`bisect`)."""

    def __init__(self, column: pa.ChunkedArray | pa.Array) -> None:
        if isinstance(column, pa.ChunkedArray):
            # one chunk (as the tables are written) is used where it lies, on the mapped file
            column = column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()
        self._column = column
        self._numbers = (
            self._column.to_numpy()
            if pa.types.is_integer(self._column.type) and self._column.null_count == 0
            else None
        )
        self._text: _Utf8 | None = None
        if pa.types.is_string(column.type) and column.null_count == 0 and len(column):
            self._text = _Utf8(column)
        self._samples: list[bytes] | None = None

    def __len__(self) -> int:
        return len(self._column)

    def __getitem__(self, i: Any) -> Any:
        if self._numbers is not None:
            return int(self._numbers[i])
        return self._column[i].as_py()

    def _within(self, encoded: bytes, lo: int, hi: int, right: bool) -> tuple[int, int]:
        """``lo:hi`` narrowed, for the whole column, to the :data:`_STEP` values around where
        ``encoded`` sorts (its left or ``right`` end): a bisection of a sample of every
        :data:`_STEP`-th value kept as a list, so only a few values are sliced from the column."""
        assert self._text is not None
        if lo != 0 or hi != len(self):
            return lo, hi
        if self._samples is None:
            self._samples = [self._text[i] for i in range(0, hi, _STEP)]
        at = (bisect.bisect_right if right else bisect.bisect_left)(self._samples, encoded)
        # samples[at - 1] (<= or <) encoded (< or <=) samples[at]: the end is after the one
        # and at the other at most
        return max(0, (at - 1) * _STEP), min(hi, at * _STEP + 1)

    def find(self, value: Any, lo: int = 0, hi: int | None = None) -> int:
        """The first position of ``value`` in ``lo:hi`` (sorted), or -1."""
        if self._text is not None and isinstance(value, str):
            hi = len(self) if hi is None else hi
            encoded = value.encode("utf-8", "surrogatepass")
            i = bisect.bisect_left(self._text, encoded, *self._within(encoded, lo, hi, False))
            return i if i < hi and self._text[i] == encoded else -1
        start, stop = self.span(value, lo, hi)
        return start if start < stop else -1

    def span(self, value: Any, lo: int = 0, hi: int | None = None) -> tuple[int, int]:
        """Where ``value`` is within ``lo:hi`` (sorted), ``start:stop`` (empty where it is not)."""
        hi = len(self) if hi is None else hi
        if self._numbers is not None:
            if isinstance(value, bool) or not isinstance(value, int | np.integer):
                return lo, lo
            part = self._numbers[lo:hi]
            return (
                lo + int(np.searchsorted(part, value, side="left")),
                lo + int(np.searchsorted(part, value, side="right")),
            )
        if self._text is not None:
            if not isinstance(value, str):
                return lo, lo
            # UTF-8 bytes sort as the text's code points, as the table was sorted
            encoded = value.encode("utf-8", "surrogatepass")
            return (
                bisect.bisect_left(self._text, encoded, *self._within(encoded, lo, hi, False)),
                bisect.bisect_right(self._text, encoded, *self._within(encoded, lo, hi, True)),
            )
        try:
            return bisect.bisect_left(self, value, lo, hi), bisect.bisect_right(self, value, lo, hi)
        except TypeError:  # a key of another type than the table's
            return lo, lo


class _Utf8(Sequence[bytes]):
    """A string column's values as UTF-8 bytes, sliced from its buffers (no Arrow scalars)."""

    def __init__(self, column: pa.Array) -> None:
        offsets = np.frombuffer(column.buffers()[1], dtype=np.int32)
        self._offsets = offsets[column.offset : column.offset + len(column) + 1]
        self._data = memoryview(column.buffers()[2])  # type: ignore[arg-type]

    def __len__(self) -> int:
        return len(self._offsets) - 1

    def __getitem__(self, i: Any) -> bytes:  # type: ignore[override]
        return self._data[int(self._offsets[i]) : int(self._offsets[i + 1])].tobytes()

    def texts(self, rows: Sequence[int]) -> list[str]:
        """The values at ``rows`` as text, what Arrow's ``take(rows).to_pylist()`` gives: for a
        few dozen rows, slicing the buffers costs less than a ``take``."""
        at = np.asarray(rows, dtype=np.int64)
        data = self._data
        return [
            str(data[a:b], "utf-8")
            for a, b in zip(self._offsets[at].tolist(), self._offsets[at + 1].tolist(), strict=True)
        ]


def utf8_column(column: pa.ChunkedArray) -> _Utf8 | None:
    """``column`` read by position from its buffers (:class:`_Utf8`), where it is one chunk of
    text without a missing value; else ``None``."""
    if column.num_chunks != 1 or not pa.types.is_string(column.type) or column.null_count:
        return None
    return _Utf8(column.chunk(0))


class Sorted(MutableMapping[Any, Any]):
    """A mapping read from a table sorted by key, with what is set afterwards held over it."""

    def __init__(self, keys: pa.ChunkedArray, values: pa.ChunkedArray) -> None:
        self._keys = _Values(keys)
        self._values = _Values(values)
        self._new: dict[Any, Any] = {}
        self._grown = 0
        self._found: dict[Any, int] = {}  # keys looked up already (a serving process repeats)

    def _at(self, key: Any) -> int:
        at = self._found.get(key)
        if at is None:
            if len(self._found) >= _FOUND_LIMIT:
                self._found.clear()
            at = self._found[key] = self._keys.find(key)
        return at

    def __getitem__(self, key: Any) -> Any:
        if key in self._new:
            return self._new[key]
        i = self._at(key)
        if i < 0:
            raise KeyError(key)
        return self._values[i]

    def get(self, key: Any, default: Any = None) -> Any:
        # Mapping.get, without raising and catching a KeyError for each key not there
        if key in self._new:
            return self._new[key]
        i = self._at(key)
        return default if i < 0 else self._values[i]

    def __contains__(self, key: object) -> bool:
        return key in self._new or self._at(key) >= 0

    def __setitem__(self, key: Any, value: Any) -> None:
        if key not in self._new and self._at(key) < 0:
            self._grown += 1
        self._new[key] = value

    def __delitem__(self, key: Any) -> None:
        raise TypeError("the resolver's saved lookups are not deleted from")

    def __len__(self) -> int:
        return len(self._keys) + self._grown

    def __iter__(self) -> Iterator[Any]:
        yield from self._keys._column.to_pylist()
        yield from (k for k in self._new if self._at(k) < 0)

    def items(self) -> Iterator[tuple[Any, Any]]:  # type: ignore[override]
        """Every entry, read in one pass (not looked up one by one)."""
        values = self._values._column.to_pylist()
        for key, value in zip(self._keys._column.to_pylist(), values, strict=True):
            yield key, self._new.get(key, value)
        yield from ((k, v) for k, v in self._new.items() if self._at(k) < 0)


class RowOfKey(Sorted):
    """``source/record_id`` -> row, read from ``records.arrow``."""

    def __init__(self, keys: pa.ChunkedArray, rows: pa.ChunkedArray) -> None:
        super().__init__(keys, rows)


class SortedTuples(MutableSet[Any]):
    """A set of tuples (or, ``with_value``, a mapping of tuple keys: ``get``, ``[]``) read from a
    table sorted by the tuples' parts, with what is added afterwards held over it."""

    def __init__(self, table: pa.Table, *, with_value: bool) -> None:
        self._keys = Sorted(table.column("key"), table.column("value"))
        self._with_value = with_value
        self._new: dict[Any, Any] = {}
        self._grown = 0

    def _at(self, key: Any) -> int:
        if not isinstance(key, tuple):
            return -1
        try:
            return self._keys._at(_written_key(key))
        except TypeError:  # a part that is neither text nor a whole number
            return -1

    def __contains__(self, key: object) -> bool:
        return key in self._new or self._at(key) >= 0

    def add(self, key: Any) -> None:
        self[key] = True

    def discard(self, key: Any) -> None:
        raise TypeError("the resolver's saved lookups are not deleted from")

    def get(self, key: Any, default: Any = None) -> Any:
        if key in self._new:
            return self._new[key]
        i = self._at(key)
        if i < 0:
            return default
        return self._keys._values[i] if self._with_value else True

    def __getitem__(self, key: Any) -> Any:
        found = self.get(key, _MISSING)
        if found is _MISSING:
            raise KeyError(key)
        return found

    def __setitem__(self, key: Any, value: Any) -> None:
        if key not in self._new and self._at(key) < 0:
            self._grown += 1
        self._new[key] = value

    def __len__(self) -> int:
        return len(self._keys._keys) + self._grown

    def __iter__(self) -> Iterator[Any]:
        yield from (tuple(json.loads(k)) for k in self._keys._keys._column.to_pylist())
        yield from (k for k in self._new if self._at(k) < 0)

    def items(self) -> Iterator[tuple[Any, Any]]:  # type: ignore[override]
        values = self._keys._values._column.to_pylist()
        for text, value in zip(self._keys._keys._column.to_pylist(), values, strict=True):
            key = tuple(json.loads(text))
            yield key, self._new.get(key, value)
        yield from ((k, v) for k, v in self._new.items() if self._at(k) < 0)


_MISSING: Final = object()


class Households(Mapping[int, dict[str, Any]]):
    """Household code -> its members (record id -> folded name), read where asked; members
    added afterwards are held over the table (``setdefault``)."""

    def __init__(self, table: pa.Table) -> None:
        self._codes = _Values(table.column("household"))
        self._ids = table.column("record_id")
        self._names = table.column("name")
        self._new: dict[int, dict[str, Any]] = {}
        self._count: int | None = None

    def get(self, code: Any, default: Any = None) -> Any:
        if code in self._new:
            return self._new[code]
        start, stop = self._codes.span(code)
        if start == stop:
            return default
        ids = self._ids.slice(start, stop - start).to_pylist()
        names = self._names.slice(start, stop - start).to_pylist()
        return dict(zip(ids, names, strict=True))

    def __getitem__(self, code: Any) -> dict[str, Any]:
        found = self.get(code)
        if found is None:
            raise KeyError(code)
        return found

    def setdefault(self, code: Any, default: Any = None) -> Any:
        if code not in self._new:
            self._new[code] = self.get(code, default if default is not None else {})
        return self._new[code]

    def __contains__(self, code: object) -> bool:
        return code in self._new or self._codes.find(code) >= 0

    def __len__(self) -> int:
        if self._count is None:
            self._count = len(pc.unique(self._codes._column))
        return self._count + sum(1 for c in self._new if self._codes.find(c) < 0)

    def __iter__(self) -> Iterator[int]:
        yield from pc.unique(self._codes._column).to_pylist()
        yield from (c for c in self._new if self._codes.find(c) < 0)


class PersonRows(Mapping[str, list[int]]):
    """Person ID -> its rows, read from ``persons.arrow``; rows added afterwards are held over
    the tables (``setdefault(...).append``)."""

    def __init__(
        self, persons: pa.ChunkedArray, starts: np.ndarray, stops: np.ndarray, rows: np.ndarray
    ) -> None:
        self._persons = _Values(persons)
        self._starts, self._stops, self._rows = starts, stops, rows
        self._new: dict[str, list[int]] = {}

    def get(self, person: Any, default: Any = None) -> Any:
        if person in self._new:
            return self._new[person]
        i = self._persons.find(person)
        if i < 0:
            return default
        return sorted(self._rows[self._starts[i] : self._stops[i]].tolist())

    def __getitem__(self, person: Any) -> list[int]:
        found = self.get(person)
        if found is None:
            raise KeyError(person)
        return found

    def setdefault(self, person: Any, default: Any = None) -> Any:
        if person not in self._new:
            self._new[person] = self.get(person, default if default is not None else [])
        return self._new[person]

    def pop(self, person: Any, default: Any = None) -> Any:
        """Forget the rows held over the tables for ``person`` (a person the tables do not hold
        is then unknown again)."""
        return self._new.pop(person, default)

    def __contains__(self, person: object) -> bool:
        return person in self._new or self._persons.find(person) >= 0

    def __len__(self) -> int:
        return len(self._persons) + sum(1 for p in self._new if self._persons.find(p) < 0)

    def __iter__(self) -> Iterator[str]:
        yield from self._persons._column.to_pylist()
        yield from (p for p in self._new if self._persons.find(p) < 0)
