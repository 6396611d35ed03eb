"""Mapped fields of issue 14: a field fed by several columns, ages in a date of birth column, and
what each ingests to (values, raw values, warnings)."""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd
import pytest

from engine.ingest.mapping import mapping_from_dict
from engine.ingest.readers import SourceFileError
from engine.ingest.run import clean_record, ingest_file
from engine.ingest.store import RecordStore
from engine.normalise import birth_date, is_mobile_part


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


# -- ages in a date of birth column ------------------------------------------------------------

MIXED = [
    ["1", "14/03/1967"],
    ["2", "58y"],
    ["3", "58 yrs"],
    ["4", "58 years"],
    ["5", "৫৮ বছর"],
    ["6", "58"],
    ["7", ""],
    ["8", "yesterday"],
    ["9", "1967-03-14"],
]


def test_ages_in_a_date_column_with_age_as_of(store: RecordStore, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "egpp.csv", ["id", "dob"], MIXED)
    m = mapping(
        {
            "date_of_birth": {
                "column": "dob",
                "formats": ["%d/%m/%Y"],
                "age_as_of": "2025-06-30",
            }
        }
    )
    report = ingest_file(store, m, path)
    assert report.ingested == 9
    (warning,) = warnings_of(report)  # only the value that is neither
    assert (warning["record_id"], warning["field"], warning["value"]) == (
        "8",
        "date_of_birth",
        "yesterday",
    )
    current = store.current().set_index("record_id")
    for record_id in ("1", "9"):
        assert current.loc[record_id, "date_of_birth"] == "1967-03-14"
        assert current.loc[record_id, "age"] is pd.NA
        assert current.loc[record_id, "age_as_of"] is None
    for record_id in ("2", "3", "4", "5", "6"):
        # exactly what an age column with as_of gives: the age and the date it was true on
        assert current.loc[record_id, "date_of_birth"] is None
        assert current.loc[record_id, "age"] == 58
        assert current.loc[record_id, "age_as_of"] == "2025-06-30"
    assert current.loc["7", "age"] is pd.NA and current.loc["7", "age_as_of"] is None
    # the birth-year range rules see the age as they see an age field's
    assert birth_date(None, None, 58, "2025-06-30") == birth_date(age=58, as_of="2025-06-30")
    (version,) = store.history("s", "5")
    assert version.raw["date_of_birth"] == "৫৮ বছর"


def test_without_age_as_of_an_age_is_a_field_warning_that_says_to_set_it(
    store: RecordStore, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "egpp.csv", ["id", "dob"], MIXED[:3])
    report = ingest_file(store, mapping({"date_of_birth": "dob"}), path)
    reasons = {w["record_id"]: w["reason"] for w in warnings_of(report)}
    assert sorted(reasons) == ["2", "3"]
    assert "an age (58 years), not a date" in reasons["2"]
    assert "age_as_of" in reasons["2"]


def test_an_age_column_wins_over_an_age_in_the_date_column(
    store: RecordStore, tmp_path: Path
) -> None:
    path = write_csv(
        tmp_path / "s.csv",
        ["id", "dob", "age"],
        [["1", "58y", "61"], ["2", "58y", ""], ["3", "01/02/1960", "65"]],
    )
    m = mapping(
        {
            "date_of_birth": {"column": "dob", "age_as_of": "2025-06-30"},
            "age": {"column": "age", "as_of": "2022-06-15"},
        }
    )
    ingest_file(store, m, path)
    current = store.current().set_index("record_id")
    assert (current.loc["1", "age"], current.loc["1", "age_as_of"]) == (61, "2022-06-15")
    assert (current.loc["2", "age"], current.loc["2", "age_as_of"]) == (58, "2025-06-30")
    assert current.loc["3", "date_of_birth"] == "1960-02-01"
    assert (current.loc["3", "age"], current.loc["3", "age_as_of"]) == (65, "2022-06-15")


def test_one_record_cleaned_alone_reads_an_age_in_its_date_of_birth_too() -> None:
    # the API's records come one at a time: an age_as_of lets the date of birth hold an age
    cleaned, warnings = clean_record(
        {"source": "s", "record_id": "1", "date_of_birth": "৫৮ বছর", "age_as_of": "30/06/2025"}
    )
    assert warnings == []
    assert (cleaned["age"], cleaned["age_as_of"], cleaned["date_of_birth"]) == (
        58,
        "2025-06-30",
        None,
    )
    cleaned, warnings = clean_record({"source": "s", "record_id": "1", "date_of_birth": "58y"})
    assert "date_of_birth" not in cleaned
    (warning,) = warnings
    assert "age_as_of" in warning.reason


# -- relations ---------------------------------------------------------------------------------


def test_relation_words_are_split_by_the_record_s_gender(
    store: RecordStore, tmp_path: Path
) -> None:
    path = write_csv(
        tmp_path / "nhd.csv",
        ["id", "rel", "sex"],
        [
            ["1", "খানা প্রধান", "পুরুষ"],
            ["2", "wife", "F"],
            ["3", "child", "M"],
            ["4", "child", "2"],
            ["5", "parent", "Female"],
            ["6", "child", ""],  # no gender: a child
            ["7", "সন্তান", "মহিলা"],
            ["8", "নিজ", "1"],
            ["9", "neighbour's cat", "M"],
        ],
    )
    report = ingest_file(
        store, mapping({"relation_to_head": "rel", "gender": "sex"}, kind="survey"), path
    )
    (warning,) = warnings_of(report)
    assert (warning["record_id"], warning["field"]) == ("9", "relation_to_head")
    relations = store.current().set_index("record_id")["relation_to_head"].to_dict()
    assert relations == {
        "1": "head",
        "2": "spouse",
        "3": "son",
        "4": "daughter",
        "5": "mother",
        "6": "child",
        "7": "daughter",
        "8": "head",
        "9": None,
    }


def test_a_constant_gender_splits_relations_too(store: RecordStore, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "w.csv", ["id", "rel"], [["1", "child"], ["2", "parent"]])
    m = mapping({"relation_to_head": "rel", "gender": {"value": "female"}})
    ingest_file(store, m, path)
    relations = store.current().set_index("record_id")["relation_to_head"].to_dict()
    assert relations == {"1": "daughter", "2": "mother"}
    cleaned, _ = clean_record(
        {"source": "s", "record_id": "1", "relation_to_head": "child", "gender": "M"}
    )
    assert cleaned["relation_to_head"] == "son"


# -- Rocket wallets ----------------------------------------------------------------------------


def test_a_rocket_wallet_given_as_the_11_digit_mobile_is_kept(
    store: RecordStore, tmp_path: Path
) -> None:
    path = write_csv(
        tmp_path / "s.csv",
        ["id", "mfs", "wallet"],
        [["1", "Rocket", "01711234567"], ["2", "DBBL", "017112345678"], ["3", "rocket", "0171"]],
    )
    m = mapping({"account_provider": "mfs", "account_number": "wallet"})
    report = ingest_file(store, m, path)
    (warning,) = warnings_of(report)
    assert warning["record_id"] == "3"
    current = store.current().set_index("record_id")
    assert current.loc["1", "account_number"] == "01711234567"
    assert is_mobile_part(current.loc["1", "account_number"], "rocket")
    # matching compares the two forms of the wallet on its mobile
    from engine.resolve.prepare import wallet_number

    assert wallet_number("rocket", "01711234567") == wallet_number("rocket", "017112345678") > 0
