"""Incremental resolve: one new record gets the answer the batch would give it."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from engine.errors import IncrementalError
from engine.incremental.agreement import holdout_agreement
from engine.incremental.register import resolve_record
from engine.incremental.resolver import IncrementalResolver
from engine.quality.training import load_model
from engine.resolve.pipeline import resolve
from engine.resolve.prepare import prepare
from engine.resolve.prepare_one import build_context, prepare_one_mismatches
from synth.load import load_world, synthesise

WORLD_PERSONS = 3_000
WORLD_SEED = 5  # the default model was trained on seed 7


@pytest.fixture(scope="module")
def model():
    return load_model()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    folder = synthesise(WORLD_PERSONS, WORLD_SEED, tmp_path_factory.mktemp("world"))
    return load_world(folder)


def _records() -> pd.DataFrame:
    rows = [
        # Abdul Karim in a programme and in the EC extract (13-digit NID and its 10-digit card)
        dict(
            source="dss",
            record_id="1",
            full_name="Md. Abdul Karim",
            date_of_birth="1960-05-02",
            gender="male",
            nid="2612345678901",
            phone="01711234567",
            district="BD3026",
            upazila="savar",
            union="ashulia",
        ),
        dict(
            source="ec",
            record_id="x1",
            full_name="Abdul Karim",
            full_name_bn="আব্দুল করিম",
            date_of_birth="1960-05-02",
            gender="male",
            nid="19602612345678901",
            nid_alt="4712345678",
            district="BD3026",
            upazila="savar",
            union="ashulia",
        ),
        # his wife shares his phone
        dict(
            source="dss",
            record_id="2",
            full_name="Rahima Begum",
            date_of_birth="1965-03-11",
            gender="female",
            phone="01711234567",
            district="BD3026",
            upazila="savar",
            union="ashulia",
        ),
        # someone else with another NID card
        dict(
            source="dss",
            record_id="3",
            full_name="Sushila Rani Das",
            date_of_birth="1955-11-20",
            gender="female",
            nid="2612345670000",
            district="BD3026",
            upazila="savar",
            union="ashulia",
        ),
    ]
    return pd.DataFrame(rows)


#: A woman none of the small world's records names: a new person wherever she arrives.
MORIOM = {
    "full_name": "Moriom Khatun",
    "date_of_birth": "1972-08-14",
    "gender": "female",
    "phone": "01819876543",
    "district": "BD3026",
    "upazila": "savar",
    "union": "ashulia",
}


def _fresh_resolver(model) -> IncrementalResolver:
    """A resolver built from a batch resolve of the small world (one per test that adds)."""
    records = _records()
    resolution = resolve(records, model)
    return IncrementalResolver.from_resolution(
        resolution, resolution.person.astype(str), model, records=records
    )


@pytest.fixture(scope="module")
def small(model) -> IncrementalResolver:
    records = _records()
    resolution = resolve(records, model)
    ids = np.array([f"P{c}" for c in resolution.person], dtype=object)
    return IncrementalResolver.from_resolution(resolution, ids, model, records=records)


def _person_of(resolver: IncrementalResolver, key: str) -> str:
    return resolver._person_of(resolver._position[key])


def test_a_bangla_only_record_joins_the_person_it_belongs_to(small) -> None:
    match = small.resolve_one(
        {
            "source": "pesp",
            "record_id": "7",
            "full_name_bn": "মোঃ আব্দুল করিম",
            "date_of_birth": "1960-05-02",
            "district": "BD3026",
            "upazila": "savar",
            "union": "ashulia",
        }
    )
    assert match.person_id == _person_of(small, "dss/1")
    assert not match.new_person
    assert match.probability > 0.5
    assert match.explanation is not None
    assert match.explanation.right in {"dss/1", "ec/x1"}
    assert "across scripts" in match.explanation.to_text()


def test_the_smart_card_number_finds_the_person_through_the_ec_extract(small) -> None:
    # only the 10-digit smart-card number: the EC extract links it to the 13-digit core
    match = small.resolve_one(
        {
            "source": "mfs",
            "record_id": "k1",
            "full_name": "Abdul Karim",
            "date_of_birth": "1960-05-02",
            "nid": "4712345678",
        }
    )
    assert match.person_id == _person_of(small, "ec/x1")
    nid_found = match.candidates.set_index("record_id").loc["x1", "rules"]
    assert "nid" in nid_found


def test_a_household_member_sharing_the_phone_is_a_new_person(small) -> None:
    match = small.resolve_one(
        {
            "source": "nhd",
            "record_id": "h1:3",
            "full_name": "Jasim Uddin",
            "age": 19,
            "age_as_of": "2022-06-15",
            "gender": "male",
            "phone": "01711234567",
        }
    )
    assert match.person_id is None and match.new_person
    assert {"dss/1", "dss/2"} <= set(
        match.candidates["source"] + "/" + match.candidates["record_id"]
    )


def test_two_different_nids_never_join_whatever_else_agrees(small) -> None:
    match = small.resolve_one(
        {
            "source": "dwa",
            "record_id": "9",
            "full_name": "Sushila Rani Das",
            "date_of_birth": "1955-11-20",
            "gender": "female",
            "nid": "2699999999999",
            "district": "BD3026",
            "upazila": "savar",
            "union": "ashulia",
        }
    )
    assert match.person_id is None
    sushila = match.persons.set_index("person_id").loc[_person_of(small, "dss/3")]
    assert sushila["cannot_link"] and not sushila["qualifies"]
    assert "two different valid NIDs" in match.explanation.cannot_link


def test_a_record_without_any_shared_key_is_a_new_person_with_no_candidates(small) -> None:
    match = small.resolve_one({"source": "x", "record_id": "1", "full_name": "Nobody Known"})
    assert match.person_id is None and match.candidates.empty and match.explanation is None
    json.dumps(match.to_dict())


def test_added_records_are_found_by_the_following_calls(model) -> None:
    resolver = _fresh_resolver(model)
    first = {**MORIOM, "source": "vgd", "record_id": "1"}
    added = resolver.add(first)
    assert added.new_person and added.person_id == "new:vgd/1"
    again = resolver.resolve_one({**first, "source": "egpp", "record_id": "55"})
    assert again.person_id == "new:vgd/1"
    with pytest.raises(IncrementalError, match="already known"):
        resolver.add(first)


def test_a_dry_run_naming_a_person_a_storing_group_files_provisionally_waits_for_its_id(
    model,
) -> None:
    resolver = _fresh_resolver(model)
    # a storing group mid-way: its new person is filed under a provisional ID until its
    # ledger run gives the lasting one
    resolver.add({**MORIOM, "source": "vgd", "record_id": "1"}, person_id="new:vgd/1")
    settled, remembering, held = threading.Lock(), threading.Lock(), threading.Event()

    def the_group() -> None:
        with settled:
            held.set()
            time.sleep(0.3)
            with remembering:
                resolver.refile("vgd/1", "P-LASTING")

    group = threading.Thread(target=the_group)
    group.start()
    held.wait()
    dry = {**MORIOM, "source": "egpp", "record_id": "55"}
    done = resolve_record(
        resolver, dry, None, kinds={"egpp": "programme"}, remembering=remembering, settled=settled
    )
    group.join()
    assert done.person_id == "P-LASTING"
    assert "new:vgd/1" not in set(done.match.candidate_columns["person_id"])


def test_a_known_record_is_not_its_own_candidate(small) -> None:
    record = _records().iloc[2].to_dict()  # the wife, known to the batch
    match = small.resolve_one(record)
    keys = set(match.candidates["source"] + "/" + match.candidates["record_id"])
    assert "dss/2" not in keys


def test_prepare_one_gives_the_batch_prepared_rows(world: pd.DataFrame) -> None:
    prepared = prepare(world)
    context = build_context(world, prepared)
    fields = [c for c in world.columns if c not in ("version", "invalid_fields")]
    sample = world[fields].astype(object).where(world[fields].notna(), None)
    sample = sample.assign(row=np.arange(len(world)))
    assert prepare_one_mismatches(sample, prepared, context) == []


def test_incremental_agrees_with_the_batch_on_held_back_records(world: pd.DataFrame, model) -> None:
    agreement = holdout_agreement(world, model, fraction=0.05, seed=0, sequential=True)
    assert agreement.held_back > 200
    assert agreement.rate >= 0.995, agreement.records[~agreement.records["agree"]]
    assert agreement.outcomes.get("same person", 0) > 100


def test_a_saved_resolver_loads_and_answers_the_same(
    world: pd.DataFrame, model, tmp_path: Path
) -> None:
    held = world.iloc[::97]
    kept = world.drop(held.index).reset_index(drop=True)
    resolution = resolve(kept, model)
    ids = pd.DataFrame(
        {
            "source": resolution.prepared["source"],
            "record_id": resolution.prepared["record_id"],
            "person_id": [f"P{c}" for c in resolution.person],
        }
    ).sample(frac=1.0, random_state=1)  # keyed IDs need not be in the batch's order
    resolver = IncrementalResolver.from_resolution(resolution, ids, model, records=kept)
    resolver.add(held.iloc[0].to_dict())
    folder = resolver.save(tmp_path / "incremental")
    loaded = IncrementalResolver.load(folder, model)
    assert loaded.fast and len(loaded) == len(kept) + 1
    for record in held.iloc[1:].to_dict(orient="records"):
        a = resolver.resolve_one(record, explain=False)
        b = loaded.resolve_one(record, explain=False)
        assert (a.person_id, round(a.log_odds, 6)) == (b.person_id, round(b.log_odds, 6))


def test_the_batch_writes_what_a_built_resolver_saves(
    world: pd.DataFrame, model, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import engine.resolve.block_index

    monkeypatch.setattr(engine.resolve.block_index, "_KEY_CHUNK", 700)  # keys spelled out in chunks
    held = world.iloc[::101]
    kept = world.drop(held.index).reset_index(drop=True)
    resolution = resolve(kept, model, keep_blocking_keys=True)
    ids = np.array([f"P{c}" for c in resolution.person], dtype=object)
    built = IncrementalResolver.from_resolution(resolution, ids, model, records=kept)
    built.save(tmp_path / "built")
    IncrementalResolver.write_batch(
        tmp_path / "batch",
        resolution,
        ids,
        model,
        records=kept,
        prepared=resolution.prepared_with_blocking_keys(),
    )
    for name in ("prepared", "keys", "codes", "sample"):
        pd.testing.assert_frame_equal(
            pd.read_parquet(tmp_path / "batch" / f"{name}.parquet"),
            pd.read_parquet(tmp_path / "built" / f"{name}.parquet"),
        )
    loaded = IncrementalResolver.load(tmp_path / "batch", model)
    assert loaded.fast
    for record in held.to_dict(orient="records"):
        a = built.resolve_one(record, explain=False)
        b = loaded.resolve_one(record, explain=False)
        assert (a.person_id, round(a.log_odds, 6)) == (b.person_id, round(b.log_odds, 6))


def test_a_changed_prepare_falls_back_to_prepare_itself_with_the_same_answers(
    world: pd.DataFrame, model
) -> None:
    held = world.iloc[::211]
    kept = world.drop(held.index).reset_index(drop=True)
    resolution = resolve(kept, model)
    resolver = IncrementalResolver.from_resolution(
        resolution, resolution.person.astype(str), model, records=kept
    )
    rows = held.to_dict(orient="records")
    fast = [resolver.resolve_one(r, explain=False).person_id for r in rows]
    resolver.fast = False
    slow = [resolver.resolve_one(r, explain=False).person_id for r in rows]
    assert fast == slow


def test_a_folder_without_a_saved_resolver_is_refused(model, tmp_path: Path) -> None:
    with pytest.raises(IncrementalError, match="run the batch first"):
        IncrementalResolver.load(tmp_path, model)


def test_an_explained_answer_is_the_one_scored_without_explanations(
    world: pd.DataFrame, model
) -> None:
    """resolve_one scores from the model's explanation of every candidate (one walk of the trees);
    the answer is the one plain scoring gives, and the explanation names every feature with the
    contribution the model gives it, adding up to the score."""
    from engine.resolve.explain import model_features

    held = world.iloc[::151]
    kept = world.drop(held.index).reset_index(drop=True)
    resolution = resolve(kept, model)
    resolver = IncrementalResolver.from_resolution(
        resolution, resolution.person.astype(str), model, records=kept
    )
    explained_some = 0
    for record in held.to_dict(orient="records"):
        a = resolver.resolve_one(record, explain=True)
        b = resolver.resolve_one(record, explain=False)
        assert (a.person_id, a.decided_by, a.merges) == (b.person_id, b.decided_by, b.merges)
        assert a.probability == pytest.approx(b.probability, abs=1e-9)
        assert list(a.candidates["record_id"]) == list(b.candidates["record_id"])
        np.testing.assert_allclose(
            a.candidates["probability"].to_numpy(np.float64),
            b.candidates["probability"].to_numpy(np.float64),
            atol=1e-9,
        )
        if a.explanation is None:
            assert a.candidates.empty
            continue
        explained_some += 1
        e = a.explanation
        assert e.probability == a.candidates["probability"].iat[0]
        assert sorted(r.feature for r in e.rows) == sorted(model_features(model))
        assert all(r.meaning for r in e.rows)
        total = e.bias + sum(r.contribution for r in e.rows)
        assert total == pytest.approx(e.score, abs=1e-9)
    assert explained_some > 5


def test_add_with_the_answer_just_given_remembers_what_resolving_again_would(model) -> None:
    """register passes add the answer it resolved with; the resolver then holds the same records,
    persons and context as one that resolved each record again, and answers the same."""
    records = _records()
    resolution = resolve(records, model)
    given, fresh = (
        IncrementalResolver.from_resolution(
            resolution, resolution.person.astype(str), model, records=records
        )
        for _ in range(2)
    )
    arriving = [
        {**records.iloc[0].to_dict(), "source": "vgd", "record_id": "7"},  # Abdul Karim again
        {**records.iloc[2].to_dict(), "source": "vgd", "record_id": "8"},  # his wife again
        {**MORIOM, "source": "vgd", "record_id": "9"},
    ]
    for record in arriving:
        answer = given.resolve_one(record)
        kept = given.add(record, match=answer)
        again = fresh.add(record)
        assert kept.person_id == again.person_id
        assert answer.person_id == again.person_id or answer.person_id is None
    assert len(given) == len(fresh)
    assert given._position == fresh._position
    assert given._person_rows == fresh._person_rows
    assert given._added_person == fresh._added_person
    later = {**arriving[2], "source": "egpp", "record_id": "55"}
    assert given.resolve_one(later).person_id == fresh.resolve_one(later).person_id == "new:vgd/9"


def test_add_resolves_again_when_the_answer_is_out_of_date(model) -> None:
    """An answer given before another record was added is not reused: the record joins the
    person added meanwhile instead of becoming a second new person."""
    resolver = _fresh_resolver(model)
    moriom = {**MORIOM, "source": "vgd", "record_id": "1"}
    twin_send = {**moriom, "source": "egpp", "record_id": "2"}
    stale = resolver.resolve_one(twin_send)
    assert stale.new_person
    resolver.add(moriom)
    added = resolver.add(twin_send, match=stale)
    assert added.person_id == "new:vgd/1"
    assert stale.person_id is None  # the caller's answer is left as it was
