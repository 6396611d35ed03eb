"""Geography: districts and divisions by BBS geocode, whatever the spelling or script."""

from __future__ import annotations

import pytest

from engine.errors import InvalidValue
from engine.normalise import DISTRICTS, DIVISIONS, clean, district_code, division_code


def test_all_64_districts_with_unique_geocodes_in_eight_divisions() -> None:
    assert len(DISTRICTS) == 64
    assert len({d.code for d in DISTRICTS}) == 64
    assert len({d.district_number for d in DISTRICTS}) == 64
    assert {d.division_code for d in DISTRICTS} == {v.code for v in DIVISIONS}
    for d in DISTRICTS:
        assert d.code == f"BD{d.division_code}{d.district_number}"
        assert district_code(d.name) == d.code
        assert district_code(d.bangla) == d.code
        assert district_code(d.code) == d.code


@pytest.mark.parametrize(
    ("spellings", "code"),
    [
        (("Dhaka", "DHAKA", "Dhaka District", "ঢাকা", "ঢাকা জেলা", "BD3026", "3026"), "BD3026"),
        (("Chattogram", "Chittagong", "CTG", "চট্টগ্রাম"), "BD2015"),
        (("Cumilla", "Comilla", "কুমিল্লা"), "BD2019"),
        (("Barishal", "Barisal", "বরিশাল"), "BD1006"),
        (("Jashore", "Jessore", "যশোর"), "BD4041"),
        (("Bogura", "Bogra", "বগুড়া"), "BD5010"),
        (("Chapai Nawabganj", "Chapainawabganj", "Nawabganj", "চাঁপাইনবাবগঞ্জ"), "BD5070"),
        (("Cox's Bazar", "Coxsbazar", "Cox Bazar", "Cox\u2019s Bazar", "কক্সবাজার"), "BD2022"),
        (("Moulvibazar", "Maulvibazar", "Moulvi Bazar", "মৌলভীবাজার"), "BD6058"),
        (("Netrokona", "Netrakona", "নেত্রকোণা", "নেত্রকোনা"), "BD4572"),
        (("Jhalokati", "Jhalakathi", "ঝালকাঠি"), "BD1042"),
        (("Brahmanbaria", "B. Baria", "ব্রাহ্মণবাড়িয়া"), "BD2012"),
        (("Narayanganj", "Narayangonj", "নারায়ণগঞ্জ"), "BD3067"),
        (("Gazipur", "গাজীপুর"), "BD3033"),
        (("Mymensingh", "Mymensing", "ময়মনসিংহ", "BD3061"), "BD4561"),  # old Dhaka-division code
        (("Noakhalli", "Kustia"), None),  # misspellings met by the fold, checked below
    ],
)
def test_district_spellings_meet_at_one_geocode(
    spellings: tuple[str, ...], code: str | None
) -> None:
    if code is None:
        assert district_code("Noakhalli") == district_code("Noakhali")
        assert district_code("Kustia") == district_code("Kushtia")
        return
    assert {district_code(s) for s in spellings} == {code}


def test_unknown_districts_are_rejected() -> None:
    with pytest.raises(InvalidValue, match="not one of the 64 districts"):
        district_code("Kolkata")
    with pytest.raises(InvalidValue):
        district_code("99")


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("Barishal", "10"),
        ("Barisal", "10"),
        ("Chattogram", "20"),
        ("Chittagong", "20"),
        ("Dhaka", "30"),
        ("Khulna", "40"),
        ("Mymensingh", "45"),
        ("Rajshahi", "50"),
        ("Rangpur", "55"),
        ("Sylhet", "60"),
        ("ঢাকা", "30"),
        ("সিলেট বিভাগ", "60"),
        ("Rangpur Division", "55"),
        ("30", "30"),
        ("BD45", "45"),
    ],
)
def test_divisions_by_name_or_code(raw: str, code: str) -> None:
    assert division_code(raw) == code


def test_unknown_division_is_rejected() -> None:
    with pytest.raises(InvalidValue, match="eight divisions"):
        division_code("Comilla")


@pytest.mark.parametrize(
    ("raw", "postcode"),
    [
        ("1207", "1207"),
        ("১২০৭", "1207"),
        ("Dhaka-1207", "1207"),
        ("Post Code: ৯১০০", "9100"),
        (1340, "1340"),
        (1340.0, "1340"),
        ("1340.0", "1340"),
    ],
)
def test_postcodes(raw: object, postcode: str) -> None:
    assert clean("postcode", raw, field="postcode") == postcode


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("12075", "4 digits"),
        ("0123", "starts with 0"),
        ("Road 5, 1207", "2 numbers"),
        ("Savar", "no number"),
    ],
)
def test_bad_postcodes_say_why(raw: str, reason: str) -> None:
    with pytest.raises(InvalidValue) as caught:
        clean("postcode", raw, field="postcode")
    assert caught.value.field == "postcode" and reason in caught.value.reason


def test_an_address_is_kept_as_cleaned_text() -> None:
    assert clean("address", "  House ১২ ,  Uttar  Para, Kashipur ,") == (
        "House 12, Uttar Para, Kashipur"
    )
    assert clean("address", " , ") is None
    assert clean("address", "গ্রাম: কাশিপুর") == "গ্রাম: কাশিপুর"
