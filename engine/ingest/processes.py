"""Which process runs an ingest: whether it still lives, the lock that lets one process at a time
ingest a source, and the runs that left a source partly ingested (killed, failed part-way, or
running now in another process).

The record store keeps each run's process id and host; a run still marked running whose process
is gone was killed or crashed, and its next run of the same file resumes it.
"""

from __future__ import annotations

import fcntl
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
    status: str  # running | failed
    pid: int | None = None
    host: str | None = None
    running_now: bool = False
    error: str | None = None

    def __str__(self) -> str:
        rows = f"{self.rows_done:,}"
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
