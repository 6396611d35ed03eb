"""The batch resolve: canonical records -> candidate pairs -> features -> scores -> persons.

The batch is a sequence of dataframe steps, each a plain function of frames (no hidden state), so a
later round can run the same steps on Spark over Parquet:

=============  ===========================================  ========================================
step           in -> out                                    what it is on a cluster
=============  ===========================================  ========================================
prepare        records -> prepared (one row per record)     a map over records + two group-bys
block          prepared -> pairs (left, right, rules)       explode + self-join on each blocking key
compare        prepared, pairs -> features                  two joins back to records + UDF columns
score          features -> probability, weight              a model applied per row
complete       labels, pairs -> extra pairs in components   self-join within small components
crowded        prepared, pairs -> capped weights            a group-by (namesakes) + a join per pair
cluster        pairs + weights -> person label per record   connected components + per-component map
=============  ===========================================  ========================================

:func:`resolve` runs them in order and returns a :class:`Resolution` that keeps every intermediate
product (per-record cluster assignment, scored pairs, features, blocking report), so stable person
IDs, the ledger, incremental resolve and graph writing can be built on it.

Example
-------
>>> from engine.resolve.pipeline import resolve                        # doctest: +SKIP
>>> resolution = resolve(records, model)                       # doctest: +SKIP
>>> resolution.assignments().head()                            # doctest: +SKIP
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import pandas as pd

from engine.resolve.blocking import DEFAULT_RULES, BlockingReport, BlockingRule, candidate_pairs
from engine.resolve.cluster import (
    HOUSEHOLD_ROUNDS,
    ClusterStats,
    cluster_with_households,
    complete_pairs,
    components,
    key_order,
    logodds,
)
from engine.resolve.compare import FEATURES, Vocabulary, cannot_link, compare
from engine.resolve.crowded import Namesakes, cap_crowded, crowded_pairs
from engine.resolve.prepare import LIST_COLUMNS, PREPARED_COLUMNS, prepare
from engine.workers import die_with_parent

log = logging.getLogger(__name__)


class MatchModel(Protocol):
    """Anything with scikit-learn's ``predict_proba`` over a frame of
    :data:`~engine.resolve.compare.FEATURES`."""

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray: ...


@dataclass(frozen=True)
class ResolveSettings:
    """Knobs of the batch.

    Attributes
    ----------
    rules:
        Blocking rules.
    link_threshold:
        Log-odds above which a pair links records into a first component (0 = probability 0.5).
    complete_max:
        Components of up to this many records get every pair inside scored before clustering.
    max_linkage_size:
        Largest component split by dense average linkage (bigger ones are cut at a raised
        threshold).
    chunk_pairs:
        Pairs compared and scored at a time (bounds memory; a Spark partition in a later round).
    keep_features:
        Keep every pair's features in the :class:`Resolution` (memory: 92 bytes a pair). Without
        them, :meth:`Resolution.pair_features` recomputes the features of the pairs asked for.
    household_rounds:
        Rounds of household evidence after clustering
        (:func:`engine.resolve.cluster.cluster_with_households`; 0 = none).
    """

    rules: tuple[BlockingRule, ...] = DEFAULT_RULES
    link_threshold: float = 0.0
    complete_max: int = 60
    max_linkage_size: int = 400
    chunk_pairs: int = 1_000_000
    keep_features: bool = False
    household_rounds: int = HOUSEHOLD_ROUNDS


@dataclass
class Resolution:
    """Everything a batch resolve produced.

    Attributes
    ----------
    prepared:
        One row per record (:func:`engine.resolve.prepare.prepare`, without the blocking-key
        lists); row
        ``i`` is record ``i`` everywhere.
    pairs:
        Every scored pair: ``left``, ``right``, ``rules`` (blocking bit mask; 0 for pairs added
        inside
        components), ``probability``, ``weight`` (log-odds), ``cannot_link``.
    features:
        The pairs' comparison features (same index as ``pairs``), or ``None`` unless
        ``settings.keep_features``; see :meth:`pair_features`.
    person:
        Cluster label per record (``0 .. k-1``; not yet a stable person ID).
    blocking:
        The blocking report.
    clustering:
        Counts from clustering.
    timings:
        Seconds per step.
    vocabulary:
        The prepared names and identifiers coded once (:class:`engine.resolve.compare.Vocabulary`).
    blocking_keys:
        The blocking-key list columns (:data:`engine.resolve.prepare.LIST_COLUMNS`), row for row,
        when
        ``resolve`` was asked to keep them (the incremental resolver indexes them); else ``None``.
    namesakes:
        The names each source carries often, with their birth years, that the ``crowded`` step
        counted (:class:`engine.resolve.crowded.Namesakes`; the one-record resolver keeps them).
    """

    prepared: pd.DataFrame
    pairs: pd.DataFrame
    features: pd.DataFrame | None
    person: np.ndarray
    blocking: BlockingReport
    clustering: ClusterStats
    timings: dict[str, float] = field(default_factory=dict)
    vocabulary: Vocabulary | None = None
    blocking_keys: pd.DataFrame | None = None
    namesakes: Namesakes | None = None

    def prepared_with_blocking_keys(self) -> pd.DataFrame:
        """The whole prepared frame, blocking-key lists included (:func:`resolve` with
        ``keep_blocking_keys``), columns in :data:`engine.resolve.prepare.PREPARED_COLUMNS` order;
        the
        columns are shared with :attr:`prepared`, not copied.

        Raises
        ------
        ValueError
            If the lists were not kept.
        """
        if self.blocking_keys is None:
            raise ValueError("resolve() kept no blocking keys; pass keep_blocking_keys=True.")
        columns = {c: self.prepared[c].to_numpy() for c in self.prepared.columns}
        columns.update({c: self.blocking_keys[c].to_numpy() for c in self.blocking_keys.columns})
        order = [c for c in PREPARED_COLUMNS if c in columns]
        order += [c for c in columns if c not in order]
        return pd.DataFrame({c: columns[c] for c in order}, copy=False)

    def pair_features(self, pairs: pd.DataFrame) -> pd.DataFrame:
        """Comparison features of any pairs of record rows (``left``, ``right``), e.g. the errors
        an evaluation lists or a link an auditor asks about."""
        if self.vocabulary is None:
            self.vocabulary = Vocabulary(self.prepared)
        return compare(self.prepared, pairs[["left", "right"]], self.vocabulary)

    def assignments(self) -> pd.DataFrame:
        """``source``, ``record_id``, ``cluster``: the person each record was put in."""
        return pd.DataFrame(
            {
                "source": self.prepared["source"].to_numpy(),
                "record_id": self.prepared["record_id"].to_numpy(),
                "cluster": self.person,
            }
        )

    def scored_pairs(self, start: int = 0, stop: int | None = None) -> pd.DataFrame:
        """Scored pairs named by record: ``left_source``, ``left_record_id``, ``right_...``,
        scores; pairs ``start`` to ``stop`` (default: all), to write a few at a time."""
        p = self.prepared
        rows = slice(start, stop)
        left = self.pairs["left"].to_numpy()[rows]
        right = self.pairs["right"].to_numpy()[rows]
        return pd.DataFrame(
            {
                "left_source": p["source"].to_numpy()[left],
                "left_record_id": p["record_id"].to_numpy()[left],
                "right_source": p["source"].to_numpy()[right],
                "right_record_id": p["record_id"].to_numpy()[right],
                "probability": self.pairs["probability"].to_numpy()[rows],
                "weight": self.pairs["weight"].to_numpy()[rows],
                "cannot_link": self.pairs["cannot_link"].to_numpy()[rows],
            }
        )


#: Pairs that share no NID or BRN and whose best name similarity (token set) is below this, or
#: whose birth years lie this many years apart, are scored without the model: on the training
#: world (seed 7, 20,000 persons) 29% of candidate pairs were such, and 2 of 29,907 matches.
OBVIOUS_NAME_MISMATCH = 0.4
OBVIOUS_YEAR_GAP = 6
#: The probability given to such pairs.
OBVIOUS_MISMATCH_PROBABILITY = 1e-3


def obvious_mismatch(features: pd.DataFrame | Mapping[str, np.ndarray]) -> np.ndarray:
    """Pairs the model need not score: no shared NID or BRN, and names clearly different or
    births years apart (a son named after his father). ``features``: a frame, or feature ->
    array."""
    differ = (np.asarray(features["name_set"]) < OBVIOUS_NAME_MISMATCH) | (
        np.asarray(features["year_gap"]) >= OBVIOUS_YEAR_GAP
    )
    return (
        differ & (np.asarray(features["nid_match"]) != 1) & (np.asarray(features["brn_match"]) != 1)
    )


def model_columns(model: Any) -> list[str]:
    """The feature columns ``model`` was fitted on (scikit-learn's ``feature_names_in_``, an
    artifact's ``feature_names``), else all :data:`~engine.resolve.compare.FEATURES`: a model
    trained before a feature was added scores without it."""
    for attribute in ("feature_names_in_", "feature_names"):
        names = getattr(model, attribute, None)
        if names is not None and len(names):
            return [str(n) for n in names]
    return list(FEATURES)


#: Rows a model scores at a time.
SCORE_ROWS = 250_000


def score(model: MatchModel, features: pd.DataFrame) -> pd.DataFrame:
    """Probability and log-odds weight of each pair, from the model (obvious mismatches aside)."""
    probability = np.full(len(features), OBVIOUS_MISMATCH_PROBABILITY)
    rows = np.flatnonzero(~obvious_mismatch(features))
    columns = model_columns(model)
    # a model's working memory grows with the rows it scores at once (the tree evaluator's bit
    # masks): a few hundred thousand at a time keep it small
    for start in range(0, len(rows), SCORE_ROWS):
        part = rows[start : start + SCORE_ROWS]
        X = features.iloc[part][columns]
        probability[part] = np.asarray(model.predict_proba(X))[:, 1]
    return pd.DataFrame(
        {"probability": probability, "weight": logodds(probability)}, index=features.index
    )


def default_workers() -> int:
    """Processes that compare and score chunks of pairs by default: up to 2, the CPUs this process
    may run on."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # no affinity on this platform
        cpus = os.cpu_count() or 1
    return max(1, min(2, cpus))


#: What forked scoring workers read: set in the parent before the fork, so the prepared records,
#: vocabulary and model are shared with the workers, not pickled to them.
_SHARED: dict[str, Any] = {}


def _score_chunk(bounds: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities and cannot-link flags of pairs ``start`` to ``stop`` (in a worker)."""
    start, stop = bounds
    part = _SHARED["pairs"].iloc[start:stop]
    features = compare(_SHARED["prepared"], part, _SHARED["vocabulary"])
    return score(_SHARED["model"], features)["probability"].to_numpy(), cannot_link(features)


def _score_in_workers(
    prepared: pd.DataFrame,
    pairs: pd.DataFrame,
    model: MatchModel,
    vocabulary: Vocabulary,
    chunk: int,
    workers: int,
    probability: np.ndarray,
    forbidden: np.ndarray,
) -> bool:
    """Fill ``probability`` and ``forbidden`` chunk by chunk in ``workers`` forked processes;
    ``False`` (nothing done) where processes cannot be forked.

    Each chunk is compared and scored exactly as in one process, so the scores are the same.
    The parent's objects are frozen out of the garbage collector while the workers run: a
    collection in a worker would otherwise touch (and so copy) every object the fork shares."""
    import gc
    import multiprocessing

    try:
        context = multiprocessing.get_context("fork")
    except ValueError:  # no fork on this platform
        return False
    n = len(pairs)
    bounds = [(start, min(start + chunk, n)) for start in range(0, n, chunk)]
    # the households' kin codes every chunk reads, made once here and shared: made lazily, each
    # worker made its own (of every pool: compare's and complete's), seconds each at a million
    vocabulary.kin()
    _SHARED.update(prepared=prepared, pairs=pairs, model=model, vocabulary=vocabulary)
    gc.freeze()
    try:
        with context.Pool(workers, initializer=die_with_parent, initargs=(os.getpid(),)) as pool:
            for (start, stop), (p, f) in zip(
                bounds, pool.imap(_score_chunk, bounds, chunksize=1), strict=True
            ):
                probability[start:stop] = p
                forbidden[start:stop] = f
                log.info("scored %d of %d pairs", stop, n)
    finally:
        gc.unfreeze()
        _SHARED.clear()
    return True


def scored(
    prepared: pd.DataFrame,
    pairs: pd.DataFrame,
    model: MatchModel,
    vocabulary: Vocabulary | None = None,
    *,
    chunk: int = 1_000_000,
    keep_features: bool = True,
    workers: int = 1,
) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Compare and score ``pairs``, ``chunk`` pairs at a time.

    With ``workers`` > 1 (and more than one chunk, features not kept, a platform that forks) the
    chunks are compared and scored in that many forked processes; the scores are the same.

    Returns
    -------
    (pairs, features)
        ``pairs`` with ``probability``, ``weight`` and ``cannot_link`` added; the features (same
        index) when ``keep_features``, else ``None``.
    """
    vocabulary = vocabulary if vocabulary is not None else Vocabulary(prepared)
    n = len(pairs)
    chunk = max(chunk, 1)
    probability = np.empty(n, dtype=np.float64)
    forbidden = np.empty(n, dtype=bool)
    kept: list[pd.DataFrame] = []
    done = (
        workers > 1
        and n > chunk
        and not keep_features
        and _score_in_workers(
            prepared, pairs, model, vocabulary, chunk, workers, probability, forbidden
        )
    )
    for start in range(0, 0 if done else n, chunk):
        part = pairs.iloc[start : start + chunk]
        features = compare(prepared, part, vocabulary)
        probability[start : start + len(part)] = score(model, features)["probability"].to_numpy()
        forbidden[start : start + len(part)] = cannot_link(features)
        if keep_features:
            kept.append(features)
        if n > chunk:
            log.info("scored %d of %d pairs", min(start + chunk, n), n)
    out = pairs.copy()
    out["probability"] = probability
    out["weight"] = logodds(probability)
    out["cannot_link"] = forbidden
    if not keep_features:
        return out, None
    if not kept:
        return out, pd.DataFrame({f: np.empty(0, np.float32) for f in FEATURES}, index=pairs.index)
    return out, pd.concat(kept)


def resolve(
    records: pd.DataFrame,
    model: MatchModel,
    settings: ResolveSettings | None = None,
    *,
    truth: Sequence[Any] | np.ndarray | None = None,
    progress: Callable[[str], None] | None = None,
    decisions: pd.DataFrame | None = None,
    keep_blocking_keys: bool = False,
    workers: int | None = None,
) -> Resolution:
    """Resolve canonical records into persons.

    Parameters
    ----------
    records:
        Canonical records (``RecordStore(path).current()``).
    model:
        A fitted match model over :data:`~engine.resolve.compare.FEATURES`.
    settings:
        :class:`ResolveSettings`; defaults when ``None``.
    truth:
        Optional true person label per record, only to add blocking recall to the report.
    progress:
        Called with the name of each step as it starts.
    decisions:
        Reviewers' decisions in force (:meth:`engine.resolve.decisions.DecisionStore.current`): a
        "same"
        pair is joined and a "not same" pair kept apart whatever the model says; decided pairs
        blocking missed are compared too, so they can be explained.
    keep_blocking_keys:
        Keep the blocking-key lists in :attr:`Resolution.blocking_keys` (the incremental
        resolver's index is built from them) instead of freeing them after blocking.
    workers:
        Processes that compare and score chunks of pairs (default :func:`default_workers`; 1 = in
        this process). The pairs, scores and persons are the same whatever the number.

    Returns
    -------
    Resolution
    """
    settings = settings or ResolveSettings()
    timings: dict[str, float] = {}
    note = progress or (lambda step: None)

    def timed(step: str, fn: Callable[[], Any]) -> Any:
        note(step)
        start = time.perf_counter()
        result = fn()
        timings[step] = time.perf_counter() - start
        log.info("%s: %.1fs", step, timings[step])
        return result

    prepared = timed("prepare", lambda: prepare(records))
    truth_array = None if truth is None else np.asarray(truth)
    pairs, report = timed("block", lambda: candidate_pairs(prepared, settings.rules, truth_array))
    keys = (prepared["source"].astype(str) + "/" + prepared["record_id"].astype(str)).to_numpy()
    # ties in linkage go by record key, so the persons do not depend on the records' row order
    order = key_order(keys)
    decided = None
    if decisions is not None and len(decisions):
        from engine.resolve.decisions import decided_pairs, unblocked_pairs

        decided = decided_pairs(keys, decisions)
        pairs = pd.concat([pairs, unblocked_pairs(pairs, decided)], ignore_index=True)
    del keys
    vocabulary = timed("vocabulary", lambda: Vocabulary(prepared))
    # the list columns served blocking only; they are the prepared frame's heaviest part
    lists = [c for c in LIST_COLUMNS if c in prepared.columns]
    blocking_keys = prepared[lists] if keep_blocking_keys else None
    prepared = prepared.drop(columns=lists)

    processes = default_workers() if workers is None else max(1, workers)

    def score_pairs(pairs: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame | None]:
        return scored(
            prepared,
            pairs,
            model,
            vocabulary,
            chunk=settings.chunk_pairs,
            keep_features=settings.keep_features,
            workers=processes,
        )

    pairs, features = timed("compare+score", lambda: score_pairs(pairs))
    n = len(prepared)

    def complete() -> tuple[pd.DataFrame, pd.DataFrame | None]:
        strong = (pairs["weight"].to_numpy() > settings.link_threshold) & ~pairs[
            "cannot_link"
        ].to_numpy()
        labels = components(n, pairs["left"].to_numpy(), pairs["right"].to_numpy(), strong)
        extra = complete_pairs(labels, pairs, settings.complete_max)
        extra["rules"] = np.zeros(len(extra), dtype=np.int64)
        extra_scored, extra_features = score_pairs(extra)
        all_pairs = pd.concat([pairs, extra_scored], ignore_index=True)
        if features is None or extra_features is None:
            return all_pairs, None
        return all_pairs, pd.concat([features, extra_features], ignore_index=True)

    pairs, features = timed("complete", complete)
    stats = ClusterStats()

    def cap() -> Namesakes:
        namesakes = Namesakes.of(prepared)
        crowded = crowded_pairs(
            prepared,
            pairs["left"].to_numpy(),
            pairs["right"].to_numpy(),
            pairs["weight"].to_numpy(),
            namesakes,
        )
        pairs["weight"] = cap_crowded(pairs["weight"].to_numpy(), crowded)
        stats.crowded_links = int(crowded.sum())
        log.info("capped %d name-and-age-only pairs sharing no place", stats.crowded_links)
        return namesakes

    namesakes = timed("crowded", cap)
    if decided is not None:
        from engine.resolve.decisions import apply_to_pairs

        pairs = apply_to_pairs(pairs, decided)
        if features is not None:
            features = features.reindex(pairs.index)
    person, weight = timed(
        "cluster",
        lambda: cluster_with_households(
            n,
            pairs["left"].to_numpy(),
            pairs["right"].to_numpy(),
            pairs["weight"].to_numpy(),
            pairs["cannot_link"].to_numpy(),
            pairs["probability"].to_numpy(),
            prepared,
            rounds=settings.household_rounds,
            link_threshold=settings.link_threshold,
            max_linkage_size=settings.max_linkage_size,
            stats=stats,
            order=order,
        ),
    )
    # the clustering's weights: a pair household evidence linked is raised (the model's
    # probability is kept)
    pairs["weight"] = weight
    return Resolution(
        prepared,
        pairs,
        features,
        person,
        report,
        stats,
        timings,
        vocabulary,
        blocking_keys,
        namesakes,
    )
