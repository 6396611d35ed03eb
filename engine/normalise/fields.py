"""The ingest dispatcher: one call cleans any canonical field by its kind.

``clean(kind, raw, **hints)`` returns the canonical value described in :mod:`engine.record`,
``None`` for an empty value, or raises :class:`~engine.errors.InvalidValue` naming the field and
saying why.

What counts as empty: ``None``, NaN / pandas ``NA`` / ``NaT``, blank strings and the usual "nothing"
markers (``N/A``, ``NA``, ``null``, ``none``, ``nil``, ``-``, ``--``, ``?``, ``unknown``, ``নাই``,
``নেই``, ``প্রযোজ্য নয়``, ...). ``0`` is not empty.

Control characters (NUL and the like, which broken exports pad values with) are dropped from every
value before it is read; the raw value ingest keeps beside the cleaned one still has them. Record
ids (kind ``key``) are folded as identifiers are: Bangla digits read as ASCII (``১০০১`` is
``1001``).

Text fields (kind ``text``): stripped, inner whitespace collapsed, Bangla repaired. ``upazila``,
``union`` and ``status`` are lower-cased (the record says so; it lets ``Sadar`` meet ``sadar``).
``ward`` keeps only its number when it has one (``"Ward No. ০৩"`` -> ``"3"``). ``household_id``,
``programme`` and other text keep their case; a spreadsheet float id such as ``1234.0`` becomes
``1234``.

Gender codes ``1`` / ``2`` / ``3`` are read as BBS census codes (male / female / third gender); a
source that codes differently needs a value map in its mapping.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from datetime import date
from functools import lru_cache
from typing import Any, Final

from engine.errors import InvalidValue
from engine.normalise.bangla import is_bangla, repair_bangla, repaired_quickly
from engine.normalise.dates import (
    clean_date,
    fixed_width_dates,
    iso_date_as_given,
    parse_age,
    read_date_or_age,
)
from engine.normalise.digits import to_ascii_digits
from engine.normalise.geo import clean_address, clean_postcode, district_code, division_code
from engine.normalise.identifiers import (
    account_as_given,
    clean_account,
    clean_brn,
    clean_identifiers,
    clean_nid,
    clean_phone,
    clean_provider,
    phone_quickly,
)

_MISSING: Final = frozenset(
    repair_bangla(s)
    for s in (
        "",
        "n/a",
        "na",
        "n.a.",
        "n.a",
        "#n/a",
        "null",
        "none",
        "nil",
        "nan",
        "nat",
        "-",
        "--",
        "---",
        "?",
        "unknown",
        "not available",
        "not applicable",
        "missing",
        "blank",
        "নাই",
        "নেই",
        "প্রযোজ্য নয়",
        "প্রযোজ্য নহে",
        "জানা নেই",
        "অজানা",
        "তথ্য নেই",
    )
)

#: finds a digit, ASCII or Bangla: no "nothing" marker holds one (:func:`is_missing`)
_HAS_DIGIT: Final = re.compile(r"[0-9\u09e6-\u09ef]").search

_GENDERS: Final[dict[str, str]] = {
    "m": "male",
    "male": "male",
    "man": "male",
    "boy": "male",
    "1": "male",
    "পুরুষ": "male",
    "পুং": "male",
    "ছেলে": "male",
    "পুরুষ লিঙ্গ": "male",
    "f": "female",
    "female": "female",
    "woman": "female",
    "girl": "female",
    "2": "female",
    "মহিলা": "female",
    "নারী": "female",
    "স্ত্রী": "female",
    "মেয়ে": "female",
    "স্ত্রী লিঙ্গ": "female",
    "t": "third",
    "third": "third",
    "third gender": "third",
    "hijra": "third",
    "hijara": "third",
    "transgender": "third",
    "other": "third",
    "3": "third",
    "h": "third",
    "তৃতীয় লিঙ্গ": "third",
    "হিজড়া": "third",
    "তৃতীয়": "third",
}

RELATIONS: Final = (
    "head",
    "spouse",
    "son",
    "daughter",
    "father",
    "mother",
    "brother",
    "sister",
    "grandson",
    "granddaughter",
    "grandfather",
    "grandmother",
    "son_in_law",
    "daughter_in_law",
    "father_in_law",
    "mother_in_law",
    "brother_in_law",
    "sister_in_law",
    "nephew",
    "niece",
    "uncle",
    "aunt",
    "other_relative",
    "non_relative",
    # where neither the word nor the record's gender says which (see GENDERED_RELATIONS)
    "child",
    "parent",
    "sibling",
    "grandchild",
    "grandparent",
    "child_in_law",
    "parent_in_law",
    "sibling_in_law",
)

#: gender-free relation -> (its male form, its female form): a ``child`` whose record says
#: ``male`` is a ``son``. A record of unknown (or third) gender keeps the gender-free relation.
GENDERED_RELATIONS: Final[dict[str, tuple[str, str]]] = {
    "child": ("son", "daughter"),
    "parent": ("father", "mother"),
    "sibling": ("brother", "sister"),
    "grandchild": ("grandson", "granddaughter"),
    "grandparent": ("grandfather", "grandmother"),
    "child_in_law": ("son_in_law", "daughter_in_law"),
    "parent_in_law": ("father_in_law", "mother_in_law"),
    "sibling_in_law": ("brother_in_law", "sister_in_law"),
}
#: a gendered relation -> its gender-free form (``son`` -> ``child``).
GENDER_FREE_RELATION: Final[dict[str, str]] = {
    gendered: free for free, pair in GENDERED_RELATIONS.items() for gendered in pair
}

_RELATIONS: Final[dict[str, str]] = {
    # the head
    "head": "head",
    "hh head": "head",
    "hoh": "head",
    "household head": "head",
    "head of household": "head",
    "head of the household": "head",
    "head of family": "head",
    "family head": "head",
    "self": "head",
    "খানা প্রধান": "head",
    "খানাপ্রধান": "head",
    "খানার প্রধান": "head",
    "প্রধান": "head",
    "নিজ": "head",
    "নিজে": "head",
    "নিজেই": "head",
    "পরিবার প্রধান": "head",
    "পরিবারপ্রধান": "head",
    "গৃহকর্তা": "head",
    "গৃহকর্ত্রী": "head",
    # spouse
    "spouse": "spouse",
    "wife": "spouse",
    "husband": "spouse",
    "husband/wife": "spouse",
    "wife/husband": "spouse",
    "partner": "spouse",
    "স্ত্রী": "spouse",
    "স্বামী": "spouse",
    "স্বামী/স্ত্রী": "spouse",
    "স্ত্রী/স্বামী": "spouse",
    "বউ": "spouse",
    "বৌ": "spouse",
    "গৃহিণী": "spouse",
    # children
    "child": "child",
    "children": "child",
    "kid": "child",
    "son/daughter": "child",
    "daughter/son": "child",
    "son or daughter": "child",
    "adopted child": "child",
    "সন্তান": "child",
    "ছেলে/মেয়ে": "child",
    "ছেলেমেয়ে": "child",
    "পুত্র/কন্যা": "child",
    "son": "son",
    "adopted son": "son",
    "ছেলে": "son",
    "পুত্র": "son",
    "daughter": "daughter",
    "adopted daughter": "daughter",
    "মেয়ে": "daughter",
    "কন্যা": "daughter",
    # parents
    "parent": "parent",
    "parents": "parent",
    "father/mother": "parent",
    "mother/father": "parent",
    "বাবা/মা": "parent",
    "পিতা/মাতা": "parent",
    "পিতামাতা": "parent",
    "father": "father",
    "বাবা": "father",
    "পিতা": "father",
    "আব্বা": "father",
    "mother": "mother",
    "মা": "mother",
    "মাতা": "mother",
    "আম্মা": "mother",
    # siblings
    "sibling": "sibling",
    "siblings": "sibling",
    "brother/sister": "sibling",
    "sister/brother": "sibling",
    "ভাই/বোন": "sibling",
    "ভাইবোন": "sibling",
    "brother": "brother",
    "ভাই": "brother",
    "sister": "sister",
    "বোন": "sister",
    # grandchildren and grandparents
    "grandchild": "grandchild",
    "grand child": "grandchild",
    "grandchildren": "grandchild",
    "grandson/granddaughter": "grandchild",
    "নাতি/নাতনি": "grandchild",
    "নাতি/নাতনী": "grandchild",
    "নাতিনাতনি": "grandchild",
    "grandson": "grandson",
    "grand son": "grandson",
    "নাতি": "grandson",
    "granddaughter": "granddaughter",
    "grand daughter": "granddaughter",
    "নাতনি": "granddaughter",
    "নাতনী": "granddaughter",
    "grandparent": "grandparent",
    "grand parent": "grandparent",
    "grandparents": "grandparent",
    "grandfather/grandmother": "grandparent",
    "দাদা/দাদি": "grandparent",
    "নানা/নানি": "grandparent",
    "grandfather": "grandfather",
    "grand father": "grandfather",
    "দাদা": "grandfather",
    "নানা": "grandfather",
    "grandmother": "grandmother",
    "grand mother": "grandmother",
    "দাদি": "grandmother",
    "দাদী": "grandmother",
    "নানি": "grandmother",
    "নানী": "grandmother",
    # in-laws
    "child in law": "child_in_law",
    "son/daughter in law": "child_in_law",
    "son in law/daughter in law": "child_in_law",
    "son in law": "son_in_law",
    "জামাই": "son_in_law",
    "জামাতা": "son_in_law",
    "daughter in law": "daughter_in_law",
    "পুত্রবধূ": "daughter_in_law",
    "পুত্রবধু": "daughter_in_law",
    "ছেলের বউ": "daughter_in_law",
    "ছেলের বৌ": "daughter_in_law",
    "বউমা": "daughter_in_law",
    "বৌমা": "daughter_in_law",
    "parent in law": "parent_in_law",
    "father/mother in law": "parent_in_law",
    "father in law/mother in law": "parent_in_law",
    "শ্বশুর/শাশুড়ি": "parent_in_law",
    "father in law": "father_in_law",
    "শ্বশুর": "father_in_law",
    "mother in law": "mother_in_law",
    "শাশুড়ি": "mother_in_law",
    "শাশুড়ী": "mother_in_law",
    "sibling in law": "sibling_in_law",
    "brother/sister in law": "sibling_in_law",
    "brother in law": "brother_in_law",
    "দেবর": "brother_in_law",
    "ভাসুর": "brother_in_law",
    "শ্যালক": "brother_in_law",
    "শালা": "brother_in_law",
    "দুলাভাই": "brother_in_law",
    "ভগ্নিপতি": "brother_in_law",
    "sister in law": "sister_in_law",
    "ননদ": "sister_in_law",
    "শ্যালিকা": "sister_in_law",
    "শালী": "sister_in_law",
    "ভাবি": "sister_in_law",
    "ভাবী": "sister_in_law",
    "জা": "sister_in_law",
    "in law": "other_relative",
    # nephews, nieces, uncles, aunts
    "nephew": "nephew",
    "ভাতিজা": "nephew",
    "ভাগ্নে": "nephew",
    "ভাগিনা": "nephew",
    "niece": "niece",
    "ভাতিজি": "niece",
    "ভাগ্নি": "niece",
    "ভাগ্নী": "niece",
    "uncle": "uncle",
    "চাচা": "uncle",
    "মামা": "uncle",
    "কাকা": "uncle",
    "খালু": "uncle",
    "ফুপা": "uncle",
    "aunt": "aunt",
    "চাচি": "aunt",
    "চাচী": "aunt",
    "মামি": "aunt",
    "খালা": "aunt",
    "ফুফু": "aunt",
    "ফুপু": "aunt",
    "কাকি": "aunt",
    # others
    "other relative": "other_relative",
    "other": "other_relative",
    "relative": "other_relative",
    "cousin": "other_relative",
    "অন্যান্য আত্মীয়": "other_relative",
    "আত্মীয়": "other_relative",
    "অন্যান্য": "other_relative",
    "non relative": "non_relative",
    "not related": "non_relative",
    "unrelated": "non_relative",
    "servant": "non_relative",
    "domestic worker": "non_relative",
    "অনাত্মীয়": "non_relative",
    "কাজের লোক": "non_relative",
}

_KINDS: Final[dict[str, str]] = {
    "programme": "programme",
    "program": "programme",
    "mis": "programme",
    "survey": "survey",
    "nhd": "survey",
    "census": "survey",
    "reference": "reference",
    "registry": "reference",
    "register": "reference",
    "ref": "reference",
}

#: fields whose text is compared case-insensitively, so stored lower-cased
LOWER_CASE_TEXT: Final = frozenset({"upazila", "union", "status"})

_NUMBER_NOISE: Final = re.compile(r"(?i)(৳|tk\.?|taka|bdt|টাকা|/-|,|\s)")
_WARD: Final = re.compile(r"\d+")
_FLOAT_ID: Final = re.compile(r"^(\d+)\.0+$")


def _table(table: dict[str, str]) -> dict[str, str]:
    return {repair_bangla(k): v for k, v in table.items()}


_GENDER_TABLE: Final = _table(_GENDERS)
_RELATION_TABLE: Final = _table(_RELATIONS)


def is_missing(raw: object) -> bool:
    """Whether a raw value means "no value": None, NaN/NA/NaT, blank or a marker such as ``N/A``."""
    if raw is None:
        return True
    if isinstance(raw, float):
        return math.isnan(raw)
    if type(raw).__name__ in ("NAType", "NaTType"):
        return True
    if isinstance(raw, str):
        # no marker holds a digit, and the lookup key keeps every digit: a value with one (a
        # date, a phone, an id: most of what ingest reads) is something, without the key
        return _HAS_DIGIT(raw) is None and _lookup_key(raw) in _MISSING
    return False


@lru_cache(maxsize=1 << 14)
def _lookup_key(text: str) -> str:
    """A short categorical value as a table key: repaired, lower case, single spaces, no trailing
    dot; underscores and dashes read as spaces."""
    text = repair_bangla(text).strip().lower().replace("_", " ").replace("-", " ")
    return " ".join(text.split()).rstrip(".")


def _collapse(text: str) -> str:
    return " ".join(repair_bangla(text).split())


#: control characters (NUL and the like, which broken exports pad values with); tabs and line
#: breaks are not among them: they are whitespace, collapsed where whitespace is.
_CONTROL: Final = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x9f]")


def strip_controls(text: str) -> str:
    """``text`` without control characters such as NUL (tabs and line breaks are kept).

    Example
    -------
    >>> strip_controls("Abdul Karim\x00\x00")
    'Abdul Karim'
    """
    return _CONTROL.sub("", text)


def clean_key(raw: object) -> str:
    """A record id, or one part of a composite one: stripped, control characters removed and
    Bangla digits read as ASCII, as identifiers are, so ``১০০১`` and ``1001`` are one record.

    Example
    -------
    >>> clean_key(" H-০১২ ")
    'H-012'
    """
    return to_ascii_digits(strip_controls(str(raw))).strip()


def _as_text(raw: object) -> str:
    if isinstance(raw, float) and raw.is_integer():
        return str(int(raw))
    text = str(raw).strip()
    match = _FLOAT_ID.match(text)
    return match.group(1) if match else text


def clean_gender(raw: object) -> str:
    """``male`` | ``female`` | ``third`` from English, Bangla, one-letter or BBS 1/2/3 codes."""
    key = _lookup_key(_as_text(raw))
    try:
        return _GENDER_TABLE[key]
    except KeyError:
        raise InvalidValue(
            "gender", raw, "not a gender (male/female/third, M/F, পুরুষ/মহিলা/তৃতীয় লিঙ্গ)"
        ) from None


def clean_relation(raw: object) -> str:
    """The relation to the household head in ekjon's words (see :data:`RELATIONS`), from English
    or Bangla words (``child``, ``wife``, ``ছেলে``, ``স্বামী``, ``খানা প্রধান``, ...).

    A gender-free word (``child``, ``parent``, ``সন্তান``) gives a gender-free relation; ingest
    then splits it by the record's gender (:func:`relation_for_gender`).
    """
    key = _lookup_key(str(raw))
    key = key.replace("'s", "s").removesuffix(" of head").removesuffix(" of the head")
    key = re.sub(r"\s*/\s*", "/", key)
    if key in _RELATION_TABLE:
        return _RELATION_TABLE[key]
    if key.replace(" ", "_") in RELATIONS:
        return key.replace(" ", "_")
    raise InvalidValue(
        "relation_to_head",
        raw,
        "not a known relation to the head (e.g. head, spouse, child, son, daughter, parent, "
        "sibling, grandchild, in-laws, other relative; খানা প্রধান, স্ত্রী, ছেলে, মেয়ে, বাবা, মা)",
    )


def relation_for_gender(relation: str | None, gender: str | None) -> str | None:
    """A record's relation to the head with its gender applied: a gender-free relation
    (``child``, ``parent``, ``sibling``, ``grandchild``, ``grandparent``, the in-laws) becomes
    the male or female one when the record is ``male`` or ``female``; anything else is kept as
    the record gives it (a ``son`` recorded as female stays a ``son``: ekjon does not correct its
    sources).

    The one rule ingest (per column) and a record cleaned on its own (``clean_record``) use.

    Example
    -------
    >>> relation_for_gender("child", "female"), relation_for_gender("parent", None)
    ('daughter', 'parent')
    """
    pair = GENDERED_RELATIONS.get(relation or "")
    if pair is None or gender not in ("male", "female"):
        return relation
    return pair[0] if gender == "male" else pair[1]


def clean_kind(raw: object) -> str:
    """``programme`` | ``survey`` | ``reference``."""
    try:
        return _KINDS[_lookup_key(str(raw))]
    except KeyError:
        raise InvalidValue("kind", raw, "must be programme, survey or reference") from None


def clean_number(raw: object) -> float:
    """A float from numbers written with Bangla digits, thousands commas or a taka sign."""
    if isinstance(raw, bool):
        raise InvalidValue("number", raw, "expected a number, got a yes/no value")
    if isinstance(raw, (int, float)):
        return float(raw)
    text = _NUMBER_NOISE.sub("", to_ascii_digits(str(raw)))
    try:
        value = float(text)
    except ValueError:
        raise InvalidValue("number", raw, "not a number") from None
    if not math.isfinite(value):
        raise InvalidValue("number", raw, "not a finite number")
    return value


def clean_year(raw: object) -> int:
    """A 4-digit year between 1900 and this year (a full date gives its year)."""
    if isinstance(raw, bool):
        raise InvalidValue("birth_year", raw, "expected a year, got a yes/no value")
    text = to_ascii_digits(_as_text(raw)).strip()
    if not (text.isdigit() and len(text) == 4):
        if len(text) > 4:
            return int(clean_date(text, field="birth_year")[:4])
        raise InvalidValue("birth_year", raw, "a year must have 4 digits")
    year = int(text)
    if not 1900 <= year <= date.today().year:
        raise InvalidValue("birth_year", raw, f"year {year} is not between 1900 and this year")
    return year


def clean_text(raw: object, field: str | None = None) -> str | None:
    """Free text: stripped, whitespace collapsed, Bangla repaired; lower-cased or reduced to a
    number for the fields that want it (see the module docstring)."""
    text = _collapse(_as_text(raw))
    if field in LOWER_CASE_TEXT:
        text = text.lower()
    elif field == "ward":
        numbers = _WARD.findall(to_ascii_digits(text))
        if len(numbers) == 1:
            text = str(int(numbers[0]))
    return text or None


def clean_name(raw: object, script: str | None = None, field: str = "name") -> str | None:
    """A name as given, Unicode-repaired and with whitespace collapsed (matching derives its own
    keys).

    ``script="bn"`` checks the name is written in Bangla (for ``full_name_bn``).
    """
    text = _collapse(str(raw))
    if not text:
        return None
    if script in ("bn", "bangla", "bengali") and not is_bangla(text):
        raise InvalidValue(field, raw, "expected a name in Bangla script")
    return text


def _clean_geo(raw: object, field: str | None) -> str:
    if field == "division":
        return division_code(_as_text(raw))
    return district_code(_as_text(raw))


_CLEANERS: Final[dict[str, Callable[..., Any]]] = {
    "key": lambda raw, **h: clean_key(_as_text(raw)),
    "kind": lambda raw, **h: clean_kind(raw),
    "text": lambda raw, **h: clean_text(raw, h.get("field")),
    "name": lambda raw, **h: clean_name(raw, h.get("script"), h.get("field") or "name"),
    "gender": lambda raw, **h: clean_gender(raw),
    "date": lambda raw, **h: (
        read_date_or_age(raw, h.get("formats"), field=h.get("field") or "date")
        if h.get("age_as_of")
        else clean_date(raw, h.get("formats"), field=h.get("field") or "date")
    ),
    "year": lambda raw, **h: clean_year(raw),
    "age": lambda raw, **h: parse_age(raw),
    "nid": lambda raw, **h: clean_nid(raw),
    "brn": lambda raw, **h: clean_brn(raw),
    "phone": lambda raw, **h: clean_phone(raw),
    "provider": lambda raw, **h: clean_provider(str(raw)),
    "account": lambda raw, **h: clean_account(raw, _provider_hint(h.get("provider"))),
    "relation": lambda raw, **h: clean_relation(raw),
    "geo": lambda raw, **h: _clean_geo(raw, h.get("field")),
    "address": lambda raw, **h: clean_address(_as_text(raw)),
    "postcode": lambda raw, **h: clean_postcode(raw),
    "identifiers": lambda raw, **h: clean_identifiers(raw),
    "number": lambda raw, **h: clean_number(raw),
}


def _provider_hint(provider: object) -> str | None:
    if provider is None or is_missing(provider):
        return None
    return str(provider)


def clean(kind: str, raw: object, **hints: Any) -> object:
    """Clean one raw value of a canonical field.

    Parameters
    ----------
    kind:
        The field's kind, a value of :data:`engine.record.FIELD_KINDS`.
    raw:
        The value as the source gave it.
    **hints:
        ``field`` (canonical field name: used in messages and to choose e.g. division vs district),
        ``formats`` (``strptime`` formats for dates), ``provider`` (for accounts), ``script``
        (``"bn"`` for Bangla-only name fields), ``age_as_of`` (a date field that may hold ages
        true on that date: an age comes back as an ``int``,
        :func:`~engine.normalise.dates.read_date_or_age`).

    Returns
    -------
    object
        The canonical value, or ``None`` when the value is empty.

    Raises
    ------
    InvalidValue
        With ``field`` = ``hints["field"]`` (or the kind) when the value cannot be read.
    ValueError
        For an unknown kind (a programming error, not bad data).

    Example
    -------
    >>> clean("phone", "+88 ০১৭১১-২৩৪৫৬৭")
    '01711234567'
    >>> clean("geo", "Chittagong", field="district")
    'BD2015'
    """
    try:
        cleaner = _CLEANERS[kind]
    except KeyError:
        raise ValueError(
            f"unknown field kind {kind!r}; expected one of {', '.join(_CLEANERS)}"
        ) from None
    if isinstance(raw, str) and _CONTROL.search(raw):
        raw = strip_controls(raw)
    if is_missing(raw):
        return None
    try:
        return cleaner(raw, **hints)
    except InvalidValue as err:
        field = hints.get("field") or kind
        if err.field == field and err.value is raw:
            raise
        raise InvalidValue(field, raw, err.reason) from None


#: values that :func:`clean` gives back unchanged, by kind: ASCII digits of a valid length
#: (identifiers), an ASCII code holding a digit (keys and code-like text: no "nothing" marker
#: holds a digit). Ingest cleans millions of such values; it keeps them without the call.
_AS_GIVEN: Final[dict[str, re.Pattern[str]]] = {
    "nid": re.compile(r"[0-9]{10}|[0-9]{13}|[0-9]{17}"),
    "brn": re.compile(r"[0-9]{16,17}"),
    "phone": re.compile(r"01[3-9][0-9]{8}"),
    "key": re.compile(r"[A-Za-z0-9_-]*[0-9][A-Za-z0-9_-]*"),
    "text": re.compile(r"[A-Za-z0-9_-]*[0-9][A-Za-z0-9_-]*"),
}
#: spaces, dashes and underscores, which a look-up key (:func:`_lookup_key`) may drop or merge
_NOT_COUNTED: Final = str.maketrans("", "", " -_")


def _counted(text: str) -> int:
    """How many characters of ``text`` its look-up key keeps at least: all but spaces, dashes,
    underscores and trailing dots."""
    return len(text.translate(_NOT_COUNTED).rstrip("."))


#: the most characters a "nothing" marker written in ASCII counts (``not applicable``: 13)
_LONGEST_ASCII_MISSING: Final = max(_counted(m) for m in _MISSING if m.isascii())


def clean_as_given(kind: str, **hints: Any) -> Callable[[str], bool] | None:
    """A test telling, for a raw string, that :func:`clean` with these ``hints`` gives it back
    unchanged (``None`` when the kind has no such test): what a clean value looks like, so
    that a column of clean values is kept without cleaning each one.

    Names (not those checked for Bangla script) are clean as given when they are printable
    ASCII with single spaces between words and are no "nothing" marker such as ``N/A``.

    Example
    -------
    >>> as_given = clean_as_given("phone")
    >>> as_given("01711234567"), as_given("+8801711234567")
    (True, False)
    """
    field = hints.get("field")
    if kind == "account":
        return account_as_given(_provider_hint(hints.get("provider")))
    if kind == "date":
        return iso_date_as_given(hints.get("formats"), hints.get("age_as_of"))
    if kind == "name" and hints.get("script") not in ("bn", "bangla", "bengali"):
        return _name_as_given
    if kind == "text" and (field in LOWER_CASE_TEXT or field == "ward"):
        return None
    pattern = _AS_GIVEN.get(kind)
    if pattern is None:
        return None
    fullmatch = pattern.fullmatch
    return lambda text: fullmatch(text) is not None


def quick_cleaner(kind: str, **hints: Any) -> Callable[[str], Any] | None:
    """A quick reader of a kind's commonest raw strings that are not clean as given
    (:func:`clean_as_given`): for such a string, what :func:`clean` with these ``hints`` gives;
    ``None`` for a string it leaves to :func:`clean`. ``None`` instead of a reader for a kind
    without one. Dates of a column read with a format of two-digit day and month and four-digit
    year (``%d/%m/%Y``, ``%Y%m%d``, ...: :func:`~engine.normalise.dates.fixed_width_dates`);
    mobile numbers written with +880 in front or a dash
    (:func:`~engine.normalise.identifiers.phone_quickly`); names in Bangla words that need no
    repair but joining a split nukta letter (:func:`bangla_name_quickly`); upazilas, unions and
    statuses in plain ASCII (:func:`lower_case_text_quickly`).

    Example
    -------
    >>> read = quick_cleaner("date", formats=["%d-%m-%Y"], field="since")
    >>> read("13-12-1976"), read("13-12-76")
    ('1976-12-13', None)
    """
    if kind == "date":
        return fixed_width_dates(hints.get("formats"), hints.get("age_as_of"))
    if kind == "phone":
        return phone_quickly
    if kind == "name":
        return bangla_name_quickly
    if kind == "text" and hints.get("field") in LOWER_CASE_TEXT:
        return lower_case_text_quickly
    return None


def lower_case_text_quickly(text: str) -> str | None:
    """What :func:`clean` gives for a text of a lower-cased field (:data:`LOWER_CASE_TEXT`:
    upazila, union, status) that is printable ASCII with single spaces between words: the text
    in lower case, unless it is a "nothing" marker or a number written with ``.0``; ``None``
    for any other text (left to :func:`clean`).

    Such a text holds no control character, nothing Bangla to repair and no whitespace to
    collapse, so :func:`clean_text` only lower-cases it.

    Example
    -------
    >>> lower_case_text_quickly("Purba Gobindatala"), lower_case_text_quickly("N/A")
    ('purba gobindatala', None)
    """
    if (
        text.isascii()
        and text.isprintable()
        and text == " ".join(text.split())
        and text
        and _FLOAT_ID.match(text) is None
        and not is_missing(text)
    ):
        return text.lower()
    return None


def bangla_name_quickly(text: str) -> str | None:
    """What :func:`clean` gives for a name of Bangla words (letters and signs, one space
    between words) that needs no repair but joining a split nukta letter
    (:func:`~engine.normalise.bangla.repaired_quickly`), with or without ``script="bn"``: the
    repaired text, unless it is a "nothing" marker; ``None`` for any other text.

    Such a name holds no digit, control character, dash, underscore, dot, capital or extra
    space, so its lookup key (:func:`is_missing`) is its repair, and so is the name
    :func:`clean_name` makes of it, Bangla as ``script="bn"`` asks.

    Example
    -------
    >>> bangla_name_quickly("রহিমা খানম"), bangla_name_quickly("নাই"), bangla_name_quickly("Rahima")
    ('রহিমা খানম', None, None)
    """
    repaired = repaired_quickly(text)
    return None if repaired is None or repaired in _MISSING else repaired


def _name_as_given(text: str) -> bool:
    return (
        text.isascii()
        and text.isprintable()
        and text == " ".join(text.split())
        # a longer text is no marker, counted as its look-up key would count it: 'not
        # applicable......' and 'not - applicable' are markers too
        and (_counted(text) > _LONGEST_ASCII_MISSING or _lookup_key(text) not in _MISSING)
    )
