"""A small hand-built world with every case the queries must find, and must not find.

Households and persons (assignment household ids in brackets):

- [H1] Karim P1 (head, Old Age), Rahima P2 (spouse, Widow allowance paid into Karim's bKash
  wallet), Rafiq P3 (son). The survey gives all three the household phone 01711000001: benign
  household sharing of a phone and a wallet. Rafiq's BRN has another date of birth in BDRIS.
- [H2] Amena P4: Old Age + Widow (exclusive pair); her NID is not in the EC extract.
- [H3] Sufia P5: Old Age, Widow, Disability and the freedom fighters' honorarium: four cash
  programmes (cash cap) and three exclusive pairs.
- [H4] Hasina P6: Mother & Child, Disability, EGPP workfare, VGD food: only two count toward the
  cap, and no pair excludes another: nothing to find.
- [H5] Nasima P7: Old Age active, Widow suspended: nothing to find.
- [H6] Jalal P8: Old Age under two active records (duplicate enrolment).
- [H7] Kamal P9 (Old Age since 2018, plus an inactive second record) and his wife Jorina P19 (Old
  Age since 2020): one per household, Jorina is the later one.
- Agent PA (only in the EC and KYC extracts) owns bKash 01999000000, which pays P10, P11 and P12,
  three strangers in three unions [H10, H11, H12]: an agent wallet.
- Farmer PF owns phone 01888000000 (BTRC), given by P13, P14 and P15 [H13..H15]: a phone farm.
- P16 [H16] and P17 [H17] share phone 01555000000 registered to P16: two households, one union,
  owner inside: low risk.
- P18a and P18b: one human split by resolution (a 0.45 link), no household, sharing a phone.
- [H20] P20: survey only, PMT 10: poor and not covered. [H21] P21: PMT 80 with Old Age: well off
  and covered.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest

from engine.publish import publish
from graph.embedded import EmbeddedStore

NID = {p: f"26123450000{n:02d}" for p, n in [(f"P{i}", i) for i in range(1, 22)]}
NID["P18a"] = NID.pop("P18")
NID["PA"] = "2612345000099"
NID["PF"] = "2612345000098"
P1_FULL = "1955" + NID["P1"]
P1_SMART = "1000000001"
RAFIQ_BRN = "19902612345000003"
HOUSEHOLD_PHONE = "01711000001"
AGENT_WALLET = "01999000000"
FARM_PHONE = "01888000000"
PAIR_PHONE = "01555000000"
SPLIT_PHONE = "01666000000"


def _rec(source: str, record_id: str, person: str, **fields: Any) -> dict[str, Any]:
    kind = {"nhd": "survey", "ec": "reference", "btrc": "reference", "kyc": "reference"}.get(
        source, "reference" if source == "bdris" else "programme"
    )
    row = {"source": source, "record_id": record_id, "kind": kind, "_person": person}
    programme = {
        "dss_oa": "old_age_allowance",
        "dss_widow": "widow_allowance",
        "dss_disability": "disability_allowance",
        "ff": "freedom_fighter_honorarium",
        "mcb": "mother_child_benefit",
        "egpp": "egpp_workfare",
        "vgd": "vgd_food",
    }.get(source)
    if programme:
        row["programme"] = programme
        row.setdefault("status", "active")
    row.update(fields)
    return row


def _enrol(source: str, person: str, union: str, suffix: str = "", **fields: Any) -> dict:
    row = {
        "full_name": NAMES[person],
        "nid": NID.get(person),
        "union": union,
        "upazila": "savar",
        "district": "BD3026",
    }
    row.update(fields)
    return _rec(source, f"{person}{suffix}", person, **row)


NAMES = {
    "P1": "Md. Abdul Karim",
    "P2": "Rahima Begum",
    "P3": "Rafiqul Islam",
    "P4": "Amena Khatun",
    "P5": "Sufia Begum",
    "P6": "Hasina Akter",
    "P7": "Nasima Bibi",
    "P8": "Jalal Uddin",
    "P9": "Kamal Hossain",
    "P19": "Jorina Begum",
    "P10": "Rokeya Begum",
    "P11": "Morjina Khatun",
    "P12": "Shahida Begum",
    "P13": "Abul Kashem",
    "P14": "Anwara Begum",
    "P15": "Jahanara Begum",
    "P16": "Selim Mia",
    "P17": "Kulsum Begum",
    "P18a": "Nurul Amin",
    "P18b": "Nurul Amin",
    "P20": "Fatema Begum",
    "P21": "Habibur Rahman",
    "PA": "Mizanur Rahman",
    "PF": "Delwar Hossain",
}

HOUSEHOLDS = {
    "P1": "H1",
    "P2": "H1",
    "P3": "H1",
    "P4": "H2",
    "P5": "H3",
    "P6": "H4",
    "P7": "H5",
    "P8": "H6",
    "P9": "H7",
    "P19": "H7",
    "PA": "HA",
    "P10": "H10",
    "P11": "H11",
    "P12": "H12",
    "PF": "HF",
    "P13": "H13",
    "P14": "H14",
    "P15": "H15",
    "P16": "H16",
    "P17": "H17",
    "P20": "H20",
    "P21": "H21",
}


def world() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """``records, assignment, links`` of the world described in the module docstring."""
    rows = [
        # household H1: survey, with the household phone on every member
        _rec("nhd", "h1-1", "P1", full_name=NAMES["P1"], household_id="h1",
             relation_to_head="head", phone=HOUSEHOLD_PHONE, pmt_score=20.0, nid=P1_SMART,
             union="ashulia", upazila="savar", district="BD3026", date_of_birth="1955-01-01"),
        _rec("nhd", "h1-2", "P2", full_name=NAMES["P2"], household_id="h1",
             relation_to_head="spouse", phone=HOUSEHOLD_PHONE, pmt_score=20.0,
             union="ashulia", upazila="savar", district="BD3026"),
        _rec("nhd", "h1-3", "P3", full_name=NAMES["P3"], household_id="h1",
             relation_to_head="son", phone=HOUSEHOLD_PHONE, pmt_score=20.0, brn=RAFIQ_BRN,
             date_of_birth="1990-03-01", union="ashulia", upazila="savar", district="BD3026"),
        _enrol("dss_oa", "P1", "ashulia", nid=P1_FULL, phone=HOUSEHOLD_PHONE,
               account_provider="bkash", account_number=HOUSEHOLD_PHONE, since="2021-01-01"),
        _enrol("dss_widow", "P2", "ashulia", account_provider="bkash",
               account_number=HOUSEHOLD_PHONE, phone=HOUSEHOLD_PHONE),
        # H2: Amena, OA + widow, NID not in EC
        _rec("nhd", "h2-1", "P4", full_name=NAMES["P4"], household_id="h2",
             relation_to_head="head", pmt_score=15.0, nid=NID["P4"], union="birulia",
             upazila="savar", district="BD3026"),
        _enrol("dss_oa", "P4", "birulia"),
        _enrol("dss_widow", "P4", "birulia"),
        # H3: Sufia, four cash programmes
        _enrol("dss_oa", "P5", "kaundia"),
        _enrol("dss_widow", "P5", "kaundia"),
        _enrol("dss_disability", "P5", "kaundia"),
        _enrol("ff", "P5", "kaundia", account_provider="sonali", account_number="3400000000005"),
        # H4: Hasina, workfare and in-kind do not count
        _enrol("mcb", "P6", "tetuljhora"),
        _enrol("dss_disability", "P6", "tetuljhora"),
        _enrol("egpp", "P6", "tetuljhora"),
        _enrol("vgd", "P6", "tetuljhora"),
        # H5: Nasima, the widow allowance is suspended
        _enrol("dss_oa", "P7", "pathalia"),
        _enrol("dss_widow", "P7", "pathalia", status="suspended"),
        # H6: Jalal, two active OA records
        _enrol("dss_oa", "P8", "banagram", "a", since="2019-05-01"),
        _enrol("dss_oa", "P8", "banagram", "b", since="2022-02-01"),
        # H7: Kamal (plus an inactive duplicate) and Jorina both on OA
        _enrol("dss_oa", "P9", "amin_bazar", "a", since="2018-01-01"),
        _enrol("dss_oa", "P9", "amin_bazar", "b", status="inactive", since="2016-01-01"),
        _enrol("dss_oa", "P19", "amin_bazar", since="2020-07-01"),
        # the agent wallet
        _enrol("dss_oa", "P10", "u10", account_provider="bkash", account_number=AGENT_WALLET),
        _enrol("dss_oa", "P11", "u11", account_provider="bkash", account_number=AGENT_WALLET),
        _enrol("dss_widow", "P12", "u12", account_provider="bkash", account_number=AGENT_WALLET),
        # the phone farm
        _enrol("dss_oa", "P13", "u13", phone=FARM_PHONE),
        _enrol("dss_disability", "P14", "u14", phone=FARM_PHONE),
        _enrol("dss_disability", "P15", "u15", phone=FARM_PHONE),
        # two households sharing a phone, owner inside, one union
        _enrol("dss_oa", "P16", "u16", phone=PAIR_PHONE),
        _enrol("dss_widow", "P17", "u16", phone=PAIR_PHONE),
        # one human split in two by resolution
        _enrol("dss_oa", "P18a", "u18", phone=SPLIT_PHONE),
        _rec("dss_disability", "P18b", "P18b", full_name=NAMES["P18b"], phone=SPLIT_PHONE,
             union="u18", upazila="savar", district="BD3026"),
        # coverage
        _rec("nhd", "h20-1", "P20", full_name=NAMES["P20"], household_id="h20",
             relation_to_head="head", pmt_score=10.0, nid=NID["P20"], union="u20"),
        _rec("nhd", "h21-1", "P21", full_name=NAMES["P21"], household_id="h21",
             relation_to_head="head", pmt_score=80.0, nid=NID["P21"], union="u21"),
        _enrol("dss_oa", "P21", "u21"),
        # reference registries
        _rec("btrc", HOUSEHOLD_PHONE, "P1", phone=HOUSEHOLD_PHONE, nid=P1_FULL),
        _rec("btrc", FARM_PHONE, "PF", phone=FARM_PHONE, nid=NID["PF"]),
        _rec("btrc", PAIR_PHONE, "P16", phone=PAIR_PHONE, nid=NID["P16"]),
        _rec("kyc", f"bkash:{HOUSEHOLD_PHONE}", "P1", account_provider="bkash",
             account_number=HOUSEHOLD_PHONE, nid=NID["P1"]),
        _rec("kyc", f"bkash:{AGENT_WALLET}", "PA", account_provider="bkash",
             account_number=AGENT_WALLET, nid=NID["PA"]),
        _rec("bdris", RAFIQ_BRN, "P3", brn=RAFIQ_BRN, full_name=NAMES["P3"],
             date_of_birth="1990-01-03"),
    ]  # fmt: skip
    for person, nid in NID.items():
        if person == "P4":
            continue
        ec = {"nid": nid, "full_name": NAMES[person]}
        if person == "P1":
            ec = {"nid": P1_FULL, "nid_alt": P1_SMART, "full_name": NAMES[person]}
        rows.append(_rec("ec", f"ec-{person}", person, **ec))
    records = pd.DataFrame(rows)
    assignment = pd.DataFrame(
        {
            "source": records["source"],
            "record_id": records["record_id"],
            "person_id": records["_person"],
            "household_id": records["_person"].map(HOUSEHOLDS),
        }
    )
    records = records.drop(columns="_person")
    links = pd.DataFrame(
        [
            ("nhd/h1-1", "dss_oa/P1", 0.97),
            ("nhd/h1-2", "dss_widow/P2", 0.95),
            ("nhd/h1-1", "nhd/h1-2", 0.05),
            ("nhd/h2-1", "dss_oa/P4", 0.96),
            ("dss_oa/P4", "dss_widow/P4", 0.94),
            ("dss_oa/P5", "dss_widow/P5", 0.93),
            ("dss_widow/P5", "dss_disability/P5", 0.90),
            ("dss_disability/P5", "ff/P5", 0.88),
            ("dss_oa/P8a", "dss_oa/P8b", 0.99),
            ("dss_oa/P18a", "dss_disability/P18b", 0.45),
            ("dss_oa/P9a", "dss_oa/P19", 0.08),
        ],
        columns=["left", "right", "probability"],
    )
    links["model_version"] = "test-1"
    return records, assignment, links


@pytest.fixture(scope="module", params=["embedded", pytest.param("neo4j", marks=pytest.mark.neo4j)])
def published(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    """The world, published into each store (once per test module; Neo4j via conftest's server)."""
    if request.param == "embedded":
        store = EmbeddedStore(tmp_path_factory.mktemp("world") / "graph", fsync=False)
    else:
        store = request.getfixturevalue("neo4j_store")
        store.clear()
    records, assignment, links = world()
    publish(store, records, assignment, links)
    try:
        yield store
    finally:
        if request.param == "embedded":
            store.close()
        else:
            store.clear()
