"""Ingest: every readable row is stored, every unreadable row and bad field is reported (nothing
is lost), re-ingest changes nothing, changes become versions, a killed ingest resumes cleanly."""

from __future__ import annotations

import csv
import gc
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from engine.ingest.mapping import load_mapping, mapping_from_dict
from engine.ingest.readers import BadRow, SourceFileError, read_rows
from engine.ingest.run import ingest_file
from engine.ingest.store import VALUE_FIELDS, RecordStore, StagedBatch, StoreError
from engine.record import CANONICAL_FIELDS

DATA = Path(__file__).parent / "data"
BROKEN_CSV = DATA / "dss_broken.csv"
BROKEN_YAML = DATA / "dss_broken.yaml"
ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def store(tmp_path: Path) -> RecordStore:
    with RecordStore(tmp_path / "home" / "records.sqlite") as s:
        yield s


def read_report(path: Path | None) -> list[dict[str, str]]:
    assert path is not None
    with path.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


# -- reading -----------------------------------------------------------------------------------


def wait_for_rows_done(proc: subprocess.Popen, db: Path, at_least: int) -> int:
    """Wait until the ingest run by ``proc`` notes ``at_least`` rows done in the store ``db``
    (or ends, or 120 s pass); returns the rows it noted last."""
    done = 0
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None and done < at_least:
        if db.exists():
            try:
                with sqlite3.connect(db, timeout=1) as con:
                    found = con.execute("SELECT rows_done FROM ingests").fetchone()
                done = found[0] if found else 0
            except sqlite3.OperationalError:  # the store is being created or locked
                pass
        time.sleep(0.02)
    return done


def test_row_numbers_count_data_rows_and_keep_blank_lines_numbered() -> None:
    rows = dict(read_rows(BROKEN_CSV, file_format="csv"))
    # header not counted: row 1 is the first data line; the blank line 11 keeps its number
    assert rows[1]["ben_id"] == "DSS-0001"
    assert rows[12]["ben_id"] == "DSS-0012"
    assert 11 not in rows
    assert rows[12]["name_en"] == "Hossain, Md. Delwar"  # a quoted comma is not a delimiter
    assert rows[1]["name_bn"] == "মোঃ আব্দুল করিম"
    assert isinstance(rows[3], BadRow) and "invalid utf-8" in rows[3].reason
    assert "Sushila Rani" in rows[3].text  # the bad line is kept for the report, bytes escaped
    assert isinstance(rows[4], BadRow) and "too few columns: 3" in rows[4].reason
    assert isinstance(rows[10], BadRow) and "too many columns: 15" in rows[10].reason


def test_an_unclosed_quote_does_not_swallow_the_rows_after_it(tmp_path: Path) -> None:
    path = tmp_path / "q.csv"
    path.write_text('id,name\n1,"Karim\n2,Rahim\n3,Jamal\n', encoding="utf-8")
    rows = dict(read_rows(path, file_format="csv"))
    assert isinstance(rows[1], BadRow) and "unclosed quote" in rows[1].reason
    assert rows[2] == {"id": "2", "name": "Rahim"}
    assert rows[3] == {"id": "3", "name": "Jamal"}


def test_byte_order_mark_and_crlf_are_read(tmp_path: Path) -> None:
    path = tmp_path / "excel.csv"
    path.write_bytes("\ufeffid,name\r\n1,রহিম\r\n".encode())
    assert dict(read_rows(path, file_format="csv")) == {1: {"id": "1", "name": "রহিম"}}


def test_jsonl_lines_that_are_not_objects_are_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_bytes(
        b'{"id": "1", "nid": 1234567890123}\n[1, 2]\n{"id": "3"\n\n{"id": "5", "name": "\xff"}\n'
    )
    rows = dict(read_rows(path, file_format="jsonl"))
    assert rows[1] == {"id": "1", "nid": "1234567890123"}  # numbers become text, digits intact
    assert isinstance(rows[2], BadRow) and "not an object" in rows[2].reason
    assert isinstance(rows[3], BadRow) and "not JSON" in rows[3].reason
    assert 4 not in rows  # blank line
    assert isinstance(rows[5], BadRow) and "invalid utf-8" in rows[5].reason


# -- the broken fixture: every problem reported, every good row kept ------------------------------


def test_broken_file_ingests_every_readable_row_and_reports_every_problem(
    store: RecordStore,
) -> None:
    report = ingest_file(store, load_mapping(BROKEN_YAML), BROKEN_CSV)

    assert report.rows_read == 11  # 12 lines after the header, one of them blank
    assert report.ingested == 6
    assert report.quarantined == 5
    quarantined = {int(r["row"]): r for r in read_report(report.quarantine_report)}
    assert set(quarantined) == {3, 4, 5, 9, 10}
    assert "invalid utf-8" in quarantined[3]["reason"]
    assert "too few columns" in quarantined[4]["reason"]
    assert "empty record_id" in quarantined[5]["reason"]
    assert "repeats row 1" in quarantined[9]["reason"]
    assert quarantined[9]["record_id"] == "DSS-0001"
    assert "too many columns" in quarantined[10]["reason"]
    assert "DSS-0004,Karim Mia" in quarantined[4]["value"]  # the row's text, to fix and resend

    warnings = read_report(report.warnings_report)
    assert report.field_warnings == len(warnings)
    by_place = {(int(w["row"]), w["field"]): w for w in warnings}
    assert by_place[(6, "date_of_birth")]["value"] == "31/02/1950"
    assert by_place[(7, "nid")]["value"] == "123456789012"
    assert by_place[(8, "phone")]["value"] == "+14155552671"
    assert all(w["reason"] and w["record_id"] for w in warnings)
    # no warning a reader of the fixture would not expect
    assert set(by_place) == {(6, "date_of_birth"), (7, "nid"), (8, "phone")}

    current = store.current().set_index("record_id")
    assert list(store.current().columns) == [*CANONICAL_FIELDS, "version", "invalid_fields"]
    assert sorted(current.index) == [
        "DSS-0001",
        "DSS-0002",
        "DSS-0006",
        "DSS-0007",
        "DSS-0008",
        "DSS-0012",
    ]
    assert current.loc["DSS-0001", "amount"] == 600  # the first row wins, not the repeat (700)
    assert current.loc["DSS-0001", "full_name_bn"] == "মোঃ আব্দুল করিম"
    assert current.loc["DSS-0001", "programme"] == "old_age_allowance"  # a constant
    assert current.loc["DSS-0001", "kind"] == "programme"
    assert current.loc["DSS-0002", "phone"] == "01812345678"  # Bangla digits cleaned
    assert current.loc["DSS-0007", "invalid_fields"] == ("nid",)
    assert current.loc["DSS-0007", "nid"] is None  # never used for matching
    assert current.loc["DSS-0001", "invalid_fields"] == ()
    # the Rocket wallet is 12 digits: valid because it is cleaned with the row's provider
    assert current.loc["DSS-0008", "account_number"] == "017111222334"
    assert current.loc["DSS-0008", "account_provider"] == "rocket"

    (version,) = store.history("dss_old_age", "DSS-0007")
    assert version.raw["nid"] == "123456789012"  # the raw value is kept
    assert "nid" in version.invalid and version.invalid["nid"]
    assert version.row == 7


def test_reingesting_the_same_file_changes_nothing(store: RecordStore) -> None:
    mapping = load_mapping(BROKEN_YAML)
    ingest_file(store, mapping, BROKEN_CSV)
    before = store.counts()
    frame_before = store.current()

    again = ingest_file(store, mapping, BROKEN_CSV)

    assert (again.ingested, again.unchanged, again.new_versions) == (0, 6, 0)
    after = store.counts()
    assert after["records"] == before["records"] and after["versions"] == before["versions"]
    pd.testing.assert_frame_equal(store.current(), frame_before)


def test_the_objects_alive_before_an_ingest_are_frozen_during_it_and_thawed_after(
    store: RecordStore,
) -> None:
    """The collector's full collections during an ingest walk only what the ingest made (they
    walked every object the process held, up to 190 ms each); afterwards the old objects are
    collected as before."""
    before = gc.get_freeze_count()
    frozen_during: list[int] = []
    ingest_file(
        store,
        load_mapping(BROKEN_YAML),
        BROKEN_CSV,
        progress=lambda _: frozen_during.append(gc.get_freeze_count()),
    )
    assert frozen_during and min(frozen_during) > before + 10_000
    assert gc.get_freeze_count() == before


def test_a_changed_row_becomes_a_new_version_and_the_old_one_is_kept(
    store: RecordStore, tmp_path: Path
) -> None:
    mapping = load_mapping(BROKEN_YAML)
    ingest_file(store, mapping, BROKEN_CSV)
    changed = tmp_path / "dss_broken.csv"
    changed.write_bytes(
        BROKEN_CSV.read_bytes().replace(
            b"Cumilla,Laksam,active,600", b"Cumilla,Laksam,suspended,600"
        )
    )

    report = ingest_file(store, mapping, changed)

    assert (report.ingested, report.unchanged, report.new_versions) == (0, 5, 1)
    old, new = store.history("dss_old_age", "DSS-0002")
    assert (old.version, old.is_current, old.values["status"]) == (1, False, "active")
    assert (new.version, new.is_current, new.values["status"]) == (2, True, "suspended")
    current = store.current().set_index("record_id")
    assert current.loc["DSS-0002", "status"] == "suspended"
    assert current.loc["DSS-0002", "version"] == 2
    assert store.counts()["records"] == 6 and store.counts()["versions"] == 7


GOOD_ROWS = [
    {
        "id": "P-1",
        "name": "Md. Rafiqul Islam",
        "name_bn": "মোঃ রফিকুল ইসলাম",
        "sex": "Male",
        "dob": "1961-07-01",
        "nid": "19611234567890123",
        "mobile": "01712000001",
        "mfs": "bKash",
        "wallet": "01712000001",
        "zila": "Bogura",
    },
    {
        "id": "P-2",
        "name": "Most. Shirin Akter",
        "name_bn": "মোছাঃ শিরিন আক্তার",
        "sex": "Female",
        "dob": "1975-02-14",
        "nid": "7512345678",
        "mobile": "+8801912000002",
        "mfs": "Nagad",
        "wallet": "01912000002",
        "zila": "Cumilla",
    },
    {
        "id": "P-3",
        "name": "Sushila Rani Das",
        "name_bn": "",
        "sex": "F",
        "dob": "",
        "nid": "",
        "mobile": "01812000003",
        "mfs": "",
        "wallet": "",
        "zila": "Sylhet",
    },
]


def good_mapping(source: str):
    return mapping_from_dict(
        {
            "source": source,
            "kind": "programme",
            "record_id": "id",
            "fields": {
                "full_name": "name",
                "full_name_bn": "name_bn",
                "gender": "sex",
                "date_of_birth": {"column": "dob", "formats": ["%Y-%m-%d"]},
                "nid": "nid",
                "phone": "mobile",
                "account_provider": "mfs",
                "account_number": "wallet",
                "district": "zila",
            },
        }
    )


def test_csv_parquet_and_jsonl_read_alike(store: RecordStore, tmp_path: Path) -> None:
    frame = pd.DataFrame(GOOD_ROWS)
    frame.to_csv(tmp_path / "p.csv", index=False)
    frame.replace("", None).to_parquet(tmp_path / "p.parquet", index=False)
    with (tmp_path / "p.jsonl").open("w", encoding="utf-8") as f:
        for row in GOOD_ROWS:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")

    for fmt in ("csv", "parquet", "jsonl"):
        report = ingest_file(store, good_mapping(fmt), tmp_path / f"p.{fmt}")
        assert (report.rows_read, report.ingested, report.quarantined) == (3, 3, 0), fmt
        assert report.field_warnings == 0, fmt

    frames = [
        store.current([fmt]).drop(columns="source").reset_index(drop=True)
        for fmt in ("csv", "parquet", "jsonl")
    ]
    pd.testing.assert_frame_equal(frames[0], frames[1])
    pd.testing.assert_frame_equal(frames[0], frames[2])
    assert frames[0].loc[0, "full_name_bn"] == "মোঃ রফিকুল ইসলাম"
    assert store.sources() == ["csv", "jsonl", "parquet"]


def test_typed_parquet_columns_are_read_as_text(store: RecordStore, tmp_path: Path) -> None:
    import datetime as dt

    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table(
        {
            "id": pa.array([101, 102], pa.int64()),
            "nid": pa.array([1234567890123, None], pa.int64()),
            "dob": pa.array([dt.date(1950, 3, 12), dt.date(1961, 7, 1)]),
            "amount": pa.array([600.0, 750.5]),
        }
    )
    pq.write_table(table, tmp_path / "typed.parquet")
    mapping = mapping_from_dict(
        {
            "source": "typed",
            "kind": "programme",
            "record_id": "id",
            "fields": {"nid": "nid", "date_of_birth": "dob", "amount": "amount"},
        }
    )
    report = ingest_file(store, mapping, tmp_path / "typed.parquet")
    assert (report.ingested, report.field_warnings) == (2, 0)
    current = store.current().set_index("record_id")
    assert current.loc["101", "nid"] == "1234567890123"  # an integer column keeps every digit
    assert current.loc["102", "nid"] is None
    assert current.loc["101", "date_of_birth"] == "1950-03-12"
    assert current.loc["102", "amount"] == 750.5


def test_composite_record_ids_join_columns_with_a_colon(store: RecordStore, tmp_path: Path) -> None:
    path = tmp_path / "nhd.csv"
    path.write_text(
        "hh_no,member_no,name,age\n"
        "H-001,1,Abdul Karim,61\nH-001,2,Rahima Begum,55\nH-002,,Jamal,30\n",
        encoding="utf-8",
    )
    mapping = mapping_from_dict(
        {
            "source": "nhd",
            "kind": "survey",
            "record_id": ["hh_no", "member_no"],
            "fields": {"full_name": "name", "age": {"column": "age", "as_of": "2017-03-01"}},
        }
    )
    report = ingest_file(store, mapping, path)
    assert report.ingested == 2
    current = store.current().set_index("record_id")
    assert sorted(current.index) == ["H-001:1", "H-001:2"]
    assert current.loc["H-001:1", "age"] == 61
    assert current.loc["H-001:1", "age_as_of"] == "2017-03-01"  # the survey date, from the mapping
    (quarantined,) = read_report(report.quarantine_report)
    assert quarantined["row"] == "3" and "'member_no'" in quarantined["reason"]


def test_a_missing_mapped_column_is_a_whole_file_error(store: RecordStore, tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("ben_id,name\n1,Karim\n", encoding="utf-8")
    mapping = mapping_from_dict(
        {"source": "s", "kind": "programme", "record_id": "ben_id", "fields": {"nid": "nid_no"}}
    )
    with pytest.raises(SourceFileError, match=r"'nid_no'.*the file has: ben_id, name"):
        ingest_file(store, mapping, path)
    assert store.counts()["ingests"] == 0  # nothing written


# -- the command line --------------------------------------------------------------------------


def run_cli(args: list[str], home: Path, monkeypatch: pytest.MonkeyPatch):
    from typer.testing import CliRunner

    from api.cli import app

    monkeypatch.setenv("EKJON_HOME", str(home))
    return CliRunner().invoke(app, args)


def test_cli_json_summary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    result = run_cli(
        ["ingest", "--mapping", str(BROKEN_YAML), str(BROKEN_CSV), "--json"], home, monkeypatch
    )
    assert result.exit_code == 0, result.output  # quarantined rows are no failure
    summary = json.loads(result.stdout)
    (file,) = summary["files"]
    assert {k: file[k] for k in ("rows_read", "ingested", "unchanged", "quarantined")} == {
        "rows_read": 11,
        "ingested": 6,
        "unchanged": 0,
        "quarantined": 5,
    }
    assert file["new_versions"] == 0 and file["field_warnings"] == 3
    assert Path(file["quarantine_report"]).parent == home / "reports"
    assert Path(file["warnings_report"]).is_file()
    assert summary["errors"] == [] and summary["totals"]["ingested"] == 6


def _two_sources(folder: Path) -> Path:
    """A folder of two files with their mappings beside them (sources ``dss_a`` and ``dss_b``)."""
    folder.mkdir()
    for name in ("dss_a", "dss_b"):
        (folder / f"{name}.csv").write_bytes(BROKEN_CSV.read_bytes())
        (folder / f"{name}.yaml").write_text(
            BROKEN_YAML.read_text(encoding="utf-8").replace(
                "source: dss_old_age", f"source: {name}"
            ),
            encoding="utf-8",
        )
    return folder


def test_cli_ingests_a_directory_of_files_with_mappings_beside_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = _two_sources(tmp_path / "synth")
    (folder / "notes.csv").write_text("no mapping beside me\n", encoding="utf-8")

    result = run_cli(["ingest", str(folder), "--json"], tmp_path / "home", monkeypatch)

    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert [f["source"] for f in summary["files"]] == ["dss_a", "dss_b"]
    assert summary["skipped"] == [str(folder / "notes.csv")]
    assert summary["totals"]["ingested"] == 12


def test_cli_summary_shows_each_files_time_and_rows_a_second(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Several files: the summary table gives each file's seconds and rows a second (the
    ingest-speed target is per file), and the total's."""
    folder = _two_sources(tmp_path / "synth")

    monkeypatch.setenv("COLUMNS", "160")  # a wide terminal: one line a row
    result = run_cli(["ingest", str(folder)], tmp_path / "home", monkeypatch)

    assert result.exit_code == 0, result.output
    summary = result.stdout[result.stdout.index("ingest summary") :]
    assert "rows/s" in summary
    rows = [line.split("│") for line in summary.splitlines() if line.startswith("│")]
    speeds = {cells[1].strip(): cells[-3:-1] for cells in rows if len(cells) > 3}
    assert set(speeds) >= {"dss_a.csv", "dss_b.csv", "total"}
    for seconds, rate in speeds.values():
        assert float(seconds) >= 0
        assert rate.strip() == "-" or int(rate.strip().replace(",", "")) > 0


def test_cli_exits_non_zero_on_whole_file_errors_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        BROKEN_YAML.read_text(encoding="utf-8").replace("column: dob", "column: birth_date"),
        encoding="utf-8",
    )
    result = run_cli(["ingest", "-m", str(bad), str(BROKEN_CSV)], tmp_path / "home", monkeypatch)
    assert result.exit_code == 1
    assert "birth_date" in result.output and "ben_id" in result.output  # names what exists

    result = run_cli(["ingest", str(tmp_path / "missing.csv")], tmp_path / "home", monkeypatch)
    assert result.exit_code == 1 and "file not found" in result.output

    orphan = tmp_path / "orphan.csv"
    orphan.write_bytes(BROKEN_CSV.read_bytes())
    result = run_cli(["ingest", str(orphan)], tmp_path / "home", monkeypatch)
    assert result.exit_code == 1 and "no mapping given" in result.output

    result = run_cli(
        ["ingest", "-m", str(BROKEN_YAML), str(BROKEN_CSV)], tmp_path / "home", monkeypatch
    )
    assert result.exit_code == 0
    assert "quarantined" in result.output and "repeats row 1" in result.output


# -- a killed ingest ---------------------------------------------------------------------------


def write_big_file(path: Path, rows: int) -> None:
    districts = ["Dhaka", "Bogura", "Cumilla", "Sylhet", "Khulna", "Rangpur", "Barishal"]
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["ben_id", "name", "dob", "nid", "mobile", "zila"])
        for i in range(rows):
            w.writerow(
                [
                    f"B{i:07d}",
                    f"Abdul Karim {i % 997}",
                    f"{1 + i % 28:02d}/{1 + i % 12:02d}/{1940 + i % 40}",
                    f"{1000000000000 + i * 7919}",
                    f"017{i % 100000000:08d}",
                    districts[i % len(districts)],
                ]
            )


@pytest.mark.slow
def test_a_killed_ingest_resumes_without_duplicates(tmp_path: Path) -> None:
    rows = 30_000
    data = tmp_path / "big.csv"
    write_big_file(data, rows)
    (tmp_path / "big.yaml").write_text(
        "source: big\nkind: programme\nrecord_id: ben_id\nfields:\n  full_name: name\n"
        "  date_of_birth: {column: dob, formats: ['%d/%m/%Y']}\n  nid: nid\n  phone: mobile\n"
        "  district: zila\n",
        encoding="utf-8",
    )
    home = tmp_path / "home"
    env = {**os.environ, "EKJON_HOME": str(home)}
    command = [
        sys.executable,
        "-c",
        "from api.cli import main; main()",
        "ingest",
        str(data),
        "--chunk-rows",
        "1000",
        "--json",
    ]

    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE)
    db = home / "records.sqlite"
    wait_for_rows_done(proc, db, 3_000)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the ingest finished before it could be killed"

    with RecordStore(db) as store:
        (run,) = store.ingests()
        assert run.status == "running" and 0 < run.rows_done < rows
        # whole chunks or nothing: the records match the run's own count
        assert store.counts()["records"] == run.ingested
        assert len(store.current()) == run.ingested  # readable meanwhile, nothing half-written

    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, timeout=300)
    assert result.returncode == 0, result.stderr.decode()
    (file,) = json.loads(result.stdout)["files"]
    assert file["resumed"] is True
    assert file["rows_read"] == rows and file["ingested"] == rows and file["quarantined"] == 0

    with RecordStore(db) as store:
        counts = store.counts()
        assert counts["records"] == rows and counts["versions"] == rows
        current = store.current()
        assert current["record_id"].is_unique and len(current) == rows


def test_a_record_another_writer_stores_meanwhile_gets_a_new_version_not_a_second_first(
    store: RecordStore,
) -> None:
    # the run begins on a source with no records, whose rows it need not look up while it alone
    # writes the source; a record stored meanwhile (the API's storing resolve) is looked up
    run = store.begin_ingest(
        source="dss",
        kind="beneficiary",
        file="dss.csv",
        file_sha256="0" * 64,
        file_size=1,
        mapping={},
        mapping_sha256="0" * 64,
    )

    def one(name: str) -> StagedBatch:
        values = {"kind": "beneficiary", "full_name": name}
        return StagedBatch(
            record_ids=["R-1"],
            rows=[1],
            hashes=[name],
            values=[[values.get(f)] for f in VALUE_FIELDS],
            raw={"full_name": [name]},
            invalid=[None],
        )

    store.store_records(one("Rahima Begum"), source="dss", kind="beneficiary", origin="api")
    result = store.commit_chunk(run, one("Amena Khatun"), rows_done=1, rows_read=1)

    assert (result.ingested, result.new_versions) == (0, 1)
    old, new = store.history("dss", "R-1")
    assert (old.version, old.values["full_name"]) == (1, "Rahima Begum")
    assert (new.version, new.is_current, new.values["full_name"]) == (2, True, "Amena Khatun")


def test_records_stored_together_are_each_their_own_run_and_a_failing_one_is_undone_alone(
    store: RecordStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a group of the API's storing requests: one transaction, one finished ingest run a record
    def one(record_id: str, name: str) -> StagedBatch:
        values = {"kind": "beneficiary", "full_name": name}
        return StagedBatch(
            record_ids=[record_id],
            rows=[1],
            hashes=[name],
            values=[[values.get(f)] for f in VALUE_FIELDS],
            raw={"full_name": [name]},
            invalid=[None],
        )

    write_chunk = store._write_chunk

    def full_for_r2(run: Any, batch: Any, **kwargs: Any) -> Any:
        result = write_chunk(run, batch, **kwargs)
        if batch.record_ids == ["R-2"]:  # written, then a failure: undone
            raise StoreError("disk full while storing R-2")
        return result

    monkeypatch.setattr(store, "_write_chunk", full_for_r2)
    sent = [
        (one(f"R-{i}", name), "dss", "beneficiary", f"api request {i}", [])
        for i, name in enumerate(("Rahima Begum", "Amena Khatun", "Bilkis Akter", "Rahima Begum"))
    ]
    sent[3] = (one("R-0", "Rahima Begum"), "dss", "beneficiary", "api request 3", [])
    done = store.store_each(sent)

    assert isinstance(done[2], StoreError)
    counts = [(r.ingested, r.new_versions, r.unchanged) for _, r in done[:2] + done[3:]]
    assert counts == [(1, 0, 0), (1, 0, 0), (0, 0, 1)]  # the last sends R-0 again, unchanged
    assert store.history("dss", "R-2") == []
    runs = [run for run in store.ingests("dss")]
    assert sorted(run.file for run in runs) == ["api request 0", "api request 1", "api request 3"]
    assert {run.status for run in runs} == {"finished"}


def test_the_snapshot_a_first_ingest_leaves_is_what_the_database_holds(
    store: RecordStore, tmp_path: Path
) -> None:
    # a source's first ingest keeps its delta as the snapshot; a second one adds to it
    mapping = load_mapping(BROKEN_YAML)
    ingest_file(store, mapping, BROKEN_CSV)
    (snapshot,) = store.snapshot_dir.glob("*.parquet")
    kept = tmp_path / "kept.parquet"
    kept.write_bytes(snapshot.read_bytes())
    first = snapshot.stat().st_mtime_ns
    from_snapshot = store.current_arrow().sort_by("record_id")
    assert snapshot.stat().st_mtime_ns == first  # up to date: read, not rebuilt
    snapshot.unlink()
    assert from_snapshot.equals(store.current_arrow().sort_by("record_id"))  # rebuilt
    os.replace(kept, snapshot)
    changed = tmp_path / "dss_broken.csv"
    changed.write_bytes(BROKEN_CSV.read_bytes().replace(b",active,600", b",suspended,600"))
    ingest_file(store, mapping, changed)
    updated = store.current_arrow().sort_by("record_id")

    snapshot.unlink()
    rebuilt = store.current_arrow().sort_by("record_id")

    assert len(from_snapshot) == 6
    assert updated.equals(rebuilt)
    assert updated.column("version").to_pylist() != from_snapshot.column("version").to_pylist()


@pytest.mark.parametrize("parallel", [True, False])
def test_a_snapshot_written_a_few_chunks_at_a_time_is_what_the_database_holds(
    store: RecordStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, parallel: bool
) -> None:
    # the delta is written in row groups of DELTA_ROWS rows, the last few chunks' rows at the end
    from engine.ingest import batches

    monkeypatch.setattr(batches, "DELTA_ROWS", 2_500)
    data = tmp_path / "big.csv"
    write_big_file(data, 7_000)
    mapping = mapping_from_dict(
        {
            "source": "big",
            "kind": "programme",
            "record_id": "ben_id",
            "fields": {"full_name": "name", "nid": "nid", "district": "zila"},
        }
    )
    ingest_file(store, mapping, data, chunk_rows=1_000, parallel=parallel)
    (snapshot,) = store.snapshot_dir.glob("*.parquet")
    from_snapshot = store.current_arrow().sort_by("record_id")
    snapshot.unlink()
    rebuilt = store.current_arrow().sort_by("record_id")

    assert len(from_snapshot) == 7_000
    assert from_snapshot.equals(rebuilt)


def test_a_snapshot_delta_that_cannot_be_written_is_rebuilt_from_the_database(
    store: RecordStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pyarrow.parquet as pq

    write_table = pq.ParquetWriter.write_table

    def full(writer: Any, *args: Any, **kwargs: Any) -> None:
        if ".delta." in str(writer.where):  # the delta fails, rebuilding the snapshot works
            raise OSError("disk full")
        write_table(writer, *args, **kwargs)

    monkeypatch.setattr(pq.ParquetWriter, "write_table", full)
    report = ingest_file(store, load_mapping(BROKEN_YAML), BROKEN_CSV)
    monkeypatch.undo()
    current = store.current_arrow().sort_by("record_id")
    for path in store.snapshot_dir.glob("*.parquet"):
        path.unlink()

    assert report.ingested == 6
    assert [r.status for r in store.ingests()] == ["finished"]
    assert list(store.snapshot_dir.glob("*.tmp")) == []
    assert current.equals(store.current_arrow().sort_by("record_id"))
