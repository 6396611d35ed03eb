"""`ekjon resolve` reports blocking coverage per pair of sources and warns about pairs of sources
that can meet only on an exact identifier (issue 14)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from api.cli import app

runner = CliRunner()


def _write(folder: Path, source: str, kind: str, rows: list[dict[str, object]]) -> None:
    frame = pd.DataFrame(rows)
    frame.to_csv(folder / f"{source}.csv", index=False)
    fields = {c: c for c in frame.columns if c != "id"}
    mapping = {"source": source, "kind": kind, "record_id": ["id"], "fields": fields}
    (folder / f"{source}.yaml").write_text(yaml.safe_dump(mapping), encoding="utf-8")


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A SIM registry (names and phones only) and a survey (names, ages, the union, phones): they
    can meet only on a phone. An NID extract (names, dates, the district) meets the survey on the
    name and the birth year, and the SIM registry on nothing."""
    root = tmp_path_factory.mktemp("coverage")
    folder = root / "sources"
    folder.mkdir()
    _write(folder, "btrc_sim", "reference", [
        {"id": "s1", "full_name": "Abdul Karim", "phone": "01711234567"},
        {"id": "s2", "full_name": "Nurul Islam", "phone": "01811234567"},
    ])  # fmt: skip
    _write(folder, "bbs_nhd", "survey", [
        {"id": "h1", "full_name": "Abdul Karim", "age": 41, "district": "Dhaka",
         "upazila": "Savar", "union": "Ashulia", "phone": "01711234567"},
        {"id": "h2", "full_name": "Jahanara Khatun", "age": 35, "union": "Ashulia"},
    ])  # fmt: skip
    _write(folder, "ec_nid", "reference", [
        {"id": "e1", "full_name": "Md. Abdul Karim", "date_of_birth": "1980-03-11",
         "district": "Dhaka", "nid": "19802612345678901"},
    ])  # fmt: skip
    for path in folder.glob("bbs_nhd.yaml"):
        mapping = yaml.safe_load(path.read_text(encoding="utf-8"))
        mapping["fields"]["age"] = {"column": "age", "as_of": "2022-06-15"}
        path.write_text(yaml.safe_dump(mapping), encoding="utf-8")
    env = {"EKJON_HOME": str(root / "home"), "COLUMNS": "200"}
    result = runner.invoke(app, ["ingest", str(folder)], env=env)
    assert result.exit_code == 0, result.output
    return env


def test_the_json_report_has_coverage_per_pair_of_sources_and_the_warning(home) -> None:
    result = runner.invoke(app, ["resolve", "--no-publish", "--json"], env=home)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    pairs = {(p["source_a"], p["source_b"]): p for p in report["blocking"]["source_pairs"]}
    assert pairs[("bbs_nhd", "btrc_sim")]["rules"] == {"phone": 1}
    assert pairs[("bbs_nhd", "btrc_sim")]["can_meet"] == ["phone"]
    assert pairs[("bbs_nhd", "ec_nid")]["rules"].get("full_name_year") == 1
    warnings = report["blocking"]["warnings"]
    assert set(warnings) <= set(report["warnings"])
    only_ids = [w for w in warnings if "can meet only on an exact identifier (phone)" in w]
    assert len(only_ids) == 1 and "bbs_nhd and btrc_sim" in only_ids[0]
    # the SIM registry gives no NID, date or place: the extract can never meet it
    assert any("btrc_sim and ec_nid share no blocking key" in w for w in warnings)


def test_the_console_prints_the_coverage_table_and_the_warning(home) -> None:
    result = runner.invoke(app, ["resolve", "--no-publish"], env=home)
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "blocking coverage per pair of sources" in text
    assert "bbs_nhd x ec_nid" in text and "full_name_year 1" in text
    assert "warning: sources bbs_nhd and btrc_sim can meet only on an exact identifier" in text
