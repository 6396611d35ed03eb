"""Opening one of ekjon's SQLite files: the record store, the identity ledger, the decision store.

Each is a single SQLite file in WAL mode, opened in autocommit (the caller writes with explicit
``BEGIN IMMEDIATE`` transactions), with a ``meta`` table holding its ``schema_version``. A file that
is not SQLite, or is of another schema version, is refused with the store's own error naming the
path. :class:`SQLiteStore` is what the three stores share: the file, a lock, and write transactions.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal, Self


def open_database(
    path: Path | str,
    *,
    what: str,
    schema: str,
    version: int,
    synchronous: Literal["NORMAL", "FULL"],
    error: type[Exception],
    pragmas: tuple[str, ...] = (),
    on_version_mismatch: str = "",
) -> sqlite3.Connection:
    """Open (creating when absent) one of ekjon's SQLite files.

    Parameters
    ----------
    path:
        The file, or ``":memory:"``.
    what:
        The store's name for messages, e.g. ``"identity ledger"``.
    schema:
        ``CREATE TABLE IF NOT EXISTS ...`` script, including a ``meta(key, value)`` table.
    version:
        The schema version this code reads; written into a new file, checked in an old one.
    synchronous:
        ``NORMAL`` (a killed process never half-writes a transaction; a power cut may lose the last
        commits) or ``FULL`` (a committed transaction survives a power cut).
    error:
        The exception raised when the file is not such a store or of another version.
    pragmas:
        Further ``PRAGMA`` settings, e.g. ``("foreign_keys = ON",)``.
    on_version_mismatch:
        What to tell the user when the version differs (appended to the message).

    Returns
    -------
    sqlite3.Connection
        In autocommit mode, usable from any thread (callers serialise their own writes).
    """
    try:
        db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA busy_timeout = 60000")
        db.execute("PRAGMA journal_mode = WAL")
        db.execute(f"PRAGMA synchronous = {synchronous}")
        for pragma in pragmas:
            db.execute(f"PRAGMA {pragma}")
        db.executescript(schema)
        row = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        if row is None:
            db.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(version),))
        elif int(row[0]) != version:
            db.close()
            hint = f" {on_version_mismatch}" if on_version_mismatch else ""
            raise error(
                f"{path}: {what} schema version {row[0]}, this ekjon reads {version}.{hint}"
            )
    except sqlite3.DatabaseError as exc:
        raise error(f"{path}: not an ekjon {what} ({exc}).") from None
    return db


class SQLiteStore:
    """One of ekjon's SQLite files, open: the base of the record store, ledger and decision store.

    Parameters
    ----------
    path:
        The file (created with its folder when new), or ``":memory:"`` for a store that lives as
        long as the object.
    what, schema, version, synchronous, error, pragmas, on_version_mismatch:
        As :func:`open_database` takes them.

    Raises
    ------
    error
        The store's own exception class, if ``path`` exists but is not such a store of a version
        this code reads.
    """

    def __init__(
        self,
        path: Path | str,
        *,
        what: str,
        schema: str,
        version: int,
        synchronous: Literal["NORMAL", "FULL"],
        error: type[Exception],
        pragmas: tuple[str, ...] = (),
        on_version_mismatch: str = "",
    ) -> None:
        self.path = path if str(path) == ":memory:" else Path(path)
        if isinstance(self.path, Path):
            self.path.parent.mkdir(parents=True, exist_ok=True)
        # One connection shared by threads: the lock keeps one thread's transaction whole.
        self._lock = threading.RLock()
        self._db = open_database(
            self.path,
            what=what,
            schema=schema,
            version=version,
            synchronous=synchronous,
            error=error,
            pragmas=pragmas,
            on_version_mismatch=on_version_mismatch,
        )

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, the lock held: ``BEGIN IMMEDIATE`` ... ``COMMIT``.

        ``IMMEDIATE`` takes the file's write lock at the start, so two writers (threads or
        processes) never interleave. Any exception, ``KeyboardInterrupt`` included, rolls the
        whole transaction back and is raised again.

        Example
        -------
        >>> with store.transaction() as db:  # doctest: +SKIP
        ...     db.execute("INSERT INTO meta VALUES ('note', 'hello')")
        """
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:  # SQLite may have rolled back already
                    self._db.execute("ROLLBACK")
                raise

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        """Every row one query gives, read under the lock."""
        with self._lock:
            return self._db.execute(sql, params).fetchall()
