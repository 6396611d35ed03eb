"""``ekjon demo``: the main job end to end on the embedded store, on a small synthetic world."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

out = Console()


def demo(
    persons: Annotated[int, typer.Option(help="Persons in the synthetic world.")] = 5000,
    seed: Annotated[int, typer.Option(help="Seed of the synthetic world.")] = 2026,
    world: Annotated[
        Path | None,
        typer.Option(help="Folder for the world's files (default: $EKJON_HOME/demo-world)."),
    ] = None,
    pmt_cutoff: Annotated[
        float, typer.Option(help="PMT score below which a household counts as poor.")
    ] = 30.0,
) -> None:
    """Run the main job on a small synthetic world: synth, ingest, resolve, score, ask.

    Synthesises a world, ingests every source, resolves it into the embedded graph store, scores
    the result against the world's ground truth and prints the headline findings (double dipping,
    suspicious wallets and phones, poor households left out). Everything lands in $EKJON_HOME
    (default ./.ekjon).
    """
    from api.cli.options import ekjon_home, err_console
    from ekjon.errors import EkjonError
    from engine.ingest.run import ingest_folder
    from engine.ingest.store import RecordStore
    from engine.quality.evaluate import evaluate
    from engine.run import read_assignment, run_batch
    from graph.open import open_store
    from graph.queries import (
        GraphTables,
        coverage,
        double_dipping,
        evaluate_findings,
        suspicious_identifiers,
    )
    from graph.store import require_complete
    from synth import WorldParameters, generate_world

    logging.basicConfig(level=logging.ERROR)
    home = ekjon_home()
    home.root.mkdir(parents=True, exist_ok=True)
    folder = world or home.root / "demo-world"

    with out.status(f"synthesising a world of {persons:,} persons in {folder}"):
        generate_world(WorldParameters(persons=persons, seed=seed), folder)
    out.print(f"[bold]1. synth[/bold]  world of {persons:,} persons (seed {seed}) in {folder}")

    with RecordStore(home.records) as store, out.status("ingesting") as status:
        reports = ingest_folder(
            store,
            folder,
            reports_dir=home.reports,
            starting=lambda source: status.update(f"ingesting {source.data.name}"),
        )
    rows = sum(r.rows_read for r in reports)
    quarantined = sum(r.quarantined for r in reports)
    warnings = sum(r.field_warnings for r in reports)
    out.print(
        f"[bold]2. ingest[/bold] {rows:,} rows read, {quarantined:,} quarantined, "
        f"{warnings:,} field warnings (reports in {home.reports})"
    )

    try:
        with open_store("embedded", home) as graph, out.status("resolving") as status:
            batch = run_batch(home, graph, progress=status.update)
    except EkjonError as error:  # a full disk, a store another process holds, a damaged file
        err_console.print(f"[red]error:[/red] {error}", highlight=False)
        raise typer.Exit(1) from None
    out.print(
        f"[bold]3. resolve[/bold] {batch.records:,} records -> {batch.persons:,} persons in "
        f"{batch.households:,} households ({batch.pairs_scored:,} pairs scored, model "
        f"{batch.model_version}, {batch.timings['total']:.1f} s)"
    )

    import pandas as pd

    truth = pd.read_csv(folder / "truth" / "records.csv", dtype=str)
    joined = read_assignment(home).merge(truth, on=["source", "record_id"], how="left")
    scores = evaluate(
        joined["person_id_x"],
        joined["person_id_y"],
        {"bangla_only": joined["bangla_only"].fillna(False).to_numpy(dtype=bool)},
    )
    bangla = scores.slices.iloc[0]
    out.print(
        f"[bold]4. accuracy[/bold] vs ground truth: pairwise P {scores.pairwise.precision:.4f} "
        f"R {scores.pairwise.recall:.4f} F1 {scores.pairwise.f1:.4f}; B-cubed F1 "
        f"{scores.bcubed.f1:.4f}; Bangla-only records recall {bangla.pairwise_recall:.4f}"
    )

    # The world's truth counts enrolments of every status, the policy only active ones: score the
    # query against the truth with every status counted, so like is compared with like.
    from dataclasses import replace

    from graph.policy import load_policy

    try:  # read as `ekjon findings` reads: sharing the store, and only a complete publish
        with open_store("embedded", home, read_only=True) as graph:
            require_complete(graph)
            with out.status("asking the graph"):
                tables = GraphTables(graph)
                dips = double_dipping(graph, tables=tables)
                risky = suspicious_identifiers(graph, tables=tables)
                left_out = coverage(graph, pmt_cutoff, tables=tables)
            statuses = frozenset(
                graph.nodes("Record", ["status"])["status"].dropna().astype(str).str.lower()
            )
            every_status = replace(load_policy(), active_statuses=statuses | {"active"})
            dips_every_status = double_dipping(graph, every_status)
    except EkjonError as error:
        err_console.print(f"[red]error:[/red] {error}", highlight=False)
        raise typer.Exit(1) from None
    dip_truth = pd.read_csv(folder / "truth" / "double_dipping.csv", dtype=str)
    sus_truth = pd.read_csv(folder / "truth" / "suspicious_identifiers.csv", dtype=str)
    dip_score = evaluate_findings(dips_every_status, dip_truth)
    sus_score = evaluate_findings(risky, sus_truth, on=["identifier_type", "identifier"])
    out.print("[bold]5. findings[/bold]")
    table = Table()
    for column in ("question", "found", "precision", "recall"):
        table.add_column(column, justify="left" if column == "question" else "right")
    table.add_row(
        "double dipping (policy rules, active enrolments)",
        f"{len(dips):,}",
        f"{dip_score.precision:.3f}",
        f"{dip_score.recall:.3f}",
    )
    table.add_row(
        "suspicious wallets / phones",
        f"{len(risky):,}",
        f"{sus_score.precision:.3f}",
        f"{sus_score.recall:.3f}",
    )
    poor = int((left_out["finding"] == "poor_not_covered").sum()) if len(left_out) else 0
    table.add_row(f"poor households (PMT < {pmt_cutoff:g}) receiving nothing", f"{poor:,}", "", "")
    out.print(table)
    out.print(
        "precision / recall against the world's planted cases; double dipping is scored with "
        "every enrolment status counted, as the truth file counts them"
    )
    if len(risky):
        top = risky.head(5)
        shown = Table(title="riskiest wallets and phones")
        for column in ("identifier_type", "identifier", "risk", "persons", "reasons"):
            shown.add_column(column)
        for row in top.itertuples():
            shown.add_row(
                str(row.identifier_type),
                str(row.identifier),
                f"{row.risk:.2f}",
                str(row.persons),
                str(row.reasons),
            )
        out.print(shown)
    out.print(
        "Next: `ekjon findings --help` for every question, `ekjon export persons --out p.csv`, "
        "`ekjon evaluate --truth DIR/truth/records.csv`."
    )


def register(app: typer.Typer) -> None:
    """Add `demo` to the ekjon app."""
    app.command("demo")(demo)
