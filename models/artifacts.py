"""Saved match models: readable, versioned JSON artifacts, never pickle.

``save(model, path)`` writes a fitted :class:`~models.classifier.PairClassifier` or
:class:`~models.fellegi_sunter.FellegiSunter` as one JSON document of numbers, strings and lists;
``load(path)`` reads it back as a :class:`MatchModel` that predicts and explains with numpy alone
(no scikit-learn objects are rebuilt, no code is executed). The document carries:

- ``format``, ``format_version``: what this file is and which layout it follows;
- ``model_version``: e.g. ``pc-boosting-20261122-3fa9c2d1`` (kind, method, day saved, and the first
  8 hex digits of the SHA-256 of the fitted parameters: the same model always gets the same hash);
- ``features``: name, comparison levels and level labels of every feature, in the model's order;
- ``training``: pairs, positives, missing rate per feature, where the labels came from;
- ``metrics``: precision, recall, F1, ROC AUC, Brier score at the threshold, on held-out pairs
  (``null`` when none were given);
- ``model``: the fitted parameters (logistic weights per level; trees as node lists; m and u per
  level), and ``calibration`` (isotonic x/y points or Platt's a/b);
- ``created_at`` and ``checksum``: SHA-256 of the document's canonical form, checked on load so an
  edited or truncated file is refused. It guards against accidents, not against someone who means
  harm: keep artifacts where only the people who train models can write.

Example
-------
>>> save(model, "model.json", label_source="clerical review", holdout=(X, y))  # doctest: +SKIP
>>> loaded = load("model.json")                                               # doctest: +SKIP
>>> loaded.predict_proba(X)                                                   # doctest: +SKIP
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from models.comparisons import Comparison, check_feature_columns, encode_levels, one_hot_levels
from models.errors import ArtifactError
from models.trees import Forest, Tree, contributions, predict_raw
from models.weights import (
    apply_calibration,
    expit,
    explanation_values,
    level_match_weights,
    level_weights_table,
    logistic_contributions,
    weights_frame,
    weights_table,
)

if TYPE_CHECKING:  # fitting needs scikit-learn; a saved model is read and scored without it
    from models.classifier import PairClassifier
    from models.fellegi_sunter import FellegiSunter

#: The shipped match model (readable JSON, trained on a synthetic world).
DEFAULT_ARTIFACT = Path(__file__).resolve().parent / "trained" / "default.json"

logger = logging.getLogger(__name__)

FORMAT = "ekjon.match-model"
FORMAT_VERSION = 1

_KINDS = {"pair_classifier": "pc", "fellegi_sunter": "fs"}
#: Methods whose explanation is a bias plus per-feature contributions (the rest: EM weights).
_EXPLAINED = ("logistic", "boosting")


# -- writing ---------------------------------------------------------------------------------------


def to_document(
    model: PairClassifier | FellegiSunter,
    *,
    label_source: str | None = None,
    holdout: tuple[Any, Any] | None = None,
    metrics: Mapping[str, Any] | None = None,
    created_at: dt.datetime | None = None,
) -> dict[str, Any]:
    """The artifact of a fitted model as a JSON-ready dict (what :func:`save` writes).

    Parameters
    ----------
    model
        A fitted PairClassifier or FellegiSunter.
    label_source
        Where the training labels came from (e.g. "clerical review, Kurigram pilot, 2026-11").
    holdout
        ``(X, y)`` of labelled pairs the model never saw: their metrics are stored.
    metrics
        Metrics measured elsewhere (e.g. cross-validation); stored as given, merged over holdout's.
    created_at
        Defaults to now (UTC).

    Raises
    ------
    TypeError
        If ``model`` is not one of the two model classes.
    sklearn.exceptions.NotFittedError
        If it is not fitted.
    """
    from sklearn.utils.validation import check_is_fitted

    from models.classifier import PairClassifier
    from models.evaluation import holdout_metrics
    from models.fellegi_sunter import FellegiSunter

    if isinstance(model, PairClassifier):
        kind, method = "pair_classifier", model.method
        check_is_fitted(model, "estimator_")
        body = _pair_classifier_body(model)
    elif isinstance(model, FellegiSunter):
        kind, method = "fellegi_sunter", "em"
        check_is_fitted(model, "m_")
        body = _fellegi_sunter_body(model)
    else:
        raise TypeError(
            f"save() takes a fitted PairClassifier or FellegiSunter, not {type(model).__name__}."
        )
    features = [c.to_dict() for c in model.comparisons_]
    fingerprint = hashlib.sha256(
        _canonical({"kind": kind, "features": features, "body": body}).encode()
    ).hexdigest()[:8]
    created = (created_at or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)

    training = dict(model.training_summary_)
    training["label_source"] = (
        label_source
        if label_source is not None
        else ("none (unsupervised)" if kind == "fellegi_sunter" else "unspecified")
    )
    measured: dict[str, Any] | None = None
    if holdout is not None:
        measured = {**holdout_metrics(model, holdout[0], holdout[1]), "source": "holdout"}
    if metrics is not None:
        measured = {**(measured or {}), **_jsonable(dict(metrics))}

    doc: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "kind": kind,
        "method": method,
        "model_version": f"{_KINDS[kind]}-{method}-{created:%Y%m%d}-{fingerprint}",
        "created_at": created.isoformat(timespec="seconds"),
        "threshold": float(model.threshold),
        "features": features,
        "training": _jsonable(training),
        "metrics": measured,
        "params": _jsonable(_params(model)),
        **body,
    }
    doc["checksum"] = _checksum(doc)
    return doc


def save(
    model: PairClassifier | FellegiSunter,
    path: str | Path,
    *,
    label_source: str | None = None,
    holdout: tuple[Any, Any] | None = None,
    metrics: Mapping[str, Any] | None = None,
) -> Path:
    """Write a fitted model to ``path`` as a JSON artifact; returns the path.

    See :func:`to_document` for the parameters.
    """
    doc = to_document(model, label_source=label_source, holdout=holdout, metrics=metrics)
    path = Path(path)
    path.write_text(_pretty(doc), encoding="utf-8")
    logger.info("Saved match model %s to %s", doc["model_version"], path)
    return path


def _params(model: Any) -> dict[str, Any]:
    params = model.get_params()
    if params.get("comparisons") is not None:
        params["comparisons"] = "see features"
    return params


def _pair_classifier_body(model: PairClassifier) -> dict[str, Any]:
    if model.method == "logistic":
        coef = model.estimator_.coef_.ravel()
        weights = []
        start = 0
        for c in model.comparisons_:
            block = coef[start : start + c.n_levels + 1]
            weights.append(
                {
                    "feature": c.name,
                    "level_weights": [float(v) for v in block[:-1]],
                    "null_weight": float(block[-1]),
                }
            )
            start += c.n_levels + 1
        model_part: dict[str, Any] = {
            "intercept": float(model.estimator_.intercept_[0]),
            "weights": weights,
        }
    else:
        names = list(model.feature_names_in_)
        model_part = {
            "baseline": float(model.baseline_),
            "n_trees": len(model.trees_),
            "trees": [tree.to_nodes(names) for tree in model.trees_],
        }
    return {"model": model_part, "calibration": dict(model.calibration_)}


def _fellegi_sunter_body(model: FellegiSunter) -> dict[str, Any]:
    per_feature = []
    for c, m, u in zip(model.comparisons_, model.m_, model.u_, strict=True):
        per_feature.append(
            {
                "feature": c.name,
                "m": [float(v) for v in m],
                "u": [float(v) for v in u],
                "match_weight_bits": [float(v) for v in np.log2(m) - np.log2(u)],
            }
        )
    return {
        "model": {"prior": float(model.prior_), "levels": per_feature},
        "calibration": {"method": "none"},
    }


def _jsonable(value: Any) -> Any:
    """Plain JSON values: numpy scalars to Python numbers, tuples to lists, NaN to None."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        v = float(value)
        return v if np.isfinite(v) else None
    if value is None or isinstance(value, (str, bool, int)):
        return value
    return str(value)


def _canonical(doc: Any) -> str:
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), allow_nan=False)


def _checksum(doc: Mapping[str, Any]) -> str:
    body = {k: v for k, v in doc.items() if k != "checksum"}
    return "sha256:" + hashlib.sha256(_canonical(body).encode()).hexdigest()


_PLACEHOLDER = re.compile(r'"@@line:(\d+)@@"')


def _pretty(doc: dict[str, Any]) -> str:
    """Indented JSON with each tree node and each list of numbers or labels on one line."""
    lines: list[str] = []

    def one_line(value: Any) -> str:
        lines.append(json.dumps(value, allow_nan=False))
        return f"@@line:{len(lines) - 1}@@"

    def swap(value: Any) -> Any:
        if isinstance(value, dict):
            if "id" in value and ("leaf" in value or "feature" in value):
                return one_line(value)
            return {k: swap(v) for k, v in value.items()}
        if isinstance(value, list):
            if all(not isinstance(v, (dict, list)) for v in value):
                return one_line(value)
            return [swap(v) for v in value]
        return value

    text = json.dumps(swap(doc), indent=2, allow_nan=False)
    return _PLACEHOLDER.sub(lambda m: lines[int(m.group(1))], text) + "\n"


# -- reading ---------------------------------------------------------------------------------------


def load(path: str | Path) -> MatchModel:
    """Read a model saved by :func:`save`.

    Raises
    ------
    ArtifactError
        If the file is not JSON (a pickle or joblib file, say), not an ekjon match-model artifact,
        of an unknown format version, malformed, or changed since it was saved (checksum mismatch).
    FileNotFoundError
        If there is no such file.
    """
    path = Path(path)
    raw = path.read_bytes()
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ArtifactError(
            f"{path} is not a JSON match-model artifact ({exc}); ekjon reads only the JSON files "
            "that models.save writes, never pickle or joblib files."
        ) from exc
    return from_document(doc, source=str(path))


def from_document(doc: Any, *, source: str = "the document") -> MatchModel:
    """Build a :class:`MatchModel` from a parsed artifact, checking format, checksum and shape."""
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ArtifactError(
            f"{source} is not an ekjon match-model artifact (its 'format' is not {FORMAT!r})."
        )
    if doc.get("format_version") != FORMAT_VERSION:
        raise ArtifactError(
            f"{source} has format version {doc.get('format_version')!r}; this ekjon reads version "
            f"{FORMAT_VERSION}. Re-save the model with this version of ekjon."
        )
    try:
        stated = doc["checksum"]
        actual = _checksum(doc)
    except (KeyError, TypeError, ValueError) as exc:
        raise ArtifactError(f"{source} has no valid checksum ({exc}).") from exc
    if stated != actual:
        raise ArtifactError(
            f"{source} was changed after it was saved (checksum {stated} does not match its "
            f"content, {actual}); restore the original file or save the model again."
        )
    try:
        return MatchModel(doc)
    except ArtifactError:
        raise
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise ArtifactError(f"{source} is malformed: {exc!r}.") from exc


class MatchModel:
    """A match model read from its JSON artifact: predicts and explains with numpy alone.

    Attributes
    ----------
    kind : str
        ``"pair_classifier"`` or ``"fellegi_sunter"``.
    method : str
        ``"logistic"``, ``"boosting"`` or ``"em"``.
    model_version, created_at : str
    feature_names : list of str
    comparisons : list of Comparison
    threshold : float
    training, metrics : dict
    document : dict
        The whole artifact as read.
    """

    def __init__(self, doc: dict[str, Any]) -> None:
        self.document = doc
        self.kind: str = doc["kind"]
        self.method: str = doc["method"]
        if (self.kind, self.method) not in {
            ("pair_classifier", "logistic"),
            ("pair_classifier", "boosting"),
            ("fellegi_sunter", "em"),
        }:
            raise ArtifactError(f"Unknown model kind {self.kind!r} / method {self.method!r}.")
        self.model_version: str = doc["model_version"]
        self.created_at: str = doc["created_at"]
        self.threshold = float(doc["threshold"])
        self.comparisons = [Comparison.from_dict(f) for f in doc["features"]]
        self.feature_names = [c.name for c in self.comparisons]
        self.training: dict[str, Any] = doc.get("training") or {}
        self.metrics: dict[str, Any] | None = doc.get("metrics")
        self.calibration: dict[str, Any] = doc["calibration"]
        self._check_calibration()
        body = doc["model"]
        if self.method == "logistic":
            self._intercept = float(body["intercept"])
            self._coef = self._read_logistic(body["weights"])
        elif self.method == "boosting":
            self._baseline = float(body["baseline"])
            self._trees = [Tree.from_nodes(nodes, self.feature_names) for nodes in body["trees"]]
            self._forest = Forest.pack(self._trees)
        else:
            self._prior = float(body["prior"])
            self._m, self._u = self._read_fellegi_sunter(body["levels"])

    def __repr__(self) -> str:
        return f"MatchModel({self.model_version!r}, features={self.feature_names})"

    # -- reading helpers

    def _check_calibration(self) -> None:
        method = self.calibration.get("method")
        if method == "isotonic":
            x, y = self.calibration["x"], self.calibration["y"]
            if not x or len(x) != len(y) or any(b < a for a, b in zip(x, x[1:], strict=False)):
                raise ArtifactError("The isotonic calibration needs increasing x and one y per x.")
        elif method == "sigmoid":
            float(self.calibration["a"]), float(self.calibration["b"])
        elif method != "none":
            raise ArtifactError(f"Unknown calibration method {method!r}.")

    def _read_logistic(self, weights: Sequence[Mapping[str, Any]]) -> np.ndarray:
        if [w["feature"] for w in weights] != self.feature_names:
            raise ArtifactError("The logistic weights do not list the model's features in order.")
        coef: list[float] = []
        for c, w in zip(self.comparisons, weights, strict=True):
            if len(w["level_weights"]) != c.n_levels:
                raise ArtifactError(
                    f"Feature {c.name!r} has {c.n_levels} levels but "
                    f"{len(w['level_weights'])} level weights."
                )
            coef.extend(float(v) for v in w["level_weights"])
            coef.append(float(w["null_weight"]))
        return np.asarray(coef)

    def _read_fellegi_sunter(
        self, levels: Sequence[Mapping[str, Any]]
    ) -> tuple[list[np.ndarray], list[np.ndarray]]:
        if [f["feature"] for f in levels] != self.feature_names:
            raise ArtifactError("The m/u tables do not list the model's features in order.")
        if not 0.0 < self._prior < 1.0:
            raise ArtifactError(f"The prior must be in (0, 1); it is {self._prior}.")
        m, u = [], []
        for c, f in zip(self.comparisons, levels, strict=True):
            mj = np.asarray(f["m"], dtype=np.float64)
            uj = np.asarray(f["u"], dtype=np.float64)
            if mj.shape != (c.n_levels,) or uj.shape != (c.n_levels,):
                raise ArtifactError(f"Feature {c.name!r} needs {c.n_levels} m and u values.")
            if (mj <= 0).any() or (uj <= 0).any():
                raise ArtifactError(f"Feature {c.name!r} has an m or u probability <= 0.")
            m.append(mj)
            u.append(uj)
        return m, u

    # -- prediction

    def _features(self, X: Any) -> np.ndarray:
        return check_feature_columns(X, self.feature_names, f"Match model {self.model_version}")

    def decision_function(self, X: Any) -> np.ndarray:
        """Log-odds of a match per pair (before calibration)."""
        arr = self._features(X)
        if self.method == "logistic":
            return one_hot_levels(arr, self.comparisons) @ self._coef + self._intercept
        if self.method == "boosting":
            return predict_raw(self._baseline, self._forest, arr)
        weights = level_match_weights(encode_levels(arr, self.comparisons), self._m, self._u)
        return (self._prior_bits() + weights.sum(axis=1)) * np.log(2.0)

    def predict_proba(self, X: Any) -> np.ndarray:
        """Probability of non-match and match per pair, shape (n, 2)."""
        score = self.decision_function(X)
        if self.kind == "fellegi_sunter":
            p = expit(score)
        else:
            p = apply_calibration(self.calibration, score)
        return np.column_stack([1.0 - p, p])

    def predict(self, X: Any) -> np.ndarray:
        """1 where the match probability reaches the saved threshold, else 0."""
        return (self.predict_proba(X)[:, 1] >= self.threshold).astype(np.int64)

    def explain(self, X: Any) -> pd.DataFrame:
        """Per-feature contributions to the log-odds, as the fitted model's ``explain`` gives."""
        if self.method not in _EXPLAINED:  # Fellegi-Sunter weights (EM)
            arr = self._features(X)
            weights = level_match_weights(encode_levels(arr, self.comparisons), self._m, self._u)
            return weights_frame(
                X, self.feature_names, self._prior_bits() * np.log(2.0),
                weights * np.log(2.0), "bias", "log_odds",
            )  # fmt: skip
        columns, values = self.explain_values(X)
        index = X.index if isinstance(X, pd.DataFrame) else None
        return pd.DataFrame(values, columns=columns, index=index)

    def explain_values(self, X: Any) -> tuple[list[str], np.ndarray]:
        """:meth:`explain` as its column names and one float matrix, without the frame (making
        it costs about a tenth of a millisecond, as much as the rest for one record's pairs)."""
        if self.method not in _EXPLAINED:
            frame = self.explain(X)
            return list(frame.columns), frame.to_numpy(dtype=np.float64)
        arr = self._features(X)
        if self.method == "logistic":
            bias, contrib = logistic_contributions(
                arr, self.comparisons, self._coef, self._intercept
            )
        else:
            bias, contrib = contributions(self._baseline, self._forest, arr)
        log_odds = bias + contrib.sum(axis=1)
        probability = apply_calibration(self.calibration, log_odds)
        return explanation_values(self.feature_names, bias, contrib, log_odds, probability)

    def match_weights(self, X: Any) -> pd.DataFrame:
        """Fellegi-Sunter only: the explanation in bits (see ``FellegiSunter.match_weights``)."""
        if self.kind != "fellegi_sunter":
            raise AttributeError("match_weights() is for Fellegi-Sunter models; use explain().")
        arr = self._features(X)
        weights = level_match_weights(encode_levels(arr, self.comparisons), self._m, self._u)
        return weights_frame(
            X, self.feature_names, self._prior_bits(), weights, "prior", "match_weight"
        )

    def weights_table(self) -> pd.DataFrame:
        """The readable model: per feature and level, its weight (logistic) or m and u (EM)."""
        if self.method == "logistic":
            return level_weights_table(self.comparisons, self._coef)
        if self.method == "em":
            return weights_table(self.comparisons, self._m, self._u)
        raise AttributeError("A boosted model has no per-level weights; use explain().")

    def _prior_bits(self) -> float:
        return float(np.log2(self._prior) - np.log2(1.0 - self._prior))
