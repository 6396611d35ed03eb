"""What the one-record resolver makes of the record's candidate pairs: their scores
(:func:`score_pairs`), per candidate person the clustering's evidence (:func:`person_table`), and
the small helpers of its answer.

What flows in: the record and its candidates as prepared columns (arrays, the record first), then
one weight, probability, cannot-link and blocking mask per scored pair, with the pair's person;
what flows out: the pairs' scores and the rows of
:attr:`engine.incremental.match.Match.person_rows`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from engine.incremental.scoring import explained_scores, few_pairs
from engine.record import record_key
from engine.resolve.cluster import NEUTRAL_BAND
from engine.resolve.compare import Prepared, cannot_link, column, compare_columns
from engine.resolve.crowded import Namesakes
from engine.resolve.explain import model_features


@dataclass
class Scored:
    """The scores of a record's candidate pairs, one entry per pair.

    Attributes
    ----------
    features:
        Comparison feature -> its values (:func:`engine.resolve.compare.compare_columns`).
    probability, weight:
        As :func:`engine.resolve.pipeline.score` gives them.
    cannot:
        The pairs that may never be one person (:func:`engine.resolve.compare.cannot_link`).
    explained:
        The model's ``explain`` of every pair as its column names and values, one row a pair
        (``None`` when not asked for, or the model has none).
    """

    features: dict[str, np.ndarray]
    probability: np.ndarray
    weight: np.ndarray
    cannot: np.ndarray
    explained: tuple[list[str], np.ndarray] | None = None

    def features_of(self, pair: int) -> dict[str, float]:
        """One pair's features, feature -> value."""
        return {name: float(values[pair]) for name, values in self.features.items()}

    def contributions_of(self, pair: int) -> dict[str, float] | None:
        """One pair's row of the model's explanation, column -> value (``None``: none)."""
        if self.explained is None:
            return None
        columns, values = self.explained
        return dict(zip(columns, values[pair].tolist(), strict=True))


def score_pairs(
    model: Any, frame: Prepared, left: np.ndarray, right: np.ndarray, *, explain: bool
) -> Scored:
    """Compare and score the pairs ``left[i], right[i]`` of ``frame`` (a few, in the calling
    thread), as the batch does; with ``explain``, one walk through the model gives both the scores
    and every pair's explanation."""
    from engine.resolve.pipeline import score

    with few_pairs():
        features = compare_columns(frame, left, right)
    explained = None
    if explain and hasattr(model, "explain"):
        # the model's columns as one float matrix: what it would read from a frame of them
        matrix = np.column_stack([features[name] for name in model_features(model)])
        matrix = matrix.astype(np.float64)
        if hasattr(model, "explain_values"):  # the same, without the frame
            explained = model.explain_values(matrix)
        else:
            frame = model.explain(matrix)
            explained = (list(frame.columns), frame.to_numpy(dtype=np.float64))
        probability, weight = explained_scores(features, *explained)
    else:
        scores = score(model, pd.DataFrame(features))
        probability = scores["probability"].to_numpy()
        weight = scores["weight"].to_numpy()
    return Scored(features, probability, weight, cannot_link(features), explained)


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
        entry = evidence.get(pid)
        if entry is None:  # a person's records are looked up once, not once a pair
            entry = evidence[pid] = {
                "person_id": pid,
                "records": len(person_rows.get(pid, ())),
                "scored": 0,
                "total": 0.0,
                "informative": 0,
                "best_probability": 0.0,
                "strong_link": False,
                "cannot_link": False,
            }
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


def household_links(
    frame: Prepared,
    rows: np.ndarray,
    person: Sequence[str],
    probability: np.ndarray,
    cannot: np.ndarray,
    *,
    own: int,
    members: Callable[[int, str], Sequence[int]],
    persons_of: Callable[[list[int]], list[str]],
    person_rows: Mapping[str, Sequence[int]],
    frame_of: Callable[[np.ndarray], Prepared],
) -> np.ndarray:
    """The record's scored pairs that household evidence links, by the batch's rule
    (:func:`engine.resolve.cluster.household_evidence`): the record is a person of its own, the
    others' persons are the batch's.

    ``frame``: the record's prepared columns followed by ``rows``' (of persons ``person``), as
    scored; ``own``: the record's row if the resolver knows it (else ``-1``); ``members(code,
    source)``: the rows of a household's members (``-1``: unknown); ``persons_of(rows)``: their
    persons; ``frame_of(rows)``: the record's columns followed by ``rows``'."""
    from engine.resolve.cluster import HOUSEHOLD_FLOOR, household_evidence

    out = np.zeros(len(rows), dtype=bool)
    source, household = column(frame, "source"), column(frame, "household")
    asked = (probability >= HOUSEHOLD_FLOOR) & ~cannot & (source[1:] != source[0])
    asked &= (household[1:] >= 0) | (household[0] >= 0)
    if not asked.any():
        return out
    # the households of the record and of the candidates asked about, their members' rows
    ends = np.r_[True, asked]
    homes = {(int(h), str(s)) for h, s in zip(household[ends], source[ends], strict=True) if h >= 0}
    found = sorted({r for code, s in homes for r in members(code, s)} - {own, -1})
    if not found:
        return out
    # every record of the candidates' and the members' persons
    persons = {person[i] for i in np.flatnonzero(asked)} | set(persons_of(found))
    local = {r for pid in persons for r in person_rows.get(pid, ())}
    pairs = rows[asked]
    local_rows = np.asarray(sorted((local | set(found) | set(pairs.tolist())) - {own}), np.int64)
    labels = pd.factorize(np.asarray([""] + persons_of(local_rows.tolist())))[0]
    right = np.searchsorted(local_rows, pairs) + 1
    left = np.zeros(len(pairs), np.int64)
    out[asked] = household_evidence(
        labels, left, right, probability[asked], cannot[asked], frame_of(local_rows)
    )
    return out


def cross_script(frame: Prepared, a: int, b: int) -> bool:
    """One of records ``a`` and ``b`` of ``frame`` has its name only in Bangla and the other in
    Latin letters."""
    bangla = column(frame, "bangla_only", bool)
    named = np.asarray(pd.notna(frame["name_en"])) | np.asarray(pd.notna(frame["name_bn"]))
    return bool(
        (bangla[a] and named[b] and not bangla[b]) or (bangla[b] and named[a] and not bangla[a])
    )


def crowded_weights(
    frame: Prepared,
    scored: Scored,
    namesakes: Namesakes,
    knows: Callable[[str], bool],
    left: np.ndarray | None = None,
    right: np.ndarray | None = None,
) -> np.ndarray:
    """The pairs' weights with the batch's cap on crowded name-and-age-only pairs
    (:func:`engine.resolve.crowded.crowded_pairs`). The pairs are ``left[i], right[i]`` of
    ``frame`` (default: its first row, the record, with each other row); ``knows(key)``: whether
    the record is among the batch's (then counted among the namesakes, else counted in here, as
    the batch would count it)."""
    from engine.resolve.crowded import cap_crowded, crowded_pairs

    weight = scored.weight
    if left is None or right is None:
        left, right = np.zeros(len(weight), np.int64), np.arange(1, len(weight) + 1)
    key = record_key(str(column(frame, "source")[0]), str(column(frame, "record_id")[0]))
    uncounted = None if knows(key) else 0
    crowded = crowded_pairs(frame, left, right, weight, namesakes, uncounted=uncounted)
    return cap_crowded(weight, crowded) if crowded.any() else weight
