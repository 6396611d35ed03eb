"""Generalisation benchmark: accuracy on synthetic worlds of shapes and seeds the model never saw.

Not a test: it prints figures. For each world (``PERSONS:SEED`` for ekjon's own source layouts,
``PERSONS:SEED:SHAPE_SEED`` for ``ekjon synth --shapes varied --shape-seed SHAPE_SEED``) it
synthesises the world, ingests it into a temporary record store, resolves it (no publish) with the
model artifact and scores the persons against ``truth/records.csv``:

- pairwise precision / recall / F1 and B-cubed F1; recall on records written only in Bangla;
- **recall per pair of sources**: of the true pairs between a record of source A and one of source
  B, the share that ended in one person, and the share blocking ever proposed (blocking recall);
  precision per pair of sources too (of the pairs put in one person, the share truly one);
- candidate pairs per record, resolve wall time and peak memory (resident set) of the resolve;
- the ingest's field warnings (values it could not read), which hide fields from matching.

Each world runs in a child process, so its memory is its own. The model's training worlds (seeds
in the artifact's ``metrics``) must not be among the worlds measured: the script refuses them.
A FEBRL3 / FEBRL4 line (``benchmarks/febrl.py``, boosting, 5-fold out-of-fold) closes the report.

Typical runs (from the repository root)::

    .venv/bin/python benchmarks/generalisation.py                       # the standard worlds
    .venv/bin/python benchmarks/generalisation.py --worlds 20000:101 20000:101:11 --no-febrl
    flock /tmp/ekjon-big.lock .venv/bin/python benchmarks/generalisation.py --worlds 100000:111:21
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

#: The standard worlds: ekjon's own layouts and varied ones, seeds no shipped model trained on.
STANDARD_WORLDS = (
    "20000:101",
    "20000:101:11",
    "20000:102:12",
    "20000:103:13",
    "5000:104:14",
)
#: Pairs of sources with fewer true pairs than this are listed but not judged.
MIN_TRUE_PAIRS = 20
#: Where worlds are written once and reused.
CACHE = Path(tempfile.gettempdir()) / "ekjon-generalisation"


@dataclass(frozen=True)
class World:
    persons: int
    seed: int
    shape_seed: int | None  # None: ekjon's own layouts

    @classmethod
    def parse(cls, spec: str) -> World:
        parts = spec.split(":")
        if len(parts) not in (2, 3) or not all(p.isdigit() for p in parts):
            raise SystemExit(f"A world is PERSONS:SEED or PERSONS:SEED:SHAPE_SEED; got {spec!r}.")
        return cls(int(parts[0]), int(parts[1]), int(parts[2]) if len(parts) == 3 else None)

    @property
    def spec(self) -> str:
        tail = "" if self.shape_seed is None else f":{self.shape_seed}"
        return f"{self.persons}:{self.seed}{tail}"

    @property
    def label(self) -> str:
        shape = "default" if self.shape_seed is None else f"varied/{self.shape_seed}"
        return f"{self.persons:,} persons, seed {self.seed}, {shape}"

    def folder(self, cache: Path) -> Path:
        shape = "default" if self.shape_seed is None else f"varied{self.shape_seed}"
        return cache / f"{self.persons}-{self.seed}-{shape}"


# -- one world (in a child process) ------------------------------------------------------------


def _reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark of this process (Linux: ``clear_refs`` 5)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _peak_rss_mb() -> float:
    """Peak resident memory since the last reset (Linux ``VmHWM``), else since start."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _written(world: World, cache: Path) -> Path:
    from synth.load import synthesise

    folder = world.folder(cache)
    if not (folder / "truth" / "records.csv").exists():
        shapes = "default" if world.shape_seed is None else "varied"
        synthesise(world.persons, world.seed, folder, shapes, world.shape_seed or 0)
    return folder


def _field_warnings(reports: Path) -> dict[str, int]:
    """Field warnings and quarantined rows of the ingest (``source/field``: count; a quarantined
    row as ``source/quarantined``)."""
    counts: dict[str, int] = {}
    for path in sorted(reports.glob("*.csv")) if reports.exists() else []:
        name, _, tail = path.stem.partition("-ingest")
        source = name.rpartition("-")[0] or name  # the file is named source-<hash>-ingest...
        try:
            frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
        except (pd.errors.EmptyDataError, UnicodeDecodeError):
            continue
        if tail.endswith("quarantine"):
            counts[f"{source}/quarantined"] = counts.get(f"{source}/quarantined", 0) + len(frame)
            continue
        for field in frame.get("field", pd.Series([], dtype=str)).tolist():
            key = f"{source}/{field}"
            counts[key] = counts.get(key, 0) + 1
    return counts


def measure(world: World, model_path: Path, cache: Path) -> dict[str, Any]:
    """Synthesise (once), ingest and resolve one world; its figures as plain data."""
    from engine.home import Home
    from engine.quality.evaluate import evaluate, source_pair_scores, standard_slices
    from engine.quality.training import load_model, person_labels, read_truth
    from engine.resolve.cluster import cluster_records, key_order, logodds
    from engine.resolve.pipeline import ResolveSettings, resolve
    from synth.load import load_world

    t0 = time.perf_counter()
    folder = _written(world, cache)
    t_synth = time.perf_counter() - t0
    with tempfile.TemporaryDirectory(prefix="ekjon-gen-") as tmp:
        t0 = time.perf_counter()
        records = load_world(folder, tmp)
        t_ingest = time.perf_counter() - t0
        warnings = _field_warnings(Home.of(tmp).reports)
    truth = read_truth(folder / "truth" / "records.csv")
    missing = sorted(set(truth["source"]) - set(records["source"].astype(str)))
    person = person_labels(records[["source", "record_id"]].astype(str), truth)
    model = load_model(model_path)
    exact_peak = _reset_peak_rss()
    rss_before = _peak_rss_mb()
    t0 = time.perf_counter()
    resolution = resolve(records, model, ResolveSettings(), truth=person)
    t_resolve = time.perf_counter() - t0
    rss_peak = _peak_rss_mb()

    prepared = resolution.prepared
    result = evaluate(resolution.person, person, standard_slices(prepared))
    slices = result.slices.set_index("slice")
    n = len(records)
    pairs = resolution.pairs
    blocked = pairs[pairs["rules"].to_numpy() > 0]
    candidates = np.sort(blocked["left"].to_numpy() * n + blocked["right"].to_numpy())
    per_pair = source_pair_scores(
        prepared["source"].to_numpy(), resolution.person, person, candidates
    )
    # the same scored pairs clustered without household evidence (the model's weights)
    alone = cluster_records(
        n,
        pairs["left"].to_numpy(),
        pairs["right"].to_numpy(),
        logodds(pairs["probability"].to_numpy()),
        pairs["cannot_link"].to_numpy(),
        order=key_order((prepared["source"] + "/" + prepared["record_id"]).to_numpy()),
    )
    without = evaluate(alone, person)
    without_pairs = source_pair_scores(prepared["source"].to_numpy(), alone, person, candidates)
    return {
        "world": world.spec,
        "label": world.label,
        "records": n,
        "persons_true": result.persons_true,
        "persons_found": result.persons_predicted,
        "precision": result.pairwise.precision,
        "recall": result.pairwise.recall,
        "f1": result.pairwise.f1,
        "bcubed_f1": result.bcubed.f1,
        "bangla_only_records": int(slices.loc["bangla_only", "records"]),
        "bangla_only_recall": float(slices.loc["bangla_only", "pairwise_recall"]),
        "blocking_recall": resolution.blocking.recall,
        "candidate_pairs": resolution.blocking.total_pairs,
        "pairs_per_record": resolution.blocking.total_pairs / max(n, 1),
        "pairs_scored": len(pairs),
        "rules": resolution.blocking.rules.to_dict(orient="records"),
        "source_pairs": per_pair.to_dict(orient="records"),
        "without_households": {
            "precision": without.pairwise.precision,
            "recall": without.pairwise.recall,
            "f1": without.pairwise.f1,
            "source_pairs": without_pairs.to_dict(orient="records"),
        },
        "field_warnings": warnings,
        "sources_not_ingested": missing,
        "synth_seconds": t_synth,
        "ingest_seconds": t_ingest,
        "resolve_seconds": t_resolve,
        "steps": resolution.timings,
        "rss_before_mb": rss_before,
        "rss_peak_mb": rss_peak,
        "rss_exact": exact_peak,
        "load": os.getloadavg(),
        "model": str(model_path),
        "model_version": str(getattr(model, "model_version", "")),
    }


# -- FEBRL ----------------------------------------------------------------------------------------


def febrl_line(folds: int = 5) -> list[dict[str, Any]]:
    """FEBRL3 and FEBRL4 through the boosting pair classifier, out of fold
    (``benchmarks/febrl.py``)."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import febrl
    from threadpoolctl import threadpool_limits

    from models.evaluation import pairwise_scores

    out = []
    with threadpool_limits(limits=1):
        for name in ("febrl3", "febrl4"):
            data = febrl.load(name)
            pairs = febrl.candidate_pairs(data)
            true = febrl.canonical_pairs(data.true_pairs, dedupe=data.dedupe)
            cand = [(a, b) for a, b in pairs]
            y = np.array(
                [
                    ((a, b) if not data.dedupe or str(a) <= str(b) else (b, a)) in true
                    for a, b in cand
                ],
                dtype=np.int64,
            )
            X = febrl.comparison_features(data, pairs)
            proba = febrl.out_of_fold(febrl.MODELS["boosting"], X, y, folds, 0)
            predicted = [p for p, s in zip(cand, proba, strict=True) if s >= 0.5]
            s = pairwise_scores(predicted, data.true_pairs, dedupe=data.dedupe)
            out.append({"dataset": name, "precision": s.precision, "recall": s.recall, "f1": s.f1})
    return out


# -- the report -----------------------------------------------------------------------------------


def _training_seeds(model_path: Path) -> set[int]:
    data = json.loads(model_path.read_text(encoding="utf-8"))
    metrics = data.get("metrics") or {}
    seeds = set()
    if "world_seed" in metrics:
        seeds.add(int(metrics["world_seed"]))
    for world in metrics.get("worlds", []):
        seeds.add(int(world["seed"]))
    return seeds


def print_world(r: dict[str, Any], min_pairs: int, all_pairs: bool) -> None:
    print(f"\n== {r['label']} ({r['records']:,} records; load {r['load'][0]:.2f})")
    print(
        f"pairwise precision {r['precision']:.4f}  recall {r['recall']:.4f}  F1 {r['f1']:.4f};  "
        f"B-cubed F1 {r['bcubed_f1']:.4f};  Bangla-only recall {r['bangla_only_recall']:.4f} "
        f"({r['bangla_only_records']:,} records)"
    )
    rss = "peak RSS" if r["rss_exact"] else "peak RSS (whole process)"
    alone = r.get("without_households")
    if alone:
        table = pd.DataFrame(alone["source_pairs"])
        judged = table[table["true_pairs"] >= min_pairs]
        print(
            f"without household evidence: precision {alone['precision']:.4f}  recall "
            f"{alone['recall']:.4f}  F1 {alone['f1']:.4f};  pairs of sources < 0.95 recall: "
            f"{int((judged['recall'] < 0.95).sum())} of {len(judged)}"
        )
    print(
        f"blocking recall {r['blocking_recall']:.4f}; candidate pairs {r['candidate_pairs']:,} "
        f"= {r['pairs_per_record']:.2f} per record; resolve {r['resolve_seconds']:.1f}s, "
        f"{rss} {r['rss_peak_mb']:,.0f} MB (before {r['rss_before_mb']:,.0f} MB); "
        f"ingest {r['ingest_seconds']:.1f}s"
    )
    if r["sources_not_ingested"]:
        print(f"NOT INGESTED (their true pairs count as missed): {r['sources_not_ingested']}")
    warnings = r["field_warnings"]
    if warnings:
        top = sorted(warnings.items(), key=lambda kv: -kv[1])[:6]
        print(
            f"ingest field warnings: {sum(warnings.values()):,} ("
            + ", ".join(f"{k} {v:,}" for k, v in top)
            + ")"
        )
    table = pd.DataFrame(r["source_pairs"])
    judged = table[table["true_pairs"] >= min_pairs]
    worst = judged.sort_values("recall").head(len(judged) if all_pairs else 8)
    below = judged[judged["recall"] < 0.95]
    print(
        f"source pairs with >= {min_pairs} true pairs: {len(judged)}; recall < 0.95: {len(below)}; "
        f"lowest recall {judged['recall'].min():.4f}, lowest precision "
        f"{judged['precision'].min():.4f}"
    )
    print(worst.to_string(index=False, float_format=lambda x: f"{x:.4f}"))


def summary_table(results: list[dict[str, Any]], min_pairs: int) -> pd.DataFrame:
    rows = []
    for r in results:
        table = pd.DataFrame(r["source_pairs"])
        judged = table[table["true_pairs"] >= min_pairs]
        rows.append(
            {
                "world": r["world"],
                "records": r["records"],
                "P": r["precision"],
                "R": r["recall"],
                "F1": r["f1"],
                "F1 w/o hh": (r.get("without_households") or {}).get("f1", float("nan")),
                "B3 F1": r["bcubed_f1"],
                "bn R": r["bangla_only_recall"],
                "block R": r["blocking_recall"],
                "min pair R": judged["recall"].min(),
                "pairs<0.95": int((judged["recall"] < 0.95).sum()),
                "pairs/rec": r["pairs_per_record"],
                "resolve s": r["resolve_seconds"],
                "RSS MB": r["rss_peak_mb"],
            }
        )
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> int:
    from engine.quality.training import DEFAULT_ARTIFACT

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--worlds", nargs="+", default=list(STANDARD_WORLDS), metavar="PERSONS:SEED[:SHAPE_SEED]"
    )
    parser.add_argument("--model", type=Path, default=DEFAULT_ARTIFACT)
    parser.add_argument("--cache", type=Path, default=CACHE, help="where worlds are written once")
    parser.add_argument("--no-febrl", action="store_true", help="leave out the FEBRL line")
    parser.add_argument("--min-pairs", type=int, default=MIN_TRUE_PAIRS)
    parser.add_argument("--all-pairs", action="store_true", help="print every pair of sources")
    parser.add_argument("--json", type=Path, help="write every figure to this JSON file")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # a child: one world, JSON on stdout
    args = parser.parse_args(argv)

    if args.one:
        result = measure(World.parse(args.one), args.model, args.cache)
        print("\n@@RESULT@@" + json.dumps(result, default=float))
        return 0

    worlds = [World.parse(w) for w in args.worlds]
    trained = _training_seeds(args.model)
    seen = [w.spec for w in worlds if w.seed in trained]
    if seen:
        raise SystemExit(
            f"The model {args.model} was trained on worlds of seeds {sorted(trained)}: "
            f"{', '.join(seen)} would score it on what it learned from."
        )
    print(f"model {args.model}; training seeds {sorted(trained) or 'unknown'}")
    print(f"machine load (1, 5, 15 min): {os.getloadavg()}")
    results = []
    for world in worlds:
        started = time.perf_counter()
        child = subprocess.run(
            [sys.executable, __file__, "--one", world.spec, "--model", str(args.model),
             "--cache", str(args.cache)],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        marker = child.stdout.rfind("@@RESULT@@")
        if child.returncode != 0 or marker < 0:
            print(f"\n== {world.label}: FAILED\n{child.stderr[-3000:]}")
            continue
        result = json.loads(child.stdout[marker + len("@@RESULT@@") :])
        result["wall_seconds"] = time.perf_counter() - started
        results.append(result)
        print_world(result, args.min_pairs, args.all_pairs)
    if results:
        print("\n== summary (P, R, F1 pairwise; bn R: Bangla-only recall; min pair R: lowest "
              f"recall of a pair of sources with >= {args.min_pairs} true pairs)")  # fmt: skip
        print(summary_table(results, args.min_pairs).to_string(index=False, float_format="%.4f"))
    febrl = []
    if not args.no_febrl:
        febrl = febrl_line()
        print(
            "FEBRL (boosting, 5-fold out of fold): "
            + "; ".join(
                f"{f['dataset']} P {f['precision']:.5f} R {f['recall']:.5f} F1 {f['f1']:.5f}"
                for f in febrl
            )
        )
    print(f"machine load at the end (1, 5, 15 min): {os.getloadavg()}")
    if args.json:
        args.json.write_text(json.dumps({"worlds": results, "febrl": febrl}, default=float))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
