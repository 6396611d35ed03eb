"""Saved models: readable JSON that predicts as the fitted model did, and refuses tampering."""

from __future__ import annotations

import json
import pickle
import re

import numpy as np
import pytest

from models import (
    ArtifactError,
    FeatureError,
    FellegiSunter,
    MatchModel,
    PairClassifier,
    load,
    save,
)

MODELS = {
    "logistic": lambda: PairClassifier("logistic", cv=3),
    "boosting": lambda: PairClassifier("boosting", max_iter=40, cv=3),
    "boosting-sigmoid": lambda: PairClassifier(
        "boosting", max_iter=20, calibration="sigmoid", cv=3
    ),
    "logistic-uncalibrated": lambda: PairClassifier("logistic", calibration=None),
    "fellegi_sunter": lambda: FellegiSunter(),
}


@pytest.fixture(scope="module")
def fitted(pairs):
    X, y = pairs
    return {name: make().fit(X, y) for name, make in MODELS.items()}


@pytest.fixture(scope="module")
def saved(fitted, holdout_pairs, tmp_path_factory):
    folder = tmp_path_factory.mktemp("artifacts")
    return {
        name: save(
            model, folder / f"{name}.json", label_source="simulated pairs", holdout=holdout_pairs
        )
        for name, model in fitted.items()
    }


@pytest.mark.parametrize("name", list(MODELS))
def test_loaded_model_predicts_and_explains_like_the_fitted_one(fitted, saved, holdout_pairs, name):
    X, _ = holdout_pairs
    model, loaded = fitted[name], load(saved[name])
    assert isinstance(loaded, MatchModel)
    np.testing.assert_allclose(loaded.predict_proba(X), model.predict_proba(X), atol=1e-9, rtol=0)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    np.testing.assert_allclose(
        loaded.explain(X).to_numpy(), model.explain(X).to_numpy(), atol=1e-9, rtol=0
    )


@pytest.mark.parametrize("name", list(MODELS))
def test_the_explanations_values_are_its_frames(saved, holdout_pairs, name):
    # the one-record resolver reads explain_values(); answers and reports read explain()
    X, _ = holdout_pairs
    loaded = load(saved[name])
    frame = loaded.explain(X)
    columns, values = loaded.explain_values(X)
    assert columns == list(frame.columns)
    assert values.dtype == np.float64
    np.testing.assert_array_equal(values, frame.to_numpy(dtype=np.float64))
    assert list(frame.index) == list(X.index)


def test_artifact_is_readable_versioned_json(saved, pairs):
    X, y = pairs
    doc = json.loads(saved["boosting"].read_text())
    assert doc["format"] == "ekjon.match-model" and doc["format_version"] == 1
    assert re.fullmatch(r"pc-boosting-\d{8}-[0-9a-f]{8}", doc["model_version"])
    assert [f["name"] for f in doc["features"]] == list(X.columns)
    assert doc["features"][0]["level_labels"][0] == ">= 1"
    assert doc["training"]["n_pairs"] == len(X)
    assert doc["training"]["n_positives"] == int(y.sum())
    assert doc["training"]["label_source"] == "simulated pairs"
    assert set(doc["training"]["missing_rate"]) == set(X.columns)
    for key in ("precision", "recall", "f1", "roc_auc", "brier"):
        assert 0.0 <= doc["metrics"][key] <= 1.0
    assert doc["calibration"]["method"] == "isotonic"
    first_split = doc["model"]["trees"][0][0]
    assert first_split["feature"] in X.columns and first_split["missing"] in ("left", "right")
    assert doc["created_at"].endswith("+00:00")


def test_logistic_artifact_lists_a_weight_per_level(saved):
    doc = json.loads(saved["logistic"].read_text())
    weights = {w["feature"]: w for w in doc["model"]["weights"]}
    name_levels = next(f for f in doc["features"] if f["name"] == "name_similarity")
    assert len(weights["name_similarity"]["level_weights"]) == len(name_levels["level_labels"])
    assert doc["calibration"]["method"] == "sigmoid"


def test_fellegi_sunter_artifact_lists_m_and_u(saved):
    doc = json.loads(saved["fellegi_sunter"].read_text())
    assert doc["model_version"].startswith("fs-em-")
    assert doc["training"]["label_source"] == "simulated pairs"
    level = doc["model"]["levels"][0]
    assert len(level["m"]) == len(level["u"]) == len(doc["features"][0]["level_labels"])


def test_same_model_gets_the_same_version_hash(fitted, tmp_path):
    a = json.loads(save(fitted["logistic"], tmp_path / "a.json").read_text())
    b = json.loads(save(fitted["logistic"], tmp_path / "b.json").read_text())
    assert a["model_version"] == b["model_version"]


def test_pickle_file_is_refused(tmp_path, fitted):
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps({"not": "a model"}))
    with pytest.raises(ArtifactError, match="is not a JSON match-model artifact"):
        load(path)


def test_other_json_is_refused(tmp_path):
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"link_type": "dedupe_only"}))
    with pytest.raises(ArtifactError, match="is not an ekjon match-model artifact"):
        load(path)


def test_tampered_file_is_refused(saved, tmp_path):
    doc = json.loads(saved["logistic"].read_text())
    doc["model"]["intercept"] += 5.0
    path = tmp_path / "tampered.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(ArtifactError, match="was changed after it was saved"):
        load(path)


def test_newer_format_version_is_refused(saved, tmp_path):
    doc = json.loads(saved["logistic"].read_text())
    doc["format_version"] = 99
    path = tmp_path / "future.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(ArtifactError, match="format version 99"):
        load(path)


def test_loaded_model_names_missing_and_extra_columns(saved, holdout_pairs):
    X, _ = holdout_pairs
    loaded = load(saved["boosting"])
    wrong = X.drop(columns=["same_phone"]).assign(same_wallet=1.0)
    with pytest.raises(FeatureError) as err:
        loaded.predict_proba(wrong)
    assert "missing columns ['same_phone']" in str(err.value)
    assert "extra columns ['same_wallet']" in str(err.value)


def test_unfitted_model_cannot_be_saved(tmp_path):
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        save(PairClassifier(), tmp_path / "m.json")


def test_malformed_tree_is_refused_even_with_a_matching_checksum(saved, tmp_path):
    from models.artifacts import _checksum

    doc = json.loads(saved["boosting"].read_text())
    root = doc["model"]["trees"][0][0]
    root["left"] = 10**6
    doc["checksum"] = _checksum(doc)
    path = tmp_path / "malformed.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(ArtifactError, match="outside the tree"):
        load(path)
