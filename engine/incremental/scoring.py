"""How the one-record resolver scores a record's few pairs: compare in the calling thread, the
model's explanation reused as its scores, and whether compare reads name counts per record of the
frame it is given."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Final

import numpy as np
import pandas as pd

from engine.resolve.compare import compare
from engine.resolve.explain import model_features

_single_thread_lock = threading.Lock()
_single_thread_depth = 0
_saved_workers: Any = None


@contextmanager
def few_pairs() -> Iterator[None]:
    """Run compare's string similarities in the calling thread: rapidfuzz starts its worker threads
    on every call (about 2 ms), which for the few pairs of one record costs more than the work.
    Nested and concurrent uses restore the batch's setting when the last one ends."""
    global _single_thread_depth, _saved_workers
    import engine.resolve.compare

    with _single_thread_lock:
        if _single_thread_depth == 0:
            _saved_workers = engine.resolve.compare.WORKERS
            setattr(engine.resolve.compare, "WORKERS", 1)  # noqa: B010 (a Final of another module)
        _single_thread_depth += 1
    try:
        yield
    finally:
        with _single_thread_lock:
            _single_thread_depth -= 1
            if _single_thread_depth == 0:
                setattr(engine.resolve.compare, "WORKERS", _saved_workers)  # noqa: B010


class Explained:
    """A model whose probabilities were already computed by its ``explain`` (calibrated sums of
    the contributions), for :func:`engine.resolve.pipeline.score` to apply its rules around them."""

    def __init__(self, model: Any, explained: pd.DataFrame) -> None:
        self.feature_names_in_ = model_features(model)
        self._probability = explained["probability"]

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        p = self._probability.loc[X.index].to_numpy(dtype=np.float64)
        return np.column_stack([1.0 - p, p])


COUNTED_NAMES: Final = ("name_freq", "given_freq")


def counts_read_per_record(prepared: pd.DataFrame) -> bool:
    """Whether :func:`engine.resolve.compare.compare` reads the name counts relative to the number
    of
    records in the frame it is given (then a small frame standing for the whole data must scale
    them). Found by comparing one pair in a frame of two records and of four."""
    if prepared.empty:
        return False
    one = prepared.iloc[[0, 0, 0, 0]].reset_index(drop=True)
    for column in COUNTED_NAMES:
        one[column] = 1000
    pair = pd.DataFrame({"left": [0], "right": [1]})
    with few_pairs():
        two = compare(one.iloc[:2], pair)[list(COUNTED_NAMES)].to_numpy()
        four = compare(one, pair)[list(COUNTED_NAMES)].to_numpy()
    return not np.allclose(two, four, equal_nan=True)
