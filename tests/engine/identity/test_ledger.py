"""Stable person IDs: kept across re-runs, merges and splits recorded, a killed run a no-op."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

import engine.identity.assign as assign
from engine.identity.assign import assign_person_ids
from engine.identity.ledger import IdentityError, IdentityLedger, format_id, is_valid_id

ROOT = Path(__file__).resolve().parents[3]


def _clusters(groups: list[list[str]], reason: str | None = None) -> pd.DataFrame:
    rows = [(key, label) for label, keys in enumerate(groups) for key in keys]
    frame = pd.DataFrame(rows, columns=["record_key", "cluster"])
    if reason is not None:
        frame["reason"] = reason
    return frame


def _ids(assigned: pd.DataFrame) -> dict[str, str]:
    return dict(zip(assigned["record_key"], assigned["person_id"], strict=True))


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[IdentityLedger]:
    with IdentityLedger(tmp_path / "identity.sqlite") as opened:
        yield opened


def test_person_ids_stay_put_when_more_data_arrives(ledger: IdentityLedger) -> None:
    first = _ids(
        assign_person_ids(ledger, _clusters([["dss/1", "pesp/7"], ["dss/2"]]), model_version="m1")
    )
    karim, rahima = first["dss/1"], first["dss/2"]
    assert first["pesp/7"] == karim and karim != rahima
    assert is_valid_id(karim, "person") and is_valid_id(rahima, "person")

    # more data: Karim's survey record joins him, a new person arrives; the batch numbers its
    # clusters differently this time
    again = _ids(
        assign_person_ids(
            ledger,
            _clusters([["dss/3"], ["dss/2"], ["nhd/h1:1", "pesp/7", "dss/1"]]),
            model_version="m2",
        )
    )
    assert again["dss/1"] == again["pesp/7"] == again["nhd/h1:1"] == karim
    assert again["dss/2"] == rahima
    assert again["dss/3"] not in (karim, rahima)

    events = ledger.events(ledger.last_run(), with_members=True)
    assert set(events["event"]) == {"add", "new"}
    add = events[events["event"] == "add"].iloc[0]
    assert add["id"] == karim and add["members"] == ["nhd/h1:1"]
    assert add["model_version"] == "m2"


def test_a_run_that_changes_nothing_writes_no_events(ledger: IdentityLedger) -> None:
    clusters = _clusters([["dss/1", "pesp/7"], ["dss/2"]])
    first = assign_person_ids(ledger, clusters, model_version="m1")
    second = assign_person_ids(ledger, clusters, model_version="m1")
    assert first["person_id"].tolist() == second["person_id"].tolist()
    assert ledger.events(ledger.last_run()).empty


def test_a_merge_keeps_the_id_with_more_records_and_is_recorded(ledger: IdentityLedger) -> None:
    first = _ids(
        assign_person_ids(
            ledger,
            _clusters([["dss/4", "dss/5"], ["dss/1", "pesp/2", "nhd/h9:3"]]),
            model_version="m1",
        )
    )
    bigger, smaller = first["dss/1"], first["dss/4"]
    merged = _ids(
        assign_person_ids(
            ledger,
            _clusters(
                [["dss/1", "pesp/2", "nhd/h9:3", "dss/4", "dss/5"]],
                reason="link p=0.97 via nid+name",
            ),
            model_version="m2",
        )
    )
    assert set(merged.values()) == {bigger}

    history = ledger.history(smaller)
    merge = history[history["event"] == "merge"].iloc[0]
    assert merge["id"] == bigger and merge["other_id"] == smaller
    assert sorted(merge["members"]) == ["dss/4", "dss/5"]
    assert merge["reason"] == "link p=0.97 via nid+name"
    assert merge["model_version"] == "m2"
    assert merge["at"]
    assert ledger.current_id(smaller) == bigger
    info = ledger.info(smaller)
    assert info is not None and info["retired_run"] == merge["run_id"]


def test_a_merge_of_equal_persons_keeps_the_older_id(ledger: IdentityLedger) -> None:
    first = _ids(assign_person_ids(ledger, _clusters([["a/1", "a/2"]]), model_version="m1"))
    second = _ids(
        assign_person_ids(ledger, _clusters([["a/1", "a/2"], ["b/1", "b/2"]]), model_version="m1")
    )
    older, younger = first["a/1"], second["b/1"]
    assert older < younger
    merged = _ids(
        assign_person_ids(ledger, _clusters([["b/1", "b/2", "a/1", "a/2"]]), model_version="m1")
    )
    assert set(merged.values()) == {older}


def test_a_split_keeps_the_id_on_the_largest_part_and_is_recorded(ledger: IdentityLedger) -> None:
    first = _ids(
        assign_person_ids(
            ledger, _clusters([["dss/1", "pesp/7", "ec/x1", "nhd/h1:3"]]), model_version="m1"
        )
    )
    karim = first["dss/1"]
    split = _ids(
        assign_person_ids(
            ledger,
            _clusters(
                [["nhd/h1:3"], ["dss/1", "pesp/7", "ec/x1"]], reason="son named after father"
            ),
            model_version="m2",
        )
    )
    assert split["dss/1"] == split["pesp/7"] == split["ec/x1"] == karim
    son = split["nhd/h1:3"]
    assert son != karim

    events = ledger.events(ledger.last_run(), with_members=True)
    assert events[["event", "id", "other_id"]].values.tolist() == [["split", son, karim]]
    assert events.iloc[0]["members"] == ["nhd/h1:3"]
    assert events.iloc[0]["reason"] == "son named after father"
    assert son in set(ledger.history(karim)["id"])
    runs = ledger.runs("person")
    assert runs["split"].tolist() == [0, 1] and runs["model_version"].tolist() == ["m1", "m2"]


def test_records_that_leave_the_data_retire_their_person(ledger: IdentityLedger) -> None:
    first = _ids(assign_person_ids(ledger, _clusters([["dss/1"], ["dss/2"]]), model_version="m1"))
    assign_person_ids(ledger, _clusters([["dss/1"]]), model_version="m1")
    retired = first["dss/2"]
    assert ledger.history(retired)["event"].tolist() == ["new", "retire"]
    assert ledger.current_id(retired) is None
    assert ledger.id_of("dss/2") is None
    assert ledger.record_history("dss/2")["event"].tolist() == ["new", "retire"]


def test_an_incremental_run_reassigns_only_the_records_it_names(ledger: IdentityLedger) -> None:
    first = _ids(
        assign_person_ids(ledger, _clusters([["dss/1", "pesp/7"], ["dss/2"]]), model_version="m1")
    )
    new = assign_person_ids(
        ledger, _clusters([["dss/1", "bkash/k9"]]), model_version="m1", complete=False
    )
    assert _ids(new)["bkash/k9"] == first["dss/1"]
    current = dict(ledger.current().values.tolist())
    assert current == {
        "dss/1": first["dss/1"],
        "pesp/7": first["dss/1"],
        "dss/2": first["dss/2"],
        "bkash/k9": first["dss/1"],
    }


def test_ids_do_not_depend_on_how_the_batch_numbers_its_clusters(tmp_path: Path) -> None:
    a = pd.DataFrame({"record_key": ["x/2", "x/1", "x/3"], "cluster": [7, 3, 7]})
    b = pd.DataFrame({"record_key": ["x/1", "x/3", "x/2"], "cluster": ["q", "z", "z"]})
    with IdentityLedger(tmp_path / "a.sqlite") as la, IdentityLedger(tmp_path / "b.sqlite") as lb:
        ids_a = _ids(assign_person_ids(la, a, model_version="m"))
        ids_b = _ids(assign_person_ids(lb, b, model_version="m"))
    assert ids_a == ids_b
    assert ids_a["x/1"] == format_id("person", 1)


def test_source_and_record_id_columns_are_accepted_and_kept(ledger: IdentityLedger) -> None:
    clusters = pd.DataFrame({"source": ["dss", "pesp"], "record_id": ["1", "7"], "cluster": [0, 0]})
    out = assign_person_ids(ledger, clusters, model_version="m1")
    assert out.columns.tolist() == ["source", "record_id", "record_key", "person_id"]
    assert out["record_key"].tolist() == ["dss/1", "pesp/7"]


def test_a_record_in_two_clusters_is_refused_and_nothing_is_written(
    ledger: IdentityLedger,
) -> None:
    with pytest.raises(IdentityError, match="'dss/1' is given twice"):
        assign_person_ids(ledger, _clusters([["dss/1"], ["dss/1", "dss/2"]]), model_version="m")
    assert ledger.current().empty and ledger.runs().empty


def test_a_mistyped_id_is_caught() -> None:
    good = format_id("person", 123456)
    assert is_valid_id(good)
    typo = good[:5] + str((int(good[5]) + 1) % 10) + good[6:]
    swapped = good[:-3] + good[-2] + good[-3] + good[-1]
    assert not is_valid_id(typo)
    assert swapped == good or not is_valid_id(swapped)
    assert not is_valid_id("H" + good[1:], "person")


def test_an_exception_mid_run_leaves_the_previous_assignment(
    ledger: IdentityLedger, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = assign_person_ids(ledger, _clusters([["dss/1", "pesp/7"]]), model_version="m1")

    def crash(*args: object) -> None:
        raise RuntimeError("power cut")

    monkeypatch.setattr(assign, "_write_events", crash)
    with pytest.raises(RuntimeError, match="power cut"):
        assign_person_ids(ledger, _clusters([["dss/1"], ["pesp/7"], ["dss/2"]]), model_version="m2")
    assert ledger.current().values.tolist() == before[["record_key", "person_id"]].values.tolist()
    assert len(ledger.runs()) == 1
    monkeypatch.undo()
    # the counter was not advanced either: the next run's new ID follows the first run's
    after = _ids(
        assign_person_ids(ledger, _clusters([["dss/1", "pesp/7"], ["dss/2"]]), model_version="m2")
    )
    assert after["dss/2"] == format_id("person", 2)


def test_a_killed_process_leaves_the_previous_assignment(tmp_path: Path) -> None:
    path = tmp_path / "identity.sqlite"
    script = textwrap.dedent(
        f"""
        import os, sys
        sys.path.insert(0, {str(ROOT)!r})
        import pandas as pd
        import engine.identity.assign as assign
        import engine.identity.ledger as identity
        ledger = identity.IdentityLedger({str(path)!r})
        first = pd.DataFrame({{"record_key": ["dss/1", "pesp/7"], "cluster": [0, 0]}})
        assign.assign_person_ids(ledger, first, model_version="m1")
        assign._write_events = lambda *a: os._exit(9)   # killed half-way through writing
        second = pd.DataFrame({{"record_key": ["dss/1", "pesp/7", "dss/2"], "cluster": [0, 1, 2]}})
        assign.assign_person_ids(ledger, second, model_version="m2")
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=120)
    assert done.returncode == 9, done.stderr.decode()
    with IdentityLedger(path) as ledger:
        current = dict(ledger.current().values.tolist())
        assert set(current) == {"dss/1", "pesp/7"}
        assert current["dss/1"] == current["pesp/7"]
        assert ledger.runs()["model_version"].tolist() == ["m1"]


def test_incremental_runs_read_only_the_ids_they_touch_and_act_as_on_the_whole_ledger(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A partial run (one record stored through the API) reads the members of the IDs its records
    hold, not the whole ledger, and gives what it gave when it read everything: the same IDs,
    events and counts, on two ledgers given the same random runs."""
    import random

    rng = random.Random(7)
    keys = [f"s/{i}" for i in range(60)]
    batch = _clusters([keys[i : i + rng.randint(1, 4)] for i in range(0, 60, 4)])
    whole = IdentityLedger.old_state

    def reads_everything(self, scope, members=None):  # the ledger as read before
        return whole(self, scope)

    with (
        IdentityLedger(tmp_path / "a.sqlite") as part,
        IdentityLedger(tmp_path / "b.sqlite") as full,
    ):
        for ledger in (part, full):
            assign_person_ids(ledger, batch, model_version="m")
        read: list[int] = []
        for n in range(40):
            # a record alone, or with a person's records, or pulled from two persons (merges,
            # moves and splits)
            current = part.current()
            people = current["person_id"].drop_duplicates().tolist()
            chosen = rng.sample(people, rng.choice([1, 1, 2]))
            group = [m for p in chosen for m in part.members_of(p)]
            group = rng.sample(group, rng.randint(1, len(group)))
            if rng.random() < 0.5:
                group.append(f"new/{n}")
            clusters = _clusters([group] if rng.random() < 0.7 else [group[:1], group[1:]])
            clusters = clusters[clusters["record_key"].astype(bool)]
            with monkeypatch.context() as patched:
                seen = whole(part, "person", clusters["record_key"].tolist())
                read.append(len(seen[0]))
                a = _ids(assign_person_ids(part, clusters, model_version="m", complete=False))
                patched.setattr(IdentityLedger, "old_state", reads_everything)
                b = _ids(assign_person_ids(full, clusters, model_version="m", complete=False))
            assert a == b, n
            in_use = part._rows("SELECT count(DISTINCT id) FROM person_members")[0][0]
            assert part.runs()["ids"].iat[-1] == in_use, n
        assert part.current().values.tolist() == full.current().values.tolist()
        runs_a, runs_b = part.runs(), full.runs()
        counted = ["members", "ids", "new", "split", "merged", "moved", "retired"]
        assert runs_a[counted].values.tolist() == runs_b[counted].values.tolist()
        assert max(read) < len(part.current())  # never the whole ledger


def _index_used(ledger: IdentityLedger, scope: str) -> bool:
    """Whether finding the members of one ID uses the members' index by ID (not a full scan)."""
    plan = ledger._db.execute(
        f"EXPLAIN QUERY PLAN SELECT member FROM {scope}_members WHERE id = ?", ("P0000000013",)
    ).fetchall()
    return any(f"{scope}_members_id" in str(row[-1]) for row in plan)


def test_a_large_run_leaves_the_members_index_whole(
    ledger: IdentityLedger, monkeypatch: pytest.MonkeyPatch
) -> None:
    # every run here is large: the index by ID is dropped while the members are written
    monkeypatch.setattr(assign, "REINDEX_MIN_MEMBERS", 1)
    first = assign_person_ids(
        ledger, _clusters([["dss/1", "pesp/7"], ["dss/2"], ["dss/3"]]), model_version="m1"
    )
    assert _index_used(ledger, "person")
    karim = _ids(first)["dss/1"]
    assert ledger.members_of(karim) == ["dss/1", "pesp/7"]

    # a large run that fails after its members are written leaves the ledger and index as they were
    def crash(*args: object) -> None:
        raise RuntimeError("power cut")

    monkeypatch.setattr(assign, "_write_events", crash)
    with pytest.raises(RuntimeError, match="power cut"):
        assign_person_ids(ledger, _clusters([["dss/1"], ["pesp/7", "dss/2"]]), model_version="m2")
    assert _index_used(ledger, "person")
    assert ledger.members_of(karim) == ["dss/1", "pesp/7"]
    monkeypatch.undo()

    monkeypatch.setattr(assign, "REINDEX_MIN_MEMBERS", 1)
    again = _ids(
        assign_person_ids(ledger, _clusters([["dss/1"], ["pesp/7", "dss/2"]]), model_version="m2")
    )
    assert _index_used(ledger, "person")
    assert ledger.members_of(again["pesp/7"]) == ["dss/2", "pesp/7"]
    assert ledger.members_of(karim) == ["dss/1"]
