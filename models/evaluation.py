"""How good is a match model: pairwise precision / recall / F1, curves, calibration, pictures.

Pairwise scores compare *sets of pairs*: the pairs a model (or the whole pipeline) calls matches
against the true matching pairs. True matches that blocking never proposed count as missed, so
recall here is end-to-end recall, not just the classifier's.

The plotting functions draw with matplotlib's Agg canvas directly (no pyplot, no global backend
switch), save a PNG and return its path.

Example
-------
>>> scores = pairwise_scores({("a", "b"), ("c", "d")}, {("b", "a"), ("e", "f")})
>>> scores.true_positives, scores.false_positives, scores.false_negatives, scores.f1
(1, 1, 1, 0.5)
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import (
    average_precision_score,
    brier_score_loss,
    precision_recall_curve,
    roc_auc_score,
)

Pair = tuple[Hashable, Hashable]


@dataclass(frozen=True)
class PairwiseScores:
    """Counts and rates of predicted against true matching pairs."""

    true_positives: int
    false_positives: int
    false_negatives: int
    precision: float
    recall: float
    f1: float

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


def canonical_pairs(pairs: Iterable[Pair] | pd.MultiIndex, *, dedupe: bool = True) -> set[Pair]:
    """Pairs as a set; with ``dedupe=True`` (one file) (a, b) and (b, a) are the same pair."""
    if dedupe:
        return {(a, b) if str(a) <= str(b) else (b, a) for a, b in pairs}
    return {(a, b) for a, b in pairs}


def pairwise_scores(
    predicted: Iterable[Pair] | pd.MultiIndex,
    true: Iterable[Pair] | pd.MultiIndex,
    *,
    dedupe: bool = True,
) -> PairwiseScores:
    """Pairwise precision, recall and F1 of predicted matching pairs against the true ones.

    Parameters
    ----------
    predicted, true
        Pairs of record ids (iterables of 2-tuples or a pandas MultiIndex).
    dedupe
        True when both ids come from one file, so pair order does not matter; False for linking
        two files (left id, right id).
    """
    pred = canonical_pairs(predicted, dedupe=dedupe)
    gold = canonical_pairs(true, dedupe=dedupe)
    tp = len(pred & gold)
    fp = len(pred - gold)
    fn = len(gold - pred)
    return _scores(tp, fp, fn)


def _scores(tp: int, fp: int, fn: int) -> PairwiseScores:
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return PairwiseScores(tp, fp, fn, precision, recall, f1)


def classification_metrics(
    y_true: Any, probability: Any, *, threshold: float = 0.5
) -> dict[str, float | int]:
    """Metrics of match probabilities on labelled candidate pairs.

    Returns n_pairs, n_positives, threshold, precision, recall, f1 (at the threshold), roc_auc and
    average_precision (threshold-free ranking), and brier (mean squared error of the probability:
    0 is perfect; lower means better calibrated and sharper).
    """
    y = np.asarray(y_true).astype(np.int64)
    p = np.asarray(probability, dtype=np.float64)
    pred = p >= threshold
    tp = int(np.sum(pred & (y == 1)))
    fp = int(np.sum(pred & (y == 0)))
    fn = int(np.sum(~pred & (y == 1)))
    scores = _scores(tp, fp, fn)
    both = 0 < y.sum() < len(y)
    return {
        "n_pairs": int(len(y)),
        "n_positives": int(y.sum()),
        "threshold": float(threshold),
        "precision": scores.precision,
        "recall": scores.recall,
        "f1": scores.f1,
        "roc_auc": float(roc_auc_score(y, p)) if both else float("nan"),
        "average_precision": float(average_precision_score(y, p)) if both else float("nan"),
        "brier": float(brier_score_loss(y, p)) if len(y) else float("nan"),
    }


def holdout_metrics(model: Any, X: Any, y: Any) -> dict[str, float | int]:
    """:func:`classification_metrics` of a model on held-out pairs, at the model's threshold."""
    return classification_metrics(y, model.predict_proba(X)[:, 1], threshold=model.threshold)


def precision_recall_points(y_true: Any, scores: Any) -> pd.DataFrame:
    """Points of the precision-recall curve: one row per distinct score threshold."""
    precision, recall, thresholds = precision_recall_curve(np.asarray(y_true), np.asarray(scores))
    return pd.DataFrame(
        {
            "threshold": np.append(thresholds, np.nan),
            "precision": precision,
            "recall": recall,
        }
    )


def reliability_table(y_true: Any, probability: Any, *, n_bins: int = 10) -> pd.DataFrame:
    """Calibration check: per probability bin, the mean predicted probability and the observed rate.

    A calibrated model has ``mean_predicted`` close to ``observed_rate`` in every well-filled bin.
    """
    y = np.asarray(y_true, dtype=np.float64)
    p = np.asarray(probability, dtype=np.float64)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    which = np.clip(np.digitize(p, edges[1:-1], right=False), 0, n_bins - 1)
    rows = []
    for b in range(n_bins):
        inside = which == b
        n = int(inside.sum())
        rows.append(
            {
                "bin_lower": edges[b],
                "bin_upper": edges[b + 1],
                "n_pairs": n,
                "mean_predicted": float(p[inside].mean()) if n else np.nan,
                "observed_rate": float(y[inside].mean()) if n else np.nan,
            }
        )
    return pd.DataFrame(rows)


# -- pictures ----------------------------------------------------------------------------------


def _figure(width: float = 6.4, height: float = 4.8) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=110)
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Any, path: str | Path) -> Path:
    """Lay the figure out and write it as a PNG at ``path``."""
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path)
    return path


def _as_curves(scores: Any) -> dict[str, np.ndarray]:
    if isinstance(scores, Mapping):
        return {str(k): np.asarray(v, dtype=np.float64) for k, v in scores.items()}
    return {"model": np.asarray(scores, dtype=np.float64)}


def plot_precision_recall(
    y_true: Any,
    scores: Any,
    path: str | Path,
    *,
    threshold: float | None = 0.5,
    title: str = "Precision and recall of candidate pairs",
    zoom: bool = True,
) -> Path:
    """Save a precision-recall curve as a PNG.

    Parameters
    ----------
    y_true
        1 for matching pairs, 0 otherwise.
    scores
        Match probabilities, or a mapping ``model name -> probabilities`` to compare models.
    path
        Where to write the PNG.
    threshold
        Mark each curve's operating point at this probability (None: no mark).
    zoom
        When every curve still has precision above 0.9 at 98% recall, show only the top right
        corner (recall from 0.95), where good models differ.
    """
    y = np.asarray(y_true)
    fig = _figure()
    ax = fig.add_subplot(1, 1, 1)
    lowest = 1.0
    for name, s in _as_curves(scores).items():
        precision, recall, _ = precision_recall_curve(y, s)
        label = f"{name}: AP {average_precision_score(y, s):.4f}"
        if threshold is not None:
            pred = s >= threshold
            tp = np.sum(pred & (y == 1))
            p_at = tp / max(pred.sum(), 1)
            r_at = tp / max((y == 1).sum(), 1)
            label += f"; at p >= {threshold:g}: P {p_at:.4f}, R {r_at:.4f}"
        (line,) = ax.plot(recall, precision, label=label, drawstyle="steps-post")
        if threshold is not None:
            ax.plot([r_at], [p_at], "o", color=line.get_color())
        # Best precision still reachable at 98% recall: how far down the zoomed view must go.
        lowest = min(lowest, float(precision[recall >= 0.98].max()))
    if zoom and lowest > 0.9:
        ax.set_xlim(0.95, 1.0005)
        ax.set_ylim(min(0.99, 1.0 - 2.0 * (1.0 - lowest)), 1.0005)
        title += " (zoomed)"
    else:
        ax.set_xlim(0.0, 1.01)
        ax.set_ylim(0.0, 1.01)
    ax.set_xlabel("recall (share of true matches found)")
    ax.set_ylabel("precision (share of predicted matches that are true)")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left", fontsize=7)
    ax.set_title(title)
    return _save(fig, path)


def plot_score_distribution(
    y_true: Any,
    scores: Any,
    path: str | Path,
    *,
    threshold: float | None = 0.5,
    bins: int = 50,
    title: str = "Match probability of true matches and non-matches",
) -> Path:
    """Save histograms of the match probability for true matches and non-matches (log counts).

    The fewer pairs of either colour sit near the threshold, the less clerical review is needed.
    """
    y = np.asarray(y_true)
    s = np.asarray(scores, dtype=np.float64)
    fig = _figure()
    ax = fig.add_subplot(1, 1, 1)
    edges = np.linspace(0.0, 1.0, bins + 1)
    ax.hist(s[y == 0], bins=edges, alpha=0.6, label=f"non-matches ({np.sum(y == 0):,})")
    ax.hist(s[y == 1], bins=edges, alpha=0.6, label=f"matches ({np.sum(y == 1):,})")
    if threshold is not None:
        ax.axvline(
            threshold, color="black", linestyle="--", linewidth=1, label=f"threshold {threshold:g}"
        )
    ax.set_yscale("log")
    ax.set_xlabel("match probability")
    ax.set_ylabel("candidate pairs (log scale)")
    ax.legend(fontsize=8)
    ax.set_title(title)
    return _save(fig, path)


def plot_reliability(
    y_true: Any,
    probability: Any,
    path: str | Path,
    *,
    n_bins: int = 10,
    title: str = "Calibration: predicted probability against observed match rate",
) -> Path:
    """Save a reliability diagram (a calibrated model lies on the diagonal) as a PNG.

    Each point is labelled with the number of pairs in its bin: with good features almost every
    pair sits near 0 or 1, and the middle bins hold a handful.
    """
    fig = _figure()
    ax = fig.add_subplot(1, 1, 1)
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", label="perfectly calibrated")
    for name, p in _as_curves(probability).items():
        table = reliability_table(y_true, p, n_bins=n_bins)
        filled = table[table.n_pairs > 0]
        (line,) = ax.plot(filled.mean_predicted, filled.observed_rate, "o-", label=name)
        # A bin of 3 pairs says little: print how many pairs each point stands for.
        for x, y, n in zip(
            filled.mean_predicted, filled.observed_rate, filled.n_pairs, strict=True
        ):
            ax.annotate(
                f"{n:,}", (x, y), textcoords="offset points", xytext=(4, -10), fontsize=7,
                color=line.get_color(),
            )  # fmt: skip
    ax.set_xlabel("mean predicted match probability (per bin)")
    ax.set_ylabel("observed share of true matches")
    ax.set_xlim(0.0, 1.0)
    ax.set_ylim(0.0, 1.0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(title)
    return _save(fig, path)
