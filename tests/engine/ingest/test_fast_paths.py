"""Ingest's fast paths store exactly what reading record by record and cleaning every value
stores: plain CSV lines read a block at a time (Arrow's CSV reader, or the csv module for
quoted lines), values kept as given when they are clean already, only the columns holding a
value written, the rows written made where the file is read (as version 1: the store changes the
version of new versions of known records). Compared on synthetic worlds of both shapes and on
messy copies of their files."""

from __future__ import annotations

import itertools
import json
import random
import sqlite3
from pathlib import Path

import pytest

import engine.ingest.cleaner as cleaner
import engine.ingest.readers as readers
import engine.ingest.run as run
from engine.ingest.mapping import load_mapping
from engine.ingest.readers import read_rows
from engine.ingest.run import ingest_folder
from engine.ingest.store import RecordStore
from engine.normalise import clean
from engine.normalise.fields import clean_as_given
from synth import WorldParameters, generate_world

PERSONS = 600


def messy_copy(world: Path, out: Path, seed: int) -> Path:
    """The world's CSV files (with their mappings) with the faults real exports have: blank and
    whitespace lines, quoted values holding the delimiter, doubled quotes or a line break,
    rows of another width, bytes that are no UTF-8, an unclosed quote, CRLF endings, NUL, "N/A",
    Bangla digits, repeated rows (so repeated record ids) and a byte order mark."""
    rng = random.Random(seed)
    out.mkdir()
    for data in sorted(world.glob("*.csv")):
        mapping = data.with_suffix(".yaml").read_text(encoding="utf-8")
        (out / f"{data.stem}.yaml").write_text(mapping, encoding="utf-8")
        delimiter = ";" if "delimiter: ';'" in mapping else ","
        header, *body = [line for line in data.read_bytes().split(b"\n") if line]
        lines = [b"\xef\xbb\xbf" + header]
        for i, line in enumerate(body):
            roll = rng.random()
            cells = line.decode("utf-8").split(delimiter)
            j = rng.randrange(1, len(cells)) if len(cells) > 1 else 0
            if roll < 0.01:
                lines.append(rng.choice([b"", b"   ", b"\r"]))
            if roll < 0.004:
                line += f"{delimiter}extra".encode()
            elif roll < 0.008:
                line = delimiter.join(cells[:-1]).encode()
            elif roll < 0.011:
                line = line.replace(b"a", b"\xff", 1)
            elif roll < 0.012:
                line += b'"unclosed'
            elif roll < 0.05:
                cells[j] = rng.choice(
                    [
                        f'"{cells[j]}{delimiter} Para"',
                        f'"a ""quoted"" {cells[j]}"',
                        f'"two\nlines {cells[j]}"',
                        "  ",
                        "N/A",
                        "-",
                        "১২৩৪৫",
                        f"{cells[j]}\x00",
                        f" {cells[j]} ",
                    ]
                )
                line = delimiter.join(cells).encode()
            elif roll < 0.06 and i:
                line = body[i - 1]
            lines.append(line + (b"\r" if roll > 0.97 else b""))
        (out / data.name).write_bytes(b"\n".join(lines) + b"\n")
    return out


@pytest.fixture(scope="module")
def worlds(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    root = tmp_path_factory.mktemp("fast-paths")
    default, varied = root / "default", root / "varied"
    generate_world(WorldParameters(persons=PERSONS, seed=3), default)
    generate_world(WorldParameters(persons=PERSONS, seed=4, shapes="varied", shape_seed=2), varied)
    return [
        default,
        varied,
        messy_copy(default, root / "default-messy", 1),
        messy_copy(varied, root / "varied-messy", 2),
    ]


def stored(home: Path, worlds: list[Path]) -> dict[str, list[tuple[object, ...]]]:
    """Ingest the worlds one after the other into one store (the messy copies of a world's
    files make new versions of some records and leave others unchanged) and read back every
    table row: records, quarantine, field warnings, the runs' counts; and the reports."""
    with RecordStore(home / "records.sqlite") as store:
        reports = [
            report
            for world in worlds
            for report in ingest_folder(store, world, reports_dir=home / "reports")
        ]
        current = store.current_arrow().to_pylist()
    db = sqlite3.connect(home / "records.sqlite")
    tables = {
        table: db.execute(f"SELECT * FROM {table} ORDER BY rowid").fetchall()
        for table in ("records", "quarantine", "field_warnings")
    }
    tables["runs"] = db.execute(
        "SELECT source, status, rows_done, rows_read, ingested, unchanged, new_versions, "
        "quarantined, field_warnings FROM ingests ORDER BY ingest_id"
    ).fetchall()
    tables["current"] = [tuple(r.values()) for r in current]
    tables["reports"] = [
        (r.source, Path(path).read_text(encoding="utf-8-sig"))
        for r in reports
        for path in (r.quarantine_report, r.warnings_report)
        if path is not None
    ]
    db.close()
    return tables


@pytest.mark.parametrize("reader_process", [False, True], ids=["in-process", "reader-process"])
def test_fast_paths_store_what_reading_and_cleaning_one_by_one_stores(
    worlds: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reader_process: bool
) -> None:
    blocks = {"read at once": 0, "read again line by line": 0}
    plain_block = readers._plain_block

    def counted(*args: object) -> object:
        read = plain_block(*args)  # type: ignore[arg-type]
        blocks["read again line by line" if read is None else "read at once"] += 1
        return read

    monkeypatch.setattr(readers, "_plain_block", counted)
    monkeypatch.setattr(readers, "_PLAIN_BLOCK", 97)  # many blocks, some holding a fault
    # every file read and cleaned in a process of its own (as big files are), or none
    monkeypatch.setattr(run, "_PARALLEL_BYTES", 0 if reader_process else 1 << 60)
    fast = stored(tmp_path / "fast", worlds)
    if not reader_process:  # (the reader process counts its own blocks)
        assert blocks["read at once"] > 50 and blocks["read again line by line"] > 10

    monkeypatch.setattr(run, "_PARALLEL_BYTES", 1 << 60)
    monkeypatch.setattr(readers, "_plain_block", lambda *args: None)
    monkeypatch.setattr(cleaner, "clean_as_given", lambda kind, **hints: None)
    monkeypatch.setattr(cleaner, "quick_cleaner", lambda kind, **hints: None)
    # the store makes every row it writes from the cleaned columns itself
    monkeypatch.setattr(run, "prepare_batch", lambda batch, source, ingest_id: batch)
    slow = stored(tmp_path / "slow", worlds)

    assert len(fast["records"]) > 2 * PERSONS
    assert fast["quarantine"] and fast["field_warnings"]
    assert any(unchanged and versions for *_, unchanged, versions, _, _ in fast["runs"])
    for table, rows in slow.items():
        assert fast[table] == rows, table


def test_a_file_reads_alike_a_block_at_a_time_and_line_by_line(
    worlds: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    for data in [*worlds[2].glob("*.csv"), *worlds[3].glob("*.csv")][:6]:
        delimiter = ";" if "delimiter: ';'" in data.with_suffix(".yaml").read_text() else ","
        options = readers.FileOptions(delimiter=delimiter)
        at_once = list(read_rows(data, file_format="csv", options=options))
        with monkeypatch.context() as patch:
            patch.setattr(readers, "_plain_block", lambda *args: None)
            one_by_one = list(read_rows(data, file_format="csv", options=options))
        assert at_once == one_by_one, data.name


AS_GIVEN_CASES = {
    ("nid", None): [
        "1985261234567",
        "19852612345678901",
        "1234567890",
        "123456789",
        "০১২৩৪৫৬৭৮৯",
        " 1234567890",
        "1234567890.0",
        "1234-567-890",
        "12345678901234567890",
    ],
    ("brn", None): ["1234567890123456", "12345678901234567", "123456789012345", "1e16"],
    ("phone", None): [
        "01711234567",
        "01211234567",
        "1711234567",
        "+8801711234567",
        "017112345678",
        "০১৭১১২৩৪৫৬৭",
        "01711 234567",
    ],
    ("account", "bkash"): ["01711234567", "+8801711234567", "1711234567", "017112345678"],
    ("account", "rocket"): ["017112345678", "01711234567", "0171123456789", "8801711234567"],
    ("account", "sonali"): ["12345", "12345678901234567890", "1234", "123456789012345678901"],
    ("account", None): ["20501234567", "2050-1234-567", "০১২৩৪৫৬"],
    ("date", "date_of_birth"): [
        "1980-04-03",
        "1980-02-30",
        "1980-4-3",
        "03/04/1980",
        "1899-12-31",
        "2999-01-01",
        "১৯৮০-০৪-০৩",
        "19800403",
    ],
    ("key", "record_id"): ["B00012", "H-012", "ab_12", "NA", "n/a", "12.0", "1e5", " 12", "১২"],
    ("text", "household_id"): ["BD4018385", "HH-7", "12.00", "NIL", "-", "x 1"],
    ("text", "ward"): ["05", "Ward 5"],
    ("text", "union"): ["UTTAR ISLAMPASHA 2", "Ward2"],
    ("name", "full_name"): [
        "MD. YUSUF GAZI",
        "Abdul  Karim",
        " Abdul Karim",
        "Abdul Karim ",
        "N/A",
        "Nil",
        "none",
        "NOT APPLICABLE",
        "not applicable at all",
        "Karim\x00",
        "Karim\tUddin",
        "Md. Abdul Karim Uddin Chowdhury",
        "মোঃ করিম",
        "O'Brien-Khan",
    ],
}


@pytest.mark.parametrize(("kind", "field"), list(AS_GIVEN_CASES))
def test_a_value_kept_as_given_is_what_cleaning_it_gives(kind: str, field: str | None) -> None:
    hints: dict[str, object] = {"field": field} if field else {}
    if kind == "account":  # an account number's form is its provider's
        hints = {"field": "account_number", "provider": field}
    as_given = clean_as_given(kind, **hints)
    if field in ("ward", "union"):
        assert as_given is None  # cleaning changes these (numbers, lower case)
        return
    assert as_given is not None
    kept = [value for value in AS_GIVEN_CASES[kind, field] if as_given(value)]
    assert kept  # the shortcut is taken for the usual values
    for value in AS_GIVEN_CASES[kind, field]:
        if as_given(value):
            assert clean(kind, value, **hints) == value, value


def test_a_missing_marker_with_trailing_dots_or_dashes_is_not_kept_as_a_name() -> None:
    as_given = clean_as_given("name", field="full_name")
    assert as_given is not None
    for value in (
        "not applicable......",
        "not available.....",
        "unknown...........",
        "not - applicable",
        "not - - available",
        "not_applicable...",
    ):
        assert clean("name", value, field="full_name") is None
        assert not as_given(value), value


def test_names_checked_for_bangla_script_are_always_cleaned() -> None:
    assert clean_as_given("name", field="full_name_bn", script="bn") is None


KILLED_WITH_ITS_READER = """
import sys
from engine.ingest.mapping import load_mapping
from engine.ingest.run import ingest_file
from engine.ingest.store import RecordStore

ingest_file(RecordStore(sys.argv[1]), load_mapping(sys.argv[2]), sys.argv[3], chunk_rows=500,
            parallel=True)
"""


def test_an_ingest_killed_with_its_reader_process_resumes(tmp_path: Path) -> None:
    """The reader process dies with the ingest (it holds no lock after it), and the ingest run
    again resumes where the killed one stopped."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from .test_ingest import ROOT, wait_for_rows_done, write_big_file

    rows = 30_000
    data = tmp_path / "big.csv"
    write_big_file(data, rows)
    mapping = tmp_path / "big.yaml"
    mapping.write_text(
        "source: big\nkind: programme\nrecord_id: ben_id\nfields:\n  full_name: name\n"
        "  nid: nid\n  phone: mobile\n  district: zila\n",
        encoding="utf-8",
    )
    db = tmp_path / "home" / "records.sqlite"
    command = [sys.executable, "-c", KILLED_WITH_ITS_READER, str(db), str(mapping), str(data)]
    proc = subprocess.Popen(command, cwd=ROOT)
    wait_for_rows_done(proc, db, 2_000)
    readers_of = [int(p) for p in os.listdir("/proc") if p.isdigit()]
    children = [
        pid
        for pid in readers_of
        if Path(f"/proc/{pid}/stat").exists()
        and Path(f"/proc/{pid}/stat").read_text().split()[3] == str(proc.pid)
    ]
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the ingest finished before it could be killed"
    assert children, "no reader process was started"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(Path(f"/proc/{c}").exists() for c in children):
        time.sleep(0.05)
    assert not any(Path(f"/proc/{c}").exists() for c in children), "the reader outlived it"

    with RecordStore(db) as store:
        (killed,) = store.ingests()
        assert killed.status == "running" and 0 < killed.rows_done < rows
        report = run.ingest_file(store, load_mapping(mapping), data, parallel=True)
        assert report.resumed and report.rows_read == rows and report.ingested == rows
        current = store.current()
        assert current["record_id"].is_unique and len(current) == rows


def test_record_ids_of_a_chunk_are_those_of_its_rows_one_by_one() -> None:
    cells = [None, "", "   ", " A-1 ", "A-1", "১২৩৪৫", "BD\x00-7", "\tX9", "é-3", "N/A", " ১ "]
    other = list(reversed(cells))

    assert run._record_ids([cells]) == [run.record_id_of([v]) for v in cells]
    assert run._record_ids([cells, other]) == [
        run.record_id_of([a, b]) for a, b in zip(cells, other, strict=True)
    ]
    assert run._record_ids([cells])[3:6] == ["A-1", "A-1", "12345"]


def test_a_file_is_stored_from_its_first_thousand_rows_and_ends_in_small_chunks(
    tmp_path: Path,
) -> None:
    """The store writes the first chunk while the rest is read and cleaned, and little is left
    to write once the last row is read: chunks of 1,000 rows first and last, at most chunk_rows
    between, every row once in file order (CSV, JSONL and Parquet alike)."""
    import json

    import pyarrow as pa
    import pyarrow.parquet as pq

    from .test_ingest import write_big_file

    rows = 30_000
    write_big_file(tmp_path / "big.csv", rows)
    ids = [f"B{i:07d}" for i in range(rows)]
    pq.write_table(pa.table({"ben_id": ids}), tmp_path / "big.parquet", row_group_size=7_000)
    (tmp_path / "big.jsonl").write_text(
        "".join(json.dumps({"ben_id": i}) + "\n" for i in ids), encoding="utf-8"
    )
    for name, file_format in [
        ("big.csv", "csv"),
        ("big.jsonl", "jsonl"),
        ("big.parquet", "parquet"),
    ]:
        reader = readers.open_source(
            tmp_path / name, file_format=file_format, columns=["ben_id"], chunk_rows=3_000
        )
        chunks = list(reader.chunks())
        sizes = [len(chunk) for chunk in chunks]
        assert sizes[0] == 1_000 and sizes[-2] == 1_000 and sizes[-1] <= 1_000, (name, sizes)
        assert max(sizes) == 3_000, (name, sizes)
        assert [r for chunk in chunks for r in chunk.rows] == list(range(1, rows + 1)), name
        assert [v for chunk in chunks for v in chunk.columns["ben_id"]] == ids, name
        assert [chunk.last_row for chunk in chunks] == list(itertools.accumulate(sizes)), name


JSON_LINES = [
    '{"id": "1", "name": "Rahim"}',
    '{"id": "1", "name": "Rahim"}  \t\r\n',
    '  {"id": "1"}',
    '{"id": "1"} extra',
    '{"id": "a"}{"id": "b"}',
    '{"id": "1", "id": "2"}',
    "[1, 2]",
    "42",
    '"text"',
    "not json",
    "",
    '{"id": 1e400, "x": NaN}',
    '{"id": "\\ud800"}',
]


def test_a_json_line_reads_as_json_loads_reads_it() -> None:
    """JSONL lines are read by json's scanner directly (readers._json_object): the same value,
    or the same error, as json.loads gives."""
    for line in JSON_LINES:
        try:
            expected: object = json.loads(line)
        except ValueError as exc:
            expected = repr(exc)
        try:
            got: object = readers._json_object(line)
        except ValueError as exc:
            got = repr(exc)
        assert repr(got) == repr(expected), line
