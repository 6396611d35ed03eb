"""ekjon's SQLite files (record store, identity ledger, decision store) refuse what they cannot
read, naming the file, instead of failing later with a traceback."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from engine.identity.ledger import IdentityError, IdentityLedger
from engine.ingest.store import RecordStore, StoreError
from engine.resolve.decisions import DecisionError, DecisionStore

STORES: list[tuple[Callable[[Path], Any], type[Exception], str]] = [
    (RecordStore, StoreError, "record store"),
    (IdentityLedger, IdentityError, "identity ledger"),
    (DecisionStore, DecisionError, "decision store"),
]


@pytest.mark.parametrize(("open_store", "error", "what"), STORES)
def test_a_file_that_is_not_sqlite_is_refused_by_name(
    tmp_path: Path, open_store: Callable[[Path], Any], error: type[Exception], what: str
) -> None:
    path = tmp_path / "store.sqlite"
    path.write_bytes(b"source,record_id\ndss,1\n" * 200)
    with pytest.raises(error, match=f"{path}: not an ekjon {what}"):
        open_store(path)


@pytest.mark.parametrize(("open_store", "error", "what"), STORES)
def test_a_store_of_another_schema_version_is_refused_and_a_current_one_reopens(
    tmp_path: Path, open_store: Callable[[Path], Any], error: type[Exception], what: str
) -> None:
    path = tmp_path / "store.sqlite"
    open_store(path).close()
    open_store(path).close()  # the version it wrote is the version it reads
    with sqlite3.connect(path) as db:
        db.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(error, match=f"{what} schema version 99, this ekjon reads 1"):
        open_store(path)


@pytest.mark.parametrize(("open_store", "error", "what"), STORES)
@pytest.mark.parametrize("interruption", [RuntimeError("disk gone"), KeyboardInterrupt()])
def test_an_interrupted_write_leaves_nothing_and_the_store_usable(
    tmp_path: Path,
    open_store: Callable[[Path], Any],
    error: type[Exception],
    what: str,
    interruption: BaseException,
) -> None:
    path = tmp_path / "store.sqlite"
    with open_store(path) as store:
        with pytest.raises(type(interruption)), store.transaction() as db:
            db.execute("INSERT INTO meta VALUES ('half', 'written')")
            raise interruption
        with store.transaction() as db:
            db.execute("INSERT INTO meta VALUES ('whole', 'written')")
    with sqlite3.connect(path) as db:
        kept = db.execute("SELECT key FROM meta WHERE key != 'schema_version'").fetchall()
    assert kept == [("whole",)]


@pytest.mark.parametrize(("open_store", "error", "what"), STORES)
def test_damage_found_after_opening_is_the_stores_error_naming_the_file(
    tmp_path: Path, open_store: Callable[[Path], Any], error: type[Exception], what: str
) -> None:
    path = tmp_path / "store.sqlite"
    with open_store(path) as store, store.transaction() as db:
        db.execute("CREATE TABLE filler (n INTEGER, text TEXT)")
        db.executemany("INSERT INTO filler VALUES (?, ?)", ((i, "x" * 200) for i in range(2000)))
    with open_store(path) as store:
        size = path.stat().st_size
        with path.open("r+b") as file:  # a bad disk: the second half of the file overwritten
            file.seek(size // 2)
            file.write(b"\xff" * (size - size // 2))
        with pytest.raises(error, match=f"{path}: the {what} is damaged .* from a backup"):
            store._rows("SELECT sum(length(text)) FROM filler")
        with pytest.raises(error, match=f"{path}: the {what} is damaged"):
            with store.transaction() as db:
                db.execute("UPDATE filler SET n = n + 1")
