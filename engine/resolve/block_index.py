"""Blocking keys as sorted hash indexes: the per-record twin of :mod:`engine.resolve.blocking`.

The batch pairs records that share a key of a rule (:func:`engine.resolve.blocking.rule_pairs`);
the incremental resolver cannot re-block for every record that arrives, so it keeps every key of
every record as a 64-bit hash in one sorted index per rule (:class:`RuleIndex`) and finds a new
record's block by lookups. :func:`key_strings` (one prepared row) and :func:`key_frame` (a whole
prepared frame) spell the keys the same way.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import pandas as pd

from engine.record import is_missing_value
from engine.resolve.blocking import BlockingRule
from engine.resolve.prepare import KEY_SEP, is_list

# -- blocking keys as hash indexes ----------------------------------------------------------------


def hash_keys(keys: Sequence[str] | np.ndarray) -> np.ndarray:
    """A stable 64-bit hash of each key string (the same in every process and version of ekjon).

    Each distinct key of many is hashed once (``categorize``); the hashes are the same either
    way, and a few keys (one record's) are hashed as they are: coding them first costs ten times
    the hashing (about 0.1 ms a record)."""
    return pd.util.hash_array(np.asarray(keys, dtype=object), categorize=len(keys) > _FEW_KEYS)


#: Up to this many keys are hashed without coding the distinct ones first (:func:`hash_keys`).
_FEW_KEYS: Final = 256


#: Records whose blocking keys are coded and hashed at a time when an index is built (their
#: exploded rows and codes take a few hundred megabytes).
_KEY_CHUNK: Final = 250_000


def _present(value: Any, integer: bool) -> bool:
    if is_missing_value(value):
        return False
    if integer:
        return bool(value >= 0)
    return not (isinstance(value, str) and value == "")


def key_strings(
    row: Mapping[str, Any], columns: Sequence[str], integer: Mapping[str, bool]
) -> list[str]:
    """The keys of one prepared row for a rule's ``columns``, as :func:`key_table` forms them
    (list columns exploded, missing values dropped), each written as its values joined."""
    parts: list[list[str]] = []
    for column in columns:
        value = row[column]
        items = list(value) if is_list(value) else [value]
        present = [str(v) for v in items if _present(v, integer[column] and not is_list(value))]
        if not present:
            return []
        parts.append(list(dict.fromkeys(present)))
    return [KEY_SEP.join(combo) for combo in itertools.product(*parts)]


def key_frame(prepared: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """``record, key`` for every key of every prepared row (the same strings as
    :func:`key_strings`)."""
    table = pd.DataFrame({"record": np.arange(len(prepared), dtype=np.int64)})
    for column in columns:
        values = prepared[column]
        integer = values.dtype.kind in "iu"
        table[column] = values.to_numpy()[table["record"].to_numpy()]
        if values.dtype == object and values.map(is_list, na_action="ignore").any():
            table = table.explode(column, ignore_index=True)
            integer = False
        col = table[column]
        keep = (col >= 0) if integer else (col.notna() & (col.astype(str) != ""))
        table = table[keep.to_numpy()]
    if table.empty:
        return pd.DataFrame({"record": np.empty(0, np.int64), "key": np.empty(0, object)})
    key = table[columns[0]].astype(str)
    for column in columns[1:]:
        key = key + KEY_SEP + table[column].astype(str)
    out = pd.DataFrame({"record": table["record"].to_numpy(), "key": key.to_numpy(dtype=object)})
    return out.drop_duplicates(ignore_index=True)


def key_hashes(prepared: pd.DataFrame, columns: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """``record, hash`` for every key of every prepared row: the hashes (:func:`hash_keys`) of
    :func:`key_frame`'s keys, one row per distinct key of a record, without writing out a string
    per row: each column's values are coded, and only the distinct keys are spelled and hashed.
    """
    n = len(prepared)
    record = np.arange(n, dtype=np.int64)
    combo = np.zeros(n, dtype=np.int64)  # the row's values so far, coded
    parts: list[tuple[np.ndarray, np.ndarray]] = []  # per column: each row's code, the texts
    for column in columns:
        values = prepared[column]
        if values.dtype.kind in "iu":  # whole numbers, -1 for none
            value = values.to_numpy()[record]
            codes, uniques = pd.factorize(value)
            present = value >= 0
            texts = pd.Series(uniques).astype(str).to_numpy(dtype=object)
        else:  # lists exploded (each item a row, an empty list none), as key_frame does
            flat = pd.Series(values.to_numpy(), dtype=object).iloc[record]
            flat = flat.reset_index(drop=True).explode()
            repeat = flat.index.to_numpy()
            record, combo = record[repeat], combo[repeat]
            parts = [(c[repeat], t) for c, t in parts]
            codes, uniques = pd.factorize(flat.to_numpy(dtype=object), use_na_sentinel=True)
            texts = pd.Series(uniques, dtype=object).astype(str).to_numpy(dtype=object)
            present = codes >= 0
            present[present] = texts[codes[present]] != ""
        codes = codes.astype(np.int64)
        record, combo, codes = record[present], combo[present], codes[present]
        parts = [(c[present], t) for c, t in parts]
        parts.append((codes, texts))
        combo, _ = pd.factorize(combo * (len(texts) + 1) + codes)
        combo = combo.astype(np.int64)
    if not len(record):
        return np.empty(0, np.int64), np.empty(0, np.uint64)
    # the distinct keys spelled once each; keys spelled alike (a value holding KEY_SEP) are one
    _, first = np.unique(combo, return_index=True)
    key = parts[0][1][parts[0][0][first]]
    for codes, texts in parts[1:]:
        key = key + KEY_SEP + texts[codes[first]]
    spelled, _ = pd.factorize(key)
    hashed = hash_keys(key)
    same = spelled.astype(np.int64)[combo]
    pair = pd.unique(record * (int(same.max()) + 1) + same)  # one row per record and key
    row_record = pair // (int(same.max()) + 1)
    row_key = pair % (int(same.max()) + 1)
    first_of_key = np.empty(int(spelled.max()) + 1, dtype=np.int64)
    first_of_key[spelled] = np.arange(len(spelled))
    return row_record, hashed[first_of_key[row_key]]


@dataclass
class RuleIndex:
    """One blocking rule's keys: sorted hashes with the record of each, plus records added since."""

    rule: BlockingRule
    hashes: np.ndarray
    records: np.ndarray
    added: dict[int, list[int]] = field(default_factory=dict)

    @classmethod
    def build(cls, rule: BlockingRule, prepared: pd.DataFrame) -> RuleIndex:
        # the key strings of a few records at a time: a million records' name-and-year keys as
        # Python strings would take gigabytes, their hashes a few hundred megabytes
        hashes, records = [], []
        for start in range(0, len(prepared), _KEY_CHUNK):
            record, hashed = key_hashes(prepared.iloc[start : start + _KEY_CHUNK], rule.columns)
            hashes.append(hashed)
            records.append(record + start)
        hashed = np.concatenate(hashes) if hashes else np.empty(0, np.uint64)
        record = np.concatenate(records) if records else np.empty(0, np.int64)
        order = np.lexsort((record, hashed))
        return cls(rule, hashed[order], record[order])

    def members(self, hashed: int) -> np.ndarray:
        # as numpy's uint64: a Python int makes searchsorted convert the whole sorted index
        # (about 5 ms a key at a million persons)
        key = np.uint64(hashed)
        lo = int(np.searchsorted(self.hashes, key, side="left"))
        hi = int(np.searchsorted(self.hashes, key, side="right"))
        found = self.records[lo:hi]
        extra = self.added.get(hashed)
        if extra:
            found = np.concatenate([found, np.asarray(extra, dtype=np.int64)])
        return found

    def add(self, hashed: int, record: int) -> None:
        self.added.setdefault(hashed, []).append(record)

    def merged(self) -> tuple[np.ndarray, np.ndarray]:
        """Every (hash, record), the added ones merged in, sorted."""
        if not self.added:
            return self.hashes, self.records
        h = [np.uint64(k) for k, rows in self.added.items() for _ in rows]
        r = [row for rows in self.added.values() for row in rows]
        hashes = np.concatenate([self.hashes, np.asarray(h, dtype=np.uint64)])
        records = np.concatenate([self.records, np.asarray(r, dtype=np.int64)])
        order = np.lexsort((records, hashes))
        return hashes[order], records[order]
