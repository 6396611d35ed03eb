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
import logging
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.quality.training import read_truth, train_default
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


#: The shipped model's worlds: ekjon's own layouts and three varied ones. Their seeds (7-10) are
#: kept apart from the worlds the model is judged on (benchmarks/generalisation.py, tests).
DEFAULT_WORLDS: tuple[TrainingWorld, ...] = (
    TrainingWorld(40_000, 7),
    TrainingWorld(40_000, 8, 1),
    TrainingWorld(40_000, 9, 2),
    TrainingWorld(40_000, 10, 3),
)


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
            data.append((load_world(folder), read_truth(folder / "truth" / "records.csv")))
            log.info("world %s: %d records", world.command(), len(data[-1][0]))
    return train_default(
        data,
        out=out,
        method=method,
        label_source="ground truth of synthetic worlds ("
        + "; ".join(w.command() for w in worlds)
        + ")",
        about={"worlds": [w.describe() for w in worlds]},
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
