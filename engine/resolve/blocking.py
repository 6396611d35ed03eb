"""Candidate generation: which pairs of records are worth comparing at all.

Comparing every record with every other is impossible at a million records, so records are grouped
by *blocking keys* and only records sharing a key become candidate pairs. Each :class:`BlockingRule`
names the prepared columns (see :mod:`engine.resolve.prepare`) whose values form the key. A record
may carry
several values of one rule (a name in two scripts, a phone and a wallet, an age that spans two birth
years), so a rule works on a long table of ``(record, key)`` rows.

A key shared by very many records is rarely a person: a phone farm's number shared by 200 records
would make 19,900 pairs. A block larger than the rule's ``max_block`` is therefore split by the
rule's ``refine`` columns (a cheaper, stricter key: e.g. the phone *and* the name); what is still
too large is dropped and flagged in the :class:`BlockingReport`, never silently kept.

Everything here is integer arithmetic over numpy arrays: keys are factorised to integer codes, pairs
are made by sorting and repeating, so the same steps map onto a join in Spark.

Example
-------
>>> import pandas as pd
>>> prepared = pd.DataFrame({"phone": [1711, 1711, 1812, -1]})
>>> rule = BlockingRule("phone", ("phone",))
>>> pairs, report = candidate_pairs(prepared, [rule])
>>> pairs[["left", "right"]].values.tolist()
[[0, 1]]
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from engine.resolve.coverage import SourceCoverage, coverage

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class BlockingRule:
    """Records that share the values of ``columns`` become candidate pairs.

    Attributes
    ----------
    name:
        The rule's name in reports and in the pair's ``rules`` bit mask.
    columns:
        Prepared columns whose values together form the key. A column of lists/arrays is exploded
        (one key per element). Integer ``-1``, ``None``, NaN and ``""`` mean "no value": a record
        without a value in any column has no key for this rule.
    max_block:
        Blocks with more records than this are split by ``refine`` (or dropped and flagged).
    refine:
        Extra columns added to the key of an oversized block.
    """

    name: str
    columns: tuple[str, ...]
    max_block: int = 50
    refine: tuple[str, ...] = ()


#: The default rules, strongest identifiers first. Their columns are made by
#: :func:`engine.resolve.prepare.prepare`. Sources carry different fields (a registry the full
#: date of birth and only the district, a survey ages and only the union), so besides the
#: identifiers and the date of birth there are name rules within a union (any word of the name
#: with the birth year; the whole name in any year, for a year shifted) and one across the
#: country: the whole name with the birth year, refined by the district where a block is too big
#: (each place level keyed by its own name, and levels a record leaves out filled in from its finer
#: ones where the other records make that clear). A birth year is a range for records that give an
#: age (each year of it a key). The given name with the union in any year (``name_union``, until
#: issue 14) made 2.2-2.7 pairs per record and found 0-105 true pairs in 150,000 no other rule
#: found (100,000-person worlds); ``full_name_union`` finds about as many for 0.3.
DEFAULT_RULES: tuple[BlockingRule, ...] = (
    BlockingRule("nid", ("nid_key",), max_block=20),
    BlockingRule("brn", ("brn_key",), max_block=20),
    BlockingRule("identifiers", ("id_keys",), max_block=20),
    BlockingRule("phone", ("numbers",), max_block=30, refine=("name_keys",)),
    BlockingRule("name_dob", ("name_keys", "dob_keys"), max_block=40),
    BlockingRule("words_union_year", ("token_keys", "union", "birth_years"), max_block=40),
    BlockingRule("full_name_union", ("full_keys", "union"), max_block=30),
    BlockingRule(
        "full_name_year", ("full_keys", "birth_years"), max_block=40, refine=("district",)
    ),
)


@dataclass
class BlockingReport:
    """What blocking produced, per rule.

    Attributes
    ----------
    rules:
        One row per rule: ``rule``, ``keys`` (distinct keys with >= 2 records), ``pairs`` (pairs the
        rule made, before de-duplication across rules), ``largest_block``, ``refined_blocks``,
        ``dropped_blocks``, ``dropped_records`` and, when truth was given, ``true_pairs_found``.
    total_pairs:
        Distinct candidate pairs over all rules.
    flagged:
        Keys too frequent even after refining: ``rule``, ``key`` (a readable value) and ``records``.
        A phone or wallet here is worth an analyst's look (phone farm, agent wallet).
    recall:
        Fraction of true matching pairs that are candidates (``None`` without truth).
    true_pairs:
        Number of true matching pairs (``None`` without truth).
    sources:
        Coverage per pair of sources (:func:`engine.resolve.coverage.coverage`): the pairs made,
        the rules that fired, and warnings for sources that can meet only on an exact identifier
        (``None`` when the records carry no ``source``).
    """

    rules: pd.DataFrame
    total_pairs: int
    flagged: pd.DataFrame = field(default_factory=pd.DataFrame)
    recall: float | None = None
    true_pairs: int | None = None
    sources: SourceCoverage | None = None

    def to_text(self) -> str:
        """A short readable summary for the console."""
        lines = [f"candidate pairs: {self.total_pairs:,}"]
        if self.recall is not None:
            lines.append(
                f"blocking recall vs truth: {self.recall:.4f} of {self.true_pairs:,} true pairs"
            )
        lines.append(self.rules.to_string(index=False))
        if len(self.flagged):
            lines.append(f"flagged keys (too frequent to pair): {len(self.flagged)}")
            lines.append(self.flagged.head(10).to_string(index=False))
        if self.sources is not None:
            lines.append("candidate pairs per pair of sources (rules that made them):")
            lines.append(self.sources.to_text())
            lines.extend(f"warning: {w}" for w in self.sources.warnings)
        return "\n".join(lines)


def _is_missing(values: pd.Series) -> np.ndarray:
    if values.dtype.kind in "iu":
        return (values < 0).to_numpy()
    missing = values.isna().to_numpy()
    if values.dtype == object:
        missing |= (values == "").to_numpy()
    return missing


def key_table(prepared: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """The long table ``(record, key)`` of one rule: list columns exploded, missing values dropped.

    ``record`` is the prepared frame's positional row number; ``key`` an integer code (same code =
    same values in every column).
    """
    table = pd.DataFrame({"record": np.arange(len(prepared), dtype=np.int64)})
    for column in columns:
        table[column] = prepared[column].to_numpy()[table["record"].to_numpy()]
        if table[column].dtype == object and _holds_lists(table[column]):
            table = table.explode(column, ignore_index=True)
        table = table[~_is_missing(table[column])]
    table = table.drop_duplicates()
    if table.empty:
        return pd.DataFrame({"record": np.empty(0, np.int64), "key": np.empty(0, np.int64)})
    codes = np.zeros(len(table), dtype=np.int64)
    for column in columns:
        col_codes, uniques = pd.factorize(table[column])
        codes = codes * (len(uniques) + 1) + col_codes
    key, _ = pd.factorize(codes)
    out = pd.DataFrame({"record": table["record"].to_numpy(), "key": key.astype(np.int64)})
    out.attrs["values"] = table.drop(columns="record").reset_index(drop=True)
    return out


def _holds_lists(values: pd.Series) -> bool:
    """Whether an object column holds lists (judged by its first non-missing value)."""
    present = values.dropna()
    return len(present) > 0 and isinstance(present.iloc[0], list | tuple | np.ndarray)


def pairs_within_blocks(record: np.ndarray, key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every pair of distinct records that share a key, as two arrays with ``left < right``.

    Vectorised: rows are sorted by key; a row at position ``p`` in a block ending at ``end`` pairs
    with
    the rows ``p+1 .. end-1``. Pairs repeated across keys are not de-duplicated here.
    """
    if len(record) < 2:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    order = np.lexsort((record, key))
    rec = record[order]
    k = key[order]
    starts = np.flatnonzero(np.r_[True, k[1:] != k[:-1]])
    sizes = np.diff(np.r_[starts, len(k)])
    ends = np.repeat(starts + sizes, sizes)
    position = np.arange(len(k))
    partners = ends - position - 1
    total = int(partners.sum())
    if total == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    left_pos = np.repeat(position, partners)
    # offset of each pair within its row's run: 1, 2, ... partners
    run_starts = np.cumsum(partners) - partners
    offset = np.arange(total) - np.repeat(run_starts, partners) + 1
    right_pos = left_pos + offset
    left, right = rec[left_pos], rec[right_pos]
    swap = left > right
    left, right = np.where(swap, right, left), np.where(swap, left, right)
    keep = left != right
    return left[keep], right[keep]


def _block_sizes(key: np.ndarray) -> np.ndarray:
    """Size of each row's block."""
    counts = np.bincount(key)
    return counts[key]


def _readable_key(table: pd.DataFrame, rows: np.ndarray) -> list[str]:
    values = table.attrs.get("values")
    if values is None:
        return [str(k) for k in table["key"].to_numpy()[rows]]
    sub = values.iloc[rows]
    return [" | ".join(str(v) for v in row) for row in sub.itertuples(index=False)]


def rule_pairs(
    prepared: pd.DataFrame, rule: BlockingRule
) -> tuple[np.ndarray, np.ndarray, dict[str, object], pd.DataFrame]:
    """Candidate pairs of one rule, with oversized blocks refined or flagged.

    Returns
    -------
    left, right:
        Record positions, ``left < right`` (may repeat).
    stats:
        Counts for the blocking report.
    flagged:
        Oversized keys that were refined or dropped (``rule``, ``key``, ``records``, ``action``).
    """
    table = key_table(prepared, rule.columns)
    key = table["key"].to_numpy()
    record = table["record"].to_numpy()
    stats: dict[str, object] = {"rule": rule.name, "keys": 0, "pairs": 0, "largest_block": 0}
    if len(key) == 0:
        stats.update(refined_blocks=0, dropped_blocks=0, dropped_records=0)
        return np.empty(0, np.int64), np.empty(0, np.int64), stats, pd.DataFrame()
    sizes = _block_sizes(key)
    stats["keys"] = int((np.bincount(key) >= 2).sum())
    stats["largest_block"] = int(sizes.max())
    small = sizes <= rule.max_block
    left, right = pairs_within_blocks(record[small], key[small])
    flagged_rows: list[dict[str, object]] = []
    big = ~small
    refined_blocks = dropped_blocks = dropped_records = 0
    if big.any():
        big_rows = np.flatnonzero(big)
        _, first = np.unique(key[big_rows], return_index=True)
        names = _readable_key(table, big_rows[first])
        counts = np.bincount(key)[key[big_rows[first]]]
        action = "refined" if rule.refine else "dropped"
        for name, count in zip(names, counts, strict=True):
            flagged_rows.append(
                {"rule": rule.name, "key": name, "records": int(count), "action": action}
            )
        if rule.refine:
            refined_blocks = len(first)
            sub = _refined_pairs(prepared, rule, record[big_rows], key[big_rows])
            dropped_blocks, dropped_records = sub[2], sub[3]
            left = np.concatenate([left, sub[0]])
            right = np.concatenate([right, sub[1]])
        else:
            dropped_blocks, dropped_records = len(first), int(big.sum())
    stats.update(
        pairs=len(left),
        refined_blocks=refined_blocks,
        dropped_blocks=dropped_blocks,
        dropped_records=dropped_records,
    )
    return left, right, stats, pd.DataFrame(flagged_rows)


def _refined_pairs(
    prepared: pd.DataFrame, rule: BlockingRule, record: np.ndarray, key: np.ndarray
) -> tuple[np.ndarray, np.ndarray, int, int]:
    """Pairs of oversized blocks, keyed again by ``(old key, refine columns)``; still-big blocks
    dropped."""
    sub = prepared.iloc[record].reset_index(drop=True)
    sub = sub.assign(_block=key)
    table = key_table(sub, ("_block", *rule.refine))
    rec_local = table["record"].to_numpy()
    k = table["key"].to_numpy()
    if len(k) == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64), 0, 0
    sizes = _block_sizes(k)
    ok = sizes <= rule.max_block
    left, right = pairs_within_blocks(record[rec_local[ok]], k[ok])
    dropped_keys = np.unique(k[~ok])
    return left, right, len(dropped_keys), int((~ok).sum())


def candidate_pairs(
    prepared: pd.DataFrame,
    rules: Sequence[BlockingRule] = DEFAULT_RULES,
    truth: np.ndarray | None = None,
) -> tuple[pd.DataFrame, BlockingReport]:
    """Candidate pairs over all rules, de-duplicated, with the rules that found each pair.

    Parameters
    ----------
    prepared:
        The frame from :func:`engine.resolve.prepare.prepare` (or any frame with the rules'
        columns).
    rules:
        Blocking rules; at most 63.
    truth:
        Optional true person label per prepared row (same label = same person) to measure recall.

    Returns
    -------
    pairs:
        ``left``, ``right`` (positional rows, ``left < right``, int64) and ``rules`` (int64 bit
        mask:
        bit ``i`` set when ``rules[i]`` found the pair), sorted by ``(left, right)``.
    report:
        The :class:`BlockingReport`.
    """
    if len(rules) > 63:
        raise ValueError(f"At most 63 blocking rules fit the pair's bit mask; got {len(rules)}.")
    n = len(prepared)
    codes: list[np.ndarray] = []
    masks: list[np.ndarray] = []
    stats: list[dict[str, object]] = []
    flagged: list[pd.DataFrame] = []
    for bit, rule in enumerate(rules):
        left, right, rule_stats, rule_flagged = rule_pairs(prepared, rule)
        code = _sorted_unique(left * n + right)
        codes.append(code)
        masks.append(np.full(len(code), 1 << bit, dtype=np.int64))
        stats.append(rule_stats)
        flagged.append(rule_flagged)
        log.info("blocking rule %s: %d pairs", rule.name, len(code))
    all_codes = np.concatenate(codes) if codes else np.empty(0, np.int64)
    all_masks = np.concatenate(masks) if masks else np.empty(0, np.int64)
    order = np.argsort(all_codes, kind="stable")
    sorted_codes = all_codes[order]
    starts = (
        np.flatnonzero(np.r_[True, sorted_codes[1:] != sorted_codes[:-1]]) if len(order) else order
    )
    unique = sorted_codes[starts]
    mask = np.bitwise_or.reduceat(all_masks[order], starts) if len(order) else np.empty(0, np.int64)
    pairs = pd.DataFrame({"left": unique // max(n, 1), "right": unique % max(n, 1), "rules": mask})
    rules_frame = pd.DataFrame(stats)
    report = BlockingReport(
        rules=rules_frame,
        total_pairs=len(pairs),
        flagged=pd.concat(flagged, ignore_index=True)
        if any(len(f) for f in flagged)
        else pd.DataFrame(),
    )
    if "source" in prepared.columns:
        report.sources = coverage(prepared, pairs, rules)
        for warning in report.sources.warnings:
            log.info("blocking: %s", warning)
    if truth is not None:
        _add_recall(report, pairs, np.asarray(truth), rules)
    return pairs, report


def _sorted_unique(values: np.ndarray) -> np.ndarray:
    """Distinct values, sorted (a sort and a diff: cheaper than hashing for large int arrays)."""
    if len(values) == 0:
        return values
    values = np.sort(values)
    return values[np.r_[True, values[1:] != values[:-1]]]


def true_pair_codes(truth: np.ndarray) -> np.ndarray:
    """Codes ``left * n + right`` of every true matching pair (records with the same truth
    label)."""
    n = len(truth)
    valid = ~pd.isna(truth)
    labels, _ = pd.factorize(pd.Series(truth)[valid])
    rows = np.flatnonzero(valid)
    left, right = pairs_within_blocks(rows.astype(np.int64), labels.astype(np.int64))
    return left * n + right


def _add_recall(
    report: BlockingReport, pairs: pd.DataFrame, truth: np.ndarray, rules: Sequence[BlockingRule]
) -> None:
    n = len(truth)
    true_codes = true_pair_codes(truth)
    codes = pairs["left"].to_numpy() * n + pairs["right"].to_numpy()
    found = np.isin(codes, true_codes)
    report.true_pairs = len(true_codes)
    report.recall = float(found.sum() / len(true_codes)) if len(true_codes) else 1.0
    masks = pairs["rules"].to_numpy()[found]
    report.rules["true_pairs_found"] = [
        int(((masks >> bit) & 1).sum()) for bit in range(len(rules))
    ]
