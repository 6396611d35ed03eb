"""A file is read in chunks of its own size in each place it can be read: in a process of its own
(small first and last chunks, stored while the next are read) or in the ingest's own process
(``chunk_rows`` at a time). Where it is read changes nothing stored."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.ingest import run
from engine.ingest.mapping import mapping_from_dict
from engine.ingest.readers import open_source
from engine.ingest.run import ingest_file
from engine.ingest.store import RecordStore

MAPPING = mapping_from_dict(
    {
        "source": "dss",
        "kind": "programme",
        "record_id": "ben_id",
        "fields": {"full_name": "name", "phone": "mobile"},
    }
)


def write_file(path: Path, rows: int) -> Path:
    lines = [f"{i},Name {chr(65 + i % 26)} Begum,0171{i:07d}\n" for i in range(rows)]
    path.write_text("ben_id,name,mobile\n" + "".join(lines), encoding="utf-8")
    return path


def test_a_file_read_in_the_ingests_own_process_is_read_chunk_rows_at_a_time(
    tmp_path: Path,
) -> None:
    data = write_file(tmp_path / "a.csv", 2_500)
    alone = open_source(data, file_format="csv", columns=["ben_id"], while_storing=False)
    beside = open_source(data, file_format="csv", columns=["ben_id"])
    assert [len(c) for c in alone.chunks()] == [2_500]
    assert [len(c) for c in beside.chunks()] == [1_000, 1_000, 500]


@pytest.mark.skipif(not run._can_fork(), reason="a process of its own is forked")
def test_a_file_stores_alike_read_in_a_process_of_its_own_and_in_the_ingests(
    tmp_path: Path,
) -> None:
    data = write_file(tmp_path / "a.csv", 300)
    data.write_text(
        data.read_text(encoding="utf-8") + "x,too,many,columns\n,Empty Id,01711111111\n",
        encoding="utf-8",
    )

    def stored(name: str, parallel: bool) -> list[tuple[object, ...]]:
        with RecordStore(tmp_path / name / "records.sqlite") as store:
            report = ingest_file(store, MAPPING, data, chunk_rows=40, parallel=parallel)
            assert report.quarantined == 2
            rows = store._rows("SELECT * FROM records ORDER BY rowid")
            return rows + store._rows("SELECT * FROM quarantine ORDER BY rowid")

    assert stored("own", parallel=True) == stored("in", parallel=False)
