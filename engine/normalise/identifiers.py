"""Bangladeshi identifiers: NID, birth registration number, mobile number, MFS wallet and bank
account.

Every cleaner takes what a source wrote (Bangla or ASCII digits, spaces, dashes, country prefixes,
numbers that went through a spreadsheet as floats) and returns one canonical digit string, or raises
:class:`~engine.errors.InvalidValue` saying what is wrong. No cleaner guesses a digit that is not
there: a 13-digit NID that lost its leading zero in Excel is reported, not padded.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import date
from functools import lru_cache
from typing import Final

import phonenumbers

from engine.errors import InvalidValue
from engine.normalise.bangla import repair_bangla
from engine.normalise.digits import to_ascii_digits
from graph.schema import ROCKET_ACCOUNT_DIGITS, ROCKET_MOBILE_DIGITS

log = logging.getLogger(__name__)

NID_FORMS: Final[dict[int, str]] = {10: "smart", 13: "old", 17: "full"}
BRN_LENGTHS: Final = (16, 17)

#: Mobile operators by the third digit of ``01X``: 013/017 GP, 014/019 Banglalink, 016/018 Robi
#: (018 was Airtel), 015 Teletalk. Number portability (2018) means the prefix no longer proves the
#: operator, but a number outside 013-019 is not a Bangladeshi mobile.
MOBILE_PATTERN: Final = re.compile(r"01[3-9]\d{8}")

#: Wallets whose account number is the mobile number itself.
PHONE_WALLETS: Final = frozenset({"bkash", "nagad", "upay", "tap"})
#: Wallets whose account number is the mobile number plus one trailing digit (12 digits); many
#: lists give only the 11-digit mobile part, which is kept as such (DOMAIN.md: the 12-digit form
#: is uncertain).
ROCKET_WALLETS: Final = frozenset({"rocket"})
#: a Rocket account number in full (the mobile and one trailing digit), and its mobile part: the
#: graph's (graph.schema.account_id keys a Rocket wallet by its mobile part)
ROCKET_DIGITS: Final = ROCKET_ACCOUNT_DIGITS
WALLETS: Final = PHONE_WALLETS | ROCKET_WALLETS

#: a bank's (or an unknown provider's) account number has this many digits, fewest and most
ACCOUNT_DIGITS: Final = (5, 20)
#: account numbers :func:`clean_account` gives back unchanged (ASCII digits only: MOBILE_PATTERN's
#: ``\d`` would take other scripts' digits too)
_MOBILE_AS_GIVEN: Final = re.compile(r"01[3-9][0-9]{8}")
_ROCKET_AS_GIVEN: Final = re.compile(
    rf"01[3-9][0-9]{{{ROCKET_MOBILE_DIGITS - 3},{ROCKET_ACCOUNT_DIGITS - 3}}}"
)
_BANK_AS_GIVEN: Final = re.compile(rf"[0-9]{{{ACCOUNT_DIGITS[0]},{ACCOUNT_DIGITS[1]}}}")

_SEPARATORS: Final = re.compile(r"[\s\-_./,()]+")
_SCIENTIFIC: Final = re.compile(r"^\d(\.\d+)?e\+?\d+$", re.IGNORECASE)
_FLOAT_TAIL: Final = re.compile(r"^(\d+)\.0+$")


def _digit_text(raw: object, field: str) -> str:
    """The digits of an identifier written with separators, Bangla digits or as a spreadsheet
    number.

    Raises
    ------
    InvalidValue
        If the value holds anything but digits and separators, or is a float in scientific notation
        (the spreadsheet has already lost digits).
    """
    if isinstance(raw, bool):
        raise InvalidValue(field, raw, "expected digits, got a yes/no value")
    if isinstance(raw, int):
        return str(raw)
    if isinstance(raw, float):
        if raw != raw or not raw.is_integer():  # NaN or a fraction
            raise InvalidValue(field, raw, "expected whole digits, got a fractional number")
        if raw >= 1e15:  # float64 keeps ~15-16 digits exactly; beyond that digits may be gone
            raise InvalidValue(
                field,
                raw,
                "stored as a floating-point number, digits may be lost; read the column as text",
            )
        return str(int(raw))
    text = to_ascii_digits(str(raw)).strip()
    if _SCIENTIFIC.match(text):
        raise InvalidValue(
            field, raw, "written in scientific notation, digits are lost; read the column as text"
        )
    tail = _FLOAT_TAIL.match(text)
    if tail:
        text = tail.group(1)
    digits = _SEPARATORS.sub("", text)
    if not digits.isdecimal() or not digits.isascii():
        raise InvalidValue(field, raw, "expected digits only (spaces and dashes allowed)")
    return digits


@lru_cache(maxsize=1 << 16)
def _clean_nid_text(text: str) -> str:
    digits = _digit_text(text, "nid")
    if len(digits) not in NID_FORMS:
        raise InvalidValue("nid", text, f"NID must have 10, 13 or 17 digits; got {len(digits)}")
    return digits


def clean_nid(raw: object) -> str:
    """A national ID as ASCII digits, in the form given (10, 13 or 17 digits; no form conversion).

    Raises
    ------
    InvalidValue
        If the value is not 10, 13 or 17 digits once spaces, dashes and Bangla digits are handled.

    Example
    -------
    >>> clean_nid("১৯৮৫ ২৬১ ২৩৪৫ ৬৭৮৯০১")
    '19852612345678901'
    """
    if isinstance(raw, str):
        return _clean_nid_text(raw)
    digits = _digit_text(raw, "nid")
    if len(digits) not in NID_FORMS:
        raise InvalidValue("nid", raw, f"NID must have 10, 13 or 17 digits; got {len(digits)}")
    return digits


def nid_form(nid: str) -> str:
    """``"smart"`` (10 digits, smart card), ``"old"`` (13 digits) or ``"full"`` (17 digits: year +
    13)."""
    try:
        return NID_FORMS[len(nid)]
    except KeyError:
        raise InvalidValue(
            "nid", nid, f"NID must have 10, 13 or 17 digits; got {len(nid)}"
        ) from None


def nid_core(nid: str) -> str:
    """The part of a cleaned NID two forms of the same card share: 17 digits -> the last 13; else
    itself.

    A 10-digit smart-card number is not derivable from the 13/17-digit number, so it is its own
    core.
    """
    return nid[4:] if len(nid) == 17 else nid


def nid_birth_year(nid: str) -> int | None:
    """The birth year a 17-digit NID starts with, or ``None`` (other forms, implausible years)."""
    if len(nid) != 17:
        return None
    year = int(nid[:4])
    return year if 1900 <= year <= date.today().year else None


@lru_cache(maxsize=1 << 14)
def _clean_brn_text(text: str) -> str:
    digits = _digit_text(text, "brn")
    if len(digits) not in BRN_LENGTHS:
        raise InvalidValue(
            "brn", text, f"birth registration number must have 16 or 17 digits; got {len(digits)}"
        )
    return digits


def clean_brn(raw: object) -> str:
    """A birth registration number (BDRIS) as 16 or 17 ASCII digits; its inner structure is not
    parsed.

    Raises
    ------
    InvalidValue
        If it does not have 16 or 17 digits.
    """
    if isinstance(raw, str):
        return _clean_brn_text(raw)
    digits = _digit_text(raw, "brn")
    if len(digits) not in BRN_LENGTHS:
        raise InvalidValue(
            "brn", raw, f"birth registration number must have 16 or 17 digits; got {len(digits)}"
        )
    return digits


@lru_cache(maxsize=1 << 16)
def _clean_phone_text(text: str, field: str) -> str:
    raw = text
    text = to_ascii_digits(text).strip()
    if text.lower().startswith("tel:"):
        text = text[4:].strip()
    international = text.startswith("+")
    digits = _digit_text(text.lstrip("+"), field)
    if digits.startswith("00"):
        international, digits = True, digits[2:]
    if international or (digits.startswith("88") and len(digits) in (12, 13)):
        if not digits.startswith("88"):
            country = _country_code(digits)
            where = f"+{country}" if country else "an unknown country code"
            raise InvalidValue(
                field, raw, f"not a Bangladeshi number ({where}); expected +880 or 01XXXXXXXXX"
            )
        digits = digits[2:]  # "+88 01..." and "+880 1..." both leave "01..." after dropping "88"
        if not digits.startswith("0"):
            digits = "0" + digits
    elif len(digits) == 10 and digits.startswith("1"):
        digits = "0" + digits  # the leading zero a spreadsheet dropped
    if len(digits) != 11:
        raise InvalidValue(
            field, raw, f"mobile number must have 11 digits (01XXXXXXXXX); got {len(digits)}"
        )
    if not MOBILE_PATTERN.fullmatch(digits):
        raise InvalidValue(
            field, raw, f"not a Bangladeshi mobile prefix ({digits[:3]}); expected 013-019"
        )
    # MOBILE_PATTERN is the whole of Bangladesh's mobile numbering plan (01[3-9] + 8 digits), so
    # phonenumbers' validity check adds nothing here and costs ~150 us a number on millions of rows.
    return digits


#: the commonest forms of a mobile number not in its national form: +880 / 880 in front, or a
#: dash after the operator's five digits
_PHONE_WRITTEN: Final = re.compile(r"(?:\+?88)?(01[3-9][0-9]{2})-?([0-9]{6})")


def phone_quickly(text: str) -> str | None:
    """For a mobile number written ``+8801711234567``, ``8801711234567`` or ``01711-234567``
    (ASCII digits, nothing else), what :func:`clean_phone` gives it; ``None`` for any other
    text (then :func:`clean_phone` reads it, or says why not).

    Example
    -------
    >>> phone_quickly("+8801711234567"), phone_quickly("01711-234567"), phone_quickly("+1 212")
    ('01711234567', '01711234567', None)
    """
    found = _PHONE_WRITTEN.fullmatch(text)
    return None if found is None else found[1] + found[2]


def _country_code(digits: str) -> int | None:
    try:
        return phonenumbers.parse("+" + digits, None).country_code
    except phonenumbers.NumberParseException:
        return None


def clean_phone(raw: object, field: str = "phone") -> str:
    """A Bangladeshi mobile number in its 11-digit national form ``01[3-9]XXXXXXXX``.

    Accepts +880 / 880 / +88 0 / 0088 prefixes, spaces, dashes, Bangla digits and a missing leading
    zero (``1711234567``).

    Raises
    ------
    InvalidValue
        For a foreign number, a prefix outside 013-019, a wrong length, or letters.

    Example
    -------
    >>> clean_phone("+88 ০১৭১১-২৩৪৫৬৭")
    '01711234567'
    """
    if isinstance(raw, str):
        return _clean_phone_text(raw, field)
    return _clean_phone_text(_digit_text(raw, field), field)


#: provider alias (lower-case, punctuation removed) -> canonical provider name.
_PROVIDER_ALIASES: Final[dict[str, str]] = {
    "bkash": "bkash",
    "b kash": "bkash",
    "বিকাশ": "bkash",
    "nagad": "nagad",
    "nogod": "nagad",
    "নগদ": "nagad",
    "rocket": "rocket",
    "dbbl": "rocket",
    "dbbl rocket": "rocket",
    "dbbl mobile banking": "rocket",
    "dutch bangla mobile banking": "rocket",
    "রকেট": "rocket",
    "upay": "upay",
    "u pay": "upay",
    "উপায়": "upay",
    "tap": "tap",
    "trust axiata pay": "tap",
    "ট্যাপ": "tap",
    "sonali": "sonali",
    "সোনালী": "sonali",
    "janata": "janata",
    "জনতা": "janata",
    "agrani": "agrani",
    "অগ্রণী": "agrani",
    "rupali": "rupali",
    "রূপালী": "rupali",
    "bangladesh krishi": "bkb",
    "krishi": "bkb",
    "bkb": "bkb",
    "কৃষি": "bkb",
    "rajshahi krishi unnayan": "rakub",
    "rakub": "rakub",
    "islami bangladesh": "ibbl",
    "islami": "ibbl",
    "ibbl": "ibbl",
    "ইসলামী": "ibbl",
    "dutch bangla": "dbbl_bank",
    "brac": "brac",
    "city": "city",
    "bangladesh post office": "post_office",
    "post office": "post_office",
    "postal savings": "post_office",
    "ডাকঘর": "post_office",
}

_ALIASES: Final = {repair_bangla(alias): name for alias, name in _PROVIDER_ALIASES.items()}

_PROVIDER_NOISE: Final = re.compile(
    r"\b(bank|ltd|limited|plc|pls|bangladesh ltd|mfs|wallet|account|a/c|ব্যাংক|লিমিটেড|লিঃ)\b",
    re.IGNORECASE,
)
_PROVIDER_PUNCT: Final = re.compile(r"[^\w\s\u0980-\u09ff]+")


@lru_cache(maxsize=4096)
def clean_provider(raw: str) -> str:
    """The account provider's canonical short name.

    MFS: ``bkash``, ``nagad``, ``rocket`` (DBBL's wallet), ``upay``, ``tap``. Banks: a lower-case
    short name (``sonali``, ``janata``, ``bkb``, ``ibbl``, ...); a bank not in the table becomes its
    name without "Bank"/"Ltd", lower-cased, words joined by ``_`` (``"Mercantile Bank Ltd."`` ->
    ``"mercantile"``).

    Raises
    ------
    InvalidValue
        If nothing of the name is left.
    """
    text = repair_bangla(str(raw)).strip().lower()
    text = _PROVIDER_PUNCT.sub(" ", text.replace("-", " "))
    text = " ".join(text.split())
    if text in _ALIASES:
        return _ALIASES[text]
    stripped = " ".join(_PROVIDER_NOISE.sub(" ", text).split())
    if stripped in _ALIASES:
        return _ALIASES[stripped]
    if not stripped:
        raise InvalidValue("account_provider", raw, "no provider name")
    return stripped.replace(" ", "_")


def clean_account(raw: object, provider: str | None = None) -> str:
    """An account number as ASCII digits, checked against what the provider's numbers look like.

    - bKash / Nagad / Upay / Tap: the wallet is the mobile number -> its 11-digit form.
    - Rocket: the 11-digit mobile plus one trailing digit -> 12 digits; or, where the source
      gives only the mobile part (no trailing digit), that mobile -> 11 digits. Either way
      :func:`account_phone` is the mobile, which matching and households compare on.
    - banks and unknown providers: digits only, 5 to 20 of them.

    Raises
    ------
    InvalidValue
        If the number does not fit the provider's form.
    """
    prov = clean_provider(provider) if provider else None
    if prov in PHONE_WALLETS:
        try:
            return clean_phone(raw, field="account_number")
        except InvalidValue as err:
            raise InvalidValue(
                "account_number", raw, f"{prov} wallet must be a mobile number: {err.reason}"
            ) from None
    digits = _digit_text(
        raw.strip().removeprefix("+") if isinstance(raw, str) else raw, "account_number"
    )
    if prov in ROCKET_WALLETS:
        return _rocket_account(digits, raw)
    low, high = ACCOUNT_DIGITS
    if not low <= len(digits) <= high:
        raise InvalidValue(
            "account_number",
            raw,
            f"account number must have {low} to {high} digits; got {len(digits)}",
        )
    return digits


def account_as_given(provider: str | None) -> Callable[[str], bool] | None:
    """A test telling, for a string, that :func:`clean_account` with this ``provider`` gives it
    back unchanged (ASCII digits in the provider's form: a wallet's mobile number, a Rocket
    account or its mobile part, a bank's 5 to 20 digits); ``None`` for a provider that cannot be
    read. Ingest keeps a column of such numbers without cleaning each one.

    Example
    -------
    >>> as_given = account_as_given("bKash")
    >>> as_given("01711234567"), as_given("+8801711234567")
    (True, False)
    """
    try:
        prov = clean_provider(provider) if provider else None
    except InvalidValue:
        return None
    if prov in PHONE_WALLETS:
        pattern = _MOBILE_AS_GIVEN
    elif prov in ROCKET_WALLETS:
        pattern = _ROCKET_AS_GIVEN
    else:
        pattern = _BANK_AS_GIVEN
    fullmatch = pattern.fullmatch
    return lambda text: fullmatch(text) is not None


def _rocket_account(digits: str, raw: object) -> str:
    """A Rocket account's digits: 12 (the mobile and its trailing digit) or 11 (the mobile part
    alone), with country prefixes dropped and a leading zero a spreadsheet lost put back."""
    if digits.startswith("0088"):
        digits = digits[2:]
    if digits.startswith("880") and len(digits) in (13, 14):
        digits = digits[2:]  # +880 1711234567(8): "0" + the rest
    elif digits.startswith("1") and len(digits) in (10, 11):
        digits = "0" + digits  # the leading zero a spreadsheet dropped
    if len(digits) not in (ROCKET_MOBILE_DIGITS, ROCKET_DIGITS):
        raise InvalidValue(
            "account_number",
            raw,
            "Rocket account must have 12 digits (the 11-digit mobile and one more) or 11 (the "
            f"mobile alone); got {len(digits)}",
        )
    try:
        clean_phone(digits[:ROCKET_MOBILE_DIGITS], field="account_number")
    except InvalidValue as err:
        raise InvalidValue(
            "account_number", raw, f"Rocket account must start with a mobile number: {err.reason}"
        ) from None
    return digits


def is_mobile_part(number: str | None, provider: str | None) -> bool:
    """Whether a cleaned account number is only the mobile part of its wallet: a Rocket account
    given as the 11-digit mobile, without the trailing digit. Its :func:`account_phone` is that
    mobile, as a 12-digit number's is its first 11 digits; the two forms of one wallet compare
    equal on it.

    Example
    -------
    >>> is_mobile_part("01711234567", "rocket"), is_mobile_part("017112345678", "rocket")
    (True, False)
    """
    if not provider or not number:
        return False
    return clean_provider(provider) in ROCKET_WALLETS and len(number) == ROCKET_MOBILE_DIGITS


def account_phone(number: str | None, provider: str | None) -> str | None:
    """The mobile number behind a wallet (bKash/Nagad/Upay/Tap: the number; Rocket: its first 11
    digits, the whole number when a source gave only the mobile part).

    The one wallet rule: matching (``prepare`` over distinct accounts, ``prepare_one`` per record),
    households' shared numbers and the graph's Account nodes all call it.

    Returns ``None`` for banks, unknown providers and numbers that are not a valid mobile.

    Example
    -------
    >>> account_phone("017112345678", "rocket")
    '01711234567'
    """
    if not provider or not number:
        return None
    prov = clean_provider(provider)
    if prov in PHONE_WALLETS:
        candidate = str(number)
    elif prov in ROCKET_WALLETS:
        candidate = str(number)[:ROCKET_MOBILE_DIGITS]
    else:
        return None
    if candidate.isascii() and MOBILE_PATTERN.fullmatch(candidate):
        return candidate  # already the clean form (what ingest stores): clean_phone would keep it
    try:
        return clean_phone(candidate)
    except InvalidValue:
        return None


# -- extra identifiers a source declares (a mapping's ``identifiers:``) -------------------------

#: an extra identifier's name: lower case, a letter first (``tin``, ``employee_id``, ``mpo_index``)
IDENTIFIER_NAME: Final = re.compile(r"[a-z][a-z0-9_]{0,39}")
#: between identifiers, and between an identifier's name and its value, in the stored text
IDENTIFIER_SEPARATOR: Final = ";"
IDENTIFIER_ASSIGN: Final = "="
IDENTIFIER_MAX_CHARS: Final = 64
_IDENTIFIER_NOISE: Final = re.compile(r"[\s\-_./,()]+")
_IDENTIFIER_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def clean_identifier(raw: object, name: str = "identifier") -> str | None:
    """One extra identifier's value (a TIN, an employee number, an MPO index): Bangla digits
    read as ASCII, case folded, spaces and the separators people type inside numbers (``-``,
    ``.``, ``/``, ``_``, ``,``, brackets) dropped, a spreadsheet's ``1234.0`` read as ``1234``;
    ``None`` when nothing is left.

    Raises
    ------
    InvalidValue
        If the value holds ``=`` or ``;`` (which the stored form uses) or is longer than 64
        characters: no identifier.

    Example
    -------
    >>> clean_identifier(" TIN-১২৩ ৪৫৬ ৭৮৯ "), clean_identifier(12345.0)
    ('tin123456789', '12345')
    """
    if isinstance(raw, bool):
        raise InvalidValue(name, raw, "expected an identifier, got a yes/no value")
    if isinstance(raw, float):
        if raw != raw or not raw.is_integer():
            raise InvalidValue(name, raw, "expected an identifier, got a fractional number")
        raw = int(raw)
    text = _IDENTIFIER_CONTROL.sub("", to_ascii_digits(repair_bangla(str(raw))))
    text = _FLOAT_TAIL.sub(r"\1", text.strip())
    text = _IDENTIFIER_NOISE.sub("", text).casefold()
    if not text:
        return None
    if IDENTIFIER_ASSIGN in text or IDENTIFIER_SEPARATOR in text:
        raise InvalidValue(name, raw, "an identifier may not hold '=' or ';'")
    if len(text) > IDENTIFIER_MAX_CHARS:
        raise InvalidValue(
            name, raw, f"more than {IDENTIFIER_MAX_CHARS} characters: not an identifier"
        )
    return text


def identifiers_text(values: dict[str, str | None]) -> str | None:
    """Cleaned extra identifiers as the one text a record stores (field ``identifiers``):
    ``name=value`` pairs sorted by name, joined by ``;``; names without a value left out;
    ``None`` when none has one.

    Example
    -------
    >>> identifiers_text({"tin": "123456789", "employee_id": "e7", "mpo": None})
    'employee_id=e7;tin=123456789'
    """
    pairs = sorted((k, v) for k, v in values.items() if v is not None)
    return IDENTIFIER_SEPARATOR.join(f"{k}{IDENTIFIER_ASSIGN}{v}" for k, v in pairs) or None


def parse_identifiers(text: str | None) -> dict[str, str]:
    """The stored ``identifiers`` text back as ``{name: value}`` (empty for ``None``).

    Example
    -------
    >>> parse_identifiers("employee_id=e7;tin=123456789")
    {'employee_id': 'e7', 'tin': '123456789'}
    """
    if not text:
        return {}
    out = {}
    for pair in str(text).split(IDENTIFIER_SEPARATOR):
        name, _, value = pair.partition(IDENTIFIER_ASSIGN)
        if name and value:
            out[name] = value
    return out


def clean_identifiers(raw: object) -> str | None:
    """A record's extra identifiers given whole (a record sent to the API, a column already in
    the stored form): ``{"tin": "123 456 789"}`` or ``"tin=123 456 789; employee_id=E-7"``, each
    name checked and each value cleaned (:func:`clean_identifier`), as the stored text
    (:func:`identifiers_text`).

    Raises
    ------
    InvalidValue
        If a name is not a lower-case word (``tin``, ``employee_id``), is given twice, has no
        ``=``, or a value is no identifier; the reason names the identifier.
    """
    if isinstance(raw, dict):
        items = [(str(k), v) for k, v in raw.items()]
    else:
        items = []
        for pair in str(raw).split(IDENTIFIER_SEPARATOR):
            if not pair.strip():
                continue
            name, assign, value = pair.partition(IDENTIFIER_ASSIGN)
            if not assign:
                raise InvalidValue(
                    "identifiers", raw, f"{pair.strip()!r} is not name=value (e.g. tin=123456789)"
                )
            items.append((name, value))
    values: dict[str, str | None] = {}
    for name, value in items:
        name = name.strip().lower()
        if not IDENTIFIER_NAME.fullmatch(name):
            raise InvalidValue(
                "identifiers",
                raw,
                f"identifier name {name!r} must be a lower-case word such as tin or employee_id",
            )
        if name in values:
            raise InvalidValue("identifiers", raw, f"identifier {name!r} is given twice")
        try:
            values[name] = None if value is None else clean_identifier(value, name)
        except InvalidValue as err:
            raise InvalidValue("identifiers", raw, f"{name}: {err.reason}") from None
    return identifiers_text(values)
