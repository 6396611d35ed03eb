"""``python -m synth.train_default [--persons N] [--seed S] [--out PATH]``: the shipped match model
(``models/trained/default.json``), trained on a synthetic world's ground truth.

Evaluate it on a world of another seed: a model is never scored on the world it learned from.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from engine.quality.training import read_truth, train_default
from models.artifacts import DEFAULT_ARTIFACT
from synth.load import load_world, synthesise

log = logging.getLogger(__name__)


def train_on_world(
    persons: int = 100_000,
    seed: int = 7,
    out: Path | str = DEFAULT_ARTIFACT,
    method: str = "boosting",
    world: Path | str | None = None,
) -> tuple[Any, dict[str, Any]]:
    """Train the default model on a synthetic world of ``persons`` and ``seed`` (or the already
    written ``world`` folder of that size and seed) and write the artifact to ``out``.

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
        description="Train ekjon's default match model on a synthetic world."
    )
    parser.add_argument("--persons", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=DEFAULT_ARTIFACT)
    parser.add_argument("--method", default="boosting", choices=("boosting", "logistic"))
    parser.add_argument(
        "--world", type=Path, help="an already written world folder of that seed/size"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    _, summary = train_on_world(args.persons, args.seed, args.out, args.method, args.world)
    log.info("wrote %s: %s", args.out, summary)


if __name__ == "__main__":
    main()
