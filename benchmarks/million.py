"""The whole default path at N persons, one command at a time, against the targets of issue 15.

Runs, each as its own ``ekjon`` process with the README's defaults: ``synth``, ``ingest`` (all
sources of the world), ``resolve`` (publishing into the embedded store), every whole-graph
``findings`` subcommand, ``findings programmes`` and ``findings neighbourhood`` of one person, and
``match`` of one record in a fresh process; then prints each command's wall time and peak RSS
(``resource.getrusage(RUSAGE_CHILDREN)`` read around each child) beside its target: met, or missed
by how much; and each source file's ingest rows a second.

Usage::

    .venv/bin/python benchmarks/million.py                         # 1,000,000 persons
    .venv/bin/python benchmarks/million.py --persons 20000         # a quick look
    .venv/bin/python benchmarks/million.py --world /tmp/big/world --skip synth

The world and the home go under ``--work`` (default a new temporary folder; ``--keep`` keeps it).
``--skip synth`` (with ``--world``) reuses a world, ``--skip ingest`` (with ``--home``) a home that
holds it already, ``--skip resolve`` a home resolved already (to time the findings again). The
machine's load is printed beside the figures: times are upper bounds when other work shares the
cores (memory is not affected). At 1M persons the run needs ~10 GB of disk and ~20 minutes; run
one such job at a time (``flock /tmp/ekjon-big.lock ...``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EKJON = [str(Path(sys.executable).parent / "ekjon")]

GB = 1024**3


@dataclass(frozen=True)
class Target:
    """What a command should take at most (``None``: no target, only measured)."""

    seconds: float | None
    gigabytes: float | None


#: The targets of issue 15 (at 1M persons; a smaller world must meet them too).
TARGETS = {
    "synth": Target(None, None),
    "ingest": Target(60, None),
    "resolve": Target(360, 6),
    "findings": Target(10, 3),
    "match": Target(2, None),
}
#: Issue 15's ingest speed per source file.
FILE_ROWS_PER_SECOND = 30_000


@dataclass
class Run:
    name: str
    seconds: float
    peak_bytes: int
    code: int
    target: Target
    note: str = ""

    def verdicts(self) -> list[str]:
        said = []
        if self.code != 0:
            return [f"FAILED (exit {self.code})"]
        if self.target.seconds is not None:
            over = self.seconds - self.target.seconds
            said.append(
                f"time met (<= {self.target.seconds:g} s)"
                if over <= 0
                else f"time MISSED by {over:.1f} s ({self.seconds / self.target.seconds:.1f}x)"
            )
        if self.target.gigabytes is not None:
            peak = self.peak_bytes / GB
            over = peak - self.target.gigabytes
            said.append(
                f"memory met (<= {self.target.gigabytes:g} GB)"
                if over <= 0
                else f"memory MISSED by {over:.2f} GB"
            )
        return said


def load() -> str:
    with open("/proc/loadavg", encoding="ascii") as file:
        return " ".join(file.read().split()[:3])


def run(name: str, args: list[str], env: dict[str, str], target: Target, out: Path) -> Run:
    """``ekjon ARGS`` as a child; its wall time and peak RSS (the child's own maximum)."""
    log = out / f"{name.replace(' ', '_')}.log"
    started = time.perf_counter()
    with open(log, "w", encoding="utf-8") as sink:
        # ru_maxrss of RUSAGE_CHILDREN is the largest of the waited-for children: measure each in
        # a fresh wrapper process so that it is this child's alone.
        wrapper = (
            "import resource, subprocess, sys\n"
            "code = subprocess.call(sys.argv[1:])\n"
            "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
            "print(peak, code, file=sys.stderr)\n"
        )
        done = subprocess.run(
            [sys.executable, "-c", wrapper, *EKJON, *args],
            env=env,
            stdout=sink,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
    seconds = time.perf_counter() - started
    last = done.stderr.strip().splitlines()[-1].split() if done.stderr.strip() else ["0", "1"]
    if len(done.stderr.strip().splitlines()) > 1:
        with open(log, "a", encoding="utf-8") as sink:
            sink.write("\n".join(done.stderr.strip().splitlines()[:-1]))
    peak_kb, code = int(last[0]), int(last[1])
    result = Run(name, seconds, peak_kb * 1024, code, target)
    print(
        f"{name:<34} {seconds:8.1f} s {peak_kb * 1024 / GB:7.2f} GB   "
        f"{'; '.join(result.verdicts())}   [load {load()}]",
        flush=True,
    )
    if code != 0:
        print(f"    see {log}", flush=True)
    return result


def print_file_speeds(log: Path) -> list[str]:
    """Each file's ingest time and rows a second (from ``ekjon ingest --json``), beside the
    issue's per-file speed (>= 30,000 rows a second); returns what misses it, in words."""
    try:
        text = log.read_text(encoding="utf-8")
        files = json.loads(text[text.index("{") : text.rindex("}") + 1])["files"]
    except (OSError, ValueError, KeyError):
        print(f"    (no per-file figures: {log} holds no ingest summary)", flush=True)
        return [f"no per-file figures ({log} holds no ingest summary)"]
    slow = []
    for f in sorted(files, key=lambda f: -f["rows_read"]):
        rate = f["rows_read"] / f["seconds"] if f["seconds"] else 0.0
        verdict = "met" if rate >= FILE_ROWS_PER_SECOND else "below"
        name = Path(f["file"]).name
        print(
            f"    {name:<24} {f['rows_read']:>9,} rows {f['seconds']:6.1f} s "
            f"{rate:>8,.0f} rows/s   {verdict} (>= {FILE_ROWS_PER_SECOND:,} rows/s)",
            flush=True,
        )
        if verdict == "below":
            slow.append(f"{name} {rate:,.0f} rows/s ({1 - rate / FILE_ROWS_PER_SECOND:.0%} short)")
    return slow


def first_person(home: Path) -> tuple[str, dict[str, str]]:
    """A person of the last resolve, and one of their records as ``ekjon match`` takes it."""
    import pandas as pd

    assignment = pd.read_parquet(home / "resolution" / "assignment.parquet")
    row = assignment.iloc[len(assignment) // 2]
    return str(row["person_id"]), {"source": str(row["source"]), "record_id": str(row["record_id"])}


def match_record(home: Path, source: str, record_id: str) -> dict[str, object]:
    """A record as a new MIS row: the canonical fields of ``source/record_id`` (read from the
    published graph) under a new record id."""
    from graph.open import open_store

    with open_store("embedded", home, read_only=True) as store:
        fields = store.node("Record", f"{source}/{record_id}") or {}
    fields.pop("id", None)
    return {**fields, "source": source, "record_id": f"bench-{record_id}"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--persons", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--work", type=Path, help="folder for the world and the home")
    parser.add_argument("--world", type=Path, help="the world (default WORK/world)")
    parser.add_argument("--home", type=Path, help="EKJON_HOME (default WORK/home)")
    parser.add_argument(
        "--skip", default="", help="comma-separated steps already done: synth, ingest, resolve"
    )
    parser.add_argument("--pmt-cutoff", type=float, default=20.0, help="for findings coverage")
    parser.add_argument("--keep", action="store_true", help="keep a temporary WORK folder")
    args = parser.parse_args()
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}

    temporary = None
    if args.work is None:
        temporary = tempfile.TemporaryDirectory(prefix="ekjon-million-")
        args.work = Path(temporary.name)
    args.work.mkdir(parents=True, exist_ok=True)
    world = args.world or args.work / "world"
    home = args.home or args.work / "home"
    logs = args.work / "logs"
    logs.mkdir(exist_ok=True)
    env = {**os.environ, "EKJON_HOME": str(home), "COLUMNS": "200"}

    print(
        f"ekjon's default path at {args.persons:,} persons (seed {args.seed}); world {world}, "
        f"home {home}; {os.cpu_count()} cores, load {load()}",
        flush=True,
    )
    runs: list[Run] = []
    slow_files: list[str] = []
    if "synth" not in skip:
        synth = ["synth", "--persons", str(args.persons), "--seed", str(args.seed)]
        runs.append(run("synth", [*synth, "--out", str(world)], env, TARGETS["synth"], logs))
    if "ingest" not in skip:
        runs.append(run("ingest", ["ingest", str(world), "--json"], env, TARGETS["ingest"], logs))
        slow_files = print_file_speeds(logs / "ingest.log")
    if "resolve" not in skip:
        runs.append(run("resolve", ["resolve"], env, TARGETS["resolve"], logs))
    findings = TARGETS["findings"]
    for name, extra in (
        ("suspicious", []),
        ("double-dipping", []),
        ("reference-checks", []),
        ("coverage", ["--pmt-cutoff", str(args.pmt_cutoff)]),
    ):
        out = logs / f"{name}.csv"
        runs.append(
            run(
                f"findings {name}",
                ["findings", name, "--show", "0", "--out", str(out), *extra],
                env,
                findings,
                logs,
            )
        )
    person, key = first_person(home)
    runs.append(run("findings programmes", ["findings", "programmes", person], env, findings, logs))
    runs.append(
        run(
            "findings neighbourhood",
            ["findings", "neighbourhood", person, "--png", str(logs / "neighbourhood.png")],
            env,
            findings,
            logs,
        )
    )
    record = match_record(home, key["source"], key["record_id"])
    runs.append(run("match (cold)", ["match", json.dumps(record)], env, TARGETS["match"], logs))

    missed = [r for r in runs if any("MISSED" in v or "FAILED" in v for v in r.verdicts())]
    print()
    if missed:
        print(f"{len(missed)} of {len(runs)} commands miss their target: ")
        for r in missed:
            print(f"  {r.name}: {'; '.join(r.verdicts())}")
    else:
        print(f"every command's target met ({len(runs)} commands)")
    if slow_files:
        per_file = f"ingest per file (>= {FILE_ROWS_PER_SECOND:,} rows/s)"
        print(f"{per_file} MISSED: {'; '.join(slow_files)}")
    if temporary is not None and args.keep:
        print(f"kept {args.work}")
        temporary._finalizer.detach()  # type: ignore[attr-defined]


if __name__ == "__main__":
    main()
