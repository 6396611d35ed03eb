"""Whole resolve runs on small hand-made homes: what goes wrong with odd input, and what the run
reports."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from engine.home import Home
from engine.run import run_batch
from tests.engine.resolve.homes import NAMES, PLACE, ingest, write_source


def test_one_source_whose_records_link_to_nothing_resolves(tmp_path: Path) -> None:
    rows = [
        {"id": str(i), "full_name": name, "date_of_birth": f"19{50 + i}-01-15", **PLACE}
        for i, name in enumerate(NAMES)
    ]
    write_source(tmp_path / "world", "dss_oa", rows, "old_age_allowance")
    home = Home.of(tmp_path / "home")
    ingest(home, tmp_path / "world")

    report = run_batch(home)

    assert report.records == report.persons == len(NAMES)
    assignment = pd.read_parquet(home.assignment)
    assert assignment["person_id"].nunique() == len(NAMES)
