"""A storing group's publish (``publish_group``, rows without pandas frames) writes what the
partial publish of the same records as frames writes: the same journal writes, in the same order,
and so the same graph. Contract for the two ways of one publish."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import engine.publish_group as publishing
from engine.publish import publish
from engine.publish_group import publish_group
from engine.record import CANONICAL_FIELDS
from graph.embedded import EmbeddedStore
from graph.embedded.store import _BEGIN, _END
from tests.engine.test_publish_partial import graph_tables
from tests.graph.queries_world import world

# (record, person) groups, published in turn into the query world's graph
NEW_AND_KNOWN = [
    ({"source": "api_mis", "record_id": "A1", "kind": "programme", "full_name": None,
      "full_name_bn": "রহিমা", "household_id": "H1", "relation_to_head": "head",
      "pmt_score": 10.0, "programme": "widow_allowance", "status": "active"}, "P900"),
    ({"source": "api_mis", "record_id": "A2", "kind": "programme", "full_name": "Rahima B",
      "household_id": "H2", "relation_to_head": "wife", "pmt_score": 30.0,
      "phone": "01799000002"}, "P900"),
    ({"source": "dss_widow", "record_id": "K1", "kind": "programme",
      "full_name": "Known Person", "household_id": "H9", "relation_to_head": "head"}, "P21"),
]  # fmt: skip
IDENTIFIERS = [
    # NIDs of each form, a 17-digit one whose core its smart-card twin does not share, a bad one
    ({"source": "dss_oa", "record_id": "I1", "kind": "programme", "full_name": "Abdul Karim",
      "nid": "19751234567000123", "nid_alt": "1234567000123", "birth_year": 1975, "age": 50,
      "programme": "old_age_allowance", "status": "active", "since": "2024-01-01",
      "amount": 600, "household_id": "x7", "relation_to_head": "wife", "district": "BD3026",
      "union": "ashulia", "pmt_score": 12}, "P901"),
    ({"source": "dss_oa", "record_id": "I2", "kind": "programme", "full_name": "Rokeya",
      "nid": "1234567890", "brn": "20051234567890123", "phone": "01811000003",
      "account_number": "01811000003", "account_provider": "nagad", "amount": 750.5,
      "household_id": "x8", "relation_to_head": "head", "programme": "no_such_programme"},
     "P902"),
    ({"source": "new_mis", "record_id": "I3", "full_name": "Bank Holder", "nid": "123456789012",
      "phone": "01811000003", "account_number": "1234009988", "birth_year": None,
      "household_id": "x9"}, "P903"),
    ({"source": "new_mis", "record_id": "I4", "full_name_bn": "নাম", "account_number": "017110",
      "account_provider": "bkash", "phone": "01"}, "P1"),
]  # fmt: skip
# groups the rows leave to the frames: a record already published (its stale edges pruned), a
# record given twice, a reference record, two records naming one household
FALLBACK = [
    [({"source": "dss_oa", "record_id": "I1", "kind": "programme", "full_name": "Abdul Karim",
       "phone": "01811000009"}, "P901")],
    [({"source": "api_mis", "record_id": "D1", "full_name": "One"}, "P904"),
     ({"source": "api_mis", "record_id": "D1", "full_name": "Two"}, "P904")],
    [({"source": "btrc", "record_id": "R9", "kind": "reference", "phone": "01911000001",
       "nid": "1234567890123"}, "P905")],
    [({"source": "api_mis", "record_id": "S1", "household_id": "HX"}, "P906"),
     ({"source": "api_mis", "record_id": "S2", "household_id": "HX"}, "P907")],
]  # fmt: skip


def _as_frames(store, group: list[tuple[dict, str]]) -> None:
    """The group's publish as the API made it before: frames, ``complete=False``."""
    records = [record for record, _ in group]
    publish(
        store,
        pd.DataFrame(records, columns=list(CANONICAL_FIELDS)),
        pd.DataFrame(
            {
                "source": [r["source"] for r in records],
                "record_id": [r["record_id"] for r in records],
                "person_id": [p for _, p in group],
            }
        ),
        source_households="missing",
        complete=False,
    )


def _as_group(store, group: list[tuple[dict, str]]) -> None:
    publish_group(store, [record for record, _ in group], [p for _, p in group])


def _written(tmp_path: Path, name: str, groups, way) -> tuple[list[str], dict[str, list]]:
    """Every journal write of the groups' publishes (as text: 10 and 10.0 differ) and the graph."""
    records, assignment, links = world()
    with EmbeddedStore(tmp_path / name, fsync=False) as store:
        publish(store, records, assignment, links)
        ops: list[str] = []
        commit = store._commit

        def kept(op: tuple, **kw: Any) -> None:
            if op[0] not in (_BEGIN, _END):
                ops.append(repr(op))
            commit(op, **kw)

        store._commit = kept  # type: ignore[method-assign]
        for group in groups:
            way(store, group)
        return ops, graph_tables(store)


@pytest.mark.parametrize(
    "groups",
    [[NEW_AND_KNOWN], [IDENTIFIERS], [[one] for one in IDENTIFIERS], [IDENTIFIERS, *FALLBACK]],
    ids=["new-and-known", "identifiers", "one-at-a-time", "then-fallbacks"],
)
def test_a_group_as_rows_writes_what_the_frames_write(tmp_path: Path, groups, monkeypatch) -> None:
    frames = _written(tmp_path, "frames", groups, _as_frames)
    calls = []

    def counted(*args: Any, **kwargs: Any) -> Any:
        if kwargs.get("complete") is False:
            calls.append(args[1])
        return publish(*args, **kwargs)

    monkeypatch.setattr(publishing, "publish", counted)
    rows = _written(tmp_path, "rows", groups, _as_group)
    assert rows[0] == frames[0]  # the same writes in the same order
    assert rows[1] == frames[1]
    # the rows published every group but the fallbacks
    assert len(calls) == len([g for g in groups if any(g is f for f in FALLBACK)])


def test_the_group_makes_a_new_persons_household_and_writes_its_numbers_as_given(
    tmp_path: Path,
) -> None:
    _, graph = _written(tmp_path, "rows", [IDENTIFIERS], _as_group)
    [made] = [r for r in graph["Household"] if "'dss_oa/x7'" in r]
    assert "members=1" in made and "pmt_score=12.0" in made
    [record] = [r for r in graph["Record"] if "'dss_oa/I1'" in r]
    assert "birth_year=1975.0" in record  # beside I3's missing year, as a frame holds it
    assert not [r for r in graph["NID"] if "123456789012'" in r]  # 12 digits: not published
