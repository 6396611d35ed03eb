"""The one-record resolver opened on its memory-mapped tables answers exactly as the one read
whole from the Parquet files (what an older ekjon wrote), also after records are added; a saved
state an older ekjon wrote in another form is refused saying what to run."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from engine.errors import IncrementalError
from engine.incremental.resolver import IncrementalResolver
from engine.incremental.tables import TABLES_DIR
from engine.quality.training import load_model
from engine.resolve.pipeline import resolve
from synth.load import load_world, synthesise


@pytest.fixture(scope="module")
def model():
    return load_model()


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory, model) -> tuple[Path, pd.DataFrame]:
    """A batch's saved state (tables and Parquet files) and the records held back from it."""
    root = tmp_path_factory.mktemp("tables")
    world = load_world(synthesise(2_000, 8, root / "world"))
    held = world.iloc[::37]
    kept = world.drop(held.index).reset_index(drop=True)
    resolution = resolve(kept, model, keep_blocking_keys=True)
    IncrementalResolver.write_batch(
        root / "state",
        resolution,
        [f"P{c}" for c in resolution.person],
        model,
        records=kept,
        prepared=resolution.prepared_with_blocking_keys(),
    )
    return root / "state", held


def _without_tables(folder: Path, to: Path) -> Path:
    shutil.copytree(folder, to)
    shutil.rmtree(to / TABLES_DIR)
    return to


def _answer(resolver: IncrementalResolver, record: dict) -> tuple:
    match = resolver.resolve_one(record)
    return (
        match.person_id,
        round(match.log_odds, 9),
        match.decided_by,
        match.merges,
        match.candidates.round(9).to_dict(orient="list"),
        match.persons.round(9).to_dict(orient="list"),
        None if match.explanation is None else match.explanation.to_text(),
    )


def test_the_tables_answer_as_the_parquet_files(saved, model, tmp_path: Path) -> None:
    folder, held = saved
    opened = IncrementalResolver.load(folder, model)
    read_whole = IncrementalResolver.load(_without_tables(folder, tmp_path / "old"), model)
    assert opened._table is not None and read_whole._table is None
    assert opened.fast and read_whole.fast and len(opened) == len(read_whole)
    records = held.to_dict(orient="records")
    answers = [_answer(opened, r) for r in records]
    assert answers == [_answer(read_whole, r) for r in records]
    assert sum(a[0] is not None for a in answers) > len(records) // 2
    # records added one after another: each is found by the ones after it
    for record in records[:20]:
        a, b = opened.add(record), read_whole.add(record)
        assert (a.person_id, round(a.log_odds, 9)) == (b.person_id, round(b.log_odds, 9))
    twins = [{**r, "source": "again", "record_id": f"{r['record_id']}-2"} for r in records[:20]]
    assert [_answer(opened, r) for r in twins] == [_answer(read_whole, r) for r in twins]
    assert all(opened.knows(f"{r['source']}/{r['record_id']}") for r in records[:20])


def test_a_resolver_opened_on_tables_saves_what_it_read(saved, model, tmp_path: Path) -> None:
    folder, held = saved
    opened = IncrementalResolver.load(folder, model)
    opened.add(held.iloc[0].to_dict())
    again = IncrementalResolver.load(opened.save(tmp_path / "saved"), model)
    assert len(again) == len(opened)
    for record in held.iloc[1:30].to_dict(orient="records"):
        assert _answer(again, record) == _answer(opened, record)


def test_a_state_of_an_older_format_says_to_resolve_again(saved, model, tmp_path: Path) -> None:
    folder = _without_tables(saved[0], tmp_path / "v1")
    state = json.loads((folder / "incremental.json").read_text(encoding="utf-8"))
    (folder / "incremental.json").write_text(json.dumps({**state, "format_version": 1}))
    with pytest.raises(IncrementalError, match="Run `ekjon resolve` again"):
        IncrementalResolver.load(folder, model)


def test_a_state_lacking_columns_this_ekjon_compares_says_to_resolve_again(
    saved, model, tmp_path: Path
) -> None:
    folder = _without_tables(saved[0], tmp_path / "old-columns")
    prepared = pd.read_parquet(folder / "prepared.parquet")
    prepared.drop(columns=["kin"]).to_parquet(folder / "prepared.parquet", index=False)
    with pytest.raises(IncrementalError, match=r"lack kin\)\. Run `ekjon resolve` again"):
        IncrementalResolver.load(folder, model)


def test_damaged_tables_are_named(saved, model, tmp_path: Path) -> None:
    folder = tmp_path / "damaged"
    shutil.copytree(saved[0], folder)
    path = folder / TABLES_DIR / "records.arrow"
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(IncrementalError, match="records.arrow cannot be read"):
        IncrementalResolver.load(folder, model)


def test_the_start_up_checks_made_by_the_same_code_are_not_made_again(
    saved, model, tmp_path: Path
) -> None:
    folder = tmp_path / "checked"
    shutil.copytree(saved[0], folder)
    meta_path = folder / TABLES_DIR / "meta.json"
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    assert meta["checks"]["prepare_one_differs"] == []
    assert IncrementalResolver.load(folder, model).fast
    # as if the batch's prepare had differed: this code takes that answer
    meta["checks"]["prepare_one_differs"] = ["name_en"]
    meta_path.write_text(json.dumps(meta), encoding="utf-8")
    assert not IncrementalResolver.load(folder, model).fast
    # written by other code: checked again (and prepare_one agrees)
    meta["checks"]["code"] = "another ekjon"
    meta_path.write_text(json.dumps(meta), encoding="utf-8")
    assert IncrementalResolver.load(folder, model).fast


def test_rows_taken_from_the_tables_are_what_the_parquet_path_holds(saved, model) -> None:
    import numpy as np

    folder, _ = saved
    opened = IncrementalResolver.load(folder, model)
    whole = pd.read_parquet(folder / "prepared.parquet").drop(columns=["person_id"])
    rows = np.arange(0, len(whole), 7)
    taken = opened._take(rows)
    assert list(taken) == list(whole.columns)
    for column in whole.columns:
        expected = whole[column].to_numpy()[rows]
        assert taken[column].dtype == expected.dtype, column
        assert (
            pd.Series(list(taken[column])).astype(str).equals(pd.Series(list(expected)).astype(str))
        ), column


def test_a_records_frame_reads_the_columns_it_does_not_compare_when_asked(saved, model) -> None:
    import numpy as np

    from engine.incremental.frame import NOT_COMPARED

    folder, held = saved
    opened = IncrementalResolver.load(folder, model)
    new = opened.prepare(held.iloc[0].to_dict())
    rows = np.arange(3, opened._base, 97)
    frame = opened._frame(new, rows, {})
    taken = opened._take(rows)
    assert list(frame) == opened._columns and NOT_COMPARED <= set(frame)
    for column in sorted(NOT_COMPARED):
        values = frame[column]
        assert values.dtype == taken[column].dtype, column
        head = np.empty(1, values.dtype)
        head[0] = new[column]
        assert repr(values[0]) == repr(head[0]), column
        assert repr(list(values[1:])) == repr(list(taken[column])), column


def test_person_ids_sliced_from_the_table_are_arrows() -> None:
    import pyarrow as pa

    from engine.incremental.tables import utf8_column

    column = pa.chunked_array([pa.array(["P1", "", "পরিচয়-২", "P10", "x" * 300])])
    texts = utf8_column(column)
    assert texts is not None
    rows = [4, 0, 2, 2, 1, 3]
    assert texts.texts(rows) == column.chunk(0).take(pa.array(rows)).to_pylist()
    assert texts.texts([]) == []
    assert utf8_column(pa.chunked_array([pa.array(["a", None])])) is None  # missing: Arrow's
    assert utf8_column(pa.chunked_array([pa.array([1, 2])])) is None


def test_tuple_keys_are_written_as_they_are_looked_up() -> None:
    """The batch writes millions of tuple keys with a faster encoder than the one a lookup uses:
    both give the same text, or a lookup would miss."""
    import numpy as np

    from engine.incremental.tables import _tuple_key, _written_key

    keys = [
        ("union", "abdul karim", np.int64(12)),
        (np.int32(5), "রহিম"),
        ('quote " and \\ back', "new\nline\ttab", "\x01\u2028"),
        (True, None, 1.5),
        (),
        (-3, 2**40),
    ]
    for key in keys:
        assert _written_key(key) == _tuple_key(key), key


def test_a_large_sorted_text_column_finds_every_key_and_no_other() -> None:
    """A saved lookup of many text keys (the look-up first searches a sample of them) finds each
    key where it is, and says a key that is not there is not, wherever it would sort."""
    import bisect

    import pyarrow as pa

    from engine.incremental.tables import Sorted

    keys = sorted({f"P{i * 7919 % 100_003:06d}" for i in range(5_000)} | {"", "রহিম", "Z"})
    keys.sort(key=lambda k: k.encode("utf-8"))  # as the tables are sorted
    mapping = Sorted(
        pa.chunked_array([pa.array(keys)]), pa.chunked_array([pa.array(range(len(keys)))])
    )
    encoded = [k.encode("utf-8") for k in keys]
    for i, key in enumerate(keys):
        assert mapping.get(key) == i and mapping[key] == i and key in mapping
    for absent in ("P", "P0000000", "P100003", "!", "রহিমা", "ZZ", *(k + "x" for k in keys[::97])):
        assert absent not in mapping and mapping.get(absent, -1) == -1, absent
        with pytest.raises(KeyError):
            mapping[absent]
    values = mapping._keys
    for probe in (*keys[::53], "P", "P050000x", "ZZ", ""):
        e = probe.encode("utf-8")
        assert values.span(probe) == (
            bisect.bisect_left(encoded, e),
            bisect.bisect_right(encoded, e),
        )
