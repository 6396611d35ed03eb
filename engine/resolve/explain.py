"""Why two records were (or were not) linked: per-feature contributions in words an auditor reads.

A pair's score is the match model's verdict on its comparison features
(:mod:`engine.resolve.compare`).
The models explain themselves additively: ``model.explain(X)`` gives, per pair, a ``bias`` and one
contribution per feature whose sum is the model's score in log-odds (Saabas path contributions for
boosted trees, level weights for logistic regression, match weights for Fellegi-Sunter); the
calibrated probability is a monotone map of that score. This module turns those numbers into an
:class:`Explanation`: the probability the batch used, the cannot-link rules that apply, and one row
per feature with its value, its contribution and what the value means ("names agree across scripts
(0.97)", "two different valid NIDs").

- :func:`explain_pair`: two records (canonical rows) -> one :class:`Explanation`;
- :func:`explain_features`: already computed features of one pair (the batch's, the incremental
  resolver's) -> one :class:`Explanation`;
- :func:`explain_frame`: many pairs (e.g. the errors ``ekjon evaluate`` lists) -> one row each with
  the strongest reasons for and against.

Example
-------
>>> from engine.resolve.explain import explain_pair                          # doctest: +SKIP
>>> print(explain_pair(records, "dss/1", "ec/x1", model).to_text())          # doctest: +SKIP
dss/1 ~ ec/x1: probability 0.998 (log-odds +6.21): links
...
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Final

import numpy as np
import pandas as pd

from engine.errors import EkjonError
from engine.record import record_key
from engine.resolve.compare import FEATURES, cannot_link, compare
from engine.resolve.crowded import Namesakes, crowded_reason, full_names

log = logging.getLogger(__name__)

#: Contributions smaller than this (in log-odds) are left out of the text (never out of the data).
SMALL_CONTRIBUTION: Final = 0.05


class UnknownRecord(EkjonError, KeyError):
    """A record key that names none of the records given."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


@dataclass
class FeatureRow:
    """One feature of one pair: its value, its contribution to the log-odds and what it means.

    ``value`` is ``None`` where the feature was not comparable (one side has no value);
    ``contribution`` is ``None`` when the model gives no per-feature contributions.
    """

    feature: str
    value: float | None
    contribution: float | None
    meaning: str


@dataclass
class Explanation:
    """Why a pair of records scored as it did.

    Attributes
    ----------
    left, right:
        The records' keys (``source/record_id``); empty when unknown.
    probability:
        The match probability the batch uses for the pair (calibrated).
    log_odds:
        ``log(p / (1 - p))`` of that probability: the pair's weight in clustering.
    score:
        The model's raw score (``bias`` + the contributions); the probability is its calibrated
        value. ``None`` when the model does not explain itself or did not score the pair.
    bias:
        The model's starting point before any feature (prior / baseline / intercept).
    rows:
        One :class:`FeatureRow` per model feature, largest contribution (either sign) first.
    cannot_link:
        Rules that forbid the two records ever being one person, in words (empty when none).
    links:
        Whether the pair alone would link (log-odds above ``threshold``, no cannot-link).
    threshold:
        The link threshold in log-odds used for ``links``.
    note:
        How the pair was scored when not by the model alone (e.g. an obvious mismatch).
    model_version:
        The model's version, when it has one.
    """

    left: str
    right: str
    probability: float
    log_odds: float
    score: float | None
    bias: float | None
    rows: list[FeatureRow]
    cannot_link: list[str] = field(default_factory=list)
    links: bool = False
    threshold: float = 0.0
    note: str | None = None
    model_version: str | None = None

    def frame(self) -> pd.DataFrame:
        """The feature rows as a table: ``feature, value, contribution, meaning``."""
        return pd.DataFrame(
            [asdict(r) for r in self.rows], columns=["feature", "value", "contribution", "meaning"]
        )

    def reasons(self, sign: int, top: int = 3) -> list[FeatureRow]:
        """The ``top`` rows pushing towards a link (``sign=+1``) or against it (``-1``)."""
        rows = [
            r
            for r in self.rows
            if r.contribution is not None and r.contribution * sign >= SMALL_CONTRIBUTION
        ]
        rows.sort(key=lambda r: -(r.contribution or 0.0) * sign)
        return rows[:top]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values (NaN and infinities become ``None``)."""
        out = asdict(self)
        out["rows"] = [{k: _json_number(v) for k, v in row.items()} for row in out["rows"]]
        for key in ("probability", "log_odds", "score", "bias", "threshold"):
            out[key] = _json_number(out[key])
        return out

    def to_text(self, all_rows: bool = False) -> str:
        """A short report for an auditor: the verdict, the rules, then the features by weight.

        Parameters
        ----------
        all_rows:
            Also list features whose contribution is below :data:`SMALL_CONTRIBUTION`.
        """
        pair = f"{self.left} ~ {self.right}" if self.left or self.right else "pair"
        verdict = "links" if self.links else "does not link"
        lines = [
            f"{pair}: probability {self.probability:.3f} (log-odds {self.log_odds:+.2f}): {verdict}"
        ]
        if self.model_version:
            lines.append(f"model {self.model_version}")
        if self.note:
            lines.append(self.note)
        for rule in self.cannot_link:
            lines.append(f"cannot link: {rule}")
        if self.score is not None and self.bias is not None:
            unused = " (what the model would have said)" if self.note else ""
            lines.append(
                f"model score {self.score:+.2f} = starting point {self.bias:+.2f} "
                f"+ the contributions below{unused}"
            )
        width = max((len(r.feature) for r in self.rows), default=0)
        hidden = 0
        for row in self.rows:
            small = row.contribution is not None and abs(row.contribution) < SMALL_CONTRIBUTION
            if small and not all_rows:
                hidden += 1
                continue
            contribution = "      " if row.contribution is None else f"{row.contribution:+6.2f}"
            lines.append(
                f"  {contribution}  {row.feature:<{width}}  {_format_value(row.value):>6}  "
                f"{row.meaning}"
            )
        if hidden:
            lines.append(
                f"  ({hidden} features contributing less than {SMALL_CONTRIBUTION} left out)"
            )
        return "\n".join(lines)


def _json_number(value: Any) -> Any:
    if isinstance(value, float | np.floating) and not math.isfinite(float(value)):
        return None
    if isinstance(value, np.generic):
        return value.item()
    return value


def _format_value(value: float | None) -> str:
    if value is None:
        return "-"
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.2f}"


# -- what a value means ---------------------------------------------------------------------------


def _agreement(value: float) -> str:
    if value >= 0.999:
        return "agree"
    if value >= 0.9:
        return "nearly agree"
    if value >= 0.75:
        return "are similar"
    return "differ"


def _count(value: float, log1p: bool) -> int:
    return int(round(math.expm1(value) if log1p else math.exp(value)))


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def meaning(feature: str, value: float | None, *, cross_script: bool = False) -> str:
    """What ``value`` of comparison ``feature`` says, in plain English.

    Parameters
    ----------
    feature:
        One of :data:`engine.resolve.compare.FEATURES`.
    value:
        The pair's value; ``None`` or NaN for "not comparable".
    cross_script:
        The two names were written in different scripts (one record only in Bangla).

    Example
    -------
    >>> meaning("nid_match", 0.0)
    'two different valid NIDs'
    >>> meaning("name_sort", 0.97, cross_script=True)
    'names nearly agree across scripts (0.97)'
    """
    missing = value is None or (isinstance(value, float) and math.isnan(value))
    v = 0.0 if missing else float(value)  # type: ignore[arg-type]
    relatives = {"father_sim": "father", "mother_sim": "mother", "spouse_sim": "spouse"}
    if feature in ("name_sort", "name_set", "given_sim", "last_sim"):
        what = {
            "name_sort": "names",
            "name_set": "the words of the names",
            "given_sim": "given names (first words)",
            "last_sim": "last words of the names",
        }[feature]
        if missing:
            return "one record has no name"
        scripts = " across scripts" if cross_script else ""
        return f"{what} {_agreement(v)}{scripts} ({v:.2f})"
    if feature == "name_len_diff":
        if missing:
            return "one record has no name"
        if v == 0:
            return "names have as many words"
        return f"names differ by {_plural(int(v), 'word')}"
    if feature in relatives:
        whose = relatives[feature]
        if missing and feature == "father_sim":
            return "no father's name on one side (or one's father is the other's spouse)"
        if missing:
            return f"no {whose}'s name on one side"
        return f"{whose}s' names {_agreement(v)} ({v:.2f})"
    if feature == "name_father_cross":
        if missing:
            return "no father's name to cross-check"
        if v >= 0.9:
            return f"one's name is the other's father's name ({v:.2f}): possibly father and son"
        return f"neither name matches the other's father's name ({v:.2f})"
    if feature == "name_swap":
        if missing:
            return "one record has no name"
        if v >= 0.9:
            return f"the names agree with first and last words swapped ({v:.2f})"
        return f"the names do not agree with their words swapped ({v:.2f})"
    if feature == "kin_sim":
        if missing:
            return "no relative one names found in the other's household"
        return f"a relative one names lives in the other's household ({v:.2f})"
    if feature == "gender_match":
        if missing:
            return "gender unknown on one side"
        return "same gender" if v == 1 else "different genders"
    if feature == "year_gap":
        if missing:
            return "no birth year on one side"
        if v == 0:
            return "birth years agree (or their ranges overlap)"
        return f"birth years {_plural(int(v), 'year')} apart"
    if feature == "year_span":
        if missing:
            return "no birth year on one side"
        if v == 0:
            return "both birth years are exact"
        return f"a birth year is known only within {_plural(int(v), 'year')} (an age, not a date)"
    if feature == "dob_match":
        if missing:
            return "no full date of birth on one side"
        if v == 1:
            return "same date of birth"
        if v == 0.5:
            return "same date of birth with day and month swapped"
        return "different dates of birth"
    if feature == "dob_weak":
        if missing:
            return "no birth year on one side"
        if v == 1:
            return "a date of birth is a default (1 or 31 January) or not a full date"
        return "both dates of birth are real dates"
    if feature in ("nid_match", "brn_match"):
        what = "NID" if feature == "nid_match" else "birth registration number"
        if missing:
            return f"no {what} to compare (one side has none, or the forms cannot be linked)"
        if v == 1:
            return f"same {what}" + (" card" if feature == "nid_match" else "")
        if v == 0.5:
            return f"{what}s one typo apart"
        return f"two different valid {what}s"
    if feature == "number_shared":
        if missing:
            return "no phone or wallet number on one side"
        if v == 1:
            return "they share a phone or wallet number"
        return "both have phone or wallet numbers but share none"
    if feature == "number_names":
        if missing:
            return "no shared number"
        n = _count(v, log1p=False)
        if n <= 1:
            return "the shared number is used under one name only"
        return f"the shared number is used under {n} different names (a household or shared phone)"
    if feature == "geo_level":
        if missing:
            return "no address on one side"
        return {
            3: "same union (or the same place as far as both records say)",
            2: "same upazila, different unions",
            1: "same district, different upazilas (or postcodes of different upazilas)",
            0: "different districts",
        }.get(int(v), f"geography level {v:g}")
    if feature == "geo_common":
        if missing:
            return "no place both records give"
        return {
            3: "both records give the union",
            2: "both give the upazila (or a postcode in it), not both the union",
            1: "both give only the district",
        }.get(int(v), f"common geography level {v:g}")
    if feature == "address_sim":
        if missing:
            return "no address on one side"
        return f"addresses {_agreement(v)} ({v:.2f})"
    if feature == "postcode_match":
        if missing:
            return "no postcode on one side"
        return "same postcode" if v == 1 else "different postcodes"
    if feature == "identifier_match":
        if missing:
            return "no extra identifier of the same kind on both sides"
        if v == 1:
            return "they share an extra identifier (TIN, employee no., ...)"
        if v == 0.5:
            return "an extra identifier one typo apart"
        return "different values of one extra identifier"
    if feature in ("name_freq", "given_freq"):
        what = "full name" if feature == "name_freq" else "given name"
        if missing:
            return f"no {what}"
        n = _count(v, log1p=True)
        rarity = " (a common name weighs less)" if n > 20 else ""
        return f"the rarer {what} is carried by {_plural(n, 'record')}{rarity}"
    if feature == "place_name_freq":
        if missing:
            return "no place both records give, or no name"
        n = _count(v, log1p=True)
        return f"{_plural(n, 'record')} carry the name in the place both give"
    if feature == "same_source":
        return "both records come from one source" if v == 1 else "records from different sources"
    if feature == "same_household":
        if v == 1:
            return "members of one household of one source (never one person)"
        return "not listed in one household"
    return "" if missing else f"{feature} = {v:g}"


# -- explaining -----------------------------------------------------------------------------------


def model_features(model: Any) -> list[str]:
    """The feature columns ``model`` was trained on (all :data:`FEATURES` when it does not say)."""
    for attribute in ("feature_names_in_", "feature_names"):
        names = getattr(model, attribute, None)
        if names is not None and len(names):
            return [str(n) for n in names]
    return list(FEATURES)


def _cannot_link_reasons(row: pd.Series | Mapping[str, float]) -> list[str]:
    reasons = []
    if row.get("nid_match") == 0.0:
        reasons.append("two different valid NIDs")
    if row.get("same_household") == 1.0:
        reasons.append("members of one household of one source")
    return reasons


def _cannot_link_texts(features: pd.DataFrame) -> np.ndarray:
    nid = np.where(features["nid_match"].to_numpy() == 0.0, "two different valid NIDs", "")
    household = np.where(
        features["same_household"].to_numpy() == 1.0, "members of one household of one source", ""
    )
    both = (nid != "") & (household != "")
    joined = np.where(
        both, np.char.add(np.char.add(nid, "; "), household), np.char.add(nid, household)
    )
    return joined.astype(object)


def _contributions(model: Any, X: pd.DataFrame) -> pd.DataFrame | None:
    """``model.explain(X)`` (bias, one column per feature, log_odds), or ``None``."""
    explain = getattr(model, "explain", None)
    if explain is None:
        return None
    try:
        return explain(X)
    except (AttributeError, NotImplementedError) as exc:
        log.info("model gives no explanation: %s", exc)
        return None


def _scores(model: Any, features: pd.DataFrame) -> pd.DataFrame:
    from engine.resolve.pipeline import score

    return score(model, features)


def _notes(features: pd.DataFrame) -> np.ndarray:
    from engine.resolve.pipeline import obvious_mismatch

    obvious = obvious_mismatch(features)
    out = np.full(len(features), None, dtype=object)
    out[np.asarray(obvious, dtype=bool)] = _obvious_note()
    return out


def _obvious_note() -> str:
    """What an explanation notes of a pair scored without the model."""
    from engine.resolve.pipeline import OBVIOUS_MISMATCH_PROBABILITY

    return (
        "scored without the model: the names clearly differ and no NID or birth registration "
        f"number is shared (probability {OBVIOUS_MISMATCH_PROBABILITY:g})"
    )


def explain_frame(
    features: pd.DataFrame,
    model: Any,
    *,
    top: int = 3,
    threshold: float = 0.0,
    probability: Sequence[float] | np.ndarray | None = None,
) -> pd.DataFrame:
    """Explanations of many scored pairs, one row each (for error listings and reports).

    Parameters
    ----------
    features:
        Comparison features (:data:`~engine.resolve.compare.FEATURES` columns), one row per pair,
        e.g.
        ``Resolution.features`` or the features columns of
        :func:`engine.quality.evaluate.error_pairs`.
    model:
        The match model that scored the pairs.
    top:
        How many reasons for and against to spell out.
    threshold:
        Link threshold in log-odds (``ResolveSettings.link_threshold``).
    probability:
        The probabilities the pairs were given, when known; pairs without one (``None`` for all,
        NaN for some, e.g. pairs blocking never compared) are scored again.

    Returns
    -------
    pandas.DataFrame
        Same index as ``features``. Columns ``probability``, ``log_odds``, ``links``,
        ``cannot_link`` (reasons joined by ``"; "``, empty when none), ``for`` and ``against``
        (the ``top`` strongest contributions as ``"+2.31 same NID card"``, joined by ``"; "``),
        ``note``, ``score``, ``bias`` and one ``contribution_<feature>`` column per model feature.
    """
    from engine.resolve.cluster import logodds

    columns = model_features(model)
    frame = features.reindex(columns=list(dict.fromkeys([*FEATURES, *columns])))
    p = np.full(len(frame), np.nan) if probability is None else np.array(probability, np.float64)
    unscored = np.isnan(p)
    if unscored.any():
        p[unscored] = _scores(model, frame[unscored])["probability"].to_numpy()
    contributions = _contributions(model, frame[columns]) if len(frame) else None
    weight = logodds(p)
    blocked = cannot_link(frame)
    out = pd.DataFrame(index=features.index)
    out["probability"] = p
    out["log_odds"] = weight
    out["links"] = (weight > threshold) & ~blocked
    out["cannot_link"] = _cannot_link_texts(frame)
    out["note"] = _notes(frame)
    if contributions is None:
        out["for"] = ""
        out["against"] = ""
        out["score"] = np.nan
        out["bias"] = np.nan
        return out
    contrib = contributions[columns].to_numpy(dtype=np.float64)
    values = frame[columns].to_numpy(dtype=np.float64)
    reasons_for, reasons_against = [], []
    for i in range(len(frame)):
        row = contrib[i]
        order = np.argsort(-np.abs(row))
        pos = [j for j in order if row[j] >= SMALL_CONTRIBUTION][:top]
        neg = [j for j in order if row[j] <= -SMALL_CONTRIBUTION][:top]
        reasons_for.append(
            "; ".join(f"{row[j]:+.2f} {meaning(columns[j], values[i, j])}" for j in pos)
        )
        reasons_against.append(
            "; ".join(f"{row[j]:+.2f} {meaning(columns[j], values[i, j])}" for j in neg)
        )
    out["for"] = reasons_for
    out["against"] = reasons_against
    out["score"] = contributions["log_odds"].to_numpy(dtype=np.float64)
    out["bias"] = np.broadcast_to(contributions["bias"].to_numpy(dtype=np.float64), len(frame))
    for j, name in enumerate(columns):
        out[f"contribution_{name}"] = contrib[:, j]
    return out


def explain_features(
    features: pd.DataFrame | pd.Series | Mapping[str, float],
    model: Any,
    *,
    left: str = "",
    right: str = "",
    probability: float | None = None,
    threshold: float = 0.0,
    cross_script: bool = False,
    contributions: pd.DataFrame | Mapping[str, float] | None = None,
) -> Explanation:
    """The :class:`Explanation` of one pair whose comparison features are already computed.

    Parameters
    ----------
    features:
        One pair's features: a Series, a one-row DataFrame, or a mapping feature -> value, with
        :data:`FEATURES`.
    model:
        The match model.
    left, right:
        The records' keys, for the report.
    probability:
        The probability the pair was given, when known (scored again otherwise).
    threshold:
        Link threshold in log-odds.
    cross_script:
        One record's name is written only in Bangla and the other's in Latin letters.
    contributions:
        The pair's row of ``model.explain`` (a one-row frame, or column -> value), when the caller
        already has it.
    """
    from engine.resolve.cluster import logodds
    from engine.resolve.pipeline import obvious_mismatch

    columns = model_features(model)
    names = list(dict.fromkeys([*FEATURES, *columns]))
    if isinstance(features, pd.DataFrame | pd.Series):
        frame = features.to_frame().T if isinstance(features, pd.Series) else features
        if len(frame) != 1:
            raise ValueError(f"explain_features explains one pair; got {len(frame)} rows.")
        frame = frame.reindex(columns=names).astype(np.float64)
        values = dict(zip(frame.columns, frame.to_numpy()[0].tolist(), strict=True))
    else:
        values = {name: float(features.get(name, math.nan)) for name in names}

    def one_row() -> pd.DataFrame:
        return pd.DataFrame([values], columns=names, dtype=np.float64)

    p = probability
    if p is None:
        p = float(_scores(model, one_row())["probability"].iloc[0])
    weight = float(logodds(np.array([p]))[0])
    if contributions is None:
        contributions = _contributions(model, one_row()[columns])
    # the pair's contributions as plain floats, read once (not a column lookup per feature)
    given = None
    if isinstance(contributions, pd.DataFrame):
        given = dict(zip(contributions.columns, contributions.to_numpy()[0].tolist(), strict=True))
    elif contributions is not None:
        given = dict(contributions)
    rows = []
    for name in columns:
        value = values[name]
        value_out = None if pd.isna(value) else float(value)
        contribution = None if given is None else float(given[name])
        cross = cross_script and name in ("name_sort", "name_set", "given_sim", "last_sim")
        rows.append(
            FeatureRow(name, value_out, contribution, meaning(name, value, cross_script=cross))
        )
    rows.sort(key=lambda r: -abs(r.contribution or 0.0))
    reasons = _cannot_link_reasons(values)
    version = getattr(model, "model_version", None)
    obvious = bool(obvious_mismatch({n: np.asarray([values[n]]) for n in names})[0])
    return Explanation(
        left=left,
        right=right,
        probability=p,
        log_odds=weight,
        score=None if given is None else float(given["log_odds"]),
        bias=None if given is None else float(given["bias"]),
        rows=rows,
        cannot_link=reasons,
        links=bool(weight > threshold and not reasons),
        threshold=threshold,
        note=_obvious_note() if obvious else None,
        model_version=None if version is None else str(version),
    )


def explain_pair(
    records: pd.DataFrame,
    left_key: str,
    right_key: str,
    model: Any,
    *,
    threshold: float = 0.0,
) -> Explanation:
    """Why two canonical records score as they do.

    Parameters
    ----------
    records:
        Canonical records holding at least the two (more give name and phone frequencies their
        context: a batch's frequencies come from all its records, so pass them all to reproduce a
        batch score exactly).
    left_key, right_key:
        The records' keys, ``source/record_id`` (:func:`engine.record.record_key`).
    model:
        The match model.
    threshold:
        Link threshold in log-odds.

    Returns
    -------
    Explanation

    Raises
    ------
    UnknownRecord
        If a key names none of ``records``.
    """
    from engine.resolve.prepare import prepare

    keys = [
        record_key(s, r)
        for s, r in zip(
            records["source"].astype(str), records["record_id"].astype(str), strict=True
        )
    ]
    position = {k: i for i, k in enumerate(keys)}
    for key in (left_key, right_key):
        if key not in position:
            raise UnknownRecord(
                f"No record {key!r} among the {len(keys)} records given; a key reads "
                "source/record_id."
            )
    prepared = prepare(records)
    pair = pd.DataFrame({"left": [position[left_key]], "right": [position[right_key]]})
    features = compare(prepared, pair)
    bangla = prepared["bangla_only"].to_numpy(dtype=bool)
    named = prepared["name_en"].notna().to_numpy() | prepared["name_bn"].notna().to_numpy()
    has_latin = named & ~bangla
    a, b = position[left_key], position[right_key]
    cross = bool((bangla[a] and has_latin[b]) or (bangla[b] and has_latin[a]))
    explanation = explain_features(
        features, model, left=left_key, right=right_key, threshold=threshold, cross_script=cross
    )
    full = full_names(prepared)
    namesakes = Namesakes.of(prepared[pd.Series(full).isin({full[a], full[b]}).to_numpy()])
    return with_crowded_cap(explanation, prepared, a, b, namesakes)


def with_crowded_cap(
    explanation: Explanation,
    frame: Any,
    a: int,
    b: int,
    namesakes: Namesakes,
    *,
    uncounted: int | None = None,
) -> Explanation:
    """``explanation`` of the pair ``a``, ``b`` of the prepared ``frame``, with the cap on crowded
    name-and-age-only pairs applied and said in its note when it applies
    (:func:`engine.resolve.crowded.crowded_reason`; ``uncounted`` as it takes it)."""
    from engine.resolve.crowded import CROWDED_LOGODDS

    reason = crowded_reason(frame, a, b, explanation.log_odds, namesakes, uncounted=uncounted)
    if reason is None:
        return explanation
    explanation.log_odds = min(explanation.log_odds, CROWDED_LOGODDS)
    explanation.links = explanation.log_odds > explanation.threshold and not explanation.cannot_link
    explanation.note = reason if explanation.note is None else f"{explanation.note}; {reason}"
    return explanation


def with_household_evidence(explanation: Explanation) -> Explanation:
    """``explanation`` of a pair that household evidence links
    (:func:`engine.resolve.cluster.household_evidence`): its weight raised to
    :data:`~engine.resolve.cluster.HOUSEHOLD_LOGODDS`, as the decision used it, and said in its
    note (the probability and the features stay the model's)."""
    from engine.resolve.cluster import HOUSEHOLD_LOGODDS

    if explanation.log_odds >= HOUSEHOLD_LOGODDS:
        return explanation
    explanation.log_odds = HOUSEHOLD_LOGODDS
    explanation.links = explanation.log_odds > explanation.threshold and not explanation.cannot_link
    reason = (
        "household evidence: the candidate's person holds a phone or wallet number that the "
        "person of a member of this record's household holds (weight raised to "
        f"{HOUSEHOLD_LOGODDS:+.2f} log-odds)"
    )
    explanation.note = reason if explanation.note is None else f"{explanation.note}; {reason}"
    return explanation
