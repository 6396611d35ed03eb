"""Publish speed, query latencies and finding quality on a synthetic world.

Usage::

    ekjon synth --persons 100000 --seed 1 --out /tmp/world          # the world
    EKJON_HOME=/tmp/home ekjon ingest /tmp/world                      # its records
    .venv/bin/python benchmarks/queries.py --world /tmp/world --home /tmp/home
    .venv/bin/python benchmarks/queries.py --world /tmp/world --home /tmp/home --backend neo4j

What it does, for each store asked for:

1. publishes the current records of ``--home``'s record store with an assignment of records to
   persons and households: by default the world's **ground truth** (``truth/records.csv``), or a
   resolver's export (``--assignment persons.csv``: source, record_id, person_id[, household_id])
   and its links (``--links pairs.csv``), CSV or Parquet as ``ekjon resolve`` writes them under
   ``$EKJON_HOME/resolution/`` (``assignment.parquet``, ``pairs.parquet``); prints records/s;
2. times the whole-graph queries (suspicious identifiers, double dipping, reference checks,
   coverage) and ``programmes_of`` on a sample of persons, record keys, NIDs and phones (p50/p99);
3. measures suspicious identifiers and double dipping against the planted truth
   (``truth/suspicious_identifiers.csv``, ``truth/double_dipping.csv``), and checks that no
   household-shared identifier (``truth/shared_identifiers.csv``) is flagged.

``--households none`` drops the assignment's household ids, so households come from the records'
own (survey) household ids: what the graph sees before the resolver groups households itself.
The Neo4j store is the one ``open_store("neo4j", ...)`` finds for ``--neo4j-home`` (default
``$EKJON_HOME``, else ``--home``) or ``EKJON_NEO4J_URI``; it is cleared first.

Loading a 1M world takes minutes, so a loaded graph can be kept and queried again: ``--keep``
leaves the Neo4j graph in place, ``--embedded-dir DIR`` publishes the embedded store into ``DIR``
(kept) instead of a temporary folder, ``--publish-only`` stops after publishing, and
``--no-publish`` times the queries on the graph already there (same world, same assignment).

``--bulk`` (Neo4j only) makes the first load through Neo4j's offline importer
(:mod:`graph.neo4j.bulk`,
what ``ekjon neo4j import`` does) instead of Bolt: the database must be empty (stop the server and
delete its ``data/`` folder), and the server is restarted (``--neo4j-heap``, ``--neo4j-pagecache``).
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.ingest.store import RecordStore  # noqa: E402
from engine.publish import publish  # noqa: E402
from graph.neo4j.bulk import ImportFiles, check_empty_database, stop_in_background  # noqa: E402
from graph.neo4j.bulk import load as bulk_load  # noqa: E402
from graph.open import open_store  # noqa: E402
from graph.policy import Policy, load_policy  # noqa: E402
from graph.queries import (  # noqa: E402
    GraphTables,
    coverage,
    double_dipping,
    evaluate_findings,
    programmes_of,
    reference_checks,
    suspicious_identifiers,
)


def _read(path: str) -> pd.DataFrame:
    """A CSV or Parquet table (``ekjon resolve`` writes Parquet under resolution/)."""
    if path.endswith(".parquet"):
        return pd.read_parquet(path)
    return pd.read_csv(path, dtype={"source": str, "record_id": str, "person_id": str})


def _timed(what: str, work: Callable[[], Any]) -> tuple[Any, float]:
    started = time.perf_counter()
    result = work()
    seconds = time.perf_counter() - started
    print(f"  {what:<28} {seconds:8.2f} s", flush=True)
    return result, seconds


def active_truth(
    truth: pd.DataFrame, records: pd.DataFrame, persons: pd.DataFrame, policy: Policy
) -> pd.DataFrame:
    """The planted double dipping that still breaks a rule when only active enrolments count.

    The world's truth counts every enrolment whatever its status; the queries count active ones
    (as the policy says), so the truth is re-read here with the records' statuses.
    """
    key = records["source"] + "/" + records["record_id"].astype(str)
    active = dict(zip(key, records["status"].map(policy.is_active), strict=True))
    programme = dict(zip(key, records["programme"], strict=True))
    person = dict(
        zip(persons["source"] + "/" + persons["record_id"], persons["person_id"], strict=True)
    )
    kept = []
    for row in truth.itertuples(index=False):
        keys = [k for k in str(row.record_keys).split(";") if active.get(k, False)]
        progs = {programme.get(k) for k in keys}
        rule = row.rule
        if rule == "cash_cap":
            ok = sum(policy.counts_toward_cap(p) for p in progs if p) > (policy.cash_cap or 0)
        elif rule == "exclusive_pair":
            ok = set(str(row.programmes).split(";")) <= progs
        elif rule == "duplicate_enrolment":
            ok = len(keys) >= 2
        else:  # one_per_household
            owners = {person.get(k) for k in keys}
            ok = row.person_id in owners and len(owners) >= 2
        if ok:
            kept.append({**row._asdict(), "record_keys": ";".join(keys)})
    return pd.DataFrame(kept, columns=truth.columns)


class _Progress:
    """Prints publish progress every 30 s."""

    def __init__(self) -> None:
        self.last = 0.0

    def __call__(self, stage: str, done: int, total: int) -> None:
        now = time.perf_counter()
        if stage == "records" and (now - self.last > 30 or done == total):
            self.last = now
            print(f"    {stage}: {done:,}/{total:,}", flush=True)


def _peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def _sample_values(records: pd.DataFrame, assignment: pd.DataFrame, n: int, seed: int) -> list:
    rng = random.Random(seed)
    persons = assignment["person_id"].dropna().unique().tolist()
    keys = (records["source"] + "/" + records["record_id"].astype(str)).tolist()
    nids = records["nid"].dropna().unique().tolist()
    phones = records["phone"].dropna().unique().tolist()
    pools = [p for p in (persons, keys, nids, phones) if p]
    return [rng.choice(rng.choice(pools)) for _ in range(n)]


def _latencies(store: Any, values: list[str]) -> tuple[float, float, float]:
    for value in values[:20]:  # warm caches
        programmes_of(store, value)
    times = []
    for value in values:
        started = time.perf_counter()
        programmes_of(store, value)
        times.append(time.perf_counter() - started)
    ms = np.array(times) * 1000
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 99)), float(ms.max())


def _bulk_load(
    neo4j_home: Path,
    records: pd.DataFrame,
    assignment: pd.DataFrame,
    links: pd.DataFrame | None,
    args: argparse.Namespace,
) -> tuple[float, Any]:
    """A first load through the importer: files, import, restart; records/s and a reopened store."""
    started = time.perf_counter()
    check_empty_database(neo4j_home)
    stop_in_background(neo4j_home)  # as `ekjon neo4j import` does: stopped while files are written
    with tempfile.TemporaryDirectory(prefix="ekjon-import-", dir=neo4j_home) as folder:
        files = ImportFiles(Path(folder))
        report, t_files = _timed(
            "import files (publish)",
            lambda: publish(files, records, assignment, links, progress=_Progress()),
        )
        result, _ = _timed(
            "import + restart + schema",
            lambda: bulk_load(
                neo4j_home,
                files,
                heap=args.neo4j_heap,
                pagecache=args.neo4j_pagecache,
                check_empty=False,
            ),
        )
    seconds = time.perf_counter() - started
    steps = ", ".join(f"{step} {s:.1f} s" for step, s in result.seconds.items())
    print(f"  import files {t_files:.1f} s, {steps}")
    print(
        f"  {report.records:,} records, {sum(result.nodes.values()):,} nodes, "
        f"{sum(result.edges.values()):,} edges in {seconds:.1f} s"
    )
    speed = report.records / seconds
    print(f"  publish speed (bulk): {speed:,.0f} records/s; peak memory {_peak_gb():.1f} GB")
    return speed, open_store("neo4j", neo4j_home)


def run(args: argparse.Namespace) -> None:
    world, home = Path(args.world), Path(args.home)
    truth = world / "truth"
    started = time.perf_counter()
    records = RecordStore(home / "records.sqlite").current()
    print(f"{len(records):,} records loaded in {time.perf_counter() - started:.1f} s")
    if args.assignment == "truth":
        assignment = pd.read_csv(truth / "records.csv", dtype=str)
        what = "ground-truth assignment (truth/records.csv)"
    else:
        assignment = _read(args.assignment)
        what = f"assignment {args.assignment}"
    if args.households == "none":
        assignment = assignment.drop(columns=["household_id"], errors="ignore")
        what += ", without household ids (households from the records)"
    links = _read(args.links) if args.links else None
    print(f"using the {what}" + (f" and links {args.links}" if args.links else ", no links"))

    planted = pd.read_csv(truth / "suspicious_identifiers.csv", dtype=str)
    dipping_all = pd.read_csv(truth / "double_dipping.csv", dtype=str)
    policy = load_policy()
    true_persons = pd.read_csv(truth / "records.csv", dtype=str)
    dipping_truth = active_truth(dipping_all, records, true_persons, policy)
    print(
        f"planted double dipping: {len(dipping_all)} rows, {len(dipping_truth)} of them with "
        "active enrolments only"
    )
    shared = pd.read_csv(truth / "shared_identifiers.csv", dtype=str)
    values = _sample_values(records, assignment, args.samples, args.seed)

    backends = ["embedded", "neo4j"] if args.backend == "both" else [args.backend]
    for backend in backends:
        print(f"\n== {backend} ==")
        scratch = None
        if backend == "embedded":
            if args.embedded_dir:
                folder = Path(args.embedded_dir)
            else:
                scratch = tempfile.TemporaryDirectory(prefix="ekjon-bench-")
                folder = Path(scratch.name)
            store, _ = _timed("open embedded store", lambda f=folder: open_store("embedded", f))
        else:
            store = open_store("neo4j", Path(args.neo4j_home or home))
            if not args.no_publish and not args.bulk:
                store.clear()
        try:
            publish_speed = float("nan")
            if not args.no_publish and args.bulk and backend == "neo4j":
                store.close()
                publish_speed, store = _bulk_load(
                    Path(args.neo4j_home or home), records, assignment, links, args
                )
            elif not args.no_publish:
                progress = _Progress()
                report, _ = _timed(
                    "publish",
                    lambda store=store, progress=progress: publish(
                        store, records, assignment, links, progress=progress
                    ),
                )
                print(f"  {report.summary()}")
                publish_speed = report.records_per_second
                print(f"  publish speed: {publish_speed:,.0f} records/s")
            if args.publish_only:
                continue

            suspicious, t_susp = _timed(
                "suspicious identifiers", lambda s=store: suspicious_identifiers(s)
            )
            t_kept = None
            if backend == "neo4j":  # the store keeps the first question's answer (docs/neo4j.md)
                _, t_kept = _timed(
                    "suspicious identifiers again (the answer the store kept)",
                    lambda s=store: suspicious_identifiers(s),
                )
            dipping, t_dd = _timed("double dipping", lambda s=store: double_dipping(s, policy))
            refs, t_ref = _timed("reference checks", lambda s=store: reference_checks(s))
            cover, t_cov = _timed("coverage (pmt < 30)", lambda s=store: coverage(s, 30.0))

            def all_four(s: Any = store) -> None:
                tables = GraphTables(s)
                suspicious_identifiers(s, tables=tables)
                double_dipping(s, policy, tables=tables)
                reference_checks(s, tables=tables)
                coverage(s, 30.0, tables=tables)

            _, t_all = _timed("all four, shared tables", all_four)
            p50, p99, worst = _latencies(store, values)
            print(
                f"  programmes_of over {len(values)} values: p50 {p50:.2f} ms, p99 {p99:.2f} ms, "
                f"max {worst:.1f} ms"
            )
            print(
                f"  reference checks: {refs['check'].value_counts().to_dict()}; coverage: "
                f"{cover['finding'].value_counts().to_dict()}"
            )

            ev = evaluate_findings(suspicious, planted, on=["identifier_type", "identifier"])
            print(f"  suspicious identifiers: {ev.line()}")
            flagged = set(zip(suspicious["identifier_type"], suspicious["identifier"], strict=True))
            benign = {
                (t, i if t == "phone" else i)
                for t, i in zip(shared["identifier_type"], shared["identifier"], strict=True)
            }
            print(
                f"  household-shared identifiers flagged: {len(flagged & benign)} of {len(benign)}"
            )
            if len(ev.spurious):
                print(ev.spurious[["identifier_type", "identifier", "risk", "reasons"]].head(10))
            if len(ev.missed):
                print(ev.missed.head(10))
            ev = evaluate_findings(dipping, dipping_truth)
            print(f"  double dipping (active enrolments, as the policy says): {ev.line()}")
            by_rule = dipping["rule"].value_counts().to_dict()
            truth_rules = dipping_truth["rule"].value_counts().to_dict()
            print(f"    found by rule {by_rule}; truth {truth_rules}")
            if len(ev.spurious):
                print(ev.spurious[["person_id", "rule", "programmes", "record_ids"]].head(10))
            if len(ev.missed):
                print(ev.missed[["person_id", "rule", "programmes"]].head(10))
            statuses = frozenset(records["status"].dropna().str.lower().unique()) | {"active"}
            every = replace(policy, active_statuses=statuses)
            ev_all = evaluate_findings(double_dipping(store, every), dipping_all)
            print(f"  double dipping (every status, as truth/double_dipping.csv): {ev_all.line()}")
            print(f"  peak memory {_peak_gb():.1f} GB")
            print(
                f"  summary {backend}: publish {publish_speed:,.0f} rec/s; "
                f"suspicious {t_susp:.1f} s"
                + ("" if t_kept is None else f" (again {t_kept:.1f} s)")
                + f", double dipping {t_dd:.1f} s, reference {t_ref:.1f} s, "
                f"coverage {t_cov:.1f} s (all four sharing tables {t_all:.1f} s); "
                f"programmes_of p50 {p50:.2f} / p99 {p99:.2f} ms"
            )
        finally:
            if backend == "neo4j" and not (args.keep or args.no_publish or args.publish_only):
                store.clear()
            store.close()
            if scratch is not None:
                scratch.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--world", required=True, help="the folder `ekjon synth` wrote")
    parser.add_argument("--home", required=True, help="EKJON_HOME holding the ingested records")
    parser.add_argument("--backend", choices=["embedded", "neo4j", "both"], default="embedded")
    parser.add_argument(
        "--assignment", default="truth", help="'truth', or a persons CSV / Parquet file"
    )
    parser.add_argument("--links", help="scored pairs CSV / Parquet (left_source, ...)")
    parser.add_argument("--households", choices=["assigned", "none"], default="assigned")
    parser.add_argument("--samples", type=int, default=2000, help="programmes_of calls timed")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--neo4j-home",
        default=os.environ.get("EKJON_HOME"),
        help="EKJON_HOME of the Neo4j server (default: $EKJON_HOME, else --home)",
    )
    parser.add_argument("--keep", action="store_true", help="leave the Neo4j graph loaded")
    parser.add_argument(
        "--embedded-dir", help="publish the embedded store into this folder (kept) or reuse it"
    )
    load = parser.add_mutually_exclusive_group()
    load.add_argument(
        "--no-publish",
        action="store_true",
        help="query the graph already loaded (--keep / --embedded-dir of an earlier run)",
    )
    load.add_argument(
        "--publish-only", action="store_true", help="publish (and keep the graph), time no query"
    )
    parser.add_argument(
        "--bulk",
        action="store_true",
        help="neo4j: first load through Neo4j's offline importer (graph.neo4j.bulk) instead of "
        "Bolt; the database must be empty, and the server is restarted",
    )
    parser.add_argument("--neo4j-heap", help="neo4j --bulk: server heap after the import")
    parser.add_argument("--neo4j-pagecache", help="neo4j --bulk: server page cache after import")
    run(parser.parse_args())


if __name__ == "__main__":
    main()
