"""Name-and-age-only links between records sharing no place, capped where namesakes crowd: in the
batch, the one-record path (in memory and from its saved tables) and ``explain``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from engine.incremental.resolver import IncrementalResolver
from engine.resolve.crowded import CROWDED_NAMESAKES, Namesakes
from engine.resolve.explain import explain_pair
from engine.resolve.pipeline import resolve
from tests.engine.resolve.test_pipeline import RuleModel

SURVEY = dict(source="nhd", record_id="h1:1", full_name="Abdul Karim", age=40, household_id="h1")
SURVEY |= dict(age_as_of="2017-06-30", district="BD3026")


def _sims(count: int, **extra: str) -> list[dict]:
    """``count`` SIM registrations of namesakes born in 1977, each with its own NID (so they are
    different persons) and number; no place."""
    return [
        dict(
            source="sim",
            record_id=str(i),
            full_name="Abdul Karim",
            date_of_birth=f"1977-03-{i + 1:02d}",
            nid=f"26123456789{i:02d}",
            phone=f"017112345{i:02d}",
            **extra,
        )
        for i in range(count)
    ]


def _records(sims: int, **extra: str) -> pd.DataFrame:
    return pd.DataFrame([SURVEY, *_sims(sims, **extra)])


def _joined(records: pd.DataFrame) -> bool:
    """Whether the batch puts the survey member (row 0) with a SIM registration."""
    person = resolve(records, RuleModel()).person
    return bool((person[1:] == person[0]).any())


def test_a_name_and_an_age_link_no_place_backs_is_capped_where_namesakes_crowd() -> None:
    # the SIM registry holds the name born in those years fewer times than the bound: linked
    assert _joined(_records(CROWDED_NAMESAKES - 1))
    # as many times as the bound: the survey member is a person of their own
    crowded = _records(CROWDED_NAMESAKES)
    resolution = resolve(crowded, RuleModel())
    assert not (resolution.person[1:] == resolution.person[0]).any()
    assert resolution.clustering.crowded_links == CROWDED_NAMESAKES
    # a place in common, or namesakes born in other years, lift the cap
    assert _joined(_records(CROWDED_NAMESAKES, district="BD3026"))
    others = _records(CROWDED_NAMESAKES)
    others.loc[2:, "date_of_birth"] = "1990-01-01"
    assert _joined(others)


def test_namesakes_count_a_sources_records_of_a_name_born_in_overlapping_years() -> None:
    prepared = pd.DataFrame(
        {
            "source": ["sim"] * 6 + ["nhd"],
            "name_en": ["abdul karim"] * 5 + ["rahim"] + ["abdul karim"],
            "name_bn": [None] * 7,
            "year_lo": [1976.0, 1977.0, 1977.0, 1980.0, np.nan, 1977.0, 1977.0],
            "year_hi": [1977.0, 1977.0, 1978.0, 1980.0, np.nan, 1977.0, 1977.0],
        }
    )
    names = Namesakes.of(prepared)
    count = names.count(
        np.array(["sim", "sim", "nhd", "sim"], object),
        np.array(["abdul karim", "abdul karim", "abdul karim", None], object),
        np.array([1977.0, 1979.0, 1977.0, 1977.0]),
        np.array([1977.0, 1980.0, 1977.0, 1977.0]),
    )
    # 1977: the first three and the unknown year; 1979-80: the 1980 one and the unknown year;
    # the survey carries the name once (never crowded); no name, no count
    assert count.tolist() == [4, 2, 0, 0]


@pytest.mark.parametrize("saved", [False, True])
def test_the_one_record_path_caps_as_the_batch_does(saved: bool, tmp_path: Path) -> None:
    for sims, joins in ((CROWDED_NAMESAKES - 1, True), (CROWDED_NAMESAKES, False)):
        records = _records(sims)
        batch = records.iloc[1:].reset_index(drop=True)
        resolution = resolve(batch, RuleModel(), keep_blocking_keys=True)
        ids = [f"p{label}" for label in resolution.person]
        if saved:
            folder = tmp_path / str(sims)
            IncrementalResolver.write_batch(folder, resolution, ids, RuleModel(), records=batch)
            resolver = IncrementalResolver.load(folder, RuleModel())
        else:
            resolver = IncrementalResolver.from_resolution(
                resolution, ids, RuleModel(), records=batch
            )
        match = resolver.resolve_one(SURVEY, explain=False)
        assert match.new_person is not joins
        assert _joined(records) is joins  # what the batch over every record does


def test_explain_says_when_the_cap_applied() -> None:
    records = _records(CROWDED_NAMESAKES)
    capped = explain_pair(records, "nhd/h1:1", "sim/0", RuleModel())
    assert not capped.links and capped.log_odds == -1.0
    assert "share no place" in capped.to_text() and "sim holds 5 records" in capped.to_text()
    plain = explain_pair(_records(CROWDED_NAMESAKES - 1), "nhd/h1:1", "sim/0", RuleModel())
    assert plain.links and "share no place" not in plain.to_text()


def test_the_one_record_explanation_says_when_the_cap_applied() -> None:
    # what an MIS reads in a dry run's answer: the best candidate's log-odds as it was decided
    for sims, capped in ((CROWDED_NAMESAKES - 1, False), (CROWDED_NAMESAKES, True)):
        batch = _records(sims).iloc[1:].reset_index(drop=True)
        resolution = resolve(batch, RuleModel(), keep_blocking_keys=True)
        ids = [f"p{label}" for label in resolution.person]
        resolver = IncrementalResolver.from_resolution(resolution, ids, RuleModel(), records=batch)
        explanation = resolver.resolve_one(SURVEY, explain=True).explanation
        assert explanation is not None
        assert ("share no place" in explanation.to_text()) is capped
        assert (explanation.log_odds == -1.0) is capped
        assert explanation.links is not capped
        # the record resolved counts among the namesakes, as the batch counts it
        assert ("holds 5 records" in explanation.to_text()) is capped
