"""Mapped fields of issue 14: a field fed by several columns, ages in a date of birth column, and
what each ingests to (values, raw values, warnings)."""

from __future__ import annotations

import csv
import sqlite3
from pathlib import Path

import pandas as pd
import pytest

from engine.ingest.mapping import mapping_from_dict
from engine.ingest.readers import SourceFileError
from engine.ingest.run import clean_record, ingest_file
from engine.ingest.store import CURRENT_COLUMNS, RecordStore
from engine.normalise import birth_date, is_mobile_part
from engine.normalise.identifiers import parse_identifiers


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


# -- address, postcode and extra identifiers ---------------------------------------------------

NEW_FIELDS_MAPPING = {
    "source": "gov_employees",
    "kind": "reference",
    "record_id": "id",
    "fields": {
        "full_name": "name",
        "address": {"columns": ["village", "post_office"]},
        "postcode": "post_code",
    },
    "identifiers": {"tin": "tin_no", "Employee_ID": "emp_no"},
}


def test_address_postcode_and_identifiers_round_trip_through_the_store(
    store: RecordStore, tmp_path: Path
) -> None:
    path = write_csv(
        tmp_path / "emp.csv",
        ["id", "name", "village", "post_office", "post_code", "tin_no", "emp_no"],
        [
            ["1", "Abdul Karim", "Uttar Para,  Kashipur", "Savar PO", "১৩৪০", "১২৩-৪৫৬-৭৮৯", "E-7"],
            ["2", "Rahima Begum", "", "", "Dhaka-1207", "", "e7x"],
            ["3", "Jamal Uddin", "বাড়ি ১২", "", "12075", "12=3", "E-9"],  # bad postcode and TIN
            ["4", "Nurul Islam", "", "", "", "", ""],
        ],
    )
    report = ingest_file(store, mapping_from_dict(NEW_FIELDS_MAPPING), path)
    assert report.ingested == 4
    warned = {(w["record_id"], w["field"], w["value"]) for w in warnings_of(report)}
    assert warned == {("3", "postcode", "12075"), ("3", "identifiers.tin", "12=3")}
    current = store.current().set_index("record_id")
    assert current.loc["1", "address"] == "Uttar Para, Kashipur Savar PO"
    assert current.loc["1", "postcode"] == "1340"
    assert current.loc["1", "identifiers"] == "employee_id=e7;tin=123456789"
    assert current.loc["2", "identifiers"] == "employee_id=e7x"
    assert current.loc["2", "postcode"] == "1207"
    # the good identifier beside a bad one is kept; the bad one is named
    assert current.loc["3", "identifiers"] == "employee_id=e9"
    assert current.loc["3", "postcode"] is None
    assert set(current.loc["3", "invalid_fields"]) == {"postcode", "identifiers.tin"}
    assert current.loc["4", ["address", "postcode", "identifiers"]].isna().all()
    assert parse_identifiers(current.loc["1", "identifiers"]) == {
        "employee_id": "e7",
        "tin": "123456789",
    }
    (version,) = store.history("gov_employees", "1")
    assert version.values["identifiers"] == "employee_id=e7;tin=123456789"
    assert version.raw["identifiers"] == "employee_id=E-7;tin=১২৩-৪৫৬-৭৮৯"

    # the content hash covers them: a changed identifier is a new version, the same file nothing
    assert ingest_file(store, mapping_from_dict(NEW_FIELDS_MAPPING), path).unchanged == 4
    changed = path.read_text(encoding="utf-8").replace("e7x", "e8")
    (tmp_path / "emp2.csv").write_text(changed, encoding="utf-8")
    again = ingest_file(store, mapping_from_dict(NEW_FIELDS_MAPPING), tmp_path / "emp2.csv")
    assert (again.new_versions, again.unchanged) == (1, 3)
    assert store.current().set_index("record_id").loc["2", "identifiers"] == "employee_id=e8"


def test_a_record_sent_alone_gives_its_identifiers_as_text() -> None:
    cleaned, warnings = clean_record(
        {
            "source": "s",
            "record_id": "1",
            "identifiers": "TIN = ১২৩ ৪৫৬; employee_id=E-7",
            "postcode": "১২০৭",
            "address": " Road 5 , Dhanmondi ",
        }
    )
    assert warnings == []
    assert cleaned["identifiers"] == "employee_id=e7;tin=123456"
    assert (cleaned["postcode"], cleaned["address"]) == ("1207", "Road 5, Dhanmondi")
    _, warnings = clean_record({"source": "s", "record_id": "1", "identifiers": "123456"})
    (warning,) = warnings
    assert warning.field == "identifiers" and "name=value" in warning.reason


#: content hashes an ekjon from before issue 14 (commit 646d3b0) stored for these rows
HASHES_BEFORE = {
    "1001": "aea35d490bd851d2795e463ee098ed17",
    "1002": "4f682236c3b15cb5bf1e4284784f517f",
}
PIN_ROWS = [
    ["1001", "Md. Abdul Karim", "01712345678", "14/03/1960", "01712345678", "bKash"],
    ["1002", "রহিমা বেগম", "", "58", "", ""],
]
PIN_MAPPING = {
    "source": "dss",
    "kind": "programme",
    "record_id": "ben_id",
    "fields": {
        "full_name": "name",
        "phone": "mobile",
        "date_of_birth": "dob",
        "account_number": "wallet",
        "account_provider": "mfs",
    },
}


def test_records_without_the_new_fields_hash_as_they_did_before_them(
    store: RecordStore, tmp_path: Path
) -> None:
    # so a file ingested before the new fields came is unchanged when ingested again after
    path = write_csv(
        tmp_path / "a.csv", ["ben_id", "name", "mobile", "dob", "wallet", "mfs"], PIN_ROWS
    )
    ingest_file(store, mapping_from_dict(PIN_MAPPING), path)
    for record_id, before in HASHES_BEFORE.items():
        (version,) = store.history("dss", record_id)
        assert version.content_hash == before


def test_a_store_from_before_the_new_fields_opens_and_gains_them(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    db = tmp_path / "home" / "records.sqlite"
    path = write_csv(
        tmp_path / "a.csv", ["ben_id", "name", "mobile", "dob", "wallet", "mfs"], PIN_ROWS
    )
    with RecordStore(db) as old:
        ingest_file(old, mapping_from_dict(PIN_MAPPING), path)
        old.current()  # leaves a snapshot
    # What an older ekjon left: no columns for the new fields, in the table or the snapshot.
    new = ("address", "postcode", "identifiers")
    with sqlite3.connect(db) as con:
        for column in (*new, *(f"raw_{c}" for c in new)):
            con.execute(f'ALTER TABLE records DROP COLUMN "{column}"')
        con.execute("PRAGMA user_version = 1")
    (snapshot,) = (db.parent / "records.current").glob("dss-*.parquet")
    table = pq.read_table(snapshot)
    pq.write_table(table.drop_columns(list(new)), snapshot)

    with RecordStore(db) as store:
        current = store.current()
        assert list(current.columns) == list(CURRENT_COLUMNS)
        assert current[list(new)].isna().all().all()
        assert store.history("dss", "1001")[0].values["identifiers"] is None
        again = ingest_file(store, mapping_from_dict(PIN_MAPPING), path)
        assert (again.unchanged, again.new_versions) == (2, 0)
        # and takes the new fields from now on
        m = mapping_from_dict({**PIN_MAPPING, "identifiers": {"tin": "name"}})
        assert ingest_file(store, m, path).new_versions == 2
        current = store.current().set_index("record_id")
        assert current.loc["1001", "identifiers"] == "tin=mdabdulkarim"
    with sqlite3.connect(db) as con:
        assert con.execute("PRAGMA user_version").fetchone()[0] == 2
