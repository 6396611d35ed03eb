"""Reference checks: records held against the EC, BTRC, MFS KYC and BDRIS extracts."""

from __future__ import annotations

import random

import numpy as np
import pandas as pd
import pyarrow as pa

from graph.queries import REFERENCE_COLUMNS, reference_checks
from graph.queries.reference_checks import _OtherForms, _pairs_in
from graph.store import GraphStore
from tests.graph.queries_world import (
    AGENT_WALLET,
    FARM_PHONE,
    NID,
    PAIR_PHONE,
    RAFIQ_BRN,
    published,  # noqa: F401  (fixture)
)


def _by_check(frame) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for check, record in zip(frame["check"], frame["record_id"], strict=True):
        out.setdefault(check, set()).add(record)
    return out


def test_each_check_finds_its_records_and_no_household_sharing(published) -> None:  # noqa: F811
    found = reference_checks(published)
    assert list(found.columns) == list(REFERENCE_COLUMNS)
    assert found.attrs["skipped"] == []
    assert _by_check(found) == {
        # paid into the agent's wallet; Rahima's pay into her husband's wallet is not listed
        "wallet_not_own": {"dss_oa/P10", "dss_oa/P11", "dss_widow/P12"},
        # the farm's phone, and P17 using P16's phone (another household)
        "phone_not_own": {
            "dss_oa/P13",
            "dss_disability/P14",
            "dss_disability/P15",
            "dss_widow/P17",
        },
        # Amena's NID is not in the EC extract; Karim's smart-card number is (as another form)
        "nid_not_in_ec": {"nhd/h2-1", "dss_oa/P4", "dss_widow/P4"},
        "brn_dob_mismatch": {"nhd/h1-3"},
    }


def test_findings_say_what_the_registry_says(published) -> None:  # noqa: F811
    found = reference_checks(published).set_index(["check", "record_id"])
    wallet = found.loc[("wallet_not_own", "dss_oa/P10")]
    assert wallet["identifier"] == f"bkash:{AGENT_WALLET}"
    assert wallet["found"] == NID["PA"] and wallet["expected"] == NID["P10"]
    phone = found.loc[("phone_not_own", "dss_widow/P17")]
    assert phone["identifier"] == PAIR_PHONE and phone["found"] == NID["P16"]
    assert found.loc[("phone_not_own", "dss_oa/P13"), "identifier"] == FARM_PHONE
    dob = found.loc[("brn_dob_mismatch", "nhd/h1-3")]
    assert dob["identifier"] == RAFIQ_BRN
    assert (dob["found"], dob["expected"]) == ("1990-01-03", "1990-03-01")


def test_checks_without_their_registry_are_skipped_and_named(store: GraphStore) -> None:
    from engine.publish import publish
    from tests.graph.queries_world import world

    records, assignment, links = world()
    keep = ~records["source"].isin(["kyc", "bdris"])
    publish(store, records[keep], assignment, links)
    found = reference_checks(store)
    assert found.attrs["skipped"] == ["wallet_not_own", "brn_not_in_bdris", "brn_dob_mismatch"]
    assert set(found["check"]) == {"phone_not_own", "nid_not_in_ec"}


def test_a_wallet_with_two_owners_is_a_beneficiarys_own_if_either_owner_is(
    store: GraphStore,
) -> None:
    from engine.publish import publish
    from tests.graph.queries_world import world

    records, assignment, links = world()
    # a second KYC record names P10 as an owner of the agent's wallet too
    agent = f"bkash:{AGENT_WALLET}"
    second = {"record_id": f"bkash2:{AGENT_WALLET}"}
    records = pd.concat(
        [records, records[records["record_id"] == agent].assign(nid=NID["P10"], **second)],
        ignore_index=True,
    )
    assignment = pd.concat(
        [assignment, assignment[assignment["record_id"] == agent].assign(**second)],
        ignore_index=True,
    )
    publish(store, records, assignment, links)
    found = reference_checks(store).set_index(["check", "record_id"])
    wallets = found.loc["wallet_not_own"]
    assert set(wallets.index) == {"dss_oa/P11", "dss_widow/P12"}
    assert wallets.loc["dss_oa/P11", "found"] == ";".join(sorted([NID["PA"], NID["P10"]]))


class _FramesOnly:
    """A store whose edge ends come cut from its ``edges`` frames (no Arrow tables)."""

    def __init__(self, store: GraphStore) -> None:
        self._store = store

    def edge_pairs(self, edge_type: str, from_label: str, to_label: str) -> pa.Table:
        frame = self._store.edges(edge_type)
        frame = frame[(frame["from_label"] == from_label) & (frame["to_label"] == to_label)]
        text = pa.large_string()
        return pa.table({end: pa.array(list(frame[end]), text) for end in ("from", "to")})

    def __getattr__(self, name: str):
        return getattr(self._store, name)


def test_a_store_giving_frames_only_finds_the_same(published) -> None:  # noqa: F811
    pd.testing.assert_frame_equal(
        reference_checks(_FramesOnly(published)), reference_checks(published)
    )


def test_a_pair_is_found_where_a_merge_on_both_columns_finds_it() -> None:
    rng = random.Random(5)
    households = ["H1", "H2", "H3", None]
    nids = ["1001", "1002", "1003", None]

    def pairs(n: int) -> pd.DataFrame:
        return pd.DataFrame(
            {"household_id": rng.choices(households, k=n), "nid": rng.choices(nids, k=n)}
        )

    rows, known = pairs(200), pairs(6)
    merged = rows.reset_index().merge(known.drop_duplicates(), on=["household_id", "nid"])

    def text(column: pd.Series) -> pa.ChunkedArray:
        return pa.chunked_array([pa.array(column, pa.large_string())])

    [found] = _pairs_in(
        [(text(rows["household_id"]), text(rows["nid"]))],
        text(known["household_id"]),
        text(known["nid"]),
    )

    assert 0 < found.sum() < len(rows)
    assert np.flatnonzero(found).tolist() == sorted(merged["index"])


def test_other_forms_are_added_as_a_merge_on_either_end_adds_them() -> None:
    rng = random.Random(7)
    nids = [f"n{i}" for i in range(8)]
    same = pd.DataFrame({"from": rng.choices(nids, k=6), "to": rng.choices(nids, k=6)})
    known = pd.DataFrame(
        {"household_id": rng.choices(["H1", "H2", "H3"], k=12), "nid": rng.choices(nids, k=12)}
    )
    forms = pd.concat(
        [
            same.rename(columns={"from": "nid", "to": "other"}),
            same.rename(columns={"to": "nid", "from": "other"}),
        ]
    )
    extra = known.merge(forms, on="nid")[["household_id", "other"]].rename(columns={"other": "nid"})
    expected = pd.concat([known, extra])

    def table(frame: pd.DataFrame) -> pa.Table:
        return pa.table({c: pa.array(frame[c], pa.large_string()) for c in frame.columns})

    added = _OtherForms(table(same)).added(table(known)).to_pandas()

    assert len(extra) > 0
    key = ["household_id", "nid"]
    pd.testing.assert_frame_equal(
        added.sort_values(key, ignore_index=True), expected.sort_values(key, ignore_index=True)
    )
