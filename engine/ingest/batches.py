"""A chunk's rows on their way into the record store: the batch ingest stages, and what the store
writes of it (the ``records`` rows of its new versions, and the Arrow rows of its snapshot delta).

Ingest reads and cleans a file in a process of its own (:mod:`engine.ingest.run`) while the store
writes in the ingest's process, and the store's writes are what an ingest waits on. So the rows
are made where the batch is made (:func:`prepare_batch`): as version 1 of each record, which is
what almost every row of an ingest is; the store changes the version of the few rows that are
new versions of known records, and leaves out the unchanged ones.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from engine.record import CANONICAL_FIELDS, FIELD_KINDS

if TYPE_CHECKING:
    import pyarrow as pa

logger = logging.getLogger(__name__)

#: canonical fields stored per version (``source`` and ``record_id`` are the key).
VALUE_FIELDS: Final = tuple(f for f in CANONICAL_FIELDS if f not in ("source", "record_id"))
INTEGER_FIELDS: Final = frozenset(f for f, k in FIELD_KINDS.items() if k in ("year", "age"))
REAL_FIELDS: Final = frozenset(f for f, k in FIELD_KINDS.items() if k == "number")
#: fields whose raw source value is kept, in ``raw_<field>`` columns.
RAW_FIELDS: Final = tuple(f for f in VALUE_FIELDS if f != "kind")
#: the DataFrame :meth:`RecordStore.current` returns has these columns, in this order.
CURRENT_COLUMNS: Final = (*CANONICAL_FIELDS, "version", "invalid_fields")
#: where ``version`` is in the rows :func:`version_rows` gives
_VERSION: Final = 2
#: a snapshot delta is written in row groups of this many rows (:class:`DeltaFile`)
DELTA_ROWS: Final = 65_536


@dataclass(slots=True)
class StagedBatch:
    """Cleaned rows on their way into the store, column-wise (made by ingest).

    Attributes
    ----------
    record_ids, rows, hashes : per row: record id, source row number, content hash.
    values : one list per field of :data:`VALUE_FIELDS`, aligned with ``record_ids``.
    raw : field -> the raw strings it was cleaned from (column-fed fields only).
    invalid : per row, ``{field: reason}`` for the fields found invalid, or ``None``.
    """

    record_ids: list[str]
    rows: list[int]
    hashes: list[str]
    values: list[list[Any]]
    raw: dict[str, list[str | None]]
    invalid: list[dict[str, str] | None]

    def __len__(self) -> int:
        return len(self.record_ids)


@dataclass(slots=True)
class PreparedBatch:
    """A :class:`StagedBatch` of one ingest run made into the ``records`` rows the store writes:
    ``insert``, the ``columns`` it binds and their values (``versions``), each row as version 1.
    The snapshot delta's rows are made from them by the process that writes
    (:func:`delta_rows`), which waits more than the one that reads and cleans: the reading
    process was the slower of the two for every file of the million-person world (its CPU
    time 1.25 to 1.6 times the writing process's).

    The rows are kept column by column: a batch is handed from the reading process to the one
    that writes, and a list of columns pickles and unpickles in about half the time of a list
    of row tuples (the tuples are made by :func:`version_rows`, in the writing process)."""

    source: str
    ingest_id: int
    record_ids: list[str]
    hashes: list[str]
    insert: str
    columns: tuple[str, ...]
    versions: list[list[Any]]

    def __len__(self) -> int:
        return len(self.record_ids)


def _q(name: str) -> str:
    return f'"{name}"'


def prepare_batch(batch: StagedBatch, source: str, ingest_id: int) -> PreparedBatch:
    """``batch``'s rows as the store writes them for run ``ingest_id`` of ``source``."""
    everything = list(range(len(batch)))
    insert, columns = _staged_columns(source, ingest_id, batch, everything, [1] * len(batch))
    return PreparedBatch(
        source,
        ingest_id,
        batch.record_ids,
        batch.hashes,
        insert,
        tuple(columns),
        list(columns.values()),
    )


def version_rows(
    source: str,
    ingest_id: int,
    batch: StagedBatch | PreparedBatch,
    written: list[int],
    versions: list[int],
) -> tuple[str, list[tuple[Any, ...]]]:
    """The INSERT of a chunk's new versions (rows ``written`` of ``batch``, as ``versions``) and
    its rows. Only the columns holding a value in some row are bound: a source fills a third of
    the record's fields, and binding the NULLs of the others cost two thirds of the insert (a
    column left out is NULL all the same)."""
    if isinstance(batch, StagedBatch):
        return _staged_rows(source, ingest_id, batch, written, versions)
    if (batch.source, batch.ingest_id) != (source, ingest_id):
        raise ValueError(f"a batch of {batch.source!r} run {batch.ingest_id}, not of {ingest_id}")
    columns = batch.versions
    if len(written) < len(batch):
        columns = [[column[j] for j in written] for column in columns]
    if versions.count(1) < len(versions):
        columns = [*columns[:_VERSION], versions, *columns[_VERSION + 1 :]]
    return batch.insert, list(zip(*columns, strict=True))


def delta_rows(
    source: str, batch: StagedBatch | PreparedBatch, written: list[int], versions: list[int]
) -> pa.RecordBatch:
    """The snapshot rows (:data:`CURRENT_COLUMNS`) of a chunk's new versions."""
    if isinstance(batch, StagedBatch):
        return _delta_rows(source, batch, written, versions)
    if batch.source != source:
        raise ValueError(f"a batch of {batch.source!r}, not of {source!r}")
    bound = dict(zip(batch.columns, batch.versions, strict=True))
    everything = len(written) == len(batch)
    pick = (lambda col: col) if everything else (lambda col: [col[j] for j in written])
    # a value field the insert leaves out holds nothing in any row of the chunk
    nothing = [None] * len(written)
    return _arrow_rows(
        [
            [source] * len(written),
            pick(batch.record_ids),
            *(pick(bound[f]) if f in bound else nothing for f in VALUE_FIELDS),
            versions,
            pick(bound["invalid_fields"]),
        ]
    )


def _staged_rows(
    source: str, ingest_id: int, batch: StagedBatch, written: list[int], versions: list[int]
) -> tuple[str, list[tuple[Any, ...]]]:
    insert, columns = _staged_columns(source, ingest_id, batch, written, versions)
    return insert, list(zip(*columns.values(), strict=True))


def _staged_columns(
    source: str, ingest_id: int, batch: StagedBatch, written: list[int], versions: list[int]
) -> tuple[str, dict[str, list[Any]]]:
    """The INSERT of rows ``written`` of ``batch`` (as ``versions``) and the columns it binds,
    by name."""
    everything = len(written) == len(batch)
    pick = (lambda col: col) if everything else (lambda col: [col[j] for j in written])
    invalid = pick(batch.invalid)
    columns: dict[str, list[Any]] = {
        "source": [source] * len(written),
        "record_id": pick(batch.record_ids),
        "version": versions,
        "is_current": [1] * len(written),
        "content_hash": pick(batch.hashes),
        "ingest_id": [ingest_id] * len(written),
        "row_number": pick(batch.rows),
        "invalid_fields": [",".join(sorted(i)) if i else None for i in invalid],
        "invalid_reasons": [json.dumps(i, ensure_ascii=False) if i else None for i in invalid],
    }
    values = zip(VALUE_FIELDS, batch.values, strict=True)
    raws = ((f"raw_{f}", batch.raw[f]) for f in RAW_FIELDS if f in batch.raw)
    for name, column in (*values, *raws):
        if column.count(None) < len(column):  # (a list: counted in C, not one step a cell)
            columns[name] = pick(column)
    insert = (
        f"INSERT INTO records ({', '.join(_q(c) for c in columns)}) "
        f"VALUES ({', '.join('?' for _ in columns)})"
    )
    return insert, columns


def _delta_rows(
    source: str, batch: StagedBatch, written: list[int], versions: list[int]
) -> pa.RecordBatch:
    everything = len(written) == len(batch)
    pick = (lambda col: col) if everything else (lambda col: [col[j] for j in written])
    invalid = pick(batch.invalid)
    return _arrow_rows(
        [
            [source] * len(written),
            pick(batch.record_ids),
            *(pick(col) for col in batch.values),
            versions,
            [",".join(sorted(i)) if i else None for i in invalid],
        ]
    )


def _arrow_rows(columns: list[list[Any]]) -> pa.RecordBatch:
    """Snapshot rows from their columns (:data:`CURRENT_COLUMNS`)."""
    import pyarrow as pa

    schema = arrow_schema()
    return pa.record_batch(
        [arrow_array(c, f.type) for c, f in zip(columns, schema, strict=True)], schema=schema
    )


def arrow_array(values: Sequence[Any], arrow_type: pa.DataType) -> pa.Array:
    """An Arrow array of one column; a value that does not fit the type becomes null (logged)."""
    import pyarrow as pa

    try:
        return pa.array(values, type=arrow_type)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, OverflowError):
        python_type = {pa.int64(): int, pa.float64(): float}.get(arrow_type, str)
        fixed = []
        for value in values:
            try:
                fixed.append(None if value is None else python_type(value))
            except (TypeError, ValueError, OverflowError):
                logger.warning(
                    "value %r is no %s; stored as null in the snapshot", value, arrow_type
                )
                fixed.append(None)
        return pa.array(fixed, type=arrow_type)


def arrow_schema() -> pa.Schema:
    """The schema of the snapshot rows: :data:`CURRENT_COLUMNS`, typed."""
    import pyarrow as pa

    def arrow_type(name: str) -> pa.DataType:
        if name in INTEGER_FIELDS or name == "version":
            return pa.int64()
        if name in REAL_FIELDS:
            return pa.float64()
        return pa.string()

    return pa.schema([pa.field(name, arrow_type(name)) for name in CURRENT_COLUMNS])


class DeltaFile:
    """A run's snapshot delta: the versions it wrote, a Parquet file at ``path`` written in row
    groups of :data:`DELTA_ROWS` rows (the last may hold fewer), the rows waiting in memory
    until then (some 20 MB of Arrow at most). A row group of each chunk cost some 6 ms a chunk
    (2.5 ms of it the interpreter's) in the process that stores them, 15 times in a file of
    16,596 rows (its last chunks hold 1,000 rows each)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._writer: Any = None
        self._waiting: list[pa.RecordBatch] = []

    def add(self, rows: pa.RecordBatch) -> None:
        self._waiting.append(rows)
        if sum(b.num_rows for b in self._waiting) >= DELTA_ROWS:
            self._write()

    def close(self, metadata: dict[str, str] | None = None) -> Path:
        """Write the rows still waiting and close the file, with ``metadata``; its path."""
        self._write()
        if metadata:
            self._writer.add_key_value_metadata(metadata)
        self._writer.close()
        return self.path

    def drop(self) -> None:
        """Close the file and delete it."""
        self._waiting = []
        try:
            if self._writer is not None:
                self._writer.close()
        finally:
            self.path.unlink(missing_ok=True)

    def _write(self) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        if self._writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._writer = pq.ParquetWriter(self.path, arrow_schema())
        if self._waiting:
            table = pa.Table.from_batches(self._waiting, schema=arrow_schema())
            self._waiting = []
            self._writer.write_table(table, row_group_size=table.num_rows)
