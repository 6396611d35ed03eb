"""Blocking coverage per pair of sources, and blocking from the fields sources share.

Sources carry different subsets of fields: an NID extract gives the date of birth and only the
district, a household survey ages and only the union, a SIM registry the phone and the name. Every
pair of such sources must be able to meet on some rule, and the report must say which pairs of
sources can meet only on an exact identifier.
"""

from __future__ import annotations

import pandas as pd

from engine.resolve.blocking import DEFAULT_RULES, candidate_pairs
from engine.resolve.coverage import coverage, is_identifier_rule
from engine.resolve.prepare import prepare


def _records(rows: list[dict[str, object]]) -> pd.DataFrame:
    return pd.DataFrame(
        [{"record_id": str(i), "kind": "programme", **row} for i, row in enumerate(rows)]
    )


def _pairs(pairs: pd.DataFrame) -> set[tuple[int, int]]:
    return set(zip(pairs["left"].tolist(), pairs["right"].tolist(), strict=True))


# one survey household's union lies in Savar upazila of Dhaka district: the survey's full records
# say so, which places the records that name only the union
SURVEY_PLACE = {"district": "BD3026", "upazila": "savar", "union": "ashulia"}


def test_an_extract_with_dates_and_districts_meets_a_survey_with_ages_and_unions() -> None:
    # the case of issue 14: no rule over a date on both sides or a union on both sides can fire
    records = _records(
        [
            {"source": "ec_nid", "full_name": "Md. Abdul Karim", "date_of_birth": "1980-03-11",
             "district": "BD3026", "nid": "19802612345678901"},
            {"source": "bbs_nhd", "full_name": "Abdul Karim", "age": 41,
             "age_as_of": "2022-06-15", "union": "ashulia"},
            {"source": "bbs_nhd", "full_name": "Rahima Begum", "age": 38,
             "age_as_of": "2022-06-15", **SURVEY_PLACE},
        ]
    )  # fmt: skip
    prepared = prepare(records)
    pairs, report = candidate_pairs(prepared)
    assert (0, 1) in _pairs(pairs)
    # the survey record that names only its union is placed in its upazila and district
    assert prepared.loc[1, "district"] == prepared.loc[0, "district"] == prepared.loc[2, "district"]
    assert prepared.loc[1, "upazila"] == prepared.loc[2, "upazila"] >= 0
    table = report.sources.pairs.set_index(["source_a", "source_b"])
    assert table.loc[("bbs_nhd", "ec_nid"), "pairs"] >= 1
    assert "full_name_year" in table.loc[("bbs_nhd", "ec_nid"), "rules_fired"]
    assert not report.sources.warnings


def test_names_in_bangla_and_english_meet_across_the_country_on_name_and_birth_year() -> None:
    # no geography on one side (a SIM registry), an age on the other
    records = _records(
        [
            {"source": "btrc_sim", "full_name_bn": "রহিমা বেগম", "date_of_birth": "1984-05-02",
             "phone": "01711234567"},
            {"source": "bbs_nhd", "full_name": "Rahima Begum", "age": 38,
             "age_as_of": "2022-06-15", **SURVEY_PLACE},
        ]
    )  # fmt: skip
    pairs, _ = candidate_pairs(prepare(records))
    assert _pairs(pairs) == {(0, 1)}


def test_sources_that_can_meet_only_on_a_phone_are_warned_about() -> None:
    records = _records(
        [
            # a SIM registry: names and phones, nothing else
            {"source": "btrc_sim", "full_name": "Abdul Karim", "phone": "01711234567"},
            {"source": "btrc_sim", "full_name": "Nurul Islam", "phone": "01811234567"},
            # a survey: names, ages, the union and a phone
            {"source": "bbs_nhd", "full_name": "Abdul Karim", "age": 41,
             "age_as_of": "2022-06-15", **SURVEY_PLACE, "phone": "01711234567"},
            {"source": "bbs_nhd", "full_name": "Jahanara Khatun", "age": 35,
             "age_as_of": "2022-06-15", **SURVEY_PLACE},
        ]
    )  # fmt: skip
    pairs, report = candidate_pairs(prepare(records))
    warnings = report.sources.warnings
    assert len(warnings) == 1
    assert "bbs_nhd and btrc_sim can meet only on an exact identifier (phone)" in warnings[0]
    row = report.sources.pairs.set_index(["source_a", "source_b"]).loc[("bbs_nhd", "btrc_sim")]
    assert row["pairs"] == 1 and row["phone"] == 1 and row["can_meet"] == "phone"
    # in words and as data
    assert "bbs_nhd x btrc_sim: 1 pairs (phone 1)" in report.to_text()
    data = report.sources.to_dict()
    pair = next(p for p in data["source_pairs"] if p["source_b"] == "btrc_sim" != p["source_a"])
    assert pair == {
        "source_a": "bbs_nhd",
        "source_b": "btrc_sim",
        "pairs": 1,
        "rules": {"phone": 1},
        "can_meet": ["phone"],
    }
    assert data["key_shares"]["btrc_sim"]["full_name_year"] == 0.0


def test_sources_sharing_no_key_at_all_are_warned_about() -> None:
    records = _records(
        [
            {"source": "a", "full_name": "Abdul Karim", "phone": "01711234567"},
            {"source": "b", "full_name": "Abdul Karim", "nid": "19802612345678901"},
        ]
    )
    _, report = candidate_pairs(prepare(records))
    assert any("a and b share no blocking key" in w for w in report.sources.warnings)


def test_identifier_rules_are_those_over_numbers_alone() -> None:
    kinds = {rule.name: is_identifier_rule(rule) for rule in DEFAULT_RULES}
    assert {name for name, identifier in kinds.items() if identifier} == {
        "nid",
        "brn",
        "identifiers",
        "phone",
    }


def test_coverage_counts_each_rules_pairs_per_pair_of_sources() -> None:
    prepared = pd.DataFrame(
        {"source": ["a", "a", "b", "c"], "nid_key": [1, 1, 1, -1], "phone": [-1, 7, 7, 7]}
    )
    from engine.resolve.blocking import BlockingRule

    rules = [BlockingRule("nid", ("nid_key",)), BlockingRule("phone", ("phone",))]
    pairs, _ = candidate_pairs(prepared, rules)
    table = coverage(prepared, pairs, rules).pairs.set_index(["source_a", "source_b"])
    assert table.loc[("a", "a"), ["pairs", "nid", "phone"]].tolist() == [1, 1, 0]
    assert table.loc[("a", "b"), ["pairs", "nid", "phone"]].tolist() == [2, 2, 1]
    assert table.loc[("a", "b"), "rules_fired"] == "nid 2, phone 1"
    assert table.loc[("b", "c"), ["pairs", "nid", "phone"]].tolist() == [1, 0, 1]
