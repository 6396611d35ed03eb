"""`ekjon review`, `ekjon match` and `ekjon explain` on a resolved home, as a user types them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from api.cli import app

runner = CliRunner()


def _run(*args: str, env: dict[str, str]):
    return runner.invoke(app, list(args), env={**env, "COLUMNS": "200"})


def _ok(*args: str, env: dict[str, str]) -> str:
    result = _run(*args, env=env)
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.fixture(scope="module")
def resolved(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, str], pd.DataFrame]:
    """A small world, ingested and resolved; its persons as `ekjon export persons` writes them."""
    root = tmp_path_factory.mktemp("review")
    env = {"EKJON_HOME": str(root / "home")}
    _ok("synth", "--persons", "300", "--seed", "8", "--out", str(root / "world"), env=env)
    _ok("ingest", str(root / "world"), env=env)
    _ok("resolve", "--no-publish", env=env)
    _ok("export", "persons", "--out", str(root / "persons.csv"), env=env)
    persons = pd.read_csv(root / "persons.csv", dtype=str)
    persons["key"] = persons["source"] + "/" + persons["record_id"]
    return env, persons


def test_a_decision_is_kept_listed_and_refused_for_unknown_records(resolved) -> None:
    env, persons = resolved
    a, b = persons["key"].iloc[0], persons["key"].iloc[1]
    out = _ok("review", "not-same", a, b, "--reason", "two brothers", env=env)
    assert "not the same person" in out
    listed = json.loads(_ok("review", "list", "--json", env=env))
    assert [(d["a"], d["b"], d["verdict"]) for d in listed] == [(min(a, b), max(a, b), "not_same")]

    unknown = _run("review", "same", a, "dss/no-such-record", "--reason", "x", env=env)
    assert unknown.exit_code == 1
    assert "dss/no-such-record" in unknown.output and "not a known record" in unknown.output


def test_history_of_a_person_and_a_typo(resolved) -> None:
    env, persons = resolved
    person = persons["person_id"].iloc[0]
    history = json.loads(_ok("review", "history", person, "--json", env=env))
    assert history["id"]["id"] == person
    assert history["events"][0]["event"] == "new"

    typo = _run("review", "history", person[:-1] + str((int(person[-1]) + 1) % 10), env=env)
    assert typo.exit_code == 1 and "check for a typo" in typo.output


def test_match_finds_a_known_records_person_and_refuses_bad_input(resolved) -> None:
    env, persons = resolved
    home = Path(env["EKJON_HOME"])
    from engine.ingest.store import RecordStore

    with RecordStore(home / "records.sqlite") as store:
        records = store.current()
    # a record the batch resolved, sent again under a new id: the same person
    known = records[records["nid"].notna() & records["full_name"].notna()].iloc[0]
    fields = ("full_name", "nid", "date_of_birth", "district", "phone")
    record = {f: str(known[f]) for f in fields if pd.notna(known[f])}
    record.update(source=str(known["source"]), record_id="resent-1")
    answer = json.loads(_ok("match", json.dumps(record), "--json", env=env))
    expected = persons.loc[
        (persons["source"] == known["source"]) & (persons["record_id"] == known["record_id"]),
        "person_id",
    ].iloc[0]
    assert answer["person_id"] == expected

    bad_field = _run("match", json.dumps({**record, "phone": "abc"}), env=env)
    assert bad_field.exit_code == 0 and "phone 'abc'" in bad_field.output
    unknown = _run("match", json.dumps({"source": "dss", "colour": "red"}), env=env)
    assert unknown.exit_code == 1
    assert "unknown field 'colour'" in unknown.output and "'record_id' is empty" in unknown.output
    assert _run("match", "not json", env=env).exit_code == 1


def test_explain_names_both_records(resolved) -> None:
    env, persons = resolved
    a, b = persons["key"].iloc[2], persons["key"].iloc[3]
    out = _ok("explain", a, b, env=env)
    assert a in out and b in out and "probability" in out


def test_a_decision_contradicting_earlier_ones_is_refused_naming_them(resolved) -> None:
    env, persons = resolved
    a, b, c = sorted(persons["key"].iloc[10:13])
    _ok("review", "same", a, b, "--reason", "same NID card", env=env)
    _ok("review", "same", b, c, "--reason", "same photo", env=env)

    refused = _run("review", "not-same", a, c, "--reason", "different fathers", env=env)

    assert refused.exit_code == 1
    assert "Traceback" not in refused.output
    assert f"{a} same {b} (by" in refused.output and f"{b} same {c} (by" in refused.output
    assert "reverse it first" in refused.output
    listed = json.loads(_ok("review", "list", "--json", "--record", a, env=env))
    assert [d["verdict"] for d in listed] == ["same"]


@pytest.fixture
def copied(resolved, tmp_path: Path) -> tuple[dict[str, str], pd.DataFrame, Path]:
    """A copy of the resolved home, to damage."""
    import shutil

    env, persons = resolved
    home = tmp_path / "home"
    shutil.copytree(env["EKJON_HOME"], home)
    return {**env, "EKJON_HOME": str(home)}, persons, home


def _damage(path: Path, start: float = 0.5) -> None:
    """Overwrite the file from ``start`` (a fraction of its size) on, as a bad disk might."""
    size = path.stat().st_size
    with path.open("r+b") as file:
        file.seek(int(size * start))
        file.write(b"\xff" * (size - int(size * start)))


def _truncate(path: Path) -> None:
    """Cut the file in half, as a full disk or a killed copy leaves it."""
    with path.open("r+b") as file:
        file.truncate(path.stat().st_size // 2)


def _refused(result, path: Path, *advice: str) -> None:
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    assert str(path) in result.output.replace("\n", "")
    for words in advice:
        assert words in result.output


def test_a_damaged_ledger_names_the_file_and_what_to_do(copied) -> None:
    env, persons, home = copied
    ledger = home / "identity.sqlite"
    _damage(ledger, 0.3)
    for asked in (persons["person_id"].iloc[0], persons["key"].iloc[0]):
        result = _run("review", "history", asked, env=env)
        _refused(result, ledger, "damaged", "backup")


def test_a_truncated_assignment_names_the_file_and_what_to_do(copied) -> None:
    env, _, home = copied
    assignment = home / "resolution" / "assignment.parquet"
    _truncate(assignment)
    result = _run("export", "persons", "--out", str(home / "persons.csv"), env=env)
    _refused(result, assignment, "ekjon resolve")


def test_a_truncated_incremental_index_names_the_file_and_what_to_do(copied) -> None:
    env, _, home = copied
    record = json.dumps({"source": "dss_old_age", "record_id": "new-1", "full_name": "Abdul Karim"})
    # what match reads: the memory-mapped tables (engine.incremental.tables) and the state file
    for name in (
        "tables/prepared.arrow",
        "tables/keys.arrow",
        "tables/records.arrow",
        "tables/meta.json",
        "incremental.json",
    ):
        _match_refused_while_truncated(home / "resolution" / "incremental" / name, record, env)
    assert _run("match", record, env=env).exit_code == 0
    # a state without the tables (an older ekjon's) is read from its Parquet files
    shutil.rmtree(home / "resolution" / "incremental" / "tables")
    for name in ("prepared.parquet", "keys.parquet"):
        _match_refused_while_truncated(home / "resolution" / "incremental" / name, record, env)
    assert _run("match", record, env=env).exit_code == 0


def _match_refused_while_truncated(damaged: Path, record: str, env: dict[str, str]) -> None:
    """`ekjon match` refuses, naming ``damaged`` and `ekjon resolve`, while the file is cut short;
    the file is put back afterwards."""
    backup = damaged.read_bytes()
    _truncate(damaged)
    _refused(_run("match", record, env=env), damaged, "ekjon resolve")
    damaged.write_bytes(backup)
