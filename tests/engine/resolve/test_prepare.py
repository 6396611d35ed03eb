"""Prepared matching columns: one key per NID card, the phone behind a wallet, names in one form."""

from __future__ import annotations

import pandas as pd

from engine.resolve.prepare import prepare


def _records(rows: list[dict[str, object]]) -> pd.DataFrame:
    base = {"source": "dss", "kind": "programme"}
    return pd.DataFrame([{**base, "record_id": str(i), **row} for i, row in enumerate(rows)])


def test_nid_forms_of_one_card_get_one_key_through_the_ec_extract() -> None:
    records = _records(
        [
            {"nid": "19852612345678901"},  # 17 digits: year + 13-digit core
            {"nid": "2612345678901"},  # the 13-digit core
            {"nid": "4512345678"},  # the smart card number of the same person
            {
                "source": "ec",
                "kind": "reference",
                "nid": "4512345678",
                "nid_alt": "19852612345678901",
            },
            {"nid": "9912345678"},  # a smart card the EC extract does not know
        ]
    )
    prepared = prepare(records)
    keys = prepared["nid_key"].tolist()
    assert keys[0] == keys[1] == keys[2] == keys[3]
    assert keys[4] not in (keys[0], -1)
    assert prepared["nid_linked"].tolist()[2]


def test_a_wallet_counts_as_its_mobile_number() -> None:
    records = _records(
        [
            {"account_provider": "bkash", "account_number": "01711234567"},
            {"account_provider": "rocket", "account_number": "017112345678"},
            {"account_provider": "sonali", "account_number": "1234567890"},
            {"phone": "01711234567"},
        ]
    )
    prepared = prepare(records)
    assert prepared["wallet"].tolist()[:3] == [1711234567, 1711234567, -1]
    assert prepared["numbers"].tolist()[3] == [1711234567]


def test_a_number_used_by_a_household_counts_its_distinct_names() -> None:
    records = _records(
        [
            {"full_name": "Abdul Karim", "phone": "01711234567"},
            {"full_name": "Rahima Begum", "phone": "01711234567"},
            {
                "full_name": "Rahima Begum",
                "account_provider": "bkash",
                "account_number": "01711234567",
            },
            {"full_name": "Sushila Rani", "phone": "01812345678"},
        ]
    )
    prepared = prepare(records)
    assert prepared["phone_names"].tolist() == [2, 2, 0, 1]
    assert prepared["wallet_names"].tolist()[2] == 2


def test_a_bangla_only_name_gets_a_latin_form_and_the_same_blocking_key_as_english() -> None:
    records = _records([{"full_name_bn": "মোঃ আব্দুল করিম"}, {"full_name": "Md. Abdul Karim"}])
    prepared = prepare(records)
    assert prepared["bangla_only"].tolist() == [True, False]
    assert prepared["name_bn"][0] and prepared["name_bn"][0].isascii()
    assert set(prepared["name_keys"][0]) & set(prepared["name_keys"][1])


def test_an_age_only_record_gets_a_birth_year_range_and_a_default_date_is_weak() -> None:
    records = _records(
        [
            {"age": 41, "age_as_of": "2017-06-30"},
            {"date_of_birth": "1977-01-01"},
            {"date_of_birth": "1977-03-04"},
            {"age": 40, "age_as_of": "2017-06-30"},  # a round age is often rounded
        ]
    )
    prepared = prepare(records)
    assert prepared["year_lo"].tolist()[0] == 1975 and prepared["year_hi"].tolist()[0] == 1976
    assert prepared["birth_years"][0] == [1975, 1976]
    assert prepared["dob_weak"].tolist() == [True, True, False, True]
    assert prepared["dob_swappable"].tolist()[2]
    assert (prepared["year_lo"][3], prepared["year_hi"][3]) == (1974, 1979)
    # a defaulted 1 January gives no exact-date blocking key; a real date does
    assert prepared["dob_keys"][1] is None and prepared["dob_keys"][2] == [19770304, 19770403]
