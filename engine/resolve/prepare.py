"""Matching columns derived once per record, before blocking and comparison.

:func:`prepare` turns canonical records (one row per record, columns of ``engine.record``) into a
frame of the values matching works on: names folded to Latin tokens whichever script they were
written in, phonetic keys for blocking, the NID reduced to one key per card (the 17-digit form to
its 13-digit core, the 10-digit smart-card number to the same core through the EC extract's records,
which carry both forms), the mobile number behind a wallet, the birth-year range, integer geography
codes, and counts over the whole data (how common a name is; how many different names use a phone).

Each normaliser runs once per distinct value, never once per record, so the cost follows the number
of distinct names and numbers. Row ``i`` of the result is row ``i`` of the input: the prepared
frame's positional index is the record's number in blocking, comparison and clustering.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any, Final

import numpy as np
import pandas as pd

from engine.normalise.identifiers import PHONE_WALLETS, ROCKET_WALLETS

log = logging.getLogger(__name__)

#: Joins the parts of a composite key (household, upazila, union, blocking keys).
KEY_SEP: Final = "\x1f"
#: gender codes in the prepared frame (0 = unknown).
GENDER_CODES: Final = {"male": 1, "female": 2, "third": 3}
#: the widest age-derived birth-year range that still gets birth-year blocking keys.
MAX_BLOCKING_YEAR_SPAN: Final = 6
#: Ages (only an age, no date) of at least this that are multiples of 5 count as rounded ...
HEAPED_AGE_MIN: Final = 20
#: ... by up to this many years either way.
HEAPED_AGE_SLACK: Final = 2

PREPARED_COLUMNS: Final = (
    "source",
    "record_id",
    "kind",
    "household",
    "name_en",
    "name_bn",
    "father",
    "mother",
    "spouse",
    "name_keys",
    "token_keys",
    "father_key",
    "gender",
    "year_lo",
    "year_hi",
    "month",
    "day",
    "dob_weak",
    "dob_swappable",
    "birth_years",
    "birth_decade",
    "dob_keys",
    "nid_key",
    "nid_text",
    "nid_linked",
    "brn_key",
    "brn_text",
    "phone",
    "wallet",
    "numbers",
    "phone_names",
    "wallet_names",
    "district",
    "upazila",
    "union",
    "name_freq",
    "given_freq",
    "bangla_only",
)


#: Columns holding a list per record (blocking keys); blocking is their only user.
LIST_COLUMNS: Final = ("name_keys", "token_keys", "birth_years", "numbers", "dob_keys")


def is_list(value: Any) -> bool:
    """Whether a prepared value is a list of keys (the :data:`LIST_COLUMNS`) rather than one."""
    return isinstance(value, list | tuple | np.ndarray)


def _normalisers() -> dict[str, Callable[..., Any]]:
    """The name normalisers of :mod:`engine.normalise`, imported late so this module loads without
    them."""
    from engine import normalise

    return {
        "normalise_name": normalise.normalise_name,
        "phonetic_key": normalise.phonetic_key,
        "honorific_gender": normalise.honorific_gender,
        "is_bangla": normalise.is_bangla,
        "birth_date": normalise.birth_date,
    }


def _column(records: pd.DataFrame, name: str) -> pd.Series:
    """A canonical column, or all-missing when the frame lacks it."""
    if name in records.columns:
        return records[name]
    return pd.Series([None] * len(records), index=records.index, dtype=object)


def _folded(raw: object, normalise_name: Callable[[Any], Any]) -> str | None:
    """A name as one string of folded Latin tokens (``None`` when nothing is left)."""
    if raw is None or (isinstance(raw, float) and raw != raw):
        return None
    text = str(raw).strip()
    if not text:
        return None
    out = normalise_name(text)
    if isinstance(out, list | tuple):
        out = " ".join(out)
    out = " ".join(str(out).split()) if out else ""
    return out or None


def _int_code(values: pd.Series) -> np.ndarray:
    """Integer codes of the distinct values, ``-1`` for missing."""
    codes, _ = pd.factorize(values, use_na_sentinel=True)
    return codes.astype(np.int64)


def _digits_to_int(values: pd.Series) -> np.ndarray:
    """Digit strings as int64 (``-1`` missing). Up to 18 digits fit."""
    num = pd.to_numeric(values, errors="coerce")
    return num.fillna(-1).astype(np.int64).to_numpy()


def _nid_keys(records: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One integer key per NID card, its digit text for typo comparison, and whether it is linked.

    The 17-digit form keys on its last 13 digits. A 10-digit smart-card number keys on the 13-digit
    core
    when any record (the EC extract) carries both forms in ``nid`` and ``nid_alt``; otherwise on
    itself.
    """
    nid = _column(records, "nid").astype(object)
    alt = _column(records, "nid_alt").astype(object)

    def core(values: pd.Series) -> pd.Series:
        text = values.where(values.notna(), None)
        s = text.astype("string")
        length = s.str.len()
        return s.where(length != 17, s.str[-13:])

    nid_core, alt_core = core(nid), core(alt)
    # smart (10 digits) -> 13-digit core, from records that carry both forms
    both = nid_core.notna() & alt_core.notna()
    a, b = nid_core[both], alt_core[both]
    smart = pd.concat([a[a.str.len() == 10], b[b.str.len() == 10]])
    full = pd.concat([b[a.str.len() == 10], a[b.str.len() == 10]])
    link = pd.Series(full.to_numpy(), index=smart.to_numpy())
    link = link[~link.index.duplicated()]
    linked = nid_core.map(link)
    is_linked = linked.notna().to_numpy()
    key_text = linked.fillna(nid_core)
    # a record with only nid_alt (unusual) keys on it
    key_text = key_text.fillna(alt_core.map(link).fillna(alt_core))
    ints = _digits_to_int(key_text)
    # smart numbers (10 digits) and cores (13 digits) cannot collide as ints only if tagged
    is_smart = (key_text.str.len() == 10).fillna(False).to_numpy()
    ints = np.where(is_smart & (ints >= 0), ints + 10**15, ints)
    text = key_text.astype(object).where(key_text.notna(), None).to_numpy()
    return ints, text, is_linked


def _wallet_phone(records: pd.DataFrame) -> pd.Series:
    """The mobile number behind a cleaned wallet account (bKash/Nagad: itself; Rocket: first 11)."""
    number = _column(records, "account_number").astype("string")
    provider = _column(records, "account_provider").astype("string").str.lower()
    phone = pd.Series(pd.NA, index=records.index, dtype="string")
    phone_wallet = provider.isin(list(PHONE_WALLETS)).fillna(False) & (
        number.str.len() == 11
    ).fillna(False)
    rocket = provider.isin(list(ROCKET_WALLETS)).fillna(False) & (number.str.len() == 12).fillna(
        False
    )
    phone = phone.mask(phone_wallet, number)
    phone = phone.mask(rocket, number.str[:11])
    return phone


def _distinct_names_per_number(
    numbers: np.ndarray, names: np.ndarray, counts_for: np.ndarray
) -> np.ndarray:
    """For each value in ``counts_for``: how many distinct names use that number (0 when
    missing)."""
    frame = pd.DataFrame({"number": numbers, "name": names})
    frame = frame[(frame["number"] >= 0) & (frame["name"] >= 0)]
    per_number = frame.drop_duplicates().groupby("number")["name"].size()
    out = pd.Series(counts_for).map(per_number).fillna(0).to_numpy()
    return np.where(counts_for >= 0, np.maximum(out, 1), 0).astype(np.int32)


def _birth(records: pd.DataFrame, birth_date: Callable[..., Any]) -> pd.DataFrame:
    """Birth-year range, month, day and the weak / swappable warnings, one row per record."""
    dob = _column(records, "date_of_birth").astype(object)
    year = _column(records, "birth_year")
    age = _column(records, "age")
    as_of = _column(records, "age_as_of").astype(object)
    frame = pd.DataFrame(
        {
            "dob": dob.where(dob.notna(), None),
            "year": pd.to_numeric(year, errors="coerce"),
            "age": pd.to_numeric(age, errors="coerce"),
            "as_of": as_of.where(as_of.notna(), None),
        }
    )
    codes = frame.groupby(list(frame.columns), dropna=False, sort=False).ngroup().to_numpy()
    n_groups = int(codes.max()) + 1 if len(codes) else 0
    first = pd.Series(np.arange(len(codes))).groupby(codes).first().to_numpy()
    values = np.full((n_groups, 6), np.nan)
    for i, row in enumerate(frame.iloc[first].itertuples(index=False)):
        result = birth_date(
            dob=row.dob or None,
            year=None if pd.isna(row.year) else int(row.year),
            age=None if pd.isna(row.age) else int(row.age),
            as_of=row.as_of or None,
        )
        if result is None:
            continue
        values[i] = (
            result.year_lo,
            result.year_hi,
            result.month if result.month else np.nan,
            result.day if result.day else np.nan,
            float(result.weak),
            float(result.swappable),
        )
    out = values[codes]
    # An age that is a multiple of 5 is often rounded ("about 40"): widen its birth-year range.
    heaped = (
        frame["dob"].isna().to_numpy()
        & frame["year"].isna().to_numpy()
        & (frame["age"].fillna(1) % 5 == 0).to_numpy()
        & (frame["age"].fillna(0) >= HEAPED_AGE_MIN).to_numpy()
    )
    out[heaped, 0] -= HEAPED_AGE_SLACK
    out[heaped, 1] += HEAPED_AGE_SLACK
    return pd.DataFrame(
        {
            "year_lo": out[:, 0].astype(np.float32),
            "year_hi": out[:, 1].astype(np.float32),
            "month": out[:, 2].astype(np.float32),
            "day": out[:, 3].astype(np.float32),
            "dob_weak": np.nan_to_num(out[:, 4], nan=1.0).astype(bool),
            "dob_swappable": np.nan_to_num(out[:, 5], nan=0.0).astype(bool),
        },
        index=records.index,
    )


def _year_lists(year_lo: np.ndarray, year_hi: np.ndarray) -> np.ndarray:
    """Birth years per record for blocking; none when unknown or the range is too wide."""
    out = np.empty(len(year_lo), dtype=object)
    cache: dict[tuple[int, int], list[int]] = {}
    for i, (lo, hi) in enumerate(zip(year_lo, year_hi, strict=True)):
        if lo != lo or hi - lo > MAX_BLOCKING_YEAR_SPAN:
            out[i] = None
            continue
        key = (int(lo), int(hi))
        years = cache.get(key)
        if years is None:
            years = cache[key] = list(range(key[0], key[1] + 1))
        out[i] = years
    return out


def _merge_lists(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per record, the sorted union of two tuple columns (``None`` when empty)."""
    out = np.empty(len(a), dtype=object)
    for i, (x, y) in enumerate(zip(a, b, strict=True)):
        if not y:
            out[i] = list(x) if x else None
        elif not x:
            out[i] = list(y)
        else:
            out[i] = sorted(set(x) | set(y))
    return out


_RELATIVES: Final = ("father_name", "mother_name", "spouse_name")
#: What :class:`NameTable` knows about each distinct raw name.
_NAME_FACTS: Final = ("folded", "key", "words", "gender", "bangla")
#: Distinct names below this count are normalised in this process.
_PARALLEL_MIN: Final = 50_000


def describe_names(raw_names: list[str]) -> list[tuple[Any, ...]]:
    """For each raw name: (folded Latin form, blocking key, keys of its words, honorific gender,
    written in Bangla script). Runs in worker processes for large inputs, so it is module-level."""
    fn = _normalisers()
    normalise_name, phonetic_key = fn["normalise_name"], fn["phonetic_key"]
    out: list[tuple[Any, ...]] = []
    for raw in raw_names:
        folded = _folded(raw, normalise_name)
        if folded is None:
            out.append((None, None, None, fn["honorific_gender"](raw), fn["is_bangla"](raw)))
            continue
        words = tuple(sorted({k for k in (phonetic_key(w) for w in folded.split()) if k}))
        out.append(
            (
                folded,
                phonetic_key(raw) or None,
                words or None,
                fn["honorific_gender"](raw),
                bool(fn["is_bangla"](raw)),
            )
        )
    return out


class NameTable:
    """Every distinct raw name of several name columns, described once (:func:`describe_names`).

    The columns are coded against one vocabulary, so a name that is a beneficiary's in one source
    and a father's in another is normalised once.
    """

    def __init__(self, columns: list[pd.Series], workers: int | None = None) -> None:
        n = len(columns[0])
        stacked = pd.concat([c.astype(object).reset_index(drop=True) for c in columns])
        codes, uniques = pd.factorize(stacked.to_numpy(dtype=object), use_na_sentinel=True)
        self._codes = [codes[i * n : (i + 1) * n] for i in range(len(columns))]
        raw = [str(u) for u in uniques]
        facts = _describe_parallel(raw, workers)
        self._facts = {
            name: np.array([f[i] for f in facts] + [None], dtype=object)
            for i, name in enumerate(_NAME_FACTS)
        }
        self._index = columns[0].index

    def column(self, i: int, fact: str) -> pd.Series:
        """``fact`` (``folded, key, words, gender`` or ``bangla``) for every row of column ``i``."""
        return pd.Series(self._facts[fact][self._codes[i]], index=self._index, dtype=object)


def _describe_parallel(raw: list[str], workers: int | None) -> list[tuple[Any, ...]]:
    if workers is None:
        workers = min(2, os.cpu_count() or 1)
    if workers <= 1 or len(raw) < _PARALLEL_MIN:
        return describe_names(raw)
    import multiprocessing

    chunk = (len(raw) + workers * 4 - 1) // (workers * 4)
    pieces = [raw[i : i + chunk] for i in range(0, len(raw), chunk)]
    try:
        ctx = multiprocessing.get_context("fork")
    except ValueError:  # no fork on this platform
        return describe_names(raw)
    with ctx.Pool(workers) as pool:
        parts = pool.map(describe_names, pieces)
    return [fact for part in parts for fact in part]


def _dob_keys(prepared: pd.DataFrame) -> np.ndarray:
    """Per record with a full, not defaulted date of birth: the date as ``YYYYMMDD``, and the
    day/month-swapped date too when the date is swappable (``None`` otherwise)."""
    year = prepared["year_lo"].to_numpy()
    month = prepared["month"].to_numpy()
    day = prepared["day"].to_numpy()
    # a defaulted date (1 / 31 January) says nothing about the day: no key for it
    full = ~np.isnan(month) & ~np.isnan(day) & ~prepared["dob_weak"].to_numpy(dtype=bool)
    y = np.nan_to_num(year).astype(np.int64)
    m = np.nan_to_num(month).astype(np.int64)
    d = np.nan_to_num(day).astype(np.int64)
    plain = y * 10000 + m * 100 + d
    swapped = y * 10000 + d * 100 + m
    swap = prepared["dob_swappable"].to_numpy(dtype=bool)
    out = np.empty(len(year), dtype=object)
    for i in np.flatnonzero(full):
        out[i] = [int(plain[i]), int(swapped[i])] if swap[i] else [int(plain[i])]
    return out


def _pair_lists(a: pd.Series, b: pd.Series) -> np.ndarray:
    """Per record, the distinct non-missing values of two columns as a list (``None`` when
    empty)."""
    out = np.empty(len(a), dtype=object)
    for i, (x, y) in enumerate(zip(a.to_numpy(), b.to_numpy(), strict=True)):
        if x is None or x is pd.NA or (isinstance(x, float) and x != x):
            x = None
        if y is None or y is pd.NA or (isinstance(y, float) and y != y):
            y = None
        if x is None and y is None:
            out[i] = None
        elif x is None or x == y:
            out[i] = [y] if x is None else [x]
        elif y is None:
            out[i] = [x]
        else:
            out[i] = [x, y]
    return out


def prepare(records: pd.DataFrame, workers: int | None = None) -> pd.DataFrame:
    """The matching columns of every record (see :data:`PREPARED_COLUMNS`).

    Parameters
    ----------
    records:
        Canonical records, e.g. ``RecordStore(path).current()``: columns of ``engine.record`` with
        cleaned values (invalid fields ``None``). Missing columns are treated as empty.
    workers:
        Processes that normalise distinct names (default: up to 2, the CPUs available; 1 = in
        this process). Only large inputs are split.

    Returns
    -------
    pandas.DataFrame
        One row per record in the same order, with a fresh ``RangeIndex``. Key columns are integer
        codes with ``-1`` for missing; name columns folded Latin strings or ``None``; list columns
        (``name_keys``, ``birth_years``, ``numbers``) lists or ``None``.
    """
    fn = _normalisers()
    records = records.reset_index(drop=True)
    n = len(records)
    out = pd.DataFrame(index=records.index)
    out["source"] = _column(records, "source").astype(str).to_numpy()
    out["record_id"] = _column(records, "record_id").astype(str).to_numpy()
    out["kind"] = _column(records, "kind").to_numpy()
    hh = _column(records, "household_id")
    hh_key = out["source"].where(hh.notna(), None) + KEY_SEP + hh.astype("string")
    out["household"] = _int_code(hh_key.where(hh.notna(), None))

    names = NameTable(
        [_column(records, c) for c in ("full_name", "full_name_bn", *_RELATIVES)], workers
    )
    name_en, name_bn = names.column(0, "folded"), names.column(1, "folded")
    out["name_en"] = name_en.to_numpy()
    out["name_bn"] = name_bn.to_numpy()
    for i, column in enumerate(("father", "mother", "spouse"), start=2):
        out[column] = names.column(i, "folded").to_numpy()
    key_en, key_bn = names.column(0, "key"), names.column(1, "key")
    out["name_keys"] = _pair_lists(key_en, key_bn)
    out["token_keys"] = _merge_lists(
        names.column(0, "words").to_numpy(), names.column(1, "words").to_numpy()
    )
    out["father_key"] = _int_code(names.column(2, "key"))

    gender = _column(records, "gender").map(GENDER_CODES)
    for i in (0, 1):
        gender = gender.fillna(names.column(i, "gender").map(GENDER_CODES))
    out["gender"] = gender.fillna(0).astype(np.int8).to_numpy()

    birth = _birth(records, fn["birth_date"])
    for column in birth.columns:
        out[column] = birth[column].to_numpy()
    out["birth_years"] = _year_lists(out["year_lo"].to_numpy(), out["year_hi"].to_numpy())
    decade = np.floor_divide(out["year_lo"].to_numpy(), 10)
    out["birth_decade"] = np.nan_to_num(decade, nan=-1).astype(np.int64)
    out["dob_keys"] = _dob_keys(out)

    nid_key, nid_text, nid_linked = _nid_keys(records)
    out["nid_key"] = nid_key
    out["nid_text"] = nid_text
    out["nid_linked"] = nid_linked
    brn = _column(records, "brn").astype(object)
    out["brn_key"] = _int_code(brn.where(brn.notna(), None))
    out["brn_text"] = brn.where(brn.notna(), None).to_numpy()

    phone = _digits_to_int(_column(records, "phone").astype("string"))
    wallet = _digits_to_int(_wallet_phone(records))
    out["phone"] = phone
    out["wallet"] = wallet
    out["numbers"] = _pair_lists(
        pd.Series(np.where(phone >= 0, phone, -1)).astype(object).where(phone >= 0, None),
        pd.Series(np.where(wallet >= 0, wallet, -1)).astype(object).where(wallet >= 0, None),
    )
    first_key = np.array([k[0] if k else None for k in out["name_keys"]], dtype=object)
    name_code = _int_code(pd.Series(first_key))
    numbers = np.concatenate([phone, wallet])
    names2 = np.concatenate([name_code, name_code])
    out["phone_names"] = _distinct_names_per_number(numbers, names2, phone)
    out["wallet_names"] = _distinct_names_per_number(numbers, names2, wallet)

    district = _column(records, "district").astype(object)
    upazila = _column(records, "upazila").astype(object)
    union = _column(records, "union").astype(object)
    out["district"] = _int_code(district.where(district.notna(), None))
    up_key = district.astype(str) + KEY_SEP + upazila.astype(str)
    out["upazila"] = _int_code(up_key.where(upazila.notna(), None))
    un_key = up_key + KEY_SEP + union.astype(str)
    out["union"] = _int_code(un_key.where(union.notna(), None))

    full = name_en.fillna(name_bn)
    out["name_freq"] = full.map(full.value_counts()).fillna(0).astype(np.int32).to_numpy()
    given = pd.Series(first_key, dtype=object)
    out["given_freq"] = given.map(given.value_counts()).fillna(0).astype(np.int32).to_numpy()
    # Bangla-only: every name the record gives (in either name field) is in Bangla script
    scripts = [names.column(i, "bangla") for i in (0, 1)]
    has_name = scripts[0].notna() | scripts[1].notna()
    has_latin = (scripts[0] == False) | (scripts[1] == False)  # noqa: E712 (object column)
    out["bangla_only"] = (has_name & ~has_latin).to_numpy()
    log.info("prepared %d records", n)
    return out[list(PREPARED_COLUMNS)]
