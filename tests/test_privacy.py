"""Personal data at rest: a full run leaves nothing readable by other users, and no message at
default verbosity carries a full NID or phone number."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from api.cli import app
from engine.privacy import mask_text, mask_value, tighten

runner = CliRunner()


@pytest.fixture
def loose_umask() -> Iterator[None]:
    """The caller's umask is the usual 022 (files 0644); ekjon must not rely on it."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def _ok(*args: str, env: dict[str, str]) -> str:
    result = runner.invoke(app, list(args), env={**env, "COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return result.output


def _modes(root: Path) -> dict[str, str]:
    """Every path under ``root`` whose mode lets another user in, with that mode."""
    loose = {}
    for path in [root, *root.rglob("*")]:
        mode = stat.S_IMODE(path.lstat().st_mode)
        if mode & 0o077:
            loose[str(path.relative_to(root))] = oct(mode)
    return loose


def test_a_full_run_leaves_nothing_readable_by_other_users(
    tmp_path: Path, loose_umask: None
) -> None:
    home = tmp_path / "home"
    env = {"EKJON_HOME": str(home)}
    _ok("synth", "--persons", "300", "--seed", "5", "--out", str(tmp_path / "world"), env=env)
    _ok("ingest", str(tmp_path / "world"), env=env)
    _ok("resolve", env=env)
    _ok("findings", "suspicious", "--out", str(home / "exports" / "suspicious.csv"), env=env)
    _ok("export", "persons", "--out", str(tmp_path / "persons.csv"), env=env)
    _ok("keys", "create", "--role", "analyst", "--name", "modes", env=env)
    made = {p.name for p in home.iterdir()}
    assert {
        "records.sqlite",
        "identity.sqlite",
        "graph",
        "resolution",
        "reports",
        "api.sqlite",
    } <= made
    assert _modes(home) == {}
    assert stat.S_IMODE((tmp_path / "persons.csv").stat().st_mode) == 0o600

    _ok("export", "persons", "--out", str(tmp_path / "shared.csv"), "--world-readable", env=env)
    assert stat.S_IMODE((tmp_path / "shared.csv").stat().st_mode) == 0o644


def test_a_home_made_with_loose_modes_is_tightened_with_one_line(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / "reports").mkdir(parents=True)
    report = home / "reports" / "old.csv"
    report.write_text("row,value\n1,19901234567890123\n")
    home.chmod(0o755)
    (home / "reports").chmod(0o775)
    report.chmod(0o644)
    output = _ok("review", "list", env={"EKJON_HOME": str(home)})
    assert "made private" in output and output.count("made private") == 1
    assert _modes(home) == {}
    assert tighten(home) == []  # nothing left to do


def _bad_values(home: Path) -> set[str]:
    """The raw values of every field warning the ingest reported (the reports keep them)."""
    values: set[str] = set()
    for report in (home / "reports").glob("*-warnings.csv"):
        frame = pd.read_csv(report, dtype=str)
        values |= {v for v in frame["value"].dropna() if sum(c.isdigit() for c in v) >= 10}
    return values


def test_no_message_carries_an_identifier_unless_values_are_shown(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    home = tmp_path / "home"
    env = {"EKJON_HOME": str(home)}
    world = tmp_path / "world"
    _ok("synth", "--persons", "1500", "--seed", "9", "--out", str(world), env=env)
    # a source whose phones, NIDs and wallets are all wrong: every one is a field warning
    frame = pd.read_csv(world / "dss_old_age.csv", dtype=str)
    for column in frame.columns:
        if any(w in column.lower() for w in ("phone", "mobile", "nid", "wallet", "account")):
            frame[column] = [
                f"0{n:010d}9" for n in range(1_200_000_000, 1_200_000_000 + len(frame))
            ]
    frame.to_csv(world / "dss_old_age.csv", index=False)

    with caplog.at_level("DEBUG"):
        quiet = _ok("ingest", str(world), env=env)
        logged = "\n".join(r.getMessage() for r in caplog.records)
    bad = _bad_values(home)
    assert len(bad) > 50
    said = quiet + logged
    assert not [v for v in bad if v in said], "identifiers in messages at default verbosity"
    assert stat.S_IMODE(next((home / "reports").glob("*-warnings.csv")).stat().st_mode) == 0o600

    # the operator asks for the values: the first warnings on screen show them in full
    fresh = {"EKJON_HOME": str(tmp_path / "fresh")}
    loud = _ok("--show-values", "ingest", str(world / "dss_old_age.csv"), env=fresh)
    assert any(v in loud for v in bad)


def test_masking_keeps_the_last_three_digits_and_leaves_codes_alone() -> None:
    assert mask_value("1990123456789") == "**********789"
    assert mask_value("bkash:01711000001") == "bkash:********001"
    text = "record ec_nid/19901234567890123 shares NID 3214694717 with dss/OA879561823"
    assert mask_text(text) == (
        "record ec_nid/**************123 shares NID *******717 with dss/OA879561823"
    )
    assert mask_text("household BD50388175900002 on 2022-06-15") == (
        "household BD50388175900002 on 2022-06-15"
    )


def test_an_answer_is_masked_in_every_text_that_holds_an_identifier() -> None:
    from api.masking import mask

    answer = {
        "person_id": "ec_nid/১৯৯০১২৩৪৫৬",  # ten Bangla digits: an identifier too
        "candidates": [{"reasons": ["NID 3214694717 is none of theirs", "same NID card"]}],
        "record": "dss/OA879561823",
        "short": "123456789",
        "amount": 600.0,
        "counts": (3, None, True),
        "node": {"label": "Phone", "id": "01711000001", "props": {"number": "01711000001"}},
    }
    assert mask(answer) == {
        "person_id": "ec_nid/*******৪৫৬",
        "candidates": [{"reasons": ["NID *******717 is none of theirs", "same NID card"]}],
        "record": "dss/OA879561823",
        "short": "123456789",
        "amount": 600.0,
        "counts": [3, None, True],
        "node": {"label": "Phone", "id": "********001", "props": {"number": "********001"}},
    }
