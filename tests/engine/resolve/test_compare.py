"""Comparison features behave as a reviewer would judge the pair."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from engine.resolve.compare import FEATURES, cannot_link, compare
from engine.resolve.prepare import prepare


def _features(a: dict[str, object], b: dict[str, object], *others: dict[str, object]) -> pd.Series:
    rows = [a, b, *others]
    records = pd.DataFrame(
        [
            {"source": row.pop("source", "dss"), "record_id": str(i), **row}
            for i, row in enumerate(rows)
        ]
    )
    prepared = prepare(records)
    features = compare(prepared, pd.DataFrame({"left": [0], "right": [1]}))
    assert list(features.columns) == list(FEATURES)
    return features.iloc[0]


def test_a_bangla_only_name_meets_its_english_spelling() -> None:
    f = _features({"full_name_bn": "মোঃ আব্দুল করিম"}, {"full_name": "Md. Abdul Karim"})
    assert f["name_sort"] >= 0.85


def test_names_compare_regardless_of_order_and_extra_words() -> None:
    f = _features({"full_name": "Karim Abdul"}, {"full_name": "Abdul Karim"})
    assert f["name_sort"] == pytest.approx(1.0)
    g = _features({"full_name": "Abdul Karim Sheikh"}, {"full_name": "Abdul Karim"})
    assert g["name_set"] == pytest.approx(1.0) and g["name_sort"] < 1.0


def test_a_record_with_both_scripts_uses_its_best_pairing() -> None:
    f = _features(
        {"full_name": "Rohima Bgm", "full_name_bn": "রহিমা বেগম"}, {"full_name_bn": "রহিমা বেগম"}
    )
    assert f["name_sort"] == pytest.approx(1.0)


def test_missing_values_are_not_comparable_rather_than_different() -> None:
    f = _features({"full_name": "Abdul Karim"}, {"full_name": "Abdul Karim"})
    for name in ("father_sim", "nid_match", "number_shared", "year_gap", "gender_match"):
        assert np.isnan(f[name]), name


def test_birth_dates_know_swaps_defaults_and_age_ranges() -> None:
    swapped = _features({"date_of_birth": "1980-03-04"}, {"date_of_birth": "1980-04-03"})
    assert swapped["dob_match"] == 0.5 and swapped["year_gap"] == 0
    default = _features({"date_of_birth": "1980-01-01"}, {"date_of_birth": "1980-01-01"})
    assert default["dob_match"] == 1 and default["dob_weak"] == 1
    aged = _features({"age": 41, "age_as_of": "2017-06-30"}, {"date_of_birth": "1975-08-15"})
    assert aged["year_gap"] == 0 and aged["year_span"] == 1
    far = _features({"date_of_birth": "1950-08-15"}, {"date_of_birth": "1976-08-15"})
    assert far["year_gap"] == 26


def test_nids_same_card_typo_or_conflict() -> None:
    assert _features({"nid": "19852612345678901"}, {"nid": "2612345678901"})["nid_match"] == 1
    assert _features({"nid": "2612345678901"}, {"nid": "2612345678907"})["nid_match"] == 0.5
    assert _features({"nid": "2612345678901"}, {"nid": "2612345678910"})["nid_match"] == 0.5
    assert _features({"nid": "2612345678901"}, {"nid": "2698765432101"})["nid_match"] == 0
    # a smart card number and an old number are not comparable unless the EC extract links them
    assert np.isnan(_features({"nid": "4512345678"}, {"nid": "2612345678901"})["nid_match"])
    linked = _features(
        {"nid": "4512345678"},
        {"nid": "2612345678901"},
        {"source": "ec", "nid": "4512345678", "nid_alt": "2612345678901"},
    )
    assert linked["nid_match"] == 1


def test_a_phone_shared_by_a_household_weighs_less_than_ones_own() -> None:
    own = _features(
        {"full_name": "Abdul Karim", "phone": "01711234567"},
        {"full_name": "Abdul Karim", "phone": "01711234567"},
    )
    shared = _features(
        {"full_name": "Abdul Karim", "phone": "01711234567"},
        {"full_name": "Rahima Begum", "phone": "01711234567"},
        {"full_name": "Sumi Akter", "phone": "01711234567"},
    )
    assert own["number_shared"] == shared["number_shared"] == 1
    assert shared["number_names"] > own["number_names"]


def test_a_son_named_after_his_father_shows_in_the_cross_feature() -> None:
    f = _features(
        {"full_name": "Abdul Karim", "father_name": "Abdul Karim", "date_of_birth": "1990-05-05"},
        {"full_name": "Abdul Karim", "father_name": "Rahim Uddin", "date_of_birth": "1962-05-05"},
    )
    assert f["name_sort"] == pytest.approx(1.0)
    assert f["name_father_cross"] == pytest.approx(1.0)
    assert f["father_sim"] < 0.7


def test_cannot_link_two_nids_two_brns_or_two_members_of_one_household() -> None:
    records = pd.DataFrame(
        [
            {"source": "nhd", "record_id": "1", "household_id": "h1", "nid": "2612345678901"},
            {"source": "nhd", "record_id": "2", "household_id": "h1"},
            {"source": "dss", "record_id": "3", "nid": "2698765432101"},
            {"source": "bdris", "record_id": "4", "brn": "20152212160501954"},
            {"source": "pesp", "record_id": "5", "brn": "20153911998501135"},
            {"source": "pesp", "record_id": "6", "brn": "20152212160501945"},  # a swap: a typo
        ]
    )
    prepared = prepare(records)
    pairs = pd.DataFrame({"left": [0, 0, 1, 3, 3], "right": [1, 2, 2, 4, 5]})
    features = compare(prepared, pairs)
    assert cannot_link(features).tolist() == [True, True, False, True, False]


def test_a_place_one_record_leaves_blank_is_no_disagreement() -> None:
    home = {"district": "BD5010", "upazila": "baragram", "union": "chhotadia"}
    same = _features(dict(home), dict(home))
    assert same["geo_level"] == 3
    # the freedom fighters' list names the upazila only: not "in another union"
    no_union = _features(dict(home), {"district": "BD5010", "upazila": "baragram"})
    assert no_union["geo_level"] == 3
    other_union = _features(dict(home), {**home, "union": "kalmakona"})
    assert other_union["geo_level"] == 2
    other_upazila = _features(dict(home), {"district": "BD5010", "upazila": "durgabari"})
    assert other_upazila["geo_level"] == 1
    other_district = _features(dict(home), {"district": "BD5585", "upazila": "baragram"})
    assert other_district["geo_level"] == 0


def test_records_that_give_different_levels_of_place_compare_on_what_they_share() -> None:
    home = {"district": "BD5010", "upazila": "baragram", "union": "chhotadia"}
    # a survey naming only the union, an extract naming only the district: the survey's full
    # records place the union in its district, so the two agree as far as both say
    survey = {"union": "chhotadia"}
    extract = {"district": "BD5010"}
    f = _features(dict(survey), dict(extract), dict(home))
    assert f["geo_level"] == 3 and f["geo_common"] == 1
    # two records of one union say more than two that share only the district
    g = _features(dict(survey), dict(home))
    assert g["geo_level"] == 3 and g["geo_common"] == 3
    # an upazila's name alone meets the same upazila given with its district
    h = _features({"upazila": "baragram"}, dict(home))
    assert h["geo_level"] == 3 and h["geo_common"] == 2
    # nothing in common: not comparable, never "different"
    assert np.isnan(_features({"union": "kalmakona"}, {"district": "BD5585"})["geo_common"])


def test_a_postcode_places_a_record_in_its_upazila() -> None:
    # a survey and an NID extract give the district and a postcode; a list gives the upazila with
    # it, so the records say which upazila the postcode lies in
    teacher = {"district": "BD5010", "upazila": "baragram", "postcode": "2230"}
    survey = {"district": "BD5010", "postcode": "2230"}
    named = _features(dict(survey), {"district": "BD5010", "upazila": "baragram"}, dict(teacher))
    assert named["geo_level"] == 3 and named["geo_common"] == 2
    both = _features(dict(survey), dict(survey), dict(teacher))
    assert both["geo_common"] == 2
    # in another upazila of the district: no longer "the same place as far as both say"
    other = _features(dict(survey), {"district": "BD5010", "upazila": "durgabari"}, dict(teacher))
    assert other["geo_level"] == 1
    # a postcode no record places (or places in two upazilas) says nothing more
    alone = _features(dict(survey), {"district": "BD5010", "upazila": "durgabari"})
    assert alone["geo_level"] == 3 and alone["geo_common"] == 1
    torn = [dict(teacher), {**teacher, "upazila": "durgabari"}]
    split = _features(dict(survey), {"district": "BD5010", "upazila": "durgabari"}, *torn)
    assert split["geo_level"] == 3 and split["geo_common"] == 1


def test_a_father_or_husband_column_meets_the_spouse_named_elsewhere() -> None:
    # a workfare list's "Father" holds a married woman's husband; her widow allowance names him
    # as her spouse, and her NID record her father
    workfare = {"full_name": "Mani Akter", "father_name": "Kazi Kalik Mia"}
    widow = {"full_name": "Mani Akter", "spouse_name": "Kazi Kalik Mia"}
    f = _features(dict(workfare), {**widow, "father_name": "Abdul Karim"})
    assert f["spouse_sim"] == pytest.approx(1.0) and np.isnan(f["father_sim"])
    g = _features(dict(widow), dict(workfare))
    assert g["spouse_sim"] == pytest.approx(1.0)
    # another man's name is still a father who differs
    h = _features(dict(workfare), {"full_name": "Mani Akter", "father_name": "Abdul Karim"})
    assert h["father_sim"] < 0.7 and np.isnan(h["spouse_sim"])


def test_age_only_and_bangla_only_records_are_not_punished_for_what_they_lack() -> None:
    f = _features(
        {"full_name_bn": "রহিমা বেগম", "age": 38, "age_as_of": "2022-06-15"},
        {"full_name": "Rahima Begum", "date_of_birth": "1984-05-02"},
    )
    assert f["name_sort"] >= 0.85 and f["year_gap"] == 0
    for name in ("dob_match", "nid_match", "gender_match", "kin_sim", "address_sim",
                 "postcode_match", "identifier_match", "geo_level", "geo_common"):  # fmt: skip
        assert np.isnan(f[name]), name


def test_addresses_compare_by_their_place_words_whatever_the_labels_and_spelling() -> None:
    f = _features(
        {"address": "Vill: Rampoor, Para: Dokkhin Para, Union: Char Kashipur"},
        {"address": "Dakshin Para, Rampur, Char Kashipur"},
    )
    assert f["address_sim"] >= 0.95
    g = _features({"address": "Uttar Para, Shimulkandi"}, {"address": "Bazar Para, Hijalgram"})
    assert g["address_sim"] < 0.7
    h = _features({"postcode": "1207"}, {"postcode": "1207"}, {"postcode": "9100"})
    assert h["postcode_match"] == 1
    assert _features({"postcode": "1207"}, {"postcode": "9100"})["postcode_match"] == 0


def test_extra_identifiers_match_by_name_and_value() -> None:
    same = _features(
        {"identifiers": "tin=123456789"}, {"identifiers": "employee_id=e7;tin=123456789"}
    )
    assert same["identifier_match"] == 1
    typo = _features({"identifiers": "tin=123456789"}, {"identifiers": "tin=123456798"})
    assert typo["identifier_match"] == 0.5
    other = _features({"identifiers": "tin=123456789"}, {"identifiers": "tin=987654321"})
    assert other["identifier_match"] == 0
    # identifiers of different kinds say nothing about each other
    kinds = _features({"identifiers": "tin=123456789"}, {"identifiers": "employee_id=e7"})
    assert np.isnan(kinds["identifier_match"])


def test_a_relative_one_record_names_is_found_in_the_others_household() -> None:
    # a birth registration names the mother; the survey lists the child with its mother
    survey = {"source": "bbs", "household_id": "h1", "full_name": "Sathi", "age": 4,
              "age_as_of": "2022-06-15"}  # fmt: skip
    mother = {"source": "bbs", "household_id": "h1", "full_name": "Marjina Begum", "age": 30,
              "age_as_of": "2022-06-15"}  # fmt: skip
    birth = {"source": "bdris", "full_name": "Sathi", "mother_name": "মর্জিনা বেগম",
             "date_of_birth": "2017-03-05"}  # fmt: skip
    f = _features(dict(birth), dict(survey), dict(mother))
    assert f["kin_sim"] >= 0.9
    # a relative not found is no evidence: she may live elsewhere
    stranger = {**birth, "mother_name": "Shirin Akter"}
    assert np.isnan(_features(stranger, dict(survey), dict(mother))["kin_sim"])
    # without a household on the other side, no relative can be looked for
    assert np.isnan(_features(dict(birth), {"full_name": "Sathi"})["kin_sim"])


def test_a_name_written_surname_first_is_seen_as_swapped() -> None:
    f = _features({"full_name": "KHANAM RAHIMA"}, {"full_name": "MST. RAHIMA KHANAM"})
    assert f["name_sort"] == pytest.approx(1.0) and f["given_sim"] < 0.7
    assert f["name_swap"] == pytest.approx(1.0)
    g = _features({"full_name": "Rahima Khanam"}, {"full_name": "Rahima Khanam"})
    assert g["name_swap"] < 0.7  # not swapped


def test_a_records_columns_as_arrays_compare_as_its_frame_does() -> None:
    # the one-record resolver compares its few candidates without building a frame
    from engine.resolve.compare import compare_columns

    records = pd.DataFrame(
        [
            {"source": "dss", "record_id": "1", "full_name": "Md. Abdul Karim",
             "father_name": "Rahim Uddin", "date_of_birth": "1960-05-02", "gender": "male",
             "nid": "2612345678901", "phone": "01711234567", "district": "BD3026",
             "household_id": "h1"},
            {"source": "pesp", "record_id": "7", "full_name_bn": "মোঃ আব্দুল করিম",
             "date_of_birth": "1960-02-05", "nid": "2612345678910", "phone": "01711234567"},
            {"source": "dss", "record_id": "2", "full_name": "Rahima Begum", "gender": "female",
             "spouse_name": "Abdul Karim", "phone": "01711234567", "household_id": "h1",
             "district": "BD3026", "upazila": "savar"},
        ]
    )  # fmt: skip
    prepared = prepare(records)
    pairs = pd.DataFrame({"left": [0, 0, 1], "right": [1, 2, 2]})
    frame = compare(prepared, pairs)
    arrays = {c: prepared[c].to_numpy() for c in prepared.columns}
    columns = compare_columns(
        arrays, pairs["left"].to_numpy(np.int64), pairs["right"].to_numpy(np.int64)
    )
    assert list(columns) == list(FEATURES)
    pd.testing.assert_frame_equal(pd.DataFrame(columns), frame)
    assert (cannot_link(columns) == cannot_link(frame)).all()


def test_few_values_are_coded_as_pandas_codes_them() -> None:
    from engine.resolve.compare import FEW_VALUES, factorize, factorize_numbers, positions

    few = np.asarray(["rahim", None, "karim", "rahim", np.nan, "", "karim", "a b"], dtype=object)
    many = np.concatenate([few] * (FEW_VALUES // len(few) + 1))
    for values in (few, many, list(few), few[:0]):
        codes, uniques = factorize(values)
        expected, distinct = pd.factorize(pd.Series(values, dtype=object))
        assert codes.dtype == np.int64 and codes.tolist() == expected.tolist()
        assert uniques.dtype == object and uniques.tolist() == list(distinct)
    for numbers in (np.asarray([7, 3, 7, 10**12, 3, 0]), np.arange(FEW_VALUES + 5) % 97):
        codes, distinct = factorize_numbers(numbers)
        expected, uniques = pd.factorize(numbers)
        assert codes.tolist() == expected.tolist() and distinct.tolist() == uniques.tolist()
    strings = np.asarray(["rahim", "karim", "", "a b"], dtype=object)
    for wanted in (["karim", "x", "", "a b", "rahim"], ["x"] * (FEW_VALUES + 1), []):
        assert positions(strings, wanted).tolist() == pd.Index(strings).get_indexer(wanted).tolist()


def test_a_few_pairs_score_as_a_batch_chunk_scores_them(monkeypatch: pytest.MonkeyPatch) -> None:
    # a few pairs (one record's candidates) have their name pairings scored in one call per
    # scorer; a batch's long chunk one pairing at a time: the features are the same
    import engine.resolve.compare as compare_module

    records = pd.DataFrame(
        [
            {"full_name": "KHANAM RAHIMA", "father_name": "Abdul Karim"},
            {"full_name": "MST. RAHIMA KHANAM", "full_name_bn": "রহিমা খানম",
             "father_name": "Md. Abdul Karim", "mother_name": "Shirin Akter"},
            {"full_name_bn": "রহিমা বেগম", "spouse_name": "Karim Sheikh"},
            {"full_name": "Abdul Karim Sheikh", "father_name": "Rahima Khanam",
             "spouse_name": "Rahima Begum"},
            {"full_name": "Karim", "mother_name": "Shirin Akhter"},
        ]
    )  # fmt: skip
    records.insert(0, "record_id", [str(i) for i in range(len(records))])
    records.insert(0, "source", "dss")
    prepared = prepare(records)
    left, right = np.triu_indices(len(records), 1)
    pairs = pd.DataFrame({"left": left, "right": right})
    joined = compare(prepared, pairs)
    monkeypatch.setattr(compare_module, "_PAIRED_MAX", 0)
    one_by_one = compare(prepared, pairs)
    pd.testing.assert_frame_equal(joined, one_by_one)
    # the pairings were told apart: a swapped name, a father named by the other record
    assert joined["name_swap"].max() == pytest.approx(1.0)
    assert joined["name_father_cross"].max() >= 0.85


def test_the_best_pairing_ignores_a_missing_one_for_a_few_pairs_and_many() -> None:
    # a few pairs take a quicker path than a batch's chunk: both give a pair its best score over
    # the pairings that have one, and nothing when none has
    from engine.resolve.compare import _PAIRED_MAX, _best

    nan = np.nan
    few = [
        np.asarray([0.5, nan, nan, 0.0, 1.0], dtype=np.float32),
        np.asarray([0.25, 0.75, nan, nan, 0.5], dtype=np.float32),
        np.asarray([nan, 0.5, nan, 0.0, nan], dtype=np.float32),
    ]
    wanted = np.asarray([0.5, 0.75, nan, 0.0, 1.0], dtype=np.float32)
    repeat = _PAIRED_MAX // len(wanted) + 1
    for arrays, expected in (
        (few, wanted),
        ([np.tile(a, repeat) for a in few], np.tile(wanted, repeat)),
    ):
        best = _best(*arrays)
        assert best.dtype == np.float32
        np.testing.assert_array_equal(best, expected)
