"""What every command group shares: the backend choice and where the store lives."""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path


class Backend(StrEnum):
    """The graph stores a command can use (``--backend``)."""

    embedded = "embedded"
    neo4j = "neo4j"


def ekjon_home() -> Path:
    """The embedded store's folder: ``$EKJON_HOME``, default ``./.ekjon``."""
    return Path(os.environ.get("EKJON_HOME", ".ekjon")).resolve()
