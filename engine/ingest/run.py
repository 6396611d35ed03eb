"""Ingest: read a source file through its mapping, clean every field, and store versioned records.

Nothing is lost on the way:

- a row that cannot be read as a record (invalid bytes, too few / too many columns, a JSONL line
  that is no object, an empty record id, a record id already seen earlier in the same file) is
  **quarantined** with its row number and reason; the rows beside it are ingested;
- a readable row with a bad field keeps its raw value, the field is marked invalid (its cleaned
  value is ``None``) and a **field warning** names the row, field, value and reason.

A record id repeated within one file: the first row wins, every repeat is quarantined with a reason
naming the first row (``record_id 'X' repeats row 12``), so no row silently overwrites another.

Fields are cleaned column-wise over the unique values of each chunk (names, districts and dates
repeat a lot), with a cache carried across chunks (:mod:`engine.ingest.cleaner`). Gender and
other facts are never inferred: a record holds what its source said.
"""

from __future__ import annotations

import csv
import functools
import gc
import hashlib
import itertools
import logging
import multiprocessing
import os
import pickle
import queue
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from dataclasses import field as dataclass_field
from pathlib import Path
from typing import Any, Final

from engine.errors import EkjonError, InvalidValue, MappingError, UnreadableRecord
from engine.home import Home
from engine.ingest.batches import PreparedBatch, prepare_batch
from engine.ingest.cleaner import IDENTIFIERS, Cleaner
from engine.ingest.files import SourceFile, pair_files
from engine.ingest.mapping import Mapping
from engine.ingest.readers import DEFAULT_CHUNK_ROWS, BadRow, Chunk, SourceReader, open_source
from engine.ingest.store import (
    VALUE_FIELDS,
    IngestRun,
    Problem,
    RecordStore,
    StagedBatch,
    UnfinishedIngest,
    source_file_name,
)
from engine.normalise import clean
from engine.normalise.dates import age_from_date_column
from engine.normalise.fields import (
    clean_key,
    relation_for_gender,
)
from engine.record import FIELD_KINDS, LATER_FIELDS, REQUIRED_FIELDS
from engine.workers import die_with_parent

logger = logging.getLogger(__name__)

#: composite record ids join their columns with this.
RECORD_ID_SEPARATOR: Final = ":"
REPORT_COLUMNS: Final = ("row", "record_id", "field", "value", "reason")
#: positions in :data:`VALUE_FIELDS` of the fields always hashed, and of the later ones (with
#: their names: :data:`engine.record.LATER_FIELDS`)
HASHED_VALUES: Final = tuple(i for i, f in enumerate(VALUE_FIELDS) if f not in LATER_FIELDS)
LATER_VALUES: Final = tuple((i, f) for i, f in enumerate(VALUE_FIELDS) if f in LATER_FIELDS)
#: files from this size on are read and cleaned in a process of their own (``parallel``)
_PARALLEL_BYTES: Final = 1 << 20


@dataclass(frozen=True, slots=True)
class IngestProgress:
    """Where an ingest is: rows read so far, and ``position`` of ``total`` (bytes, or rows)."""

    rows_read: int
    position: int
    total: int


ProgressCallback = Callable[[IngestProgress], None]


@dataclass(frozen=True)
class IngestReport:
    """What one ingest did.

    Attributes
    ----------
    rows_read : data rows read (readable or not; blank lines are not rows).
    ingested : records new to the store.
    unchanged : rows identical to their record's current version (nothing written).
    new_versions : rows that changed a known record: a new version, the old one kept.
    quarantined : rows not ingested (see ``quarantine_report``).
    field_warnings : invalid fields in ingested rows (see ``warnings_report``).
    quarantine_report, warnings_report : CSV reports (``row, record_id, field, value, reason``),
        or ``None`` when there was nothing to report.
    resumed : whether this run completed an earlier, interrupted run of the same file.
    """

    source: str
    file: str
    ingest_id: int
    rows_read: int
    ingested: int
    unchanged: int
    new_versions: int
    quarantined: int
    field_warnings: int
    quarantine_report: Path | None
    warnings_report: Path | None
    resumed: bool = False
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data (paths as strings)."""
        out = asdict(self)
        for key in ("quarantine_report", "warnings_report"):
            out[key] = None if out[key] is None else str(out[key])
        return out


def ingest_file(
    store: RecordStore,
    mapping: Mapping,
    path: Path | str,
    *,
    progress: ProgressCallback | None = None,
    reports_dir: Path | str | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    parallel: bool | None = None,
) -> IngestReport:
    """Ingest one source file into the store through its mapping.

    Parameters
    ----------
    store : the record store to write to.
    mapping : the source's mapping (see :func:`engine.ingest.mapping.load_mapping`).
    path : the data file (CSV, Parquet or JSONL).
    progress : called after each chunk with an :class:`IngestProgress`.
    reports_dir : where the quarantine and field-warning CSVs go; default ``reports/`` beside the
        store's database (``$EKJON_HOME/reports``).
    chunk_rows : rows per chunk at most (the first and last are smaller:
        :meth:`~engine.ingest.readers.SourceReader.chunk_limit`); each chunk is committed in one
        transaction.
    parallel : read and clean the file in a process of its own while this one stores it (two
        cores at work); default: for files of 1 MB and more, called from the main thread,
        where the system can fork.

    Returns
    -------
    IngestReport

    Raises
    ------
    engine.ingest.readers.SourceFileError
        If the file is missing, unreadable as a whole, or lacks a mapped column (nothing is
        written).
    MappingError
        If the file's format cannot be told, or a constant ``value`` in the mapping is invalid.
    engine.ingest.processes.SourceBusy
        If another process is ingesting the same source now (nothing is written).
    """
    with _objects_before_frozen():
        return _ingest_file(
            store,
            mapping,
            path,
            progress=progress,
            reports_dir=reports_dir,
            chunk_rows=chunk_rows,
            parallel=parallel,
        )


@contextmanager
def _objects_before_frozen() -> Iterator[None]:
    """Keep the objects alive before an ingest out of the garbage collector's full collections
    during it (:func:`gc.freeze`). A process that imported ekjon holds some 65,000 objects,
    more after other work; an ingest makes many lists and tuples that live a while (a chunk's
    cells), so full collections come every few chunks, and each walked every old object again
    (15-60 ms each, 100-190 ms at times, on 2 busy cores): a file of a few thousand rows took
    half as long again when one fell in it. In the reading process, forked from this one, a
    collection also copied every page it walked. The objects are thawed after the ingest,
    so what becomes garbage among them is collected later as before."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _ingest_file(
    store: RecordStore,
    mapping: Mapping,
    path: Path | str,
    *,
    progress: ProgressCallback | None,
    reports_dir: Path | str | None,
    chunk_rows: int,
    parallel: bool | None,
) -> IngestReport:
    started = time.perf_counter()
    path = Path(path).resolve()
    if parallel is None:
        parallel = path.is_file() and path.stat().st_size >= _PARALLEL_BYTES and _can_fork()
    reader = open_source(
        path,
        file_format=mapping.file_format(path),
        options=mapping.file,
        columns=mapping.columns,
        chunk_rows=chunk_rows,
        while_storing=parallel,
    )
    cleaner = Cleaner(mapping)
    # one process at a time per source: two files of one source ingested at once would
    # interleave their versions
    with store.source_lock(mapping.source, str(path)):
        run = store.begin_ingest(
            source=mapping.source,
            kind=mapping.kind,
            file=str(path),
            file_sha256=file_sha256(path),
            file_size=path.stat().st_size,
            mapping=mapping.to_dict(),
            mapping_sha256=mapping.digest(),
        )
        total = reader.total
        done = run.rows_done  # rows up to here were committed by an earlier, killed run
        staged = _staged(reader, mapping, cleaner, done, run.ingest_id)
        committer = _Committer()
        try:
            try:
                for item in _from_worker(staged) if parallel else staged:
                    if item.batch is not None:
                        committer.submit(_commit(store, run, item))
                    if progress is not None:
                        committer.submit(_progress(progress, run, item.position, total))
            finally:
                committer.close()  # every chunk read is committed (or the commit failed)
            committer.check()
        except (KeyboardInterrupt, SystemExit):
            raise  # left "running": the next run of the same file resumes it
        except BaseException as exc:
            store.fail_ingest(run, f"{type(exc).__name__}: {exc}")
            raise

        reports = (
            Path(reports_dir) if reports_dir is not None else Home.of(store.path.parent).reports
        )
        quarantine_report = _write_report(store, run, "quarantine", reports)
        warnings_report = _write_report(store, run, "warnings", reports)
        store.finish_ingest(
            run,
            quarantine_report=None if quarantine_report is None else str(quarantine_report),
            warnings_report=None if warnings_report is None else str(warnings_report),
        )
    report = IngestReport(
        source=mapping.source,
        file=str(path),
        ingest_id=run.ingest_id,
        rows_read=run.rows_read,
        ingested=run.ingested,
        unchanged=run.unchanged,
        new_versions=run.new_versions,
        quarantined=run.quarantined,
        field_warnings=run.field_warnings,
        quarantine_report=quarantine_report,
        warnings_report=warnings_report,
        resumed=run.resumed,
        seconds=round(time.perf_counter() - started, 3),
    )
    logger.info(
        "ingested %s: %d rows read, %d new, %d unchanged, %d new versions, %d quarantined, "
        "%d field warnings",
        path.name,
        report.rows_read,
        report.ingested,
        report.unchanged,
        report.new_versions,
        report.quarantined,
        report.field_warnings,
    )
    return report


def clean_record(raw: dict[str, Any]) -> tuple[dict[str, Any], list[InvalidValue]]:
    """One record given by canonical field name (e.g. one JSON object), cleaned field by field
    as ingest cleans a row: the cleaned values, and the fields that could not be read (left out).

    A record with an ``age_as_of`` may give an age in its ``date_of_birth`` (``58y``), read as a
    date column with ``age_as_of`` reads it: the record's age, unless it gives one.

    Raises
    ------
    UnreadableRecord
        If a field name is not canonical or ``source`` / ``record_id`` is empty (every problem
        named in one message).
    """
    unknown = sorted(set(raw) - set(FIELD_KINDS))
    missing = [f for f in REQUIRED_FIELDS if not str(raw.get(f) or "").strip()]
    if unknown or missing:
        problems = [f"unknown field {name!r}" for name in unknown]
        problems += [f"required field {name!r} is empty" for name in missing]
        raise UnreadableRecord("; ".join(problems))
    cleaned: dict[str, Any] = {}
    warnings: list[InvalidValue] = []
    # a record that says when its age was true may give that age in its date of birth, as a
    # column with age_as_of may (the date is cleaned first)
    names = sorted(raw, key=lambda name: name != "age_as_of")
    for name in names:
        hints: dict[str, Any] = {"field": name}
        if name == "date_of_birth" and cleaned.get("age_as_of") is not None:
            hints["age_as_of"] = cleaned["age_as_of"]
        try:
            cleaned[name] = clean(FIELD_KINDS[name], raw[name], **hints)
        except InvalidValue as problem:
            warnings.append(problem)
    if cleaned.get("relation_to_head") is not None:
        cleaned["relation_to_head"] = relation_for_gender(
            cleaned["relation_to_head"], cleaned.get("gender")
        )
    if isinstance(cleaned.get("date_of_birth"), int):
        cleaned["age"], cleaned["age_as_of"] = age_from_date_column(
            cleaned.get("age"), cleaned["age_as_of"], cleaned["date_of_birth"], cleaned["age_as_of"]
        )
        cleaned["date_of_birth"] = None
    in_order = {name: cleaned[name] for name in raw if name in cleaned}
    return {**in_order, **cleaned}, warnings


class PartialSources(EkjonError):
    """A source's records are only partly in the store (an ingest killed, failed part-way or
    still running), so resolving now would resolve part of it as if it were all."""

    def __init__(self, unfinished: list[UnfinishedIngest]) -> None:
        self.unfinished = unfinished
        super().__init__(
            "; ".join(str(u) for u in unfinished)
            + ". Resolving now would treat the rows ingested so far as the whole source; "
            "finish the ingest first, or resolve anyway with --allow-partial."
        )


def check_whole_sources(store: RecordStore, *, allow_partial: bool = False) -> list[str]:
    """Make sure no source is partly ingested before its records are resolved.

    Returns
    -------
    list[str]
        With ``allow_partial``, one warning per partly ingested source (empty when all are
        whole).

    Raises
    ------
    PartialSources
        Without ``allow_partial``, if an ingest of some source was killed, failed part-way or is
        running now (:meth:`RecordStore.unfinished_ingests`); the message names each source, its
        file and how to finish it.
    """
    unfinished = store.unfinished_ingests()
    if unfinished and not allow_partial:
        raise PartialSources(unfinished)
    return [f"{u}; resolved with its rows so far (--allow-partial)" for u in unfinished]


def ingest_folder(
    store: RecordStore,
    folder: Path | str,
    *,
    reports_dir: Path | str | None = None,
    starting: Callable[[SourceFile], None] | None = None,
) -> list[IngestReport]:
    """Ingest every data file of ``folder`` that has a mapping beside it (:func:`pair_files`),
    e.g. the folder ``ekjon synth`` wrote; ``starting`` is called with each file before it is read.

    Raises
    ------
    MappingError
        If the folder holds no data file with a mapping beside it, or a mapping is invalid.
    engine.ingest.readers.SourceFileError
        If a data file cannot be read as a whole.
    """
    plan = pair_files([Path(folder)])
    if plan.problems:
        raise MappingError(plan.problems[0]["error"])
    mappings = [(source, source.load_mapping()) for source in plan.files]
    planned = store.plan_ingests([(m.source, str(f.data)) for f, m in mappings])
    reports = []
    for source, mapping in mappings:
        if starting is not None:
            starting(source)
        reports.append(ingest_file(store, mapping, source.data, reports_dir=reports_dir))
    store.finish_plan(planned)
    return reports


def file_sha256(path: Path | str) -> str:
    """The sha256 of a file's bytes (identifies a file across re-runs and renames)."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def record_id_of(values: list[str | None]) -> str | None:
    """The record id from its column values, each folded as identifiers are (stripped, control
    characters dropped, Bangla digits read as ASCII: :func:`engine.normalise.fields.clean_key`)
    and ``:``-joined; ``None`` if one is empty."""
    parts = []
    for value in values:
        if value is None:
            return None
        # most ids are plain ASCII, which folds to itself: only strip those (the fast path)
        value = value.strip() if value.isascii() and value.isprintable() else clean_key(value)
        if not value:
            return None
        parts.append(value)
    return RECORD_ID_SEPARATOR.join(parts)


def _record_ids(columns: list[list[str | None]]) -> list[str | None]:
    """:func:`record_id_of` of each row of ``columns``; a one-column id in one pass."""
    if len(columns) != 1:
        return [record_id_of(list(parts)) for parts in zip(*columns, strict=True)]
    return [
        None
        if value is None
        else (value.strip() if value.isascii() and value.isprintable() else clean_key(value))
        or None
        for value in columns[0]
    ]


# -- one chunk ---------------------------------------------------------------------------------


def _remember_ids(mapping: Mapping, chunk: Chunk, seen: dict[str, int]) -> None:
    id_columns = [chunk.columns[c] for c in mapping.record_id]
    for i, row in enumerate(chunk.rows):
        record_id = record_id_of([col[i] for col in id_columns])
        if record_id is not None:
            seen.setdefault(record_id, row)


@dataclass(slots=True)
class _Staged:
    """A chunk read, cleaned and hashed: what its commit writes (``batch`` ``None``: a chunk an
    earlier, killed run committed), and how far into the file it ends."""

    position: int
    batch: PreparedBatch | None = None
    quarantine: list[Problem] = dataclass_field(default_factory=list)
    warnings: list[Problem] = dataclass_field(default_factory=list)
    rows_done: int = 0
    rows_read: int = 0


def _staged(
    reader: SourceReader, mapping: Mapping, cleaner: Cleaner, done: int, ingest_id: int
) -> Iterator[_Staged]:
    """The file's chunks, staged in file order for run ``ingest_id``; those up to row ``done``
    only remembered."""
    seen: dict[str, int] = {}
    for chunk in reader.chunks():
        if chunk.last_row <= done:
            # committed by an earlier run: only remember its record ids
            _remember_ids(mapping, chunk, seen)
            yield _Staged(chunk.position)
        else:
            yield _stage_chunk(mapping, cleaner, chunk, seen, done, ingest_id)


def _commit(store: RecordStore, run: IngestRun, item: _Staged) -> Callable[[], object]:
    assert item.batch is not None
    return functools.partial(
        store.commit_chunk,
        run,
        item.batch,
        quarantine=item.quarantine,
        warnings=item.warnings,
        rows_done=item.rows_done,
        rows_read=item.rows_read,
    )


def _stage_chunk(
    mapping: Mapping,
    cleaner: Cleaner,
    chunk: Chunk,
    seen: dict[str, int],
    done: int,
    ingest_id: int,
) -> _Staged:
    """A chunk read, cleaned and hashed, and made into the rows run ``ingest_id`` writes
    (:func:`engine.ingest.batches.prepare_batch`: here, in the reading process when there is one,
    rather than in the thread that writes)."""
    quarantine = [_unreadable(mapping, bad) for bad in chunk.unreadable if bad.row > done]
    rows_read = len(quarantine)

    # Which readable rows become records: a record id, and the first time this file names it.
    id_columns = [chunk.columns[c] for c in mapping.record_id]
    keep: list[int] = []
    record_ids: list[str] = []
    for i, (row, record_id) in enumerate(zip(chunk.rows, _record_ids(id_columns), strict=True)):
        if row <= done:
            if record_id is not None:
                seen.setdefault(record_id, row)
            continue
        rows_read += 1
        nested = chunk.nested and [
            (c, chunk.nested[c][i]) for c in mapping.record_id if i in chunk.nested.get(c, {})
        ]
        if nested:
            column, what = nested[0]
            quarantine.append(
                Problem(
                    row,
                    None,
                    "record_id",
                    chunk.columns[column][i],
                    f"record_id column {column!r} holds {what}, not one value",
                )
            )
            continue
        if record_id is None:
            parts = [col[i] for col in id_columns]
            empty = [
                c for c, v in zip(mapping.record_id, parts, strict=True) if not clean_key(v or "")
            ]
            quarantine.append(
                Problem(
                    row,
                    None,
                    "record_id",
                    RECORD_ID_SEPARATOR.join(v or "" for v in parts),
                    f"empty record_id (column {', '.join(repr(c) for c in empty)})",
                )
            )
            continue
        first = seen.get(record_id)
        if first is not None:
            quarantine.append(
                Problem(
                    row,
                    record_id,
                    "record_id",
                    record_id,
                    f"record_id {record_id!r} repeats row {first}; the first row is kept",
                )
            )
            continue
        seen[record_id] = row
        keep.append(i)
        record_ids.append(record_id)

    cleaned, raw, invalid = cleaner.clean_chunk(chunk, keep)
    if chunk.nested:
        _refuse_nested(mapping, chunk, keep, cleaned, invalid)
    rows = [chunk.rows[i] for i in keep]
    invalid_by_row: list[dict[str, str] | None] = [None] * len(keep)
    warnings: list[Problem] = []
    for field, reasons in invalid.items():
        raw_values = raw[field]
        for j, reason in enumerate(reasons):
            if reason is not None:
                invalid_by_row[j] = {**(invalid_by_row[j] or {}), field: reason}
                warnings.append(Problem(rows[j], record_ids[j], field, raw_values[j], reason))
    warnings.sort(key=lambda p: p.row)
    # The content hash covers the cleaned values and the raw ones: a changed source value is a
    # new version even where it cleans alike, and so is a value a newer normaliser cleans anew.
    # Fields newer than a store count only where a row has them, so a row ingested again hashes
    # as it did before them (hashed_values).
    if all(v is None for i, _ in LATER_VALUES for v in cleaned[i]):  # most chunks: column-wise
        base = [cleaned[i] for i in HASHED_VALUES]
        hashes = [_content_hash(cells) for cells in zip(*base, *raw.values(), strict=True)]
    else:
        raw_rows = zip(*raw.values(), strict=True) if raw else itertools.repeat((), len(keep))
        hashes = [
            _content_hash(hashed_values(values) + raw_cells)
            for values, raw_cells in zip(zip(*cleaned, strict=True), raw_rows, strict=True)
        ]
    batch = StagedBatch(
        record_ids=record_ids,
        rows=rows,
        hashes=hashes,
        values=cleaned,
        raw=raw,
        invalid=invalid_by_row,
    )
    quarantine.sort(key=lambda p: p.row)
    prepared = prepare_batch(batch, mapping.source, ingest_id)
    return _Staged(chunk.position, prepared, quarantine, warnings, chunk.last_row, rows_read)


def _can_fork() -> bool:
    """Whether a reader process may be forked: two cores, and the ingest is the process's main
    work (its main thread: the ``ekjon ingest`` command), not a job in a server's thread pool,
    whose other threads' locks a forked child could find held."""
    return (
        "fork" in multiprocessing.get_all_start_methods()
        and (os.cpu_count() or 1) > 1
        and threading.current_thread() is threading.main_thread()
    )


def _from_worker(items: Iterator[_Staged]) -> Iterator[_Staged]:
    """``items`` produced in a process forked for them (reading, cleaning and hashing a file is
    Python work, one core's worth), handed over in order through a pipe. An error there is
    raised here; the process ends with this generator, and dies with this process."""
    context = multiprocessing.get_context("fork")
    receiving, sending = context.Pipe(duplex=False)
    worker = context.Process(
        target=_produce, args=(items, sending, os.getpid()), name="ingest-reader", daemon=True
    )
    worker.start()
    sending.close()
    try:
        while True:
            try:
                kind, value = receiving.recv()
            except EOFError:
                worker.join()
                raise EkjonError(
                    f"the process reading the file ended unexpectedly (exit code "
                    f"{worker.exitcode}); run the ingest again to resume it"
                ) from None
            if kind == "error":
                raise value
            if kind == "end":
                return
            yield value
    finally:
        receiving.close()
        if worker.is_alive():
            worker.kill()
        worker.join()


def _produce(items: Iterator[_Staged], sending: Any, parent: int) -> None:
    """The reading process: each item sent as it is made, then ``end`` (or the error)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # an interrupt is the ingest's to handle
    die_with_parent(parent)
    try:
        for item in items:
            sending.send(("item", item))
        sending.send(("end", None))
    except BaseException as exc:  # noqa: BLE001 (handed to the ingest, which raises it)
        try:
            pickle.loads(pickle.dumps(exc))
        except Exception:
            exc = EkjonError(f"{type(exc).__name__}: {exc}")
        sending.send(("error", exc))


def _progress(
    progress: ProgressCallback, run: IngestRun, position: int, total: int
) -> Callable[[], None]:
    return lambda: progress(IngestProgress(run.rows_read, position, total))


class _Committer:
    """Commits an ingest's chunks in order in a thread of its own, while the next chunk is read
    and cleaned: SQLite writes a chunk without holding the interpreter's lock, so the two
    overlap. At most one chunk waits, so memory stays that of a few chunks.

    Progress callbacks go through it too: one is called once the chunks before it are
    committed, as without the thread.
    """

    def __init__(self) -> None:
        self._queue: queue.Queue[Callable[[], object] | None] = queue.Queue(maxsize=1)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._work, name="ingest-commit", daemon=True)
        self._thread.start()

    def submit(self, work: Callable[[], object]) -> None:
        """Queue ``work`` (waits while a chunk is waiting); raises a failed commit's error."""
        self.check()
        self._queue.put(work)

    def close(self) -> None:
        """Wait until all work queued is done (or was dropped after a failure)."""
        self._queue.put(None)
        self._thread.join()

    def check(self) -> None:
        if self._error is not None:
            raise self._error

    def _work(self) -> None:
        while (work := self._queue.get()) is not None:
            if self._error is None:
                try:
                    work()
                except BaseException as exc:  # noqa: BLE001 (raised again in the ingest's thread)
                    self._error = exc


def _refuse_nested(
    mapping: Mapping,
    chunk: Chunk,
    keep: list[int],
    cleaned: list[list[Any]],
    invalid: dict[str, list[str | None]],
) -> None:
    """Mark invalid the fields whose cell held several values (a JSON object or list): a name or
    phone is one value, never the text of an object."""
    for name, spec in mapping.fields.items():
        if name not in VALUE_FIELDS:
            continue
        for column in spec.source_columns:
            cells = chunk.nested.get(column)
            if not cells:
                continue
            values = cleaned[VALUE_FIELDS.index(name)]
            for j, i in enumerate(keep):
                if i in cells:
                    values[j] = None
                    reasons = invalid.setdefault(name, [None] * len(keep))
                    reasons[j] = reasons[j] or f"{cells[i]}, not one value (column {column!r})"


def _unreadable(mapping: Mapping, bad: BadRow) -> Problem:
    """A row that cannot be read, as the quarantine reports it: with its record id and field as
    far as they could be read."""
    record_id = None
    if bad.values is not None:
        record_id = record_id_of([bad.values.get(c) for c in mapping.record_id])
    field = None
    if bad.column is not None:
        mapped = [f for f, spec in mapping.fields.items() if bad.column in spec.source_columns]
        mapped += [f"{IDENTIFIERS}.{n}" for n, c in mapping.identifiers.items() if c == bad.column]
        field = mapped[0] if mapped else ("record_id" if bad.column in mapping.record_id else None)
    return Problem(bad.row, record_id, field, bad.text, bad.reason)


def hashed_values(values: Sequence[Any]) -> tuple[Any, ...]:
    """A record's cleaned values (one per :data:`VALUE_FIELDS`) as its content hash covers them:
    every field's, except that a field of :data:`engine.record.LATER_FIELDS` counts (with its
    name) only where the record has a value. Ingest and the API's storing resolve hash with it,
    so a record stored before those fields existed is unchanged when it comes again without
    them."""
    later = tuple((f, values[i]) for i, f in LATER_VALUES if values[i] is not None)
    return tuple(values[i] for i in HASHED_VALUES) + later


def _content_hash(cells: tuple[Any, ...]) -> str:
    # repr of a tuple of str / int / float / None is stable across runs and Python versions.
    return hashlib.blake2b(repr(cells).encode("utf-8"), digest_size=16).hexdigest()


# -- reports -----------------------------------------------------------------------------------


def _write_report(store: RecordStore, run: IngestRun, kind: str, folder: Path) -> Path | None:
    count = run.quarantined if kind == "quarantine" else run.field_warnings
    if count == 0:
        return None
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{source_file_name(run.source)}-ingest{run.ingest_id}-{kind}.csv"
    tmp = path.with_suffix(".csv.tmp")
    # utf-8-sig: Excel, where these reports get opened, shows Bangla text only with the BOM.
    with tmp.open("w", encoding="utf-8-sig", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(REPORT_COLUMNS)
        for p in store.problems(run.ingest_id, kind):
            writer.writerow((p.row, p.record_id or "", p.field or "", p.value or "", p.reason))
    tmp.replace(path)
    return path
