"""Publishing: resolved records written into the identity graph, ready for the analysts' questions.

:func:`publish` takes the canonical records (``RecordStore.current()``), the resolver's assignment
of records to persons and households, and its scored links, and writes them into any
:class:`~graph.store.GraphStore` following :mod:`graph.schema`:

- a ``Record`` node per record (its canonical fields as properties), ``FROM`` its ``Source``,
  ``ENROLLED_IN {status, since, amount}`` its ``Programme`` (catalogue name, cash flag and kind from
  the policy file);
- the identifiers it gives, as shared nodes it ``HAS``: ``NID`` (node id the 13-digit core for 13-
  and 17-digit NIDs, the 10 digits for smart-card NIDs; ``form`` ``"13"`` / ``"10"``; the edge keeps
  the form the source wrote), ``BRN``, ``Phone`` (``operator``) and ``Account``
  (``provider:number``; ``provider``, ``number`` and, for wallets, the ``phone`` behind it);
- ``Record-OF->Person``, ``Person-MEMBER_OF{relation}->Household``, ``Record-SAME_AS{probability,
  model_version}->Record`` for links at or above ``min_link_probability``;
- from the reference registries: ``Account-KYC_OWNER->NID`` (MFS KYC extract), ``Phone-
  REGISTERED_TO->NID`` (BTRC SIM registration), ``NID-SAME_NID->NID`` (EC extract giving a smart
  number beside the 13/17-digit one). Which registry a reference source is comes from its fields
  (a KYC row has a wallet and an NID, a BTRC row a phone and an NID, an EC row two NID forms or an
  NID and names, a BDRIS row a BRN and no NID), or from ``registries``.

Households: the resolver's ``household_id`` where it gives one; for a person it gives none, the
households the person's records name (``source/household_id``), so that household sharing of phones
and wallets is recognised before the resolver groups households itself (``source_households``).

Publishing again after a re-run is idempotent and moves what moved: ``OF`` and ``MEMBER_OF`` edges
are re-pointed with :meth:`~graph.store.GraphStore.replace_edges_from`; when the graph already held
records, identifier, enrolment, source and link edges the new data no longer has are deleted, and
persons and households left without records or members are removed.

A partial publish (``complete=False``: the API adds a record) prunes only the edges out of its own
records and the persons it leaves without records; persons, households, sources and programmes
already in the graph keep their properties, which sum over records it does not see. It writes
what publishing its records one at a time, in order, would: a person (or source) new to the graph
is made from its first record, and belongs to the household that record names
(``source_households``); a later record of that person, or one of a person the graph holds, adds
no household.

Records stream through in chunks: each chunk's rows are generated once and handed to the store,
which writes them in its own batches.

For a national first load into ekjon's own Neo4j server, the same call writes into a
:class:`~graph.store.GraphWriter` instead of a store, column by column (no row dicts): a
:class:`graph.neo4j.bulk.ImportFiles` makes the graph Neo4j's offline importer's CSV files, which
:func:`graph.neo4j.bulk.load` then imports (``ekjon neo4j import``).

Example
-------
>>> from graph.embedded import EmbeddedStore                       # doctest: +SKIP
>>> with EmbeddedStore(home / "graph") as store:                    # doctest: +SKIP
...     report = publish(store, records, assignment, links)
...     print(report.summary())
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ekjon.collector import cycle_collection_paused
from engine.errors import EkjonError
from engine.ingest.registries import REGISTRIES, detect_registries
from engine.normalise import account_phone, nid_core
from engine.publish_persons import _persons_and_households, _text
from engine.record import CANONICAL_FIELDS
from engine.resolve.prepare import map_distinct
from graph.policy import Policy, load_policy
from graph.schema import account_id
from graph.store import GraphStore, GraphWriter, TableStore

__all__ = [
    "MIN_LINK_PROBABILITY",
    "REGISTRIES",
    "PublishError",
    "PublishReport",
    "detect_registries",
    "publish",
]

log = logging.getLogger(__name__)

#: Role of each identifier on its ``HAS`` edge.
_ROLES: Final = {"NID": "identity", "BRN": "identity", "Phone": "contact", "Account": "payment"}
_OPERATORS: Final = {
    "3": "grameenphone",
    "7": "grameenphone",
    "4": "banglalink",
    "9": "banglalink",
    "6": "robi",
    "8": "robi",
    "5": "teletalk",
}
_NID_LENGTHS: Final = (10, 13, 17)
#: Scored pairs below this probability are not written as links (an absent link reads as
#: "distinct"): publish's default.
MIN_LINK_PROBABILITY: Final = 0.1
#: A column a chunk lacks: no values.
_NONE: Final = pd.Series([], dtype=object)
#: Labels whose properties sum over many records: a partial publish writes only new ones.
_AGGREGATES: Final = frozenset({"Source", "Programme", "Person", "Household"})

Progress = Callable[[str, int, int], None]
"""``progress(stage, done, total)``: called as each stage advances."""


class PublishError(EkjonError):
    """Publishing cannot start: the records or the assignment lack what it needs."""


@dataclass
class PublishReport:
    """What :func:`publish` wrote.

    Attributes
    ----------
    records, persons, households, sources, programmes:
        Nodes written of each kind.
    identifiers:
        Identifier nodes written, per label (``NID``, ``BRN``, ``Phone``, ``Account``).
    edges:
        Edges written, per edge type.
    pruned:
        Stale edges and orphan nodes removed on a re-publish, per edge type / label.
    unassigned:
        Records the assignment gives no person (written without an ``OF`` edge).
    unknown_programmes:
        Programme codes the policy's catalogue does not list.
    registries:
        Reference source -> registry it was read as.
    seconds:
        Wall-clock time of the whole publish.
    """

    records: int = 0
    persons: int = 0
    households: int = 0
    sources: int = 0
    programmes: int = 0
    identifiers: dict[str, int] = field(default_factory=dict)
    edges: dict[str, int] = field(default_factory=dict)
    pruned: dict[str, int] = field(default_factory=dict)
    unassigned: int = 0
    unknown_programmes: list[str] = field(default_factory=list)
    registries: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def records_per_second(self) -> float:
        """Records published per second of wall-clock time."""
        return self.records / self.seconds if self.seconds > 0 else float("nan")

    def summary(self) -> str:
        """One line for logs and the console."""
        ids = ", ".join(f"{n} {label}" for label, n in self.identifiers.items())
        return (
            f"{self.records} records, {self.persons} persons, {self.households} households, "
            f"{ids}, {sum(self.edges.values())} edges in {self.seconds:.1f} s "
            f"({self.records_per_second:,.0f} records/s)"
        )

    def _add(self, what: dict[str, int], name: str, n: int) -> None:
        what[name] = what.get(name, 0) + n


# --- input checks ---------------------------------------------------------------------------------


def _keys(frame: pd.DataFrame, what: str) -> pd.Series:
    for column in ("source", "record_id"):
        if column not in frame.columns:
            raise PublishError(
                f"The {what} have no {column!r} column; they need 'source' and 'record_id' "
                f"(columns found: {', '.join(map(str, frame.columns))})."
            )
    source, record_id = _text(frame["source"]), _text(frame["record_id"])
    bad = source.isna() | record_id.isna()
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise PublishError(
            f"The {what} have {int(bad.sum())} rows without a source or record_id (first at row "
            f"{row}); every record needs both."
        )
    return source + "/" + record_id


def _rows(
    columns: Mapping[str, Iterable[Any]], drop_missing: bool = False
) -> Iterator[dict[str, Any]]:
    """Row dicts from parallel column sequences (generated lazily, once).

    With ``drop_missing``, missing values (None, NaN, pd.NA) are left out of the rows instead of
    being sent as removals: right for nodes that are new, and much less work for the store.
    """
    names = list(columns)
    lists = (c.tolist() if isinstance(c, pd.Series | np.ndarray) else c for c in columns.values())
    values = zip(*lists, strict=True)
    if not drop_missing:
        for row in values:
            yield dict(zip(names, row, strict=True))
        return
    na = pd.NA
    for row in values:
        yield {
            k: v
            for k, v in zip(names, row, strict=True)
            if v is not None and v is not na and not (type(v) is float and v != v)
        }


def _in_set(values: np.ndarray, members: set[Any]) -> np.ndarray:
    """Which of ``values`` are in ``members``, as a bool array (hash lookups, no conversion)."""
    return np.fromiter(map(members.__contains__, values), dtype=bool, count=len(values))


class _Columns(dict):
    """Parallel columns (name -> values) of one write, kept as columns until a store needs rows."""


# --- the publish ----------------------------------------------------------------------------------


class _Publisher:
    def __init__(
        self,
        store: GraphStore | GraphWriter,
        policy: Policy,
        progress: Progress | None,
        report: PublishReport,
    ) -> None:
        self.store = store
        self.policy = policy
        self.progress = progress or (lambda stage, done, total: None)
        self.report = report
        self.seen: dict[str, set[str]] = {label: set() for label in _ROLES}
        self.fresh = False
        self.partial = False

    # nodes and edges ---------------------------------------------------------------------------

    def rows(self, columns: Mapping[str, Iterable[Any]]) -> _Columns:
        """One write's parallel columns: rows for a store, or columns as they are for the importer.

        Missing values are dropped from store rows when the graph had no records before.
        """
        return _Columns(columns)

    def _store_rows(self, data: _Columns | Iterable[Mapping[str, Any]]) -> Iterable[Mapping]:
        return _rows(data, drop_missing=self.fresh) if isinstance(data, _Columns) else data

    def nodes(
        self, label: str, data: _Columns | Iterable[Mapping[str, Any]], new: bool = False
    ) -> int:
        """Write nodes; ``new``: the caller knows the graph lacks them (no look-up)."""
        if isinstance(self.store, GraphWriter):
            columns = data if isinstance(data, _Columns) else pd.DataFrame(list(data))
            return self.store.add_nodes(label, columns)
        rows = self._store_rows(data)
        if self.partial and label in _AGGREGATES and not new:  # only the new: see the docstring
            rows = list(rows)
            have = set(self.store.nodes(label, ["id"], ids=[r["id"] for r in rows])["id"])
            rows = [r for r in rows if r["id"] not in have]
        return self.store.merge_nodes(label, rows)

    def edges(
        self,
        edge_type: str,
        from_label: str,
        to_label: str,
        data: _Columns | Iterable[Mapping[str, Any]],
        replace: bool = False,
    ) -> int:
        if isinstance(self.store, GraphWriter):
            n = self.store.add_edges(edge_type, from_label, to_label, data)
        else:
            # on a graph without records there is nothing to replace: merging is the same, cheaper
            write = (
                self.store.replace_edges_from
                if replace and not self.fresh
                else self.store.merge_edges
            )
            n = write(edge_type, from_label, to_label, self._store_rows(data))
        self.report._add(self.report.edges, edge_type, n)
        return n

    def identifiers(self, label: str, ids: pd.Series, props: dict[str, pd.Series] | None) -> None:
        """Merge the identifier nodes of a chunk that earlier chunks have not written."""
        seen = self.seen[label]
        values = ids.to_numpy(dtype=object)
        # set lookups, not isin(seen): that would turn the growing set into an array every chunk
        fresh = ~_in_set(values, seen) if seen else np.ones(len(values), dtype=bool)
        frame = pd.DataFrame(
            {
                "id": values[fresh],
                **{k: v.to_numpy(dtype=object)[fresh] for k, v in (props or {}).items()},
            }
        )
        frame = frame.drop_duplicates("id")
        if frame.empty:
            return
        n = self.nodes(label, self.rows({c: frame[c] for c in frame.columns}))
        seen.update(frame["id"].tolist())
        self.report._add(self.report.identifiers, label, n)


def _identifier_columns(chunk: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Per identifier label, a frame ``key, id, role, <node props>, <edge props>`` for the chunk;
    a label none of the chunk's records gives has no frame (it would write nothing)."""
    out: dict[str, pd.DataFrame] = {}
    key = chunk["key"]

    nid_parts = []
    for column in ("nid", "nid_alt"):
        if column not in chunk.columns:
            continue
        values = _text(chunk[column])
        given = values.notna()
        if not given.any():  # a column the chunk leaves empty (one record gives few identifiers)
            continue
        lengths = values[given].str.len()
        valid = lengths.isin(_NID_LENGTHS)
        if (~valid).any():
            log.warning(
                "%d %s values are not 10, 13 or 17 digits long and are not published (e.g. %r)",
                int((~valid).sum()),
                column,
                values[given][~valid].iloc[0],
            )
        values = values[given][valid]
        nid_parts.append(
            pd.DataFrame(
                {
                    "key": key[values.index],
                    "id": values.map(nid_core),
                    "form": np.where(values.str.len() == 10, "10", "13"),
                    "given": values.str.len().astype(str),
                    "field": column,
                }
            )
        )
    if nid_parts:
        nids = pd.concat(nid_parts, ignore_index=True).drop_duplicates(["key", "id"])
        out["NID"] = nids

    if "brn" in chunk.columns:
        brn = _text(chunk["brn"]).dropna()
        if len(brn):
            out["BRN"] = pd.DataFrame({"key": key[brn.index], "id": brn})

    phone = _text(chunk["phone"]).dropna() if "phone" in chunk.columns else _NONE
    if len(phone):
        out["Phone"] = pd.DataFrame(
            {"key": key[phone.index], "id": phone, "operator": phone.str[2].map(_OPERATORS)}
        )

    number = _text(chunk["account_number"]).dropna() if "account_number" in chunk.columns else _NONE
    if len(number):
        if "account_provider" in chunk.columns:
            provider = _text(chunk["account_provider"])[number.index].fillna("unknown")
        else:
            provider = pd.Series("unknown", index=number.index, dtype=object)
        out["Account"] = pd.DataFrame(
            {
                "key": key[number.index],
                "id": map_distinct(account_id, provider, number),
                "provider": provider,
                "number": number,
                "phone": _wallet_phones(provider, number),
            }
        )
    return out


def _wallet_phones(provider: pd.Series, number: pd.Series) -> pd.Series:
    """The mobile number behind each wallet (``None`` for banks):
    :func:`engine.normalise.account_phone` once per distinct provider and number."""
    phones = map_distinct(lambda p, n: account_phone(n, p), provider, number)
    return pd.Series(phones, index=number.index, dtype=object)


def _source_rows(records: pd.DataFrame, registries: Mapping[str, str]) -> list[dict[str, Any]]:
    if "kind" in records.columns:
        kinds = (
            records[["source", "kind"]]
            .dropna()
            .value_counts()
            .reset_index(name="n")
            .sort_values(["source", "n"], ascending=[True, False])
            .drop_duplicates("source")
        )
        kind_of = dict(zip(kinds["source"], kinds["kind"], strict=True))
    else:
        kind_of = {}
    sizes = records["source"].value_counts()
    return [
        {
            "id": source,
            "kind": kind_of.get(source),
            "registry": registries.get(source),
            "records": int(n),
        }
        for source, n in sizes.items()
    ]


def _programme_rows(codes: Iterable[str], policy: Policy, report: PublishReport) -> list[dict]:
    rows = []
    for code in sorted(set(codes) | set(policy.programmes)):
        info = policy.programme(code)
        if not info.known:
            report.unknown_programmes.append(code)
        rows.append(
            {
                "id": code,
                "name": info.name,
                "cash": info.cash,
                "kind": info.kind,
                "counts_toward_cap": policy.counts_toward_cap(code),
                "known": info.known,
                "policy": policy.label,
            }
        )
    if report.unknown_programmes:
        log.warning(
            "programmes not in the policy catalogue %s (counted as cash allowances): %s",
            policy.label,
            ", ".join(report.unknown_programmes),
        )
    return rows


def _links_frame(
    links: pd.DataFrame, known: pd.Index, min_probability: float, model_version: str | None
) -> pd.DataFrame:
    """SAME_AS rows ``from, to, probability, model_version`` between published records.

    Links below ``min_probability`` are dropped first: most scored pairs are, and their record
    keys are then never built.
    """
    if {"left", "right"}.issubset(links.columns):
        ends = (("left",), ("right",))
    elif {"left_source", "left_record_id", "right_source", "right_record_id"}.issubset(
        links.columns
    ):
        ends = (("left_source", "left_record_id"), ("right_source", "right_record_id"))
    else:
        raise PublishError(
            "The links need record keys in 'left' and 'right' (source/record_id), or "
            "'left_source', 'left_record_id', 'right_source', 'right_record_id'; got columns "
            f"{', '.join(map(str, links.columns))}."
        )
    if "probability" not in links.columns:
        raise PublishError("The links have no 'probability' column.")
    probability = pd.to_numeric(links["probability"], errors="coerce").to_numpy()
    rows = np.flatnonzero(probability >= min_probability)
    probability = probability[rows]

    def column(name: str) -> np.ndarray:  # only the rows kept, of only the columns used
        return links[name].to_numpy()[rows]

    def key(end: tuple[str, ...]) -> pa.Array:
        parts = [_arrow_text(column(name)) for name in end]
        return (
            parts[0]
            if len(parts) == 1
            else pc.binary_join_element_wise(*parts, pa.scalar("/", pa.large_string()))
        )

    # in Arrow: keys built, ordered (smaller first) and looked up among the records' as numbers
    left, right = key(ends[0]), key(ends[1])
    first = pc.less_equal(left, right)
    a, b = pc.if_else(first, left, right), pc.if_else(first, right, left)
    keys = pa.array(known.to_numpy(dtype=object), type=pa.large_string())
    a_at = pc.index_in(a, value_set=keys).fill_null(-1).to_numpy()
    b_at = pc.index_in(b, value_set=keys).fill_null(-1).to_numpy()
    published = (a_at >= 0) & (b_at >= 0)
    dropped = int((~published).sum())
    if dropped:
        log.warning("%d links name records that are not being published; they are skipped", dropped)
    kept = np.flatnonzero(published & (a_at != b_at))
    # the strongest of each pair of records, strongest first
    kept = kept[np.argsort(-probability[kept], kind="stable")]
    pair = a_at[kept].astype(np.int64) * max(len(keys), 1) + b_at[kept]
    kept = kept[~pd.Index(pair).duplicated()]
    at = pa.array(kept)
    frame = pd.DataFrame(
        {
            "from": a.take(at).to_numpy(zero_copy_only=False),
            "to": b.take(at).to_numpy(zero_copy_only=False),
            "probability": probability[kept],
        }
    )
    if "model_version" in links.columns:
        frame["model_version"] = _text(pd.Series(column("model_version")[kept])).to_numpy()
    else:
        frame["model_version"] = model_version
    return frame


def _arrow_text(values: np.ndarray) -> pa.Array:
    """Values as Arrow text, missing where missing or blank (numbers as their text, as
    :func:`_text` gives them)."""
    try:
        text = pa.array(values, type=pa.large_string(), from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        text = pa.array(_text(pd.Series(values, dtype=object)).to_numpy(), type=pa.large_string())
    blank = pc.equal(text, "")
    if pc.any(blank).as_py():
        text = pc.if_else(blank, pa.scalar(None, pa.large_string()), text)
    return text


def publish(
    store: GraphStore | GraphWriter,
    records: pd.DataFrame,
    assignment: pd.DataFrame,
    links: pd.DataFrame | None = None,
    *,
    policy: Policy | None = None,
    progress: Progress | None = None,
    chunk_size: int = 50_000,
    min_link_probability: float = MIN_LINK_PROBABILITY,
    model_version: str | None = None,
    registries: Mapping[str, str] | None = None,
    source_households: Literal["missing", "always", "never"] = "missing",
    complete: bool = True,
    count_pruned_edges: bool = True,
) -> PublishReport:
    """Write resolved records, persons, households and links into ``store``.

    Parameters
    ----------
    store:
        Any graph store (embedded or Neo4j); or, for a first load through Neo4j's offline
        importer, a :class:`graph.neo4j.bulk.ImportFiles` (the same graph, written as the importer's
        CSV files; then load them with :func:`graph.neo4j.bulk.load`).
    records:
        Canonical records with cleaned values (columns :data:`engine.record.CANONICAL_FIELDS`, as
        ``RecordStore.current()`` returns them); one row per ``source``, ``record_id``.
    assignment:
        ``source``, ``record_id``, ``person_id`` and optionally ``household_id``: the person (and
        household) resolution put each record in. Records it does not name get no person.
    links:
        Scored pairs: ``left``/``right`` record keys (or ``left_source``, ``left_record_id``,
        ``right_source``, ``right_record_id``), ``probability`` and optionally ``model_version``.
        Pairs below ``min_link_probability`` are not written.
    policy:
        The programme policy whose catalogue names the programmes (default: the current policy).
    progress:
        ``progress(stage, done, total)``, called as each stage advances.
    chunk_size:
        Records generated per chunk (the store writes in its own batches).
    min_link_probability:
        Links below this probability are not written (an absent link reads as "distinct").
    model_version:
        The model version for links that do not carry one.
    registries:
        Reference source -> registry (``ec``, ``btrc``, ``kyc``, ``bdris``), overriding what
        :func:`detect_registries` reads from the fields.
    source_households:
        ``"missing"``: persons the assignment gives no household belong to the households their
        records name; ``"always"``: every person does, besides the assigned household;
        ``"never"``: only assigned households.
    complete:
        ``False``: the records are a few added to the graph, not all the data (see the module
        docstring); into a store only.
    count_pruned_edges:
        ``False``: a complete publish into the embedded store's tables counts in
        :attr:`PublishReport.pruned` only the nodes the graph lost, not the edges (that compares
        every edge of the old and the new graph: about 25 s at a million persons).

    Returns
    -------
    A :class:`PublishReport`.

    Raises
    ------
    PublishError
        If the records or the assignment lack their key columns, or a person id is missing.
    graph.store.GraphStoreError
        If the store cannot write (see the store's errors).
    """
    started = time.perf_counter()
    if source_households not in ("missing", "always", "never"):
        raise PublishError(
            "The 'source_households' parameter of publish must be 'missing', 'always' or 'never'. "
            f"Got {source_households!r}."
        )
    if complete and isinstance(store, TableStore):
        # the whole graph as tables, as a first load writes it; nothing to diff or prune
        tables = store.table_writer()
        with cycle_collection_paused():
            report = publish(
                tables, records, assignment, links, policy=policy, progress=progress,
                chunk_size=chunk_size, min_link_probability=min_link_probability,
                model_version=model_version, registries=registries,
                source_households=source_households,
            )  # fmt: skip
            report.pruned = tables.finish(count_edges=count_pruned_edges)
        report.seconds = time.perf_counter() - started
        return report
    policy = policy or load_policy()
    report = PublishReport()
    pub = _Publisher(store, policy, progress, report)
    had_records = store.count("Record") > 0
    pub.fresh, pub.partial = not had_records, not complete
    if not complete and isinstance(store, GraphWriter):
        raise PublishError("A partial publish (complete=False) writes into a graph store only.")
    if had_records and isinstance(store, GraphWriter):
        raise PublishError(
            f"The import files in {getattr(store, 'folder', store)} already hold a publish; "
            "import files take one first load (make a new ImportFiles for another)."
        )

    columns = [c for c in CANONICAL_FIELDS if c in records.columns]
    record_keys = _keys(records, "records").to_numpy()
    if "person_id" not in assignment.columns:
        raise PublishError(
            "The assignment has no 'person_id' column; it needs source, record_id, person_id "
            "(and optionally household_id)."
        )
    # One hash table for both sets of keys, the records' first: every record key's code is
    # below ``distinct`` (the records' distinct keys), and an assignment key that names no
    # record has a code past them.
    codes, _ = pd.factorize(
        np.concatenate([record_keys, _keys(assignment, "assignment").to_numpy()])
    )
    of_records, of_assignment = codes[: len(record_keys)], codes[len(record_keys) :]
    distinct = int(of_records.max()) + 1 if len(of_records) else 0
    if distinct < len(record_keys):
        duplicated = pd.Index(record_keys).duplicated(keep="last")
        log.warning(
            "%d records appear more than once (e.g. %s); the last row of each is published",
            int(duplicated.sum()),
            record_keys[duplicated][0],
        )
        records, record_keys = records[~duplicated], record_keys[~duplicated]
        of_records = of_records[~duplicated]
    # each record's row in the assignment: the last row that names it (-1: none does)
    last = np.full(int(codes.max()) + 1 if len(codes) else 0, -1, dtype=np.int64)
    np.maximum.at(last, of_assignment, np.arange(len(of_assignment), dtype=np.int64))
    at = last[of_records]
    named = at >= 0
    given = {"person_id": assignment["person_id"]}
    if "household_id" in assignment.columns:
        given["household"] = assignment["household_id"]
    assigned: dict[str, np.ndarray] = {}
    for column in ("person_id", "household"):
        assigned[column] = np.full(len(record_keys), None, dtype=object)
        if column in given:
            assigned[column][named] = _text(given[column]).to_numpy()[at[named]]
    # The columns used, the assignment's beside them, each its own block as it came: no copy.
    # (A frame of one block per dtype would copy every value, seconds at national scale;
    # chunks are row slices, views either way.) Positions are the index: an index of record
    # keys would make pandas hash them again and again.
    if not records.index.equals(pd.RangeIndex(len(records))):
        records = records.reset_index(drop=True)
    records = pd.concat(
        [
            *(records[c] for c in columns),
            pd.Series(record_keys, name="key", index=records.index, copy=False),
            *(
                pd.Series(values, name=c, index=records.index, copy=False)
                for c, values in assigned.items()
            ),
        ],
        axis=1,
        copy=False,
    )
    del assigned
    report.unassigned = int(records["person_id"].isna().sum())
    if report.unassigned:
        log.info("%d records have no person in the assignment", report.unassigned)
    stray = len(np.unique(of_assignment[of_assignment >= distinct]))
    if stray:
        log.warning("%d assignment rows name records that are not being published", stray)
    total = len(records)

    # sources, programmes ------------------------------------------------------------------------
    found = detect_registries(records)
    found.update(registries or {})
    report.registries = found
    sourced = records
    # a partial publish writes only sources new to the graph (_Publisher.nodes): rows for those
    if pub.partial and not isinstance(store, GraphWriter):
        named = records["source"].unique().tolist()
        have = set(store.nodes("Source", ["id"], ids=named)["id"])
        sourced = records[~records["source"].isin(have).to_numpy()]
        if len(sourced) > 1:  # as one at a time: a new source made from its first record
            sourced = sourced[~sourced["source"].duplicated().to_numpy()]
    report.sources = pub.nodes("Source", _source_rows(sourced, found)) if len(sourced) else 0
    codes = records["programme"].dropna().unique() if "programme" in records else []
    report.programmes = pub.nodes("Programme", _programme_rows(codes, policy, report))
    pub.progress("sources", report.sources, report.sources)

    # persons and households ---------------------------------------------------------------------
    people = records
    if pub.partial and not isinstance(store, GraphWriter):
        people = _first_of_new_persons(store, records)  # persons the graph lacks, looked up
    persons, households, member = _persons_and_households(people, source_households)
    report.persons = pub.nodes(
        "Person", pub.rows({c: persons[c] for c in persons.columns}), new=pub.partial
    )
    pub.progress("persons", report.persons, len(persons))
    report.households = pub.nodes(
        "Household", pub.rows({c: households[c] for c in households.columns})
    )
    pub.edges(
        "MEMBER_OF",
        "Person",
        "Household",
        pub.rows({c: member[c] for c in ("from", "to", "relation")}),
        replace=complete,
    )
    pub.progress("households", report.households, len(households))
    del persons, households

    # records, in chunks -------------------------------------------------------------------------
    # the persons a partial publish's records belong to before it moves them
    left: set[str] = set()
    # records new to the graph have no old edges to prune (one record stored through the API)
    known_before = False
    if not complete and not isinstance(store, GraphWriter):
        left = set(store.edges("OF", from_ids=records["key"].tolist())["to"])
        known_before = not store.nodes("Record", ["id"], ids=records["key"].tolist()).empty
    record_columns = [c for c in CANONICAL_FIELDS if c in records.columns]
    registry = records["source"].map(found)
    done = 0
    for start in range(0, total, chunk_size):
        chunk = records.iloc[start : start + chunk_size]
        keys = chunk["key"]
        report.records += pub.nodes(
            "Record",
            pub.rows({"id": keys, **{c: chunk[c] for c in record_columns}}),
        )
        pub.edges("FROM", "Record", "Source", pub.rows({"from": keys, "to": chunk["source"]}))
        if "programme" in chunk.columns:
            wanted = [c for c in ("key", "programme", "status", "since", "amount") if c in chunk]
            enrolled = chunk.loc[chunk["programme"].notna().to_numpy(), wanted]
            pub.edges(
                "ENROLLED_IN",
                "Record",
                "Programme",
                pub.rows(
                    {
                        "from": enrolled["key"],
                        "to": enrolled["programme"],
                        **{
                            c: (enrolled[c] if c in enrolled else [None] * len(enrolled))
                            for c in ("status", "since", "amount")
                        },
                    }
                ),
            )
        idents = _identifier_columns(chunk)
        for label, frame in idents.items():
            props = {
                "NID": ["form"],
                "Phone": ["operator"],
                "Account": ["provider", "number", "phone"],
            }.get(label, [])
            pub.identifiers(label, frame["id"], {p: frame[p] for p in props})
            edge: dict[str, Any] = {"from": frame["key"], "to": frame["id"]}
            edge["role"] = [_ROLES[label]] * len(frame)
            if label == "NID":
                edge["form"] = frame["given"]
            pub.edges("HAS", "Record", label, pub.rows(edge))
        of = chunk.loc[chunk["person_id"].notna().to_numpy(), ["key", "person_id"]]
        pub.edges(
            "OF",
            "Record",
            "Person",
            pub.rows({"from": of["key"], "to": of["person_id"]}),
            replace=True,
        )
        _reference_edges(pub, chunk, registry[chunk.index], idents)
        done += len(chunk)
        pub.progress("records", done, total)

    # links --------------------------------------------------------------------------------------
    same_as = None
    if links is not None and len(links):
        known = pd.Index(records["key"].to_numpy())
        same_as = _links_frame(links, known, min_link_probability, model_version)
        pub.edges(
            "SAME_AS",
            "Record",
            "Record",
            pub.rows({c: same_as[c] for c in ("from", "to", "probability", "model_version")}),
        )
        pub.progress("links", len(same_as), len(same_as))

    if had_records and complete:
        _prune(pub, records, member, same_as, links is not None)
    elif had_records and known_before:
        _prune_records(pub, records, left)
    report.seconds = time.perf_counter() - started
    log.info("published %s", report.summary())
    return report


def _first_of_new_persons(store: GraphStore, records: pd.DataFrame) -> pd.DataFrame:
    """The records a partial publish makes persons and households of, as publishing them one at a
    time in order does: the first record of each person the graph does not hold (a person the
    graph holds, or one an earlier record made, keeps their properties and households)."""
    person = records["person_id"]
    named = person.notna().to_numpy()
    ids = person[named].unique().tolist()
    have = set(store.nodes("Person", ["id"], ids=ids)["id"]) if ids else set()
    first = named & ~person.duplicated().to_numpy() & ~person.isin(have).to_numpy()
    return records if first.all() else records[first]  # one new person's record: no copy


def _reference_edges(
    pub: _Publisher, chunk: pd.DataFrame, registry: pd.Series, idents: dict[str, pd.DataFrame]
) -> None:
    """KYC_OWNER, REGISTERED_TO and SAME_NID edges from the chunk's reference records."""
    nids = idents.get("NID")
    if nids is None or registry.isna().all():
        return
    main = nids[nids["field"] == "nid"].set_index("key")["id"]
    reg = registry.set_axis(chunk["key"].to_numpy())

    def owner_rows(label: str, kind: str) -> pd.DataFrame:
        frame = idents.get(label)
        if frame is None:
            return pd.DataFrame(columns=["from", "to"])
        frame = frame[frame["key"].map(reg).eq(kind).to_numpy()]
        owners = frame["key"].map(main)
        rows = pd.DataFrame({"from": frame["id"].to_numpy(), "to": owners.to_numpy()}).dropna()
        return rows.drop_duplicates()

    kyc = owner_rows("Account", "kyc")
    if len(kyc):
        pub.edges("KYC_OWNER", "Account", "NID", pub.rows({"from": kyc["from"], "to": kyc["to"]}))
    btrc = owner_rows("Phone", "btrc")
    if len(btrc):
        pub.edges(
            "REGISTERED_TO", "Phone", "NID", pub.rows({"from": btrc["from"], "to": btrc["to"]})
        )
    ec = nids[nids["key"].map(reg).eq("ec").to_numpy()]
    if len(ec):
        pairs = ec.pivot_table(index="key", columns="field", values="id", aggfunc="first")
        if {"nid", "nid_alt"}.issubset(pairs.columns):
            pairs = pairs.dropna(subset=["nid", "nid_alt"])
            pairs = pairs[pairs["nid"] != pairs["nid_alt"]]
            # from the smart-card number to the 13-digit core, whichever field holds which
            smart_first = pairs["nid_alt"].str.len() == 10
            frm = np.where(smart_first, pairs["nid_alt"], pairs["nid"])
            to = np.where(smart_first, pairs["nid"], pairs["nid_alt"])
            rows = pd.DataFrame({"from": frm, "to": to}).drop_duplicates()
            pub.edges("SAME_NID", "NID", "NID", pub.rows({"from": rows["from"], "to": rows["to"]}))


def _prune(
    pub: _Publisher,
    records: pd.DataFrame,
    member: pd.DataFrame,
    same_as: pd.DataFrame | None,
    links_given: bool,
) -> None:
    """After a re-publish: delete what the new data no longer says, and orphaned persons/households.

    Only edges out of the records (and persons) of this publish are touched.
    """
    store, report = pub.store, pub.report
    keyset = set(records["key"])

    def stale(edge_type: str, wanted: set[tuple[str, str]], starts: set[str]) -> None:
        existing = store.edges(edge_type)
        if not existing.empty:
            _delete_stale(pub, edge_type, existing[existing["from"].isin(starts)], wanted)

    wanted_has: set[tuple[str, str]] = set()
    for start in range(0, len(records), 200_000):
        chunk = records.iloc[start : start + 200_000]
        for frame in _identifier_columns(chunk).values():
            wanted_has.update(zip(frame["key"], frame["id"], strict=True))
    stale("HAS", wanted_has, keyset)
    del wanted_has
    if "programme" in records.columns:
        enrolled = records[records["programme"].notna()]
        stale("ENROLLED_IN", set(zip(enrolled["key"], enrolled["programme"], strict=True)), keyset)
    stale("FROM", set(zip(records["key"], records["source"], strict=True)), keyset)
    assigned = records[records["person_id"].notna()]
    stale("OF", set(zip(assigned["key"], assigned["person_id"], strict=True)), keyset)
    if links_given:
        wanted_links: set[tuple[str, str]] = set()
        if same_as is not None:
            wanted_links = set(zip(same_as["from"], same_as["to"], strict=True))
        stale("SAME_AS", wanted_links, keyset)
    persons = set(assigned["person_id"])
    stale("MEMBER_OF", set(zip(member["from"], member["to"], strict=True)), persons)

    linked = set(store.edges("OF")["to"])
    orphans = [p for p in store.nodes("Person", ["id"])["id"] if p not in linked]
    if orphans:
        report._add(report.pruned, "Person", store.delete_nodes("Person", orphans))
    members = set(store.edges("MEMBER_OF")["to"])
    empty = [h for h in store.nodes("Household", ["id"])["id"] if h not in members]
    if empty:
        report._add(report.pruned, "Household", store.delete_nodes("Household", empty))
    pub.progress("prune", 1, 1)


def _delete_stale(
    pub: _Publisher, edge_type: str, existing: pd.DataFrame, wanted: set[tuple[str, str]]
) -> None:
    """Delete the ``existing`` edges (rows of ``store.edges``) that are not ``wanted``."""
    store = pub.store
    assert not isinstance(store, GraphWriter)  # pruning is for a store that holds a graph
    for (from_label, to_label), group in existing.groupby(["from_label", "to_label"]):
        pairs = list(zip(group["from"], group["to"], strict=True))
        gone = [{"from": a, "to": b} for a, b in pairs if (a, b) not in wanted]
        if gone:
            n = store.delete_edges(edge_type, str(from_label), str(to_label), gone)
            pub.report._add(pub.report.pruned, edge_type, n)


def _prune_records(pub: _Publisher, records: pd.DataFrame, left: set[str]) -> None:
    """After a partial publish: the edges out of its records that their new versions no longer
    have, and the persons in ``left`` (the records' persons before) now without records."""
    store, keys = pub.store, records["key"].tolist()
    assert not isinstance(store, GraphWriter)  # refused by publish
    wanted = {
        "HAS": {
            pair
            for frame in _identifier_columns(records).values()
            for pair in zip(frame["key"], frame["id"], strict=True)
        },
        "FROM": set(zip(records["key"], records["source"], strict=True)),
    }
    if "programme" in records.columns:  # records that say nothing of programmes keep theirs
        enrolled = records[records["programme"].notna()]
        wanted["ENROLLED_IN"] = set(zip(enrolled["key"], enrolled["programme"], strict=True))
    for edge_type, pairs in wanted.items():
        _delete_stale(pub, edge_type, store.edges(edge_type, from_ids=keys), pairs)
    orphans = [p for p in sorted(left) if store.edges("OF", to_ids=[p]).empty]
    if orphans:
        pub.report._add(pub.report.pruned, "Person", store.delete_nodes("Person", orphans))
