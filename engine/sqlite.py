"""Opening one of ekjon's SQLite files: the record store, the identity ledger, the decision store.

Each is a single SQLite file in WAL mode, opened in autocommit (the caller writes with explicit
``BEGIN IMMEDIATE`` transactions), with a ``meta`` table holding its ``schema_version``. A file that
is not SQLite, or is of another schema version, is refused with the store's own error naming the
path.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Literal


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
