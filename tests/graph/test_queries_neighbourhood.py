"""neighbourhood and its drawing."""

from __future__ import annotations

from pathlib import Path

from graph.queries import draw_neighbourhood, neighbourhood
from tests.graph.queries_world import HOUSEHOLD_PHONE, published  # noqa: F401  (fixture)


def test_a_person_within_two_steps(published) -> None:  # noqa: F811
    g = neighbourhood(published, "Person", "P1", depth=2)
    labels = {d["label"] for _, d in g.nodes(data=True)}
    assert {"Person", "Record", "Household", "NID", "Phone", "Account", "Source"} <= labels
    assert g.has_edge("Record:dss_oa/P1", "Person:P1", key="OF")
    assert g.has_edge("Person:P2", "Household:H1", key="MEMBER_OF")
    assert g.nodes["Person:P1"]["depth"] == 0
    # Programme and Source nodes are shown, not walked through
    assert g.nodes["Programme:old_age_allowance"]["depth"] == 2
    assert "Record:dss_oa/P10" not in g


def test_limit_and_unknown_node(published) -> None:  # noqa: F811
    g = neighbourhood(published, "Phone", HOUSEHOLD_PHONE, depth=3, limit=5)
    assert g.number_of_nodes() == 5 and g.graph["truncated"]
    assert neighbourhood(published, "Person", "nobody").number_of_nodes() == 0


def test_draws_a_png(published, tmp_path: Path) -> None:  # noqa: F811
    path = draw_neighbourhood(neighbourhood(published, "Person", "P5"), tmp_path / "p5.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
