"""Small simulated candidate pairs, shared by the model tests."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest


def simulated_pairs(n: int = 4000, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Candidate pairs as the engine would hand them over: similarities, a difference, a flag, NaN.

    About 15% are matches. Some non-matches are father and son: same name and phone, birth years
    18-40 apart, which only a model with interactions can separate from matches.
    """
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.15).astype(np.int64)
    match = y == 1
    name = np.where(
        match, np.clip(rng.normal(0.95, 0.05, n), 0, 1), np.clip(rng.normal(0.5, 0.2, n), 0, 1)
    )
    year_diff = np.where(match, rng.choice([0, 0, 0, 1, 2], n), rng.integers(0, 40, n)).astype(
        float
    )
    phone = np.where(match, rng.random(n) < 0.7, rng.random(n) < 0.1).astype(float)
    father_son = ~match & (rng.random(n) < 0.05)
    name[father_son] = 1.0
    phone[father_son] = 1.0
    year_diff[father_son] = rng.integers(18, 40, father_son.sum())
    X = pd.DataFrame(
        {"name_similarity": name, "birth_year_difference": year_diff, "same_phone": phone}
    )
    X.loc[rng.random(n) < 0.2, "same_phone"] = np.nan
    X.loc[rng.random(n) < 0.1, "birth_year_difference"] = np.nan
    return X, y


@pytest.fixture(scope="session")
def pairs() -> tuple[pd.DataFrame, np.ndarray]:
    return simulated_pairs(4000, seed=0)


@pytest.fixture(scope="session")
def holdout_pairs() -> tuple[pd.DataFrame, np.ndarray]:
    return simulated_pairs(2000, seed=1)


@pytest.fixture(scope="session", autouse=True)
def one_openmp_thread():
    """Small fits are fastest on one thread: on a busy shared machine OpenMP (boosting) and BLAS
    (logistic regression) threads spin and make them ten times slower."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        yield
