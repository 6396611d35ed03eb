"""The incremental resolver's answer for one record: where it belongs, and why."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import pandas as pd

from engine.resolve.explain import Explanation

#: The columns of :attr:`Match.candidates`.
CANDIDATE_COLUMNS: Final = (
    "source",
    "record_id",
    "person_id",
    "probability",
    "weight",
    "cannot_link",
    "blocked",
    "rules",
)
#: The columns of :attr:`Match.persons`.
PERSON_COLUMNS: Final = (
    "person_id",
    "records",
    "scored",
    "mean_log_odds",
    "best_probability",
    "strong_link",
    "cannot_link",
    "qualifies",
    "joins",
)

# -- the answer -----------------------------------------------------------------------------------


@dataclass
class Match:
    """Where one record belongs.

    Attributes
    ----------
    record:
        The record's key (``source/record_id``).
    person_id:
        The person it joins; ``None`` for a new person (after :meth:`IncrementalResolver.add`, the
        ID it was given).
    new_person:
        No existing person qualified.
    probability:
        ``1 / (1 + exp(-a))`` of the chosen person's average log-odds ``a`` (for a new person, of
        the best candidate person's; 0 with no candidate).
    log_odds:
        That average log-odds.
    candidate_columns:
        Every record scored, column by column (:data:`CANDIDATE_COLUMNS` -> values, best first):
        ``source, record_id, person_id, probability, weight, cannot_link, blocked`` (found by
        blocking, or scored because its person was) and ``rules`` (which rules found it);
        :attr:`candidates` is the same as a frame.
    person_rows:
        Every candidate person, one dict of :data:`PERSON_COLUMNS` each: ``person_id, records,
        scored, mean_log_odds, best_probability, strong_link, cannot_link, qualifies, joins`` (the
        record joins it), the joined first; :attr:`persons` is the same as a frame.
    explanation:
        Why the best pair to the chosen person (or, for a new person, to the best candidate)
        scored as it did; ``None`` when nothing was scored or explanations were not asked for.
    merges:
        Other persons the record bridges to the chosen one: the next batch will merge them (the
        chosen person is the one whose ID the identity ledger keeps).
    decided_by:
        ``"average link"`` (the record links strongly to one person) or ``"linkage"`` (it links
        strongly to several, or its link is contested: the clustering's average linkage was run
        over the record and those persons' records).
    seconds:
        Time taken.
    state:
        Which resolver answered and how many records it knew then (``id`` and size): while both
        hold, :meth:`IncrementalResolver.add` remembers the record with this answer instead of
        resolving it again.
    """

    record: str
    person_id: str | None
    new_person: bool
    probability: float
    log_odds: float
    candidate_columns: dict[str, Any]
    person_rows: list[dict[str, Any]]
    explanation: Explanation | None = None
    merges: list[str] = field(default_factory=list)
    decided_by: str = "average link"
    seconds: float = 0.0
    state: tuple[int, int] | None = field(default=None, repr=False, compare=False)
    _frames: dict[str, pd.DataFrame] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    # the frames are made when first read: an API answer reads the rows, and making two frames
    # cost about a tenth of a one-record resolve
    @property
    def candidates(self) -> pd.DataFrame:
        """Every record scored, best first (see :attr:`candidate_columns`)."""
        if "candidates" not in self._frames:
            self._frames["candidates"] = pd.DataFrame(
                {c: self.candidate_columns.get(c, []) for c in CANDIDATE_COLUMNS},
                columns=list(CANDIDATE_COLUMNS),
            )
        return self._frames["candidates"]

    @property
    def persons(self) -> pd.DataFrame:
        """Every candidate person, the joined first (see :attr:`person_rows`)."""
        if "persons" not in self._frames:
            self._frames["persons"] = pd.DataFrame(self.person_rows, columns=list(PERSON_COLUMNS))
        return self._frames["persons"]

    @property
    def strong_links(self) -> int:
        """How many candidate persons the record links strongly to."""
        return sum(bool(row["strong_link"]) for row in self.person_rows)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the answer, the persons and candidates as lists of rows, the explanation."""

        def rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
            clean = frame.astype(object).where(frame.notna(), None)
            return [
                {k: (v.item() if isinstance(v, np.generic) else v) for k, v in r.items()}
                for r in clean.to_dict(orient="records")
            ]

        finite = [self.probability, self.log_odds]
        return {
            "record": self.record,
            "person_id": self.person_id,
            "new_person": self.new_person,
            "probability": finite[0] if math.isfinite(finite[0]) else None,
            "log_odds": finite[1] if math.isfinite(finite[1]) else None,
            "persons": rows(self.persons),
            "candidates": rows(self.candidates),
            "explanation": None if self.explanation is None else self.explanation.to_dict(),
            "merges": list(self.merges),
            "decided_by": self.decided_by,
            "seconds": self.seconds,
        }
