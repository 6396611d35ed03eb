"""Stable person and household IDs: the identity ledger.

A batch resolve numbers its clusters ``0 .. k-1`` afresh every run; the people who use the registry
need an ID that stays put. The ledger keeps, in one SQLite file (``$EKJON_HOME/identity.sqlite``,
WAL), which ID every record currently belongs to, and every change to that, and
:func:`assign_person_ids` turns one run's clusters into lasting IDs:

- a cluster keeps the ID of the existing person it shares the most records with. Candidates are
  ranked by (records shared, desc), then (the person's previous number of records, desc), then (the
  older ID first), and matched one-to-one greedily down that ranking, so
- a **merge** of two existing persons keeps the ID with the larger overlap (the one with more
  records, or the older), and the other ID is retired into it;
- a **split** keeps the ID on the part with the most of its records and gives new IDs to the rest;
- a brand-new cluster gets a **new** ID; records moving between two persons that both carry on are a
  **move**; records no longer in the data are a **drop** and a person left with none is **retired**;
  fresh records joining an existing person are an **add**.

Every change is an event in the ledger: what (event, the ID, the other ID, the records involved),
why (the reason the caller gives per cluster, e.g. ``"link p=0.97 via nid+name"`` or ``"reviewer
decision"``), when, the model version and the run. A run that changes nothing writes no events.

IDs
---
``P`` (persons) or ``H`` (households) + a 9-digit counter + one Damm check digit, e.g.
``P0000000013``: readable, fixed width (so sorting IDs sorts them by age: a smaller ID is an older
one), never reused, and a mistyped digit or two swapped neighbours are caught (:func:`is_valid_id`).
A counter rather than random characters keeps a run reproducible: the same data and the same ledger
give the same IDs. New IDs are handed out in the order of each cluster's smallest record key.

Durability
----------
A run reads the previous state and writes the new one inside one ``BEGIN IMMEDIATE`` transaction:
an exception or a killed process leaves the previous assignment intact, and two runs never
interleave.

Households use the same mechanism with ``scope="household"``: their members are person IDs
(:func:`assign_household_ids`).

Example
-------
>>> ledger = IdentityLedger(":memory:")
>>> clusters = pd.DataFrame({"record_key": ["dss/1", "nhd/h1:1", "dss/2"], "cluster": [0, 0, 1]})
>>> assign_person_ids(ledger, clusters, model_version="m1")["person_id"].tolist()
['P0000000013', 'P0000000013', 'P0000000021']
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd

from engine.errors import EkjonError
from engine.sqlite import SQLiteStore

__all__ = [
    "EVENTS",
    "SCOPES",
    "IdentityError",
    "IdentityLedger",
    "RunSummary",
    "format_id",
    "is_valid_id",
]

log = logging.getLogger(__name__)

#: what is identified -> the prefix of its IDs.
SCOPES: Final[dict[str, str]] = {"person": "P", "household": "H"}
#: columns (member, ID) of each scope's assignment frames.
SCOPE_COLUMNS: Final[dict[str, tuple[str, str]]] = {
    "person": ("record_key", "person_id"),
    "household": ("person_id", "household_id"),
}
#: event kinds, in the order a run writes them.
EVENTS: Final = ("new", "add", "split", "move", "merge", "drop", "retire")
COUNTER_DIGITS: Final = 9
SCHEMA_VERSION: Final = 1
DEFAULT_REASON: Final = "batch clustering"
DROP_REASON: Final = "records no longer in the data"
#: What to do when the ledger file is damaged.
ON_DAMAGE: Final = (
    "Restore identity.sqlite from a backup: it holds every person and household ID and their "
    "history. Without one, move it aside and run `ekjon resolve`: every person and household then "
    "gets a new ID."
)

_DAMM: Final = np.array(
    [
        [0, 3, 1, 7, 5, 9, 8, 6, 4, 2],
        [7, 0, 9, 2, 1, 5, 4, 8, 6, 3],
        [4, 2, 0, 6, 8, 7, 1, 3, 5, 9],
        [1, 7, 5, 0, 9, 8, 3, 4, 2, 6],
        [6, 1, 2, 3, 0, 4, 5, 9, 7, 8],
        [3, 6, 7, 4, 2, 0, 9, 5, 8, 1],
        [5, 8, 6, 9, 7, 2, 0, 1, 3, 4],
        [8, 9, 4, 5, 3, 6, 2, 0, 1, 7],
        [9, 4, 3, 8, 6, 1, 7, 2, 0, 5],
        [2, 5, 8, 1, 4, 3, 6, 7, 9, 0],
    ],
    dtype=np.int8,
)

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    run_id INTEGER PRIMARY KEY,
    scope TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT NOT NULL,
    model_version TEXT,
    note TEXT,
    members INTEGER NOT NULL,
    ids INTEGER NOT NULL,
    new INTEGER NOT NULL,
    split INTEGER NOT NULL,
    merged INTEGER NOT NULL,
    moved INTEGER NOT NULL,
    retired INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS counters (scope TEXT PRIMARY KEY, last INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS ids (
    id TEXT PRIMARY KEY,
    scope TEXT NOT NULL,
    created_run INTEGER NOT NULL,
    retired_run INTEGER,
    merged_into TEXT
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS person_members (
    member TEXT PRIMARY KEY,
    id TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS household_members (
    member TEXT PRIMARY KEY,
    id TEXT NOT NULL
) WITHOUT ROWID;
-- the members of one ID (a person's records) without reading every member: partial runs (one
-- record stored through the API) and members_of
{person_members_id};
{household_members_id};
CREATE TABLE IF NOT EXISTS events (
    event_id INTEGER PRIMARY KEY,
    run_id INTEGER NOT NULL,
    event TEXT NOT NULL,
    id TEXT NOT NULL,
    other_id TEXT,
    members INTEGER NOT NULL,
    reason TEXT
);
CREATE INDEX IF NOT EXISTS events_id ON events (id);
CREATE INDEX IF NOT EXISTS events_other ON events (other_id) WHERE other_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS events_run ON events (run_id);
CREATE TABLE IF NOT EXISTS event_members (
    event_id INTEGER NOT NULL,
    member TEXT NOT NULL,
    PRIMARY KEY (event_id, member)
) WITHOUT ROWID;
"""


def member_index(scope: str) -> tuple[str, str]:
    """The index of a scope's members by ID: its name, and the statement that makes it."""
    table = _members_table(scope)
    return f"{table}_id", f"CREATE INDEX IF NOT EXISTS {table}_id ON {table} (id)"


class IdentityError(EkjonError):
    """The identity ledger cannot do what was asked: bad input clusters or an unreadable ledger."""


# --- IDs ------------------------------------------------------------------------------------------


def _check_digits(digits: np.ndarray) -> np.ndarray:
    """Damm check digit of each row of a (n, d) array of digits."""
    interim = np.zeros(len(digits), dtype=np.int8)
    for column in range(digits.shape[1]):
        interim = _DAMM[interim, digits[:, column]]
    return interim


def _format_ids(prefix: str, numbers: np.ndarray) -> np.ndarray:
    """IDs for counter values ``numbers`` (vectorised)."""
    numbers = np.asarray(numbers, dtype=np.int64)
    if not len(numbers):
        return np.empty(0, dtype=object)
    if numbers.min() < 1 or numbers.max() >= 10**COUNTER_DIGITS:
        raise IdentityError(f"The ID counter for {prefix!r} ran out of {COUNTER_DIGITS} digits.")
    powers = 10 ** np.arange(COUNTER_DIGITS - 1, -1, -1, dtype=np.int64)
    digits = (numbers[:, None] // powers) % 10
    check = _check_digits(digits.astype(np.int8))
    text = np.char.zfill(numbers.astype(str), COUNTER_DIGITS)
    return np.char.add(np.char.add(prefix, text), check.astype(str)).astype(object)


def format_id(scope: str, number: int) -> str:
    """The ID for counter value ``number`` of ``scope`` (``"person"`` or ``"household"``).

    Example
    -------
    >>> format_id("person", 1), format_id("household", 1)
    ('P0000000013', 'H0000000013')
    """
    return str(_format_ids(_prefix(scope), np.array([number]))[0])


def is_valid_id(text: str, scope: str | None = None) -> bool:
    """Whether ``text`` is a well-formed ID (of ``scope`` if given): prefix, 10 digits, check digit.

    Example
    -------
    >>> is_valid_id("P0000000013"), is_valid_id("P0000000031")
    (True, False)
    >>> is_valid_id("P0000000013", "household")
    False
    """
    prefixes = [_prefix(scope)] if scope else list(SCOPES.values())
    if not isinstance(text, str) or len(text) != COUNTER_DIGITS + 2 or text[0] not in prefixes:
        return False
    body = text[1:]
    if not body.isascii() or not body.isdigit():
        return False
    digits = np.array([[int(c) for c in body]], dtype=np.int8)
    return int(_check_digits(digits)[0]) == 0


def _prefix(scope: str) -> str:
    try:
        return SCOPES[scope]
    except KeyError:
        raise IdentityError(
            f"The scope must be one of {', '.join(map(repr, SCOPES))}. Got {scope!r}."
        ) from None


def _scope_of(ident: str) -> str:
    for scope, prefix in SCOPES.items():
        if ident.startswith(prefix):
            return scope
    raise IdentityError(
        f"{ident!r} is not an ID: person IDs start with P, household IDs with H (e.g. P0000000013)."
    )


def _members_table(scope: str) -> str:
    """The table of a scope's current members (the scope is checked, so the name is safe in SQL)."""
    _prefix(scope)
    return f"{scope}_members"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


# --- the ledger -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunSummary:
    """What one assignment run did.

    Attributes
    ----------
    run_id, scope, model_version:
        Which run.
    members:
        Records (persons: record keys; households: person IDs) assigned.
    ids:
        Distinct IDs in use after the run.
    kept:
        Clusters that kept an existing ID.
    new:
        Brand-new IDs (clusters of records never seen before).
    split:
        New IDs given to parts split off an existing ID.
    merged:
        IDs retired because their records joined another ID.
    moved:
        Records that moved between two IDs that both carry on.
    retired:
        IDs retired because their records are no longer in the data.
    events:
        Ledger events written.
    seconds:
        Wall time of the run.
    """

    run_id: int
    scope: str
    model_version: str | None
    members: int
    ids: int
    kept: int
    new: int
    split: int
    merged: int
    moved: int
    retired: int
    events: int
    seconds: float


class IdentityLedger(SQLiteStore):
    """The durable record of which ID every record (or person) holds, and of every change to it.

    Parameters
    ----------
    path:
        The SQLite file, e.g. ``$EKJON_HOME/identity.sqlite`` (created with its folder when new), or
        ``":memory:"`` for a ledger that lives as long as the object.

    Raises
    ------
    IdentityError
        If ``path`` exists but is not an identity ledger this code reads.
    """

    def __init__(self, path: Path | str) -> None:
        # NORMAL in WAL mode: a killed process never half-writes a run; a power cut may lose the
        # last committed run, which re-running redoes.
        super().__init__(
            path,
            what="identity ledger",
            schema=_SCHEMA.format(
                **{name: sql for name, sql in (member_index(scope) for scope in SCOPES)}
            ),
            version=SCHEMA_VERSION,
            synchronous="NORMAL",
            error=IdentityError,
            pragmas=("journal_size_limit = 67108864",),
            on_damage=ON_DAMAGE,
        )

    # -- reading ----------------------------------------------------------------------------------

    def current(self, scope: str = "person") -> pd.DataFrame:
        """The current assignment: ``record_key, person_id`` (households: ``person_id,
        household_id``), sorted by member."""
        _prefix(scope)
        member, ident = SCOPE_COLUMNS[scope]
        rows = self._rows(f"SELECT member, id FROM {_members_table(scope)} ORDER BY member")
        return _frame(rows, [member, ident])

    def id_of(self, member: str, scope: str = "person") -> str | None:
        """The ID a record key (households: a person ID) holds now, or ``None``."""
        rows = self._rows(f"SELECT id FROM {_members_table(scope)} WHERE member = ?", (member,))
        return str(rows[0][0]) if rows else None

    def members_of(self, ident: str) -> list[str]:
        """The record keys (households: person IDs) that hold ``ident`` now."""
        rows = self._rows(
            f"SELECT member FROM {_members_table(_scope_of(ident))} WHERE id = ? ORDER BY member",
            (ident,),
        )
        return [r[0] for r in rows]

    def info(self, ident: str) -> dict[str, Any] | None:
        """``id, scope, created_run, retired_run, merged_into, members`` of an ID, or ``None`` when
        the ledger never issued it."""
        with self._lock, self._reading():
            row = self._db.execute(
                "SELECT id, scope, created_run, retired_run, merged_into FROM ids WHERE id = ?",
                (ident,),
            ).fetchone()
            if row is None:
                return None
            count = self._db.execute(
                f"SELECT count(*) FROM {_members_table(row[1])} WHERE id = ?", (ident,)
            ).fetchone()
        keys = ("id", "scope", "created_run", "retired_run", "merged_into")
        return {**dict(zip(keys, row, strict=True)), "members": int(count[0])}

    def current_id(self, ident: str) -> str | None:
        """The ID that carries ``ident`` on: itself while in use, else the ID it was merged into
        (followed through later merges); ``None`` when it was retired without a merge or never
        issued."""
        seen: set[str] = set()
        while ident not in seen:
            seen.add(ident)
            found = self.info(ident)
            if found is None:
                return None
            if found["retired_run"] is None:
                return ident
            if not found["merged_into"]:
                return None
            ident = found["merged_into"]
        return None

    def runs(self, scope: str | None = None) -> pd.DataFrame:
        """Every run, oldest first: ``run_id, scope, started_at, finished_at, model_version, note``
        and its counts."""
        sql = "SELECT * FROM runs" + (" WHERE scope = ?" if scope else "") + " ORDER BY run_id"
        with self._lock, self._reading():
            return pd.read_sql_query(sql, self._db, params=(scope,) if scope else None)

    def last_run(self, scope: str = "person") -> int | None:
        """The latest run of ``scope``, or ``None`` before the first."""
        [(last,)] = self._rows("SELECT max(run_id) FROM runs WHERE scope = ?", (scope,))
        return None if last is None else int(last)

    def events(
        self, run_id: int | None = None, *, scope: str | None = None, with_members: bool = False
    ) -> pd.DataFrame:
        """Ledger events, oldest first: of one run when ``run_id`` is given, else of every run.

        Columns: ``event_id, run_id, at, model_version, scope, event, id, other_id, count, reason``
        and, with ``with_members``, ``members`` (a list of the record keys, or person IDs for
        households, the event moved). ``id`` is the ID the event is about (the one that received
        the records; the one dropped or retired); ``other_id`` the ID they came from (split, move,
        merge).
        """
        where: list[str] = []
        params: list[Any] = []
        if run_id is not None:
            where.append("e.run_id = ?")
            params.append(run_id)
        if scope is not None:
            where.append("r.scope = ?")
            params.append(scope)
        return self._events(" AND ".join(where) or "1", params, with_members)

    def history(self, ident: str) -> pd.DataFrame:
        """Every event about one ID (as ``id`` or as ``other_id``), oldest first, with its members.

        Columns as :meth:`events` with ``with_members``.
        """
        return self._events("(e.id = ? OR e.other_id = ?)", [ident, ident], True)

    def record_history(self, member: str, *, with_members: bool = False) -> pd.DataFrame:
        """Every event that moved one record key (households: one person ID), oldest first.

        Columns as :meth:`events`. It scans the event members (no index, to keep runs fast).
        """
        return self._events(
            "e.event_id IN (SELECT event_id FROM event_members WHERE member = ?)",
            [member],
            with_members,
        )

    def _events(self, where: str, params: Sequence[Any], with_members: bool) -> pd.DataFrame:
        sql = (
            "SELECT e.event_id, e.run_id, r.finished_at AS at, r.model_version, r.scope, e.event, "
            "e.id, e.other_id, e.members AS count, e.reason "
            "FROM events e JOIN runs r USING (run_id) "
            f"WHERE {where} ORDER BY e.event_id"
        )
        with self._lock, self._reading():
            frame = pd.read_sql_query(sql, self._db, params=list(params))
            if with_members:
                ids = frame["event_id"].tolist()
                members: dict[int, list[str]] = {i: [] for i in ids}
                for chunk in _chunks(ids, 900):
                    marks = ",".join("?" * len(chunk))
                    for event_id, member in self._db.execute(
                        f"SELECT event_id, member FROM event_members WHERE event_id IN ({marks}) "
                        "ORDER BY event_id, member",
                        chunk,
                    ):
                        members[event_id].append(member)
                frame["members"] = [members[i] for i in ids]
        return frame

    # -- what a run plans from (read inside its transaction) ---------------------------------------

    def old_state(
        self, scope: str, members: Sequence[str] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The current members of ``scope`` and the ID of each, as two arrays in no set order.

        With ``members``, only the IDs these members hold: each of those IDs with every member
        that holds it (what a partial run of these members can change), not the whole ledger.
        """
        table = _members_table(scope)
        if members is None:
            rows = self._rows(f"SELECT member, id FROM {table}")
        else:
            ids: set[str] = set()
            for part in _chunks(list(members), 500):
                marks = ", ".join("?" * len(part))
                found = self._rows(
                    f"SELECT DISTINCT id FROM {table} WHERE member IN ({marks})", part
                )
                ids.update(str(r[0]) for r in found)
            rows = []
            for part in _chunks(sorted(ids), 500):
                marks = ", ".join("?" * len(part))
                rows += self._rows(f"SELECT member, id FROM {table} WHERE id IN ({marks})", part)
        frame = _frame(rows, ["member", "id"])
        return frame["member"].to_numpy(dtype=object), frame["id"].to_numpy(dtype=object)

    def counter(self, scope: str) -> int:
        """The last ID number ``scope`` has issued (0 before the first)."""
        rows = self._rows("SELECT last FROM counters WHERE scope = ?", (scope,))
        return int(rows[0][0]) if rows else 0


def _frame(rows: list[tuple[Any, ...]], columns: list[str]) -> pd.DataFrame:
    if not rows:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
    return pd.DataFrame.from_records(rows, columns=columns)


def _chunks(values: list[Any], size: int) -> Iterable[list[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]
