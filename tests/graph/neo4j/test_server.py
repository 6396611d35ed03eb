"""The real Neo4j server behind `ekjon neo4j`: durable data, a private password, loopback only.

These start a Neo4j 5.26 JVM on a temporary EKJON_HOME with free, non-default ports (so they never
touch a server scripts/test.sh runs). They fail, never skip, when the server cannot be had: CI
has Java 17, Maven and Maven Central.
"""

from __future__ import annotations

import socket
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from neo4j import GraphDatabase
from neo4j.exceptions import AuthError

from graph.neo4j import server
from tests.graph.own_server import SMALL, start_own_server

pytestmark = [pytest.mark.neo4j, pytest.mark.slow]


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """An EKJON_HOME with a running server of its own."""
    home = start_own_server(tmp_path_factory.mktemp("ekjon_home"))
    yield home
    server.stop(home)


def _count_probes(home: Path) -> int:
    uri, user, password = server.credentials(home)
    with GraphDatabase.driver(uri, auth=(user, password)) as driver:
        records, _, _ = driver.execute_query(
            "MATCH (p:ServerTestProbe {name: $name}) RETURN count(p) AS n",
            name="durable",
            database_="neo4j",
        )
    return records[0]["n"]


def _listening_addresses(port: int) -> set[str]:
    """Local addresses with a socket in LISTEN state on ``port`` (Linux /proc/net)."""
    found: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local, state = fields[1], fields[3]
            address_hex, port_hex = local.split(":")
            if state != "0A" or int(port_hex, 16) != port:  # 0A = LISTEN
                continue
            raw = bytes.fromhex(address_hex)
            # /proc prints each 32-bit word in host (little-endian) order.
            words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
            if len(words) == 16 and words[:12] == b"\0" * 10 + b"\xff\xff":
                words = words[12:]  # IPv4-mapped IPv6 address, as Java binds 127.0.0.1
            family = socket.AF_INET if len(words) == 4 else socket.AF_INET6
            found.add(socket.inet_ntop(family, words))
    return found


def test_stored_password_opens_a_session_and_is_private(home: Path) -> None:
    uri, user, password = server.credentials(home)
    assert uri.startswith("bolt://127.0.0.1:")
    assert user == "neo4j"
    assert password != "neo4j" and len(password) >= 20
    credentials_file = home / "neo4j" / "credentials.json"
    assert stat.S_IMODE(credentials_file.stat().st_mode) == 0o600

    with GraphDatabase.driver(uri, auth=(user, password)) as driver:
        records, _, _ = driver.execute_query("RETURN 41 + 1 AS answer", database_="neo4j")
    assert records[0]["answer"] == 42


@pytest.mark.parametrize("password", ["neo4j", "not-the-password"])
def test_default_and_wrong_passwords_are_refused(home: Path, password: str) -> None:
    uri, user, _ = server.credentials(home)
    with GraphDatabase.driver(uri, auth=(user, password)) as driver, pytest.raises(AuthError):
        driver.verify_connectivity()


def test_listens_on_loopback_only(home: Path) -> None:
    info = server.status(home)
    assert info is not None and info.http_uri is not None
    for uri in (info.uri, info.http_uri):
        port = int(uri.rsplit(":", 1)[1])
        assert _listening_addresses(port) == {"127.0.0.1"}, uri


def test_status_and_repeated_start_report_the_same_server(home: Path) -> None:
    info = server.status(home)
    assert info is not None
    assert info.data_dir == home.resolve() / "neo4j" / "data"
    again = server.start(home, bolt_port=int(info.uri.rsplit(":", 1)[1]))
    assert again.pid == info.pid


def test_a_taken_port_is_reported_before_anything_starts(home: Path, tmp_path: Path) -> None:
    info = server.status(home)
    assert info is not None
    taken = int(info.uri.rsplit(":", 1)[1])
    with pytest.raises(server.PortInUse, match=f"Port {taken} on 127.0.0.1 is already in use"):
        server.start(tmp_path, bolt_port=taken, http_port=0)
    assert server.status(tmp_path) is None


def test_data_survives_stop_and_start(home: Path) -> None:
    uri, user, password = server.credentials(home)
    with GraphDatabase.driver(uri, auth=(user, password)) as driver:
        driver.execute_query(
            "CREATE (:ServerTestProbe {name: $name})", name="durable", database_="neo4j"
        )
    info = server.status(home)
    assert info is not None
    bolt_port = int(info.uri.rsplit(":", 1)[1])
    http_port = int(info.http_uri.rsplit(":", 1)[1]) if info.http_uri else 0

    server.stop(home)
    assert server.status(home) is None
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", bolt_port), timeout=2).close()

    restarted = server.start(home, bolt_port=bolt_port, http_port=http_port, **SMALL)
    assert restarted.pid != info.pid
    assert server.credentials(home) == (uri, user, password)
    assert _count_probes(home) == 1


def test_stop_when_nothing_runs_is_harmless(tmp_path: Path) -> None:
    server.stop(tmp_path)
    assert server.status(tmp_path) is None
