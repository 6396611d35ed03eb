"""What every command group shares: the backend choice and where the store lives."""

from __future__ import annotations

import os
from enum import StrEnum

from engine.home import Home


class Backend(StrEnum):
    """The graph stores a command can use (``--backend``)."""

    embedded = "embedded"
    neo4j = "neo4j"


def ekjon_home() -> Home:
    """The :class:`~engine.home.Home` every command works in: ``$EKJON_HOME``, default
    ``./.ekjon``."""
    return Home.of(os.environ.get("EKJON_HOME", ".ekjon"))
