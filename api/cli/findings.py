"""`ekjon findings`: the analysts' questions to the identity graph; tables on screen, CSV out.

Every command reads the graph that resolution published (the embedded store under $EKJON_HOME by
default, or Neo4j with ``--backend neo4j``) and runs one query of :mod:`graph.queries`. The store is
opened for reading only (:func:`_store`): findings never change a file of it, and never answer from
a graph a publish left half-written.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from api.cli.options import Backend, PrivateConsole, share_file

if TYPE_CHECKING:
    import pandas as pd

    from graph.store import GraphStore

console = Console()
err_console = PrivateConsole(stderr=True)

findings_app = typer.Typer(
    name="findings",
    help="Ask the identity graph: programmes of a person, double dipping, suspicious wallets and "
    "phones, reference-registry checks, coverage, and a picture of any node's neighbourhood. "
    "Reads the graph `ekjon resolve` published (embedded store under $EKJON_HOME, or Neo4j with "
    "--backend neo4j). Whole-graph findings go to a CSV with --out; the top rows are shown.",
    no_args_is_help=True,
)


BackendOption = Annotated[
    Backend,
    typer.Option(
        "--backend",
        "-b",
        help="Graph store to read: the embedded one under $EKJON_HOME, or Neo4j (`ekjon neo4j "
        "start`, or EKJON_NEO4J_URI / _USER / _PASSWORD for your own server).",
    ),
]
OutOption = Annotated[
    Path | None,
    typer.Option(
        "--out", "-o", help="Write every finding to this CSV file (UTF-8).", dir_okay=False
    ),
]
WorldReadable = Annotated[
    bool,
    typer.Option(
        "--world-readable",
        help="Make the --out file readable by every user of this machine (default: yours only).",
    ),
]
ShowOption = Annotated[
    int, typer.Option("--show", help="How many rows to show on screen (0: none).", min=0)
]


def register(app: typer.Typer) -> None:
    """Add ``ekjon findings ...`` to the app."""
    app.add_typer(findings_app)


def _fail(message: str) -> typer.Exit:
    err_console.print(f"[red]error:[/red] {message}", highlight=False)
    return typer.Exit(code=1)


@contextmanager
def _store(backend: Backend) -> Iterator[GraphStore]:
    """The graph, opened for reading: the embedded store shared with other readers and never
    changed. A graph with a publish cut short (or running) is refused, unless the store can show
    the last complete one (the embedded store can), which is then said on stderr; a graph a
    publish began or ended in while it was read (Neo4j, another process) is refused too."""
    from api.cli.options import ekjon_home
    from graph.open import open_store
    from graph.store import GraphStoreError, require_complete

    try:
        store = open_store(backend.value, ekjon_home(), read_only=True)
    except GraphStoreError as error:
        raise _fail(str(error)) from None
    try:
        try:
            state = require_complete(store)
        except GraphStoreError as error:
            raise _fail(str(error)) from None
        if store.count("Record") == 0:
            if state.unfinished:
                raise _fail(
                    f"The {backend.value} graph holds no complete publish: {state.describe()}. "
                    "It was interrupted (or is still running); run `ekjon resolve` again to "
                    "finish it."
                )
            raise _fail(
                f"The {backend.value} graph is empty: resolve and publish records first "
                "(`ekjon resolve`)."
            )
        if state.unfinished:
            err_console.print(
                f"[yellow]warning:[/yellow] {state.describe()}. Showing the graph as it was "
                "before that publish began; run `ekjon resolve` again to finish it.",
                highlight=False,
            )
        try:
            yield store
        except GraphStoreError as error:  # the server lost mid-read, say
            raise _fail(str(error)) from None
        if store.publish_state().changes != state.changes:
            raise _fail(
                f"A publish began or ended in the {backend.value} graph while it was read; run "
                "the command again."
            )
    finally:
        store.close()


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float):
        return f"{value:.3f}".rstrip("0").rstrip(".") if value != int(value) else str(int(value))
    return str(value)


def _table(frame: pd.DataFrame, columns: list[str], title: str, show: int) -> None:
    if show == 0:
        return
    table = Table(title=title, title_justify="left", show_lines=False)
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in frame[columns].head(show).itertuples(index=False):
        table.add_row(*(_cell(v) for v in row))
    console.print(table)
    if len(frame) > show:
        console.print(f"... and {len(frame) - show} more", highlight=False)


def _write(frame: pd.DataFrame, out: Path | None, what: str, world_readable: bool) -> None:
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        frame.to_csv(out, index=False, encoding="utf-8")
        share_file(out, world_readable)
        console.print(f"{len(frame)} {what} written to {out}", highlight=False)
    else:
        console.print(f"{len(frame)} {what} (write them all with --out FILE.csv)", highlight=False)


def _cleaned_forms(value: str) -> list[str]:
    """The forms a raw value may take once cleaned (Bangla digits, +880, dashes ...)."""
    from engine.errors import InvalidValue
    from engine.normalise import clean_brn, clean_nid, clean_phone, to_ascii_digits

    raw = value.strip()
    forms = [raw, to_ascii_digits(raw)]
    if "/" not in raw and ":" not in raw:
        for clean in (clean_nid, clean_brn, clean_phone):
            try:
                forms.append(clean(raw))
            except InvalidValue:
                pass
    return list(dict.fromkeys(f for f in forms if f))


@findings_app.command("programmes")
def programmes(
    value: Annotated[
        str,
        typer.Argument(
            help="A person id, a record key (source/record_id), an NID in any form, a BRN, a "
            "mobile number or a wallet (provider:number); Bangla digits and +880 are fine.",
            show_default=False,
        ),
    ],
    backend: BackendOption = Backend.embedded,
    out: OutOption = None,
    world_readable: WorldReadable = False,
) -> None:
    """Every programme the person(s) behind VALUE receive, across all MISs, with the records and
    link scores that tie them."""
    from graph.queries import programmes_of

    with _store(backend) as store:
        for form in _cleaned_forms(value):
            answer = programmes_of(store, form)
            if answer.found:
                break
        if not answer.found:
            raise _fail(f"{value!r} names no person, record or identifier in the graph.")
    matched = ", ".join(f"{label} {node_id}" for label, node_id in answer.matched)
    console.print(f"[bold]{value}[/bold] is {matched}: {len(answer.persons)} person(s)")
    _table(
        answer.enrolments,
        ["person_id", "programme", "status", "since", "amount", "record_id", "tie", "links"],
        "Enrolments",
        100,
    )
    _table(
        answer.records,
        ["person_id", "record_id", "kind", "programme", "name", "via"],
        "Records",
        100,
    )
    if out is not None:
        _write(answer.enrolments, out, "enrolments", world_readable)


@findings_app.command("double-dipping")
def double_dipping_command(
    out: OutOption = None,
    world_readable: WorldReadable = False,
    policy: Annotated[
        Path | None,
        typer.Option(
            "--policy",
            help="Policy YAML (default: the shipped graph/policies/double_dipping-v1.yaml).",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
    backend: BackendOption = Backend.embedded,
    show: ShowOption = 20,
) -> None:
    """Persons and households holding programmes the policy says they may not hold together:
    cash cap, exclusive pairs, one per household, the same programme under two records."""
    from graph.policy import PolicyError, load_policy
    from graph.queries import double_dipping

    try:
        rules = load_policy(policy)
    except PolicyError as error:
        raise _fail(str(error)) from None
    with _store(backend) as store:
        found = double_dipping(store, rules)
    counts = found["rule"].value_counts().to_dict() if len(found) else {}
    console.print(
        f"policy {rules.label}: "
        + (", ".join(f"{n} {rule}" for rule, n in counts.items()) or "no findings"),
        highlight=False,
    )
    _table(
        found,
        ["person_id", "rule", "programmes", "record_ids", "tie"],
        "Double dipping",
        show,
    )
    _write(found, out, "findings", world_readable)


@findings_app.command("suspicious")
def suspicious(
    out: OutOption = None,
    world_readable: WorldReadable = False,
    min_risk: Annotated[
        float,
        typer.Option(
            "--min-risk", help="Only identifiers at or above this risk (0..1).", min=0, max=1
        ),
    ] = 0.5,
    backend: BackendOption = Backend.embedded,
    show: ShowOption = 20,
) -> None:
    """Wallets and phones used by several persons who are not one household, ranked by risk
    (household sharing is never listed; see graph/queries/suspicious.py for the score)."""
    from graph.queries import suspicious_identifiers

    with _store(backend) as store:
        found = suspicious_identifiers(store, min_risk=min_risk)
    _table(
        found,
        ["identifier_type", "identifier", "risk", "persons", "households", "reasons"],
        "Suspicious wallets and phones",
        show,
    )
    _write(found, out, "suspicious identifiers", world_readable)


@findings_app.command("reference-checks")
def reference_checks_command(
    out: OutOption = None,
    world_readable: WorldReadable = False,
    backend: BackendOption = Backend.embedded,
    show: ShowOption = 20,
) -> None:
    """Records that disagree with the reference registries: wallets not the beneficiary's own
    (MFS KYC), phones registered to another NID (BTRC), NIDs absent from the EC extract, BRNs
    BDRIS does not know or gives another date of birth."""
    from graph.queries import reference_checks

    with _store(backend) as store:
        found = reference_checks(store)
    for check in found.attrs.get("skipped", []):
        console.print(f"[yellow]skipped[/yellow] {check}: its registry is not in the graph")
    counts = found["check"].value_counts().to_dict() if len(found) else {}
    console.print(", ".join(f"{n} {check}" for check, n in counts.items()) or "no findings")
    _table(found, ["check", "record_id", "person_id", "identifier", "found", "expected"], "", show)
    _write(found, out, "findings", world_readable)


@findings_app.command("coverage")
def coverage_command(
    pmt_cutoff: Annotated[
        float,
        typer.Option(
            "--pmt-cutoff",
            help="Households with a PMT score below this are poor (lower PMT = poorer).",
            show_default=False,
        ),
    ],
    well_off_cutoff: Annotated[
        float | None,
        typer.Option(
            "--well-off-cutoff",
            help="Households at or above this are well off (default: --pmt-cutoff).",
        ),
    ] = None,
    out: OutOption = None,
    world_readable: WorldReadable = False,
    backend: BackendOption = Backend.embedded,
    show: ShowOption = 20,
) -> None:
    """Poor households (PMT below the cut-off) receiving nothing, and well-off households
    receiving a programme."""
    from graph.queries import coverage

    with _store(backend) as store:
        try:
            found = coverage(store, pmt_cutoff, well_off_cutoff=well_off_cutoff)
        except ValueError as error:
            raise _fail(str(error)) from None
    counts = found["finding"].value_counts().to_dict() if len(found) else {}
    console.print(", ".join(f"{n} {finding}" for finding, n in counts.items()) or "no findings")
    _table(
        found,
        ["household_id", "finding", "pmt_score", "members", "programmes", "district", "union"],
        "Coverage",
        show,
    )
    _write(found, out, "households", world_readable)


@findings_app.command("neighbourhood")
def neighbourhood_command(
    node: Annotated[
        str,
        typer.Argument(
            help="A person id, record key, NID, BRN, phone or wallet (as for `programmes`).",
            show_default=False,
        ),
    ],
    png: Annotated[
        Path,
        typer.Option(
            "--png", help="The picture to write (PNG).", dir_okay=False, show_default=False
        ),
    ],
    label: Annotated[
        str | None,
        typer.Option(
            "--label",
            help="The node's label if the id is ambiguous: Person, Record, NID, BRN, Phone, "
            "Account, Household, Programme, Source.",
        ),
    ] = None,
    depth: Annotated[int, typer.Option("--depth", help="Edges to walk out.", min=0)] = 2,
    limit: Annotated[int, typer.Option("--limit", help="At most this many nodes.", min=1)] = 150,
    backend: BackendOption = Backend.embedded,
) -> None:
    """Draw the graph around one node (records, persons, household, identifiers) to a PNG."""
    from graph.queries import draw_neighbourhood, neighbourhood
    from graph.queries.programmes import candidate_nodes
    from graph.schema import NODES

    if label is not None and label not in NODES:
        raise _fail(f"--label must be one of {', '.join(NODES)}; got {label!r}.")
    with _store(backend) as store:
        start = None
        for form in _cleaned_forms(node):
            options = [(label, form)] if label else candidate_nodes(form)
            start = next((c for c in options if store.node(*c) is not None), None)
            if start is not None:
                break
        if start is None:
            raise _fail(f"{node!r} names no node in the graph.")
        graph = neighbourhood(store, start[0], start[1], depth=depth, limit=limit)
    draw_neighbourhood(graph, png)
    truncated = " (truncated: raise --limit)" if graph.graph.get("truncated") else ""
    console.print(
        f"{start[0]} {start[1]}: {graph.number_of_nodes()} nodes, {graph.number_of_edges()} "
        f"edges drawn to {png}{truncated}",
        highlight=False,
    )
