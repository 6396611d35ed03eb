"""``python -m synth.train_default [--worlds PERSONS:SEED[:SHAPE_SEED] ...] [--out PATH]``: the
shipped match model (``models/trained/default.json``), trained on the ground truth of several
synthetic worlds: ekjon's own source layouts and varied ones (``ekjon synth --shapes varied``,
each source re-cut with its own fields, names and formats), so that no feature learned from one
layout punishes another.

Evaluate it on worlds of other seeds (``benchmarks/generalisation.py`` refuses the training
seeds, which the artifact records): a model is never scored on the worlds it learned from.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from engine.quality.training import person_labels, read_truth, train_default
from models.artifacts import DEFAULT_ARTIFACT
from synth.load import load_world, synthesise

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainingWorld:
    """One synthetic world to learn from: ``shape_seed`` ``None`` for ekjon's own layouts."""

    persons: int
    seed: int
    shape_seed: int | None = None

    @classmethod
    def parse(cls, spec: str) -> TrainingWorld:
        """``PERSONS:SEED`` or ``PERSONS:SEED:SHAPE_SEED`` (varied shapes)."""
        parts = spec.split(":")
        if len(parts) not in (2, 3) or not all(p.isdigit() for p in parts):
            raise ValueError(
                f"A training world is PERSONS:SEED or PERSONS:SEED:SHAPE_SEED; got {spec!r}."
            )
        return cls(int(parts[0]), int(parts[1]), int(parts[2]) if len(parts) == 3 else None)

    @property
    def shapes(self) -> str:
        return "default" if self.shape_seed is None else "varied"

    def describe(self) -> dict[str, Any]:
        return {
            "persons": self.persons,
            "seed": self.seed,
            "shapes": self.shapes,
            "shape_seed": self.shape_seed,
        }

    def command(self) -> str:
        shape = (
            "" if self.shape_seed is None else f" --shapes varied --shape-seed {self.shape_seed}"
        )
        return f"ekjon synth --persons {self.persons} --seed {self.seed}{shape}"


#: The shipped model's worlds: ekjon's own layouts and six varied ones (between them every
#: geography level a survey may give alone). Their seeds are kept apart from the worlds the model
#: is judged on (benchmarks/generalisation.py, tests/engine/resolve/test_accuracy_gate.py).
DEFAULT_WORLDS: tuple[TrainingWorld, ...] = (
    TrainingWorld(30_000, 7),
    TrainingWorld(20_000, 8, 1),
    TrainingWorld(20_000, 9, 2),
    TrainingWorld(20_000, 10, 3),
    TrainingWorld(20_000, 15, 4),
    TrainingWorld(20_000, 16, 5),
    TrainingWorld(20_000, 17, 6),
)


#: Sources of each training world given a TIN, the share of their records that carry it, and the
#: share of those written with one digit wrong.
TIN_SOURCES = 2
TIN_SHARE = 0.6
TIN_TYPO = 0.01


def plant_identifiers(records: pd.DataFrame, truth: pd.DataFrame, seed: int) -> pd.DataFrame:
    """``records`` with a TIN (``identifiers`` ``tin=NNNNNNNNN``, one per person) on some records
    of :data:`TIN_SOURCES` sources: the synthetic worlds declare no extra identifiers, and a model
    that never saw one could not weigh a shared one (``identifier_match``)."""
    rng = np.random.default_rng(seed)
    records = records.copy()
    if "identifiers" not in records.columns:
        records["identifiers"] = None
    sources = sorted(records["source"].astype(str).unique())
    chosen = rng.choice(sources, size=min(TIN_SOURCES, len(sources)), replace=False)
    person = person_labels(records[["source", "record_id"]].astype(str), truth)
    rows = np.flatnonzero(
        records["source"].astype(str).isin(chosen).to_numpy()
        & pd.notna(person)
        & (rng.random(len(records)) < TIN_SHARE)
    )
    tins = []
    for i in rows.tolist():
        digest = hashlib.sha256(f"{seed}:{person[i]}".encode()).digest()
        tin = str(100_000_000 + int.from_bytes(digest[:8], "big") % 900_000_000)
        if rng.random() < TIN_TYPO:
            at = int(rng.integers(1, len(tin)))
            tin = tin[:at] + str((int(tin[at]) + 1 + int(rng.integers(9))) % 10) + tin[at + 1 :]
        tins.append(f"tin={tin}")
    column = records["identifiers"].astype(object).to_numpy()
    column[rows] = tins
    records["identifiers"] = column
    log.info("planted a TIN on %d records of %s", len(rows), ", ".join(chosen))
    return records


def train_on_worlds(
    worlds: Sequence[TrainingWorld] = DEFAULT_WORLDS,
    out: Path | str = DEFAULT_ARTIFACT,
    method: str = "boosting",
) -> tuple[Any, dict[str, Any]]:
    """Train the default model on synthetic ``worlds`` and write the artifact to ``out``.

    Returns
    -------
    (model, summary)
    """
    data = []
    with tempfile.TemporaryDirectory(prefix="ekjon-train-") as tmp:
        for i, world in enumerate(worlds):
            folder = synthesise(
                world.persons, world.seed, Path(tmp) / f"world{i}", world.shapes,
                world.shape_seed or 0,
            )  # fmt: skip
            truth = read_truth(folder / "truth" / "records.csv")
            records = plant_identifiers(load_world(folder), truth, world.seed)
            data.append((records, truth))
            log.info("world %s: %d records", world.command(), len(data[-1][0]))
    return train_default(
        data,
        out=out,
        method=method,
        label_source="ground truth of synthetic worlds ("
        + "; ".join(w.command() for w in worlds)
        + ")",
        about={
            "worlds": [w.describe() for w in worlds],
            "planted_identifiers": f"tin on {TIN_SHARE:.0%} of the records of {TIN_SOURCES} "
            f"sources per world, {TIN_TYPO:.0%} of them with one digit wrong",
        },
    )


def train_on_world(
    persons: int = 100_000,
    seed: int = 7,
    out: Path | str = DEFAULT_ARTIFACT,
    method: str = "boosting",
    world: Path | str | None = None,
) -> tuple[Any, dict[str, Any]]:
    """Train on one synthetic world of ``persons`` and ``seed`` (or the already written ``world``
    folder of that size and seed) and write the artifact to ``out``.

    Returns
    -------
    (model, summary)
    """
    with tempfile.TemporaryDirectory(prefix="ekjon-train-") as tmp:
        folder = Path(world) if world else synthesise(persons, seed, Path(tmp) / "world")
        records = load_world(folder)
        truth = read_truth(folder / "truth" / "records.csv")
    return train_default(
        records,
        truth,
        out,
        method,
        label_source=f"ground truth of a synthetic world (ekjon synth --persons {persons} "
        f"--seed {seed})",
        about={"world_persons": persons, "world_seed": seed},
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description="Train ekjon's default match model on synthetic worlds."
    )
    parser.add_argument(
        "--worlds",
        nargs="+",
        type=TrainingWorld.parse,
        default=list(DEFAULT_WORLDS),
        metavar="PERSONS:SEED[:SHAPE_SEED]",
        help="worlds to learn from; a third number is the shape seed of a varied world "
        "(default: " + " ".join(f"{w.persons}:{w.seed}" + (
            "" if w.shape_seed is None else f":{w.shape_seed}") for w in DEFAULT_WORLDS) + ")",
    )  # fmt: skip
    parser.add_argument("--out", type=Path, default=DEFAULT_ARTIFACT)
    parser.add_argument("--method", default="boosting", choices=("boosting", "logistic"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    _, summary = train_on_worlds(args.worlds, args.out, args.method)
    log.info("wrote %s: %s", args.out, summary)


if __name__ == "__main__":
    main()
