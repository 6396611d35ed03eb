"""One record prepared as :func:`engine.resolve.prepare.prepare` would prepare it inside the whole
data: the per-record twin of ``prepare``, for the incremental resolver.

:func:`prepare_one` computes the matching columns of one canonical record in plain Python, well
under a millisecond. The columns that depend on the whole data (:data:`CONTEXT_COLUMNS`: integer
codes of geography, households and BRNs; NID smart-card links; how common the name is; how many
names use a phone) come from a :class:`RegistryContext` built from the batch's records
(:func:`build_context`) and kept up to date as records are added (:func:`remember`).

The incremental resolver checks ``prepare_one`` against ``prepare`` on a sample of the batch's
records when it is built or loaded (:func:`prepare_one_mismatches`); ``tests/engine/test_twins.py``
checks it on every record of a synthetic world.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import pandas as pd

from engine.errors import IncrementalError
from engine.record import CANONICAL_FIELDS, Record, is_missing_value
from engine.resolve.prepare import (
    GENDER_CODES,
    HEAPED_AGE_MIN,
    HEAPED_AGE_SLACK,
    KEY_SEP,
    MAX_BLOCKING_YEAR_SPAN,
    describe_names,
    is_list,
)

#: Records of the batch on which prepare_one is checked against prepare.
SAMPLE_SIZE: Final = 400

#: Prepared columns whose values depend on the whole data, not on the record alone.
CONTEXT_COLUMNS: Final = (
    "household",
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
    "name_freq",
    "given_freq",
)
#: Kinds of integer codes prepare assigns by order of appearance.
CODE_KINDS: Final = ("household", "father_key", "brn_key", "district", "upazila", "union")
#: Offset prepare adds to an unlinked 10-digit smart-card NID so it cannot equal a 13-digit core.
SMART_OFFSET: Final = 10**15
#: The columns :func:`prepare_one` computes; should prepare grow others, it is called itself.
KNOWN_COLUMNS: Final = frozenset(
    (
        "source", "record_id", "kind", "household", "name_en", "name_bn", "father", "mother",
        "spouse", "name_keys", "token_keys", "father_key", "gender", "year_lo", "year_hi", "month",
        "day", "dob_weak", "dob_swappable", "birth_years", "birth_decade", "dob_keys", "nid_key",
        "nid_text", "nid_linked", "brn_key", "brn_text", "phone", "wallet", "numbers",
        "phone_names", "wallet_names", "district", "upazila", "union", "name_freq", "given_freq",
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


def _number(value: Any) -> float:
    if value is None:
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def digits_int(text: str | None) -> int:
    """As ``prepare._digits_to_int``: the digit string as an integer, ``-1`` when it is none."""
    if text is None:
        return -1
    if text.isascii() and text.isdigit() and len(text) <= 18:
        return int(text)
    value = pd.to_numeric(pd.Series([text], dtype=object), errors="coerce").iloc[0]
    return -1 if pd.isna(value) else int(value)


def _nid_core(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value)
    return text[-13:] if len(text) == 17 else text


def _pair_list(x: Any, y: Any) -> list[Any] | None:
    if x is None and y is None:
        return None
    if x is None or x == y:
        return [y] if x is None else [x]
    if y is None:
        return [x]
    return [x, y]


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
    """

    codes: dict[str, dict[str, int]]
    nid_links: dict[str, str]
    name_counts: dict[str, int]
    given_counts: dict[str, int]
    number_names: dict[int, int]
    number_pairs: set[tuple[int, str]]

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


def _raw_keys(values: Mapping[str, Any]) -> dict[str, str | None]:
    """The raw strings prepare codes (as its pandas expressions spell them), for one record."""
    source = str(values["source"])
    hh, district = values.get("household_id"), values.get("district")
    upazila, union = values.get("upazila"), values.get("union")
    up_key = f"{district}{KEY_SEP}{upazila}"
    return {
        "household": None if hh is None else f"{source}{KEY_SEP}{hh}",
        "district": None if district is None else str(district),
        "upazila": None if upazila is None else up_key,
        "union": None if union is None else f"{up_key}{KEY_SEP}{union}",
        "brn_key": None if values.get("brn") is None else str(values["brn"]),
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
    row["name_keys"] = _pair_list(en.key, bn.key)
    x, y = en.words, bn.words
    if not y:
        row["token_keys"] = list(x) if x else None
    elif not x:
        row["token_keys"] = list(y)
    else:
        row["token_keys"] = sorted(set(x) | set(y))
    gender = GENDER_CODES.get(values["gender"]) if values["gender"] is not None else None
    for facts in (en, bn):
        if gender is None and facts.gender is not None:
            gender = GENDER_CODES.get(facts.gender)
    row["gender"] = gender or 0
    row.update(_birth(values))
    row["brn_text"] = values["brn"]
    row.update(_numbers(values))
    scripts = (en.bangla, bn.bangla)
    has_name = any(s is not None for s in scripts)
    has_latin = any(s is not None and not s for s in scripts)
    row["bangla_only"] = has_name and not has_latin
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
    raw = _raw_keys(values)
    row["household"] = context.code("household", raw["household"])
    row["father_key"] = context.code("father_key", _describe(values["father_name"]).key)
    row.update(_nid(values, context))
    row["brn_key"] = context.code("brn_key", raw["brn_key"])
    row["district"] = context.code("district", raw["district"])
    row["upazila"] = context.code("upazila", raw["upazila"])
    row["union"] = context.code("union", raw["union"])
    _count_context(row, context, added=added)


def _birth(values: Mapping[str, Any]) -> dict[str, Any]:
    from engine.normalise import birth_date

    year, age = _number(values["birth_year"]), _number(values["age"])
    result = birth_date(
        dob=values["date_of_birth"] or None,
        year=None if math.isnan(year) else int(year),
        age=None if math.isnan(age) else int(age),
        as_of=values["age_as_of"] or None,
    )
    nan = np.float32(np.nan)
    if result is None:
        lo = hi = month = day = nan
        weak, swappable = True, False
    else:
        lo, hi = np.float32(result.year_lo), np.float32(result.year_hi)
        if values["date_of_birth"] is None and math.isnan(year) and _heaped(age):
            # prepare widens an age that is a multiple of 5 (often rounded)
            lo, hi = lo - np.float32(HEAPED_AGE_SLACK), hi + np.float32(HEAPED_AGE_SLACK)
        month = np.float32(result.month) if result.month else nan
        day = np.float32(result.day) if result.day else nan
        weak, swappable = bool(result.weak), bool(result.swappable)
    years = None
    if lo == lo and hi - lo <= MAX_BLOCKING_YEAR_SPAN:
        years = list(range(int(lo), int(hi) + 1))
    decade = -1 if lo != lo else int(np.floor_divide(lo, 10))
    dob_keys = None
    if month == month and day == day and not weak:
        plain = int(lo) * 10000 + int(month) * 100 + int(day)
        swapped = int(lo) * 10000 + int(day) * 100 + int(month)
        dob_keys = [plain, swapped] if swappable else [plain]
    return {
        "year_lo": lo,
        "year_hi": hi,
        "month": month,
        "day": day,
        "dob_weak": weak,
        "dob_swappable": swappable,
        "birth_years": years,
        "birth_decade": decade,
        "dob_keys": dob_keys,
    }


def _heaped(age: float) -> bool:
    return not math.isnan(age) and age % 5 == 0 and age >= HEAPED_AGE_MIN


def own_nid_links(values: Mapping[str, Any]) -> dict[str, str]:
    """The smart-card -> core link a record carrying both NID forms makes."""
    a, b = _nid_core(values["nid"]), _nid_core(values["nid_alt"])
    links: dict[str, str] = {}
    if a is not None and b is not None:
        if len(a) == 10:
            links[a] = b
        if len(b) == 10 and b not in links:
            links[b] = a
    return links


def _nid(values: Mapping[str, Any], context: RegistryContext) -> dict[str, Any]:
    links = context.nid_links
    own = own_nid_links(values)
    core, alt = _nid_core(values["nid"]), _nid_core(values["nid_alt"])

    def link(text: str | None) -> str | None:
        if text is None:
            return None
        found = links.get(text)
        return own.get(text) if found is None else found

    linked = link(core)
    key_text = linked if linked is not None else core
    if key_text is None and alt is not None:
        key_text = link(alt) or alt
    key = digits_int(key_text)
    if key_text is not None and len(key_text) == 10 and key >= 0:
        key += SMART_OFFSET
    return {"nid_key": key, "nid_text": key_text, "nid_linked": linked is not None}


def _numbers(values: Mapping[str, Any]) -> dict[str, Any]:
    from engine.normalise.identifiers import PHONE_WALLETS, ROCKET_WALLETS

    phone = digits_int(None if values["phone"] is None else str(values["phone"]))
    number, provider = values["account_number"], values["account_provider"]
    wallet_text = None
    if number is not None and provider is not None:
        number, provider = str(number), str(provider).lower()
        if provider in PHONE_WALLETS and len(number) == 11:
            wallet_text = number
        elif provider in ROCKET_WALLETS and len(number) == 12:
            wallet_text = number[:11]
    wallet = digits_int(wallet_text)
    return {
        "phone": phone,
        "wallet": wallet,
        "numbers": _pair_list(phone if phone >= 0 else None, wallet if wallet >= 0 else None),
    }


def full_name_of(row: Mapping[str, Any]) -> str | None:
    return row["name_en"] if row["name_en"] is not None else row["name_bn"]


def first_name_key(row: Mapping[str, Any]) -> str | None:
    keys = row["name_keys"]
    return None if keys is None or len(keys) == 0 else keys[0]


def _count_context(row: dict[str, Any], context: RegistryContext, *, added: bool) -> None:
    """name_freq, given_freq, phone_names, wallet_names of a row, counting the row itself."""
    own = 0 if added else 1
    full, first = full_name_of(row), first_name_key(row)
    row["name_freq"] = 0 if full is None else context.name_counts.get(full, 0) + own
    row["given_freq"] = 0 if first is None else context.given_counts.get(first, 0) + own
    for column, number in (("phone_names", row["phone"]), ("wallet_names", row["wallet"])):
        if number < 0:
            row[column] = 0
            continue
        count = context.number_names.get(number, 0)
        if not added and first is not None and (number, first) not in context.number_pairs:
            count += 1
        row[column] = max(count, 1)


def build_context(records: pd.DataFrame, prepared: pd.DataFrame) -> RegistryContext:
    """The :class:`RegistryContext` of a batch: its canonical ``records`` and their ``prepared``
    frame, row for row."""
    from engine.normalise import phonetic_key

    n = len(prepared)
    records = records.reset_index(drop=True)

    def column(name: str) -> pd.Series:
        if name in records.columns:
            return records[name].astype(object)
        return pd.Series([None] * n, dtype=object)

    codes: dict[str, dict[str, int]] = {}
    source = column("source").astype(str)
    hh = column("household_id")
    district, upazila, union = column("district"), column("upazila"), column("union")
    up_key = district.astype(str) + KEY_SEP + upazila.astype(str)
    raw = {
        "household": (source + KEY_SEP + hh.astype(str)).where(hh.notna(), None),
        "district": district.where(district.notna(), None),
        "upazila": up_key.where(upazila.notna(), None),
        "union": (up_key + KEY_SEP + union.astype(str)).where(union.notna(), None),
        "brn_key": column("brn").where(column("brn").notna(), None),
    }
    for kind, values in raw.items():
        code = prepared[kind].to_numpy()
        codes[kind] = _code_table(values.to_numpy(dtype=object), code)
    # fathers' name keys: the key of the first father name with each code
    father_code = prepared["father_key"].to_numpy()
    father_raw = column("father_name").to_numpy(dtype=object)
    first = pd.Series(np.arange(n))[father_code >= 0].groupby(father_code[father_code >= 0]).first()
    codes["father_key"] = {str(phonetic_key(str(father_raw[i]))): int(c) for c, i in first.items()}
    nid_links = _smart_links_in_order(column("nid"), column("nid_alt"))
    context = RegistryContext(codes, nid_links, {}, {}, {}, set())
    fill_counts(context, prepared)
    return context


def _smart_links_in_order(nid: pd.Series, alt: pd.Series) -> dict[str, str]:
    """Smart-card -> core links in prepare's order: all ``nid`` smart numbers first, then
    ``nid_alt`` ones; the first link of a smart number wins."""
    a = nid.map(_nid_core, na_action="ignore")
    b = alt.map(_nid_core, na_action="ignore")
    both = a.notna() & b.notna()
    a, b = a[both].astype(str), b[both].astype(str)
    links: dict[str, str] = {}
    for smart, core in itertools.chain(
        zip(a[a.str.len() == 10], b[a.str.len() == 10], strict=True),
        zip(b[b.str.len() == 10], a[b.str.len() == 10], strict=True),
    ):
        links.setdefault(smart, core)
    return links


def _code_table(values: np.ndarray, codes: np.ndarray) -> dict[str, int]:
    ok = codes >= 0
    frame = pd.DataFrame({"value": values[ok], "code": codes[ok]}).drop_duplicates("value")
    return {str(v): int(c) for v, c in zip(frame["value"], frame["code"], strict=True)}


def fill_counts(context: RegistryContext, prepared: pd.DataFrame) -> None:
    full = prepared["name_en"].where(prepared["name_en"].notna(), prepared["name_bn"])
    context.name_counts = {str(k): int(v) for k, v in full.value_counts().items()}
    first = pd.Series([first_of(k) for k in prepared["name_keys"].to_numpy()], dtype=object)
    context.given_counts = {str(k): int(v) for k, v in first.value_counts().items()}
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
        prepared.loc[linked, "nid_key"] = [digits_int(t) for t in core[linked]]
        prepared.loc[linked, "nid_linked"] = True


def first_of(keys: Any) -> str | None:
    return None if keys is None or len(keys) == 0 else str(keys[0])


def remember(row: Mapping[str, Any], values: Mapping[str, Any], context: RegistryContext) -> None:
    """Count an added record into the context."""
    raw = _raw_keys(values)
    for kind in ("household", "district", "upazila", "union", "brn_key"):
        context.remember_code(kind, raw[kind])
    father = _describe(values["father_name"]).key
    context.remember_code("father_key", father)
    for smart, core in own_nid_links(values).items():
        context.nid_links.setdefault(smart, core)
    full, first = full_name_of(row), first_name_key(row)
    if full is not None:
        context.name_counts[full] = context.name_counts.get(full, 0) + 1
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
