"""`ekjon review`: reviewers' decisions about pairs of records, and the history of a person's ID."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from api.cli.options import PrivateConsole, ekjon_home

console = Console()
err_console = PrivateConsole(stderr=True, soft_wrap=True)

review_app = typer.Typer(
    name="review",
    help="Reviewers' decisions: say that two records are (or are not) the same person. A decision "
    "outranks the model on every later `ekjon resolve`, is kept with who, why and when, and "
    "becomes a training label. A decision that contradicts those in force (A same B and B same "
    "C, then A not-same C) is refused, naming them: reverse the wrong one first. Records are "
    "named source/record_id (as `ekjon export persons` "
    "writes them). Decisions live in $EKJON_HOME/decisions.sqlite; person IDs and their history "
    "in $EKJON_HOME/identity.sqlite.",
    no_args_is_help=True,
)

MEMBERS_SHOWN = 6

RecordA = Annotated[
    str, typer.Argument(metavar="A", help="First record, source/record_id (e.g. dss/1234).")
]
RecordB = Annotated[str, typer.Argument(metavar="B", help="Second record, source/record_id.")]
Reason = Annotated[
    str,
    typer.Option("--reason", "-r", help="Why, in words an auditor will read later (required)."),
]
Reviewer = Annotated[
    str | None,
    typer.Option("--reviewer", help="Who decided (default: your login name)."),
]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def register(app: typer.Typer) -> None:
    """Add ``ekjon review`` to the app."""
    app.add_typer(review_app)


def _fail(message: str) -> typer.Exit:
    err_console.print(f"[red]error:[/red] {message}", highlight=False)
    return typer.Exit(code=1)


def _decide(a: str, b: str, verdict: str, reason: str, reviewer: str | None) -> None:
    from engine.errors import EkjonError
    from engine.review import decide

    try:
        decision, checked = decide(ekjon_home(), a, b, verdict, reason=reason, reviewer=reviewer)
    except EkjonError as exc:
        raise _fail(str(exc)) from None
    if not checked:
        err_console.print(
            "[yellow]note:[/yellow] no records ingested or resolved yet under "
            f"{ekjon_home()}; the record keys were not checked.",
            highlight=False,
        )
    words = "the same person" if decision.verdict == "same" else "not the same person"
    console.print(
        f"Recorded decision {decision.decision_id}: {decision.a} and {decision.b} are {words} "
        f"(by {decision.reviewer}: {decision.reason}). It applies from the next `ekjon resolve`.",
        highlight=False,
    )


@review_app.command("same")
def same(a: RecordA, b: RecordB, reason: Reason, reviewer: Reviewer = None) -> None:
    """Decide that two records are the same person (their persons join on the next resolve)."""
    _decide(a, b, "same", reason, reviewer)


@review_app.command("not-same")
def not_same(a: RecordA, b: RecordB, reason: Reason, reviewer: Reviewer = None) -> None:
    """Decide that two records are different persons (the next resolve keeps them apart)."""
    _decide(a, b, "not_same", reason, reviewer)


@review_app.command("list")
def list_decisions(
    show_all: Annotated[
        bool,
        typer.Option("--all", help="Every decision ever recorded, not only those in force."),
    ] = False,
    record: Annotated[
        str | None, typer.Option("--record", help="Only decisions about this record.")
    ] = None,
    as_json: AsJson = False,
) -> None:
    """List reviewers' decisions (by default the one in force for each pair)."""
    from engine.review import contradictions, decisions

    frame = decisions(ekjon_home(), record=record, every=show_all)
    for contradiction in contradictions(ekjon_home()):
        err_console.print(
            f"[yellow]warning:[/yellow] {contradiction}.",
            highlight=False,
        )
    if as_json:
        typer.echo(json.dumps(frame.to_dict(orient="records"), ensure_ascii=False, indent=1))
        return
    if frame.empty:
        console.print("No decisions recorded.")
        return
    table = Table(title="Reviewer decisions" + (" (all)" if show_all else " in force"))
    for column in ("#", "decided at", "verdict", "record A", "record B", "reviewer", "reason"):
        table.add_column(column, overflow="fold")
    for row in frame.itertuples(index=False):
        table.add_row(
            str(row.decision_id),
            row.decided_at[:16].replace("T", " "),
            row.verdict.replace("_", " "),
            row.a,
            row.b,
            row.reviewer,
            row.reason,
        )
    console.print(table)


@review_app.command("history")
def history(
    ident: Annotated[
        str,
        typer.Argument(
            metavar="PERSON_ID",
            help="A person ID (P...), a household ID (H...), or a record key source/record_id.",
        ),
    ],
    as_json: AsJson = False,
) -> None:
    """Show the ledger's events about a person ID: created, merged, split, retired.

    Each event names the records that moved, why, when, and under which model version.
    """
    from engine.errors import EkjonError
    from engine.review import id_history

    try:
        info, events = id_history(ekjon_home(), ident)
    except EkjonError as exc:
        raise _fail(str(exc)) from None
    if as_json:
        payload = {"id": info, "events": events.to_dict(orient="records")}
        typer.echo(json.dumps(payload, ensure_ascii=False, indent=1, default=str))
        return
    _print_info(ident, info)
    if events.empty:
        console.print("No events.")
        return
    table = Table(title=f"Ledger events about {ident}")
    for column in ("at", "run", "model", "event", "id", "from", "records", "reason"):
        table.add_column(column, overflow="fold")
    for row in events.itertuples(index=False):
        members = list(row.members)
        shown = ", ".join(members[:MEMBERS_SHOWN])
        if len(members) > MEMBERS_SHOWN:
            shown += f", ... ({len(members)} in all)"
        table.add_row(
            row.at[:16].replace("T", " "),
            str(row.run_id),
            row.model_version or "",
            row.event,
            row.id,
            row.other_id or "",
            shown,
            row.reason or "",
        )
    console.print(table)


def _print_info(ident: str, info: dict[str, Any]) -> None:
    if "record" in info:
        now = info["person_id"] or "no person (not in the last resolve)"
        console.print(f"Record {ident}: now {now}.", highlight=False)
        return
    state = f"in use, {info['members']} member(s)"
    if info["retired_run"] is not None:
        state = f"retired in run {info['retired_run']}"
        if info["merged_into"]:
            state += f", merged into {info['merged_into']} (now {info['current_id']})"
    console.print(f"{ident}: created in run {info['created_run']}; {state}.", highlight=False)
