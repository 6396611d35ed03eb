"""Clustering: confident links join, weak bridges and cannot-links split."""

from __future__ import annotations

import numpy as np
import pandas as pd

from engine.resolve.cluster import (
    ClusterStats,
    cluster_records,
    cluster_with_households,
    complete_pairs,
    components,
    household_evidence,
    logodds,
)


def _same(labels: np.ndarray, a: int, b: int) -> bool:
    return bool(labels[a] == labels[b])


def test_confident_pairs_make_one_person_and_unlinked_records_stay_alone() -> None:
    labels = cluster_records(4, np.array([0, 1, 0]), np.array([1, 2, 2]), np.array([6.0, 5.0, 4.0]))
    assert _same(labels, 0, 1) and _same(labels, 1, 2)
    assert not _same(labels, 0, 3)
    assert sorted(np.bincount(labels).tolist()) == [1, 3]


def test_a_weak_bridge_between_two_people_is_cut() -> None:
    # person A = {0, 1}, person B = {2, 3}; 1 ~ 2 weakly (a shared wallet), the rest clearly apart
    left = np.array([0, 2, 1, 0, 0, 1, 1, 3])
    right = np.array([1, 3, 2, 2, 3, 3, 2, 0])
    weight = np.array([8.0, 8.0, 0.5, -6.0, -6.0, -6.0, 0.5, -6.0])
    labels = cluster_records(4, left, right, weight)
    assert _same(labels, 0, 1) and _same(labels, 2, 3)
    assert not _same(labels, 1, 2)


def test_two_different_nids_never_end_in_one_person() -> None:
    # 0 ~ 1 and 1 ~ 2 confidently, but 0 and 2 carry different NIDs (cannot-link)
    left, right = np.array([0, 1, 0]), np.array([1, 2, 2])
    weight = np.array([9.0, 9.0, 3.0])
    cannot = np.array([False, False, True])
    stats = ClusterStats()
    labels = cluster_records(3, left, right, weight, cannot, stats=stats)
    assert not _same(labels, 0, 2)
    assert stats.split == 1
    # the record goes with the side it is closer to, never with both
    assert _same(labels, 0, 1) != _same(labels, 1, 2)


def test_a_household_chained_by_positive_links_is_split_by_average_evidence() -> None:
    # chain 0-1-2-3-4 of moderately positive links; ends clearly different from each other
    n = 5
    left, right, weight = [], [], []
    for i in range(n):
        for j in range(i + 1, n):
            left.append(i)
            right.append(j)
            weight.append(3.0 if j == i + 1 else -5.0)
    labels = cluster_records(n, np.array(left), np.array(right), np.array(weight))
    assert len(np.unique(labels)) >= 3


def test_components_and_completion_list_the_missing_pairs() -> None:
    left, right = np.array([0, 1]), np.array([1, 2])
    labels = components(4, left, right, np.array([True, True]))
    extra = complete_pairs(labels, pd.DataFrame({"left": left, "right": right}))
    assert list(zip(extra["left"], extra["right"], strict=True)) == [(0, 2)]


def test_completion_lists_every_unscored_pair_inside_each_small_component() -> None:
    """Against the plain definition, on random pairs: components of 3 to max_size records, every
    pair inside not yet scored, once, in order; scored pairs across or in larger components do
    not hide any."""
    rng = np.random.default_rng(4)
    n = 400
    left = rng.integers(0, n, 900)
    right = rng.integers(0, n, 900)
    keep = left < right
    known = pd.DataFrame({"left": left[keep], "right": right[keep]}).drop_duplicates()
    strong = rng.random(len(known)) < 0.35
    labels = components(n, known["left"].to_numpy(), known["right"].to_numpy(), strong)
    extra = complete_pairs(labels, known, max_size=8)

    sizes = np.bincount(labels)
    scored = set(zip(known["left"], known["right"], strict=True))
    expected = [
        (i, j)
        for i in range(n)
        for j in range(i + 1, n)
        if labels[i] == labels[j] and 3 <= sizes[labels[i]] <= 8 and (i, j) not in scored
    ]
    got = list(zip(extra["left"].tolist(), extra["right"].tolist(), strict=True))
    assert sorted(got) == expected and len(set(got)) == len(got)
    assert len(expected) > 20  # the world has such components


def test_logodds_is_symmetric_and_bounded() -> None:
    w = logodds(np.array([0.5, 0.9, 0.1, 1.0, 0.0]))
    assert w[0] == 0 and np.isclose(w[1], -w[2])
    assert np.isfinite(w).all()


def test_records_without_a_confident_pair_each_stay_alone() -> None:
    # one source only: two pairs scored, neither a link (was an IndexError)
    labels = cluster_records(3, np.array([0, 1]), np.array([1, 2]), np.array([-4.0, -1.0]))
    assert sorted(labels.tolist()) == [0, 1, 2]
    assert cluster_records(2, np.array([]), np.array([]), np.array([])).tolist() == [0, 1]


def test_tied_links_are_broken_by_record_order_not_row_order() -> None:
    # 1 links equally well to 0 and 2, who cannot be one person: 1 joins whichever ranks first
    left, right = np.array([0, 1, 0]), np.array([1, 2, 2])
    weight, cannot = np.array([20.0, 20.0, -5.0]), np.array([False, False, True])
    first = cluster_records(3, left, right, weight, cannot, order=np.array([0, 1, 2]))
    assert _same(first, 0, 1) and not _same(first, 1, 2)
    last = cluster_records(3, left, right, weight, cannot, order=np.array([2, 1, 0]))
    assert _same(last, 1, 2) and not _same(last, 0, 1)


def _a_household_and_its_wife_s_namesakes() -> tuple[pd.DataFrame, pd.DataFrame]:
    """A survey household (husband 0, wife 1, both giving the household phone 111), the
    husband's allowance record (2, giving the wife's phone 222), the wife's SIM registration (3,
    phone 222) and a namesake's (4, phone 333) in the same district: the survey gives the wife's
    name and age only, so both SIM records score alike against her."""
    records = pd.DataFrame(
        {
            "source": ["bbs", "bbs", "dss", "sim", "sim"],
            "household": [7, 7, -1, -1, -1],
            "phone": [111, 111, 222, 222, 333],
            "wallet": [-1, -1, -1, -1, -1],
            "phone_names": [2, 2, 2, 2, 1],
            "wallet_names": [0, 0, 0, 0, 0],
        }
    )
    pairs = pd.DataFrame(
        {
            "left": [0, 1, 1, 2],
            "right": [2, 3, 4, 3],
            "probability": [0.99, 0.3, 0.3, 0.01],
        }
    )
    pairs["weight"] = logodds(pairs["probability"].to_numpy())
    pairs["cannot_link"] = False
    return records, pairs


def _households_clustered(
    records: pd.DataFrame, pairs: pd.DataFrame, stats: ClusterStats | None = None
) -> list[int]:
    labels, _ = cluster_with_households(
        len(records),
        pairs["left"].to_numpy(),
        pairs["right"].to_numpy(),
        pairs["weight"].to_numpy(),
        pairs["cannot_link"].to_numpy(),
        pairs["probability"].to_numpy(),
        records,
        stats=stats,
    )
    return labels.tolist()


def test_a_survey_member_joins_the_namesake_whose_number_her_household_holds() -> None:
    records, pairs = _a_household_and_its_wife_s_namesakes()
    stats = ClusterStats()
    labels = _households_clustered(records, pairs, stats)
    assert stats.household_links == 1
    assert labels[0] == labels[2] != labels[1]  # husband and his allowance; the wife apart
    assert labels[1] == labels[3]  # the wife and the SIM whose phone her husband's record gives
    assert labels[4] not in (labels[1], labels[0])  # the namesake stays alone
    # without the household, or with the number a phone farm's, she stays alone
    alone = _households_clustered(records.assign(household=-1), pairs)
    assert alone[1] not in (alone[3], alone[4])
    farm = records.assign(phone_names=[2, 2, 40, 40, 1])
    alone = _households_clustered(farm, pairs)
    assert alone[1] != alone[3]
    # nor when her household's persons hold no number at all
    alone = _households_clustered(records.assign(phone=[-1, -1, -1, 222, 333]), pairs)
    assert alone[1] not in (alone[3], alone[4])


def _evidence(records: pd.DataFrame, pairs: pd.DataFrame, person: np.ndarray) -> np.ndarray:
    return household_evidence(
        person,
        pairs["left"].to_numpy(),
        pairs["right"].to_numpy(),
        pairs["probability"].to_numpy(),
        pairs["cannot_link"].to_numpy(),
        records,
    )


def test_household_evidence_never_links_a_candidate_holding_another_member() -> None:
    records, pairs = _a_household_and_its_wife_s_namesakes()
    person = np.array([0, 1, 0, 2, 3])
    mask = _evidence(records, pairs, person)
    assert mask.tolist() == [False, True, False, False]
    # the SIM record's person already holds the husband's survey record: it is his, not hers
    person = np.array([0, 1, 0, 0, 3])
    mask = _evidence(records, pairs, person)
    assert not mask.any()
