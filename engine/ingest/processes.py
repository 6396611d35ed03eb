"""Which process runs an ingest: whether it still lives, and the runs that left a source partly
ingested (killed, failed part-way, or running now in another process).

The record store keeps each run's process id and host; a run still marked running whose process
is gone was killed or crashed, and its next run of the same file resumes it.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path


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
