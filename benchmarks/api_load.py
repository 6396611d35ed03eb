"""Load benchmark of the HTTP API: a real uvicorn server on one core, oha on the other.

Not a test: it prints figures. A synthetic world is written, ingested and resolved into a home
(unless ``--home`` names one already resolved), ``ekjon serve`` is started pinned to core 0, and
oha (``cargo install oha``), pinned to core 1, drives it:

1. ``POST /v1/resolve?dry_run=true`` at an open-loop ``--rate`` for ``--seconds`` (latency corrected
   for coordinated omission), with records the server has never seen: the records of a world of
   another seed (new people) and the server's own records under new record ids, half and half;
2. ``POST /v1/resolve?dry_run=false`` (storing) the same way, every body a record id of its own;
3. saturation: ``/v1/resolve?dry_run=true`` closed-loop with ``--connections`` clients;
4. ``GET /v1/persons/{id}/programmes`` at ``--rate`` open-loop, then closed-loop with 50 clients for
   ``--seconds`` (errors counted).

Printed: start time and resident memory of the server, and per run the request rate, p50 / p99 /
max latency and the errors; then, from 50 dry runs and 50 storing resolves sent one at a time, the
server's own time per step (the answers' ``timings``: resolve, graph, store, ledger, remember,
publish), where a request's time goes when nothing queues. Typical runs::

    .venv/bin/python benchmarks/api_load.py --persons 20000 --seconds 20
    flock /tmp/ekjon-big.lock .venv/bin/python benchmarks/api_load.py --persons 1000000
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
EKJON = str(Path(sys.executable).with_name("ekjon"))
#: Canonical fields a resolve body carries (what an MIS sends when it registers someone).
BODY_FIELDS = (
    "full_name",
    "full_name_bn",
    "father_name",
    "mother_name",
    "gender",
    "date_of_birth",
    "birth_year",
    "nid",
    "brn",
    "phone",
    "account_number",
    "account_provider",
    "district",
    "upazila",
    "union",
    "programme",
    "status",
)


def run(*args: str, env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(args, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def prepare_home(args: argparse.Namespace, work: Path) -> tuple[Path, Path]:
    """A resolved home, and the world it holds."""
    if args.home is not None:
        return args.home, args.world
    world = args.world or work / "world"
    home = work / "home"
    env = {**os.environ, "EKJON_HOME": str(home)}
    if not (world / "truth").exists():
        seconds = run(EKJON, "synth", "--persons", str(args.persons), "--seed", str(args.seed),
                      "--out", str(world), env=env)  # fmt: skip
        print(f"synth {args.persons:,} persons: {seconds:.0f} s", flush=True)
    print(f"ingest: {run(EKJON, 'ingest', str(world), env=env):.0f} s", flush=True)
    print(f"resolve: {run(EKJON, 'resolve', env=env):.0f} s", flush=True)
    return home, world


def bodies(home: Path, persons: int, seed: int, work: Path, count: int) -> list[dict[str, Any]]:
    """``count`` records the server has never seen: half from a world of another seed, half the
    server's own records under new record ids; each with a record id of its own."""
    from engine.home import Home
    from engine.ingest.store import RecordStore
    from synth.load import load_world, synthesise

    other = synthesise(min(persons, 20_000), seed + 1000, work / "unseen")
    fresh = load_world(other)
    with RecordStore(Home.of(home).records) as store:
        known = store.current()
    source = str(known["source"].value_counts().index[0])
    rng = random.Random(seed)
    out = []
    frames = (fresh, known)
    for i in range(count):
        frame = frames[i % 2]
        row = frame.iloc[rng.randrange(len(frame))]
        body = {f: str(row[f]) for f in BODY_FIELDS if f in row and row[f] is not None and
                str(row[f]) not in ("", "nan", "None", "<NA>")}  # fmt: skip
        body["source"] = source
        body["record_id"] = f"load-{seed}-{i}"
        out.append(body)
    return out


def key(home: Path, role: str, source: str | None = None) -> str:
    env = {**os.environ, "EKJON_HOME": str(home)}
    args = [EKJON, "keys", "create", "--role", role, "--name", f"load test {role}", "--json"]
    if source:
        args += ["--source", source]
    return json.loads(subprocess.run(args, env=env, check=True, capture_output=True).stdout)[
        "token"
    ]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def start_server(home: Path, port: int) -> tuple[subprocess.Popen[bytes], float]:
    env = {**os.environ, "EKJON_HOME": str(home), "EKJON_API_REQUESTS_PER_MINUTE": "10000000"}
    started = time.perf_counter()
    server = subprocess.Popen(
        ["taskset", "-c", "0", EKJON, "serve", "--port", str(port)],
        env=env,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}/v1/health"
    while True:
        if server.poll() is not None:
            raise SystemExit(f"ekjon serve exited: {server.stderr.read().decode()}")  # type: ignore[union-attr]
        try:
            with urllib.request.urlopen(url, timeout=1) as answer:
                if answer.status == 200:
                    return server, time.perf_counter() - started
        except OSError:
            time.sleep(0.2)


def oha(oha_bin: str, url: str, *extra: str) -> dict[str, Any]:
    """One oha run on core 1; its JSON summary."""
    args = ["taskset", "-c", "1", oha_bin, "--no-tui", "--output-format", "json", *extra, url]
    done = subprocess.run(args, check=True, capture_output=True, text=True)
    return json.loads(done.stdout)


def summary(name: str, result: dict[str, Any]) -> str:
    s = result["summary"]
    p = result.get("latencyPercentiles", {})
    codes = result.get("statusCodeDistribution", {})
    errors = sum(v for k, v in codes.items() if not str(k).startswith("2"))
    # requests still in flight when the run's time is up are not failures of the server
    failed = {k: v for k, v in result.get("errorDistribution", {}).items() if "deadline" not in k}
    errors += sum(failed.values())
    ms = {k: (v or 0) * 1000 for k, v in p.items()}
    slowest = (s.get("slowest") or 0) * 1000
    return (
        f"{name:<40} {s.get('requestsPerSec', 0):8.1f} req/s  p50 {ms.get('p50', 0):7.1f} ms  "
        f"p99 {ms.get('p99', 0):7.1f} ms  max {slowest:8.1f} ms  "
        f"errors {errors}  codes {codes}" + (f"  {failed}" if failed else "")
    )


def drain(base: str) -> float:
    """Wait until the server has worked off what an open-loop run left queued (its threads answer
    ``/v1/health`` at once again); the seconds waited."""
    started = time.perf_counter()
    while True:
        asked = time.perf_counter()
        with urllib.request.urlopen(f"{base}/v1/health", timeout=600) as answer:
            answer.read()
        if time.perf_counter() - asked < 0.2:
            return time.perf_counter() - started


def one_at_a_time(url: str, key: str, records: list[dict[str, Any]]) -> str:
    """Send ``records`` one after another; the median latency and the mean of each step of the
    answers' ``timings`` (ms)."""
    steps: dict[str, list[float]] = {}
    latencies = []
    for record in records:
        request = urllib.request.Request(
            url,
            data=json.dumps(record).encode(),
            headers={"X-API-Key": key, "Content-Type": "application/json"},
        )
        started = time.perf_counter()
        with urllib.request.urlopen(request, timeout=120) as answer:
            timings = json.loads(answer.read())["timings"]
        latencies.append((time.perf_counter() - started) * 1000)
        for step, ms in timings.items():
            steps.setdefault(step, []).append(ms)
    latencies.sort()
    means = ", ".join(f"{step} {sum(v) / len(v):.1f}" for step, v in steps.items())
    return f"median {latencies[len(latencies) // 2]:.1f} ms; server steps (mean ms): {means}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--persons", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--world", type=Path, help="an already written world folder")
    parser.add_argument("--home", type=Path, help="an already resolved home (with --world)")
    parser.add_argument("--rate", type=int, default=200, help="open-loop requests per second")
    parser.add_argument("--seconds", type=int, default=60, help="length of each timed run")
    parser.add_argument("--connections", type=int, default=32, help="clients at saturation")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument(
        "--runs",
        default="dry,store,saturation,programmes",
        help="which runs, comma-separated: dry, store, saturation, programmes",
    )
    parser.add_argument("--oha", default=shutil.which("oha") or str(Path.home() / ".cargo/bin/oha"))
    args = parser.parse_args()
    if not Path(args.oha).exists():
        raise SystemExit("oha not found: `cargo install oha` (or --oha PATH).")
    work = Path(tempfile.mkdtemp(prefix="ekjon-api-load-"))
    print(f"load average before: {os.getloadavg()}", flush=True)
    home, world = prepare_home(args, work)
    needed = args.rate * args.seconds * 2 + 2000
    requests = bodies(home, args.persons, args.seed, work, needed)
    source = requests[0]["source"]
    mis, analyst = key(home, "mis", source), key(home, "analyst")
    server, started = start_server(home, args.port)
    base = f"http://127.0.0.1:{args.port}"
    try:
        print(f"server start {started:.1f} s, resident memory {rss_mb(server.pid):,.0f} MB")
        half = len(requests) // 2
        dry = work / "dry.jsonl"
        dry.write_text("\n".join(json.dumps(b) for b in requests[:half]) + "\n")
        store = work / "store.jsonl"
        store.write_text("\n".join(json.dumps(b) for b in requests[half:]) + "\n")
        post = ["-m", "POST", "-H", f"X-API-Key: {mis}", "-H", "Content-Type: application/json"]
        open_loop = ["-z", f"{args.seconds}s", "-q", str(args.rate), "--latency-correction"]
        chosen = set(args.runs.split(","))
        runs = {}
        if "dry" in chosen:
            runs[f"resolve dry run, {args.rate}/s open loop"] = oha(
                args.oha, f"{base}/v1/resolve?dry_run=true", *post, *open_loop, "-Z", str(dry)
            )
        if "store" in chosen:
            print(f"drained in {drain(base):.0f} s", flush=True)
            runs[f"resolve storing, {args.rate}/s open loop"] = oha(
                args.oha, f"{base}/v1/resolve?dry_run=false", *post, *open_loop, "-Z", str(store)
            )
        if "saturation" in chosen:
            print(f"drained in {drain(base):.0f} s", flush=True)
            runs[f"resolve dry run, saturation ({args.connections} clients)"] = oha(
                args.oha, f"{base}/v1/resolve?dry_run=true", *post, "-z", "20s",
                "-c", str(args.connections), "-Z", str(dry),
            )  # fmt: skip
        import pandas as pd

        from engine.home import Home

        people = pd.read_parquet(Home.of(home).assignment)["person_id"].drop_duplicates()
        sample = people.sample(min(2000, len(people)), random_state=args.seed)
        urls = work / "urls.txt"
        urls.write_text("\n".join(f"{base}/v1/persons/{p}/programmes" for p in sample) + "\n")
        get = ["-H", f"X-API-Key: {analyst}", "--urls-from-file"]
        if "programmes" in chosen:
            print(f"drained in {drain(base):.0f} s", flush=True)
            runs[f"programmes, {args.rate}/s open loop"] = oha(
                args.oha, str(urls), *get, *open_loop
            )
            runs["programmes, 50 clients"] = oha(
                args.oha, str(urls), *get, "-z", f"{args.seconds}s", "-c", "50"
            )
        for name, result in runs.items():
            print(summary(name, result), flush=True)
        print(f"drained in {drain(base):.0f} s", flush=True)
        spare = requests[-100:]  # bodies no run above sent
        for i, (name, dry_run) in enumerate((("dry run", "true"), ("storing", "false"))):
            sample = [
                {**b, "record_id": f"{b['record_id']}-one"} for b in spare[i * 50 : i * 50 + 50]
            ]
            url = f"{base}/v1/resolve?dry_run={dry_run}"
            print(f"resolve {name}, one at a time: {one_at_a_time(url, mis, sample)}", flush=True)
        print(f"server resident memory after: {rss_mb(server.pid):,.0f} MB")
        print(f"load average after: {os.getloadavg()}")
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
