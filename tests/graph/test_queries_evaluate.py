"""evaluate_findings: findings against planted truth."""

from __future__ import annotations

import pandas as pd
import pytest

from graph.queries import evaluate_findings


def test_identifiers_match_with_or_without_provider() -> None:
    found = pd.DataFrame(
        {"identifier_type": ["wallet", "phone", "phone"],
         "identifier": ["bkash:01711000001", "01811000002", "01911000003"]}
    )  # fmt: skip
    truth = pd.DataFrame(
        {"identifier_type": ["wallet", "phone"], "identifier": ["01711000001", "01811000002"]}
    )
    result = evaluate_findings(found, truth, on=["identifier_type", "identifier"])
    assert (result.precision, result.recall) == (pytest.approx(2 / 3), 1.0)
    assert list(result.spurious["identifier"]) == ["01911000003"]


def test_double_dipping_matches_by_rule_and_shared_records() -> None:
    # the resolver's person ids differ from the truth's; records and rule decide
    found = pd.DataFrame(
        {"person_id": ["r1", "r2", "r3"],
         "rule": ["exclusive_pair", "duplicate_enrolment", "cash_cap"],
         "record_ids": ["oa/1;widow/1", "oa/7;oa/8", "oa/9"]}
    )  # fmt: skip
    truth = pd.DataFrame(
        {"person_id": ["t1", "t2"], "rule": ["exclusive_pair", "duplicate_enrolment"],
         "record_keys": ["oa/1|widow/1", "oa/5|oa/6"]}
    )  # fmt: skip
    result = evaluate_findings(found, truth)
    assert result.precision == pytest.approx(1 / 3) and result.recall == 0.5
    assert list(result.missed["person_id"]) == ["t2"]
