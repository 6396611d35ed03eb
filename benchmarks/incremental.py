"""Benchmark of incremental resolve: agreement with the batch on a held-back slice, and latency.

Not a test: it prints figures. A synthetic world is written (unless ``--world`` names one), a
random slice of its records (``--fraction``, seeded) is held back, the batch resolves the rest, an
:class:`engine.incremental.resolver.IncrementalResolver` is built from that batch and resolves each
held-back record on its own; a batch over every record is the reference (its clusters named by the
held-in records they contain, as the identity ledger names them). Typical runs::

    .venv/bin/python benchmarks/incremental.py                      # 20k persons, seed 11
    .venv/bin/python benchmarks/incremental.py --persons 100000 --sequential

Printed: agreement (same person, or new person in both), the outcomes, ``resolve_one`` latency
percentiles without and with the explanation of the best link, the time to build / save / load
the resolver and the size of its saved state, and peak memory.
"""

from __future__ import annotations

import argparse
import logging
import resource
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.incremental.agreement import holdout_agreement, latency_summary  # noqa: E402
from engine.incremental.resolver import IncrementalResolver  # noqa: E402
from engine.quality.training import DEFAULT_ARTIFACT, load_model  # noqa: E402
from synth.load import load_world, synthesise  # noqa: E402


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MB (Linux reports KB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _latency_line(name: str, ms: dict[str, float]) -> str:
    return f"{name}: " + ", ".join(f"{k} {v:.1f} ms" for k, v in ms.items())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=11, help="seed of the synthetic world")
    parser.add_argument("--world", type=Path, help="an already written world folder")
    parser.add_argument("--records", type=Path, help="a pickle of already ingested records")
    parser.add_argument("--model", type=Path, default=DEFAULT_ARTIFACT)
    parser.add_argument("--fraction", type=float, default=0.02, help="share of records held back")
    parser.add_argument("--holdout-seed", type=int, default=1)
    parser.add_argument(
        "--sequential",
        action="store_true",
        help="add() each held-back record in turn (later ones may join earlier ones)",
    )
    parser.add_argument("--errors", type=Path, help="write the disagreeing records to this CSV")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")

    with tempfile.TemporaryDirectory(prefix="ekjon-incremental-") as tmp:
        started = time.perf_counter()
        if args.records:
            records = pd.read_pickle(args.records)
            world = args.records
        else:
            world = args.world or synthesise(args.persons, args.seed, Path(tmp) / "world")
            records = load_world(world, Path(tmp) / "store")
        print(
            f"world: {world} ({args.persons:,} persons, seed {args.seed}): {len(records):,} records"
        )
        print(f"synthesise + ingest: {time.perf_counter() - started:.1f}s")
        model = load_model(args.model)
        print(f"model: {getattr(model, 'model_version', args.model)}")

        agreement = holdout_agreement(
            records,
            model,
            fraction=args.fraction,
            seed=args.holdout_seed,
            sequential=args.sequential,
            progress=lambda step: print(f"  {step} ...", flush=True),
        )
        mode = "sequential add()" if args.sequential else "resolve_one() each alone"
        print(f"\nheld back {args.fraction:.1%} of records (seed {args.holdout_seed}), {mode}")
        print(agreement.to_text())

        resolver = agreement.resolver
        assert resolver is not None
        held = pd.MultiIndex.from_frame(agreement.records[["source", "record_id"]])
        keys = pd.MultiIndex.from_frame(records[["source", "record_id"]].astype(str))
        rows = records[keys.isin(held)].to_dict(orient="records")
        explained, answers = [], []
        for row in rows:
            match = resolver.resolve_one(row, explain=True)
            explained.append(match.seconds * 1000)
            answers.append((match.person_id, round(match.log_odds, 9)))
        print(_latency_line("resolve_one with explanation", latency_summary(explained)))

        folder = Path(tmp) / "incremental"
        t0 = time.perf_counter()
        resolver.save(folder)
        saved = time.perf_counter() - t0
        size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 1e6
        t0 = time.perf_counter()
        opened = IncrementalResolver.load(folder, model)
        loaded = time.perf_counter() - t0
        # the resolver a fresh process opens (memory-mapped tables) answers as the one built
        mapped, same = [], 0
        for row, answer in zip(rows, answers, strict=True):
            match = opened.resolve_one(row, explain=True)
            mapped.append(match.seconds * 1000)
            same += (match.person_id, round(match.log_odds, 9)) == answer
        print(_latency_line("the same, opened from its tables", latency_summary(mapped)))
        print(f"opened from its tables: {same:,} of {len(rows):,} answers as the built resolver's")
        print(
            f"resolver over {len(resolver):,} records: built in "
            f"{agreement.timings['build']:.1f}s, saved in {saved:.1f}s ({size:.1f} MB), "
            f"loaded in {loaded:.1f}s; fast prepare path: {resolver.fast}"
        )
        print(f"peak memory: {peak_rss_mb():,.0f} MB")

        wrong = agreement.records[~agreement.records["agree"]]
        if len(wrong):
            print("\ndisagreements:")
            print(wrong.drop(columns=["agree"]).to_string(index=False))
        if args.errors:
            wrong.to_csv(args.errors, index=False)


if __name__ == "__main__":
    main()
