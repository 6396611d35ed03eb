"""Reading a fitted match model's numbers: calibration, per-feature contributions and weight
tables, for the logistic, boosting and Fellegi-Sunter models alike.

Imports neither scikit-learn nor SciPy: a process that only scores with a saved model (``ekjon
match``, ``ekjon serve``) loads it without them (about a second of imports saved; SciPy's
``expit`` alone, 0.2-0.3 s: :func:`expit` gives its values).
:mod:`models.classifier` and :mod:`models.fellegi_sunter` fit the models and use these too.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from models.comparisons import NULL_LEVEL, Comparison, encode_levels

_LN2 = float(np.log(2.0))


def expit(x: Any) -> Any:
    """The logistic function ``1 / (1 + exp(-x))``, as ``scipy.special.expit`` gives it: for
    float64 values (and Python floats) the same formula without importing SciPy; other types
    (float32...) are passed to SciPy. The values are SciPy's, or differ in the last bits (at most
    a few units in the last place) where NumPy's ``exp`` is its own SIMD code (AVX-512 CPUs)."""
    dtype = x.dtype if hasattr(x, "dtype") else np.asarray(x).dtype
    if dtype != np.float64:
        from scipy.special import expit as scipy_expit

        return scipy_expit(x)
    with np.errstate(over="ignore"):  # exp(1000) is inf, and the answer 0, without a warning
        return 1.0 / (1.0 + np.exp(-x))


def apply_calibration(calibration: dict[str, Any], score: np.ndarray) -> np.ndarray:
    """Match probability from the base model's score, as scikit-learn's calibrators compute it."""
    method = calibration["method"]
    score = np.asarray(score, dtype=np.float64)
    if method == "none":
        return expit(score)
    if method == "sigmoid":
        return expit(-(calibration["a"] * score + calibration["b"]))
    x = np.asarray(calibration["x"], dtype=np.float64)
    y = np.asarray(calibration["y"], dtype=np.float64)
    if x.size == 1:
        return np.full(score.shape, y[0])
    return np.interp(np.clip(score, x[0], x[-1]), x, y)


def logistic_contributions(
    arr: np.ndarray, comparisons: list, coef: np.ndarray, intercept: float
) -> tuple[float, np.ndarray]:
    """Weight of each pair's level of each feature, and the intercept as the bias."""
    levels = encode_levels(arr, comparisons)
    contrib = np.zeros(arr.shape, dtype=np.float64)
    start = 0
    for j, comparison in enumerate(comparisons):
        block = coef[start : start + comparison.n_levels + 1]
        lvl = levels[:, j]
        contrib[:, j] = block[np.where(lvl < 0, comparison.n_levels, lvl)]
        start += comparison.n_levels + 1
    return intercept, contrib


def level_weights_table(comparisons: list, coef: np.ndarray) -> pd.DataFrame:
    """One row per feature and level (null last) with its logistic weight."""
    rows = []
    start = 0
    for comparison in comparisons:
        labels = [*comparison.level_labels(), "null"]
        for k, label in enumerate(labels):
            rows.append(
                {
                    "feature": comparison.name,
                    "level": k if label != "null" else -1,
                    "label": label,
                    "weight": float(coef[start + k]),
                }
            )
        start += comparison.n_levels + 1
    return pd.DataFrame(rows)


def explanation_frame(
    X: Any,
    names: list[str],
    bias: float | np.ndarray,
    contrib: np.ndarray,
    log_odds: np.ndarray,
    probability: np.ndarray,
) -> pd.DataFrame:
    index = X.index if isinstance(X, pd.DataFrame) else None
    columns, values = explanation_values(names, bias, contrib, log_odds, probability)
    return pd.DataFrame(values, columns=columns, index=index)


def explanation_values(
    names: list[str],
    bias: float | np.ndarray,
    contrib: np.ndarray,
    log_odds: np.ndarray,
    probability: np.ndarray,
) -> tuple[list[str], np.ndarray]:
    """The columns and values of :func:`explanation_frame`, without the frame."""
    n = contrib.shape[0]
    # one block, built at once (inserting columns one by one costs more than the trees for the
    # few pairs of one record)
    values = np.empty((n, len(names) + 3), dtype=np.float64)
    values[:, 0] = bias
    values[:, 1 : len(names) + 1] = contrib
    values[:, -2] = log_odds
    values[:, -1] = probability
    return ["bias", *names, "log_odds", "probability"], values


def weights_table(
    comparisons: Sequence[Comparison], m: Sequence[np.ndarray], u: Sequence[np.ndarray]
) -> pd.DataFrame:
    """One row per feature and comparison level: m, u, Bayes factor and match weight (bits)."""
    rows = []
    for c, mj, uj in zip(comparisons, m, u, strict=True):
        for level, label in enumerate(c.level_labels()):
            rows.append(
                {
                    "feature": c.name,
                    "level": level,
                    "label": label,
                    "m": float(mj[level]),
                    "u": float(uj[level]),
                    "bayes_factor": float(mj[level] / uj[level]),
                    "match_weight": float(np.log2(mj[level]) - np.log2(uj[level])),
                }
            )
        rows.append(
            {
                "feature": c.name,
                "level": NULL_LEVEL,
                "label": "null",
                "m": np.nan,
                "u": np.nan,
                "bayes_factor": 1.0,
                "match_weight": 0.0,
            }
        )
    return pd.DataFrame(rows)


def weights_frame(
    X: Any,
    names: list[str],
    bias: float,
    weights: np.ndarray,
    bias_name: str,
    total_name: str,
) -> pd.DataFrame:
    index = X.index if isinstance(X, pd.DataFrame) else None
    frame = pd.DataFrame(weights, columns=names, index=index)
    frame.insert(0, bias_name, bias)
    total = bias + weights.sum(axis=1)
    frame[total_name] = total
    scale = _LN2 if total_name == "match_weight" else 1.0
    frame["probability"] = expit(total * scale)
    return frame


def level_match_weights(
    levels: np.ndarray, m: Sequence[np.ndarray], u: Sequence[np.ndarray]
) -> np.ndarray:
    out = np.zeros(levels.shape, dtype=np.float64)
    for j, (mj, uj) in enumerate(zip(m, u, strict=True)):
        table = np.log2(mj) - np.log2(uj)
        lvl = levels[:, j]
        seen = lvl != NULL_LEVEL
        out[seen, j] = table[lvl[seen]]
    return out
