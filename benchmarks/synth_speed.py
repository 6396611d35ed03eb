"""How fast `ekjon synth` writes a world: seconds, persons per second, records and peak memory.

Each size runs in its own process so that its peak memory (``ru_maxrss``) is its own. CPU seconds
(user + system) are printed beside wall seconds: on a shared machine the wall time mostly measures
the neighbours.

    .venv/bin/python benchmarks/synth_speed.py --persons 100000 1000000 [--seed 1] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def one(persons: int, seed: int, out: Path) -> dict:
    from synth import WorldParameters, generate_world

    steps: list[tuple[str, float]] = []
    t0 = time.perf_counter()
    summary = generate_world(
        WorldParameters(persons=persons, seed=seed),
        out,
        progress=lambda s: steps.append((s, time.perf_counter())),
    )
    seconds = time.perf_counter() - t0
    marks = [t for _, t in steps] + [t0 + seconds]
    step_seconds = {name: round(marks[i + 1] - t, 2) for i, (name, t) in enumerate(steps)}
    size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "persons": persons,
        "seconds": round(seconds, 2),
        "persons_per_second": round(persons / seconds),
        "records": summary.total_records,
        "records_per_second": round(summary.total_records / seconds),
        "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 1),
        "peak_rss_mb": round(usage.ru_maxrss / 1024),
        "bytes_written_mb": round(size / 2**20, 1),
        "steps": step_seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--persons", type=int, nargs="+", default=[100_000])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--out", type=Path, default=None, help="keep the worlds here (default: a temp dir)"
    )
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one(args.persons[0], args.seed, args.out)))
        return
    for persons in args.persons:
        out = (
            (args.out / f"world_{persons}") if args.out else Path(tempfile.mkdtemp(prefix="synth_"))
        )
        cmd = [
            sys.executable,
            __file__,
            "--one",
            "--persons",
            str(persons),
            "--seed",
            str(args.seed),
            "--out",
            str(out),
        ]
        result = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
        if args.out is None:
            shutil.rmtree(out, ignore_errors=True)
        print(
            f"{result['persons']:>9,} persons  {result['seconds']:7.1f} s  "
            f"{result['persons_per_second']:>8,} persons/s  "
            f"{result['records']:>9,} records ({result['records_per_second']:,}/s)  "
            f"CPU {result['cpu_seconds']} s  peak RSS {result['peak_rss_mb']:,} MB  "
            f"written {result['bytes_written_mb']} MB"
        )
        print("    steps (s): " + ", ".join(f"{k} {v}" for k, v in result["steps"].items()))


if __name__ == "__main__":
    main()
