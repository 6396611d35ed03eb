"""Suspicious identifiers: agent wallets and phone farms found, household sharing left alone."""

from __future__ import annotations

import pytest

from graph.queries import SUSPICIOUS_COLUMNS, RiskWeights, suspicious_identifiers
from tests.graph.queries_world import (
    AGENT_WALLET,
    FARM_PHONE,
    HOUSEHOLD_PHONE,
    PAIR_PHONE,
    SPLIT_PHONE,
    published,  # noqa: F401  (fixture)
)


def test_flags_the_agent_wallet_and_the_phone_farm_only(published) -> None:  # noqa: F811
    found = suspicious_identifiers(published)
    assert list(found.columns) == list(SUSPICIOUS_COLUMNS)
    assert set(zip(found["identifier_type"], found["identifier"], strict=True)) == {
        ("wallet", f"bkash:{AGENT_WALLET}"),
        ("phone", FARM_PHONE),
    }
    wallet = found.set_index("identifier").loc[f"bkash:{AGENT_WALLET}"]
    assert wallet["persons"] == 3 and wallet["households"] == 3 and wallet["unions"] == 3
    assert wallet["owner"] == "outside"
    assert "KYC owner NID 2612345000099 is none of theirs" in wallet["reasons"]
    assert wallet["person_ids"] == "P10;P11;P12"


def test_household_sharing_is_never_listed(published) -> None:  # noqa: F811
    everything = suspicious_identifiers(published, min_risk=0)
    assert HOUSEHOLD_PHONE not in set(everything["identifier"])
    assert f"bkash:{HOUSEHOLD_PHONE}" not in set(everything["identifier"])


def test_weaker_sharing_ranks_below_the_planted_fraud(published) -> None:  # noqa: F811
    everything = suspicious_identifiers(published, min_risk=0)
    order = list(everything["identifier"])
    assert set(order[:2]) == {f"bkash:{AGENT_WALLET}", FARM_PHONE}
    assert set(order[2:]) == {PAIR_PHONE, SPLIT_PHONE}
    risk = everything.set_index("identifier")["risk"]
    assert risk[PAIR_PHONE] < 0.5 and risk[SPLIT_PHONE] < 0.5
    # the split person's two halves are linked at 0.45: ER confidence lowers the risk
    split = everything.set_index("identifier").loc[SPLIT_PHONE]
    assert split["er_confidence"] == pytest.approx(0.55)
    assert risk[SPLIT_PHONE] < risk[PAIR_PHONE]
    assert everything.set_index("identifier").loc[PAIR_PHONE, "owner"] == "inside"


def test_weights_change_the_ranking(published) -> None:  # noqa: F811
    no_owner = RiskWeights(owner_outside=0.0, unions=0.0, programmes=0.0)
    found = suspicious_identifiers(published, min_risk=0, weights=no_owner)
    risk = found.set_index("identifier")["risk"]
    assert risk[FARM_PHONE] == pytest.approx(risk[f"bkash:{AGENT_WALLET}"])
    assert (
        risk[FARM_PHONE]
        < suspicious_identifiers(published).set_index("identifier")["risk"][FARM_PHONE]
    )


def test_min_risk_is_checked(published) -> None:  # noqa: F811
    with pytest.raises(ValueError, match="'min_risk'.*Got 2"):
        suspicious_identifiers(published, min_risk=2)


def test_sharing_inside_one_union_weighs_less(published) -> None:  # noqa: F811
    """Two households of one union are often one household split by resolution."""
    found = suspicious_identifiers(published, min_risk=0).set_index("identifier")
    assert "all in one union" in found.loc[PAIR_PHONE, "reasons"]
    assert "all in one union" not in found.loc[FARM_PHONE, "reasons"]
    flat = suspicious_identifiers(published, min_risk=0, weights=RiskWeights(one_union=1.0))
    flat = flat.set_index("identifier")
    assert found.loc[PAIR_PHONE, "risk"] < flat.loc[PAIR_PHONE, "risk"]
    assert found.loc[FARM_PHONE, "risk"] == flat.loc[FARM_PHONE, "risk"]
