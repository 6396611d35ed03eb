"""`ekjon ingest`: map MIS and registry files onto the canonical record; store them, versioned."""

from __future__ import annotations

import json
import logging
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from api.cli.options import PrivateConsole
from engine.errors import EkjonError
from engine.privacy import shown

if TYPE_CHECKING:
    from engine.ingest.files import SourceFile
    from engine.ingest.run import IngestProgress, IngestReport
    from engine.ingest.store import RecordStore

logger = logging.getLogger(__name__)

#: show a progress bar for files at least this big (bytes)
PROGRESS_MIN_BYTES = 2 * 1024 * 1024
PROBLEMS_SHOWN = 5


def register(app: typer.Typer) -> None:
    """Add ``ekjon ingest`` to the app."""
    app.command(
        "ingest",
        help=(
            "Ingest MIS or registry files (CSV, Parquet, JSONL, Excel) into the record store under "
            "$EKJON_HOME, through a mapping YAML (see docs/mapping.md).\n\n"
            "Each file uses --mapping if given, else the mapping beside it with the same name "
            "(dss.csv -> dss.yaml). A directory ingests every data file in it that has such a "
            "mapping, e.g. the folder `ekjon synth` wrote.\n\n"
            "Unreadable rows are quarantined and bad fields kept as invalid, both reported with "
            "row numbers in CSVs under $EKJON_HOME/reports; re-ingesting a file changes nothing, "
            "a changed row becomes a new version, an interrupted ingest resumes. Exit code 1 only "
            "for whole-file errors (bad mapping, missing file or column), never for bad rows."
        ),
        no_args_is_help=True,
    )(ingest)


def ingest(
    paths: Annotated[
        list[Path],
        typer.Argument(
            help="Data files, or directories of data files with a mapping beside each.",
            show_default=False,
        ),
    ],
    mapping: Annotated[
        Path | None,
        typer.Option(
            "--mapping",
            "-m",
            help="Mapping YAML for every file given (default: each file's own NAME.yaml).",
        ),
    ] = None,
    as_json: Annotated[
        bool,
        typer.Option("--json", help="Print a machine-readable summary (JSON) instead of tables."),
    ] = False,
    chunk_rows: Annotated[
        int,
        typer.Option(
            help="Rows per chunk at most (the first and last are smaller); each chunk is "
            "committed in one transaction.",
            min=1,
        ),
    ] = 20_000,
) -> None:
    """Ingest MIS files through their mappings."""
    from api.cli.options import ekjon_home
    from engine.ingest.files import pair_files
    from engine.ingest.run import ingest_file
    from engine.ingest.store import RecordStore

    out = Console()
    err = PrivateConsole(stderr=True, soft_wrap=True)
    plan = pair_files(paths, mapping)
    errors, skipped, jobs = plan.problems, plan.skipped, plan.files
    if not as_json:
        for e in errors:
            err.print(f"[red]not ingested[/red] {e['error']}", highlight=False)
        if skipped:
            err.print(f"skipped (no mapping beside them): {', '.join(skipped)}", highlight=False)

    home = ekjon_home()
    reports = []
    store: RecordStore | None = None
    if jobs:
        try:
            store = RecordStore(home.records)
        except EkjonError as exc:
            errors.append({"file": str(home.records), "error": str(exc)})
            if not as_json:
                err.print(f"[red]error[/red] {exc}", highlight=False)
    plan = _plan(store, jobs) if store is not None and len(jobs) > 1 else None
    for job in jobs:
        if store is None:
            break
        try:
            with _ProgressBar(err, job.data) as bar:
                report = ingest_file(
                    store, job.load_mapping(), job.data, progress=bar, chunk_rows=chunk_rows
                )
        except Exception as exc:  # one file's failure, whatever it is, is not the others'
            message = str(exc)
            if not isinstance(exc, EkjonError | OSError):
                logger.debug("ingest of %s failed", job.data, exc_info=True)
                message = (
                    f"{job.data}: could not be ingested ({type(exc).__name__}: {exc}); this is a "
                    "bug in ekjon, please report it"
                )
            errors.append({"file": str(job.data), "error": message})
            if not as_json:
                err.print(f"[red]not ingested[/red] {message}", highlight=False)
            continue
        reports.append(report)
        if not as_json:
            _print_report(out, store, report, counts=len(jobs) == 1)

    totals = {
        key: sum(getattr(r, key) for r in reports)
        for key in (
            "rows_read",
            "ingested",
            "unchanged",
            "new_versions",
            "quarantined",
            "field_warnings",
        )
    }
    if as_json:
        summary = {
            "store": str(home.records),
            "files": [r.to_dict() for r in reports],
            "errors": errors,
            "skipped": skipped,
            "totals": totals,
        }
        typer.echo(json.dumps(summary, ensure_ascii=False, indent=2))
    elif len(reports) > 1:
        _print_totals(out, reports, totals)
    if store is not None:
        if plan is not None:
            store.finish_plan(plan)
        store.close()
    if errors:
        raise typer.Exit(code=1)


def _plan(store: RecordStore, jobs: list[SourceFile]) -> int:
    """Tell the store which files are about to go in, so that a resolve after this command is
    killed half-way knows the files it never reached (RecordStore.plan_ingests)."""
    planned = []
    for job in jobs:
        try:
            planned.append((job.load_mapping().source, str(job.data)))
        except EkjonError:  # its error is reported when its turn comes
            continue
    return store.plan_ingests(planned)


class _ProgressBar:
    """A Rich progress bar for one file, shown only for big files on a terminal."""

    def __init__(self, console: Console, path: Path) -> None:
        try:
            big = path.stat().st_size >= PROGRESS_MIN_BYTES
        except OSError:
            big = False
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[rows]} rows"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=True,
            disable=not big or not console.is_terminal,
        )
        self._task = self._progress.add_task(path.name, total=None, rows=0)

    def __enter__(self) -> _ProgressBar:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def __call__(self, where: IngestProgress) -> None:
        self._progress.update(
            self._task, completed=where.position, total=where.total, rows=f"{where.rows_read:,}"
        )


def _print_report(out: Console, store: RecordStore, report: IngestReport, *, counts: bool) -> None:
    """One file's counts (unless the summary table will show them) and its first problems."""
    problems_found = report.quarantined or report.field_warnings
    if not counts and not problems_found and not report.resumed:
        return
    resumed = " (resumed an interrupted ingest)" if report.resumed else ""
    out.print(
        f"[bold]{Path(report.file).name}[/bold] -> source [bold]{report.source}[/bold]{resumed}",
        highlight=False,
    )
    if counts:
        _print_counts(out, report)
    _print_problems(out, store, report)
    out.print()


def _print_counts(out: Console, report: IngestReport) -> None:
    table = Table(show_header=False, box=None, padding=(0, 1, 0, 2))
    table.add_column(style="bold")
    table.add_column(justify="right")
    table.add_row("rows read", f"{report.rows_read:,}")
    table.add_row("new records", f"{report.ingested:,}")
    table.add_row("unchanged", f"{report.unchanged:,}")
    table.add_row("new versions", f"{report.new_versions:,}")
    table.add_row(
        "quarantined",
        _counted(report.quarantined, "red"),
        style="red" if report.quarantined else None,
    )
    table.add_row(
        "field warnings",
        _counted(report.field_warnings, "yellow"),
        style="yellow" if report.field_warnings else None,
    )
    out.print(table)


def _print_problems(out: Console, store: RecordStore, report: IngestReport) -> None:
    for kind, path, count in (
        ("quarantine", report.quarantine_report, report.quarantined),
        ("warnings", report.warnings_report, report.field_warnings),
    ):
        if not count:
            continue
        problems = Table(
            "row", "record_id", "field", "value", "reason", title_justify="left", box=None
        )
        problems.title = f"first {min(count, PROBLEMS_SHOWN)} of {count:,} " + (
            "quarantined rows" if kind == "quarantine" else "field warnings"
        )
        for p in islice(store.problems(report.ingest_id, kind), PROBLEMS_SHOWN):
            value = p.value or ""
            # the report file keeps the raw value (its purpose is correcting the source); the
            # screen shows identifiers masked unless --show-values
            problems.add_row(
                str(p.row),
                shown(p.record_id or ""),
                p.field or "",
                shown(value if len(value) <= 40 else value[:39] + "…"),
                shown(p.reason),
            )
        out.print(problems)
        out.print(f"  full report: {path}", highlight=False)


def _counted(n: int, colour: str) -> str:
    return f"[{colour}]{n:,}[/{colour}]" if n else "0"


def _print_totals(out: Console, reports: list[IngestReport], totals: dict[str, int]) -> None:
    table = Table(title="ingest summary", title_justify="left")
    table.add_column("file")
    table.add_column("source")
    for name in (
        "rows",
        "new",
        "unchanged",
        "new versions",
        "quarantined",
        "warnings",
        "s",
        "rows/s",
    ):
        table.add_column(name, justify="right")
    for r in reports:
        table.add_row(
            Path(r.file).name,
            r.source,
            *(
                f"{n:,}"
                for n in (
                    r.rows_read,
                    r.ingested,
                    r.unchanged,
                    r.new_versions,
                    r.quarantined,
                    r.field_warnings,
                )
            ),
            *_speed(r.rows_read, r.seconds),
        )
    seconds = sum(r.seconds for r in reports)
    table.add_row(
        "total",
        "",
        *(f"{n:,}" for n in totals.values()),
        *_speed(totals["rows_read"], seconds),
        style="bold",
    )
    out.print(table)


def _speed(rows: int, seconds: float) -> tuple[str, str]:
    """A file's time and rows a second, as the summary shows them."""
    return f"{seconds:.1f}", (f"{rows / seconds:,.0f}" if seconds > 0 else "-")
