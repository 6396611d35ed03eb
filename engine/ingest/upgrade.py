"""Bringing a record store an older ekjon wrote up to what ingest writes now, once, when the store
is opened (:class:`engine.ingest.store.RecordStore` calls these inside one write transaction and
counts those done in SQLite's ``user_version``).
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path
from typing import Final

from engine.normalise.fields import clean_key

logger = logging.getLogger(__name__)

#: upgrades a record store opened by this ekjon has had (``PRAGMA user_version``): 1, record ids
#: folded; 2, columns for the canonical fields added since (``address``, ``postcode``,
#: ``identifiers``)
UPGRADES: Final = 2


def upgrade_records(db: sqlite3.Connection, path: Path | str, columns: dict[str, str]) -> None:
    """The upgrades a record store has not had yet, in order, counted in SQLite's
    ``user_version``: fold its record ids (:func:`fold_record_ids`), add the ``records``
    columns it lacks (:func:`add_columns`: their values are empty).

    Parameters
    ----------
    db:
        The store's connection, inside a write transaction.
    path:
        The store's file, for log lines.
    columns:
        Every value and raw column of ``records`` (name -> SQL type).
    """
    done = db.execute("PRAGMA user_version").fetchone()[0]  # read inside the transaction
    if done < 1:
        fold_record_ids(db, path)
    if done < 2:
        add_columns(db, "records", columns, path)
    if done < UPGRADES:
        db.execute(f"PRAGMA user_version = {UPGRADES}")


def fold_record_ids(db: sqlite3.Connection, path: Path | str) -> None:
    """Fold the record ids stored before ingest folded them (Bangla digits, control characters:
    :func:`engine.normalise.fields.clean_key`), so new ingests, which fold them, find their
    records instead of adding twins.

    An id whose folded form is also stored (``১০০১`` beside ``1001``: one record that became
    two) merges into it: every version is kept, renumbered in ingest order, and the one ingested
    last is current (within one ingest, the first row's, as ingest keeps it now). The problem
    reports' record ids are folded too; the snapshots of the sources touched are rebuilt when
    next read.

    Parameters
    ----------
    db:
        The record store's connection, inside a write transaction.
    path:
        The store's file, for the log line.
    """
    db.create_function("ekjon_fold_id", 1, clean_key, deterministic=True)
    unfolded = db.execute(
        "SELECT DISTINCT source, record_id, ekjon_fold_id(record_id) FROM records "
        "WHERE ekjon_fold_id(record_id) != record_id"
    ).fetchall()
    groups: dict[tuple[str, str], set[str]] = {}
    for source, record_id, folded in unfolded:
        groups.setdefault((source, folded), {folded}).add(record_id)
    merged = 0
    for (source, folded), members in groups.items():
        marks = ",".join("?" * len(members))
        versions = db.execute(
            "SELECT rowid, record_id, ingest_id, row_number, version FROM records "
            f"WHERE source = ? AND record_id IN ({marks})",
            (source, *members),
        ).fetchall()
        merged += len({v[1] for v in versions}) - 1
        versions.sort(key=lambda v: (v[2], -(v[3] or 0), v[4]))
        # negative versions first: no clash with the unique (source, record_id, version)
        db.executemany(
            "UPDATE records SET record_id = ?, version = ?, is_current = 0 WHERE rowid = ?",
            [(folded, -n, v[0]) for n, v in enumerate(versions, start=1)],
        )
        db.execute(
            "UPDATE records SET version = -version WHERE source = ? AND record_id = ? "
            "AND version < 0",
            (source, folded),
        )
        db.execute("UPDATE records SET is_current = 1 WHERE rowid = ?", (versions[-1][0],))
    for table in ("quarantine", "field_warnings"):
        db.execute(
            f"UPDATE {table} SET record_id = ekjon_fold_id(record_id) "
            "WHERE record_id IS NOT NULL AND ekjon_fold_id(record_id) != record_id"
        )
    db.executemany(
        "UPDATE sources SET generation = generation + 1 WHERE source = ?",
        [(s,) for s in {source for source, _ in groups}],
    )
    if groups:
        logger.warning(
            "%s: %d record ids written with Bangla digits or control characters now read as "
            "ASCII (%d merged into the record they repeated; every version kept)",
            path,
            len({(s, r) for s, r, _ in unfolded}),
            merged,
        )


def add_columns(
    db: sqlite3.Connection, table: str, wanted: dict[str, str], path: Path | str
) -> list[str]:
    """Add to ``table`` the columns of ``wanted`` (name -> SQL type) it lacks, empty in every
    row: the canonical fields an older ekjon did not have (``address``, ``postcode``,
    ``identifiers``) and their raw columns. Returns the columns added.

    Parameters
    ----------
    db:
        The store's connection, inside a write transaction.
    table:
        The table (``records``).
    wanted:
        Every column the table should have that may be missing.
    path:
        The store's file, for the log line.
    """
    have = {row[1] for row in db.execute(f'PRAGMA table_info("{table}")')}
    added = [name for name in wanted if name not in have]
    for name in added:
        db.execute(f'ALTER TABLE "{table}" ADD COLUMN "{name}" {wanted[name]}')
    if added:
        logger.info("%s: added columns %s to %s", path, ", ".join(added), table)
    return added
