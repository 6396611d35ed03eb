"""The batch resolve end to end on a small hand-made world, and the evaluation measures."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from engine.quality.evaluate import bcubed_scores, error_pairs, evaluate, pairwise_scores
from engine.resolve.pipeline import resolve


class RuleModel:
    """A transparent stand-in for a trained model: same name + compatible birth year, no NID
    conflict."""

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        name = X["name_sort"].fillna(0).to_numpy()
        gap = X["year_gap"].fillna(0).to_numpy()
        nid = X["nid_match"].to_numpy()
        match = (name >= 0.85) & (gap <= 1) & (nid != 0)
        match |= nid == 1
        p = np.where(match, 0.98, 0.02)
        return np.column_stack([1 - p, p])


def _world() -> tuple[pd.DataFrame, np.ndarray]:
    rows = [
        # person A in three sources, one Bangla-only, one with the 17-digit NID
        (
            "dss",
            "1",
            dict(
                full_name="Md. Abdul Karim",
                date_of_birth="1960-05-02",
                nid="2612345678901",
                phone="01711234567",
            ),
            "A",
        ),
        ("pesp", "7", dict(full_name_bn="মোঃ আব্দুল করিম", date_of_birth="1960-05-02"), "A"),
        (
            "ec",
            "x1",
            dict(full_name="Abdul Karim", full_name_bn="আব্দুল করিম", nid="19602612345678901"),
            "A",
        ),
        # his wife shares his phone: must stay apart
        (
            "dss",
            "2",
            dict(full_name="Rahima Begum", date_of_birth="1965-01-01", phone="01711234567"),
            "B",
        ),
        (
            "nhd",
            "h1:2",
            dict(full_name="Rohima Begom", age=52, age_as_of="2017-06-30", household_id="h1"),
            "B",
        ),
        # their son carries the father's name, 30 years younger, different NID
        (
            "nhd",
            "h1:3",
            dict(
                full_name="Abdul Karim",
                age=27,
                age_as_of="2017-06-30",
                household_id="h1",
                nid="2612345678999",
            ),
            "C",
        ),
        # someone unrelated
        ("dss", "3", dict(full_name="Sushila Rani Das", date_of_birth="1955-11-20"), "D"),
    ]
    # everyone lives in one union of Dhaka
    place = {"district": "BD3026", "upazila": "savar", "union": "ashulia"}
    records = pd.DataFrame([{"source": s, "record_id": r, **place, **v} for s, r, v, _ in rows])
    return records, np.array([t for *_, t in rows])


def test_resolve_finds_the_persons_across_scripts_without_chaining_the_household() -> None:
    records, truth = _world()
    resolution = resolve(records, RuleModel())
    person = resolution.person
    assert len(person) == len(records)
    assert person[0] == person[1] == person[2]  # English, Bangla-only and EC forms of one man
    assert person[3] == person[4]  # his wife in two sources
    assert person[0] != person[3]  # shared phone did not make them one
    assert person[5] != person[0]  # the son named after him stays his own person
    assert evaluate(person, truth).pairwise.f1 == pytest.approx(1.0)
    out = resolution.assignments()
    assert list(out.columns) == ["source", "record_id", "cluster"]
    assert {"probability", "weight", "cannot_link"} <= set(resolution.pairs.columns)


def test_pairwise_and_bcubed_scores_on_a_known_clustering() -> None:
    truth = np.array([1, 1, 1, 2, 2])
    predicted = np.array([1, 1, 2, 2, 2])  # record 2 wrongly with person 2
    pw = pairwise_scores(predicted, truth)
    # predicted pairs: (0,1), (2,3), (2,4), (3,4): 2 true; true pairs: 4
    assert pw.precision == pytest.approx(0.5) and pw.recall == pytest.approx(0.5)
    b3 = bcubed_scores(predicted, truth)
    assert b3.precision == pytest.approx((1 + 1 + 1 / 3 + 2 / 3 + 2 / 3) / 5)
    focus = np.array([False, False, True, False, False])
    sliced = pairwise_scores(predicted, truth, focus)
    # pairs touching record 2: predicted (2,3), (2,4) both false; true (0,2), (1,2) both missed
    assert sliced.precision == 0 and sliced.recall == 0


def test_errors_are_listed_with_their_reason() -> None:
    truth = np.array([1, 1, 2])
    predicted = np.array([1, 2, 2])
    pairs = pd.DataFrame({"left": [0, 1], "right": [1, 2], "probability": [0.3, 0.9]})
    errors = error_pairs(predicted, truth, pairs)
    by_kind = dict(zip(errors["error"], errors["reason"], strict=True))
    assert by_kind == {"false_merge": "scored_match", "missed_link": "scored_low"}


def test_training_labels_come_from_truth_and_reviewer_decisions_outrank_it() -> None:
    from engine.quality.training import labelled_pairs

    records, truth_labels = _world()
    truth = records[["source", "record_id"]].assign(person_id=truth_labels)
    decisions = pd.DataFrame(
        {
            "left_source": ["dss", "dss"],
            "left_record_id": ["1", "3"],
            "right_source": ["ec", "nhd"],
            "right_record_id": ["x1", "h1:3"],
            "same": [False, False],  # a reviewer overrules truth on the first pair
        }
    )
    data = labelled_pairs(records, truth, decisions)
    pairs = data.pairs.assign(label=data.labels)
    by_pair = {(int(a), int(b)): int(y) for a, b, y in pairs[["left", "right", "label"]].values}
    assert by_pair[(0, 2)] == 0  # truth says same person, the reviewer said not
    assert by_pair[(3, 4)] == 1  # the wife's two records, from truth
    assert by_pair[(5, 6)] == 0  # a decided pair blocking never proposed is added
    assert len(data.features) == len(data.pairs)


def test_the_shipped_model_resolves_the_small_world() -> None:
    from engine.quality.training import DEFAULT_ARTIFACT, load_model

    records, truth = _world()
    resolution = resolve(records, load_model(DEFAULT_ARTIFACT))
    person = resolution.person
    assert person[0] == person[1] == person[2]  # across scripts and NID forms
    assert person[0] != person[3]  # his wife, who uses his phone
    assert person[0] != person[5]  # his son, who carries his name
    assert pairwise_scores(person, truth).precision == pytest.approx(1.0)


def test_errors_are_explained_feature_by_feature() -> None:
    from engine.quality.evaluate import explain_errors
    from engine.quality.training import DEFAULT_ARTIFACT, load_model

    records, truth = _world()
    model = load_model(DEFAULT_ARTIFACT)
    resolution = resolve(records, model)
    # pretend the son (row 5) is his father, and the father's Bangla record (row 1) someone else
    wrong_truth = truth.copy()
    wrong_truth[5] = "A"
    wrong_truth[1] = "Z"
    errors = error_pairs(resolution.person, wrong_truth, resolution.pairs)
    explained = explain_errors(errors, resolution.prepared, model)

    assert len(explained) == len(errors)
    by_pair = explained.set_index(["left", "right"])
    merge = by_pair.loc[(0, 1)]  # one man's records, which this truth calls two people
    assert merge["error"] == "false_merge"
    assert merge["for"].startswith("+") and "names agree" in merge["for"]
    son = by_pair.loc[(0, 5)]  # the son, which this truth calls his father: a missed link
    assert son["error"] == "missed_link"
    assert "two different valid NIDs" in son["cannot_link"]
    assert son["against"].startswith("-")
    # every explained pair's contributions add up to the model's score
    contributions = explained.filter(like="contribution_").sum(axis=1) + explained["bias"]
    np.testing.assert_allclose(contributions, explained["score"], atol=1e-9)
    assert explained["probability"].notna().all()  # pairs blocking never compared are scored


def test_pairs_scored_in_worker_processes_give_the_same_scores_and_persons(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import engine.resolve.pipeline as pipeline
    from engine.quality.training import DEFAULT_ARTIFACT, load_model
    from engine.resolve.pipeline import ResolveSettings
    from synth.load import load_world, synthesise

    records = load_world(synthesise(1_500, 5, tmp_path / "world"))
    model = load_model(DEFAULT_ARTIFACT)
    settings = ResolveSettings(chunk_pairs=1_000)  # many chunks, shared by the workers
    forked: list[bool] = []
    in_workers = pipeline._score_in_workers

    def spy(*args, **kwargs):
        forked.append(in_workers(*args, **kwargs))
        return forked[-1]

    monkeypatch.setattr(pipeline, "_score_in_workers", spy)
    alone = resolve(records, model, settings, workers=1)
    assert forked == []
    shared = resolve(records, model, settings, workers=2)
    assert forked and all(forked)  # scored and completed in workers
    assert len(alone.pairs) > 5 * settings.chunk_pairs
    pd.testing.assert_frame_equal(alone.pairs, shared.pairs)
    np.testing.assert_array_equal(alone.person, shared.person)
