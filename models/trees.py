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

Scoring many pairs does not walk the trees one at a time: :class:`Forest` packs them once and finds
every pair's leaf in every tree with a few whole-array bit operations (QuickScorer), giving the
walk's scores bit for bit at several times its speed (``benchmarks/tree_scoring.py``).
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
    """Leaf value reached by each row of one tree, node by node (the reference walk; used for
    trees too wide for :class:`Forest`). Adds each split's change of mean to ``contributions``."""
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


#: Trees with more leaves than this are walked node by node (a leaf set must fit a 64-bit mask).
MAX_PACKED_LEAVES = 64
#: Rows scored at a time: small enough that a block's masks stay in the processor's cache.
_BLOCK_ROWS = 1024
#: Rows explained at a time: their credits in every tree are gathered (trees x rows x features).
_CREDIT_ROWS = 128
#: Up to this many rows, the leaves are found with rows on the outer axis and every split node of
#: every tree in one pass (:meth:`Forest._few_leaves`): a record's few pairs.
_FEW_ROWS = 64


@dataclass
class Forest:
    """The trees of a model packed for scoring many rows at once, without walking them.

    Each tree's leaves are numbered left to right, and each split node carries the bit mask of the
    leaves in its left subtree. A row that goes right at a node cannot end in that subtree, so the
    leaf a row reaches is the leftmost leaf left over once the masks of every node where it goes
    right are cleared from the tree's full set (the QuickScorer algorithm of Lucchese et al., 2015).
    Whether a row goes right is one comparison per distinct (feature, threshold, missing side) of
    the whole model, and clearing the masks is a few whole-array bit operations per block of rows:
    no per-tree, per-level numpy calls and no gathers along paths. The leaves reached are exactly
    the walk's, so scores are bit for bit the same.
    """

    trees: list[Tree]
    split_feature: np.ndarray  # per distinct split condition: feature index
    split_threshold: np.ndarray  # ... threshold (go left when value <= threshold)
    split_missing_left: np.ndarray  # ... where NaN goes
    node_split: np.ndarray  # (packed trees, most splits): the condition of each split node
    node_left_leaves: np.ndarray  # (packed trees, most splits): the leaves of its left subtree
    full: np.ndarray  # per packed tree: the mask of all its leaves
    leaf_value: np.ndarray  # (packed trees, max leaves): value of the k-th leaf from the left
    leaf_node: np.ndarray  # (packed trees, max leaves): its node number in the tree
    packed: np.ndarray  # indices (into ``trees``) of the packed trees
    walked: np.ndarray  # indices of the trees walked node by node (too many leaves, no split)
    dtype: Any  # unsigned integer type of the masks

    @classmethod
    def pack(cls, trees: Sequence[Tree]) -> Forest:
        """Pack ``trees`` (in scoring order)."""
        trees = list(trees)
        conditions: dict[tuple[int, float, bool], int] = {}
        node_split: list[list[int]] = []
        node_masks: list[list[int]] = []
        full: list[int] = []
        leaves: list[list[int]] = []
        packed: list[int] = []
        walked: list[int] = []
        for t, tree in enumerate(trees):
            order = _leaves_left_to_right(tree)
            if len(order) > MAX_PACKED_LEAVES or tree.is_leaf[0]:
                walked.append(t)
                continue
            position = {node: k for k, node in enumerate(order)}
            node_split.append([])
            node_masks.append([])
            for node in np.flatnonzero(~tree.is_leaf):
                lo, hi = _leaf_range(tree, int(tree.left[node]), position)
                key = (
                    int(tree.feature[node]),
                    float(tree.threshold[node]),
                    bool(tree.missing_left[node]),
                )
                node_split[-1].append(conditions.setdefault(key, len(conditions)))
                node_masks[-1].append(((1 << (hi - lo)) - 1) << lo)
            full.append((1 << len(order)) - 1)
            leaves.append(order)
            packed.append(t)
        widest = max((len(order) for order in leaves), default=1)
        dtype = next(
            d for d in (np.uint8, np.uint16, np.uint32, np.uint64) if np.iinfo(d).bits >= widest
        )
        most = max((len(splits) for splits in node_split), default=0)
        # padding: condition 0 with an empty mask clears nothing
        split_table = np.zeros((len(packed), most), dtype=np.int64)
        mask_table = np.zeros((len(packed), most), dtype=dtype)
        for i, (splits, masks) in enumerate(zip(node_split, node_masks, strict=True)):
            split_table[i, : len(splits)] = splits
            mask_table[i, : len(masks)] = masks
        leaf_node = np.zeros((len(leaves), widest), dtype=np.int64)
        leaf_value = np.zeros((len(leaves), widest), dtype=np.float64)
        for i, order in enumerate(leaves):
            leaf_node[i, : len(order)] = order
            leaf_value[i, : len(order)] = trees[packed[i]].value[order]
        keys = list(conditions)
        return cls(
            trees=trees,
            split_feature=np.array([k[0] for k in keys], dtype=np.int64),
            split_threshold=np.array([k[1] for k in keys], dtype=np.float64),
            split_missing_left=np.array([k[2] for k in keys], dtype=bool),
            node_split=split_table,
            node_left_leaves=mask_table,
            full=np.array(full, dtype=dtype),
            leaf_value=leaf_value,
            leaf_node=leaf_node,
            packed=np.array(packed, dtype=np.int64),
            walked=np.array(walked, dtype=np.int64),
            dtype=dtype,
        )

    def leaves(self, X: np.ndarray) -> np.ndarray:
        """Position (from the left) of the leaf each row reaches in each packed tree, shape
        ``(packed trees, rows)``."""
        X = np.asarray(X, dtype=np.float64)
        out = np.empty((len(self.packed), X.shape[0]), dtype=np.int64)
        if len(self.packed):
            for start in range(0, X.shape[0], _BLOCK_ROWS):
                out[:, start : start + _BLOCK_ROWS] = self._leaves(X[start : start + _BLOCK_ROWS])
        return out

    def _leaves(self, X: np.ndarray) -> np.ndarray:
        if X.shape[0] <= _FEW_ROWS:
            return self._few_leaves(X)
        values = X.T[self.split_feature]  # (conditions, rows)
        go_left = values <= self.split_threshold[:, None]
        if self.split_missing_left.any():
            go_left |= np.isnan(values) & self.split_missing_left[:, None]
        # all ones where a row goes right at a condition, else zero
        right = (~go_left).astype(self.dtype)
        np.negative(right, out=right)
        # the k-th split node of every tree at once (trees with fewer splits pad with a no-op)
        left_over = np.repeat(self.full[:, None], X.shape[0], axis=1)
        cleared = np.empty_like(left_over)
        for k in range(self.node_split.shape[1]):
            np.bitwise_and(
                right[self.node_split[:, k]], self.node_left_leaves[:, k, None], out=cleared
            )
            np.invert(cleared, out=cleared)
            left_over &= cleared
        lowest = left_over & (~left_over + self.dtype(1))
        return np.frexp(lowest.astype(np.float64))[1].astype(np.int64) - 1

    def _few_leaves(self, X: np.ndarray) -> np.ndarray:
        """:meth:`_leaves` of a few rows: the same bit operations with the rows on the outer axis,
        every split node of every tree at once (rows x trees x nodes) and the masks cleared by one
        reduction over the nodes, rather than a pass a node over rows too few to fill it."""
        values = X[:, self.split_feature]  # (rows, conditions)
        go_left = values <= self.split_threshold
        if self.split_missing_left.any():
            go_left |= np.isnan(values) & self.split_missing_left
        right = (~go_left).astype(self.dtype)
        np.negative(right, out=right)
        # the masks of the nodes where a row goes right (padding nodes have none), all at once
        cleared = right[:, self.node_split]
        cleared &= self.node_left_leaves
        left_over = np.bitwise_or.reduce(cleared, axis=2)
        np.invert(left_over, out=left_over)
        left_over &= self.full
        lowest = left_over & (~left_over + self.dtype(1))
        return (np.frexp(lowest.astype(np.float64))[1].astype(np.int64) - 1).T

    def raw(self, baseline: float, X: np.ndarray) -> np.ndarray:
        """Baseline plus every tree's leaf value, added tree by tree as scikit-learn adds them."""
        X = np.asarray(X, dtype=np.float64)
        n = X.shape[0]
        raw = np.full(n, baseline, dtype=np.float64)
        per_tree: list[np.ndarray] = [np.empty(0)] * len(self.trees)
        step = _BLOCK_ROWS
        for start in range(0, n, step):
            part = X[start : start + step]
            if len(self.packed):
                position = self._leaves(part)
                for i, t in enumerate(self.packed):
                    per_tree[t] = self.leaf_value[i][position[i]]
            for t in self.walked:
                per_tree[t] = _walk(self.trees[t], part, None)
            total = raw[start : start + step]
            for values in per_tree:
                total += values
        return raw

    def _credits(self, n_features: int) -> np.ndarray:
        """Each packed leaf's Saabas credits along its path, per feature: fixed by the trees, so
        worked out once per forest (explaining one pair at a time would redo it every call)."""
        cache: dict[int, np.ndarray] = self.__dict__.setdefault("_credit_cache", {})
        credit = cache.get(n_features)
        if credit is None:
            credit = np.zeros((*self.leaf_node.shape, n_features), dtype=np.float64)
            for i, t in enumerate(self.packed):
                paths = _leaf_credits(self.trees[t], n_features)
                credit[i, : len(paths)] = [
                    paths[int(node)] for node in self.leaf_node[i, : len(paths)]
                ]
            credit.setflags(write=False)
            cache[n_features] = credit
        return credit

    def contributions(self, baseline: float, X: np.ndarray) -> tuple[float, np.ndarray]:
        """Saabas contributions (see :func:`contributions`)."""
        X = np.asarray(X, dtype=np.float64)
        n, n_features = X.shape
        contrib = np.zeros((n, n_features), dtype=np.float64)
        bias = baseline
        for tree in self.trees:
            bias += float(tree.value[0])
        if len(self.packed):
            credit = self._credits(n_features)
            trees = np.arange(len(self.packed))[:, None]
            step = _CREDIT_ROWS
            for start in range(0, n, step):
                position = self._leaves(X[start : start + step])
                # every packed tree's credits at once, added tree after tree (a reduction over
                # the outer axis adds in order: the same sums as one += per tree, a few tenths
                # of a millisecond less for the few pairs of one record)
                contrib[start : start + step] += np.add.reduce(credit[trees, position], axis=0)
        for t in self.walked:
            _walk(self.trees[t], X, contrib)
        return bias, contrib


def _leaves_left_to_right(tree: Tree) -> list[int]:
    """The tree's leaves in left-to-right order."""
    order: list[int] = []
    stack = [0]
    while stack:
        node = stack.pop()
        if tree.is_leaf[node]:
            order.append(node)
        else:
            stack.append(int(tree.right[node]))
            stack.append(int(tree.left[node]))
    return order


def _leaf_range(tree: Tree, node: int, position: dict[int, int]) -> tuple[int, int]:
    """Positions ``[lo, hi)`` of the leaves below ``node`` (they are contiguous)."""
    first = last = node
    while not tree.is_leaf[first]:
        first = int(tree.left[first])
    while not tree.is_leaf[last]:
        last = int(tree.right[last])
    return position[first], position[last] + 1


def _leaf_credits(tree: Tree, n_features: int) -> dict[int, np.ndarray]:
    """Per leaf: the Saabas credit of each feature along the path from the root to it."""
    credits = {0: np.zeros(n_features, dtype=np.float64)}
    out: dict[int, np.ndarray] = {}
    stack = [0]
    while stack:
        node = stack.pop()
        here = credits.pop(node)
        if tree.is_leaf[node]:
            out[node] = here
            continue
        for child in (int(tree.left[node]), int(tree.right[node])):
            below = here.copy()
            below[tree.feature[node]] += tree.value[child] - tree.value[node]
            credits[child] = below
            stack.append(child)
    return out


#: Forests packed for tree lists passed in directly (a fitted classifier's ``trees_``), by the
#: list's identity: explaining one pair at a time (incremental resolve) should not repack.
_PACKED: dict[int, tuple[Sequence[Tree], int, Forest]] = {}


def _as_forest(trees: Sequence[Tree] | Forest) -> Forest:
    if isinstance(trees, Forest):
        return trees
    cached = _PACKED.get(id(trees))
    if cached is not None and cached[0] is trees and cached[1] == len(trees):
        return cached[2]
    forest = Forest.pack(trees)
    if len(_PACKED) >= 8:
        _PACKED.pop(next(iter(_PACKED)))
    _PACKED[id(trees)] = (trees, len(trees), forest)
    return forest


def predict_raw(baseline: float, trees: Sequence[Tree] | Forest, X: np.ndarray) -> np.ndarray:
    """Raw score (log-odds before calibration), summed in the same order as scikit-learn.

    ``trees`` may be packed once with :meth:`Forest.pack` (what a loaded model keeps).
    """
    return _as_forest(trees).raw(baseline, X)


def contributions(
    baseline: float, trees: Sequence[Tree] | Forest, X: np.ndarray
) -> tuple[float, np.ndarray]:
    """Saabas contributions: ``bias + contributions.sum(axis=1)`` equals :func:`predict_raw`."""
    return _as_forest(trees).contributions(baseline, X)
