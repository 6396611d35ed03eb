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
    """A :class:`StagedBatch` of one ingest run made into what the store writes: the ``records``
    rows (``insert`` and the columns it binds, ``versions``, each row as version 1) and the
    snapshot delta's rows (``delta``, each as version 1; ``None`` if they could not be made, and
    the snapshot is then rebuilt from the database).

    The rows are kept column by column: a batch is handed from the reading process to the one
    that writes, and a list of columns pickles and unpickles in about half the time of a list
    of row tuples (the tuples are made by :func:`version_rows`, in the writing process)."""

    source: str
    ingest_id: int
    record_ids: list[str]
    hashes: list[str]
    insert: str
    versions: list[list[Any]]
    delta: pa.RecordBatch | None

    def __len__(self) -> int:
        return len(self.record_ids)


def _q(name: str) -> str:
    return f'"{name}"'


def prepare_batch(batch: StagedBatch, source: str, ingest_id: int) -> PreparedBatch:
    """``batch``'s rows as the store writes them for run ``ingest_id`` of ``source``."""
    everything = list(range(len(batch)))
    insert, columns = _staged_columns(source, ingest_id, batch, everything, [1] * len(batch))
    try:
        delta = _delta_rows(source, batch, everything, [1] * len(batch))
    except Exception:  # the snapshot is a cache: rebuilt from the database instead
        logger.exception("could not make the snapshot rows of %s; it will be rebuilt", source)
        delta = None
    return PreparedBatch(source, ingest_id, batch.record_ids, batch.hashes, insert, columns, delta)


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
    """The snapshot rows (:data:`CURRENT_COLUMNS`) of a chunk's new versions.

    Raises
    ------
    ValueError
        If the batch's snapshot rows could not be made (:func:`prepare_batch`).
    """
    import pyarrow as pa

    if isinstance(batch, StagedBatch):
        return _delta_rows(source, batch, written, versions)
    if batch.delta is None:
        raise ValueError(f"no snapshot rows were made for this chunk of {source!r}")
    if len(written) == len(batch) and versions.count(1) == len(versions):
        return batch.delta
    taken = batch.delta.take(pa.array(written, type=pa.int64()))
    at = CURRENT_COLUMNS.index("version")
    return taken.set_column(at, "version", pa.array(versions, type=pa.int64()))


def _staged_rows(
    source: str, ingest_id: int, batch: StagedBatch, written: list[int], versions: list[int]
) -> tuple[str, list[tuple[Any, ...]]]:
    insert, columns = _staged_columns(source, ingest_id, batch, written, versions)
    return insert, list(zip(*columns, strict=True))


def _staged_columns(
    source: str, ingest_id: int, batch: StagedBatch, written: list[int], versions: list[int]
) -> tuple[str, list[list[Any]]]:
    """The INSERT of rows ``written`` of ``batch`` (as ``versions``) and the columns it binds."""
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
    return insert, list(columns.values())


def _delta_rows(
    source: str, batch: StagedBatch, written: list[int], versions: list[int]
) -> pa.RecordBatch:
    import pyarrow as pa

    schema = arrow_schema()
    everything = len(written) == len(batch)
    pick = (lambda col: col) if everything else (lambda col: [col[j] for j in written])
    invalid = pick(batch.invalid)
    columns = [
        [source] * len(written),
        pick(batch.record_ids),
        *(pick(col) for col in batch.values),
        versions,
        [",".join(sorted(i)) if i else None for i in invalid],
    ]
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
