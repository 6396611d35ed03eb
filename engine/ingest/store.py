"""The record store: every ingested record, every version of it, and every ingest run, on disk.

One SQLite database (WAL mode) holds

- ``records``: one row per version of a record (``source``, ``record_id``, ``version``), with the
  cleaned canonical values in real typed columns, the raw values in ``raw_<field>`` columns, the
  fields found invalid with their reasons, the content hash, the ingest that wrote it, and
  ``is_current``;
- ``ingests``: one row per ingest run (file, its sha256, the mapping, start / finish, counts, and
  how far it got, so a killed run is resumed);
- ``quarantine`` and ``field_warnings``: the rows and fields ingest could not use, with row numbers.

Each chunk of an ingest is written in one transaction together with the run's progress, so a run
killed at any moment (``kill -9`` included) leaves whole chunks or nothing, and re-running the same
file resumes after the last whole chunk without duplicates.

Reading all current records as a DataFrame goes through a per-source Parquet snapshot beside the
database (``<name>.current/``). An ingest updates its source's snapshot as it goes (the old snapshot
less the records it replaced, plus the versions it wrote); a snapshot that is out of date for any
other reason (a killed ingest, another writer) is rebuilt from the database on the next read. So
loading millions of records takes seconds.

Example
-------
>>> store = RecordStore(tmp_path / "records.sqlite")   # doctest: +SKIP
>>> store.current(["dss_old_age"]).head()               # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
import os
import re
import socket
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from hashlib import sha1, sha256
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from engine.errors import EkjonError
from engine.ingest.batches import (
    CURRENT_COLUMNS,
    INTEGER_FIELDS,
    RAW_FIELDS,
    REAL_FIELDS,
    VALUE_FIELDS,
    DeltaFile,
    PreparedBatch,
    StagedBatch,
    delta_rows,
    version_rows,
)
from engine.ingest.batches import arrow_array as _arrow_array
from engine.ingest.batches import arrow_schema as _arrow_schema
from engine.ingest.processes import (
    UnfinishedIngest,
    hold_source_lock,
    process_alive,
    unfinished_ingests,
)
from engine.ingest.upgrade import UPGRADES, upgrade_records
from engine.sqlite import SQLiteStore

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

logger = logging.getLogger(__name__)

SCHEMA_VERSION: Final = 1
_IN_BATCH: Final = 500


class StoreError(EkjonError):
    """The record store cannot do what was asked (e.g. the file is not an ekjon record store)."""


@dataclass(frozen=True, slots=True)
class Problem:
    """A quarantined row or a field warning: what is reported, with the row number."""

    row: int
    record_id: str | None
    field: str | None
    value: str | None
    reason: str


@dataclass(slots=True)
class IngestRun:
    """One run of ingest over one file. Counts are cumulative, also across a resume."""

    ingest_id: int
    source: str
    file: str
    file_sha256: str
    mapping_sha256: str
    started_at: str
    status: str = "running"
    rows_done: int = 0
    rows_read: int = 0
    ingested: int = 0
    unchanged: int = 0
    new_versions: int = 0
    quarantined: int = 0
    field_warnings: int = 0
    finished_at: str | None = None
    resumed: bool = False
    quarantine_report: str | None = None
    warnings_report: str | None = None
    # The source's generation as this run expects it, and whether its snapshot can be updated by
    # adding this run's versions (it matched the database when the run began; no one else wrote).
    _generation: int = field(default=0, repr=False)
    _delta_ok: bool = field(default=False, repr=False)
    _delta: DeltaFile | None = field(default=None, repr=False)
    # The source held no records when this run began and no one else has written it since: its
    # rows are all new (a file's repeated record ids are quarantined before they get here).
    _alone: bool = field(default=False, repr=False)


@dataclass(frozen=True, slots=True)
class ChunkResult:
    """What committing one chunk did."""

    ingested: int
    unchanged: int
    new_versions: int


@dataclass(frozen=True)
class RecordVersion:
    """One stored version of a record, as :meth:`RecordStore.history` returns it."""

    source: str
    record_id: str
    version: int
    is_current: bool
    content_hash: str
    ingest_id: int
    row: int | None
    file: str
    ingested_at: str
    values: dict[str, Any]
    raw: dict[str, str | None]
    invalid: dict[str, str] = field(default_factory=dict)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _q(name: str) -> str:
    return f'"{name}"'


def _sql_type(name: str) -> str:
    if name in INTEGER_FIELDS:
        return "INTEGER"
    if name in REAL_FIELDS:
        return "REAL"
    return "TEXT"


_COUNT_COLUMNS: Final = (
    "rows_done",
    "rows_read",
    "ingested",
    "unchanged",
    "new_versions",
    "quarantined",
    "field_warnings",
)

_SCHEMA: Final = f"""
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sources (
    source TEXT PRIMARY KEY,
    kind TEXT,
    generation INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS ingests (
    ingest_id INTEGER PRIMARY KEY AUTOINCREMENT,
    source TEXT NOT NULL,
    file TEXT NOT NULL,
    file_sha256 TEXT NOT NULL,
    file_size INTEGER,
    mapping TEXT NOT NULL,
    mapping_sha256 TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    status TEXT NOT NULL,
    pid INTEGER,
    host TEXT,
    {", ".join(f"{c} INTEGER NOT NULL DEFAULT 0" for c in _COUNT_COLUMNS)},
    quarantine_report TEXT,
    warnings_report TEXT,
    error TEXT
);
CREATE INDEX IF NOT EXISTS ingests_file ON ingests (source, file_sha256, mapping_sha256, status);
CREATE TABLE IF NOT EXISTS records (
    source TEXT NOT NULL,
    record_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    is_current INTEGER NOT NULL,
    content_hash TEXT NOT NULL,
    ingest_id INTEGER NOT NULL REFERENCES ingests (ingest_id),
    row_number INTEGER,
    invalid_fields TEXT,
    invalid_reasons TEXT,
    {", ".join(f"{_q(f)} {_sql_type(f)}" for f in VALUE_FIELDS)},
    {", ".join(f"{_q('raw_' + f)} TEXT" for f in RAW_FIELDS)}
);
CREATE UNIQUE INDEX IF NOT EXISTS records_version ON records (source, record_id, version);
CREATE UNIQUE INDEX IF NOT EXISTS records_current ON records (source, record_id)
    WHERE is_current = 1;
CREATE TABLE IF NOT EXISTS quarantine (
    ingest_id INTEGER NOT NULL REFERENCES ingests (ingest_id),
    row_number INTEGER NOT NULL,
    record_id TEXT,
    field TEXT,
    value TEXT,
    reason TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS quarantine_ingest ON quarantine (ingest_id, row_number);
CREATE TABLE IF NOT EXISTS field_warnings (
    ingest_id INTEGER NOT NULL REFERENCES ingests (ingest_id),
    row_number INTEGER NOT NULL,
    record_id TEXT,
    field TEXT,
    value TEXT,
    reason TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS field_warnings_ingest ON field_warnings (ingest_id, row_number);
CREATE TABLE IF NOT EXISTS ingest_plans (
    plan_id INTEGER PRIMARY KEY AUTOINCREMENT,
    started_at TEXT NOT NULL,
    after_ingest INTEGER NOT NULL,
    files TEXT NOT NULL,
    status TEXT NOT NULL,
    pid INTEGER,
    host TEXT
);
"""

_VERSION_COLUMNS: Final = (
    "source",
    "record_id",
    "version",
    "is_current",
    "content_hash",
    "ingest_id",
    "row_number",
    "invalid_fields",
    "invalid_reasons",
    *VALUE_FIELDS,
    *(f"raw_{f}" for f in RAW_FIELDS),
)
_META_COLUMNS: Final = 9  # the columns before the values in _VERSION_COLUMNS


class RecordStore(SQLiteStore):
    """A durable, versioned store of canonical records (one SQLite file, WAL mode).

    Parameters
    ----------
    path : the database file, e.g. ``$EKJON_HOME/records.sqlite``; created with its folder if new.

    Raises
    ------
    StoreError
        If ``path`` exists but is not an ekjon record store of a version this code reads.
    """

    path: Path  # always a file: the snapshots live beside it

    def __init__(self, path: Path | str) -> None:
        path = Path(path)
        self.snapshot_dir = path.with_name(path.stem + ".current")
        # NORMAL in WAL mode: a killed process never corrupts or half-writes a transaction; only
        # a power cut may lose the last commits, which a re-run of the ingest redoes.
        super().__init__(
            path,
            what="record store",
            schema=_SCHEMA,
            version=SCHEMA_VERSION,
            synchronous="NORMAL",
            error=StoreError,
            # a page cache of 64 MB: the record indexes of a million-row source stay in memory
            pragmas=("foreign_keys = ON", "cache_size = -65536", "wal_autocheckpoint = 8192"),
            on_version_mismatch="Re-ingest into a new EKJON_HOME.",
        )
        self._upgrade()

    # -- writing (used by engine.ingest.run) ------------------------------------------------------

    @contextmanager
    def source_lock(self, source: str, file: str) -> Iterator[None]:
        """Ingest ``file`` into ``source`` alone: no other process ingests the source meanwhile
        (other sources may be ingested at once). A lock file per source, beside the database.

        Raises
        ------
        engine.ingest.processes.SourceBusy
            If another process is ingesting the source; the message names it.
        """
        locks = self.path.with_name(self.path.stem + ".locks")
        with hold_source_lock(locks / f"{source_file_name(source)}.lock", source, file):
            yield

    def begin_ingest(
        self,
        *,
        source: str,
        kind: str,
        file: str,
        file_sha256: str,
        file_size: int,
        mapping: dict[str, Any],
        mapping_sha256: str,
    ) -> IngestRun:
        """Start an ingest run, or resume the unfinished run of the same file and mapping.

        A run is resumed when an earlier run of the same source, file content and mapping did not
        finish and its process is gone (killed, crashed); its committed chunks are kept.
        """
        with self.transaction():
            run = self._begin(
                source=source,
                kind=kind,
                file=file,
                file_sha256=file_sha256,
                file_size=file_size,
                mapping=mapping,
                mapping_sha256=mapping_sha256,
            )
        run._delta_ok = self._snapshot_generation(source) == run._generation
        self._remove_stale_deltas(source)
        return run

    def _begin(
        self,
        *,
        source: str,
        kind: str,
        file: str,
        file_sha256: str,
        file_size: int,
        mapping: dict[str, Any],
        mapping_sha256: str,
    ) -> IngestRun:
        """:meth:`begin_ingest`'s writes, inside the caller's transaction."""
        self._db.execute(
            "INSERT INTO sources (source, kind) VALUES (?, ?) "
            "ON CONFLICT (source) DO UPDATE SET kind = excluded.kind",
            (source, kind),
        )
        unfinished = self._db.execute(
            "SELECT ingest_id, pid, host FROM ingests WHERE source = ? AND file_sha256 = ? "
            "AND mapping_sha256 = ? AND status = 'running' ORDER BY ingest_id DESC",
            (source, file_sha256, mapping_sha256),
        ).fetchall()
        for ingest_id, pid, host in unfinished:
            if process_alive(pid, host):
                continue
            self._db.execute(
                "UPDATE ingests SET pid = ?, host = ?, file = ? WHERE ingest_id = ?",
                (os.getpid(), socket.gethostname(), file, ingest_id),
            )
            run = self._run(ingest_id)
            run.resumed = True
            logger.info("resuming ingest %d of %s after row %d", ingest_id, file, run.rows_done)
            break
        else:
            cursor = self._db.execute(
                "INSERT INTO ingests (source, file, file_sha256, file_size, mapping, "
                "mapping_sha256, started_at, status, pid, host) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, 'running', ?, ?)",
                (
                    source,
                    file,
                    file_sha256,
                    file_size,
                    json.dumps(mapping, ensure_ascii=False, sort_keys=True),
                    mapping_sha256,
                    _now(),
                    os.getpid(),
                    socket.gethostname(),
                ),
            )
            assert cursor.lastrowid is not None
            run = self._run(cursor.lastrowid)
        run._generation = self._generation(source)
        run._alone = run._generation == 0
        return run

    def commit_chunk(
        self,
        run: IngestRun,
        batch: StagedBatch | PreparedBatch,
        *,
        quarantine: Sequence[Problem] = (),
        warnings: Sequence[Problem] = (),
        rows_done: int,
        rows_read: int,
    ) -> ChunkResult:
        """Write one chunk in one transaction: new records, new versions, problems and progress.

        A record whose content hash equals its current version's is left alone (``unchanged``);
        a different hash adds version ``n + 1`` and keeps version ``n`` as history.
        """
        with self.transaction():
            result, written, versions = self._write_chunk(
                run,
                batch,
                quarantine=quarantine,
                warnings=warnings,
                rows_done=rows_done,
                rows_read=rows_read,
            )
        if written and run._delta_ok:
            self._append_delta(run, batch, written, versions)
        return result

    def _write_chunk(
        self,
        run: IngestRun,
        batch: StagedBatch | PreparedBatch,
        *,
        quarantine: Sequence[Problem],
        warnings: Sequence[Problem],
        rows_done: int,
        rows_read: int,
    ) -> tuple[ChunkResult, list[int], list[int]]:
        """:meth:`commit_chunk`'s writes, inside the caller's transaction: what it did, and the
        rows it wrote with their versions."""
        new = changed = same = 0
        # a source this run alone has written holds none of these records: no lookup
        run._alone = run._alone and self._generation(run.source) == run._generation
        current = {} if run._alone else self._current_hashes(run.source, batch.record_ids)
        written: list[int] = []
        versions: list[int] = []
        retire = []
        for j, (record_id, content_hash) in enumerate(
            zip(batch.record_ids, batch.hashes, strict=True)
        ):
            before = current.get(record_id)
            if before is None:
                versions.append(1)
                new += 1
            elif before[1] == content_hash:
                same += 1
                continue
            else:
                versions.append(before[0] + 1)
                retire.append((run.source, record_id))
                changed += 1
            written.append(j)
        if written:
            insert, rows = version_rows(run.source, run.ingest_id, batch, written, versions)
            if retire:
                self._db.executemany(
                    "UPDATE records SET is_current = 0 "
                    "WHERE source = ? AND record_id = ? AND is_current = 1",
                    retire,
                )
            self._db.executemany(insert, rows)
            generation = self._db.execute(
                "UPDATE sources SET generation = generation + 1 WHERE source = ? "
                "RETURNING generation",
                (run.source,),
            ).fetchone()[0]
            if generation != run._generation + 1:
                run._delta_ok = False  # someone else wrote this source meanwhile
            run._generation = generation
        for table, problems in (("quarantine", quarantine), ("field_warnings", warnings)):
            if problems:
                self._db.executemany(
                    f"INSERT INTO {table} (ingest_id, row_number, record_id, field, value, "
                    "reason) VALUES (?, ?, ?, ?, ?, ?)",
                    [
                        (run.ingest_id, p.row, p.record_id, p.field, p.value, p.reason)
                        for p in problems
                    ],
                )
        run.rows_done = rows_done
        run.rows_read += rows_read
        run.ingested += new
        run.unchanged += same
        run.new_versions += changed
        run.quarantined += len(quarantine)
        run.field_warnings += len(warnings)
        self._db.execute(
            f"UPDATE ingests SET {', '.join(f'{c} = ?' for c in _COUNT_COLUMNS)} "
            "WHERE ingest_id = ?",
            (*(getattr(run, c) for c in _COUNT_COLUMNS), run.ingest_id),
        )
        return ChunkResult(ingested=new, unchanged=same, new_versions=changed), written, versions

    def finish_ingest(
        self,
        run: IngestRun,
        *,
        quarantine_report: str | None = None,
        warnings_report: str | None = None,
    ) -> None:
        """Mark a run finished and record where its reports are."""
        run.status = "finished"
        run.finished_at = _now()
        run.quarantine_report = quarantine_report
        run.warnings_report = warnings_report
        with self.transaction():
            self._db.execute(
                "UPDATE ingests SET status = 'finished', finished_at = ?, quarantine_report = ?, "
                "warnings_report = ?, pid = NULL WHERE ingest_id = ?",
                (run.finished_at, quarantine_report, warnings_report, run.ingest_id),
            )
        self._update_snapshot(run)

    def store_records(
        self,
        batch: StagedBatch,
        *,
        source: str,
        kind: str,
        origin: str,
        warnings: Sequence[Problem] = (),
    ) -> tuple[IngestRun, ChunkResult]:
        """Write records that come one at a time, not in a file (the API's storing resolve), as
        one finished ingest run named ``origin`` whose one chunk is ``batch``: new records, new
        versions and unchanged ones exactly as :meth:`commit_chunk` counts them, field warnings
        kept.

        The source's Parquet snapshot is left to be rebuilt on the next :meth:`current` read:
        bringing it up to date now would read and write the whole source for one record.
        """
        stored = self.store_each([(batch, source, kind, origin, warnings)])[0]
        if isinstance(stored, Exception):
            raise stored
        return stored

    def store_each(
        self, sent: Sequence[tuple[StagedBatch, str, str, str, Sequence[Problem]]]
    ) -> list[tuple[IngestRun, ChunkResult] | Exception]:
        """:meth:`store_records` of each of ``sent`` (``batch, source, kind, origin, warnings``),
        in order, in one transaction (the records a group of API requests sent): per item its
        run and what it did, or the error that kept it out (its writes undone, the others kept).
        """
        out: list[tuple[IngestRun, ChunkResult] | Exception] = []
        with self.transaction() as db:
            for batch, source, kind, origin, warnings in sent:
                mapping = {"source": source, "kind": kind, "via": origin}
                text = json.dumps(mapping, ensure_ascii=False, sort_keys=True)
                db.execute("SAVEPOINT one_run")
                try:
                    run = self._begin(
                        source=source,
                        kind=kind,
                        file=origin,
                        file_sha256=sha256("".join(batch.hashes).encode("utf-8")).hexdigest(),
                        file_size=0,
                        mapping=mapping,
                        mapping_sha256=sha256(text.encode("utf-8")).hexdigest(),
                    )
                    run._delta_ok = False  # no delta file: the snapshot is rebuilt when next read
                    result, _, _ = self._write_chunk(
                        run,
                        batch,
                        quarantine=(),
                        warnings=warnings,
                        rows_done=len(batch),
                        rows_read=len(batch),
                    )
                    run.status, run.finished_at = "finished", _now()
                    db.execute(
                        "UPDATE ingests SET status = 'finished', finished_at = ?, pid = NULL "
                        "WHERE ingest_id = ?",
                        (run.finished_at, run.ingest_id),
                    )
                except Exception as exc:  # this one undone, the others kept
                    db.execute("ROLLBACK TO one_run")
                    out.append(exc)
                else:
                    out.append((run, result))
                finally:
                    db.execute("RELEASE one_run")
        return out

    def fail_ingest(self, run: IngestRun, error: str) -> None:
        """Mark a run failed (a whole-file error); committed chunks stay, as history."""
        run.status = "failed"
        with self.transaction():
            self._db.execute(
                "UPDATE ingests SET status = 'failed', finished_at = ?, error = ?, pid = NULL "
                "WHERE ingest_id = ?",
                (_now(), error, run.ingest_id),
            )
        self._drop_delta(run)

    def problems(self, ingest_id: int, kind: str) -> Iterator[Problem]:
        """The quarantined rows (``kind="quarantine"``) or field warnings of a run, by row."""
        table = {"quarantine": "quarantine", "warnings": "field_warnings"}[kind]
        cursor = self._db.execute(
            f"SELECT row_number, record_id, field, value, reason FROM {table} "
            "WHERE ingest_id = ? ORDER BY row_number, rowid",
            (ingest_id,),
        )
        for row in cursor:
            yield Problem(*row)

    # -- reading ------------------------------------------------------------------------------

    def sources(self) -> list[str]:
        """The names of the sources that have records, sorted."""
        return [
            r[0]
            for r in self._db.execute(
                "SELECT source FROM sources s WHERE EXISTS "
                "(SELECT 1 FROM records r WHERE r.source = s.source) ORDER BY source"
            )
        ]

    def counts(self) -> dict[str, int]:
        """Totals: current records, stored versions, sources, ingest runs, problems reported."""
        one = self._db.execute
        return {
            "records": one("SELECT count(*) FROM records WHERE is_current = 1").fetchone()[0],
            "versions": one("SELECT count(*) FROM records").fetchone()[0],
            "sources": len(self.sources()),
            "ingests": one("SELECT count(*) FROM ingests").fetchone()[0],
            "quarantined": one("SELECT count(*) FROM quarantine").fetchone()[0],
            "field_warnings": one("SELECT count(*) FROM field_warnings").fetchone()[0],
        }

    def plan_ingests(self, files: Sequence[tuple[str, str]]) -> int:
        """Note that the files ``(source, file)`` are about to be ingested one after another (a
        folder, or several files given at once); returns the plan's id for :meth:`finish_plan`.

        Until the plan is finished, each of its sources that no ingest has finished since counts
        as unfinished (:meth:`unfinished_ingests`): an ingest of a folder killed between two files
        leaves no source half-ingested, yet resolving then would leave the later files out.
        """
        with self.transaction():
            after = self._db.execute("SELECT COALESCE(MAX(ingest_id), 0) FROM ingests").fetchone()
            cursor = self._db.execute(
                "INSERT INTO ingest_plans (started_at, after_ingest, files, status, pid, host) "
                "VALUES (?, ?, ?, 'running', ?, ?)",
                (
                    _now(),
                    after[0],
                    json.dumps([list(f) for f in files], ensure_ascii=False),
                    os.getpid(),
                    socket.gethostname(),
                ),
            )
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def finish_plan(self, plan_id: int) -> None:
        """The files of plan ``plan_id`` were each ingested or given up (with their errors)."""
        with self.transaction():
            self._db.execute(
                "UPDATE ingest_plans SET status = 'finished' WHERE plan_id = ?", (plan_id,)
            )

    def unfinished_ingests(self) -> list[UnfinishedIngest]:
        """The file ingests whose records are only partly in the store, oldest first: a run still
        marked running (killed, crashed, or running now in another process) or failed after
        committing rows, unless a later ingest of a file of the same source finished; and the
        files of an unfinished plan (:meth:`plan_ingests`) not ingested since it began.

        Records stored one at a time (the API's storing resolve) are whole records: their runs
        never count.
        """
        return unfinished_ingests(
            self._rows(
                "SELECT ingest_id, source, file, started_at, status, rows_done, pid, host, error, "
                "mapping FROM ingests ORDER BY ingest_id"
            ),
            self._rows(
                "SELECT plan_id, started_at, after_ingest, files, pid, host FROM ingest_plans "
                "WHERE status = 'running' ORDER BY plan_id"
            ),
        )

    def ingests(self, source: str | None = None) -> list[IngestRun]:
        """Every ingest run (of one source, if given), oldest first."""
        sql = "SELECT ingest_id FROM ingests"
        args: tuple[str, ...] = ()
        if source is not None:
            sql, args = sql + " WHERE source = ?", (source,)
        return [self._run(r[0]) for r in self._db.execute(sql + " ORDER BY ingest_id", args)]

    def history(self, source: str, record_id: str) -> list[RecordVersion]:
        """Every stored version of one record, oldest first (empty if the record is unknown)."""
        cursor = self._db.execute(
            f"SELECT {', '.join('r.' + _q(c) for c in _VERSION_COLUMNS)}, i.file, i.started_at "
            "FROM records r JOIN ingests i USING (ingest_id) "
            "WHERE r.source = ? AND r.record_id = ? ORDER BY r.version",
            (source, record_id),
        )
        out = []
        m, n = _META_COLUMNS, len(VALUE_FIELDS)
        for row in cursor:
            values = dict(zip(VALUE_FIELDS, row[m : m + n], strict=True))
            raw = dict(zip(RAW_FIELDS, row[m + n : m + n + len(RAW_FIELDS)], strict=True))
            out.append(
                RecordVersion(
                    source=row[0],
                    record_id=row[1],
                    version=row[2],
                    is_current=bool(row[3]),
                    content_hash=row[4],
                    ingest_id=row[5],
                    row=row[6],
                    values={"source": row[0], "record_id": row[1], **values},
                    invalid=json.loads(row[8]) if row[8] else {},
                    raw={k: v for k, v in raw.items() if v is not None},
                    file=row[-2],
                    ingested_at=row[-1],
                )
            )
        return out

    def current_arrow(self, sources: Sequence[str] | None = None) -> pa.Table:
        """The current version of every record (of ``sources``, if given) as an Arrow table.

        Columns are :data:`CURRENT_COLUMNS`; ``invalid_fields`` is a comma-separated string of the
        fields found invalid (their values are null), or null.
        """
        import pyarrow as pa

        names = self.sources() if sources is None else list(sources)
        tables = [self._snapshot(s) for s in names]
        if not tables:
            return _arrow_schema().empty_table()
        return pa.concat_tables(tables)

    def current(self, sources: Sequence[str] | None = None) -> pd.DataFrame:
        """The current version of every record (of ``sources``, if given) as a DataFrame.

        Columns: :data:`engine.record.CANONICAL_FIELDS`, then ``version`` and ``invalid_fields``
        (a tuple of the fields found invalid, empty when none). Values are cleaned; an invalid
        field's value is ``None``. Strings are Python ``str`` or ``None``; ``birth_year``, ``age``
        and ``version`` are nullable ``Int64``; ``pmt_score`` and ``amount`` are floats.
        """
        import pandas as pd
        import pyarrow as pa

        table = self.current_arrow(sources)
        frame = table.to_pandas(
            types_mapper={pa.int64(): pd.Int64Dtype()}.get,
            split_blocks=True,
            self_destruct=True,
        )
        frame["invalid_fields"] = [
            tuple(v.split(",")) if v else () for v in frame["invalid_fields"].tolist()
        ]
        return frame

    def export_parquet(self, path: Path | str, sources: Sequence[str] | None = None) -> Path:
        """Write the current records (as :meth:`current_arrow`) to one Parquet file."""
        import pyarrow.parquet as pq

        path = Path(path)
        pq.write_table(self.current_arrow(sources), path)
        return path

    def refresh_snapshots(self, sources: Sequence[str] | None = None) -> None:
        """Bring the Parquet snapshots of ``sources`` (default: all) up to date now."""
        for source in self.sources() if sources is None else sources:
            self._snapshot(source)

    # -- internals ----------------------------------------------------------------------------

    def _upgrade(self) -> None:
        """Bring a store an older ekjon wrote up to what ingest writes now, once
        (:func:`engine.ingest.upgrade.upgrade_records`)."""
        if self._db.execute("PRAGMA user_version").fetchone()[0] < UPGRADES:
            with self.transaction() as db:
                columns = {f: _sql_type(f) for f in VALUE_FIELDS}
                upgrade_records(
                    db, self.path, {**columns, **{f"raw_{f}": "TEXT" for f in RAW_FIELDS}}
                )

    def _generation(self, source: str) -> int:
        found = self._db.execute(
            "SELECT generation FROM sources WHERE source = ?", (source,)
        ).fetchone()
        return int(found[0]) if found else -1

    def _snapshot_path(self, source: str) -> Path:
        return self.snapshot_dir / f"{source_file_name(source)}.parquet"

    def _snapshot_generation(self, source: str) -> int | None:
        """The generation a snapshot was written at; 0 for no snapshot (no records yet)."""
        import pyarrow.parquet as pq

        path = self._snapshot_path(source)
        if not path.exists():
            return 0
        try:
            # the file's key-value metadata: a snapshot written whole has the generation in its
            # schema's too, one that was a run's delta only there
            meta = pq.read_metadata(path)
            if tuple(meta.schema.to_arrow_schema().names) != CURRENT_COLUMNS:
                return None  # written by an ekjon with other fields: it will be rebuilt
            return int((meta.metadata or {})[b"ekjon_generation"])
        except Exception:  # a torn or foreign file: it will be rebuilt
            return None

    def _snapshot(self, source: str) -> pa.Table:
        """The source's current records, from its snapshot if that is up to date."""
        import pyarrow.parquet as pq

        generation = self._generation(source)
        if generation < 0:
            return _arrow_schema().empty_table()
        path = self._snapshot_path(source)
        if self._snapshot_generation(source) == generation and path.exists():
            try:
                return pq.read_table(path).replace_schema_metadata(None)
            except Exception:
                logger.warning("rebuilding unreadable snapshot %s", path)
        generation, table = self._read_current(source)
        self._write_snapshot(source, table, generation)
        return table

    def _write_snapshot(self, source: str, table: pa.Table, generation: int) -> None:
        import pyarrow.parquet as pq

        self.snapshot_dir.mkdir(parents=True, exist_ok=True)
        path = self._snapshot_path(source)
        tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp")
        pq.write_table(table.replace_schema_metadata({"ekjon_generation": str(generation)}), tmp)
        os.replace(tmp, path)

    def _read_current(self, source: str) -> tuple[int, pa.Table]:
        """The source's generation and current records, read from the database in one go."""
        import pyarrow as pa

        schema = _arrow_schema()
        self._db.execute("BEGIN")  # one read transaction: the generation and rows agree
        try:
            generation = self._generation(source)
            cursor = self._db.execute(
                f"SELECT source, record_id, {', '.join(_q(f) for f in VALUE_FIELDS)}, version, "
                "invalid_fields FROM records WHERE source = ? AND is_current = 1",
                (source,),
            )
            batches = []
            while rows := cursor.fetchmany(50_000):
                columns = zip(*rows, strict=True)
                batches.append(
                    pa.record_batch(
                        [_arrow_array(c, f.type) for c, f in zip(columns, schema, strict=True)],
                        schema=schema,
                    )
                )
        finally:
            self._db.execute("COMMIT")
        return generation, pa.Table.from_batches(batches, schema=schema)

    def _append_delta(
        self,
        run: IngestRun,
        batch: StagedBatch | PreparedBatch,
        written: list[int],
        versions: list[int],
    ) -> None:
        """Add the versions a chunk wrote to the run's snapshot delta (a Parquet file)."""
        try:
            rows = delta_rows(run.source, batch, written, versions)
            if run._delta is None:
                name = f"{source_file_name(run.source)}.delta.{os.getpid()}.{run.ingest_id}.tmp"
                run._delta = DeltaFile(self.snapshot_dir / name)
            run._delta.add(rows)
        except Exception:  # the snapshot is a cache: rebuild it from the database instead
            logger.exception("could not extend the snapshot of %s; it will be rebuilt", run.source)
            run._delta_ok = False
            self._drop_delta(run)

    def _drop_delta(self, run: IngestRun) -> None:
        delta, run._delta = run._delta, None
        if delta is not None:
            delta.drop()

    def _update_snapshot(self, run: IngestRun) -> None:
        """After a run: old snapshot less the replaced records plus the run's versions."""
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.parquet as pq

        old_path = self._snapshot_path(run.source)
        # a run that wrote a source with no snapshot (no records before it): its delta is the
        # snapshot, named with the generation it ends at
        whole = (
            run._delta is not None
            and run._delta_ok
            and not old_path.exists()
            and self._generation(run.source) == run._generation
        )
        delta, run._delta = run._delta, None
        delta_path = None if delta is None else delta.path
        try:
            try:
                if delta is not None and run._delta_ok:
                    delta.close({"ekjon_generation": str(run._generation)} if whole else None)
                elif delta is not None:
                    delta.drop()
            except Exception:  # the snapshot is a cache: rebuild it from the database instead
                logger.exception("could not write the snapshot delta of %s", run.source)
                run._delta_ok = False
            if run.ingested == 0 and run.new_versions == 0 and not run.resumed:
                return  # nothing written: the snapshot is as good as it was
            if not run._delta_ok or self._generation(run.source) != run._generation:
                self._snapshot(run.source)  # rebuild from the database
                return
            if whole and delta_path is not None:
                os.replace(delta_path, old_path)
                return
            schema = _arrow_schema()
            old = (
                pq.read_table(old_path).replace_schema_metadata(None)
                if old_path.exists()
                else schema.empty_table()
            )
            if delta_path is None:
                self._write_snapshot(run.source, old, run._generation)
                return
            delta = pq.read_table(delta_path).replace_schema_metadata(None)
            replaced = pc.is_in(old.column("record_id"), value_set=delta.column("record_id"))
            table = pa.concat_tables([old.filter(pc.invert(replaced)), delta])
            self._write_snapshot(run.source, table, run._generation)
        finally:
            if delta_path is not None:
                delta_path.unlink(missing_ok=True)

    def _remove_stale_deltas(self, source: str) -> None:
        """Delete snapshot deltas left by ingests that were killed."""
        for path in self.snapshot_dir.glob(f"{source_file_name(source)}.delta.*.tmp"):
            try:
                pid = int(path.name.split(".")[-3])
            except (ValueError, IndexError):
                continue
            if pid != os.getpid() and not process_alive(pid, socket.gethostname()):
                path.unlink(missing_ok=True)

    def _current_hashes(self, source: str, record_ids: Sequence[str]) -> dict[str, tuple[int, str]]:
        out: dict[str, tuple[int, str]] = {}
        for start in range(0, len(record_ids), _IN_BATCH):
            batch = record_ids[start : start + _IN_BATCH]
            marks = ",".join("?" * len(batch))
            cursor = self._db.execute(
                "SELECT record_id, version, content_hash FROM records "
                f"WHERE source = ? AND is_current = 1 AND record_id IN ({marks})",
                (source, *batch),
            )
            for record_id, version, content_hash in cursor:
                out[record_id] = (version, content_hash)
        return out

    def _run(self, ingest_id: int) -> IngestRun:
        cursor = self._db.execute(
            "SELECT ingest_id, source, file, file_sha256, mapping_sha256, started_at, status, "
            f"{', '.join(_COUNT_COLUMNS)}, finished_at, quarantine_report, warnings_report "
            "FROM ingests WHERE ingest_id = ?",
            (ingest_id,),
        )
        row = cursor.fetchone()
        if row is None:
            raise StoreError(f"{self.path}: no ingest run {ingest_id}.")
        names = (
            "ingest_id",
            "source",
            "file",
            "file_sha256",
            "mapping_sha256",
            "started_at",
            "status",
            *_COUNT_COLUMNS,
            "finished_at",
            "quarantine_report",
            "warnings_report",
        )
        return IngestRun(**dict(zip(names, row, strict=True)))


def source_file_name(source: str) -> str:
    """A file name for a source: readable, and unique even where two names sanitise alike."""
    readable = re.sub(r"[^A-Za-z0-9_.-]+", "_", source)[:80]
    return f"{readable}-{sha1(source.encode('utf-8')).hexdigest()[:8]}"
