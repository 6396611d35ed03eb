"""FellegiSunter: EM recovers m and u, identifies the match class, and explains in match weights."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from models import Comparison, FellegiSunter, InvalidParameterError

TRUE_PRIOR = 0.1
TRUE_M = [[0.85, 0.10, 0.05], [0.80, 0.20], [0.70, 0.20, 0.10]]
TRUE_U = [[0.05, 0.15, 0.80], [0.10, 0.90], [0.01, 0.09, 0.90]]
COMPARISONS = [
    Comparison("surname_level", levels=[0, 1], closer="lower"),
    Comparison("same_village", levels=[1.0]),
    Comparison("birth_year_level", levels=[0, 1], closer="lower"),
]


def simulate(n: int, prior: float, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Pairs drawn from a known Fellegi-Sunter model (levels already cut), 10% of a feature NaN."""
    rng = np.random.default_rng(seed)
    match = rng.random(n) < prior
    columns = {}
    for c, m, u in zip(COMPARISONS, TRUE_M, TRUE_U, strict=True):
        level = np.where(match, rng.choice(len(m), n, p=m), rng.choice(len(u), n, p=u))
        if c.closer == "higher":  # a flag: level 0 is value 1
            level = 1 - level
        columns[c.name] = level.astype(float)
    X = pd.DataFrame(columns)
    X.loc[rng.random(n) < 0.1, "same_village"] = np.nan
    return X, match.astype(int)


@pytest.fixture(scope="module")
def simulated():
    return simulate(40_000, TRUE_PRIOR, seed=3)


@pytest.fixture(scope="module")
def fitted(simulated):
    X, _ = simulated
    return FellegiSunter(COMPARISONS).fit(X)


def test_em_recovers_known_m_u_and_prior(fitted):
    assert fitted.converged_
    assert fitted.prior_ == pytest.approx(TRUE_PRIOR, abs=0.01)
    for m, true_m in zip(fitted.m_, TRUE_M, strict=True):
        np.testing.assert_allclose(m, true_m, atol=0.03)
    for u, true_u in zip(fitted.u_, TRUE_U, strict=True):
        np.testing.assert_allclose(u, true_u, atol=0.01)


def test_match_class_is_the_agreeing_one_even_when_matches_are_the_majority():
    X, _ = simulate(20_000, 0.8, seed=4)
    model = FellegiSunter(COMPARISONS).fit(X)
    assert model.prior_ == pytest.approx(0.8, abs=0.03)
    assert model.m_[0][0] > model.u_[0][0]


def test_u_fixed_from_random_pairs(simulated):
    X, _ = simulated
    random_pairs, _ = simulate(20_000, 0.0, seed=5)
    model = FellegiSunter(COMPARISONS).fit(X, random_pairs=random_pairs)
    for u, true_u in zip(model.u_, TRUE_U, strict=True):
        np.testing.assert_allclose(u, true_u, atol=0.01)
    assert model.prior_ == pytest.approx(TRUE_PRIOR, abs=0.01)
    assert model.training_summary_["u_from_random_pairs"] is True


def test_given_prior_is_kept(simulated):
    X, _ = simulated
    assert FellegiSunter(COMPARISONS, prior=0.2).fit(X).prior_ == 0.2


def test_probabilities_separate_matches(fitted, simulated):
    X, y = simulated
    p = fitted.predict_proba(X)
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    assert np.mean(fitted.predict(X) == y) > 0.97


def test_match_weights_are_log2_bayes_factors_and_null_weighs_nothing(fitted):
    row = pd.DataFrame(
        {"surname_level": [0.0], "same_village": [np.nan], "birth_year_level": [2.0]}
    )
    weights = fitted.match_weights(row).iloc[0]
    assert weights["surname_level"] == pytest.approx(np.log2(fitted.m_[0][0] / fitted.u_[0][0]))
    assert weights["same_village"] == 0.0
    assert weights["birth_year_level"] == pytest.approx(np.log2(fitted.m_[2][2] / fitted.u_[2][2]))
    total = weights["prior"] + weights[["surname_level", "same_village", "birth_year_level"]].sum()
    assert weights["match_weight"] == pytest.approx(total)
    assert weights["probability"] == pytest.approx(fitted.predict_proba(row)[0, 1])


def test_explain_sums_to_the_log_odds(fitted, simulated):
    X, _ = simulated
    explained = fitted.explain(X.head(200))
    parts = explained[["bias", *X.columns]].sum(axis=1)
    np.testing.assert_allclose(parts, fitted.decision_function(X.head(200)), atol=1e-9)


def test_weights_table_lists_every_level(fitted):
    table = fitted.weights_table()
    village = table[table.feature == "same_village"]
    assert village.label.tolist() == [">= 1", "< 1", "null"]
    assert village.match_weight.iloc[0] > 0 > village.match_weight.iloc[1]


def test_estimator_contract(simulated):
    X, _ = simulated
    model = FellegiSunter(COMPARISONS, prior=None, max_iter=50)
    assert clone(model).get_params() == model.get_params()
    with pytest.raises(NotFittedError):
        model.predict_proba(X)
    assert model.fit(X) is model
    with pytest.raises(InvalidParameterError, match=r"'prior' parameter of FellegiSunter must be"):
        FellegiSunter(prior=1.5).fit(X)


def test_agrees_with_recordlinkage_ecm_on_binary_features():
    from recordlinkage import ECMClassifier

    rng = np.random.default_rng(7)
    n = 20_000
    match = rng.random(n) < 0.2
    m, u = [0.9, 0.85, 0.8, 0.95], [0.1, 0.2, 0.05, 0.3]
    X = pd.DataFrame(
        {
            f"f{j}": np.where(match, rng.random(n) < m[j], rng.random(n) < u[j]).astype(int)
            for j in range(4)
        }
    )
    ours = FellegiSunter(pseudo_count=0.0).fit(X.astype(float))
    ecm = ECMClassifier(binarize=None)
    ecm.fit(X)  # returns None in recordlinkage 0.16
    ours_m = np.array([mj[0] for mj in ours.m_])
    ecm_m = np.array([ecm.m_probs[f"f{j}"][1] for j in range(4)])
    np.testing.assert_allclose(ours_m, ecm_m, atol=0.01)
    np.testing.assert_allclose(ours_m, m, atol=0.02)
    assert ours.prior_ == pytest.approx(ecm.p, abs=0.01)
