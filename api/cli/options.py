"""What every command group shares: the backend choice, where the store lives, and how
warnings, errors and exported files keep personal data private."""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path
from typing import Any

from rich.console import Console

from engine.home import Home
from engine.privacy import shown


class Backend(StrEnum):
    """The graph stores a command can use (``--backend``)."""

    embedded = "embedded"
    neo4j = "neo4j"


def ekjon_home() -> Home:
    """The :class:`~engine.home.Home` every command works in: ``$EKJON_HOME``, default
    ``./.ekjon``."""
    return Home.of(os.environ.get("EKJON_HOME", ".ekjon"))


class PrivateConsole(Console):
    """A console for warnings and errors: identifiers in its text are masked unless the operator
    gave ``--show-values`` (:func:`engine.privacy.shown`)."""

    def print(self, *objects: Any, **kwargs: Any) -> None:
        super().print(*(shown(o) if isinstance(o, str) else o for o in objects), **kwargs)


def share_file(path: Path, world_readable: bool) -> None:
    """An exported file is private (0600, as everything ekjon writes) unless the user asked for
    it to be readable by every user of the machine (``--world-readable``: 0644)."""
    if world_readable:
        path.chmod(0o644)


#: Where warnings and errors go.
err_console = PrivateConsole(stderr=True, soft_wrap=True)
