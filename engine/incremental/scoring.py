"""How the one-record resolver scores a record's few pairs: compare in the calling thread, the
model's explanation reused as its scores, and whether compare reads name counts per record of the
frame it is given."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Final

import numpy as np
import pandas as pd

from engine.resolve.compare import compare

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


def explained_scores(
    features: pd.DataFrame | Mapping[str, np.ndarray], columns: list[str], values: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Probability and log-odds weight of each pair from the model's ``explain`` of every pair
    (its ``columns`` and ``values``, one row a pair), as :func:`engine.resolve.pipeline.score`
    would give them for a model whose probabilities are the explanation's (obvious mismatches get
    their fixed probability), read by position without pandas' indexing (a few milliseconds per
    record)."""
    from engine.resolve.cluster import logodds
    from engine.resolve.pipeline import OBVIOUS_MISMATCH_PROBABILITY, obvious_mismatch

    probability = np.full(len(values), OBVIOUS_MISMATCH_PROBABILITY)
    rows = np.flatnonzero(~obvious_mismatch(features))
    probability[rows] = values[rows, columns.index("probability")]
    return probability, logodds(probability)


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
