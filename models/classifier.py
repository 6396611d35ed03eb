"""PairClassifier: the supervised match model, the default once clerical labels exist.

Two methods, one scikit-learn estimator:

- ``method="logistic"``: each feature is cut into comparison levels (see
  :mod:`models.comparisons`), every level (and the null level) becomes a 0/1 indicator, and a
  logistic regression learns one weight per level. The explanation of a pair is the weight of each
  of its levels: every number in the model is readable.
- ``method="boosting"``: scikit-learn's ``HistGradientBoostingClassifier`` on the raw features. It
  handles NaN natively and learns interactions that a sum of per-feature weights cannot (same name
  but birth years 25 apart: father and son). Explanations are Saabas path contributions through the
  trees (see :mod:`models.trees`).

Probabilities are calibrated with ``CalibratedClassifierCV(ensemble=False)``: the calibrator
(isotonic, or Platt's sigmoid) is fitted on out-of-fold scores and the base model on all pairs, so
the saved model is one base model plus one calibrator.

Example
-------
>>> model = PairClassifier(method="boosting").fit(X_train, y_train)   # doctest: +SKIP
>>> model.predict_proba(X_test)[:, 1]                                   # doctest: +SKIP
>>> model.explain(X_test.head())                                        # doctest: +SKIP
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.utils.validation import check_is_fitted

from models.comparisons import (
    ComparisonsParam,
    check_feature_columns,
    features_to_array,
    labels_to_array,
    one_hot_levels,
    resolve_comparisons,
    training_summary,
)
from models.errors import LabelError
from models.params import check_float, check_int, check_option
from models.trees import contributions, trees_from_hist_gradient_boosting
from models.weights import (
    apply_calibration,
    explanation_frame,
    level_weights_table,
    logistic_contributions,
)

logger = logging.getLogger(__name__)

_OWNER = "PairClassifier"
METHODS = ("logistic", "boosting")
CALIBRATIONS = ("auto", "isotonic", "sigmoid", None)


class PairClassifier(ClassifierMixin, BaseEstimator):
    """Supervised match model: comparison features -> calibrated match probability.

    Parameters
    ----------
    method
        ``"logistic"`` (one-hot comparison levels + logistic regression) or ``"boosting"``
        (histogram gradient boosting on the raw features).
    comparisons
        Levels per feature (list of :class:`~models.comparisons.Comparison` or mapping
        ``name -> cut points``); undeclared features get defaults from their values. Boosting uses
        them only to describe the features in the saved artifact.
    threshold
        ``predict`` calls a pair a match when its calibrated probability is at least this.
    calibration
        ``"isotonic"``, ``"sigmoid"`` (Platt), ``None`` (the base model's own probabilities), or
        ``"auto"``: sigmoid for logistic (already nearly calibrated, and keeps scores smooth),
        isotonic for boosting.
    cv
        Folds for the out-of-fold scores the calibrator is fitted on.
    C
        Inverse L2 regularisation strength of the logistic regression.
    max_iter
        Boosting iterations (trees); for logistic, solver iterations. ``None``: 300 / 1000.
    learning_rate, max_leaf_nodes, l2_regularization
        Passed to ``HistGradientBoostingClassifier``.
    monotonic
        Boosting only: constrain the score to rise with each feature's agreement (``closer`` of
        its Comparison: up with a similarity or agreement flag, down with a difference or count),
        all else equal. Interactions are still learned, but no odd pocket of the training data can
        make a closer name *lower* the match probability.
    random_state
        Seed for the calibration folds and boosting's early-stopping split.

    Attributes
    ----------
    feature_names_in_ : ndarray of str
    comparisons_ : list of Comparison
    estimator_ : the fitted base model (LogisticRegression or HistGradientBoostingClassifier)
    calibrated_ : CalibratedClassifierCV or None
    calibration_ : dict
        The calibrator as plain numbers: ``{"method": "isotonic", "x": [...], "y": [...]}``,
        ``{"method": "sigmoid", "a": a, "b": b}`` (p = 1 / (1 + exp(a * score + b))) or
        ``{"method": "none"}``.
    classes_ : ndarray [0, 1]
    training_summary_ : dict
    """

    def __init__(
        self,
        method: str = "logistic",
        *,
        comparisons: ComparisonsParam = None,
        threshold: float = 0.5,
        calibration: str | None = "auto",
        cv: int = 5,
        C: float = 1.0,
        max_iter: int | None = None,
        learning_rate: float = 0.1,
        max_leaf_nodes: int = 31,
        l2_regularization: float = 0.0,
        monotonic: bool = False,
        random_state: int | None = 0,
    ) -> None:
        self.method = method
        self.comparisons = comparisons
        self.threshold = threshold
        self.calibration = calibration
        self.cv = cv
        self.C = C
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.max_leaf_nodes = max_leaf_nodes
        self.l2_regularization = l2_regularization
        self.monotonic = monotonic
        self.random_state = random_state

    # -- fitting ---------------------------------------------------------------------------------

    def _validate_params(self) -> None:
        check_option(_OWNER, "method", self.method, METHODS)
        check_float(_OWNER, "threshold", self.threshold, 0.0, 1.0)
        check_option(_OWNER, "calibration", self.calibration, CALIBRATIONS)
        check_int(_OWNER, "cv", self.cv, 2)
        check_float(_OWNER, "C", self.C, 0.0, low_open=True)
        check_int(_OWNER, "max_iter", self.max_iter, 1, allow_none=True)
        check_float(_OWNER, "learning_rate", self.learning_rate, 0.0, low_open=True)
        check_int(_OWNER, "max_leaf_nodes", self.max_leaf_nodes, 2)
        check_float(_OWNER, "l2_regularization", self.l2_regularization, 0.0)
        check_option(_OWNER, "monotonic", self.monotonic, (False, True))
        check_int(_OWNER, "random_state", self.random_state, 0, allow_none=True)

    def _calibration_method(self) -> str | None:
        if self.calibration == "auto":
            return "sigmoid" if self.method == "logistic" else "isotonic"
        return self.calibration

    def _base_estimator(self) -> Any:
        if self.method == "logistic":
            return LogisticRegression(C=self.C, max_iter=self.max_iter or 1000)
        return HistGradientBoostingClassifier(
            max_iter=self.max_iter or 300,
            learning_rate=self.learning_rate,
            max_leaf_nodes=self.max_leaf_nodes,
            l2_regularization=self.l2_regularization,
            monotonic_cst=self._monotonic_constraints(),
            random_state=self.random_state,
        )

    def _monotonic_constraints(self) -> list[int] | None:
        """With ``monotonic=True``: more agreement on one feature never lowers the score."""
        if not self.monotonic:
            return None
        return [1 if c.closer == "higher" else -1 for c in self.comparisons_]

    def _design(self, arr: np.ndarray) -> np.ndarray:
        """What the base model sees: level indicators (logistic) or the raw features (boosting)."""
        if self.method == "logistic":
            return one_hot_levels(arr, self.comparisons_)
        return arr

    def fit(self, X: Any, y: Any) -> PairClassifier:
        """Learn from labelled candidate pairs.

        Parameters
        ----------
        X
            Comparison features, one row per candidate pair (DataFrame: columns are feature names).
        y
            1 where the pair is the same person, else 0.

        Returns
        -------
        self

        Raises
        ------
        InvalidParameterError, FeatureError, LabelError
        """
        self._validate_params()
        arr, names = features_to_array(X, _OWNER)
        labels = labels_to_array(y, arr.shape[0], _OWNER)
        self.feature_names_in_ = np.asarray(names, dtype=object)
        self.n_features_in_ = len(names)
        self.comparisons_ = resolve_comparisons(self.comparisons, names, arr, _OWNER)
        self.classes_ = np.array([0, 1])
        design = self._design(arr)
        if self.method == "boosting":
            # a feature no training pair has (addresses where no source gives one): the trees
            # cannot bin it (scikit-learn fails on a column of NaN only) and could not split on it;
            # fitted as a constant it is never split on, so any value scores alike
            unseen = np.isnan(design).all(axis=0)
            if unseen.any():
                design = design.copy()
                design[:, unseen] = 0.0

        method = self._calibration_method()
        if method is None:
            self.estimator_ = self._base_estimator().fit(design, labels)
            self.calibrated_ = None
            self.calibration_ = {"method": "none"}
        else:
            n_minority = int(min(labels.sum(), len(labels) - labels.sum()))
            if n_minority < self.cv:
                raise LabelError(
                    f"{_OWNER} needs at least cv={self.cv} pairs of each class to calibrate; "
                    f"the smaller class has {n_minority}. Label more pairs or lower 'cv'."
                )
            folds = StratifiedKFold(n_splits=self.cv, shuffle=True, random_state=self.random_state)
            self.calibrated_ = CalibratedClassifierCV(
                self._base_estimator(), method=method, cv=folds, ensemble=False
            ).fit(design, labels)
            fitted = self.calibrated_.calibrated_classifiers_[0]
            self.estimator_ = fitted.estimator
            self.calibration_ = calibrator_to_dict(method, fitted.calibrators[0])

        if self.method == "boosting":
            self.baseline_, self.trees_ = trees_from_hist_gradient_boosting(self.estimator_)
        self.training_summary_ = training_summary(arr, names, labels)
        return self

    # -- prediction -----------------------------------------------------------------------------

    def _features(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "estimator_")
        return check_feature_columns(X, list(self.feature_names_in_), _OWNER)

    def decision_function(self, X: Any) -> np.ndarray:
        """The base model's log-odds of a match per pair (before calibration)."""
        return self.estimator_.decision_function(self._design(self._features(X)))

    def predict_proba(self, X: Any) -> np.ndarray:
        """Calibrated probability of non-match and match per pair, shape (n, 2)."""
        design = self._design(self._features(X))
        if self.calibrated_ is None:
            return self.estimator_.predict_proba(design)
        return self.calibrated_.predict_proba(design)

    def predict(self, X: Any) -> np.ndarray:
        """1 where the calibrated match probability reaches ``threshold``, else 0."""
        return (self.predict_proba(X)[:, 1] >= self.threshold).astype(np.int64)

    def explain(self, X: Any) -> pd.DataFrame:
        """Per-pair, per-feature contributions to the log-odds of a match.

        Columns: ``bias``, one per feature, ``log_odds`` (their sum: the base model's score,
        :meth:`decision_function`) and ``probability`` (calibrated; calibration is a monotone map
        of ``log_odds``). For logistic a feature's contribution is the weight of the pair's level
        of that feature; for boosting it is the sum, over trees, of the changes in expected score
        at the splits on that feature along the pair's path (Saabas).
        """
        arr = self._features(X)
        names = list(self.feature_names_in_)
        if self.method == "logistic":
            bias, contrib = logistic_contributions(
                arr,
                self.comparisons_,
                self.estimator_.coef_.ravel(),
                float(self.estimator_.intercept_[0]),
            )
        else:
            bias, contrib = contributions(self.baseline_, self.trees_, arr)
        log_odds = bias + contrib.sum(axis=1)
        probability = apply_calibration(self.calibration_, log_odds)
        return explanation_frame(X, names, bias, contrib, log_odds, probability)

    def level_weights(self) -> pd.DataFrame:
        """Logistic only: the whole model, one row per feature and level with its weight."""
        check_is_fitted(self, "estimator_")
        if self.method != "logistic":
            raise AttributeError("level_weights() is for method='logistic'; use explain() instead.")
        return level_weights_table(self.comparisons_, self.estimator_.coef_.ravel())


def calibrator_to_dict(method: str, calibrator: Any) -> dict[str, Any]:
    """The fitted calibrator as plain numbers."""
    if method == "isotonic":
        return {
            "method": "isotonic",
            "x": [float(v) for v in calibrator.X_thresholds_],
            "y": [float(v) for v in calibrator.y_thresholds_],
        }
    return {"method": "sigmoid", "a": float(calibrator.a_), "b": float(calibrator.b_)}
