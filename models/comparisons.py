"""Comparison features and their levels: the declarative description a match model is built on.

The ER engine hands the models one row per candidate pair and one column per comparison feature:
similarities in [0, 1], small non-negative integers (levels, counts, differences) or 0/1 flags, with
NaN for "not comparable" (one side lacks the value). A :class:`Comparison` says how one feature is
cut into comparison levels, as Splink's comparison levels do: level 0 is the closest agreement, the
last level is "everything else", and NaN is the separate *null* level.

Example
-------
>>> c = Comparison("surname_jw", levels=[1.0, 0.9, 0.7])
>>> c.level_labels()
['>= 1', '>= 0.9', '>= 0.7', '< 0.7']
>>> c.assign(np.array([1.0, 0.95, 0.2, np.nan])).tolist()
[0, 1, 3, -1]
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from models.errors import FeatureError, InvalidParameterError, LabelError

logger = logging.getLogger(__name__)

NULL_LEVEL = -1
"""Level index of a NaN ("not comparable") value."""

#: Default cut points for a similarity in [0, 1] (higher = closer): exact, near-exact (one typo in a
#: long string), close (one typo in a short string, a transposition), loosely similar, different.
DEFAULT_SIMILARITY_LEVELS: tuple[float, ...] = (1.0, 0.92, 0.8, 0.6)
#: Default cut points for a non-negative integer difference or count (lower = closer).
DEFAULT_INTEGER_LEVELS: tuple[float, ...] = (0, 1, 2, 5, 10, 20)

Closer = Literal["higher", "lower"]


@dataclass(frozen=True)
class Comparison:
    """How one comparison feature is cut into levels.

    Parameters
    ----------
    name
        The feature's column name, as the engine names it.
    levels
        Cut points. With ``closer="higher"`` (similarities, agreement flags) a value belongs to the
        first level whose cut point it reaches (``value >= cut``), taken from the highest cut down;
        with ``closer="lower"`` (differences, counts) to the first whose cut point it does not
        exceed (``value <= cut``), from the lowest up. One more level holds everything else, so a
        comparison has ``len(levels) + 1`` levels besides the null level.
    closer
        Whether higher or lower values mean the two records agree more.

    Raises
    ------
    InvalidParameterError
        On an empty name, a non-finite or repeated cut point, or an unknown ``closer``.
    """

    name: str
    levels: tuple[float, ...] = field(default=DEFAULT_SIMILARITY_LEVELS)
    closer: Closer = "higher"

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise InvalidParameterError(
                f"A Comparison needs a non-empty feature name. Got {self.name!r}."
            )
        if self.closer not in ("higher", "lower"):
            raise InvalidParameterError(
                f"The 'closer' of Comparison {self.name!r} must be 'higher' or 'lower'. "
                f"Got {self.closer!r}."
            )
        try:
            cuts = [float(v) for v in self.levels]
        except (TypeError, ValueError) as exc:
            raise InvalidParameterError(
                f"The levels of Comparison {self.name!r} must be numbers. Got {self.levels!r}."
            ) from exc
        if not all(np.isfinite(cuts)):
            raise InvalidParameterError(
                f"The levels of Comparison {self.name!r} must be finite numbers. Got {cuts}."
            )
        if len(set(cuts)) != len(cuts):
            raise InvalidParameterError(
                f"The levels of Comparison {self.name!r} repeat a cut point. Got {cuts}."
            )
        cuts.sort(reverse=self.closer == "higher")
        object.__setattr__(self, "levels", tuple(cuts))

    @property
    def n_levels(self) -> int:
        """Number of levels, not counting the null level."""
        return len(self.levels) + 1

    def level_labels(self) -> list[str]:
        """Readable label of each level, closest first (the null level is labelled ``"null"``)."""
        if self.closer == "higher":
            labels = [f">= {_fmt(c)}" for c in self.levels]
            last = f"< {_fmt(self.levels[-1])}" if self.levels else "any"
        else:
            labels = [f"<= {_fmt(c)}" for c in self.levels]
            last = f"> {_fmt(self.levels[-1])}" if self.levels else "any"
        return [*labels, last]

    def assign(self, values: np.ndarray) -> np.ndarray:
        """Level index of each value: 0 = closest, ``n_levels - 1`` = everything else, -1 = null."""
        values = np.asarray(values, dtype=np.float64)
        cuts = np.asarray(self.levels, dtype=np.float64)
        with np.errstate(invalid="ignore"):
            if self.closer == "higher":
                level = (values[:, None] < cuts[None, :]).sum(axis=1)
            else:
                level = (values[:, None] > cuts[None, :]).sum(axis=1)
        level = level.astype(np.int64)
        level[np.isnan(values)] = NULL_LEVEL
        return level

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description (``Comparison.from_dict`` reads it back)."""
        return {
            "name": self.name,
            "levels": list(self.levels),
            "closer": self.closer,
            "level_labels": self.level_labels(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Comparison:
        """Read a comparison written by :meth:`to_dict`."""
        return cls(name=data["name"], levels=tuple(data["levels"]), closer=data["closer"])


def _fmt(value: float) -> str:
    return f"{value:g}"


def infer_comparison(name: str, values: np.ndarray) -> Comparison:
    """Default comparison levels for a feature, from the values seen in training.

    - only 0 and 1: a flag, levels ``1`` / ``0``;
    - anything else in [0, 1]: a similarity, :data:`DEFAULT_SIMILARITY_LEVELS`;
    - non-negative integers: a difference or count (lower = closer), one level per value when at
      most 6 distinct values occur, else :data:`DEFAULT_INTEGER_LEVELS`;
    - anything else: quintile cut points, lower = closer (a warning says to declare a Comparison).
    """
    seen = values[~np.isnan(values)]
    if seen.size == 0 or np.isin(seen, (0.0, 1.0)).all():
        return Comparison(name, levels=(1.0,), closer="higher")
    lo, hi = float(seen.min()), float(seen.max())
    if lo >= 0.0 and hi <= 1.0:
        return Comparison(name, levels=DEFAULT_SIMILARITY_LEVELS, closer="higher")
    if lo >= 0.0 and np.all(seen == np.round(seen)):
        if hi <= 6:
            cuts = tuple(float(v) for v in range(int(hi)))
        else:
            cuts = tuple(c for c in DEFAULT_INTEGER_LEVELS if c < hi)
        return Comparison(name, levels=cuts, closer="lower")
    cuts = tuple(sorted(set(np.quantile(seen, [0.2, 0.4, 0.6, 0.8]).tolist())))
    logger.warning(
        "Feature %r is neither a [0, 1] similarity nor a non-negative integer; using quintile "
        "levels %s. Declare a Comparison for it to choose its levels.",
        name,
        cuts,
    )
    return Comparison(name, levels=cuts, closer="lower")


ComparisonsParam = Sequence[Comparison] | Mapping[str, Sequence[float]] | None


def resolve_comparisons(
    comparisons: ComparisonsParam, feature_names: Sequence[str], X: np.ndarray, owner: str
) -> list[Comparison]:
    """One comparison per feature column: the declared ones, defaults inferred for the rest.

    ``comparisons`` may be a list of :class:`Comparison` or a mapping ``name -> cut points``
    (similarity-style, higher = closer). Declared comparisons for columns that X lacks are an error,
    since they are almost always a typo.
    """
    declared: dict[str, Comparison] = {}
    if comparisons is None:
        pass
    elif isinstance(comparisons, Mapping):
        for name, cuts in comparisons.items():
            declared[name] = (
                cuts if isinstance(cuts, Comparison) else Comparison(name, levels=tuple(cuts))
            )
    elif isinstance(comparisons, Iterable) and not isinstance(comparisons, str):
        for c in comparisons:
            if not isinstance(c, Comparison):
                raise InvalidParameterError(
                    f"The 'comparisons' parameter of {owner} must be a list of Comparison or a "
                    f"mapping of feature name to levels. Got an item {c!r}."
                )
            declared[c.name] = c
    else:
        raise InvalidParameterError(
            f"The 'comparisons' parameter of {owner} must be a list of Comparison, a mapping of "
            f"feature name to levels, or None. Got {comparisons!r}."
        )
    unknown = sorted(set(declared) - set(feature_names))
    if unknown:
        raise FeatureError(
            f"{owner} declares comparisons for features the data lacks: {unknown}; "
            f"the data's features are {list(feature_names)}."
        )
    return [
        declared[name] if name in declared else infer_comparison(name, X[:, j])
        for j, name in enumerate(feature_names)
    ]


def encode_levels(X: np.ndarray, comparisons: Sequence[Comparison]) -> np.ndarray:
    """Level index of every value, shape like X (int64, -1 = null)."""
    out = np.empty(X.shape, dtype=np.int64)
    for j, comparison in enumerate(comparisons):
        out[:, j] = comparison.assign(X[:, j])
    return out


def one_hot_levels(X: np.ndarray, comparisons: Sequence[Comparison]) -> np.ndarray:
    """Indicator matrix: per feature, one column per level and a last one for the null level."""
    levels = encode_levels(X, comparisons)
    blocks = []
    for j, comparison in enumerate(comparisons):
        block = np.zeros((X.shape[0], comparison.n_levels + 1), dtype=np.float64)
        lvl = levels[:, j]
        col = np.where(lvl == NULL_LEVEL, comparison.n_levels, lvl)
        block[np.arange(X.shape[0]), col] = 1.0
        blocks.append(block)
    if not blocks:
        return np.zeros((X.shape[0], 0))
    return np.hstack(blocks)


def features_to_array(X: Any, owner: str) -> tuple[np.ndarray, list[str]]:
    """Comparison features as a float64 matrix, with their column names.

    A DataFrame keeps its column names; a plain 2-D array gets ``x0, x1, ...``.

    Raises
    ------
    FeatureError
        On a non-numeric column, an infinite value or a matrix that is not 2-D.
    """
    if isinstance(X, pd.DataFrame):
        names = [str(c) for c in X.columns]
        if len(set(names)) != len(names):
            dup = sorted({n for n in names if names.count(n) > 1})
            raise FeatureError(f"{owner} got repeated feature columns: {dup}.")
        if len(names) and all(isinstance(d, np.dtype) and d.kind == "f" for d in X.dtypes):
            # the usual case (compare's float32 features): one conversion, not one per column;
            # numpy floats widen to float64 exactly
            return _finite(X.to_numpy(dtype=np.float64, copy=True), names, owner), names
        cols = []
        for name in X.columns:
            col = X[name]
            if not (
                pd.api.types.is_numeric_dtype(col.dtype) or pd.api.types.is_bool_dtype(col.dtype)
            ):
                raise FeatureError(
                    f"{owner} needs numeric comparison features; column {name!r} has dtype "
                    f"{col.dtype}. Convert it to a similarity, level or flag first."
                )
            cols.append(col.to_numpy(dtype=np.float64, na_value=np.nan))
        arr = np.column_stack(cols) if cols else np.zeros((len(X), 0))
    else:
        try:
            arr = np.asarray(X, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise FeatureError(f"{owner} needs numeric comparison features: {exc}.") from exc
        if arr.ndim != 2:
            raise FeatureError(
                f"{owner} needs a 2-D table of comparison features (pairs x features); "
                f"got {arr.ndim} dimension(s)."
            )
        names = [f"x{j}" for j in range(arr.shape[1])]
    return _finite(arr, names, owner), names


def _finite(arr: np.ndarray, names: Sequence[str], owner: str) -> np.ndarray:
    if np.isinf(arr).any():
        bad_rows, bad_cols = np.nonzero(np.isinf(arr))
        raise FeatureError(
            f"{owner} got an infinite value in feature {names[bad_cols[0]]!r} (row {bad_rows[0]}); "
            "comparison features are finite, with NaN for 'not comparable'."
        )
    return arr


def check_feature_columns(X: Any, feature_names: Sequence[str], owner: str) -> np.ndarray:
    """X's features in the order the model was trained on.

    Raises
    ------
    FeatureError
        Naming the missing and the extra columns when X's columns differ from the model's.
    """
    if isinstance(X, pd.DataFrame):
        given = [str(c) for c in X.columns]
        missing = [n for n in feature_names if n not in given]
        extra = [n for n in given if n not in feature_names]
        if missing or extra:
            parts = []
            if missing:
                parts.append(f"missing columns {missing}")
            if extra:
                parts.append(f"extra columns {extra}")
            raise FeatureError(
                f"{owner} was trained on features {list(feature_names)}; the data has "
                f"{' and '.join(parts)}."
            )
        if list(X.columns) != list(feature_names):
            X = X.loc[:, list(feature_names)]
            X.columns = list(feature_names)
    arr, _ = features_to_array(X, owner)
    if arr.shape[1] != len(feature_names):
        raise FeatureError(
            f"{owner} was trained on {len(feature_names)} features {list(feature_names)}; "
            f"the data has {arr.shape[1]} columns."
        )
    return arr


def labels_to_array(y: Any, n_rows: int, owner: str) -> np.ndarray:
    """Training labels as an int array of 0/1, one per candidate pair."""
    arr = np.asarray(y)
    if arr.ndim != 1 or arr.shape[0] != n_rows:
        raise LabelError(
            f"{owner} needs one label per candidate pair: {n_rows} pairs but labels of shape "
            f"{arr.shape}."
        )
    try:
        as_float = arr.astype(np.float64)
    except (TypeError, ValueError) as exc:
        raise LabelError(f"{owner} needs 0/1 labels (1 = same person): {exc}.") from exc
    bad = ~np.isin(as_float, (0.0, 1.0))
    if bad.any():
        i = int(np.nonzero(bad)[0][0])
        value = arr[i].item() if isinstance(arr[i], np.generic) else arr[i]
        raise LabelError(
            f"{owner} needs 0/1 labels (1 = same person); pair {i} has label {value!r}."
        )
    out = as_float.astype(np.int64)
    if out.min() == out.max():
        raise LabelError(
            f"{owner} needs both matching and non-matching pairs to learn from; every label is "
            f"{out[0]}."
        )
    return out


def training_summary(X: np.ndarray, feature_names: Sequence[str], y: Any = None) -> dict[str, Any]:
    """What the model was trained on: numbers of pairs and positives, missing rate per feature."""
    n = int(X.shape[0])
    missing = np.isnan(X).mean(axis=0) if n else np.zeros(X.shape[1])
    summary: dict[str, Any] = {
        "n_pairs": n,
        "n_positives": None if y is None else int(np.sum(y)),
        "missing_rate": {
            name: round(float(r), 6) for name, r in zip(feature_names, missing, strict=True)
        },
    }
    return summary
