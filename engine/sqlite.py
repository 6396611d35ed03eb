"""Opening one of ekjon's SQLite files: the record store, the identity ledger, the decision store.

Each is a single SQLite file in WAL mode, opened in autocommit (the caller writes with explicit
``BEGIN IMMEDIATE`` transactions), with a ``meta`` table holding its ``schema_version``. A file that
is not SQLite, or is of another schema version, is refused with the store's own error naming the
path; so is a damaged file (a bad disk, a copy cut short), whether SQLite finds the damage when the
file is opened or on a later read or write, with what to do about it. :class:`SQLiteStore` is what
the three stores share: the file, a lock, and write transactions.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal, Self

#: What to do about a damaged store, unless the store says better.
DEFAULT_ON_DAMAGE = "Restore it from a backup."


def is_damage(error: BaseException) -> bool:
    """Whether ``error`` (or the SQLite error behind it, as pandas wraps it) says the file is
    damaged: malformed, or not SQLite at all. A busy or locked file is not damage."""
    found: BaseException | None = error
    while found is not None and not isinstance(found, sqlite3.DatabaseError):
        found = found.__cause__
    name = str(getattr(found, "sqlite_errorname", ""))
    return name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB"))


def damaged(path: Path | str, what: str, error: BaseException, on_damage: str) -> str:
    """The message for a damaged store: the file, what SQLite said, what to do."""
    cause = error if isinstance(error, sqlite3.Error) else (error.__cause__ or error)
    return f"{path}: the {what} is damaged ({cause}). {on_damage}"


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
    on_damage: str = DEFAULT_ON_DAMAGE,
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
    on_damage:
        What to tell the user when the file is damaged (appended to the message).

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
        if getattr(exc, "sqlite_errorname", "").startswith("SQLITE_CORRUPT"):
            raise error(damaged(path, what, exc, on_damage)) from None
        hint = f" If it should be one, it is damaged. {on_damage}" if is_damage(exc) else ""
        raise error(f"{path}: not an ekjon {what} ({exc}).{hint}") from None
    return db


class SQLiteStore:
    """One of ekjon's SQLite files, open: the base of the record store, ledger and decision store.

    Parameters
    ----------
    path:
        The file (created with its folder when new), or ``":memory:"`` for a store that lives as
        long as the object.
    what, schema, version, synchronous, error, pragmas, on_version_mismatch, on_damage:
        As :func:`open_database` takes them. A damage found on a later read or write (through
        :meth:`transaction`, :meth:`_rows` or :meth:`_reading`) raises ``error`` the same way.

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
        on_damage: str = DEFAULT_ON_DAMAGE,
    ) -> None:
        self.path = path if str(path) == ":memory:" else Path(path)
        if isinstance(self.path, Path):
            self.path.parent.mkdir(parents=True, exist_ok=True)
        # One connection shared by threads: the lock keeps one thread's transaction whole.
        self._lock = threading.RLock()
        self._what, self._error, self._on_damage = what, error, on_damage
        self._db = open_database(
            self.path,
            what=what,
            schema=schema,
            version=version,
            synchronous=synchronous,
            error=error,
            pragmas=pragmas,
            on_version_mismatch=on_version_mismatch,
            on_damage=on_damage,
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
        with self._lock, self._reading():
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:  # SQLite may have rolled back already
                    self._db.execute("ROLLBACK")
                raise

    @contextmanager
    def _reading(self) -> Iterator[None]:
        """Turn SQLite's word that the file is damaged into the store's error, naming the file
        and what to do (any other error passes)."""
        try:
            yield
        except Exception as exc:
            if not is_damage(exc):
                raise
            raise self._error(damaged(self.path, self._what, exc, self._on_damage)) from None

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        """Every row one query gives, read under the lock."""
        with self._lock, self._reading():
            return self._db.execute(sql, params).fetchall()
