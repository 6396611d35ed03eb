"""programmes_of: every enrolment of the person(s) behind any value."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from engine.publish import publish
from graph.embedded import EmbeddedStore
from graph.queries import programmes_of
from tests.graph.queries_world import (
    HOUSEHOLD_PHONE,
    NAMES,
    NID,
    P1_FULL,
    P1_SMART,
    published,  # noqa: F401  (fixture)
    world,
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


class _WholeGraph:
    """The embedded store's whole graph in memory behind the store's reads: its few edges read
    from whole ``edges`` tables, the path every look-up took before the small-answer one."""

    def __init__(self, memory: Any) -> None:
        self.node = memory.node
        self.neighbours = memory.neighbours
        self.nodes = memory.nodes
        self.edges = memory.edges

    def edge_list(self, edge_type: str, **ids: list[str]) -> list[dict[str, Any]]:
        rows = self.edges(edge_type, **ids).to_dict("records")
        return [{k: v for k, v in r.items() if v is not None and v == v} for r in rows]


def test_the_small_answer_path_agrees_with_the_whole_graph(tmp_path: Path) -> None:
    """The embedded store answers from its tables' rows (``edge_list``, no pandas), with rows
    written after the tables laid over them; the whole graph in memory must give the same."""
    store = EmbeddedStore(tmp_path / "graph", fsync=False)
    try:
        publish(store, *world())
        # written after the tables: a new enrolment of P5, a changed status of P8's, a new link
        store.merge_edges(
            "ENROLLED_IN",
            "Record",
            "Programme",
            [
                {"from": "dss_oa/P5", "to": "vgd_food", "status": "active", "amount": 30.0},
                {"from": "dss_oa/P8a", "to": "old_age_allowance", "status": "suspended"},
            ],
        )
        store.merge_edges(
            "SAME_AS",
            "Record",
            "Record",
            [{"from": "dss_oa/P9a", "to": "dss_oa/P9b", "probability": 0.97}],
        )
        whole = _WholeGraph(store._mem())  # the graph built in memory from the same tables
        several = [p for p in NAMES if len(programmes_of(whole, p).enrolment_rows) > 1]
        assert {"P5", "P6", "P8", "P9"} <= set(several)
        for person in several:
            for records in (True, False):
                small = programmes_of(store, person, records=records)
                big = programmes_of(whole, person, records=records)
                assert small.enrolments.equals(big.enrolments), person
                assert small.records.equals(big.records), person
                assert small.links.equals(big.links), person
        p5 = programmes_of(store, "P5").enrolments.set_index("programme")
        assert p5.loc["vgd_food", "status"] == "active" and p5.loc["vgd_food", "amount"] == 30.0
        p8 = programmes_of(store, "P8").enrolments
        assert "suspended" in set(p8["status"])
    finally:
        store.close()
