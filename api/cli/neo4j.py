"""`ekjon neo4j`: run a local Neo4j 5.26 server for ekjon (start, stop, status, import, env)."""

from __future__ import annotations

import os
import shlex
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from api.cli.options import PrivateConsole
from graph.neo4j import server

console = Console()
err_console = PrivateConsole(stderr=True)

neo4j_app = typer.Typer(
    name="neo4j",
    help="Run a local Neo4j 5.26 Community server for ekjon under $EKJON_HOME/neo4j: listens on "
    "127.0.0.1 only, user 'neo4j' with a random password kept in credentials.json. "
    "The first start builds it with Maven (downloads about 190 MB from Maven Central). "
    "To use your own Neo4j instead, set EKJON_NEO4J_URI, EKJON_NEO4J_USER and "
    "EKJON_NEO4J_PASSWORD (see docs/neo4j.md).",
    no_args_is_help=True,
)

NOT_RUNNING_EXIT_CODE = 3  # as LSB init scripts' `status`, so scripts can test for it


def _home() -> Path:
    from api.cli.options import ekjon_home

    return ekjon_home().root


def _fail(message: str) -> typer.Exit:
    err_console.print(f"[red]error:[/red] {message}", highlight=False)
    return typer.Exit(code=1)


def _external_server_note() -> None:
    uri = os.environ.get("EKJON_NEO4J_URI")
    if uri:
        console.print(
            f"[yellow]note:[/yellow] EKJON_NEO4J_URI is set ({uri}): ekjon's Neo4j store uses "
            "that server, not this one.",
            highlight=False,
        )


def _print_info(info: server.ServerInfo, *, show_password: bool = False) -> None:
    console.print(f"  Bolt URI:     {info.uri}", highlight=False)
    console.print(f"  User:         {info.user}", highlight=False)
    if show_password:
        _, _, password = server.credentials(_home())
        console.print(f"  Password:     {password}", highlight=False)
    else:
        console.print(
            f"  Password:     in {info.credentials_file} (or: ekjon neo4j status --show-password)",
            highlight=False,
        )
    console.print(f"  Database:     {info.database}", highlight=False)
    if info.browser_uri:
        console.print(f"  Browser:      {info.browser_uri}", highlight=False)
    console.print(f"  Data:         {info.data_dir}", highlight=False)
    console.print(f"  Log:          {info.log_file}", highlight=False)


@neo4j_app.command("start")
def start(
    bolt_port: Annotated[
        int,
        typer.Option("--bolt-port", envvar="EKJON_NEO4J_BOLT_PORT", help="Bolt port on 127.0.0.1."),
    ] = server.DEFAULT_BOLT_PORT,
    http_port: Annotated[
        int,
        typer.Option(
            "--http-port",
            envvar="EKJON_NEO4J_HTTP_PORT",
            help="HTTP port on 127.0.0.1 (Neo4j Browser at /browser/); 0 turns HTTP off.",
        ),
    ] = server.DEFAULT_HTTP_PORT,
    heap: Annotated[
        str, typer.Option("--heap", envvar="EKJON_NEO4J_HEAP", help="JVM maximum heap, e.g. 4g.")
    ] = server.DEFAULT_HEAP,
    pagecache: Annotated[
        str,
        typer.Option(
            "--pagecache", envvar="EKJON_NEO4J_PAGECACHE", help="Neo4j page cache size, e.g. 2g."
        ),
    ] = server.DEFAULT_PAGECACHE,
    timeout: Annotated[
        float, typer.Option("--timeout", help="Seconds to wait for Neo4j to accept sessions.")
    ] = 180,
) -> None:
    """Start the server (building it on first use); does nothing if it is already running."""
    home = _home()
    running = server.status(home)
    if running is not None:
        console.print(f"Neo4j is already running (pid {running.pid}).", highlight=False)
        _print_info(running)
        _external_server_note()
        return

    downloads = 0
    with console.status("Starting Neo4j...") as spinner:

        def on_progress(line: str) -> None:
            nonlocal downloads
            if line.startswith("Downloaded from"):
                downloads += 1
                spinner.update(
                    f"Building the Neo4j {server.NEO4J_VERSION} launcher: {downloads} files "
                    f"downloaded from Maven Central (first build: {server.FIRST_BUILD_DOWNLOAD})"
                )
            elif "BUILD SUCCESS" in line:
                spinner.update("Built; starting Neo4j...")

        if not server.LAUNCHER_JAR.exists():
            console.print(
                f"First start: building the Neo4j {server.NEO4J_VERSION} launcher with Maven "
                f"(downloads {server.FIRST_BUILD_DOWNLOAD} from Maven Central into ~/.m2 unless "
                "already there).",
                highlight=False,
            )
        try:
            info = server.start(
                home,
                bolt_port=bolt_port,
                heap=heap,
                timeout=timeout,
                http_port=http_port,
                pagecache=pagecache,
                on_progress=on_progress,
            )
        except (server.Neo4jServerError, ValueError) as exc:
            raise _fail(str(exc)) from None
    console.print(f"Neo4j {info.version} is running (pid {info.pid}).", highlight=False)
    _print_info(info)
    _external_server_note()


@neo4j_app.command("stop")
def stop(
    timeout: Annotated[
        float, typer.Option("--timeout", help="Seconds to wait for a clean shutdown before kill.")
    ] = 60,
) -> None:
    """Stop the server cleanly (SIGTERM, then kill after --timeout); its data stays."""
    home = _home()
    running = server.status(home)
    if running is None:
        console.print("Neo4j is not running.")
        return
    try:
        server.stop(home, timeout=timeout)
    except server.Neo4jServerError as exc:
        raise _fail(str(exc)) from None
    console.print(f"Neo4j stopped (was pid {running.pid}); data kept in {running.data_dir}.")


@neo4j_app.command("status")
def status(
    show_password: Annotated[
        bool, typer.Option("--show-password", help="Also print the neo4j user's password.")
    ] = False,
) -> None:
    """Say whether the server runs, with its pid, URI, user and data folder (exit code 3 if not)."""
    home = _home()
    info = server.status(home)
    if info is None:
        console.print(
            f"Neo4j is not running (EKJON_HOME {home}). Start it with `ekjon neo4j start`.",
            highlight=False,
        )
        _external_server_note()
        raise typer.Exit(code=NOT_RUNNING_EXIT_CODE)
    console.print(f"Neo4j {info.version} is running (pid {info.pid}).", highlight=False)
    _print_info(info, show_password=show_password)
    _external_server_note()


@neo4j_app.command("import")
def import_graph(
    assignment: Annotated[
        Path | None,
        typer.Option(
            "--assignment",
            help="Records -> persons (CSV or Parquet: source, record_id, person_id[, "
            "household_id]). Default: the last `ekjon resolve` ($EKJON_HOME/resolution/).",
        ),
    ] = None,
    links: Annotated[
        Path | None,
        typer.Option(
            "--links",
            help="Scored pairs (left, right, probability[, model_version]). Default: the last "
            "resolve's pairs when the assignment is the last resolve's, else none.",
        ),
    ] = None,
    heap: Annotated[
        str | None,
        typer.Option(
            "--heap",
            envvar="EKJON_NEO4J_HEAP",
            help="Server heap after import. Default: as the server was last started.",
        ),
    ] = None,
    pagecache: Annotated[
        str | None,
        typer.Option(
            "--pagecache",
            envvar="EKJON_NEO4J_PAGECACHE",
            help="Server page cache after import. Default: as the server was last started.",
        ),
    ] = None,
    importer_memory: Annotated[
        str, typer.Option("--importer-memory", help="The importer's heap and off-heap budget.")
    ] = "2g",
    keep_files: Annotated[
        bool, typer.Option("--keep-files", help="Keep the CSV files under neo4j/import/.")
    ] = False,
) -> None:
    """First load of the resolved graph into ekjon's own server with Neo4j's offline importer.

    Much faster than publishing over Bolt for millions of records, but only into an EMPTY
    database: the server is stopped, the graph imported, the server started again and its
    constraints and indexes created. Later updates go over Bolt (`ekjon resolve --backend neo4j`).
    Not for your own Neo4j (EKJON_NEO4J_URI): the importer writes the server's files.
    """
    import time

    from engine.errors import EkjonError
    from engine.run import last_run_tables, publish_last_run
    from graph.neo4j import bulk

    home = _home()
    started = time.perf_counter()
    written = 0.0
    try:
        bulk.check_own_server()
        assignment, links = last_run_tables(home, assignment, links)
        with console.status("Checking that the Neo4j database is empty...") as spinner:

            def write(files: bulk.ImportFiles) -> Any:
                nonlocal written
                report = publish_last_run(
                    home,
                    files,
                    assignment=assignment,
                    links=links,
                    progress=lambda stage, done, total: spinner.update(
                        f"Writing the graph as import files: {stage} {done:,}/{total:,}"
                    ),
                )
                written = time.perf_counter() - started
                return report

            report, result = bulk.first_load(
                home,
                write,
                keep_files=keep_files,
                heap=heap,
                pagecache=pagecache,
                importer_memory=importer_memory,
                progress=lambda message: spinner.update(f"{message[:1].upper()}{message[1:]}..."),
            )
    except (EkjonError, ValueError, OSError) as exc:  # the store's and the server's errors included
        raise _fail(str(exc)) from None
    seconds = time.perf_counter() - started
    nodes = sum(result.nodes.values())
    edges = sum(result.edges.values())
    console.print(
        f"Imported {report.records:,} records ({nodes:,} nodes, {edges:,} edges) in "
        f"{seconds:.0f} s: {report.records / seconds:,.0f} records/s (files {written:.0f} s, "
        + ", ".join(f"{step} {s:.0f} s" for step, s in result.seconds.items())
        + ").",
        highlight=False,
    )
    info = server.status(home)
    if info is not None:
        _print_info(info)


@neo4j_app.command("env")
def env() -> None:
    """Print `export EKJON_NEO4J_...` lines for this server (includes the password), for `eval`."""
    home = _home()
    try:
        uri, user, password = server.credentials(home)
    except server.Neo4jServerError as exc:
        raise _fail(str(exc)) from None
    for name, value in (
        ("EKJON_NEO4J_URI", uri),
        ("EKJON_NEO4J_USER", user),
        ("EKJON_NEO4J_PASSWORD", password),
        ("EKJON_NEO4J_DATABASE", server.DEFAULT_DATABASE),
    ):
        typer.echo(f"export {name}={shlex.quote(value)}")


def register(app: typer.Typer) -> None:
    """Add the `neo4j` command group (start, stop, status, import, env) to the ekjon app."""
    app.add_typer(neo4j_app, name="neo4j")
