"""One full resolve run: the record store's current records -> persons and households -> the graph.

:func:`run_batch` is what ``ekjon resolve`` (and ``ekjon demo``) call. It chains the engine's steps
and keeps what a later step or an auditor needs:

1. the current canonical records from the record store (``$EKJON_HOME/records.sqlite``);
2. the batch pipeline (:func:`engine.pipeline.resolve`): block, compare, score, cluster, with the
   reviewers' decisions (``decisions.sqlite``) forcing "same" / "not same";
3. stable person IDs from the identity ledger (``identity.sqlite``), which records every merge and
   split with its reason and the model version;
4. households (:func:`engine.households.resolve_households`), stable the same way;
5. the outputs under ``$EKJON_HOME/resolution/``: ``assignment.parquet`` (source, record_id,
   person_id, household_id) and ``pairs.parquet`` (every scored pair with its probability), which
   ``ekjon export`` / ``ekjon evaluate`` read, and the incremental resolver's index
   (``incremental/``) that ``ekjon match`` answers from;
6. the graph (:func:`engine.publish.publish`) into whichever store the caller opened.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from engine.errors import EkjonError

log = logging.getLogger(__name__)

RESOLUTION_DIR = "resolution"
ASSIGNMENT_FILE = "assignment.parquet"
PAIRS_FILE = "pairs.parquet"
INCREMENTAL_DIR = "incremental"


class NothingToResolve(EkjonError):
    """The record store holds no records yet."""


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
        }


def resolution_dir(home: Path) -> Path:
    return Path(home) / RESOLUTION_DIR


def run_batch(
    home: Path,
    store: Any | None = None,
    *,
    model_path: Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> BatchReport:
    """Resolve every current record under ``home`` and (if ``store`` is given) publish the graph.

    Parameters
    ----------
    home:
        ``$EKJON_HOME``: where the record store, ledger, decisions and outputs live.
    store:
        An open :class:`graph.store.GraphStore`, or ``None`` to skip publishing.
    model_path:
        A match-model artifact (JSON); default: the shipped ``models/trained/default.json``.
    progress:
        Called with the name of each step as it starts.

    Returns
    -------
    BatchReport

    Raises
    ------
    NothingToResolve
        If nothing has been ingested yet.
    """
    from engine.decisions import DECISIONS_FILE, DecisionStore
    from engine.households import resolve_households
    from engine.identity import LEDGER_FILE, IdentityLedger, assign_person_ids
    from engine.pipeline import resolve
    from engine.records import RecordStore
    from engine.training import DEFAULT_ARTIFACT, load_model

    home = Path(home)
    note = progress or (lambda step: None)
    timings: dict[str, float] = {}
    started = time.perf_counter()

    note("load records")
    with RecordStore(home / "records.sqlite") as records_store:
        records = records_store.current()
    if records.empty:
        raise NothingToResolve(
            f"The record store in {home} holds no records; ingest some first (ekjon ingest DIR)."
        )
    timings["load"] = time.perf_counter() - started

    model = load_model(model_path or DEFAULT_ARTIFACT)
    version = str(getattr(model, "model_version", "unversioned"))
    decisions = None
    if (home / DECISIONS_FILE).exists():
        with DecisionStore(home / DECISIONS_FILE) as decision_store:
            decisions = decision_store.current()
            if decisions.empty:
                decisions = None

    options = {} if decisions is None else {"decisions": decisions}
    resolution = resolve(records, model, progress=note, **options)
    timings.update(resolution.timings)

    note("person ids")
    step = time.perf_counter()
    clusters = resolution.assignments()
    clusters["reason"] = f"batch clustering, model {version}"
    if decisions is not None:
        from engine.decisions import decision_reasons

        keys = clusters["source"].astype(str) + "/" + clusters["record_id"].astype(str)
        reviewed = decision_reasons(keys.to_numpy(), clusters["cluster"].to_numpy(), decisions)
        clusters["reason"] = pd.Series(reviewed, dtype=object).fillna(clusters["reason"])
    with IdentityLedger(home / LEDGER_FILE) as ledger:
        persons = assign_person_ids(ledger, clusters, model_version=version)
        run_id = ledger.last_run("person")
        events = ledger.events(run_id) if run_id is not None else pd.DataFrame()
        timings["person ids"] = time.perf_counter() - step

        note("households")
        step = time.perf_counter()
        keyed = records.merge(
            persons[["source", "record_id", "person_id"]], on=["source", "record_id"], how="left"
        )
        households = resolve_households(
            keyed, ledger=ledger, model_version=version, prepared=resolution.prepared
        )
        timings["households"] = time.perf_counter() - step

    assignment = persons[["source", "record_id", "person_id"]].merge(
        households[["person_id", "household_id"]].drop_duplicates("person_id"),
        on="person_id",
        how="left",
    )
    flags = resolution.prepared[["source", "record_id", "bangla_only"]]
    assignment = assignment.merge(flags, on=["source", "record_id"], how="left")
    out = resolution_dir(home)
    out.mkdir(parents=True, exist_ok=True)
    assignment.to_parquet(out / ASSIGNMENT_FILE, index=False)
    pairs = resolution.scored_pairs()
    pairs["model_version"] = version
    pairs.to_parquet(out / PAIRS_FILE, index=False)

    # The incremental resolver answers one new record the way this batch would (ekjon match, and
    # the API's /resolve); it is saved beside the batch's outputs so it starts without re-running.
    from engine.incremental import IncrementalResolver

    note("incremental index")
    step = time.perf_counter()
    resolver = IncrementalResolver.from_resolution(
        resolution, persons[["source", "record_id", "person_id"]], model, records=records
    )
    resolver.save(out / INCREMENTAL_DIR)
    timings["incremental index"] = time.perf_counter() - step

    published = None
    if store is not None:
        from engine.publish import publish

        note("publish")
        step = time.perf_counter()
        report = publish(
            store,
            records,
            assignment[["source", "record_id", "person_id", "household_id"]],
            pairs,
            model_version=version,
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
        records=len(records),
        persons=int(assignment["person_id"].nunique()),
        households=int(assignment["household_id"].nunique()),
        pairs_scored=len(pairs),
        model_version=version,
        person_events=(
            {str(k): int(v) for k, v in events["event"].value_counts().items()}
            if "event" in events
            else {}
        ),
        published=published,
        timings=timings,
        outputs={
            "assignment": str(out / ASSIGNMENT_FILE),
            "pairs": str(out / PAIRS_FILE),
            "incremental": str(out / INCREMENTAL_DIR),
        },
    )


def read_assignment(home: Path) -> pd.DataFrame:
    """The last run's ``source, record_id, person_id, household_id, bangla_only`` table."""
    path = resolution_dir(home) / ASSIGNMENT_FILE
    if not path.exists():
        raise NothingToResolve(f"No resolution in {Path(home)} yet; run ekjon resolve first.")
    return pd.read_parquet(path)
