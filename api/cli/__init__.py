"""The ``ekjon`` command line: one Typer app, one module per command group.

Each module in this package defines ``register(app)`` and adds its commands to the app. Library code
never reads ``$EKJON_HOME`` itself; commands resolve it here and pass explicit paths down.
"""

from __future__ import annotations

import typer

app = typer.Typer(
    name="ekjon",
    help="ekjon (একজন, 'one person'): entity resolution for Bangladesh's social-protection Single "
    "Registry. Ingest MIS files, resolve records into persons and households, ask the graph.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _register_all() -> None:
    from api.cli import demo, findings, ingest, neo4j, resolve, review, serve, synth

    for module in (demo, synth, ingest, resolve, findings, review, neo4j, serve):
        module.register(app)


_register_all()


def main() -> None:
    app()
