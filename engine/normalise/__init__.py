"""Bangladesh-aware normalisers: identifiers, dates, names in both scripts, geography.

``clean(kind, raw, **hints)`` is what ingest calls for every field; the rest are the building blocks
matching uses (name keys, NID cores, wallet phones, birth-date ranges, district geocodes).
"""

from __future__ import annotations

from engine.normalise.bangla import is_bangla, repair_bangla, transliterate
from engine.normalise.dates import BirthDate, birth_date, clean_date, parse_age
from engine.normalise.digits import to_ascii_digits
from engine.normalise.fields import RELATIONS, clean, is_missing
from engine.normalise.geo import (
    DISTRICTS,
    DIVISIONS,
    District,
    Division,
    district_code,
    division_code,
)
from engine.normalise.identifiers import (
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
)
from engine.normalise.names import (
    fold_token,
    honorific_gender,
    name_tokens,
    normalise_name,
    phonetic_key,
)

__all__ = [
    "DISTRICTS",
    "DIVISIONS",
    "RELATIONS",
    "BirthDate",
    "District",
    "Division",
    "account_phone",
    "birth_date",
    "clean",
    "clean_account",
    "clean_brn",
    "clean_date",
    "clean_nid",
    "clean_phone",
    "clean_provider",
    "district_code",
    "division_code",
    "fold_token",
    "honorific_gender",
    "is_bangla",
    "is_missing",
    "is_mobile_part",
    "name_tokens",
    "nid_birth_year",
    "nid_core",
    "nid_form",
    "normalise_name",
    "parse_age",
    "phonetic_key",
    "repair_bangla",
    "to_ascii_digits",
    "transliterate",
]
