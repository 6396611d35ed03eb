"""A Neo4j server of a test module's own, on a temporary EKJON_HOME and free ports, so it never
touches the server scripts/test.sh runs (tests that stop, restart or import into a server use it).
"""

from __future__ import annotations

import socket
from pathlib import Path

from graph.neo4j import server

# Small memory (the test box is shared) and a generous wait: a first start on a busy 2-core CI box
# can take minutes (it also builds the launcher if scripts/test.sh has not).
SMALL = {"heap": "1g", "pagecache": "256m", "timeout": 600}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_own_server(home: Path, http: bool = True) -> Path:
    """Start a small server for ``home`` (HTTP on a free port, or off) and return ``home``."""
    # Extra settings file: skip preallocating 256 MB transaction logs per database in a temp dir.
    conf = home / "neo4j" / "conf"
    conf.mkdir(parents=True)
    (conf / "neo4j.conf").write_text("db.tx_log.preallocate=false\n")
    server.start(home, bolt_port=free_port(), http_port=free_port() if http else 0, **SMALL)
    return home
