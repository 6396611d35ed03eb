"""Comparison levels: how a feature's values are cut, and the defaults chosen from the data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models import Comparison, InvalidParameterError
from models.comparisons import infer_comparison


def test_similarity_levels_count_down_from_exact():
    c = Comparison("surname_jw", levels=[0.8, 1.0, 0.92])
    assert c.levels == (1.0, 0.92, 0.8)
    assert c.level_labels() == [">= 1", ">= 0.92", ">= 0.8", "< 0.8"]
    values = np.array([1.0, 0.95, 0.92, 0.85, 0.1, np.nan])
    assert c.assign(values).tolist() == [0, 1, 1, 2, 3, -1]


def test_difference_levels_count_up_from_zero():
    c = Comparison("birth_year_diff", levels=[5, 0, 1], closer="lower")
    assert c.level_labels() == ["<= 0", "<= 1", "<= 5", "> 5"]
    assert c.assign(np.array([0, 1, 3, 30, np.nan])).tolist() == [0, 1, 2, 3, -1]


def test_defaults_follow_the_kind_of_values():
    assert infer_comparison("same_nid", np.array([0.0, 1.0, np.nan])).level_labels() == [
        ">= 1",
        "< 1",
    ]
    assert infer_comparison("name_jw", np.array([0.3, 0.97, 1.0])).closer == "higher"
    shared = infer_comparison("persons_on_phone", np.array([0.0, 1.0, 3.0]))
    assert shared.closer == "lower" and shared.level_labels() == ["<= 0", "<= 1", "<= 2", "> 2"]
    years = infer_comparison("birth_year_diff", np.array([0.0, 4.0, 60.0]))
    assert years.levels == (0, 1, 2, 5, 10, 20)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": ""}, "non-empty feature name"),
        ({"name": "a", "levels": [1.0, 1.0]}, "repeat a cut point"),
        ({"name": "a", "levels": [float("inf")]}, "finite numbers"),
        ({"name": "a", "closer": "up"}, "must be 'higher' or 'lower'"),
    ],
)
def test_bad_comparisons_are_refused(kwargs, message):
    with pytest.raises(InvalidParameterError, match=message):
        Comparison(**kwargs)


def test_a_frame_of_float_columns_converts_as_column_by_column() -> None:
    """Compare's float32 features (and float64 ones) are read in one conversion: the same matrix
    as converting each column, NaN kept, and an infinite value still named."""
    from models.comparisons import features_to_array
    from models.errors import FeatureError

    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "name_sort": rng.random(7).astype(np.float32),
            "nid_match": np.array([1, 0, np.nan, 1, 0, 1, np.nan], dtype=np.float32),
            "age_gap": rng.random(7) * 40,  # float64
        }
    )
    arr, names = features_to_array(frame, "test")
    expected = np.column_stack([frame[c].to_numpy(dtype=np.float64) for c in frame.columns])
    assert names == ["name_sort", "nid_match", "age_gap"]
    assert arr.dtype == np.float64
    np.testing.assert_array_equal(arr, expected)
    frame.loc[3, "age_gap"] = np.inf
    with pytest.raises(FeatureError, match="'age_gap' \\(row 3\\)"):
        features_to_array(frame, "test")
