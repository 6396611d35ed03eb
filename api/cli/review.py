"""`ekjon review`: reviewers' decisions about pairs of records, and the history of a person's ID."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from engine.resolve.decisions import DecisionStore

console = Console()
err_console = Console(stderr=True, soft_wrap=True)

review_app = typer.Typer(
    name="review",
    help="Reviewers' decisions: say that two records are (or are not) the same person. A decision "
    "outranks the model on every later `ekjon resolve`, is kept with who, why and when, and "
    "becomes a training label. Records are named source/record_id (as `ekjon export persons` "
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


def _home() -> Path:
    from api.cli.options import ekjon_home

    return ekjon_home()


def _fail(message: str) -> typer.Exit:
    err_console.print(f"[red]error:[/red] {message}", highlight=False)
    return typer.Exit(code=1)


class _KnownRecords:
    """Record keys known to the record store or to the last resolve (looked up one at a time)."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.checked = False

    def __contains__(self, key: object) -> bool:
        from engine.identity.ledger import LEDGER_FILE, IdentityLedger
        from engine.ingest.store import RecordStore

        source, _, record_id = str(key).partition("/")
        records_file = self.home / "records.sqlite"
        if records_file.exists():
            self.checked = True
            with RecordStore(records_file) as store:
                if any(v.is_current for v in store.history(source, record_id)):
                    return True
        ledger_file = self.home / LEDGER_FILE
        if ledger_file.exists():
            self.checked = True
            with IdentityLedger(ledger_file) as ledger:
                if ledger.id_of(str(key)) is not None:
                    return True
        return not self.checked  # nothing to check against: accept


def _decisions() -> DecisionStore:
    from engine.resolve.decisions import DECISIONS_FILE, DecisionStore

    return DecisionStore(_home() / DECISIONS_FILE)


def _decide(a: str, b: str, verdict: str, reason: str, reviewer: str | None) -> None:
    from engine.errors import EkjonError

    known = _KnownRecords(_home())
    try:
        with _decisions() as store:
            decision = store.record(
                a, b, verdict, reviewer=reviewer, reason=reason, known_keys=known
            )
    except EkjonError as exc:
        raise _fail(str(exc)) from None
    if not known.checked:
        err_console.print(
            "[yellow]note:[/yellow] no records ingested or resolved yet under "
            f"{_home()}; the record keys were not checked.",
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
    with _decisions() as store:
        frame = store.history(record) if show_all or record else store.current()
        if record and not show_all:
            current_ids = set(store.current()["decision_id"])
            frame = frame[frame["decision_id"].isin(current_ids)]
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
    from engine.identity.ledger import LEDGER_FILE, IdentityLedger, is_valid_id

    is_record = "/" in ident
    if not is_record and not is_valid_id(ident):
        raise _fail(
            f"{ident!r} is not a person or household ID (P or H, 10 digits, the last a check "
            "digit) nor a record key (source/record_id); check for a typo."
        )
    path = _home() / LEDGER_FILE
    if not path.exists():
        raise _fail(f"No identity ledger at {path}: run `ekjon resolve` first.")
    with IdentityLedger(path) as ledger:
        if is_record:
            events = ledger.record_history(ident, with_members=True)
            info: dict[str, Any] | None = {"record": ident, "person_id": ledger.id_of(ident)}
        else:
            info = ledger.info(ident)
            if info is None:
                raise _fail(f"{ident} was never issued by this ledger ({path}).")
            info["current_id"] = ledger.current_id(ident)
            events = ledger.history(ident)
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


def _print_info(ident: str, info: dict[str, Any] | None) -> None:
    if info is None:
        return
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
