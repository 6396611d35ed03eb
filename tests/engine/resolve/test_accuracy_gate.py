"""The accuracy gate: on synthetic worlds whose source shapes and seeds the shipped model never
saw, every pair of sources that shares persons must find them, and links must be right.

A varied world (``ekjon synth --shapes varied``) re-cuts every source: other column names, other
subsets of fields, one geography level, ages for dates, split names, relations as words. The
gate fails if the shipped model and the default blocking rules, on such a world, leave any pair of
sources sharing at least :data:`MIN_TRUE_PAIRS` true pairs below :data:`MIN_RECALL` recall, or
link with pairwise precision below :data:`MIN_PRECISION`. ``benchmarks/generalisation.py`` prints
the same figures for larger worlds.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest

from engine.quality.evaluate import evaluate, source_pair_scores
from engine.quality.training import DEFAULT_ARTIFACT, load_model, person_labels, read_truth
from engine.resolve.pipeline import resolve
from synth.load import load_world, synthesise

#: (persons, seed, shape seed) of the worlds judged: seeds no shipped model trained on.
WORLDS = (
    (10_000, 211, 31),
    # a known gap: this world's household survey gives only the district (and ages, no dates),
    # and the shipped model leaves four pairs of sources with the survey at 0.89-0.95 recall
    # (nine before household evidence; docs/models.md, "Generalisation"); strict, so that the
    # gate says when it is closed
    pytest.param(
        (10_000, 212, 32),
        marks=pytest.mark.xfail(
            strict=True, reason="a survey that gives only the district: recall 0.89-0.95"
        ),
    ),
)
#: Pairs of sources sharing fewer true pairs are too few to judge.
MIN_TRUE_PAIRS = 20
MIN_RECALL = 0.95
MIN_PRECISION = 0.995


def _training_seeds() -> set[int]:
    metrics = json.loads(DEFAULT_ARTIFACT.read_text(encoding="utf-8")).get("metrics") or {}
    seeds = {int(w["seed"]) for w in metrics.get("worlds", [])}
    if "world_seed" in metrics:
        seeds.add(int(metrics["world_seed"]))
    return seeds


@pytest.mark.slow
@pytest.mark.parametrize("world", WORLDS, ids=("10000p-seed211-shape31", "10000p-seed212-shape32"))
def test_every_pair_of_sources_finds_the_persons_it_shares(
    world: tuple[int, int, int], tmp_path_factory: pytest.TempPathFactory
) -> None:
    persons, seed, shape_seed = world
    assert seed not in _training_seeds(), "judge the model on worlds it never learned from"
    folder = synthesise(persons, seed, tmp_path_factory.mktemp("world"), "varied", shape_seed)
    records = load_world(folder)
    truth = read_truth(folder / "truth" / "records.csv")
    person = person_labels(records[["source", "record_id"]].astype(str), truth)

    resolution = resolve(records, load_model())

    result = evaluate(resolution.person, person)
    table = source_pair_scores(resolution.prepared["source"], resolution.person, person)
    judged = table[table["true_pairs"] >= MIN_TRUE_PAIRS]
    low = judged[judged["recall"] < MIN_RECALL]
    with pd.option_context("display.width", 200):
        assert low.empty, f"pairs of sources below {MIN_RECALL} recall:\n{low.to_string()}"
    assert len(judged) >= 20  # the world is big enough to judge most pairs of sources
    assert result.pairwise.precision >= MIN_PRECISION, result.to_text()
