"""Findings measured against ground truth (the synthetic world's planted cases).

Example
-------
>>> found = pd.DataFrame({"identifier_type": ["wallet"], "identifier": ["bkash:01711000001"]})
>>> truth = pd.DataFrame({"identifier_type": ["wallet", "phone"],
...                       "identifier": ["01711000001", "01811000002"]})
>>> evaluate_findings(found, truth, on=["identifier_type", "identifier"]).recall
0.5
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

__all__ = ["Evaluation", "evaluate_findings", "record_set"]

_RECORD_COLUMNS = ("record_ids", "record_keys", "records", "record_id", "record_key")


@dataclass
class Evaluation:
    """Precision and recall of findings against the truth.

    ``missed`` are truth rows no finding matched; ``spurious`` findings that match no truth row.
    """

    precision: float
    recall: float
    true_positives: int
    false_positives: int
    false_negatives: int
    found: int
    truth: int
    missed: pd.DataFrame = field(repr=False, default_factory=pd.DataFrame)
    spurious: pd.DataFrame = field(repr=False, default_factory=pd.DataFrame)

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def line(self) -> str:
        """``precision 0.97 recall 0.99 (tp 98, fp 3, fn 1)``."""
        return (
            f"precision {self.precision:.3f} recall {self.recall:.3f} f1 {self.f1:.3f} "
            f"(found {self.found}, truth {self.truth}, fp {self.false_positives}, "
            f"fn {self.false_negatives})"
        )


def _identifier_key(value: Any) -> str:
    """The comparable part of an identifier: the number after ``provider:``."""
    text = str(value)
    return text.split(":", 1)[1] if ":" in text else text


def record_set(value: Any) -> frozenset[str]:
    """The record keys of a finding's list cell (``;``, ``|``, ``,`` or space separated)."""
    if value is None or (isinstance(value, float) and value != value):
        return frozenset()
    if isinstance(value, (list, tuple, set, frozenset)):
        return frozenset(map(str, value))
    return frozenset(p for p in re.split(r"[;|,\s]+", str(value).strip()) if p)


def _records_column(frame: pd.DataFrame) -> str:
    for column in _RECORD_COLUMNS:
        if column in frame.columns:
            return column
    raise ValueError(
        f"The findings have no record column; expected one of {', '.join(_RECORD_COLUMNS)}."
    )


def evaluate_findings(
    found: pd.DataFrame,
    truth: pd.DataFrame,
    *,
    on: Sequence[str] | str = "records",
    normalise: Callable[[Any], Any] | None = None,
) -> Evaluation:
    """Precision and recall of ``found`` against ``truth``.

    Parameters
    ----------
    found, truth:
        Findings and planted cases.
    on:
        How a finding matches a truth row:

        - a list of columns: equal values in all of them (identifiers are compared on the part
          after ``provider:``, so ``bkash:017...`` matches ``017...``); or
        - ``"records"``: the same ``rule`` (if both have one) and at least one record key in
          common (record columns ``record_ids`` / ``record_keys`` / ``records``). This matches
          findings to planted cases whatever person ids the resolver gave.
    normalise:
        Applied to every key value before comparing (default: the identifier rule above).

    Returns
    -------
    An :class:`Evaluation`: precision = matched findings / findings, recall = matched truth rows /
    truth rows.
    """
    if isinstance(on, str) and on == "records":
        return _by_records(found, truth)
    columns = [on] if isinstance(on, str) else list(on)
    for frame, name in ((found, "found"), (truth, "truth")):
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise ValueError(f"The {name} frame has no column {missing[0]!r}.")
    norm = normalise or _identifier_key

    def keys(frame: pd.DataFrame) -> list[tuple]:
        return [
            tuple(norm(v) for v in row) for row in frame[columns].itertuples(index=False, name=None)
        ]

    found_keys, truth_keys = keys(found), keys(truth)
    truth_set, found_set = set(truth_keys), set(found_keys)
    hit_found = [k in truth_set for k in found_keys]
    hit_truth = [k in found_set for k in truth_keys]
    return _evaluation(found, truth, hit_found, hit_truth)


def _by_records(found: pd.DataFrame, truth: pd.DataFrame) -> Evaluation:
    fcol, tcol = _records_column(found), _records_column(truth)
    with_rule = "rule" in found.columns and "rule" in truth.columns
    index: dict[tuple[str, str], list[int]] = {}
    truth_sets = []
    for i, (records, rule) in enumerate(
        zip(
            truth[tcol],
            truth["rule"] if with_rule else [""] * len(truth),
            strict=True,
        )
    ):
        keys = record_set(records)
        truth_sets.append(keys)
        for key in keys:
            index.setdefault((str(rule), key), []).append(i)
    hit_truth = [False] * len(truth)
    hit_found = []
    for records, rule in zip(
        found[fcol], found["rule"] if with_rule else [""] * len(found), strict=True
    ):
        matched = {i for key in record_set(records) for i in index.get((str(rule), key), ())}
        for i in matched:
            hit_truth[i] = True
        hit_found.append(bool(matched))
    return _evaluation(found, truth, hit_found, hit_truth)


def _evaluation(
    found: pd.DataFrame, truth: pd.DataFrame, hit_found: list[bool], hit_truth: list[bool]
) -> Evaluation:
    tp_found, tp_truth = sum(hit_found), sum(hit_truth)
    return Evaluation(
        precision=tp_found / len(found) if len(found) else 1.0,
        recall=tp_truth / len(truth) if len(truth) else 1.0,
        true_positives=tp_truth,
        false_positives=len(found) - tp_found,
        false_negatives=len(truth) - tp_truth,
        found=len(found),
        truth=len(truth),
        missed=truth[[not h for h in hit_truth]].reset_index(drop=True),
        spurious=found[[not h for h in hit_found]].reset_index(drop=True),
    )
