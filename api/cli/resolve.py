"""``ekjon resolve``, ``ekjon export persons`` and ``ekjon evaluate``: the batch and its results."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from api.cli.options import Backend, PrivateConsole, share_file

console = PrivateConsole(stderr=True)
out = Console()


BackendOption = Annotated[
    Backend,
    typer.Option(
        "--backend",
        help="Graph store to publish into: the embedded networkx store under $EKJON_HOME/graph, "
        "or Neo4j (`ekjon neo4j start`, or EKJON_NEO4J_URI / _USER / _PASSWORD for your own).",
    ),
]


def resolve(
    backend: BackendOption = Backend.embedded,
    model: Annotated[
        Path | None,
        typer.Option(help="Match-model artifact (JSON). Default: the shipped default model."),
    ] = None,
    publish: Annotated[
        bool, typer.Option("--publish/--no-publish", help="Write the result into the graph store.")
    ] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON summary.")] = False,
    allow_partial: Annotated[
        bool,
        typer.Option(
            "--allow-partial",
            help="Resolve even if a source is partly ingested (an ingest killed, failed part-way "
            "or still running), with a warning; without it such a source stops the run.",
        ),
    ] = False,
) -> None:
    """Resolve every ingested record into persons and households, and publish the graph.

    Person and household IDs stay stable across runs; every merge and split goes into the ledger
    (`ekjon review history ID`). Reviewers' decisions (`ekjon review same|not-same`) are obeyed.
    """
    from api.cli.options import ekjon_home
    from engine.errors import EkjonError
    from engine.run import run_batch
    from graph.neo4j import bulk
    from graph.open import open_store

    logging.basicConfig(level=logging.WARNING)
    home = ekjon_home()
    store = None
    try:
        if publish and backend is Backend.neo4j and bulk.own_server_is_empty(home.root):
            console.print(
                "ekjon's own Neo4j database is empty: publishing through Neo4j's offline importer "
                "(a first load; later runs update it over Bolt)"
            )
            with console.status("resolving") as status:
                report, imported = bulk.first_load(
                    home.root,
                    lambda files: run_batch(
                        home,
                        files,
                        model_path=model,
                        progress=status.update,
                        allow_partial=allow_partial,
                    ),
                    stop_first=False,
                    progress=status.update,
                )
            report.timings["neo4j import"] = sum(imported.seconds.values())
        else:
            if publish:
                store = open_store(backend.value, home.root)
            with console.status("resolving") as status:
                report = run_batch(
                    home,
                    store,
                    model_path=model,
                    progress=status.update,
                    allow_partial=allow_partial,
                )
    except (EkjonError, OSError) as error:
        console.print(f"[red]error:[/red] {error}")
        raise typer.Exit(1) from error
    finally:
        if store is not None:
            store.close()
    for warning in report.warnings:
        console.print(f"[yellow]warning:[/yellow] {warning}", highlight=False)
    if as_json:
        out.print_json(json.dumps(report.to_dict()))
        return
    table = Table(title=f"ekjon resolve ({report.model_version})")
    table.add_column("what")
    table.add_column("count", justify="right")
    for name, value in (
        ("records", report.records),
        ("persons", report.persons),
        ("households", report.households),
        ("pairs scored", report.pairs_scored),
    ):
        table.add_row(name, f"{value:,}")
    for event, n in sorted(report.person_events.items()):
        table.add_row(f"ledger: {event}", f"{n:,}")
    out.print(table)
    coverage = report.blocking.get("source_pairs", [])
    if coverage:
        out.print(_coverage_table(coverage))
    steps = ", ".join(f"{k} {v:.1f}s" for k, v in report.timings.items())
    out.print(f"timings: {steps}")
    if report.published:
        out.print(f"published into the {backend.value} graph store")


def _coverage_table(source_pairs: list[dict[str, object]]) -> Table:
    """Blocking coverage per pair of sources: candidate pairs made and the rules that made them."""
    table = Table(title="blocking coverage per pair of sources")
    table.add_column("sources")
    table.add_column("pairs", justify="right")
    table.add_column("rules that fired (pairs)", overflow="fold")
    for row in source_pairs:
        rules = row["rules"]
        assert isinstance(rules, dict)
        fired = ", ".join(f"{name} {n:,}" for name, n in sorted(rules.items(), key=lambda x: -x[1]))
        table.add_row(f"{row['source_a']} x {row['source_b']}", f"{row['pairs']:,}", fired or "-")
    return table


export_app = typer.Typer(help="Export results of the last `ekjon resolve`.", no_args_is_help=True)


@export_app.command("persons")
def export_persons(
    out_file: Annotated[Path, typer.Option("--out", help="CSV file to write.")],
    world_readable: Annotated[
        bool,
        typer.Option(
            "--world-readable",
            help="Make the file readable by every user of this machine (default: yours only).",
        ),
    ] = False,
) -> None:
    """Write `source, record_id, person_id, household_id` for every resolved record."""
    from api.cli.options import ekjon_home
    from engine.errors import EkjonError
    from engine.run import read_assignment

    try:
        assignment = read_assignment(ekjon_home())
    except EkjonError as error:
        console.print(f"[red]error:[/red] {error}")
        raise typer.Exit(1) from error
    columns = ["source", "record_id", "person_id", "household_id"]
    out_file.parent.mkdir(parents=True, exist_ok=True)
    assignment[columns].to_csv(out_file, index=False)
    share_file(out_file, world_readable)
    out.print(f"{len(assignment):,} records -> {out_file}")


def evaluate(
    truth: Annotated[
        Path,
        typer.Option(
            help="Truth CSV with source, record_id, person_id (e.g. DIR/truth/records.csv "
            "from `ekjon synth`)."
        ),
    ],
    errors: Annotated[
        Path | None,
        typer.Option(
            help="Write the false merges and missed links here (CSV), each with its score, why "
            "it happened and each feature's contribution to the score."
        ),
    ] = None,
    show: Annotated[
        int,
        typer.Option(
            help="With --errors: how many false merges and how many missed links to print with "
            "their strongest reasons."
        ),
    ] = 5,
    model: Annotated[
        Path | None,
        typer.Option(help="Match-model artifact that explains the errors (default: the shipped)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the scores as JSON.")] = False,
) -> None:
    """Score the last resolve against ground truth: pairwise and B-cubed precision / recall / F1.

    Scores are given overall, per source and on records written only in Bangla script; --errors
    lists the false merges and missed links with their scores, why they happened and the features
    that pushed each pair's score up or down (as `ekjon explain A B` gives for one pair).
    """
    from api.cli.options import ekjon_home
    from engine.errors import EkjonError
    from engine.quality.last_run import evaluate_last_run

    try:
        report = evaluate_last_run(
            ekjon_home(), truth, errors=errors is not None, model=model, show=show
        )
    except EkjonError as error:
        console.print(f"[red]error:[/red] {error}")
        raise typer.Exit(1) from error
    result, households, summary = report.persons, report.households, report.summary
    if report.without_truth:
        console.print(
            f"[yellow]{report.without_truth:,} records have no truth; each counts as its own person"
        )
    if errors is not None and report.errors is not None:
        if report.scored_with and report.explained_with not in report.scored_with:
            console.print(
                f"[yellow]the last resolve scored with model {', '.join(report.scored_with)}; "
                f"the errors are explained with {report.explained_with}"
            )
        report.errors.to_csv(errors, index=False)
        summary["errors_file"] = str(errors)
    if as_json:
        out.print_json(json.dumps(summary, default=float))
        return
    table = Table(title=f"ekjon evaluate vs {truth}")
    for column in ("scores", "precision", "recall", "F1"):
        table.add_column(column, justify="right" if column != "scores" else "left")
    for name, s in (("pairwise", result.pairwise), ("B-cubed", result.bcubed)):
        table.add_row(name, f"{s.precision:.4f}", f"{s.recall:.4f}", f"{s.f1:.4f}")
    for row in result.slices.itertuples():
        table.add_row(
            f"{row.slice} ({row.records:,})",
            f"{row.pairwise_precision:.4f}",
            f"{row.pairwise_recall:.4f}",
            f"{row.pairwise_f1:.4f}",
        )
    if households is not None:
        for name, s in (
            ("households pairwise", households.pairwise),
            ("households B-cubed", households.bcubed),
        ):
            table.add_row(name, f"{s.precision:.4f}", f"{s.recall:.4f}", f"{s.f1:.4f}")
    out.print(table)
    out.print(
        f"persons: {result.persons_predicted:,} found, {result.persons_true:,} true "
        "(slice rows are pairwise)"
    )
    if households is not None:
        out.print(
            f"households: {households.persons_predicted:,} found, {households.persons_true:,} true"
        )
    if errors is not None:
        out.print(f"errors by reason: {summary['errors']} -> {errors}")
        if summary["error_examples"]:
            out.print(_error_table(summary["error_examples"]))


def _error_table(examples: list[dict[str, object]]) -> Table:
    """The listed errors, each with the features that pushed its score up and down most."""
    table = Table(title="errors and why", show_lines=True)
    table.add_column("error")
    table.add_column("records", overflow="fold")
    table.add_column("strongest contributions to the log-odds of a match")
    for e in examples:
        p = e["probability"]
        reasons = [x for x in str(e["for"] or "").split("; ") if x]
        reasons += [x for x in str(e["against"] or "").split("; ") if x]
        if e["cannot_link"]:
            reasons.append(f"cannot link: {e['cannot_link']}")
        table.add_row(
            f"{e['error']}\n{e['reason']}\np = {'-' if p is None else f'{p:.3f}'}",
            f"{e['left']}\n{e['right']}",
            "\n".join(reasons) or "-",
        )
    return table


def explain(
    left: Annotated[str, typer.Argument(help="A record key, source/record_id.")],
    right: Annotated[str, typer.Argument(help="Another record key, source/record_id.")],
    model: Annotated[
        Path | None, typer.Option(help="Match-model artifact (default: the shipped model).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the explanation as JSON.")] = False,
) -> None:
    """Explain why two records score as they do: each feature's contribution to the match score.

    Uses every current record for context (how common a name is, how many people use a phone),
    as the batch does.
    """
    from api.cli.options import ekjon_home
    from engine.errors import EkjonError
    from engine.ingest.store import RecordStore
    from engine.quality.training import DEFAULT_ARTIFACT, load_model
    from engine.resolve.explain import explain_pair

    try:
        with RecordStore(ekjon_home().records) as store:
            records = store.current()
        explanation = explain_pair(records, left, right, load_model(model or DEFAULT_ARTIFACT))
    except (EkjonError, KeyError, ValueError) as error:
        console.print(f"[red]error:[/red] {error}")
        raise typer.Exit(1) from error
    if as_json:
        out.print_json(json.dumps(explanation.to_dict(), default=str))
    else:
        out.print(explanation.to_text())


def match(
    record: Annotated[
        str,
        typer.Argument(
            help='One record as JSON with canonical field names, e.g. \'{"source": "dss", '
            '"record_id": "9", "full_name": "Md. Abdul Karim", "nid": "1990..."}\'.'
        ),
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print the answer as JSON.")] = False,
) -> None:
    """Resolve one new record against the persons of the last `ekjon resolve`, without a batch.

    Fields are cleaned as ingest cleans them; a field that cannot be read is reported and left
    out. Nothing is stored: the answer says which person the record belongs to (or that it is a
    new person), with the score and the explanation of the best link.
    """
    from api.cli.options import ekjon_home
    from engine.errors import EkjonError
    from engine.incremental import IncrementalResolver
    from engine.ingest.run import clean_record
    from engine.quality.training import DEFAULT_ARTIFACT, load_model

    try:
        raw = json.loads(record)
    except json.JSONDecodeError as error:
        console.print(f"[red]error:[/red] the record is not JSON: {error}")
        raise typer.Exit(1) from error
    if not isinstance(raw, dict):
        console.print("[red]error:[/red] the record must be a JSON object of field: value")
        raise typer.Exit(1)
    try:
        cleaned, problems = clean_record(raw)
    except EkjonError as error:
        console.print(f"[red]error:[/red] {error}")
        raise typer.Exit(1) from error
    for problem in problems:
        console.print(f"[yellow]warning:[/yellow] {problem}; left out of matching")
    folder = ekjon_home().incremental
    try:
        resolver = IncrementalResolver.load(folder, load_model(DEFAULT_ARTIFACT))
        answer = resolver.resolve_one(cleaned)
    except (EkjonError, FileNotFoundError) as error:
        hint = "" if "ekjon resolve" in str(error) else " (run `ekjon resolve` first)"
        console.print(f"[red]error:[/red] {error}{hint}", highlight=False)
        raise typer.Exit(1) from error
    if as_json:
        out.print_json(json.dumps(answer.to_dict(), default=str))
        return
    if answer.person_id is None:
        out.print(f"new person (best score {answer.probability:.3f})")
    else:
        out.print(f"person {answer.person_id} (p = {answer.probability:.3f})")
    if answer.explanation is not None:
        out.print(answer.explanation.to_text())


def register(app: typer.Typer) -> None:
    """Add `resolve`, `export`, `evaluate`, `explain` and `match` to the ekjon app."""
    app.command("resolve")(resolve)
    app.add_typer(export_app, name="export")
    app.command("evaluate")(evaluate)
    app.command("explain")(explain)
    app.command("match")(match)
