"""One run's clusters turned into lasting IDs in the identity ledger
(:mod:`engine.identity.ledger`).

:func:`assign_ids` plans a run (pure and vectorised: :func:`_plan`), then writes it in one
transaction. Which existing ID a cluster keeps is one rule, :func:`match_clusters`: the batch
applies it to every cluster at once, and :func:`ledger_choice` to the one small group around a new
record that the incremental resolver decides.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from engine.identity.ledger import (
    DEFAULT_REASON,
    DROP_REASON,
    EVENTS,
    SCOPE_COLUMNS,
    IdentityError,
    IdentityLedger,
    RunSummary,
    _format_ids,
    _members_table,
    _now,
    _prefix,
    member_index,
)

log = logging.getLogger(__name__)


# --- planning a run (pure, vectorised) ------------------------------------------------------------


@dataclass
class _Plan:
    """The new state and the events of one run, computed before anything is written."""

    ids: np.ndarray  # the ID of each input member
    changed: np.ndarray  # bool per input member: its row in `members` must be (re)written
    dropped: np.ndarray  # old members no longer in the data (complete runs)
    new_ids: np.ndarray  # IDs issued this run, in counter order
    last: int  # the counter after the run
    retired: pd.DataFrame  # id, merged_into (None: retired without a merge)
    events: pd.DataFrame  # event, id, other_id, members (count), reason
    event_of_member: np.ndarray  # event row per event-member row
    event_members: np.ndarray  # the members of events
    kept: int
    counts: dict[str, int]


def _plan(
    prefix: str,
    old_members: np.ndarray,
    old_ids: np.ndarray,
    members: np.ndarray,
    labels: np.ndarray,
    reasons: np.ndarray | None,
    last: int,
    complete: bool,
) -> _Plan:
    n = len(members)
    cluster, _ = pd.factorize(labels)
    cluster = cluster.astype(np.int64)
    k = int(cluster.max()) + 1 if n else 0

    # each cluster's smallest record key: a tie-break and the order new IDs are issued in that do
    # not depend on how the caller numbered its clusters
    member_text = pa.array(members, type=pa.string())
    member_rank = pc.rank(member_text, sort_keys="ascending", tiebreaker="first")
    member_rank = member_rank.to_numpy().astype(np.int64)
    first_rank = np.full(k, np.iinfo(np.int64).max)
    np.minimum.at(first_rank, cluster, member_rank)
    cluster_rank = np.empty(k, dtype=np.int64)
    cluster_rank[np.argsort(first_rank, kind="stable")] = np.arange(k)

    # previous ID of each input member
    encoded = pa.array(old_ids, type=pa.string()).dictionary_encode()
    old_code_all = encoded.indices.to_numpy().astype(np.int64)
    old_unique = np.asarray(encoded.dictionary.to_pylist(), dtype=object)
    e = len(old_unique)
    old_size = np.bincount(old_code_all, minlength=e)
    position = np.full(n, -1, dtype=np.int64)
    if len(old_members) and n:
        found = pc.index_in(member_text, value_set=pa.array(old_members, type=pa.string()))
        position = found.fill_null(-1).to_numpy().astype(np.int64)
    old_code = np.full(n, -1, dtype=np.int64)
    old_code[position >= 0] = old_code_all[position[position >= 0]]
    present = np.zeros(len(old_members), dtype=bool)
    present[position[position >= 0]] = True
    # fixed-width IDs sort by age
    age_rank = np.empty(e, dtype=np.int64)
    age_rank[np.argsort(old_unique.astype(str), kind="stable")] = np.arange(e)

    seen = old_code >= 0
    match = match_clusters(cluster, old_code, cluster_rank, old_size, age_rank)
    taken = np.zeros(e, dtype=bool)
    taken[match[match >= 0]] = True

    # new IDs for unmatched clusters, in order of their smallest record key
    unmatched = np.flatnonzero(match < 0)
    unmatched = unmatched[np.argsort(cluster_rank[unmatched], kind="stable")]
    new_ids = _format_ids(prefix, np.arange(last + 1, last + 1 + len(unmatched)))
    cluster_id = np.empty(k, dtype=object)
    cluster_id[match >= 0] = old_unique[match[match >= 0]]
    cluster_id[unmatched] = new_ids
    is_new = match < 0
    ids = cluster_id[cluster] if n else np.empty(0, dtype=object)

    # which old IDs carry on: matched ones, and (partial runs) ones keeping records not in the input
    carries_on = taken.copy()
    if not complete and e:
        outside = np.bincount(old_code_all[~present], minlength=e) > 0
        carries_on |= outside
    has_present = np.bincount(old_code[seen], minlength=e) > 0 if e else np.zeros(0, dtype=bool)

    # event of each input member (-1: none)
    ev = np.full(n, -1, dtype=np.int64)
    fresh = old_code < 0
    # a cluster whose new ID was split off an old one is not brand new: its fresh records are adds
    brand_new = is_new & (np.bincount(cluster[seen], minlength=k) == 0)
    ev[fresh & brand_new[cluster]] = EVENTS.index("new")
    ev[fresh & ~brand_new[cluster]] = EVENTS.index("add")
    moved = seen & (match[cluster] != old_code)
    ev[moved & is_new[cluster]] = EVENTS.index("split")
    still = np.zeros(n, dtype=bool)
    still[moved] = carries_on[old_code[moved]]
    ev[moved & ~is_new[cluster] & still] = EVENTS.index("move")
    ev[moved & ~is_new[cluster] & ~still] = EVENTS.index("merge")
    changed = fresh | moved

    # retired IDs and where they went
    retired_codes = np.flatnonzero(~carries_on) if e else np.empty(0, dtype=np.int64)
    merged_into = np.full(e, None, dtype=object)
    merge_rows = np.flatnonzero(ev == EVENTS.index("merge"))
    if len(merge_rows):
        flows = pd.DataFrame(
            {"old": old_code[merge_rows], "cluster": cluster[merge_rows]}
        ).value_counts()
        flows = flows.reset_index(name="n")
        flows["target"] = cluster_id[flows["cluster"].to_numpy()]
        flows = flows.sort_values(["old", "n", "target"], ascending=[True, False, True])
        best_flow = flows.drop_duplicates("old")
        merged_into[best_flow["old"].to_numpy()] = best_flow["target"].to_numpy()
    retired = pd.DataFrame(
        {"id": old_unique[retired_codes], "merged_into": merged_into[retired_codes]}
    )

    # dropped members (complete runs): a drop, or the retirement of an ID left with nothing
    if complete:
        dropped_pos = np.flatnonzero(~present)
    else:
        dropped_pos = np.empty(0, dtype=np.int64)
    dropped_code = old_code_all[dropped_pos]
    gone = ~carries_on[dropped_code] & ~has_present[dropped_code]
    drop_ev = np.where(gone, EVENTS.index("retire"), EVENTS.index("drop"))

    # group members into events: (event, cluster, old ID)
    active = np.flatnonzero(ev >= 0)
    ev_code = np.concatenate([ev[active], drop_ev]).astype(np.int64)
    ev_cluster = np.concatenate([cluster[active], np.full(len(dropped_pos), k, dtype=np.int64)])
    ev_old = np.concatenate([old_code[active], dropped_code]).astype(np.int64)
    ev_member = np.concatenate([members[active], old_members[dropped_pos]]).astype(object)
    group_key = (ev_code * (k + 1) + ev_cluster) * (e + 1) + (ev_old + 1)
    keys, first, inverse, counts = np.unique(
        group_key, return_index=True, return_inverse=True, return_counts=True
    )
    g_event = ev_code[first]
    g_cluster = ev_cluster[first]
    g_old = ev_old[first]
    cluster_reason = _cluster_reasons(cluster, k, reasons)
    about = np.empty(len(keys), dtype=object)
    other = np.full(len(keys), None, dtype=object)
    reason = np.full(len(keys), DROP_REASON, dtype=object)
    into = g_cluster < k
    about[into] = cluster_id[g_cluster[into]]
    reason[into] = cluster_reason[g_cluster[into]]
    about[~into] = old_unique[g_old[~into]]
    from_old = into & (g_old >= 0)
    other[from_old] = old_unique[g_old[from_old]]
    events = pd.DataFrame(
        {
            "event": np.asarray(EVENTS, dtype=object)[g_event],
            "id": about,
            "other_id": other,
            "members": counts,
            "reason": reason,
        }
    )
    split_ids = set(np.asarray(about[g_event == EVENTS.index("split")]).tolist())
    counts_out = {
        "new": int(len(new_ids) - len(split_ids)),
        "split": len(split_ids),
        "merged": int(retired["merged_into"].notna().sum()),
        "moved": int((ev == EVENTS.index("move")).sum()),
        "retired": int(retired["merged_into"].isna().sum()),
    }
    return _Plan(
        ids=ids,
        changed=changed,
        dropped=old_members[dropped_pos],
        new_ids=new_ids,
        last=last + len(unmatched),
        retired=retired,
        events=events,
        event_of_member=inverse.reshape(-1),
        event_members=ev_member,
        kept=int((match >= 0).sum()),
        counts=counts_out,
    )


def _cluster_reasons(cluster: np.ndarray, k: int, reasons: np.ndarray | None) -> np.ndarray:
    """The first non-empty reason given in each cluster (:data:`DEFAULT_REASON` when none)."""
    out = np.full(k, DEFAULT_REASON, dtype=object)
    if reasons is None or not len(cluster):
        return out
    given = pd.Series(reasons, dtype=object)
    ok = given.notna().to_numpy() & (given.astype(str).str.strip() != "").to_numpy()
    if ok.any():
        firsts = pd.Series(given.to_numpy()[ok]).groupby(cluster[ok]).first()
        out[firsts.index.to_numpy()] = firsts.to_numpy()
    return out


# --- running -------------------------------------------------------------------------------------


def _in_use_after(db: sqlite3.Connection, scope: str, run_id: int, plan: _Plan) -> int:
    """The IDs of ``scope`` in use after a partial run: the previous run's count, plus the IDs
    this one issued, minus those it retired (counting every member's ID would read the whole
    ledger for one record)."""
    before = db.execute(
        "SELECT ids FROM runs WHERE scope = ? AND run_id < ? ORDER BY run_id DESC LIMIT 1",
        (scope, run_id),
    ).fetchone()
    if before is None:
        return int(
            db.execute(f"SELECT count(DISTINCT id) FROM {_members_table(scope)}").fetchone()[0]
        )
    return int(before[0]) + len(plan.new_ids) - len(plan.retired)


#: A run that writes at least this many members, and at least a quarter as many as the ledger
#: held, drops the members' index by ID while it writes them and makes it again after: one sort
#: instead of a look-up in the index for each member, whose IDs come in no order (the 1.76M
#: records of a first run at a million persons, at a load of 4-5: 3.8 s and 1.3 s for the index,
#: against 21.8 s).
REINDEX_MIN_MEMBERS: Final = 65_536


def _write(
    db: sqlite3.Connection,
    scope: str,
    run_id: int,
    plan: _Plan,
    members: np.ndarray,
    held: int,
) -> None:
    changed = np.flatnonzero(plan.changed)
    table = _members_table(scope)
    index, make_index = member_index(scope)
    reindex = len(changed) >= REINDEX_MIN_MEMBERS and 4 * len(changed) >= held
    if reindex:  # made again below, in this transaction: a failed run rolls back to it whole
        db.execute(f"DROP INDEX IF EXISTS {index}")
    db.executemany(
        f"INSERT OR REPLACE INTO {table} (member, id) VALUES (?, ?)",
        zip(
            members[changed].tolist(),
            plan.ids[changed].tolist(),
            strict=True,
        ),
    )
    db.executemany(
        f"DELETE FROM {table} WHERE member = ?",
        ((m,) for m in plan.dropped.tolist()),
    )
    if reindex:
        db.execute(make_index)
    db.executemany(
        "INSERT INTO ids (id, scope, created_run) VALUES (?, ?, ?)",
        ((i, scope, run_id) for i in plan.new_ids.tolist()),
    )
    db.executemany(
        "UPDATE ids SET retired_run = ?, merged_into = ? WHERE id = ?",
        (
            (run_id, m, i)
            for i, m in zip(
                plan.retired["id"].tolist(), plan.retired["merged_into"].tolist(), strict=True
            )
        ),
    )
    db.execute(
        "INSERT INTO counters (scope, last) VALUES (?, ?) "
        "ON CONFLICT (scope) DO UPDATE SET last = excluded.last",
        (scope, plan.last),
    )
    _write_events(db, run_id, plan)


def _write_events(db: sqlite3.Connection, run_id: int, plan: _Plan) -> None:
    row = db.execute("SELECT coalesce(max(event_id), 0) FROM events").fetchone()
    base = int(row[0]) + 1
    events = plan.events
    event_ids = np.arange(base, base + len(events))
    db.executemany(
        "INSERT INTO events (event_id, run_id, event, id, other_id, members, reason) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        zip(
            event_ids.tolist(),
            (run_id for _ in range(len(events))),
            events["event"].tolist(),
            events["id"].tolist(),
            events["other_id"].tolist(),
            events["members"].tolist(),
            events["reason"].tolist(),
            strict=True,
        ),
    )
    # in the order of the table's key (event after event), so each row goes at the table's end
    order = np.argsort(plan.event_of_member, kind="stable")
    db.executemany(
        "INSERT INTO event_members (event_id, member) VALUES (?, ?)",
        zip(
            event_ids[plan.event_of_member[order]].tolist(),
            plan.event_members[order].tolist(),
            strict=True,
        ),
    )


def assign_ids(
    ledger: IdentityLedger,
    scope: str,
    members: Sequence[str] | np.ndarray | pd.Series,
    clusters: Sequence[Any] | np.ndarray | pd.Series,
    *,
    model_version: str | None,
    reasons: Sequence[str | None] | np.ndarray | pd.Series | None = None,
    run_note: str | None = None,
    complete: bool = True,
) -> tuple[np.ndarray, RunSummary]:
    """Stable IDs for one run's clusters of ``members`` (the engine behind the two wrappers).

    Parameters
    ----------
    ledger:
        The identity ledger.
    scope:
        ``"person"`` (members are record keys) or ``"household"`` (members are person IDs).
    members:
        One member per row, each at most once.
    clusters:
        The run's cluster label of each member (any hashable values).
    model_version:
        The model version the clusters came from, recorded with the run.
    reasons:
        Why each member's cluster is what it is; the first non-empty reason in a cluster is the
        reason of that cluster's events (default :data:`DEFAULT_REASON`).
    run_note:
        Free text kept with the run.
    complete:
        ``True``: the members are all the data, so previous members missing from them are dropped
        (and an ID left with none is retired). ``False``: only these members are (re)assigned and
        every other member keeps its ID (incremental resolve).

    Returns
    -------
    (numpy.ndarray, RunSummary)
        The ID of each member, in input order, and what the run did.

    Raises
    ------
    IdentityError
        If a member is missing or given twice, a cluster label is missing, or the lengths differ.
    """
    prefix = _prefix(scope)
    started = time.perf_counter()
    started_at = _now()
    member_array = _as_members(members, scope)
    labels = np.asarray(clusters)
    if len(labels) != len(member_array):
        raise IdentityError(
            f"Got {len(member_array)} members but {len(labels)} cluster labels; give one label per "
            "member."
        )
    missing_label = pd.isna(pd.Series(labels)).to_numpy()
    if missing_label.any():
        first = member_array[int(np.flatnonzero(missing_label)[0])]
        raise IdentityError(
            f"{int(missing_label.sum())} members have no cluster (first: {first!r}); every member "
            "needs one, a singleton cluster if nothing links it."
        )
    reason_array = None if reasons is None else np.asarray(pd.Series(reasons, dtype=object))
    if reason_array is not None and len(reason_array) != len(member_array):
        raise IdentityError(
            f"Got {len(member_array)} members but {len(reason_array)} reasons; give one per member."
        )
    with ledger.transaction() as db:
        # a partial run changes only the IDs its members hold: their members are all it reads
        old_members, old_ids = ledger.old_state(scope, None if complete else member_array.tolist())
        last = ledger.counter(scope)
        plan = _plan(
            prefix, old_members, old_ids, member_array, labels, reason_array, last, complete
        )
        cursor = db.execute(
            "INSERT INTO runs (scope, started_at, finished_at, model_version, note, members, "
            "ids, new, split, merged, moved, retired) "
            "VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?, ?)",
            (
                scope,
                started_at,
                started_at,
                model_version,
                run_note,
                len(member_array),
                plan.counts["new"],
                plan.counts["split"],
                plan.counts["merged"],
                plan.counts["moved"],
                plan.counts["retired"],
            ),
        )
        run_id = int(cursor.lastrowid or 0)
        _write(db, scope, run_id, plan, member_array, held=len(old_members))
        if complete:
            in_use = plan.kept + len(plan.new_ids)
        else:
            in_use = _in_use_after(db, scope, run_id, plan)
        db.execute(
            "UPDATE runs SET finished_at = ?, ids = ? WHERE run_id = ?",
            (_now(), int(in_use), run_id),
        )
    summary = RunSummary(
        run_id=run_id,
        scope=scope,
        model_version=model_version,
        members=len(member_array),
        ids=int(in_use),
        kept=plan.kept,
        events=len(plan.events),
        seconds=time.perf_counter() - started,
        **plan.counts,
    )
    log.info(
        "%s run %d: %d members, %d IDs (%d kept, %d new, %d split off, %d merged away, "
        "%d retired), %d events, %.1fs",
        scope,
        run_id,
        summary.members,
        summary.ids,
        summary.kept,
        summary.new,
        summary.split,
        summary.merged,
        summary.retired,
        summary.events,
        summary.seconds,
    )
    return plan.ids, summary


def _as_members(members: Sequence[str] | np.ndarray | pd.Series, scope: str) -> np.ndarray:
    series = pd.Series(members, dtype=object)
    what = SCOPE_COLUMNS[scope][0]
    bad = series.isna().to_numpy()
    values = series.astype(str).to_numpy(dtype=object)
    bad |= values == ""
    if bad.any():
        raise IdentityError(
            f"{int(bad.sum())} rows have no {what} (first at row {int(np.flatnonzero(bad)[0])}); "
            "every row needs one."
        )
    text = pa.array(values, type=pa.string())
    if pc.count_distinct(text).as_py() < len(values):
        twice = series.duplicated().to_numpy()
        raise IdentityError(
            f"{what} {series.iloc[int(np.flatnonzero(twice)[0])]!r} is given twice; each must be "
            f"in exactly one cluster ({int(twice.sum())} repeats)."
        )
    return values


def _record_keys(clusters: pd.DataFrame) -> pd.Series:
    if "record_key" in clusters.columns:
        return clusters["record_key"]
    if {"source", "record_id"}.issubset(clusters.columns):
        return clusters["source"].astype(str) + "/" + clusters["record_id"].astype(str)
    raise IdentityError(
        "The clusters need a 'record_key' column (source/record_id) or 'source' and 'record_id'; "
        f"got columns {', '.join(map(str, clusters.columns))}."
    )


def assign_person_ids(
    ledger: IdentityLedger,
    clusters: pd.DataFrame,
    *,
    model_version: str | None,
    run_note: str | None = None,
    complete: bool = True,
) -> pd.DataFrame:
    """Stable person IDs for one batch's clusters.

    Parameters
    ----------
    ledger:
        The identity ledger (``IdentityLedger(home.ledger)``).
    clusters:
        One row per record: ``record_key`` (or ``source`` and ``record_id``), ``cluster`` (the
        batch's label) and optionally ``reason`` (why the record's cluster is what it is, e.g.
        ``"link p=0.97 via nid+name"``; the first given in a cluster is used).
    model_version:
        The match model's version, kept with the run and its events.
    run_note:
        Free text kept with the run.
    complete:
        ``True`` when the clusters cover all the data (records not named are dropped); ``False`` to
        (re)assign only these records, as an incremental resolve does.

    Returns
    -------
    pandas.DataFrame
        ``record_key, person_id`` in the input's row order (with ``source, record_id`` first when
        the input had them), ready for :func:`engine.publish.publish`; ``attrs["run_id"]`` is the
        ledger run it wrote (read its events by it: another run may have followed).

    Raises
    ------
    IdentityError
        If a record is missing, named twice, or has no cluster; nothing is written then.
    """
    if "cluster" not in clusters.columns:
        raise IdentityError(
            "The clusters need a 'cluster' column (the batch's label of each record); got columns "
            f"{', '.join(map(str, clusters.columns))}."
        )
    keys = _record_keys(clusters)
    ids, summary = assign_ids(
        ledger,
        "person",
        keys.to_numpy(),
        clusters["cluster"].to_numpy(),
        model_version=model_version,
        reasons=clusters["reason"].to_numpy() if "reason" in clusters.columns else None,
        run_note=run_note,
        complete=complete,
    )
    out = pd.DataFrame(index=clusters.index)
    for column in ("source", "record_id"):
        if column in clusters.columns:
            out[column] = clusters[column]
    out["record_key"] = keys.astype(str).to_numpy()
    out["person_id"] = ids
    out = out.reset_index(drop=True)
    out.attrs["run_id"] = summary.run_id
    return out


def assign_household_ids(
    ledger: IdentityLedger,
    households: pd.DataFrame,
    *,
    model_version: str | None,
    run_note: str | None = None,
    complete: bool = True,
) -> pd.DataFrame:
    """Stable household IDs for one run's grouping of persons (same rules as person IDs).

    Parameters
    ----------
    households:
        One row per person: ``person_id``, ``household`` (the run's label) and optionally
        ``reason``.

    Returns
    -------
    pandas.DataFrame
        ``person_id, household_id`` in the input's row order.
    """
    for column in ("person_id", "household"):
        if column not in households.columns:
            raise IdentityError(
                f"The households need a {column!r} column; got columns "
                f"{', '.join(map(str, households.columns))}."
            )
    ids, _ = assign_ids(
        ledger,
        "household",
        households["person_id"].to_numpy(),
        households["household"].to_numpy(),
        model_version=model_version,
        reasons=households["reason"].to_numpy() if "reason" in households.columns else None,
        run_note=run_note,
        complete=complete,
    )
    return pd.DataFrame(
        {"person_id": households["person_id"].astype(str).to_numpy(), "household_id": ids}
    )


def match_clusters(
    cluster: np.ndarray,
    old: np.ndarray,
    cluster_rank: np.ndarray,
    old_size: np.ndarray,
    old_age: np.ndarray,
) -> np.ndarray:
    """The existing ID each new cluster keeps: the identity ledger's one matching rule.

    Clusters and existing IDs are matched one-to-one, greedily down a ranking of (cluster, ID)
    pairs: records shared (most first), then the ID's size in the ledger (largest first), then the
    older ID, then the cluster's smallest record key. :func:`_plan` applies it to every cluster of
    a run, :func:`ledger_choice` to the small group around one new record.

    Parameters
    ----------
    cluster:
        The new cluster (``0 .. k-1``) of each member.
    old:
        The existing ID (``0 .. e-1``) of each member; ``-1`` for a member the ledger does not
        know.
    cluster_rank:
        Per cluster, the rank of its smallest record key (``0 .. k-1``).
    old_size:
        Per existing ID, its members in the ledger.
    old_age:
        Per existing ID, its rank by age (``0``: the oldest).

    Returns
    -------
    numpy.ndarray
        Per cluster, the existing ID it keeps; ``-1``: it gets a new one.

    Example
    -------
    >>> match_clusters(
    ...     np.array([0, 0, 1]), np.array([0, 1, 1]), np.array([0, 1]), np.array([1, 5]),
    ...     np.array([0, 1]),
    ... ).tolist()  # cluster 0 keeps the larger ID 1; cluster 1, whose only ID is taken, a new one
    [1, -1]
    """
    k, e = len(cluster_rank), max(len(old_size), 1)
    # overlaps between new clusters and old IDs, ranked best first
    seen = old >= 0
    codes, overlap = np.unique(cluster[seen] * e + old[seen], return_counts=True)
    pair_c, pair_o = codes // e, codes % e
    order = np.lexsort((cluster_rank[pair_c], old_age[pair_o], -old_size[pair_o], -overlap))
    pair_c, pair_o = pair_c[order], pair_o[order]

    # greedy one-to-one matching down the ranking, in rounds: a pair that is the best remaining
    # choice of both its cluster and its old ID is exactly a pair the sequential greedy would take
    match = np.full(k, -1, dtype=np.int64)
    taken = np.zeros(e, dtype=bool)
    alive = np.ones(len(pair_c), dtype=bool)
    rounds = 0
    while alive.any():
        rounds += 1
        idx = np.flatnonzero(alive)
        _, first_c = np.unique(pair_c[idx], return_index=True)
        _, first_o = np.unique(pair_o[idx], return_index=True)
        best = np.zeros(len(pair_c), dtype=np.int8)
        best[idx[first_c]] += 1
        best[idx[first_o]] += 1
        mutual = best == 2
        match[pair_c[mutual]] = pair_o[mutual]
        taken[pair_o[mutual]] = True
        alive &= (match[pair_c] < 0) & ~taken[pair_o]
    log.debug("matched clusters to existing IDs in %d rounds", rounds)
    return match


def ledger_choice(
    labels: np.ndarray,
    persons: Sequence[str],
    keys: Sequence[str],
    person_rows: Mapping[str, Sequence[int]],
) -> str | None:
    """The person ID the identity ledger gives the group of node 0 (the new record): the batch's
    rule (:func:`match_clusters`) over the small group the incremental resolver decides.

    Parameters
    ----------
    labels:
        The group's cluster label of each node.
    persons:
        Each node's person ID (``""`` for a record the ledger does not know, such as node 0).
    keys:
        Each node's record key.
    person_rows:
        Person ID -> its records in the ledger (their number is the ID's size).

    Returns
    -------
    str | None
        The person ID, or ``None`` when node 0's cluster gets a new ID.
    """
    _, cluster = np.unique(np.asarray(labels), return_inverse=True)
    cluster = cluster.reshape(-1)
    k = int(cluster.max()) + 1 if len(cluster) else 0
    smallest: dict[int, str] = {}
    for c, key in zip(cluster.tolist(), keys, strict=True):
        smallest[c] = min(smallest.get(c, key), key)
    cluster_rank = np.empty(k, dtype=np.int64)
    cluster_rank[sorted(range(k), key=smallest.__getitem__)] = np.arange(k)
    ids = sorted({pid for pid in persons if pid})  # fixed-width IDs sort by age
    code = {pid: i for i, pid in enumerate(ids)}
    old = np.asarray([code.get(pid, -1) for pid in persons], dtype=np.int64)
    old_size = np.asarray([len(person_rows.get(pid, ())) for pid in ids], dtype=np.int64)
    match = match_clusters(cluster, old, cluster_rank, old_size, np.arange(len(ids)))
    chosen = int(match[cluster[0]])
    return None if chosen < 0 else ids[chosen]
