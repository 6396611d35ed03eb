"""One error root: every error ekjon raises on purpose derives from ``ekjon.errors.EkjonError``.

A caller (the CLI, a notebook) catches them all with one ``except``, and a new root cannot creep in.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Iterator

from ekjon.errors import EkjonError

PACKAGES = ("ekjon", "engine", "graph", "models", "synth", "api")

# Private signals caught inside the module that raises them; they never reach a caller.
INTERNAL = {"graph.embedded.frames._TornTail"}


def _raise(name: str) -> None:
    raise ImportError(f"cannot import {name} to look for its errors")


def _exception_classes() -> Iterator[tuple[str, type[BaseException]]]:
    """Every exception class defined in the project's packages, named ``module.Class``."""
    for top in PACKAGES:
        package = importlib.import_module(top)
        modules = [top]
        modules += [i.name for i in pkgutil.walk_packages(package.__path__, f"{top}.", _raise)]
        for name in modules:
            module = importlib.import_module(name)
            for value in vars(module).values():
                if (
                    inspect.isclass(value)
                    and issubclass(value, BaseException)
                    and value.__module__ == name
                ):
                    yield f"{name}.{value.__qualname__}", value


def test_every_deliberate_error_derives_from_ekjon_error() -> None:
    found = dict(_exception_classes())
    assert {
        "engine.errors.InvalidValue",
        "graph.store.GraphStoreError",
        "graph.policy.PolicyError",
        "graph.neo4j.server.Neo4jServerError",
        "models.errors.ModelError",
    } <= found.keys()
    strays = [name for name, cls in found.items() if not issubclass(cls, EkjonError)]
    assert sorted(strays) == sorted(INTERNAL)


def test_the_engine_still_exports_the_root() -> None:
    from engine.errors import EkjonError as engine_root

    assert engine_root is EkjonError
