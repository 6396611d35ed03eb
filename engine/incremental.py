"""Incremental resolve: one new record against the persons of a finished batch, in milliseconds.

The API's ``/resolve`` cannot re-run the batch for every record that arrives. An
:class:`IncrementalResolver` keeps what the batch knew (the prepared records, their person IDs,
the blocking keys of every rule as sorted hash indexes, and the data-wide counts comparison uses)
and answers for one record what the batch would have answered had the record been in it:

1. **prepare** the record as :func:`engine.prepare.prepare` would inside the whole data:
   :func:`prepare_one` computes the same matching columns in plain Python (checked against
   ``prepare`` on a sample of the batch's records when the resolver is built or loaded; should
   they differ, ``prepare`` itself is used, slower), and the data-wide values (integer codes of
   geography, households and BRNs; NID smart-card links from the EC extract; how common the name
   is; how many names use the phone) come from the batch's records plus this one;
2. **block** with the batch's rules by index lookups (no re-blocking): every key of the record is
   hashed and looked up; a block that the record would push over the rule's ``max_block`` is
   refined or dropped exactly as :func:`engine.blocking.rule_pairs` does;
3. **score** the record against every record of each person it was blocked with (the batch scores
   every pair inside a small component the same way), with the batch's model and rules
   (:func:`engine.pipeline.score`, :func:`engine.compare.cannot_link`);
4. **decide** as the clustering does (:mod:`engine.cluster`). A person *links strongly* when a
   blocked pair to it is above the link threshold and no cannot-link; its evidence is the average
   log-odds over the informative pairs (scored positive or at most ``-NEUTRAL_BAND``). With no
   strong link the record is a new person; with one, and a positive average and no cannot-link,
   it joins that person; otherwise (several strong links: the record bridges persons; or a
   contested one) the clustering's constrained average linkage is run over the record and those
   persons' records, and the record's group names the answer as the identity ledger would, the
   other persons in it being reported as ``merges``.

:meth:`IncrementalResolver.add` also remembers the record (its keys, its counts, its person) for
the calls that follow; the next batch run is still the reference.

Saving (what the batch writes for the API to load), in one folder:

=====================  ==========================================================================
file                   contents
=====================  ==========================================================================
``incremental.json``   format and version, settings (blocking rules, thresholds), model version,
                       record count
``prepared.parquet``   the prepared frame (:data:`engine.prepare.PREPARED_COLUMNS`) + ``person_id``
``keys.parquet``       ``rule, hash, record``: every blocking key of every record (uint64 hash of
                       the key's values), sorted by rule and hash
``codes.parquet``      ``kind, value, code, target``: the integer codes of households, districts,
                       upazilas, unions, BRNs and fathers' name keys, and the NID smart-card links
``sample.parquet``     a few hundred of the batch's canonical records with their ``row``, on which
                       :func:`prepare_one` is checked at load
=====================  ==========================================================================

Example
-------
>>> resolution = resolve(records, model)                                     # doctest: +SKIP
>>> resolver = IncrementalResolver.from_resolution(                          # doctest: +SKIP
...     resolution, person_ids, model, records=records)
>>> resolver.save(folder)                                                    # doctest: +SKIP
>>> IncrementalResolver.write_batch(                                         # doctest: +SKIP
...     folder, resolution, person_ids, model, records=records)   # the same files, less memory
>>> resolver = IncrementalResolver.load(folder, model)                       # doctest: +SKIP
>>> match = resolver.resolve_one({"source": "dss", "record_id": "9", ...})   # doctest: +SKIP
>>> match.person_id, match.probability                                       # doctest: +SKIP
"""

from __future__ import annotations

import itertools
import json
import logging
import math
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd

from engine.blocking import BlockingRule
from engine.cluster import NEUTRAL_BAND
from engine.compare import cannot_link, compare
from engine.errors import EkjonError
from engine.explain import Explanation, explain_features, model_features
from engine.pipeline import MatchModel, Resolution, ResolveSettings, score
from engine.prepare import (
    GENDER_CODES,
    HEAPED_AGE_MIN,
    HEAPED_AGE_SLACK,
    MAX_BLOCKING_YEAR_SPAN,
    PREPARED_COLUMNS,
    describe_names,
)
from engine.record import CANONICAL_FIELDS, Record, record_key

log = logging.getLogger(__name__)

FORMAT: Final = "ekjon.incremental"
FORMAT_VERSION: Final = 1
STATE_FILE: Final = "incremental.json"
PREPARED_FILE: Final = "prepared.parquet"
KEYS_FILE: Final = "keys.parquet"
CODES_FILE: Final = "codes.parquet"
SAMPLE_FILE: Final = "sample.parquet"
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
_SEP: Final = "\x1f"


class IncrementalError(EkjonError):
    """The incremental resolver cannot do what was asked (a bad saved state, a duplicate record)."""


# -- one record, prepared as the batch would -------------------------------------------------------


def _missing(value: Any) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, float | np.floating):
        return bool(value != value)
    return False


def canonical_values(record: Mapping[str, Any] | Record) -> dict[str, Any]:
    """The canonical fields of ``record`` (a :class:`Record` or a mapping), missing ones ``None``.

    Raises
    ------
    IncrementalError
        If ``source`` or ``record_id`` is missing.
    """
    values = record.to_dict() if isinstance(record, Record) else dict(record)
    out = {
        name: (None if _missing(values.get(name)) else values.get(name))
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


def _digits(text: str | None) -> int:
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
    """What prepare knows of one name field (see :func:`engine.prepare.describe_names`)."""

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
    up_key = f"{district}{_SEP}{upazila}"
    return {
        "household": None if hh is None else f"{source}{_SEP}{hh}",
        "district": None if district is None else str(district),
        "upazila": None if upazila is None else up_key,
        "union": None if union is None else f"{up_key}{_SEP}{union}",
        "brn_key": None if values.get("brn") is None else str(values["brn"]),
    }


def prepare_one(
    record: Mapping[str, Any] | Record, context: RegistryContext, *, added: bool = False
) -> dict[str, Any]:
    """One record's prepared row, as :func:`engine.prepare.prepare` computes it over the batch's
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


def _own_links(values: Mapping[str, Any]) -> dict[str, str]:
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
    own = _own_links(values)
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
    key = _digits(key_text)
    if key_text is not None and len(key_text) == 10 and key >= 0:
        key += SMART_OFFSET
    return {"nid_key": key, "nid_text": key_text, "nid_linked": linked is not None}


def _numbers(values: Mapping[str, Any]) -> dict[str, Any]:
    from engine.normalise.identifiers import PHONE_WALLETS, ROCKET_WALLETS

    phone = _digits(None if values["phone"] is None else str(values["phone"]))
    number, provider = values["account_number"], values["account_provider"]
    wallet_text = None
    if number is not None and provider is not None:
        number, provider = str(number), str(provider).lower()
        if provider in PHONE_WALLETS and len(number) == 11:
            wallet_text = number
        elif provider in ROCKET_WALLETS and len(number) == 12:
            wallet_text = number[:11]
    wallet = _digits(wallet_text)
    return {
        "phone": phone,
        "wallet": wallet,
        "numbers": _pair_list(phone if phone >= 0 else None, wallet if wallet >= 0 else None),
    }


def _full_name(row: Mapping[str, Any]) -> str | None:
    return row["name_en"] if row["name_en"] is not None else row["name_bn"]


def _first_key(row: Mapping[str, Any]) -> str | None:
    keys = row["name_keys"]
    return None if keys is None or len(keys) == 0 else keys[0]


def _count_context(row: dict[str, Any], context: RegistryContext, *, added: bool) -> None:
    """name_freq, given_freq, phone_names, wallet_names of a row, counting the row itself."""
    own = 0 if added else 1
    full, first = _full_name(row), _first_key(row)
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
    up_key = district.astype(str) + _SEP + upazila.astype(str)
    raw = {
        "household": (source + _SEP + hh.astype(str)).where(hh.notna(), None),
        "district": district.where(district.notna(), None),
        "upazila": up_key.where(upazila.notna(), None),
        "union": (up_key + _SEP + union.astype(str)).where(union.notna(), None),
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
    _fill_counts(context, prepared)
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


def _fill_counts(context: RegistryContext, prepared: pd.DataFrame) -> None:
    full = prepared["name_en"].where(prepared["name_en"].notna(), prepared["name_bn"])
    context.name_counts = {str(k): int(v) for k, v in full.value_counts().items()}
    first = pd.Series([_first_of(k) for k in prepared["name_keys"].to_numpy()], dtype=object)
    context.given_counts = {str(k): int(v) for k, v in first.value_counts().items()}
    numbers = np.concatenate([prepared["phone"].to_numpy(), prepared["wallet"].to_numpy()])
    keys = np.concatenate([first.to_numpy(), first.to_numpy()])
    frame = pd.DataFrame({"number": numbers, "key": keys})
    frame = frame[(frame["number"] >= 0) & frame["key"].notna()].drop_duplicates()
    context.number_names = {int(k): int(v) for k, v in frame["number"].value_counts().items()}
    context.number_pairs = set(zip(frame["number"].astype(int), frame["key"], strict=True))


def _refresh_context(prepared: pd.DataFrame, context: RegistryContext) -> None:
    """Recount the counted columns (and the NID links) of every row from ``context``, as a batch
    over the same records would: records added since the batch change other records' counts."""
    full = prepared["name_en"].where(prepared["name_en"].notna(), prepared["name_bn"])
    prepared["name_freq"] = full.map(context.name_counts).fillna(0).astype(np.int32).to_numpy()
    first = pd.Series([_first_of(k) for k in prepared["name_keys"].to_numpy()], dtype=object)
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
        prepared.loc[linked, "nid_key"] = [_digits(t) for t in core[linked]]
        prepared.loc[linked, "nid_linked"] = True


def _first_of(keys: Any) -> str | None:
    return None if keys is None or len(keys) == 0 else str(keys[0])


def _remember(row: Mapping[str, Any], values: Mapping[str, Any], context: RegistryContext) -> None:
    """Count an added record into the context."""
    raw = _raw_keys(values)
    for kind in ("household", "district", "upazila", "union", "brn_key"):
        context.remember_code(kind, raw[kind])
    father = _describe(values["father_name"]).key
    context.remember_code("father_key", father)
    for smart, core in _own_links(values).items():
        context.nid_links.setdefault(smart, core)
    full, first = _full_name(row), _first_key(row)
    if full is not None:
        context.name_counts[full] = context.name_counts.get(full, 0) + 1
    if first is not None:
        context.given_counts[first] = context.given_counts.get(first, 0) + 1
        for number in {row["phone"], row["wallet"]}:
            if number >= 0 and (number, first) not in context.number_pairs:
                context.number_pairs.add((number, first))
                context.number_names[number] = context.number_names.get(number, 0) + 1


def _same(a: Any, b: Any) -> bool:
    if _is_list(a) or _is_list(b):
        if a is None or b is None:
            return a is None and b is None
        return [str(v) for v in a] == [str(v) for v in b]
    if _missing(a) or _missing(b):
        return _missing(a) and _missing(b)
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


def _sample_records(records: pd.DataFrame, size: int) -> pd.DataFrame:
    """Up to ``size`` canonical records picked at random (fixed seed), with their ``row``."""
    rng = np.random.default_rng(0)
    rows = np.sort(rng.choice(len(records), size=min(size, len(records)), replace=False))
    fields = [c for c in CANONICAL_FIELDS if c in records.columns]
    sample = records.iloc[rows][fields].reset_index(drop=True)
    sample = sample.astype(object).where(sample.notna(), None)
    sample["row"] = rows
    return sample


# -- blocking keys as hash indexes ----------------------------------------------------------------


def _hash(keys: Sequence[str] | np.ndarray) -> np.ndarray:
    """A stable 64-bit hash of each key string (the same in every process and version of ekjon).

    Each distinct key is hashed once (``categorize``); the hashes are the same either way."""
    return pd.util.hash_array(np.asarray(keys, dtype=object), categorize=True)


#: Records whose blocking keys are spelled out as strings at a time when an index is built.
_KEY_CHUNK: Final = 100_000


def _is_list(value: Any) -> bool:
    return isinstance(value, list | tuple | np.ndarray)


def _present(value: Any, integer: bool) -> bool:
    if _missing(value):
        return False
    if integer:
        return bool(value >= 0)
    return not (isinstance(value, str) and value == "")


def key_strings(
    row: Mapping[str, Any], columns: Sequence[str], integer: Mapping[str, bool]
) -> list[str]:
    """The keys of one prepared row for a rule's ``columns``, as :func:`key_table` forms them
    (list columns exploded, missing values dropped), each written as its values joined."""
    parts: list[list[str]] = []
    for column in columns:
        value = row[column]
        items = list(value) if _is_list(value) else [value]
        present = [str(v) for v in items if _present(v, integer[column] and not _is_list(value))]
        if not present:
            return []
        parts.append(list(dict.fromkeys(present)))
    return [_SEP.join(combo) for combo in itertools.product(*parts)]


def key_frame(prepared: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """``record, key`` for every key of every prepared row (the same strings as
    :func:`key_strings`)."""
    table = pd.DataFrame({"record": np.arange(len(prepared), dtype=np.int64)})
    for column in columns:
        values = prepared[column]
        integer = values.dtype.kind in "iu"
        table[column] = values.to_numpy()[table["record"].to_numpy()]
        if values.dtype == object and values.map(_is_list, na_action="ignore").any():
            table = table.explode(column, ignore_index=True)
            integer = False
        col = table[column]
        keep = (col >= 0) if integer else (col.notna() & (col.astype(str) != ""))
        table = table[keep.to_numpy()]
    if table.empty:
        return pd.DataFrame({"record": np.empty(0, np.int64), "key": np.empty(0, object)})
    key = table[columns[0]].astype(str)
    for column in columns[1:]:
        key = key + _SEP + table[column].astype(str)
    out = pd.DataFrame({"record": table["record"].to_numpy(), "key": key.to_numpy(dtype=object)})
    return out.drop_duplicates(ignore_index=True)


@dataclass
class RuleIndex:
    """One blocking rule's keys: sorted hashes with the record of each, plus records added since."""

    rule: BlockingRule
    hashes: np.ndarray
    records: np.ndarray
    added: dict[int, list[int]] = field(default_factory=dict)

    @classmethod
    def build(cls, rule: BlockingRule, prepared: pd.DataFrame) -> RuleIndex:
        # the key strings of a few records at a time: a million records' name-and-year keys as
        # Python strings would take gigabytes, their hashes a few hundred megabytes
        hashes, records = [], []
        for start in range(0, len(prepared), _KEY_CHUNK):
            table = key_frame(prepared.iloc[start : start + _KEY_CHUNK], rule.columns)
            hashes.append(_hash(table["key"].to_numpy()))
            records.append(table["record"].to_numpy(np.int64) + start)
        hashed = np.concatenate(hashes) if hashes else np.empty(0, np.uint64)
        record = np.concatenate(records) if records else np.empty(0, np.int64)
        order = np.lexsort((record, hashed))
        return cls(rule, hashed[order], record[order])

    def members(self, hashed: int) -> np.ndarray:
        lo = int(np.searchsorted(self.hashes, hashed, side="left"))
        hi = int(np.searchsorted(self.hashes, hashed, side="right"))
        found = self.records[lo:hi]
        extra = self.added.get(hashed)
        if extra:
            found = np.concatenate([found, np.asarray(extra, dtype=np.int64)])
        return found

    def add(self, hashed: int, record: int) -> None:
        self.added.setdefault(hashed, []).append(record)

    def merged(self) -> tuple[np.ndarray, np.ndarray]:
        """Every (hash, record), the added ones merged in, sorted."""
        if not self.added:
            return self.hashes, self.records
        h = [np.uint64(k) for k, rows in self.added.items() for _ in rows]
        r = [row for rows in self.added.values() for row in rows]
        hashes = np.concatenate([self.hashes, np.asarray(h, dtype=np.uint64)])
        records = np.concatenate([self.records, np.asarray(r, dtype=np.int64)])
        order = np.lexsort((records, hashes))
        return hashes[order], records[order]


# -- the answer -----------------------------------------------------------------------------------


@dataclass
class Match:
    """Where one record belongs.

    Attributes
    ----------
    record:
        The record's key (``source/record_id``).
    person_id:
        The person it joins; ``None`` for a new person (after :meth:`IncrementalResolver.add`, the
        ID it was given).
    new_person:
        No existing person qualified.
    probability:
        ``1 / (1 + exp(-a))`` of the chosen person's average log-odds ``a`` (for a new person, of
        the best candidate person's; 0 with no candidate).
    log_odds:
        That average log-odds.
    candidates:
        Every record scored: ``source, record_id, person_id, probability, weight, cannot_link,
        blocked`` (found by blocking, or scored because its person was) and ``rules`` (which rules
        found it), best first.
    persons:
        Every candidate person: ``person_id, records, scored, mean_log_odds, best_probability,
        strong_link, cannot_link, qualifies, joins`` (the record joins it), the joined first.
    explanation:
        Why the best pair to the chosen person (or, for a new person, to the best candidate)
        scored as it did; ``None`` when nothing was scored or explanations were not asked for.
    merges:
        Other persons the record bridges to the chosen one: the next batch will merge them (the
        chosen person is the one whose ID the identity ledger keeps).
    decided_by:
        ``"average link"`` (the record links strongly to one person) or ``"linkage"`` (it links
        strongly to several, or its link is contested: the clustering's average linkage was run
        over the record and those persons' records).
    seconds:
        Time taken.
    """

    record: str
    person_id: str | None
    new_person: bool
    probability: float
    log_odds: float
    candidates: pd.DataFrame
    persons: pd.DataFrame
    explanation: Explanation | None = None
    merges: list[str] = field(default_factory=list)
    decided_by: str = "average link"
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the answer, the persons and candidates as lists of rows, the explanation."""

        def rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
            clean = frame.astype(object).where(frame.notna(), None)
            return [
                {k: (v.item() if isinstance(v, np.generic) else v) for k, v in r.items()}
                for r in clean.to_dict(orient="records")
            ]

        finite = [self.probability, self.log_odds]
        return {
            "record": self.record,
            "person_id": self.person_id,
            "new_person": self.new_person,
            "probability": finite[0] if math.isfinite(finite[0]) else None,
            "log_odds": finite[1] if math.isfinite(finite[1]) else None,
            "persons": rows(self.persons),
            "candidates": rows(self.candidates),
            "explanation": None if self.explanation is None else self.explanation.to_dict(),
            "merges": list(self.merges),
            "decided_by": self.decided_by,
            "seconds": self.seconds,
        }


_single_thread_lock = threading.Lock()
_single_thread_depth = 0
_saved_workers: Any = None


@contextmanager
def _few_pairs() -> Iterator[None]:
    """Run compare's string similarities in the calling thread: rapidfuzz starts its worker threads
    on every call (about 2 ms), which for the few pairs of one record costs more than the work.
    Nested and concurrent uses restore the batch's setting when the last one ends."""
    global _single_thread_depth, _saved_workers
    import engine.compare

    with _single_thread_lock:
        if _single_thread_depth == 0:
            _saved_workers = engine.compare.WORKERS
            setattr(engine.compare, "WORKERS", 1)  # noqa: B010 (a Final of another module)
        _single_thread_depth += 1
    try:
        yield
    finally:
        with _single_thread_lock:
            _single_thread_depth -= 1
            if _single_thread_depth == 0:
                setattr(engine.compare, "WORKERS", _saved_workers)  # noqa: B010


def _settings_to_dict(settings: ResolveSettings) -> dict[str, Any]:
    out = asdict(settings)
    out["rules"] = [
        {
            "name": r.name,
            "columns": list(r.columns),
            "max_block": r.max_block,
            "refine": list(r.refine),
        }
        for r in settings.rules
    ]
    return out


def _settings_from_dict(data: Mapping[str, Any]) -> ResolveSettings:
    rules = tuple(
        BlockingRule(r["name"], tuple(r["columns"]), int(r["max_block"]), tuple(r["refine"]))
        for r in data["rules"]
    )
    rest = {k: v for k, v in data.items() if k != "rules"}
    return ResolveSettings(rules=rules, **rest)


def _write_state(
    folder: Path | str,
    prepared: pd.DataFrame,
    person: np.ndarray,
    context: RegistryContext,
    indexes: Sequence[RuleIndex],
    sample: pd.DataFrame | None,
    model: MatchModel,
    settings: ResolveSettings,
) -> Path:
    """Write a resolver's state (see the module docstring) into ``folder``; returns it.

    ``prepared`` gets a ``person_id`` column while it is written (and loses it again): pass a
    frame of the caller's own."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    prepared["person_id"] = person
    try:
        prepared.to_parquet(folder / PREPARED_FILE, index=False)
    finally:
        del prepared["person_id"]
    parts = []
    for index in indexes:
        hashes, records = index.merged()
        parts.append(pd.DataFrame({"rule": index.rule.name, "hash": hashes, "record": records}))
    pd.concat(parts, ignore_index=True).to_parquet(folder / KEYS_FILE, index=False)
    rows = [
        {"kind": kind, "value": value, "code": code, "target": None}
        for kind, table in context.codes.items()
        for value, code in table.items()
    ]
    rows += [
        {"kind": "nid_link", "value": s, "code": -1, "target": c}
        for s, c in context.nid_links.items()
    ]
    codes = pd.DataFrame(rows, columns=["kind", "value", "code", "target"])
    codes.to_parquet(folder / CODES_FILE, index=False)
    if sample is not None:
        sample.to_parquet(folder / SAMPLE_FILE, index=False)
    state = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "records": len(prepared),
        "model_version": getattr(model, "model_version", None),
        "settings": _settings_to_dict(settings),
        "saved_at": pd.Timestamp.now(tz="UTC").isoformat(timespec="seconds"),
    }
    (folder / STATE_FILE).write_text(json.dumps(state, indent=2), encoding="utf-8")
    return folder


class IncrementalResolver:
    """Resolves new records against the persons of a finished batch (see the module docstring).

    Build it with :meth:`from_resolution` (right after a batch) or :meth:`load` (from what the
    batch saved with :meth:`save`).
    """

    def __init__(
        self,
        prepared: pd.DataFrame,
        person_ids: np.ndarray,
        context: RegistryContext,
        indexes: Sequence[RuleIndex],
        model: MatchModel,
        settings: ResolveSettings,
        sample: pd.DataFrame | None = None,
    ) -> None:
        self.model = model
        self.settings = settings
        self.context = context
        self._prepared = prepared.reset_index(drop=True)
        self._columns = list(self._prepared.columns)
        self._arrays = {c: self._prepared[c].to_numpy() for c in self._columns}
        self._dtypes = {c: self._prepared[c].dtype for c in self._columns}
        self._integer = {c: self._prepared[c].dtype.kind in "iu" for c in self._columns}
        self._base = len(self._prepared)
        self._added: list[dict[str, Any]] = []
        self._person = np.asarray(person_ids, dtype=object)
        self._added_person: list[str] = []
        self._indexes = list(indexes)
        keys = [
            record_key(s, r)
            for s, r in zip(self._arrays["source"], self._arrays["record_id"], strict=True)
        ]
        self._position = {k: i for i, k in enumerate(keys)}
        self._person_rows: dict[str, list[int]] = {
            str(p): rows.tolist()
            for p, rows in pd.Series(np.arange(self._base)).groupby(self._person).indices.items()
        }
        self._sample = sample
        self.fast = self._check_fast_path(sample)
        self._per_record_counts = _counts_read_per_record(self._prepared)

    def _check_fast_path(self, sample: pd.DataFrame | None) -> bool:
        """Whether :func:`prepare_one` gives the batch's prepared rows for a sample of its records
        (``sample``: canonical records with their ``row`` in the batch). When it does not (prepare
        has changed since this module was written), records are prepared with ``prepare`` itself
        and only the context columns here: slower, and still the batch's answer."""
        unknown = sorted(set(self._columns) ^ set(KNOWN_COLUMNS))
        if unknown:
            log.warning(
                "prepare() and the incremental resolver disagree on the columns %s: records are "
                "prepared with prepare() itself (slower)",
                unknown,
            )
            return False
        if sample is None or sample.empty:
            return True
        differ = prepare_one_mismatches(sample, self._prepared, self.context)
        if differ:
            log.warning(
                "prepare_one() differs from prepare() on %s: records are prepared with prepare() "
                "itself (slower); update engine.incremental.record_columns",
                differ,
            )
            return False
        return True

    # -- building, saving, loading

    @classmethod
    def from_resolution(
        cls,
        resolution: Resolution,
        person_ids: pd.Series | np.ndarray | pd.DataFrame,
        model: MatchModel,
        settings: ResolveSettings | None = None,
        *,
        records: pd.DataFrame,
        prepared: pd.DataFrame | None = None,
    ) -> IncrementalResolver:
        """The resolver of a finished batch.

        Parameters
        ----------
        resolution:
            What :func:`engine.pipeline.resolve` returned.
        person_ids:
            The person ID of every record: aligned with ``resolution.prepared`` (a Series or array,
            row ``i`` = record ``i``), or a frame with ``source``, ``record_id``, ``person_id``.
        model:
            The model the batch scored with.
        settings:
            The batch's settings (default :class:`ResolveSettings`).
        records:
            The canonical records the batch resolved, in the order given to ``resolve`` (prepare
            codes geography, households and BRNs from their raw values).
        prepared:
            The batch's full prepared frame, blocking-key lists included, when the caller kept it.
            ``resolve`` drops the list columns (:data:`engine.prepare.LIST_COLUMNS`) from
            ``resolution.prepared``; without this frame they are prepared again from ``records``.

        Raises
        ------
        IncrementalError
            If the person IDs or the records do not line up with the prepared records.
        """
        started = time.perf_counter()
        settings = settings or ResolveSettings()
        parts = cls._batch_parts(resolution, person_ids, settings, records, prepared)
        resolver = cls(*parts[:4], model, settings, parts[4])
        log.info(
            "incremental resolver over %d records built in %.1fs",
            len(resolver),
            time.perf_counter() - started,
        )
        return resolver

    @classmethod
    def write_batch(
        cls,
        folder: Path | str,
        resolution: Resolution,
        person_ids: pd.Series | np.ndarray | pd.DataFrame,
        model: MatchModel,
        settings: ResolveSettings | None = None,
        *,
        records: pd.DataFrame,
        prepared: pd.DataFrame | None = None,
    ) -> Path:
        """Save the resolver of a finished batch into ``folder`` without building it in memory.

        Writes what ``from_resolution(...).save(folder)`` writes (same arguments), in less time and
        memory: the batch needs the files, not a resolver (:meth:`load` checks the fast path when
        the API starts).
        """
        started = time.perf_counter()
        settings = settings or ResolveSettings()
        prepared, ids, context, indexes, sample = cls._batch_parts(
            resolution, person_ids, settings, records, prepared
        )
        # a frame of its own (columns shared, not copied): the person IDs are added to it
        prepared = pd.DataFrame({c: prepared[c].to_numpy() for c in prepared.columns}, copy=False)
        out = _write_state(folder, prepared, ids, context, indexes, sample, model, settings)
        log.info(
            "incremental index of %d records written in %.1fs",
            len(prepared),
            time.perf_counter() - started,
        )
        return out

    @classmethod
    def _batch_parts(
        cls,
        resolution: Resolution,
        person_ids: pd.Series | np.ndarray | pd.DataFrame,
        settings: ResolveSettings,
        records: pd.DataFrame,
        prepared: pd.DataFrame | None,
    ) -> tuple[pd.DataFrame, np.ndarray, RegistryContext, list[RuleIndex], pd.DataFrame]:
        """The prepared frame (list columns included), person IDs, context, indexes and sample
        of a finished batch."""
        prepared = resolution.prepared if prepared is None else prepared
        ids = cls._aligned_ids(prepared, person_ids)
        if len(records) != len(prepared) or not np.array_equal(
            records["record_id"].astype(str).to_numpy(), prepared["record_id"].to_numpy()
        ):
            raise IncrementalError(
                f"The records ({len(records)}) are not the {len(prepared)} records the batch "
                "resolved, in its order; pass the frame given to resolve()."
            )
        needed = {c for rule in settings.rules for c in (*rule.columns, *rule.refine)}
        needed |= set(KNOWN_COLUMNS)
        missing = [c for c in PREPARED_COLUMNS if c in needed and c not in prepared.columns]
        if missing:
            from engine.prepare import prepare

            log.info("preparing the records again for the blocking columns %s", missing)
            fresh = prepare(records)
            prepared = prepared.assign(**{c: fresh[c].to_numpy() for c in missing})
            prepared = prepared[[c for c in fresh.columns if c in prepared.columns]]
        context = build_context(records, prepared)
        indexes = [RuleIndex.build(rule, prepared) for rule in settings.rules]
        sample = _sample_records(records, SAMPLE_SIZE)
        return prepared, ids, context, indexes, sample

    @staticmethod
    def _aligned_ids(
        prepared: pd.DataFrame, person_ids: pd.Series | np.ndarray | pd.DataFrame
    ) -> np.ndarray:
        if isinstance(person_ids, pd.DataFrame):
            keyed = person_ids.drop_duplicates(["source", "record_id"]).set_index(
                ["source", "record_id"]
            )["person_id"]
            index = pd.MultiIndex.from_arrays([prepared["source"], prepared["record_id"]])
            ids = keyed.reindex(index).to_numpy(dtype=object)
        else:
            ids = np.asarray(person_ids, dtype=object)
        if len(ids) != len(prepared):
            raise IncrementalError(
                f"Got {len(ids)} person IDs for {len(prepared)} records; give one per record."
            )
        missing = pd.isna(ids)
        if missing.any():
            first = int(np.flatnonzero(missing)[0])
            raise IncrementalError(
                f"Record {prepared['source'].iat[first]}/{prepared['record_id'].iat[first]} has no "
                f"person ID ({int(missing.sum())} records lack one)."
            )
        return np.asarray([str(i) for i in ids], dtype=object)

    def save(self, folder: Path | str) -> Path:
        """Write the resolver's state (see the module docstring) into ``folder``; returns it."""
        prepared = self._all_prepared()
        if self._added:
            _refresh_context(prepared, self.context)
        person = np.concatenate([self._person, np.asarray(self._added_person, dtype=object)])
        return _write_state(
            folder,
            prepared,
            person,
            self.context,
            self._indexes,
            self._sample,
            self.model,
            self.settings,
        )

    @classmethod
    def load(cls, folder: Path | str, model: MatchModel) -> IncrementalResolver:
        """The resolver saved in ``folder`` by :meth:`save`, scoring with ``model``.

        Raises
        ------
        IncrementalError
            If the folder holds no saved resolver, or one of another format version.
        """
        folder = Path(folder)
        path = folder / STATE_FILE
        if not path.exists():
            raise IncrementalError(f"No incremental resolver in {folder}: run the batch first.")
        state = json.loads(path.read_text(encoding="utf-8"))
        if state.get("format") != FORMAT or state.get("format_version") != FORMAT_VERSION:
            raise IncrementalError(
                f"{path} is {state.get('format')!r} version {state.get('format_version')!r}; this "
                f"ekjon reads {FORMAT!r} version {FORMAT_VERSION}: re-run the batch."
            )
        version = getattr(model, "model_version", None)
        if state.get("model_version") and version and state["model_version"] != version:
            log.warning(
                "the batch in %s scored with model %s, this resolver with %s: answers may differ",
                folder,
                state["model_version"],
                version,
            )
        settings = _settings_from_dict(state["settings"])
        prepared = pd.read_parquet(folder / PREPARED_FILE)
        person = prepared.pop("person_id").to_numpy(dtype=object)
        keys = pd.read_parquet(folder / KEYS_FILE)
        indexes = []
        for rule in settings.rules:
            part = keys[keys["rule"] == rule.name]
            indexes.append(
                RuleIndex(
                    rule,
                    part["hash"].to_numpy(np.uint64),
                    part["record"].to_numpy(np.int64),
                )
            )
        codes = pd.read_parquet(folder / CODES_FILE)
        context = RegistryContext({k: {} for k in CODE_KINDS}, {}, {}, {}, {}, set())
        for kind, value, code, target in codes.itertuples(index=False):
            if kind == "nid_link":
                context.nid_links[value] = target
            else:
                context.codes.setdefault(kind, {})[value] = int(code)
        _fill_counts(context, prepared)
        sample_path = folder / SAMPLE_FILE
        sample = pd.read_parquet(sample_path) if sample_path.exists() else None
        return cls(prepared, person, context, indexes, model, settings, sample)

    # -- reading rows

    def __len__(self) -> int:
        return self._base + len(self._added)

    def _value(self, column: str, row: int) -> Any:
        if row < self._base:
            return self._arrays[column][row]
        return self._added[row - self._base][column]

    def _row(self, row: int) -> dict[str, Any]:
        return {c: self._value(c, row) for c in self._columns}

    def _person_of(self, row: int) -> str:
        return self._person[row] if row < self._base else self._added_person[row - self._base]

    def _all_prepared(self) -> pd.DataFrame:
        if not self._added:
            return self._prepared.copy()
        added = pd.DataFrame(self._added, columns=self._columns)
        for column in self._columns:
            if self._dtypes[column] != np.dtype(object):
                added[column] = added[column].astype(self._dtypes[column])
        return pd.concat([self._prepared, added], ignore_index=True)

    def _frame(
        self, new: Mapping[str, Any], rows: np.ndarray, own_links: Mapping[str, str]
    ) -> pd.DataFrame:
        """A prepared frame of the new row followed by ``rows`` (ascending), context columns counted
        with the new row."""
        data: dict[str, np.ndarray] = {}
        base = rows[rows < self._base]
        extra = rows[rows >= self._base]
        for column in self._columns:
            dtype = self._dtypes[column]
            head = np.empty(1, dtype=dtype)
            head[0] = new[column]
            parts = [head, self._arrays[column][base]]
            if len(extra):
                tail = np.empty(len(extra), dtype=dtype)
                for i, r in enumerate(extra):
                    tail[i] = self._added[r - self._base][column]
                parts.append(tail)
            data[column] = np.concatenate(parts)
        self._recount(data, new, own_links)
        if self._per_record_counts:
            # compare reads name counts per record of the frame it is given; this frame stands
            # for the whole data with the new record in it
            share = (len(rows) + 1) / (len(self) + 1)
            for column in _COUNTED_NAMES:
                data[column] = data[column].astype(np.float64) * share
        return pd.DataFrame(data)

    def _recount(
        self, data: dict[str, np.ndarray], new: Mapping[str, Any], own_links: Mapping[str, str]
    ) -> None:
        """The counted columns of existing rows, as a batch with the new record would count them
        (``data`` holds fresh arrays; they are changed in place)."""
        context = self.context
        full_new, first_new = _full_name(new), _first_key(new)
        numbers_new = {n for n in (new["phone"], new["wallet"]) if n >= 0}
        en, bn, keys = data["name_en"], data["name_bn"], data["name_keys"]
        name_freq, given_freq = data["name_freq"], data["given_freq"]
        names = {c: data[c] for c in ("phone_names", "wallet_names")}
        numbers = {"phone_names": data["phone"], "wallet_names": data["wallet"]}
        adds_name = {
            n
            for n in numbers_new
            if first_new is not None and (n, first_new) not in context.number_pairs
        }
        for i in range(1, len(en)):
            full = en[i] if en[i] is not None else bn[i]
            if full is not None:
                name_freq[i] = context.name_counts.get(full, 0) + (full == full_new)
            first = _first_of(keys[i])
            if first is not None:
                given_freq[i] = context.given_counts.get(first, 0) + (first == first_new)
            for column, values in numbers.items():
                number = int(values[i])
                if number >= 0:
                    count = context.number_names.get(number, 0) + (number in adds_name)
                    names[column][i] = max(count, 1)
        # smart-card NIDs linked to their core since the batch (by an added or the new record)
        links = {**own_links, **context.nid_links}
        text, key = data["nid_text"], data["nid_key"]
        for i in range(1, len(text)):
            t = text[i]
            if t is not None and len(t) == 10 and t in links:
                text[i] = links[t]
                key[i] = _digits(links[t])

    # -- blocking

    def _blocked(self, new: Mapping[str, Any], own_links: Mapping[str, str]) -> dict[int, int]:
        """Rows sharing a blocking key with the new row -> bit mask of the rules that found them."""
        found: dict[int, int] = {}
        for bit, index in enumerate(self._indexes):
            rule = index.rule
            keys = key_strings(new, rule.columns, self._integer)
            keys += [k for k, _ in self._smart_keys(own_links, rule)]
            if not keys:
                continue
            for hashed in _hash(keys).tolist():
                members = index.members(hashed)
                if len(members) == 0:
                    continue
                if len(members) + 1 <= rule.max_block:
                    chosen = members
                elif rule.refine:
                    chosen = self._refined(new, members, rule)
                else:
                    chosen = members[:0]
                for row in chosen.tolist():
                    found[row] = found.get(row, 0) | (1 << bit)
        return found

    def _smart_keys(
        self, own_links: Mapping[str, str], rule: BlockingRule
    ) -> list[tuple[str, str]]:
        """``(smart key, core key)`` of a NID rule where records still carry a smart-card number
        that the new record links to its core (it carries both forms and the batch had no record
        that did)."""
        if tuple(rule.columns) != ("nid_key",):
            return []
        return [
            (str(_digits(smart) + SMART_OFFSET), str(_digits(core)))
            for smart, core in own_links.items()
            if smart not in self.context.nid_links
        ]

    def _refined(
        self, new: Mapping[str, Any], members: np.ndarray, rule: BlockingRule
    ) -> np.ndarray:
        """Members of an oversized block that share the new row's refine key (if that block is
        small enough), as :func:`engine.blocking._refined_pairs` keeps them."""
        wanted = set(key_strings(new, rule.refine, self._integer))
        if not wanted:
            return members[:0]
        by_key: dict[str, list[int]] = {}
        for row in np.unique(members).tolist():
            values = {c: self._value(c, row) for c in rule.refine}
            for key in set(key_strings(values, rule.refine, self._integer)) & wanted:
                by_key.setdefault(key, []).append(row)
        chosen = [rows for rows in by_key.values() if len(rows) + 1 <= rule.max_block]
        if not chosen:
            return members[:0]
        return np.unique(np.concatenate([np.asarray(r, dtype=np.int64) for r in chosen]))

    # -- resolving

    def prepare(self, record: Mapping[str, Any] | Record) -> dict[str, Any]:
        """The prepared row of ``record`` in this resolver's context."""
        values = canonical_values(record)
        if self.fast:
            return prepare_one(values, self.context)
        from engine.prepare import prepare

        row = prepare(pd.DataFrame([values]), workers=1).iloc[0].to_dict()
        context_columns(row, values, self.context)
        return {c: row.get(c) for c in self._columns}

    def resolve_one(self, record: Mapping[str, Any] | Record, *, explain: bool = True) -> Match:
        """Where ``record`` belongs among the existing persons (nothing is remembered).

        Parameters
        ----------
        record:
            A canonical record (:class:`~engine.record.Record` or a mapping of its fields; cleaned
            values). A record whose key is already known is resolved as if its old version were
            not there.
        explain:
            Attach the explanation of the best link (a few milliseconds more).

        Returns
        -------
        Match
        """
        started = time.perf_counter()
        values = canonical_values(record)
        new = self.prepare(values)
        own_links = _own_links(values)
        key = record_key(new["source"], new["record_id"])
        blocked = self._blocked(new, own_links)
        blocked.pop(self._position.get(key, -1), None)
        match = self._decide(key, new, blocked, own_links, explain)
        match.seconds = time.perf_counter() - started
        return match

    def add(
        self,
        record: Mapping[str, Any] | Record,
        person_id: str | None = None,
        *,
        explain: bool = True,
    ) -> Match:
        """Resolve ``record`` and remember it: later calls can be blocked with and join it.

        Parameters
        ----------
        record:
            A canonical record not yet known to the resolver.
        person_id:
            The person to file it under (e.g. a stable ID the caller minted for a new person, or a
            reviewer's choice). Default: the matched person, or ``new:<source/record_id>`` for a
            new person.

        Raises
        ------
        IncrementalError
            If a record with the same key is already known (an updated record needs the batch).
        """
        values = canonical_values(record)
        key = record_key(str(values["source"]), str(values["record_id"]))
        if key in self._position:
            raise IncrementalError(
                f"Record {key} is already known; an updated record is resolved by the next batch."
            )
        match = self.resolve_one(values, explain=explain)
        pid = person_id or match.person_id or f"new:{key}"
        row = self.prepare(values)
        position = len(self)
        self._added.append(row)
        self._added_person.append(pid)
        self._position[key] = position
        self._person_rows.setdefault(pid, []).append(position)
        for index in self._indexes:
            keys = key_strings(row, index.rule.columns, self._integer)
            for hashed in _hash(keys).tolist() if keys else []:
                index.add(hashed, position)
            for smart_key, core_key in self._smart_keys(_own_links(values), index.rule):
                # records keyed on this smart card are from now on found by its core too
                smart_hash, core_hash = _hash([smart_key, core_key]).tolist()
                for member in index.members(smart_hash).tolist():
                    index.add(core_hash, member)
        _remember(row, values, self.context)
        match.person_id = pid
        return match

    def _decide(
        self,
        key: str,
        new: Mapping[str, Any],
        blocked: Mapping[int, int],
        own_links: Mapping[str, str],
        explain: bool,
    ) -> Match:
        if not blocked:
            return Match(key, None, True, 0.0, -math.inf, _no_candidates(), _no_persons())
        blocked_rows = np.fromiter(blocked, dtype=np.int64)
        persons = {self._person_of(r) for r in blocked_rows.tolist()}
        rows = set(blocked_rows.tolist())
        for pid in persons:
            members = self._person_rows.get(pid, [])
            if len(members) + 1 <= self.settings.complete_max:
                rows.update(members)
        rows.discard(self._position.get(key, -1))
        scored_rows = np.asarray(sorted(rows), dtype=np.int64)
        frame = self._frame(new, scored_rows, own_links)
        pairs = pd.DataFrame(
            {
                "left": np.zeros(len(scored_rows), np.int64),
                "right": np.arange(1, len(scored_rows) + 1),
            }
        )
        with _few_pairs():
            features = compare(frame, pairs)
        explained = None
        if explain and hasattr(self.model, "explain"):
            # one walk through the model gives both the scores and the explanation
            explained = self.model.explain(features[model_features(self.model)])
            scores = score(_Explained(self.model, explained), features)
        else:
            scores = score(self.model, features)
        probability = scores["probability"].to_numpy()
        weight = scores["weight"].to_numpy()
        cannot = cannot_link(features)
        person = [self._person_of(r) for r in scored_rows.tolist()]
        masks = [blocked.get(r, 0) for r in scored_rows.tolist()]
        table = self._person_table(person, weight, probability, cannot, masks)
        strong = [e for e in table if e["strong_link"]]
        merges: list[str] = []
        decided_by = "average link"
        if not strong:
            person_id = None
        elif len(strong) == 1 and strong[0]["qualifies"]:
            person_id = strong[0]["person_id"]
        else:
            decided_by = "linkage"
            person_id, merges = self._linkage(new, strong, own_links)
        for entry in table:
            entry["joins"] = entry["person_id"] == person_id or entry["person_id"] in merges
        table.sort(key=lambda e: not e["joins"])  # stable: the rest stay best first
        best = table[0]
        average = best["mean_log_odds"]
        order = sorted(
            range(len(person)), key=lambda i: (person[i] != best["person_id"], -weight[i])
        )
        candidates = pd.DataFrame(
            {
                "source": frame["source"].to_numpy()[1:][order],
                "record_id": frame["record_id"].to_numpy()[1:][order],
                "person_id": np.asarray(person, dtype=object)[order],
                "probability": probability[order],
                "weight": weight[order],
                "cannot_link": cannot[order],
                "blocked": np.asarray([m != 0 for m in masks])[order],
                "rules": [self._rule_names(masks[i]) for i in order],
            }
        )
        explanation = None
        if explain:
            top = order[0]
            explanation = explain_features(
                features.iloc[[top]],
                self.model,
                left=key,
                right=record_key(candidates["source"].iat[0], candidates["record_id"].iat[0]),
                probability=float(probability[top]),
                threshold=self.settings.link_threshold,
                cross_script=_cross_script(frame, 0, top + 1),
                contributions=None if explained is None else explained.iloc[[top]],
            )
        return Match(
            record=key,
            person_id=person_id,
            new_person=person_id is None,
            probability=float(1.0 / (1.0 + math.exp(-average))) if math.isfinite(average) else 0.0,
            log_odds=average,
            candidates=candidates,
            persons=pd.DataFrame(table, columns=list(_PERSON_COLUMNS)),
            explanation=explanation,
            merges=merges,
            decided_by=decided_by,
        )

    def _linkage(
        self,
        new: Mapping[str, Any],
        strong: Sequence[Mapping[str, Any]],
        own_links: Mapping[str, str],
    ) -> tuple[str | None, list[str]]:
        """The clustering's own decision over the record and every person it links strongly to.

        The batch would put the record in one component with these persons and, since the
        component is not a clean clique, split it by constrained average linkage
        (:func:`engine.cluster.average_linkage`): the record may bridge two persons (they merge),
        or pull a record away from its person. Every pair among the records is scored and the
        linkage run; the record's group gets the ID the identity ledger would give it
        (:func:`_ledger_choice`). Returns that person (``None``: a new person) and the other
        persons with records in the group (the next batch merges them, or moves those records).
        """
        from engine.blocking import pairs_within_blocks
        from engine.cluster import average_linkage

        rows = sorted({r for e in strong for r in self._person_rows.get(e["person_id"], ())})
        if len(rows) + 1 > self.settings.max_linkage_size:
            best = next((e for e in strong if e["qualifies"]), None)
            return (None if best is None else best["person_id"]), []
        local = np.asarray(rows, dtype=np.int64)
        frame = self._frame(new, local, own_links)
        size = len(local) + 1
        left, right = pairs_within_blocks(
            np.arange(size, dtype=np.int64), np.zeros(size, dtype=np.int64)
        )
        pairs = pd.DataFrame({"left": left, "right": right})
        with _few_pairs():
            features = compare(frame, pairs)
        weight = score(self.model, features)["weight"].to_numpy()
        labels = average_linkage(size, left, right, weight, cannot_link(features))
        persons = [""] + [self._person_of(r) for r in local.tolist()]
        keys = [
            record_key(str(s), str(r))
            for s, r in zip(frame["source"], frame["record_id"], strict=True)
        ]
        person_id = _ledger_choice(labels, persons, keys, self._person_rows)
        group = np.flatnonzero(labels == labels[0])[1:]
        merges = sorted({persons[i] for i in group} - {person_id})
        return person_id, merges

    def _rule_names(self, mask: int) -> str:
        return ",".join(i.rule.name for bit, i in enumerate(self._indexes) if mask >> bit & 1)

    def _person_table(
        self,
        person: Sequence[str],
        weight: np.ndarray,
        probability: np.ndarray,
        cannot: np.ndarray,
        masks: Sequence[int],
    ) -> list[dict[str, Any]]:
        """Per candidate person, best first: the clustering's evidence (average log-odds over the
        informative pairs, a strong blocked link, a cannot-link) and whether the record may join."""
        evidence: dict[str, dict[str, Any]] = {}
        for i, pid in enumerate(person):
            w = float(weight[i])
            entry = evidence.setdefault(
                pid,
                {
                    "person_id": pid,
                    "records": len(self._person_rows.get(pid, ())),
                    "scored": 0,
                    "total": 0.0,
                    "informative": 0,
                    "best_probability": 0.0,
                    "strong_link": False,
                    "cannot_link": False,
                },
            )
            entry["scored"] += 1
            if w > 0 or w <= -NEUTRAL_BAND:
                entry["total"] += w
                entry["informative"] += 1
            entry["best_probability"] = max(entry["best_probability"], float(probability[i]))
            entry["cannot_link"] |= bool(cannot[i])
            if masks[i] and w > self.settings.link_threshold and not cannot[i]:
                entry["strong_link"] = True
        table = []
        for entry in evidence.values():
            n = entry.pop("informative")
            total = entry.pop("total")
            entry["mean_log_odds"] = total / n if n else -math.inf
            entry["qualifies"] = (
                entry["strong_link"] and not entry["cannot_link"] and entry["mean_log_odds"] > 0
            )
            table.append(entry)
        table.sort(key=lambda e: (not e["qualifies"], -e["mean_log_odds"], -e["best_probability"]))
        return table


class _Explained:
    """A model whose probabilities were already computed by its ``explain`` (calibrated sums of
    the contributions), for :func:`engine.pipeline.score` to apply its rules around them."""

    def __init__(self, model: Any, explained: pd.DataFrame) -> None:
        self.feature_names_in_ = model_features(model)
        self._probability = explained["probability"]

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        p = self._probability.loc[X.index].to_numpy(dtype=np.float64)
        return np.column_stack([1.0 - p, p])


_PERSON_COLUMNS: Final = (
    "person_id",
    "records",
    "scored",
    "mean_log_odds",
    "best_probability",
    "strong_link",
    "cannot_link",
    "qualifies",
    "joins",
)


def _ledger_choice(
    labels: np.ndarray,
    persons: Sequence[str],
    keys: Sequence[str],
    person_rows: Mapping[str, Sequence[int]],
) -> str | None:
    """The person ID the identity ledger gives the group of node 0 (the new record), as
    :func:`engine.identity.assign_ids` matches clusters to existing IDs: one-to-one, greedily, by
    records shared (most first), then the person's size (largest first), then the older ID, then
    the cluster's smallest record key. ``None`` when the group gets a new ID."""
    first_key: dict[int, str] = {}
    overlap: dict[tuple[int, str], int] = {}
    for label, pid, key in zip(labels.tolist(), persons, keys, strict=True):
        first_key[label] = min(first_key.get(label, key), key)
        if pid:
            overlap[(label, pid)] = overlap.get((label, pid), 0) + 1
    ranked = sorted(
        overlap,
        key=lambda c: (-overlap[c], -len(person_rows.get(c[1], ())), c[1], first_key[c[0]]),
    )
    matched: dict[int, str] = {}
    taken: set[str] = set()
    for label, pid in ranked:
        if label not in matched and pid not in taken:
            matched[label] = pid
            taken.add(pid)
    return matched.get(int(labels[0]))


_COUNTED_NAMES: Final = ("name_freq", "given_freq")


def _counts_read_per_record(prepared: pd.DataFrame) -> bool:
    """Whether :func:`engine.compare.compare` reads the name counts relative to the number of
    records in the frame it is given (then a small frame standing for the whole data must scale
    them). Found by comparing one pair in a frame of two records and of four."""
    if prepared.empty:
        return False
    one = prepared.iloc[[0, 0, 0, 0]].reset_index(drop=True)
    for column in _COUNTED_NAMES:
        one[column] = 1000
    pair = pd.DataFrame({"left": [0], "right": [1]})
    with _few_pairs():
        two = compare(one.iloc[:2], pair)[list(_COUNTED_NAMES)].to_numpy()
        four = compare(one, pair)[list(_COUNTED_NAMES)].to_numpy()
    return not np.allclose(two, four, equal_nan=True)


def _cross_script(frame: pd.DataFrame, a: int, b: int) -> bool:
    bangla = frame["bangla_only"].to_numpy(dtype=bool)
    named = frame["name_en"].notna().to_numpy() | frame["name_bn"].notna().to_numpy()
    return bool(
        (bangla[a] and named[b] and not bangla[b]) or (bangla[b] and named[a] and not bangla[a])
    )


def _no_candidates() -> pd.DataFrame:
    return pd.DataFrame(
        columns=[
            "source", "record_id", "person_id", "probability", "weight", "cannot_link", "blocked",
            "rules",
        ]
    )  # fmt: skip


def _no_persons() -> pd.DataFrame:
    return pd.DataFrame(columns=list(_PERSON_COLUMNS))


# -- does it agree with the batch? ----------------------------------------------------------------


@dataclass
class Agreement:
    """How often incremental resolve gives the batch's answer on a held-back slice of records.

    Attributes
    ----------
    held_back:
        Records held back from the batch and resolved one by one.
    agree:
        Of these, records given the same answer as a batch over every record: the same person
        (batch clusters are named by the held-in records they contain, by majority), or a new
        person in both.
    outcomes:
        Counts per outcome: ``same person``, ``both new``,
        ``incremental new, batch linked``, ``incremental linked, batch new``, ``different persons``.
    records:
        One row per held-back record: ``source, record_id, incremental, batch, agree, outcome,
        probability, candidates, milliseconds``. Person IDs come from an identity ledger
        (:mod:`engine.identity`) that numbers the held-in batch's clusters, then the full batch's:
        the full batch's answer for a record is the ID the ledger gives its cluster (a merge keeps
        the ID with the larger overlap, a split keeps it on the larger part), "new" when the
        ledger mints one.
    milliseconds:
        Latency percentiles of ``resolve_one`` (``p50``, ``p90``, ``p99``, ``max``, ``mean``).
    timings:
        Seconds of each step (``batch held in``, ``build``, ``incremental``, ``batch all``).
    resolver:
        The resolver built from the held-in batch (for further measurements).
    """

    held_back: int
    agree: int
    outcomes: dict[str, int]
    records: pd.DataFrame
    milliseconds: dict[str, float]
    timings: dict[str, float]
    resolver: IncrementalResolver | None = field(default=None, repr=False)

    @property
    def rate(self) -> float:
        return self.agree / self.held_back if self.held_back else 1.0

    def to_text(self) -> str:
        ms = self.milliseconds
        lines = [
            f"held back {self.held_back:,} records; incremental agrees with the batch on "
            f"{self.agree:,} ({self.rate:.2%})",
            "resolve_one latency: " + ", ".join(f"{k} {v:.1f} ms" for k, v in ms.items()),
        ]
        lines += [f"  {name}: {count:,}" for name, count in self.outcomes.items()]
        lines.append("timings: " + ", ".join(f"{k} {v:.1f}s" for k, v in self.timings.items()))
        return "\n".join(lines)


def latency_summary(milliseconds: Sequence[float]) -> dict[str, float]:
    """``p50, p90, p99, max, mean`` of latencies in milliseconds."""
    ms = np.asarray(milliseconds, dtype=np.float64)
    if ms.size == 0:
        return {}
    return {
        "p50": float(np.percentile(ms, 50)),
        "p90": float(np.percentile(ms, 90)),
        "p99": float(np.percentile(ms, 99)),
        "max": float(ms.max()),
        "mean": float(ms.mean()),
    }


def holdout_agreement(
    records: pd.DataFrame,
    model: MatchModel,
    settings: ResolveSettings | None = None,
    *,
    fraction: float = 0.02,
    seed: int = 0,
    explain: bool = False,
    sequential: bool = False,
    progress: Callable[[str], None] | None = None,
) -> Agreement:
    """Hold back a random slice of ``records``, resolve the rest in a batch, resolve each held-back
    record incrementally, and compare with a batch over every record.

    Parameters
    ----------
    records:
        Canonical records (e.g. a synthetic world's).
    model, settings:
        As for :func:`engine.pipeline.resolve`.
    fraction:
        Share of records held back (drawn at random with ``seed``; at least one).
    explain:
        Time ``resolve_one`` with explanations attached.
    sequential:
        :meth:`IncrementalResolver.add` each held-back record in turn (later ones can join
        earlier ones, as in the batch) instead of resolving each alone; a new person's
        ``new:...`` ID counts as "new person" in the comparison.
    progress:
        Called with the name of each step as it starts.
    """
    from engine.pipeline import resolve

    settings = settings or ResolveSettings()
    note = progress or (lambda step: None)
    records = records.reset_index(drop=True)
    n = len(records)
    rng = np.random.default_rng(seed)
    count = max(1, int(round(n * fraction)))
    held = np.zeros(n, dtype=bool)
    held[rng.choice(n, size=count, replace=False)] = True
    timings: dict[str, float] = {}

    from engine.identity import IdentityLedger, assign_person_ids

    ledger = IdentityLedger(":memory:")
    note("batch held in")
    started = time.perf_counter()
    kept = records[~held].reset_index(drop=True)
    partial = resolve(kept, model, settings)
    person_ids = assign_person_ids(ledger, partial.assignments(), model_version=None)[
        "person_id"
    ].to_numpy(dtype=object)
    timings["batch held in"] = time.perf_counter() - started

    note("build")
    started = time.perf_counter()
    resolver = IncrementalResolver.from_resolution(
        partial, person_ids, model, settings, records=kept
    )
    timings["build"] = time.perf_counter() - started

    note("incremental")
    started = time.perf_counter()
    rows = records[held].to_dict(orient="records")
    answers, probabilities, candidates, latency = [], [], [], []
    for row in rows:
        if sequential:
            match = resolver.add(row, explain=explain)
            new_id = match.person_id is not None and match.person_id.startswith("new:")
            answers.append(None if new_id else match.person_id)
        else:
            match = resolver.resolve_one(row, explain=explain)
            answers.append(match.person_id)
        probabilities.append(match.probability)
        candidates.append(len(match.candidates))
        latency.append(match.seconds * 1000)
    timings["incremental"] = time.perf_counter() - started

    note("batch all")
    started = time.perf_counter()
    full = resolve(records, model, settings)
    # the IDs the batch over every record gets from the identity ledger; one it mints is new
    full_ids = assign_person_ids(ledger, full.assignments(), model_version=None)["person_id"]
    ledger.close()
    timings["batch all"] = time.perf_counter() - started
    batch = full_ids.to_numpy(dtype=object)[held]
    batch = np.where(np.isin(batch, person_ids), batch, None)
    incremental = np.asarray(answers, dtype=object)
    batch_new = pd.isna(batch)
    inc_new = pd.isna(incremental)
    same = np.where(batch_new | inc_new, batch_new & inc_new, incremental == batch)
    outcome = np.select(
        [inc_new & batch_new, ~inc_new & ~batch_new & same, inc_new, batch_new],
        [
            "both new",
            "same person",
            "incremental new, batch linked",
            "incremental linked, batch new",
        ],
        "different persons",
    )
    frame = pd.DataFrame(
        {
            "source": records.loc[held, "source"].to_numpy(),
            "record_id": records.loc[held, "record_id"].to_numpy(),
            "incremental": incremental,
            "batch": batch,
            "agree": same.astype(bool),
            "outcome": outcome,
            "probability": probabilities,
            "candidates": candidates,
            "milliseconds": latency,
        }
    )
    milliseconds = latency_summary(latency)
    outcomes = {str(k): int(v) for k, v in pd.Series(outcome).value_counts().items()}
    return Agreement(count, int(same.sum()), outcomes, frame, milliseconds, timings, resolver)
