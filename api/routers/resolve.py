"""``POST /v1/resolve``: one record from an MIS, resolved against every person ekjon knows.

The answer says who the record's person is (an existing person, or a new one), how sure that is
(``outcome``: ``matched``, ``new``, or ``review`` when the evidence is contested, see
:func:`engine.incremental.register.outcome`), the candidates compared (person IDs, probabilities
and reasons in words: no other person's names or identifiers), the person's programmes across
every MIS, and the double-dipping rules this enrolment would break under the current policy.

``dry_run=true`` (the default) writes nothing, and takes no write lock: it waits for nobody but a
storing resolve's publish into the graph (the graph is read one caller at a time), and for the
moment that resolve adds its record to the resolver; only an answer naming a person new to ekjon
whose group has not yet been given its lasting ID waits for that group, and is resolved again
(:func:`engine.incremental.register.resolve_record`). ``dry_run=false`` stores the record (a new
record or a new version), gives it a lasting person ID and remembers it in the resolver, with
the records other requests sent meanwhile, as one group (:meth:`api.service.Service.keep_sent`,
:func:`engine.incremental.register.keep_records`: one group at a time, so records of one new
person that arrive together get one ID); then publishes it into the graph with the records
kept meanwhile, in one publish (:meth:`api.service.Service.publish_kept`); each step a
:class:`engine.incremental.grouping.GroupCommit`. It answers once that publish is done.

Idempotency: a storing request whose ``(source, record_id, content)`` this key has sent before gets
the first answer again (same person, same ``request_id``); so does a request whose
``Idempotency-Key`` this key has used before with the same body, while that key with another body
is refused (422). Replays are marked ``Idempotent-Replayed: true`` and audited like the first.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any, Final

from anyio import to_thread
from fastapi import APIRouter, Header, HTTPException, Query, Response

from api.deps import Caller, Mis, ServiceDep, in_thread, personal
from api.routers._page import plain
from api.schemas.common import REFUSALS, Problem
from api.schemas.resolve import ResolveAnswer, ResolveRecord
from api.service import Service, ServiceBusy
from graph.policy import default_policy

router = APIRouter(tags=["resolve"])

ROUTE: Final = "POST /v1/resolve"
#: How long a request waits for the write lock before it is told to come back (503).
LOCK_WAIT_SECONDS: Final = 30.0
#: Candidates listed in an answer, best first.
CANDIDATES: Final = 5
#: Reasons listed for and against the explained candidate.
REASONS: Final = 4
#: What the answer says of each of the person's enrolments (record keys only for own sources).
_ENROLMENT: Final = ("programme", "programme_name", "cash", "status", "since", "amount", "source")
#: The enrolment terms the policy check reads from the record.
_TERMS: Final = ("record_id", "programme", "status", "since", "amount")

RESPONSES: dict[int | str, dict[str, Any]] = {
    **REFUSALS,
    503: {
        "model": Problem,
        "description": "No resolve has run yet, or the service is busy (see Retry-After).",
    },
}


@router.post("/resolve", response_model=ResolveAnswer, responses=RESPONSES)
async def resolve(
    record: ResolveRecord,  # type: ignore[valid-type]
    caller: Mis,
    service: ServiceDep,
    response: Response,
    dry_run: Annotated[
        bool, Query(description="Resolve only and write nothing (false: store the record).")
    ] = True,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            min_length=1,
            max_length=200,
            description="Send a request again under the same key to get its first answer.",
        ),
    ] = None,
) -> Any:
    """Resolve one record (and with ``dry_run=false`` store it): its person, the candidates, the
    person's programmes across every MIS and the double-dipping rules it would break."""
    if dry_run:
        return await in_thread(_resolve, record, caller, service, response, True, idempotency_key)
    return await to_thread.run_sync(
        _resolve,
        record,
        caller,
        service,
        response,
        False,
        idempotency_key,
        limiter=service.storing_threads,  # the storing requests' own threads
    )


def _resolve(
    record: Any,
    caller: Caller,
    service: Service,
    response: Response,
    dry_run: bool,
    idempotency_key: str | None,
) -> dict[str, Any]:
    from engine.incremental.register import resolve_record

    raw = record.model_dump(exclude_unset=True)
    source = str(raw["source"]).strip()
    if not caller.may_use_source(source):
        raise HTTPException(
            403,
            f"This key may not act for source {source!r}; it acts for "
            f"{', '.join(caller.key.sources)}.",
        )
    resolver = service.resolver
    if resolver is None:
        raise HTTPException(
            503,
            "No resolve has run yet: run `ekjon resolve` once, then restart the service.",
            headers={"Retry-After": "3600"},
        )
    keys = [k for k in (idempotency_key, _natural_key(raw, dry_run)) if k]
    # what a replay is checked against; a request without a key (a dry run without an
    # Idempotency-Key) is neither kept nor replayed
    request = _sha256({"record": raw, "dry_run": dry_run}) if keys else ""
    if dry_run:  # writes nothing: no write lock, waits for nobody but a publish into the graph
        replay = _replay(service, caller, idempotency_key, request, keys)
        if replay is not None:
            return _replayed(service, caller, response, keys, request, replay)
        started = time.perf_counter()
        done = resolve_record(
            resolver,
            raw,
            service.store,
            graph_lock=service.graph_lock,
            kinds=service.source_kinds,
            remembering=service.remembering,  # not while a storing resolve adds a record to it
            settled=service.write_lock,  # nor name a person a storing group has not yet named
        )
        return _answered(service, caller, resolver, done, keys, request, started, dry_run)
    # a request holds its idempotency keys until its answer is kept: the same request sent
    # meanwhile waits for it, then replays it
    with _claimed(service, keys):
        replay = _replay(service, caller, idempotency_key, request, keys)
        if replay is not None:
            return _replayed(service, caller, response, keys, request, replay)
        started = time.perf_counter()
        done = _keep(service, caller, raw)
        _publish(service, done)
        return _answered(service, caller, resolver, done, keys, request, started, dry_run)


def _replayed(
    service: Service,
    caller: Caller,
    response: Response,
    keys: list[str],
    request: str,
    replay: dict[str, Any],
) -> Any:
    response.headers["Idempotent-Replayed"] = "true"
    # kept under each key not yet used (the first answer to a key stays)
    return personal(service, caller, ROUTE, _persons(replay), replay, keep=keys, request=request)


def _answered(
    service: Service,
    caller: Caller,
    resolver: Any,
    done: Any,
    keys: list[str],
    request: str,
    started: float,
    dry_run: bool,
) -> Any:
    """The answer to a resolved (or stored and published) record, audited and kept."""
    step = time.perf_counter()
    with service.graph(check=dry_run) as store:
        enrolments, findings = _programmes(service, store, done)
    done.timings["graph"] = time.perf_counter() - step
    done.timings["total"] = time.perf_counter() - started
    answer = _answer(done, caller, enrolments, findings, resolver, dry_run)
    # the answer as sent kept under the request's idempotency keys (none for a dry run without
    # an Idempotency-Key) in its audit row's commit
    return personal(service, caller, ROUTE, _persons(answer), answer, keep=keys, request=request)


def _keep(service: Service, caller: Caller, raw: dict[str, Any]) -> Any:
    """Store, resolve, identify and remember one record with the others sent meanwhile (one
    group, :meth:`Service.keep_sent`); its publish follows in :func:`_publish`."""
    from graph.store import require_complete

    # storing may finish this record's own publish, if an earlier send was cut short; the state
    # is read without the graph's lock (a group's publish may hold it meanwhile)
    store = service.store
    if any(u.complete for u in store.publish_state().unfinished):
        require_complete(store)  # a whole publish is unfinished: store nothing
    origin = f"api {ROUTE} key {caller.key.key_id} request {caller.request_id}"
    try:
        return service.keeps.submit((raw, origin), wait=LOCK_WAIT_SECONDS)
    except TimeoutError:
        raise HTTPException(
            503, "The service is busy writing; send the record again.", headers={"Retry-After": "5"}
        ) from None


def _publish(service: Service, done: Any) -> None:
    """Publish the kept record ``done`` with the others kept meanwhile (one publish for the
    group, :meth:`Service.publish_kept`); answer only once it is published."""
    from graph.store import require_complete

    service.publishes.submit(done)
    with service.graph(check=False) as store:
        require_complete(store)  # another record's publish may still be unfinished


@contextmanager
def _claimed(service: Service, keys: list[str]) -> Iterator[None]:
    """The request's idempotency keys held (:meth:`Service.claim`), or 503."""
    try:
        claim = service.claim(keys, LOCK_WAIT_SECONDS)
    except ServiceBusy as exc:
        raise HTTPException(503, str(exc), headers={"Retry-After": "5"}) from None
    try:
        yield
    finally:
        service.release(keys, claim)


def _sha256(data: Any) -> str:
    text = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _natural_key(raw: dict[str, Any], dry_run: bool) -> str | None:
    """A storing request's own idempotency key: its record and content."""
    if dry_run:
        return None
    body = _sha256({"record": raw})
    return f"record:{str(raw['source']).strip()}/{str(raw['record_id']).strip()}:{body}"


def _replay(
    service: Service, caller: Caller, header: str | None, request: str, keys: list[str]
) -> dict[str, Any] | None:
    """The first answer to any of ``keys`` this API key was given, or ``None``; 422 when the
    ``Idempotency-Key`` header was used with another request."""
    for key in keys:
        kept = service.access.answer_for(caller.key.key_id, key)
        if kept is None:
            continue
        digest, _, text = kept
        if digest != request:
            if key == header:
                raise HTTPException(
                    422,
                    f"Idempotency-Key {key!r} was used with another request; use a new key for "
                    "a new request.",
                )
            continue
        return json.loads(text)
    return None


def _programmes(
    service: Service, store: Any, done: Any
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The person's enrolments across every MIS, and the rules the record's enrolment breaks:
    one read of the graph around the person and their household."""
    from graph.queries.programmes import programme_nodes
    from graph.queries.would_break import enrolments_near, would_break_rows

    record = done.record
    household = record.get("household_id")
    household_id = f"{record['source']}/{household}" if household else None
    programme = record.get("programme")
    near = enrolments_near(
        store,
        done.person_id,
        household_id,
        programmes=service.cached("programme nodes", lambda: programme_nodes(store)),
        # only a programme limited per household makes the rules look past the person
        households=bool(programme) and default_policy().per_household(str(programme)),
    )
    rows = []
    if done.person_id is not None:
        rows = [r for r in near.enrolments if r["person_id"] == done.person_id]
    findings = would_break_rows(
        store,
        {"record_id": done.key, **{c: record.get(c) for c in _TERMS if c != "record_id"}},
        person_id=done.person_id,
        household_id=household_id,
        policy=default_policy(),
        near=near,
        evidence=False,  # the answer names the rules, not the links
    )
    return rows, findings


def _answer(
    done: Any,
    caller: Caller,
    enrolments: list[dict[str, Any]],
    findings: list[dict[str, Any]],
    resolver: Any,
    dry_run: bool,
) -> dict[str, Any]:
    from engine.incremental.register import outcome

    match = done.match
    verdict, reasons = outcome(match, done.person_id if done.stored == "unchanged" else None)
    own = set(caller.key.sources)
    return {
        "request_id": caller.request_id,
        "record": done.key,
        "dry_run": dry_run,
        "person_id": done.person_id,
        "outcome": verdict,
        "review_reasons": reasons,
        "probability": round(float(match.probability), 6),
        "decided_by": match.decided_by,
        "stored": done.stored,
        "candidates": _candidates(match),
        "enrolments": [
            {
                **{c: plain(row.get(c)) for c in _ENROLMENT},
                "record_id": row.get("record_id") if row.get("source") in own else None,
            }
            for row in enrolments
        ],
        "findings": [
            {
                "rule": f["rule"],
                "programmes": str(f["programmes"]).split(";"),
                "detail": f["detail"],
                "policy": f["policy"],
            }
            for f in findings
        ],
        "policy": default_policy().label,
        "model_version": getattr(resolver.model, "model_version", None),
        "warnings": [{"field": w.field, "reason": w.reason} for w in done.warnings],
        "timings": {k: round(v * 1000, 1) for k, v in done.timings.items()},
    }


def _candidates(match: Any) -> list[dict[str, Any]]:
    """Candidate persons, best first: their IDs, probabilities and (for the person whose best
    pair was explained) the reasons in words; never a record of theirs."""
    explained = None
    if match.explanation is not None and len(match.candidate_columns.get("person_id", ())):
        explained = match.candidate_columns["person_id"][0]
    out = []
    for row in match.person_rows[:CANDIDATES]:
        mean = float(row["mean_log_odds"])
        reasons: list[dict[str, Any]] = []
        words: list[str] = []
        if row["person_id"] == explained:
            why = match.explanation
            for sign in (1, -1):
                reasons += [
                    {
                        "feature": r.feature,
                        "meaning": r.meaning,
                        "contribution": None
                        if r.contribution is None
                        else round(r.contribution, 3),
                    }
                    for r in why.reasons(sign, top=REASONS)
                ]
            words = list(why.cannot_link)
        out.append(
            {
                "person_id": str(row["person_id"]),
                "probability": round(float(row["best_probability"]), 6),
                "average_probability": (
                    round(1.0 / (1.0 + math.exp(-min(max(mean, -700.0), 700.0))), 6)
                    if math.isfinite(mean)
                    else None
                ),
                "strong_link": bool(row["strong_link"]),
                "cannot_link": bool(row["cannot_link"]),
                "joins": bool(row["joins"]),
                "reasons": reasons,
                "cannot_link_reasons": words,
            }
        )
    return out


def _persons(answer: dict[str, Any]) -> list[str]:
    """Every person an answer names (for the audit row)."""
    return [answer["person_id"], *(c["person_id"] for c in answer["candidates"])]
