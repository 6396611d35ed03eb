"""Where ekjon keeps its stores: the home folder (``$EKJON_HOME``) and the files in it.

Every command and the HTTP API depend on one :class:`Home`; no other module spells a store's file
name. Library code never reads ``$EKJON_HOME`` itself: the edges (``api/``) resolve it and pass a
``Home`` down.

=======================  ==============================================================
path under the home      what it holds
=======================  ==============================================================
``records.sqlite``       the ingested records, every version (:mod:`engine.ingest.store`)
``identity.sqlite``      person and household IDs and their ledger (:mod:`engine.identity`)
``decisions.sqlite``     reviewers' same / not-same decisions (:mod:`engine.resolve.decisions`)
``resolve.lock``         held by the one resolve run (or API store) now (:mod:`engine.homelock`)
``reports/``             each ingest's quarantine and field-warning CSVs
``resolution/``          the last resolve: assignment, scored pairs, the one-record resolver
``graph/``               the embedded graph store (:mod:`graph.embedded`)
``api.sqlite``           the HTTP API's keys, audit log, idempotent answers and ingest jobs
``uploads/``             files MIS systems uploaded to the API's ingest jobs
``neo4j/``               the project's own Neo4j server: data, logs, credentials
=======================  ==============================================================

The graph package names its own two folders (``graph.open`` and ``graph.neo4j.server`` take the
home folder, as they may not import the engine); ``Home`` lists them for the edges.

Example
-------
>>> home = Home.of("/data/ekjon")
>>> home.records.name, home.assignment.relative_to(home.root).as_posix()
('records.sqlite', 'resolution/assignment.parquet')
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Home"]


@dataclass(frozen=True)
class Home:
    """The home folder and the path of every store in it.

    A ``Home`` is path-like (:func:`os.fspath` gives its folder), so functions that take the home
    folder as a path (the graph stores, the Neo4j server) accept one.

    Parameters
    ----------
    root:
        The folder, absolute (see :meth:`of`). It need not exist yet: the stores create their
        files when first written.
    """

    root: Path

    @classmethod
    def of(cls, place: Home | os.PathLike[str] | str) -> Home:
        """The home at ``place`` (a folder, or a ``Home`` returned as it is)."""
        if isinstance(place, Home):
            return place
        return cls(Path(place).resolve())

    def __fspath__(self) -> str:
        return str(self.root)

    def __str__(self) -> str:
        return str(self.root)

    # -- ingest
    @property
    def records(self) -> Path:
        """The record store (SQLite)."""
        return self.root / "records.sqlite"

    @property
    def reports(self) -> Path:
        """Ingest reports: quarantined rows and field warnings, one CSV per run and kind."""
        return self.root / "reports"

    # -- resolve and identity
    @property
    def ledger(self) -> Path:
        """The identity ledger (SQLite)."""
        return self.root / "identity.sqlite"

    @property
    def decisions(self) -> Path:
        """Reviewers' decisions (SQLite)."""
        return self.root / "decisions.sqlite"

    @property
    def resolve_lock(self) -> Path:
        """Held by the one process resolving the home (:mod:`engine.homelock`); says which."""
        return self.root / "resolve.lock"

    @property
    def resolution(self) -> Path:
        """The last resolve's outputs."""
        return self.root / "resolution"

    @property
    def assignment(self) -> Path:
        """``source, record_id, person_id, household_id, ...`` of every record (Parquet)."""
        return self.resolution / "assignment.parquet"

    @property
    def pairs(self) -> Path:
        """Every scored pair of the last resolve, with its probability (Parquet)."""
        return self.resolution / "pairs.parquet"

    @property
    def incremental(self) -> Path:
        """The one-record resolver's saved state (:mod:`engine.incremental.state`)."""
        return self.resolution / "incremental"

    # -- the HTTP API
    @property
    def api(self) -> Path:
        """The HTTP API's keys, audit log and idempotent answers (SQLite, :mod:`api.access`)."""
        return self.root / "api.sqlite"

    @property
    def uploads(self) -> Path:
        """Data files and mappings uploaded to the API's ingest jobs, one folder per job."""
        return self.root / "uploads"

    # -- graph
    @property
    def graph(self) -> Path:
        """The embedded graph store's folder."""
        return self.root / "graph"

    @property
    def neo4j(self) -> Path:
        """The project's own Neo4j server's folder."""
        return self.root / "neo4j"
