"""The Neo4j store when its server fails under it: one clear store error, never the driver's
traceback (no server needed: the driver is a stand-in that fails)."""

from __future__ import annotations

from typing import Any

import pytest
from neo4j.exceptions import Neo4jError, ServiceUnavailable

from graph.neo4j.store import Neo4jStore
from graph.store import StoreUnavailable, StoreWriteFailed


class FailingDriver:
    """A driver whose every transaction fails with ``error``."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def session(self, **_: Any) -> FailingDriver:
        return self

    def __enter__(self) -> FailingDriver:
        return self

    def __exit__(self, *_: object) -> None:
        return None

    def execute_write(self, work: Any) -> Any:
        raise self.error

    execute_read = execute_write


def failing_store(error: Exception) -> Neo4jStore:
    store = Neo4jStore.__new__(Neo4jStore)
    store.uri, store.database, store.batch_size, store.read_only = (
        "bolt://db:7687",
        "neo4j",
        10,
        False,
    )
    store._driver = FailingDriver(error)
    return store


def test_a_server_lost_mid_publish_is_a_store_error() -> None:
    store = failing_store(ServiceUnavailable("Failed to read from defunct connection"))
    with pytest.raises(StoreUnavailable, match="bolt://db:7687 stopped answering.*not committed"):
        store.merge_nodes("Person", [{"id": "P1"}])
    with pytest.raises(StoreUnavailable, match="stopped answering"):
        store.publish_state()


def test_a_full_disk_on_the_server_is_a_store_error() -> None:
    full = Neo4jError._hydrate_neo4j(
        code="Neo.DatabaseError.General.UnknownError", message="No space left on device"
    )
    with pytest.raises(StoreWriteFailed, match="No space left on device.*not committed"):
        failing_store(full).begin_publish("resolve run 3")
