"""programmes_of: every enrolment of the person(s) behind any value."""

from __future__ import annotations

import pytest

from graph.queries import programmes_of
from tests.graph.queries_world import (
    HOUSEHOLD_PHONE,
    NID,
    P1_FULL,
    P1_SMART,
    published,  # noqa: F401  (fixture)
)


def _programmes(answer) -> set[tuple[str, str]]:
    return set(zip(answer.enrolments["person_id"], answer.enrolments["programme"], strict=True))


def test_by_person_id(published) -> None:  # noqa: F811
    answer = programmes_of(published, "P5")
    assert answer.matched == [("Person", "P5")]
    assert _programmes(answer) == {
        ("P5", "old_age_allowance"),
        ("P5", "widow_allowance"),
        ("P5", "disability_allowance"),
        ("P5", "freedom_fighter_honorarium"),
    }
    row = answer.enrolments.set_index("programme").loc["freedom_fighter_honorarium"]
    assert row["record_id"] == "ff/P5" and row["source"] == "ff" and row["status"] == "active"
    assert row["tie"] == pytest.approx(0.88)  # ff ~ disability 0.88 is its only way in
    assert "dss_disability/P5~ff/P5=0.880" in row["links"]


@pytest.mark.parametrize("nid", [NID["P1"], P1_FULL, P1_SMART])
def test_by_nid_in_every_form(published, nid: str) -> None:  # noqa: F811
    answer = programmes_of(published, nid)
    assert answer.persons == ["P1"]
    assert _programmes(answer) == {("P1", "old_age_allowance")}


def test_a_shared_phone_leads_to_everyone_who_gives_it(published) -> None:  # noqa: F811
    answer = programmes_of(published, HOUSEHOLD_PHONE)
    assert ("Phone", HOUSEHOLD_PHONE) in answer.matched
    assert ("Account", f"bkash:{HOUSEHOLD_PHONE}") in answer.matched
    assert set(answer.persons) == {"P1", "P2", "P3"}
    assert _programmes(answer) == {("P1", "old_age_allowance"), ("P2", "widow_allowance")}
    # every record of the three persons is listed, each with the way it was reached
    via = answer.records.set_index("record_id")["via"]
    assert via["dss_widow/P2"] == f"Phone {HOUSEHOLD_PHONE}"


def test_by_record_key_and_inactive_enrolments_shown(published) -> None:  # noqa: F811
    answer = programmes_of(published, "dss_oa/P9b")
    assert answer.persons == ["P9"]
    status = dict(zip(answer.enrolments["record_id"], answer.enrolments["status"], strict=True))
    assert status == {"dss_oa/P9a": "active", "dss_oa/P9b": "inactive"}


def test_an_unknown_value_finds_nothing(published) -> None:  # noqa: F811
    answer = programmes_of(published, "01700000000")
    assert not answer.found and answer.persons == [] and answer.enrolments.empty
