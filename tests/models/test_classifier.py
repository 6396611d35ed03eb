"""PairClassifier: the scikit-learn contract, calibration, explanations, what each method learns."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV, cross_val_score

from models import Comparison, FeatureError, InvalidParameterError, LabelError, PairClassifier
from models.evaluation import classification_metrics, reliability_table

FAST = {"max_iter": 40, "cv": 3}


@pytest.fixture(scope="module")
def fitted(pairs):
    X, y = pairs
    return {
        "logistic": PairClassifier("logistic", cv=3).fit(X, y),
        "boosting": PairClassifier("boosting", **FAST).fit(X, y),
    }


def test_init_only_stores_parameters_and_clone_keeps_them():
    model = PairClassifier("boosting", threshold=0.8, comparisons=[Comparison("a")], C=2.0)
    copy = clone(model)
    assert copy.get_params() == model.get_params()
    assert copy is not model
    assert not hasattr(copy, "estimator_")


def test_fit_returns_self_and_sets_learned_attributes(pairs):
    X, y = pairs
    model = PairClassifier("logistic", cv=3)
    assert model.fit(X, y) is model
    assert list(model.feature_names_in_) == list(X.columns)
    assert list(model.classes_) == [0, 1]
    assert model.training_summary_["n_pairs"] == len(X)
    assert model.training_summary_["n_positives"] == int(y.sum())


def test_predicting_before_fit_raises_not_fitted(pairs):
    X, _ = pairs
    with pytest.raises(NotFittedError):
        PairClassifier().predict_proba(X)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (
            {"threshold": 2},
            "The 'threshold' parameter of PairClassifier must be a float in [0, 1]. Got 2.",
        ),
        (
            {"method": "forest"},
            "The 'method' parameter of PairClassifier must be one of 'logistic', 'boosting'. "
            "Got 'forest'.",
        ),
        ({"cv": 1}, "The 'cv' parameter of PairClassifier must be an int >= 2. Got 1."),
        ({"C": 0.0}, "The 'C' parameter of PairClassifier must be a float in (0, inf). Got 0.0."),
    ],
)
def test_invalid_parameters_are_named_at_fit(pairs, params, message):
    X, y = pairs
    with pytest.raises(InvalidParameterError) as err:
        PairClassifier(**params).fit(X, y)
    assert str(err.value) == message


def test_works_in_grid_search_and_cross_val_score(pairs):
    X, y = pairs
    X, y = X.iloc[:1500], y[:1500]
    search = GridSearchCV(
        PairClassifier(cv=3), {"C": [0.1, 1.0], "threshold": [0.3, 0.5]}, cv=3, scoring="f1"
    ).fit(X, y)
    assert search.best_params_["C"] in (0.1, 1.0)
    scores = cross_val_score(PairClassifier("boosting", **FAST), X, y, cv=3, scoring="roc_auc")
    assert scores.shape == (3,) and scores.min() > 0.9


@pytest.mark.parametrize("method", ["logistic", "boosting"])
def test_probabilities_are_calibrated_on_held_out_pairs(fitted, holdout_pairs, method):
    X, y = holdout_pairs
    p = fitted[method].predict_proba(X)
    assert p.shape == (len(X), 2)
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    metrics = classification_metrics(y, p[:, 1])
    assert metrics["brier"] < 0.02
    table = reliability_table(y, p[:, 1], n_bins=5)
    filled = table[table.n_pairs >= 50]
    assert (filled.mean_predicted - filled.observed_rate).abs().max() < 0.1


def test_predict_uses_the_threshold(pairs, fitted, holdout_pairs):
    X, y = pairs
    strict = PairClassifier("logistic", cv=3, threshold=0.9).fit(X, y)
    X_new, _ = holdout_pairs
    p = strict.predict_proba(X_new)[:, 1]
    np.testing.assert_array_equal(strict.predict(X_new), (p >= 0.9).astype(int))
    assert strict.predict(X_new).sum() < fitted["logistic"].predict(X_new).sum()


def test_boosting_separates_father_and_son_where_logistic_cannot(fitted):
    # Same name and phone, born 30 years apart: not the same person.
    father_son = pd.DataFrame(
        {"name_similarity": [1.0], "birth_year_difference": [30.0], "same_phone": [1.0]}
    )
    same_person = pd.DataFrame(
        {"name_similarity": [1.0], "birth_year_difference": [0.0], "same_phone": [1.0]}
    )
    boosting = fitted["boosting"]
    assert boosting.predict_proba(father_son)[0, 1] < 0.1
    assert boosting.predict_proba(same_person)[0, 1] > 0.9


def test_monotonic_boosting_never_lowers_the_score_for_a_closer_name(pairs):
    X, y = pairs
    model = PairClassifier("boosting", monotonic=True, **FAST).fit(X, y)
    for year_difference in (0.0, 30.0):
        grid = pd.DataFrame(
            {
                "name_similarity": np.linspace(0.0, 1.0, 41),
                "birth_year_difference": year_difference,
                "same_phone": 1.0,
            }
        )
        assert np.all(np.diff(model.decision_function(grid)) >= 0)
    father_son = grid.tail(1)
    assert model.predict_proba(father_son)[0, 1] < 0.1


@pytest.mark.parametrize("method", ["logistic", "boosting"])
def test_explanations_sum_to_the_models_log_odds(fitted, holdout_pairs, method):
    X, _ = holdout_pairs
    model = fitted[method]
    explained = model.explain(X)
    assert list(explained.columns) == ["bias", *X.columns, "log_odds", "probability"]
    contributions = explained[["bias", *X.columns]].sum(axis=1)
    np.testing.assert_allclose(contributions, model.decision_function(X), atol=1e-9)
    np.testing.assert_allclose(explained["probability"], model.predict_proba(X)[:, 1], atol=1e-12)


def test_logistic_explanation_is_the_weight_of_each_level(fitted):
    model = fitted["logistic"]
    table = model.level_weights()
    row = pd.DataFrame(
        {"name_similarity": [1.0], "birth_year_difference": [np.nan], "same_phone": [0.0]}
    )
    explained = model.explain(row).iloc[0]

    def weight(feature, label):
        hit = table[(table.feature == feature) & (table.label == label)]
        return float(hit.weight.iloc[0])

    assert explained["name_similarity"] == pytest.approx(weight("name_similarity", ">= 1"))
    assert explained["birth_year_difference"] == pytest.approx(
        weight("birth_year_difference", "null")
    )
    assert explained["same_phone"] == pytest.approx(weight("same_phone", "< 1"))


def test_boosting_handles_missing_values_without_imputation(fitted):
    row = pd.DataFrame(
        {"name_similarity": [np.nan], "birth_year_difference": [np.nan], "same_phone": [np.nan]}
    )
    p = fitted["boosting"].predict_proba(row)[0, 1]
    assert 0.0 <= p <= 1.0


def test_wrong_feature_columns_are_named(fitted, holdout_pairs):
    X, _ = holdout_pairs
    wrong = X.rename(columns={"same_phone": "same_wallet"})
    with pytest.raises(
        FeatureError, match=r"missing columns \['same_phone'\].*extra columns \['same_wallet'\]"
    ):
        fitted["logistic"].predict_proba(wrong)


def test_columns_in_another_order_are_matched_by_name(fitted, holdout_pairs):
    X, _ = holdout_pairs
    model = fitted["boosting"]
    np.testing.assert_array_equal(model.predict_proba(X[X.columns[::-1]]), model.predict_proba(X))


def test_bad_labels_are_refused(pairs):
    X, y = pairs
    with pytest.raises(LabelError, match="pair 0 has label 2"):
        PairClassifier().fit(X, np.where(np.arange(len(y)) == 0, 2, y))
    with pytest.raises(LabelError, match="both matching and non-matching"):
        PairClassifier().fit(X, np.zeros(len(y)))


def test_non_numeric_feature_is_refused(pairs):
    X, y = pairs
    bad = X.assign(name_similarity=X["name_similarity"].astype(str))
    with pytest.raises(FeatureError, match="column 'name_similarity' has dtype"):
        PairClassifier().fit(bad, y)


def test_declared_comparisons_set_the_levels(pairs):
    X, y = pairs
    model = PairClassifier(
        cv=3,
        comparisons=[Comparison("birth_year_difference", levels=[0, 2], closer="lower")],
    ).fit(X, y)
    levels = model.level_weights()
    labels = levels[levels.feature == "birth_year_difference"].label.tolist()
    assert labels == ["<= 0", "<= 2", "> 2", "null"]
    with pytest.raises(FeatureError, match="features the data lacks: \\['nid_match'\\]"):
        PairClassifier(comparisons={"nid_match": [1.0]}).fit(X, y)


def test_boosting_learns_a_feature_no_training_pair_has_as_saying_nothing(pairs, holdout_pairs):
    # e.g. an address similarity when no training source gives an address
    X, y = pairs
    model = PairClassifier("boosting", **FAST).fit(X.assign(address_sim=np.nan), y)
    H, _ = holdout_pairs
    p = model.predict_proba(H.assign(address_sim=np.nan))[:, 1]
    assert np.allclose(p, model.predict_proba(H.assign(address_sim=1.0))[:, 1])
    assert model.explain(H.assign(address_sim=1.0))["address_sim"].abs().max() == 0.0
