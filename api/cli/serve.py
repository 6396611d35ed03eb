"""``ekjon serve`` (the HTTP API), ``ekjon keys`` (its API keys) and ``ekjon audit`` (its log)."""

from __future__ import annotations

import json
import time
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from api.cli.options import Backend, PrivateConsole, ekjon_home

console = Console()
err_console = PrivateConsole(stderr=True, soft_wrap=True)

keys_app = typer.Typer(
    name="keys",
    help="API keys for `ekjon serve`: each has a role (mis, analyst, reviewer, admin); an mis key "
    "names the sources it may resolve and ingest for. A key is shown once, when made; the service "
    "keeps its SHA-256 only (in $EKJON_HOME/api.sqlite).",
    no_args_is_help=True,
)
audit_app = typer.Typer(
    name="audit",
    help="The API's audit log: every read of personal data and every reveal, append-only and "
    "hash-chained.",
    no_args_is_help=True,
)


def _fail(message: str) -> typer.Exit:
    err_console.print(f"[red]error:[/red] {message}", highlight=False)
    return typer.Exit(code=1)


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.", min=1, max=65535)] = 8000,
    backend: Annotated[
        Backend, typer.Option(help="Graph store the analysts' routes read.")
    ] = Backend.embedded,
    log_level: Annotated[str, typer.Option(help="uvicorn's log level.")] = "warning",
) -> None:
    """Run the HTTP API (one process): MIS systems resolve records, analysts read persons and
    findings. OpenAPI pages at http://HOST:PORT/docs; see docs/api.md.

    The last resolve's one-record resolver and the graph are loaded once, at start. Make keys
    first with `ekjon keys create`.
    """
    import uvicorn

    from api.app import create_app
    from api.service import Service, Settings
    from engine.errors import EkjonError

    started = time.perf_counter()
    try:
        service = Service(ekjon_home(), backend.value, Settings.from_env()).start()
    except (EkjonError, OSError, ValueError) as exc:
        raise _fail(str(exc)) from None
    steps = ", ".join(f"{k} {v:.1f} s" for k, v in service.start_seconds.items())
    if service.resolver is None:
        err_console.print(
            "[yellow]note:[/yellow] no resolve yet under "
            f"{service.home}: /v1/resolve answers 503 until `ekjon resolve` has run.",
            highlight=False,
        )
    err_console.print(
        f"ekjon API on http://{host}:{port} (docs: /docs), {backend.value} graph; started in "
        f"{time.perf_counter() - started:.1f} s ({steps})",
        highlight=False,
    )
    uvicorn.run(create_app(service), host=host, port=port, workers=1, log_level=log_level)


@keys_app.command("create")
def create_key(
    role: Annotated[str, typer.Option(help="mis, analyst, reviewer or admin.")],
    name: Annotated[str, typer.Option(help="Who or what uses the key.")],
    source: Annotated[
        list[str] | None,
        typer.Option("--source", help="A source an mis key may act for (repeat for several)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Make an API key and print it (the only time it is shown)."""
    from api.access import AccessError, AccessStore

    try:
        with AccessStore(ekjon_home().api) as access:
            made = access.create_key(name, role, source or ())
    except AccessError as exc:
        raise _fail(str(exc)) from None
    if as_json:
        typer.echo(json.dumps({**made.key.to_dict(), "token": made.token}, indent=1))
        return
    console.print(f"Key {made.key.key_id} ({made.key.role}) for {made.key.name}:", highlight=False)
    typer.echo(made.token)
    err_console.print("Keep it safe: it is not shown again.")


@keys_app.command("list")
def list_keys(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Every key: id, name, role, sources, when made and when revoked (never the secret)."""
    from api.access import AccessStore

    with AccessStore(ekjon_home().api) as access:
        keys = access.keys()
    if as_json:
        typer.echo(json.dumps([k.to_dict() for k in keys], indent=1))
        return
    table = Table(title="API keys")
    for column in ("id", "name", "role", "sources", "created", "revoked"):
        table.add_column(column, overflow="fold")
    for k in keys:
        table.add_row(
            k.key_id, k.name, k.role, ", ".join(k.sources), k.created_at[:16], k.revoked_at or ""
        )
    console.print(table)


@keys_app.command("revoke")
def revoke_key(
    key_id: Annotated[str, typer.Argument(help="The key's id (ekjon keys list).")],
) -> None:
    """Revoke a key: the service refuses it from the next request on."""
    from api.access import AccessError, AccessStore

    try:
        with AccessStore(ekjon_home().api) as access:
            key = access.revoke(key_id)
    except AccessError as exc:
        raise _fail(str(exc)) from None
    console.print(f"Revoked {key.key_id} ({key.role}, {key.name}).", highlight=False)


@audit_app.command("verify")
def verify() -> None:
    """Check the audit log's hash chain; name the first row that was changed."""
    from api.access import AccessStore

    path = ekjon_home().api
    if not path.exists():
        raise _fail(f"No audit log at {path}: the API has not been used yet.")
    with AccessStore(path) as access:
        rows, broken = access.verify_audit()
    if broken is not None:
        raise _fail(f"the audit log is broken at row {broken.seq}: {broken.reason} ({path}).")
    console.print(f"The audit log's {rows:,} rows are intact ({path}).", highlight=False)


def register(app: typer.Typer) -> None:
    """Add `serve`, `keys` and `audit` to the ekjon app."""
    app.command("serve")(serve)
    app.add_typer(keys_app)
    app.add_typer(audit_app)
