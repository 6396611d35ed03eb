"""A publish cut short: killed, failed half-way or out of disk space. Readers of the graph are shown
the last complete publish's findings (with a warning) or refused; never a mix. The next
`ekjon resolve` finishes it.

The world: a small synthetic one resolved without its widow-allowance source (state A); then that
source is ingested and resolve publishes state B. B's findings come from an uninterrupted run.
"""

from __future__ import annotations

import errno
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from api.cli import app as cli
from graph.embedded import EmbeddedStore
from graph.store import PublishInterrupted, require_complete

FINDINGS = ("suspicious", "double-dipping")
LATE_SOURCE = "dss_widow"
ROOT = Path(__file__).resolve().parents[2]


def ekjon(home: Path, *args: str) -> Any:
    """``ekjon ARGS`` in this process, as a user types it, with ``EKJON_HOME=home``."""
    return CliRunner().invoke(cli, list(args), env={"EKJON_HOME": str(home), "COLUMNS": "200"})


def must(home: Path, *args: str) -> Any:
    result = ekjon(home, *args)
    assert result.exit_code == 0, result.output
    return result


def findings(home: Path, out: Path) -> dict[str, frozenset[str]]:
    """Every finding `ekjon findings` gives, as sets of CSV lines; the command must succeed."""
    seen = {}
    for name in FINDINGS:
        csv = out / f"{name}.csv"
        must(home, "findings", name, "--out", str(csv), "--show", "0")
        seen[name] = frozenset(csv.read_text(encoding="utf-8").splitlines())
    return seen


@dataclass
class Homes:
    a: Path  # state A published; the late source ingested, not yet resolved
    old: dict[str, frozenset[str]]  # A's findings
    new: dict[str, frozenset[str]]  # B's findings, from an uninterrupted resolve


@pytest.fixture(scope="module")
def homes(tmp_path_factory: pytest.TempPathFactory) -> Homes:
    root = tmp_path_factory.mktemp("interrupted")
    world = root / "world"
    must(root / "unused", "synth", "--persons", "300", "--seed", "21", "--out", str(world))
    early = root / "world-a"
    shutil.copytree(world, early, ignore=shutil.ignore_patterns(f"{LATE_SOURCE}.*"))
    a = root / "a"
    must(a, "ingest", str(early))
    must(a, "resolve")
    old = findings(a, root)
    for path in world.glob(f"{LATE_SOURCE}.*"):
        shutil.copy(path, early / path.name)
    must(a, "ingest", str(early))
    reference = root / "reference"
    shutil.copytree(a, reference)
    must(reference, "resolve")
    new = findings(reference, root)
    assert old != new  # the late source changes the findings: a mix would show
    return Homes(a, old, new)


@pytest.fixture
def home(homes: Homes, tmp_path: Path) -> Path:
    """A copy of home A, to publish state B into."""
    copy = tmp_path / "home"
    shutil.copytree(homes.a, copy)
    return copy


def assert_last_complete_shown_then_finished(home: Path, homes: Homes, out: Path) -> None:
    """Readers get A's findings with a warning naming the unfinished publish; a resolve then
    finishes it and readers get B's."""
    for name in FINDINGS:
        result = ekjon(home, "findings", name, "--show", "0")
        assert result.exit_code == 0, result.output
        text = " ".join(result.output.split())  # as the console wrapped it
        assert "has not finished" in text and "run `ekjon resolve` again" in text
    assert findings(home, out) == homes.old
    must(home, "resolve")
    result = ekjon(home, "findings", "suspicious", "--show", "0")
    assert "has not finished" not in " ".join(result.output.split())
    assert findings(home, out) == homes.new


class FailingStore:
    """An embedded store whose writes fail after ``allowed`` write calls (as a lost disk would):
    row writes, and the tables of a complete publish (its table writer's calls)."""

    WRITES = (
        "merge_nodes",
        "merge_edges",
        "replace_edges_from",
        "delete_edges",
        "delete_nodes",
        "add_nodes",
        "add_edges",
    )

    def __init__(self, store: Any, allowed: int) -> None:
        self._store = store
        self._allowed = allowed

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._store, name)
        if name == "table_writer":
            return lambda: FailingStore(attribute(), self._allowed)
        if name not in self.WRITES:
            return attribute

        def write(*args: Any, **kwargs: Any) -> Any:
            if self._allowed == 0:
                raise RuntimeError("the publish is cut short here")
            self._allowed -= 1
            return attribute(*args, **kwargs)

        return write


@pytest.mark.parametrize("allowed", [3, 12])
def test_a_publish_that_fails_half_way_shows_the_last_complete_findings(
    home: Path, homes: Homes, tmp_path: Path, allowed: int
) -> None:
    from engine.run import run_batch

    with EmbeddedStore(home / "graph") as store:
        with pytest.raises(RuntimeError, match="cut short"):
            run_batch(home, FailingStore(store, allowed))
        # the process that published it (a writer) holds the half graph, and is told so
        with pytest.raises(PublishInterrupted, match="resolve run .* has not finished"):
            require_complete(store)
    assert_last_complete_shown_then_finished(home, homes, tmp_path)


KILLED = textwrap.dedent(
    """
    import os, signal, sys
    from engine.run import run_batch
    from graph.open import open_store

    home, allowed = sys.argv[1], int(sys.argv[2])
    store = open_store("embedded", home)
    table_writer = store.table_writer
    def writer():
        tables = table_writer()
        add_edges = tables.add_edges
        def dying(*args, **kwargs):
            global allowed
            if allowed == 0:
                os.kill(os.getpid(), signal.SIGKILL)
            allowed -= 1
            return add_edges(*args, **kwargs)
        tables.add_edges = dying
        return tables
    store.table_writer = writer
    run_batch(home, store)
    """
)


def test_kill_9_mid_publish_shows_the_last_complete_findings(
    home: Path, homes: Homes, tmp_path: Path
) -> None:
    # `ekjon resolve`'s own run, killed with SIGKILL after the publish wrote some of its edges
    killed = subprocess.run(
        [sys.executable, "-c", KILLED, str(home), "4"],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert_last_complete_shown_then_finished(home, homes, tmp_path)


def test_a_full_disk_during_publish_is_a_clear_message(
    home: Path, homes: Homes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import graph.embedded.tables

    write_file = graph.embedded.tables._write_file
    left = {"files": 5}

    def filling(path: Path, table: Any, fsync: bool) -> int:
        if left["files"] == 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        left["files"] -= 1
        return write_file(path, table, fsync)

    monkeypatch.setattr(graph.embedded.tables, "_write_file", filling)
    result = ekjon(home, "resolve")
    monkeypatch.undo()
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    assert "No space left on device" in " ".join(result.output.split())
    assert str(home / "graph" / "tables-") in result.output.replace("\n", "")
    assert not list((home / "graph").glob("*.tmp"))  # what was written is cleared away
    assert_last_complete_shown_then_finished(home, homes, tmp_path)


def test_a_graph_whose_first_publish_was_cut_short_is_refused(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with EmbeddedStore(home / "graph") as store:
        store.begin_publish("resolve run 1")
        store.merge_nodes("Record", [{"id": "dss/1"}])
    for name in FINDINGS:
        result = ekjon(home, "findings", name)
        assert result.exit_code == 1 and "Traceback" not in result.output
        text = " ".join(result.output.split())
        assert "no complete publish" in text and "resolve run 1" in text
        assert "`ekjon resolve` again" in text
