"""Benchmark the graph stores: write a synthetic world, reopen it, read it back.

For each store it prints nodes/s and edges/s written, the time to reopen (embedded: the rows folded
into tables at close, the whole world written again as a complete publish writes it, then a
reader's open), memory (the process's RSS growth per node and per edge;
embedded only, since Neo4j's memory is its server's), the time to read the biggest tables, and
``neighbours`` latency (p50 / p99) on random records.

The world has the shape of a programme MIS load: per record ~2.5 records per person, ~3.5 persons
per household, one NID per person (5% also a smart card linked by SAME_NID), a household phone plus
personal phones for half the persons, wallets for 60%, birth registrations for 15%; each record is
OF its person, FROM its source, ENROLLED_IN a programme (80%), HAS an NID (90%), phone (70%), wallet
(50% of those with one) and BRN, and 30% are SAME_AS an earlier record of their person. 100k
records make ~260k nodes and ~650k edges; a 1-million-person world is ~2.5M records.

Usage::

    .venv/bin/python benchmarks/graph_store.py                       # embedded, 100k records
    .venv/bin/python benchmarks/graph_store.py --stores embedded,neo4j --records 20000

Neo4j is read from EKJON_NEO4J_* or the server ``ekjon neo4j start`` runs for ``--home``
(default ``$EKJON_HOME``). Its graph is cleared first: use a scratch server.
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from graph.embedded import EmbeddedStore
from graph.open import open_store
from graph.store import GraphStore

SOURCES = [
    ("dss_oaa", "programme", "old_age_allowance"),
    ("dss_widow", "programme", "widow_allowance"),
    ("dss_disability", "programme", "disability_allowance"),
    ("dshe_stipend", "programme", "primary_stipend"),
    ("dwa_mcb", "programme", "mother_child_benefit"),
    ("nhd", "survey", None),
    ("ec_nid", "reference", None),
]
GIVEN = ["Abdul", "Rahima", "Karim", "Fatema", "Jahanara", "Sushila", "Rafiq", "Nasrin", "Habib"]
FAMILY = ["Islam", "Begum", "Uddin", "Khatun", "Akter", "Rani Das", "Hossain", "Sarker"]
GIVEN_BN = ["আব্দুল", "রহিমা", "করিম", "ফাতেমা", "জাহানারা", "সুশীলা", "রফিক", "নাসরিন", "হাবিব"]
FAMILY_BN = ["ইসলাম", "বেগম", "উদ্দিন", "খাতুন", "আক্তার", "রানী দাস", "হোসেন", "সরকার"]


def chance(i: int, salt: int) -> float:
    """A deterministic pseudo-random number in [0, 1) for item ``i``."""
    return ((i * 2654435761 + salt * 40503) % 4294967296) / 4294967296


class World:
    """The synthetic world of ``records`` records, generated on the fly (nothing kept in memory)."""

    def __init__(self, records: int) -> None:
        self.records = records
        self.persons = max(1, int(records / 2.5))
        self.households = self.household(self.persons - 1) + 1

    # identities of person p
    def household(self, p: int) -> int:
        return p * 2 // 7

    def nid(self, p: int) -> str:
        return f"{3026100000000 + p:013d}"

    def smart(self, p: int) -> str | None:
        return f"{5000000000 + p:010d}" if chance(p, 1) < 0.05 else None

    def own_phone(self, p: int) -> str | None:
        return f"018{p:08d}" if chance(p, 2) < 0.5 else None

    def wallet(self, p: int) -> str | None:
        if chance(p, 3) >= 0.6:
            return None
        return f"{'bkash' if p % 2 else 'nagad'}:019{p:08d}"

    def brn(self, p: int) -> str | None:
        return f"{20000000000000000 + p}" if chance(p, 4) < 0.15 else None

    def record_id(self, r: int) -> str:
        return f"{SOURCES[(r // self.persons) % len(SOURCES)][0]}/{r:010d}"

    # nodes
    def nodes(self) -> Iterator[tuple[str, Iterator[dict[str, Any]]]]:
        yield "Source", iter({"id": s, "kind": k} for s, k, _ in SOURCES)
        yield "Programme", iter({"id": g, "cash": True} for _, _, g in SOURCES if g)
        yield "Household", ({"id": f"hh{h:08d}"} for h in range(self.households))
        yield "Person", ({"id": f"P{p:09d}"} for p in range(self.persons))
        yield "NID", ({"id": self.nid(p), "form": "13"} for p in range(self.persons))
        yield (
            "NID",
            ({"id": s, "form": "10"} for p in range(self.persons) if (s := self.smart(p))),
        )
        yield "Phone", ({"id": f"017{h:08d}"} for h in range(self.households))
        yield "Phone", ({"id": ph} for p in range(self.persons) if (ph := self.own_phone(p)))
        yield (
            "Account",
            (
                {"id": w, "provider": w.split(":")[0], "number": w.split(":")[1]}
                for p in range(self.persons)
                if (w := self.wallet(p))
            ),
        )
        yield "BRN", ({"id": b} for p in range(self.persons) if (b := self.brn(p)))
        yield "Record", (self.record(r) for r in range(self.records))

    def record(self, r: int) -> dict[str, Any]:
        p = r % self.persons
        source, kind, programme = SOURCES[(r // self.persons) % len(SOURCES)]
        g, f = p % len(GIVEN), (p // 7) % len(FAMILY)
        return {
            "id": self.record_id(r),
            "source": source,
            "record_id": f"{r:010d}",
            "kind": kind,
            "programme": programme,
            "full_name": f"{GIVEN[g]} {FAMILY[f]} {p % 997}",
            "full_name_bn": f"{GIVEN_BN[g]} {FAMILY_BN[f]}",
            "father_name": f"{GIVEN[(p + 3) % len(GIVEN)]} {FAMILY[(p + 1) % len(FAMILY)]}",
            "gender": "female" if p % 2 else "male",
            "date_of_birth": f"{1940 + p % 60}-{1 + p % 12:02d}-{1 + p % 28:02d}",
            "nid": self.nid(p),
            "phone": self.own_phone(p),
            "household_id": f"hh{self.household(p):08d}",
            "district": f"BD30{p % 64:02d}",
            "upazila": f"upazila {p % 495}",
            "union": f"union {p % 4578}",
            "status": "active" if kind == "programme" else None,
            "amount": 600.0 if kind == "programme" else None,
        }

    # edges: (type, from label, to label, rows)
    def edges(self) -> Iterator[tuple[str, str, str, Iterator[dict[str, Any]]]]:
        n, persons = self.records, self.persons
        yield (
            "OF",
            "Record",
            "Person",
            ({"from": self.record_id(r), "to": f"P{r % persons:09d}"} for r in range(n)),
        )
        yield (
            "FROM",
            "Record",
            "Source",
            (
                {"from": self.record_id(r), "to": SOURCES[(r // persons) % len(SOURCES)][0]}
                for r in range(n)
            ),
        )
        yield (
            "ENROLLED_IN",
            "Record",
            "Programme",
            (
                {"from": self.record_id(r), "to": prog, "status": "active", "since": "2021-07-01"}
                for r in range(n)
                if (prog := SOURCES[(r // persons) % len(SOURCES)][2]) and chance(r, 5) < 0.8
            ),
        )
        yield (
            "HAS",
            "Record",
            "NID",
            (
                {"from": self.record_id(r), "to": self.smart(r % persons) or self.nid(r % persons)}
                for r in range(n)
                if chance(r, 6) < 0.9
            ),
        )
        yield (
            "HAS",
            "Record",
            "Phone",
            (
                {
                    "from": self.record_id(r),
                    "to": self.own_phone(r % persons) or f"017{self.household(r % persons):08d}",
                    "role": "contact",
                }
                for r in range(n)
                if chance(r, 7) < 0.7
            ),
        )
        yield (
            "HAS",
            "Record",
            "Account",
            (
                {"from": self.record_id(r), "to": w, "role": "payment"}
                for r in range(n)
                if (w := self.wallet(r % persons)) and chance(r, 8) < 0.85
            ),
        )
        yield (
            "HAS",
            "Record",
            "BRN",
            (
                {"from": self.record_id(r), "to": b}
                for r in range(n)
                if (b := self.brn(r % persons))
            ),
        )
        yield (
            "SAME_AS",
            "Record",
            "Record",
            (
                {
                    "from": self.record_id(r),
                    "to": self.record_id(r - persons),
                    "probability": round(0.5 + chance(r, 9) / 2, 4),
                    "model_version": "fs-2025.1",
                }
                for r in range(persons, n)
                if chance(r, 10) < 0.5
            ),
        )
        yield (
            "MEMBER_OF",
            "Person",
            "Household",
            (
                {"from": f"P{p:09d}", "to": f"hh{self.household(p):08d}", "relation": "member"}
                for p in range(persons)
            ),
        )
        yield (
            "KYC_OWNER",
            "Account",
            "NID",
            (
                {"from": w, "to": self.nid(p)}
                for p in range(persons)
                if (w := self.wallet(p)) and chance(p, 11) < 0.9
            ),
        )
        yield (
            "REGISTERED_TO",
            "Phone",
            "NID",
            (
                {"from": ph, "to": self.nid(p)}
                for p in range(persons)
                if (ph := self.own_phone(p)) and chance(p, 12) < 0.9
            ),
        )
        yield (
            "SAME_NID",
            "NID",
            "NID",
            ({"from": s, "to": self.nid(p)} for p in range(persons) if (s := self.smart(p))),
        )


def rss() -> int:
    """This process's resident memory in bytes."""
    with open("/proc/self/statm") as file:
        return int(file.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class Timed:
    """Wall-clock and this process's CPU seconds of one call, and its result.

    The CPU figure is what the embedded store costs regardless of other load on the machine (for
    Neo4j it is only the client's share: the server's work is in the wall-clock figure).
    """

    def __init__(self, work: Callable[[], Any]) -> None:
        wall, cpu = time.perf_counter(), time.process_time()
        self.result = work()
        self.wall = time.perf_counter() - wall
        self.cpu = time.process_time() - cpu

    def __str__(self) -> str:
        return f"{self.wall:7.1f} s (cpu {self.cpu:5.1f} s)"


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def write_nodes(store: GraphStore, world: World) -> tuple[int, float, float]:
    """Write the world's nodes: how many, wall seconds, cpu seconds."""
    count, wall, cpu = 0, 0.0, 0.0
    for label, rows in world.nodes():
        timing = Timed(lambda label=label, rows=rows: store.merge_nodes(label, rows))
        count, wall, cpu = count + timing.result, wall + timing.wall, cpu + timing.cpu
    return count, wall, cpu


def write_edges(store: GraphStore, world: World) -> tuple[int, float, float]:
    """Write the world's edges: how many, wall seconds, cpu seconds."""
    count, wall, cpu = 0, 0.0, 0.0
    for edge_type, from_label, to_label, rows in world.edges():
        timing = Timed(
            lambda e=edge_type, f=from_label, t=to_label, r=rows: store.merge_edges(e, f, t, r)
        )
        count, wall, cpu = count + timing.result, wall + timing.wall, cpu + timing.cpu
    return count, wall, cpu


def write_tables(path: Path, world: World) -> None:
    """The world written whole as a complete publish writes it (the table writer)."""
    import pandas as pd

    with EmbeddedStore(path) as store:
        writer = store.table_writer()
        for label, rows in world.nodes():
            frame = pd.DataFrame(list(rows))
            writer.add_nodes(label, {c: frame[c] for c in frame.columns})
        for edge_type, from_label, to_label, rows in world.edges():
            frame = pd.DataFrame(list(rows))
            writer.add_edges(edge_type, from_label, to_label, {c: frame[c] for c in frame.columns})
        writer.finish()


def benchmark(name: str, make: Callable[[], GraphStore], world: World, probes: int) -> None:
    print(f"\n== {name}: {world.records:,} records")
    gc.collect()
    memory = [rss()]
    store = make()
    store.clear()
    node_count, wall, cpu = write_nodes(store, world)
    print(
        f"nodes written   {node_count:>11,} in {wall:7.1f} s = {node_count / wall:>8,.0f}/s"
        f"   (cpu {cpu:6.1f} s = {node_count / cpu:>8,.0f}/s)"
    )
    gc.collect()
    memory.append(rss())
    edge_count, wall, cpu = write_edges(store, world)
    print(
        f"edges written   {edge_count:>11,} in {wall:7.1f} s = {edge_count / wall:>8,.0f}/s"
        f"   (cpu {cpu:6.1f} s = {edge_count / cpu:>8,.0f}/s)"
    )
    gc.collect()
    memory.append(rss())
    if isinstance(store, EmbeddedStore):
        print(
            f"memory (RSS)    {(memory[1] - memory[0]) / node_count:5.0f} B/node  "
            f"{(memory[2] - memory[1]) / edge_count:5.0f} B/edge  "
            f"({(memory[2] - memory[0]) / 2**20:,.0f} MiB for the whole graph)"
        )
        path = store.path
        closed = Timed(store.close)  # folds the rows written into a generation of tables
        del store
        gc.collect()
        disk = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
        print(f"close           {closed} folding the rows into tables ({disk / 2**20:,.0f} MiB)")
        tables = Timed(lambda: write_tables(path, world))
        print(
            f"tables written  {tables} = {(node_count + edge_count) / tables.wall:>8,.0f} rows/s"
            "  (a complete publish: whole tables, column by column)"
        )
        opened = Timed(lambda: EmbeddedStore(path, read_only=True))
        store = opened.result
        print(f"reopen          {opened} (reads no graph: the manifest and the journal's frames)")
    else:
        store.close()
        opened = Timed(make)
        store = opened.result
        print(f"reopen          {opened} (connect, check constraints)")
    timing = Timed(lambda: store.nodes("Record"))
    print(
        f"nodes('Record') {timing}  ({len(timing.result):,} rows x {timing.result.shape[1]} cols)"
    )
    timing = Timed(lambda: store.edges("HAS"))
    print(f"edges('HAS')    {timing}  ({len(timing.result):,} rows)")
    del timing
    rng = random.Random(0)
    latencies = []
    for _ in range(probes):
        record = world.record_id(rng.randrange(world.records))
        start = time.perf_counter()
        found = store.neighbours("Record", record, direction="both")
        latencies.append((time.perf_counter() - start) * 1000)
        assert found, record
    print(
        f"neighbours      p50 {percentile(latencies, 50):.3f} ms   "
        f"p99 {percentile(latencies, 99):.3f} ms   ({probes} records, both directions)"
    )
    store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--stores", default="embedded", help="comma-separated: embedded,neo4j")
    parser.add_argument("--home", type=Path, default=Path(os.environ.get("EKJON_HOME", ".ekjon")))
    parser.add_argument("--probes", type=int, default=2000, help="neighbours calls to time")
    parser.add_argument("--no-fsync", action="store_true", help="embedded: skip fsync")
    args = parser.parse_args()
    world = World(args.records)
    for name in args.stores.split(","):
        if name == "embedded":
            with tempfile.TemporaryDirectory(prefix="ekjon-bench-") as folder:
                benchmark(
                    name,
                    lambda f=folder, s=not args.no_fsync: EmbeddedStore(f, fsync=s),
                    world,
                    args.probes,
                )
        elif name == "neo4j":
            benchmark(name, lambda: open_store("neo4j", args.home), world, args.probes)
        else:
            parser.error(f"unknown store {name!r}")


if __name__ == "__main__":
    main()
