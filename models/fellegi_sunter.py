"""Fellegi-Sunter match model, m and u estimated by EM: where to start when no labels exist.

Each comparison feature is cut into comparison levels (see :mod:`models.comparisons`). For a
candidate pair with levels ``g_1 .. g_J`` the model says

    log2 odds(match) = log2(prior / (1 - prior)) + sum_j log2(m_j[g_j] / u_j[g_j])

where ``m_j[l]`` is the probability that a true match shows level ``l`` on feature ``j`` and
``u_j[l]`` the same for a non-match. Each term is a *match weight* (a log2 Bayes factor), which is
the explanation an auditor reads. A NaN feature is the null level and weighs 0.

m, u and the prior are estimated by expectation-maximisation on the unlabelled candidate pairs, as
Splink does, on the distinct comparison patterns with their counts (fast: a few thousand patterns
stand for millions of pairs). Known u probabilities can be fixed from random pairs, which are almost
all non-matches.

Example
-------
>>> model = FellegiSunter().fit(X)            # doctest: +SKIP
>>> model.predict_proba(X)[:, 1]              # doctest: +SKIP
>>> model.match_weights(X.head())             # doctest: +SKIP
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted

from models.comparisons import (
    NULL_LEVEL,
    ComparisonsParam,
    check_feature_columns,
    encode_levels,
    features_to_array,
    resolve_comparisons,
    training_summary,
)
from models.errors import FeatureError
from models.params import check_float, check_int
from models.weights import _LN2, level_match_weights, weights_frame, weights_table

logger = logging.getLogger(__name__)

_OWNER = "FellegiSunter"


class FellegiSunter(ClassifierMixin, BaseEstimator):
    """Unsupervised Fellegi-Sunter model: comparison levels -> m/u by EM -> match probability.

    Parameters
    ----------
    comparisons
        Levels per feature: a list of :class:`~models.comparisons.Comparison` or a mapping
        ``feature name -> cut points``. Features not named get default levels from their values.
    prior
        Proportion of candidate pairs that are matches. ``None`` (default) learns it by EM; a float
        in (0, 1) fixes it.
    max_iter
        Most EM iterations.
    tol
        EM stops when no m, u or prior value moves by more than this.
    pseudo_count
        Added to every level's count in each M step, so no level gets probability 0 (which would
        let a single disagreement veto a match, or a single agreement force one).
    threshold
        ``predict`` calls a pair a match when its match probability is at least this.

    Attributes
    ----------
    comparisons_ : list of Comparison
    m_, u_ : list of ndarray
        Per feature, the probability of each level (closest first) among matches / non-matches.
    prior_ : float
    n_iter_ : int
    converged_ : bool
    feature_names_in_ : ndarray of str
    training_summary_ : dict
    """

    def __init__(
        self,
        comparisons: ComparisonsParam = None,
        *,
        prior: float | None = None,
        max_iter: int = 200,
        tol: float = 1e-6,
        pseudo_count: float = 1.0,
        threshold: float = 0.5,
    ) -> None:
        self.comparisons = comparisons
        self.prior = prior
        self.max_iter = max_iter
        self.tol = tol
        self.pseudo_count = pseudo_count
        self.threshold = threshold

    # -- fitting ---------------------------------------------------------------------------------

    def _validate_params(self) -> None:
        check_float(
            _OWNER, "prior", self.prior, 0.0, 1.0, low_open=True, high_open=True, allow_none=True
        )
        check_int(_OWNER, "max_iter", self.max_iter, 1)
        check_float(_OWNER, "tol", self.tol, 0.0, low_open=True)
        check_float(_OWNER, "pseudo_count", self.pseudo_count, 0.0)
        check_float(_OWNER, "threshold", self.threshold, 0.0, 1.0)

    def fit(self, X: Any, y: Any = None, random_pairs: Any = None) -> FellegiSunter:
        """Estimate m, u and the prior by EM on unlabelled candidate pairs.

        Parameters
        ----------
        X
            Comparison features, one row per candidate pair.
        y
            Ignored: the model learns without labels (accepted so it fits in scikit-learn tools).
        random_pairs
            Optional comparison features of randomly drawn record pairs (same columns). Almost all
            random pairs are non-matches, so their level frequencies fix u and EM learns only m and
            the prior: this removes most of EM's freedom to find the wrong two classes.

        Returns
        -------
        self

        Raises
        ------
        InvalidParameterError, FeatureError
        """
        self._validate_params()
        arr, names = features_to_array(X, _OWNER)
        if arr.shape[0] == 0:
            raise FeatureError(f"{_OWNER} needs at least one candidate pair to fit.")
        self.feature_names_in_ = np.asarray(names, dtype=object)
        self.n_features_in_ = len(names)
        self.comparisons_ = resolve_comparisons(self.comparisons, names, arr, _OWNER)
        self.classes_ = np.array([0, 1])
        levels = encode_levels(arr, self.comparisons_)

        fixed_u = None
        if random_pairs is not None:
            rand = check_feature_columns(random_pairs, names, _OWNER)
            rand_levels = encode_levels(rand, self.comparisons_)
            fixed_u = [
                _level_frequencies(rand_levels[:, j], c.n_levels, self.pseudo_count)
                for j, c in enumerate(self.comparisons_)
            ]
        m, u, prior, n_iter, converged = _em(
            levels,
            [c.n_levels for c in self.comparisons_],
            prior=self.prior,
            fixed_u=fixed_u,
            max_iter=self.max_iter,
            tol=self.tol,
            pseudo_count=self.pseudo_count,
        )
        self.m_, self.u_, self.prior_ = m, u, prior
        self.n_iter_, self.converged_ = n_iter, converged
        if not converged:
            logger.warning(
                "FellegiSunter EM did not converge in %d iterations; raise max_iter.", n_iter
            )
        self.training_summary_ = training_summary(arr, names)
        self.training_summary_["n_positives_estimated"] = round(prior * arr.shape[0], 1)
        self.training_summary_["u_from_random_pairs"] = fixed_u is not None
        return self

    # -- prediction -----------------------------------------------------------------------------

    def _levels(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "m_")
        arr = check_feature_columns(X, list(self.feature_names_in_), _OWNER)
        return encode_levels(arr, self.comparisons_)

    def _weights(self, levels: np.ndarray) -> np.ndarray:
        """Per pair and feature, the match weight in bits (0 for the null level)."""
        return level_match_weights(levels, self.m_, self.u_)

    def prior_weight(self) -> float:
        """The prior's match weight, log2(prior / (1 - prior))."""
        check_is_fitted(self, "m_")
        return float(np.log2(self.prior_) - np.log2(1.0 - self.prior_))

    def decision_function(self, X: Any) -> np.ndarray:
        """Log-odds of a match (natural log) per pair."""
        weights = self._weights(self._levels(X))
        return (self.prior_weight() + weights.sum(axis=1)) * _LN2

    def predict_proba(self, X: Any) -> np.ndarray:
        """Probability of non-match and match per pair, shape (n, 2)."""
        p = expit(self.decision_function(X))
        return np.column_stack([1.0 - p, p])

    def predict(self, X: Any) -> np.ndarray:
        """1 where the match probability reaches ``threshold``, else 0."""
        return (self.predict_proba(X)[:, 1] >= self.threshold).astype(np.int64)

    def match_weights(self, X: Any) -> pd.DataFrame:
        """The explanation in bits: one row per pair.

        Columns: ``prior`` (the prior's weight), one per feature (log2 Bayes factor of the pair's
        level, 0 for null), ``match_weight`` (their sum) and ``probability``.
        """
        weights = self._weights(self._levels(X))
        return weights_frame(
            X, list(self.feature_names_in_), self.prior_weight(), weights, "prior", "match_weight"
        )

    def explain(self, X: Any) -> pd.DataFrame:
        """The explanation on the natural log-odds scale, laid out like ``PairClassifier.explain``.

        Columns: ``bias`` (the prior's log-odds), one per feature, ``log_odds`` (their sum) and
        ``probability``. Each value is the match weight times ln 2.
        """
        weights = self._weights(self._levels(X)) * _LN2
        return weights_frame(
            X, list(self.feature_names_in_), self.prior_weight() * _LN2, weights, "bias", "log_odds"
        )

    def weights_table(self) -> pd.DataFrame:
        """The whole model, one row per feature and level: m, u and match weight (bits)."""
        check_is_fitted(self, "m_")
        return weights_table(self.comparisons_, self.m_, self.u_)


def _level_frequencies(levels: np.ndarray, n_levels: int, pseudo_count: float) -> np.ndarray:
    seen = levels[levels != NULL_LEVEL]
    counts = np.bincount(seen, minlength=n_levels).astype(np.float64) + pseudo_count
    if counts.sum() == 0:
        return np.full(n_levels, 1.0 / n_levels)
    return counts / counts.sum()


def _initial_m(n_levels: int) -> np.ndarray:
    """Matches mostly agree: 0.9 on the closest level, the rest spread in halving steps."""
    if n_levels == 1:
        return np.ones(1)
    rest = 0.5 ** np.arange(1, n_levels)
    return np.concatenate([[0.9], 0.1 * rest / rest.sum()])


def _em(
    levels: np.ndarray,
    n_levels: Sequence[int],
    *,
    prior: float | None,
    fixed_u: list[np.ndarray] | None,
    max_iter: int,
    tol: float,
    pseudo_count: float,
) -> tuple[list[np.ndarray], list[np.ndarray], float, int, bool]:
    """EM for the two-class latent model on the distinct comparison patterns.

    Returns m, u, prior, iterations run and whether it converged. The match class is identified
    afterwards as the one that agrees more (unless u was fixed, which already identifies it).
    """
    patterns, counts = np.unique(levels, axis=0, return_counts=True)
    counts = counts.astype(np.float64)
    n_features = len(n_levels)
    # Per feature, which patterns sit on each level (null patterns are on none).
    on_level = [[patterns[:, j] == lvl for lvl in range(n_levels[j])] for j in range(n_features)]
    seen = [patterns[:, j] != NULL_LEVEL for j in range(n_features)]

    m = [_initial_m(k) for k in n_levels]
    if fixed_u is not None:
        u = [np.asarray(x, dtype=np.float64) for x in fixed_u]
    else:
        u = [_level_frequencies(levels[:, j], k, pseudo_count) for j, k in enumerate(n_levels)]
    if prior is not None:
        lam = float(prior)
    else:
        # Start from the share of pairs that agree on the closest level of at least half of
        # their comparable features: a rough match rate, usually within a factor of a few.
        comparable = (levels != NULL_LEVEL).sum(axis=1)
        agree = (levels == 0).sum(axis=1)
        lam = float(np.clip(np.mean(agree * 2 >= np.maximum(comparable, 1)), 1e-3, 0.5))

    converged = False
    n_iter = 0
    while n_iter < max_iter:
        n_iter += 1
        log_ratio = np.full(patterns.shape[0], np.log(lam) - np.log1p(-lam))
        for j in range(n_features):
            table = np.log(m[j]) - np.log(u[j])
            lvl = patterns[:, j]
            s = seen[j]
            log_ratio[s] += table[lvl[s]]
        w = expit(log_ratio)
        wm = counts * w
        wu = counts * (1.0 - w)

        new_m, new_u = [], []
        for j in range(n_features):
            mm = np.array([wm[mask].sum() for mask in on_level[j]]) + pseudo_count
            new_m.append(mm / mm.sum())
            if fixed_u is None:
                uu = np.array([wu[mask].sum() for mask in on_level[j]]) + pseudo_count
                new_u.append(uu / uu.sum())
            else:
                new_u.append(u[j])
        new_lam = lam if prior is not None else float(wm.sum() / counts.sum())
        new_lam = float(np.clip(new_lam, 1e-9, 1.0 - 1e-9))

        delta = max(
            abs(new_lam - lam),
            max(float(np.abs(a - b).max()) for a, b in zip(new_m, m, strict=True)),
            max(float(np.abs(a - b).max()) for a, b in zip(new_u, u, strict=True)),
        )
        m, u, lam = new_m, new_u, new_lam
        if delta < tol:
            converged = True
            break

    if fixed_u is None:
        # Label switching: EM's two classes are symmetric; the match class agrees more.
        agree_m = float(np.mean([x[0] for x in m]))
        agree_u = float(np.mean([x[0] for x in u]))
        if agree_u > agree_m:
            logger.info("EM's classes came out swapped (the 'match' class agreed less); swapping.")
            m, u, lam = u, m, 1.0 - lam
    if lam < 1e-6 or lam > 1.0 - 1e-6:
        logger.warning(
            "EM put %.3g of the pairs in the match class: the model is degenerate. Give the "
            "'prior', random pairs for u, or features that separate matches better.",
            lam,
        )
    separation = max(float(np.abs(a - b).max()) for a, b in zip(m, u, strict=True))
    if separation < 0.05:
        logger.warning(
            "EM found matches and non-matches nearly alike on every feature (largest m-u gap "
            "%.3f): the match probabilities carry little information.",
            separation,
        )
    return m, u, lam, n_iter, converged
