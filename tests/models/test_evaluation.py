"""Pairwise scores, curves and pictures, and the one-to-one linking constraint."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models import one_to_one
from models.evaluation import (
    classification_metrics,
    pairwise_scores,
    plot_precision_recall,
    plot_reliability,
    plot_score_distribution,
    precision_recall_points,
    reliability_table,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_pairwise_scores_ignore_pair_order_when_deduplicating():
    predicted = [("r1", "r2"), ("r3", "r4"), ("r5", "r6")]
    true = [("r2", "r1"), ("r4", "r3"), ("r7", "r8"), ("r9", "r10")]
    scores = pairwise_scores(predicted, true)
    assert (scores.true_positives, scores.false_positives, scores.false_negatives) == (2, 1, 2)
    assert scores.precision == pytest.approx(2 / 3)
    assert scores.recall == pytest.approx(0.5)
    assert scores.f1 == pytest.approx(2 * (2 / 3) * 0.5 / (2 / 3 + 0.5))


def test_pairwise_scores_keep_sides_when_linking_two_files():
    index = pd.MultiIndex.from_tuples([("a", "b")])
    assert pairwise_scores(index, [("b", "a")], dedupe=False).true_positives == 0
    assert pairwise_scores(index, [("a", "b")], dedupe=False).f1 == 1.0


def test_classification_metrics_at_the_threshold():
    y = np.array([1, 1, 0, 0])
    p = np.array([0.9, 0.4, 0.6, 0.1])
    metrics = classification_metrics(y, p, threshold=0.5)
    assert metrics["precision"] == 0.5 and metrics["recall"] == 0.5
    assert metrics["brier"] == pytest.approx(np.mean((p - y) ** 2))
    assert metrics["roc_auc"] == pytest.approx(0.75)


def test_precision_recall_points_end_at_full_precision():
    points = precision_recall_points([0, 1, 1, 0], [0.1, 0.8, 0.7, 0.3])
    assert points.iloc[-1].precision == 1.0 and points.iloc[-1].recall == 0.0
    assert points.recall.max() == 1.0


def test_reliability_table_counts_every_pair():
    rng = np.random.default_rng(0)
    p = rng.random(1000)
    y = (rng.random(1000) < p).astype(int)
    table = reliability_table(y, p, n_bins=5)
    assert table.n_pairs.sum() == 1000
    assert (table.mean_predicted - table.observed_rate).abs().max() < 0.1


def test_pictures_are_written_as_png(tmp_path):
    rng = np.random.default_rng(1)
    y = (rng.random(500) < 0.2).astype(int)
    scores = np.clip(y * 0.7 + rng.normal(0.15, 0.15, 500), 0, 1)
    paths = [
        plot_precision_recall(y, {"model a": scores, "model b": scores**2}, tmp_path / "pr.png"),
        plot_score_distribution(y, scores, tmp_path / "scores.png", threshold=0.6),
        plot_reliability(y, scores, tmp_path / "reliability.png"),
    ]
    for path in paths:
        data = path.read_bytes()
        assert data.startswith(PNG_SIGNATURE) and len(data) > 10_000


def test_one_to_one_keeps_each_records_best_link():
    left = ["a", "a", "b", "c"]
    right = ["x", "y", "x", "z"]
    p = [0.95, 0.9, 0.97, 0.3]
    assert one_to_one(left, right, p, threshold=0.5).tolist() == [False, True, True, False]
