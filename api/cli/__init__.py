"""The ``ekjon`` command line: one Typer app, one module per command group.

Each module in this package defines ``register(app)`` and adds its commands to the app. Library code
never reads ``$EKJON_HOME`` itself; commands resolve it here and pass explicit paths down.
"""

from __future__ import annotations

from typing import Annotated

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


@app.callback()
def _every_command(
    show_values: Annotated[
        bool,
        typer.Option(
            "--show-values",
            help="Print NIDs, birth registration numbers, phones and wallets in full in warnings "
            "and errors (default: masked to the last 3 digits). For the operator correcting data.",
        ),
    ] = False,
) -> None:
    """Before every command: files private, messages masked, the home closed up."""
    import sys

    from api.cli.options import ekjon_home, err_console
    from engine import privacy

    privacy.private_files()
    privacy.show_values(show_values)
    privacy.mask_log_records()
    sys.excepthook = privacy.masked_traceback
    home = ekjon_home()
    changed = privacy.tighten(home.root)
    if changed:
        err_console.print(
            f"note: {len(changed):,} files and folders under {home} were readable by other users; "
            "made private to you (folders 0700, files 0600).",
            highlight=False,
        )


_register_all()


def main() -> None:
    app()
