"""Candidate generation: shared keys make pairs, oversized blocks are refined or flagged."""

from __future__ import annotations

import numpy as np
import pandas as pd

from engine.resolve.blocking import BlockingRule, candidate_pairs, pairs_within_blocks


def _pairs(frame: pd.DataFrame) -> set[tuple[int, int]]:
    return set(zip(frame["left"].tolist(), frame["right"].tolist(), strict=True))


def test_pairs_within_blocks_makes_every_pair_once() -> None:
    record = np.array([0, 1, 2, 3, 4, 5])
    key = np.array([7, 7, 7, 9, 9, 8])
    left, right = pairs_within_blocks(record, key)
    assert sorted(zip(left.tolist(), right.tolist(), strict=True)) == [
        (0, 1),
        (0, 2),
        (1, 2),
        (3, 4),
    ]


def test_records_sharing_a_phone_or_wallet_become_pairs_and_missing_values_never_do() -> None:
    prepared = pd.DataFrame(
        {"numbers": [[1711], [1812, 1711], [1812], None, None], "nid_key": [-1, -1, 5, 5, -1]}
    )
    rules = [BlockingRule("phone", ("numbers",)), BlockingRule("nid", ("nid_key",))]
    pairs, report = candidate_pairs(prepared, rules)
    assert _pairs(pairs) == {(0, 1), (1, 2), (2, 3)}
    # (2, 3) came from the NID rule (bit 1) only
    assert pairs.set_index(["left", "right"]).loc[(2, 3), "rules"] == 2
    assert report.total_pairs == 3


def test_a_phone_farm_does_not_explode_into_all_pairs() -> None:
    # 200 records on one number: 5 people with 40 records each would pair within names only
    n = 200
    prepared = pd.DataFrame(
        {"numbers": [[1711]] * n, "name_keys": [[f"name{i % 5}"] for i in range(n)]}
    )
    rule = BlockingRule("phone", ("numbers",), max_block=50, refine=("name_keys",))
    pairs, report = candidate_pairs(prepared, [rule])
    assert len(pairs) == 5 * (40 * 39 // 2)  # not 19,900
    assert report.flagged["records"].tolist() == [200]
    assert report.flagged["action"].tolist() == ["refined"]


def test_an_oversized_block_without_refinement_is_dropped_and_flagged() -> None:
    prepared = pd.DataFrame({"phone": [1711] * 30 + [1812, 1812]})
    pairs, report = candidate_pairs(prepared, [BlockingRule("phone", ("phone",), max_block=10)])
    assert _pairs(pairs) == {(30, 31)}
    assert report.rules.loc[0, "dropped_records"] == 30


def test_blocking_recall_against_truth() -> None:
    prepared = pd.DataFrame({"phone": [1, 1, 2, 3]})
    truth = np.array(["a", "a", "b", "b"])  # 2 and 3 are one person but share nothing
    _, report = candidate_pairs(prepared, [BlockingRule("phone", ("phone",))], truth=truth)
    assert report.true_pairs == 2
    assert report.recall == 0.5


def test_list_columns_combine_as_every_pairing_of_their_values() -> None:
    # a name in two scripts x an age-derived range of two birth years
    prepared = pd.DataFrame(
        {
            "name_keys": [["krm", "karim"], ["karim"], ["krm"]],
            "birth_years": [[1980, 1981], [1981], [1979]],
        }
    )
    pairs, _ = candidate_pairs(prepared, [BlockingRule("name_year", ("name_keys", "birth_years"))])
    assert _pairs(pairs) == {(0, 1)}
