"""Double dipping on the hand-built world, and the policy file that drives it."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml

from graph.policy import DEFAULT_POLICY, PolicyError, load_policy
from graph.queries import DOUBLE_DIPPING_COLUMNS, double_dipping
from tests.graph.queries_world import published  # noqa: F401  (fixture)


def _found(frame) -> set[tuple[str, str, str]]:
    return set(zip(frame["person_id"], frame["rule"], frame["programmes"], strict=True))


def test_finds_every_planted_case_and_nothing_else(published) -> None:  # noqa: F811
    found = double_dipping(published, load_policy())
    assert list(found.columns) == list(DOUBLE_DIPPING_COLUMNS)
    assert _found(found) == {
        (
            "P5",
            "cash_cap",
            "disability_allowance;freedom_fighter_honorarium;old_age_allowance;widow_allowance",
        ),
        ("P4", "exclusive_pair", "old_age_allowance;widow_allowance"),
        ("P5", "exclusive_pair", "old_age_allowance;widow_allowance"),
        ("P5", "exclusive_pair", "disability_allowance;old_age_allowance"),
        ("P5", "exclusive_pair", "disability_allowance;widow_allowance"),
        ("P19", "one_per_household", "old_age_allowance"),
        ("P8", "duplicate_enrolment", "old_age_allowance"),
    }


def test_findings_carry_their_evidence(published) -> None:  # noqa: F811
    found = double_dipping(published)
    rows = {(p, r): row for (p, r), row in zip(
        zip(found["person_id"], found["rule"], strict=True), found.to_dict("records"), strict=True
    )}  # fmt: skip
    ghost = rows[("P8", "duplicate_enrolment")]
    assert ghost["record_ids"] == "dss_oa/P8a;dss_oa/P8b"
    assert ghost["tie"] == pytest.approx(0.99)
    assert "dss_oa/P8a~dss_oa/P8b=0.990" in ghost["links"]
    assert ghost["policy"] == "double_dipping-v1"
    # the one-per-household finding names the household and both members' records
    household = rows[("P19", "one_per_household")]
    assert household["household_id"] == "H7"
    assert household["record_ids"] == "dss_oa/P19;dss_oa/P9a"
    assert "first enrolled: P9" in household["detail"]


def test_pair_tied_through_another_record_reports_the_weakest_link(published) -> None:  # noqa: F811
    found = double_dipping(published)
    row = found[
        (found["person_id"] == "P5")
        & (found["programmes"] == "disability_allowance;old_age_allowance")
    ].iloc[0]
    # OA ~ widow 0.93, widow ~ disability 0.90: no direct OA ~ disability link
    assert row["tie"] == pytest.approx(0.90)


def test_inactive_enrolments_workfare_and_in_kind_do_not_count(published) -> None:  # noqa: F811
    persons = set(double_dipping(published)["person_id"])
    assert "P6" not in persons  # MCB + disability + EGPP + VGD: two count toward the cap
    assert "P7" not in persons  # widow allowance suspended
    assert "P9" not in persons  # second OA record inactive
    assert "P18a" not in persons and "P18b" not in persons  # resolution split them


def test_a_stricter_policy_finds_more(published, tmp_path: Path) -> None:  # noqa: F811
    data = yaml.safe_load(DEFAULT_POLICY.read_text(encoding="utf-8"))
    data["version"] = 2
    data["cash_cap"] = 1
    data["active_statuses"] = ["active", "suspended"]
    path = tmp_path / "double_dipping-v2.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    found = double_dipping(published, load_policy(path))
    capped = set(found.loc[found["rule"] == "cash_cap", "person_id"])
    assert {"P4", "P5", "P6", "P7"} <= capped
    assert set(found["policy"]) == {"double_dipping-v2"}


def test_rules_can_be_chosen(published) -> None:  # noqa: F811
    found = double_dipping(published, rules=("duplicate_enrolment",))
    assert set(found["rule"]) == {"duplicate_enrolment"}
    with pytest.raises(ValueError, match="Unknown double-dipping rule 'cap'"):
        double_dipping(published, rules=("cap",))


# --- the policy file ------------------------------------------------------------------------------


def test_the_shipped_policy_reads_as_the_domain_says() -> None:
    policy = load_policy()
    assert policy.version == 1 and policy.cash_cap == 3
    assert policy.counts_toward_cap("old_age_allowance")
    assert not policy.counts_toward_cap("egpp_workfare")  # workfare is excluded from the cap
    assert not policy.counts_toward_cap("vgd_food")  # in-kind
    assert ("old_age_allowance", "widow_allowance") in policy.exclusive_pairs
    assert policy.one_per_household == ("old_age_allowance",)
    assert (
        policy.is_active("Active") and policy.is_active(None) and not policy.is_active("suspended")
    )
    unknown = policy.programme("new_scheme")
    assert not unknown.known and unknown.cash


def _write(tmp_path: Path, change: dict) -> Path:
    data = yaml.safe_load(DEFAULT_POLICY.read_text(encoding="utf-8"))
    data.update(change)
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ({"cash_cap": "three"}, "'cash_cap'"),
        ({"exclusive_pairs": [["old_age_allowance"]]}, "'exclusive_pairs[0]'"),
        ({"exclusive_pairs": [["old_age_allowance", "widow_alowance"]]}, "widow_alowance"),
        ({"one_per_household": ["old_age"]}, "'one_per_household'"),
        ({"programmes": {"x": {"name": "X", "kind": "allowance"}}}, "'programmes.x.cash'"),
        ({"programmes": {"x": {"cash": True, "kind": "grant"}}}, "'programmes.x.kind'"),
        ({"cash_cap_exclude": ["workfare"]}, "'cash_cap_exclude'"),
        ({"version": 0}, "'version'"),
    ],
)
def test_a_bad_policy_is_refused_naming_the_key(tmp_path: Path, change: dict, key: str) -> None:
    with pytest.raises(PolicyError, match=key.replace("[", r"\[").replace("]", r"\]")):
        load_policy(_write(tmp_path, change))


def test_a_missing_or_broken_file_says_so(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="cannot be read"):
        load_policy(tmp_path / "absent.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("version: [1\n", encoding="utf-8")
    with pytest.raises(PolicyError, match="not valid YAML"):
        load_policy(broken)


def test_the_links_column_does_not_depend_on_the_stores_edge_order(tmp_path: Path) -> None:
    """The same graph, its links written in another order and direction (as a store rebuilt or
    another run may hold them), gives the same findings, links column and all; tied links are
    listed by record key."""
    from engine.publish import publish
    from graph.embedded import EmbeddedStore
    from tests.graph.queries_world import world

    records, assignment, links = world()
    p5 = links["left"].str.contains("P5") | links["right"].str.contains("P5")
    links.loc[p5, "probability"] = 0.93  # P5's three links tie
    flipped = links.iloc[::-1].rename(columns={"left": "right", "right": "left"})

    found = []
    for i, given in enumerate((links, flipped)):
        with EmbeddedStore(tmp_path / f"graph{i}", fsync=False) as store:
            publish(store, records, assignment, given)
            found.append(double_dipping(store))
    assert found[0]["links"].tolist() == found[1]["links"].tolist()
    pd.testing.assert_frame_equal(found[0], found[1])
    cap = found[0][(found[0]["person_id"] == "P5") & (found[0]["rule"] == "cash_cap")]
    assert cap["links"].iloc[0] == (
        "dss_disability/P5~dss_widow/P5=0.930;dss_disability/P5~ff/P5=0.930;"
        "dss_oa/P5~dss_widow/P5=0.930"
    )


def test_one_enrolment_checked_alone_breaks_the_rules_the_whole_graph_finds(
    published,  # noqa: F811
) -> None:
    """The per-record check (the API's /resolve) and the whole-graph question apply one rule:
    each enrolment of a finding, checked alone as if it arrived now, names that finding, with the
    same evidence."""
    from graph.queries.would_break import enrolments_near, would_break, would_break_rows

    policy = load_policy()
    found = double_dipping(published, policy)
    enrolled = published.edges("ENROLLED_IN").set_index("from")
    person_of = published.edges("OF").set_index("from")["to"]
    checked = 0
    for finding in found.to_dict("records"):
        for key in finding["record_ids"].split(";"):
            terms = enrolled.loc[[key]]
            terms = terms[terms["to"].isin(finding["programmes"].split(";"))].iloc[0]
            enrolment = {"record_id": key, "programme": terms["to"]}
            enrolment |= {t: terms.get(t) for t in ("status", "since", "amount")}
            alone = would_break(published, enrolment, person_id=person_of[key], policy=policy)
            same = alone[
                (alone["rule"] == finding["rule"])
                & (alone["person_id"] == finding["person_id"])
                & (alone["programmes"] == finding["programmes"])
            ]
            assert len(same) == 1, (key, finding, alone)
            got = same.iloc[0]
            for column in ("record_ids", "household_id", "sources", "links", "detail", "policy"):
                assert got[column] == finding[column], (column, key)
            assert pd.isna(got["tie"]) == pd.isna(finding["tie"])
            if not pd.isna(finding["tie"]):
                assert got["tie"] == pytest.approx(finding["tie"])
            # as the API checks it: the household read only for a programme limited per household
            near = enrolments_near(
                published,
                person_of[key],
                households=policy.per_household(enrolment["programme"]),
            )
            rows = would_break_rows(
                published, enrolment, person_id=person_of[key], near=near, evidence=False
            )
            said = {(f["rule"], f["programmes"], f["record_ids"], f["detail"]) for f in rows}
            assert (
                finding["rule"],
                finding["programmes"],
                finding["record_ids"],
                finding["detail"],
            ) in said
            checked += 1
    assert checked >= 10


def test_an_enrolment_that_breaks_no_rule_is_no_finding(published) -> None:  # noqa: F811
    from graph.queries.would_break import would_break

    person = published.edges("OF").iloc[0]["to"]
    found = would_break(
        published,
        {"record_id": "new_mis/1", "programme": "vgd_food", "status": "inactive"},
        person_id=person,
    )
    assert found.empty and list(found.columns) == list(DOUBLE_DIPPING_COLUMNS)
