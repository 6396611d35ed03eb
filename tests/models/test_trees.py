"""The packed forest scores exactly as walking each tree node by node does."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier

from models.trees import (
    Forest,
    _walk,
    contributions,
    predict_raw,
    trees_from_hist_gradient_boosting,
)

from .conftest import simulated_pairs


def _walked(baseline: float, trees: list, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    raw = np.full(X.shape[0], baseline)
    contrib = np.zeros(X.shape)
    for tree in trees:
        raw += _walk(tree, X, contrib)
    return raw, contrib


def _fitted(max_leaf_nodes: int, seed: int = 0) -> tuple[float, list, np.ndarray, object]:
    X, y = simulated_pairs(3000, seed=seed)
    test, _ = simulated_pairs(2500, seed=seed + 7)
    if max_leaf_nodes > 64:  # wide trees need noisy labels to grow on
        rng = np.random.default_rng(seed)
        y = np.where(rng.random(len(y)) < 0.3, 1 - y, y)
    model = HistGradientBoostingClassifier(
        max_iter=40, max_leaf_nodes=max_leaf_nodes, min_samples_leaf=2, random_state=0
    ).fit(X.to_numpy(np.float64), y)
    baseline, trees = trees_from_hist_gradient_boosting(model)
    return baseline, trees, test.to_numpy(np.float64), model


@pytest.mark.parametrize("max_leaf_nodes", [3, 15, 31, 64, 90])
def test_packed_scores_are_the_walks_bit_for_bit(max_leaf_nodes: int) -> None:
    baseline, trees, X, model = _fitted(max_leaf_nodes)
    walked_raw, walked_contrib = _walked(baseline, trees, X)

    raw = predict_raw(baseline, trees, X)
    bias, contrib = contributions(baseline, trees, X)

    assert np.array_equal(raw, walked_raw)
    np.testing.assert_allclose(raw, model.decision_function(X), rtol=0, atol=1e-12)
    np.testing.assert_allclose(contrib, walked_contrib, rtol=0, atol=1e-12)
    np.testing.assert_allclose(bias + contrib.sum(axis=1), raw, rtol=0, atol=1e-12)
    if max_leaf_nodes > 64:  # trees too wide for a 64-bit leaf mask are walked
        assert len(Forest.pack(trees).walked) > 0


@pytest.mark.parametrize("max_leaf_nodes", [3, 31, 64])
def test_a_few_rows_score_and_explain_as_their_trees_walk(max_leaf_nodes: int) -> None:
    # up to _FEW_ROWS rows take the rows-first path (a record's pairs), more the block path
    baseline, trees, X, _ = _fitted(max_leaf_nodes)
    X = X[:200].copy()
    X[::5, 1] = np.nan
    walked_raw, walked_contrib = _walked(baseline, trees, X)
    for n in (1, 2, 15, 64, 65, 200):
        assert np.array_equal(predict_raw(baseline, trees, X[:n]), walked_raw[:n]), n
        _, contrib = contributions(baseline, trees, X[:n])
        np.testing.assert_allclose(contrib, walked_contrib[:n], rtol=0, atol=1e-12)
        # and the same bits whichever path took them
        assert np.array_equal(contrib, contributions(baseline, trees, X)[1][:n]), n


def test_missing_values_and_unseen_extremes_go_where_the_trees_say() -> None:
    baseline, trees, X, _ = _fitted(31, seed=3)
    odd = X[:200].copy()
    odd[::3, 0] = np.nan
    odd[1::3, 1] = np.inf
    odd[2::3, 2] = -np.inf
    odd[::5] = np.nan
    assert np.array_equal(predict_raw(baseline, trees, odd), _walked(baseline, trees, odd)[0])


def test_the_shipped_model_scores_as_its_trees_walk() -> None:
    from engine.quality.training import DEFAULT_ARTIFACT, load_model

    model = load_model(DEFAULT_ARTIFACT)
    rng = np.random.default_rng(0)
    n, k = 3000, len(model.feature_names)
    X = rng.random((n, k)) * rng.choice([1.0, 3.0, 10.0], size=(1, k))
    X[rng.random((n, k)) < 0.15] = np.nan
    X = np.round(X, 2)  # values land on thresholds too
    walked_raw, walked_contrib = _walked(model._baseline, model._trees, X)

    assert np.array_equal(model.decision_function(X), walked_raw)
    explained = model.explain(X)
    np.testing.assert_allclose(
        explained[model.feature_names].to_numpy(), walked_contrib, rtol=0, atol=1e-12
    )


def test_a_model_of_single_leaf_trees_scores_its_leaves() -> None:
    from models.trees import Tree

    leaf = Tree(
        feature=np.array([-1]),
        threshold=np.zeros(1),
        missing_left=np.zeros(1, dtype=bool),
        left=np.zeros(1, dtype=np.int64),
        right=np.zeros(1, dtype=np.int64),
        value=np.array([0.25]),
        count=np.array([10]),
    )
    X = np.zeros((4, 2))
    np.testing.assert_array_equal(predict_raw(-1.0, [leaf, leaf], X), np.full(4, -0.5))
