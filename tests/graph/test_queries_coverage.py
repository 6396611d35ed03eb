"""Coverage: poor households receiving nothing, well-off households receiving."""

from __future__ import annotations

import pytest

from graph.queries import COVERAGE_COLUMNS, coverage
from tests.graph.queries_world import published  # noqa: F401  (fixture)


def test_poor_uncovered_and_well_off_covered(published) -> None:  # noqa: F811
    found = coverage(published, pmt_cutoff=30)
    assert list(found.columns) == list(COVERAGE_COLUMNS)
    assert list(zip(found["household_id"], found["finding"], strict=True)) == [
        ("H20", "poor_not_covered"),
        ("H21", "well_off_covered"),
    ]
    rich = found.set_index("household_id").loc["H21"]
    assert rich["programmes"] == "old_age_allowance" and rich["enrolled_members"] == 1


def test_cutoffs_move_households_between_findings(published) -> None:  # noqa: F811
    # at 25 the Karim household (PMT 20, covered) stays out; at 5 nobody is poor
    assert "H1" not in set(coverage(published, pmt_cutoff=25)["household_id"])
    assert set(coverage(published, pmt_cutoff=5, well_off_cutoff=90)["household_id"]) == set()
    # with the well-off line at 18, every covered household above it is listed
    listed = set(coverage(published, pmt_cutoff=12, well_off_cutoff=18)["household_id"])
    assert {"H1", "H21"} <= listed and "H2" not in listed  # H2 (PMT 15) is between the lines
    with pytest.raises(ValueError, match="well_off_cutoff"):
        coverage(published, pmt_cutoff=30, well_off_cutoff=10)


def test_without_household_scores_the_records_scores_are_used(tmp_path) -> None:
    from engine.publish import publish
    from graph.embedded import EmbeddedStore
    from tests.graph.queries_world import world

    with EmbeddedStore(tmp_path / "graph", fsync=False) as store:
        publish(store, *world())
        households = store.nodes("Household", ["id"])["id"]
        store.merge_nodes("Household", [{"id": h, "pmt_score": None} for h in households])
        found = coverage(store, pmt_cutoff=30)
    assert list(zip(found["household_id"], found["finding"], strict=True)) == [
        ("H20", "poor_not_covered"),
        ("H21", "well_off_covered"),
    ]
