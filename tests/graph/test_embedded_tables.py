"""The embedded store's tables: a complete publish written as whole tables, read without loading
the graph, switched in only when the publish ends."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from graph.embedded import EmbeddedStore
from graph.store import MissingNode, TableStore, publishing, require_complete
from tests.graph.test_embedded_durability import assert_same, fill, state
from tests.graph.test_store_contract import shared_world


def as_tables(source: EmbeddedStore, target: EmbeddedStore) -> dict[str, int]:
    """Write ``source``'s whole graph into ``target`` through its table writer."""
    writer = target.table_writer()
    for label in ("Record", "Person", "Household", "Phone", "NID", "Account"):
        table = source.nodes(label)
        if len(table):
            writer.add_nodes(label, {c: table[c] for c in table.columns})
    for edge_type in ("OF", "HAS", "REGISTERED_TO", "SAME_AS", "MEMBER_OF"):
        table = source.edges(edge_type)
        for (a, b), group in table.groupby(["from_label", "to_label"]):
            columns = {c: group[c] for c in group.columns if c not in ("from_label", "to_label")}
            writer.add_edges(edge_type, str(a), str(b), columns)
    return writer.finish()


def test_a_graph_written_as_tables_reads_as_the_same_graph(tmp_path: Path) -> None:
    with EmbeddedStore(tmp_path / "rows", compact_on_close=False) as rows:
        fill(rows)
        shared_world(rows)
        expected = state(rows)
        shared = rows.shared_identifiers(["Phone", "Account"], exclude_sources=["btrc"])
        with EmbeddedStore(tmp_path / "tables") as tables:
            assert isinstance(tables, TableStore)
            as_tables(rows, tables)
    with EmbeddedStore(tmp_path / "tables", read_only=True) as reader:
        assert_same(state(reader), expected)
        found = reader.shared_identifiers(["Phone", "Account"], exclude_sources=["btrc"])
        key = ["label", "identifier", "record"]
        pd.testing.assert_frame_equal(
            found.sort_values(key, ignore_index=True).fillna("-"),
            shared.sort_values(key, ignore_index=True).fillna("-"),
            check_dtype=False,
        )
        assert reader.node("Record", "dss/2")["union"] == "kashimpur"
        assert reader.count("Record") == 54 and reader.count("HAS") == len(reader.edges("HAS"))
        assert reader._memory is None  # every answer came from the tables


def test_edge_pairs_are_the_edges_between_two_labels_with_the_rows_written_since(
    tmp_path: Path,
) -> None:
    with EmbeddedStore(tmp_path / "rows", compact_on_close=False) as rows:
        fill(rows)
        shared_world(rows)
        with EmbeddedStore(tmp_path / "tables") as tables:
            as_tables(rows, tables)
    with EmbeddedStore(tmp_path / "tables", compact_on_close=False) as store:
        store.delete_edges("HAS", "Record", "Phone", [{"from": "dss/1", "to": "01711000001"}])
        store.merge_edges("HAS", "Record", "Phone", [{"from": "dss/1", "to": "01711000002"}])
    with EmbeddedStore(tmp_path / "tables", read_only=True) as reader:  # tables + journal
        assert reader._changes
        for edge_type in ("OF", "HAS", "REGISTERED_TO", "MEMBER_OF"):
            edges = reader.edges(edge_type)
            for (a, b), group in edges.groupby(["from_label", "to_label"]):
                pairs = reader.edge_pairs(edge_type, str(a), str(b))
                assert pairs.column_names == ["from", "to"]
                read = zip(pairs["from"].to_pylist(), pairs["to"].to_pylist(), strict=True)
                assert sorted(read) == sorted(zip(group["from"], group["to"], strict=True))
        has = reader.edge_pairs("HAS", "Record", "Phone")
        written = set(zip(has["from"].to_pylist(), has["to"].to_pylist(), strict=True))
        assert ("dss/1", "01711000002") in written and ("dss/1", "01711000001") not in written
        assert reader.edge_pairs("HAS", "Record", "BRN").num_rows == 0


def test_values_keep_their_types_in_tables_even_mixed(tmp_path: Path) -> None:
    with EmbeddedStore(tmp_path) as store:
        writer = store.table_writer()
        writer.add_nodes(
            "Record",
            {
                "id": ["a/1", "a/2", "a/3"],
                "age": [70, None, 65],
                "score": [1.5, 2.0, None],
                "active": [True, None, False],
                "household": ["7", 8, None],  # text in one record, a number in another
            },
        )
        writer.finish()
    with EmbeddedStore(tmp_path, read_only=True) as reader:
        assert reader.node("Record", "a/1") == {
            "id": "a/1",
            "age": 70,
            "score": 1.5,
            "active": True,
            "household": "7",
        }
        assert reader.node("Record", "a/2") == {"id": "a/2", "score": 2.0, "household": 8}
        assert type(reader.node("Record", "a/3")["age"]) is int
        assert reader.node("Record", "a/9") is None


def test_a_complete_publish_replaces_the_graph_only_when_it_ends(tmp_path: Path) -> None:
    with EmbeddedStore(tmp_path) as store:
        with publishing(store, "resolve run 1"):
            fill(store)
        before = state(store)
        store.begin_publish("resolve run 2")
        writer = store.table_writer()
        writer.add_nodes("Person", {"id": ["P1", "P2"]})
        lost = writer.finish()
        assert lost["Record"] == 49 and lost["Person"] == 23
        assert_same(state(store), before)  # written, not yet switched in
    # cut short (the end never came): the tables are dropped, readers see run 1
    assert not list(tmp_path.glob("*.tmp"))
    with EmbeddedStore(tmp_path, read_only=True) as reader:
        assert_same(state(reader), before)
        assert require_complete(reader).last_run == "resolve run 1"
    with EmbeddedStore(tmp_path) as store:
        with publishing(store, "resolve run 3"):
            writer = store.table_writer()
            writer.add_nodes("Person", {"id": ["P1", "P2"]})
            writer.finish()
            assert store.count("Person") == 25
        assert store.count("Person") == 2 and store.count("Record") == 0
    with EmbeddedStore(tmp_path, read_only=True) as reader:
        shown = require_complete(reader)
        assert shown.last_run == "resolve run 3" and not shown.unfinished
        assert reader.count("Person") == 2


def test_tables_with_an_edge_to_a_missing_node_are_refused(tmp_path: Path) -> None:
    with EmbeddedStore(tmp_path) as store:
        fill(store)
        before = state(store)
        writer = store.table_writer()
        writer.add_nodes("Record", {"id": ["a/1"]})
        writer.add_edges("OF", "Record", "Person", {"from": ["a/1"], "to": ["P404"]})
        with pytest.raises(MissingNode, match="Person 'P404'"):
            writer.finish()
        assert_same(state(store), before)


def test_rows_written_after_tables_are_read_back_and_folded_in(tmp_path: Path) -> None:
    with EmbeddedStore(tmp_path) as store:
        writer = store.table_writer()
        writer.add_nodes("Phone", {"id": ["0171", "0172"], "operator": ["gp", "gp"]})
        writer.finish()
    with EmbeddedStore(tmp_path, compact_on_close=False) as store:
        store.merge_nodes("Phone", [{"id": "0173"}, {"id": "0171", "operator": None}])
    with EmbeddedStore(tmp_path, read_only=True) as reader:  # tables + the journal replayed
        assert sorted(reader.nodes("Phone")["id"]) == ["0171", "0172", "0173"]
        assert reader.node("Phone", "0171") == {"id": "0171"}
    with EmbeddedStore(tmp_path) as store:
        store.delete_nodes("Phone", ["0172"])
    with EmbeddedStore(tmp_path, read_only=True) as reader:  # folded into tables at close
        assert sorted(reader.nodes("Phone")["id"]) == ["0171", "0173"]
        assert reader._memory is None and not reader._changes


def test_look_ups_in_tables_of_many_rows_find_every_row(tmp_path: Path) -> None:
    """Look-ups in tables of thousands of rows (a binary search over a sample of every 128th
    value, then a window): every id is found with all its rows, absent ones with none, and
    ``edge_list`` gives what ``edges`` gives."""
    import random

    rng = random.Random(7)
    persons = [f"P{n:05d}" for n in range(1500)]
    # 1 to 300 records a person: runs of one value longer than the sample's step, in any order
    owner = [
        p for p in persons for _ in range(rng.choice([1, 1, 2, 3, 300]) if p[-1] == "7" else 1)
    ]
    rng.shuffle(owner)
    records = [f"src/r{i:06d}" for i in range(len(owner))]
    with EmbeddedStore(tmp_path / "graph", fsync=False) as store:
        writer = store.table_writer()
        writer.add_nodes("Person", {"id": persons})
        writer.add_nodes("Record", {"id": records, "source": ["src"] * len(records)})
        writer.add_edges("OF", "Record", "Person", {"from": records, "to": owner})
        writer.finish()
        every = store.edges("OF")
        expected: dict[str, set[str]] = {}
        for key, person in zip(every["from"], every["to"], strict=True):
            expected.setdefault(person, set()).add(key)
        asked = [*rng.sample(persons, 300), "P00000", "P01499", "P", "P0", "P99999", "A", "Z"]
        for person in asked:
            rows = store.edge_list("OF", to_ids=[person])
            assert {r["from"] for r in rows} == expected.get(person, set()), person
            assert all(r["to"] == person and r["from_label"] == "Record" for r in rows)
            assert (store.node("Person", person) is not None) == (person in persons)
        for key in rng.sample(records, 200):
            assert [r["to"] for r in store.edge_list("OF", from_ids=[key])] == [
                owner[records.index(key)]
            ]


@pytest.mark.parametrize("folded", [False, True], ids=["journal", "folded"])
def test_present_names_the_nodes_nodes_holds(tmp_path: Path, folded: bool) -> None:
    """``present`` (a storing group's look-ups) is the ids ``nodes(ids=...)`` gives: nodes of
    the tables, nodes written since, not those deleted since, nor absent ones."""
    persons = [f"P{n:04d}" for n in range(1000)]
    with EmbeddedStore(tmp_path / "graph", fsync=False) as store:
        writer = store.table_writer()
        writer.add_nodes("Person", {"id": persons})
        writer.finish()
        store.merge_nodes("Person", [{"id": "P5000"}, {"id": "P0003", "name": "x"}])
        store.delete_nodes("Person", ["P0007", "P0999"])
        if folded:
            store.compact()
        asked = ["P0000", "P0003", "P0007", "P0500", "P0999", "P5000", "P9999", "P", "Q"]
        held = set(store.nodes("Person", ["id"], ids=asked)["id"])
        assert held == {"P0000", "P0003", "P0500", "P5000"}
        assert store.present("Person", asked) == held
        assert store.present("Household", ["P0000"]) == set()


def test_warm_makes_every_look_up_index_ahead(tmp_path: Path) -> None:
    """A server warms the store at start: every label's and edge file's look-up index (with its
    sample) is made then, not by its first requests; the answers are the same."""
    with EmbeddedStore(tmp_path / "graph", fsync=False) as store:
        writer = store.table_writer()
        writer.add_nodes("Person", {"id": ["P1", "P2"]})
        writer.add_nodes("Record", {"id": ["a/1", "a/2", "a/3"], "source": ["a", "a", "a"]})
        writer.add_edges(
            "OF", "Record", "Person", {"from": ["a/1", "a/2", "a/3"], "to": ["P1"] * 3}
        )
        writer.finish()
        before = store.edge_list("OF", to_ids=["P1"])
    with EmbeddedStore(tmp_path / "graph", fsync=False) as store:
        tables = store._view()
        assert not tables._sorted  # nothing read yet
        store.warm()
        made = {key: index._samples for key, index in tables._sorted.items()}
        assert set(made) == {
            ("Person", "id"),
            ("Record", "id"),
            ("edge-OF-Record-Person.arrow", "from"),
            ("edge-OF-Record-Person.arrow", "to"),
        }
        assert all(sample for sample in made.values())
        assert store.edge_list("OF", to_ids=["P1"]) == before
        assert store.node("Person", "P2") == {"id": "P2"}
