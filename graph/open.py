"""Open the identity graph's store by name: ``open_store("embedded" | "neo4j", home)``.

The embedded store lives in ``home / "graph"``. The Neo4j store's server is read from the
environment (``EKJON_NEO4J_URI``, ``EKJON_NEO4J_USER``, ``EKJON_NEO4J_PASSWORD``,
``EKJON_NEO4J_DATABASE``), for users with their own Neo4j; otherwise it is the server that
``ekjon neo4j start`` runs for ``home`` (its credentials from
:func:`graph.neo4j.server.credentials`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from graph.neo4j.store import HOW_TO_START
from graph.store import GraphStore, StoreUnavailable

__all__ = ["BACKENDS", "Neo4jSettings", "neo4j_settings", "open_store"]

BACKENDS = ("embedded", "neo4j")


@dataclass(frozen=True)
class Neo4jSettings:
    """Where a Neo4j server is and how to log in (the password is kept out of ``repr``)."""

    uri: str
    user: str
    password: str = field(repr=False)
    database: str = "neo4j"


def neo4j_settings(home: Path) -> Neo4jSettings:
    """The Neo4j server to use: ``EKJON_NEO4J_*`` if ``EKJON_NEO4J_URI`` is set, else ekjon's own.

    Parameters
    ----------
    home:
        ekjon's home folder (``$EKJON_HOME``), where ``ekjon neo4j start`` keeps its server.

    Raises
    ------
    StoreUnavailable
        If neither the environment nor ``home`` names a server.
    """
    database = os.environ.get("EKJON_NEO4J_DATABASE") or "neo4j"
    uri = os.environ.get("EKJON_NEO4J_URI")
    if uri:
        password = os.environ.get("EKJON_NEO4J_PASSWORD")
        if password is None:
            raise StoreUnavailable(
                "EKJON_NEO4J_URI is set but EKJON_NEO4J_PASSWORD is not; set both (and "
                "EKJON_NEO4J_USER, default neo4j)."
            )
        return Neo4jSettings(uri, os.environ.get("EKJON_NEO4J_USER") or "neo4j", password, database)
    try:
        from graph.neo4j.server import credentials
    except ImportError as error:
        raise StoreUnavailable(
            f"No Neo4j server is configured ({error}); {HOW_TO_START}."
        ) from None
    try:
        uri, user, password = credentials(Path(home))
    except Exception as error:  # noqa: BLE001 - whatever the reason, the answer is the same
        raise StoreUnavailable(
            f"No Neo4j server is set up under {home} ({error}); {HOW_TO_START}."
        ) from None
    return Neo4jSettings(uri, user, password, database)


def open_store(backend: str, home: Path, *, read_only: bool = False, **options: Any) -> GraphStore:
    """Open the graph store ``backend`` for ekjon's home folder ``home``.

    Parameters
    ----------
    backend:
        ``"embedded"`` (the default store, in ``home / "graph"``) or ``"neo4j"``.
    home:
        ekjon's home folder (``$EKJON_HOME``).
    read_only:
        Open for reading only, as every reader of findings should: the embedded store then shares
        its folder with other readers, never changes a file and shows the last complete publish's
        graph; writes raise :class:`graph.store.ReadOnlyStore`. Check the graph with
        :func:`graph.store.require_complete` before reading.
    options:
        Passed to the store's constructor (e.g. ``batch_size``).

    Returns
    -------
    An open store; close it (or use it as a context manager) when done.

    Raises
    ------
    ValueError
        If ``backend`` is not one of :data:`BACKENDS`.
    StoreUnavailable
        If Neo4j is not configured or not reachable (the message says how to start it).
    StoreLocked, StoreCorrupted
        From the embedded store (a writer holds it, or its files are damaged).

    Example
    -------
    >>> import tempfile
    >>> with open_store("embedded", Path(tempfile.mkdtemp())) as store:
    ...     store.count("Person")
    0
    """
    if backend == "embedded":
        from graph.embedded import EmbeddedStore

        return EmbeddedStore(Path(home) / "graph", read_only=read_only, **options)
    if backend == "neo4j":
        from graph.neo4j.store import Neo4jStore

        settings = neo4j_settings(Path(home))
        return Neo4jStore(
            settings.uri,
            settings.user,
            settings.password,
            settings.database,
            read_only=read_only,
            **options,
        )
    raise ValueError(
        f"The graph store backend must be one of {', '.join(BACKENDS)}. Got {backend!r}."
    )
