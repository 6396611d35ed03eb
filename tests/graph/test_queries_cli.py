"""`ekjon findings ...` on the hand-built world, in the embedded store under $EKJON_HOME."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from api.cli import findings
from engine.publish import publish
from graph.embedded import EmbeddedStore
from tests.graph.queries_world import AGENT_WALLET, FARM_PHONE, world

runner = CliRunner()


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> typer.Typer:
    home = tmp_path_factory.mktemp("home")
    with EmbeddedStore(home / "graph", fsync=False) as store:
        publish(store, *world())
    mp = pytest.MonkeyPatch()
    mp.setenv("EKJON_HOME", str(home))
    cli = typer.Typer()
    cli.command("noop")(lambda: None)  # a group, so `findings` is a sub-command as in ekjon
    findings.register(cli)
    yield cli
    mp.undo()


def _run(app: typer.Typer, *args: str):
    result = runner.invoke(app, ["findings", *args], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    return result


def test_programmes_cleans_the_value_first(app) -> None:
    # Karim's NID in Bangla digits, 17-digit form
    result = _run(app, "programmes", "১৯৫৫২৬১২৩৪৫০০০০০১")
    assert "old_age_allowance" in result.output and "P1" in result.output


def test_suspicious_writes_the_csv(app, tmp_path: Path) -> None:
    out = tmp_path / "suspicious.csv"
    _run(app, "suspicious", "--out", str(out))
    found = pd.read_csv(out, dtype=str)
    assert set(found["identifier"]) == {f"bkash:{AGENT_WALLET}", FARM_PHONE}
    assert {"identifier_type", "identifier", "risk", "persons", "reasons"} <= set(found.columns)


def test_double_dipping_and_other_findings(app, tmp_path: Path) -> None:
    _run(app, "double-dipping", "--out", str(tmp_path / "dd.csv"))
    found = pd.read_csv(tmp_path / "dd.csv", dtype=str)
    assert {"person_id", "rule", "programmes", "record_ids"} <= set(found.columns)
    assert "duplicate_enrolment" in set(found["rule"])
    _run(app, "reference-checks", "--out", str(tmp_path / "ref.csv"))
    assert "wallet_not_own" in set(pd.read_csv(tmp_path / "ref.csv")["check"])
    _run(app, "coverage", "--pmt-cutoff", "30", "--out", str(tmp_path / "cov.csv"))
    assert list(pd.read_csv(tmp_path / "cov.csv")["household_id"]) == ["H20", "H21"]


def test_neighbourhood_png(app, tmp_path: Path) -> None:
    result = _run(app, "neighbourhood", "P5", "--png", str(tmp_path / "p5.png"))
    assert "Person P5" in result.output
    assert (tmp_path / "p5.png").read_bytes()[:4] == b"\x89PNG"


def test_unknown_values_and_bad_policies_fail_clearly(app, tmp_path: Path) -> None:
    result = runner.invoke(app, ["findings", "programmes", "01700000000"])
    assert result.exit_code == 1 and "names no person" in result.output
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nprogrammes: {}\n", encoding="utf-8")
    result = runner.invoke(app, ["findings", "double-dipping", "--policy", str(bad)])
    assert result.exit_code == 1 and "'programmes'" in result.output
