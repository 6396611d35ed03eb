"""First loads through Neo4j's offline importer: the same graph as a Bolt publish, only faster.

The import files are checked on their own; the load itself runs on a Neo4j server of its own (a
temporary EKJON_HOME on free ports), since it stops and restarts the server it imports into.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

from engine.publish import PublishError, publish
from graph import schema
from graph.neo4j import bulk, server
from graph.neo4j.store import Neo4jStore
from graph.open import open_store
from graph.queries._common import GraphTables
from graph.store import InvalidRow, MissingNode
from synth.load import load_world, synthesise
from tests.graph.own_server import SMALL, start_own_server
from tests.graph.queries_world import world

# --- the import files -----------------------------------------------------------------------------


def _read(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def test_files_number_nodes_and_name_property_types(tmp_path: Path) -> None:
    files = bulk.ImportFiles(tmp_path)
    files.add_nodes(
        "Programme",
        {"id": ["oaa", "ff"], "cash": [True, None], "amount": [500, None], "share": [0.5, 1.0]},
    )
    files.add_nodes("Record", {"id": ["a/1", "b/2"]})
    files.add_edges("SAME_AS", "Record", "Record", {"from": ["a/1"], "to": ["b/2"], "p": [0.9]})
    [programmes] = files.nodes["Programme"]
    # nodes numbered across labels, the importer's actual node ids; the string id a property
    assert _read(programmes) == [
        '":ID","id","cash:boolean","amount:long","share:double"',
        '0,"oaa",true,500,0.5',
        '1,"ff",,,1',  # an empty field is an absent property; the header says 1 is a double
    ]
    [links] = files.edges["SAME_AS"]
    assert _read(links) == ['":START_ID",":END_ID","p:double"', "2,3,0.9"]
    assert "--id-type=actual" in files.arguments()
    assert f"--nodes=Programme={programmes}" in files.arguments()
    assert f"--relationships=SAME_AS={links}" in files.arguments()


def test_rows_with_one_header_share_a_file(tmp_path: Path) -> None:
    files = bulk.ImportFiles(tmp_path)
    files.add_nodes("Phone", {"id": ["01711000001"], "operator": ["grameenphone"]})
    files.add_nodes("Phone", {"id": ["01811000002"], "operator": ["robi"]})
    files.add_nodes("Phone", {"id": ["01911000003"]})  # no operator: another header, another file
    first, second = files.nodes["Phone"]
    assert _read(first) == [
        '":ID","id","operator"',
        '0,"01711000001","grameenphone"',
        '1,"01811000002","robi"',
    ]
    assert _read(second) == ['":ID","id"', '2,"01911000003"']
    assert files.arguments().count(f"--nodes=Phone={first}") == 1


def test_the_files_carry_the_shared_identifiers_a_store_would_find(tmp_path: Path) -> None:
    """The kept answer the import writes is the one a store works out over the same graph."""
    records = ["a/1", "a/2", "a/3", "a/4", "a/5", "a/6", "a/7", "btrc/1"]
    of = {"a/1": "P1", "a/2": "P2", "a/3": "P3", "a/5": "P4", "a/6": "P5", "a/7": "P4"}
    member = [("P1", "H1"), ("P2", "H1"), ("P3", "H2"), ("P5", "H1"), ("P5", "H2")]
    given = [
        ("a/1", "Phone", "0171"), ("a/2", "Phone", "0171"),  # one household
        ("a/1", "Phone", "0172"), ("a/3", "Phone", "0172"),  # two
        ("a/2", "Phone", "0173"), ("a/4", "Phone", "0173"),  # a record without a person
        ("a/3", "Phone", "0174"), ("btrc/1", "Phone", "0174"),  # a registry's record
        ("a/2", "Phone", "0176"), ("a/6", "Phone", "0176"),  # P5 is in P2's household too
        ("a/3", "Phone", "0177"), ("a/6", "Phone", "0177"),  # and in P3's
        ("a/5", "Phone", "0178"), ("a/7", "Phone", "0178"),  # one person of no household
        ("a/1", "Account", "dbbl:778X"), ("a/3", "Account", "dbbl:778X"),
        ("a/1", "Account", "bkash:0171"),
    ]  # fmt: skip
    phones = sorted({i for _, label, i in given if label == "Phone"})
    accounts = sorted({i for _, label, i in given if label == "Account"})
    sources = {"id": ["a", "btrc"], "kind": ["mis", "reference"]}

    def write(store: Any, add_nodes: Any, add_edges: Any) -> None:
        add_nodes("Source", sources)
        add_nodes("Record", {"id": records, "source": [r.split("/")[0] for r in records]})
        add_nodes("Person", {"id": sorted(set(of.values()))})
        add_nodes("Household", {"id": ["H1", "H2"]})
        add_nodes("Phone", {"id": phones})
        add_nodes("Account", {"id": accounts})
        add_edges("OF", "Record", "Person", {"from": list(of), "to": list(of.values())})
        add_edges(
            "MEMBER_OF",
            "Person",
            "Household",
            {"from": [p for p, _ in member], "to": [h for _, h in member]},
        )
        for label in ("Phone", "Account"):
            rows = [(r, i) for r, kind, i in given if kind == label]
            add_edges(
                "HAS", "Record", label, {"from": [r for r, _ in rows], "to": [i for _, i in rows]}
            )

    def as_rows(columns: dict) -> list[dict]:
        names = list(columns)
        return [
            dict(zip(names, values, strict=True)) for values in zip(*columns.values(), strict=True)
        ]

    with open_store("embedded", tmp_path / "store") as store:
        write(
            store,
            lambda label, columns: store.merge_nodes(label, as_rows(columns)),
            lambda kind, a, b, columns: store.merge_edges(kind, a, b, as_rows(columns)),
        )
        found = store.shared_identifiers(["Phone", "Account"], exclude_sources=["btrc"])
        expected = set(found["identifier"])
    assert expected == {"0172", "0173", "0178", "dbbl:778X"}

    files = bulk.ImportFiles(tmp_path / "import")
    write(files, files.add_nodes, files.add_edges)
    arguments = files.arguments()
    node_file = next(a.split("=", 2)[2] for a in arguments if a.startswith("--nodes=EkjonCache="))
    edge_file = next(
        a.split("=", 2)[2] for a in arguments if a.startswith("--relationships=EKJON_SHARED=")
    )
    numbers = {}
    for label in ("Phone", "Account"):
        for path in files.nodes[label]:
            table = pd.read_csv(path, dtype=str)
            numbers.update(zip(table[":ID"].astype(int), table["id"], strict=True))
    cache = pd.read_csv(node_file, dtype=str)
    assert list(cache["excluded:string[]"]) == ["btrc"]
    assert list(cache["labels:string[]"]) == ["Phone;Account"]
    kept = pd.read_csv(edge_file)
    assert set(kept[":START_ID"]) == {int(cache[":ID"].iloc[0])}
    assert {numbers[n] for n in kept[":END_ID"]} == expected


def _full_disk(path: Path, schema: Any) -> None:
    """Stands in for Arrow's CSV writer on a disk with no room left."""
    raise OSError(28, "No space left on device", str(path))


def test_a_file_that_cannot_be_written_is_reported(tmp_path: Path, monkeypatch) -> None:
    files = bulk.ImportFiles(tmp_path)
    monkeypatch.setattr(bulk.pa_csv, "CSVWriter", _full_disk)
    files.add_nodes("Person", {"id": ["p1"]})  # written by the writer thread: fails there
    # the failure reaches whoever asks for the files, not lost with the thread
    with pytest.raises(OSError, match="No space left on device"):
        files.arguments()


def test_text_with_commas_quotes_and_bangla_survives(tmp_path: Path) -> None:
    files = bulk.ImportFiles(tmp_path)
    files.add_nodes("Person", {"id": ["p1", "p2"], "name": ['Karim, "Md." রহিম', ""]})
    # strings are quoted, so an empty string stays a property, as over Bolt
    assert _read(files.nodes["Person"][0])[1:] == ['0,"p1","Karim, ""Md."" রহিম"', '1,"p2",""']
    assert not files.multiline
    files.add_nodes("Person", {"id": ["p3"], "name": ["two\nlines"]})
    assert "--multiline-fields=true" in files.arguments()


def test_an_edge_is_written_once(tmp_path: Path) -> None:
    files = bulk.ImportFiles(tmp_path)
    files.add_nodes("Account", {"id": ["bkash:1"]})
    files.add_nodes("NID", {"id": ["n1"]})
    rows = {"from": ["bkash:1", "bkash:1"], "to": ["n1", "n1"]}
    assert files.add_edges("KYC_OWNER", "Account", "NID", rows) == 1
    assert files.add_edges("KYC_OWNER", "Account", "NID", {"from": ["bkash:1"], "to": ["n1"]}) == 0
    assert files.count("KYC_OWNER") == 1


def test_a_bad_id_or_value_is_refused_naming_it(tmp_path: Path) -> None:
    files = bulk.ImportFiles(tmp_path)
    with pytest.raises(InvalidRow, match="Phone row 1: 'id' must be a non-empty string"):
        files.add_nodes("Phone", {"id": ["01711000001", None]})
    with pytest.raises(InvalidRow, match="'kind' holds mixed"):
        files.add_nodes("Source", {"id": ["a", "b"], "kind": ["x", 3]})
    files.add_nodes("Record", {"id": ["a/1"]})
    with pytest.raises(InvalidRow, match="to itself"):
        files.add_edges("SAME_AS", "Record", "Record", {"from": ["a/1"], "to": ["a/1"]})
    with pytest.raises(InvalidRow, match="Record row 1: Record 'a/1' is written twice"):
        files.add_nodes("Record", {"id": ["b/2", "a/1"]})
    with pytest.raises(MissingNode, match="SAME_AS edges name nodes .* graph: Record 'c/3'"):
        files.add_edges("SAME_AS", "Record", "Record", {"from": ["a/1"], "to": ["c/3"]})
    with pytest.raises(InvalidRow, match="SAME_AS row 0: 'from' must be a non-empty string"):
        files.add_edges("SAME_AS", "Record", "Record", {"from": [None], "to": ["a/1"]})


def test_import_files_take_one_publish(tmp_path: Path) -> None:
    records, assignment, links = world()
    files = bulk.ImportFiles(tmp_path)
    report = publish(files, records, assignment, links)
    assert report.records == len(records) == files.count("Record")
    with pytest.raises(PublishError, match="already hold a publish"):
        publish(files, records, assignment, links)


# --- the load, on a server of its own -------------------------------------------------------------


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """An EKJON_HOME with a running server of its own."""
    home = start_own_server(tmp_path_factory.mktemp("ekjon_home"), http=False)
    yield home
    server.stop(home)


@pytest.fixture(scope="module")
def small_world(tmp_path_factory: pytest.TempPathFactory, home: Path) -> tuple[pd.DataFrame, ...]:
    """A synthetic world of 150 persons (every source, reference registries included).

    Its records are ingested into ``home`` and the truth saved as the last resolve's assignment
    there, as `ekjon neo4j import` reads them.
    """
    folder = synthesise(150, 3, tmp_path_factory.mktemp("world"))
    records = load_world(folder, store_dir=home)
    (home / "resolution").mkdir(exist_ok=True)
    truth = pd.read_csv(folder / "truth" / "records.csv", dtype=str)
    truth.to_parquet(home / "resolution" / "assignment.parquet", index=False)
    assignment = pd.read_csv(folder / "truth" / "records.csv", dtype=str)
    keys = records["source"] + "/" + records["record_id"].astype(str)
    links = pd.DataFrame({"left": keys[:-1].to_numpy(), "right": keys[1:].to_numpy()})
    links["probability"] = 0.95
    links["model_version"] = "test-1"
    return records, assignment, links


def _open(home: Path) -> Neo4jStore:
    uri, user, password = server.credentials(home)
    return Neo4jStore(uri, user, password)


def _graph(store: Neo4jStore) -> dict[str, Any]:
    """Every node and edge with its properties, values with their types (1 and 1.0 differ)."""

    def typed(props: dict) -> dict:
        return {k: (type(v).__name__, v) for k, v in props.items()}

    graph: dict[str, Any] = {}
    for label in schema.NODES:
        rows = store.run_read(f"MATCH (n:`{label}`) RETURN n.id AS id, properties(n) AS p")
        graph[label] = {r["id"]: typed(r["p"]) for r in rows}
    for edge_type in schema.EDGES:
        rows = store.run_read(
            f"MATCH (a)-[r:`{edge_type}`]->(b) RETURN labels(a)[0] AS al, a.id AS a, "
            "labels(b)[0] AS bl, b.id AS b, properties(r) AS p"
        )
        found = {(r["al"], r["a"], r["bl"], r["b"]): typed(r["p"]) for r in rows}
        assert len(found) == len(rows), f"{edge_type}: an edge written twice"
        graph[edge_type] = found
    return graph


@pytest.mark.neo4j
@pytest.mark.slow
def test_a_bulk_load_gives_the_graph_a_bolt_publish_gives(
    home: Path, small_world: tuple[pd.DataFrame, ...], tmp_path: Path
) -> None:
    records, assignment, links = small_world
    records = records.copy()
    # awkward text: separators, quotes, a line break, Bangla, and an empty string
    records.loc[records.index[0], "full_name"] = 'Karim, "Md."\nরহিম'
    records.loc[records.index[1], "full_name"] = ""
    with _open(home) as store:
        store.clear()
        publish(store, records, assignment, links)
        over_bolt = _graph(store)
        references = sorted(GraphTables(store).references)
        worked_out = _shared(store, references)
        store.clear()

    files = bulk.ImportFiles(tmp_path / "import")
    report = publish(files, records, assignment, links)
    result = bulk.load(home, files, heap="1g", pagecache="256m")
    assert result.nodes["Record"] == report.records == len(records)
    assert files.multiline

    with _open(home) as store:
        imported = _graph(store)
        constraints = store.run_read("SHOW CONSTRAINTS YIELD name RETURN collect(name) AS names")
        # the import wrote the answer to the suspicious-identifier scan's question, ready
        kept = store.run_read(
            "MATCH (c:EkjonCache) OPTIONAL MATCH (c)-[:EKJON_SHARED]->(i) "
            "RETURN c.labels AS labels, c.excluded AS excluded, collect(i.id) AS ids"
        )
        from_import = _shared(store, references)
    for name in list(schema.NODES) + list(schema.EDGES):
        assert imported[name] == over_bolt[name], name
    assert over_bolt["Record"] and over_bolt["SAME_AS"] and over_bolt["KYC_OWNER"]
    assert "ekjon_record_id" in constraints[0]["names"]
    assert len(kept) == 1 and kept[0]["labels"] == ["Phone", "Account"]
    assert kept[0]["excluded"] == references and "btrc_sim" in references
    assert set(kept[0]["ids"]) == {identifier for _, identifier, _, _ in worked_out}
    assert from_import == worked_out and {label for label, *_ in worked_out} == {"Phone", "Account"}


@pytest.mark.neo4j
@pytest.mark.slow
def test_a_bulk_load_refuses_a_database_that_holds_data(home: Path, tmp_path: Path) -> None:
    records, assignment, links = world()
    with _open(home) as store:
        store.clear()
        publish(store, records, assignment, links)
    with pytest.raises(bulk.NotEmpty, match=r"already holds .* nodes.*ekjon resolve --backend"):
        bulk.load(home, bulk.ImportFiles(tmp_path / "import"))
    with _open(home) as store:  # untouched, and the server still runs
        assert store.count("Record") == len(records)


def _shared(store: Neo4jStore, references: list[str]) -> set[tuple]:
    found = store.shared_identifiers(["Phone", "Account"], exclude_sources=references)
    return {tuple(None if pd.isna(v) else v for v in row) for row in found.itertuples(index=False)}


# --- the command ----------------------------------------------------------------------------------


def _import(home: Path, *args: str, **env: str):
    from api.cli import neo4j as neo4j_cli

    return CliRunner().invoke(
        neo4j_cli.neo4j_app,
        ["import", *args],
        env={"EKJON_HOME": str(home), "COLUMNS": "250", **env},
    )


def test_the_command_refuses_someone_elses_neo4j(tmp_path: Path) -> None:
    result = _import(tmp_path, EKJON_NEO4J_URI="bolt://db.example.org:7687")
    assert result.exit_code == 1
    assert "only goes into ekjon's own server" in result.output


def test_the_command_needs_a_resolve_first(tmp_path: Path) -> None:
    result = _import(tmp_path)
    assert result.exit_code == 1
    assert "ekjon resolve --no-publish" in result.output


@pytest.mark.neo4j
@pytest.mark.slow
def test_the_command_loads_the_last_resolve(
    home: Path, small_world: tuple[pd.DataFrame, ...]
) -> None:
    records = small_world[0]
    with _open(home) as store:
        store.clear()
    result = _import(home, "--heap", "1g", "--pagecache", "256m", "--importer-memory", "1g")
    assert result.exit_code == 0, result.output
    assert f"Imported {len(records):,} records" in result.output
    assert not (home / "neo4j" / "import").exists()  # the files are removed
    with _open(home) as store:
        assert store.count("Record") == len(records)
        assert store.count("Person") == small_world[1]["person_id"].nunique()


@contextmanager
def _nothing_imported(home: Path) -> Iterator[None]:
    """Around a failing import into the emptied server: start it again if the failure left it
    stopped, then check the database is still empty."""
    with _open(home) as store:
        store.clear()
    uri, _, _ = server.credentials(home)
    try:
        yield
    finally:
        if server.status(home) is None:
            server.start(home, bolt_port=int(uri.rsplit(":", 1)[1]), http_port=0, **SMALL)
    with _open(home) as store:
        assert store.count("Record") == 0


@pytest.mark.neo4j
@pytest.mark.slow
def test_a_failed_import_says_the_server_was_stopped_for_it(
    home: Path, small_world: tuple[pd.DataFrame, ...], tmp_path: Path
) -> None:
    bad = tmp_path / "persons.csv"
    small_world[1][["source", "record_id"]].to_csv(bad, index=False)  # no person_id
    with _nothing_imported(home):
        result = _import(home, "--assignment", str(bad))
        assert result.exit_code == 1
        assert "person_id" in result.output
        assert "stopped for the import" in result.output and "ekjon neo4j start" in result.output
        assert server.status(home) is None


@pytest.mark.neo4j
@pytest.mark.slow
def test_a_full_disk_while_writing_says_the_server_was_stopped(
    home: Path, small_world: tuple[pd.DataFrame, ...], monkeypatch
) -> None:
    monkeypatch.setattr(bulk.pa_csv, "CSVWriter", _full_disk)
    with _nothing_imported(home):
        result = _import(home)
        assert result.exit_code == 1
        assert "No space left on device" in result.output  # a message, not a traceback
        assert "stopped for the import" in result.output and "ekjon neo4j start" in result.output


@pytest.mark.neo4j
@pytest.mark.slow
def test_resolve_fills_an_empty_own_server_through_the_importer(
    home: Path, small_world: tuple[pd.DataFrame, ...]
) -> None:
    from api.cli import app

    def resolve() -> Any:
        return CliRunner().invoke(
            app, ["resolve", "--backend", "neo4j"], env={"EKJON_HOME": str(home), "COLUMNS": "250"}
        )

    records = small_world[0]
    with _open(home) as store:
        store.clear()
    first = resolve()
    assert first.exit_code == 0, first.output
    assert "publishing through Neo4j's offline importer" in first.output
    with _open(home) as store:
        assert store.count("Record") == len(records)
        assert store.count("SAME_AS") > 0
    again = resolve()  # the graph holds data now: updated over Bolt, as before
    assert again.exit_code == 0, again.output
    assert "offline importer" not in again.output
    with _open(home) as store:
        assert store.count("Record") == len(records)
