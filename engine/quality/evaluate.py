"""How good a resolution is against ground truth: pairwise and B-cubed scores, slices, errors.

- **Pairwise** (cluster-pairwise): every pair of records put in one person is a predicted link;
  every pair of records of one true person a true link. Precision, recall and F1 over those pairs,
  counted from the contingency table (no pair is enumerated).
- **B-cubed**: per record, precision = share of its predicted cluster that is truly the same person,
  recall = share of its true person that is in its predicted cluster; averaged over records.
- **Slices** (a source, the records written only in Bangla script, ...): pairwise scores over the
  pairs with at least one record in the slice, and B-cubed averaged over the slice's records.
- **Errors**: false merges (records of different people in one cluster) and missed links (one person
  split), each with the pair's features, score and a reason (not blocked, scored low, split by
  clustering, chained); :func:`explain_errors` adds each pair's per-feature contributions to its
  score and the strongest reasons for and against a link, in words (:mod:`engine.resolve.explain`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import pandas as pd


@dataclass(frozen=True, slots=True)
class Scores:
    """Precision, recall and F1 (and the counts they come from)."""

    precision: float
    recall: float
    f1: float
    true_positives: float = 0.0
    predicted: float = 0.0
    actual: float = 0.0

    @classmethod
    def from_counts(cls, tp: float, predicted: float, actual: float) -> Scores:
        precision = tp / predicted if predicted else 1.0
        recall = tp / actual if actual else 1.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        return cls(precision, recall, f1, tp, predicted, actual)


@dataclass
class Evaluation:
    """Scores of one resolution against truth.

    Attributes
    ----------
    pairwise, bcubed:
        Over all records.
    slices:
        One row per slice: ``slice``, ``records``, ``pairwise_precision``, ``pairwise_recall``,
        ``pairwise_f1``, ``bcubed_precision``, ``bcubed_recall``, ``bcubed_f1``.
    persons_true, persons_predicted:
        Number of true persons and of predicted clusters.
    """

    pairwise: Scores
    bcubed: Scores
    slices: pd.DataFrame = field(default_factory=pd.DataFrame)
    persons_true: int = 0
    persons_predicted: int = 0

    def to_text(self) -> str:
        """A readable summary."""
        p, b = self.pairwise, self.bcubed
        lines = [
            f"persons: true {self.persons_true:,}, predicted {self.persons_predicted:,}",
            f"pairwise  precision {p.precision:.4f}  recall {p.recall:.4f}  F1 {p.f1:.4f}",
            f"B-cubed   precision {b.precision:.4f}  recall {b.recall:.4f}  F1 {b.f1:.4f}",
        ]
        if len(self.slices):
            lines.append(self.slices.to_string(index=False, float_format=lambda x: f"{x:.4f}"))
        return "\n".join(lines)


def _labels(values: np.ndarray | pd.Series) -> np.ndarray:
    codes, _ = pd.factorize(pd.Series(np.asarray(values)), use_na_sentinel=True)
    codes = codes.astype(np.int64)
    # a record without a truth label is its own person
    missing = codes < 0
    if missing.any():
        codes[missing] = codes.max(initial=-1) + 1 + np.arange(missing.sum())
    return codes


def _pair_counts(predicted: np.ndarray, truth: np.ndarray) -> tuple[float, float, float]:
    """(true-positive pairs, predicted pairs, true pairs) among the given records."""
    if len(predicted) == 0:
        return 0.0, 0.0, 0.0

    def choose2(counts: np.ndarray) -> float:
        c = counts.astype(np.float64)
        return float((c * (c - 1) / 2).sum())

    joint = predicted.astype(np.int64) * (int(truth.max()) + 1) + truth
    _, joint_counts = np.unique(joint, return_counts=True)
    _, pred_counts = np.unique(predicted, return_counts=True)
    _, true_counts = np.unique(truth, return_counts=True)
    return choose2(joint_counts), choose2(pred_counts), choose2(true_counts)


def pairwise_scores(
    predicted: np.ndarray, truth: np.ndarray, focus: np.ndarray | None = None
) -> Scores:
    """Cluster-pairwise scores; with ``focus`` (bool per record), over pairs touching a focus
    record."""
    predicted, truth = _labels(predicted), _labels(truth)
    tp, pp, ap = _pair_counts(predicted, truth)
    if focus is not None:
        outside = ~np.asarray(focus, dtype=bool)
        tp_o, pp_o, ap_o = _pair_counts(predicted[outside], truth[outside])
        tp, pp, ap = tp - tp_o, pp - pp_o, ap - ap_o
    return Scores.from_counts(tp, pp, ap)


def bcubed_scores(
    predicted: np.ndarray, truth: np.ndarray, focus: np.ndarray | None = None
) -> Scores:
    """B-cubed scores averaged over all records (or the ``focus`` records)."""
    predicted, truth = _labels(predicted), _labels(truth)
    if len(predicted) == 0:
        return Scores(1.0, 1.0, 1.0)
    frame = pd.DataFrame({"p": predicted, "t": truth})
    both = frame.groupby(["p", "t"])["p"].transform("size").to_numpy(np.float64)
    p_size = frame.groupby("p")["p"].transform("size").to_numpy(np.float64)
    t_size = frame.groupby("t")["t"].transform("size").to_numpy(np.float64)
    precision, recall = both / p_size, both / t_size
    if focus is not None:
        focus = np.asarray(focus, dtype=bool)
        precision, recall = precision[focus], recall[focus]
    if len(precision) == 0:
        return Scores(1.0, 1.0, 1.0)
    p, r = float(precision.mean()), float(recall.mean())
    return Scores(p, r, 2 * p * r / (p + r) if p + r else 0.0)


def evaluate(
    predicted: np.ndarray | pd.Series,
    truth: np.ndarray | pd.Series,
    slices: Mapping[str, np.ndarray] | None = None,
) -> Evaluation:
    """Pairwise and B-cubed scores overall and per slice.

    Parameters
    ----------
    predicted:
        Predicted person label per record.
    truth:
        True person label per record, aligned with ``predicted`` (missing = a person of its own).
    slices:
        Name -> boolean mask over records (e.g. ``{"bangla_only": ..., "source=dss": ...}``).
    """
    predicted = _labels(np.asarray(predicted))
    truth = _labels(np.asarray(truth))
    rows = []
    for name, mask in (slices or {}).items():
        mask = np.asarray(mask, dtype=bool)
        pw = pairwise_scores(predicted, truth, mask)
        b3 = bcubed_scores(predicted, truth, mask)
        rows.append(
            {
                "slice": name,
                "records": int(mask.sum()),
                "pairwise_precision": pw.precision,
                "pairwise_recall": pw.recall,
                "pairwise_f1": pw.f1,
                "bcubed_precision": b3.precision,
                "bcubed_recall": b3.recall,
                "bcubed_f1": b3.f1,
            }
        )
    return Evaluation(
        pairwise=pairwise_scores(predicted, truth),
        bcubed=bcubed_scores(predicted, truth),
        slices=pd.DataFrame(rows),
        persons_true=int(len(np.unique(truth))),
        persons_predicted=int(len(np.unique(predicted))),
    )


def evaluate_households(
    predicted: np.ndarray | pd.Series,
    truth: np.ndarray | pd.Series,
) -> Evaluation:
    """Household scores: pairwise and B-cubed over records, with household labels.

    Two records are a predicted link when they are in one predicted household and a true link when
    their true persons share a household, so person errors count too (a record merged into the
    wrong person is in the wrong household). ``persons_true`` / ``persons_predicted`` of the result
    count households.

    Parameters
    ----------
    predicted:
        Predicted household per record (e.g. ``household_id`` of the assignment; a record without
        one counts as a household of its own).
    truth:
        True household per record, aligned with ``predicted`` (missing = a household of its own).
    """
    return evaluate(predicted, truth)


def standard_slices(prepared: pd.DataFrame) -> dict[str, np.ndarray]:
    """Slices by source and for records written only in Bangla script."""
    slices = {"bangla_only": prepared["bangla_only"].to_numpy(dtype=bool)}
    for source in sorted(prepared["source"].unique()):
        slices[f"source={source}"] = (prepared["source"] == source).to_numpy()
    return slices


def error_pairs(
    predicted: np.ndarray,
    truth: np.ndarray,
    pairs: pd.DataFrame,
    features: pd.DataFrame | None = None,
    *,
    limit: int = 100_000,
) -> pd.DataFrame:
    """The pairs the resolution got wrong, with why.

    Parameters
    ----------
    predicted, truth:
        Label per record.
    pairs:
        Scored pairs: ``left``, ``right``, ``probability`` (and ``weight`` if present).
    features:
        The pairs' comparison features (same index as ``pairs``), attached to each error.
    limit:
        At most this many errors of each kind (false merge, missed link).

    Returns
    -------
    pandas.DataFrame
        ``left``, ``right``, ``error`` (``false_merge`` | ``missed_link``), ``reason`` and the
        score and
        features where the pair was scored. Reasons: false merges ``scored_match`` (the model linked
        them) or ``chained`` (scored below 0.5 or never compared, joined through others); missed
        links
        ``not_blocked`` (never compared), ``scored_low`` (p < 0.5) or ``split`` (p >= 0.5 but
        clustering
        kept them apart).
    """
    from engine.resolve.blocking import pairs_within_blocks

    predicted = _labels(np.asarray(predicted))
    truth = _labels(np.asarray(truth))
    n = len(predicted)
    idx = np.arange(n, dtype=np.int64)
    pl, pr = pairs_within_blocks(idx, predicted)
    false_merge = truth[pl] != truth[pr]
    tl, tr = pairs_within_blocks(idx, truth)
    missed = predicted[tl] != predicted[tr]
    fm = pd.DataFrame({"left": pl[false_merge], "right": pr[false_merge], "error": "false_merge"})
    ml = pd.DataFrame({"left": tl[missed], "right": tr[missed], "error": "missed_link"})
    errors = pd.concat([fm.head(limit), ml.head(limit)], ignore_index=True)
    row = _scored_row(pairs, errors, n)
    if row is None:  # a pair scored twice: a join keeps every scoring
        scored = pairs[["left", "right"]].copy()
        for column in ("probability", "weight"):
            if column in pairs:
                scored[column] = pairs[column].to_numpy()
        if features is not None:
            scored = pd.concat(
                [scored, features.reset_index(drop=True).set_axis(scored.index)], axis=1
            )
        errors = errors.merge(scored, on=["left", "right"], how="left")
    else:
        # the error pairs are few, the scored pairs many: look each up rather than join
        found = row >= 0
        taken = np.where(found, row, 0)
        columns = [c for c in ("probability", "weight") if c in pairs]
        extra = {c: pairs[c].to_numpy(np.float64)[taken] for c in columns}
        if features is not None:
            extra.update({c: features[c].to_numpy()[taken] for c in features.columns})
        for column, values in extra.items():
            filled = np.full(len(errors), np.nan, dtype=np.result_type(values.dtype, np.float32))
            filled[found] = values[found]
            errors[column] = filled
    p = errors["probability"] if "probability" in errors else pd.Series(np.nan, index=errors.index)
    reason = np.where(
        errors["error"] == "false_merge",
        np.where(p >= 0.5, "scored_match", "chained"),
        np.where(p.isna(), "not_blocked", np.where(p < 0.5, "scored_low", "split")),
    )
    errors.insert(3, "reason", reason)
    return errors


def _scored_row(pairs: pd.DataFrame, errors: pd.DataFrame, n: int) -> np.ndarray | None:
    """For each error pair, its row in ``pairs`` (``-1`` when never scored), or ``None`` when
    ``pairs`` holds a pair twice."""
    if len(pairs) == 0:
        return np.full(len(errors), -1, dtype=np.int64)
    key = pairs["left"].to_numpy(np.int64) * n + pairs["right"].to_numpy(np.int64)
    order = np.argsort(key, kind="stable")
    ordered = key[order]
    if (ordered[1:] == ordered[:-1]).any():
        return None
    wanted = errors["left"].to_numpy(np.int64) * n + errors["right"].to_numpy(np.int64)
    at = np.minimum(np.searchsorted(ordered, wanted), len(ordered) - 1)
    return np.where(ordered[at] == wanted, order[at], -1)


#: What an error's reason means, for the note beside its explanation.
ERROR_NOTES: Final = {
    "scored_match": "the model linked these two different people",
    "chained": "different people, joined through other records (this pair scored below 0.5 "
    "or was never compared)",
    "not_blocked": "blocking never compared these two records of one person; the scores are "
    "what the model would have said",
    "scored_low": "one person, but the model scored the pair below 0.5",
    "split": "one person, scored as a match, but clustering kept the records apart",
}


def explain_errors(
    errors: pd.DataFrame,
    prepared: pd.DataFrame,
    model: Any,
    *,
    top: int = 3,
    threshold: float = 0.0,
) -> pd.DataFrame:
    """The error pairs with why the model scored each as it did.

    Parameters
    ----------
    errors:
        From :func:`error_pairs`: ``left``, ``right`` (rows of ``prepared``), ``error``,
        ``reason`` and, for pairs the batch scored, ``probability``.
    prepared:
        The batch's prepared records (:func:`engine.resolve.prepare.prepare` of all of them, so
        that name
        and phone counts are the batch's), row ``i`` = record ``i`` of the labels.
    model:
        The match model the batch scored with.
    top:
        How many reasons for and against a link to spell out per pair.
    threshold:
        The link threshold in log-odds.

    Returns
    -------
    pandas.DataFrame
        ``errors``' columns (without their features and ``weight``), then ``for`` and
        ``against`` (the ``top`` strongest contributions in words, e.g. ``"+2.31 same NID card"``,
        joined by ``"; "``), ``cannot_link``, ``note`` (what the reason means, and how the pair
        was scored when not by the model alone), ``log_odds``, ``score``, ``bias``, the
        :data:`~engine.resolve.compare.FEATURES` computed afresh and one ``contribution_<feature>``
        per
        model feature. Pairs the batch never scored (``not_blocked``) get the model's probability.
    """
    from engine.resolve.compare import FEATURES, compare
    from engine.resolve.explain import explain_frame

    pairs = errors[["left", "right"]].astype(np.int64).reset_index(drop=True)
    features = compare(prepared, pairs)
    known = (
        errors["probability"].to_numpy(np.float64)
        if "probability" in errors
        else np.full(len(errors), np.nan)
    )
    explained = explain_frame(features, model, top=top, threshold=threshold, probability=known)
    # the features are computed afresh, and ``log_odds`` stands for the batch's ``weight``
    stale = [c for c in (*FEATURES, "weight") if c in errors.columns]
    base = errors.drop(columns=stale).reset_index(drop=True)
    base["probability"] = explained["probability"].to_numpy()
    reason_note = base["reason"].map(ERROR_NOTES).fillna("").to_numpy(dtype=object)
    scoring_note = explained["note"].fillna("").to_numpy(dtype=object)
    note = [
        "; ".join(part for part in (a, b) if part)
        for a, b in zip(reason_note, scoring_note, strict=True)
    ]
    out = pd.concat(
        [
            base,
            pd.DataFrame(
                {
                    "for": explained["for"].to_numpy(dtype=object),
                    "against": explained["against"].to_numpy(dtype=object),
                    "cannot_link": explained["cannot_link"].to_numpy(dtype=object),
                    "note": note,
                    "log_odds": explained["log_odds"].to_numpy(),
                    "score": explained["score"].to_numpy(),
                    "bias": explained["bias"].to_numpy(),
                }
            ),
            features.reset_index(drop=True),
            explained.filter(like="contribution_").reset_index(drop=True),
        ],
        axis=1,
    )
    out.index = errors.index
    return out


def error_summary(
    errors: pd.DataFrame,
    prepared: pd.DataFrame | None = None,
    extra_tags: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Counts of errors by kind and reason, and by the hard case they fall on.

    Hard-case tags (a pair can carry several): ``shared_number`` (the records share a phone or
    wallet), ``son_named_after_father`` (one's name matches the other's father), ``weak_dob`` (a
    defaulted or age-only birth date), ``bangla`` (a record written only in Bangla script),
    ``nid_typo``, ``different_gender``, ``year_gap>=2``; plus any boolean columns of
    ``extra_tags`` (same index as ``errors``, e.g. from :func:`truth_tags`).
    """
    if errors.empty:
        return pd.DataFrame(columns=["error", "reason", "tag", "pairs"])
    tags = pd.DataFrame(index=errors.index)

    def col(name: str) -> pd.Series:
        return errors[name] if name in errors else pd.Series(np.nan, index=errors.index)

    tags["shared_number"] = col("number_shared") == 1
    tags["son_named_after_father"] = col("name_father_cross") >= 0.9
    tags["weak_dob"] = col("dob_weak") == 1
    tags["nid_typo"] = col("nid_match") == 0.5
    tags["different_gender"] = col("gender_match") == 0
    tags["year_gap>=2"] = col("year_gap") >= 2
    if prepared is not None:
        bangla = prepared["bangla_only"].to_numpy(dtype=bool)
        tags["bangla"] = bangla[errors["left"].to_numpy()] | bangla[errors["right"].to_numpy()]
    if extra_tags is not None:
        for column in extra_tags.columns:
            tags[column] = extra_tags[column].to_numpy(dtype=bool)
    rows = [
        errors.groupby(["error", "reason"]).size().rename("pairs").reset_index().assign(tag="(all)")
    ]
    for tag in tags.columns:
        sub = errors[tags[tag].to_numpy()]
        if len(sub):
            rows.append(
                sub.groupby(["error", "reason"])
                .size()
                .rename("pairs")
                .reset_index()
                .assign(tag=tag)
            )
    return pd.concat(rows, ignore_index=True)[["error", "reason", "tag", "pairs"]]


def truth_tags(
    errors: pd.DataFrame,
    prepared: pd.DataFrame,
    truth_records: pd.DataFrame,
    truth_persons: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Hard cases of each error pair as the world generator recorded them.

    Parameters
    ----------
    errors:
        From :func:`error_pairs`.
    prepared:
        The prepared records (for ``source`` / ``record_id`` of each row).
    truth_records:
        ``truth/records.csv``: ``source, record_id, person_id, household_id[, tags]`` (tags joined
        by ``;``, e.g. ``nid_typo;phone_of_household``).
    truth_persons:
        ``truth/persons.csv`` (``person_id``, ``twin_of``, ``named_after``, ...), optional.

    Returns
    -------
    pandas.DataFrame
        Boolean columns ``same_household`` (the two true persons live in one household),
        ``twins``, ``named_after`` (one is named after the other), and ``rec:<tag>`` for every
        record tag either record carries.
    """
    keyed = truth_records.drop_duplicates(["source", "record_id"]).set_index(
        ["source", "record_id"]
    )
    index = pd.MultiIndex.from_arrays([prepared["source"], prepared["record_id"]])
    rows = keyed.reindex(index)
    left, right = errors["left"].to_numpy(), errors["right"].to_numpy()
    out = pd.DataFrame(index=errors.index)
    household = rows["household_id"].to_numpy(dtype=object)
    person = rows["person_id"].to_numpy(dtype=object)
    out["same_household"] = pd.notna(household[left]) & (household[left] == household[right])
    if truth_persons is not None:
        facts = truth_persons.set_index("person_id")
        for column, name in (("twin_of", "twins"), ("named_after", "named_after")):
            if column in facts:
                link = facts[column].to_dict()
                a, b = person[left], person[right]
                out[name] = [
                    link.get(x) == y or link.get(y) == x for x, y in zip(a, b, strict=True)
                ]
    if "tags" in rows:
        record_tags = rows["tags"].fillna("").to_numpy(dtype=object)
        pair_tags = [
            set(filter(None, str(x).split(";"))) | set(filter(None, str(y).split(";")))
            for x, y in zip(record_tags[left], record_tags[right], strict=True)
        ]
        for tag in sorted(set().union(*pair_tags)) if pair_tags else []:
            out[f"rec:{tag}"] = [tag in t for t in pair_tags]
    return out


def source_pair_scores(
    sources: np.ndarray | pd.Series,
    predicted: np.ndarray | pd.Series,
    truth: np.ndarray | pd.Series,
    candidates: np.ndarray | None = None,
) -> pd.DataFrame:
    """Recall and precision per pair of sources: do the persons two sources share end up as one?

    Parameters
    ----------
    sources:
        The source of each record.
    predicted, truth:
        Predicted and true person label per record (missing truth: a person of its own).
    candidates:
        Codes ``left * n + right`` (``left < right``, record rows) of the pairs blocking proposed,
        to add blocking recall per pair of sources.

    Returns
    -------
    pandas.DataFrame
        One row per unordered pair of sources (``source_a <= source_b``; a source with itself for
        its duplicates) that share a true pair or a predicted one: ``true_pairs`` (pairs of
        records of one person, one from each), ``recall`` (the share of them in one predicted
        person), ``blocking_recall`` (the share blocking proposed; with ``candidates``),
        ``linked_pairs`` (pairs put in one person) and ``precision`` (the share of them truly one
        person). NaN where there is nothing to count.
    """
    from engine.resolve.blocking import pairs_within_blocks

    truth_l, pred_l = _labels(np.asarray(truth)), _labels(np.asarray(predicted))
    n = len(truth_l)
    idx = np.arange(n, dtype=np.int64)
    source_code, names = pd.factorize(pd.Series(np.asarray(sources)).astype(str), sort=True)
    k = max(len(names), 1)

    def by_pair(left: np.ndarray, right: np.ndarray, *flags: np.ndarray) -> pd.DataFrame:
        a, b = source_code[left], source_code[right]
        key = np.minimum(a, b) * k + np.maximum(a, b)
        frame = pd.DataFrame({"key": key, "n": 1, **{f"f{i}": f for i, f in enumerate(flags)}})
        return frame.groupby("key").sum()

    tl, tr = pairs_within_blocks(idx, truth_l)
    flags = [pred_l[tl] == pred_l[tr]]
    if candidates is not None:
        flags.append(np.isin(tl * n + tr, candidates))
    true_side = by_pair(tl, tr, *flags)
    pl, pr = pairs_within_blocks(idx, pred_l)
    pred_side = by_pair(pl, pr, truth_l[pl] == truth_l[pr])
    keys = true_side.index.union(pred_side.index)
    true_side = true_side.reindex(keys, fill_value=0)
    pred_side = pred_side.reindex(keys, fill_value=0)
    names = np.asarray(names, dtype=object)
    n_true = true_side["n"].to_numpy()
    n_pred = pred_side["n"].to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        out = pd.DataFrame(
            {
                "source_a": names[keys.to_numpy() // k],
                "source_b": names[keys.to_numpy() % k],
                "true_pairs": n_true,
                "recall": np.where(n_true > 0, true_side["f0"].to_numpy() / n_true, np.nan),
                "blocking_recall": (
                    np.where(n_true > 0, true_side["f1"].to_numpy() / n_true, np.nan)
                    if candidates is not None
                    else np.nan
                ),
                "linked_pairs": n_pred,
                "precision": np.where(n_pred > 0, pred_side["f0"].to_numpy() / n_pred, np.nan),
            }
        )
    if candidates is None:
        out = out.drop(columns="blocking_recall")
    return out.sort_values(["source_a", "source_b"], ignore_index=True)
