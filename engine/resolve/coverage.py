"""Blocking coverage per pair of sources: which rules can bring two sources' records together,
which did, and the pairs of sources that can meet only on an exact identifier.

Every source carries its own subset of fields: an NID extract names the district and gives the date
of birth, a survey gives ages and the union. A blocking rule can pair two records only when both
have a key for it (every column of the rule present), so two sources whose shared fields fit no
name rule meet only where both records carry the same NID, birth registration or phone number:
their persons who lack one are never compared, whatever the model would say. :func:`coverage`
says so per pair of sources, before anyone misses the links.

Example
-------
>>> import pandas as pd
>>> prepared = pd.DataFrame({"source": ["a", "a", "b"], "phone": [17, 17, 17]})
>>> pairs = pd.DataFrame({"left": [0, 0, 1], "right": [1, 2, 2], "rules": [1, 1, 1]})
>>> from engine.resolve.blocking import BlockingRule
>>> report = coverage(prepared, pairs, [BlockingRule("phone", ("phone",))])
>>> report.pairs[["source_a", "source_b", "pairs", "phone"]].values.tolist()
[['a', 'a', 1, 1], ['a', 'b', 2, 2]]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

import numpy as np
import pandas as pd


class BlockingRule(Protocol):
    """What coverage reads of a rule (:class:`engine.resolve.blocking.BlockingRule`, which
    imports this module: no import back)."""

    name: str
    columns: tuple[str, ...]


#: Prepared columns that are exact identifiers: a rule over these alone finds only records that
#: carry the same number.
IDENTIFIER_COLUMNS: Final = frozenset(
    {"nid_key", "brn_key", "id_keys", "numbers", "phone", "wallet"}
)
#: A source *carries* a rule's key when at least this share of its records have one.
CARRIES_SHARE: Final = 0.1


def is_identifier_rule(rule: BlockingRule) -> bool:
    """Whether ``rule`` keys on exact identifiers only (NID, BRN, phone or wallet numbers)."""
    return all(column in IDENTIFIER_COLUMNS for column in rule.columns)


def _present(values: pd.Series) -> np.ndarray:
    """Whether each value of a prepared column is given (``-1``, ``None``, NaN, ``""`` and empty
    lists are not)."""
    if values.dtype.kind in "iu":
        return (values >= 0).to_numpy()
    if values.dtype.kind == "f":
        return values.notna().to_numpy()
    array = values.to_numpy(dtype=object)
    return np.fromiter(
        (
            v is not None
            and not (isinstance(v, float) and v != v)
            and not (isinstance(v, str) and v == "")
            and not (isinstance(v, list | tuple | np.ndarray) and len(v) == 0)
            for v in array
        ),
        dtype=bool,
        count=len(array),
    )


def key_shares(prepared: pd.DataFrame, rules: Sequence[BlockingRule]) -> pd.DataFrame:
    """Per source (rows) and rule (columns): the share of its records that have a key for the
    rule."""
    present = {column: _present(prepared[column]) for r in rules for column in r.columns}
    source = prepared["source"].astype(str).to_numpy()
    frame = pd.DataFrame(
        {rule.name: np.logical_and.reduce([present[c] for c in rule.columns]) for rule in rules}
    )
    frame["source"] = source
    return frame.groupby("source", sort=True).mean()


@dataclass
class SourceCoverage:
    """Blocking coverage per pair of sources.

    Attributes
    ----------
    pairs:
        One row per pair of sources (``source_a <= source_b``; a source with itself for its
        duplicates): ``pairs`` (candidate pairs made), one column per rule (the pairs it found),
        ``rules_fired`` (the rules that found any, most first) and ``can_meet`` (the rules whose
        keys both sources carry, :data:`CARRIES_SHARE`).
    shares:
        Per source and rule, the share of its records that have a key for the rule.
    warnings:
        Pairs of two sources that can meet only on an exact identifier, or not at all, each in
        words.
    """

    pairs: pd.DataFrame
    shares: pd.DataFrame = field(default_factory=pd.DataFrame)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        rows = []
        for row in self.pairs.to_dict(orient="records"):
            rules = {
                k: int(v)
                for k, v in row.items()
                if k not in ("source_a", "source_b", "pairs", "rules_fired", "can_meet") and v
            }
            rows.append(
                {
                    "source_a": row["source_a"],
                    "source_b": row["source_b"],
                    "pairs": int(row["pairs"]),
                    "rules": rules,
                    "can_meet": [r for r in str(row["can_meet"]).split(", ") if r],
                }
            )
        shares = {
            source: {rule: round(float(v), 4) for rule, v in row.items()}
            for source, row in self.shares.to_dict(orient="index").items()
        }
        return {"source_pairs": rows, "key_shares": shares, "warnings": list(self.warnings)}

    def to_text(self) -> str:
        """One line per pair of sources: the pairs made and the rules that made them."""
        lines = []
        for row in self.pairs.itertuples(index=False):
            fired = row.rules_fired or "-"
            lines.append(f"{row.source_a} x {row.source_b}: {row.pairs:,} pairs ({fired})")
        return "\n".join(lines)


def coverage(
    prepared: pd.DataFrame,
    pairs: pd.DataFrame,
    rules: Sequence[BlockingRule],
    *,
    carries: float = CARRIES_SHARE,
) -> SourceCoverage:
    """Blocking coverage per pair of sources (see :class:`SourceCoverage`).

    Parameters
    ----------
    prepared:
        The prepared frame, with its ``source`` and the rules' key columns.
    pairs:
        Candidate pairs: ``left``, ``right`` (rows of ``prepared``) and ``rules`` (bit ``i`` set
        when ``rules[i]`` found the pair).
    rules:
        The blocking rules, in the bit order of ``pairs["rules"]``.
    carries:
        The share of a source's records that must have a rule's key for the source to carry it.
    """
    source_code, names = pd.factorize(prepared["source"].astype(str), sort=True)
    names = np.asarray(names, dtype=object)
    k = len(names)
    left = source_code[pairs["left"].to_numpy(np.int64)]
    right = source_code[pairs["right"].to_numpy(np.int64)]
    key = np.minimum(left, right) * k + np.maximum(left, right)
    masks = pairs["rules"].to_numpy(np.int64)
    a, b = np.triu_indices(k)
    # a source with itself only when it has two records to pair
    sizes = np.bincount(source_code, minlength=k)
    keep = (a != b) | (sizes[a] >= 2)
    a, b = a[keep], b[keep]
    keys = a * k + b
    counts = {"pairs": np.bincount(key, minlength=k * k)[keys]}
    for bit, rule in enumerate(rules):
        hit = ((masks >> bit) & 1).astype(bool)
        counts[rule.name] = np.bincount(key[hit], minlength=k * k)[keys]
    table = pd.DataFrame({"source_a": names[a], "source_b": names[b], **counts})
    shares = key_shares(prepared, rules).reindex(names).fillna(0.0)
    carried = shares.to_numpy() >= carries
    rule_names = [r.name for r in rules]
    table["rules_fired"] = [
        ", ".join(
            f"{name} {n:,}"
            for n, name in sorted(
                ((int(table[r].iat[i]), r) for r in rule_names if table[r].iat[i]),
                key=lambda x: -x[0],
            )
        )
        for i in range(len(table))
    ]
    both = carried[a] & carried[b]
    table["can_meet"] = [
        ", ".join(r for j, r in enumerate(rule_names) if both[i, j]) for i in range(len(table))
    ]
    warnings = _warnings(table, both, rules, names, a, b, shares)
    return SourceCoverage(table, shares, warnings)


def _warnings(
    table: pd.DataFrame,
    both: np.ndarray,
    rules: Sequence[BlockingRule],
    names: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    shares: pd.DataFrame,
) -> list[str]:
    identifier = np.array([is_identifier_rule(r) for r in rules], dtype=bool)
    out = []
    for i in range(len(table)):
        if a[i] == b[i]:  # a source's own duplicates: its records share all its fields
            continue
        if not both[i].any():
            out.append(
                f"sources {names[a[i]]} and {names[b[i]]} share no blocking key: their records "
                "are never compared. Map a field both give (a name with a date of birth or an "
                "age, a district, upazila or union, an NID or a phone)."
            )
        elif not (both[i] & ~identifier).any():
            ids = ", ".join(r.name for j, r in enumerate(rules) if both[i, j])
            out.append(
                f"sources {names[a[i]]} and {names[b[i]]} can meet only on an exact identifier "
                f"({ids}): a person whom one of them records without it is never compared. Map a "
                "field both give besides the name (a date of birth or an age, a district, upazila "
                "or union)."
            )
    return out
