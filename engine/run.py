"""One full resolve run: the record store's current records -> persons and households -> the graph.

:func:`run_batch` is what ``ekjon resolve`` (and ``ekjon demo``) call. It chains the engine's steps
and keeps what a later step or an auditor needs:

1. the current canonical records from the record store (``$EKJON_HOME/records.sqlite``);
2. the batch pipeline (:func:`engine.resolve.pipeline.resolve`): block, compare, score, cluster,
with the
   reviewers' decisions (``decisions.sqlite``) forcing "same" / "not same";
3. stable person IDs from the identity ledger (``identity.sqlite``), which records every merge and
   split with its reason and the model version;
4. households (:func:`engine.identity.households.resolve_households`), stable the same way;
5. the outputs under ``$EKJON_HOME/resolution/``: ``assignment.parquet`` (source, record_id,
   person_id, household_id) and ``pairs.parquet`` (every scored pair with its probability), which
   ``ekjon export`` / ``ekjon evaluate`` read, and the incremental resolver's index
   (``incremental/``) that ``ekjon match`` answers from;
6. the graph (:func:`engine.publish.publish`) into whichever store the caller opened, marked as one
   publish (:func:`graph.store.publishing`): cut short, readers are told, and the next run finishes
   it.

Memory is the batch's limit at national scale, so each large product is written and let go as soon
as no later step needs it: the scored pairs right after clustering (a chunk at a time), the
blocking-key lists once the incremental index (built from the pipeline's own prepared frame, not a
second ``prepare``) is written, and, unless a graph is published, the records after households.
"""

from __future__ import annotations

import functools
import gc
import logging
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from engine.errors import EkjonError
from engine.home import Home

log = logging.getLogger(__name__)


class NothingToResolve(EkjonError):
    """The record store holds no records yet."""


class DamagedOutput(EkjonError):
    """A file the last resolve wrote cannot be read: damaged, or cut short."""


@dataclass
class BatchReport:
    """What one run did, for the console and ``--json``."""

    records: int
    persons: int
    households: int
    pairs_scored: int
    model_version: str
    person_events: dict[str, int] = field(default_factory=dict)
    published: dict[str, Any] | None = None
    timings: dict[str, float] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)
    #: sources resolved although partly ingested (``allow_partial``), reviewers' decisions left
    #: out, pairs of sources that can meet only on an exact identifier: one line each
    warnings: list[str] = field(default_factory=list)
    #: blocking coverage per pair of sources
    #: (:meth:`engine.resolve.coverage.SourceCoverage.to_dict`)
    blocking: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "records": self.records,
            "persons": self.persons,
            "households": self.households,
            "pairs_scored": self.pairs_scored,
            "model_version": self.model_version,
            "person_events": self.person_events,
            "published": self.published,
            "timings": {k: round(v, 2) for k, v in self.timings.items()},
            "outputs": self.outputs,
            "warnings": self.warnings,
            "blocking": self.blocking,
        }


#: How long a resolve waits for its home while another process holds it (an API store of one record
#: takes a moment; another resolve takes longer) before it is refused, naming the holder.
RESOLVE_WAIT_SECONDS = 5.0


def _one_run_at_a_time(run: Callable[..., BatchReport]) -> Callable[..., BatchReport]:
    """Hold the home's resolve lock (:func:`engine.homelock.hold_home`) while ``run`` runs."""

    @functools.wraps(run)
    def held(home: Home | Path, *args: Any, **kwargs: Any) -> BatchReport:
        from engine.homelock import hold_home

        home = Home.of(home)
        with hold_home(
            home,
            "ekjon resolve",
            wait=RESOLVE_WAIT_SECONDS,
            then="Wait for it to finish, then run ekjon resolve again.",
        ):
            return run(home, *args, **kwargs)

    return held


@_one_run_at_a_time
def run_batch(
    home: Home | Path,
    store: Any | None = None,
    *,
    model_path: Path | None = None,
    progress: Callable[[str], None] | None = None,
    allow_partial: bool = False,
) -> BatchReport:
    """Resolve every current record under ``home`` and (if ``store`` is given) publish the graph.

    Parameters
    ----------
    home:
        Where the record store, ledger, decisions and outputs live (:class:`engine.home.Home`,
        or its folder).
    store:
        An open :class:`graph.store.GraphStore`, or ``None`` to skip publishing.
    model_path:
        A match-model artifact (JSON); default: the shipped ``models/trained/default.json``.
    progress:
        Called with the name of each step as it starts.
    allow_partial:
        Resolve even if a source is partly ingested (its ingest killed, failed part-way or still
        running), with a warning in the report, instead of refusing.

    Returns
    -------
    BatchReport

    Raises
    ------
    NothingToResolve
        If nothing has been ingested yet.
    engine.homelock.HomeBusy
        If another resolve (or the API storing a record) holds the home for longer than
        :data:`RESOLVE_WAIT_SECONDS`: one run at a time, so no run credits another's ledger events.
    engine.ingest.run.PartialSources
        If a source is partly ingested and ``allow_partial`` is not set.
    """
    from engine.identity.assign import assign_person_ids
    from engine.identity.households import resolve_households
    from engine.identity.ledger import IdentityLedger
    from engine.ingest.run import check_whole_sources
    from engine.ingest.store import RecordStore
    from engine.quality.training import DEFAULT_ARTIFACT, load_model
    from engine.resolve.decisions import DecisionStore
    from engine.resolve.pipeline import resolve

    home = Home.of(home)
    note = progress or (lambda step: None)
    timings: dict[str, float] = {}
    started = time.perf_counter()

    note("load records")
    with RecordStore(home.records) as records_store:
        partial = check_whole_sources(records_store, allow_partial=allow_partial)
        records = records_store.current()
    if records.empty:
        raise NothingToResolve(
            f"The record store in {home} holds no records; ingest some first (ekjon ingest DIR)."
        )
    records = _in_key_order(records)
    timings["load"] = time.perf_counter() - started

    model = load_model(model_path or DEFAULT_ARTIFACT)
    version = str(getattr(model, "model_version", "unversioned"))
    decisions, review_warnings = None, []
    if home.decisions.exists():
        from engine.resolve.decisions import consistent

        with DecisionStore(home.decisions) as decision_store:
            # decisions that contradict earlier ones (an older ekjon let them in) are left out
            decisions, contradicted = consistent(decision_store.current())
        review_warnings = [str(c) for c in contradicted]
        if decisions.empty:
            decisions = None

    options = {} if decisions is None else {"decisions": decisions}
    resolution = resolve(records, model, progress=note, keep_blocking_keys=True, **options)
    timings.update(resolution.timings)
    resolution.vocabulary = None  # compare's coded names: nothing after the scoring reads them
    sources = resolution.blocking.sources
    blocking = {} if sources is None else sources.to_dict()
    coverage_warnings = [] if sources is None else list(sources.warnings)
    home.resolution.mkdir(parents=True, exist_ok=True)
    note("write pairs")
    n_pairs = len(resolution.pairs)
    # written by a forked process while this one assigns the person IDs
    pairs_written = _in_background(
        functools.partial(_write_pairs, resolution, version, home.pairs), "the scored pairs"
    )
    if store is None:  # what is left needs the records' persons, not the scored pairs
        resolution.pairs = resolution.pairs.iloc[:0]

    note("person ids")
    step = time.perf_counter()
    clusters = resolution.assignments()
    clusters["reason"] = f"batch clustering, model {version}"
    if decisions is not None:
        from engine.resolve.decisions import applied_reasons

        keys = clusters["source"].astype(str) + "/" + clusters["record_id"].astype(str)
        # the ledger cites only the decisions the persons obey; the others are warned about
        reviewed, unapplied = applied_reasons(keys, clusters["cluster"].to_numpy(), decisions)
        review_warnings += unapplied
        clusters["reason"] = pd.Series(reviewed, dtype=object).fillna(clusters["reason"])
    with IdentityLedger(home.ledger) as ledger:
        # one row per record, in the records' (and the prepared frame's) order
        try:
            persons = assign_person_ids(ledger, clusters, model_version=version)
            del clusters
            del persons["record_key"]  # the records are named by source and record_id below
            run_id = persons.attrs["run_id"]  # this run's, whatever ran beside it
            events = ledger.events(run_id) if run_id is not None else pd.DataFrame()
            timings["person ids"] = time.perf_counter() - step
        finally:
            # the pairs are whole (or their error raised) before the index is begun
            timings["write pairs"] = pairs_written()
        if store is not None:
            from engine.publish import MIN_LINK_PROBABILITY

            # only the pairs the graph keeps as links (most scored pairs are far below), let go
            # of before the index and the households are built
            strong = resolution.pairs["probability"].to_numpy() >= MIN_LINK_PROBABILITY
            resolution.pairs = resolution.pairs[strong]

        # The incremental resolver answers one new record the way this batch would (ekjon match,
        # and the API's /resolve); it is saved beside the batch's outputs so it starts without
        # re-running. Built now, so the blocking-key lists it indexes are freed before households.
        from engine.incremental.resolver import IncrementalResolver

        note("incremental index")
        step = time.perf_counter()
        IncrementalResolver.write_batch(
            home.incremental,
            resolution,
            persons["person_id"].to_numpy(),
            model,
            records=records,
            prepared=resolution.prepared_with_blocking_keys(),
        )
        resolution.blocking_keys = None
        gc.collect()
        timings["incremental index"] = time.perf_counter() - step

        note("households")
        step = time.perf_counter()
        records["person_id"] = persons["person_id"].to_numpy()
        try:
            households = resolve_households(
                records, ledger=ledger, model_version=version, prepared=resolution.prepared
            )
        finally:
            del records["person_id"]
        timings["households"] = time.perf_counter() - step
    n_records = len(records)
    if store is None:  # publishing is the only later reader of the records
        del records

    household_of = pd.Series(
        households["household_id"].to_numpy(), index=households["person_id"].to_numpy()
    )
    household_of = household_of[~household_of.index.duplicated()]
    assignment = pd.DataFrame(
        {
            "source": persons["source"].to_numpy(),
            "record_id": persons["record_id"].to_numpy(),
            "person_id": persons["person_id"].to_numpy(),
            "household_id": household_of.reindex(persons["person_id"].to_numpy()).to_numpy(),
            "bangla_only": resolution.prepared["bangla_only"].to_numpy(),
        }
    )
    del persons, households, household_of
    assignment.to_parquet(home.assignment, index=False)
    pairs = None
    if store is not None:  # the links, named
        pairs = resolution.scored_pairs()
        pairs["model_version"] = version
    del resolution
    gc.collect()

    published = None
    if store is not None:
        from engine.publish import publish
        from graph.store import publishing

        note("publish")
        step = time.perf_counter()
        # marked begun and (only once it all went in) ended: readers are never shown it half-done
        with publishing(store, f"resolve run {run_id}" if run_id is not None else "resolve"):
            report = publish(
                store,
                records,
                assignment[["source", "record_id", "person_id", "household_id"]],
                pairs,
                model_version=version,
                count_pruned_edges=False,  # the report does not show them; ~25 s at 1M persons
            )
        published = {
            "records": report.records,
            "persons": report.persons,
            "households": report.households,
            "identifiers": report.identifiers,
            "edges": report.edges,
            "seconds": round(report.seconds, 2),
        }
        timings["publish"] = time.perf_counter() - step
    timings["total"] = time.perf_counter() - started

    return BatchReport(
        records=n_records,
        persons=int(assignment["person_id"].nunique()),
        households=int(assignment["household_id"].nunique()),
        pairs_scored=n_pairs,
        model_version=version,
        person_events=(
            {str(k): int(v) for k, v in events["event"].value_counts().items()}
            if "event" in events
            else {}
        ),
        published=published,
        timings=timings,
        outputs={
            "assignment": str(home.assignment),
            "pairs": str(home.pairs),
            "incremental": str(home.incremental),
        },
        warnings=[*partial, *review_warnings, *coverage_warnings],
        blocking=blocking,
    )


def _in_background(work: Callable[[], Any], what: str) -> Callable[[], float]:
    """Start ``work`` (writing ``what``) in a forked process (in this one where processes cannot
    be forked); returns a function that waits for it and gives its seconds, or raises the error it
    raised.

    The objects this process holds are frozen out of the garbage collector for the fork, so a
    collection in the child does not touch (and so copy) every one of them."""
    import multiprocessing

    try:
        context = multiprocessing.get_context("fork")
    except ValueError:  # no fork on this platform: the work is done before going on
        started = time.perf_counter()
        work()
        seconds = time.perf_counter() - started
        return lambda: seconds
    from engine.workers import die_with_parent

    receive, send = context.Pipe(duplex=False)
    parent = os.getpid()

    def child() -> None:
        die_with_parent(parent)
        started = time.perf_counter()
        try:
            work()
        except BaseException as exc:  # handed to the parent, raised there
            try:
                send.send(("error", exc))
            except Exception:  # an error that cannot be pickled: its text
                send.send(("error", EkjonError(f"{type(exc).__name__}: {exc}")))
            return
        send.send(("done", time.perf_counter() - started))

    gc.freeze()
    try:
        process = context.Process(target=child, name="ekjon-resolve-background")
        process.start()
    finally:
        gc.unfreeze()
    send.close()

    def wait() -> float:
        try:
            outcome, value = receive.recv()
        except EOFError:  # the child died without a word (killed, out of memory)
            outcome, value = "died", None
        finally:
            receive.close()
            process.join()
        if outcome == "error":
            raise value
        if outcome == "died" or process.exitcode != 0:
            raise EkjonError(
                f"The process writing {what} stopped (exit code "
                f"{process.exitcode}); run ekjon resolve again."
            )
        return float(value)

    return wait


def _in_key_order(records: pd.DataFrame) -> pd.DataFrame:
    """The records sorted by record key: the same records give the same persons, households and
    outputs whatever order the store's snapshots hold them in (a rebuilt snapshot, a resumed
    ingest)."""
    from engine.resolve.cluster import key_order

    rank = key_order(records["source"].astype(str) + "/" + records["record_id"].astype(str))
    if (rank == np.arange(len(rank))).all():
        return records
    return records.iloc[np.argsort(rank)].reset_index(drop=True)


#: Scored pairs named and written at a time (the names of ten million pairs as Python objects
#: would take gigabytes).
PAIRS_CHUNK = 2_000_000


def _write_pairs(resolution: Any, version: str, path: Path) -> int:
    """Write the resolution's scored pairs
    (:meth:`~engine.resolve.pipeline.Resolution.scored_pairs`,
    with ``model_version``) to ``path`` a chunk at a time; returns how many."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    n = len(resolution.pairs)
    if n <= PAIRS_CHUNK:
        pairs = resolution.scored_pairs()
        pairs["model_version"] = version
        pairs.to_parquet(path, index=False)
        return n
    writer = None
    try:
        for start in range(0, n, PAIRS_CHUNK):
            part = resolution.scored_pairs(start, start + PAIRS_CHUNK)
            part["model_version"] = version
            table = pa.Table.from_pandas(part, preserve_index=False)
            if writer is None:
                writer = pq.ParquetWriter(path, table.schema)
            writer.write_table(table)
    finally:
        if writer is not None:
            writer.close()
    return n


def read_prepared(home: Home | Path, keys: pd.DataFrame) -> pd.DataFrame:
    """The last run's prepared records (:func:`engine.resolve.prepare.prepare`, without the
    blocking-key
    lists) in the order of ``keys`` (``source``, ``record_id``), e.g. to compare pairs the batch
    never compared or to explain its errors.

    Read from the incremental index the run saved; should that be missing or not hold every key,
    the record store's current records are prepared again.

    Raises
    ------
    NothingToResolve
        If a key is neither in the saved index nor in the record store.
    """
    from engine.incremental.state import PREPARED_FILE
    from engine.resolve.prepare import LIST_COLUMNS, PREPARED_COLUMNS, prepare

    home = Home.of(home)
    wanted = pd.MultiIndex.from_frame(keys[["source", "record_id"]].astype(str))
    columns = [c for c in PREPARED_COLUMNS if c not in LIST_COLUMNS]
    path = home.incremental / PREPARED_FILE
    prepared = None
    if path.exists():
        prepared = pd.read_parquet(path, columns=columns)
        index = pd.MultiIndex.from_frame(prepared[["source", "record_id"]])
        if not wanted.isin(index).all():
            prepared = None
    if prepared is None:
        from engine.ingest.store import RecordStore

        log.info("no saved prepared records for every key: preparing the current records")
        with RecordStore(home.records) as records_store:
            records = records_store.current()
        prepared = prepare(records)[columns]
        index = pd.MultiIndex.from_frame(prepared[["source", "record_id"]])
    rows = index.get_indexer(wanted)
    if (rows < 0).any():
        first = keys.iloc[int(np.flatnonzero(rows < 0)[0])]
        raise NothingToResolve(
            f"Record {first['source']}/{first['record_id']} of the last run is no longer in the "
            f"record store of {home}; run ekjon resolve again."
        )
    if len(rows) == len(prepared) and (rows == np.arange(len(rows))).all():
        return prepared
    # name and phone counts stay those of the whole batch: compare reads them per record
    return prepared.iloc[rows].reset_index(drop=True)


def read_assignment(home: Home | Path) -> pd.DataFrame:
    """The last run's ``source, record_id, person_id, household_id, bangla_only`` table.

    Raises
    ------
    NothingToResolve
        If there was no resolve yet.
    DamagedOutput
        If ``assignment.parquet`` cannot be read (damaged, or cut short).
    """
    path = Home.of(home).assignment
    if not path.exists():
        raise NothingToResolve(f"No resolution in {Home.of(home)} yet; run ekjon resolve first.")
    with reading_output(path):
        return pd.read_parquet(path)


@contextmanager
def reading_output(path: Path) -> Iterator[None]:
    """Read a file a resolve wrote (``assignment.parquet``, ``pairs.parquet``): a failure to read
    it is a :class:`DamagedOutput` naming the file and what to do, not a traceback."""
    import pyarrow as pa

    try:
        yield
    except (OSError, ValueError, pa.ArrowException) as exc:
        raise DamagedOutput(
            f"{path} cannot be read ({type(exc).__name__}: {exc}): it is damaged or was cut "
            "short. Run `ekjon resolve` again to write it anew."
        ) from None


def last_run_tables(
    home: Home | Path, assignment: Path | None = None, links: Path | None = None
) -> tuple[Path, Path | None]:
    """The assignment and links :func:`publish_last_run` publishes: those given, else the last
    resolve's (its scored pairs as the links unless an assignment is given).

    Raises
    ------
    NothingToResolve
        If there is no such assignment (no resolve yet) or no record store.
    """
    home = Home.of(home)
    if assignment is None:
        assignment = home.assignment
        if links is None and home.pairs.exists():
            links = home.pairs
    if not assignment.exists():
        raise NothingToResolve(
            f"No assignment at {assignment}: run `ekjon resolve --no-publish` first (or give "
            "--assignment FILE)."
        )
    if not home.records.exists():
        raise NothingToResolve(f"No records under {home}: run `ekjon ingest` first.")
    return assignment, links


def publish_last_run(
    home: Home | Path,
    writer: Any,
    *,
    assignment: Path | None = None,
    links: Path | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> Any:
    """Publish the last resolve (or a given assignment) with the current records into ``writer``
    (a graph store, or a first load's import files); returns the
    :class:`engine.publish.PublishReport`.

    Parameters
    ----------
    assignment:
        ``source, record_id, person_id[, household_id]`` as CSV or Parquet; default the last
        resolve's, with its scored pairs as the links unless ``links`` is given.
    links:
        Scored pairs (CSV or Parquet) to publish as SAME_AS links.
    progress:
        Called with (stage, done, total) as publishing goes.

    Raises
    ------
    NothingToResolve
        If there is no assignment (no resolve yet) or no record store.
    """
    from engine.ingest.store import RecordStore
    from engine.publish import publish
    from graph.store import publishing

    home = Home.of(home)
    assignment, links = last_run_tables(home, assignment, links)
    with RecordStore(home.records) as store:
        records = store.current()
    given = _read_table(assignment)
    columns = [c for c in ("source", "record_id", "person_id", "household_id") if c in given]
    with publishing(writer, f"publish of {assignment.name}"):
        return publish(
            writer,
            records,
            given[columns],
            _read_table(links) if links is not None else None,
            progress=progress,
        )


def _read_table(path: Path) -> pd.DataFrame:
    """A table ekjon wrote (Parquet) or a user gives (CSV, keys read as text)."""
    if path.suffix == ".parquet":
        with reading_output(path):
            return pd.read_parquet(path)
    return pd.read_csv(
        path, dtype={"source": str, "record_id": str, "person_id": str}, low_memory=False
    )
