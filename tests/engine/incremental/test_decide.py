"""The one-record resolver's household evidence: the batch's rule on a record's candidates."""

from __future__ import annotations

import numpy as np
import pandas as pd

from engine.incremental.decide import household_links
from engine.incremental.resolver import IncrementalResolver
from engine.resolve.pipeline import resolve

#: Known records: the husband's survey record (20) and allowance (21, giving the wife's phone 222),
#: the wife's SIM registration (10, phone 222) and a namesake's (11, phone 333).
KNOWN = {
    20: ("bbs", 7, 111, "A"),
    21: ("dss", -1, 222, "A"),
    10: ("sim", -1, 222, "B"),
    11: ("sim", -1, 333, "C"),
}


def _frame(new: tuple[str, int, int], rows: np.ndarray) -> dict[str, np.ndarray]:
    """The new record's columns (source, household, phone) followed by ``rows``'."""
    parts = [new] + [KNOWN[int(r)][:3] for r in rows]
    source, household, phone = zip(*parts, strict=True)
    return {
        "source": np.asarray(source, dtype=object),
        "household": np.asarray(household, dtype=np.int64),
        "phone": np.asarray(phone, dtype=np.int64),
        "wallet": np.full(len(parts), -1, dtype=np.int64),
        "phone_names": np.full(len(parts), 2),
        "wallet_names": np.zeros(len(parts), dtype=np.int64),
    }


def _links(new: tuple[str, int, int], probability: list[float]) -> list[bool]:
    rows = np.array([10, 11])
    return household_links(
        _frame(new, rows),
        rows,
        [KNOWN[10][3], KNOWN[11][3]],
        np.asarray(probability),
        np.zeros(2, dtype=bool),
        own=-1,
        members=lambda code, source: [20] if (code, source) == (7, "bbs") else [],
        persons_of=lambda rows: [KNOWN[row][3] for row in rows],
        person_rows={"A": [20, 21], "B": [10], "C": [11]},
        frame_of=lambda rows: _frame(new, rows),
    ).tolist()


def test_a_new_survey_member_links_the_namesake_whose_number_her_household_holds() -> None:
    wife = ("bbs", 7, 111)  # the wife's survey record, in the husband's household
    assert _links(wife, [0.3, 0.3]) == [True, False]
    assert _links(wife, [0.01, 0.3]) == [False, False]  # scored below the floor
    # a record of no household, whose candidates have none either: nothing to go on
    assert _links(("egpp", -1, 444), [0.3, 0.3]) == [False, False]


class _ApartModel:
    """Same name, birth years within one and no NID conflict: 0.98; the same but in two
    districts: 0.3 (below the link threshold, above household evidence's floor); else 0.02."""

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        alike = (X["name_sort"].fillna(0).to_numpy() >= 0.85) & (X["nid_match"].to_numpy() != 0)
        alike &= X["year_gap"].fillna(0).to_numpy() <= 1
        apart = X["geo_level"].fillna(1).to_numpy() == 0
        p = np.where(alike & ~apart, 0.98, np.where(alike & apart, 0.3, 0.02))
        return np.column_stack([1 - p, p])


def test_the_one_record_explanation_says_when_household_evidence_linked() -> None:
    # the husband's survey record and his SIM registration (one person, phone 01711234501); the
    # wife's SIM registration gives his phone from another district: scored 0.3 alone
    survey = dict(age_as_of="2017-06-30", district="BD3026", household_id="h1")
    batch = pd.DataFrame(
        [
            dict(source="nhd", record_id="h1:1", full_name="Abdul Karim", age=40, **survey),
            dict(source="sim", record_id="H", full_name="Abdul Karim", district="BD3026",
                 date_of_birth="1977-03-01", nid="2612345678901", phone="01711234501"),
            dict(source="sim", record_id="W", full_name="Rahima Begum", district="BD1004",
                 date_of_birth="1981-03-01", nid="2612345678902", phone="01711234501"),
        ]
    )  # fmt: skip
    resolution = resolve(batch, _ApartModel(), keep_blocking_keys=True)
    ids = [f"p{label}" for label in resolution.person]
    resolver = IncrementalResolver.from_resolution(resolution, ids, _ApartModel(), records=batch)
    wife = dict(source="nhd", record_id="h1:2", full_name="Rahima Begum", age=36, **survey)
    match = resolver.resolve_one(wife, explain=True)
    assert match.person_id == ids[2]  # the household's number decided it
    explanation = match.explanation
    assert explanation is not None and explanation.right == "sim/W"
    # what an MIS reads: the weight the decision used, and why, not "does not link" at 0.3
    assert explanation.links and explanation.log_odds == 6.0
    assert "household evidence" in explanation.to_text()
    # without her household, nothing raises the pair: the model's word stands
    alone = resolver.resolve_one({**wife, "household_id": None}, explain=True).explanation
    assert alone is not None and not alone.links and "household" not in (alone.note or "")
