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
from graph.store import (
    PublishInterrupted,
    ReadOnlyStore,
    StoreCorrupted,
    StoreLocked,
    publishing,
    require_complete,
)


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
    with EmbeddedStore(tmp_path, compact_on_close=False) as store:
        fill(store)
        before = state(store)
        assert store.count("Record") == 49 and store.node("Record", "dss/2")["union"] == "kashimpur"
    assert not list(tmp_path.glob("tables-*"))  # the rows are in the journal only
    with EmbeddedStore(tmp_path) as store:
        assert_same(state(store), before)
        store.compact()  # the same from tables instead of the journal
    with EmbeddedStore(tmp_path, read_only=True) as store:
        assert_same(state(store), before)  # read from the tables, no graph in memory
        assert store._memory is None
        assert "age" not in store.node("Record", "dss/2")
    with EmbeddedStore(tmp_path) as store:
        store.merge_nodes("Phone", [{"id": "01911000000"}])  # folded into tables at close
    with EmbeddedStore(tmp_path, read_only=True) as store:
        assert store.count("Phone") == 11 and not store._changes


def test_compaction_keeps_everything_and_leaves_one_generation(tmp_path: Path) -> None:
    with EmbeddedStore(tmp_path, batch_size=7, compact_bytes=2_000) as store:
        fill(store)  # small batches and a tiny threshold: compacts many times on the way
        before = state(store)
    names = sorted(p.name.split("-")[0] for p in tmp_path.iterdir() if p.name != "LOCK")
    assert names == ["commit", "journal", "tables"]
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
    with pytest.raises(StoreLocked, match=f"open for writing .*pid {os.getpid()}"):
        EmbeddedStore(tmp_path, read_only=True)
    store.close()
    EmbeddedStore(tmp_path).close()


def test_readers_read_together_and_keep_a_writer_out(tmp_path: Path) -> None:
    with EmbeddedStore(tmp_path) as store:
        fill(store)
        before = state(store)
    first = EmbeddedStore(tmp_path, read_only=True)
    second = EmbeddedStore(tmp_path, read_only=True)
    assert_same(state(first), before)
    assert_same(state(second), before)
    with pytest.raises(StoreLocked, match="being read by another process"):
        EmbeddedStore(tmp_path)
    first.close()
    second.close()
    EmbeddedStore(tmp_path).close()


def test_a_reader_changes_no_file_and_refuses_writes(tmp_path: Path) -> None:
    with EmbeddedStore(tmp_path, batch_size=7, compact_bytes=2_000) as store:
        fill(store)
        store.merge_nodes("Phone", [{"id": "01911000000"}])  # a journal after the tables
    (tmp_path / "snapshot-00000099.ekg.tmp").write_bytes(b"half a snapshot")
    (tmp_path / "tables-00000099.tmp").mkdir()
    before = files(tmp_path)
    with EmbeddedStore(tmp_path, read_only=True) as reader:
        assert reader.count("Phone") == 11
        with pytest.raises(ReadOnlyStore, match="reading only"):
            reader.merge_nodes("Phone", [{"id": "01911000001"}])
        with pytest.raises(ReadOnlyStore):
            reader.delete_nodes("Phone", [])
        for write in (reader.clear, reader.compact, lambda: reader.begin_publish("run 1")):
            with pytest.raises(ReadOnlyStore):
                write()
    assert files(tmp_path) == before


def test_a_reader_of_no_store_sees_an_empty_graph_and_makes_no_folder(tmp_path: Path) -> None:
    with EmbeddedStore(tmp_path / "graph", read_only=True) as reader:
        assert reader.count("Record") == 0 and reader.publish_state().last_run is None
    assert not (tmp_path / "graph").exists()


def three_commits(path: Path, fsync: bool = True) -> list[int]:
    """Three commits of 100 phones; the journal's length after each."""
    sizes = []
    with EmbeddedStore(path, fsync=fsync, compact_on_close=False) as store:
        for batch in range(3):
            store.merge_nodes("Phone", [{"id": f"0171100{batch}{i:03d}"} for i in range(100)])
            sizes.append(journal(path).stat().st_size)
    return sizes


def commit_record(path: Path) -> Path:
    (found,) = path.glob("commit-*.ekc")
    return found


def files(path: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()
    }


@pytest.mark.parametrize("fsync", [True, False])
@pytest.mark.parametrize("cut", ["5 bytes", "the last frame"])
def test_a_committed_write_cut_from_the_journal_is_an_error_naming_the_file(
    tmp_path: Path, cut: str, fsync: bool
) -> None:
    sizes = three_commits(tmp_path, fsync=fsync)
    # The journal loses its end (a copy cut short, a bad disk), the last write included.
    os.truncate(journal(tmp_path), sizes[-1] - 5 if cut == "5 bytes" else sizes[-2])
    before = files(tmp_path)
    for read_only in (True, False):
        with pytest.raises(StoreCorrupted) as refused:
            EmbeddedStore(tmp_path, read_only=read_only)
        message = str(refused.value)
        assert str(journal(tmp_path)) in message and f"byte {sizes[-1]}" in message
        assert "committed" in message and "ekjon resolve" in message
        assert files(tmp_path) == before  # neither the reader nor the writer changed a byte


def test_a_torn_append_is_discarded_by_a_writer_and_left_alone_by_a_reader(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    three_commits(tmp_path)
    committed = commit_record(tmp_path).read_bytes()
    with EmbeddedStore(tmp_path, compact_on_close=False) as store:
        store.merge_nodes("Phone", [{"id": f"01811{i:06d}"} for i in range(100)])
    # A crash in the middle of that append: half its frame on disk, its commit never recorded.
    commit_record(tmp_path).write_bytes(committed)
    os.truncate(journal(tmp_path), journal(tmp_path).stat().st_size - 7)
    before = files(tmp_path)
    with caplog.at_level(logging.WARNING, logger="graph.embedded"):
        with EmbeddedStore(tmp_path, read_only=True) as reader:
            assert reader.count("Phone") == 300
    assert "ignoring" in caplog.text
    assert files(tmp_path) == before
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="graph.embedded"):
        store = EmbeddedStore(tmp_path, compact_on_close=False)
    assert "discarding" in caplog.text and "never finished" in caplog.text
    assert store.count("Phone") == 300  # the three commits, none of the torn fourth
    assert store.node("Phone", "01811000000") is None
    store.merge_nodes("Phone", [{"id": "01911000000"}])  # appends after the cut, not after garbage
    store.close()
    with EmbeddedStore(tmp_path) as store:
        assert store.count("Phone") == 301


def test_a_store_from_an_older_ekjon_keeps_its_torn_tail_rule(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    sizes = three_commits(tmp_path)
    commit_record(tmp_path).unlink()  # as an older ekjon left it: no commit record
    os.truncate(journal(tmp_path), sizes[-1] - 7)
    with caplog.at_level(logging.WARNING, logger="graph.embedded"):
        with EmbeddedStore(tmp_path, read_only=True) as reader:
            assert reader.count("Phone") == 200
    assert "older ekjon" in caplog.text and journal(tmp_path).stat().st_size == sizes[-1] - 7
    with EmbeddedStore(tmp_path) as store:
        assert store.count("Phone") == 200
    assert journal(tmp_path).stat().st_size == sizes[-2]
    os.truncate(journal(tmp_path), sizes[-2] - 5)  # the writer recorded what it found committed
    with pytest.raises(StoreCorrupted, match="committed"):
        EmbeddedStore(tmp_path, read_only=True)


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


def test_a_damaged_or_missing_table_file_is_reported(tmp_path: Path) -> None:
    with EmbeddedStore(tmp_path) as store:
        fill(store)
        store.compact()
    (table,) = tmp_path.glob("tables-*/node-Record.arrow")
    os.truncate(table, table.stat().st_size - 10)
    for read_only in (True, False):
        with pytest.raises(StoreCorrupted, match="node-Record.arrow is damaged"):
            EmbeddedStore(tmp_path, read_only=read_only)
    table.unlink()
    with pytest.raises(StoreCorrupted, match="node-Record.arrow is missing"):
        EmbeddedStore(tmp_path)


def test_leftovers_of_an_interrupted_compaction_are_ignored(tmp_path: Path) -> None:
    with EmbeddedStore(tmp_path) as store:
        fill(store)
        before = state(store)
    (journal_now,) = tmp_path.glob("journal-*.ekj")
    nxt = int(journal_now.stem.split("-")[1]) + 1
    # A compaction to the next generation that died before renaming its tables into place.
    (tmp_path / f"tables-{nxt:08d}.tmp").mkdir()
    (tmp_path / f"tables-{nxt:08d}.tmp" / "node-Record.arrow").write_bytes(b"half a table")
    (tmp_path / f"journal-{nxt:08d}.ekj").write_bytes(b"EKJ1 header only")
    with EmbeddedStore(tmp_path) as store:
        assert_same(state(store), before)
    assert not (tmp_path / f"tables-{nxt:08d}.tmp").exists()
    assert not (tmp_path / f"journal-{nxt:08d}.ekj").exists()


WRITER = textwrap.dedent(
    """
    import sys
    from graph.embedded import EmbeddedStore

    path, batch, fsync = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "fsync"
    store = EmbeddedStore(path, batch_size=400, compact_bytes=150_000, fsync=fsync)
    while True:
        ids = [f"{batch:05d}{i:06d}" for i in range(400)]
        store.merge_nodes("Phone", [{"id": i, "batch": batch} for i in ids])
        store.merge_nodes("NID", [{"id": i, "batch": batch} for i in ids])
        store.merge_edges("REGISTERED_TO", "Phone", "NID", [{"from": i, "to": i} for i in ids])
        print(batch, flush=True)
        batch += 1
    """
)


def run_and_kill(
    path: Path, first_batch: int, batches: int, rng: random.Random, fsync: bool
) -> list[int]:
    """Run the writer, SIGKILL it mid-stream after ``batches`` batches; return those it reported."""
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path), str(first_batch), "fsync" if fsync else "no"],
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


@pytest.mark.parametrize("fsync", [True, False])
def test_kill_9_mid_write_loses_nothing_committed(tmp_path: Path, fsync: bool) -> None:
    rng = random.Random(7)
    committed: list[int] = []
    for _ in range(3):  # each round reopens what the last kill left, torn tail and all
        # The batch in flight at the kill may have landed in part (its phones, not its edges);
        # the next round writes it again, which merges make harmless.
        committed += run_and_kill(tmp_path, len(committed), rng.randint(8, 20), rng, fsync)
        with EmbeddedStore(tmp_path) as store:
            per_batch = {
                "Phone": store.nodes("Phone").groupby("batch").size(),
                "NID": store.nodes("NID").groupby("batch").size(),
                "edges": store.edges("REGISTERED_TO")["from"].str[:5].astype(int).value_counts(),
            }
        for name, sizes in per_batch.items():
            assert set(committed) <= set(sizes.index), name  # nothing reported is lost
            assert (sizes == 400).all(), name  # and every commit is whole or absent


# --- publishes cut short --------------------------------------------------------------------------


def generations(path: Path) -> list[str]:
    return sorted(p.name for p in path.glob("tables-*"))


def publish_cut_short(path: Path) -> tuple[dict, dict]:
    """A complete publish, then one cut short; the graph after each."""
    with EmbeddedStore(path, batch_size=7, compact_bytes=2_000) as store:
        with publishing(store, "resolve run 1"):
            fill(store)
        complete = state(store)
        snapshots = generations(path)
        store.begin_publish("resolve run 2")
        store.merge_nodes("Phone", [{"id": f"01911{i:06d}", "batch": 2} for i in range(300)])
        store.delete_nodes("Record", ["dss/3", "dss/4"])
        store.merge_nodes("Record", [{"id": "dss/5", "age": 99}])
        # far past compact_bytes, but a half-done publish is never made a snapshot
        assert generations(path) == snapshots
        half = state(store)
    return complete, half


def test_a_reader_sees_the_last_complete_publish_of_a_store_with_one_cut_short(
    tmp_path: Path,
) -> None:
    complete, half = publish_cut_short(tmp_path)
    with EmbeddedStore(tmp_path) as store:  # a writer holds what was written, and says so
        assert_same(state(store), half)
        with pytest.raises(PublishInterrupted, match="resolve run 2 began .* not finished"):
            require_complete(store)
    with EmbeddedStore(tmp_path, read_only=True) as reader:
        assert_same(state(reader), complete)
        shown = require_complete(reader)
        assert shown.shows_last_complete and shown.last_run == "resolve run 1"
        assert [u.run for u in shown.unfinished] == ["resolve run 2"]
    with EmbeddedStore(tmp_path) as store:  # the next complete publish finishes it
        with publishing(store, "resolve run 3"):
            store.merge_nodes("Phone", [{"id": "01511000000"}])
        latest = state(store)
    with EmbeddedStore(tmp_path, read_only=True) as reader:
        assert_same(state(reader), latest)
        shown = require_complete(reader)
        assert not shown.shows_last_complete and shown.last_run == "resolve run 3"


@pytest.mark.parametrize("by_hand", ["clear", "compact"])
def test_a_publish_cut_short_and_then_snapshotted_refuses_readers(
    tmp_path: Path, by_hand: str
) -> None:
    publish_cut_short(tmp_path)
    with EmbeddedStore(tmp_path) as store:
        getattr(store, by_hand)()  # the half-written graph (or none) is now the snapshot
    with EmbeddedStore(tmp_path, read_only=True) as reader:
        with pytest.raises(PublishInterrupted, match="resolve run 2"):
            require_complete(reader)


def test_the_publish_state_survives_reopening_and_compaction(tmp_path: Path) -> None:
    with EmbeddedStore(tmp_path) as store:
        with publishing(store, "resolve run 1"):
            fill(store)
        store.begin_publish("one record", complete=False)
        written = store.publish_state()
    with EmbeddedStore(tmp_path) as store:
        assert store.publish_state() == written
        store.compact()
    with EmbeddedStore(tmp_path) as store:
        assert store.publish_state() == written
        store.end_publish("one record")
        assert store.publish_state().complete


def test_a_store_written_by_an_older_ekjon_opens_and_is_written_as_tables(tmp_path: Path) -> None:
    """A pickled snapshot and its journal (the format before tables) read as they were."""
    from graph.embedded.frames import _encode

    frames = [
        ("snapshot", 1, 3),
        ("PS", "resolve run 7", "2026-01-01T00:00:00Z", [], 4),
        ("N", "Record", [("dss/1", {"district": "BD3026"}), ("dss/2", {"age": 70})]),
        ("N", "Person", [("P1", {})]),
        ("E", "OF", "Record", "Person", [("dss/1", "P1", {}), ("dss/2", "P1", {})]),
        ("end", 3, 2),
    ]
    (tmp_path / "snapshot-00000003.ekg").write_bytes(b"".join(_encode(f) for f in frames))
    journal = [("journal", 1, 3), ("N", "Person", [("P2", {"name": "Rahima"})])]
    (tmp_path / "journal-00000003.ekj").write_bytes(b"".join(_encode(f) for f in journal))
    with EmbeddedStore(tmp_path, read_only=True) as reader:
        assert reader.count("Person") == 2 and reader.node("Record", "dss/2") == {
            "id": "dss/2",
            "age": 70,
        }
        assert sorted(reader.edges("OF")["from"]) == ["dss/1", "dss/2"]
        assert reader.publish_state().last_run == "resolve run 7"
    with EmbeddedStore(tmp_path) as store:
        store.compact()
    assert not list(tmp_path.glob("snapshot-*")) and len(list(tmp_path.glob("tables-*"))) == 1
    with EmbeddedStore(tmp_path, read_only=True) as reader:
        assert reader._memory is None and reader.count("Person") == 2
        assert reader.node("Person", "P2") == {"id": "P2", "name": "Rahima"}
        assert reader.publish_state().last_run == "resolve run 7"


def test_a_partial_publish_is_synced_by_its_begin_and_its_end_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One record published through the API writes several times between its begin and end: the
    begin is synced before the first write, the writes with the end, not each on its own."""
    import graph.embedded.store as embedded

    store = EmbeddedStore(tmp_path, compact_on_close=False)
    store.merge_nodes("Phone", [{"id": "01711000000"}])
    synced: list[int] = []
    real = os.fsync
    monkeypatch.setattr(embedded.os, "fsync", lambda fd: (synced.append(fd), real(fd))[1])
    with publishing(store, "api record dss/1", complete=False):
        for i in range(8):
            store.merge_nodes("Phone", [{"id": f"0181100000{i}"}])
        assert len(synced) == 2  # the begin: the journal and the commit record
    assert len(synced) == 4  # and the end, for all eight writes
    synced.clear()
    store.merge_nodes("Phone", [{"id": "01911000000"}])  # outside a publish: synced at once
    assert len(synced) == 2
    store.close()
    with EmbeddedStore(tmp_path, read_only=True) as reader:
        assert reader.count("Phone") == 10 and not reader.publish_state().unfinished


def test_a_partial_publish_whose_writes_never_reached_the_disk_stays_unfinished(
    tmp_path: Path,
) -> None:
    """A power cut before a partial publish ends may lose its writes (synced only by its end); its
    begin was synced, so the store says the publish is unfinished and it is published again."""
    import shutil

    store = EmbeddedStore(tmp_path / "live", compact_on_close=False)
    store.merge_nodes("Phone", [{"id": "01711000000"}])
    store.begin_publish("api record dss/1", complete=False)
    synced = journal(tmp_path / "live").stat().st_size
    for i in range(3):
        store.merge_nodes("Phone", [{"id": f"0181100000{i}"}])
    # what a power cut leaves at worst: the journal as far as it was synced, the commit record
    shutil.copytree(tmp_path / "live", tmp_path / "cut", ignore=shutil.ignore_patterns("LOCK"))
    os.truncate(journal(tmp_path / "cut"), synced)
    store.close()
    for read_only in (True, False):
        with EmbeddedStore(tmp_path / "cut", read_only=read_only) as after:
            assert [u.run for u in after.publish_state().unfinished] == ["api record dss/1"]
            if not read_only:
                assert after.count("Phone") == 1


def test_publishes_of_a_group_of_records_are_begun_and_ended_in_one_commit_each(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A group of records stored through the API is published at once, each record its own
    publish: their begins are synced together before the first write, their ends (and the
    writes) together after the last; cut short before the end, every one of them is unfinished
    (a power cut that keeps only what was synced included), and each is published again."""
    import shutil

    import graph.embedded.store as embedded
    from graph.store import publishing_each

    runs = [f"api record dss/{i}" for i in range(5)]
    store = EmbeddedStore(tmp_path / "live", compact_on_close=False)
    store.merge_nodes("Phone", [{"id": "01711000000"}])
    synced: list[int] = []
    real = os.fsync
    monkeypatch.setattr(embedded.os, "fsync", lambda fd: (synced.append(fd), real(fd))[1])
    with publishing_each(store, runs):
        assert len(synced) == 2  # the five begins: the journal and the commit record, once
        assert [u.run for u in store.publish_state().unfinished] == runs
        shutil.copytree(tmp_path / "live", tmp_path / "cut", ignore=shutil.ignore_patterns("LOCK"))
        for i in range(5):
            store.merge_nodes("Phone", [{"id": f"0181100000{i}"}])
    assert len(synced) == 4  # the five ends, with the writes
    assert store.publish_state().unfinished == ()
    store.close()
    with EmbeddedStore(tmp_path / "live", read_only=True) as reader:
        assert reader.count("Phone") == 6 and not reader.publish_state().unfinished
    for read_only in (True, False):  # cut short after the begins
        with EmbeddedStore(tmp_path / "cut", read_only=read_only) as after:
            assert [u.run for u in after.publish_state().unfinished] == runs
