"""Reviewers' work on a home: decide that two records are (or are not) one person, list the
decisions, and read the ledger's history of an ID.

``ekjon review`` and the HTTP API's ``/v1/decisions`` and ``/v1/persons/{id}/history`` call these;
the stores themselves are :class:`engine.resolve.decisions.DecisionStore` and
:class:`engine.identity.ledger.IdentityLedger`.

Example
-------
>>> decision, checked = decide(home, "dss/1", "ec/9", "same", reason="one NID")  # doctest: +SKIP
>>> info, events = id_history(home, "P0000000013")                             # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from engine.errors import EkjonError
from engine.home import Home
from engine.identity.ledger import IdentityLedger, is_valid_id
from engine.ingest.store import RecordStore
from engine.resolve.decisions import Contradiction, Decision, DecisionStore, consistent

__all__ = ["KnownRecords", "ReviewError", "contradictions", "decide", "decisions", "id_history"]


class ReviewError(EkjonError):
    """A review question that cannot be answered: a malformed or unknown ID, or no ledger yet."""


@dataclass
class KnownRecords:
    """Record keys known to the record store or to the last resolve, looked up one at a time.

    ``checked`` says whether there was anything to check against: with neither store yet, every
    key is accepted.
    """

    home: Home
    checked: bool = field(default=False, init=False)

    def __contains__(self, key: object) -> bool:
        source, _, record_id = str(key).partition("/")
        if self.home.records.exists():
            self.checked = True
            with RecordStore(self.home.records) as store:
                if any(v.is_current for v in store.history(source, record_id)):
                    return True
        if self.home.ledger.exists():
            self.checked = True
            with IdentityLedger(self.home.ledger) as ledger:
                if ledger.id_of(str(key)) is not None:
                    return True
        return not self.checked  # nothing to check against: accept


def decide(
    home: Home | Path,
    a: str,
    b: str,
    verdict: str,
    *,
    reason: str,
    reviewer: str | None = None,
) -> tuple[Decision, bool]:
    """Record a reviewer's decision about records ``a`` and ``b`` (``source/record_id``).

    Returns
    -------
    (Decision, bool)
        The decision kept, and whether the record keys were checked against the records (``False``
        when nothing has been ingested or resolved yet).

    Raises
    ------
    engine.resolve.decisions.DecisionError
        If a key is malformed or names no known record, the two are one record, the verdict is
        not ``same`` / ``not_same``, the reason or reviewer is empty, or the decision contradicts
        the decisions in force ("A same B" and "B same C" make a later "A not same C" refused; the
        message names them: reverse the wrong one first).
    """
    home = Home.of(home)
    known = KnownRecords(home)
    with DecisionStore(home.decisions) as store:
        decision = store.record(a, b, verdict, reviewer=reviewer, reason=reason, known_keys=known)
    return decision, known.checked


def decisions(home: Home | Path, *, record: str | None = None, every: bool = False) -> pd.DataFrame:
    """Reviewers' decisions: those in force (default), every one ever made (``every``), or those
    about one ``record`` (in force unless ``every``)."""
    with DecisionStore(Home.of(home).decisions) as store:
        frame = store.history(record) if every or record else store.current()
        if record and not every:
            in_force = set(store.current()["decision_id"])
            frame = frame[frame["decision_id"].isin(in_force)]
    return frame


def contradictions(home: Home | Path) -> list[Contradiction]:
    """Decisions in force that contradict earlier ones (an older ekjon let them in): the next
    resolve leaves them out and says so."""
    path = Home.of(home).decisions
    if not path.exists():
        return []
    with DecisionStore(path) as store:
        return consistent(store.current())[1]


def id_history(home: Home | Path, ident: str) -> tuple[dict[str, Any], pd.DataFrame]:
    """What the ledger knows of a person ID, a household ID or a record key, and its events.

    Returns
    -------
    (dict, pandas.DataFrame)
        For an ID: ``id, scope, created_run, retired_run, merged_into, members, current_id``; for
        a record key: ``record, person_id``. Then the events, oldest first, each with its members.

    Raises
    ------
    ReviewError
        If ``ident`` is neither a well-formed ID nor a record key, no ledger exists yet, or the
        ledger never issued the ID.
    """
    path = Home.of(home).ledger
    is_record = "/" in ident
    if not is_record and not is_valid_id(ident):
        raise ReviewError(
            f"{ident!r} is not a person or household ID (P or H, 10 digits, the last a check "
            "digit) nor a record key (source/record_id); check for a typo."
        )
    if not path.exists():
        raise ReviewError(f"No identity ledger at {path}: run `ekjon resolve` first.")
    with IdentityLedger(path) as ledger:
        if is_record:
            info: dict[str, Any] = {"record": ident, "person_id": ledger.id_of(ident)}
            return info, ledger.record_history(ident, with_members=True)
        found = ledger.info(ident)
        if found is None:
            raise ReviewError(f"{ident} was never issued by this ledger ({path}).")
        found["current_id"] = ledger.current_id(ident)
        return found, ledger.history(ident)
