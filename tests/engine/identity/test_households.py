"""Households: from survey membership, programme ids, numbers shared in one union and spouses; never
from a phone farm, never against the survey."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from engine.identity.households import HouseholdError, HouseholdRules, resolve_households
from engine.identity.ledger import IdentityLedger, is_valid_id

PLACE = {"district": "BD3026", "upazila": "savar", "union": "ashulia"}
ELSEWHERE = [
    {"district": "BD3026", "upazila": "savar", "union": "birulia"},
    {"district": "BD4041", "upazila": "khulna sadar", "union": "ashulia"},  # same name, elsewhere
    {"district": "BD5081", "upazila": "rajshahi sadar", "union": "paba"},
]


def _records(rows: list[dict[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame(rows)


def _households(found: pd.DataFrame) -> dict[str, str]:
    return dict(zip(found["person_id"], found["household_id"], strict=True))


def _together(found: pd.DataFrame, *persons: str) -> bool:
    households = _households(found)
    return len({households[p] for p in persons}) == 1


def _survey(person: str, household: str, relation: str, **extra: Any) -> dict[str, Any]:
    return {
        "source": "nhd",
        "record_id": f"{household}:{person}",
        "kind": "survey",
        "household_id": household,
        "relation_to_head": relation,
        "person_id": person,
        **PLACE,
        **extra,
    }


def _programme(person: str, **extra: Any) -> dict[str, Any]:
    return {
        "source": "dss",
        "record_id": person,
        "kind": "programme",
        "person_id": person,
        **{**PLACE, **extra},
    }


def test_survey_membership_makes_households_with_relations() -> None:
    found = resolve_households(
        _records(
            [
                _survey("P1", "h1", "head"),
                _survey("P2", "h1", "spouse"),
                _survey("P3", "h1", "son"),
                _survey("P4", "h2", "head"),
                _survey("P5", "h2", "daughter"),
                _programme("P1"),  # the head also in a programme, without a household id
            ]
        )
    )
    assert _together(found, "P1", "P2", "P3") and _together(found, "P4", "P5")
    assert not _together(found, "P1", "P4")
    assert all(is_valid_id(h, "household") for h in found["household_id"])
    row = found.set_index("person_id").loc["P3"]
    assert row["relation"] == "son" and row["evidence"] == "survey nhd/h1"


def test_a_gender_free_relation_takes_the_gender_the_person_s_records_give() -> None:
    # a survey that said "child" without a gender; the person's other records know more
    found = resolve_households(
        _records(
            [
                _survey("P1", "h1", "head"),
                _survey("P2", "h1", "child"),
                _programme("P2", gender="female"),
                _survey("P3", "h1", "child"),
                _programme("P3", relation_to_head="son"),
                _survey("P4", "h1", "child"),  # nothing says which: kept as a child
                _survey("P5", "h1", "parent"),
                _programme("P5", gender="male"),
                _programme("P5", record_id="P5b", gender="female"),  # the records disagree
            ]
        )
    )
    relation = found.set_index("person_id")["relation"].to_dict()
    assert relation == {
        "P1": "head",
        "P2": "daughter",
        "P3": "son",
        "P4": "child",
        "P5": "parent",
    }
    assert _together(found, "P1", "P2", "P3", "P4", "P5")


def test_a_phone_shared_within_one_union_makes_a_household() -> None:
    found = resolve_households(
        _records(
            [
                _programme("P1", phone="01711234567"),
                _programme("P2", phone="01711234567"),
                # her stipend wallet is on the family phone
                _programme("P3", account_provider="bkash", account_number="01711234567", ward="3"),
                _programme("P4", phone="01899999999"),
            ]
        )
    )
    assert _together(found, "P1", "P2", "P3")
    assert not _together(found, "P1", "P4")
    evidence = found.set_index("person_id")["evidence"]
    assert evidence["P1"] == "phone 01711234567 (used by 3 in one union)"
    assert evidence["P4"] == "alone"


def test_a_phone_farm_makes_no_household() -> None:
    farm = "01922222222"
    # ten persons in four unions on one number; eight persons in one union on another
    scattered = [
        _programme(f"F{i}", phone=farm, **ELSEWHERE[i % 3] if i % 4 else PLACE) for i in range(10)
    ]
    crowded = [_programme(f"C{i}", phone="01633333333") for i in range(8)]
    found = resolve_households(_records(scattered + crowded))
    assert found["household_id"].nunique() == 18
    assert set(found["evidence"]) == {"alone"}


def test_siblings_on_the_family_phone_count_as_one_sharer() -> None:
    # five stipend pupils (one couple's children), their grandmother's allowance and their
    # father's work scheme on one phone: seven persons, but three households sharing it
    phone = "01711234567"
    family = [_child(f"K{i}", f"201{i}-03-01", phone=phone) for i in range(5)]
    family.append(_programme("G", full_name="Rahima Begum", phone=phone))
    family.append(_programme("F", full_name="Sabbir Munshi", phone=phone))
    found = resolve_households(_records(family), rules=HouseholdRules(as_of_year=2025))
    assert _together(found, "G", "F", *(f"K{i}" for i in range(5)))
    assert "phone 01711234567" in found.set_index("person_id").loc["G", "evidence"]
    # seven strangers on one phone are still seven sharers: a farm, no household
    strangers = [
        _programme(f"S{i}", full_name=f"Stranger {i}", phone="01633333333") for i in range(7)
    ]
    farm = resolve_households(_records(strangers), rules=HouseholdRules(as_of_year=2025))
    assert farm["household_id"].nunique() == 7


def test_a_phone_shared_by_two_unions_makes_no_household() -> None:
    found = resolve_households(
        _records(
            [
                _programme("P1", phone="01711234567"),
                _programme("P2", phone="01711234567", **ELSEWHERE[1]),  # same union name only
            ]
        )
    )
    assert not _together(found, "P1", "P2")


def test_a_shared_phone_never_joins_two_survey_households() -> None:
    # a married daughter in her husband's household still uses her mother's phone
    found = resolve_households(
        _records(
            [
                _survey("M", "h1", "head", phone="01711234567"),
                _survey("D", "h2", "spouse", phone="01711234567"),
                _survey("S", "h2", "head"),
            ]
        )
    )
    assert not _together(found, "M", "D")
    assert _together(found, "D", "S")


def test_programme_household_ids_are_scoped_to_their_source() -> None:
    found = resolve_households(
        _records(
            [
                {**_programme("P1"), "household_id": "77"},
                {**_programme("P2"), "household_id": "77"},
                {**_programme("P3"), "source": "pesp", "household_id": "77"},
            ]
        )
    )
    assert _together(found, "P1", "P2")
    assert not _together(found, "P1", "P3")
    assert found.set_index("person_id").loc["P1", "evidence"] == "programme dss/77"


def test_a_spouse_named_at_the_same_address_joins_across_scripts() -> None:
    found = resolve_households(
        _records(
            [
                _programme("W", full_name="Mst. Rahima Begum", gender="female", ward="4",
                           spouse_name="মোঃ আব্দুল করিম"),
                _programme("H", full_name="Md. Abdul Karim", gender="male", ward="4"),
                # same name, another ward: not her husband
                _programme("X", full_name="Abdul Karim", gender="male", ward="5"),
            ]
        )
    )  # fmt: skip
    assert _together(found, "W", "H") and not _together(found, "W", "X")
    assert "spouse H" in found.set_index("person_id").loc["W", "evidence"]


def test_an_ambiguous_spouse_name_joins_no_one() -> None:
    found = resolve_households(
        _records(
            [
                _programme("W", full_name="Rahima Begum", ward="4", spouse_name="Abdul Karim"),
                _programme("H1", full_name="Abdul Karim", ward="4"),
                _programme("H2", full_name="Md Abdul Karim", ward="4"),
            ]
        )
    )
    assert found["household_id"].nunique() == 3


def _pupil(person: str, born: str, mother: str) -> dict[str, Any]:
    return _programme(person, full_name="Riyad", date_of_birth=born, mother_name=mother)


def _mother(person: str, **extra: Any) -> dict[str, Any]:
    return {
        **_programme(person, full_name="Mst. Sakina Khanam", gender="female"),
        "source": "ec",
        "date_of_birth": "1985-03-01",
        **extra,
    }


def test_a_minor_joins_the_mother_named_in_the_same_union() -> None:
    rules = HouseholdRules(as_of_year=2025)
    found = resolve_households(
        _records([_pupil("C", "2016-02-20", "সখিনা খানম"), _mother("M")]), rules=rules
    )
    assert _together(found, "C", "M")
    assert found.set_index("person_id").loc["C", "evidence"] == "mother M"

    adult = resolve_households(
        _records([_pupil("C", "1999-02-20", "Sakina Khanam"), _mother("M")]), rules=rules
    )
    assert not _together(adult, "C", "M")


def test_a_mother_the_survey_lists_keeps_her_survey_household() -> None:
    # the survey is years old: a child it does not list may be of a family she started since
    found = resolve_households(
        _records(
            [
                _pupil("C", "2016-02-20", "Sakina Khanam"),
                {**_mother("M"), **_survey("M", "h1", "daughter"), "full_name": "Sakina Khanam"},
                _survey("F", "h1", "head"),
            ]
        ),
        rules=HouseholdRules(as_of_year=2025),
    )
    assert _together(found, "M", "F") and not _together(found, "C", "M")


def _child(person: str, born: str, **extra: Any) -> dict[str, Any]:
    return _programme(
        person,
        full_name=f"Child {person}",
        date_of_birth=born,
        mother_name="Mst. Keya Akter",
        father_name="Sabbir Munshi",
        **extra,
    )


def test_minors_naming_the_same_parents_in_one_union_are_one_household() -> None:
    rules = HouseholdRules(as_of_year=2025)
    found = resolve_households(
        _records(
            [
                _child("A", "2015-12-28"),
                {**_child("B", "2018-12-28"), "mother_name": "মোছাঃ কেয়া আক্তার"},  # Bangla
                _child("C", "2016-05-01", **ELSEWHERE[0]),  # another union: not a sibling
                {**_child("D", "2017-01-01"), "father_name": "Rubel Mia"},  # another father
                _child("E", "1995-01-01"),  # an adult: may have left home
            ]
        ),
        rules=rules,
    )
    assert _together(found, "A", "B")
    assert not any(_together(found, "A", other) for other in ("C", "D", "E"))
    assert "siblings" in found.set_index("person_id").loc["A", "evidence"]
    off = resolve_households(
        _records([_child("A", "2015-12-28"), _child("B", "2018-12-28")]),
        rules=HouseholdRules(as_of_year=2025, sibling_names=False),
    )
    assert not _together(off, "A", "B")


def test_who_is_a_minor_is_judged_as_of_the_records_own_dates_not_the_clock() -> None:
    # enrolled in 2010: then both were children; by the clock's year both are adults
    rows = [_child("A", "1996-12-28", since="2010-01-01"), _child("B", "1998-03-02")]
    assert _together(resolve_households(_records(rows)), "A", "B")
    assert not _together(
        resolve_households(_records(rows), rules=HouseholdRules(as_of_year=2025)), "A", "B"
    )
    # with no dated record, the clock's year: adults, who may have left home
    undated = [{**row, "since": None} for row in rows]
    assert not _together(resolve_households(_records(undated)), "A", "B")


def test_as_of_year_must_be_a_year() -> None:
    with pytest.raises(HouseholdError, match="as_of_year.*'2025'"):
        HouseholdRules(as_of_year="2025")  # type: ignore[arg-type]


def test_siblings_join_the_survey_household_that_lists_one_of_them() -> None:
    # the survey lists the elder child; the younger, born since, has only a stipend record
    found = resolve_households(
        _records(
            [
                _survey("F", "h1", "head"),
                _survey("A", "h1", "son"),
                _child("A", "2012-01-10"),
                _child("B", "2019-03-02"),
            ]
        ),
        rules=HouseholdRules(as_of_year=2025),
    )
    assert _together(found, "F", "A", "B")


def test_one_piece_breaking_the_survey_does_not_undo_sound_evidence() -> None:
    # D, the married daughter, still uses her mother's phone: that phone joins no one; but her
    # own child's stipend, paid on her husband's number, still joins the child to D's household
    found = resolve_households(
        _records(
            [
                _survey("M", "h1", "head", phone="01711234567"),
                _survey("D", "h2", "spouse", phone="01711234567"),
                _survey("S", "h2", "head", phone="01822222222"),
                _programme("C", phone="01822222222"),
            ]
        )
    )
    assert not _together(found, "M", "D")
    assert _together(found, "D", "S", "C")
    assert "phone 01822222222" in found.set_index("person_id").loc["C", "evidence"]


def test_household_ids_stay_put_when_a_member_joins(tmp_path: Path) -> None:
    rows = [_survey("P1", "h1", "head"), _survey("P2", "h1", "spouse"), _survey("P4", "h2", "head")]
    with IdentityLedger(tmp_path / "identity.sqlite") as ledger:
        first = _households(resolve_households(_records(rows), ledger=ledger, model_version="m1"))
        more = [*rows, _programme("P3", phone="01555555555"), _programme("P2", phone="01555555555")]
        again = _households(resolve_households(_records(more), ledger=ledger, model_version="m1"))
        assert again["P1"] == again["P2"] == again["P3"] == first["P1"]
        assert again["P4"] == first["P4"]
        added = ledger.events(ledger.last_run("household"), with_members=True)
        assert added[["event", "id"]].values.tolist() == [["add", first["P1"]]]
        assert added.iloc[0]["members"] == ["P3"]
        assert added.iloc[0]["reason"] == "household from phone, survey"


def test_persons_alone_can_be_left_without_a_household() -> None:
    found = resolve_households(
        _records([_survey("P1", "h1", "head"), _programme("P9")]),
        rules=HouseholdRules(alone_is_household=False),
    )
    households = _households(found)
    assert households["P1"] is not None and households["P9"] is None


def test_records_without_persons_are_refused() -> None:
    with pytest.raises(HouseholdError, match="'person_id'"):
        resolve_households(pd.DataFrame({"source": ["dss"], "record_id": ["1"]}))
