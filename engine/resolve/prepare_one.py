"""One record prepared as :func:`engine.resolve.prepare.prepare` would prepare it inside the whole
data: the per-record twin of ``prepare``, for the incremental resolver.

:func:`prepare_one` computes the matching columns of one canonical record in plain Python, well
under a millisecond. The columns that depend on the whole data (:data:`CONTEXT_COLUMNS`: integer
codes of geography, households and BRNs; NID smart-card links; how common the name is; how many
names use a phone) come from a :class:`RegistryContext` built from the batch's records
(:func:`build_context`) and kept up to date as records are added (:func:`remember`).

Every rule is the batch's own scalar function (:func:`~engine.resolve.prepare.nid_key`,
:func:`~engine.resolve.prepare.birth_columns`, :func:`~engine.normalise.account_phone`, ...), called
here for one record where ``prepare`` maps it over distinct values. The incremental resolver checks
``prepare_one`` against ``prepare`` on a sample of the batch's records when it is built or loaded
(:func:`prepare_one_mismatches`); ``tests/engine/test_twins.py`` checks it on every record of
synthetic worlds.
"""

from __future__ import annotations

from collections import ChainMap
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import pandas as pd

from engine.errors import IncrementalError
from engine.record import CANONICAL_FIELDS, Record, is_missing_value
from engine.resolve.crowded import Namesakes
from engine.resolve.prepare import (
    PLACE_COUNTS,
    Gazetteer,
    address_words,
    bangla_only,
    birth_columns,
    coded_values,
    describe_names,
    digits_int,
    distinct_values,
    filled_places,
    first_of,
    full_keys,
    gender_code,
    household_key,
    identifier_keys,
    is_list,
    kin_text,
    link_table,
    merged_keys,
    nid_key,
    nid_number,
    number_list,
    pair_list,
    place_keys,
    places_gazetteer,
    postcode_upazila,
    wallet_number,
)

#: Records of the batch on which prepare_one is checked against prepare.
SAMPLE_SIZE: Final = 400

#: Prepared columns whose values depend on the whole data, not on the record alone.
CONTEXT_COLUMNS: Final = (
    "household",
    "kin",
    "district_name_n",
    "upazila_name_n",
    "union_name_n",
    "father_key",
    "nid_key",
    "nid_text",
    "nid_linked",
    "brn_key",
    "phone_names",
    "wallet_names",
    "district",
    "upazila",
    "union",
    "post_upazila",
    "name_freq",
    "given_freq",
)
#: Kinds of integer codes prepare assigns by order of appearance.
CODE_KINDS: Final = ("household", "father_key", "brn_key", "district", "upazila", "union")
#: The columns :func:`prepare_one` computes; should prepare grow others, it is called itself.
KNOWN_COLUMNS: Final = frozenset(
    (
        "source", "record_id", "kind", "household", "name_en", "name_bn", "father", "mother",
        "spouse", "name_keys", "token_keys", "full_keys",
        "father_key", "gender", "year_lo", "year_hi", "month",
        "day", "dob_weak", "dob_swappable", "birth_years", "birth_decade", "dob_keys", "nid_key",
        "nid_text", "nid_linked", "brn_key", "brn_text", "phone", "wallet", "numbers",
        "phone_names", "wallet_names", "district", "upazila", "union", "address", "postcode",
        "post_upazila", "identifiers", "id_keys", "name_freq", "given_freq", "kin",
        "district_name_n", "upazila_name_n", "union_name_n",
        "bangla_only",
    )
)  # fmt: skip

# -- one record, prepared as the batch would -------------------------------------------------------


def canonical_values(record: Mapping[str, Any] | Record) -> dict[str, Any]:
    """The canonical fields of ``record`` (a :class:`Record` or a mapping), missing ones ``None``.

    Raises
    ------
    IncrementalError
        If ``source`` or ``record_id`` is missing.
    """
    values = record.to_dict() if isinstance(record, Record) else dict(record)
    out = {
        name: (None if is_missing_value(values.get(name)) else values.get(name))
        for name in CANONICAL_FIELDS
    }
    for name in ("source", "record_id"):
        if out[name] is None or str(out[name]) == "":
            raise IncrementalError(f"A record to resolve needs a {name}; got {values.get(name)!r}.")
    return out


@dataclass
class NameFacts:
    """What prepare knows of one name field (see :func:`engine.resolve.prepare.describe_names`)."""

    folded: str | None = None
    key: str | None = None
    words: tuple[str, ...] | None = None
    gender: str | None = None
    bangla: bool | None = None


def _describe(raw: Any) -> NameFacts:
    if raw is None:
        return NameFacts()
    return NameFacts(*describe_names([str(raw)])[0])


@dataclass
class RegistryContext:
    """The data-wide facts behind a prepared record's context columns (:data:`CONTEXT_COLUMNS`).

    Attributes
    ----------
    codes:
        Per kind (:data:`CODE_KINDS`), the raw value -> integer code prepare gave it.
    nid_links:
        10-digit smart-card number -> 13-digit NID core, from records that carry both forms.
    name_counts, given_counts:
        Records per full name (folded; English else Bangla) and per given-name key.
    number_names:
        Distinct given-name keys per phone / wallet number (``number_pairs``: the pairs).
    places:
        The parents of place names the batch's records give (what fills in a record's missing
        district or upazila); records added later do not change it.
    households:
        Per household code, its members: record id -> folded name (for a record's ``kin``).
    place_names:
        Records per ``(place column, full name, place code)`` (the ``*_name_n`` columns).
    namesakes:
        Per source, the birth years of the records of each full name it carries often
        (:class:`~engine.resolve.crowded.Namesakes`: which name-and-age-only pairs are crowded);
        records added later do not change it.
    """

    codes: dict[str, dict[str, int]]
    nid_links: dict[str, str]
    name_counts: dict[str, int]
    given_counts: dict[str, int]
    number_names: dict[int, int]
    number_pairs: set[tuple[int, str]]
    places: Gazetteer = field(default_factory=Gazetteer)
    households: dict[int, dict[str, str | None]] = field(default_factory=dict)
    place_names: dict[tuple[str, str, int], int] = field(default_factory=dict)
    namesakes: Namesakes = field(default_factory=lambda: Namesakes([], [], [], []))

    def code(self, kind: str, value: str | None) -> int:
        """The code of ``value`` (``-1`` for none; a fresh code, not stored, for an unseen one)."""
        if value is None:
            return -1
        table = self.codes[kind]
        found = table.get(value)
        return len(table) if found is None else found

    def remember_code(self, kind: str, value: str | None) -> None:
        if value is not None and value not in self.codes[kind]:
            self.codes[kind][value] = len(self.codes[kind])


def _raw_keys(values: Mapping[str, Any], places: Gazetteer) -> dict[str, str | None]:
    """The raw values prepare codes (:func:`~engine.resolve.prepare.coded_values`), for one
    record."""
    district, upazila, union = place_keys(
        *filled_places(values.get("district"), values.get("upazila"), values.get("union"), places)
    )
    return {
        "household": household_key(str(values["source"]), values.get("household_id")),
        "district": district,
        "upazila": upazila,
        "union": union,
        "brn_key": None if values.get("brn") is None else str(values["brn"]),
        "post_upazila": postcode_upazila(values.get("postcode"), places),
    }


def prepare_one(
    record: Mapping[str, Any] | Record, context: RegistryContext, *, added: bool = False
) -> dict[str, Any]:
    """One record's prepared row, as :func:`engine.resolve.prepare.prepare` computes it over the
    batch's
    records plus this one, in well under a millisecond.

    Parameters
    ----------
    record:
        The canonical record (cleaned values; see :mod:`engine.record`).
    context:
        What the batch's records say (codes, NID links, counts); not changed.
    added:
        The record is already counted in ``context`` (it was added): do not count it twice.

    Returns
    -------
    dict
        Prepared column -> value (the columns of :data:`KNOWN_COLUMNS`).
    """
    values = canonical_values(record)
    row = record_columns(values)
    context_columns(row, values, context, added=added)
    return row


def record_columns(values: Mapping[str, Any]) -> dict[str, Any]:
    """The prepared columns that depend on the record alone (everything but
    :data:`CONTEXT_COLUMNS`), computed in plain Python as ``prepare`` computes them."""
    row: dict[str, Any] = {
        "source": str(values["source"]),
        "record_id": str(values["record_id"]),
        "kind": values["kind"],
    }
    names = [_describe(values[c]) for c in ("full_name", "full_name_bn", *_RELATIVES)]
    en, bn, father, mother, spouse = names
    row["name_en"], row["name_bn"] = en.folded, bn.folded
    row["father"], row["mother"], row["spouse"] = father.folded, mother.folded, spouse.folded
    row["name_keys"] = pair_list(en.key, bn.key)
    row["token_keys"] = merged_keys(en.words, bn.words)
    row["full_keys"] = full_keys(en.words, bn.words)
    row["gender"] = gender_code(values["gender"], en.gender, bn.gender)
    row.update(
        birth_columns(
            values["date_of_birth"], values["birth_year"], values["age"], values["age_as_of"]
        )
    )
    row["brn_text"] = values["brn"]
    row["phone"] = digits_int(values["phone"])
    row["wallet"] = wallet_number(values["account_provider"], values["account_number"])
    row["numbers"] = number_list(row["phone"], row["wallet"])
    row["bangla_only"] = bangla_only(en.bangla, bn.bangla)
    row["address"] = address_words(values["address"])
    row["postcode"] = digits_int(values["postcode"])
    row["identifiers"] = values["identifiers"]
    row["id_keys"] = identifier_keys(values["identifiers"])
    return row


_RELATIVES: Final = ("father_name", "mother_name", "spouse_name")


def context_columns(
    row: dict[str, Any],
    values: Mapping[str, Any],
    context: RegistryContext,
    *,
    added: bool = False,
) -> None:
    """Fill the :data:`CONTEXT_COLUMNS` of a prepared ``row`` from the batch's ``context`` (plus the
    record itself unless ``added``)."""
    raw = _raw_keys(values, context.places)
    row["household"] = context.code("household", raw["household"])
    members = context.households.get(row["household"], {}) if row["household"] >= 0 else {}
    row["kin"] = (
        kin_text(name for rid, name in members.items() if rid != row["record_id"])
        if raw["household"] is not None
        else None
    )
    row["father_key"] = context.code("father_key", _describe(values["father_name"]).key)
    row.update(_nid(values, context))
    row["brn_key"] = context.code("brn_key", raw["brn_key"])
    row["district"] = context.code("district", raw["district"])
    row["upazila"] = context.code("upazila", raw["upazila"])
    row["union"] = context.code("union", raw["union"])
    row["post_upazila"] = context.code("upazila", raw["post_upazila"])
    _count_context(row, context, added=added)


def own_nid_links(values: Mapping[str, Any]) -> dict[str, str]:
    """The smart-card -> core links a record carrying both NID forms makes."""
    return link_table([(values["nid"], values["nid_alt"])])


def _nid(values: Mapping[str, Any], context: RegistryContext) -> dict[str, Any]:
    # the batch's links first, then the record's own (the batch would have them from it)
    links = ChainMap(context.nid_links, own_nid_links(values))
    key, text, linked = nid_key(values["nid"], values["nid_alt"], links)
    return {"nid_key": key, "nid_text": text, "nid_linked": linked}


def full_name_of(row: Mapping[str, Any]) -> str | None:
    return row["name_en"] if row["name_en"] is not None else row["name_bn"]


def first_name_key(row: Mapping[str, Any]) -> str | None:
    return first_of(row["name_keys"])


def _count_context(row: dict[str, Any], context: RegistryContext, *, added: bool) -> None:
    """name_freq, given_freq, phone_names, wallet_names of a row, counting the row itself."""
    own = 0 if added else 1
    full, first = full_name_of(row), first_name_key(row)
    row["name_freq"] = 0 if full is None else context.name_counts.get(full, 0) + own
    for column, place in PLACE_COUNTS.items():
        code = row[place]
        row[column] = (
            0
            if full is None or code < 0
            else context.place_names.get((place, full, int(code)), 0) + own
        )
    row["given_freq"] = 0 if first is None else context.given_counts.get(first, 0) + own
    for column, number in (("phone_names", row["phone"]), ("wallet_names", row["wallet"])):
        if number < 0:
            row[column] = 0
            continue
        count = context.number_names.get(number, 0)
        if not added and first is not None and (number, first) not in context.number_pairs:
            count += 1
        row[column] = max(count, 1)


def build_context(
    records: pd.DataFrame, prepared: pd.DataFrame, namesakes: Namesakes | None = None
) -> RegistryContext:
    """The :class:`RegistryContext` of a batch: its canonical ``records`` and their ``prepared``
    frame, row for row (``namesakes``: the batch's, when it counted them; else counted here)."""
    from engine.normalise import phonetic_key

    n = len(prepared)
    records = records.reset_index(drop=True)

    def column(name: str) -> pd.Series:
        if name in records.columns:
            return records[name].astype(object)
        return pd.Series([None] * n, dtype=object)

    codes = {
        kind: _code_table(values, prepared[kind].to_numpy())
        for kind, values in coded_values(records).items()
        if kind in CODE_KINDS
    }
    # fathers' name keys: the key of the first father name with each code
    father_code = prepared["father_key"].to_numpy()
    father_raw = column("father_name").to_numpy(dtype=object)
    first = pd.Series(np.arange(n))[father_code >= 0].groupby(father_code[father_code >= 0]).first()
    codes["father_key"] = {str(phonetic_key(str(father_raw[i]))): int(c) for c, i in first.items()}
    nid_links = link_table(distinct_values(column("nid"), column("nid_alt"))[1])
    context = RegistryContext(codes, nid_links, {}, {}, {}, set(), places_gazetteer(records))
    fill_counts(context, prepared, namesakes)
    fill_households(context, prepared)
    return context


def fill_households(context: RegistryContext, prepared: pd.DataFrame) -> None:
    """The members of every household of the prepared rows (record id -> folded name)."""
    household = prepared["household"].to_numpy()
    rows = np.flatnonzero(household >= 0)
    full = prepared["name_en"].where(prepared["name_en"].notna(), prepared["name_bn"])
    names = full.to_numpy(dtype=object)
    ids = prepared["record_id"].to_numpy(dtype=object)
    context.households = {}
    for row in rows.tolist():
        context.households.setdefault(int(household[row]), {})[str(ids[row])] = names[row]


def _code_table(values: np.ndarray, codes: np.ndarray) -> dict[str, int]:
    ok = codes >= 0
    frame = pd.DataFrame({"value": values[ok], "code": codes[ok]}).drop_duplicates("value")
    return {str(v): int(c) for v, c in zip(frame["value"], frame["code"], strict=True)}


def fill_counts(
    context: RegistryContext, prepared: pd.DataFrame, namesakes: Namesakes | None = None
) -> None:
    full = prepared["name_en"].where(prepared["name_en"].notna(), prepared["name_bn"])
    context.name_counts = {str(k): int(v) for k, v in full.value_counts().items()}
    context.place_names = {}
    for place in PLACE_COUNTS.values():
        code = prepared[place].to_numpy()
        ok = full.notna().to_numpy() & (code >= 0)
        pairs = pd.DataFrame({"full": full.to_numpy()[ok], "code": code[ok]}).value_counts()
        context.place_names.update({(place, str(f), int(c)): int(n) for (f, c), n in pairs.items()})
    first = pd.Series([first_of(k) for k in prepared["name_keys"].to_numpy()], dtype=object)
    context.given_counts = {str(k): int(v) for k, v in first.value_counts().items()}
    context.namesakes = Namesakes.of(prepared) if namesakes is None else namesakes
    numbers = np.concatenate([prepared["phone"].to_numpy(), prepared["wallet"].to_numpy()])
    keys = np.concatenate([first.to_numpy(), first.to_numpy()])
    frame = pd.DataFrame({"number": numbers, "key": keys})
    frame = frame[(frame["number"] >= 0) & frame["key"].notna()].drop_duplicates()
    context.number_names = {int(k): int(v) for k, v in frame["number"].value_counts().items()}
    context.number_pairs = set(zip(frame["number"].astype(int), frame["key"], strict=True))


def refresh_context(prepared: pd.DataFrame, context: RegistryContext) -> None:
    """Recount the counted columns (and the NID links) of every row from ``context``, as a batch
    over the same records would: records added since the batch change other records' counts."""
    full = prepared["name_en"].where(prepared["name_en"].notna(), prepared["name_bn"])
    prepared["name_freq"] = full.map(context.name_counts).fillna(0).astype(np.int32).to_numpy()
    for column, place in PLACE_COUNTS.items():
        keys = zip(full.tolist(), prepared[place].tolist(), strict=True)
        prepared[column] = np.asarray(
            [
                0 if f is None or f != f or c < 0 else context.place_names.get((place, f, c), 0)
                for f, c in keys
            ],
            dtype=np.int32,
        )
    first = pd.Series([first_of(k) for k in prepared["name_keys"].to_numpy()], dtype=object)
    prepared["given_freq"] = first.map(context.given_counts).fillna(0).astype(np.int32).to_numpy()
    for column, number in (("phone_names", "phone"), ("wallet_names", "wallet")):
        values = prepared[number]
        count = values.map(context.number_names).fillna(0).to_numpy()
        prepared[column] = np.where(values >= 0, np.maximum(count, 1), 0).astype(np.int32)
    text = prepared["nid_text"]
    core = text.map(context.nid_links, na_action="ignore")
    linked = core.notna() & (text.str.len() == 10)
    if linked.any():
        prepared.loc[linked, "nid_text"] = core[linked]
        prepared.loc[linked, "nid_key"] = [nid_number(t) for t in core[linked]]
        prepared.loc[linked, "nid_linked"] = True


def remember(row: Mapping[str, Any], values: Mapping[str, Any], context: RegistryContext) -> None:
    """Count an added record into the context."""
    raw = _raw_keys(values, context.places)
    for kind in ("household", "district", "upazila", "union", "brn_key"):
        context.remember_code(kind, raw[kind])
    father = _describe(values["father_name"]).key
    context.remember_code("father_key", father)
    for smart, core in own_nid_links(values).items():
        context.nid_links.setdefault(smart, core)
    full, first = full_name_of(row), first_name_key(row)
    if row["household"] >= 0:
        household = context.code("household", raw["household"])
        context.households.setdefault(household, {})[str(row["record_id"])] = full
    if full is not None:
        context.name_counts[full] = context.name_counts.get(full, 0) + 1
        for place in PLACE_COUNTS.values():
            if row[place] >= 0:
                key = (place, full, int(row[place]))
                context.place_names[key] = context.place_names.get(key, 0) + 1
    if first is not None:
        context.given_counts[first] = context.given_counts.get(first, 0) + 1
        for number in {row["phone"], row["wallet"]}:
            if number >= 0 and (number, first) not in context.number_pairs:
                context.number_pairs.add((number, first))
                context.number_names[number] = context.number_names.get(number, 0) + 1


def _same(a: Any, b: Any) -> bool:
    if is_list(a) or is_list(b):
        if a is None or b is None:
            return a is None and b is None
        return [str(v) for v in a] == [str(v) for v in b]
    if is_missing_value(a) or is_missing_value(b):
        return is_missing_value(a) and is_missing_value(b)
    return bool(a == b)


def prepare_one_mismatches(
    sample: pd.DataFrame, prepared: pd.DataFrame, context: RegistryContext
) -> list[str]:
    """Prepared columns where :func:`prepare_one` differs from the batch's ``prepared`` frame on
    ``sample`` (canonical records of the batch with their position in a ``row`` column)."""
    differ: set[str] = set()
    for values in sample.to_dict(orient="records"):
        position = int(values.pop("row"))
        mine = prepare_one(values, context, added=True)
        for column in prepared.columns:
            if column not in differ and not _same(prepared[column].iat[position], mine.get(column)):
                differ.add(column)
    return sorted(differ)


def sample_records(records: pd.DataFrame, size: int) -> pd.DataFrame:
    """Up to ``size`` canonical records picked at random (fixed seed), with their ``row``."""
    rng = np.random.default_rng(0)
    rows = np.sort(rng.choice(len(records), size=min(size, len(records)), replace=False))
    fields = [c for c in CANONICAL_FIELDS if c in records.columns]
    sample = records.iloc[rows][fields].reset_index(drop=True)
    sample = sample.astype(object).where(sample.notna(), None)
    sample["row"] = rows
    return sample
