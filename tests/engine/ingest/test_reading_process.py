"""The process that reads the files of one ``ekjon ingest`` one after another
(:class:`engine.ingest.run.ReadingProcess`): forked once, it must leave each file as a process
forked for it alone would: the source's lock free once the file is in, a failed or stopped file
the ingest's error, and the files after it ingested."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

import pytest

from engine.errors import EkjonError
from engine.ingest import cleaner, run
from engine.ingest.mapping import mapping_from_dict
from engine.ingest.run import ReadingProcess, ingest_file
from engine.ingest.store import RecordStore, source_file_name

pytestmark = pytest.mark.skipif(not run._can_fork(), reason="the reading process is forked")


@pytest.fixture
def store(tmp_path: Path) -> RecordStore:
    with RecordStore(tmp_path / "home" / "records.sqlite") as s:
        yield s


def mapping(source: str):
    return mapping_from_dict(
        {
            "source": source,
            "kind": "programme",
            "record_id": "ben_id",
            "fields": {"full_name": "name", "phone": "mobile"},
        }
    )


def write_file(path: Path, first: int, rows: int = 50) -> Path:
    lines = [f"{i},Name {chr(65 + i % 26)} Begum,0171{i:07d}\n" for i in range(first, first + rows)]
    path.write_text("ben_id,name,mobile\n" + "".join(lines), encoding="utf-8")
    return path


def lock_is_free(store: RecordStore, source: str) -> bool:
    """Whether another process could take the source's ingest lock now (a new open file
    description, as another `ekjon ingest` would make)."""
    path = store.path.with_name(store.path.stem + ".locks") / f"{source_file_name(source)}.lock"
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)
    return True


def test_a_source_read_by_the_kept_process_is_free_to_ingest_again_once_its_file_is_in(
    store: RecordStore, tmp_path: Path
) -> None:
    with ReadingProcess() as reading:
        first = ingest_file(
            store, mapping("dss"), write_file(tmp_path / "a.csv", 0), parallel=True, reading=reading
        )
        assert reading.running  # kept for the next file
        assert lock_is_free(store, "dss")
        # a second file of the same source in the same command is not refused as busy
        second = ingest_file(
            store,
            mapping("dss"),
            write_file(tmp_path / "b.csv", 50),
            parallel=True,
            reading=reading,
        )
    assert (first.ingested, second.ingested) == (50, 50)
    assert len(store.current(["dss"])) == 100


def test_a_file_failing_in_the_reading_process_is_its_error_and_the_next_file_goes_in(
    store: RecordStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clean_chunk = cleaner.Cleaner.clean_chunk

    def failing(self: cleaner.Cleaner, chunk: object, keep: list[int]) -> object:
        if self.mapping.source == "broken":
            raise EkjonError("this file cannot be cleaned")
        return clean_chunk(self, chunk, keep)  # type: ignore[arg-type]

    monkeypatch.setattr(cleaner.Cleaner, "clean_chunk", failing)  # before the fork: its copy
    with ReadingProcess() as reading:
        reading.start()
        with pytest.raises(EkjonError, match="cannot be cleaned"):
            ingest_file(
                store, mapping("broken"), write_file(tmp_path / "a.csv", 0), reading=reading
            )
        after = ingest_file(
            store, mapping("vgd"), write_file(tmp_path / "b.csv", 0), reading=reading
        )
    assert after.ingested == 50
    assert [r.status for r in store.ingests()] == ["failed", "finished"]
    assert lock_is_free(store, "broken")


def test_an_ingest_stopped_mid_file_ends_the_reading_process_and_the_next_file_forks_anew(
    store: RecordStore, tmp_path: Path
) -> None:
    class Stop(Exception):
        pass

    def stop(progress: run.IngestProgress) -> None:
        raise Stop

    with ReadingProcess() as reading:
        reading.start()
        with pytest.raises(Stop):
            ingest_file(
                store,
                mapping("dss"),
                write_file(tmp_path / "a.csv", 0, rows=400),
                progress=stop,
                chunk_rows=10,
                reading=reading,
            )
        # it was sending the stopped file's chunks: ended, not left to send them to the next
        assert not reading.running
        again = ingest_file(
            store,
            mapping("dss"),
            write_file(tmp_path / "a.csv", 0, rows=400),
            parallel=True,
            reading=reading,
        )
    assert again.rows_read == 400
    assert len(store.current(["dss"])) == 400


def test_a_file_reads_alike_in_the_kept_process_a_process_of_its_own_and_the_ingests_own(
    tmp_path: Path,
) -> None:
    data = write_file(tmp_path / "a.csv", 0, rows=300)
    (tmp_path / "a.csv").write_text(
        data.read_text(encoding="utf-8") + "x,too,many,columns\n,Empty Id,01711111111\n",
        encoding="utf-8",
    )

    def stored(name: str, **how: object) -> list[tuple[object, ...]]:
        with RecordStore(tmp_path / name / "records.sqlite") as store:
            report = ingest_file(store, mapping("dss"), data, chunk_rows=40, **how)  # type: ignore[arg-type]
            assert report.quarantined == 2
            rows = store._rows("SELECT * FROM records ORDER BY rowid")
            return rows + store._rows("SELECT * FROM quarantine ORDER BY rowid")

    in_process = stored("in", parallel=False)
    assert stored("own", parallel=True) == in_process
    with ReadingProcess() as reading:
        assert stored("kept", parallel=True, reading=reading) == in_process
