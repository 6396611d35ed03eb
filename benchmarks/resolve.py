"""Benchmark of the batch resolve: records/s, peak memory and accuracy on a synthetic world.

Not a test: it prints figures. Typical runs::

    .venv/bin/python benchmarks/resolve.py --persons 100000 --seed 11
    .venv/bin/python benchmarks/resolve.py --world /tmp/world-1m --persons 1000000 --seed 11

The world is written with ``ekjon synth`` (unless ``--world`` names one already written), ingested
into a temporary store, resolved with the model artifact (default ``models/trained/default.json``,
trained on a world of a *different* seed), and scored against ``truth/records.csv``: persons, and
households (:func:`engine.identity.households.resolve_households` on the resolved persons) when the
truth
has a ``household_id``.
"""

from __future__ import annotations

import argparse
import logging
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.identity.households import resolve_households  # noqa: E402
from engine.quality.evaluate import (  # noqa: E402
    error_pairs,
    error_summary,
    evaluate,
    evaluate_households,
    explain_errors,
    standard_slices,
    truth_tags,
)
from engine.quality.training import (  # noqa: E402
    DEFAULT_ARTIFACT,
    load_model,
    person_labels,
    read_truth,
)
from engine.resolve.pipeline import ResolveSettings, resolve  # noqa: E402
from synth.load import load_world, synthesise  # noqa: E402


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MB (Linux reports KB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def peak_child_rss_mb() -> float:
    """Peak resident memory of the largest finished child (the name-normalising workers), MB."""
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--world", type=Path, help="an already written world folder")
    parser.add_argument("--model", type=Path, default=DEFAULT_ARTIFACT)
    parser.add_argument(
        "--errors",
        type=Path,
        help="write the error pairs, with each feature's contribution to their scores, to this CSV",
    )
    parser.add_argument(
        "--records", type=Path, help="a pickle of already ingested records (skips the ingest)"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")

    with tempfile.TemporaryDirectory(prefix="ekjon-bench-") as tmp:
        world = args.world
        t0 = time.perf_counter()
        if world is None:
            world = synthesise(args.persons, args.seed, Path(tmp) / "world")
        t_synth = time.perf_counter() - t0
        t0 = time.perf_counter()
        if args.records:
            records = pd.read_pickle(args.records)
        else:
            records = load_world(world, Path(tmp) / "store")
        t_ingest = time.perf_counter() - t0
        truth = read_truth(world / "truth" / "records.csv")
        persons_path = world / "truth" / "persons.csv"
        truth_persons = pd.read_csv(persons_path, dtype=str) if persons_path.exists() else None
    person = person_labels(records[["source", "record_id"]].astype(str), truth)
    rss_before = peak_rss_mb()
    model = load_model(args.model)
    t0 = time.perf_counter()
    resolution = resolve(records, model, ResolveSettings(), truth=person)
    t_resolve = time.perf_counter() - t0
    rss_after = peak_rss_mb()

    result = evaluate(resolution.person, person, standard_slices(resolution.prepared))
    n = len(records)
    print(f"\n== world: persons={args.persons:,} seed={args.seed} records={n:,} ({world})")
    print(f"model: {args.model}")
    print(f"synth {t_synth:.1f}s  ingest {t_ingest:.1f}s (not part of resolve)")
    steps = ", ".join(f"{k} {v:.1f}s" for k, v in resolution.timings.items())
    print(f"resolve: {t_resolve:.1f}s = {n / t_resolve:,.0f} records/s; steps: {steps}")
    print(
        f"peak RSS: {rss_after:,.0f} MB (before resolve {rss_before:,.0f} MB; "
        f"largest worker process {peak_child_rss_mb():,.0f} MB, mostly pages shared with this one)"
    )
    print(f"load average (1, 5, 15 min): {os.getloadavg()}")
    print(f"scored pairs: {len(resolution.pairs):,}; clustering: {resolution.clustering}")
    print(resolution.blocking.to_text())
    print(result.to_text())
    if "household_id" in truth.columns:
        t0 = time.perf_counter()
        households = resolve_households(
            records.assign(person_id=resolution.person.astype(str)), prepared=resolution.prepared
        )
        t_households = time.perf_counter() - t0
        household_of = households.set_index("person_id")["household_id"]
        predicted = household_of.reindex(resolution.person.astype(str)).to_numpy()
        keyed = truth.drop_duplicates(["source", "record_id"]).set_index(["source", "record_id"])
        index = pd.MultiIndex.from_arrays(
            [records["source"].astype(str), records["record_id"].astype(str)]
        )
        true_household = keyed["household_id"].reindex(index).to_numpy(dtype=object)
        scores = evaluate_households(predicted, true_household)
        p, b = scores.pairwise, scores.bcubed
        print(
            f"households ({t_households:.1f}s): true {scores.persons_true:,}, predicted "
            f"{scores.persons_predicted:,}\n"
            f"households pairwise  precision {p.precision:.4f}  recall {p.recall:.4f}  "
            f"F1 {p.f1:.4f}\n"
            f"households B-cubed   precision {b.precision:.4f}  recall {b.recall:.4f}  "
            f"F1 {b.f1:.4f}"
        )
    errors = explain_errors(
        error_pairs(resolution.person, person, resolution.pairs), resolution.prepared, model
    )
    tags = truth_tags(errors, resolution.prepared, truth, truth_persons)
    summary = error_summary(errors, resolution.prepared, tags)
    table = summary.pivot_table(
        index="tag", columns=["error", "reason"], values="pairs", fill_value=0
    )
    print("errors by hard case (pairs):")
    print(table.to_string())
    if args.errors:
        errors.to_csv(args.errors, index=False)
        print(f"errors written to {args.errors}")


if __name__ == "__main__":
    main()
