"""The one-record resolver's household evidence: the batch's rule on a record's candidates."""

from __future__ import annotations

import numpy as np

from engine.incremental.decide import household_links

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
