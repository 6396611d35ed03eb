"""The HTTP API over a graph with a publish cut short: 503 naming the publish, never a mixed answer
or a 500; a record whose own publish was cut short is healed by sending it again."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.service import Service, Settings
from engine.home import Home
from engine.ingest.store import RecordStore
from graph.embedded import EmbeddedStore
from graph.store import StoreWriteFailed

from .conftest import MIS_SOURCE

ROOT = Path(__file__).resolve().parents[2]
READS = ("/v1/findings/suspicious", "/v1/findings/double-dipping", "/v1/persons/P0000000001")


class Client:
    def __init__(self, client: TestClient, service: Service) -> None:
        self.client = client
        self.service = service
        self.keys = {
            role: service.access.create_key(f"test {role}", role).token for role in ("analyst",)
        }
        self.keys["mis"] = service.access.create_key("test mis", "mis", [MIS_SOURCE]).token

    def get(self, path: str) -> Any:
        return self.client.get(path, headers={"X-API-Key": self.keys["analyst"]})

    def store(self, record: dict[str, Any]) -> Any:
        return self.client.post(
            "/v1/resolve?dry_run=false", json=record, headers={"X-API-Key": self.keys["mis"]}
        )


@pytest.fixture
def home(world_home: tuple[Home, Path], tmp_path: Path) -> Home:
    """A copy of the served world's home, to break."""
    original, _ = world_home
    shutil.copytree(original.root, tmp_path / "home", ignore=shutil.ignore_patterns("LOCK"))
    return Home.of(tmp_path / "home")


def serve(home: Home) -> Iterator[Client]:
    service = Service(home, "embedded", Settings()).start()
    with TestClient(create_app(service)) as client:
        yield Client(client, service)


def record(record_id: str) -> dict[str, Any]:
    return {
        "source": MIS_SOURCE,
        "record_id": record_id,
        "full_name": "Morjina Khatun Halfway",
        "gender": "Female",
        "date_of_birth": "1950-02-03",
        "nid": "19500000000000033",
        "district": "Chuadanga",
        "programme": "old_age_allowance",
        "status": "Active",
    }


def test_reads_of_a_graph_with_a_publish_cut_short_are_503_naming_it(home: Home) -> None:
    with EmbeddedStore(home.graph) as store:
        store.begin_publish("resolve run 7")  # and killed before its end
    with RecordStore(home.records) as records:
        before = records.counts()
    for client in serve(home):
        for path in READS:
            answer = client.get(path)
            assert answer.status_code == 503, (path, answer.text)
            detail = answer.json()["detail"]
            assert "resolve run 7" in detail and "has not finished" in detail
            assert "ekjon resolve" in detail and "stop `ekjon serve`" in detail
            assert answer.headers["Retry-After"]
        stored = client.store(record("HALF-0"))  # nothing is stored into a half-written graph
        assert stored.status_code == 503, stored.text
    with RecordStore(home.records) as records:
        assert records.counts() == before


def test_a_record_whose_publish_failed_is_healed_by_sending_it_again(
    home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    for client in serve(home):
        assert client.get(READS[0]).status_code == 200
        store = client.service._store
        merge_edges = store.merge_edges

        def full_disk(*args: Any, **kwargs: Any) -> int:
            raise StoreWriteFailed("Could not write to journal-00000000.ekj: No space left")

        monkeypatch.setattr(store, "merge_edges", full_disk)
        failed = client.store(record("HALF-1"))
        assert failed.status_code == 503 and "No space left" in failed.json()["detail"]
        refused = client.get(READS[0])
        assert refused.status_code == 503
        assert f"one record of {MIS_SOURCE}" in refused.json()["detail"]

        monkeypatch.setattr(store, "merge_edges", merge_edges)  # space again
        again = client.store(record("HALF-1"))
        assert again.status_code == 200, again.text
        assert again.json()["enrolments"]
        assert client.get(READS[0]).status_code == 200
        assert store.publish_state().unfinished == ()


def _killed(
    script: str, home: Home, group: list[dict[str, Any]]
) -> subprocess.CompletedProcess[str]:
    """Run ``script`` on ``home`` with ``group``'s records (``field=value|...``); it must end
    killed by SIGKILL."""
    killed = subprocess.run(
        [
            sys.executable,
            "-c",
            script,
            str(home.root),
            *("|".join(f"{k}={v}" for k, v in r.items()) for r in group),
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    return killed


KILLED_GROUP = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    import engine.incremental.register as register
    from api.service import Service, Settings
    from engine.home import Home

    home, records = Home.of(Path(sys.argv[1])), sys.argv[2:]
    service = Service(home, "embedded", Settings()).start()
    kept = [
        register.keep_record(
            home, service.resolver, service.store,
            {**dict(field.split("=", 1) for field in record.split("|"))},
            origin="test", stores=service.record_stores(), kinds=service.source_kinds,
        )
        for record in records
    ]
    print(" ".join(done.person_id for done in kept), flush=True)
    # the group stored and identified; killed as its one publish begins writing
    register.publish_group = lambda *args, **kwargs: os.kill(os.getpid(), signal.SIGKILL)
    service.publish_kept(kept)
    """
)


def test_a_group_killed_between_its_store_and_its_publish_is_healed_by_sending_it_again(
    home: Home,
) -> None:
    group = [record(f"KILLED-{i}") | {"nid": f"1950000000000{i:04d}"} for i in range(3)]
    killed = _killed(KILLED_GROUP, home, group)
    persons = killed.stdout.split()
    assert len(persons) == 3
    with RecordStore(home.records) as records:  # the group was stored
        assert all(len(records.history(MIS_SOURCE, r["record_id"])) == 1 for r in group)
    with EmbeddedStore(home.graph, read_only=True) as store:  # readers see the last complete
        assert store.publish_state().shows_last_complete
        assert len(store.publish_state().unfinished) == 3
        assert all(store.node("Record", f"{MIS_SOURCE}/{r['record_id']}") is None for r in group)
    for client in serve(home):
        refused = client.get(READS[0])
        assert refused.status_code == 503 and f"one record of {MIS_SOURCE}" in refused.text
        answers = [client.store(r) for r in group]  # sent again: published, the same persons
        assert [a.status_code for a in answers[:2]] == [503, 503]  # the third still unfinished
        assert answers[2].status_code == 200, answers[2].text
        again = [client.store(r) for r in group[:2]]
        assert [a.status_code for a in again] == [200, 200]
        assert [a.json()["person_id"] for a in (*again, answers[2])] == persons
        assert client.get(READS[0]).status_code == 200
        with client.service.graph() as store:
            assert store.publish_state().unfinished == ()
            for r, person in zip(group, persons, strict=True):
                [of] = store.neighbours("Record", f"{MIS_SOURCE}/{r['record_id']}", "OF")
                assert of.props["id"] == person


KILLED_IN_LEDGER = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    import engine.incremental.register as register
    from api.service import Service, Settings
    from engine.home import Home

    home, records = Home.of(Path(sys.argv[1])), sys.argv[2:]
    service = Service(home, "embedded", Settings()).start()
    # the group stored and resolved; killed as its one ledger run begins
    register._lasting_ids = lambda *args, **kwargs: os.kill(os.getpid(), signal.SIGKILL)
    service.keep_sent(
        [(dict(field.split("=", 1) for field in record.split("|")), "test") for record in records]
    )
    """
)


def test_a_group_killed_before_its_ledger_run_is_healed_by_sending_it_again(home: Home) -> None:
    """A group cut short after its records were stored, before they had IDs: nothing reached the
    graph or the ledger; each record sent again gets its person (two of one person, one)."""
    other = {"nid": "19610000000000021", "full_name": "Abul Kashem Mia", "gender": "Male"}
    group = [
        record("CUT-0"),
        record("CUT-1"),
        record("CUT-2") | other | {"date_of_birth": "1961-05-06"},
    ]
    _killed(KILLED_IN_LEDGER, home, group)
    with RecordStore(home.records) as records:  # the group was stored
        assert all(len(records.history(MIS_SOURCE, r["record_id"])) == 1 for r in group)
    with EmbeddedStore(home.graph, read_only=True) as store:
        assert store.publish_state().unfinished == ()
        assert all(store.node("Record", f"{MIS_SOURCE}/{r['record_id']}") is None for r in group)
    for client in serve(home):
        answers = [client.store(r) for r in group]
        assert [a.status_code for a in answers] == [200] * 3, [a.text for a in answers]
        persons = [a.json()["person_id"] for a in answers]
        assert persons[0] == persons[1] != persons[2]
        with client.service.graph() as store:
            for r, person in zip(group, persons, strict=True):
                [of] = store.neighbours("Record", f"{MIS_SOURCE}/{r['record_id']}", "OF")
                assert of.props["id"] == person
