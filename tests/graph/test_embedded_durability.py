"""The embedded store on disk: what was committed survives closing, crashes and torn writes."""

from __future__ import annotations

import logging
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest

from graph.embedded import EmbeddedStore
from graph.store import StoreCorrupted, StoreLocked


def fill(store: EmbeddedStore) -> None:
    """A bit of everything: all labels' worth of nodes, edges with properties, deletes, replaces."""
    store.merge_nodes(
        "Record",
        [
            {
                "id": f"dss/{i}",
                "full_name_bn": "মোছাঃ রহিমা বেগম",
                "age": 60 + i,
                "district": "BD3026",
            }
            for i in range(50)
        ],
    )
    store.merge_nodes("Person", [{"id": f"P{i}"} for i in range(25)])
    store.merge_nodes("Phone", [{"id": f"017110000{i:02d}"} for i in range(10)])
    store.merge_nodes("NID", [{"id": f"19901234567{i:02d}", "form": "13"} for i in range(10)])
    store.merge_edges(
        "OF", "Record", "Person", [{"from": f"dss/{i}", "to": f"P{i // 2}"} for i in range(50)]
    )
    store.merge_edges(
        "HAS",
        "Record",
        "Phone",
        [
            {"from": f"dss/{i}", "to": f"017110000{i % 10:02d}", "role": "contact"}
            for i in range(50)
        ],
    )
    store.merge_edges(
        "REGISTERED_TO",
        "Phone",
        "NID",
        [{"from": f"017110000{i:02d}", "to": f"19901234567{i:02d}"} for i in range(10)],
    )
    store.merge_edges(
        "SAME_AS",
        "Record",
        "Record",
        [
            {"from": f"dss/{i}", "to": f"dss/{i + 1}", "probability": i / 50}
            for i in range(0, 50, 2)
        ],
    )
    store.delete_nodes("Record", ["dss/49"])
    store.delete_edges("HAS", "Record", "Phone", [{"from": "dss/0", "to": "01711000000"}])
    store.replace_edges_from("OF", "Record", "Person", [{"from": "dss/1", "to": "P24"}])
    store.merge_nodes("Record", [{"id": "dss/2", "age": None, "union": "kashimpur"}])


def state(store: EmbeddedStore) -> dict:
    """Everything a user can read, in a comparable form."""
    result: dict = {}
    for label in ("Record", "Person", "Phone", "NID"):
        result[label] = store.nodes(label).sort_values("id", ignore_index=True)
    for edge_type in ("OF", "HAS", "REGISTERED_TO", "SAME_AS"):
        result[edge_type] = store.edges(edge_type).sort_values(["from", "to"], ignore_index=True)
    result["neighbours"] = store.neighbours("Phone", "01711000003", direction="both")
    return result


def assert_same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for name in a:
        if isinstance(a[name], pd.DataFrame):
            pd.testing.assert_frame_equal(a[name], b[name])
        else:
            assert a[name] == b[name]


def journal(path: Path) -> Path:
    (found,) = path.glob("journal-*.ekj")
    return found


def test_everything_is_there_after_reopening(tmp_path: Path) -> None:
    with EmbeddedStore(tmp_path) as store:
        fill(store)
        before = state(store)
        assert store.count("Record") == 49 and store.node("Record", "dss/2")["union"] == "kashimpur"
    with EmbeddedStore(tmp_path) as store:
        assert_same(state(store), before)
        store.compact()  # the same from a snapshot instead of the journal
    with EmbeddedStore(tmp_path) as store:
        assert_same(state(store), before)
        assert "age" not in store.node("Record", "dss/2")


def test_compaction_keeps_everything_and_leaves_one_generation(tmp_path: Path) -> None:
    with EmbeddedStore(tmp_path, batch_size=7, compact_bytes=2_000) as store:
        fill(store)  # small batches and a tiny threshold: compacts many times on the way
        before = state(store)
    assert sorted(p.suffix for p in tmp_path.iterdir() if p.name != "LOCK") == [".ekg", ".ekj"]
    with EmbeddedStore(tmp_path) as store:
        assert_same(state(store), before)


def test_clear_survives_reopening(tmp_path: Path) -> None:
    with EmbeddedStore(tmp_path) as store:
        fill(store)
        store.clear()
        store.merge_nodes("Person", [{"id": "P100"}])
    with EmbeddedStore(tmp_path) as store:
        assert (store.count("Record"), store.count("OF"), store.count("Person")) == (0, 0, 1)


def test_a_second_process_cannot_open_an_open_store(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path)
    with pytest.raises(StoreLocked, match=f"pid {os.getpid()}"):
        EmbeddedStore(tmp_path)
    store.close()
    EmbeddedStore(tmp_path).close()


def three_commits(path: Path) -> None:
    with EmbeddedStore(path) as store:
        for batch in range(3):
            store.merge_nodes("Phone", [{"id": f"0171100{batch}{i:03d}"} for i in range(100)])


def test_a_torn_journal_tail_is_discarded(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    three_commits(tmp_path)
    size = journal(tmp_path).stat().st_size
    os.truncate(journal(tmp_path), size - 7)  # the last append was cut short by a crash
    with caplog.at_level(logging.WARNING, logger="graph.embedded"):
        store = EmbeddedStore(tmp_path)
    assert "torn tail" in caplog.text
    assert store.count("Phone") == 200  # the first two commits, none of the third
    assert store.node("Phone", "01711002000") is None
    store.merge_nodes("Phone", [{"id": "01811000000"}])  # appends after the cut, not after garbage
    store.close()
    with EmbeddedStore(tmp_path) as store:
        assert store.count("Phone") == 201


def test_garbage_after_the_last_commit_is_discarded(tmp_path: Path) -> None:
    three_commits(tmp_path)
    with open(journal(tmp_path), "ab") as file:
        file.write(random.Random(1).randbytes(5000))
    with EmbeddedStore(tmp_path) as store:
        assert store.count("Phone") == 300


def test_damage_before_committed_work_is_reported_not_dropped(tmp_path: Path) -> None:
    three_commits(tmp_path)
    data = bytearray(journal(tmp_path).read_bytes())
    data[200] ^= 0xFF  # inside the first commit; two good commits follow it
    journal(tmp_path).write_bytes(bytes(data))
    with pytest.raises(StoreCorrupted, match="damaged at byte .* valid frames follow"):
        EmbeddedStore(tmp_path)


def test_a_damaged_snapshot_is_reported(tmp_path: Path) -> None:
    with EmbeddedStore(tmp_path) as store:
        fill(store)
        store.compact()
    (snapshot,) = tmp_path.glob("snapshot-*.ekg")
    os.truncate(snapshot, snapshot.stat().st_size - 10)
    with pytest.raises(StoreCorrupted):
        EmbeddedStore(tmp_path)


def test_leftovers_of_an_interrupted_compaction_are_ignored(tmp_path: Path) -> None:
    with EmbeddedStore(tmp_path) as store:
        fill(store)
        before = state(store)
    # A compaction to generation 1 that died before renaming its snapshot into place.
    (tmp_path / "snapshot-00000001.ekg.tmp").write_bytes(b"half a snapshot")
    (tmp_path / "journal-00000001.ekj").write_bytes(b"EKJ1 header only")
    with EmbeddedStore(tmp_path) as store:
        assert_same(state(store), before)
    assert not (tmp_path / "snapshot-00000001.ekg.tmp").exists()
    assert not (tmp_path / "journal-00000001.ekj").exists()


WRITER = textwrap.dedent(
    """
    import sys
    from graph.embedded import EmbeddedStore

    path, batch = sys.argv[1], int(sys.argv[2])
    store = EmbeddedStore(path, batch_size=400, compact_bytes=150_000)
    while True:
        ids = [f"{batch:05d}{i:06d}" for i in range(400)]
        store.merge_nodes("Phone", [{"id": i, "batch": batch} for i in ids])
        store.merge_nodes("NID", [{"id": i, "batch": batch} for i in ids])
        store.merge_edges("REGISTERED_TO", "Phone", "NID", [{"from": i, "to": i} for i in ids])
        print(batch, flush=True)
        batch += 1
    """
)


def run_and_kill(path: Path, first_batch: int, batches: int, rng: random.Random) -> list[int]:
    """Run the writer, SIGKILL it mid-stream after ``batches`` batches; return those it reported."""
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path), str(first_batch)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert writer.stdout is not None
    reported = []
    for line in writer.stdout:
        reported.append(int(line))
        if len(reported) == batches:
            break
    time.sleep(rng.uniform(0, 0.05))  # land somewhere inside the next writes
    writer.send_signal(signal.SIGKILL)
    reported += [int(line) for line in writer.stdout]
    writer.wait()
    assert writer.returncode == -signal.SIGKILL
    return reported


def test_kill_9_mid_write_loses_nothing_committed(tmp_path: Path) -> None:
    rng = random.Random(7)
    committed: list[int] = []
    for _ in range(3):  # each round reopens what the last kill left, torn tail and all
        # The batch in flight at the kill may have landed in part (its phones, not its edges);
        # the next round writes it again, which merges make harmless.
        committed += run_and_kill(tmp_path, len(committed), rng.randint(8, 20), rng)
        with EmbeddedStore(tmp_path) as store:
            per_batch = {
                "Phone": store.nodes("Phone").groupby("batch").size(),
                "NID": store.nodes("NID").groupby("batch").size(),
                "edges": store.edges("REGISTERED_TO")["from"].str[:5].astype(int).value_counts(),
            }
        for name, sizes in per_batch.items():
            assert set(committed) <= set(sizes.index), name  # nothing reported is lost
            assert (sizes == 400).all(), name  # and every commit is whole or absent
