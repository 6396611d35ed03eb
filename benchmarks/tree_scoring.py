"""Benchmark of boosted-tree scoring: pairs/s of the packed forest against the node-by-node walk.

Not a test: it prints figures. The pairs are a synthetic world's candidate pairs (the ones the
model scores, i.e. not obvious mismatches), so the trees see the paths real pairs take::

    .venv/bin/python benchmarks/tree_scoring.py --persons 100000 --seed 5
    .venv/bin/python benchmarks/tree_scoring.py --world /tmp/world-100k --pairs 1000000

It also checks that both give the same raw scores bit for bit and the same contributions to 1e-12.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.quality.training import DEFAULT_ARTIFACT, load_model  # noqa: E402
from engine.resolve.blocking import DEFAULT_RULES, candidate_pairs  # noqa: E402
from engine.resolve.compare import Vocabulary, compare  # noqa: E402
from engine.resolve.pipeline import obvious_mismatch  # noqa: E402
from engine.resolve.prepare import prepare  # noqa: E402
from models.trees import Forest, _walk  # noqa: E402
from synth.load import load_world, synthesise  # noqa: E402


def walk_raw(baseline: float, trees: list, X: np.ndarray) -> np.ndarray:
    """The node-by-node walk, one tree at a time (how scoring worked before the packed forest)."""
    raw = np.full(X.shape[0], baseline, dtype=np.float64)
    for tree in trees:
        raw += _walk(tree, X, None)
    return raw


def walk_contributions(baseline: float, trees: list, X: np.ndarray) -> np.ndarray:
    contrib = np.zeros(X.shape, dtype=np.float64)
    for tree in trees:
        _walk(tree, X, contrib)
    return contrib


def timed(fn, *args) -> tuple[float, float, object]:
    """(wall seconds, CPU seconds, result)."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn(*args)
    return time.perf_counter() - wall, time.process_time() - cpu, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--world", type=Path, help="an already written world folder")
    parser.add_argument("--model", type=Path, default=DEFAULT_ARTIFACT)
    parser.add_argument("--pairs", type=int, default=1_000_000, help="candidate pairs to compare")
    parser.add_argument("--explain", type=int, default=50_000, help="pairs to explain")
    args = parser.parse_args()

    model = load_model(args.model)
    if getattr(model, "method", None) != "boosting":
        sys.exit(f"{args.model} is not a boosted-tree model")
    with tempfile.TemporaryDirectory(prefix="ekjon-trees-") as tmp:
        world = args.world or synthesise(args.persons, args.seed, Path(tmp) / "world")
        records = load_world(world, Path(tmp) / "store")
    prepared = prepare(records)
    pairs, _ = candidate_pairs(prepared, DEFAULT_RULES, None)
    features = compare(prepared, pairs.iloc[: args.pairs], Vocabulary(prepared))
    features = features[~obvious_mismatch(features)]
    X = features[list(model.feature_names)].to_numpy(np.float64)
    trees, baseline = model._trees, model._baseline

    pack_wall, _, forest = timed(Forest.pack, trees)
    print(f"model {model.model_version}: {len(trees)} trees; packed in {pack_wall * 1000:.1f} ms")
    print(f"pairs the model scores: {len(X):,} (of {min(args.pairs, len(pairs)):,} candidates)")
    w_wall, w_cpu, walked = timed(walk_raw, baseline, trees, X)
    f_wall, f_cpu, packed = timed(forest.raw, baseline, X)
    for name, wall, cpu in (("node-by-node walk", w_wall, w_cpu), ("packed forest", f_wall, f_cpu)):
        print(f"{name:>18}: {wall:6.2f} s wall ({len(X) / wall:>10,.0f} pairs/s), {cpu:6.2f} s CPU")
    print(f"speed-up: {w_wall / f_wall:.1f}x wall, {w_cpu / f_cpu:.1f}x CPU")
    print(f"raw scores identical: {np.array_equal(walked, packed)}")

    sample = X[: args.explain]
    w_wall, _, old = timed(walk_contributions, baseline, trees, sample)
    f_wall, _, (_, new) = timed(forest.contributions, baseline, sample)
    print(
        f"contributions of {len(sample):,} pairs: walk {w_wall:.2f} s, packed {f_wall:.2f} s; "
        f"largest difference {np.abs(old - new).max(initial=0.0):.1e}"
    )


if __name__ == "__main__":
    main()
