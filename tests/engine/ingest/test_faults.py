"""Ingest under faults and bad input (issue 13): nothing lost, nothing wrong.

Each test is one defect a user met: a Bangla-digit copy of a file doubling its records, a killed
ingest resolved as if whole, files and values that gave a traceback or were silently taken.
"""

from __future__ import annotations

import csv
import json
import sqlite3
from datetime import date as dt_date
from pathlib import Path

import pytest

from engine.ingest.mapping import mapping_from_dict
from engine.ingest.run import ingest_file
from engine.ingest.store import RecordStore

BANGLA = str.maketrans("0123456789", "০১২৩৪৫৬৭৮৯")


@pytest.fixture
def store(tmp_path: Path) -> RecordStore:
    with RecordStore(tmp_path / "home" / "records.sqlite") as s:
        yield s


def read_report(path: Path | None) -> list[dict[str, str]]:
    assert path is not None
    with path.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


def run_cli(args: list[str], home: Path, monkeypatch: pytest.MonkeyPatch):
    from typer.testing import CliRunner

    from api.cli import app

    monkeypatch.setenv("EKJON_HOME", str(home))
    return CliRunner().invoke(app, args)


def programme_mapping(source: str = "dss", record_id: object = "ben_id", **fields: object):
    return mapping_from_dict(
        {
            "source": source,
            "kind": "programme",
            "record_id": record_id,
            "fields": fields or {"full_name": "name", "phone": "mobile"},
        }
    )


# -- record ids in Bangla digits ---------------------------------------------------------------

ROWS = [
    ("1001", "Md. Abdul Karim", "01712345678"),
    ("1002", "Rahima Begum", "01812345678"),
    ("1003", "Sushila Rani Das", "01912345678"),
]


def write_rows(path: Path, rows: list[tuple[str, ...]], header: str = "ben_id,name,mobile") -> Path:
    path.write_text(header + "\n" + "".join(",".join(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_bangla_digit_record_ids_are_the_same_records_as_ascii_ones(
    store: RecordStore, tmp_path: Path
) -> None:
    mapping = programme_mapping()
    ingest_file(store, mapping, write_rows(tmp_path / "ascii.csv", ROWS))
    bangla_rows = [(i.translate(BANGLA), n, p) for i, n, p in ROWS]

    again = ingest_file(store, mapping, write_rows(tmp_path / "bangla.csv", bangla_rows))

    assert (again.ingested, again.unchanged, again.new_versions) == (0, 3, 0)
    assert sorted(store.current()["record_id"]) == ["1001", "1002", "1003"]


def test_a_bangla_digit_id_repeating_an_ascii_one_in_the_same_file_is_quarantined(
    store: RecordStore, tmp_path: Path
) -> None:
    rows = [*ROWS, ("১০০১", "Md. Abdul Karim", "01712345678")]
    report = ingest_file(store, programme_mapping(), write_rows(tmp_path / "x.csv", rows))
    assert (report.ingested, report.quarantined) == (3, 1)
    (repeat,) = read_report(report.quarantine_report)
    assert (repeat["row"], repeat["record_id"]) == ("4", "1001")
    assert "repeats row 1" in repeat["reason"]


def test_composite_record_id_parts_are_folded_each(store: RecordStore, tmp_path: Path) -> None:
    mapping = programme_mapping(record_id=["hh", "member"], full_name="name")
    path = tmp_path / "nhd.csv"
    path.write_text("hh,member,name\nH-০১২,২,Rahima Begum\n", encoding="utf-8")
    ingest_file(store, mapping, path)
    assert list(store.current()["record_id"]) == ["H-012:2"]


def test_a_store_holding_bangla_digit_ids_from_before_is_folded_when_opened(
    tmp_path: Path,
) -> None:
    db = tmp_path / "home" / "records.sqlite"
    with RecordStore(db) as old:
        ingest_file(old, programme_mapping(), write_rows(tmp_path / "a.csv", ROWS))
        later = [("1001", "Md. Abdul Karim Mia", "01712345678"), ("1004", "Jamal", "01512345678")]
        ingest_file(old, programme_mapping("later"), write_rows(tmp_path / "b.csv", later))
    # What an older ekjon left: the second file's ids stored in Bangla digits beside the ASCII
    # ones (1001 twice, as two records), nothing yet saying the ids were folded.
    with sqlite3.connect(db) as con:
        for ascii_id in ("1001", "1004"):
            con.execute(
                "UPDATE records SET source = 'dss', record_id = ? WHERE source = 'later' "
                "AND record_id = ?",
                (ascii_id.translate(BANGLA), ascii_id),
            )
        con.execute("UPDATE sources SET generation = generation + 1")
        con.execute("PRAGMA user_version = 0")

    with RecordStore(db) as store:
        current = store.current(["dss"]).set_index("record_id")
        assert sorted(current.index) == ["1001", "1002", "1003", "1004"]
        assert current.loc["1001", "full_name"] == "Md. Abdul Karim Mia"  # the later ingest's
        first, second = store.history("dss", "1001")
        assert (first.version, first.is_current, first.values["full_name"]) == (
            1,
            False,
            "Md. Abdul Karim",
        )
        assert (second.version, second.is_current) == (2, True)
        assert store.counts()["records"] == 4  # 'later' has no records left of its own

        again = ingest_file(store, programme_mapping(), write_rows(tmp_path / "a.csv", ROWS))
        assert again.ingested == 0  # the ASCII file finds its records, no doubles


# -- values --------------------------------------------------------------------------------------


def test_nul_bytes_are_dropped_from_names_and_ids_and_kept_in_the_raw_value(
    store: RecordStore, tmp_path: Path
) -> None:
    path = tmp_path / "padded.csv"
    path.write_bytes(b"ben_id,name,mobile\n1001\x00,Abdul\x00 Karim\x00\x00,01712345678\n")
    report = ingest_file(store, programme_mapping(), path)
    assert (report.ingested, report.field_warnings) == (1, 0)
    (record,) = store.current().to_dict("records")
    assert (record["record_id"], record["full_name"]) == ("1001", "Abdul Karim")
    (version,) = store.history("dss", "1001")
    assert version.raw["full_name"] == "Abdul\x00 Karim\x00\x00"  # what the file said


# -- a killed ingest is no whole source ----------------------------------------------------------


def write_beneficiaries(path: Path, rows: int) -> Path:
    districts = ["Dhaka", "Bogura", "Cumilla", "Sylhet"]
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["ben_id", "name", "mobile", "zila"])
        for i in range(rows):
            w.writerow([f"B{i:05d}", f"Abdul Karim {i}", f"017{i:08d}", districts[i % 4]])
    return path


KILL_AFTER_FIRST_CHUNK = """
import os, signal, sys
from engine.ingest.mapping import load_mapping
from engine.ingest.run import ingest_file
from engine.ingest.store import RecordStore

def kill(progress):
    os.kill(os.getpid(), signal.SIGKILL)

store = RecordStore(sys.argv[1])
ingest_file(store, load_mapping(sys.argv[2]), sys.argv[3], progress=kill, chunk_rows=20)
"""


def test_resolve_refuses_a_source_whose_ingest_was_killed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os
    import signal
    import subprocess
    import sys

    home = tmp_path / "home"
    data = write_beneficiaries(tmp_path / "dss.csv", 60)
    (tmp_path / "dss.yaml").write_text(
        "source: dss\nkind: programme\nrecord_id: ben_id\n"
        "fields: {full_name: name, phone: mobile, district: zila}\n",
        encoding="utf-8",
    )
    root = Path(__file__).resolve().parents[3]
    killed = subprocess.run(
        [sys.executable, "-c", KILL_AFTER_FIRST_CHUNK, str(home / "records.sqlite")]
        + [str(tmp_path / "dss.yaml"), str(data)],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
        capture_output=True,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr.decode()

    refused = run_cli(["resolve", "--no-publish"], home, monkeypatch)
    assert refused.exit_code == 1, refused.output
    said = " ".join(refused.output.split())
    assert "'dss'" in said and "dss.csv" in said and "after row 20" in said
    assert "ekjon ingest" in said and "--allow-partial" in said
    assert "Traceback" not in refused.output
    assert not (home / "resolution" / "assignment.parquet").exists()

    partial = run_cli(["resolve", "--no-publish", "--allow-partial", "--json"], home, monkeypatch)
    assert partial.exit_code == 0, partial.output
    assert "'dss'" in partial.stderr and "partly ingested" in partial.stderr
    assert json.loads(partial.stdout)["records"] == 20

    resumed = run_cli(["ingest", str(data), "--json"], home, monkeypatch)
    assert resumed.exit_code == 0, resumed.output
    (file,) = json.loads(resumed.stdout)["files"]
    assert file["resumed"] is True and file["ingested"] == 60  # counted across the resume
    whole = run_cli(["resolve", "--no-publish", "--json"], home, monkeypatch)
    assert whole.exit_code == 0, whole.output
    assert json.loads(whole.stdout)["records"] == 60


KILL_BEFORE_SECOND_FILE = """
import os, signal, sys
from engine.ingest.run import ingest_folder
from engine.ingest.store import RecordStore
started = []
def starting(source):
    started.append(source)
    if len(started) == 2:
        os.kill(os.getpid(), signal.SIGKILL)
ingest_folder(RecordStore(sys.argv[1]), sys.argv[2], starting=starting)
"""


def two_sources(folder: Path) -> Path:
    folder.mkdir()
    for source, rows in (("aaa", 30), ("bbb", 40)):
        write_beneficiaries(folder / f"{source}.csv", rows)
        (folder / f"{source}.yaml").write_text(
            f"source: {source}\nkind: programme\nrecord_id: ben_id\n"
            "fields: {full_name: name, phone: mobile, district: zila}\n",
            encoding="utf-8",
        )
    return folder


def test_resolve_refuses_after_a_folder_ingest_killed_between_two_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No source is half-ingested, yet the folder is: resolving would leave bbb out unsaid."""
    import os
    import signal
    import subprocess
    import sys

    home, folder = tmp_path / "home", two_sources(tmp_path / "mis")
    root = Path(__file__).resolve().parents[3]
    killed = subprocess.run(
        [sys.executable, "-c", KILL_BEFORE_SECOND_FILE, str(home / "records.sqlite"), str(folder)],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
        capture_output=True,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr.decode()
    with RecordStore(home / "records.sqlite") as store:
        assert store.sources() == ["aaa"] and store.counts()["records"] == 30

    refused = run_cli(["resolve", "--no-publish"], home, monkeypatch)
    assert refused.exit_code == 1, refused.output
    said = " ".join(refused.output.split())
    assert "'bbb' is not ingested" in said and "bbb.csv" in said, said
    assert "'aaa'" not in said  # whole: it is not named
    assert "Traceback" not in refused.output

    again = run_cli(["ingest", str(folder), "--json"], home, monkeypatch)
    assert again.exit_code == 0, again.output
    whole = run_cli(["resolve", "--no-publish", "--json"], home, monkeypatch)
    assert whole.exit_code == 0, whole.output
    assert json.loads(whole.stdout)["records"] == 70


def test_an_ingest_of_several_files_stopped_between_them_is_named_by_resolve(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`ekjon ingest DIR` interrupted (here: Ctrl-C) after its first file."""
    import engine.ingest.run as run

    home, folder = tmp_path / "home", two_sources(tmp_path / "mis")
    real = run.ingest_file
    calls = []

    def interrupted(*args, **kwargs):
        calls.append(args)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(run, "ingest_file", interrupted)
    stopped = run_cli(["ingest", str(folder)], home, monkeypatch)
    assert stopped.exit_code != 0
    monkeypatch.setattr(run, "ingest_file", real)

    refused = run_cli(["resolve", "--no-publish"], home, monkeypatch)
    assert refused.exit_code == 1, refused.output
    assert "'bbb' is not ingested" in " ".join(refused.output.split())
    partial = run_cli(["resolve", "--no-publish", "--allow-partial", "--json"], home, monkeypatch)
    assert partial.exit_code == 0, partial.output
    assert json.loads(partial.stdout)["records"] == 30


# -- whole files that cannot be read: one error each, the files beside them go in ----------------


def mapping_beside(data: Path, source: str, fields: str = "{full_name: name}") -> None:
    data.with_suffix(".yaml").write_text(
        f"source: {source}\nkind: programme\nrecord_id: ben_id\nfields: {fields}\n",
        encoding="utf-8",
    )


def test_a_header_over_the_csv_field_limit_is_one_error_naming_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "mis"
    folder.mkdir()
    huge = folder / "huge.csv"
    huge.write_text('ben_id,"' + "x" * (17 * 1024 * 1024) + '",name\n1,2,Karim\n', encoding="utf-8")
    mapping_beside(huge, "huge")
    good = write_rows(folder / "good.csv", ROWS)
    mapping_beside(good, "good")

    result = run_cli(["ingest", str(folder), "--json"], tmp_path / "home", monkeypatch)

    assert result.exit_code == 1
    summary = json.loads(result.stdout)
    assert [f["source"] for f in summary["files"]] == ["good"]
    (error,) = summary["errors"]
    assert error["file"] == str(huge)
    assert "huge.csv" in error["error"] and "header" in error["error"]
    assert "field larger than field limit" in error["error"]


def test_a_parquet_struct_column_is_one_error_and_the_folder_goes_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = tmp_path / "mis"
    folder.mkdir()
    nested = folder / "nested.parquet"
    pq.write_table(
        pa.table(
            {
                "ben_id": ["1", "2"],
                "name": ["Karim", "Rahima"],
                "address": [{"district": "Bogura", "upazila": "Sadar"}, None],
            }
        ),
        nested,
    )
    mapping_beside(nested, "nested", "{full_name: name, district: address}")
    good = write_rows(folder / "good.csv", ROWS)
    mapping_beside(good, "good")

    result = run_cli(["ingest", str(folder), "--json"], tmp_path / "home", monkeypatch)

    assert result.exit_code == 1
    summary = json.loads(result.stdout)
    assert [f["source"] for f in summary["files"]] == ["good"]
    assert summary["totals"]["ingested"] == 3
    (error,) = summary["errors"]
    assert error["file"] == str(nested)
    assert "'address'" in error["error"] and "struct" in error["error"]
    assert "Traceback" not in result.output


def test_an_unexpected_failure_in_one_file_is_one_error_and_no_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import engine.ingest.run as run

    folder = tmp_path / "mis"
    folder.mkdir()
    for name in ("a", "b"):
        mapping_beside(write_rows(folder / f"{name}.csv", ROWS), name)
    real = run.ingest_file

    def fails_for_a(store, mapping, path, **options):
        if mapping.source == "a":
            raise RuntimeError("a bug in ekjon")
        return real(store, mapping, path, **options)

    monkeypatch.setattr(run, "ingest_file", fails_for_a)
    result = run_cli(["ingest", str(folder)], tmp_path / "home", monkeypatch)

    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit)
    said = " ".join(result.output.split())
    assert "a.csv" in said and "RuntimeError: a bug in ekjon" in said
    assert "Traceback" not in result.output


# -- Excel -----------------------------------------------------------------------------------------


def write_workbook(path: Path, sheets: dict[str, list[list[object]]]) -> Path:
    import openpyxl  # a dev dependency: writes the workbooks ekjon reads with calamine

    workbook = openpyxl.Workbook()
    workbook.remove(workbook.active)
    for title, rows in sheets.items():
        sheet = workbook.create_sheet(title)
        for row in rows:
            sheet.append(row)
    workbook.save(path)
    return path


BENEFICIARY_SHEET = [
    ["ben_id", "name", "dob", "nid", "amount"],
    [101, "Md. Abdul Karim", dt_date(1950, 3, 12), 1234567890123, 600.5],
    [None, None, None, None, None],
    ["১০২", "রহিমা বেগম", "01/07/1961", 19611234567890123, 750],
    ["103", "Jamal Uddin", None, "19611234567890123", None, "a note right of the table"],
]


def test_an_excel_workbook_is_read_like_a_csv_with_every_cell_as_text(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "lists"
    folder.mkdir()
    workbook = write_workbook(folder / "widow.xlsx", {"Sheet1": BENEFICIARY_SHEET})
    mapping_beside(
        workbook,
        "widow",
        "{full_name: name, date_of_birth: {column: dob, formats: ['%d/%m/%Y']}, nid: nid, "
        "amount: amount}",
    )

    result = run_cli(["ingest", str(folder), "--json"], tmp_path / "home", monkeypatch)

    assert result.exit_code == 0, result.output
    (file,) = json.loads(result.stdout)["files"]
    assert (file["rows_read"], file["ingested"], file["quarantined"]) == (3, 2, 1)
    with RecordStore(tmp_path / "home" / "records.sqlite") as store:
        current = store.current().set_index("record_id")
    assert sorted(current.index) == ["101", "102"]  # a number cell is its digits; Bangla folded
    assert current.loc["101", "nid"] == "1234567890123"
    assert current.loc["101", "date_of_birth"] == "1950-03-12"  # a date cell
    assert current.loc["102", "date_of_birth"] == "1961-07-01"  # a text cell, by the mapping
    assert current.loc["101", "amount"] == 600.5
    assert current.loc["102", "full_name"] == "রহিমা বেগম"
    # Excel keeps 15 digits of a number: a 17-digit NID typed as a number is reported, not used
    assert current.loc["102", "nid"] is None
    (warning,) = read_report(Path(file["warnings_report"]))
    assert (warning["row"], warning["record_id"], warning["field"]) == ("3", "102", "nid")
    assert "digits are lost" in warning["reason"]
    (stray,) = read_report(Path(file["quarantine_report"]))
    assert (stray["row"], stray["record_id"]) == ("4", "103")
    assert "a note right of the table" in stray["value"] and "column F" in stray["reason"]


def test_an_excel_sheet_is_chosen_by_name_and_a_wrong_one_is_named(
    store: RecordStore, tmp_path: Path
) -> None:
    workbook = write_workbook(
        tmp_path / "lists.xlsx",
        {"notes": [["made by the upazila office"]], "widows": BENEFICIARY_SHEET[:2]},
    )
    spec = {
        "source": "widow",
        "kind": "programme",
        "record_id": "ben_id",
        "file": {"sheet": "widows"},
        "fields": {"full_name": "name"},
    }
    report = ingest_file(store, mapping_from_dict(spec), workbook)
    assert report.ingested == 1

    from engine.ingest.readers import SourceFileError

    wrong = mapping_from_dict({**spec, "file": {"sheet": "widow"}})
    with pytest.raises(SourceFileError, match=r"lists.xlsx.*'widow'.*notes, widows"):
        ingest_file(store, wrong, workbook)
    first = mapping_from_dict({**spec, "file": {}})
    with pytest.raises(SourceFileError, match=r"'ben_id'.*made by the upazila office"):
        ingest_file(store, first, workbook)  # the first sheet by default


def test_a_workbook_read_as_csv_says_what_it_is(store: RecordStore, tmp_path: Path) -> None:
    from engine.ingest.readers import SourceFileError

    workbook = write_workbook(tmp_path / "widow.xlsx", {"Sheet1": BENEFICIARY_SHEET})
    spec = {"source": "widow", "kind": "programme", "record_id": "ben_id"}
    as_csv = mapping_from_dict({**spec, "file": {"format": "csv"}, "fields": {"full_name": "name"}})
    with pytest.raises(SourceFileError, match=r"widow.xlsx.*Excel workbook.*format: excel"):
        ingest_file(store, as_csv, workbook)


def test_a_file_with_a_mapping_beside_it_that_ekjon_cannot_read_is_not_passed_over(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "lists"
    folder.mkdir()
    (folder / "egpp.docx").write_bytes(b"PK\x03\x04 a Word document")
    mapping_beside(folder / "egpp.docx", "egpp")
    mapping_beside(write_rows(folder / "good.csv", ROWS), "good")

    result = run_cli(["ingest", str(folder), "--json"], tmp_path / "home", monkeypatch)

    assert result.exit_code == 1
    summary = json.loads(result.stdout)
    assert [f["source"] for f in summary["files"]] == ["good"]
    (error,) = summary["errors"]
    assert error["file"] == str(folder / "egpp.docx") and "cannot read .docx" in error["error"]


def test_a_row_in_another_encoding_is_quarantined_naming_its_record_field_and_a_fix(
    store: RecordStore, tmp_path: Path
) -> None:
    path = tmp_path / "dss.csv"
    path.write_bytes(
        b"ben_id,name,mobile\n"
        b"1001,Md. Abdul Karim,01712345678\n"
        b"1002,Rahima D\x92Costa,01812345678\n"  # a cp1252 apostrophe in a UTF-8 file
        b"1003,Sushila Rani Das,01912345678\n"
    )
    report = ingest_file(store, programme_mapping(), path)
    assert (report.ingested, report.quarantined) == (2, 1)
    (row,) = read_report(report.quarantine_report)
    assert (row["row"], row["record_id"], row["field"]) == ("2", "1002", "full_name")
    assert "D\\x92Costa" in row["value"]
    assert "invalid utf-8" in row["reason"] and "column 'name'" in row["reason"]
    assert "file.encoding: cp1252" in row["reason"]


def test_a_jsonl_line_in_another_encoding_names_its_record(
    store: RecordStore, tmp_path: Path
) -> None:
    path = tmp_path / "dss.jsonl"
    path.write_bytes(
        b'{"ben_id": "1001", "name": "Md. Abdul Karim", "mobile": "01712345678"}\n'
        b'{"ben_id": "1002", "name": "Rahima D\x92Costa", "mobile": "01812345678"}\n'
    )
    report = ingest_file(store, programme_mapping(), path)
    (row,) = read_report(report.quarantine_report)
    assert (row["row"], row["record_id"], row["field"]) == ("2", "1002", "full_name")
    assert "invalid utf-8" in row["reason"]


def test_nested_jsonl_values_are_no_names_and_no_record_ids(
    store: RecordStore, tmp_path: Path
) -> None:
    lines = [
        {"ben_id": "1001", "name": "Md. Abdul Karim", "mobile": "01712345678"},
        {"ben_id": "1002", "name": {"en": "Rahima Begum", "bn": "রহিমা বেগম"}, "mobile": None},
        {"ben_id": {"no": 1003}, "name": "Jamal Uddin", "mobile": "01912345678"},
        {"ben_id": "1004", "name": ["Sushila", "Rani"], "mobile": "01512345678"},
    ]
    path = tmp_path / "dss.jsonl"
    path.write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines), "utf-8")

    report = ingest_file(store, programme_mapping(), path)

    assert (report.rows_read, report.ingested, report.quarantined) == (4, 3, 1)
    (quarantined,) = read_report(report.quarantine_report)
    assert (quarantined["row"], quarantined["field"]) == ("3", "record_id")
    assert "'ben_id'" in quarantined["reason"] and "JSON object" in quarantined["reason"]
    assert quarantined["value"] == '{"no": 1003}'
    warnings = {w["record_id"]: w for w in read_report(report.warnings_report)}
    assert set(warnings) == {"1002", "1004"}
    assert warnings["1002"]["field"] == "full_name"
    assert "JSON object" in warnings["1002"]["reason"] and "রহিমা" in warnings["1002"]["value"]
    assert "JSON list" in warnings["1004"]["reason"]
    current = store.current().set_index("record_id")
    assert current.loc["1002", "full_name"] is None and current.loc["1004", "full_name"] is None
    assert current.loc["1002", "invalid_fields"] == ("full_name",)


# -- one source, one ingest at a time ------------------------------------------------------------

HOLD_SOURCE = """
import sys, time
from engine.ingest.store import RecordStore

with RecordStore(sys.argv[1]) as store, store.source_lock("dss", "/data/dss-2025-02.csv"):
    print("held", flush=True)
    time.sleep(60)
"""


def test_a_second_ingest_of_a_source_being_ingested_is_refused_naming_the_other(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os
    import subprocess
    import sys

    home = tmp_path / "home"
    root = Path(__file__).resolve().parents[3]
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_SOURCE, str(home / "records.sqlite")],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
        stdout=subprocess.PIPE,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == b"held\n"
        dss = write_rows(tmp_path / "dss.csv", ROWS)
        mapping_beside(dss, "dss")
        other = write_rows(tmp_path / "widow.csv", ROWS)
        mapping_beside(other, "widow")

        result = run_cli(["ingest", str(dss), str(other), "--json"], home, monkeypatch)

        assert result.exit_code == 1
        summary = json.loads(result.stdout)
        assert [f["source"] for f in summary["files"]] == ["widow"]  # another source goes in
        (error,) = summary["errors"]
        assert error["file"] == str(dss)
        assert "'dss'" in error["error"] and f"process {holder.pid}" in error["error"]
        assert "dss-2025-02.csv" in error["error"]
    finally:
        holder.kill()
        holder.wait()
    with RecordStore(home / "records.sqlite") as store:
        assert store.sources() == ["widow"]
        assert [r.source for r in store.ingests()] == ["widow"]  # nothing begun for dss

    again = run_cli(["ingest", str(dss), "--json"], home, monkeypatch)  # the lock died with it
    assert again.exit_code == 0, again.output
