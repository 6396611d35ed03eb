"""Ingest jobs: files MIS keys upload, ingested in the background, one at a time.

A job is a data file and its mapping, saved under the home (``uploads/<job id>/``) and kept as a
row of the access store's ``jobs`` table: ``queued`` -> ``running`` -> ``succeeded`` (with the
ingest's counts) or ``failed`` (with the reason). One worker thread runs the jobs in the order they
came; ingest commits chunk by chunk in its own transactions, so resolves and reads carry on
meanwhile. Jobs a restart interrupted are queued again when the worker starts (an interrupted
ingest of a file resumes where it stopped).

Files are only ever uploaded: no job fetches a URL.
"""

from __future__ import annotations

import logging
import queue
import re
import secrets
import shutil
import threading
from pathlib import Path
from typing import Any, BinaryIO, Final

from api.service import Service
from engine.errors import EkjonError

__all__ = ["IngestJobs"]

log = logging.getLogger(__name__)

MAPPING_NAME: Final = "mapping.yaml"
_SAFE_NAME: Final = re.compile(r"[^A-Za-z0-9._-]+")
_STOP: Final = object()


def safe_name(name: str | None, default: str = "data") -> str:
    """An uploaded file's name fit to save: its last part, odd characters as ``_``."""
    base = Path((name or "").replace("\\", "/")).name
    base = _SAFE_NAME.sub("_", base).strip("._")[:100]
    return base if base and base != MAPPING_NAME else default


class IngestJobs:
    """The ingest jobs of one service and the worker thread that runs them.

    Parameters
    ----------
    service:
        The service whose home the files are saved under and whose record store they go into.
    """

    def __init__(self, service: Service) -> None:
        self.service = service
        self._queue: queue.Queue[Any] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def folder(self) -> Path:
        """Where uploads are kept: ``uploads/`` in the home."""
        return self.service.home.uploads

    def start(self) -> None:
        """Start the worker (once), queueing the jobs a restart interrupted."""
        with self._lock:
            if self._thread is not None:
                return
            for job_id in self.service.access.unfinished_jobs():
                self._queue.put(job_id)
            self._thread = threading.Thread(target=self._work, name="ekjon-ingest", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Let the worker finish the job in hand, then stop (queued jobs wait for a restart)."""
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(_STOP)
            thread.join(timeout)

    def submit(
        self, key_id: str, source: str, mapping_text: str, data_name: str, data: BinaryIO
    ) -> dict[str, Any]:
        """Save a job's files and queue it; returns the job (``queued``)."""
        job_id = secrets.token_hex(8)
        folder = self.folder / job_id
        folder.mkdir(parents=True)
        (folder / MAPPING_NAME).write_text(mapping_text, encoding="utf-8")
        with (folder / data_name).open("wb") as out:
            shutil.copyfileobj(data, out, 1 << 20)
        where = folder.relative_to(self.service.home.root).as_posix()
        job = self.service.access.add_job(job_id, key_id, source, data_name, where)
        self.start()
        self._queue.put(job_id)
        return job

    def _work(self) -> None:
        while True:
            job_id = self._queue.get()
            if job_id is _STOP:
                return
            try:
                self._run(job_id)
            except Exception:  # the worker outlives any one job
                log.exception("ingest job %s could not be run", job_id)

    def _run(self, job_id: str) -> None:
        from engine.ingest.mapping import load_mapping
        from engine.ingest.run import ingest_file
        from engine.ingest.store import RecordStore

        access = self.service.access
        job = access.job(job_id)
        if job is None or job["status"] not in ("queued", "running"):
            return
        folder = self.service.home.root / job["folder"]
        access.set_job(job_id, "running")
        log.info("ingest job %s: %s for %s", job_id, job["file"], job["source"])
        try:
            mapping = load_mapping(folder / MAPPING_NAME)
            with RecordStore(self.service.home.records) as store:
                report = ingest_file(store, mapping, folder / job["file"])
        except Exception as exc:
            reason = str(exc) if isinstance(exc, EkjonError) else f"{type(exc).__name__}: {exc}"
            log.warning("ingest job %s failed: %s", job_id, reason)
            access.set_job(job_id, "failed", error=reason.replace(str(folder) + "/", ""))
            return
        # the explanations' context (every current record) is stale now
        self.service.graph_changed()
        access.set_job(job_id, "succeeded", report=self._shown(report.to_dict(), job["file"]))

    def _shown(self, report: dict[str, Any], name: str) -> dict[str, Any]:
        """The report as the uploader sees it: the file by its uploaded name, the reports by
        their place in the home."""
        root = self.service.home.root
        report["file"] = name
        for key in ("quarantine_report", "warnings_report"):
            if report.get(key):
                path = Path(report[key])
                report[key] = (
                    str(path.relative_to(root)) if path.is_relative_to(root) else path.name
                )
        return report
