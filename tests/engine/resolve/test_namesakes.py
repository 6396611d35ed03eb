"""Namesakes: two people of one name and age are not one person because the name and age agree.

The shipped model once linked a survey child aged 6 to a stipend record of a namesake two
districts away at 0.99 (same name, same gender, birth years overlapping), and the merged "person"
then showed as enrolled twice in the primary stipend. Where the records live must count.
"""

from __future__ import annotations

import pandas as pd
import pytest

from engine.quality.training import load_model
from engine.resolve.explain import explain_pair

SURVEY_CHILD = "bbs_nhd/BD40656210400049:6"
STIPEND = "pesp_stipend/16562103:0002"


@pytest.fixture(scope="module")
def model():
    return load_model()


def _records(stipend_place: dict[str, str]) -> pd.DataFrame:
    # a few thousand other people, so that "Sumaiya Parvin" is a name as common as it is in a
    # union's records rather than the name of everyone in the frame
    others = [
        {"source": "ec_nid", "record_id": str(i), "full_name": f"Person{i} Name{i % 97}"}
        for i in range(3000)
    ]
    child = {
        "source": "bbs_nhd",
        "record_id": "BD40656210400049:6",
        "full_name": "SUMAIYA PARVIN",
        "gender": "female",
        "age": 6,
        "age_as_of": "2022-06-15",
        "household_id": "BD40656210400049",
        "district": "BD4065",
        "upazila": "bhabanagar",
        "union": "fatikchhari",
    }
    stipend = {
        "source": "pesp_stipend",
        "record_id": "16562103:0002",
        "full_name": "Mst. Sumaiya Parveen",
        "gender": "female",
        "date_of_birth": "2016-03-14",
        **stipend_place,
    }
    return pd.DataFrame([child, stipend, *others])


def test_a_namesake_child_in_another_district_is_not_linked(model) -> None:
    far = {"district": "BD5585", "upazila": "rajanagar", "union": "amingram"}
    explanation = explain_pair(_records(far), SURVEY_CHILD, STIPEND, model)
    assert explanation.probability < 0.5


def test_the_same_child_in_her_own_union_is_linked(model) -> None:
    home = {"district": "BD4065", "upazila": "bhabanagar", "union": "fatikchhari"}
    explanation = explain_pair(_records(home), SURVEY_CHILD, STIPEND, model)
    assert explanation.probability > 0.5
