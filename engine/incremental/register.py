"""One record stored as it arrives (the API's storing ``/resolve``): resolved, kept, given a lasting
person ID and put in the graph, without waiting for the next batch.

:func:`register_record` does for one record what ingest, the batch and publish do for many:

1. **clean** it field by field as ingest does (:func:`engine.ingest.run.clean_record`); a field
   that cannot be read is left out and reported;
2. **resolve** it against the persons the resolver knows
   (:meth:`~engine.incremental.IncrementalResolver.resolve_one`);
3. **store** it in the record store: a new record, or a new version of a known ``(source,
   record_id)``, with its field warnings (:meth:`engine.ingest.store.RecordStore.store_records`);
4. give it a **lasting person ID** through the identity ledger: a partial
   :func:`~engine.identity.assign.assign_ids` run whose one cluster is the chosen person's records
   plus this one (the cluster keeps that person's ID), or the record alone (a fresh ID);
5. **remember** it in the resolver under that ID, so the next record of the same person finds it;
6. **publish** it into the graph store with a partial :func:`engine.publish.publish` that touches
   nothing else, marked as a publish of its own (:func:`graph.store.publishing`): cut short, the
   graph's readers are refused until the record is sent again or ``ekjon resolve`` runs.

The caller holds one lock across steps 1 to 5 (the API's write lock): two records of one new
person that arrive together must not both become new persons. Steps 3 to 5 also hold the home's
resolve lock (:mod:`engine.homelock`) for the moment they write: a record is refused, nothing
stored, while ``ekjon resolve`` runs, whose complete run would otherwise drop the ID given to it.
The publish (step 6) does not hold it: a resolve run that starts meanwhile finds the record
stored and identified, and its complete publish finishes the record's. The API does steps 1 to 5
with :func:`keep_records` for the records sent meanwhile together (each resolved after the
earlier ones are remembered, new persons under provisional IDs, then one ledger run for them
all), and step 6 with :func:`publish_registered`, for the records kept meanwhile together: one
publish writes what publishing them one at a time in the order kept writes.

:func:`resolve_record` is the dry run: steps 1 and 2 only, nothing written. :func:`outcome` says
whether the decision is clear (``matched``, ``new``) or one a reviewer should look at
(``review``).

Example
-------
>>> done = register_record(home, resolver, store, {"source": "dss", "record_id": "9",
...     "full_name": "Md. Abdul Karim", "nid": "1990123456789"}, origin="api")  # doctest: +SKIP
>>> done.person_id, done.stored                                                 # doctest: +SKIP
('P0000004212', 'new')
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager, ExitStack, nullcontext
from dataclasses import dataclass, field, replace
from typing import Any, Final

import numpy as np

from engine.errors import IncrementalError, InvalidValue
from engine.home import Home
from engine.homelock import hold_home
from engine.identity.assign import assign_ids
from engine.identity.ledger import IdentityLedger
from engine.incremental.match import Match
from engine.incremental.resolver import IncrementalResolver
from engine.ingest.run import clean_record, hashed_values
from engine.ingest.store import RAW_FIELDS, VALUE_FIELDS, Problem, RecordStore, StagedBatch
from engine.publish_group import publish_group
from engine.record import is_missing_value, record_key
from graph.policy import Policy
from graph.store import GraphStore, publishing_each

__all__ = [
    "DEFAULT_KIND",
    "REVIEW_BAND",
    "Registered",
    "keep_record",
    "keep_records",
    "outcome",
    "publish_registered",
    "register_record",
    "remember_registered",
    "resolve_record",
]

log = logging.getLogger(__name__)

#: The kind of a record whose source is new to ekjon and that names none (an MIS's enrolment).
DEFAULT_KIND: Final = "programme"
#: A match below the upper bound, or a new person whose best candidate reaches the lower bound, is
#: left for a reviewer: the evidence is neither clearly for nor clearly against.
REVIEW_BAND: Final = (0.5, 0.9)
#: How long storing a record waits for the home while a resolve run (or another store) holds it.
STORE_WAIT_SECONDS = 1.0
#: How a partial ledger run of :func:`register_record` begins its note.
_RUN_NOTE: Final = "incremental resolve"


@dataclass
class Registered:
    """One record resolved (and, by :func:`register_record`, stored).

    Attributes
    ----------
    record:
        The cleaned record (fields that could not be read left out; ``kind`` filled in).
    match:
        The resolver's decision.
    person_id:
        The person the record belongs to: an existing person's ID, or (stored) the new person's
        fresh ID; ``None`` for a new person in a dry run.
    warnings:
        The fields that could not be read.
    stored:
        ``"new"``, ``"new version"`` or ``"unchanged"`` (the record store's verdict); ``None`` in a
        dry run.
    timings:
        Seconds per step (``resolve``, ``store``, ``ledger``, ``remember``, ``publish``).
    """

    record: dict[str, Any]
    match: Match
    person_id: str | None
    warnings: list[InvalidValue] = field(default_factory=list)
    stored: str | None = None
    timings: dict[str, float] = field(default_factory=dict)
    #: stored before, unchanged, under the same person: published already unless its publish
    #: was cut short
    again: bool = False
    model_version: str | None = None

    @property
    def key(self) -> str:
        """The record's key, ``source/record_id``."""
        return record_key(self.record["source"], self.record["record_id"])


def resolve_record(
    resolver: IncrementalResolver,
    raw: Mapping[str, Any],
    graph: GraphStore,
    *,
    graph_lock: AbstractContextManager[Any] | None = None,
    kinds: dict[str, str] | None = None,
    remembering: AbstractContextManager[Any] | None = None,
    settled: AbstractContextManager[Any] | None = None,
) -> Registered:
    """Clean ``raw`` (a record by canonical field name) and resolve it; nothing is written.

    A record that names no ``kind`` gets its source's, as the graph knows it (``programme`` for a
    source new to ekjon), read under ``graph_lock`` (the graph's one-caller-at-a-time lock, if
    the caller shares the store between threads), or from ``kinds`` (source -> kind: what
    :func:`keep_record` learnt, so that it need not wait for a publish holding the graph; a
    kind read from the graph is kept there too, so the graph is read once a source).

    The resolver is read under ``remembering`` (held by whoever adds records to it). While a
    group of storing requests is kept (:func:`keep_records`, under ``settled``), a person new to
    ekjon is filed under a provisional ID until the group's ledger run names it: an answer that
    names such a person is resolved again once ``settled`` is free, so it never gives an ID that
    no person will carry.

    Raises
    ------
    engine.errors.UnreadableRecord
        If a field name is not canonical or ``source`` / ``record_id`` is empty.
    """
    done = _cleaned(raw, graph, graph_lock=graph_lock, kinds=kinds)
    step = time.perf_counter()
    with remembering or nullcontext():
        done.match = resolver.resolve_one(done.record, explain=True)
    if settled is not None and names_provisional(done.match):
        with settled, remembering or nullcontext():
            done.match = resolver.resolve_one(done.record, explain=True)
    done.person_id = done.match.person_id
    done.timings["resolve"] += time.perf_counter() - step
    return done


def register_record(
    home: Home,
    resolver: IncrementalResolver,
    graph: GraphStore,
    raw: Mapping[str, Any],
    *,
    origin: str,
    policy: Policy | None = None,
    graph_lock: AbstractContextManager[Any] | None = None,
    remembering: AbstractContextManager[Any] | None = None,
    stores: tuple[RecordStore, IdentityLedger] | None = None,
) -> Registered:
    """Resolve, store, identify, remember and publish one record (see the module docstring):
    :func:`keep_record`, then :func:`publish_registered` of that one record.

    Parameters
    ----------
    home:
        Where the record store and the identity ledger are.
    resolver:
        The one-record resolver (it remembers the record).
    graph:
        The graph store the record is published into.
    raw:
        The record by canonical field name, values as the source gives them.
    origin:
        Who sent it, kept as the ingest run's ``file`` (e.g. ``"api POST /v1/resolve key 3f.."``).
    policy:
        The programme policy whose catalogue names a programme new to the graph.
    graph_lock:
        Held while the graph is read or written, if other threads read it meanwhile (the API's
        dry runs): they wait for the publish only, not for the record and ledger steps.
    remembering:
        Held while the resolver remembers the record, if other threads resolve with it
        meanwhile.
    stores:
        The home's record store and identity ledger, when the caller keeps them open (a service
        storing record after record); else they are opened and closed here.

    Returns
    -------
    Registered

    Raises
    ------
    engine.errors.UnreadableRecord
        If a field name is not canonical or ``source`` / ``record_id`` is empty (nothing written).
    engine.homelock.HomeBusy
        If a resolve run holds the home (nothing written): its complete run would undo the ID
        given here. Send the record again once it has finished.
    """
    done = keep_record(
        home,
        resolver,
        graph,
        raw,
        origin=origin,
        graph_lock=graph_lock,
        remembering=remembering,
        stores=stores,
    )
    failed = publish_registered(graph, [done], policy=policy, graph_lock=graph_lock)[0]
    if failed is not None:
        raise failed
    return done


def keep_record(
    home: Home,
    resolver: IncrementalResolver,
    graph: GraphStore,
    raw: Mapping[str, Any],
    *,
    origin: str,
    graph_lock: AbstractContextManager[Any] | None = None,
    remembering: AbstractContextManager[Any] | None = None,
    stores: tuple[RecordStore, IdentityLedger] | None = None,
    kinds: dict[str, str] | None = None,
) -> Registered:
    """Steps 1 to 5 of :func:`register_record` (its parameters): the record resolved, stored,
    given its lasting ID and remembered by the resolver, not yet published: :func:`keep_records`
    of this one record.

    Raises
    ------
    engine.errors.UnreadableRecord, engine.homelock.HomeBusy
        As :func:`register_record` (nothing written).
    """
    done = keep_records(
        home,
        resolver,
        graph,
        [(raw, origin)],
        graph_lock=graph_lock,
        remembering=remembering,
        stores=stores,
        kinds=kinds,
    )[0]
    if isinstance(done, BaseException):
        raise done
    return done


def keep_records(
    home: Home,
    resolver: IncrementalResolver,
    graph: GraphStore,
    sent: Sequence[tuple[Mapping[str, Any], str]],
    *,
    graph_lock: AbstractContextManager[Any] | None = None,
    remembering: AbstractContextManager[Any] | None = None,
    stores: tuple[RecordStore, IdentityLedger] | None = None,
    kinds: dict[str, str] | None = None,
) -> list[Registered | BaseException]:
    """Steps 1 to 5 of :func:`register_record` for a group of records, each ``(raw, origin)``
    (:func:`register_record`'s parameters), in the order sent: per record the record kept, or
    the error that kept it out (a record that cannot be read fails alone).

    The group is cleaned and stored, then resolved one record after another, each remembered by
    the resolver before the next is resolved, so that it finds the earlier ones: a record of a
    person new to ekjon is filed under a provisional ID (``new:<source/record_id>``), and a later
    record of the same person joins it. Then one partial ledger run gives the group's records
    their lasting IDs (:func:`_lasting_ids`: a group of one writes what one record's run wrote),
    and each provisional ID is replaced by its lasting one, in the resolver and in the answers.
    A group of one record is what storing one record at a time did.

    The caller holds one lock across groups (the API does one group at a time). The stores'
    writes hold the home's resolve lock (:mod:`engine.homelock`), as :func:`register_record`.
    ``kinds`` (source -> kind, kept by the caller from group to group) learns each source's kind
    as the graph has it or, for a source new to it, as the first record kept makes it: a record
    that names no kind then takes it without reading the graph (which a publish may hold) and as
    it would once the records kept before it are published.

    Raises
    ------
    engine.homelock.HomeBusy
        If a resolve run holds the home (nothing written).
    """
    out: list[Registered | BaseException] = []
    for raw, _ in sent:
        try:
            out.append(_cleaned(raw, graph, graph_lock=graph_lock, kinds=kinds))
        except Exception as exc:  # a record that cannot be read fails alone
            out.append(exc)
            continue
        source = out[-1].record["source"]  # type: ignore[union-attr]
        if kinds is not None and source not in kinds:  # once a source
            with graph_lock or nullcontext():
                known = graph.node("Source", source)
            kinds[source] = (known or {}).get("kind") or out[-1].record["kind"]  # type: ignore[union-attr]
    with hold_home(
        home,
        "ekjon serve storing a record",
        wait=STORE_WAIT_SECONDS,
        then="Nothing was stored: send the record again once the run has finished.",
    ):
        with ExitStack() as opened:
            if stores is None:
                stores = (
                    opened.enter_context(RecordStore(home.records)),
                    opened.enter_context(IdentityLedger(home.ledger)),
                )
            _kept(
                *stores,
                resolver,
                [(i, done, sent[i]) for i, done in enumerate(out) if isinstance(done, Registered)],
                out,
                remembering=remembering or nullcontext(),
            )
    return out


def _cleaned(
    raw: Mapping[str, Any],
    graph: GraphStore,
    *,
    graph_lock: AbstractContextManager[Any] | None,
    kinds: dict[str, str] | None,
) -> Registered:
    """Step 1: ``raw`` cleaned as ingest cleans it, its kind filled in (see
    :func:`resolve_record`); not yet resolved (``match`` is ``None``)."""
    started = time.perf_counter()
    record, warnings = clean_record(dict(raw))
    if record.get("kind") is None:
        kind = (kinds or {}).get(record["source"])
        if kind is None:
            with graph_lock or nullcontext():
                source = graph.node("Source", record["source"])
            known = (source or {}).get("kind")
            kind = known or DEFAULT_KIND
            if kinds is not None and known:  # the graph's, as keep_records learns it
                kinds[record["source"]] = known
        record["kind"] = kind
    return Registered(
        record,
        None,  # type: ignore[arg-type]
        None,
        warnings,
        timings={"resolve": time.perf_counter() - started},
    )


def _kept(
    records: RecordStore,
    ledger: IdentityLedger,
    resolver: IncrementalResolver,
    group: list[tuple[int, Registered, tuple[Mapping[str, Any], str]]],
    out: list[Registered | BaseException],
    *,
    remembering: AbstractContextManager[Any],
) -> None:
    """Steps 2 to 5 of :func:`register_record` for the cleaned records of a group (``(position
    in out, record, (raw, origin))``); a record that fails is replaced in ``out`` by its error."""
    version = getattr(resolver.model, "model_version", None)
    step = time.perf_counter()
    staged: list[tuple[int, Registered, str]] = []
    sending: list[tuple[StagedBatch, str, str, str, list[Problem]]] = []
    for i, done, (raw, origin) in group:
        try:
            batch, problems = _staged(done.record, raw, done.warnings)
        except Exception as exc:
            out[i] = exc
            continue
        staged.append((i, done, origin))
        sending.append((batch, done.record["source"], done.record["kind"], origin, problems))
    try:
        results: list[Any] = records.store_each(sending) if sending else []
    except Exception as exc:  # the group's transaction: nothing of it stored
        results = [exc] * len(sending)
    stored: list[tuple[int, Registered, str]] = []
    for (i, done, origin), result in zip(staged, results, strict=True):
        if isinstance(result, Exception):
            out[i] = result
            continue
        chunk = result[1]
        done.stored = (
            "new" if chunk.ingested else "new version" if chunk.new_versions else "unchanged"
        )
        done.model_version = version
        stored.append((i, done, origin))
    seconds = time.perf_counter() - step
    for _, done, _ in stored:
        done.timings["store"] = seconds

    # resolved one after another, each remembered before the next: a person new to ekjon is
    # filed under a provisional ID until the ledger gives the lasting one
    pending: list[tuple[Registered, str, str]] = []  # record, the person it joins, the reason
    remembered: list[Registered] = []
    for i, done, origin in stored:
        step = time.perf_counter()
        try:
            done.match = resolver.resolve_one(done.record, explain=True)
        except Exception as exc:
            out[i] = exc
            continue
        done.timings["resolve"] += time.perf_counter() - step
        step = time.perf_counter()
        match, key = done.match, done.key
        known = ledger.id_of(key)
        # the same record again stays where it is (the batch placed it, or its first send did)
        done.again = done.stored == "unchanged" and known is not None
        if done.again:
            done.person_id = known
        else:
            chosen = match.person_id
            if chosen is not None and not chosen.startswith(_PROVISIONAL):
                chosen = ledger.current_id(chosen)
            done.person_id = chosen or f"{_PROVISIONAL}{key}"
            reason = f"{_RUN_NOTE} p={match.probability:.3f} ({match.decided_by}), {origin}"
            pending.append((done, done.person_id, reason))
        done.timings["ledger"] = time.perf_counter() - step
        step = time.perf_counter()
        try:
            with remembering:
                resolver.add(done.record, person_id=done.person_id, explain=False, match=match)
            remembered.append(done)
        except IncrementalError:  # a new version: the resolver keeps the old one until the batch
            log.info("record %s is known to the resolver; its new version waits for the batch", key)
        done.timings["remember"] = time.perf_counter() - step

    step = time.perf_counter()
    lasting = _lasting_ids(ledger, pending, version) if pending else {}
    seconds = time.perf_counter() - step
    for done, _, _ in pending:
        done.timings["ledger"] += seconds
    names = {
        target: lasting[done.key] for done, target, _ in pending if target.startswith(_PROVISIONAL)
    }
    step = time.perf_counter()
    for done in remembered:
        if done.person_id in names:
            with remembering:
                resolver.refile(done.key, names[done.person_id])
    for done, _, _ in pending:
        done.person_id = lasting[done.key]
        if names:
            done.match = _named(done.match, names)
    seconds = time.perf_counter() - step
    for done in remembered:
        done.timings["remember"] += seconds


#: How a person new to ekjon is named in the resolver until the ledger gives its lasting ID.
_PROVISIONAL: Final = "new:"


def names_provisional(match: Match) -> bool:
    """Whether ``match`` names a person a group of storing requests still files under a
    provisional ID (:func:`keep_records`), as the one it joins, a candidate or a merge."""
    persons = [
        match.person_id,
        *match.candidate_columns.get("person_id", ()),
        *(row["person_id"] for row in match.person_rows),
        *match.merges,
    ]
    return any(isinstance(p, str) and p.startswith(_PROVISIONAL) for p in persons)


def _named(match: Match, names: Mapping[str, str]) -> Match:
    """``match`` with the provisional person IDs of ``names`` replaced by their lasting ones."""

    def name(person: Any) -> Any:
        return names.get(person, person) if isinstance(person, str) else person

    columns = dict(match.candidate_columns)
    if "person_id" in columns:
        renamed = [name(p) for p in columns["person_id"]]
        columns["person_id"] = (
            np.asarray(renamed, dtype=object)
            if isinstance(columns["person_id"], np.ndarray)
            else renamed
        )
    return replace(
        match,
        person_id=name(match.person_id),
        candidate_columns=columns,
        person_rows=[{**row, "person_id": name(row["person_id"])} for row in match.person_rows],
        merges=[name(p) for p in match.merges],
    )


def publish_registered(
    graph: GraphStore,
    kept: Sequence[Registered],
    *,
    policy: Policy | None = None,
    graph_lock: AbstractContextManager[Any] | None = None,
) -> list[BaseException | None]:
    """Step 6 of :func:`register_record` for records :func:`keep_record` kept, in the order kept:
    one partial publish of them all, which writes what publishing them one at a time in that
    order writes (:func:`engine.publish.publish`, ``complete=False``).

    Each record's publish is marked as its own (:func:`graph.store.publishing`): a publish cut
    short leaves every record of it unfinished, and each is healed by sending it again. A record
    sent before and published is skipped. If the publish of several fails, each is published
    again alone, so that one record's failure is its own.

    Returns
    -------
    Per record, ``None`` when it is published, else the error that kept it out.
    """
    with graph_lock or nullcontext():
        step = time.perf_counter()
        wanted = [i for i, done in enumerate(kept) if _unpublished(graph, done)]
        failed: list[BaseException | None] = [None] * len(kept)
        for run in _together(kept, wanted):
            try:
                _publish_together(graph, [kept[i] for i in run], policy)
            except Exception as exc:
                if len(run) < 2:
                    failed[run[0]] = exc
                    continue
                log.warning("a publish of %d records failed (%s); each alone", len(run), exc)
                for i in run:
                    try:
                        _publish_together(graph, [kept[i]], policy)
                    except Exception as alone:
                        failed[i] = alone
        seconds = time.perf_counter() - step
    for i in wanted:
        kept[i].timings["publish"] = seconds
    return failed


def _together(kept: Sequence[Registered], wanted: list[int]) -> list[list[int]]:
    """``wanted`` (positions in ``kept``) cut, in order, into the runs one publish may take
    together. A household is made from the first record that names it, and a reference source's
    registry is read from its records in a publish (:func:`engine.publish.detect_registries`), so
    a record naming a household an earlier record of the run names, or a reference record of a
    source an earlier one of the run has, begins the next run."""
    runs: list[list[int]] = []
    households: set[tuple[str, str]] = set()
    references: set[str] = set()
    for i in wanted:
        record = kept[i].record
        source, household = str(record["source"]), record.get("household_id")
        home = None if household is None else (source, str(household))
        reference = record.get("kind") == "reference"
        if (
            not runs
            or (home is not None and home in households)
            or (reference and source in references)
        ):
            runs.append([])
            households.clear()
            references.clear()
        runs[-1].append(i)
        if home is not None:
            households.add(home)
        if reference:
            references.add(source)
    return runs


def _unpublished(graph: GraphStore, done: Registered) -> bool:
    """Whether the kept record ``done`` still needs publishing (a record sent again is in the
    graph, unless its publish was cut short: then it is healed by publishing it again)."""
    if not done.again or graph.node("Record", done.key) is None:
        return True
    run = _publish_run(done.record["source"], done.key)
    return any(u.run == run for u in graph.publish_state().unfinished)


def _publish_together(graph: GraphStore, kept: Sequence[Registered], policy: Policy | None) -> None:
    """One partial publish of ``kept``, each record's run marked begun before it and ended after
    (the begins in one commit, the ends in another: :func:`graph.store.publishing_each`)."""
    if not kept:
        return
    records = [done.record for done in kept]
    with publishing_each(graph, [_publish_run(done.record["source"], done.key) for done in kept]):
        # a person new to the graph belongs to the household their first record names; a known
        # one keeps theirs (the partial publish's rule)
        publish_group(
            graph,
            records,
            [done.person_id for done in kept],
            policy=policy,
            model_version=kept[0].model_version,
        )


def _publish_run(source: str, key: str) -> str:
    """How the publish of one record is named in the graph's publish state: its source and a
    digest of its key (a key may be an NID), the same each time the record is sent."""
    return f"one record of {source} (#{hashlib.sha256(key.encode()).hexdigest()[:10]})"


def remember_registered(home: Home, resolver: IncrementalResolver) -> int:
    """Remember again, after a restart, the records :func:`register_record` stored since the
    resolver's batch; returns how many.

    The resolver's saved state holds the batch's records only. Without this, a record of a person
    first registered through the API before a restart would not find that person after it, and
    would become a second person. The ledger's partial runs after the last batch run name those
    records; each the resolver does not know is added under its ledger ID, in the order it was
    stored, with its current version from the record store.
    """
    if not home.ledger.exists() or not home.records.exists():
        return 0
    with IdentityLedger(home.ledger) as ledger:
        runs = ledger.runs("person")
        if runs.empty:
            return 0
        note = runs["note"].fillna("").astype(str)
        batch = runs.index[~note.str.startswith(_RUN_NOTE)]
        later = runs.loc[batch.max() + 1 :] if len(batch) else runs
        keys: list[str] = []
        for run_id in later["run_id"]:
            for members in ledger.events(int(run_id), with_members=True)["members"]:
                keys.extend(m for m in members if m not in keys and not resolver.knows(m))
        person_of = {key: ledger.id_of(key) for key in keys}
    added = 0
    with RecordStore(home.records) as records:
        for key in keys:
            source, _, record_id = key.partition("/")
            current = [v for v in records.history(source, record_id) if v.is_current]
            if not current or person_of[key] is None:
                continue
            resolver.add(
                {**current[0].values, "source": source, "record_id": record_id},
                person_id=person_of[key],
                explain=False,
            )
            added += 1
    if added:
        log.info("remembered %d records registered since the last batch", added)
    return added


def outcome(match: Match, person_id: str | None = None) -> tuple[str, list[str]]:
    """``matched``, ``new`` or ``review``, with the reasons for a review in words.

    A decision goes to review when the record bridges persons (``merges``), links strongly to
    several persons, links strongly to a person it may not join, or its probability is in
    :data:`REVIEW_BAND` (a match below 0.9, a new person whose best candidate reaches 0.5); or when
    it is kept with another person (``person_id``) than the one the resolver finds.
    """
    reasons = []
    strong = match.strong_links
    if match.merges:
        reasons.append(
            f"the record bridges {len(match.merges) + 1} persons: the next batch may merge them"
        )
    if strong > 1:
        reasons.append(f"the record links strongly to {strong} persons")
    elif strong == 1 and match.person_id is None:
        reasons.append("the record links strongly to a person but the evidence is contested")
    low, high = REVIEW_BAND
    p = match.probability
    if match.person_id is not None and p < high:
        reasons.append(f"a match of probability {p:.3f}, below {high:g}")
    if match.person_id is None and p >= low:
        reasons.append(f"a candidate of probability {p:.3f} (at least {low:g}) was not joined")
    if person_id is not None and match.person_id != person_id:
        reasons.append(
            f"the record is kept with {person_id}; resolved alone it would go to "
            f"{match.person_id or 'a new person'}"
        )
    if reasons:
        return "review", reasons
    return ("new" if match.person_id is None else "matched"), []


def _lasting_ids(
    ledger: IdentityLedger, pending: Sequence[tuple[Registered, str, str]], version: str | None
) -> dict[str, str]:
    """The ledger's IDs for a group's records, each ``(record, the person it joins, reason)``,
    in one partial run: each person joined (an existing ID, or a provisional one) is a cluster of
    its records and the group's records that join it, and a record that leaves a person behind
    leaves that person's other records a cluster of their own (so that person keeps its ID). For
    one record this is one record's run as storing one record at a time made it."""
    keys = {done.key: target for done, target, _ in pending}
    clusters: dict[str, list[str]] = {}  # person -> members, the persons joined first
    why: dict[str, str] = {}
    for done, target, reason in pending:
        if target not in clusters:
            held = [] if target.startswith(_PROVISIONAL) else ledger.members_of(target)
            clusters[target] = [m for m in held if keys.get(m, target) == target]
            why[target] = reason
        clusters[target].append(done.key)
    for target in clusters:
        clusters[target] = sorted(set(clusters[target]))
    for done, target, reason in pending:
        before = ledger.id_of(done.key)
        if before is not None and before != target and before not in clusters:
            clusters[before] = [m for m in ledger.members_of(before) if m not in keys]
            why[before] = reason
    members = [m for held in clusters.values() for m in held]
    labels = [n for n, held in enumerate(clusters.values()) for _ in held]
    reasons = [why[person] for person, held in clusters.items() for _ in held]
    note = pending[0][2] if len(pending) == 1 else f"{_RUN_NOTE} of {len(pending)} records"
    ids, _ = assign_ids(
        ledger,
        "person",
        members,
        labels,
        model_version=version,
        reasons=reasons,
        run_note=note,
        complete=False,
    )
    where = {m: i for i, m in enumerate(members)}
    return {key: str(ids[where[key]]) for key in keys}


def _staged(
    record: Mapping[str, Any], raw: Mapping[str, Any], warnings: list[InvalidValue]
) -> tuple[StagedBatch, list[Problem]]:
    """The record as a one-row chunk for the record store, with its field warnings."""
    given = {f: None if is_missing_value(raw[f]) else str(raw[f]) for f in RAW_FIELDS if f in raw}
    values = [record.get(f) for f in VALUE_FIELDS]
    # the cleaned values and the raw ones, as ingest hashes a row's content
    content = repr((hashed_values(values), tuple(sorted(given.items()))))
    digest = hashlib.blake2b(content.encode("utf-8"), digest_size=16).hexdigest()
    record_id = str(record["record_id"])
    batch = StagedBatch(
        record_ids=[record_id],
        rows=[1],
        hashes=[digest],
        values=[[v] for v in values],
        raw={f: [v] for f, v in given.items()},
        invalid=[{w.field: w.reason for w in warnings} or None],
    )
    problems = [
        Problem(1, record_id, w.field, None if w.value is None else str(w.value), w.reason)
        for w in warnings
    ]
    return batch, problems
