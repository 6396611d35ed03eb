"""Same records in, same IDs out, whatever order the record store gives them in."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from engine.identity.ledger import IdentityLedger
from engine.run import run_batch
from tests.engine.resolve.homes import namesakes_home, rebuild_snapshots_reversed


def _ids(home) -> pd.DataFrame:
    assignment = pd.read_parquet(home.assignment)
    return assignment.set_index(["source", "record_id"])[["person_id", "household_id"]]


def test_rebuilding_the_snapshot_in_another_order_moves_no_record(tmp_path: Path) -> None:
    home = namesakes_home(tmp_path)
    run_batch(home)
    before = _ids(home)
    # each undocumented widow-allowance record went to one of its two equally good namesakes
    widows = before.xs("dss_widow", level="source")
    assert len(widows) == 5 and widows["person_id"].nunique() == 5

    rebuild_snapshots_reversed(home)
    report = run_batch(home)

    after = _ids(home).reindex(before.index)
    moved = before.index[(before != after).any(axis=1).to_numpy()]
    assert list(moved) == [], f"records moved to other persons or households: {list(moved)}"
    assert report.person_events == {}  # nothing changed, so the ledger says nothing
    with IdentityLedger(home.ledger) as ledger:
        assert ledger.runs("person")["new"].tolist() == [10, 0]


def test_every_order_of_the_records_gives_the_same_persons(tmp_path: Path) -> None:
    """The batch pipeline itself, fed the same records shuffled: the same partition."""
    from engine.ingest.store import RecordStore
    from engine.quality.training import DEFAULT_ARTIFACT, load_model
    from engine.resolve.pipeline import resolve

    home = namesakes_home(tmp_path)
    with RecordStore(home.records) as store:
        records = store.current()
    model = load_model(DEFAULT_ARTIFACT)

    def persons(frame: pd.DataFrame) -> set[frozenset[str]]:
        assigned = resolve(frame.reset_index(drop=True), model).assignments()
        keys = assigned["source"] + "/" + assigned["record_id"]
        return {frozenset(group) for group in keys.groupby(assigned["cluster"]).agg(list)}

    expected = persons(records)
    rng = np.random.default_rng(3)
    for _ in range(3):
        assert persons(records.iloc[rng.permutation(len(records))]) == expected
    assert persons(records.iloc[::-1]) == expected


def test_the_one_record_resolver_answers_the_same_whatever_order_it_was_built_from(
    tmp_path: Path,
) -> None:
    """A new undocumented record that matches both namesakes and the widow record filed with one
    of them: the one-record resolver's linkage breaks the tie as the batch would, by record key,
    not by where the record or the batch's rows happen to sit."""
    from engine.incremental.resolver import IncrementalResolver
    from engine.ingest.store import RecordStore
    from engine.quality.training import DEFAULT_ARTIFACT, load_model
    from engine.resolve.pipeline import resolve
    from tests.engine.resolve.homes import NAMES, PLACE

    home = namesakes_home(tmp_path)
    run_batch(home)
    ids = pd.read_parquet(home.assignment)
    with RecordStore(home.records) as store:
        records = store.current()
    model = load_model(DEFAULT_ARTIFACT)
    new = {"source": "dss_widow", "record_id": "0z", "full_name": NAMES[0]}
    new |= {"date_of_birth": "1950-01-10", "phone": "01711234500", **PLACE}

    answers = []
    for rows in (records, records.iloc[::-1]):
        rows = rows.reset_index(drop=True)
        resolver = IncrementalResolver.from_resolution(
            resolve(rows, model), ids, model, records=rows
        )
        match = resolver.resolve_one(new, explain=False)
        assert match.decided_by == "linkage"
        answers.append((match.person_id, sorted(match.merges)))
    assert answers[0] == answers[1]


def test_a_household_does_not_depend_on_which_of_a_persons_records_comes_first() -> None:
    """The husband's two records disagree on his gender (a data-entry slip): whichever comes
    first, his wife's record naming him joins them in one household."""
    from engine.identity.households import resolve_households
    from tests.engine.resolve.homes import PLACE

    def programme(person: str, record_id: str, **extra: str) -> dict[str, str]:
        return {"source": "dss", "record_id": record_id, "kind": "programme", "person_id": person,
                "ward": "4", **PLACE, **extra}  # fmt: skip

    rows = [
        programme("W", "w1", full_name="Rahima Begum", gender="female", spouse_name="Abdul Karim"),
        programme("H", "h1", full_name="Md. Abdul Karim", gender="male"),
        programme("H", "h2", full_name="Abdul Karim", gender="female"),
    ]
    for order in (rows, rows[::-1], [rows[0], rows[2], rows[1]]):
        found = resolve_households(pd.DataFrame(order)).set_index("person_id")
        assert found.loc["W", "household_id"] == found.loc["H", "household_id"], order
