"""Matching columns derived once per record, before blocking and comparison.

:func:`prepare` turns canonical records (one row per record, columns of ``engine.record``) into a
frame of the values matching works on: names folded to Latin tokens whichever script they were
written in, phonetic keys for blocking, the NID reduced to one key per card (the 17-digit form to
its 13-digit core, the 10-digit smart-card number to the same core through the EC extract's records,
which carry both forms), the mobile number behind a wallet, the birth-year range, integer geography
codes, and counts over the whole data (how common a name is; how many different names use a phone).

Each rule is one scalar function (:func:`nid_key`, :func:`birth_columns`, :func:`gender_code`, ...,
and the normalisers of :mod:`engine.normalise` such as :func:`~engine.normalise.nid_core` and
:func:`~engine.normalise.account_phone`). ``prepare`` maps each over the distinct values of its
columns (:func:`map_distinct`), never once per record, so the cost follows the number of distinct
names and numbers; :func:`engine.resolve.prepare_one.prepare_one` calls the same functions for one
record. Row ``i`` of the result is row ``i`` of the input: the prepared frame's positional index is
the record's number in blocking, comparison and clustering.
"""

from __future__ import annotations

import logging
import math
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import pandas as pd

from engine.normalise.identifiers import account_phone, nid_core, parse_identifiers
from engine.workers import die_with_parent

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
#: Added to an unlinked 10-digit smart-card NID's key so it cannot equal a 13-digit core.
SMART_OFFSET: Final = 10**15

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
    "full_keys",
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
    "address",
    "postcode",
    "post_upazila",
    "identifiers",
    "id_keys",
    "name_freq",
    "given_freq",
    "district_name_n",
    "upazila_name_n",
    "union_name_n",
    "bangla_only",
    "kin",
)


#: Columns holding a list per record (blocking keys); blocking is their only user.
LIST_COLUMNS: Final = (
    "name_keys",
    "token_keys",
    "full_keys",
    "birth_years",
    "numbers",
    "dob_keys",
    "id_keys",
)


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


def _int_code(values: pd.Series | np.ndarray) -> np.ndarray:
    """Integer codes of the distinct values, ``-1`` for missing."""
    codes, _ = pd.factorize(values, use_na_sentinel=True)
    return codes.astype(np.int64)


# -- the rules, one value (or one record) at a time ------------------------------------------------
# prepare maps each over the distinct values of its columns (map_distinct); prepare_one calls it for
# one record. One function per rule, so the batch and the per-record path cannot drift apart.


def digits_int(text: Any) -> int:
    """A digit string as an integer, ``-1`` when there is none. Up to 18 digits fit.

    Example
    -------
    >>> digits_int("01711234567"), digits_int(None)
    (1711234567, -1)
    """
    if text is None:
        return -1
    text = str(text)
    if text.isascii() and text.isdigit() and len(text) <= 18:
        return int(text)
    value = pd.to_numeric(pd.Series([text], dtype=object), errors="coerce").iloc[0]
    return -1 if pd.isna(value) else int(value)


def _core(nid: Any) -> str | None:
    return None if nid is None else nid_core(str(nid))


def nid_number(text: str | None) -> int:
    """The integer key of a NID's key text: its digits, a 10-digit smart-card number tagged with
    :data:`SMART_OFFSET` (``-1``: none)."""
    key = digits_int(text)
    if key >= 0 and text is not None and len(text) == 10:
        key += SMART_OFFSET
    return key


def smart_card_links(
    nid: Any, nid_alt: Any
) -> tuple[tuple[str, str] | None, tuple[str, str] | None]:
    """The smart-card -> core links of one record carrying both NID forms: ``(smart, core)`` from
    its ``nid`` when that is the 10-digit smart-card number, and from its ``nid_alt`` likewise
    (``None`` for a side that links nothing)."""
    a, b = _core(nid), _core(nid_alt)
    if a is None or b is None:
        return None, None
    return ((a, b) if len(a) == 10 else None), ((b, a) if len(b) == 10 else None)


def link_table(records: Iterable[tuple[Any, Any]]) -> dict[str, str]:
    """Smart-card number -> NID core from the ``(nid, nid_alt)`` of records, in order: every
    record's ``nid`` link first, then every ``nid_alt`` link; a number's first link wins.

    A repeated record changes nothing, so the distinct ``(nid, nid_alt)`` in order of first
    appearance give the same table as all the records.
    """
    links = [smart_card_links(nid, alt) for nid, alt in records]
    table: dict[str, str] = {}
    for side in (0, 1):
        for pair in links:
            link = pair[side]
            if link is not None:
                table.setdefault(link[0], link[1])
    return table


def nid_key(nid: Any, nid_alt: Any, links: Mapping[str, str]) -> tuple[int, str | None, bool]:
    """One record's NID key: the integer key, its digit text (for typo comparison) and whether a
    smart-card number was linked to its core.

    The 17-digit form keys on its 13-digit core (:func:`~engine.normalise.nid_core`). A 10-digit
    smart-card number keys on the core ``links`` gives it (records carrying both forms:
    :func:`link_table`), otherwise on itself. A record with only ``nid_alt`` (unusual) keys on that.
    """
    core = _core(nid)
    linked = None if core is None else links.get(core)
    text = core if linked is None else linked
    if text is None and nid_alt is not None:
        alt = _core(nid_alt)
        text = links.get(alt, alt) if alt is not None else None
    return nid_number(text), text, linked is not None


def wallet_number(provider: Any, account_number: Any) -> int:
    """The mobile number behind a wallet account as an integer (``-1``: none, e.g. a bank account),
    by :func:`engine.normalise.account_phone`."""
    return digits_int(account_phone(account_number, provider))


def pair_list(x: Any, y: Any) -> list[Any] | None:
    """A record's two values of one kind (a name's key in two scripts, a phone and a wallet) as the
    list of the distinct ones given (``None`` when neither is)."""
    if x is None and y is None:
        return None
    if x is None or x == y:
        return [y] if x is None else [x]
    if y is None:
        return [x]
    return [x, y]


def number_list(phone: int, wallet: int) -> list[int] | None:
    """A record's phone and wallet numbers for blocking (``-1``: none)."""
    return pair_list(phone if phone >= 0 else None, wallet if wallet >= 0 else None)


def merged_keys(a: Iterable[str] | None, b: Iterable[str] | None) -> list[str] | None:
    """The sorted union of two names' word keys (``None`` when both have none)."""
    if not b:
        return list(a) if a else None
    if not a:
        return list(b)
    return sorted(set(a) | set(b))


def full_keys(en_words: Iterable[str] | None, bn_words: Iterable[str] | None) -> list[str] | None:
    """A record's whole-name keys: per name (English, Bangla), the keys of its words sorted and
    joined, so that word order, romanisation and script do not matter (``None``: no name).

    Example
    -------
    >>> full_keys(("bgm", "rhm"), None)
    ['bgm rhm']
    """

    def joined(words: Iterable[str] | None) -> str | None:
        return " ".join(sorted(words)) if words else None

    return pair_list(joined(en_words), joined(bn_words))


def first_of(keys: Any) -> str | None:
    """The given-name key: the first of a record's ``name_keys`` (``None`` when it has none)."""
    return None if keys is None or len(keys) == 0 else str(keys[0])


def gender_code(gender: Any, *honorific_genders: Any) -> int:
    """A record's gender code (:data:`GENDER_CODES`, ``0`` unknown): its ``gender`` field, else the
    gender the honorifics of its names say (English name first)."""
    for value in (gender, *honorific_genders):
        code = GENDER_CODES.get(value)
        if code:
            return code
    return 0


def bangla_only(*scripts: bool | None) -> bool:
    """Whether every name a record gives is in Bangla script (``scripts``: per name field, whether
    it is written in Bangla; ``None`` when the field is empty)."""
    given = [script for script in scripts if script is not None]
    return bool(given) and all(given)


def household_key(source: Any, household_id: Any) -> str | None:
    """The raw key of a record's household (``None`` without one): household IDs are a source's."""
    return None if household_id is None else f"{source}{KEY_SEP}{household_id}"


#: A place's parent (a union's upazila or district, an upazila's district) is taken from the other
#: records only when at least this share of those that name both give the same parent.
PARENT_SHARE: Final = 0.9


@dataclass(frozen=True)
class Gazetteer:
    """The parents of place names, as the records that give both say: what fills in the levels a
    record leaves out (a survey that gives only the union is in that union's upazila and district).

    Attributes
    ----------
    parents:
        ``(child level, parent level)`` -> child name -> parent, e.g.
        ``("union", "district")`` -> ``{"ashulia": "BD3026"}``; only names whose parent is clear
        (:data:`PARENT_SHARE`).
    """

    parents: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)

    def parent(self, child: str, parent: str, name: Any) -> str | None:
        """The ``parent``-level name of the ``child``-level place ``name`` (``None``: unknown)."""
        if name is None:
            return None
        return self.parents.get((child, parent), {}).get(str(name))


#: (child, parent) levels the gazetteer knows, in the order places are filled in. A postcode is
#: a post office's area, which lies in one upazila (:func:`postcode_upazila`).
PLACE_LINKS: Final = (
    ("union", "upazila"),
    ("union", "district"),
    ("upazila", "district"),
    ("postcode", "upazila"),
)


def gazetteer(places: Iterable[tuple[Any, ...]]) -> Gazetteer:
    """The :class:`Gazetteer` of distinct ``(district, upazila, union[, postcode], records)``
    (postcode keys as :func:`postcode_key` makes them): for each child name, the parent most of the
    records naming both give, when it is clear (:data:`PARENT_SHARE`).

    Example
    -------
    >>> g = gazetteer([("BD3026", "savar", "ashulia", 3), (None, "savar", None, 1)])
    >>> g.parent("union", "district", "ashulia"), g.parent("upazila", "district", "savar")
    ('BD3026', 'BD3026')
    >>> gazetteer([(None, "savar", None, "1340", 2)]).parent("postcode", "upazila", "1340")
    'savar'
    """
    level = {"district": 0, "upazila": 1, "union": 2, "postcode": 3}
    counts: dict[tuple[str, str], dict[str, dict[str, int]]] = {link: {} for link in PLACE_LINKS}
    for combo in places:
        values, records = tuple(combo[:-1]), int(combo[-1])
        values += (None,) * (len(level) - len(values))
        for child, parent in PLACE_LINKS:
            c, p = values[level[child]], values[level[parent]]
            if c is None or p is None:
                continue
            seen = counts[(child, parent)].setdefault(str(c), {})
            seen[str(p)] = seen.get(str(p), 0) + records
    parents: dict[tuple[str, str], dict[str, str]] = {}
    for link, table in counts.items():
        clear = {}
        for child, seen in table.items():
            best = max(sorted(seen), key=seen.__getitem__)
            if seen[best] >= PARENT_SHARE * sum(seen.values()):
                clear[child] = best
        parents[link] = clear
    return Gazetteer(parents)


def filled_places(
    district: Any, upazila: Any, union: Any, places: Gazetteer
) -> tuple[Any, Any, Any]:
    """A record's district, upazila and union with the levels it leaves out filled in from its
    finer ones through ``places`` (where that is clear)."""
    if upazila is None:
        upazila = places.parent("union", "upazila", union)
    if district is None:
        district = places.parent("union", "district", union) or places.parent(
            "upazila", "district", upazila
        )
    return district, upazila, union


def postcode_key(postcode: Any) -> str | None:
    """A postcode as the gazetteer keys it: its digits (``None``: none)."""
    number = digits_int(postcode)
    return None if number < 0 else str(number)


def postcode_upazila(postcode: Any, places: Gazetteer) -> str | None:
    """The upazila a record's postcode lies in, as the records that give both say (``places``;
    ``None``: no postcode, or no clear upazila): compared as the record's upazila when it names
    none (:func:`engine.resolve.compare.placed_upazila`), so that a survey giving the district and
    a postcode is no longer "anywhere in the district" against a record that names the upazila."""
    return places.parent("postcode", "upazila", postcode_key(postcode))


def place_keys(
    district: Any, upazila: Any, union: Any
) -> tuple[str | None, str | None, str | None]:
    """The raw keys of a record's district, upazila and union (``None`` where not given): each
    level by its own name, so that two records naming a level meet on it whatever each says of the
    levels above.

    Two unions of one name in different districts share a key: the district, where both records
    give it, tells them apart in comparison (``geo_level``).
    """

    def key(value: Any) -> str | None:
        return None if value is None else str(value)

    return key(district), key(upazila), key(union)


#: Words that label the parts of an address (``Vill:``, ``PO-``, ``Union``, ``গ্রাম``), not places.
ADDRESS_LABELS: Final = frozenset(
    {
        "vill", "village", "gram", "po", "post", "office", "dakghor", "union", "upazila",
        "upazilla", "thana", "ward", "road", "house", "holding", "zila", "district",
    }
)  # fmt: skip


def address_words(raw: Any) -> str | None:
    """An address as the words that name places, for token similarity: Bangla written in Latin
    letters, lower case, punctuation and labels (:data:`ADDRESS_LABELS`) dropped, each word folded
    as name words are (``Dokkhin`` and ``Dakshin``, ``Rampoor`` and ``Rampur`` alike).

    Example
    -------
    >>> address_words("Vill: Rampoor, Para: Dokkhin Para, Union: Char Kashipur")
    'rampar para dakin para char kasipar'
    """
    from engine.normalise import fold_token, transliterate

    if raw is None:
        return None
    words = re.findall(r"[a-z0-9]+", transliterate(str(raw)).lower())
    folded = [w if w.isdigit() else fold_token(w) for w in words if w not in ADDRESS_LABELS]
    return " ".join(w for w in folded if w) or None


def identifier_keys(text: Any) -> list[str] | None:
    """A record's extra identifiers (the stored ``name=value;...`` text) as blocking keys, one
    ``name=value`` per identifier (``None``: none)."""
    pairs = parse_identifiers(None if text is None else str(text))
    return [f"{name}={value}" for name, value in sorted(pairs.items())] or None


#: The places within which prepare counts the records of a record's full name: prepared column
#: of the count -> prepared column of the place (``place_name_counts``).
PLACE_COUNTS: Final = {
    "district_name_n": "district",
    "upazila_name_n": "upazila",
    "union_name_n": "union",
}


def place_name_counts(full: pd.Series, places: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Per record and place level: how many records carry its full name (folded) in its place
    (0 without a name or a place): how many people one name and one place can mean, whatever
    the size of the place."""
    names, _ = pd.factorize(full, use_na_sentinel=True)
    out = {}
    for column, place in PLACE_COUNTS.items():
        code = np.asarray(places[place], dtype=np.int64)
        ok = (names >= 0) & (code >= 0)
        key = np.where(ok, names.astype(np.int64) * (int(code.max(initial=0)) + 1) + code, -1)
        counts = pd.Series(key[ok]).value_counts()
        values = pd.Series(key).map(counts).fillna(0).to_numpy()
        out[column] = np.where(ok, values, 0).astype(np.int32)
    return out


#: Joins the names in a record's ``kin``.
KIN_SEP: Final = "|"


def kin_text(names: Iterable[Any]) -> str | None:
    """The names of the other members of a record's household (folded; each once, sorted,
    joined by :data:`KIN_SEP`), which a relative another record names (a BDRIS mother, a
    stipend's father, a widow's husband) is compared with (``None``: no other member named)."""
    distinct = sorted({str(n) for n in names if n is not None and n == n})
    return KIN_SEP.join(distinct) or None


def household_kin(household: np.ndarray, names: np.ndarray) -> np.ndarray:
    """:func:`kin_text` of every record: the names of the other records of its household
    (``household``: codes, ``-1`` none; ``names``: each record's folded name or ``None``)."""
    out = np.full(len(household), None, dtype=object)
    rows = np.flatnonzero(household >= 0)
    if len(rows) == 0:
        return out
    order = rows[np.argsort(household[rows], kind="stable")]
    codes = household[order]
    starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
    ends = np.r_[starts[1:], len(order)]
    for start, end in zip(starts.tolist(), ends.tolist(), strict=True):
        if end - start < 2:
            continue
        members = order[start:end].tolist()
        member_names = names[members].tolist()
        for i, row in enumerate(members):
            out[row] = kin_text(member_names[:i] + member_names[i + 1 :])
    return out


def _number(value: Any) -> float:
    if value is None:
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


#: A year, month or day as prepare stores it (float32; NaN when unknown).
Number = float | np.floating[Any]


def birth_range(
    dob: Any, year: Any, age: Any, as_of: Any
) -> tuple[np.float32, np.float32, np.float32, np.float32, bool, bool]:
    """``year_lo, year_hi, month, day, weak, swappable`` of a record's date of birth, birth year or
    age (:func:`engine.normalise.birth_date`; NaN where unknown, weak when nothing is given).

    An age alone that is a multiple of 5 (at least :data:`HEAPED_AGE_MIN`) is often rounded
    ("about 40"): its range is widened by :data:`HEAPED_AGE_SLACK` years either way.
    """
    from engine.normalise import birth_date

    year_n, age_n = _number(year), _number(age)
    result = birth_date(
        dob=dob or None,
        year=None if math.isnan(year_n) else int(year_n),
        age=None if math.isnan(age_n) else int(age_n),
        as_of=as_of or None,
    )
    nan = np.float32(np.nan)
    if result is None:
        return nan, nan, nan, nan, True, False
    lo, hi = np.float32(result.year_lo), np.float32(result.year_hi)
    heaped = not math.isnan(age_n) and age_n % 5 == 0 and age_n >= HEAPED_AGE_MIN
    if dob is None and math.isnan(year_n) and heaped:
        lo, hi = lo - np.float32(HEAPED_AGE_SLACK), hi + np.float32(HEAPED_AGE_SLACK)
    month = np.float32(result.month) if result.month else nan
    day = np.float32(result.day) if result.day else nan
    return lo, hi, month, day, bool(result.weak), bool(result.swappable)


def blocking_years(year_lo: Number, year_hi: Number) -> list[int] | None:
    """The birth years a record is blocked on: none when unknown or the range is too wide
    (:data:`MAX_BLOCKING_YEAR_SPAN`)."""
    if year_lo != year_lo or year_hi - year_lo > MAX_BLOCKING_YEAR_SPAN:
        return None
    return list(range(int(year_lo), int(year_hi) + 1))


def birth_decade(year_lo: Number) -> int:
    """The decade of the earliest possible birth year (``-1``: unknown)."""
    return -1 if year_lo != year_lo else int(np.floor_divide(year_lo, 10))


def dob_keys(
    year: Number, month: Number, day: Number, weak: bool, swappable: bool
) -> list[int] | None:
    """A full, not defaulted date of birth as ``YYYYMMDD``, and the day/month-swapped date too when
    a source may have swapped them (``None`` otherwise: a defaulted 1 / 31 January says nothing
    about the day)."""
    if month != month or day != day or weak:
        return None
    plain = int(year) * 10000 + int(month) * 100 + int(day)
    swapped = int(year) * 10000 + int(day) * 100 + int(month)
    return [plain, swapped] if swappable else [plain]


#: The prepared columns :func:`birth_columns` gives.
BIRTH_COLUMNS: Final = (
    "year_lo",
    "year_hi",
    "month",
    "day",
    "dob_weak",
    "dob_swappable",
    "birth_years",
    "birth_decade",
    "dob_keys",
)


def birth_columns(dob: Any, year: Any, age: Any, as_of: Any) -> dict[str, Any]:
    """The birth columns (:data:`BIRTH_COLUMNS`) of a record's date of birth, birth year, age and
    the date the age was true on."""
    lo, hi, month, day, weak, swappable = birth_range(dob, year, age, as_of)
    return {
        "year_lo": lo,
        "year_hi": hi,
        "month": month,
        "day": day,
        "dob_weak": weak,
        "dob_swappable": swappable,
        "birth_years": blocking_years(lo, hi),
        "birth_decade": birth_decade(lo),
        "dob_keys": dob_keys(lo, month, day, weak, swappable),
    }


# -- a rule over the distinct values of columns ----------------------------------------------------


def _objects(values: list[Any]) -> np.ndarray:
    """An object array of ``values`` (lists and tuples kept as elements)."""
    return np.fromiter(values, dtype=object, count=len(values))


def distinct_values(
    *columns: pd.Series | np.ndarray,
) -> tuple[np.ndarray, list[tuple[Any, ...]]]:
    """The distinct combinations of values of ``columns`` (in order of first appearance; a missing
    value as ``None``) and the number of each row's combination."""
    n = len(columns[0])
    combined = np.zeros(n, dtype=np.int64)
    parts = []
    for column in columns:
        codes, uniques = pd.factorize(column, use_na_sentinel=True)
        parts.append((codes, _objects([*uniques.tolist(), None])))
        # factorised again at each step, so the codes stay below n
        combined, _ = pd.factorize(combined * (len(uniques) + 1) + (codes + 1))
    first = np.flatnonzero(~pd.Series(combined).duplicated().to_numpy())
    values = [uniques[codes[first]].tolist() for codes, uniques in parts]
    return combined.astype(np.int64), list(zip(*values, strict=True))


def map_distinct(rule: Callable[..., Any], *columns: pd.Series | np.ndarray) -> np.ndarray:
    """``rule(*values)`` for every row of ``columns`` (an object array), called once per distinct
    combination of values; a missing value is passed as ``None``.

    Example
    -------
    >>> map_distinct(digits_int, pd.Series(["017", None, "017"])).tolist()
    [17, -1, 17]
    """
    codes, combos = distinct_values(*columns)
    return _objects([rule(*combo) for combo in combos])[codes]


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


def _birth(records: pd.DataFrame) -> dict[str, np.ndarray]:
    """The birth columns of every record (:func:`birth_columns` per distinct date, year, age and
    as-of date)."""
    codes, combos = distinct_values(
        *(_column(records, c) for c in ("date_of_birth", "birth_year", "age", "age_as_of"))
    )
    rows = [birth_columns(*combo) for combo in combos]
    out: dict[str, np.ndarray] = {}
    for column in BIRTH_COLUMNS:
        values = [row[column] for row in rows]
        if column in ("year_lo", "year_hi", "month", "day"):
            out[column] = np.asarray(values, dtype=np.float32)[codes]
        elif column in ("dob_weak", "dob_swappable"):
            out[column] = np.asarray(values, dtype=bool)[codes]
        elif column == "birth_decade":
            out[column] = np.asarray(values, dtype=np.int64)[codes]
        else:
            out[column] = _objects(values)[codes]
    return out


def places_gazetteer(records: pd.DataFrame) -> Gazetteer:
    """The :func:`gazetteer` of the places (and postcodes) ``records`` give."""
    postcodes = map_distinct(postcode_key, _column(records, "postcode"))
    codes, combos = distinct_values(*(_column(records, c) for c in _PLACE_FIELDS), postcodes)
    counts = np.bincount(codes, minlength=len(combos))
    return gazetteer((*combo, count) for combo, count in zip(combos, counts, strict=True))


_PLACE_FIELDS: Final = ("district", "upazila", "union")


def coded_values(records: pd.DataFrame, places: Gazetteer | None = None) -> dict[str, np.ndarray]:
    """The raw value behind each integer-coded column (``household``, ``brn_key``, ``district``,
    ``upazila``, ``union``; ``post_upazila``, an upazila coded with ``upazila``), one per record
    (``None``: missing); the codes number them in order of first appearance. Places a record
    leaves out are filled in through ``places`` (default: the records' own
    :func:`places_gazetteer`)."""
    source = _column(records, "source").astype(str)
    brn = _column(records, "brn")
    codes, combos = distinct_values(*(_column(records, c) for c in _PLACE_FIELDS))
    if places is None:
        places = places_gazetteer(records)
    keys = [place_keys(*filled_places(*combo, places)) for combo in combos]
    return {
        "household": map_distinct(household_key, source, _column(records, "household_id")),
        "brn_key": map_distinct(lambda b: None if b is None else str(b), brn),
        **{kind: _objects([k[i] for k in keys])[codes] for i, kind in enumerate(_PLACE_FIELDS)},
        "post_upazila": map_distinct(
            lambda postcode: postcode_upazila(postcode, places), _column(records, "postcode")
        ),
    }


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
            name: _objects([*(f[i] for f in facts), None]) for i, name in enumerate(_NAME_FACTS)
        }
        self._index = columns[0].index

    def column(self, i: int, fact: str) -> pd.Series:
        """``fact`` (``folded, key, words, gender`` or ``bangla``) for every row of column ``i``."""
        return pd.Series(self._facts[fact][self._codes[i]], index=self._index, dtype=object)

    def codes(self, i: int) -> np.ndarray:
        """The number of each row's name in column ``i`` (``-1``: none)."""
        return self._codes[i]

    def facts(self, fact: str) -> np.ndarray:
        """``fact`` of every distinct name, by number (the last, at ``-1``: no name)."""
        return self._facts[fact]


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
    # a worker waiting for work outlives a killed resolve unless told to die with it
    with ctx.Pool(workers, initializer=die_with_parent, initargs=(os.getpid(),)) as pool:
        parts = pool.map(describe_names, pieces)
    return [fact for part in parts for fact in part]


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
    records = records.reset_index(drop=True)
    n = len(records)
    out = pd.DataFrame(index=records.index)
    out["source"] = _column(records, "source").astype(str).to_numpy()
    out["record_id"] = _column(records, "record_id").astype(str).to_numpy()
    out["kind"] = _column(records, "kind").to_numpy()
    coded = coded_values(records)
    out["household"] = _int_code(coded["household"])

    names = NameTable(
        [_column(records, c) for c in ("full_name", "full_name_bn", *_RELATIVES)], workers
    )
    name_en, name_bn = names.column(0, "folded"), names.column(1, "folded")
    out["name_en"] = name_en.to_numpy()
    out["name_bn"] = name_bn.to_numpy()
    for i, column in enumerate(("father", "mother", "spouse"), start=2):
        out[column] = names.column(i, "folded").to_numpy()
    # the rules on a record's two names, once per distinct (English, Bangla) pair of names
    pair, pairs = distinct_values(names.codes(0), names.codes(1))
    key, words = names.facts("key"), names.facts("words")
    name_keys = [pair_list(key[en], key[bn]) for en, bn in pairs]
    out["name_keys"] = _objects(name_keys)[pair]
    out["token_keys"] = _objects([merged_keys(words[en], words[bn]) for en, bn in pairs])[pair]
    out["full_keys"] = _objects([full_keys(words[en], words[bn]) for en, bn in pairs])[pair]
    first_key = _objects([first_of(keys) for keys in name_keys])[pair]
    out["father_key"] = _int_code(names.column(2, "key"))

    out["gender"] = map_distinct(
        gender_code,
        _column(records, "gender"),
        names.column(0, "gender"),
        names.column(1, "gender"),
    ).astype(np.int8)

    for column, values in _birth(records).items():
        out[column] = values

    nid_codes, nids = distinct_values(_column(records, "nid"), _column(records, "nid_alt"))
    links = link_table(nids)
    nid_keys = [nid_key(nid, alt, links) for nid, alt in nids]
    out["nid_key"] = np.asarray([k[0] for k in nid_keys], dtype=np.int64)[nid_codes]
    out["nid_text"] = _objects([k[1] for k in nid_keys])[nid_codes]
    out["nid_linked"] = np.asarray([k[2] for k in nid_keys], dtype=bool)[nid_codes]
    out["brn_key"] = _int_code(coded["brn_key"])
    brn = _column(records, "brn").astype(object)
    out["brn_text"] = brn.where(brn.notna(), None).to_numpy()

    phone = map_distinct(digits_int, _column(records, "phone")).astype(np.int64)
    wallet = map_distinct(
        wallet_number, _column(records, "account_provider"), _column(records, "account_number")
    ).astype(np.int64)
    out["phone"] = phone
    out["wallet"] = wallet
    out["numbers"] = map_distinct(number_list, phone, wallet)
    name_code = _int_code(first_key)
    numbers = np.concatenate([phone, wallet])
    names2 = np.concatenate([name_code, name_code])
    out["phone_names"] = _distinct_names_per_number(numbers, names2, phone)
    out["wallet_names"] = _distinct_names_per_number(numbers, names2, wallet)

    for kind in ("district", "upazila", "union"):
        out[kind] = _int_code(coded[kind])
    # a postcode's upazila is an upazila: one code for a name, whichever column gives it
    upazilas = _int_code(np.concatenate([coded["upazila"], coded["post_upazila"]]))
    out["post_upazila"] = upazilas[n:]
    out["address"] = map_distinct(address_words, _column(records, "address"))
    out["postcode"] = map_distinct(digits_int, _column(records, "postcode")).astype(np.int64)
    identifiers = _column(records, "identifiers").astype(object)
    out["identifiers"] = identifiers.where(identifiers.notna(), None).to_numpy()
    out["id_keys"] = map_distinct(identifier_keys, identifiers)

    full = name_en.fillna(name_bn)
    out["name_freq"] = full.map(full.value_counts()).fillna(0).astype(np.int32).to_numpy()
    given = pd.Series(first_key, dtype=object)
    out["given_freq"] = given.map(given.value_counts()).fillna(0).astype(np.int32).to_numpy()
    places = {kind: out[kind].to_numpy() for kind in ("district", "upazila", "union")}
    for column, values in place_name_counts(full, places).items():
        out[column] = values
    out["bangla_only"] = map_distinct(
        bangla_only, names.column(0, "bangla"), names.column(1, "bangla")
    ).astype(bool)
    out["kin"] = household_kin(out["household"].to_numpy(), full.to_numpy(dtype=object))
    log.info("prepared %d records", n)
    return out[list(PREPARED_COLUMNS)]
