"""Reviewers' decisions: kept, the latest in force, honoured by clustering, become labels."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from engine.identity.assign import assign_person_ids
from engine.identity.ledger import IdentityLedger
from engine.resolve.cluster import cluster_records
from engine.resolve.decisions import (
    DecisionError,
    DecisionStore,
    apply_to_pairs,
    consistent,
    decided_pairs,
    decision_reasons,
    enforce,
    unblocked_pairs,
)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DecisionStore]:
    with DecisionStore(tmp_path / "decisions.sqlite") as opened:
        yield opened


def test_the_latest_decision_about_a_pair_wins_and_history_is_kept(store: DecisionStore) -> None:
    store.record("dss/1", "pesp/7", "same", reviewer="rahim", reason="same NID card")
    store.record("pesp/7", "dss/1", "not-same", reviewer="karim", reason="different fathers")
    assert store.must_links().empty
    cannot = store.cannot_links()
    assert cannot[["a", "b", "reviewer", "reason"]].values.tolist() == [
        ["dss/1", "pesp/7", "karim", "different fathers"]
    ]
    assert store.history("dss/1", "pesp/7")["verdict"].tolist() == ["same", "not_same"]


def test_decisions_survive_reopening_the_store(tmp_path: Path) -> None:
    with DecisionStore(tmp_path / "decisions.sqlite") as first:
        first.record("dss/1", "pesp/7", "same", reviewer="rahim", reason="same NID card")
    with DecisionStore(tmp_path / "decisions.sqlite") as again:
        assert again.must_links()[["a", "b"]].values.tolist() == [["dss/1", "pesp/7"]]


def test_decisions_become_training_labels(store: DecisionStore) -> None:
    store.record("dss/1", "pesp/7", "same", reviewer="rahim", reason="same NID card")
    store.record("dss/2", "nhd/h1:2", "not_same", reviewer="rahim", reason="twins")
    labels = store.as_training_labels()
    assert labels.values.tolist() == [["dss/1", "pesp/7", 1], ["dss/2", "nhd/h1:2", 0]]

    # and in the form the training step reads: the decided pairs get those labels
    from engine.quality.training import apply_decisions

    prepared = pd.DataFrame(
        {"source": ["dss", "pesp", "dss", "nhd"], "record_id": ["1", "7", "2", "h1:2"]}
    )
    pairs = pd.DataFrame({"left": [0], "right": [1], "rules": [1]})
    out, out_labels = apply_decisions(prepared, pairs, np.array([0], np.int8), store.for_training())
    decided = dict(zip(zip(out["left"], out["right"], strict=True), out_labels, strict=True))
    assert decided == {(0, 1): 1, (2, 3): 0}


@pytest.mark.parametrize(
    ("a", "b", "verdict", "reason", "message"),
    [
        ("dss/1", "dss/99", "same", "x", "'dss/99' is not a known record"),
        ("dss/1", "99", "same", "x", "'99' is not a record key"),
        ("dss/1", "dss/1", "same", "x", "two different records"),
        ("dss/1", "pesp/7", "maybe", "x", "Got 'maybe'"),
        ("dss/1", "pesp/7", "same", " ", "has no reason"),
    ],
)
def test_a_bad_decision_is_refused_with_a_clear_message(
    store: DecisionStore, a: str, b: str, verdict: str, reason: str, message: str
) -> None:
    with pytest.raises(DecisionError, match=message):
        store.record(a, b, verdict, reviewer="rahim", reason=reason, known_keys={"dss/1", "pesp/7"})
    assert len(store) == 0


# --- decisions in the clustering step -----------------------------------------------------------

KEYS = ["dss/1", "pesp/7", "nhd/h1:1", "dss/2"]
# dss/1, pesp/7 and nhd/h1:1 look like one person; dss/2 looks like someone else
PAIRS = pd.DataFrame(
    {
        "left": [0, 0, 1, 0],
        "right": [1, 2, 2, 3],
        "rules": [1, 1, 1, 1],
        "probability": [0.99, 0.98, 0.98, 0.2],
        "weight": [6.0, 5.0, 5.0, -1.5],
        "cannot_link": [False, False, False, False],
    }
)


def _batch(
    keys: list[str], pairs: pd.DataFrame, store: DecisionStore, ledger: IdentityLedger
) -> dict[str, str]:
    """The clustering step as the pipeline runs it, with the decision hooks, then stable IDs."""
    current = store.current()
    decided = decided_pairs(keys, current)
    pairs = apply_to_pairs(pairs, decided)
    labels = cluster_records(
        len(keys),
        pairs["left"].to_numpy(),
        pairs["right"].to_numpy(),
        pairs["weight"].to_numpy(),
        pairs["cannot_link"].to_numpy(),
    )
    labels = enforce(labels, decided)
    clusters = pd.DataFrame(
        {"record_key": keys, "cluster": labels, "reason": decision_reasons(keys, labels, current)}
    )
    assigned = assign_person_ids(ledger, clusters, model_version="m1")
    return dict(zip(assigned["record_key"], assigned["person_id"], strict=True))


def test_not_same_splits_a_cluster_on_the_next_run_and_stays_split(
    store: DecisionStore, tmp_path: Path
) -> None:
    with IdentityLedger(tmp_path / "identity.sqlite") as ledger:
        first = _batch(KEYS, PAIRS, store, ledger)
        assert first["dss/1"] == first["pesp/7"] == first["nhd/h1:1"]

        store.record("dss/1", "nhd/h1:1", "not_same", reviewer="rahim", reason="son, not father")
        second = _batch(KEYS, PAIRS, store, ledger)
        assert second["dss/1"] == second["pesp/7"] == first["dss/1"]
        son = second["nhd/h1:1"]
        assert son != first["dss/1"]
        split = ledger.history(son)
        assert split["event"].tolist() == ["split"]
        assert "reviewer decision: not same dss/1 / nhd/h1:1 by rahim" in split.iloc[0]["reason"]

        # more data arrives and the model still likes the pair: the decision holds, IDs stay
        keys = [*KEYS, "ec/x1"]
        pairs = pd.concat(
            [
                PAIRS,
                pd.DataFrame(
                    {
                        "left": [2],
                        "right": [4],
                        "rules": [1],
                        "probability": [0.99],
                        "weight": [7.0],
                        "cannot_link": [False],
                    }
                ),
            ],
            ignore_index=True,
        )
        third = _batch(keys, pairs, store, ledger)
        assert third["nhd/h1:1"] == third["ec/x1"] == son
        assert third["dss/1"] == third["pesp/7"] == first["dss/1"]


def test_same_joins_two_clusters(store: DecisionStore, tmp_path: Path) -> None:
    with IdentityLedger(tmp_path / "identity.sqlite") as ledger:
        first = _batch(KEYS, PAIRS, store, ledger)
        assert first["dss/2"] != first["dss/1"]
        store.record("dss/2", "pesp/7", "same", reviewer="rahim", reason="same person, new NID")
        joined = _batch(KEYS, PAIRS, store, ledger)
        assert len(set(joined.values())) == 1
        merge = ledger.history(first["dss/2"])
        assert merge["event"].tolist() == ["new", "merge"]
        assert "reviewer decision: same" in merge.iloc[1]["reason"]


def test_same_never_joins_across_a_not_same() -> None:
    decided = pd.DataFrame(
        {"left": [0, 1], "right": [2, 2], "same": [False, True]}
    )  # 0 != 2, 1 == 2; 0 and 1 are already one cluster
    labels = enforce(np.array([5, 5, 9]), decided)
    assert labels[0] == labels[1] and labels[1] != labels[2]


def test_not_same_left_together_by_clustering_is_taken_apart() -> None:
    decided = pd.DataFrame({"left": [0], "right": [1], "same": [False]})
    labels = enforce(np.array([3, 3, 3]), decided)
    assert labels[0] == labels[2] and labels[0] != labels[1]


def test_decided_pairs_outside_blocking_are_added_and_blocked_ones_overridden() -> None:
    decided = pd.DataFrame({"left": [0, 2], "right": [1, 3], "same": [False, True]})
    pairs = apply_to_pairs(PAIRS, decided)
    assert len(pairs) == len(PAIRS) + 1
    assert pairs.index[: len(PAIRS)].tolist() == PAIRS.index.tolist()
    first = pairs[(pairs["left"] == 0) & (pairs["right"] == 1)].iloc[0]
    assert first["cannot_link"] and first["probability"] == 0.0 and first["reviewed"]
    added = pairs.iloc[-1]
    assert (added["left"], added["right"], added["rules"]) == (2, 3, 0)
    assert added["weight"] > 0 and not added["cannot_link"]
    # the pipeline may instead score the unblocked pair with the candidates first
    assert unblocked_pairs(PAIRS, decided).values.tolist() == [[2, 3, 0]]


def test_a_decision_that_contradicts_those_in_force_is_refused_naming_them(
    store: DecisionStore,
) -> None:
    store.record("dss/1", "pesp/7", "same", reviewer="rahim", reason="same NID card")
    store.record("pesp/7", "ec/x1", "same", reviewer="karim", reason="same photo")
    with pytest.raises(DecisionError) as refused:
        store.record("dss/1", "ec/x1", "not_same", reviewer="salma", reason="different fathers")
    message = str(refused.value)
    assert "dss/1 and ec/x1 are not the same person" in message
    assert "#1 dss/1 same pesp/7 (by rahim: same NID card)" in message
    assert "#2 ec/x1 same pesp/7 (by karim: same photo)" in message
    assert "reverse it first" in message
    assert len(store) == 2  # nothing written

    # the other way round: a "same" that would join across a "not same"
    store.record("dss/9", "nhd/h1:1", "not_same", reviewer="salma", reason="son, not father")
    store.record("nhd/h1:1", "bdris/5", "same", reviewer="salma", reason="same BRN")
    with pytest.raises(DecisionError, match=r"#3 dss/9 not same nhd/h1:1") as joined:
        store.record("dss/9", "bdris/5", "same", reviewer="rahim", reason="looks alike")
    assert "#4 bdris/5 same nhd/h1:1" in str(joined.value)

    # reversing the wrong decision first, the reviewer can decide
    store.record("pesp/7", "ec/x1", "not_same", reviewer="karim", reason="photo was wrong")
    kept = store.record("dss/1", "ec/x1", "not_same", reviewer="salma", reason="different fathers")
    assert kept.verdict == "not_same"
    assert consistent(store.current())[1] == []


def test_contradictions_already_in_force_are_left_out_oldest_first() -> None:
    """Decisions written by an older ekjon (no check then): the later one is left out."""
    current = pd.DataFrame(
        {
            "decision_id": [1, 2, 3, 4],
            "a": ["a/1", "a/2", "a/1", "a/8"],
            "b": ["a/2", "a/3", "a/3", "a/9"],
            "verdict": ["same", "same", "not_same", "not_same"],
            "reviewer": ["r"] * 4,
            "reason": ["x"] * 4,
            "decided_at": ["2025-01-01T00:00:00+00:00"] * 4,
        }
    )
    kept, contradictions = consistent(current)
    assert kept["decision_id"].tolist() == [1, 2, 4]
    [left_out] = contradictions
    assert left_out.decision.decision_id == 3
    assert [d.decision_id for d in left_out.earlier] == [1, 2]
    assert str(left_out).startswith("reviewer decision #3 a/1 not same a/3 (by r: x) contradicts")
