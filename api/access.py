"""Who may call the HTTP API, and what they read: API keys with roles, and the audit log.

Both live in one SQLite file of the home (``$EKJON_HOME/api.sqlite``, :attr:`engine.home.Home.api`),
with the ingest jobs MIS keys submit (their state survives a restart).

Keys
----
``ek_<key_id>_<secret>``: a 12-hex-digit id (shown in lists and the audit log) and a 256-bit secret
(43 URL-safe characters). The key is shown once, when made; the store keeps its SHA-256 only and
compares in constant time. A slow KDF would add nothing for a key of 256 random bits and cost about
half a second per request.

Roles: ``mis`` (resolve and ingest jobs, for its own sources), ``analyst`` (every read; identifiers
masked unless a purpose is named), ``reviewer`` (decisions and history), ``admin`` (keys and audit).

Audit
-----
Every read of personal data and every reveal is one row, written before the answer leaves: when
it was, which key and role, the route, the person IDs returned, the purpose named. Rows are
append-only (triggers refuse UPDATE and DELETE) and each carries the SHA-256 of the previous row's
hash and its own fields, so a row changed behind SQLite's back breaks the chain at that row
(:meth:`AccessStore.verify_audit`).

Rows are committed in groups: requests that want a row while another group is being committed
(synced to disk) wait, and the next commit writes all their rows in one transaction, chained in
the order they came. Each :meth:`AccessStore.audit` returns only once its own row is committed
(and raises if that commit failed), so "no audit row, no answer" holds; under load one sync
serves many requests instead of one each. The answer a request keeps for its idempotency keys
goes in the same commit as its audit row (``answers``): a storing ``/v1/resolve`` syncs once a
group of requests, not once for its row and once for its kept answer.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import json
import secrets
import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from engine.errors import EkjonError
from engine.sqlite import SQLiteStore

__all__ = [
    "JOB_STATUSES",
    "ROLES",
    "AccessError",
    "AccessStore",
    "ApiKey",
    "AuditBreak",
    "NewKey",
    "UNREAD",
]

ROLES: Final = ("mis", "analyst", "reviewer", "admin")
SCHEMA_VERSION: Final = 1
KEY_PREFIX: Final = "ek_"
#: The hash the first audit row chains to.
GENESIS: Final = "0" * 64

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS keys (
    key_id TEXT PRIMARY KEY,
    secret_sha256 TEXT NOT NULL,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    sources TEXT NOT NULL,
    created_at TEXT NOT NULL,
    revoked_at TEXT
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    key_id TEXT NOT NULL,
    role TEXT NOT NULL,
    route TEXT NOT NULL,
    persons TEXT NOT NULL,
    purpose TEXT,
    revealed INTEGER NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TABLE IF NOT EXISTS idempotency (
    key_id TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    body_sha256 TEXT NOT NULL,
    status INTEGER NOT NULL,
    answer TEXT NOT NULL,
    at TEXT NOT NULL,
    PRIMARY KEY (key_id, idempotency_key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS jobs (
    job_id TEXT PRIMARY KEY,
    key_id TEXT NOT NULL,
    source TEXT NOT NULL,
    file TEXT NOT NULL,
    folder TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at TEXT NOT NULL,
    started_at TEXT,
    finished_at TEXT,
    report TEXT,
    error TEXT
) WITHOUT ROWID;
"""
#: What an ingest job can be: waiting for the worker, being ingested, done, or refused midway.
JOB_STATUSES: Final = ("queued", "running", "succeeded", "failed")
_JOB_COLUMNS: Final = (
    "job_id",
    "key_id",
    "source",
    "file",
    "folder",
    "status",
    "created_at",
    "started_at",
    "finished_at",
    "report",
    "error",
)


class AccessError(EkjonError, ValueError):
    """A key or audit request that cannot be met: an unknown role, an unknown key."""


@dataclass(frozen=True)
class ApiKey:
    """A key as the store knows it (never its secret)."""

    key_id: str
    name: str
    role: str
    sources: tuple[str, ...]
    created_at: str
    revoked_at: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "key_id": self.key_id,
            "name": self.name,
            "role": self.role,
            "sources": list(self.sources),
            "created_at": self.created_at,
            "revoked_at": self.revoked_at,
        }


@dataclass(frozen=True)
class NewKey:
    """A key just made: the only time its full text is known."""

    key: ApiKey
    token: str


@dataclass(frozen=True)
class AuditBreak:
    """Where the audit chain breaks: the first row whose hash does not follow."""

    seq: int
    reason: str


@dataclass
class _KeyCache:
    by_id: dict[str, tuple[str, ApiKey]] = field(default_factory=dict)


@dataclass
class _AuditRow:
    """An audit row waiting for its group's commit."""

    fields: tuple[Any, ...]
    #: idempotent answers kept in the row's commit: ``(idempotency key, body sha256, status,
    #: answer JSON)``, for the row's key
    answers: Sequence[tuple[str, str, int, str]] = ()
    done: bool = False
    seq: int = 0
    error: BaseException | None = None


class Unread(enum.Enum):
    """The type of :data:`UNREAD`."""

    UNREAD = "unread"


#: :meth:`AccessStore.remembered`'s answer for a key whose id has not been read from the file.
UNREAD: Final = Unread.UNREAD


def _checked(cached: tuple[str, ApiKey], secret: str) -> ApiKey | None:
    """The key, if ``secret`` is its secret and it is not revoked."""
    digest, key = cached
    if not hmac.compare_digest(digest, _sha256(secret)) or key.revoked_at is not None:
        return None
    return key


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _row_hash(prev: str, fields: Sequence[Any]) -> str:
    return _sha256(prev + "\x1f" + json.dumps(list(fields), ensure_ascii=False))


def _keep_answers(
    db: sqlite3.Connection, key_id: str, answers: Sequence[tuple[str, str, int, str]]
) -> None:
    """Keep, in ``db``'s open transaction, each first answer to one of ``key_id``'s idempotency
    keys (a later one never replaces it)."""
    at = _now()
    db.executemany(
        "INSERT OR IGNORE INTO idempotency VALUES (?, ?, ?, ?, ?, ?)",
        [(key_id, k, digest, status, answer, at) for k, digest, status, answer in answers],
    )


class AccessStore(SQLiteStore):
    """The API's keys, audit log, idempotent answers and ingest jobs (one SQLite file).

    Parameters
    ----------
    path:
        ``$EKJON_HOME/api.sqlite``, or ``":memory:"``.
    """

    def __init__(self, path: Path | str) -> None:
        super().__init__(
            path,
            what="API access store",
            schema=_SCHEMA,
            version=SCHEMA_VERSION,
            # FULL: an audit row that was acknowledged survives a power cut
            synchronous="FULL",
            error=AccessError,
        )
        self._keys = _KeyCache()
        # audit rows waiting for a commit, and whether a thread is committing a group now
        self._audit_turn = threading.Condition(threading.Lock())
        self._audit_waiting: list[_AuditRow] = []
        self._audit_writing = False

    # -- keys

    def create_key(self, name: str, role: str, sources: Sequence[str] = ()) -> NewKey:
        """Make a key; its full text is in the answer and nowhere else.

        Raises
        ------
        AccessError
            If ``role`` is not one of :data:`ROLES`, the name is empty, or an ``mis`` key names
            no source.
        """
        if role not in ROLES:
            raise AccessError(f"Role {role!r} is not one of {', '.join(ROLES)}.")
        if not name.strip():
            raise AccessError("A key needs a name (who or what uses it).")
        sources = tuple(sorted({s.strip() for s in sources if s.strip()}))
        if role == "mis" and not sources:
            raise AccessError("An mis key needs at least one --source it may resolve and ingest.")
        key_id = secrets.token_hex(6)
        secret = secrets.token_urlsafe(32)
        key = ApiKey(key_id, name.strip(), role, sources, _now())
        with self.transaction() as db:
            db.execute(
                "INSERT INTO keys VALUES (?, ?, ?, ?, ?, ?, NULL)",
                (key_id, _sha256(secret), key.name, role, json.dumps(sources), key.created_at),
            )
        return NewKey(key, f"{KEY_PREFIX}{key_id}_{secret}")

    def keys(self) -> list[ApiKey]:
        """Every key ever made, oldest first (revoked ones with their ``revoked_at``)."""
        rows = self._rows(
            "SELECT key_id, name, role, sources, created_at, revoked_at FROM keys "
            "ORDER BY created_at"
        )
        return [ApiKey(r[0], r[1], r[2], tuple(json.loads(r[3])), r[4], r[5]) for r in rows]

    def revoke(self, key_id: str) -> ApiKey:
        """Revoke a key: from now on it is refused.

        Raises
        ------
        AccessError
            If no key has that id.
        """
        with self.transaction() as db:
            found = db.execute("SELECT 1 FROM keys WHERE key_id = ?", (key_id,)).fetchone()
            if found is None:
                raise AccessError(f"No key {key_id!r}; `ekjon keys list` shows the keys.")
            db.execute(
                "UPDATE keys SET revoked_at = coalesce(revoked_at, ?) WHERE key_id = ?",
                (_now(), key_id),
            )
        self._keys.by_id.pop(key_id, None)
        return next(k for k in self.keys() if k.key_id == key_id)

    def authenticate(self, token: str) -> ApiKey | None:
        """The live key ``token`` is, or ``None`` (malformed, unknown, wrong secret, revoked)."""
        known = self.remembered(token)
        if known is not UNREAD:
            return known
        key_id, _, secret = token[len(KEY_PREFIX) :].partition("_")
        cached = self._keys.by_id.get(key_id)
        if cached is None:
            rows = self._rows(
                "SELECT secret_sha256, name, role, sources, created_at, revoked_at FROM keys "
                "WHERE key_id = ?",
                (key_id,),
            )
            if not rows:
                return None
            r = rows[0]
            cached = (r[0], ApiKey(key_id, r[1], r[2], tuple(json.loads(r[3])), r[4], r[5]))
            self._keys.by_id[key_id] = cached
        return _checked(cached, secret)

    def remembered(self, token: str) -> ApiKey | None | Unread:
        """:meth:`authenticate` without reading the file: the live key, ``None``, or
        :data:`UNREAD` when the key's id has not been read yet (then :meth:`authenticate`
        reads it). The server's event loop asks this, and only an unread key waits for the
        file (which an audit commit may hold)."""
        if not token.startswith(KEY_PREFIX):
            return None
        key_id, sep, secret = token[len(KEY_PREFIX) :].partition("_")
        if not sep or not key_id or not secret:
            return None
        cached = self._keys.by_id.get(key_id)
        return UNREAD if cached is None else _checked(cached, secret)

    # -- audit

    def audit(
        self,
        key: ApiKey,
        route: str,
        persons: Sequence[str],
        *,
        purpose: str | None = None,
        revealed: bool = False,
        answers: Sequence[tuple[str, str, int, str]] = (),
    ) -> int:
        """Append one audit row; returns its sequence number once the row is committed. Raises if
        it cannot be written (the caller then sends no answer).

        The row is committed with the others that wait meanwhile (see the module docstring): the
        first waiting thread commits the group, the others wait for that commit. ``answers``
        (each ``(idempotency key, body sha256, status, answer JSON)``) are kept for ``key`` in
        the same commit, as :meth:`keep_answer` keeps one: the first answer to a key stays."""
        people = json.dumps(sorted({str(p) for p in persons}))
        with self._audit_turn:
            # stamped in the order the rows are chained
            row = _AuditRow(
                (_now(), key.key_id, key.role, route, people, purpose, int(revealed)), answers
            )
            self._audit_waiting.append(row)
            while not row.done and self._audit_writing:
                self._audit_turn.wait()
            if not row.done:  # no commit under way: this thread commits every row waiting
                group, self._audit_waiting = self._audit_waiting, []
                self._audit_writing = True
        if not row.done:
            error: BaseException | None = None
            seqs: list[int] = []
            try:
                seqs = self._append_audit(group)
            except BaseException as exc:  # every row of the group is refused, and said so
                error = exc
            with self._audit_turn:
                for i, waiting in enumerate(group):
                    waiting.seq = seqs[i] if error is None else 0
                    waiting.error = error
                    waiting.done = True
                self._audit_writing = False
                self._audit_turn.notify_all()
        if row.error is not None:
            raise row.error
        return row.seq

    def _append_audit(self, rows: Sequence[_AuditRow]) -> list[int]:
        """Commit ``rows`` and the answers they keep in one transaction, each row chained to the
        one before; their sequence numbers."""
        seqs = []
        with self.transaction() as db:
            last = db.execute("SELECT hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
            prev = GENESIS if last is None else str(last[0])
            for row in rows:
                digest = _row_hash(prev, row.fields)
                cursor = db.execute(
                    "INSERT INTO audit (at, key_id, role, route, persons, purpose, revealed, "
                    "prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (*row.fields, prev, digest),
                )
                seqs.append(int(cursor.lastrowid or 0))
                prev = digest
                if row.answers:
                    _keep_answers(db, row.fields[1], row.answers)
        return seqs

    def audit_rows(
        self, *, after: int = 0, limit: int = 100, key_id: str | None = None
    ) -> list[dict[str, Any]]:
        """Audit rows after sequence number ``after``, oldest first."""
        sql = (
            "SELECT seq, at, key_id, role, route, persons, purpose, revealed, hash FROM audit "
            "WHERE seq > ?" + (" AND key_id = ?" if key_id else "") + " ORDER BY seq LIMIT ?"
        )
        params: tuple[Any, ...] = (after, key_id, limit) if key_id else (after, limit)
        names = ("seq", "at", "key_id", "role", "route", "persons", "purpose", "revealed", "hash")
        out = []
        for row in self._rows(sql, params):
            entry = dict(zip(names, row, strict=True))
            entry["persons"] = json.loads(entry["persons"])
            entry["revealed"] = bool(entry["revealed"])
            out.append(entry)
        return out

    def verify_audit(self) -> tuple[int, AuditBreak | None]:
        """Check the whole audit chain: how many rows, and the first break (``None``: intact)."""
        rows = self._rows(
            "SELECT seq, at, key_id, role, route, persons, purpose, revealed, prev_hash, hash "
            "FROM audit ORDER BY seq"
        )
        prev = GENESIS
        for row in rows:
            seq, fields, prev_hash, digest = row[0], row[1:8], row[8], row[9]
            if prev_hash != prev:
                return len(rows), AuditBreak(seq, "its previous-row hash is not the row before's")
            if _row_hash(prev, fields) != digest:
                return len(rows), AuditBreak(seq, "its fields do not give its hash (changed)")
            prev = digest
        return len(rows), None

    # -- idempotent answers

    def answer_for(self, key_id: str, idempotency_key: str) -> tuple[str, int, str] | None:
        """``(body sha256, status, answer JSON)`` first given to this key's ``idempotency_key``."""
        rows = self._rows(
            "SELECT body_sha256, status, answer FROM idempotency "
            "WHERE key_id = ? AND idempotency_key = ?",
            (key_id, idempotency_key),
        )
        return None if not rows else (rows[0][0], int(rows[0][1]), rows[0][2])

    def keep_answer(
        self, key_id: str, idempotency_key: str, body_sha256: str, status: int, answer: str
    ) -> None:
        """Keep the first answer to an idempotency key (a later one never replaces it)."""
        with self.transaction() as db:
            _keep_answers(db, key_id, [(idempotency_key, body_sha256, status, answer)])

    # -- ingest jobs

    def add_job(
        self, job_id: str, key_id: str, source: str, file: str, folder: str
    ) -> dict[str, Any]:
        """Keep a new ingest job, ``queued``: ``file`` is the data file's name in ``folder``."""
        with self.transaction() as db:
            db.execute(
                "INSERT INTO jobs (job_id, key_id, source, file, folder, status, created_at) "
                "VALUES (?, ?, ?, ?, ?, 'queued', ?)",
                (job_id, key_id, source, file, folder, _now()),
            )
        job = self.job(job_id)
        assert job is not None
        return job

    def job(self, job_id: str) -> dict[str, Any] | None:
        """An ingest job (``report`` parsed), or ``None``."""
        rows = self._rows(f"SELECT {', '.join(_JOB_COLUMNS)} FROM jobs WHERE job_id = ?", (job_id,))
        if not rows:
            return None
        job = dict(zip(_JOB_COLUMNS, rows[0], strict=True))
        job["report"] = None if job["report"] is None else json.loads(job["report"])
        return job

    def unfinished_jobs(self) -> list[str]:
        """Jobs queued or running (a restart interrupted them), oldest first."""
        rows = self._rows(
            "SELECT job_id FROM jobs WHERE status IN ('queued', 'running') ORDER BY created_at"
        )
        return [r[0] for r in rows]

    def set_job(
        self,
        job_id: str,
        status: str,
        *,
        report: dict[str, Any] | None = None,
        error: str | None = None,
    ) -> None:
        """Move a job on: ``running`` stamps its start, ``succeeded`` / ``failed`` its end with
        the ingest report or the error."""
        if status not in JOB_STATUSES:
            raise AccessError(f"Job status {status!r} is not one of {', '.join(JOB_STATUSES)}.")
        stamp = "started_at" if status == "running" else "finished_at"
        with self.transaction() as db:
            db.execute(
                f"UPDATE jobs SET status = ?, {stamp} = ?, report = ?, error = ? WHERE job_id = ?",
                (
                    status,
                    _now(),
                    None if report is None else json.dumps(report, default=str),
                    error,
                    job_id,
                ),
            )
