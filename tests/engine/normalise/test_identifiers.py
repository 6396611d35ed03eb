"""Identifiers: NID forms, birth registration numbers, mobile numbers, wallets and accounts."""

from __future__ import annotations

import pytest

from engine.errors import InvalidValue
from engine.normalise import (
    account_phone,
    clean_account,
    clean_brn,
    clean_nid,
    clean_phone,
    clean_provider,
    is_mobile_part,
    nid_birth_year,
    nid_core,
    nid_form,
    to_ascii_digits,
)
from engine.normalise.identifiers import (
    clean_identifier,
    clean_identifiers,
    identifiers_text,
    parse_identifiers,
    phone_quickly,
)


def test_bangla_digits_become_ascii() -> None:
    assert to_ascii_digits("০১২৩৪৫৬৭৮৯") == "0123456789"
    assert to_ascii_digits("বয়স ৪১, NID 12") == "বয়স 41, NID 12"


# --- NID ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "nid", "form"),
    [
        ("1234567890", "1234567890", "smart"),
        ("2612345678901", "2612345678901", "old"),
        ("19852612345678901", "19852612345678901", "full"),
        ("১৯৮৫২৬১২৩৪৫৬৭৮৯০১", "19852612345678901", "full"),
        ("1985 2612 3456 78901", "19852612345678901", "full"),
        ("1985-26-12345678901", "19852612345678901", "full"),
        (" 123 456 7890 ", "1234567890", "smart"),
        (2612345678901, "2612345678901", "old"),
        ("2612345678901.0", "2612345678901", "old"),
    ],
)
def test_nid_in_every_written_form(raw: object, nid: str, form: str) -> None:
    assert clean_nid(raw) == nid
    assert nid_form(nid) == form


def test_17_digit_nid_meets_its_13_digit_form_through_the_core() -> None:
    assert nid_core("19852612345678901") == "2612345678901" == nid_core("2612345678901")
    assert nid_core("1234567890") == "1234567890"  # the smart-card number is its own core
    assert nid_birth_year("19852612345678901") == 1985
    assert nid_birth_year("2612345678901") is None
    assert nid_birth_year("99992612345678901") is None  # not a plausible year


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("123456789012", "NID must have 10, 13 or 17 digits; got 12"),
        ("12345", "NID must have 10, 13 or 17 digits; got 5"),
        ("1.98526E+16", "scientific notation"),
        ("NID1234567890", "digits only"),
        (1.9852612345678901e16, "floating-point"),
    ],
)
def test_bad_nids_are_rejected_with_a_reason(raw: object, reason: str) -> None:
    with pytest.raises(InvalidValue) as caught:
        clean_nid(raw)
    assert caught.value.field == "nid"
    assert reason in caught.value.reason


# --- BRN ------------------------------------------------------------------------------------------


def test_birth_registration_numbers_have_16_or_17_digits() -> None:
    assert clean_brn("20112691234567890") == "20112691234567890"
    assert clean_brn("১৯৯৫২৬৯১২৩৪৫৬৭৮৯") == "1995269123456789"
    assert clean_brn("2011 2691 2345 67890") == "20112691234567890"
    with pytest.raises(InvalidValue, match="16 or 17 digits; got 13"):
        clean_brn("2612345678901")


# --- mobile numbers -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        "01711234567",
        "+8801711234567",
        "8801711234567",
        "+88 01711-234567",
        "+880 1711 234567",
        "+880-1711-234567",
        "008801711234567",
        "0088 01711 234567",
        "1711234567",
        "০১৭১১২৩৪৫৬৭",
        "+৮৮০১৭১১-২৩৪৫৬৭",
        "017-1123-4567",
        "(017) 11234567",
        1711234567,
        1711234567.0,
    ],
)
def test_a_mobile_number_in_every_written_form_is_one_number(raw: object) -> None:
    assert clean_phone(raw) == "01711234567"


@pytest.mark.parametrize("prefix", ["013", "014", "015", "016", "017", "018", "019"])
def test_every_operator_prefix_is_accepted(prefix: str) -> None:
    assert clean_phone(prefix + "12345678") == prefix + "12345678"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("+919876543210", "not a Bangladeshi number (+91)"),
        ("+1 202 555 0100", "not a Bangladeshi number (+1)"),
        ("01211234567", "not a Bangladeshi mobile prefix (012)"),
        ("01111234567", "not a Bangladeshi mobile prefix (011)"),
        ("0171123456", "must have 11 digits"),
        ("017112345678", "must have 11 digits"),
        ("029123456", "must have 11 digits"),  # a Dhaka landline
        ("01711234567/01811234567", "must have 11 digits"),
        ("call 01711234567", "digits only"),
    ],
)
def test_numbers_that_are_not_bangladeshi_mobiles_are_rejected(raw: str, reason: str) -> None:
    with pytest.raises(InvalidValue) as caught:
        clean_phone(raw)
    assert reason in caught.value.reason


# --- providers, wallets and accounts --------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "provider"),
    [
        ("bKash", "bkash"),
        ("BKASH", "bkash"),
        ("b-Kash", "bkash"),
        ("বিকাশ", "bkash"),
        ("Nagad", "nagad"),
        ("নগদ", "nagad"),
        ("Rocket", "rocket"),
        ("DBBL", "rocket"),
        ("রকেট", "rocket"),
        ("Upay", "upay"),
        ("Sonali Bank Ltd.", "sonali"),
        ("SONALI BANK PLC", "sonali"),
        ("Janata Bank Limited", "janata"),
        ("Bangladesh Krishi Bank", "bkb"),
        ("Islami Bank Bangladesh Ltd", "ibbl"),
        ("Mercantile Bank Ltd.", "mercantile"),
        ("Dutch-Bangla Bank Limited", "dbbl_bank"),
    ],
)
def test_providers_get_one_short_name(raw: str, provider: str) -> None:
    assert clean_provider(raw) == provider


def test_bkash_nagad_upay_wallets_are_the_mobile_number() -> None:
    assert clean_account("+8801711234567", "bKash") == "01711234567"
    assert clean_account("০১৮১১২৩৪৫৬৭", "নগদ") == "01811234567"
    assert clean_account("1911234567", "upay") == "01911234567"
    with pytest.raises(InvalidValue, match="wallet must be a mobile number"):
        clean_account("01211234567", "nagad")


def test_rocket_wallets_are_the_mobile_number_and_one_digit() -> None:
    assert clean_account("017112345678", "Rocket") == "017112345678"
    assert clean_account("০১৭১১-২৩৪৫৬৭-৮", "DBBL") == "017112345678"
    assert clean_account("+88017112345678", "rocket") == "017112345678"
    assert clean_account("17112345678", "rocket") == "017112345678"  # a spreadsheet's lost zero
    with pytest.raises(InvalidValue, match="12 digits .* or 11"):
        clean_account("0171123456", "rocket")
    with pytest.raises(InvalidValue, match="must start with a mobile number"):
        clean_account("012112345678", "rocket")


@pytest.mark.parametrize(
    "raw", ["01711234567", "+8801711234567", "8801711234567", "1711234567", "০১৭১১-২৩৪৫৬৭"]
)
def test_a_rocket_wallet_given_as_its_11_digit_mobile_is_kept_as_the_mobile_part(raw: str) -> None:
    # DOMAIN.md: the 12-digit form is uncertain; many lists give the mobile alone
    number = clean_account(raw, "rocket")
    assert number == "01711234567"
    assert is_mobile_part(number, "rocket")
    assert not is_mobile_part("017112345678", "rocket")
    assert not is_mobile_part("01711234567", "bkash")  # a bKash wallet is the mobile itself
    # compared on the mobile: the same wallet as its 12-digit form
    assert account_phone(number, "rocket") == account_phone("017112345678", "rocket")
    with pytest.raises(InvalidValue, match="must start with a mobile number"):
        clean_account("01211234567", "rocket")


def test_bank_accounts_keep_their_digits() -> None:
    assert clean_account("0021-3400-1234", "Sonali Bank") == "002134001234"
    assert clean_account("2050 1234 5678 9", None) == "2050123456789"
    with pytest.raises(InvalidValue, match="5 to 20 digits"):
        clean_account("123", "sonali")


def test_the_mobile_behind_a_wallet() -> None:
    assert account_phone("01711234567", "bkash") == "01711234567"
    assert account_phone("017112345678", "rocket") == "01711234567"
    assert account_phone("002134001234", "sonali") is None
    assert account_phone("01711234567", None) is None


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("123-456-789", "123456789"),
        ("১২৩ ৪৫৬ ৭৮৯", "123456789"),
        (" EMP/2019/07 ", "emp201907"),
        (123456.0, "123456"),
        ("123456.0", "123456"),
        ("ABC", "abc"),
        (" - ", None),
    ],
)
def test_an_extra_identifier_is_folded(raw: object, value: str | None) -> None:
    assert clean_identifier(raw, "tin") == value


def test_extra_identifiers_as_one_text() -> None:
    assert clean_identifiers({"tin": "১২৩", "employee_id": "E-7", "mpo": ""}) == (
        "employee_id=e7;tin=123"
    )
    assert clean_identifiers("tin=123;  employee_id = E-7 ;") == "employee_id=e7;tin=123"
    assert clean_identifiers({"tin": ""}) is None
    assert identifiers_text({}) is None
    assert parse_identifiers("employee_id=e7;tin=123") == {"employee_id": "e7", "tin": "123"}
    assert parse_identifiers(None) == {}


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("tin=1;tin=2", "given twice"),
        ("Tax No=1", "lower-case word"),
        ("123", "name=value"),
        ({"tin": "1;2"}, "tin: an identifier may not hold"),
        ({"tin": "x" * 65}, "64 characters"),
    ],
)
def test_extra_identifiers_that_cannot_be_read(raw: object, reason: str) -> None:
    with pytest.raises(InvalidValue) as caught:
        clean_identifiers(raw)
    assert caught.value.field == "identifiers" and reason in caught.value.reason


@pytest.mark.parametrize(
    "text",
    [
        "+8801711234567",
        "8801711234567",
        "01711-234567",
        "+8801711-234567",
        "01711234567",
        "+88 01711234567",
        "+8801211234567",
        "880171123456",
        "+4401711234567",
        "01711_234567",
        "০১৭১১-২৩৪৫৬৭",
        "+88017112345678",
        "tel:01711234567",
    ],
)
def test_a_phone_read_quickly_is_what_cleaning_gives(text: str) -> None:
    """Ingest reads the commonest written forms of a mobile number (+880 in front, a dash)
    without clean_phone's every step: the same number, and every other text left to it."""
    quick = phone_quickly(text)
    try:
        expected: str | None = clean_phone(text)
    except InvalidValue:
        expected = None
    if text in ("+8801711234567", "8801711234567", "01711-234567", "+8801711-234567"):
        assert quick == "01711234567" == expected
    elif quick is not None:
        assert quick == expected
