"""Dates and ages as Bangladeshi sources write them, and what a date of birth is worth for matching.

:func:`clean_date` reads DD/MM/YYYY (also with ``-`` or ``.``), YYYY-MM-DD, YYYYMMDD, D/M/YY, month
names (``12-Mar-1980``, ``12 March 1980``, Bangla month names), Excel serial numbers and Bangla
digits, and returns ISO ``YYYY-MM-DD``. Day-first is the Bangladeshi habit: ``03/04/1980`` is 3
April. A date that can only be month-first (``04/23/1980``) is read that way.

:func:`birth_date` turns a date of birth, a birth year or an age into a :class:`BirthDate`: the year
range the person was born in, and two warnings for the comparator: ``weak`` (a defaulted date such
as 1 January, or no date at all) and ``swappable`` (day and month could have been swapped).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Final

from engine.errors import InvalidValue
from engine.normalise.bangla import repair_bangla
from engine.normalise.digits import to_ascii_digits

log = logging.getLogger(__name__)

EARLIEST: Final = date(1900, 1, 1)
#: Excel's day 0 (the 1900 leap-year bug makes 1899-12-30 the working epoch).
_EXCEL_EPOCH: Final = date(1899, 12, 30)
#: Serial numbers read as Excel dates: 1902-09-26 .. 2099-12-31. Smaller numbers are more likely
#: junk than dates, and a number that looks like a year (1900-2100) is reported as "only a year".
_EXCEL_RANGE: Final = (1000, 73050)

_MONTH_NAMES: Final = (
    "january february march april may june july august september october november december".split()
)
_MONTHS: Final[dict[str, int]] = {
    **{m[:3]: i for i, m in enumerate(_MONTH_NAMES, 1)},
    **{m: i for i, m in enumerate(_MONTH_NAMES, 1)},
    "sept": 9,
    # Bangla names of the Gregorian months as forms print them, spelling variants included; keys are
    # compared after repair_bangla, so one spelling of য় covers both code-point forms.
    "জানুয়ারি": 1,
    "জানুয়ারী": 1,
    "ফেব্রুয়ারি": 2,
    "ফেব্রুয়ারী": 2,
    "মার্চ": 3,
    "এপ্রিল": 4,
    "মে": 5,
    "জুন": 6,
    "জুলাই": 7,
    "আগস্ট": 8,
    "আগষ্ট": 8,
    "সেপ্টেম্বর": 9,
    "অক্টোবর": 10,
    "নভেম্বর": 11,
    "ডিসেম্বর": 12,
}

_MONTH_NUMBERS: Final = {repair_bangla(name): number for name, number in _MONTHS.items()}

_NUMERIC: Final = re.compile(r"^(\d{1,4})\s*[/\-.]\s*(\d{1,2})\s*[/\-.]\s*(\d{1,4})$")
_COMPACT: Final = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
_NAMED: Final = re.compile(
    r"^(\d{1,2})(?:st|nd|rd|th)?[\s/\-.,]*([A-Za-z\u0980-\u09ff]+)[\s/\-.,]*(\d{2}|\d{4})$"
)
_NAMED_US: Final = re.compile(
    r"^([A-Za-z\u0980-\u09ff]+)[\s/\-.,]*(\d{1,2})(?:st|nd|rd|th)?[\s/\-.,]+(\d{4})$"
)
_TIME_TAIL: Final = re.compile(
    r"[T\s]+\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?\s*(am|pm)?\s*(z|[+-]\d{2}:?\d{2})?$", re.IGNORECASE
)


def _words(*words: str) -> str:
    """An alternation of words as written after :func:`repair_bangla`, longest first."""
    return "|".join(re.escape(repair_bangla(w)) for w in sorted(words, key=len, reverse=True))


_YEAR_WORDS: Final = _words(
    "y", "yr", "yrs", "year", "years", "yo", "y/o", "y.o", "বছর", "বৎসর", "বছর বয়স", "বয়স", "বঃ"
)
_MONTH_WORDS: Final = _words("m", "mo", "mon", "mons", "month", "months", "মাস")
_AGE_PREFIX: Final = rf"(?:(?:{_words('age', 'বয়স')})\s*[:=\-]?\s*)?"
#: an age in years (``41``, ``41y``, ``41 yrs``, ``৪১ বছর``, ``Age: 41``, ``41 years 3 months``)
_AGE: Final = re.compile(
    rf"^{_AGE_PREFIX}(\d{{1,3}})(?!\d)(?:\.0+)?\s*(?:{_YEAR_WORDS})?\.?"
    rf"(?:\s*,?\s*\d{{1,2}}\s*(?:{_MONTH_WORDS})\.?)?$",
    re.IGNORECASE,
)
#: an age in months only (``6 months``, ``৬ মাস``): a child under a few years
_AGE_MONTHS: Final = re.compile(
    rf"^{_AGE_PREFIX}(\d{{1,3}})\s*(?:{_MONTH_WORDS})\.?$", re.IGNORECASE
)


@dataclass(frozen=True, slots=True)
class BirthDate:
    """What a record says about when a person was born.

    Attributes
    ----------
    year_lo, year_hi:
        The birth year lies in ``[year_lo, year_hi]`` (equal when a date or year is given).
    month, day:
        Known only from a full date of birth.
    weak:
        The date carries little evidence: a default such as 1 January or 31 January, or only a year
        or an age was given.
    swappable:
        Day and month are both <= 12 and differ, so a source may have swapped them.
    """

    year_lo: int
    year_hi: int
    month: int | None
    day: int | None
    weak: bool
    swappable: bool


def _two_digit_year(yy: int, today: date) -> int:
    """The latest year ending in ``yy`` not in the future (``05`` -> 2005, ``85`` -> 1985)."""
    year = 2000 + yy
    return year if year <= today.year else 1900 + yy


def _checked(year: int, month: int, day: int, raw: object, field: str, today: date) -> date:
    try:
        value = date(year, month, day)
    except ValueError:
        raise InvalidValue(
            field, raw, f"no such date: day {day}, month {month}, year {year}"
        ) from None
    if value > today:
        raise InvalidValue(field, raw, f"date {value.isoformat()} is in the future")
    if value < EARLIEST:
        raise InvalidValue(field, raw, f"date {value.isoformat()} is before 1900")
    return value


def _from_serial(serial: float, raw: object, field: str, today: date) -> date:
    if serial.is_integer() and 1900 <= serial <= 2100:
        raise InvalidValue(field, raw, "only a year, not a date; map it to birth_year")
    if not _EXCEL_RANGE[0] <= serial <= _EXCEL_RANGE[1]:
        raise InvalidValue(field, raw, "a number that is neither YYYYMMDD nor an Excel date serial")
    value = _EXCEL_EPOCH + timedelta(days=int(serial))
    return _checked(value.year, value.month, value.day, raw, field, today)


#: strptime's own patterns (Lib/_strptime.py) for day, month and four-digit year
_STRPTIME_PATTERNS: Final = {
    "d": r"(?P<d>3[0-1]|[1-2]\d|0[1-9]|[1-9]| [1-9])",
    "m": r"(?P<m>1[0-2]|0[1-9]|[1-9])",
    "Y": r"(?P<Y>\d\d\d\d)",
}
_NUMERIC_FORMAT: Final = re.compile(r"%([dmY])([/\-.])%([dmY])\2%([dmY])")


@lru_cache(maxsize=64)
def _numeric_format(fmt: str) -> re.Pattern[str] | None:
    """strptime's pattern for a format of day, month and four-digit year with one separator
    (``%d/%m/%Y``, ``%d-%m-%Y``, ``%Y-%m-%d``, ...); ``None`` for any other format."""
    found = _NUMERIC_FORMAT.fullmatch(fmt)
    if found is None or len({found[1], found[3], found[4]}) != 3:
        return None
    separator = re.escape(found[2])
    return re.compile(
        separator.join(_STRPTIME_PATTERNS[found[i]] for i in (1, 3, 4)), re.IGNORECASE
    )


def strptime_date(text: str, fmt: str) -> date:
    """``datetime.strptime(text, fmt).date()``: the same date, or ``ValueError`` for the same
    texts; a format of day, month and four-digit year (:func:`_numeric_format`) is read with
    strptime's own pattern, a tenth of strptime's time (ingest reads millions of dates).
    """
    pattern = _numeric_format(fmt)
    if pattern is None:
        return datetime.strptime(text, fmt).date()
    found = pattern.match(text)
    if found is None or found.end() != len(text):
        raise ValueError(f"time data {text!r} does not match format {fmt!r}")
    return date(int(found["Y"]), int(found["m"]), int(found["d"]))


def _parse_text(text: str, raw: object, formats: tuple[str, ...], field: str, today: date) -> date:
    for fmt in formats:
        try:
            value = strptime_date(text, fmt)
        except ValueError:
            continue
        return _checked(value.year, value.month, value.day, raw, field, today)

    text = _TIME_TAIL.sub("", text).strip()
    match = _NUMERIC.match(text)
    if match:
        a, b, c = (int(g) for g in match.groups())
        first, third = match.group(1), match.group(3)
        if len(first) == 4:  # YYYY-MM-DD (or YYYY/MM/DD)
            return _checked(a, b, c, raw, field, today)
        if len(third) not in (2, 4):
            raise InvalidValue(field, raw, "the year must have 2 or 4 digits")
        year = c if len(third) == 4 else _two_digit_year(c, today)
        if b > 12 and a <= 12:  # only month-first makes sense
            log.debug("date %r read month-first", raw)
            a, b = b, a
        return _checked(year, b, a, raw, field, today)
    match = _COMPACT.match(text)
    if match:
        y, m, d = (int(g) for g in match.groups())
        return _checked(y, m, d, raw, field, today)
    match = _NAMED.match(text)
    if match:
        day, month, year = _named_parts(
            match.group(1), match.group(2), match.group(3), raw, field, today
        )
        return _checked(year, month, day, raw, field, today)
    match = _NAMED_US.match(text)
    if match:
        day, month, year = _named_parts(
            match.group(2), match.group(1), match.group(3), raw, field, today
        )
        return _checked(year, month, day, raw, field, today)
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return _from_serial(float(text), raw, field, today)
    raise InvalidValue(
        field, raw, "not a date in a known format (DD/MM/YYYY, YYYY-MM-DD, YYYYMMDD, 12-Mar-1980)"
    )


def _named_parts(
    day: str, month: str, year: str, raw: object, field: str, today: date
) -> tuple[int, int, int]:
    number = _MONTH_NUMBERS.get(repair_bangla(month.lower()))
    if number is None:
        raise InvalidValue(field, raw, f"unknown month name {month!r}")
    y = int(year)
    return int(day), number, (y if len(year) == 4 else _two_digit_year(y, today))


@lru_cache(maxsize=1 << 16)
def _clean_date_text(text: str, formats: tuple[str, ...], field: str, today: date) -> str:
    cleaned = " ".join(to_ascii_digits(text).split())
    try:
        return _parse_text(cleaned, text, formats, field, today).isoformat()
    except InvalidValue as problem:
        years = _age_text_years(cleaned)
        if years is None:
            raise
        hint = (
            "; to read ages in this column give the date_of_birth field age_as_of, the date "
            "they were true on (docs/mapping.md)"
            if field == "date_of_birth"
            else ""
        )
        raise InvalidValue(field, text, f"an age ({years} years), not a date{hint}") from problem


def read_date_or_age(
    raw: object, formats: list[str] | tuple[str, ...] | None = None, *, field: str = "date_of_birth"
) -> str | int:
    """A date of birth column that holds dates on some rows and ages on others (a mapping's
    ``age_as_of``): an age (``58``, ``58y``, ``58 yrs``, ``58 years``, ``৫৮ বছর``, ``6 months``)
    as whole years, anything else as :func:`clean_date` reads it.

    The one rule ingest (per column) and a record cleaned on its own (``clean_record``) use.

    Returns
    -------
    str | int
        The ISO date, or the age in whole years.

    Raises
    ------
    InvalidValue
        For a value that is neither a date nor an age, or an age over 130 years.

    Example
    -------
    >>> read_date_or_age("৫৮ বছর"), read_date_or_age("14/03/1967")
    (58, '1967-03-14')
    """
    if isinstance(raw, str) and _age_text_years(raw) is not None:
        try:
            return parse_age(raw)
        except InvalidValue as problem:
            raise InvalidValue(field, raw, problem.reason) from None
    if isinstance(raw, int | float) and not isinstance(raw, bool) and 0 <= raw <= 130:
        return parse_age(raw) if float(raw).is_integer() else clean_date(raw, formats, field=field)
    return clean_date(raw, formats, field=field)


def age_from_date_column(
    age: int | None, age_as_of: str | None, column_age: int | None, column_as_of: str | None
) -> tuple[int | None, str | None]:
    """A record's age and its as-of date, given its own ``age`` / ``age_as_of`` and an age read
    from its date of birth column (:func:`read_date_or_age`) true on ``column_as_of``: the
    record's own age wins; else the date column's, with its date.

    Example
    -------
    >>> age_from_date_column(None, None, 58, "2025-06-30")
    (58, '2025-06-30')
    >>> age_from_date_column(60, "2022-06-15", 58, "2025-06-30")
    (60, '2022-06-15')
    """
    if age is None and column_age is not None:
        return column_age, column_as_of
    return age, age_as_of


def clean_date(
    raw: object, formats: list[str] | tuple[str, ...] | None = None, *, field: str = "date"
) -> str:
    """A date as ISO ``YYYY-MM-DD``.

    Parameters
    ----------
    raw:
        A string in any of the module's formats, a ``date``/``datetime`` (pandas ``Timestamp``
        included), an ``int`` YYYYMMDD or an Excel serial number.
    formats:
        ``strptime`` formats the source is known to use; tried first, then the general reader.
    field:
        The field name used in error messages.

    Raises
    ------
    InvalidValue
        For an unreadable or impossible date, a date in the future or a date before 1900.

    Example
    -------
    >>> clean_date("০৩/০৪/১৯৮০")
    '1980-04-03'
    """
    today = date.today()
    if isinstance(raw, datetime):
        return _checked(raw.year, raw.month, raw.day, raw, field, today).isoformat()
    if isinstance(raw, date):
        return _checked(raw.year, raw.month, raw.day, raw, field, today).isoformat()
    if isinstance(raw, bool):
        raise InvalidValue(field, raw, "expected a date, got a yes/no value")
    if isinstance(raw, (int, float)):
        if raw != raw:
            raise InvalidValue(field, raw, "expected a date, got NaN")
        if float(raw).is_integer() and 19000101 <= raw <= 21001231:
            text = str(int(raw))
            return _checked(
                int(text[:4]), int(text[4:6]), int(text[6:]), raw, field, today
            ).isoformat()
        return _from_serial(float(raw), raw, field, today).isoformat()
    return _clean_date_text(str(raw).strip(), tuple(formats or ()), field, today)


_ISO_DATE: Final = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def iso_date_as_given(
    formats: list[str] | tuple[str, ...] | None = None, age_as_of: object = None
) -> Callable[[str], bool] | None:
    """A test telling, for a string, that :func:`clean_date` with these ``formats`` gives it back
    unchanged: an ISO date (``YYYY-MM-DD``, ASCII digits) between 1900 and today, when the source
    gives no format or only ``%Y-%m-%d`` (another format might read the same text otherwise);
    ``None`` for other formats, or a column that may hold ages (``age_as_of``).

    Example
    -------
    >>> as_given = iso_date_as_given(["%Y-%m-%d"])
    >>> as_given("1980-04-03"), as_given("1980-02-30"), as_given("03/04/1980")
    (True, False, False)
    """
    if age_as_of or any(fmt != "%Y-%m-%d" for fmt in formats or ()):
        return None
    fullmatch = _ISO_DATE.fullmatch
    today = date.today()  # (asked once: a later date is checked against the day it is then)

    def as_given(text: str) -> bool:
        if fullmatch(text) is None:
            return False
        try:
            value = date.fromisoformat(text)
        except ValueError:
            return False
        return EARLIEST <= value and (value <= today or value <= date.today())

    return as_given


#: a format of day, month and four-digit year, each once, with one separator or none
_FIXED_FORMAT: Final = re.compile(r"%([dmY])([/\-.]?)%([dmY])\2%([dmY])")
_FIXED_PARTS: Final = {"d": "([0-9]{2})", "m": "([0-9]{2})", "Y": "([0-9]{4})"}


def fixed_width_dates(
    formats: list[str] | tuple[str, ...] | None = None, age_as_of: object = None
) -> Callable[[str], str | None] | None:
    """A quick reader of the commonest dates of a column read with ``formats``: for a text that
    is the first format written with two-digit days and months (ASCII or Bangla digits, nothing
    else), the ISO date :func:`clean_date` gives it, when the date exists and lies between 1900
    and today; ``None`` for any other text (then :func:`clean_date` reads it, or says why not).
    ``None`` instead of a reader for a first format of another shape, no format, or a column
    that may hold ages (``age_as_of``).

    strptime reads such a text the same way: its day and month patterns try two digits first,
    and a valid day and month of two digits match them.

    Example
    -------
    >>> read = fixed_width_dates(["%d/%m/%Y"])
    >>> read("03/04/1980"), read("৩১/০১/১৯৮৮"), read("3/4/1980"), read("31/02/1980")
    ('1980-04-03', '1988-01-31', None, None)
    """
    if age_as_of or not formats:
        return None
    found = _FIXED_FORMAT.fullmatch(formats[0])
    if found is None or len({found[1], found[3], found[4]}) != 3:
        return None
    order = [found[i] for i in (1, 3, 4)]
    fullmatch = re.compile(re.escape(found[2]).join(_FIXED_PARTS[p] for p in order)).fullmatch
    year, month, day = (order.index(p) + 1 for p in "Ymd")
    today = date.today()  # (asked once: a later date is checked against the day it is then)

    def read(text: str) -> str | None:
        parts = fullmatch(to_ascii_digits(text))
        if parts is None:
            return None
        try:
            value = date(int(parts[year]), int(parts[month]), int(parts[day]))
        except ValueError:
            return None
        if EARLIEST <= value and (value <= today or value <= date.today()):
            return value.isoformat()
        return None

    return read


def _as_of_date(as_of: str | date | None) -> date:
    if as_of is None:
        return date.today()
    if isinstance(as_of, date):
        return as_of
    return date.fromisoformat(clean_date(as_of, field="age_as_of"))


def birth_date(
    dob: str | None = None,
    year: int | None = None,
    age: int | None = None,
    as_of: str | None = None,
) -> BirthDate | None:
    """What a record's date of birth, birth year or age says about when the person was born.

    The most precise value given wins: a date of birth, then a birth year, then an age.

    Parameters
    ----------
    dob:
        Cleaned ISO date of birth.
    year:
        Birth year.
    age:
        Age in whole years on ``as_of`` (today when ``None``): the birth year is then
        ``[as_of.year - age - 1, as_of.year - age]``.
    as_of:
        ISO date the age was true on (e.g. the household survey date).

    Returns
    -------
    BirthDate | None
        ``None`` when none of ``dob``, ``year``, ``age`` is given.
    """
    if dob:
        value = date.fromisoformat(dob)
        weak = value.month == 1 and value.day in (1, 31)
        swappable = value.day <= 12 and value.month <= 12 and value.day != value.month
        return BirthDate(value.year, value.year, value.month, value.day, weak, swappable)
    if year is not None:
        return BirthDate(int(year), int(year), None, None, True, False)
    if age is not None:
        ref = _as_of_date(as_of).year
        return BirthDate(ref - int(age) - 1, ref - int(age), None, None, True, False)
    return None


def _age_text_years(text: str) -> int | None:
    """The whole years an age written as text says (``58y``, ``৫৮ বছর``, ``6 months``), or
    ``None`` if the text is no age; not range-checked."""
    cleaned = " ".join(repair_bangla(to_ascii_digits(text)).strip().split())
    match = _AGE.match(cleaned)
    if match:
        return int(match.group(1))
    match = _AGE_MONTHS.match(cleaned)
    if match:
        return int(match.group(1)) // 12
    return None


@lru_cache(maxsize=4096)
def _parse_age_text(text: str) -> int:
    value = _age_text_years(text)
    if value is None:
        raise InvalidValue("age", text, "not an age in years (e.g. 41, 41y, 41 yrs, ৪১ বছর)")
    if value > 130:
        raise InvalidValue("age", text, f"age {value} is more than 130 years")
    return value


def parse_age(raw: object) -> int:
    """An age in whole years from ``41``, ``"41y"``, ``"41 yrs"``, ``"৪১ বছর"``, ``41.0``.

    Raises
    ------
    InvalidValue
        For text that is not an age, a negative or fractional number, or more than 130 years.
    """
    if isinstance(raw, bool):
        raise InvalidValue("age", raw, "expected an age, got a yes/no value")
    if isinstance(raw, (int, float)):
        if raw != raw or not float(raw).is_integer():
            raise InvalidValue("age", raw, "an age must be whole years")
        if not 0 <= raw <= 130:
            raise InvalidValue("age", raw, "an age must be between 0 and 130 years")
        return int(raw)
    return _parse_age_text(str(raw))
