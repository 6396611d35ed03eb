"""Ground truth of the synthetic world, computed from the rows actually written.

Double dipping and shared identifiers are derived from the source rows (not from what the planting
meant to do), so the truth files describe the data exactly; :func:`unplanted` says whether anything
broke a rule or shared an identifier across households without having been planted.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import pandas as pd

from engine.record import record_key
from synth.enrolment import BKASH, NAGAD, PROGRAMMES, PROVIDER_CODES, ROCKET, Planted
from synth.geography import DISTRICTS
from synth.names import name_book
from synth.population import RELATIONS, Population
from synth.sources import Source
from synth.tags import tag_text
from synth.variation import STR, digits, iso_dates, local_phone

#: the default double-dipping rules (the graph's policy file keeps them; these are their names)
EXCLUSIVE_PAIRS: Final = (
    ("old_age_allowance", "widow_allowance"),
    ("old_age_allowance", "disability_allowance"),
    ("widow_allowance", "disability_allowance"),
)
ONE_PER_HOUSEHOLD: Final = ("old_age_allowance",)
CASH_CAP: Final = 3
CASH_PROGRAMMES: Final = tuple(code for code, cash in PROGRAMMES.items() if cash)


def person_ids(index: np.ndarray) -> np.ndarray:
    return np.strings.add("P", digits(index, 8))


def household_ids(index: np.ndarray) -> np.ndarray:
    return np.strings.add("H", digits(index, 8))


def records_table(sources: list[Source], pop: Population) -> dict[str, np.ndarray]:
    """``source, record_id, person_id, household_id, tags`` for every row of every source."""
    person = np.concatenate([s.person for s in sources])
    return {
        "source": np.concatenate([np.full(len(s), s.name, dtype=STR) for s in sources]),
        "record_id": np.concatenate([s.record_ids() for s in sources]),
        "person_id": person_ids(person),
        "household_id": household_ids(pop.persons.hh[person]),
        "tags": tag_text(np.concatenate([s.tags for s in sources])),
    }


def persons_table(pop: Population) -> dict[str, np.ndarray]:
    """The true persons: names in both scripts, birth date, identifiers, family, hard-case flags."""
    p, h, g = pop.persons, pop.households, pop.geo
    book = name_book()
    n = len(p)
    male = np.zeros(n, dtype=np.int64)
    phone = local_phone(p.phone)
    wallets: np.ndarray = np.full(n, "", dtype=STR)
    rocket_number = np.strings.add(phone, digits(np.maximum(p.rocket, 0)))
    for mask, label, number in (
        (p.bkash, "bkash:", phone),
        (p.nagad, "nagad:", phone),
        (p.rocket >= 0, "rocket:", rocket_number),
    ):
        sep = np.where(wallets == "", "", ";").astype(STR)
        wallets = np.where(
            mask,
            np.strings.add(np.strings.add(wallets, sep), np.strings.add(label, number)),
            wallets,
        )
    union = h.union[p.hh]
    pid = person_ids(np.arange(n))

    def maybe_id(index: np.ndarray) -> np.ndarray:
        return np.where(index >= 0, pid[np.maximum(index, 0)], "").astype(STR)

    def flag(values: np.ndarray) -> np.ndarray:
        return np.where(values, "True", "False").astype(STR)

    return {
        "person_id": pid,
        "household_id": household_ids(p.hh),
        "relation_to_head": np.array(RELATIONS, dtype=STR)[p.relation],
        "name": book.canonical_en(p.tok, p.has_prefix, p.gender),
        "name_bn": book.canonical_bn(p.tok, p.has_prefix, p.gender),
        "gender": np.where(p.gender == 0, "male", "female").astype(STR),
        "religion": np.where(p.religion == 0, "muslim", "hindu").astype(STR),
        "dob": iso_dates(p.dob),
        "dob_is_default": flag(p.default_dob),
        "nid17": digits(p.nid17, 17),
        "nid13": digits(p.nid13, 13),
        "smart_nid": digits(p.smart_nid, 10),
        "brn": digits(p.brn, 17),
        "phone": phone,
        "wallets": wallets,
        "father_name": book.canonical_en(p.father_tok, p.father_prefix, male),
        "mother_name": book.canonical_en(p.mother_tok, p.mother_prefix, male + 1),
        "spouse_name": book.canonical_en(p.spouse_tok, p.spouse_prefix, 1 - p.gender),
        "father_id": maybe_id(p.father),
        "mother_id": maybe_id(p.mother),
        "spouse_id": maybe_id(p.spouse),
        "widowed": flag(p.widowed & (p.gender == 1)),
        "disabled": flag(p.disabled),
        "twin_of": maybe_id(p.twin_of),
        "named_after": maybe_id(p.named_after),
        "district": np.array([d[0] for d in DISTRICTS], dtype=STR)[g.district_idx[union]],
        "upazila": g.upazila_name.astype(STR)[union],
        "union": g.union_name.astype(STR)[union],
        "ward": digits(h.ward[p.hh]),
        "pmt_score": h.pmt[p.hh].astype(STR),
    }


def programme_rows(sources: list[Source], pop: Population) -> pd.DataFrame:
    frames = []
    for src in sources:
        if src.kind != "programme":
            continue
        ids = src.record_ids()
        frames.append(
            pd.DataFrame(
                {
                    "person": src.person,
                    "household": pop.persons.hh[src.person],
                    "programme": src.programme,
                    "key": np.strings.add(f"{record_key(src.name, '')}", ids).astype(object),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def double_dipping(rows: pd.DataFrame) -> pd.DataFrame:
    """Every breach of the default rules.

    Columns: ``person_id, household_id, rule, programmes, record_keys`` (the last two ``;``-joined).
    ``one_per_household`` gives one row per member, each with all the household's record keys.
    """
    out: list[dict] = []
    several = rows.groupby("person")["programme"].transform("size") > 1
    by_person = (
        rows[several].sort_values(["person", "programme", "key"]).groupby("person", sort=True)
    )
    for person, group in by_person:
        hh = int(group["household"].iloc[0])
        progs = sorted(set(group["programme"]))
        cash = [g for g in progs if g in CASH_PROGRAMMES]
        if len(cash) > CASH_CAP:
            keys = group.loc[group["programme"].isin(cash), "key"]
            out.append(_row(person, hh, "cash_cap", cash, keys))
        for a, b in EXCLUSIVE_PAIRS:
            if a in progs and b in progs:
                keys = group.loc[group["programme"].isin((a, b)), "key"]
                out.append(_row(person, hh, "exclusive_pair", [a, b], keys))
        counts = group["programme"].value_counts()
        for prog in sorted(counts.index[counts > 1]):
            out.append(
                _row(
                    person,
                    hh,
                    "duplicate_enrolment",
                    [prog],
                    group.loc[group["programme"] == prog, "key"],
                )
            )
    for prog in ONE_PER_HOUSEHOLD:
        sel = rows[rows["programme"] == prog]
        crowded = sel[sel.groupby("household")["person"].transform("nunique") > 1]
        for hh, members in crowded.sort_values(["household", "person"]).groupby(
            "household", sort=True
        ):
            for person in sorted(set(members["person"])):
                out.append(_row(person, int(hh), "one_per_household", [prog], members["key"]))
    columns = ["person_id", "household_id", "rule", "programmes", "record_keys"]
    table = pd.DataFrame(out, columns=columns)
    return table.sort_values(["rule", "person_id", "programmes"], ignore_index=True)


def _row(person: int, hh: int, rule: str, programmes: list[str], keys: pd.Series) -> dict:
    return {
        "person_id": f"P{person:08d}",
        "household_id": f"H{hh:08d}",
        "rule": rule,
        "programmes": ";".join(programmes),
        "record_keys": ";".join(sorted(keys)),
    }


def identifiers(
    sources: list[Source], pop: Population, planted: Planted
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Phones and wallets on the records of more than one person.

    Returns
    -------
    shared : benign, all persons in one household: ``identifier_type, identifier, household_id,
        persons, records``.
    suspicious : persons from several households: ``identifier_type, identifier, kind, persons,
        households, records, owner_person_id``; ``kind`` is ``agent_wallet`` / ``phone_farm`` for
        planted cases, ``unplanted`` otherwise (there should be none).
    """
    frames = []
    for src in sources:
        if src.phone_id is not None:
            has = src.phone_id >= 0
            frames.append(
                pd.DataFrame(
                    {
                        "type": "phone",
                        "number": src.phone_id[has],
                        "provider": 0,
                        "person": src.person[has],
                    }
                )
            )
        if src.wallet_provider is not None and src.wallet_number is not None:
            has = np.isin(src.wallet_provider, (BKASH, NAGAD, ROCKET)) & (src.wallet_number >= 0)
            frames.append(
                pd.DataFrame(
                    {
                        "type": "wallet",
                        "number": src.wallet_number[has],
                        "provider": src.wallet_provider[has],
                        "person": src.person[has],
                    }
                )
            )
    ids = pd.concat(frames, ignore_index=True)
    ids["household"] = pop.persons.hh[ids["person"].to_numpy()]
    grouped = ids.groupby(["type", "provider", "number"], sort=True).agg(
        persons=("person", "nunique"),
        households=("household", "nunique"),
        records=("person", "size"),
        household=("household", "min"),
    )
    grouped = grouped[grouped["persons"] > 1].reset_index()
    grouped["identifier"] = [
        _identifier(t, int(pv), int(num))
        for t, pv, num in zip(grouped["type"], grouped["provider"], grouped["number"], strict=True)
    ]
    shared = grouped[grouped["households"] == 1]
    shared = pd.DataFrame(
        {
            "identifier_type": shared["type"],
            "identifier": shared["identifier"],
            "household_id": [f"H{h:08d}" for h in shared["household"]],
            "persons": shared["persons"],
            "records": shared["records"],
        }
    ).sort_values(["identifier_type", "identifier"], ignore_index=True)
    planted_kind = {
        ("wallet", int(pv), int(num)): ("agent_wallet", a) for a, pv, num in planted.agents
    }
    planted_kind.update({("phone", 0, int(num)): ("phone_farm", f) for f, num in planted.farms})
    sus = grouped[grouped["households"] > 1]
    kinds = [
        planted_kind.get((t, int(pv), int(num)), ("unplanted", -1))
        for t, pv, num in zip(sus["type"], sus["provider"], sus["number"], strict=True)
    ]
    suspicious = pd.DataFrame(
        {
            "identifier_type": sus["type"],
            "identifier": sus["identifier"],
            "kind": [k for k, _ in kinds],
            "persons": sus["persons"],
            "households": sus["households"],
            "records": sus["records"],
            "owner_person_id": [f"P{o:08d}" if o >= 0 else "" for _, o in kinds],
        }
    ).sort_values(["identifier_type", "identifier"], ignore_index=True)
    return shared, suspicious


def _identifier(kind: str, provider: int, number: int) -> str:
    if kind == "phone":
        return f"0{number}"
    return f"{PROVIDER_CODES[provider]}:0{number}"
