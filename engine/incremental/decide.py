"""What the one-record resolver makes of the record's scored candidate pairs: per candidate person
the clustering's evidence (:func:`person_table`), and the small helpers of its answer.

What flows in: one weight, probability, cannot-link and blocking mask per scored pair, with the
pair's person; what flows out: the rows of :attr:`engine.incremental.match.Match.persons`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Final

import numpy as np
import pandas as pd

from engine.resolve.cluster import NEUTRAL_BAND

#: The columns of :attr:`engine.incremental.match.Match.persons`.
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


def person_table(
    person: Sequence[str],
    weight: np.ndarray,
    probability: np.ndarray,
    cannot: np.ndarray,
    masks: Sequence[int],
    *,
    person_rows: Mapping[str, Sequence[int]],
    link_threshold: float,
) -> list[dict[str, Any]]:
    """Per candidate person, best first: the clustering's evidence (average log-odds over the
    informative pairs, a strong blocked link, a cannot-link) and whether the record may join.

    ``person[i]`` is the person of scored pair ``i``; ``masks[i]`` the rules that blocked it (0:
    scored only because its person was); ``person_rows`` each person's records."""
    evidence: dict[str, dict[str, Any]] = {}
    for i, pid in enumerate(person):
        w = float(weight[i])
        entry = evidence.setdefault(
            pid,
            {
                "person_id": pid,
                "records": len(person_rows.get(pid, ())),
                "scored": 0,
                "total": 0.0,
                "informative": 0,
                "best_probability": 0.0,
                "strong_link": False,
                "cannot_link": False,
            },
        )
        entry["scored"] += 1
        if w > 0 or w <= -NEUTRAL_BAND:
            entry["total"] += w
            entry["informative"] += 1
        entry["best_probability"] = max(entry["best_probability"], float(probability[i]))
        entry["cannot_link"] |= bool(cannot[i])
        if masks[i] and w > link_threshold and not cannot[i]:
            entry["strong_link"] = True
    table = []
    for entry in evidence.values():
        n = entry.pop("informative")
        total = entry.pop("total")
        entry["mean_log_odds"] = total / n if n else -math.inf
        entry["qualifies"] = (
            entry["strong_link"] and not entry["cannot_link"] and entry["mean_log_odds"] > 0
        )
        table.append(entry)
    table.sort(key=lambda e: (not e["qualifies"], -e["mean_log_odds"], -e["best_probability"]))
    return table


def cross_script(frame: pd.DataFrame, a: int, b: int) -> bool:
    """One of records ``a`` and ``b`` of ``frame`` has its name only in Bangla and the other in
    Latin letters."""
    bangla = frame["bangla_only"].to_numpy(dtype=bool)
    named = frame["name_en"].notna().to_numpy() | frame["name_bn"].notna().to_numpy()
    return bool(
        (bangla[a] and named[b] and not bangla[b]) or (bangla[b] and named[a] and not bangla[a])
    )


def no_candidates() -> pd.DataFrame:
    """:attr:`~engine.incremental.match.Match.candidates` of a record blocked with nobody."""
    return pd.DataFrame(
        columns=[
            "source", "record_id", "person_id", "probability", "weight", "cannot_link", "blocked",
            "rules",
        ]
    )  # fmt: skip


def no_persons() -> pd.DataFrame:
    """:attr:`~engine.incremental.match.Match.persons` of a record blocked with nobody."""
    return pd.DataFrame(columns=list(PERSON_COLUMNS))
