"""Divisions and districts by their BBS geocodes, whatever spelling or script a source uses.

The 64 districts live in ``data/districts.csv`` (code, name, division_code, division, bangla,
variants); see ``data/README.md`` for the sources and the codes that are less certain. A district's
geocode is ``BD`` + division(2) + district(2), e.g. ``BD3026`` Dhaka. The two-digit district part is
unique across the country, so old geocodes that still carry the pre-2015 division (``BD3061`` for
Mymensingh, which was in Dhaka division) resolve to the current code.
"""

from __future__ import annotations

import csv
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import Final

from engine.errors import InvalidValue
from engine.normalise.bangla import repair_bangla, transliterate
from engine.normalise.data import DATA_DIR
from engine.normalise.digits import to_ascii_digits
from engine.normalise.names import fold_token


@dataclass(frozen=True, slots=True)
class District:
    """One district: its geocode (``BD3026``), names and the division it belongs to."""

    code: str
    name: str
    division_code: str
    division: str
    bangla: str
    variants: tuple[str, ...]

    @property
    def district_number(self) -> str:
        """The two-digit district part of the geocode (``26`` for Dhaka), unique nationwide."""
        return self.code[4:]


@dataclass(frozen=True, slots=True)
class Division:
    """One of the eight divisions with its two-digit BBS code."""

    code: str
    name: str
    bangla: str
    variants: tuple[str, ...]


DIVISIONS: Final[tuple[Division, ...]] = (
    Division("10", "Barishal", "বরিশাল", ("Barisal",)),
    Division("20", "Chattogram", "চট্টগ্রাম", ("Chittagong", "Ctg")),
    Division("30", "Dhaka", "ঢাকা", ("Dacca",)),
    Division("40", "Khulna", "খুলনা", ()),
    Division("45", "Mymensingh", "ময়মনসিংহ", ("Mymensing", "Maimansingh")),
    Division("50", "Rajshahi", "রাজশাহী", ()),
    Division("55", "Rangpur", "রংপুর", ()),
    Division("60", "Sylhet", "সিলেট", ()),
)


def _load_districts() -> list[District]:
    with open(DATA_DIR / "districts.csv", encoding="utf-8", newline="") as handle:
        return [
            District(
                code=row["code"],
                name=row["name"],
                division_code=row["division_code"],
                division=row["division"],
                bangla=repair_bangla(row["bangla"]),
                variants=tuple(v for v in row["variants"].split("|") if v),
            )
            for row in csv.DictReader(handle)
        ]


#: All 64 districts, ordered by geocode.
DISTRICTS: Final[list[District]] = _load_districts()

_SUFFIXES: Final = re.compile(
    r"\b(district|zila|zilla|jela|jila|division|bibhag|sadar)\b|জেলা|বিভাগ|সদর"
)
_PUNCT: Final = re.compile(r"[^\w\u0980-\u09ff]+")
_GEOCODE: Final = re.compile(r"^(?:bd)?(\d{2})(\d{2})$")


def _key(text: str) -> str:
    """A place name reduced to what spellings share: lower case, no accents, spaces, punctuation,
    suffixes such as "District" / "জেলা", and ``gonj`` read as ``ganj``."""
    text = repair_bangla(str(text)).lower()
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c) or "\u0980" <= c <= "\u09ff")
    text = unicodedata.normalize("NFC", text)
    text = repair_bangla(text)
    text = _SUFFIXES.sub(" ", text)
    text = _PUNCT.sub("", text)
    return text.replace("gonj", "ganj")


def _district_index() -> dict[str, District]:
    index: dict[str, District] = {}
    for district in DISTRICTS:
        for name in (district.name, district.bangla, *district.variants):
            index.setdefault(_key(name), district)
    return index


def _division_index() -> dict[str, Division]:
    index: dict[str, Division] = {}
    for division in DIVISIONS:
        for name in (division.name, division.bangla, *division.variants):
            index.setdefault(_key(name), division)
    return index


_BY_NAME: Final = _district_index()
_BY_NUMBER: Final = {d.district_number: d for d in DISTRICTS}
_DIVISION_BY_NAME: Final = _division_index()
_DIVISION_BY_CODE: Final = {d.code: d for d in DIVISIONS}


def _spelling(key: str) -> str:
    """The name's fold (:func:`engine.normalise.names.fold_token`), Bangla transliterated first."""
    return fold_token(re.sub("[^a-z]", "", transliterate(key)))


@lru_cache(maxsize=1)
def _spelling_index() -> dict[str, District | None]:
    index: dict[str, District | None] = {}
    for district in DISTRICTS:
        for name in (district.name, district.bangla, *district.variants):
            spelling = _spelling(_key(name))
            if index.get(spelling, district) is not district:
                index[spelling] = None  # two districts spelled alike: do not guess
            else:
                index[spelling] = district
    return index


def _by_spelling(key: str) -> District | None:
    """A district whose name folds like ``key`` (``Noakhalli``, ``Kustia``), if exactly one does."""
    if not key or key.isdigit():
        return None
    return _spelling_index().get(_spelling(key))


@lru_cache(maxsize=4096)
def district_code(raw: str) -> str:
    """The district's BBS geocode (``"Chittagong"`` -> ``"BD2015"``, ``"ঢাকা"`` -> ``"BD3026"``).

    Accepts the current and old English spellings, the Bangla name, the geocode itself (``BD3026``,
    ``3026``, old-division codes such as ``BD3061``) and the bare two-digit district number. A
    spelling not in the table is matched by its fold (as names are, e.g. ``Noakhalli``, ``Kustia``,
    ``Potuakhali``) when exactly one district folds that way.

    Raises
    ------
    InvalidValue
        If the name is not one of the 64 districts.
    """
    text = to_ascii_digits(str(raw)).strip()
    key = _key(text)
    match = _GEOCODE.match(key)
    if match and match.group(2) in _BY_NUMBER:
        return _BY_NUMBER[match.group(2)].code
    if key.isdigit() and len(key) <= 2 and key.zfill(2) in _BY_NUMBER:
        return _BY_NUMBER[key.zfill(2)].code
    found = _BY_NAME.get(key) or _by_spelling(key)
    if found is None:
        raise InvalidValue(
            "district",
            raw,
            "not one of the 64 districts (give the name in English or Bangla, or the BBS geocode)",
        )
    return found.code


@lru_cache(maxsize=256)
def division_code(raw: str) -> str:
    """The division's two-digit BBS code (``"Barisal"`` -> ``"10"``, ``"ময়মনসিংহ"`` -> ``"45"``).

    Accepts the code itself (``30``, ``BD30``).

    Raises
    ------
    InvalidValue
        If the name is not one of the eight divisions.
    """
    key = _key(to_ascii_digits(str(raw)).strip())
    key = key.removeprefix("bd")
    if key in _DIVISION_BY_CODE:
        return key
    found = _DIVISION_BY_NAME.get(key)
    if found is None:
        names = ", ".join(d.name for d in DIVISIONS)
        raise InvalidValue("division", raw, f"not one of the eight divisions ({names})")
    return found.code


def district(code: str) -> District:
    """The :class:`District` row for a geocode returned by :func:`district_code`."""
    return _BY_NUMBER[code[-2:]]


# -- addresses and postcodes -------------------------------------------------------------------

_POSTCODE_RUN: Final = re.compile(r"\d+")
#: text around a postcode that says what it is ("Post Code: 1207", "ডাকঘর কোড ১২০৭", "GPO-1000")
_ADDRESS_EDGES: Final = " ,;:-/."


def clean_address(raw: str) -> str | None:
    """An address (village, para, road, house, post office) as free text: Bangla repaired,
    Bangla digits read as ASCII, whitespace collapsed, separators at either end dropped; words,
    case and order kept (matching derives its own tokens).

    Example
    -------
    >>> clean_address("  House ১২ ,  Uttar Para, Kashipur ,")
    'House 12, Uttar Para, Kashipur'
    """
    text = " ".join(to_ascii_digits(repair_bangla(str(raw))).split())
    text = re.sub(r"\s+([,;])", r"\1", text).strip(_ADDRESS_EDGES + " ")
    return text or None


def clean_postcode(raw: object) -> str:
    """A Bangladeshi postcode: 4 digits, the first not 0 (``1207`` Dhanmondi, ``9100``
    Satkhira), Bangla digits read as ASCII; a postcode written with a place or a label around it
    (``Dhaka-1207``, ``Post Code: ১২০৭``) gives its 4 digits.

    Raises
    ------
    InvalidValue
        If the value holds no 4-digit number or several numbers, or one that starts with 0.

    Example
    -------
    >>> clean_postcode("ঢাকা-১২০৭"), clean_postcode(9100.0)
    ('1207', '9100')
    """
    if isinstance(raw, bool):
        raise InvalidValue("postcode", raw, "expected a 4-digit postcode, got a yes/no value")
    if isinstance(raw, float) and raw.is_integer():
        raw = int(raw)
    text = to_ascii_digits(str(raw)).strip()
    text = re.sub(r"^(\d+)\.0+$", r"\1", text)
    runs = _POSTCODE_RUN.findall(text)
    if len(runs) != 1:
        reason = "no number" if not runs else f"{len(runs)} numbers"
        raise InvalidValue("postcode", raw, f"a postcode is one 4-digit number; found {reason}")
    (digits,) = runs
    if len(digits) != 4:
        raise InvalidValue(
            "postcode", raw, f"a Bangladeshi postcode has 4 digits; got {len(digits)}"
        )
    if digits.startswith("0"):
        raise InvalidValue("postcode", raw, "no Bangladeshi postcode starts with 0")
    return digits
