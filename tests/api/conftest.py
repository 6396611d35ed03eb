"""A small world, ingested, resolved and published into the embedded store, served by the HTTP
API in-process; keys of every role (and an mis key for one source)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.app import create_app
from api.cli import app as cli
from api.service import Service, Settings
from engine.home import Home

MIS_SOURCE = "dss_old_age"


@dataclass
class Served:
    """The world, its home, the running app and a key per role."""

    home: Home
    world: Path
    client: TestClient
    service: Service
    keys: dict[str, str]
    persons: pd.DataFrame

    def headers(self, role: str, **extra: str) -> dict[str, str]:
        return {"X-API-Key": self.keys[role], **extra}


def _cli(*args: str, env: dict[str, str]) -> None:
    result = CliRunner().invoke(cli, list(args), env=env)
    assert result.exit_code == 0, result.output


@pytest.fixture(scope="package")
def world_home(tmp_path_factory: pytest.TempPathFactory) -> tuple[Home, Path]:
    root = tmp_path_factory.mktemp("api")
    env = {"EKJON_HOME": str(root / "home")}
    _cli("synth", "--persons", "400", "--seed", "21", "--out", str(root / "world"), env=env)
    _cli("ingest", str(root / "world"), env=env)
    _cli("resolve", env=env)
    return Home.of(root / "home"), root / "world"


@pytest.fixture(scope="package")
def served(world_home: tuple[Home, Path]) -> Iterator[Served]:
    home, world = world_home
    service = Service(home, "embedded", Settings()).start()
    keys = {
        role: service.access.create_key(f"test {role}", role).token
        for role in ("analyst", "reviewer", "admin")
    }
    keys["mis"] = service.access.create_key("test mis", "mis", [MIS_SOURCE]).token
    with TestClient(create_app(service)) as client:
        persons = pd.read_parquet(home.assignment)
        yield Served(home, world, client, service, keys, persons)
