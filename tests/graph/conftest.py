"""Fixtures for the graph tests: ``store`` runs a test once per graph store.

The Neo4j run (marked ``neo4j``) uses the server named by ``EKJON_NEO4J_URI`` / ``_USER`` /
``_PASSWORD`` / ``_DATABASE``, or else the one ``ekjon neo4j start`` runs for ``$EKJON_HOME``. It
clears the graph before every test, so point it at a scratch server. If no server answers, the
Neo4j tests fail (they are never skipped); deselect them with ``-m "not neo4j"``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from graph.open import open_store
from graph.store import GraphStore, StoreUnavailable


@pytest.fixture(scope="session")
def neo4j_store() -> Iterator[GraphStore]:
    """One Neo4j store for the whole session (one driver per process)."""
    home = os.environ.get("EKJON_HOME")
    if not os.environ.get("EKJON_NEO4J_URI") and not home:
        pytest.fail(
            "The neo4j tests need a Neo4j server: run `ekjon neo4j start` and set EKJON_HOME to "
            "the same folder, or set EKJON_NEO4J_URI, EKJON_NEO4J_USER and EKJON_NEO4J_PASSWORD "
            '(or deselect them with -m "not neo4j").',
            pytrace=False,
        )
    try:
        store = open_store("neo4j", Path(home or "."))
    except StoreUnavailable as error:
        pytest.fail(f'{error} (or deselect these tests with -m "not neo4j")', pytrace=False)
    yield store
    store.clear()
    store.close()


@pytest.fixture(params=["embedded", pytest.param("neo4j", marks=pytest.mark.neo4j)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[GraphStore]:
    """An empty graph store: a fresh embedded one, or the session's Neo4j one, cleared."""
    if request.param == "embedded":
        opened = open_store("embedded", tmp_path)
        opened.clear()
        yield opened
        opened.close()
    else:
        shared = request.getfixturevalue("neo4j_store")
        shared.clear()
        yield shared
