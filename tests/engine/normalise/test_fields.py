"""The ingest dispatcher: every field kind, empty values and error messages that name the field."""

from __future__ import annotations

import math

import pytest

from engine.errors import InvalidValue
from engine.normalise import RELATIONS, clean
from engine.normalise.fields import (
    _MISSING,
    GENDERED_RELATIONS,
    is_missing,
    quick_cleaner,
    relation_for_gender,
)
from engine.record import FIELD_KINDS


@pytest.mark.parametrize("kind", sorted(set(FIELD_KINDS.values())))
@pytest.mark.parametrize(
    "raw", [None, "", "   ", "N/A", "n/a", "NA", "null", "-", "নাই", float("nan")]
)
def test_empty_values_are_none_for_every_kind(kind: str, raw: object) -> None:
    assert clean(kind, raw) is None


def test_pandas_missing_values_are_none() -> None:
    pd = pytest.importorskip("pandas")
    assert clean("date", pd.NaT) is None
    assert clean("text", pd.NA) is None


def test_unknown_kind_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown field kind"):
        clean("colour", "red")


def test_errors_name_the_field_the_caller_gave() -> None:
    with pytest.raises(InvalidValue) as caught:
        clean("nid", "12345", field="nid_alt")
    assert caught.value.field == "nid_alt"
    assert caught.value.value == "12345"
    assert caught.value.reason == "NID must have 10, 13 or 17 digits; got 5"
    with pytest.raises(InvalidValue) as caught:
        clean("phone", "12345")
    assert caught.value.field == "phone"


@pytest.mark.parametrize(
    ("kind", "raw", "hints", "value"),
    [
        ("key", " HH-001 ", {}, "HH-001"),
        ("key", 1234.0, {}, "1234"),
        ("kind", "Programme", {}, "programme"),
        ("kind", "registry", {}, "reference"),
        ("name", "  মোঃ  আব\u09cdদুল করিম ", {}, "মোঃ আব\u09cdদুল করিম"),
        ("name", "ম\u09c7\u09beঃ করিম", {"field": "full_name_bn", "script": "bn"}, "মোঃ করিম"),
        ("date", "০৩/০৪/১৯৮০", {"field": "date_of_birth"}, "1980-04-03"),
        ("date", "04/03/1980", {"formats": ["%m/%d/%Y"]}, "1980-04-03"),
        ("year", "১৯৮০", {}, 1980),
        ("year", 1980.0, {}, 1980),
        ("age", "41y", {}, 41),
        ("nid", "১৯৮৫ ২৬১২ ৩৪৫৬ ৭৮৯০১", {}, "19852612345678901"),
        ("brn", "20112691234567890", {}, "20112691234567890"),
        ("phone", "+88 01711-234567", {}, "01711234567"),
        ("provider", "BKASH", {}, "bkash"),
        ("account", "+8801711234567", {"provider": "bKash"}, "01711234567"),
        ("account", "017112345678", {"provider": "DBBL"}, "017112345678"),
        ("account", "0021-3400-1234", {"provider": None}, "002134001234"),
        ("geo", "Chittagong", {"field": "district"}, "BD2015"),
        ("geo", "চট্টগ্রাম", {"field": "division"}, "20"),
        ("geo", "Comilla", {}, "BD2019"),
        ("number", "১,২৫০.৫০", {}, 1250.5),
        ("number", "৳ 500/-", {}, 500.0),
        ("number", 0, {}, 0.0),
        ("text", "  Sadar   Upazila ", {"field": "upazila"}, "sadar upazila"),
        ("text", "ACTIVE", {"field": "status"}, "active"),
        ("text", "Ward No. ০৩", {"field": "ward"}, "3"),
        ("text", " Old  Age Allowance ", {"field": "programme"}, "Old Age Allowance"),
    ],
)
def test_each_kind_gives_its_canonical_form(
    kind: str, raw: object, hints: dict, value: object
) -> None:
    assert clean(kind, raw, **hints) == value


@pytest.mark.parametrize(
    ("raw", "gender"),
    [
        ("M", "male"),
        ("Male", "male"),
        ("MALE", "male"),
        ("পুরুষ", "male"),
        ("1", "male"),
        (1, "male"),
        ("F", "female"),
        ("Female", "female"),
        ("মহিলা", "female"),
        ("নারী", "female"),
        ("2", "female"),
        ("Hijra", "third"),
        ("Third gender", "third"),
        ("third_gender", "third"),
        ("তৃতীয় লিঙ্গ", "third"),
        ("হিজড়া", "third"),
    ],
)
def test_gender(raw: object, gender: str) -> None:
    assert clean("gender", raw) == gender


def test_unknown_gender_is_rejected() -> None:
    with pytest.raises(InvalidValue, match="not a gender"):
        clean("gender", "Q", field="gender")


@pytest.mark.parametrize(
    ("raw", "relation"),
    [
        ("Head", "head"),
        ("HH Head", "head"),
        ("self", "head"),
        ("খানা প্রধান", "head"),
        ("খানাপ্রধান", "head"),
        ("Wife", "spouse"),
        ("husband", "spouse"),
        ("স্ত্রী", "spouse"),
        ("স্বামী", "spouse"),
        ("Son", "son"),
        ("ছেলে", "son"),
        ("পুত্র", "son"),
        ("Daughter", "daughter"),
        ("মেয়ে", "daughter"),
        ("কন্যা", "daughter"),
        ("Father", "father"),
        ("পিতা", "father"),
        ("Mother", "mother"),
        ("মা", "mother"),
        ("Grandson", "grandson"),
        ("নাতি", "grandson"),
        ("নাতনী", "granddaughter"),
        ("Daughter-in-law", "daughter_in_law"),
        ("পুত্রবধূ", "daughter_in_law"),
        ("son_in_law", "son_in_law"),
        ("Other relative", "other_relative"),
    ],
)
def test_relation_to_head(raw: str, relation: str) -> None:
    assert clean("relation", raw) == relation


@pytest.mark.parametrize(
    ("raw", "relation"),
    [
        # gender-free words: the record's gender splits them at ingest
        ("child", "child"),
        ("Children", "child"),
        ("son/daughter", "child"),
        ("সন্তান", "child"),
        ("parent", "parent"),
        ("Father / Mother", "parent"),
        ("sibling", "sibling"),
        ("ভাই/বোন", "sibling"),
        ("grandchild", "grandchild"),
        ("Grand child", "grandchild"),
        ("grandparent", "grandparent"),
        ("child-in-law", "child_in_law"),
        ("Parent in law", "parent_in_law"),
        ("sibling_in_law", "sibling_in_law"),
        ("in-law", "other_relative"),
        # gendered words, English and Bangla
        ("self", "head"),
        ("নিজ", "head"),
        ("Head of the household", "head"),
        ("wife", "spouse"),
        ("husband", "spouse"),
        ("বউ", "spouse"),
        ("ছেলে", "son"),
        ("মেয়ে", "daughter"),
        ("পুত্র", "son"),
        ("কন্যা", "daughter"),
        ("স্ত্রী", "spouse"),
        ("স্বামী", "spouse"),
        ("বাবা", "father"),
        ("মা", "mother"),
        ("পিতা", "father"),
        ("মাতা", "mother"),
        ("ভাই", "brother"),
        ("বোন", "sister"),
        ("নাতি", "grandson"),
        ("নাতনি", "granddaughter"),
        ("Brother-in-law", "brother_in_law"),
        ("দেবর", "brother_in_law"),
        ("ভাবি", "sister_in_law"),
        ("শ্বশুর", "father_in_law"),
        ("son in law", "son_in_law"),
        ("cousin", "other_relative"),
    ],
)
def test_relation_words_surveys_use(raw: str, relation: str) -> None:
    assert clean("relation", raw) == relation
    assert relation in RELATIONS


@pytest.mark.parametrize(
    ("relation", "gender", "split"),
    [
        ("child", "male", "son"),
        ("child", "female", "daughter"),
        ("parent", "male", "father"),
        ("parent", "female", "mother"),
        ("sibling", "female", "sister"),
        ("grandchild", "male", "grandson"),
        ("grandparent", "female", "grandmother"),
        ("child_in_law", "female", "daughter_in_law"),
        ("parent_in_law", "male", "father_in_law"),
        ("sibling_in_law", "male", "brother_in_law"),
        ("child", None, "child"),  # no gender: kept gender-free
        ("child", "third", "child"),
        ("son", "female", "son"),  # what the source said is kept
        ("spouse", "female", "spouse"),
        (None, "male", None),
    ],
)
def test_the_record_s_gender_splits_a_gender_free_relation(
    relation: str | None, gender: str | None, split: str | None
) -> None:
    assert relation_for_gender(relation, gender) == split


def test_every_gender_free_relation_has_both_forms_among_the_relations() -> None:
    for free, (male, female) in GENDERED_RELATIONS.items():
        assert {free, male, female} <= set(RELATIONS)


def test_unknown_relation_is_rejected() -> None:
    with pytest.raises(InvalidValue, match="relation"):
        clean("relation", "neighbour's cat", field="relation_to_head")


def test_bad_values_raise_with_reasons() -> None:
    with pytest.raises(InvalidValue, match="not a number"):
        clean("number", "abc", field="amount")
    with pytest.raises(InvalidValue, match="not between 1900"):
        clean("year", "1850", field="birth_year")
    with pytest.raises(InvalidValue, match="programme, survey or reference"):
        clean("kind", "other")
    with pytest.raises(InvalidValue, match="Bangla script"):
        clean("name", "Abdul Karim", field="full_name_bn", script="bn")


def test_numbers_are_finite_floats() -> None:
    value = clean("number", "12,345.75")
    assert isinstance(value, float) and math.isclose(value, 12345.75)


def test_a_value_with_a_digit_is_never_missing() -> None:
    """is_missing answers a value with a digit without folding it: no "nothing" marker holds a
    digit, in either script, and folding keeps the digits."""
    assert not any(c.isdigit() for marker in _MISSING for c in marker)
    assert is_missing(" N/A ") and is_missing("নাই") and is_missing("--")
    assert not is_missing("N/A 1") and not is_missing("১ নাই") and not is_missing("0")


@pytest.mark.parametrize("script", [None, "bn"])
def test_a_bangla_name_read_quickly_is_what_cleaning_gives(script: str | None) -> None:
    """Ingest keeps a Bangla name that needs no repair (or only a split nukta letter joined)
    without clean's every step: the same name, a "nothing" marker still nothing, and every other
    text left to clean."""
    read = quick_cleaner("name", script=script, field="spouse_name")
    assert read is not None
    texts = [
        "রহিমা খানম",
        "মোছাঃ তানিয\u09bcা পারভিন",
        "মোঃ বাবুল সরকার",
        "নাই",
        "অজানা",
        "জানা নেই",
        "প্রযোজ্য নয\u09bc",
        " রহিমা খানম",
        "রহিমা  খানম",
        "রহিমা-খানম",
        "\u09c7বগম",
        "রহিমা খানম ২",
        "Rahima Khanam",
        "N/A",
    ]
    for text in texts:
        quick = read(text)
        try:
            expected = clean("name", text, script=script, field="spouse_name")
        except InvalidValue:
            expected = "invalid"
        if text in ("রহিমা খানম", "মোছাঃ তানিয\u09bcা পারভিন", "মোঃ বাবুল সরকার"):
            assert quick == expected is not None
        else:
            assert quick is None or quick == expected, text
    assert read("প্রযোজ্য নয\u09bc") is None and clean("name", "প্রযোজ্য নয\u09bc") is None


@pytest.mark.parametrize("field", ["upazila", "union", "status"])
def test_a_lower_case_text_read_quickly_is_what_cleaning_gives(field: str) -> None:
    """Ingest reads a plain ASCII upazila, union or status without clean's every step: the
    same lower-cased text, a "nothing" marker still nothing, every other text left to clean."""
    read = quick_cleaner("text", field=field)
    assert read is not None
    answered = ["Purba Gobindatala", "ACTIVE", "Cox's Bazar", "Chandpur Sadar", "ward-3 east"]
    left = ["N/A", "none.", "not applicable......", "--", " Pirpara", "Pir  para", "Pir\tpara"]
    left += ["12.0", "পীরপাড়া", "Pirpara\x00", "Piré", ""]
    for text in answered:
        assert read(text) == clean("text", text, field=field) == text.lower()
    for text in left:
        assert read(text) is None, text
    assert quick_cleaner("text", field="ward") is None
