"""Persons and households as :func:`engine.publish.publish` writes them (records with persons).

A person's properties are the first value their records give; a household's its size, its
members' records' median PMT score and first place given; ``MEMBER_OF`` edges come from the
resolver's households and, where it gives none, the households the records name.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc


def _text(series: pd.Series) -> pd.Series:
    """A column as ``object`` strings with ``None`` for missing values (numbers as their text)."""
    values = series.to_numpy(dtype=object)
    try:  # the usual case, strings and missing values only: read in one pass by Arrow
        blank = pc.fill_null(
            pc.equal(pa.array(values, type=pa.string(), from_pandas=True), ""), True
        ).to_numpy(zero_copy_only=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        blank = None
    if blank is not None:
        if blank.any():
            values = values.copy()
            values[blank] = None
        return pd.Series(values, index=series.index, dtype=object, copy=False)
    out = series.astype(object)
    missing = series.isna().to_numpy()
    out = out.where(~missing, None)
    kinds = {type(v) for v in out.to_numpy()[~missing][:1000]}
    if kinds - {str}:
        out = out.map(lambda v: None if v is None else (v if isinstance(v, str) else _num_text(v)))
    return out.where(out.ne(""), None) if len(out) else out


def _num_text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _firsts(codes: np.ndarray, groups: int, values: np.ndarray) -> np.ndarray:
    """Per group (``codes`` 0 .. groups-1), its first value that is not missing; None if none is.

    What ``groupby(...).first()`` gives an object column, with integer codes for the groups
    instead of hashing the keys again.
    """
    out = np.full(groups, None, dtype=object)
    rows = np.flatnonzero(pd.notna(values))
    rows = rows[~pd.Index(codes[rows]).duplicated()]
    out[codes[rows]] = values[rows]
    return out


def _persons_and_households(
    records: pd.DataFrame, source_households: str
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Person rows, household rows and MEMBER_OF rows from records carrying ``person_id``.

    Persons and households come in the order they first appear in the records (members');
    their properties are the first value their records give.
    """
    used = (
        "source", "person_id", "household", "household_id", "relation_to_head",
        "full_name", "full_name_bn", "gender", "date_of_birth", "district", "union", "pmt_score",
    )  # fmt: skip
    has_person = records["person_id"].notna().to_numpy()
    every = bool(has_person.all())
    assigned = {
        c: (values if every else values[has_person])
        for c in used
        if c in records.columns
        for values in [records[c].to_numpy()]
    }
    codes, person_ids = pd.factorize(assigned["person_id"])
    n_persons = len(person_ids)
    persons = pd.DataFrame({"id": person_ids})  # strings: person ids come through _text
    first = {
        c: _firsts(codes, n_persons, assigned[c])
        for c in ("full_name", "full_name_bn", "gender", "date_of_birth", "district")
        if c in assigned
    }
    name = first.get("full_name")
    if "full_name_bn" in first:
        name = (
            first["full_name_bn"]
            if name is None
            else np.where(pd.isna(name), first["full_name_bn"], name)
        )
    persons["name"] = name
    for column in ("gender", "date_of_birth", "district"):
        persons[column] = first.get(column)
    persons["records"] = np.bincount(codes, minlength=n_persons)

    relation = assigned.get("relation_to_head")
    if relation is None:
        relation = np.full(len(codes), None, dtype=object)
    # MEMBER_OF rows, as (person codes, household ids, relations) from each way of knowing
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    has_household = np.zeros(n_persons, dtype=bool)
    if "household" in assigned:
        given = pd.notna(assigned["household"])
        parts.append((codes[given], assigned["household"][given], relation[given]))
        has_household[codes[given]] = True
    if source_households != "never" and "household_id" in assigned:
        own = pd.notna(assigned["household_id"])
        if source_households == "missing":
            own &= ~has_household[codes]
        household_ids = _text(pd.Series(assigned["household_id"][own], dtype=object))
        parts.append(
            (codes[own], assigned["source"][own] + "/" + household_ids.to_numpy(), relation[own])
        )
    people = np.concatenate([part[0] for part in parts]) if parts else np.empty(0, np.int64)
    if not len(people):
        member = pd.DataFrame(columns=["from", "to", "relation"])
        return persons, pd.DataFrame(columns=["id"]), member

    homes_given = np.concatenate([part[1] for part in parts])
    relations = np.concatenate([part[2] for part in parts])
    # one edge per person and household; the relation any record gives (the first in order,
    # missing last: a stable sort of the relations' codes, not of the strings)
    order, _ = pd.factorize(relations, sort=True)
    order[order < 0] = order.max() + 1
    by_relation = np.argsort(order, kind="stable")
    home_codes, home_ids = pd.factorize(homes_given)
    pairs = people.astype(np.int64) * len(home_ids) + home_codes
    keep = by_relation[~pd.Index(pairs[by_relation]).duplicated()]
    people, homes = people[keep], home_codes[keep]
    homes, seen = pd.factorize(homes)  # households numbered in member order
    household_ids = home_ids[seen]
    member = pd.DataFrame(
        {"from": person_ids[people], "to": household_ids[homes], "relation": relations[keep]}
    )

    n_homes = len(household_ids)
    rows, of = _household_records(people, homes, codes)
    households = pd.DataFrame(
        {"id": household_ids, "members": np.bincount(homes, minlength=n_homes)}
    )
    if "pmt_score" in assigned:
        pmt = pd.Series(assigned["pmt_score"][rows]).astype(float)
        households["pmt_score"] = pmt.groupby(of).median().reindex(range(n_homes)).to_numpy()
    for column in ("district", "union"):
        if column in assigned:
            households[column] = _firsts(of, n_homes, assigned[column][rows])
    return persons, households, member


def _household_records(
    people: np.ndarray, homes: np.ndarray, codes: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The records of each member (``people``, ``homes``: person and household codes of the
    MEMBER_OF rows; ``codes``: each record's person code), as record rows and household codes.

    Rows in member order, then record order (which household "first" values depend on); a
    direct lookup when each person is a member of one household (the usual case), a merge
    otherwise.
    """
    if not pd.Index(people).is_unique:
        pairs = pd.DataFrame({"person": people, "home": homes}).merge(
            pd.DataFrame({"person": codes, "row": np.arange(len(codes))}), on="person"
        )
        return pairs["row"].to_numpy(), pairs["home"].to_numpy()
    slot = np.full(int(codes.max()) + 1, -1, dtype=np.int64)
    slot[people] = np.arange(len(people))
    slot = slot[codes]  # each record's member row, -1 if its person has no household
    rows = np.flatnonzero(slot >= 0)
    rows = rows[np.argsort(slot[rows], kind="stable")]
    return rows, homes[slot[rows]]
