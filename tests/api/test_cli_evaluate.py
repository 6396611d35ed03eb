"""`ekjon evaluate --errors`: the errors listed with the features behind each score."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from api.cli import app

runner = CliRunner()


def _ok(*args: str, env: dict[str, str]) -> str:
    result = runner.invoke(app, list(args), env={**env, "COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.fixture(scope="module")
def resolved(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, str], Path]:
    """A small world, ingested and resolved, and a truth file that disagrees with the resolution
    in a known way: one resolved person is two people, and two resolved persons are one."""
    root = tmp_path_factory.mktemp("evaluate")
    env = {"EKJON_HOME": str(root / "home")}
    _ok("synth", "--persons", "400", "--seed", "4", "--out", str(root / "world"), env=env)
    _ok("ingest", str(root / "world"), env=env)
    _ok("resolve", "--no-publish", env=env)
    _ok("export", "persons", "--out", str(root / "persons.csv"), env=env)
    persons = pd.read_csv(root / "persons.csv", dtype=str)
    truth = persons[["source", "record_id"]].assign(person_id=persons["person_id"])
    sizes = persons.groupby("person_id")["record_id"].transform("size")
    split = persons.index[sizes >= 2][0]  # this record's person is someone else, says truth
    truth.loc[split, "person_id"] = "somebody else"
    alone = persons.index[sizes == 1][:2]  # two single-record persons are one, says truth
    truth.loc[alone, "person_id"] = "one person"
    truth.to_csv(root / "truth.csv", index=False)
    return env, root


def test_errors_come_with_each_features_contribution(resolved) -> None:
    env, root = resolved
    errors_csv = root / "errors.csv"
    out = _ok(
        "evaluate", "--truth", str(root / "truth.csv"), "--errors", str(errors_csv), "--json",
        env=env,
    )  # fmt: skip
    summary = json.loads(out)
    errors = pd.read_csv(errors_csv)

    assert {"false_merge", "missed_link"} <= set(errors["error"])
    assert {"for", "against", "cannot_link", "note", "probability"} <= set(errors.columns)
    contributions = errors.filter(like="contribution_")
    assert len(contributions.columns) >= 10
    # each row's contributions add up to the model's score: the explanation is the score
    total = contributions.sum(axis=1) + errors["bias"]
    pd.testing.assert_series_equal(total, errors["score"], check_names=False, atol=1e-6)
    # the reasons are in words, strongest first, with their sign
    merged = errors[errors["error"] == "false_merge"].iloc[0]
    first = merged["for"].split("; ")[0]
    assert first.startswith("+") and any(c.isalpha() for c in first)
    # pairs blocking never compared still get the model's verdict and a note saying so
    assert errors["probability"].notna().all()
    assert errors["note"].notna().all()

    examples = summary["error_examples"]
    assert {e["error"] for e in examples} == {"false_merge", "missed_link"}
    assert all(e["for"] or e["against"] for e in examples)
    assert sum(summary["errors"].values()) == len(errors)


def test_the_console_lists_the_errors_with_their_reasons(resolved) -> None:
    env, root = resolved
    out = _ok(
        "evaluate", "--truth", str(root / "truth.csv"), "--errors", str(root / "e.csv"),
        "--show", "1", env=env,
    )  # fmt: skip
    assert "errors and why" in out
    assert "false_merge" in out and "missed_link" in out
    assert "strongest contributions to the log-odds" in out


def test_households_are_scored_when_the_truth_names_them(resolved) -> None:
    env, root = resolved
    persons = pd.read_csv(root / "persons.csv", dtype=str)
    truth = pd.read_csv(root / "truth.csv", dtype=str)
    truth["household_id"] = persons["household_id"]
    # truth says two resolved households are one: household recall drops below 1, precision stays
    a, b = persons["household_id"].dropna().unique()[:2]
    truth.loc[truth["household_id"] == b, "household_id"] = a
    truth.to_csv(root / "truth_households.csv", index=False)

    summary = json.loads(
        _ok("evaluate", "--truth", str(root / "truth_households.csv"), "--json", env=env)
    )
    households = summary["households"]
    assert households["pairwise"]["precision"] == pytest.approx(1.0)
    assert households["pairwise"]["recall"] < 1.0
    assert households["households_true"] == households["households_predicted"] - 1

    text = _ok("evaluate", "--truth", str(root / "truth_households.csv"), env=env)
    assert "households pairwise" in text and "households B-cubed" in text
    # a truth file without households scores persons only
    assert "households" not in json.loads(
        _ok("evaluate", "--truth", str(root / "truth.csv"), "--json", env=env)
    )
