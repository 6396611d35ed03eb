"""Whole resolve runs on small hand-made homes: what goes wrong with odd input, and what the run
reports."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from engine.home import Home
from engine.run import run_batch
from tests.engine.resolve.homes import NAMES, PLACE, ingest, write_source


def test_one_source_whose_records_link_to_nothing_resolves(tmp_path: Path) -> None:
    rows = [
        {"id": str(i), "full_name": name, "date_of_birth": f"19{50 + i}-01-15", **PLACE}
        for i, name in enumerate(NAMES)
    ]
    write_source(tmp_path / "world", "dss_oa", rows, "old_age_allowance")
    home = Home.of(tmp_path / "home")
    ingest(home, tmp_path / "world")

    report = run_batch(home)

    assert report.records == report.persons == len(NAMES)
    assignment = pd.read_parquet(home.assignment)
    assert assignment["person_id"].nunique() == len(NAMES)


def _unrelated_home(root: Path) -> Home:
    """One record in each of three programmes, of three people who share nothing."""
    for i, (source, programme) in enumerate(
        (("dss_oa", "old_age_allowance"), ("dss_widow", "widow_allowance"), ("molwa_ff", "ff"))
    ):
        row = {"id": "1", "full_name": NAMES[i], "date_of_birth": f"19{40 + 9 * i}-02-0{i + 1}"}
        write_source(root / "world", source, [{**row, **PLACE}], programme)
    home = Home.of(root / "home")
    ingest(home, root / "world")
    return home


def _write_decisions(home: Home, rows: list[tuple[str, str, str, str]]) -> None:
    """Decisions written without today's checks, as an older ekjon let them in."""
    from engine.resolve.decisions import DecisionStore

    with DecisionStore(home.decisions) as store, store.transaction() as db:
        db.executemany(
            "INSERT INTO decisions (a, b, verdict, reviewer, reason, decided_at) "
            "VALUES (?, ?, ?, ?, ?, '2024-05-01T10:00:00+00:00')",
            [(min(a, b), max(a, b), verdict, "rahim", reason) for a, b, verdict, reason in rows],
        )


def test_contradicting_decisions_are_reported_and_the_ledger_cites_only_those_applied(
    tmp_path: Path,
) -> None:
    from engine.identity.ledger import IdentityLedger

    home = _unrelated_home(tmp_path)
    run_batch(home)
    a, b, c = "dss_oa/1", "dss_widow/1", "molwa_ff/1"
    _write_decisions(
        home,
        [
            (a, b, "same", "same NID card seen"),
            (b, c, "same", "same photo"),
            (a, c, "not_same", "different fathers"),
        ],
    )

    report = run_batch(home)

    [warning] = [w for w in report.warnings if "reviewer decision" in w]
    assert f"#3 {a} not same {c} (by rahim: different fathers) contradicts" in warning
    assert f"#1 {a} same {b}" in warning and f"#2 {b} same {c}" in warning
    persons = pd.read_parquet(home.assignment).set_index("record_id")
    assert persons["person_id"].nunique() == 1  # the two earlier decisions hold
    with IdentityLedger(home.ledger) as ledger:
        reasons = " ".join(ledger.events(scope="person")["reason"].dropna())
    assert "same NID card seen" in reasons and "same photo" in reasons
    assert "different fathers" not in reasons

    # and the reviewers see it where they list their decisions
    from typer.testing import CliRunner

    from api.cli import app

    listed = CliRunner().invoke(app, ["review", "list"], env={"EKJON_HOME": str(home.root)})
    assert listed.exit_code == 0
    assert f"#3 {a} not same {c}" in " ".join(listed.output.split())
    assert "is left out" in " ".join(listed.output.split())


def test_a_reviewers_same_outranks_an_equally_strong_link_of_the_model(tmp_path: Path) -> None:
    """The undocumented widow record links equally well to both namesakes; the reviewer says
    which one she is, and the run follows the reviewer and cites her."""
    from engine.identity.ledger import IdentityLedger
    from engine.review import decide
    from tests.engine.resolve.homes import namesakes_home

    home = namesakes_home(tmp_path)
    run_batch(home)
    decide(home, "dss_widow/0b", "dss_oa/0c", "same", reason="her NID card says 777")

    report = run_batch(home)

    person = pd.read_parquet(home.assignment).set_index(["source", "record_id"])["person_id"]
    assert person["dss_widow", "0b"] == person["dss_oa", "0c"] != person["dss_oa", "0a"]
    assert not [w for w in report.warnings if "reviewer decision" in w]
    with IdentityLedger(home.ledger) as ledger:
        [moved] = ledger.record_history("dss_widow/0b")["reason"].tolist()[-1:]
    assert "her NID card says 777" in moved


def test_two_resolves_at_once_never_credit_each_other_the_ledger_events(
    tmp_path: Path, monkeypatch
) -> None:
    """A second resolve starts while the first is between writing its IDs and reading back its
    events: it is refused naming the first, and the first reports its own events."""
    import threading

    import engine.identity.assign as assign
    import engine.run
    from engine.homelock import HomeBusy

    home = _unrelated_home(tmp_path)
    monkeypatch.setattr(engine.run, "RESOLVE_WAIT_SECONDS", 0.5)
    assigned, second_done = threading.Event(), threading.Event()
    real = assign.assign_person_ids

    def first_pauses(*args, **kwargs):
        out = real(*args, **kwargs)
        if threading.current_thread().name == "first":
            assigned.set()
            second_done.wait(30)
        return out

    monkeypatch.setattr(assign, "assign_person_ids", first_pauses)
    reports: dict[str, object] = {}
    first = threading.Thread(
        target=lambda: reports.update(first=run_batch(home)), name="first", daemon=True
    )
    first.start()
    assert assigned.wait(30)
    try:
        reports["second"] = run_batch(home)
    except HomeBusy as refused:
        reports["second"] = refused
    finally:
        second_done.set()
    first.join(30)

    assert reports["first"].person_events == {"new": 3}
    refused = reports["second"]
    assert isinstance(refused, HomeBusy), refused
    assert f"ekjon resolve (process {os.getpid()}" in str(refused)
    # once the first is done, the home is free again
    assert run_batch(home).person_events == {}


def test_a_resolve_while_another_holds_the_home_exits_naming_it(tmp_path: Path) -> None:
    import subprocess
    import sys

    from engine.homelock import hold_home

    home = _unrelated_home(tmp_path)
    env = {**os.environ, "EKJON_HOME": str(home.root)}
    command = [sys.executable, "-c", "from api.cli import main; main()", "resolve", "--no-publish"]
    with hold_home(home, "ekjon resolve"):
        busy = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert busy.returncode == 1
    assert "Traceback" not in busy.stderr + busy.stdout
    assert f"ekjon resolve (process {os.getpid()}" in " ".join(busy.stderr.split())
    assert not home.assignment.exists()
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_scored_pairs_that_fail_to_be_written_beside_the_person_ids_stop_the_run_naming_why(
    tmp_path: Path, monkeypatch
) -> None:
    """The pairs are written by a forked process while the person IDs are assigned: its error
    reaches the user as the run's, and a child that dies is named, not waited for forever."""
    import pytest

    import engine.run
    from engine.errors import EkjonError

    home = _unrelated_home(tmp_path)

    def fails(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(engine.run, "_write_pairs", fails)
    with pytest.raises(OSError, match="No space left"):
        run_batch(home)

    def dies(*args, **kwargs):
        os._exit(3)

    monkeypatch.setattr(engine.run, "_write_pairs", dies)
    with pytest.raises(EkjonError, match=r"writing the scored pairs stopped \(exit code 3\)"):
        run_batch(home)

    monkeypatch.undo()
    report = run_batch(home)  # the home is free again, and the pairs are written
    assert report.records == 3
    assert home.pairs.exists()


def _outputs(home: Home) -> dict[str, object]:
    """What a resolve wrote under ``home.resolution`` (assignment, pairs, the incremental index),
    file by file, with the time it was saved left out."""
    import json

    import pyarrow as pa

    out: dict[str, object] = {}
    for path in sorted(home.resolution.rglob("*")):
        name = str(path.relative_to(home.resolution))
        if path.suffix == ".parquet":
            out[name] = pd.read_parquet(path)
        elif path.suffix == ".arrow":
            out[name] = pa.ipc.open_file(pa.memory_map(str(path))).read_all()
        elif path.suffix == ".json":
            value = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(value, dict):
                value.pop("saved_at", None)
            out[name] = value
        elif path.is_file():
            out[name] = path.read_bytes()
    return out


def test_a_run_writes_the_same_outputs_with_and_without_its_worker_processes(
    tmp_path: Path, monkeypatch
) -> None:
    """The scored pairs are written by a forked process beside the person IDs: the same files as
    one process."""
    import engine.resolve.pipeline
    import engine.run
    from synth.load import synthesise

    world = synthesise(600, 3, tmp_path / "world")
    homes = [Home.of(tmp_path / name) for name in ("forked", "alone")]
    for home in homes:
        ingest(home, world)
    forked = run_batch(homes[0])

    def in_process(work, what):
        work()
        return lambda: 0.0

    monkeypatch.setattr(engine.run, "_in_background", in_process)
    monkeypatch.setattr(engine.resolve.pipeline, "default_workers", lambda: 1)
    alone = run_batch(homes[1])

    assert forked.persons == alone.persons and forked.pairs_scored == alone.pairs_scored
    mine, theirs = _outputs(homes[0]), _outputs(homes[1])
    assert sorted(mine) == sorted(theirs)
    assert any(name.endswith(".arrow") for name in mine)  # the index's tables are compared
    for name, value in mine.items():
        if isinstance(value, pd.DataFrame):
            pd.testing.assert_frame_equal(value, theirs[name], obj=name)
        elif hasattr(value, "equals"):
            assert value.equals(theirs[name]), name
        else:
            assert value == theirs[name], name


def test_a_resolve_killed_while_its_pairs_are_written_leaves_no_process_holding_the_home(
    tmp_path: Path,
) -> None:
    """The forked process writing the scored pairs dies with the run: the next resolve is not
    refused as busy."""
    import signal
    import subprocess
    import sys
    import time

    home = _unrelated_home(tmp_path)
    marker = tmp_path / "writing"
    script = f"""
import os, time
import engine.run

def slow(*args, **kwargs):
    open({str(marker)!r}, "w").write(str(os.getpid()))
    time.sleep(120)

engine.run._write_pairs = slow
engine.run.run_batch({str(home.root)!r})
"""
    run = subprocess.Popen([sys.executable, "-c", script], cwd=Path(__file__).parents[3])
    try:
        deadline = time.monotonic() + 60
        while not marker.exists() and run.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert marker.exists(), "the pairs were never begun"
        time.sleep(0.1)
        child = int(marker.read_text())
        run.send_signal(signal.SIGKILL)
        run.wait(10)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.kill(child, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
        else:
            raise AssertionError(f"the pairs' process {child} outlived the killed run")
    finally:
        if run.poll() is None:
            run.kill()
    assert run_batch(home).records == 3
