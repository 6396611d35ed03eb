"""Dates of birth and ages: formats, Bangla digits, defaulted dates, swapped day and month, age-only
records."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from engine.errors import InvalidValue
from engine.normalise import BirthDate, birth_date, clean_date, dates, parse_age
from engine.normalise.dates import (
    age_from_date_column,
    fixed_width_dates,
    iso_date_as_given,
    read_date_or_age,
    strptime_date,
)


@pytest.mark.parametrize(
    "raw",
    [
        "03/04/1980",
        "3/4/1980",
        "03-04-1980",
        "03.04.1980",
        "1980-04-03",
        "1980/04/03",
        "19800403",
        "3/4/80",
        "০৩/০৪/১৯৮০",
        "১৯৮০-০৪-০৩",
        "3-Apr-1980",
        "3 April 1980",
        "April 3, 1980",
        "৩ এপ্রিল ১৯৮০",
        "1980-04-03 00:00:00",
        "1980-04-03T00:00:00",
        "03/04/1980 12:00 AM",
        date(1980, 4, 3),
        datetime(1980, 4, 3, 10, 30),
        19800403,
        29314,  # Excel serial
        "29314",
    ],
)
def test_one_date_in_every_written_form(raw: object) -> None:
    assert clean_date(raw) == "1980-04-03"


def test_day_comes_first_unless_only_month_first_makes_sense() -> None:
    assert clean_date("05/06/1990") == "1990-06-05"
    assert clean_date("06/25/1990") == "1990-06-25"


def test_two_digit_years_take_the_latest_century_not_in_the_future() -> None:
    assert clean_date("1/2/85") == "1985-02-01"
    assert clean_date("1/2/05") == "2005-02-01"
    this_year = date.today().year % 100
    assert clean_date(f"1/1/{this_year + 1:02d}").startswith("19")


def test_a_source_format_is_tried_first() -> None:
    assert clean_date("04/03/1980", formats=["%m/%d/%Y"]) == "1980-04-03"
    assert (
        clean_date("1980-04-03", formats=["%m/%d/%Y"]) == "1980-04-03"
    )  # falls back to the general reader


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("31/02/1980", "no such date"),
        ("2999-01-01", "in the future"),
        ("1899-12-31", "before 1900"),
        ("31/31/1980", "no such date"),
        ("yesterday", "not a date"),
        ("1980", "only a year"),
        ("12 Foo 1980", "unknown month"),
    ],
)
def test_impossible_dates_are_rejected_with_a_reason(raw: str, reason: str) -> None:
    with pytest.raises(InvalidValue) as caught:
        clean_date(raw, field="date_of_birth")
    assert caught.value.field == "date_of_birth"
    assert reason in caught.value.reason


@pytest.mark.parametrize(
    ("raw", "age"),
    [
        ("41", 41),
        ("41y", 41),
        ("41Y", 41),
        ("41 yrs", 41),
        ("41 years", 41),
        ("৪১ বছর", 41),
        ("৪১", 41),
        (41, 41),
        (41.0, 41),
        ("41.0", 41),
        ("41 years 3 months", 41),
        ("0", 0),
    ],
)
def test_ages_as_written(raw: object, age: int) -> None:
    assert parse_age(raw) == age


@pytest.mark.parametrize("raw", ["abc", "-3", "200", 41.5, "41-45"])
def test_bad_ages_are_rejected(raw: object) -> None:
    with pytest.raises(InvalidValue):
        parse_age(raw)


def test_first_of_january_and_thirty_first_of_january_are_weak() -> None:
    assert birth_date("1960-01-01") == BirthDate(1960, 1960, 1, 1, weak=True, swappable=False)
    assert birth_date("1960-01-31").weak
    assert not birth_date("1960-03-14").weak


def test_day_and_month_that_could_be_swapped_are_flagged() -> None:
    assert birth_date("1960-04-03").swappable
    assert not birth_date("1960-04-04").swappable  # swapping changes nothing
    assert not birth_date("1960-04-13").swappable  # 13 cannot be a month


def test_year_only_and_age_only_records_give_a_year_range() -> None:
    assert birth_date(year=1960) == BirthDate(1960, 1960, None, None, weak=True, swappable=False)
    assert birth_date(age=41, as_of="2011-06-01") == BirthDate(
        1969, 1970, None, None, weak=True, swappable=False
    )
    assert birth_date(dob="1970-05-20", age=41, as_of="2011-06-01").day == 20  # the date wins
    assert birth_date() is None


@pytest.mark.parametrize(
    ("raw", "age"),
    [
        ("ব\u09dfস ৫৮ বছর", 58),  # য় as one code point, as repaired text has it
        ("ব\u09af\u09bcস ৫৮ বছর", 58),  # য + nukta
        ("Age: 58", 58),
        ("58yo", 58),
        ("58 yrs.", 58),
        ("6 months", 0),
        ("৩০ মাস", 2),
    ],
)
def test_more_ways_of_writing_an_age(raw: str, age: int) -> None:
    assert parse_age(raw) == age


@pytest.mark.parametrize(
    ("raw", "read"),
    [
        ("58y", 58),
        ("58 yrs", 58),
        ("58 years", 58),
        ("৫৮ বছর", 58),
        ("58", 58),
        ("৫৮", 58),
        (58, 58),
        ("0", 0),
        ("14/03/1967", "1967-03-14"),
        ("1967-03-14", "1967-03-14"),
        ("19670314", "1967-03-14"),
        (19670314, "1967-03-14"),
    ],
)
def test_a_date_of_birth_column_holding_dates_and_ages(raw: object, read: object) -> None:
    assert read_date_or_age(raw, ["%d/%m/%Y"]) == read


@pytest.mark.parametrize(
    ("raw", "reason"),
    [("140 years", "more than 130"), ("yesterday", "not a date"), ("1967", "only a year")],
)
def test_neither_a_date_nor_an_age(raw: str, reason: str) -> None:
    with pytest.raises(InvalidValue) as caught:
        read_date_or_age(raw)
    assert caught.value.field == "date_of_birth" and reason in caught.value.reason


def test_an_age_where_a_date_belongs_says_how_to_read_ages() -> None:
    with pytest.raises(InvalidValue) as caught:
        clean_date("58y", field="date_of_birth")
    assert "an age (58 years), not a date" in caught.value.reason
    assert "age_as_of" in caught.value.reason
    with pytest.raises(InvalidValue, match="an age"):
        clean_date("৫৮", field="since")


def test_the_record_s_own_age_wins_over_one_from_its_date_column() -> None:
    assert age_from_date_column(None, None, 58, "2025-06-30") == (58, "2025-06-30")
    assert age_from_date_column(60, "2022-06-15", 58, "2025-06-30") == (60, "2022-06-15")
    assert age_from_date_column(None, "2022-06-15", None, "2025-06-30") == (None, "2022-06-15")


DAY_MONTH_YEAR_FORMATS = ["%d/%m/%Y", "%d-%m-%Y", "%Y-%m-%d", "%d.%m.%Y", "%m/%d/%Y", "%d %b %Y"]
DATE_TEXTS = [
    "13-12-1976",
    "13/12/1976",
    "1976-12-13",
    "3/4/1980",
    "03/04/1980",
    "1/ 5/1980",
    " 5/01/1980",
    "31/02/1980",
    "29/02/1980",
    "29/02/1981",
    "00/00/0000",
    "12/13/1980",
    "13/13/1980",
    "3/4/80",
    "03/04/19801",
    "03/04/1980 ",
    "03-04/1980",
    "০৩/০৪/১৯৮০",
    "12 Mar 1980",
    "1980/12/13",
    "",
    "x",
]


@pytest.mark.parametrize("fmt", DAY_MONTH_YEAR_FORMATS)
def test_a_source_format_reads_as_strptime_reads_it(fmt: str) -> None:
    """The same date, or no date, for every text (ingest reads these formats without strptime)."""
    for text in DATE_TEXTS:
        try:
            expected: object = datetime.strptime(text, fmt).date()
        except ValueError:
            expected = ValueError
        try:
            got: object = strptime_date(text, fmt)
        except ValueError:
            got = ValueError
        assert got == expected, (text, fmt)


def test_iso_dates_are_kept_as_given_only_where_no_other_format_could_read_them() -> None:
    """A column read with %Y-%m-%d (or no format) keeps its valid ISO dates as they are; one with
    another format, or one that may hold ages, cleans each value."""
    for formats in (None, ["%Y-%m-%d"]):
        as_given = iso_date_as_given(formats)
        assert as_given is not None
        assert as_given("1980-04-03") and clean_date("1980-04-03", formats) == "1980-04-03"
        assert not as_given("1980-02-30") and not as_given("1899-12-31")
        assert not as_given("2999-01-01") and not as_given("1980-4-3")
    assert iso_date_as_given(["%Y-%d-%m"]) is None
    assert iso_date_as_given(["%Y-%m-%d"], age_as_of="2025-06-30") is None


FIXED_WIDTH_TEXTS = [
    *DATE_TEXTS,
    "31/01/1988",
    "৩১/০১/১৯৮৮",
    "৩১/01/১৯৮৮",
    "29/02/1984",
    "31/04/1980",
    "01/01/1899",
    "01/01/2999",
    "19880131",
    "১৯৮৮০১৩১",
    "19881301",
    "13-12-1976",
    " 13-12-1976",
    "13-12-1976\t",
    "13-12-76",
    "1988-01-31",
    "01/31/1988",
]


@pytest.mark.parametrize(
    "formats",
    [["%d/%m/%Y"], ["%d-%m-%Y"], ["%Y%m%d"], ["%Y-%m-%d"], ["%m/%d/%Y"], ["%d/%m/%Y", "%Y-%m-%d"]],
)
def test_a_fixed_width_date_is_read_as_cleaning_reads_it(formats: list[str]) -> None:
    """Ingest reads a column's dates of two-digit day and month quickly: the same ISO date as
    clean_date for every text it reads, and the others (one-digit days, spaces, invalid or
    future dates) left to clean_date."""
    read = fixed_width_dates(formats)
    assert read is not None
    answered = 0
    written = [day.strftime(formats[0]) for day in (date(1988, 1, 31), date(1984, 2, 29))]
    bangla = [text.translate(str.maketrans("0123456789", "০১২৩৪৫৬৭৮৯")) for text in written]
    for text in [*FIXED_WIDTH_TEXTS, *written, *bangla]:
        quick = read(text)
        try:
            expected: str | None = clean_date(text, formats, field="date_of_birth")
        except InvalidValue:
            expected = None
        if quick is not None:
            answered += 1
            assert quick == expected, (text, formats)
    assert answered >= 4
    for text in ("31/04/1980", "01/01/2999", "01/01/1899", "3/4/1980", " 03/04/1980"):
        assert read(text) is None  # left to clean_date, which says why or reads it


def test_fixed_width_dates_only_for_formats_of_two_digit_day_and_month() -> None:
    assert fixed_width_dates(["%d/%m/%Y"])("৩১/০১/১৯৮৮") == "1988-01-31"  # type: ignore[misc]
    assert fixed_width_dates(["%Y%m%d"])("19880131") == "1988-01-31"  # type: ignore[misc]
    assert fixed_width_dates(None) is None
    assert fixed_width_dates(["%d %b %Y"]) is None
    assert fixed_width_dates(["%d/%m/%y"]) is None
    assert fixed_width_dates(["%d/%m/%Y"], age_as_of="2025-06-30") is None


def test_a_date_reader_made_the_day_before_reads_todays_dates(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The quick date readers ask for today's date once; an ingest running past midnight still
    reads the new day's dates as clean_date does, and no later one."""
    real = dates.date

    class DayBefore(real):  # type: ignore[misc, valid-type]
        @classmethod
        def today(cls) -> real:  # type: ignore[valid-type]
            return real.today() - timedelta(days=1)

    monkeypatch.setattr(dates, "date", DayBefore)
    read = dates.fixed_width_dates(["%d/%m/%Y"])
    as_given = dates.iso_date_as_given(["%Y-%m-%d"])
    assert read is not None and as_given is not None
    monkeypatch.setattr(dates, "date", real)
    today, tomorrow = real.today(), real.today() + timedelta(days=1)
    assert (
        read(today.strftime("%d/%m/%Y"))
        == today.isoformat()
        == dates.clean_date(today.strftime("%d/%m/%Y"), ["%d/%m/%Y"])
    )
    assert as_given(today.isoformat())
    assert read(tomorrow.strftime("%d/%m/%Y")) is None
    assert not as_given(tomorrow.isoformat())
