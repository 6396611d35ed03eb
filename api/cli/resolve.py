"""``ekjon resolve``, ``ekjon export persons`` and ``ekjon evaluate``: the batch and its results."""

from __future__ import annotations

import json
import logging
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from api.cli.options import Backend

console = Console(stderr=True)
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
) -> None:
    """Resolve every ingested record into persons and households, and publish the graph.

    Person and household IDs stay stable across runs; every merge and split goes into the ledger
    (`ekjon review history ID`). Reviewers' decisions (`ekjon review same|not-same`) are obeyed.
    """
    from api.cli.options import ekjon_home
    from engine.errors import EkjonError
    from engine.run import run_batch
    from graph.neo4j.server import Neo4jServerError
    from graph.store import GraphStoreError

    logging.basicConfig(level=logging.WARNING)
    home = ekjon_home()
    store = None
    files = None  # a first load into ekjon's own, empty Neo4j goes through the offline importer
    try:
        if publish and backend is Backend.neo4j and _own_server_is_empty(home):
            from graph.neo4j import bulk

            files = bulk.import_files(home)
            console.print(
                "ekjon's own Neo4j database is empty: publishing through Neo4j's offline importer "
                "(a first load; later runs update it over Bolt)"
            )
        elif publish:
            from graph.open import open_store

            store = open_store(backend.value, home)
        with console.status("resolving") as status:
            report = run_batch(home, store or files, model_path=model, progress=status.update)
        if files is not None:
            with console.status("importing into Neo4j") as status:
                imported = bulk.load(home, files, check_empty=False, progress=status.update)
            bulk.remove(files)
            report.timings["neo4j import"] = sum(imported.seconds.values())
    except (EkjonError, GraphStoreError, Neo4jServerError, OSError) as error:
        console.print(f"[red]error:[/red] {error}")
        raise typer.Exit(1) from error
    finally:
        if store is not None:
            store.close()
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
    steps = ", ".join(f"{k} {v:.1f}s" for k, v in report.timings.items())
    out.print(f"timings: {steps}")
    if report.published:
        out.print(f"published into the {backend.value} graph store")


def _own_server_is_empty(home: Path) -> bool:
    """Whether ekjon's own Neo4j server for ``home`` runs, holding no node (not a user's own)."""
    import os

    from graph.neo4j import bulk, server

    if os.environ.get("EKJON_NEO4J_URI") or server.status(home) is None:
        return False
    try:
        bulk.check_empty_database(home)
    except bulk.NotEmpty:
        return False
    return True


export_app = typer.Typer(help="Export results of the last `ekjon resolve`.", no_args_is_help=True)


@export_app.command("persons")
def export_persons(
    out_file: Annotated[Path, typer.Option("--out", help="CSV file to write.")],
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
    import numpy as np
    import pandas as pd
    import pyarrow.parquet as pq

    from api.cli.options import ekjon_home
    from engine.errors import EkjonError
    from engine.quality.evaluate import error_pairs, evaluate_households, explain_errors
    from engine.quality.evaluate import evaluate as score
    from engine.quality.training import DEFAULT_ARTIFACT, load_model
    from engine.run import PAIRS_FILE, read_assignment, read_prepared, resolution_dir

    home = ekjon_home()
    try:
        assignment = read_assignment(home)
    except EkjonError as error:
        console.print(f"[red]error:[/red] {error}")
        raise typer.Exit(1) from error
    if not truth.exists():
        console.print(f"[red]error:[/red] no truth file at {truth}")
        raise typer.Exit(1)
    wanted = {"source", "record_id", "person_id", "household_id"}
    known = pd.read_csv(truth, dtype=str, usecols=lambda column: column in wanted)
    lacking = [c for c in ("source", "record_id", "person_id") if c not in known.columns]
    if lacking:
        console.print(
            f"[red]error:[/red] {truth} has no {', '.join(lacking)} column (columns: source, "
            "record_id, person_id[, household_id])"
        )
        raise typer.Exit(1)
    joined = assignment.merge(
        known.rename(columns={"person_id": "true_person", "household_id": "true_household"}),
        on=["source", "record_id"],
        how="left",
    )
    missing = int(joined["true_person"].isna().sum())
    if missing:
        console.print(f"[yellow]{missing:,} records have no truth; each counts as its own person")
    slices = {"bangla_only": joined["bangla_only"].fillna(False).to_numpy(dtype=bool)}
    for source in sorted(joined["source"].unique()):
        slices[f"source={source}"] = (joined["source"] == source).to_numpy()
    result = score(joined["person_id"], joined["true_person"], slices)
    summary = {
        "records": len(joined),
        "persons_true": result.persons_true,
        "persons_predicted": result.persons_predicted,
        "pairwise": asdict(result.pairwise),
        "bcubed": asdict(result.bcubed),
        "slices": result.slices.to_dict(orient="records"),
    }
    households = None
    if "true_household" in joined.columns and "household_id" in joined.columns:
        # a record is in the household of its person; a truth row without one is its own
        households = evaluate_households(joined["household_id"], joined["true_household"])
        summary["households"] = {
            "households_true": households.persons_true,
            "households_predicted": households.persons_predicted,
            "pairwise": asdict(households.pairwise),
            "bcubed": asdict(households.bcubed),
        }
    if errors is not None:
        keys = (joined["source"] + "/" + joined["record_id"]).to_numpy()
        index = pd.MultiIndex.from_arrays([joined["source"], joined["record_id"]])
        # records named by (source, record_id) and looked up as such: ten million pairs' keys
        # joined into strings would take gigabytes
        names = [f"{side}_{part}" for side in ("left", "right") for part in ("source", "record_id")]
        pairs = pq.read_table(resolution_dir(home) / PAIRS_FILE, read_dictionary=names).to_pandas()
        rows = {}
        for side in ("left", "right"):
            named = pd.MultiIndex.from_arrays(
                [pairs.pop(f"{side}_source"), pairs.pop(f"{side}_record_id")]
            )
            rows[side] = index.get_indexer(named)
        found = (rows["left"] >= 0) & (rows["right"] >= 0)
        scored = pd.DataFrame(
            {
                "left": rows["left"][found].astype(np.int64),
                "right": rows["right"][found].astype(np.int64),
                "probability": pairs["probability"].to_numpy()[found],
            }
        )
        wrong = error_pairs(
            joined["person_id"].to_numpy(), joined["true_person"].to_numpy(), scored
        )
        try:
            matcher = load_model(model or DEFAULT_ARTIFACT)
            prepared = read_prepared(home, joined[["source", "record_id"]])
        except EkjonError as error:
            console.print(f"[red]error:[/red] {error}")
            raise typer.Exit(1) from error
        used = pairs["model_version"].dropna().unique() if "model_version" in pairs else []
        version = getattr(matcher, "model_version", None)
        if len(used) and version not in used:
            console.print(
                f"[yellow]the last resolve scored with model {', '.join(map(str, used))}; the "
                f"errors are explained with {version}"
            )
        wrong = explain_errors(wrong, prepared, matcher)
        wrong.insert(0, "left_key", keys[wrong["left"].to_numpy()])
        wrong.insert(1, "right_key", keys[wrong["right"].to_numpy()])
        wrong = wrong.drop(columns=["left", "right"])
        wrong.to_csv(errors, index=False)
        summary["errors_file"] = str(errors)
        summary["errors"] = {str(k): int(v) for k, v in wrong["reason"].value_counts().items()}
        # the surest mistakes first: false merges scored highest, missed links scored lowest
        shown = pd.concat(
            [
                wrong[wrong["error"] == kind]
                .sort_values("probability", ascending=kind == "missed_link", kind="stable")
                .head(show)
                for kind in _ERROR_KINDS
            ]
        )
        fields = ("error", "reason", "probability", "for", "against", "cannot_link", "note")
        summary["error_examples"] = [
            {
                "left": row["left_key"],
                "right": row["right_key"],
                **{k: None if pd.isna(row[k]) else row[k] for k in fields},
            }
            for row in shown.to_dict(orient="records")
        ]
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


_ERROR_KINDS = ("false_merge", "missed_link")


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
        with RecordStore(ekjon_home() / "records.sqlite") as store:
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
    from engine.errors import EkjonError, InvalidValue
    from engine.incremental.resolver import IncrementalResolver
    from engine.normalise import clean
    from engine.quality.training import DEFAULT_ARTIFACT, load_model
    from engine.record import FIELD_KINDS, REQUIRED_FIELDS
    from engine.run import INCREMENTAL_DIR, resolution_dir

    try:
        raw = json.loads(record)
    except json.JSONDecodeError as error:
        console.print(f"[red]error:[/red] the record is not JSON: {error}")
        raise typer.Exit(1) from error
    if not isinstance(raw, dict):
        console.print("[red]error:[/red] the record must be a JSON object of field: value")
        raise typer.Exit(1)
    unknown = sorted(set(raw) - set(FIELD_KINDS))
    missing = [f for f in REQUIRED_FIELDS if not str(raw.get(f) or "").strip()]
    if unknown or missing:
        problems = [f"unknown field {name!r}" for name in unknown]
        problems += [f"required field {name!r} is empty" for name in missing]
        console.print(f"[red]error:[/red] {'; '.join(problems)}")
        raise typer.Exit(1)
    cleaned: dict[str, object] = {}
    for name, value in raw.items():
        try:
            cleaned[name] = clean(FIELD_KINDS[name], value, field=name)
        except InvalidValue as problem:
            console.print(f"[yellow]warning:[/yellow] {problem}; left out of matching")
    folder = resolution_dir(ekjon_home()) / INCREMENTAL_DIR
    try:
        resolver = IncrementalResolver.load(folder, load_model(DEFAULT_ARTIFACT))
        answer = resolver.resolve_one(cleaned)
    except (EkjonError, FileNotFoundError) as error:
        console.print(f"[red]error:[/red] {error} (run `ekjon resolve` first)")
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
