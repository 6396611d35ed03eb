"""The per-record twins give what the batch gives, for every record of synthetic worlds.

The incremental resolver answers for one record what the batch would answer, through per-record
twins of the batch's steps: :func:`~engine.resolve.prepare_one.prepare_one` beside
:func:`~engine.resolve.prepare.prepare`, the blocking index (:mod:`engine.resolve.block_index`)
beside :mod:`engine.resolve.blocking`, and :func:`~engine.identity.assign.ledger_choice` beside the
identity ledger's plan of a run. Should a twin drift from its original, the resolver would quietly
disagree with the next batch.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import pytest

from engine.identity.assign import _plan, assign_person_ids, ledger_choice
from engine.identity.ledger import IdentityLedger
from engine.quality.training import load_model
from engine.record import CANONICAL_FIELDS, record_key
from engine.resolve.block_index import RuleIndex, hash_keys, key_frame, key_hashes, key_strings
from engine.resolve.blocking import DEFAULT_RULES, BlockingRule, rule_pairs
from engine.resolve.pipeline import resolve
from engine.resolve.prepare import KEY_SEP, prepare
from engine.resolve.prepare_one import _same, build_context, prepare_one
from synth.load import load_world, synthesise

#: (persons, seed) of each world; the default model was trained on seed 7.
WORLDS = ((1_500, 5), (1_200, 13))

#: Records no synthetic world is likely to hold, added to every world: each rule's corner cases.
EDGE_RECORDS: tuple[dict[str, Any], ...] = (
    # a 17-digit NID and its smart card in the EC extract; a record with only the smart card
    {"nid": "19852612345678901", "nid_alt": "4512345678", "full_name": "Abdul Karim"},
    {"nid": "4512345678", "full_name": "Md. Abdul Karim", "age": 40, "age_as_of": "2022-06-15"},
    # only the alternative NID; two smart-card numbers of one person
    {"nid_alt": "2612345670000", "full_name_bn": "সুশীলা রানী দাস"},
    {"nid": "9912345678", "nid_alt": "9912345679", "gender": "female"},
    # wallets: Rocket (12 digits), bKash, a bank account; a phone and a wallet that agree
    {"account_provider": "rocket", "account_number": "017112345678", "phone": "01711234567"},
    {"account_provider": "bkash", "account_number": "01811234567"},
    {"account_provider": "sonali", "account_number": "0021340012345"},
    # heaped and plain ages, a swappable date, a defaulted date, a year only
    {"age": 45, "age_as_of": "2020-01-01", "full_name": "Mst. Rahima Begum"},
    {"age": 17, "age_as_of": "2020-01-01"},
    {"date_of_birth": "1970-03-11"},
    {"date_of_birth": "1970-01-01"},
    {"birth_year": 1981},
    # an upazila and a union without a district; a household
    {"upazila": "savar", "union": "ashulia", "household_id": "h1"},
    {"district": "BD3026", "upazila": "savar", "household_id": "h1"},
    # extra identifiers a source declares, one shared; an address and a postcode
    {"identifiers": "tin=123456789", "full_name": "Abdul Karim", "postcode": "1207"},
    {"identifiers": "employee_id=e7;tin=123456789", "address": "Vill: Rampoor, Uttar Para"},
    # only the union, placed in its upazila and district by the two above; an age (a year range)
    {"union": "ashulia", "full_name": "Nurul Islam", "age": 30, "age_as_of": "2022-06-15"},
)

#: Held-back records per world, each resolved against groups of the batch's persons.
LEDGER_CASES = 60


@pytest.fixture(scope="module")
def model():
    return load_model()


@pytest.fixture(scope="module", params=WORLDS, ids=lambda w: f"{w[0]}p-seed{w[1]}")
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    persons, seed = request.param
    records = load_world(synthesise(persons, seed, tmp_path_factory.mktemp(f"world{seed}")))
    edges = pd.DataFrame(
        [
            {"source": "edge", "record_id": str(i), "kind": "programme", **row}
            for i, row in enumerate(EDGE_RECORDS)
        ]
    )
    edges = edges.astype({c: records[c].dtype for c in edges.columns if c in records.columns})
    return pd.concat([records, edges], ignore_index=True)


@pytest.fixture(scope="module")
def prepared(world: pd.DataFrame) -> pd.DataFrame:
    return prepare(world)


def _canonical(records: pd.DataFrame) -> list[dict[str, Any]]:
    fields = [c for c in CANONICAL_FIELDS if c in records.columns]
    values = records[fields].astype(object)
    return values.where(values.notna(), None).to_dict(orient="records")


@pytest.fixture(scope="module")
def rows(world: pd.DataFrame, prepared: pd.DataFrame) -> list[dict[str, Any]]:
    """Every record prepared by itself, in the batch's context."""
    context = build_context(world, prepared)
    return [prepare_one(values, context, added=True) for values in _canonical(world)]


def _differences(prepared: pd.DataFrame, i: int, row: Mapping[str, Any]) -> list[tuple]:
    return [
        (i, column, prepared[column].iat[i], row.get(column))
        for column in prepared.columns
        if not _same(prepared[column].iat[i], row.get(column))
    ]


# -- prepare -------------------------------------------------------------------------------------


def test_each_record_prepared_alone_is_its_batch_row(
    prepared: pd.DataFrame, rows: list[dict[str, Any]]
) -> None:
    assert all(set(row) == set(prepared.columns) for row in rows)
    differ = [d for i, row in enumerate(rows) for d in _differences(prepared, i, row)]
    assert not differ, f"{len(differ)} values differ, e.g. {differ[:5]}"


def test_a_record_prepared_as_new_is_its_row_in_a_batch_that_holds_it(world: pd.DataFrame) -> None:
    rng = np.random.default_rng(0)
    picks = [*rng.choice(len(world) - len(EDGE_RECORDS), 4, replace=False), len(world) - 1]
    for i in picks:
        kept = world.drop(index=i).reset_index(drop=True)
        context = build_context(kept, prepare(kept))
        new = prepare_one(_canonical(world.iloc[[i]])[0], context)
        batch = prepare(pd.concat([kept, world.iloc[[i]]], ignore_index=True))
        assert not _differences(batch, len(kept), new)


# -- blocking ------------------------------------------------------------------------------------


def _integer(prepared: pd.DataFrame) -> dict[str, bool]:
    return {c: prepared[c].dtype.kind in "iu" for c in prepared.columns}


@pytest.mark.parametrize("rule", DEFAULT_RULES, ids=lambda r: r.name)
def test_each_record_has_its_batch_blocking_keys(
    rule: BlockingRule, prepared: pd.DataFrame, rows: list[dict[str, Any]]
) -> None:
    integer = _integer(prepared)
    batch = key_frame(prepared, rule.columns).groupby("record")["key"].agg(set)
    assert batch.map(len).sum() > 0
    for i, row in enumerate(rows):
        assert set(key_strings(row, rule.columns, integer)) == batch.get(i, set()), i


def _hashed_pairs(records: np.ndarray, hashes: np.ndarray) -> list[tuple[int, int]]:
    return sorted(zip(records.tolist(), hashes.tolist(), strict=True))


@pytest.mark.parametrize("rule", DEFAULT_RULES, ids=lambda r: r.name)
def test_the_index_holds_the_hash_of_each_batch_key_once(
    rule: BlockingRule, prepared: pd.DataFrame
) -> None:
    batch = key_frame(prepared, rule.columns)
    index = RuleIndex.build(rule, prepared)
    assert _hashed_pairs(index.records, index.hashes) == _hashed_pairs(
        batch["record"].to_numpy(), hash_keys(batch["key"].to_numpy())
    )


def test_keys_are_hashed_as_spelled() -> None:
    # lists with repeats, empty lists, blanks and none; a value holding the key separator, so
    # that two pairs of values spell one key; whole numbers with -1 for none
    prepared = pd.DataFrame(
        {
            "words": [["a", "a", "b"], [], None, ["", "c"], [f"a{KEY_SEP}b", "a"], ["a"]],
            "tail": [["x"], ["x"], ["x"], ["y", "y"], ["x", f"b{KEY_SEP}x"], None],
            "union": [7, 7, -1, 8, 9, 7],
        }
    )
    for columns in (("words",), ("words", "tail"), ("words", "union"), ("union", "tail")):
        batch = key_frame(prepared, columns)
        records, hashes = key_hashes(prepared, columns)
        assert _hashed_pairs(records, hashes) == _hashed_pairs(
            batch["record"].to_numpy(), hash_keys(batch["key"].to_numpy())
        ), columns
    # two of record 4's four pairs of values spell one key: it is there once
    records, _ = key_hashes(prepared, ("words", "tail"))
    assert records.tolist().count(4) == 3


def test_a_few_keys_hash_as_they_do_among_many() -> None:
    # one record's few keys are hashed without coding them first, a batch's many with: the
    # one-record resolver must find the batch's hashes
    few = ["7919", f"1{KEY_SEP}2", "", "করিম", "karim"]
    many = np.asarray(few * 100, dtype=object)
    assert hash_keys(few).tolist() == hash_keys(many)[: len(few)].tolist()
    assert hash_keys(few).dtype == hash_keys(many).dtype == np.uint64


def _looked_up_pairs(
    rule: BlockingRule, prepared: pd.DataFrame, rows: list[dict[str, Any]]
) -> set[tuple[int, int]]:
    """The pairs index lookups give, the way the incremental resolver blocks a record: a block
    within ``max_block`` whole; an oversized one narrowed to the members sharing a ``refine`` key,
    if that is small enough; else nothing."""
    index = RuleIndex.build(rule, prepared)
    integer = _integer(prepared)
    pairs: set[tuple[int, int]] = set()
    for i, row in enumerate(rows):
        keys = key_strings(row, rule.columns, integer)
        for hashed in hash_keys(keys).tolist() if keys else []:
            members = index.members(hashed).tolist()
            if len(members) > rule.max_block:
                members = _refined(rule, rows, i, members, integer)
            pairs.update((min(i, m), max(i, m)) for m in members if m != i)
    return pairs


def _refined(
    rule: BlockingRule,
    rows: list[dict[str, Any]],
    i: int,
    members: list[int],
    integer: Mapping[str, bool],
) -> list[int]:
    chosen: set[int] = set()
    for key in set(key_strings(rows[i], rule.refine, integer)) if rule.refine else ():
        sharing = [m for m in members if key in key_strings(rows[m], rule.refine, integer)]
        if len(sharing) <= rule.max_block:
            chosen.update(sharing)
    return sorted(chosen)


@pytest.mark.parametrize("rule", DEFAULT_RULES, ids=lambda r: r.name)
def test_index_lookups_find_the_batch_pairs_of_each_rule(
    rule: BlockingRule, prepared: pd.DataFrame, rows: list[dict[str, Any]]
) -> None:
    left, right, _, _ = rule_pairs(prepared, rule)
    batch = set(zip(left.tolist(), right.tolist(), strict=True))
    assert batch == _looked_up_pairs(rule, prepared, rows)


def test_an_oversized_block_is_refined_alike() -> None:
    # twelve records on one phone, three of them with one name: only those three pair
    rule = BlockingRule("phone", ("numbers",), max_block=4, refine=("name_keys",))
    names = ["Abdul Karim"] * 3 + [f"Person {chr(65 + i)}" for i in range(9)]
    records = pd.DataFrame(
        {
            "source": "dss",
            "record_id": [str(i) for i in range(12)],
            "full_name": names,
            "phone": "01711234567",
        }
    )
    prepared = prepare(records)
    context = build_context(records, prepared)
    rows = [prepare_one(v, context, added=True) for v in _canonical(records)]
    left, right, _, _ = rule_pairs(prepared, rule)
    batch = set(zip(left.tolist(), right.tolist(), strict=True))
    assert batch == {(0, 1), (0, 2), (1, 2)} == _looked_up_pairs(rule, prepared, rows)


# -- the identity ledger ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ledger_world(world: pd.DataFrame, model) -> dict[str, Any]:
    """The world's persons in an identity ledger, and records held back from it."""
    held = world.iloc[:: len(world) // LEDGER_CASES].iloc[:LEDGER_CASES]
    kept = world.drop(held.index).reset_index(drop=True)
    resolution = resolve(kept, model)
    ids = assign_person_ids(
        IdentityLedger(":memory:"),
        pd.DataFrame(
            {
                "source": resolution.prepared["source"],
                "record_id": resolution.prepared["record_id"],
                "cluster": resolution.person,
            }
        ),
        model_version=None,
    )
    person_rows: dict[str, list[int]] = {}
    for row, pid in enumerate(ids["person_id"].tolist()):
        person_rows.setdefault(pid, []).append(row)
    return {
        "members": ids["record_key"].to_numpy(dtype=object),
        "ids": ids["person_id"].to_numpy(dtype=object),
        "person_rows": person_rows,
        "held": [record_key(s, r) for s, r in zip(held["source"], held["record_id"], strict=True)],
    }


def _groups(state: Mapping[str, Any], rng: np.random.Generator) -> list[tuple[list[str], list]]:
    """Groups around each held-back record (node 0): its record keys and cluster labels."""
    person_rows = state["person_rows"]
    persons = list(person_rows)
    several = [p for p in persons if len(person_rows[p]) >= 2]
    members = state["members"]
    out = []
    for new in state["held"]:
        a, b = rng.choice(several, 2, replace=False)
        c = persons[rng.integers(len(persons))]
        ra, rb, rc = ([str(members[r]) for r in person_rows[p]] for p in (a, b, c))
        keys = [new, *ra, *rb, *rc]
        split = rng.integers(0, 2, len(ra)).tolist()
        for labels in (
            [0] * (1 + len(ra)) + [1] * len(rb) + [2] * len(rc),  # joins a
            [0] * (1 + len(ra) + len(rb)) + [2] * len(rc),  # merges a and b
            [0, *split] + [1] * len(rb) + [2] * len(rc),  # splits a
            [1, *split] + [0] * len(rb) + [0] * len(rc),  # takes part of a, joins b and c
            [3] + [0] * len(ra) + [1] * len(rb) + [2] * len(rc),  # stays alone
            rng.integers(0, 3, len(keys)).tolist(),  # anything
        ):
            out.append((keys, labels))
    return out


def test_ledger_choice_gives_the_id_the_ledgers_plan_gives(ledger_world: dict[str, Any]) -> None:
    state = ledger_world
    old_members, old_ids = state["members"], state["ids"]
    existing = set(old_ids.tolist())
    person_of = dict(zip(old_members.tolist(), old_ids.tolist(), strict=True))
    groups = _groups(state, np.random.default_rng(1))
    outcomes = set()
    for keys, labels in groups:
        labels = np.asarray(labels, dtype=np.int64)
        # keys may repeat when two drawn persons are one: a record is in one cluster
        keys, first = np.unique(np.asarray(keys, dtype=object), return_index=True)
        order = np.argsort(first)
        keys, labels = keys[order].tolist(), labels[np.sort(first)]
        plan = _plan(
            "P", old_members, old_ids, np.asarray(keys, dtype=object), labels, None, 10**6, False
        )
        batch = plan.ids[0] if plan.ids[0] in existing else None
        persons = [person_of.get(k, "") for k in keys]
        assert ledger_choice(labels, persons, keys, state["person_rows"]) == batch, (keys, labels)
        outcomes.add(batch is None)
    assert outcomes == {True, False}
