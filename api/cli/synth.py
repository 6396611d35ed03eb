"""`ekjon synth`: write a synthetic Bangladesh world (MIS files, mappings and ground truth)."""

from __future__ import annotations

import json
import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table


class Shapes(StrEnum):
    """How the sources are laid out (see synth/shapes.py)."""

    default = "default"
    varied = "varied"


_STEP_LABELS = {
    "population": "drawing households, persons, names and identifiers",
    "enrolment": "enrolling programmes, planting fraud",
    "bbs_nhd": "writing the BBS household survey",
    "references": "writing the reference registries (EC, BTRC, MFS KYC, BDRIS)",
    "truth": "writing the ground truth",
}

_HELP = (
    "Write a synthetic Bangladesh world for testing and demos: households and persons with "
    "true identities, the programme MISs that enrol them, the BBS household survey and the "
    "reference registries, each a data file with its mapping YAML beside it (ingest the "
    "folder with `ekjon ingest DIR`), plus the ground truth.\n\n"
    "Sources: dss_old_age.csv, dss_widow.csv, dss_disability.jsonl, dwa_mcb.csv (Bangla names "
    "only), pesp_stipend.parquet, egpp_workers.csv (an Excel list: heavy typos, ages only), "
    "vgd_food.csv (';'-separated), molwa_ff.csv, bbs_nhd.csv (survey), and the references "
    "ec_nid.csv, btrc_sim.csv, mfs_kyc.csv, bdris.csv.\n\n"
    "Every MIS writes names its own way (romanisation variants, Md./Mst. written or dropped, "
    "typos, swapped order, Bangla script), its own date and NID forms, and carries the hard "
    "cases: household-shared phones and wallets, sons named after fathers, twins, 1 January "
    "birthdays, day/month swaps, birth years shifted to qualify, NID typos, missing and a few "
    "invalid values. Planted fraud: double dippers (old age + widow, more than 3 cash "
    "programmes, two old-age allowances in one household, ghost duplicates), agent wallets and "
    "phone farms.\n\n"
    "Truth in DIR/truth: records.csv (source, record_id, person_id, household_id, tags), "
    "persons.csv, double_dipping.csv, suspicious_identifiers.csv, shared_identifiers.csv; "
    "counts and parameters in DIR/world.json. The same --seed gives byte-identical files."
)


def register(app: typer.Typer) -> None:
    """Add ``ekjon synth`` to the app."""
    app.command("synth", help=_HELP, no_args_is_help=True)(synth)


def synth(
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            "-o",
            help="Folder to write the world to (created if missing).",
            show_default=False,
        ),
    ],
    persons: Annotated[
        int,
        typer.Option("--persons", "-n", min=100, help="How many persons the world has (exactly)."),
    ] = 10_000,
    seed: Annotated[
        int, typer.Option("--seed", "-s", help="Random seed; the same seed gives the same files.")
    ] = 0,
    districts: Annotated[
        int | None,
        typer.Option(
            "--districts",
            min=1,
            max=64,
            help="How many real districts the world spreads over "
            "(default: persons / 25,000, 2 to 64).",
            show_default=False,
        ),
    ] = None,
    shapes: Annotated[
        Shapes,
        typer.Option(
            "--shapes",
            help="default: every source in ekjon's own layout; varied: each source re-cut with "
            "its own column names, subset of fields, vocabulary and formats (geography at one "
            "level, ages for dates, split name columns, relations as words, addresses and "
            "postcodes), as real exports "
            "differ.",
        ),
    ] = Shapes.default,
    shape_seed: Annotated[
        int,
        typer.Option("--shape-seed", help="With --seed, decides the varied shapes."),
    ] = 0,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print world.json's summary (JSON) instead of tables.")
    ] = False,
) -> None:
    """Write a synthetic world to OUT."""
    from synth import STEPS, WorldParameters, generate_world

    console = Console(stderr=as_json)
    params = WorldParameters(
        persons=persons,
        seed=seed,
        districts=districts,
        shapes=Shapes(shapes).value,
        shape_seed=shape_seed,
    )
    started = time.perf_counter()
    with Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=as_json,
    ) as progress:
        task = progress.add_task(f"{persons:,} persons, seed {seed}", total=len(STEPS))
        seen: list[str] = []

        def on_step(step: str) -> None:
            if seen:
                progress.advance(task)
            seen.append(step)
            label = _STEP_LABELS.get(step, f"writing {step}")
            progress.update(task, description=label)

        summary = generate_world(params, out, progress=on_step)
        progress.update(task, completed=len(STEPS), description=f"done: {out}")
    seconds = time.perf_counter() - started

    world = json.loads((out / "world.json").read_text(encoding="utf-8"))
    if as_json:
        typer.echo(
            json.dumps(
                {
                    k: world[k]
                    for k in (
                        "seed",
                        "persons",
                        "households",
                        "records",
                        "sources",
                        "planted",
                        "violations",
                        "suspicious_identifiers",
                    )
                },
                indent=2,
            )
        )
        return

    table = Table(title=f"Sources written to {out}", show_lines=False)
    table.add_column("source")
    table.add_column("file")
    table.add_column("kind")
    table.add_column("records", justify="right")
    for name, info in world["sources"].items():
        table.add_row(name, info["file"], info["kind"], f"{info['records']:,}")
    table.add_row("", "", "[bold]total", f"[bold]{summary.total_records:,}")
    console.print(table)

    planted = Table(title="Planted (see truth/)")
    planted.add_column("case")
    planted.add_column("count", justify="right")
    for case, count in summary.planted.items():
        planted.add_row(case, str(count))
    for rule, count in summary.violations.items():
        planted.add_row(f"rule breached: {rule} (persons)", str(count))
    for kind, count in summary.suspicious.items():
        planted.add_row(f"suspicious identifiers: {kind}", str(count))
    for kind, count in summary.shared.items():
        planted.add_row(f"household-shared {kind}s (benign)", f"{count:,}")
    console.print(planted)
    console.print(
        f"{summary.persons:,} persons in {summary.households:,} households, "
        f"{summary.total_records:,} records in {seconds:.1f} s "
        f"({summary.persons / seconds:,.0f} persons/s)."
    )
    if summary.unplanted:
        console.print(
            f"[yellow]warning: {summary.unplanted} identifiers are shared across households "
            "without being planted"
        )
