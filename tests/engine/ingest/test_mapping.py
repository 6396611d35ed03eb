"""Mappings: the YAML of docs/mapping.md is read as written, and every mistake is named clearly."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.errors import MappingError
from engine.ingest.mapping import load_mapping, mapping_from_dict

DATA = Path(__file__).parent / "data"

DOCS_EXAMPLE = """
source: dss_old_age
kind: programme
record_id: [ben_id]
file:
  format: csv
  delimiter: ";"
  encoding: utf-8
fields:
  programme: {value: old_age_allowance}
  full_name: beneficiary_name
  full_name_bn: {column: name_bangla, script: bn}
  date_of_birth:
    column: dob
    formats: ["%d/%m/%Y", "%d-%m-%Y"]
  age: {column: age_years, as_of: 2010-05-01}
  nid: {column: nid_no}
  status: {column: status, default: active}
"""


def write(tmp_path: Path, text: str, name: str = "m.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_reads_the_documented_format(tmp_path: Path) -> None:
    m = load_mapping(write(tmp_path, DOCS_EXAMPLE))
    assert m.source == "dss_old_age"
    assert m.kind == "programme"
    assert m.record_id == ("ben_id",)
    assert m.file.delimiter == ";"
    assert m.fields["full_name"].column == "beneficiary_name"  # the shorthand
    assert m.fields["programme"].value == "old_age_allowance"
    assert m.fields["programme"].column is None
    assert m.fields["date_of_birth"].formats == ("%d/%m/%Y", "%d-%m-%Y")
    assert m.fields["age"].as_of == "2010-05-01"  # YAML reads it as a date; kept as ISO text
    assert m.fields["full_name_bn"].script == "bn"
    assert m.fields["status"].default == "active"
    # every column the file must have, record id first, each once
    assert m.columns == (
        "ben_id",
        "beneficiary_name",
        "name_bangla",
        "dob",
        "age_years",
        "nid_no",
        "status",
    )


def test_composite_record_id_and_single_column_shorthand() -> None:
    base = {"source": "nhd", "kind": "survey", "fields": {"full_name": "name"}}
    assert mapping_from_dict({**base, "record_id": ["hh_no", "member_no"]}).record_id == (
        "hh_no",
        "member_no",
    )
    assert mapping_from_dict({**base, "record_id": "person_id"}).record_id == ("person_id",)


def test_the_fixture_mapping_loads() -> None:
    m = load_mapping(DATA / "dss_broken.yaml")
    assert m.source == "dss_old_age"
    assert "wallet_no" in m.columns


def test_format_comes_from_the_mapping_or_the_extension(tmp_path: Path) -> None:
    m = mapping_from_dict({"source": "s", "kind": "reference", "record_id": "id", "fields": {}})
    assert m.file_format("x.CSV") == "csv"
    assert m.file_format("x.parquet") == "parquet"
    assert m.file_format("x.jsonl") == "jsonl"
    assert m.file_format("x.xlsx") == m.file_format("x.xls") == "excel"
    with pytest.raises(MappingError, match=r"'x\.docx'.*file\.format"):
        m.file_format("x.docx")
    forced = mapping_from_dict(
        {
            "source": "s",
            "kind": "reference",
            "record_id": "id",
            "fields": {},
            "file": {"format": "jsonl"},
        }
    )
    assert forced.file_format("x.txt") == "jsonl"


def test_digest_ignores_formatting_but_not_meaning(tmp_path: Path) -> None:
    a = load_mapping(write(tmp_path, DOCS_EXAMPLE, "a.yaml"))
    b = load_mapping(write(tmp_path, "# a comment\n" + DOCS_EXAMPLE, "b.yaml"))
    c = load_mapping(write(tmp_path, DOCS_EXAMPLE.replace("nid_no", "nid_number"), "c.yaml"))
    assert a.digest() == b.digest()
    assert a.digest() != c.digest()


BAD = [
    # (what is wrong, yaml, words the message must contain)
    (
        "unknown canonical field",
        "source: s\nkind: programme\nrecord_id: id\nfields:\n  dob: birth\n",
        ["fields.dob", "'dob' is not a canonical field", "date_of_birth"],
    ),
    ("missing source", "kind: programme\nrecord_id: id\nfields: {}\n", ["source", "missing"]),
    ("missing kind", "source: s\nrecord_id: id\nfields: {}\n", ["kind", "missing"]),
    ("missing record_id", "source: s\nkind: programme\nfields: {}\n", ["record_id", "missing"]),
    ("missing fields", "source: s\nkind: programme\nrecord_id: id\n", ["fields", "missing"]),
    (
        "bad kind",
        "source: s\nkind: registry\nrecord_id: id\nfields: {}\n",
        ["kind", "programme | survey | reference", "'registry'"],
    ),
    (
        "entry with neither column nor value",
        "source: s\nkind: programme\nrecord_id: id\nfields:\n  nid: {formats: x}\n",
        ["fields.nid", "column", "value"],
    ),
    (
        "entry with both column and value",
        "source: s\nkind: programme\nrecord_id: id\nfields:\n  nid: {column: a, value: b}\n",
        ["fields.nid", "exactly one"],
    ),
    (
        "formats on a field that is no date",
        "source: s\nkind: programme\nrecord_id: id\nfields:\n  nid: {column: a, formats: ['%Y']}\n",
        ["fields.nid.formats", "only date fields"],
    ),
    (
        "as_of that is no date",
        "source: s\nkind: survey\nrecord_id: id\nfields:\n  age: {column: a, as_of: last year}\n",
        ["fields.age.as_of", "ISO date", "'last year'"],
    ),
    (
        "unknown key in an entry",
        "source: s\nkind: programme\nrecord_id: id\nfields:\n  nid: {colunm: a}\n",
        ["fields.nid.colunm", "unknown key"],
    ),
    (
        "a canonical field at the top level",
        "source: s\nkind: programme\nrecord_id: id\nnid: nid_no\nfields: {}\n",
        ["nid", "put canonical fields under 'fields'"],
    ),
    (
        "source or record_id under fields",
        "source: s\nkind: programme\nrecord_id: id\nfields:\n  record_id: id\n",
        ["fields.record_id", "top level"],
    ),
    (
        "unknown file format",
        "source: s\nkind: programme\nrecord_id: id\nfile: {format: xlsx}\nfields: {}\n",
        ["file.format", "'xlsx'", "csv | parquet | jsonl"],
    ),
    (
        "empty record_id list",
        "source: s\nkind: programme\nrecord_id: []\nfields: {}\n",
        ["record_id", "column name"],
    ),
    ("not a mapping at all", "- just\n- a list\n", ["must be a YAML mapping"]),
    (
        "identifiers that is no mapping",
        "source: s\nkind: reference\nrecord_id: id\nfields: {}\nidentifiers: [tin_no]\n",
        ["identifiers", "must map identifier names to columns", "tin_no"],
    ),
    (
        "an identifier named like a canonical field",
        "source: s\nkind: reference\nrecord_id: id\nfields: {}\nidentifiers: {nid: nid_no}\n",
        ["identifiers.nid", "canonical field", "under fields"],
    ),
    (
        "an identifier name that is no word",
        "source: s\nkind: reference\nrecord_id: id\nfields: {}\nidentifiers: {tin no: a}\n",
        ["identifiers.tin no", "lower-case word"],
    ),
    (
        "an identifier without a column",
        "source: s\nkind: reference\nrecord_id: id\nfields: {}\nidentifiers: {tin: ''}\n",
        ["identifiers.tin", "column name"],
    ),
    (
        "identifiers under fields",
        "source: s\nkind: reference\nrecord_id: id\nfields:\n  identifiers: ids\n",
        ["fields.identifiers", "top level"],
    ),
    (
        "columns and column together",
        "source: s\nkind: programme\nrecord_id: id\nfields:\n"
        "  full_name: {column: a, columns: [b, c]}\n",
        ["fields.full_name", "exactly one", "'columns'"],
    ),
    (
        "columns that is no list",
        "source: s\nkind: programme\nrecord_id: id\nfields:\n  full_name: {columns: first}\n",
        ["fields.full_name.columns", "list of column names", "'first'"],
    ),
    (
        "columns naming a column twice",
        "source: s\nkind: programme\nrecord_id: id\nfields:\n  full_name: {columns: [a, a]}\n",
        ["fields.full_name.columns", "twice"],
    ),
    (
        "columns on a field that is no text",
        "source: s\nkind: programme\nrecord_id: id\nfields:\n  nid: {columns: [a, b]}\n",
        ["fields.nid.columns", "only text fields", "nid is nid"],
    ),
    (
        "age_as_of on a field other than date_of_birth",
        "source: s\nkind: programme\nrecord_id: id\nfields:\n"
        "  age: {column: a, age_as_of: 2024-01-01}\n",
        ["fields.age.age_as_of", "only the date_of_birth field", "an age field takes as_of"],
    ),
    (
        "as_of on a date of birth",
        "source: s\nkind: programme\nrecord_id: id\nfields:\n"
        "  date_of_birth: {column: a, as_of: 2024-01-01}\n",
        ["fields.date_of_birth.as_of", "takes age_as_of"],
    ),
    (
        "age_as_of that is no date",
        "source: s\nkind: programme\nrecord_id: id\nfields:\n"
        "  date_of_birth: {column: a, age_as_of: 30/06/2025}\n",
        ["fields.date_of_birth.age_as_of", "ISO date", "'30/06/2025'"],
    ),
]


@pytest.mark.parametrize(("problem", "text", "words"), BAD, ids=[b[0] for b in BAD])
def test_bad_mappings_name_file_key_and_value(
    tmp_path: Path, problem: str, text: str, words: list[str]
) -> None:
    path = write(tmp_path, text, "dss.yaml")
    with pytest.raises(MappingError) as caught:
        load_mapping(path)
    message = str(caught.value)
    assert "dss.yaml" in message
    for word in words:
        assert word in message, f"{problem}: {word!r} not in {message!r}"


def test_missing_or_broken_files_are_mapping_errors(tmp_path: Path) -> None:
    with pytest.raises(MappingError, match="not found"):
        load_mapping(tmp_path / "nope.yaml")
    with pytest.raises(MappingError, match="not valid YAML"):
        load_mapping(write(tmp_path, "source: [unclosed\n"))


def test_a_key_given_twice_is_refused_naming_both_lines(tmp_path: Path) -> None:
    # Last-wins would ingest the column the author meant to replace, or the one they forgot.
    twice = DOCS_EXAMPLE.replace(
        "  nid: {column: nid_no}\n", "  nid: {column: nid_no}\n  nid: {column: nid_new}\n"
    )
    with pytest.raises(MappingError, match=r"m\.yaml.*'nid' is given twice.*lines 17 and 18"):
        load_mapping(write(tmp_path, twice))
    top = DOCS_EXAMPLE.replace("kind: programme\n", "kind: programme\nsource: dss_widow\n")
    with pytest.raises(MappingError, match=r"'source' is given twice"):
        load_mapping(write(tmp_path, top))


def test_a_field_fed_by_several_columns(tmp_path: Path) -> None:
    m = load_mapping(
        write(
            tmp_path,
            "source: s\nkind: programme\nrecord_id: id\nfields:\n"
            "  full_name: {columns: [first_name, last_name], script: en}\n"
            "  father_name: {columns: [father_first, father_last], default: unknown}\n"
            "  upazila: {columns: [upazila]}\n",
        )
    )
    spec = m.fields["full_name"]
    assert spec.columns == ("first_name", "last_name")
    assert spec.column is None and spec.source_columns == ("first_name", "last_name")
    assert m.fields["father_name"].default == "unknown"
    assert m.columns == ("id", "first_name", "last_name", "father_first", "father_last", "upazila")
    assert m.to_dict()["fields"]["full_name"] == {
        "columns": ["first_name", "last_name"],
        "script": "en",
    }


def test_age_as_of_on_a_date_of_birth(tmp_path: Path) -> None:
    m = load_mapping(
        write(
            tmp_path,
            "source: s\nkind: programme\nrecord_id: id\nfields:\n"
            "  date_of_birth: {column: dob_or_age, formats: ['%d/%m/%Y'], age_as_of: 2025-06-30}\n",
        )
    )
    assert m.fields["date_of_birth"].age_as_of == "2025-06-30"
    assert m.fields["date_of_birth"].formats == ("%d/%m/%Y",)


def test_new_entry_keys_leave_older_mappings_digests_alone(tmp_path: Path) -> None:
    # a run's mapping digest decides whether a killed ingest resumes: unchanged by new keys
    m = load_mapping(write(tmp_path, DOCS_EXAMPLE))
    assert "columns" not in str(m.to_dict()) and "age_as_of" not in str(m.to_dict())


def test_identifiers_a_source_declares(tmp_path: Path) -> None:
    m = load_mapping(
        write(
            tmp_path,
            "source: s\nkind: reference\nrecord_id: id\nfields:\n  full_name: name\n"
            "identifiers:\n  tin: tin_no\n  Employee_ID: {column: emp_no}\n",
        )
    )
    assert m.identifiers == {"tin": "tin_no", "employee_id": "emp_no"}
    assert m.columns == ("id", "name", "tin_no", "emp_no")
    assert m.to_dict()["identifiers"] == {"employee_id": "emp_no", "tin": "tin_no"}
    plain = load_mapping(write(tmp_path, DOCS_EXAMPLE, "plain.yaml"))
    assert plain.identifiers == {} and "identifiers" not in plain.to_dict()
