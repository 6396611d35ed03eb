"""A partial publish (``complete=False``): a few records added to a published graph, the rest left
as it was."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from engine.publish import PublishError, publish
from graph.embedded import EmbeddedStore
from tests.graph.queries_world import HOUSEHOLD_PHONE, world

EDGES = ("OF", "HAS", "ENROLLED_IN", "FROM", "MEMBER_OF", "SAME_AS", "KYC_OWNER", "REGISTERED_TO")


@pytest.fixture
def store(tmp_path: Path):
    records, assignment, links = world()
    with EmbeddedStore(tmp_path / "graph", fsync=False) as opened:
        publish(opened, records, assignment, links)
        yield opened


def _one(record: dict, person: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    assignment = pd.DataFrame(
        {"source": [record["source"]], "record_id": [record["record_id"]], "person_id": [person]}
    )
    return pd.DataFrame([record]), assignment


def _edges(store, key: str) -> set[tuple[str, str, str]]:
    """The record's edges but its scored links (the batch's pairs: kept until the next batch)."""
    return {
        (n.edge_type, n.label, n.props["id"])
        for n in store.neighbours("Record", key)
        if n.edge_type != "SAME_AS"
    }


def _counts(store) -> dict[str, int]:
    labels = ("Record", "Person", "Household", "Source", "Programme", "Phone")
    return {name: store.count(name) for name in (*labels, *EDGES)}


def test_a_new_record_of_a_known_person_touches_nothing_else(store) -> None:
    before, person = _counts(store), store.node("Person", "P21")
    record = {"source": "dss_widow", "record_id": "NEW", "programme": "widow_allowance",
              "full_name": "Someone Else", "phone": "01799000001", "status": "active"}  # fmt: skip
    publish(store, *_one(record, "P21"), complete=False, source_households="never")

    assert _edges(store, "dss_widow/NEW") == {
        ("OF", "Person", "P21"),
        ("FROM", "Source", "dss_widow"),
        ("ENROLLED_IN", "Programme", "widow_allowance"),
        ("HAS", "Phone", "01799000001"),
    }
    # the person keeps its properties (its name is its first record's); nothing is pruned
    assert store.node("Person", "P21") == person
    grew = {"Record": 1, "Phone": 1, "OF": 1, "FROM": 1, "ENROLLED_IN": 1, "HAS": 1}
    assert _counts(store) == {k: v + grew.get(k, 0) for k, v in before.items()}


def test_a_new_person_gets_their_records_household(store) -> None:
    record = {"source": "dss_oa", "record_id": "NEW", "programme": "old_age_allowance",
              "full_name": "Rahela Khatun", "household_id": "77"}  # fmt: skip
    publish(store, *_one(record, "P99"), complete=False)
    assert store.node("Person", "P99")["name"] == "Rahela Khatun"
    [home] = store.neighbours("Person", "P99", "MEMBER_OF")
    assert home.props["id"] == "dss_oa/77"


def test_a_new_version_drops_what_it_no_longer_has_and_an_emptied_person(store) -> None:
    # P2's only programme record, moved to a new person with another phone and no wallet
    old = _edges(store, "dss_widow/P2")
    assert ("HAS", "Phone", HOUSEHOLD_PHONE) in old and ("OF", "Person", "P2") in old
    record = {"source": "dss_widow", "record_id": "P2", "programme": "widow_allowance",
              "full_name": "Rahima Khatun", "phone": "01799000002"}  # fmt: skip
    publish(store, *_one(record, "P98"), complete=False, source_households="never")
    assert _edges(store, "dss_widow/P2") == {
        ("OF", "Person", "P98"),
        ("FROM", "Source", "dss_widow"),
        ("ENROLLED_IN", "Programme", "widow_allowance"),
        ("HAS", "Phone", "01799000002"),
    }
    # P2 keeps its survey record, so it stays; the household phone keeps its other records
    assert store.node("Person", "P2") is not None
    assert store.neighbours("Phone", HOUSEHOLD_PHONE, "HAS", direction="in")

    # P2's other records (the survey's, the EC's) move too: P2 has none left and goes
    for moved in [n.props for n in store.neighbours("Person", "P2", "OF", direction="in")]:
        record = {"source": moved["source"], "record_id": moved["record_id"]}
        publish(store, *_one(record, "P98"), complete=False, source_households="never")
    assert store.node("Person", "P2") is None
    assert len(store.neighbours("Person", "P98", "OF", direction="in")) == 3
    assert store.node("Person", "P1") is not None


def test_a_partial_publish_writes_into_a_store_only(tmp_path: Path) -> None:
    from graph.neo4j.bulk import ImportFiles

    record = {"source": "dss_oa", "record_id": "1"}
    with pytest.raises(PublishError, match="graph store only"):
        publish(ImportFiles(tmp_path / "import"), *_one(record, "P1"), complete=False)


@pytest.mark.parametrize("folded", [False, True], ids=["journal", "folded"])
def test_a_record_added_to_tables_builds_no_whole_graph_and_is_read_after_reopening(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, folded: bool
) -> None:
    """A row-level write into a store that holds its graph as tables goes into the journal (and
    the tables with its rows laid over them): the whole graph is never built in memory, and
    readers see the record, in reads and in findings, whether or not it was folded into tables."""
    from graph.embedded import memory
    from graph.queries import suspicious_identifiers
    from graph.store import publishing

    records, assignment, links = world()
    path = tmp_path / "graph"
    with EmbeddedStore(path) as store:
        publish(store, records, assignment, links)
    [generation] = [p.name for p in path.glob("tables-*")]
    with EmbeddedStore(path, read_only=True) as reader:
        before = suspicious_identifiers(reader, min_risk=0)
    assert HOUSEHOLD_PHONE not in set(before["identifier"])  # one household's phone

    class NoWholeGraph(memory.GraphMemory):
        def __init__(self, *args: object) -> None:
            raise AssertionError("the whole graph was built in memory")

    monkeypatch.setattr(memory, "GraphMemory", NoWholeGraph)
    # a stranger in another household gives H1's phone: now it crosses households
    record = {"source": "dss_oa", "record_id": "NEW", "programme": "old_age_allowance",
              "full_name": "Rahela Khatun", "household_id": "77",
              "phone": HOUSEHOLD_PHONE}  # fmt: skip
    with EmbeddedStore(path, compact_on_close=folded) as store:
        with publishing(store, "one record", complete=False):
            publish(store, *_one(record, "P99"), complete=False)
        assert store.node("Record", "dss_oa/NEW")["full_name"] == "Rahela Khatun"
        found = suspicious_identifiers(store, min_risk=0)
        assert "P99" in found.set_index("identifier").loc[HOUSEHOLD_PHONE, "person_ids"]
    # without folding, the tables on disk are the publish's: the record is in the journal only
    assert ([p.name for p in path.glob("tables-*")] == [generation]) is not folded

    with EmbeddedStore(path, read_only=True) as reader:
        assert reader.node("Record", "dss_oa/NEW")["full_name"] == "Rahela Khatun"
        assert {n.props["id"] for n in reader.neighbours("Record", "dss_oa/NEW", "OF")} == {"P99"}
        assert reader.count("Record") == len(records) + 1
        assert "dss_oa/NEW" in set(reader.edges("HAS", to_ids=[HOUSEHOLD_PHONE])["from"])
        found = suspicious_identifiers(reader, min_risk=0).set_index("identifier")
        assert found.loc[HOUSEHOLD_PHONE, "person_ids"].split(";") == ["P1", "P2", "P3", "P99"]


def test_a_new_record_published_with_a_new_version_leaves_the_version_pruned(store) -> None:
    """A partial publish of records all new to the graph has nothing to prune and skips it; one
    record the graph holds among them is enough for its old edges to go."""
    new = {"source": "dss_widow", "record_id": "NEW", "programme": "widow_allowance",
           "full_name": "Someone Else", "phone": "01799000001"}  # fmt: skip
    version = {"source": "dss_widow", "record_id": "P2", "programme": "widow_allowance",
               "full_name": "Rahima Khatun", "phone": "01799000002"}  # fmt: skip
    records = pd.DataFrame([new, version])
    assignment = pd.DataFrame(
        {"source": ["dss_widow"] * 2, "record_id": ["NEW", "P2"], "person_id": ["P21", "P98"]}
    )
    publish(store, records, assignment, complete=False, source_households="never")
    assert ("HAS", "Phone", HOUSEHOLD_PHONE) not in _edges(store, "dss_widow/P2")
    assert ("OF", "Person", "P2") not in _edges(store, "dss_widow/P2")
    assert ("HAS", "Phone", "01799000001") in _edges(store, "dss_widow/NEW")


def test_a_record_of_a_new_source_adds_that_source_and_a_known_one_keeps_its_own(store) -> None:
    known = store.node("Source", "dss_widow")
    for source, record_id in (("upazila_mis", "N1"), ("dss_widow", "N2")):
        record = {"source": source, "record_id": record_id, "kind": "programme",
                  "full_name": "Someone Else", "programme": "widow_allowance"}  # fmt: skip
        publish(store, *_one(record, "P21"), complete=False, source_households="never")
    assert store.node("Source", "upazila_mis") == {
        "id": "upazila_mis",
        "kind": "programme",
        "records": 1,
    }
    assert store.node("Source", "dss_widow") == known  # sums over records it does not see


def graph_tables(store) -> dict[str, list]:
    """Every node and edge table of the graph schema, as sorted rows."""
    from graph.schema import EDGES, NODES

    out = {}
    for name, table in [
        *((label, store.nodes(label)) for label in NODES),
        *((edge, store.edges(edge)) for edge in EDGES),
    ]:
        frame = table.astype(object).where(table.notna(), None)
        out[name] = sorted(map(repr, frame[sorted(frame.columns)].itertuples(index=False)))
    return out


def test_records_published_together_write_what_one_at_a_time_writes(tmp_path: Path) -> None:
    """Two records of a person new to the graph, a record of a known person naming a household,
    and two records of a source new to the graph: published together as published one by one
    (the person and the source made from their first record; no household for a known person)."""
    records, assignment, links = world()
    sent = [
        ({"source": "api_mis", "record_id": "A1", "kind": "programme", "full_name": None,
          "full_name_bn": "রহিমা", "household_id": "H1", "relation_to_head": "head",
          "pmt_score": 10.0, "programme": "widow_allowance"}, "P900"),
        ({"source": "api_mis", "record_id": "A2", "kind": "programme", "full_name": "Rahima B",
          "household_id": "H2", "relation_to_head": "wife", "pmt_score": 30.0,
          "phone": "01799000002"}, "P900"),
        ({"source": "dss_widow", "record_id": "K1", "kind": "programme",
          "full_name": "Known Person", "household_id": "H9", "relation_to_head": "head"}, "P21"),
    ]  # fmt: skip
    graphs = []
    for together in (False, True):
        with EmbeddedStore(tmp_path / f"graph-{together}", fsync=False) as store:
            publish(store, records, assignment, links)
            batches = [sent] if together else [[one] for one in sent]
            for batch in batches:
                frame = pd.DataFrame([record for record, _ in batch])
                people = frame[["source", "record_id"]].assign(person_id=[p for _, p in batch])
                publish(store, frame, people, complete=False)
            graphs.append(graph_tables(store))
    alone, together = graphs
    assert together == alone
    [made] = [r for r in alone["Person"] if "'P900'" in r]
    assert "records=1" in made and "রহিমা" in made  # its first record's
    assert [r for r in alone["MEMBER_OF"] if "'P900'" in r] == [
        r for r in alone["MEMBER_OF"] if "'P900'" in r and "api_mis/H1" in r
    ]
