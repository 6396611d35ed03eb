"""publish: resolved records into the identity graph, and re-published after a re-run."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from engine.publish import PublishError, detect_registries, publish
from graph.embedded import EmbeddedStore
from graph.queries import suspicious_identifiers
from tests.graph.queries_world import (
    AGENT_WALLET,
    HOUSEHOLD_PHONE,
    NID,
    P1_FULL,
    P1_SMART,
    SPLIT_PHONE,
    world,
)


@pytest.fixture
def store(tmp_path: Path):
    with EmbeddedStore(tmp_path / "graph", fsync=False) as opened:
        yield opened


def _targets(store, label: str, node_id: str, edge_type: str, direction: str = "out") -> set:
    return {
        (n.label, n.props["id"])
        for n in store.neighbours(label, node_id, edge_type, direction=direction)
    }


def test_writes_the_graph_model(store) -> None:
    records, assignment, links = world()
    stages: list[tuple[str, int, int]] = []
    report = publish(store, records, assignment, links, progress=lambda *a: stages.append(a))
    assert report.records == len(records) == store.count("Record")
    assert report.persons == assignment["person_id"].nunique() == store.count("Person")
    assert ("records", len(records), len(records)) in stages

    karim = store.node("Record", "dss_oa/P1")
    assert karim["full_name"] == "Md. Abdul Karim" and karim["programme"] == "old_age_allowance"
    # the 17-digit NID is published as its 13-digit core; the edge keeps the form written
    has = {
        n.props["id"]: n
        for n in store.neighbours("Record", "dss_oa/P1", "HAS", neighbour_label="NID")
    }
    assert set(has) == {NID["P1"]} and has[NID["P1"]].edge_props["form"] == "17"
    assert store.node("NID", NID["P1"])["form"] == "13"
    assert store.node("NID", P1_SMART)["form"] == "10"
    wallet = store.node("Account", f"bkash:{HOUSEHOLD_PHONE}")
    assert (wallet["provider"], wallet["number"], wallet["phone"]) == (
        "bkash",
        HOUSEHOLD_PHONE,
        HOUSEHOLD_PHONE,
    )
    assert store.node("Phone", HOUSEHOLD_PHONE)["operator"] == "grameenphone"
    assert _targets(store, "Record", "dss_oa/P1", "OF") == {("Person", "P1")}
    enrolled = store.neighbours("Record", "dss_widow/P7", "ENROLLED_IN")
    assert enrolled[0].props["id"] == "widow_allowance"
    assert enrolled[0].edge_props["status"] == "suspended"
    egpp = store.node("Programme", "egpp_workfare")
    assert egpp["kind"] == "workfare" and egpp["counts_toward_cap"] is False
    assert _targets(store, "Person", "P2", "MEMBER_OF") == {("Household", "H1")}
    same = store.neighbours("Record", "dss_oa/P8a", "SAME_AS")
    assert same[0].edge_props == {"probability": 0.99, "model_version": "test-1"}


def test_reference_registries_become_ownership_edges(store) -> None:
    records, assignment, links = world()
    report = publish(store, records, assignment, links)
    assert report.registries == {"ec": "ec", "btrc": "btrc", "kyc": "kyc", "bdris": "bdris"}
    assert store.node("Source", "kyc")["registry"] == "kyc"
    assert _targets(store, "Account", f"bkash:{AGENT_WALLET}", "KYC_OWNER") == {("NID", NID["PA"])}
    # BTRC gave Karim's 17-digit NID: the edge goes to the core
    assert _targets(store, "Phone", HOUSEHOLD_PHONE, "REGISTERED_TO") == {("NID", NID["P1"])}
    assert _targets(store, "NID", P1_SMART, "SAME_NID") == {("NID", NID["P1"])}


def test_a_rocket_wallet_given_as_its_mobile_is_the_same_account(store) -> None:
    """DOMAIN.md: a Rocket account is the 11-digit mobile and one digit, and sources give either
    form. The agent's wallet written both ways is one node holding all three records, and the
    agent wallet (three persons in three households) is found as one."""
    records, assignment, links = world()
    agent = records["account_number"] == AGENT_WALLET
    records.loc[agent, "account_provider"] = "rocket"
    records.loc[agent & (records["record_id"] != "P11"), "account_number"] = AGENT_WALLET + "7"
    publish(store, records, assignment, links)

    wallet = f"rocket:{AGENT_WALLET}"
    holders = _targets(store, "Account", wallet, "HAS", direction="in")
    assert holders == {("Record", f"{s}/{r}") for s, r in agent_records(records, agent)}
    assert store.node("Account", f"rocket:{AGENT_WALLET}7") is None
    # each record keeps the number its source wrote
    assert store.node("Record", "dss_oa/P10")["account_number"] == AGENT_WALLET + "7"
    assert store.node("Record", "dss_oa/P11")["account_number"] == AGENT_WALLET
    found = suspicious_identifiers(store, min_risk=0).set_index("identifier")
    assert found.loc[wallet, "persons"] == 3


def agent_records(records: pd.DataFrame, mask: pd.Series) -> list[tuple[str, str]]:
    return list(zip(records.loc[mask, "source"], records.loc[mask, "record_id"], strict=True))


def test_detect_registries_reads_the_fields() -> None:
    records, _, _ = world()
    assert detect_registries(records) == {
        "bdris": "bdris",
        "btrc": "btrc",
        "ec": "ec",
        "kyc": "kyc",
    }


def test_publishing_twice_changes_nothing(store) -> None:
    records, assignment, links = world()
    publish(store, records, assignment, links)
    counts = {name: store.count(name) for name in ("Record", "Person", "HAS", "OF", "SAME_AS")}
    report = publish(store, records, assignment, links)
    assert {name: store.count(name) for name in counts} == counts
    assert report.pruned == {}


def test_republish_after_a_rerun_moves_what_moved(store) -> None:
    records, assignment, links = world()
    publish(store, records, assignment, links)
    # the re-run joins the split person, and one record's phone was corrected
    assignment.loc[assignment["person_id"] == "P18b", "person_id"] = "P18a"
    records.loc[records["record_id"] == "P13", "phone"] = "01733000013"
    records.loc[records["record_id"] == "P14", "phone"] = None
    links = links[links["left"] != "dss_oa/P8a"]
    report = publish(store, records, assignment, links)

    assert _targets(store, "Record", "dss_disability/P18b", "OF") == {("Person", "P18a")}
    assert store.node("Person", "P18b") is None  # no record left
    assert _targets(store, "Record", "dss_oa/P13", "HAS", "out") >= {("Phone", "01733000013")}
    assert ("Phone", "01888000000") not in _targets(store, "Record", "dss_oa/P13", "HAS")
    assert ("Phone", "01888000000") not in _targets(store, "Record", "dss_disability/P14", "HAS")
    assert store.neighbours("Record", "dss_oa/P8a", "SAME_AS", direction="both") == []
    assert report.pruned["Person"] == 1 and report.pruned["HAS"] == 2
    # one person now: the split person's phone is no longer shared
    assert SPLIT_PHONE not in set(suspicious_identifiers(store, min_risk=0)["identifier"])


def test_a_republish_may_leave_the_lost_edges_uncounted(store) -> None:
    """ekjon resolve does not show them: counting them compares every edge of both graphs."""
    records, assignment, links = world()
    publish(store, records, assignment, links)
    assignment.loc[assignment["person_id"] == "P18b", "person_id"] = "P18a"
    records.loc[records["record_id"] == "P14", "phone"] = None
    report = publish(store, records, assignment, links, count_pruned_edges=False)
    assert report.pruned == {"Person": 1}  # the nodes still counted, no edge type
    assert ("Phone", "01888000000") not in _targets(store, "Record", "dss_disability/P14", "HAS")


def test_without_resolver_households_the_records_households_are_used(store) -> None:
    records, assignment, links = world()
    publish(store, records, assignment.drop(columns="household_id"), links)
    assert _targets(store, "Person", "P2", "MEMBER_OF") == {("Household", "nhd/h1")}
    # the household phone is still recognised as household sharing
    assert HOUSEHOLD_PHONE not in set(suspicious_identifiers(store, min_risk=0)["identifier"])


def test_unassigned_records_are_published_without_a_person(store) -> None:
    records, assignment, _ = world()
    report = publish(store, records, assignment[assignment["person_id"] != "P21"])
    assert report.unassigned == 3  # survey, Old Age and EC records
    assert store.node("Record", "dss_oa/P21") is not None
    assert store.neighbours("Record", "dss_oa/P21", "OF") == []


@pytest.mark.parametrize(
    ("records", "assignment", "message"),
    [
        (pd.DataFrame({"source": ["a"]}), pd.DataFrame(), "no 'record_id' column"),
        (
            pd.DataFrame({"source": ["a"], "record_id": [None]}),
            pd.DataFrame(),
            "without a source or record_id",
        ),
        (
            pd.DataFrame({"source": ["a"], "record_id": ["1"]}),
            pd.DataFrame({"source": ["a"], "record_id": ["1"]}),
            "no 'person_id' column",
        ),
    ],
)
def test_bad_input_is_refused_with_a_reason(store, records, assignment, message) -> None:
    with pytest.raises(PublishError, match=message):
        publish(store, records, assignment)
    assert store.count("Record") == 0


def test_links_need_record_keys(store) -> None:
    records, assignment, _ = world()
    with pytest.raises(PublishError, match="'left' and 'right'"):
        publish(store, records, assignment, pd.DataFrame({"a": ["x"], "probability": [0.9]}))


def test_the_17_digit_and_13_digit_forms_meet(store) -> None:
    records, assignment, _ = world()
    publish(store, records, assignment)
    givers = _targets(store, "NID", NID["P1"], "HAS", direction="in")
    assert {
        ("Record", "dss_oa/P1"),
        ("Record", "ec/ec-P1"),
        ("Record", "kyc/bkash:01711000001"),
    } <= givers
    assert P1_FULL not in {n.props["id"] for n in store.neighbours("Record", "ec/ec-P1", "HAS")}


def _household_world() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Two persons the resolver puts in household H9, whose survey records name household 7."""
    records = pd.DataFrame(
        {
            "source": ["survey", "survey", "dss_oa"],
            "record_id": ["r1", "r2", "r3"],
            "kind": ["survey", "survey", "beneficiary"],
            "full_name": ["Abdul Karim", "Rahima Begum", None],
            "full_name_bn": [None, None, "আব্দুল করিম"],
            "household_id": [7, 7, None],  # numbers: read as their text
            "relation_to_head": [None, "spouse", "head"],
            "district": [None, "Bogura", "Rangpur"],
            "union": ["Gabtali", None, None],
            "pmt_score": [10.0, 20.0, None],
        }
    )
    assignment = pd.DataFrame(
        {
            "source": ["survey", "survey", "dss_oa"],
            "record_id": ["r1", "r2", "r3"],
            "person_id": ["A", "B", "A"],
            "household_id": ["H9", "H9", "H9"],
        }
    )
    return records, assignment


@pytest.mark.parametrize(
    ("source_households", "homes"),
    [
        ("always", {"A": {"H9", "survey/7"}, "B": {"H9", "survey/7"}}),
        ("missing", {"A": {"H9"}, "B": {"H9"}}),
        ("never", {"A": {"H9"}, "B": {"H9"}}),
    ],
)
def test_persons_and_households_take_their_records_first_values(
    store, source_households: str, homes: dict[str, set[str]]
) -> None:
    records, assignment = _household_world()
    publish(store, records, assignment, source_households=source_households)
    for person, expected in homes.items():
        assert {n.props["id"] for n in store.neighbours("Person", person, "MEMBER_OF")} == expected
    # a person's properties: the first value any of their records gives
    karim = store.node("Person", "A")
    assert (karim["name"], karim["district"], karim["records"]) == ("Abdul Karim", "Rangpur", 2)
    # the relation any record gives, missing last
    [edge] = [n for n in store.neighbours("Person", "A", "MEMBER_OF") if n.props["id"] == "H9"]
    assert edge.edge_props["relation"] == "head"
    # a household's: its size, its members' records' median PMT and first place given
    h9 = store.node("Household", "H9")
    assert (h9["members"], h9["pmt_score"], h9["district"], h9["union"]) == (
        2,
        15.0,
        "Rangpur",
        "Gabtali",
    )
    if source_households == "always":
        survey = store.node("Household", "survey/7")
        assert (survey["members"], survey["pmt_score"], survey["district"]) == (2, 15.0, "Bogura")
