"""The GraphStore contract: every test runs against each store (see the ``store`` fixture)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import graph.store
from graph.open import open_store
from graph.store import (
    GraphStore,
    GraphStoreError,
    InvalidEdgeEnds,
    InvalidRow,
    MissingNode,
    Neighbour,
    PublishInterrupted,
    PublishState,
    StoreUnavailable,
    UnknownEdgeType,
    UnknownLabel,
    publishing,
    require_complete,
)

KARIM = {
    "id": "dss_oaa/1001",
    "source": "dss_oaa",
    "record_id": "1001",
    "programme": "old_age_allowance",
    "full_name": "Md. Abdul Karim",
    "full_name_bn": "মোঃ আব্দুল করিম",
    "gender": "male",
    "date_of_birth": "1950-01-01",
    "district": "BD3026",
    "union": "kashimpur",
}
RAHIMA = {
    "id": "dss_wa/77",
    "source": "dss_wa",
    "full_name_bn": "মোছাঃ রহিমা বেগম",
    "gender": "female",
    "amount": 600.0,
}


def small_world(store: GraphStore) -> None:
    """Two records, two persons, one shared phone, one wallet, a programme."""
    store.merge_nodes("Record", [KARIM, RAHIMA])
    store.merge_nodes("Person", [{"id": "P1"}, {"id": "P2"}])
    store.merge_nodes("Phone", [{"id": "01711000001", "operator": "GP"}])
    store.merge_nodes("Account", [{"id": "bkash:01711000001", "provider": "bkash"}])
    store.merge_nodes("Programme", [{"id": "old_age_allowance", "name": "Old Age", "cash": True}])
    store.merge_edges(
        "OF",
        "Record",
        "Person",
        [{"from": KARIM["id"], "to": "P1"}, {"from": RAHIMA["id"], "to": "P2"}],
    )
    store.merge_edges(
        "HAS",
        "Record",
        "Phone",
        [
            {"from": KARIM["id"], "to": "01711000001", "role": "contact"},
            {"from": RAHIMA["id"], "to": "01711000001", "role": "contact"},
        ],
    )
    store.merge_edges(
        "HAS",
        "Record",
        "Account",
        [{"from": KARIM["id"], "to": "bkash:01711000001", "role": "payment"}],
    )
    store.merge_edges(
        "ENROLLED_IN",
        "Record",
        "Programme",
        [{"from": KARIM["id"], "to": "old_age_allowance", "status": "active", "amount": 600}],
    )


# --- nodes ----------------------------------------------------------------------------------------


def test_merge_nodes_twice_keeps_one_node(store: GraphStore) -> None:
    assert store.merge_nodes("Record", [KARIM, RAHIMA]) == 2
    assert store.merge_nodes("Record", [KARIM, RAHIMA]) == 2
    assert store.count("Record") == 2
    assert store.node("Record", KARIM["id"]) == KARIM


def test_merge_sets_named_properties_keeps_the_rest_and_none_removes(store: GraphStore) -> None:
    store.merge_nodes("Record", [KARIM])
    store.merge_nodes("Record", [{"id": KARIM["id"], "union": "konabari", "gender": None}])
    expected = {**KARIM, "union": "konabari"}
    del expected["gender"]
    assert store.node("Record", KARIM["id"]) == expected


def test_node_that_does_not_exist_is_none(store: GraphStore) -> None:
    assert store.node("Record", "nowhere/1") is None


def test_same_id_under_two_labels_is_two_nodes(store: GraphStore) -> None:
    store.merge_nodes("NID", [{"id": "1234567890", "form": "10"}])
    store.merge_nodes("BRN", [{"id": "1234567890"}])
    assert store.node("NID", "1234567890") == {"id": "1234567890", "form": "10"}
    assert store.node("BRN", "1234567890") == {"id": "1234567890"}
    assert (store.count("NID"), store.count("BRN")) == (1, 1)


def test_values_keep_their_types(store: GraphStore) -> None:
    row = {"id": "x/1", "age": 67, "pmt_score": 12.5, "active": False, "name": "০১৭১১"}
    store.merge_nodes("Record", [row])
    got = store.node("Record", "x/1")
    assert got == row
    assert [type(got[k]) for k in ("age", "pmt_score", "active", "name")] == [int, float, bool, str]


def test_dataframe_rows_can_be_merged_missing_values_are_absent(store: GraphStore) -> None:
    frame = pd.DataFrame(
        {
            "id": ["a/1", "a/2"],
            "age": [70, 65],
            "pmt_score": [np.nan, 3.5],
            "gender": ["male", None],
        }
    )
    store.merge_nodes("Record", frame.to_dict("records"))
    assert store.node("Record", "a/1") == {"id": "a/1", "age": 70, "gender": "male"}
    assert store.node("Record", "a/2") == {"id": "a/2", "age": 65, "pmt_score": 3.5}
    assert type(store.node("Record", "a/1")["age"]) is int


def test_bangla_text_round_trips(store: GraphStore) -> None:
    small_world(store)
    assert store.node("Record", RAHIMA["id"])["full_name_bn"] == "মোছাঃ রহিমা বেগম"
    table = store.nodes("Record").set_index("id")
    assert table.loc[KARIM["id"], "full_name_bn"] == "মোঃ আব্দুল করিম"
    (karim,) = [n for n in store.neighbours("Person", "P1", direction="in")]
    assert karim.props["full_name_bn"] == "মোঃ আব্দুল করিম"


# --- edges ----------------------------------------------------------------------------------------


def test_merge_edges_twice_keeps_one_edge_and_updates_its_properties(store: GraphStore) -> None:
    small_world(store)
    row = {
        "from": KARIM["id"],
        "to": "old_age_allowance",
        "status": "suspended",
        "since": "2020-07-01",
    }
    store.merge_edges("ENROLLED_IN", "Record", "Programme", [row, row])
    assert store.count("ENROLLED_IN") == 1
    (enrolment,) = store.neighbours("Record", KARIM["id"], edge_type="ENROLLED_IN")
    assert enrolment.edge_props == {"status": "suspended", "since": "2020-07-01", "amount": 600}


def test_edge_to_a_missing_node_is_refused_and_its_batch_not_written(store: GraphStore) -> None:
    small_world(store)
    rows = [
        {"from": KARIM["id"], "to": "P2"},  # fine on its own
        {"from": "dss_oaa/404", "to": "P1"},
    ]
    with pytest.raises(MissingNode, match="x/9") as caught:
        store.merge_edges("SAME_AS", "Record", "Record", [{"from": KARIM["id"], "to": "x/9"}])
    assert caught.value.missing == [("Record", "x/9")]
    with pytest.raises(MissingNode, match="Record 'dss_oaa/404'"):
        store.merge_edges("OF", "Record", "Person", rows)
    assert store.count("OF") == 2
    assert [n.props["id"] for n in store.neighbours("Record", KARIM["id"], "OF")] == ["P1"]


def test_neighbours_in_each_direction(store: GraphStore) -> None:
    small_world(store)
    out = store.neighbours("Record", KARIM["id"])
    assert [(n.edge_type, n.label, n.props["id"]) for n in out] == [
        ("ENROLLED_IN", "Programme", "old_age_allowance"),
        ("HAS", "Account", "bkash:01711000001"),
        ("HAS", "Phone", "01711000001"),
        ("OF", "Person", "P1"),
    ]
    into = store.neighbours("Phone", "01711000001", direction="in")
    assert into == [
        Neighbour("HAS", {"role": "contact"}, "Record", KARIM),
        Neighbour("HAS", {"role": "contact"}, "Record", RAHIMA),
    ]
    assert store.neighbours("Phone", "01711000001") == []  # no edges out of the phone
    store.merge_nodes("Record", [{"id": "x/3"}])
    store.merge_edges("SAME_AS", "Record", "Record", [{"from": KARIM["id"], "to": "x/3"}])
    store.merge_edges("SAME_AS", "Record", "Record", [{"from": "x/3", "to": RAHIMA["id"]}])
    both = store.neighbours("Record", "x/3", edge_type="SAME_AS", direction="both")
    assert [n.props["id"] for n in both] == [KARIM["id"], RAHIMA["id"]]


def test_neighbours_filter_by_edge_type_and_label(store: GraphStore) -> None:
    small_world(store)
    phones = store.neighbours("Record", KARIM["id"], edge_type="HAS", neighbour_label="Phone")
    assert phones == [
        Neighbour("HAS", {"role": "contact"}, "Phone", {"id": "01711000001", "operator": "GP"})
    ]
    assert store.neighbours("Record", KARIM["id"], edge_type="SAME_AS") == []
    assert store.neighbours("Record", KARIM["id"], neighbour_label="Person")[0].props == {
        "id": "P1"
    }


def test_neighbours_of_a_missing_node_is_empty(store: GraphStore) -> None:
    assert store.neighbours("Person", "P404", direction="both") == []


def test_an_edge_from_a_node_to_itself_is_refused(store: GraphStore) -> None:
    store.merge_nodes("Record", [KARIM])
    with pytest.raises(InvalidRow, match="to itself"):
        store.merge_edges("SAME_AS", "Record", "Record", [{"from": KARIM["id"], "to": KARIM["id"]}])


# --- tables ---------------------------------------------------------------------------------------


def test_nodes_table_has_id_then_properties_alphabetically(store: GraphStore) -> None:
    small_world(store)
    table = store.nodes("Record").sort_values("id", ignore_index=True)
    assert list(table.columns) == ["id", *sorted((KARIM.keys() | RAHIMA.keys()) - {"id"})]
    assert list(table["id"]) == [KARIM["id"], RAHIMA["id"]]
    assert pd.isna(table.loc[0, "amount"]) and table.loc[1, "amount"] == 600.0
    assert pd.isna(table.loc[1, "district"])


def test_nodes_table_with_chosen_properties(store: GraphStore) -> None:
    small_world(store)
    table = store.nodes("Record", properties=["gender", "nid"]).sort_values("id")
    assert list(table.columns) == ["id", "gender", "nid"]
    assert list(table["gender"]) == ["male", "female"]
    assert table["nid"].isna().all()


def test_tables_read_in_chunks_are_the_same_table(
    store: GraphStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = [{"id": f"a/{i}", "age": 60 + i} for i in range(5)]
    rows += [{"id": "a/5", "gender": "female"}, {"id": "a/6", "pmt_score": 2.5}]
    store.merge_nodes("Record", rows)
    whole = store.nodes("Record").sort_values("id", ignore_index=True)
    monkeypatch.setattr(graph.store, "TABLE_CHUNK", 3)  # the last chunk has no ages at all
    chunked = store.nodes("Record").sort_values("id", ignore_index=True)
    pd.testing.assert_frame_equal(chunked, whole)
    assert list(whole.columns) == ["id", "age", "gender", "pmt_score"]
    assert whole["age"].tolist()[:5] == [60, 61, 62, 63, 64] and whole["age"].isna().sum() == 2


def test_empty_tables_still_have_their_columns(store: GraphStore) -> None:
    assert list(store.nodes("Household").columns) == ["id"]
    assert len(store.nodes("Household")) == 0
    assert list(store.edges("MEMBER_OF").columns) == ["from", "to", "from_label", "to_label"]


def test_edges_table_has_ends_labels_and_properties(store: GraphStore) -> None:
    small_world(store)
    has = store.edges("HAS").sort_values(["to", "from"], ignore_index=True)
    assert list(has.columns) == ["from", "to", "from_label", "to_label", "role"]
    assert has.to_dict("records") == [
        {
            "from": KARIM["id"],
            "to": "01711000001",
            "from_label": "Record",
            "to_label": "Phone",
            "role": "contact",
        },
        {
            "from": RAHIMA["id"],
            "to": "01711000001",
            "from_label": "Record",
            "to_label": "Phone",
            "role": "contact",
        },
        {
            "from": KARIM["id"],
            "to": "bkash:01711000001",
            "from_label": "Record",
            "to_label": "Account",
            "role": "payment",
        },
    ]


def test_nodes_of_some_ids_only(store: GraphStore) -> None:
    small_world(store)
    table = store.nodes("Record", ["gender", "amount"], ids=[RAHIMA["id"], "nobody/1"])
    assert list(table.columns) == ["id", "gender", "amount"]
    assert table.to_dict("records") == [{"id": RAHIMA["id"], "gender": "female", "amount": 600.0}]
    assert list(store.nodes("Record", ids=[KARIM["id"]])["full_name"]) == [KARIM["full_name"]]
    assert store.nodes("Record", ["gender"], ids=[]).empty


def test_edges_from_or_to_some_nodes_only(store: GraphStore) -> None:
    small_world(store)
    mine = store.edges("HAS", from_ids=[KARIM["id"]]).sort_values("to", ignore_index=True)
    assert list(mine["to"]) == ["01711000001", "bkash:01711000001"]
    assert list(mine["to_label"]) == ["Phone", "Account"] and list(mine["role"]) == [
        "contact",
        "payment",
    ]
    into = store.edges("HAS", to_ids=["01711000001"]).sort_values("from", ignore_index=True)
    assert list(into["from"]) == [KARIM["id"], RAHIMA["id"]]
    both = store.edges("HAS", from_ids=[KARIM["id"]], to_ids=["bkash:01711000001"])
    assert list(both["to"]) == ["bkash:01711000001"]
    assert store.edges("OF", from_ids=["nobody/1"]).empty
    assert list(store.edges("OF", to_ids=["P2"])["from"]) == [RAHIMA["id"]]


def test_edge_list_gives_the_edges_of_a_few_nodes_as_rows(store: GraphStore) -> None:
    """The small-answer path (a person's programmes) gives what the edges table gives, with
    missing properties left out; warming the store changes no answer."""
    small_world(store)

    def ordered(rows: list[dict]) -> list[dict]:
        return sorted(rows, key=lambda r: (r["from"], r["to"]))

    mine = ordered(store.edge_list("HAS", from_ids=[KARIM["id"]]))
    assert [(r["to"], r["to_label"], r["role"]) for r in mine] == [
        ("01711000001", "Phone", "contact"),
        ("bkash:01711000001", "Account", "payment"),
    ]
    assert all(r["from"] == KARIM["id"] and r["from_label"] == "Record" for r in mine)
    into = ordered(store.edge_list("HAS", to_ids=["01711000001"]))
    assert [r["from"] for r in into] == [KARIM["id"], RAHIMA["id"]]
    both = store.edge_list("HAS", from_ids=[KARIM["id"]], to_ids=["bkash:01711000001"])
    assert [r["to"] for r in both] == ["bkash:01711000001"]
    assert store.edge_list("OF", from_ids=["nobody/1"]) == []
    for rows, table in (
        (mine, store.edges("HAS", from_ids=[KARIM["id"]])),
        (into, store.edges("HAS", to_ids=["01711000001"])),
    ):
        assert rows == ordered(
            [
                {k: v for k, v in r.items() if v is not None and v == v}
                for r in table.to_dict("records")
            ]
        )
    store.warm()
    assert ordered(store.edge_list("HAS", from_ids=[KARIM["id"]])) == mine
    with pytest.raises(UnknownEdgeType):
        store.edge_list("KNOWS", from_ids=[KARIM["id"]])


def test_edge_pairs_are_the_ends_of_the_edges_between_two_labels(store: GraphStore) -> None:
    """What whole-graph questions hash: the ``from`` and ``to`` of one type's edges between two
    labels, as Arrow text columns, following writes."""
    small_world(store)

    def pairs(edge_type: str, a: str, b: str) -> list[tuple[str, str]]:
        table = store.edge_pairs(edge_type, a, b)
        assert table.column_names == ["from", "to"]
        assert all(t == pa.large_string() for t in table.schema.types)
        return sorted(zip(table["from"].to_pylist(), table["to"].to_pylist(), strict=True))

    edges = store.edges("HAS")
    for (a, b), group in edges.groupby(["from_label", "to_label"]):
        assert pairs("HAS", str(a), str(b)) == sorted(zip(group["from"], group["to"], strict=True))
    assert pairs("HAS", "Record", "Phone") == [
        (KARIM["id"], "01711000001"),
        (RAHIMA["id"], "01711000001"),
    ]
    assert pairs("HAS", "Record", "BRN") == []
    store.delete_edges("HAS", "Record", "Phone", [{"from": KARIM["id"], "to": "01711000001"}])
    assert pairs("HAS", "Record", "Phone") == [(RAHIMA["id"], "01711000001")]
    with pytest.raises(UnknownEdgeType):
        store.edge_pairs("KNOWS", "Record", "Phone")


def test_edge_tables_follow_writes(store: GraphStore) -> None:
    small_world(store)
    assert len(store.edges("OF")) == 2
    store.merge_nodes("Person", [{"id": "P3"}])
    store.replace_edges_from("OF", "Record", "Person", [{"from": RAHIMA["id"], "to": "P3"}])
    of = store.edges("OF").sort_values("from", ignore_index=True)
    assert list(of["to"]) == ["P1", "P3"]
    store.delete_nodes("Record", [KARIM["id"]])
    assert list(store.edges("OF")["from"]) == [RAHIMA["id"]]


def shared_world(store: GraphStore) -> None:
    """Phones given within one household, across two, by an unresolved record, by a registry."""
    store.merge_nodes(
        "Record",
        [{"id": f"{s}/{i}", "source": s} for s, i in [("a", 1), ("a", 2), ("a", 3), ("a", 4)]]
        + [{"id": "btrc/1", "source": "btrc"}],
    )
    store.merge_nodes("Person", [{"id": p} for p in ("P1", "P2", "P3")])
    store.merge_nodes("Household", [{"id": "H1"}, {"id": "H2"}])
    store.merge_nodes("Phone", [{"id": n} for n in ("0171", "0172", "0173", "0174", "0175")])
    store.merge_edges(
        "OF",
        "Record",
        "Person",
        [{"from": "a/1", "to": "P1"}, {"from": "a/2", "to": "P2"}, {"from": "a/3", "to": "P3"}],
    )
    store.merge_edges(
        "MEMBER_OF",
        "Person",
        "Household",
        [{"from": "P1", "to": "H1"}, {"from": "P2", "to": "H1"}, {"from": "P3", "to": "H2"}],
    )
    given = [
        ("a/1", "0171"), ("a/2", "0171"),  # one household: not shared
        ("a/1", "0172"), ("a/3", "0172"),  # two households
        ("a/2", "0173"), ("a/4", "0173"),  # a record without a person
        ("a/3", "0174"), ("btrc/1", "0174"),  # a registry record, excluded
        ("a/1", "0175"),  # one record
    ]  # fmt: skip
    store.merge_edges("HAS", "Record", "Phone", [{"from": a, "to": b} for a, b in given])
    # a bank account whose number ends in a letter, given in two households
    store.merge_nodes("Account", [{"id": "dbbl:778X"}])
    store.merge_edges(
        "HAS", "Record", "Account", [{"from": a, "to": "dbbl:778X"} for a in ("a/1", "a/3")]
    )


def test_shared_identifiers_are_those_crossing_households(store: GraphStore) -> None:
    shared_world(store)
    found = store.shared_identifiers(["Phone", "Account"], exclude_sources=["btrc"])
    assert list(found.columns) == ["label", "identifier", "record", "person"]
    rows = sorted(
        (r.label, r.identifier, r.record, None if pd.isna(r.person) else r.person)
        for r in found.itertuples()
    )
    assert rows == [
        ("Account", "dbbl:778X", "a/1", "P1"),
        ("Account", "dbbl:778X", "a/3", "P3"),
        ("Phone", "0172", "a/1", "P1"),
        ("Phone", "0172", "a/3", "P3"),
        ("Phone", "0173", "a/2", "P2"),
        ("Phone", "0173", "a/4", None),
    ]
    with_registry = store.shared_identifiers(["Phone"])
    assert set(with_registry["identifier"]) == {"0172", "0173", "0174"}
    assert set(store.shared_identifiers(["Account"])["identifier"]) == {"dbbl:778X"}
    assert store.shared_identifiers(["NID"]).empty


def _shared(store: GraphStore) -> set[str]:
    found = store.shared_identifiers(["Phone", "Account"], exclude_sources=["btrc"])
    return set(found["identifier"])


# Each change is made after a first question (which a store may keep the answer of), then the
# question is asked again: the answer must follow the change.
SHARING_CHANGES = {
    "a giver in another household": (
        lambda s: s.merge_edges("HAS", "Record", "Phone", [{"from": "a/3", "to": "0171"}]),
        {"0171", "0172", "0173", "dbbl:778X"},
    ),
    "a person joins the other household": (
        lambda s: s.merge_edges("MEMBER_OF", "Person", "Household", [{"from": "P3", "to": "H1"}]),
        {"0173"},
    ),
    "a record re-pointed to a person of that household": (
        lambda s: s.replace_edges_from("OF", "Record", "Person", [{"from": "a/3", "to": "P2"}]),
        {"0173"},
    ),
    "a record without a person given one": (
        lambda s: s.merge_edges("OF", "Record", "Person", [{"from": "a/4", "to": "P2"}]),
        {"0172", "dbbl:778X"},
    ),
    "a membership deleted": (
        lambda s: s.delete_edges("MEMBER_OF", "Person", "Household", [{"from": "P2", "to": "H1"}]),
        {"0171", "0172", "0173", "dbbl:778X"},
    ),
    "a person deleted": (
        lambda s: s.delete_nodes("Person", ["P2"]),
        {"0171", "0172", "0173", "dbbl:778X"},
    ),
    "a household deleted": (
        lambda s: s.delete_nodes("Household", ["H1"]),
        {"0171", "0172", "0173", "dbbl:778X"},
    ),
    "a record deleted": (lambda s: s.delete_nodes("Record", ["a/4"]), {"0172", "dbbl:778X"}),
    "a record turned into a registry's": (
        lambda s: s.merge_nodes("Record", [{"id": "a/3", "source": "btrc"}]),
        {"0173"},
    ),
    "a record's phone replaced": (
        lambda s: s.replace_edges_from("HAS", "Record", "Phone", [{"from": "a/4", "to": "0175"}]),
        {"0172", "0175", "dbbl:778X"},
    ),
    "a phone given no more": (
        lambda s: s.delete_edges("HAS", "Record", "Phone", [{"from": "a/3", "to": "0172"}]),
        {"0173", "dbbl:778X"},
    ),
    "a wallet deleted": (lambda s: s.delete_nodes("Account", ["dbbl:778X"]), {"0172", "0173"}),
    "nothing sharing depends on": (
        lambda s: s.merge_nodes("Person", [{"id": "P1", "district": "BD3026"}]),
        {"0172", "0173", "dbbl:778X"},
    ),
}


@pytest.mark.parametrize("change", list(SHARING_CHANGES))
def test_shared_identifiers_follow_every_write(store: GraphStore, change: str) -> None:
    shared_world(store)
    assert _shared(store) == {"0172", "0173", "dbbl:778X"}
    write, expected = SHARING_CHANGES[change]
    write(store)
    assert _shared(store) == expected
    assert _shared(store) == expected  # and again, read back as kept


def test_shared_identifiers_answer_each_question_asked(store: GraphStore) -> None:
    """Other labels or excluded sources than the question before are answered as asked."""
    shared_world(store)
    assert _shared(store) == {"0172", "0173", "dbbl:778X"}
    assert set(store.shared_identifiers(["Phone"])["identifier"]) == {"0172", "0173", "0174"}
    store.merge_edges("HAS", "Record", "Phone", [{"from": "btrc/1", "to": "0175"}])
    assert set(store.shared_identifiers(["Phone"])["identifier"]) == {
        "0172",
        "0173",
        "0174",
        "0175",
    }
    assert _shared(store) == {"0172", "0173", "dbbl:778X"}
    store.clear()
    assert _shared(store) == set()
    shared_world(store)
    assert _shared(store) == {"0172", "0173", "dbbl:778X"}


def test_reads_show_only_the_graph_model(store: GraphStore) -> None:
    """Whatever a store keeps to answer faster is not part of the graph a read shows."""
    shared_world(store)
    _shared(store)
    around = store.neighbours("Phone", "0172", direction="both")
    assert {(n.edge_type, n.label, n.props["id"]) for n in around} == {
        ("HAS", "Record", "a/1"),
        ("HAS", "Record", "a/3"),
    }
    assert store.count("Phone") == 5


def test_a_question_over_the_whole_graph_as_a_join(store: GraphStore) -> None:
    """Phones given by records of more than one person: a join of HAS and OF."""
    small_world(store)
    has, of = store.edges("HAS"), store.edges("OF")
    phones = has[has["to_label"] == "Phone"].merge(of, left_on="from", right_on="from")
    shared = phones.groupby("to_x")["to_y"].nunique()
    assert shared.to_dict() == {"01711000001": 2}


def test_count_nodes_and_edges(store: GraphStore) -> None:
    small_world(store)
    assert [store.count(name) for name in ("Record", "Person", "Phone", "Household")] == [
        2,
        2,
        1,
        0,
    ]
    assert [store.count(name) for name in ("HAS", "OF", "SAME_AS")] == [3, 2, 0]
    with pytest.raises(UnknownLabel, match="neither a node label"):
        store.count("Wallet")


# --- deletes and replacement ----------------------------------------------------------------------


def test_delete_edges_removes_only_those_named(store: GraphStore) -> None:
    small_world(store)
    gone = store.delete_edges(
        "HAS",
        "Record",
        "Phone",
        [
            {"from": KARIM["id"], "to": "01711000001"},
            {"from": KARIM["id"], "to": "01711000001"},  # twice: still one edge
            {"from": KARIM["id"], "to": "01999999999"},  # no such edge
        ],
    )
    assert gone == 1
    assert store.count("HAS") == 2
    assert [n.props["id"] for n in store.neighbours("Phone", "01711000001", direction="in")] == [
        RAHIMA["id"]
    ]
    assert store.node("Phone", "01711000001") is not None


def test_delete_nodes_removes_their_edges(store: GraphStore) -> None:
    small_world(store)
    assert store.delete_nodes("Record", [KARIM["id"], "nowhere/1"]) == 1
    assert store.node("Record", KARIM["id"]) is None
    assert store.count("Record") == 1
    assert (store.count("HAS"), store.count("OF"), store.count("ENROLLED_IN")) == (1, 1, 0)
    assert store.neighbours("Person", "P1", direction="in") == []
    assert len(store.edges("HAS")) == 1


def test_replace_edges_from_repoints_records(store: GraphStore) -> None:
    small_world(store)
    store.merge_nodes("Person", [{"id": "P3"}])
    written = store.replace_edges_from(
        "OF", "Record", "Person", [{"from": KARIM["id"], "to": "P3"}]
    )
    assert written == 1
    assert [n.props["id"] for n in store.neighbours("Record", KARIM["id"], "OF")] == ["P3"]
    assert [n.props["id"] for n in store.neighbours("Record", RAHIMA["id"], "OF")] == ["P2"]
    assert store.neighbours("Person", "P1", direction="in") == []
    assert store.count("OF") == 2


def test_replace_edges_from_only_touches_the_named_end_label(store: GraphStore) -> None:
    small_world(store)
    store.merge_nodes("Phone", [{"id": "01811000002"}])
    store.replace_edges_from("HAS", "Record", "Phone", [{"from": KARIM["id"], "to": "01811000002"}])
    has = {(n.label, n.props["id"]) for n in store.neighbours("Record", KARIM["id"], "HAS")}
    assert has == {("Phone", "01811000002"), ("Account", "bkash:01711000001")}


def test_replace_keeps_all_rows_of_a_record_that_span_batches(
    store: GraphStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    small_world(store)
    store.merge_nodes("Phone", [{"id": f"0181100000{i}"} for i in range(5)])
    monkeypatch.setattr(store, "batch_size", 2)
    rows = [{"from": KARIM["id"], "to": f"0181100000{i}", "role": "contact"} for i in range(5)]
    assert store.replace_edges_from("HAS", "Record", "Phone", rows) == 5
    phones = store.neighbours("Record", KARIM["id"], "HAS", neighbour_label="Phone")
    assert [n.props["id"] for n in phones] == [f"0181100000{i}" for i in range(5)]


def test_clear_empties_the_graph(store: GraphStore) -> None:
    small_world(store)
    store.clear()
    assert [store.count(n) for n in ("Record", "Person", "Phone", "HAS", "OF")] == [0] * 5
    assert store.node("Record", KARIM["id"]) is None


# --- the publish state ----------------------------------------------------------------------------


def _no_publishes(store: GraphStore) -> PublishState:
    """The store with no publish recorded (a complete one ends any a test before left open)."""
    store.begin_publish("tidy")
    store.end_publish("tidy")
    store.clear()
    state = store.publish_state()
    assert state.unfinished == () and state.last_run is None and state.complete
    return state


def test_a_publish_is_unfinished_until_it_ends_and_readers_are_told(store: GraphStore) -> None:
    before = _no_publishes(store)
    store.begin_publish("resolve run 1")
    small_world(store)
    state = store.publish_state()
    assert [(u.run, u.complete) for u in state.unfinished] == [("resolve run 1", True)]
    assert state.unfinished[0].started[:2] == "20" and state.changes > before.changes
    assert not state.complete
    with pytest.raises(PublishInterrupted) as refused:
        require_complete(store)
    assert "resolve run 1 began" in str(refused.value) and "has not finished" in str(refused.value)
    assert "run `ekjon resolve` again" in str(refused.value).lower()
    assert refused.value.state == state
    store.end_publish("resolve run 1")
    state = store.publish_state()
    assert (state.unfinished, state.last_run) == ((), "resolve run 1")
    assert state.last_finished and state.complete
    assert require_complete(store) == state


def test_a_complete_publish_finishes_those_cut_short_before_it(store: GraphStore) -> None:
    _no_publishes(store)
    store.begin_publish("resolve run 1")  # cut short: it never ends
    store.begin_publish("one record", complete=False)
    store.end_publish("one record")  # a partial publish finishes only itself
    state = store.publish_state()
    assert [u.run for u in state.unfinished] == ["resolve run 1"] and state.last_run is None
    store.begin_publish("one record", complete=False)  # cut short too
    store.begin_publish("resolve run 2")
    store.end_publish("resolve run 2")
    state = store.publish_state()
    assert (state.unfinished, state.last_run) == ((), "resolve run 2")


def test_ending_a_publish_that_never_began_is_refused(store: GraphStore) -> None:
    _no_publishes(store)
    with pytest.raises(GraphStoreError, match="'resolve run 9'.*begin_publish"):
        store.end_publish("resolve run 9")
    assert store.publish_state().unfinished == ()


def test_publishing_ends_the_publish_only_when_its_block_finishes(store: GraphStore) -> None:
    _no_publishes(store)
    with pytest.raises(RuntimeError), publishing(store, "resolve run 1"):
        store.merge_nodes("Person", [{"id": "P1"}])
        raise RuntimeError("killed half-way")
    assert [u.run for u in store.publish_state().unfinished] == ["resolve run 1"]
    with publishing(store, "resolve run 2"):
        store.merge_nodes("Person", [{"id": "P2"}])
    assert store.publish_state().last_run == "resolve run 2" and store.publish_state().complete


def test_clear_forgets_the_last_publish_but_not_an_unfinished_one(store: GraphStore) -> None:
    _no_publishes(store)
    with publishing(store, "resolve run 1"):
        small_world(store)
    store.begin_publish("resolve run 2")
    store.clear()
    state = store.publish_state()
    assert state.last_run is None and [u.run for u in state.unfinished] == ["resolve run 2"]
    store.end_publish("resolve run 2")


# --- bad input ------------------------------------------------------------------------------------


def test_unknown_label_is_refused_with_the_labels_listed(store: GraphStore) -> None:
    with pytest.raises(UnknownLabel, match=r"'Recrod'.*Account, BRN, Household"):
        store.merge_nodes("Recrod", [{"id": "a/1"}])
    with pytest.raises(UnknownLabel):
        store.node("Recrod", "a/1")
    with pytest.raises(UnknownLabel):
        store.nodes("Recrod")
    with pytest.raises(UnknownLabel):
        store.merge_nodes("Record) DETACH DELETE (n", [{"id": "a/1"}])


def test_unknown_edge_type_and_wrong_ends_are_refused(store: GraphStore) -> None:
    store.merge_nodes("Record", [KARIM])
    with pytest.raises(UnknownEdgeType, match=r"'OWNS'.*ENROLLED_IN"):
        store.merge_edges("OWNS", "Record", "Account", [])
    with pytest.raises(UnknownEdgeType):
        store.edges("OWNS")
    with pytest.raises(InvalidEdgeEnds, match="Record -> Person"):
        store.merge_edges("OF", "Phone", "Person", [{"from": "01711000001", "to": "P1"}])
    with pytest.raises(ValueError, match="direction"):
        store.neighbours("Record", KARIM["id"], direction="sideways")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ({"full_name": "Karim"}, "no 'id'"),
        ({"id": 1234567890123}, "non-empty string"),
        ({"id": ""}, "non-empty string"),
        ({"id": "a/1", "dob": pd.Timestamp("1950-01-01")}, "ISO"),
        ({"id": "a/1", "names": ["Karim", "করিম"]}, "'names' is a list"),
    ],
)
def test_a_bad_row_is_refused_naming_it(store: GraphStore, row: dict, reason: str) -> None:
    with pytest.raises(InvalidRow, match=f"Record row 1: .*{reason}"):
        store.merge_nodes("Record", [{"id": "good/1"}, row])
    assert store.count("Record") == 0  # nothing of the batch was written


def test_a_bad_row_fails_its_batch_only(store: GraphStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store, "batch_size", 2)
    rows = [{"id": "a/1"}, {"id": "a/2"}, {"id": "a/3"}, {"id": None}]
    with pytest.raises(InvalidRow, match="row 3"):
        store.merge_nodes("Record", rows)
    assert sorted(store.nodes("Record")["id"]) == ["a/1", "a/2"]


# --- size -----------------------------------------------------------------------------------------


def test_a_large_batch(store: GraphStore) -> None:
    n = 20_000
    records = ({"id": f"nhd/{i}", "age": i % 90, "district": f"BD30{i % 50:02d}"} for i in range(n))
    assert store.merge_nodes("Record", records) == n
    assert store.merge_nodes("Phone", ({"id": f"017{i:08d}"} for i in range(n // 2))) == n // 2
    edges = ({"from": f"nhd/{i}", "to": f"017{i // 2:08d}", "role": "contact"} for i in range(n))
    assert store.merge_edges("HAS", "Record", "Phone", edges) == n
    assert (store.count("Record"), store.count("Phone"), store.count("HAS")) == (n, n // 2, n)
    assert store.node("Record", "nhd/12345") == {"id": "nhd/12345", "age": 15, "district": "BD3045"}
    sharing = store.neighbours("Phone", "01700001234", direction="in")
    assert [n.props["id"] for n in sharing] == ["nhd/2468", "nhd/2469"]
    table = store.edges("HAS")
    assert len(table) == n and table.groupby("to").size().eq(2).all()


# --- opening a store (not per store) --------------------------------------------------------------


def test_open_store_names_the_backends(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="embedded, neo4j. Got 'sqlite'"):
        open_store("sqlite", tmp_path)


def test_an_unreachable_neo4j_says_how_to_start_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EKJON_NEO4J_URI", "bolt://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("EKJON_NEO4J_PASSWORD", "secret")
    with pytest.raises(StoreUnavailable, match="127.0.0.1:9.*`ekjon neo4j start`"):
        open_store("neo4j", tmp_path)


def test_no_neo4j_configured_says_how_to_start_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("EKJON_NEO4J_URI", raising=False)
    with pytest.raises(StoreUnavailable, match="`ekjon neo4j start`.*EKJON_NEO4J_URI"):
        open_store("neo4j", tmp_path)  # an EKJON_HOME where no server was ever started


# --- the Neo4j store's kept answer (not per store) ------------------------------------------------


@pytest.fixture
def neo4j_shared_world(neo4j_store: GraphStore) -> GraphStore:
    """The session's Neo4j store holding :func:`shared_world` alone."""
    neo4j_store.clear()
    shared_world(neo4j_store)
    return neo4j_store


@pytest.mark.neo4j
def test_neo4j_keeps_the_shared_identifiers_it_worked_out(neo4j_shared_world: GraphStore) -> None:
    store = neo4j_shared_world
    _shared(store)
    kept = store.run_read(  # type: ignore[attr-defined]
        "MATCH (c:EkjonCache)-[:EKJON_SHARED]->(i) RETURN c.excluded AS excluded, i.id AS id"
    )
    assert {row["id"] for row in kept} == {"0172", "0173", "dbbl:778X"}
    assert {tuple(row["excluded"]) for row in kept} == {("btrc",)}


@pytest.mark.neo4j
def test_neo4j_keeps_no_answer_the_graph_changed_under(
    neo4j_shared_world: GraphStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = neo4j_shared_world
    work_out = store._work_out_shared  # type: ignore[attr-defined]

    def racing(labels: list[str], excluded: list[str]) -> dict:
        found = work_out(labels, excluded)
        # another client's write lands after the graph was read, before the answer is kept
        store.merge_edges("HAS", "Record", "Phone", [{"from": "a/3", "to": "0171"}])
        return found

    monkeypatch.setattr(store, "_work_out_shared", racing)
    assert _shared(store) == {"0172", "0173", "dbbl:778X"}  # the graph as it was read
    monkeypatch.undo()
    assert _shared(store) == {"0171", "0172", "0173", "dbbl:778X"}


@pytest.mark.neo4j
def test_neo4j_drops_the_kept_answer_on_a_large_write(
    neo4j_shared_world: GraphStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    import graph.neo4j.store

    store = neo4j_shared_world
    _shared(store)
    monkeypatch.setattr(graph.neo4j.store, "KEEP_LIMIT", 1)
    store.merge_nodes("NID", [{"id": "1990123456789"}, {"id": "1990123456790"}])
    nids = [{"from": "a/1", "to": "1990123456789"}, {"from": "a/2", "to": "1990123456790"}]
    store.merge_edges("HAS", "Record", "NID", nids)  # nothing the kept answer is about
    kept = store.run_read("MATCH (c:EkjonCache) RETURN c.labels AS labels")  # type: ignore[attr-defined]
    assert kept == [{"labels": ["Phone", "Account"]}]
    store.merge_edges(
        "MEMBER_OF", "Person", "Household", [{"from": p, "to": "H1"} for p in ("P1", "P3")]
    )
    kept = store.run_read("MATCH (c:EkjonCache) RETURN c.labels AS labels")  # type: ignore[attr-defined]
    assert kept == [{"labels": None}]
    assert _shared(store) == {"0173"}  # worked out afresh
