"""Reviewers' decisions: "these two records are the same person" or "they are not".

A reviewer who looks at two records and decides is the best evidence there is, so a decision
outranks the model, survives every re-run, and teaches the next model:

- :class:`DecisionStore` keeps decisions in their own SQLite file (``$EKJON_HOME/decisions.sqlite``,
  WAL), apart from the identity ledger, so rebuilding IDs never touches reviewers' work. Every
  decision is kept; for each unordered pair of records the latest one is in force.
- :meth:`DecisionStore.must_links` and :meth:`DecisionStore.cannot_links` give the pairs in force as
  record keys for the clustering step; :meth:`DecisionStore.as_training_labels` gives them as labels
  (1 same, 0 not same).
- :func:`decided_pairs`, :func:`unblocked_pairs`, :func:`apply_to_pairs` and :func:`enforce` are the
  clustering step's hooks: decided pairs get probability 1 or 0 (weight +-:data:`DECIDED_LOGODDS`,
  above any model's) and "not same" pairs become cannot-links before
  clustering;
  after it, a "same" joins the two clusters (never across a "not same"), and a "not same" the
  clustering left together is split apart.
- :func:`decision_reasons` names the decision behind each cluster it shaped, for the ledger
  (only decisions the run :func:`honoured`).

Decisions must agree with each other: "A same B" and "B same C" make A and C one person, so a
later "A not same C" contradicts them. :meth:`DecisionStore.record` refuses a decision that
contradicts those in force, naming them (reverse the wrong one first: a decision about the same
pair replaces it). :func:`consistent` sorts out the decisions in force for a run the same way,
oldest first: one that contradicts earlier ones (written by an older ekjon, say) is left out and
reported as a :class:`Contradiction`.

Example
-------
>>> store = DecisionStore(":memory:")
>>> _ = store.record("dss/1", "pesp/7", "same", reviewer="rahim", reason="same NID card seen")
>>> store.must_links()[["a", "b"]].values.tolist()
[['dss/1', 'pesp/7']]
"""

from __future__ import annotations

import getpass
import logging
from collections.abc import Container, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd

from engine.errors import EkjonError
from engine.sqlite import SQLiteStore

__all__ = [
    "VERDICTS",
    "Contradiction",
    "Decision",
    "DecisionError",
    "DecisionStore",
    "apply_to_pairs",
    "applied_reasons",
    "consistent",
    "decided_pairs",
    "unblocked_pairs",
    "decision_reasons",
    "enforce",
    "honoured",
    "split_record_keys",
]

log = logging.getLogger(__name__)

VERDICTS: Final = ("same", "not_same")
#: The weight (log-odds) of a decided pair: above anything the model gives
#: (:data:`engine.resolve.cluster.MAX_LOGODDS`), so a reviewer's "same" wins a tie with the model.
DECIDED_LOGODDS: Final = 21.0
SCHEMA_VERSION: Final = 1

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS decisions (
    decision_id INTEGER PRIMARY KEY,
    a TEXT NOT NULL,
    b TEXT NOT NULL,
    verdict TEXT NOT NULL CHECK (verdict IN ('same', 'not_same')),
    reviewer TEXT NOT NULL,
    reason TEXT NOT NULL,
    decided_at TEXT NOT NULL,
    CHECK (a < b)
);
CREATE INDEX IF NOT EXISTS decisions_pair ON decisions (a, b);
CREATE INDEX IF NOT EXISTS decisions_b ON decisions (b);
"""

_COLUMNS: Final = ("decision_id", "a", "b", "verdict", "reviewer", "reason", "decided_at")


class DecisionError(EkjonError, ValueError):
    """A reviewer decision that cannot be recorded as given (the message says what and why)."""


@dataclass(frozen=True)
class Decision:
    """One reviewer decision about an unordered pair of records (``a < b``)."""

    decision_id: int
    a: str
    b: str
    verdict: str
    reviewer: str
    reason: str
    decided_at: str

    def __str__(self) -> str:
        words = "same" if self.verdict == "same" else "not same"
        return f"#{self.decision_id} {self.a} {words} {self.b} (by {self.reviewer}: {self.reason})"


@dataclass(frozen=True)
class Contradiction:
    """A decision in force that earlier decisions in force contradict: ``earlier`` are the
    decisions that already make its two records one person (for a "not same"), or the "not same"
    and the "same" decisions that keep them apart (for a "same")."""

    decision: Decision
    earlier: tuple[Decision, ...]

    def __str__(self) -> str:
        return (
            f"reviewer decision {self.decision} contradicts earlier decisions "
            f"{'; '.join(map(str, self.earlier))}, and is left out; a new decision about the "
            "same two records replaces the wrong one"
        )


def _verdict(value: str) -> str:
    verdict = str(value).strip().lower().replace("-", "_").replace(" ", "_")
    if verdict not in VERDICTS:
        raise DecisionError(
            f"The verdict must be 'same' or 'not_same' (or 'not-same'). Got {value!r}."
        )
    return verdict


def _record_key(value: str, which: str) -> str:
    key = str(value).strip() if value is not None else ""
    source, slash, record_id = key.partition("/")
    if not slash or not source or not record_id:
        raise DecisionError(
            f"Record {which} {value!r} is not a record key; write it as source/record_id, "
            "e.g. dss/12345."
        )
    return key


class DecisionStore(SQLiteStore):
    """Reviewers' decisions about pairs of records, durable across re-runs.

    Parameters
    ----------
    path:
        The SQLite file (``$EKJON_HOME/decisions.sqlite``; created with its folder when new), or
        ``":memory:"``.
    known_keys:
        The record keys that exist (e.g. the record store's or the ledger's current keys). When
        given, a decision naming any other key is refused. :meth:`record` can also take them.

    Raises
    ------
    DecisionError
        If ``path`` exists but is not a decision store this code reads.
    """

    def __init__(self, path: Path | str, known_keys: Container[str] | None = None) -> None:
        # decisions are people's work: FULL sync, a committed decision survives a power cut
        super().__init__(
            path,
            what="decision store",
            schema=_SCHEMA,
            version=SCHEMA_VERSION,
            synchronous="FULL",
            error=DecisionError,
            on_damage="Restore decisions.sqlite from a backup: it holds the reviewers' decisions.",
        )
        self.known_keys = known_keys

    # -- writing ----------------------------------------------------------------------------------

    def record(
        self,
        a_key: str,
        b_key: str,
        verdict: str,
        reviewer: str | None = None,
        reason: str = "",
        *,
        known_keys: Container[str] | None = None,
    ) -> Decision:
        """Record a decision; it overrides any earlier one about the pair (which stays in history).

        Parameters
        ----------
        a_key, b_key:
            The two records, ``source/record_id``, in either order.
        verdict:
            ``"same"`` or ``"not_same"`` (``"not-same"`` is read as ``"not_same"``).
        reviewer:
            Who decided (default: the login name).
        reason:
            Why, in words an auditor will read later. Required.
        known_keys:
            The record keys that exist; overrides the store's ``known_keys`` for this call.

        Returns
        -------
        Decision

        Raises
        ------
        DecisionError
            If a key is malformed or unknown, the two keys are the same record, the verdict is not
            one of :data:`VERDICTS`, the reviewer or reason is empty, or the decision contradicts
            the decisions in force (the message names them).
        """
        a = _record_key(a_key, "A")
        b = _record_key(b_key, "B")
        if a == b:
            raise DecisionError(f"Both records are {a!r}; a decision needs two different records.")
        known = known_keys if known_keys is not None else self.known_keys
        if known is not None:
            for key in (a, b):
                if key not in known:
                    raise DecisionError(
                        f"Record {key!r} is not a known record; check the source and record id "
                        "(source/record_id, as `ekjon export persons` writes them)."
                    )
        checked = _verdict(verdict)
        who = (reviewer if reviewer is not None else _login()).strip()
        if not who:
            raise DecisionError("The reviewer is empty; say who decided.")
        why = (reason or "").strip()
        if not why:
            raise DecisionError(
                f"The decision about {a} and {b} has no reason; say why, for the auditors."
            )
        a, b = min(a, b), max(a, b)
        at = datetime.now(UTC).isoformat(timespec="seconds")
        with self.transaction() as db:  # no other reviewer's decision between check and write
            in_force = self.current()
            # a decision about the same pair replaces the one in force: check against the others
            others = in_force[(in_force["a"] != a) | (in_force["b"] != b)]
            last = int(in_force["decision_id"].max()) if len(in_force) else 0
            candidate = Decision(last + 1, a, b, checked, who, why, at)
            _, contradictions = consistent(
                pd.concat([others, pd.DataFrame([asdict(candidate)])], ignore_index=True)
            )
            refused = [c for c in contradictions if c.decision == candidate]
            if refused:
                raise DecisionError(_refusal(candidate, refused[0].earlier))
            cursor = db.execute(
                "INSERT INTO decisions (a, b, verdict, reviewer, reason, decided_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (a, b, checked, who, why, at),
            )
        decision = Decision(int(cursor.lastrowid or 0), a, b, checked, who, why, at)
        log.info("decision %d: %s %s %s by %s", decision.decision_id, a, checked, b, who)
        return decision

    # -- reading ----------------------------------------------------------------------------------

    def history(self, key: str | None = None, other: str | None = None) -> pd.DataFrame:
        """Every decision ever recorded, oldest first (about ``key``, or the pair ``key, other``).

        Columns: ``decision_id, a, b, verdict, reviewer, reason, decided_at``.
        """
        where, params = "1", []
        if key is not None and other is not None:
            where, params = "a = ? AND b = ?", [min(key, other), max(key, other)]
        elif key is not None:
            where, params = "(a = ? OR b = ?)", [key, key]
        rows = self._rows(
            f"SELECT {', '.join(_COLUMNS)} FROM decisions WHERE {where} ORDER BY decision_id",
            params,
        )
        return _frame(rows)

    def current(self) -> pd.DataFrame:
        """The decision in force for each pair (the latest), oldest first; columns as
        :meth:`history`."""
        rows = self._rows(
            f"SELECT {', '.join(_COLUMNS)} FROM decisions WHERE decision_id IN "
            "(SELECT max(decision_id) FROM decisions GROUP BY a, b) ORDER BY decision_id"
        )
        return _frame(rows)

    def must_links(self) -> pd.DataFrame:
        """Pairs in force as "same": ``a, b, reviewer, reason, decided_at``."""
        current = self.current()
        return current[current["verdict"] == "same"].drop(columns="verdict").reset_index(drop=True)

    def cannot_links(self) -> pd.DataFrame:
        """Pairs in force as "not same": ``a, b, reviewer, reason, decided_at``."""
        current = self.current()
        return (
            current[current["verdict"] == "not_same"].drop(columns="verdict").reset_index(drop=True)
        )

    def as_training_labels(self) -> pd.DataFrame:
        """The decisions in force as training labels: ``a, b, label`` (1 same, 0 not same)."""
        current = self.current()
        return pd.DataFrame(
            {
                "a": current["a"],
                "b": current["b"],
                "label": (current["verdict"] == "same").astype(np.int8),
            }
        )

    def for_training(self) -> pd.DataFrame:
        """The decisions in force as :func:`engine.quality.training.labelled_pairs` takes them:
        ``left_source, left_record_id, right_source, right_record_id, same``."""
        current = self.current()
        left, right = split_record_keys(current["a"]), split_record_keys(current["b"])
        return pd.DataFrame(
            {
                "left_source": left["source"],
                "left_record_id": left["record_id"],
                "right_source": right["source"],
                "right_record_id": right["record_id"],
                "same": (current["verdict"] == "same").to_numpy(),
            }
        )

    def __len__(self) -> int:
        [(count,)] = self._rows("SELECT count(*) FROM decisions")
        return int(count)


def _login() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name in some containers
        return "unknown"


def _frame(rows: list[tuple[Any, ...]]) -> pd.DataFrame:
    if not rows:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in _COLUMNS}).astype(
            {"decision_id": np.int64}
        )
    return pd.DataFrame.from_records(rows, columns=list(_COLUMNS))


def split_record_keys(keys: pd.Series | Sequence[str]) -> pd.DataFrame:
    """``source, record_id`` of record keys (split at the first ``/``: a source name has none)."""
    parts = pd.Series(keys, dtype=object).astype(str).str.split("/", n=1, expand=True)
    if parts.shape[1] < 2:
        parts[1] = None
    return pd.DataFrame({"source": parts[0].to_numpy(), "record_id": parts[1].to_numpy()})


def _refusal(decision: Decision, earlier: Sequence[Decision]) -> str:
    if decision.verdict == "same":
        said, why = "are the same person", "keep them apart"
    else:
        said, why = "are not the same person", "already make them one person"
    return (
        f"Refused: that {decision.a} and {decision.b} {said} contradicts the decisions in force, "
        f"which {why}: {'; '.join(map(str, earlier))}. If one of those is wrong, reverse it "
        "first (a new decision about the same two records replaces it, e.g. `ekjon review "
        "not-same A B --reason ...`), then decide again."
    )


def consistent(decisions: pd.DataFrame) -> tuple[pd.DataFrame, list[Contradiction]]:
    """The decisions in force that agree with each other, and those that do not.

    Taken oldest first (by ``decision_id``): a "same" joins its two records' persons unless an
    earlier "not same" keeps them apart; a "not same" keeps them apart unless earlier "same"
    decisions already join them. A decision that contradicts earlier ones is left out.

    Parameters
    ----------
    decisions:
        :meth:`DecisionStore.current` (columns as :meth:`DecisionStore.history`).

    Returns
    -------
    (pandas.DataFrame, list[Contradiction])
        The decisions kept (same columns, oldest first), and each one left out with the earlier
        decisions it contradicts.
    """
    if decisions.empty:
        return decisions, []
    ordered = decisions.sort_values("decision_id", kind="stable").reset_index(drop=True)
    rows = [Decision(**{c: r[c] for c in _COLUMNS}) for r in ordered.to_dict("records")]
    parent: dict[str, str] = {}
    joined_by: dict[str, list[tuple[str, int]]] = {}  # record -> (other, row) of kept "same"s
    apart: dict[str, dict[str, int]] = {}  # person root -> other root -> row of the "not same"

    def find(x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def path(start: str, end: str) -> list[int]:
        """The rows of the kept "same" decisions that lead from one record to another."""
        came: dict[str, tuple[str, int] | None] = {start: None}
        todo = [start]
        while todo and end not in came:
            here = todo.pop(0)
            for other, row in joined_by.get(here, ()):
                if other not in came:
                    came[other] = (here, row)
                    todo.append(other)
        steps: list[int] = []
        at = end
        while came.get(at) is not None:
            at, row = came[at]  # type: ignore[misc]
            steps.append(row)
        return steps[::-1]

    kept = np.ones(len(rows), dtype=bool)
    contradictions: list[Contradiction] = []
    for i, d in enumerate(rows):
        ra, rb = find(d.a), find(d.b)
        if d.verdict == "same":
            if ra == rb:
                continue
            if rb in apart.get(ra, {}):
                j = apart[ra][rb]
                x, y = rows[j].a, rows[j].b
                if find(x) != ra:
                    x, y = y, x
                chain = [*path(d.a, x), j, *path(y, d.b)]
                contradictions.append(Contradiction(d, tuple(rows[k] for k in chain)))
                kept[i] = False
                continue
            parent[rb] = ra
            for other, row in apart.pop(rb, {}).items():
                apart[other].pop(rb, None)
                apart[other][ra] = row
                apart.setdefault(ra, {})[other] = row
            joined_by.setdefault(d.a, []).append((d.b, i))
            joined_by.setdefault(d.b, []).append((d.a, i))
        else:
            if ra == rb:
                contradictions.append(Contradiction(d, tuple(rows[k] for k in path(d.a, d.b))))
                kept[i] = False
                continue
            apart.setdefault(ra, {})[rb] = i
            apart.setdefault(rb, {})[ra] = i
    return ordered[kept].reset_index(drop=True), contradictions


def honoured(
    keys: Sequence[str] | np.ndarray | pd.Series, labels: np.ndarray, decisions: pd.DataFrame
) -> np.ndarray:
    """Per decision, whether the persons of a run (``labels`` of the records ``keys``) obey it:
    a "same" pair in one person, a "not same" pair in two. A decision naming a record not in the
    run is not honoured (nor broken)."""
    index = pd.Index(pd.Series(keys, dtype=object).astype(str))
    labels = np.asarray(labels)
    a = index.get_indexer(decisions["a"].astype(str))
    b = index.get_indexer(decisions["b"].astype(str))
    present = (a >= 0) & (b >= 0)
    together = np.zeros(len(decisions), dtype=bool)
    together[present] = labels[a[present]] == labels[b[present]]
    same = decisions["verdict"].to_numpy() == "same"
    return present & (together == same)


def applied_reasons(
    keys: Sequence[str] | np.ndarray | pd.Series, labels: np.ndarray, decisions: pd.DataFrame
) -> tuple[np.ndarray, list[str]]:
    """:func:`decision_reasons` citing only the decisions the run :func:`honoured`, and a warning
    for each decision about two records of the run that it could not honour.

    Returns
    -------
    (numpy.ndarray, list[str])
        The reason per record (``None`` where no honoured decision shaped its person), and the
        warnings.
    """
    kept = honoured(keys, labels, decisions)
    index = pd.Index(pd.Series(keys, dtype=object).astype(str))
    present = index.get_indexer(decisions["a"].astype(str)) >= 0
    present &= index.get_indexer(decisions["b"].astype(str)) >= 0
    warnings = []
    for row in decisions[present & ~kept].to_dict("records"):
        decision = Decision(**{c: row[c] for c in _COLUMNS})
        outcome = "apart" if decision.verdict == "same" else "together"
        warnings.append(
            f"reviewer decision {decision} was not applied: the records' other links and "
            f"cannot-links (e.g. two different NIDs) kept them {outcome}; it is not cited in the "
            f"ledger. See `ekjon explain {decision.a} {decision.b}`."
        )
    return decision_reasons(keys, labels, decisions[kept]), warnings


# --- hooks for the clustering step ----------------------------------------------------------------


def decided_pairs(
    keys: Sequence[str] | np.ndarray | pd.Series, decisions: pd.DataFrame
) -> pd.DataFrame:
    """Decisions in force as positions in the batch: ``left, right, same`` (``left < right``).

    Parameters
    ----------
    keys:
        The record key of each row of the batch, in row order (``source + "/" + record_id`` of the
        prepared frame).
    decisions:
        :meth:`DecisionStore.current` (columns ``a, b, verdict``).

    Returns
    -------
    pandas.DataFrame
        One row per decision whose two records are both in the batch; decisions about records not in
        it are left out (logged).
    """
    index = pd.Index(pd.Series(keys, dtype=object).astype(str))
    if index.has_duplicates:
        raise DecisionError(
            f"Record {index[index.duplicated()][0]!r} appears twice in the batch; each record key "
            "must name one row."
        )
    if decisions.empty:
        return pd.DataFrame(
            {
                "left": np.empty(0, np.int64),
                "right": np.empty(0, np.int64),
                "same": np.empty(0, bool),
            }
        )
    a = index.get_indexer(decisions["a"].astype(str))
    b = index.get_indexer(decisions["b"].astype(str))
    ok = (a >= 0) & (b >= 0)
    if not ok.all():
        log.info("%d reviewer decisions name records not in this batch", int((~ok).sum()))
    a, b = a[ok], b[ok]
    return pd.DataFrame(
        {
            "left": np.minimum(a, b).astype(np.int64),
            "right": np.maximum(a, b).astype(np.int64),
            "same": (decisions["verdict"].to_numpy()[ok] == "same"),
        }
    )


def unblocked_pairs(pairs: pd.DataFrame, decided: pd.DataFrame) -> pd.DataFrame:
    """Decided pairs that blocking did not produce: ``left, right, rules`` (0), to be compared and
    scored with the candidates (so every pair has features for explanations) before
    :func:`apply_to_pairs` overrides their scores."""
    if decided.empty:
        return pd.DataFrame(
            {
                "left": np.empty(0, np.int64),
                "right": np.empty(0, np.int64),
                "rules": np.empty(0, np.int64),
            }
        )
    n = int(max(pairs["left"].max() if len(pairs) else 0, decided["right"].max())) + 1
    code = pairs["left"].to_numpy(np.int64) * n + pairs["right"].to_numpy(np.int64)
    d_code = np.unique(decided["left"].to_numpy(np.int64) * n + decided["right"].to_numpy(np.int64))
    new = d_code[~np.isin(d_code, code)]
    return pd.DataFrame({"left": new // n, "right": new % n, "rules": np.zeros(len(new), np.int64)})


def apply_to_pairs(pairs: pd.DataFrame, decided: pd.DataFrame) -> pd.DataFrame:
    """Scored pairs with the reviewers' decisions in force: call it between scoring and clustering.

    A decided pair gets probability 1 (same) or 0 (not same), weight +-:data:`DECIDED_LOGODDS`,
    and ``cannot_link`` True for "not same" (False for "same"); decided pairs that
    blocking did not produce are appended (``rules`` 0). A boolean ``reviewed`` column marks them.

    Parameters
    ----------
    pairs:
        ``left, right`` (positions, ``left < right``) and optionally ``rules, probability, weight,
        cannot_link``.
    decided:
        :func:`decided_pairs`.

    Returns
    -------
    pandas.DataFrame
        The pairs, decided ones overridden and missing ones appended after the original rows (whose
        order and index are kept, so the features frame of the original rows still lines up).
    """
    out = pairs.copy()
    out["reviewed"] = False
    if decided.empty:
        return out
    n = int(max(out["left"].max() if len(out) else 0, decided["right"].max())) + 1
    code = out["left"].to_numpy(np.int64) * n + out["right"].to_numpy(np.int64)
    d_code = decided["left"].to_numpy(np.int64) * n + decided["right"].to_numpy(np.int64)
    same = pd.Series(decided["same"].to_numpy(bool), index=d_code)
    same = same[~same.index.duplicated(keep="last")]
    hit = np.isin(code, same.index.to_numpy())
    verdict = same.reindex(code[hit]).to_numpy(bool)
    rows = out.index[hit]
    if "probability" in out.columns:
        out.loc[rows, "probability"] = np.where(verdict, 1.0, 0.0)
    if "weight" in out.columns:
        out.loc[rows, "weight"] = np.where(verdict, DECIDED_LOGODDS, -DECIDED_LOGODDS)
    if "cannot_link" in out.columns:
        out.loc[rows, "cannot_link"] = ~verdict
    out.loc[rows, "reviewed"] = True
    missing = ~np.isin(same.index.to_numpy(), code)
    if missing.any():
        m_code, m_same = same.index.to_numpy()[missing], same.to_numpy(bool)[missing]
        extra = pd.DataFrame({"left": m_code // n, "right": m_code % n})
        for column in out.columns:
            if column in ("left", "right"):
                continue
            extra[column] = {
                "rules": 0,
                "probability": np.where(m_same, 1.0, 0.0),
                "weight": np.where(m_same, DECIDED_LOGODDS, -DECIDED_LOGODDS),
                "cannot_link": ~m_same,
                "reviewed": True,
            }.get(column, None)
        start = (int(out.index.max()) + 1) if len(out) and _integer_index(out) else len(out)
        extra.index = pd.RangeIndex(start, start + len(extra))
        out = pd.concat([out, extra[out.columns]])
    return out


def _integer_index(frame: pd.DataFrame) -> bool:
    return pd.api.types.is_integer_dtype(frame.index.dtype)


def enforce(labels: np.ndarray, decided: pd.DataFrame) -> np.ndarray:
    """Cluster labels with the decisions in force: call it right after clustering.

    - "same": the two records' clusters are joined, unless the join would put together two records
      a "not same" decision keeps apart (that "same" is then skipped, with a warning);
    - "not same": if the clustering left the two records together, the record at ``right`` is
      taken out into a cluster of its own (with a warning: a clustering that honours cannot-links
      never leaves one).

    Parameters
    ----------
    labels:
        The cluster label of each record (any integers).
    decided:
        :func:`decided_pairs`.

    Returns
    -------
    numpy.ndarray
        Labels ``0 .. k-1``.
    """
    labels = np.asarray(labels)
    codes, _ = pd.factorize(labels)
    codes = codes.astype(np.int64)
    if decided.empty or not len(codes):
        return codes
    k = int(codes.max()) + 1
    left, right = decided["left"].to_numpy(np.int64), decided["right"].to_numpy(np.int64)
    same = decided["same"].to_numpy(bool)
    parent = list(range(k))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    apart = list(zip(codes[left[~same]].tolist(), codes[right[~same]].tolist(), strict=True))
    for a, b in zip(codes[left[same]].tolist(), codes[right[same]].tolist(), strict=True):
        ra, rb = find(a), find(b)
        if ra == rb:
            continue
        if any({find(x), find(y)} == {ra, rb} for x, y in apart):
            log.warning(
                "a reviewer's 'same' would join two clusters a 'not same' keeps apart; skipped"
            )
            continue
        parent[max(ra, rb)] = min(ra, rb)
    roots = np.arange(k, dtype=np.int64)
    for c in set(codes[left[same]].tolist()) | set(codes[right[same]].tolist()):
        roots[c] = find(c)
    joined = roots[codes]
    together = joined[left[~same]] == joined[right[~same]]
    if together.any():
        log.warning(
            "%d reviewer 'not same' pairs were left in one cluster; taking the records out",
            int(together.sum()),
        )
        next_label = k
        for r in np.unique(right[~same][together]).tolist():
            joined[r] = next_label
            next_label += 1
    out, _ = pd.factorize(joined)
    return out.astype(np.int64)


def decision_reasons(
    keys: Sequence[str] | np.ndarray | pd.Series,
    labels: np.ndarray,
    decisions: pd.DataFrame,
) -> np.ndarray:
    """The reviewer decision behind each record's cluster, as a ledger reason (``None`` elsewhere).

    Every record in a cluster that holds a record named by a decision in force gets e.g.
    ``"reviewer decision: not same dss/1 / pesp/7 by rahim: different fathers"``; pass the result as
    the ``reason`` column to :func:`engine.identity.ledger.assign_person_ids` (filling the rest
    with the
    model's reasons).
    """
    keys = pd.Series(keys, dtype=object).astype(str)
    labels = np.asarray(labels)
    out = np.full(len(keys), None, dtype=object)
    if decisions.empty:
        return out
    text = (
        "reviewer decision: "
        + decisions["verdict"].str.replace("_", " ")
        + " "
        + decisions["a"]
        + " / "
        + decisions["b"]
        + " by "
        + decisions["reviewer"]
        + ": "
        + decisions["reason"]
    )
    named = pd.concat(
        [
            pd.DataFrame({"key": decisions["a"], "text": text}),
            pd.DataFrame({"key": decisions["b"], "text": text}),
        ]
    )
    position = pd.Index(keys).get_indexer(named["key"])
    found = position >= 0
    if not found.any():
        return out
    per_cluster = (
        pd.DataFrame({"cluster": labels[position[found]], "text": named["text"].to_numpy()[found]})
        .drop_duplicates()
        .groupby("cluster", sort=False)["text"]
        .agg("; ".join)
    )
    reason = pd.Series(labels).map(per_cluster)
    return reason.where(reason.notna(), None).to_numpy(dtype=object)
