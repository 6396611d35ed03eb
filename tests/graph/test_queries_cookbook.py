"""docs/cypher-cookbook.md: every checked query runs on Neo4j and agrees with the Python query."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from graph.queries import (
    coverage,
    double_dipping,
    programmes_of,
    reference_checks,
    suspicious_identifiers,
)
from tests.graph.queries_world import published  # noqa: F401  (fixture)

COOKBOOK = Path(__file__).resolve().parents[2] / "docs" / "cypher-cookbook.md"
_BLOCK = re.compile(r"<!-- check: (\w+) -->\s*```cypher\n(.*?)```", re.S)


def cookbook() -> dict[str, str]:
    return dict(_BLOCK.findall(COOKBOOK.read_text(encoding="utf-8")))


def test_the_cookbook_has_a_checked_query_for_every_question() -> None:
    assert set(cookbook()) == {
        "programmes_of",
        "cash_cap",
        "exclusive_pair",
        "one_per_household",
        "duplicate_enrolment",
        "suspicious",
        "wallet_not_own",
        "phone_not_own",
        "nid_not_in_ec",
        "brn_dob_mismatch",
        "poor_not_covered",
        "well_off_covered",
        "neighbourhood",
    }


@pytest.mark.neo4j
@pytest.mark.parametrize("published", ["neo4j"], indirect=True)
def test_every_query_agrees_with_python(published) -> None:  # noqa: F811
    store = published
    queries = cookbook()

    def run(name: str) -> list[dict]:
        return store.run_read(queries[name])

    rows = run("programmes_of")
    expected = programmes_of(store, "2612345000005").enrolments
    assert {(r["person_id"], r["programme"]) for r in rows} == set(
        zip(expected["person_id"], expected["programme"], strict=True)
    )

    python = double_dipping(store)

    def found(rule: str) -> set:
        return set(python.loc[python["rule"] == rule, "person_id"])

    assert {r["person_id"] for r in run("cash_cap")} == found("cash_cap")
    pairs = {(r["person_id"], ";".join(sorted(r["programmes"]))) for r in run("exclusive_pair")}
    wanted = python[python["rule"] == "exclusive_pair"]
    assert pairs == set(zip(wanted["person_id"], wanted["programmes"], strict=True))
    assert {r["household_id"] for r in run("one_per_household")} == set(
        python.loc[python["rule"] == "one_per_household", "household_id"]
    )
    assert {r["person_id"] for r in run("duplicate_enrolment")} == found("duplicate_enrolment")

    suspicious = suspicious_identifiers(store)
    wallets = set(suspicious.loc[suspicious["identifier_type"] == "wallet", "identifier"])
    assert {r["identifier"] for r in run("suspicious")} == wallets

    checks = reference_checks(store)
    for check in ("wallet_not_own", "phone_not_own", "nid_not_in_ec", "brn_dob_mismatch"):
        assert {r["record_id"] for r in run(check)} == set(
            checks.loc[checks["check"] == check, "record_id"]
        ), check

    covered = coverage(store, 30.0)
    for finding in ("poor_not_covered", "well_off_covered"):
        assert {r["household_id"] for r in run(finding)} == set(
            covered.loc[covered["finding"] == finding, "household_id"]
        ), finding

    assert run("neighbourhood")
