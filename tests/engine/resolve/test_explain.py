"""Explanations: why a pair scored as it did, in numbers that add up and words an auditor reads."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from engine.quality.training import load_model
from engine.resolve.compare import FEATURES
from engine.resolve.explain import (
    UnknownRecord,
    explain_features,
    explain_frame,
    explain_pair,
    meaning,
)
from engine.resolve.pipeline import ResolveSettings, resolve


@pytest.fixture(scope="module")
def model():
    return load_model()


def _records() -> pd.DataFrame:
    rows = [
        dict(
            source="dss",
            record_id="1",
            full_name="Md. Abdul Karim",
            date_of_birth="1960-05-02",
            gender="male",
            nid="2612345678901",
            phone="01711234567",
            district="BD3026",
            upazila="savar",
            union="ashulia",
        ),
        dict(
            source="pesp", record_id="7", full_name_bn="মোঃ আব্দুল করিম", date_of_birth="1960-05-02"
        ),
        dict(
            source="dss",
            record_id="2",
            full_name="Rahima Begum",
            date_of_birth="1965-03-11",
            gender="female",
            phone="01711234567",
        ),
        dict(
            source="ec",
            record_id="x9",
            full_name="Abdul Karim",
            date_of_birth="1960-05-02",
            gender="male",
            nid="2612345670000",
        ),
    ]
    return pd.DataFrame(rows)


def test_a_cross_script_link_is_explained_and_its_numbers_add_up(model) -> None:
    explanation = explain_pair(_records(), "dss/1", "pesp/7", model)
    assert explanation.links and explanation.probability > 0.9
    assert explanation.left == "dss/1" and explanation.right == "pesp/7"
    contributions = [float(r.contribution or 0.0) for r in explanation.rows]
    assert None not in [r.contribution for r in explanation.rows]
    assert explanation.bias is not None
    assert explanation.score == pytest.approx(explanation.bias + sum(contributions))
    # strongest evidence first, either way
    assert [abs(c) for c in contributions] == sorted((abs(c) for c in contributions), reverse=True)
    name = next(r for r in explanation.rows if r.feature == "name_sort")
    assert name.value == pytest.approx(1.0) and (name.contribution or 0.0) > 0
    assert name.meaning == "names agree across scripts (1.00)"
    text = explanation.to_text()
    assert text.splitlines()[0].startswith("dss/1 ~ pesp/7: probability")
    assert "names agree across scripts (1.00)" in text


def test_two_different_nids_are_named_as_the_reason_never_to_link(model) -> None:
    explanation = explain_pair(_records(), "dss/1", "ec/x9", model)
    assert explanation.cannot_link == ["two different valid NIDs"]
    assert not explanation.links
    nid = next(r for r in explanation.rows if r.feature == "nid_match")
    assert nid.value == 0 and nid.meaning == "two different valid NIDs"
    assert "cannot link: two different valid NIDs" in explanation.to_text()


def test_the_explanation_is_plain_json(model) -> None:
    explanation = explain_pair(_records(), "dss/1", "dss/2", model)
    document = json.loads(json.dumps(explanation.to_dict()))
    assert document["left"] == "dss/1"
    missing = [r for r in document["rows"] if r["value"] is None]
    assert missing, "some features are not comparable for this pair"
    assert {r["feature"] for r in document["rows"]} == set(FEATURES)


def test_an_unknown_record_key_is_refused_by_name(model) -> None:
    with pytest.raises(UnknownRecord, match="dss/99"):
        explain_pair(_records(), "dss/1", "dss/99", model)


def test_explain_frame_lists_reasons_for_every_scored_pair_of_a_batch(model) -> None:
    resolution = resolve(_records(), model, ResolveSettings(keep_features=True))
    assert resolution.features is not None
    frame = explain_frame(
        resolution.features, model, probability=resolution.pairs["probability"].to_numpy()
    )
    assert frame.index.equals(resolution.features.index)
    assert np.allclose(frame["probability"], resolution.pairs["probability"])
    linked = frame[frame["links"]]
    assert len(linked) and linked["for"].str.contains("names agree").all()
    assert (frame["cannot_link"] != "").sum() == resolution.pairs["cannot_link"].sum()
    contribution = frame[[f"contribution_{f}" for f in FEATURES]].sum(axis=1) + frame["bias"]
    assert np.allclose(contribution, frame["score"])


def test_a_model_that_cannot_explain_still_gets_values_in_words() -> None:
    class NameOnly:
        def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
            p = np.where(X["name_sort"].fillna(0) > 0.9, 0.95, 0.05)
            return np.column_stack([1 - p, p])

    features = pd.DataFrame([{f: np.nan for f in FEATURES} | {"name_sort": 0.97, "nid_match": 1}])
    explanation = explain_features(features, NameOnly(), left="a/1", right="b/2")
    assert explanation.probability == pytest.approx(0.95)
    assert explanation.score is None
    rows = {r.feature: r for r in explanation.rows}
    assert rows["nid_match"].meaning == "same NID card" and rows["nid_match"].contribution is None
    assert "names nearly agree (0.97)" in explanation.to_text()


@pytest.mark.parametrize(
    ("feature", "value", "expected"),
    [
        ("nid_match", 0.5, "NIDs one typo apart"),
        ("dob_match", 0.5, "same date of birth with day and month swapped"),
        ("geo_level", 2, "same upazila, different unions"),
        ("year_gap", 25, "birth years 25 years apart"),
        ("number_names", np.log(4), "the shared number is used under 4 different names"),
        ("same_household", 1, "members of one household of one source (never one person)"),
        ("father_sim", np.nan, "no father's name on one side"),
    ],
)
def test_values_read_as_plain_english(feature: str, value: float, expected: str) -> None:
    assert meaning(feature, value).startswith(expected)


def test_a_pairs_features_as_a_mapping_are_explained_as_its_frame_row_is(model) -> None:
    from engine.resolve.compare import compare
    from engine.resolve.prepare import prepare

    prepared = prepare(_records())
    features = compare(prepared, pd.DataFrame({"left": [0, 0], "right": [1, 3]}))
    for pair in range(2):
        row = features.iloc[[pair]]
        mapping = {name: float(value) for name, value in row.iloc[0].items()}
        contributions = model.explain(row[list(model.feature_names)])
        given = dict(zip(contributions.columns, contributions.to_numpy()[0].tolist(), strict=True))
        for kwargs in ({}, {"probability": 0.25}):
            a = _text(explain_features(row, model, left="a", right="b", **kwargs))
            b = _text(explain_features(mapping, model, left="a", right="b", **kwargs))
            c = _text(explain_features(mapping, model, contributions=given, left="a", **kwargs))
            assert a == b == c.replace('"right": ""', '"right": "b"')


def _text(explanation) -> str:
    return json.dumps(explanation.to_dict(), sort_keys=True)
