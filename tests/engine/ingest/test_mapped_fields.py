"""Mapped fields of issue 14: a field fed by several columns, ages in a date of birth column, and
what each ingests to (values, raw values, warnings)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from engine.ingest.mapping import mapping_from_dict
from engine.ingest.readers import SourceFileError
from engine.ingest.run import ingest_file
from engine.ingest.store import RecordStore


@pytest.fixture
def store(tmp_path: Path) -> RecordStore:
    with RecordStore(tmp_path / "home" / "records.sqlite") as s:
        yield s


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def warnings_of(report) -> list[dict[str, str]]:
    if report.warnings_report is None:
        return []
    with report.warnings_report.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


def mapping(fields: dict, kind: str = "programme", source: str = "s"):
    return mapping_from_dict({"source": source, "kind": kind, "record_id": "id", "fields": fields})


# -- columns -----------------------------------------------------------------------------------


def test_a_name_from_first_and_last_name_columns(store: RecordStore, tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "s.csv",
        ["id", "first", "last"],
        [
            ["1", "Md. Abdul", "Karim"],
            ["2", "", "Begum"],  # an empty part is skipped: no leading space
            ["3", "  Rahima ", "N/A"],  # so is a "nothing" marker
            ["4", "", ""],  # no part: no name
            ["5", "সুশীলা রানী", "দাস"],
        ],
    )
    m = mapping({"full_name": {"columns": ["first", "last"]}})
    report = ingest_file(store, m, path)
    assert (report.ingested, report.field_warnings) == (5, 0)
    names = store.current().set_index("record_id")["full_name"].to_dict()
    assert names == {
        "1": "Md. Abdul Karim",
        "2": "Begum",
        "3": "Rahima",
        "4": None,
        "5": "সুশীলা রানী দাস",
    }
    # the raw value kept is the joined text
    (version,) = store.history("s", "1")
    assert version.raw["full_name"] == "Md. Abdul Karim"


def test_several_columns_work_for_any_text_field_and_take_a_default(
    store: RecordStore, tmp_path: Path
) -> None:
    path = write_csv(
        tmp_path / "s.csv",
        ["id", "para", "village", "upz"],
        [["1", "Uttar Para", "Kashipur", "Savar"], ["2", "", "", ""]],
    )
    m = mapping(
        {
            "household_id": {"columns": ["para", "village"], "default": "none given"},
            "upazila": {"columns": ["upz"]},
        }
    )
    ingest_file(store, m, path)
    current = store.current().set_index("record_id")
    assert current.loc["1", "household_id"] == "Uttar Para Kashipur"
    assert current.loc["2", "household_id"] == "none given"
    assert current.loc["1", "upazila"] == "savar"  # cleaned as the field's kind says


def test_every_one_of_columns_must_be_in_the_header(store: RecordStore, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "s.csv", ["id", "first"], [["1", "Abdul"]])
    m = mapping({"full_name": {"columns": ["first", "last"]}})
    with pytest.raises(SourceFileError, match=r"column 'last' named in the mapping.*id, first"):
        ingest_file(store, m, path)
    assert store.counts()["ingests"] == 0


def test_a_nested_cell_in_one_of_columns_marks_the_field_invalid(
    store: RecordStore, tmp_path: Path
) -> None:
    path = tmp_path / "s.jsonl"
    path.write_text(
        '{"id": 1, "first": "Abdul", "last": "Karim"}\n'
        '{"id": 2, "first": {"given": "Rahima"}, "last": "Begum"}\n',
        encoding="utf-8",
    )
    m = mapping({"full_name": {"columns": ["first", "last"]}})
    report = ingest_file(store, m, path)
    assert report.ingested == 2
    (warning,) = warnings_of(report)
    assert warning["record_id"] == "2" and warning["field"] == "full_name"
    assert "column 'first'" in warning["reason"]
    names = store.current().set_index("record_id")["full_name"].to_dict()
    assert names == {"1": "Abdul Karim", "2": None}
