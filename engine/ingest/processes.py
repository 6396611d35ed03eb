"""Which process runs an ingest: whether it still lives, the lock that lets one process at a time
ingest a source, and the runs that left a source partly ingested (killed, failed part-way, or
running now in another process).

The record store keeps each run's process id and host; a run still marked running whose process
is gone was killed or crashed, and its next run of the same file resumes it.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from engine.errors import EkjonError


class SourceBusy(EkjonError):
    """Another process is ingesting the same source now."""


@contextmanager
def hold_source_lock(path: Path, source: str, file: str) -> Iterator[None]:
    """Hold a source's ingest lock (an exclusive ``flock`` on ``path``) while the body runs.

    The lock file says who holds it, for the message another process gets; the operating system
    lets the lock go when its holder ends, however it ends (``kill -9`` included).

    Raises
    ------
    SourceBusy
        If another process (or another open store in this one) holds the source's lock; the
        message names the source and the holder, its process, host and file.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 4096, 0).decode("utf-8", "replace").strip() or "another process"
            raise SourceBusy(
                f"source {source!r} is being ingested now by {holder}; two ingests of one source "
                "at once would interleave their versions. Wait for it to finish, then ingest "
                f"{file} again."
            ) from None
        since = datetime.now(UTC).isoformat(timespec="seconds")
        holder = f"process {os.getpid()} on {socket.gethostname()} (file {file}, since {since})"
        os.ftruncate(fd, 0)
        os.pwrite(fd, holder.encode(), 0)
        yield
    finally:
        os.close(fd)  # lets the lock go


@dataclass(frozen=True, slots=True)
class UnfinishedIngest:
    """An ingest of a file whose records are only partly in the store: killed, failed part-way,
    or still running in another process (:meth:`RecordStore.unfinished_ingests`)."""

    source: str
    file: str
    ingest_id: int
    started_at: str
    rows_done: int
    status: str  # running | failed | not started
    pid: int | None = None
    host: str | None = None
    running_now: bool = False
    error: str | None = None
    plan_id: int | None = None  # a file an ingest of several files had yet to start

    def __str__(self) -> str:
        rows = f"{self.rows_done:,}"
        if self.status == "not started":
            if self.running_now:
                return (
                    f"source {self.source!r} is waiting to be ingested from {self.file} by "
                    f"process {self.pid} on {self.host}, which is ingesting several files now; "
                    "wait for it to finish"
                )
            return (
                f"source {self.source!r} is not ingested: the ingest of several files started "
                f"{self.started_at} stopped before {self.file} (its process was killed or "
                f"crashed); run `ekjon ingest {self.file}` (or the whole folder) again"
            )
        if self.running_now:
            return (
                f"source {self.source!r} is being ingested now from {self.file} by process "
                f"{self.pid} on {self.host} (ingest {self.ingest_id}, {rows} rows so far); "
                "wait for it to finish"
            )
        if self.status == "failed":
            return (
                f"source {self.source!r} is partly ingested: the ingest of {self.file} (ingest "
                f"{self.ingest_id}, started {self.started_at}) failed after row {rows} "
                f"({self.error}); fix the file and run `ekjon ingest {self.file}` again"
            )
        return (
            f"source {self.source!r} is partly ingested: the ingest of {self.file} (ingest "
            f"{self.ingest_id}, started {self.started_at}) stopped after row {rows} and never "
            f"finished (its process was killed or crashed); run `ekjon ingest {self.file}` again "
            "with the same mapping to finish it (it resumes where it stopped)"
        )


def process_alive(pid: int | None, host: str | None) -> bool:
    """Whether the process that started a run still runs (it might still be ingesting)."""
    if pid is None or host != socket.gethostname() or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a killed child its parent has not reaped yet is a zombie: gone for our purpose
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat[stat.rindex(")") + 2] != "Z"
    except (OSError, ValueError, IndexError):
        return True


def unfinished_ingests(runs: list[tuple], plans: list[tuple]) -> list[UnfinishedIngest]:
    """The ingests that left a source partly (or not yet) ingested, from the record store's rows.

    Parameters
    ----------
    runs:
        Every ingest run, oldest first: ``(ingest_id, source, file, started_at, status,
        rows_done, pid, host, error, mapping)``. A run still marked running (killed, crashed, or
        running now) or failed after committing rows counts, unless a later run of the same
        source finished. Records stored one at a time (a mapping with ``via``: the API) are whole
        records and never count.
    plans:
        The unfinished plans of several files (``RecordStore.plan_ingests``): ``(plan_id,
        started_at, after_ingest, files, pid, host)``, ``files`` a JSON list of ``[source,
        file]``. Each planned source no run has finished since the plan began counts.
    """
    partial: dict[str, list[UnfinishedIngest]] = {}
    finished: dict[str, int] = {}
    for ingest_id, source, file, started, status, done, pid, host, error, mapping in runs:
        if "via" in json.loads(mapping):
            continue  # records stored one at a time, not a file
        if status == "finished":
            partial.pop(source, None)
            finished[source] = ingest_id
        elif status == "running" or done > 0:
            partial.setdefault(source, []).append(
                UnfinishedIngest(
                    source=source,
                    file=file,
                    ingest_id=ingest_id,
                    started_at=started,
                    rows_done=done,
                    status=status,
                    pid=pid,
                    host=host,
                    running_now=status == "running" and process_alive(pid, host),
                    error=error,
                )
            )
    out = sorted((u for found in partial.values() for u in found), key=lambda u: u.ingest_id)
    named = set(partial)
    for plan_id, started, after, files, pid, host in plans:
        for source, file in json.loads(files):
            if source in named or finished.get(source, 0) > after:
                continue
            named.add(source)
            out.append(
                UnfinishedIngest(
                    source=source,
                    file=file,
                    ingest_id=0,
                    started_at=started,
                    rows_done=0,
                    status="not started",
                    pid=pid,
                    host=host,
                    running_now=process_alive(pid, host),
                    plan_id=plan_id,
                )
            )
    return out
