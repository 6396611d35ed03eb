"""Forked workers die with the command that forked them: a resolve killed mid-run (even by
SIGKILL) leaves no process behind holding its home's lock or waiting for work forever."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux's prctl")

ROOT = Path(__file__).resolve().parents[2]


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, dead but not yet reaped, counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state not in ("Z", "X")


def _wait_for_lines(path: Path, count: int, process: subprocess.Popen[bytes]) -> list[int]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        lines = path.read_text().split() if path.exists() else []
        if len(lines) >= count:
            return [int(line) for line in lines[:count]]
        assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
        time.sleep(0.05)
    raise AssertionError(f"no {count} worker pids in {path} within 60 s")


def _kill_and_check(process: subprocess.Popen[bytes], workers: list[int]) -> None:
    assert all(_alive(pid) for pid in workers)
    process.send_signal(signal.SIGKILL)
    process.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_alive(pid) for pid in workers):
        time.sleep(0.05)
    left = [pid for pid in workers if _alive(pid)]
    for pid in left:  # tidy up before failing
        os.kill(pid, signal.SIGKILL)
    assert not left, f"workers {left} outlived the killed process that forked them"


def _start(script: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(script)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def test_a_forked_worker_dies_when_its_parent_is_killed(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    process = _start(
        f"""
        import os, time
        from engine.workers import die_with_parent
        parent = os.getpid()
        if os.fork() == 0:
            die_with_parent(parent)
            with open({str(pids)!r}, "a") as out:
                out.write(f"{{os.getpid()}}\\n")
            time.sleep(120)
            os._exit(0)
        time.sleep(120)
        """
    )
    _kill_and_check(process, _wait_for_lines(pids, 1, process))


def test_the_name_pools_workers_die_with_a_killed_resolve(tmp_path: Path) -> None:
    """The pool that normalises a large input's distinct names (``engine.resolve.prepare``): its
    workers, busy or waiting, end with the process that made them."""
    pids = tmp_path / "pids"
    process = _start(
        f"""
        import os, time
        from engine.resolve import prepare

        def slow(names):
            with open({str(pids)!r}, "a") as out:
                out.write(f"{{os.getpid()}}\\n")
            time.sleep(120)
            return []

        prepare.describe_names = slow
        prepare._describe_parallel(["rahima khatun"] * prepare._PARALLEL_MIN, 2)
        """
    )
    _kill_and_check(process, _wait_for_lines(pids, 2, process))
