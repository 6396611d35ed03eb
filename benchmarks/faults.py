"""Fault injection: kill ekjon with SIGKILL at random points, many times, and check nothing is lost
and no reader is told anything wrong.

Usage::

    .venv/bin/python benchmarks/faults.py                       # 50 kills of resolve, 50 of ingest,
                                                                #  10 of the API server
    .venv/bin/python benchmarks/faults.py --kills 5 --serve-kills 2 --persons 600   # a quick look

Three runs, each on a small synthetic world (``ekjon synth``) and through the real CLI (``ekjon``
subprocesses, as a user types them):

resolve
    State A: the world without one source, resolved and published. Then the last source is ingested
    (records B) and, from a copy of that home each time, ``ekjon resolve`` is killed at a random
    moment of its run. After each kill, ``ekjon findings suspicious`` and ``double-dipping`` must
    give exactly A's findings or exactly B's (from an uninterrupted run of the same home), or be
    refused with a message and a non-zero exit; anything else (other rows, a traceback) is a
    *wrong answer*. Then ``ekjon resolve`` runs again to the end and its person ids and findings
    must equal the uninterrupted run's.
ingest
    From an empty home each time, ``ekjon ingest DIR`` is killed at a random moment. Then
    ``ekjon resolve --no-publish`` must refuse while an ingest is unfinished (or succeed if the
    kill came after the ingest ended); then ``ekjon ingest DIR`` runs again and the record store
    must hold exactly the records of an uninterrupted ingest (none lost, none extra, same content).
serve
    ``ekjon serve`` on the resolved world; one client stores new records through
    ``POST /v1/resolve?dry_run=false`` one after another; the server is killed at a random moment.
    Every record it acknowledged (HTTP 200) must then be in the record store with the person id it
    was given, and a restarted server must answer the same record with the same person id.

Prints a line per kill and the counts at the end; exits 1 if any check failed.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

EKJON = [str(Path(sys.executable).with_name("ekjon"))]
FINDINGS = ("suspicious", "double-dipping")
#: The source left out of state A and ingested before each killed resolve.
LATE_SOURCE = "dss_widow"
#: Rows per committed chunk in the killed ingests.
INGEST_CHUNK = 100


@dataclass
class Tally:
    """What the kills of one run gave."""

    kills: int = 0
    refused: int = 0
    old: int = 0
    new: int = 0
    wrong: list[str] = field(default_factory=list)
    lost: int = 0
    cut_short: int = 0

    def line(self, what: str) -> str:
        return (
            f"{what}: {self.kills} kills; readers after a kill saw the previous run's findings "
            f"{self.old}x ({self.cut_short}x after a publish cut short), the new run's "
            f"{self.new}x, were refused {self.refused}x; "
            f"wrong answers {len(self.wrong)}; lost records {self.lost}"
        )


def ekjon(home: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """Run ``ekjon ARGS`` with ``EKJON_HOME=home``; its result."""
    env = {**os.environ, "EKJON_HOME": str(home), "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [*EKJON, *args], env=env, capture_output=True, text=True, timeout=timeout, cwd=ROOT
    )


def must(result: subprocess.CompletedProcess[str], what: str) -> subprocess.CompletedProcess[str]:
    if result.returncode != 0:
        raise SystemExit(
            f"{what} failed (exit {result.returncode}):\n{result.stdout}{result.stderr}"
        )
    return result


def killed(home: Path, args: list[str], after: float) -> bool:
    """Start ``ekjon ARGS``, SIGKILL it ``after`` seconds in; whether it was still running."""
    env = {**os.environ, "EKJON_HOME": str(home), "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        [*EKJON, *args],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        process.wait(timeout=after)
        return False
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGKILL)
        process.wait()
        return True


def timed(home: Path, *args: str) -> float:
    started = time.perf_counter()
    must(ekjon(home, *args), "ekjon " + " ".join(args))
    return time.perf_counter() - started


# --- what a reader sees ---------------------------------------------------------------------------


def findings(home: Path, out: Path) -> dict[str, frozenset[str]] | str:
    """Every finding ``ekjon findings`` gives (as sets of CSV lines), or the refusal's message.

    When the graph holds a publish cut short (``ekjon findings`` warns and shows the last complete
    one), the dict has the key ``"cut short"``. A traceback raises :class:`Wrong`.
    """
    seen: dict[str, frozenset[str]] = {}
    cut_short = False
    for name in FINDINGS:
        csv = out / f"{name}.csv"
        csv.unlink(missing_ok=True)
        result = ekjon(home, "findings", name, "--out", str(csv), "--show", "0")
        text = result.stdout + result.stderr
        if "Traceback" in text:
            raise Wrong(f"`ekjon findings {name}` printed a traceback:\n{text[-2000:]}")
        if result.returncode != 0:
            if not text.strip():
                raise Wrong(f"`ekjon findings {name}` failed (exit {result.returncode}) silently")
            return text.strip().splitlines()[-1]
        lines = csv.read_text(encoding="utf-8").splitlines() if csv.exists() else []
        seen[name] = frozenset(lines)
        cut_short |= "has not finished" in " ".join(result.stderr.split())
    if cut_short:
        seen["cut short"] = frozenset()
    return seen


def same(seen: dict[str, frozenset[str]], run: dict[str, frozenset[str]]) -> bool:
    return all(seen[name] == run[name] for name in FINDINGS)


def assignment(home: Path) -> dict[str, str]:
    """``source/record_id`` -> person id, from the last resolve."""
    import pandas as pd

    from engine.home import Home
    from engine.run import read_assignment

    frame: pd.DataFrame = read_assignment(Home.of(home))
    keys = frame["source"].astype(str) + "/" + frame["record_id"].astype(str)
    return dict(zip(keys, frame["person_id"].astype(str), strict=True))


def records(home: Path) -> dict[str, str]:
    """``source/record_id`` -> the record's content (JSON), as the record store holds it."""
    from engine.home import Home
    from engine.ingest.store import RecordStore

    with RecordStore(Home.of(home).records) as store:
        frame = store.current()
    frame = frame.sort_index(axis=1).astype(str)
    keys = frame["source"] + "/" + frame["record_id"]
    content = frame.drop(columns=[c for c in ("ingested_at", "run_id") if c in frame]).to_dict(
        "records"
    )
    return dict(zip(keys, (json.dumps(c, sort_keys=True) for c in content), strict=True))


class Wrong(Exception):
    """A check failed: a wrong answer or a lost record."""


# --- the runs -------------------------------------------------------------------------------------


def resolve_kills(world: Path, work: Path, kills: int, rng: random.Random) -> Tally:
    tally = Tally()
    partial_world = work / "world-a"
    shutil.rmtree(partial_world, ignore_errors=True)
    shutil.copytree(world, partial_world, ignore=shutil.ignore_patterns(f"{LATE_SOURCE}.*"))
    base = work / "base"
    shutil.rmtree(base, ignore_errors=True)
    must(ekjon(base, "ingest", str(partial_world)), "ingest of state A")
    must(ekjon(base, "resolve"), "resolve of state A")
    old = findings(base, work)
    late = sorted(world.glob(f"{LATE_SOURCE}.*"))
    for path in late:  # the data file and its mapping
        shutil.copy(path, partial_world / path.name)
    must(ekjon(base, "ingest", str(partial_world)), "ingest of the late source")

    reference = work / "reference"
    shutil.rmtree(reference, ignore_errors=True)
    shutil.copytree(base, reference)
    seconds = timed(reference, "resolve")
    new = findings(reference, work)
    ids = assignment(reference)
    if not isinstance(old, dict) or not isinstance(new, dict):
        raise SystemExit(
            f"findings refused on a complete run: {old if isinstance(new, dict) else new}"
        )
    print(
        f"resolve: an uninterrupted run takes {seconds:.1f} s; state A and B differ in "
        f"{sum(len(old[n] ^ new[n]) for n in FINDINGS)} finding rows"
    )

    home = work / "home"
    kill = 0
    while tally.kills < kills and kill < 3 * kills:
        kill += 1
        shutil.rmtree(home, ignore_errors=True)
        shutil.copytree(base, home)
        # every other kill in the run's last 40%, where it publishes
        after = rng.uniform(0.2 if kill % 2 else 0.6 * seconds, seconds)
        if not killed(home, ["resolve"], after):
            print(f"  kill {kill}: resolve ended before {after:.1f} s; not counted")
            continue
        tally.kills += 1
        try:
            seen = findings(home, work)
            if isinstance(seen, str):
                tally.refused += 1
                verdict = f"refused: {seen[:120]}"
            elif same(seen, old):
                tally.old += 1
                tally.cut_short += "cut short" in seen
                verdict = "previous run's findings" + (
                    " (its publish was cut short: said on stderr)" if "cut short" in seen else ""
                )
            elif same(seen, new):
                tally.new += 1
                verdict = "new run's findings"
            else:
                raise Wrong(
                    "findings are neither run's: "
                    + ", ".join(
                        f"{n}: {len(seen[n] - old[n] - new[n])} rows in neither" for n in FINDINGS
                    )
                )
            must(ekjon(home, "resolve"), "resolve after the kill")
            again = findings(home, work)
            if isinstance(again, str) or not same(again, new) or "cut short" in again:
                raise Wrong(
                    "after a full re-run, findings differ from the uninterrupted run's: "
                    + (again if isinstance(again, str) else "other rows")
                )
            moved = sum(1 for k, p in assignment(home).items() if ids.get(k) != p)
            if moved:
                raise Wrong(f"after a full re-run, {moved} records have other person ids")
        except Wrong as wrong:
            tally.wrong.append(f"kill {kill} at {after:.1f} s: {wrong}")
            verdict = f"WRONG: {wrong}"
        print(f"  kill {kill} at {after:.1f} s: {verdict}", flush=True)
    return tally


def ingest_kills(world: Path, work: Path, kills: int, rng: random.Random) -> Tally:
    tally = Tally()
    reference = work / "ingest-reference"
    shutil.rmtree(reference, ignore_errors=True)
    # small chunks: many commits, so the kills land between and inside them
    ingest = ["ingest", str(world), "--chunk-rows", str(INGEST_CHUNK)]
    seconds = timed(reference, *ingest)
    expected = records(reference)
    print(f"ingest: an uninterrupted ingest of {len(expected):,} records takes {seconds:.1f} s")
    home = work / "ingest-home"
    kill = 0
    while tally.kills < kills and kill < 3 * kills:
        kill += 1
        shutil.rmtree(home, ignore_errors=True)
        after = rng.uniform(min(1.0, seconds / 2), seconds)
        if not killed(home, ingest, after):
            print(f"  kill {kill}: ingest ended before {after:.1f} s; not counted")
            continue
        tally.kills += 1
        try:
            early = ekjon(home, "resolve", "--no-publish")
            text = early.stdout + early.stderr
            if "Traceback" in text:
                raise Wrong(f"resolve after a killed ingest printed a traceback:\n{text[-1500:]}")
            if early.returncode == 0:
                partial = records(home) if (home / "records.sqlite").exists() else {}
                if len(partial) < len(expected):
                    raise Wrong(
                        f"resolve used a half-ingested store ({len(partial):,} of "
                        f"{len(expected):,} records) without refusing"
                    )
                verdict = "resolve ran (the ingest had finished its records)"
                tally.new += 1
            else:
                verdict = f"resolve refused: {text.strip().splitlines()[-1][:120]}"
                tally.refused += 1
            must(ekjon(home, *ingest), "ingest after the kill")
            got = records(home)
            lost = [k for k in expected if k not in got]
            extra = [k for k in got if k not in expected]
            changed = [k for k in expected if k in got and got[k] != expected[k]]
            tally.lost += len(lost)
            if lost or extra or changed:
                raise Wrong(
                    f"after re-ingest: {len(lost)} records lost, {len(extra)} extra, "
                    f"{len(changed)} with other content (e.g. {(lost or extra or changed)[0]})"
                )
        except Wrong as wrong:
            tally.wrong.append(f"kill {kill} at {after:.1f} s: {wrong}")
            verdict = f"WRONG: {wrong}"
        print(f"  kill {kill} at {after:.1f} s: {verdict}", flush=True)
    return tally


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _call(url: str, key: str, body: dict | None = None, timeout: float = 30) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        url, data=data, headers={"X-API-Key": key, "Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, {}


def _serve(home: Path, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "EKJON_HOME": str(home), "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        [*EKJON, "serve", "--port", str(port)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"ekjon serve exited with {process.returncode} at start")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/health", timeout=2):
                return process
        except OSError:
            time.sleep(0.3)
    process.kill()
    raise SystemExit("ekjon serve did not answer /v1/health within 300 s")


def serve_kills(world: Path, work: Path, kills: int, rng: random.Random) -> Tally:
    from engine.home import Home
    from engine.identity.ledger import IdentityLedger
    from engine.ingest.store import RecordStore
    from engine.record import FIELD_KINDS, is_missing_value

    tally = Tally()
    home = work / "serve-home"
    shutil.rmtree(home, ignore_errors=True)
    must(ekjon(home, "ingest", str(world)), "ingest for serve")
    must(ekjon(home, "resolve"), "resolve for serve")
    source = "dss_old_age"
    made = must(
        ekjon(
            home,
            "keys",
            "create",
            "--role",
            "mis",
            "--name",
            "faults",
            "--source",
            source,
            "--json",
        ),
        "keys create",
    )
    key = json.loads(made.stdout)["token"]
    with RecordStore(Home.of(home).records) as store:
        rows = store.current([source]).to_dict("records")
    templates = [
        {k: v for k, v in row.items() if k in FIELD_KINDS and not is_missing_value(v)}
        for row in rows
    ]
    acknowledged: dict[str, tuple[str, dict]] = {}
    for kill in range(1, kills + 1):
        port = _free_port()
        server = _serve(home, port)
        deadline = time.monotonic() + rng.uniform(0.5, 8)
        sent = 0
        try:
            while time.monotonic() < deadline:
                record = dict(rng.choice(templates))
                record["record_id"] = f"FAULT-{kill}-{sent}"
                sent += 1
                try:
                    status, answer = _call(
                        f"http://127.0.0.1:{port}/v1/resolve?dry_run=false", key, record
                    )
                except OSError:
                    break
                if status == 200:
                    acknowledged[f"{source}/{record['record_id']}"] = (answer["person_id"], record)
        finally:
            server.send_signal(signal.SIGKILL)
            server.wait()
        tally.kills += 1
        with RecordStore(Home.of(home).records) as store:
            stored = set(store.current([source])["record_id"].astype(str))
        with IdentityLedger(Home.of(home).ledger) as ledger:
            lost = [
                k
                for k, (person, _) in acknowledged.items()
                if k.partition("/")[2] not in stored or ledger.id_of(k) != person
            ]
        tally.lost += len(lost)
        verdict = f"{sent} sent, {len(acknowledged)} acknowledged so far, {len(lost)} lost"
        if lost:
            tally.wrong.append(
                f"kill {kill}: {len(lost)} acknowledged records lost, e.g. {lost[0]}"
            )
        print(f"  kill {kill}: {verdict}", flush=True)
    # A restarted server answers an acknowledged record sent again with the person it gave.
    port = _free_port()
    server = _serve(home, port)
    try:
        again = rng.sample(sorted(acknowledged), min(20, len(acknowledged)))
        for record_key in again:
            person, record = acknowledged[record_key]
            status, answer = _call(f"http://127.0.0.1:{port}/v1/resolve?dry_run=false", key, record)
            if status != 200 or answer.get("person_id") != person:
                tally.wrong.append(
                    f"restarted server answered {status} {answer.get('person_id')} for "
                    f"{record_key} (acknowledged as {person})"
                )
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait()
    return tally


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--persons",
        type=int,
        default=1500,
        help="persons in the world of the resolve and serve runs",
    )
    parser.add_argument(
        "--ingest-persons",
        type=int,
        default=10_000,
        help="persons in the ingest run's world (big enough that most kills land mid-ingest)",
    )
    parser.add_argument("--seed", type=int, default=13, help="world and kill-time seed")
    parser.add_argument("--kills", type=int, default=50, help="kills of resolve and of ingest")
    parser.add_argument("--serve-kills", type=int, default=10, help="kills of the API server")
    parser.add_argument(
        "--runs", default="resolve,ingest,serve", help="which runs (comma-separated)"
    )
    parser.add_argument("--work", type=Path, help="work folder (default: a new temporary one)")
    args = parser.parse_args(argv)
    import tempfile

    work = args.work or Path(tempfile.mkdtemp(prefix="ekjon-faults-"))
    work.mkdir(parents=True, exist_ok=True)
    rng = random.Random(args.seed)

    def world_of(persons: int) -> Path:
        world = work / f"world-{persons}"
        if not (world / "world.json").exists():
            must(
                ekjon(
                    work / "synth-home",
                    "synth",
                    "--out",
                    str(world),
                    "--persons",
                    str(persons),
                    "--seed",
                    str(args.seed),
                ),
                "synth",
            )
        print(
            f"world: {persons:,} persons (seed {args.seed}) in {world}; load "
            f"{os.getloadavg()[0]:.2f}",
            flush=True,
        )
        return world

    runs = {"resolve": resolve_kills, "ingest": ingest_kills, "serve": serve_kills}
    tallies: dict[str, Tally] = {}
    for name in args.runs.split(","):
        started = time.perf_counter()
        count = args.serve_kills if name == "serve" else args.kills
        persons = args.ingest_persons if name == "ingest" else args.persons
        tallies[name] = runs[name](world_of(persons), work, count, rng)
        print(f"{name}: {time.perf_counter() - started:.0f} s", flush=True)
    print()
    for name, tally in tallies.items():
        print(tally.line(name))
        for wrong in tally.wrong:
            print(f"  {wrong}")
    failed = any(t.wrong or t.lost for t in tallies.values())
    print("FAILED" if failed else "all checks held")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
