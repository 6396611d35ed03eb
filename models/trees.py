"""Gradient-boosted trees as plain arrays: read from scikit-learn, saved as JSON, run with numpy.

A fitted ``HistGradientBoostingClassifier`` keeps its trees as ``TreePredictor`` node arrays. This
module copies what prediction needs (split feature, threshold on the raw value, where NaN goes,
children, leaf values) into :class:`Tree` objects that serialise to readable JSON and evaluate with
numpy alone, so a saved model predicts without scikit-learn's private classes and without pickle.

It also computes per-feature contributions along each pair's path through the trees (Saabas's
method, as in ``treeinterpreter``): every node carries the count-weighted mean of the leaf values
below it, and each split on the path credits its feature with the change of that mean. Per tree the
credits add up to the leaf value minus the root's mean, so over the model

    raw score = baseline + sum_trees root_mean + sum_features contribution
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from models.errors import ArtifactError


@dataclass
class Tree:
    """One regression tree; node 0 is the root. Leaves have ``feature == -1``."""

    feature: np.ndarray  # int64, split feature index, -1 on leaves
    threshold: np.ndarray  # float64, go left when value <= threshold
    missing_left: np.ndarray  # bool, where NaN goes
    left: np.ndarray  # int64
    right: np.ndarray  # int64
    value: np.ndarray  # float64: leaf value on leaves, mean leaf value below on splits
    count: np.ndarray  # int64, training pairs through the node

    @property
    def is_leaf(self) -> np.ndarray:
        return self.feature < 0

    def to_nodes(self, feature_names: Sequence[str]) -> list[dict[str, Any]]:
        """Readable node list: splits name their feature, leaves give their value."""
        nodes: list[dict[str, Any]] = []
        for i in range(len(self.feature)):
            if self.feature[i] < 0:
                nodes.append({"id": i, "leaf": float(self.value[i]), "count": int(self.count[i])})
            else:
                nodes.append(
                    {
                        "id": i,
                        "feature": feature_names[int(self.feature[i])],
                        "threshold": _encode_float(float(self.threshold[i])),
                        "missing": "left" if self.missing_left[i] else "right",
                        "left": int(self.left[i]),
                        "right": int(self.right[i]),
                        "mean": float(self.value[i]),
                        "count": int(self.count[i]),
                    }
                )
        return nodes

    @classmethod
    def from_nodes(cls, nodes: Sequence[dict[str, Any]], feature_names: Sequence[str]) -> Tree:
        """Read a node list written by :meth:`to_nodes`, checking it is a well-formed tree."""
        n = len(nodes)
        if n == 0:
            raise ArtifactError("A tree in the artifact has no nodes.")
        index = {name: j for j, name in enumerate(feature_names)}
        feature = np.full(n, -1, dtype=np.int64)
        threshold = np.zeros(n)
        missing_left = np.zeros(n, dtype=bool)
        left = np.zeros(n, dtype=np.int64)
        right = np.zeros(n, dtype=np.int64)
        value = np.zeros(n)
        count = np.zeros(n, dtype=np.int64)
        for i, node in enumerate(nodes):
            if node.get("id") != i:
                raise ArtifactError(
                    f"Tree node {i} has id {node.get('id')!r}; ids must run 0..n-1."
                )
            count[i] = int(node.get("count", 0))
            if "leaf" in node:
                value[i] = float(node["leaf"])
                continue
            name = node.get("feature")
            if name not in index:
                raise ArtifactError(f"Tree node {i} splits on unknown feature {name!r}.")
            feature[i] = index[name]
            threshold[i] = _decode_float(node["threshold"])
            if node.get("missing") not in ("left", "right"):
                raise ArtifactError(f"Tree node {i} has missing={node.get('missing')!r}.")
            missing_left[i] = node["missing"] == "left"
            left[i], right[i] = int(node["left"]), int(node["right"])
            if not (i < left[i] < n and i < right[i] < n):
                raise ArtifactError(
                    f"Tree node {i} points to children {left[i]}, {right[i]} outside the tree."
                )
            value[i] = float(node["mean"])
        return cls(feature, threshold, missing_left, left, right, value, count)


def _encode_float(x: float) -> float | str:
    """JSON has no infinities: write them as strings."""
    if np.isfinite(x):
        return x
    return "inf" if x > 0 else "-inf"


def _decode_float(x: Any) -> float:
    if isinstance(x, str):
        if x not in ("inf", "-inf"):
            raise ArtifactError(f"Tree threshold {x!r} is not a number.")
        return float(x)
    return float(x)


def trees_from_hist_gradient_boosting(model: Any) -> tuple[float, list[Tree]]:
    """Baseline (raw score before any tree) and trees of a fitted binary HistGradientBoosting.

    Raises
    ------
    ValueError
        If the model has categorical splits or more than one tree per iteration (not binary).
    """
    baseline = np.asarray(model._baseline_prediction, dtype=np.float64).ravel()
    if baseline.size != 1:
        raise ValueError("Only binary HistGradientBoostingClassifier models can be exported.")
    trees = []
    for iteration in model._predictors:
        if len(iteration) != 1:
            raise ValueError("Only binary HistGradientBoostingClassifier models can be exported.")
        nodes = iteration[0].nodes
        if nodes["is_categorical"].any():
            raise ValueError("Trees with categorical splits cannot be exported.")
        is_leaf = nodes["is_leaf"].astype(bool)
        feature = np.where(is_leaf, -1, nodes["feature_idx"]).astype(np.int64)
        left = nodes["left"].astype(np.int64)
        right = nodes["right"].astype(np.int64)
        count = nodes["count"].astype(np.int64)
        value = np.where(is_leaf, nodes["value"], 0.0).astype(np.float64)
        _fill_means(value, left, right, count, is_leaf)
        trees.append(
            Tree(
                feature=feature,
                threshold=np.where(is_leaf, 0.0, nodes["num_threshold"]).astype(np.float64),
                missing_left=nodes["missing_go_to_left"].astype(bool) & ~is_leaf,
                left=np.where(is_leaf, 0, left),
                right=np.where(is_leaf, 0, right),
                value=value,
                count=count,
            )
        )
    return float(baseline[0]), trees


def _fill_means(
    value: np.ndarray, left: np.ndarray, right: np.ndarray, count: np.ndarray, is_leaf: np.ndarray
) -> None:
    """Set each split node's value to the count-weighted mean of its leaves, bottom up.

    Children always come after their parent in scikit-learn's node arrays (depth-first order).
    """
    weight = np.where(is_leaf, np.maximum(count, 1), 0).astype(np.float64)
    for i in range(len(value) - 1, -1, -1):
        if is_leaf[i]:
            continue
        lc, rc = weight[left[i]], weight[right[i]]
        value[i] = (value[left[i]] * lc + value[right[i]] * rc) / (lc + rc)
        weight[i] = lc + rc


def _walk(tree: Tree, X: np.ndarray, contributions: np.ndarray | None) -> np.ndarray:
    """Leaf value reached by each row; adds each split's change of mean to ``contributions``."""
    n = X.shape[0]
    node = np.zeros(n, dtype=np.int64)
    is_leaf = tree.is_leaf
    active = np.nonzero(~is_leaf[node])[0]
    while active.size:
        at = node[active]
        feat = tree.feature[at]
        x = X[active, feat]
        go_left = np.where(np.isnan(x), tree.missing_left[at], x <= tree.threshold[at])
        child = np.where(go_left, tree.left[at], tree.right[at])
        if contributions is not None:
            contributions[active, feat] += tree.value[child] - tree.value[at]
        node[active] = child
        active = active[~is_leaf[child]]
    return tree.value[node]


def predict_raw(baseline: float, trees: Sequence[Tree], X: np.ndarray) -> np.ndarray:
    """Raw score (log-odds before calibration), summed in the same order as scikit-learn."""
    raw = np.full(X.shape[0], baseline, dtype=np.float64)
    for tree in trees:
        raw += _walk(tree, X, None)
    return raw


def contributions(
    baseline: float, trees: Sequence[Tree], X: np.ndarray
) -> tuple[float, np.ndarray]:
    """Saabas contributions: ``bias + contributions.sum(axis=1)`` equals :func:`predict_raw`."""
    contrib = np.zeros(X.shape, dtype=np.float64)
    bias = baseline
    for tree in trees:
        bias += float(tree.value[0])
        _walk(tree, X, contrib)
    return bias, contrib
