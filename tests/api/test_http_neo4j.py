"""The HTTP API on Neo4j: the same world published into the test server answers the analysts'
routes as the embedded store does (``ekjon serve --backend neo4j``)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.service import Service, Settings
from engine.run import publish_last_run
from graph.neo4j import server
from graph.open import open_store

from .conftest import Served

pytestmark = pytest.mark.neo4j


@pytest.fixture
def on_neo4j(served: Served, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    """The served world published into the test Neo4j server, served by a second app on it."""
    if not os.environ.get("EKJON_NEO4J_URI"):
        home = os.environ.get("EKJON_HOME")
        if not home:
            pytest.fail("the neo4j tests need EKJON_HOME of a running `ekjon neo4j start`")
        uri, user, password = server.credentials(Path(home))
        monkeypatch.setenv("EKJON_NEO4J_URI", uri)
        monkeypatch.setenv("EKJON_NEO4J_USER", user)
        monkeypatch.setenv("EKJON_NEO4J_PASSWORD", password)
    with open_store("neo4j", served.home.root) as store:
        store.clear()
        publish_last_run(served.home, store)
    service = Service(served.home, "neo4j", Settings()).start()
    try:
        with TestClient(create_app(service)) as client:
            yield client
    finally:
        with open_store("neo4j", served.home.root) as store:
            store.clear()


def test_the_analysts_routes_answer_alike_on_both_stores(
    served: Served, on_neo4j: TestClient
) -> None:
    analyst = served.headers("analyst", **{"X-Purpose": "fraud_investigation"})
    persons = served.persons["person_id"].drop_duplicates().iloc[:15]
    for person in persons:
        for tail in ("/programmes", ""):
            embedded = served.client.get(f"/v1/persons/{person}{tail}", headers=analyst)
            neo4j = on_neo4j.get(f"/v1/persons/{person}{tail}", headers=analyst)
            assert neo4j.status_code == embedded.status_code == 200, neo4j.text
            key = "enrolments" if tail else "records"
            ids = sorted(str(r.get("record_id", r.get("id"))) for r in embedded.json()[key])
            assert sorted(str(r.get("record_id", r.get("id"))) for r in neo4j.json()[key]) == ids
    for finding in ("double-dipping", "suspicious"):
        embedded = served.client.get(f"/v1/findings/{finding}", headers=analyst).json()
        neo4j = on_neo4j.get(f"/v1/findings/{finding}", headers=analyst).json()
        assert neo4j["total"] == embedded["total"]
