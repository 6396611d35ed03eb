"""The canonical beneficiary record: the common core data set every MIS and registry is mapped onto.

Every source, whether a programme MIS, the household survey or a reference registry (EC NID extract,
BTRC SIM registration, MFS KYC, BDRIS), becomes rows of this one record. Only ``source`` and
``record_id`` are required; a field a source does not have stays ``None``.

Each field has a *kind* that says which normaliser reads it (see ``engine.normalise``). Cleaned
values are plain strings / numbers in one canonical form:

=================  ===========  ====================================================================
field              kind         canonical form after normalisation
=================  ===========  ====================================================================
source             key          as given (the mapping's ``source`` name)
record_id          key          as given; composite keys joined with ``:``
kind               kind         ``programme`` | ``survey`` | ``reference``
programme          text         programme code as the mapping names it, e.g. ``old_age_allowance``
full_name          name         as given, Unicode-repaired (matching derives its own keys)
full_name_bn       name         Bangla-script name, Unicode-repaired
father_name        name         as given, Unicode-repaired
mother_name        name         as given, Unicode-repaired
spouse_name        name         as given, Unicode-repaired
gender             gender       ``male`` | ``female`` | ``third``
date_of_birth      date         ISO ``YYYY-MM-DD``
birth_year         year         4-digit year
age                age          whole years, as of ``age_as_of``
age_as_of          date         ISO date the age was true on (e.g. the survey date)
nid                nid          ASCII digits, 10, 13 or 17 of them, as given (no form conversion)
nid_alt            nid          a second form of the same person's NID (the EC extract gives both)
brn                brn          ASCII digits, 16 or 17 of them
identifiers        identifiers  extra exact identifiers a source declares (TIN, employee no.):
                                ``name=value`` pairs sorted by name, joined by ``;``, each value
                                folded (``employee_id=e7;tin=123456789``; see
                                ``engine.normalise.identifiers.parse_identifiers``)
phone              phone        11-digit ``01[3-9]XXXXXXXX``
account_provider   provider     ``bkash`` | ``nagad`` | ``rocket`` | ``upay`` | a bank's short name
account_number     account      ASCII digits (wallets: the 11-digit mobile; Rocket: 12 digits, or
                                the 11-digit mobile part when the source gives no trailing digit)
household_id       text         as given, unique within the source
relation_to_head   relation     ``head`` | ``spouse`` | ``son`` | ``daughter`` | ``child`` | ...
                                (``engine.normalise.RELATIONS``)
division           geo          BBS division code, 2 digits (e.g. ``30`` Dhaka)
district           geo          BBS district geocode: ``BD`` + division(2) + district(2), ``BD3026``
upazila            text         as given, lower-cased
union              text         as given, lower-cased
ward               text         the ward number
address            address      village / para / road / house / post office as free text: Bangla
                                repaired, Bangla digits as ASCII, whitespace collapsed
postcode           postcode     4-digit Bangladeshi postcode, e.g. ``1207``
pmt_score          number       float
status             text         enrolment status, lower-cased (``active``, ``suspended``, ...)
since              date         ISO date the enrolment began
amount             number       monthly amount in taka, float
=================  ===========  ====================================================================
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Final

import numpy as np
import pandas as pd

RECORD_KINDS: Final = ("programme", "survey", "reference")

#: field name -> kind of value; the order is the canonical column order.
FIELD_KINDS: Final[dict[str, str]] = {
    "source": "key",
    "record_id": "key",
    "kind": "kind",
    "programme": "text",
    "full_name": "name",
    "full_name_bn": "name",
    "father_name": "name",
    "mother_name": "name",
    "spouse_name": "name",
    "gender": "gender",
    "date_of_birth": "date",
    "birth_year": "year",
    "age": "age",
    "age_as_of": "date",
    "nid": "nid",
    "nid_alt": "nid",
    "brn": "brn",
    "identifiers": "identifiers",
    "phone": "phone",
    "account_provider": "provider",
    "account_number": "account",
    "household_id": "text",
    "relation_to_head": "relation",
    "division": "geo",
    "district": "geo",
    "upazila": "text",
    "union": "text",
    "ward": "text",
    "address": "address",
    "postcode": "postcode",
    "pmt_score": "number",
    "status": "text",
    "since": "date",
    "amount": "number",
}

REQUIRED_FIELDS: Final = ("source", "record_id")
#: canonical fields newer than the first record stores (issue 14): a record's content hash covers
#: them only where it has a value (``engine.ingest.run.hashed_values``)
LATER_FIELDS: Final = ("identifiers", "address", "postcode")
CANONICAL_FIELDS: Final = tuple(FIELD_KINDS)


@dataclass(slots=True)
class Record:
    """One canonical record. Values are cleaned (see the module docstring) or ``None``."""

    source: str
    record_id: str
    kind: str | None = None
    programme: str | None = None
    full_name: str | None = None
    full_name_bn: str | None = None
    father_name: str | None = None
    mother_name: str | None = None
    spouse_name: str | None = None
    gender: str | None = None
    date_of_birth: str | None = None
    birth_year: int | None = None
    age: int | None = None
    age_as_of: str | None = None
    nid: str | None = None
    nid_alt: str | None = None
    brn: str | None = None
    identifiers: str | None = None
    phone: str | None = None
    account_provider: str | None = None
    account_number: str | None = None
    household_id: str | None = None
    relation_to_head: str | None = None
    division: str | None = None
    district: str | None = None
    upazila: str | None = None
    union: str | None = None
    ward: str | None = None
    address: str | None = None
    postcode: str | None = None
    pmt_score: float | None = None
    status: str | None = None
    since: str | None = None
    amount: float | None = None

    @property
    def key(self) -> str:
        """The record's identity across ekjon: ``source/record_id``."""
        return record_key(self.source, self.record_id)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Record:
        """Build a record from a mapping, ignoring keys that are not canonical fields."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in names})


def record_key(source: str, record_id: str) -> str:
    """The one string that names a record everywhere (graph node id, exports, API)."""
    return f"{source}/{record_id}"


assert tuple(f.name for f in fields(Record)) == CANONICAL_FIELDS, "Record and FIELD_KINDS disagree"


def is_missing_value(value: Any) -> bool:
    """Whether one field value is missing: ``None``, ``pd.NA``, ``NaT`` or a float NaN."""
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, float | np.floating):
        return bool(value != value)
    return False
