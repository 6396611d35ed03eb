"""One-to-one linking: when two files each hold a person at most once, keep each record's best link.

Linking a programme list against a reference registry in which each person appears once, a record
can match at most one record on the other side. Pairs are accepted greedily from the most probable
down, skipping any pair whose left or right record is already linked; this is what Splink and
recordlinkage users do for FEBRL4-style linking. It is not for deduplicating one file, where one
person may have several duplicate records.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def one_to_one(left: Any, right: Any, probability: Any, *, threshold: float = 0.5) -> np.ndarray:
    """Which candidate pairs survive a one-to-one constraint.

    Parameters
    ----------
    left, right
        Record ids of each candidate pair, one per side.
    probability
        Match probability per pair.
    threshold
        Pairs below it are never linked.

    Returns
    -------
    ndarray of bool
        True for the pairs kept: each left and each right record appears in at most one of them.
        Ties are broken by input order.

    Example
    -------
    >>> one_to_one(["a", "a", "b"], ["x", "y", "x"], [0.9, 0.8, 0.7]).tolist()
    [True, False, False]
    """
    left = np.asarray(left)
    right = np.asarray(right)
    p = np.asarray(probability, dtype=np.float64)
    if not (len(left) == len(right) == len(p)):
        raise ValueError(
            f"one_to_one needs one left id, right id and probability per pair; got "
            f"{len(left)}, {len(right)} and {len(p)}."
        )
    keep = np.zeros(len(p), dtype=bool)
    candidates = np.nonzero(p >= threshold)[0]
    order = candidates[np.argsort(-p[candidates], kind="stable")]
    used_left: set[Any] = set()
    used_right: set[Any] = set()
    for i in order:
        a, b = left[i], right[i]
        if a in used_left or b in used_right:
            continue
        used_left.add(a)
        used_right.add(b)
        keep[i] = True
    return keep
