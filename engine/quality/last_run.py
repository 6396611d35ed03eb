"""The last resolve of a home scored against a truth file, with its errors explained: what
``ekjon evaluate`` prints (and what a dashboard or notebook can ask for).

Example
-------
>>> report = evaluate_last_run(home, Path("world/truth/records.csv"))          # doctest: +SKIP
>>> report.persons.pairwise.f1                                                # doctest: +SKIP
0.9953
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd

from engine.errors import EkjonError
from engine.home import Home
from engine.quality.evaluate import (
    Evaluation,
    error_pairs,
    evaluate,
    evaluate_households,
    explain_errors,
)

__all__ = [
    "ERROR_KINDS",
    "LastRunEvaluation",
    "TruthError",
    "evaluate_last_run",
    "read_truth_file",
]

#: The kinds of error, each listed in its own turn.
ERROR_KINDS: Final = ("false_merge", "missed_link")


class TruthError(EkjonError):
    """A truth file that cannot be read as ``source, record_id, person_id[, household_id]``."""


@dataclass
class LastRunEvaluation:
    """The last resolve against truth.

    Attributes
    ----------
    persons:
        Pairwise and B-cubed scores of the persons, overall and per slice (each source, and the
        records written only in Bangla script).
    households:
        The same of the households, when the truth has ``household_id``.
    without_truth:
        Records the truth file does not name (each counted as its own person).
    errors:
        The false merges and missed links with their reasons and each feature's contribution
        (``left_key``, ``right_key``, ``error``, ``reason``, ``probability``, ...), when asked for.
    explained_with, scored_with:
        The model that explained the errors, and the models the last resolve scored with.
    summary:
        All of it as plain data (what ``ekjon evaluate --json`` prints).
    """

    persons: Evaluation
    households: Evaluation | None
    without_truth: int
    errors: pd.DataFrame | None
    explained_with: str | None
    scored_with: list[str]
    summary: dict[str, Any]


def read_truth_file(truth: Path) -> pd.DataFrame:
    """``source, record_id, person_id[, household_id]`` of a truth CSV, as text.

    Raises
    ------
    TruthError
        If the file is missing or lacks one of the first three columns (named).
    """
    if not truth.exists():
        raise TruthError(f"no truth file at {truth}")
    wanted = {"source", "record_id", "person_id", "household_id"}
    known = pd.read_csv(truth, dtype=str, usecols=lambda column: column in wanted)
    lacking = [c for c in ("source", "record_id", "person_id") if c not in known.columns]
    if lacking:
        raise TruthError(
            f"{truth} has no {', '.join(lacking)} column (columns: source, record_id, "
            "person_id[, household_id])"
        )
    return known


def evaluate_last_run(
    home: Home | Path,
    truth: Path,
    *,
    errors: bool = False,
    model: Path | None = None,
    show: int = 5,
) -> LastRunEvaluation:
    """Score the last resolve under ``home`` against the ``truth`` CSV.

    Parameters
    ----------
    errors:
        Also list the false merges and missed links, each explained feature by feature.
    model:
        The match-model artifact that explains the errors (default: the shipped model).
    show:
        How many of each kind of error go into ``summary["error_examples"]`` (the surest first:
        false merges scored highest, missed links scored lowest).

    Raises
    ------
    engine.run.NothingToResolve
        If nothing was resolved yet, or a record of the last run is gone from the record store.
    engine.run.DamagedOutput
        If the last run's assignment or scored pairs cannot be read.
    TruthError
        If the truth file cannot be read.
    """
    import pyarrow.parquet as pq

    from engine.quality.training import DEFAULT_ARTIFACT, load_model
    from engine.run import read_assignment, read_prepared, reading_output

    home = Home.of(home)
    assignment = read_assignment(home)
    known = read_truth_file(truth)
    joined = assignment.merge(
        known.rename(columns={"person_id": "true_person", "household_id": "true_household"}),
        on=["source", "record_id"],
        how="left",
    )
    without_truth = int(joined["true_person"].isna().sum())
    slices = {"bangla_only": joined["bangla_only"].fillna(False).to_numpy(dtype=bool)}
    for source in sorted(joined["source"].unique()):
        slices[f"source={source}"] = (joined["source"] == source).to_numpy()
    result = evaluate(joined["person_id"], joined["true_person"], slices)
    summary: dict[str, Any] = {
        "records": len(joined),
        "persons_true": result.persons_true,
        "persons_predicted": result.persons_predicted,
        "pairwise": asdict(result.pairwise),
        "bcubed": asdict(result.bcubed),
        "slices": result.slices.to_dict(orient="records"),
    }
    households = None
    if "true_household" in joined.columns and "household_id" in joined.columns:
        # a record is in the household of its person; a truth row without one is its own
        households = evaluate_households(joined["household_id"], joined["true_household"])
        summary["households"] = {
            "households_true": households.persons_true,
            "households_predicted": households.persons_predicted,
            "pairwise": asdict(households.pairwise),
            "bcubed": asdict(households.bcubed),
        }
    if not errors:
        return LastRunEvaluation(result, households, without_truth, None, None, [], summary)

    keys = (joined["source"] + "/" + joined["record_id"]).to_numpy()
    index = pd.MultiIndex.from_arrays([joined["source"], joined["record_id"]])
    # records named by (source, record_id) and looked up as such: ten million pairs' keys joined
    # into strings would take gigabytes
    names = [f"{side}_{part}" for side in ("left", "right") for part in ("source", "record_id")]
    with reading_output(home.pairs):
        pairs = pq.read_table(home.pairs, read_dictionary=names).to_pandas()
    rows = {}
    for side in ("left", "right"):
        named = pd.MultiIndex.from_arrays(
            [pairs.pop(f"{side}_source"), pairs.pop(f"{side}_record_id")]
        )
        rows[side] = index.get_indexer(named)
    found = (rows["left"] >= 0) & (rows["right"] >= 0)
    scored = pd.DataFrame(
        {
            "left": rows["left"][found].astype(np.int64),
            "right": rows["right"][found].astype(np.int64),
            "probability": pairs["probability"].to_numpy()[found],
        }
    )
    wrong = error_pairs(joined["person_id"].to_numpy(), joined["true_person"].to_numpy(), scored)
    matcher = load_model(model or DEFAULT_ARTIFACT)
    prepared = read_prepared(home, joined[["source", "record_id"]])
    used = pairs["model_version"].dropna().unique() if "model_version" in pairs else []
    version = getattr(matcher, "model_version", None)
    wrong = explain_errors(wrong, prepared, matcher)
    wrong.insert(0, "left_key", keys[wrong["left"].to_numpy()])
    wrong.insert(1, "right_key", keys[wrong["right"].to_numpy()])
    wrong = wrong.drop(columns=["left", "right"])
    summary["errors"] = {str(k): int(v) for k, v in wrong["reason"].value_counts().items()}
    shown = pd.concat(
        [
            wrong[wrong["error"] == kind]
            .sort_values("probability", ascending=kind == "missed_link", kind="stable")
            .head(show)
            for kind in ERROR_KINDS
        ]
    )
    fields = ("error", "reason", "probability", "for", "against", "cannot_link", "note")
    summary["error_examples"] = [
        {
            "left": row["left_key"],
            "right": row["right_key"],
            **{k: None if pd.isna(row[k]) else row[k] for k in fields},
        }
        for row in shown.to_dict(orient="records")
    ]
    return LastRunEvaluation(
        result,
        households,
        without_truth,
        wrong,
        None if version is None else str(version),
        [str(u) for u in used],
        summary,
    )
