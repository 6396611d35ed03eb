"""Tables the queries share, built from any store's ``nodes`` / ``edges`` tables.

Conventions every query follows:

- A record that resolution gave no person stands for a person of its own, named
  ``record:<source/record_id>`` (:data:`UNRESOLVED`), so it is neither lost nor merged with others.
- Households are the connected groups of the ``Person-MEMBER_OF->Household`` graph: a person the
  resolver put in household ``H`` and whose survey record names household ``nhd/42`` joins them.
  A group is named by its smallest household id. A person without a household is a household of
  their own (``person:<id>``) where one is needed.
- Reference records (``kind`` ``reference``: EC, BTRC, MFS KYC, BDRIS extracts) say who owns an
  identifier; they never count as a beneficiary using it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Final, TypeVar

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ekjon.collector import cycle_collection_paused
from graph import schema
from graph.store import GraphStore

F = TypeVar("F", bound=Callable[..., Any])

UNRESOLVED: Final = "record:"
ALONE: Final = "person:"
#: The Arrow type of node ids in the tables whole-graph questions hash (`GraphStore.edge_pairs`).
ID_TEXT: Final = pa.large_string()
#: Below this many records, links are read per record rather than as a whole-graph table.
_PER_NODE_LIMIT: Final = 5_000


#: Record properties the queries read; :class:`GraphTables` fetches them in one pass.
RECORD_PROPERTIES: Final = (
    "kind",
    "source",
    "programme",
    "district",
    "upazila",
    "union",
    "date_of_birth",
    "pmt_score",
)


def without_gc(query: F) -> F:
    """Run ``query`` with Python's cyclic garbage collector paused.

    Building whole-graph tables allocates millions of small objects, and each full collection
    then walks every object of an in-memory graph of several GB: at a million persons that made
    the queries two to three times slower. Nothing a query builds needs the cycle collector while
    it runs; the collector is switched back on (if it was on) when the query returns.
    """

    @functools.wraps(query)
    def run(*args: Any, **kwargs: Any) -> Any:
        with cycle_collection_paused():
            return query(*args, **kwargs)

    return run  # type: ignore[return-value]


class GraphTables:
    """The whole-graph tables of one store, each read once and then kept.

    Every query reads what it needs through one of these, so a table (say the ``OF`` edges) is
    fetched once per query; pass one ``GraphTables`` to several queries to share the tables
    between them as well (the graph must not change meanwhile).

    Example
    -------
    >>> tables = GraphTables(store)                                      # doctest: +SKIP
    >>> suspicious_identifiers(store, tables=tables)                     # doctest: +SKIP
    >>> double_dipping(store, tables=tables)                             # doctest: +SKIP
    """

    def __init__(self, store: GraphStore) -> None:
        self.store = store
        self._edges: dict[str, pd.DataFrame] = {}
        self._cache: dict[str, Any] = {}
        self._records: dict[frozenset[str], pd.DataFrame] = {}
        self._pairs: dict[tuple[str, str, str], pa.Table] = {}

    def edges(self, edge_type: str) -> pd.DataFrame:
        """``store.edges(edge_type)``, read once."""
        if edge_type not in self._edges:
            self._edges[edge_type] = self.store.edges(edge_type)
        return self._edges[edge_type]

    def edge_pairs(self, edge_type: str, from_label: str, to_label: str) -> pa.Table:
        """``from, to`` of the ``edge_type`` edges between two labels as an Arrow table of
        ``large_string`` columns (:meth:`graph.store.GraphStore.edge_pairs`), read once."""
        key = (edge_type, from_label, to_label)
        if key not in self._pairs:
            self._pairs[key] = self.store.edge_pairs(*key)
        return self._pairs[key]

    def persons_of(self, records: pa.Array | pa.ChunkedArray) -> pa.ChunkedArray:
        """:meth:`persons` of record keys given and answered as Arrow arrays (hashed in Arrow,
        no Python string per key)."""
        person = _first_to(self.edge_pairs("OF", "Record", "Person"), records)
        return pc.coalesce(person, _prefixed(UNRESOLVED, records))

    def households_of(self, persons: pa.Array | pa.ChunkedArray) -> pa.ChunkedArray:
        """:func:`household_of` (:attr:`households`) of person ids given and answered as Arrow
        arrays."""
        if "household_pairs" not in self._cache:
            member = self.edge_pairs("MEMBER_OF", "Person", "Household")
            if pc.count_distinct(member.column("from")).as_py() < member.num_rows:
                groups = self.households  # some person in several households: their groups
                member = pa.table(
                    {
                        "from": pa.array(groups.index.to_numpy(dtype=object), type=ID_TEXT),
                        "to": pa.array(groups.to_numpy(dtype=object), type=ID_TEXT),
                    }
                )
            self._cache["household_pairs"] = member
        group = _first_to(self._cache["household_pairs"], persons)
        return pc.coalesce(group, _prefixed(ALONE, persons))

    def edges_at(
        self,
        edge_type: str,
        from_ids: Iterable[str] | None = None,
        to_ids: Iterable[str] | None = None,
    ) -> pd.DataFrame:
        """The ``edge_type`` edges from (to) some nodes: cut from the whole table if it was read,
        else asked of the store for those nodes only."""
        whole = self._edges.get(edge_type)
        if whole is None:
            return self.store.edges(edge_type, from_ids=from_ids, to_ids=to_ids)
        keep = np.ones(len(whole), dtype=bool)
        if from_ids is not None:
            keep &= whole["from"].isin(set(from_ids)).to_numpy()
        if to_ids is not None:
            keep &= whole["to"].isin(set(to_ids)).to_numpy()
        return whole[keep]

    def household_groups_of(self, persons: Iterable[str]) -> pd.Series:
        """Person id -> household group, for ``persons`` (and everyone in their households).

        Exactly :attr:`households` restricted to these persons, read from the ``MEMBER_OF`` edges
        of their households alone (followed until no new person or household turns up) unless the
        whole table was read already.
        """
        if "households" in self._cache or "MEMBER_OF" in self._edges:
            return self.households
        seen_persons = set(persons)
        seen_households: set[str] = set()
        parts = []
        new_persons = set(seen_persons)
        while new_persons:
            member = self.store.edges("MEMBER_OF", from_ids=new_persons)[["from", "to"]]
            parts.append(member)
            new_households = set(member["to"]) - seen_households
            seen_households |= new_households
            if not new_households:
                break
            others = self.store.edges("MEMBER_OF", to_ids=new_households)[["from", "to"]]
            parts.append(others)
            new_persons = set(others["from"]) - seen_persons
            seen_persons |= new_persons
        member = pd.concat(parts, ignore_index=True).drop_duplicates()
        return household_groups(member)

    @property
    def records(self) -> pd.DataFrame:
        """``Record`` nodes with :data:`RECORD_PROPERTIES`, indexed by record key."""
        return self.record_table(RECORD_PROPERTIES)

    def record_table(self, properties: Sequence[str]) -> pd.DataFrame:
        """``Record`` nodes with ``properties`` (and ``id``), indexed by record key.

        A table already read with more properties is reused; else only these are read.
        """
        wanted = set(properties)
        for have, frame in self._records.items():
            if wanted <= have:
                return frame
        frame = self.store.nodes("Record", list(properties))
        frame = frame.set_index("id", drop=False).rename_axis(None)
        self._records[frozenset(properties)] = frame
        return frame

    @property
    def person_of(self) -> pd.Series:
        """Record key -> person id, for records with an ``OF`` edge."""
        if "person_of" not in self._cache:
            self._cache["person_of"] = person_of_records(self.edges("OF"))
        return self._cache["person_of"]

    @property
    def households(self) -> pd.Series:
        """Person id -> household group (see the module docstring)."""
        if "households" not in self._cache:
            self._cache["households"] = household_groups(self.edges("MEMBER_OF"))
        return self._cache["households"]

    @property
    def registries(self) -> dict[str, str]:
        """Source name -> registry (``ec``, ``btrc``, ``kyc``, ``bdris``) of reference sources."""
        sources = self.sources[self.sources["registry"].notna()]
        return dict(zip(sources["id"], sources["registry"], strict=True))

    @property
    def references(self) -> set[str]:
        """Names of the reference-registry sources (EC, BTRC, KYC, BDRIS extracts)."""
        return schema.reference_sources(self.sources)

    @property
    def sources(self) -> pd.DataFrame:
        """``Source`` nodes: ``id``, ``kind``, ``registry``."""
        if "sources" not in self._cache:
            self._cache["sources"] = self.store.nodes("Source", ["kind", "registry"])
        return self._cache["sources"]

    def from_sources(
        self, keys: pd.Series | pd.Index | pa.Array | pa.ChunkedArray, sources: Iterable[str]
    ) -> np.ndarray:
        """Which record keys (``source/record_id``) come from one of ``sources``.

        Read from the key itself, so no whole-graph ``Record`` table is needed.
        """
        prefixes = sorted({f"{source}/" for source in sources})
        if not prefixes or len(keys) == 0:
            return np.zeros(len(keys), dtype=bool)
        if isinstance(keys, pa.Array | pa.ChunkedArray):
            text = keys
        else:
            values = np.asarray(keys, dtype=object)
            try:  # strings only, as keys are: compared in Arrow, not one Python call per key
                text = pa.array(values, type=pa.large_string(), from_pandas=True)
            except (pa.ArrowInvalid, pa.ArrowTypeError):
                return pd.Series(values).str.startswith(tuple(prefixes)).to_numpy(dtype=bool)
        found = np.zeros(len(keys), dtype=bool)
        for prefix in prefixes:
            found |= pc.fill_null(pc.starts_with(text, prefix), False).to_numpy(
                zero_copy_only=False
            )
        return found

    def reference(self, keys: pd.Series | pd.Index | pa.Array | pa.ChunkedArray) -> np.ndarray:
        """Which record keys are reference-registry records (EC, BTRC, KYC, BDRIS extracts)."""
        return self.from_sources(keys, self.references)

    def record_props(self, keys: Iterable[str], properties: Sequence[str]) -> pd.DataFrame:
        """Properties of some records, indexed by key: only those records are read."""
        wanted = list(dict.fromkeys(keys))
        cached = any(set(properties) <= have for have in self._records)
        if cached:
            return self.record_table(properties)[list(properties)].reindex(wanted)
        frame = self.store.nodes("Record", list(properties), ids=wanted)
        frame = frame.set_index("id").rename_axis(None)[list(properties)]
        return frame.reindex(wanted)

    def persons(self, keys: Iterable[str]) -> pd.Series:
        """The person of each record key (``record:<key>`` for records resolution left alone)."""
        index = keys if isinstance(keys, pd.Index) else pd.Index(list(keys))
        named = self.person_of.reindex(index)
        missing = named.isna().to_numpy()
        if missing.any():
            named[missing] = UNRESOLVED + index[missing].astype(str)
        return named

    def links(self, keys: Iterable[str] | None = None) -> pd.DataFrame:
        """``SAME_AS`` links ``from, to, probability, model_version`` touching ``keys`` (or all).

        Few records are read link by link (fast on both stores); many as one whole-graph table.
        """
        columns = ["from", "to", "probability", "model_version"]
        wanted = None if keys is None else list(dict.fromkeys(keys))
        if wanted is not None and "SAME_AS" not in self._edges:
            # only the links at these records, read from the store
            links = pd.concat(
                [
                    self.store.edges("SAME_AS", from_ids=wanted),
                    self.store.edges("SAME_AS", to_ids=wanted),
                ],
                ignore_index=True,
            )
            for column in ("probability", "model_version"):
                if column not in links.columns:
                    links[column] = None
            links = links[columns].drop_duplicates(["from", "to"])
            if len(wanted) <= _PER_NODE_LIMIT:  # as links read record by record always were
                a = links["from"].to_numpy(dtype=object)
                b = links["to"].to_numpy(dtype=object)
                swap = b < a
                links = links.assign(from_=np.where(swap, b, a), to_=np.where(swap, a, b))
                links = links.drop(columns=["from", "to"]).rename(
                    columns={"from_": "from", "to_": "to"}
                )[columns]
                links = links.drop_duplicates(["from", "to"])
            return links.reset_index(drop=True)
        links = self.edges("SAME_AS").copy()
        for column in ("probability", "model_version"):
            if column not in links.columns:
                links[column] = None
        links = links[columns]
        if wanted is not None:
            keyset = set(wanted)
            links = links[links["from"].isin(keyset) | links["to"].isin(keyset)]
        return links.reset_index(drop=True)


def _first_to(pairs: pa.Table, keys: pa.Array | pa.ChunkedArray) -> pa.ChunkedArray:
    """Per key, the ``to`` of the first row of ``pairs`` whose ``from`` it is (missing if none).

    Hashing the ``from`` of a million-row table takes Arrow about half a second: a few keys are
    hashed instead, to cut the table to their rows first.
    """
    if len(keys) * 4 < pairs.num_rows:
        pairs = pairs.filter(pc.is_in(pairs.column("from"), value_set=keys))
    return pairs.column("to").take(pc.index_in(keys, value_set=pairs.column("from")))


def _prefixed(prefix: str, values: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """``prefix`` + each value, in Arrow."""
    return pc.binary_join_element_wise(
        pa.scalar(prefix, ID_TEXT), values.cast(ID_TEXT), pa.scalar("", ID_TEXT)
    )


def person_of_records(of: pd.DataFrame) -> pd.Series:
    """Record key -> person id from an ``OF`` edge table."""
    records = pd.Index(of["from"].to_numpy(dtype=object))
    person = pd.Series(of["to"].to_numpy(dtype=object), index=records)
    if records.is_unique:  # as it is (one OF edge per record); kept on the index for lookups
        return person
    return person[~records.duplicated()]


def household_groups(member: pd.DataFrame) -> pd.Series:
    """Person id -> household group, from a ``MEMBER_OF`` edge table.

    A group is a connected piece of the person-household graph, named by its smallest household
    id.
    """
    if member.empty:
        return pd.Series(dtype=object)
    people = pd.Index(member["from"].to_numpy(dtype=object))
    if people.is_unique:
        # each person in one household (the usual case): the groups are the households
        return pd.Series(member["to"].to_numpy(dtype=object), index=people)
    p, persons = pd.factorize(member["from"])
    h, households = pd.factorize(member["to"])
    h = h + len(persons)
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    n = len(persons) + len(households)
    graph = coo_matrix((np.ones(len(p), dtype=np.int8), (p, h)), shape=(n, n))
    _, label = connected_components(graph, directed=False)
    # name each group by its smallest household id (sorting strings beats a grouped min)
    named = pd.DataFrame(
        {"group": label[len(persons) :], "name": np.asarray(households, dtype=object)}
    )
    first = named.sort_values("name").drop_duplicates("group")
    name_of = pd.Series(first["name"].to_numpy(), index=first["group"].to_numpy())
    return pd.Series(name_of.reindex(label[: len(persons)]).to_numpy(), index=pd.Index(persons))


def household_of(persons: pd.Series, households: pd.Series) -> pd.Series:
    """The household group of each person in ``persons`` (values), ``person:<id>`` if none."""
    group = persons.map(households).astype(object)
    alone = group.isna()
    if alone.any():
        group[alone] = ALONE + persons[alone].astype(str)
    return group


def widest_paths(start: str, adjacency: dict[str, dict[str, float]]) -> dict[str, float]:
    """For every node reachable from ``start``, the best bottleneck (widest-path) probability.

    ``adjacency`` maps a record to its linked records and the links' probabilities.
    """
    import heapq

    best: dict[str, float] = {start: 1.0}
    heap = [(-1.0, start)]
    while heap:
        width, node = heapq.heappop(heap)
        width = -width
        if width < best.get(node, 0.0):
            continue
        for other, p in adjacency.get(node, {}).items():
            through = min(width, p)
            if through > best.get(other, -1.0):
                best[other] = through
                heapq.heappush(heap, (-through, other))
    return best


def adjacency_of(
    links: pd.DataFrame | Sequence[tuple[str, str, Any]],
) -> dict[str, dict[str, float]]:
    """Links as ``{record: {linked record: probability}}`` (the strongest of duplicates), from a
    table of links or their ``(from, to, probability)`` rows."""
    adjacency: dict[str, dict[str, float]] = {}
    rows = (
        zip(links["from"], links["to"], links["probability"], strict=True)
        if isinstance(links, pd.DataFrame)
        else links
    )
    for a, b, p in rows:
        if p is None or p != p:
            continue
        p = float(p)
        if p > adjacency.setdefault(a, {}).get(b, -1.0):
            adjacency[a][b] = p
            adjacency.setdefault(b, {})[a] = p
    return adjacency


def tie_strength(records: Sequence[str], links: pd.DataFrame | dict | Sequence[tuple]) -> float:
    """How strongly scored links tie ``records`` together: the weakest link on the strongest paths.

    That is the smallest, over the records, of the best bottleneck probability of a path of links
    joining it to the first record (paths may run through other records). NaN if some record is
    joined by no path (tied by the resolver's clustering or the assignment alone) or there are
    fewer than two records.
    """
    wanted = list(dict.fromkeys(records))
    adjacency = links if isinstance(links, dict) else adjacency_of(links)
    if len(wanted) < 2 or not adjacency:
        return float("nan")
    best = widest_paths(wanted[0], adjacency)
    if not all(r in best for r in wanted[1:]):
        return float("nan")
    return min(best[r] for r in wanted[1:])


def format_links(
    records: Sequence[str],
    links: pd.DataFrame | Sequence[tuple[str, str, Any]],
    touching: bool = False,
) -> str:
    """The links among ``records`` as ``a~b=0.97;...`` (strongest first, ties by record key, each
    link written smaller key first): the same text whatever order or direction the store holds
    the links in.

    ``links`` is a table of links or their ``(from, to, probability)`` rows (faster for the few
    links of one finding). With ``touching``, every link with at least one end among ``records``.
    """
    keyset = set(records)
    rows = (
        zip(links["from"], links["to"], links["probability"], strict=True)
        if isinstance(links, pd.DataFrame)
        else links
    )
    found: dict[tuple[str, str], float] = {}
    for a, b, p in rows:
        if touching:
            if a not in keyset and b not in keyset:
                continue
        elif a not in keyset or b not in keyset:
            continue
        try:
            p = float(p)
        except (TypeError, ValueError):
            continue
        if p != p:
            continue
        a, b = str(a), str(b)
        key = (b, a) if b < a else (a, b)
        found.setdefault(key, p)  # the first of duplicates, as the table gives them
    ordered = sorted(found.items(), key=lambda item: (-item[1], item[0][0], item[0][1]))
    return ";".join(f"{a}~{b}={p:.3f}" for (a, b), p in ordered)


def joined(values: Iterable[Any]) -> str:
    """Sorted distinct values joined with ``;`` (the CSV convention for lists)."""
    return ";".join(sorted({str(v) for v in values if v is not None and v == v}))


def is_active(status: pd.Series, active: Iterable[str], missing_is_active: bool) -> pd.Series:
    """Vectorised :meth:`graph.policy.Policy.is_active`."""
    lowered = status.astype(object).where(status.notna(), None).str.strip().str.lower()
    missing = lowered.isna() | lowered.eq("")
    return lowered.isin(set(active)) | (missing & missing_is_active)


def household_nids(
    tables: GraphTables,
    groups: set[str] | None = None,
    households: pd.Series | None = None,
    *,
    distinct: bool = True,
) -> pd.DataFrame:
    """``household_id, nid``: the NIDs the members of each household group give, every form.

    Only the members' own records count (not KYC / BTRC rows, which name an owner, not the
    person); an NID's other forms (``SAME_NID``) are added. A person without a household is
    the group ``person:<id>``.

    Parameters
    ----------
    tables:
        The store's tables.
    groups:
        Only these household groups (default: all).
    households:
        Person id -> household group for at least every member of ``groups`` (e.g.
        :meth:`GraphTables.household_groups_of`): then only the members' records are read.
    distinct:
        Without duplicate rows (default); ``False`` leaves them in, for a caller that asks only
        which pairs there are (dropping them compares a million pairs at a million persons).
    """
    if groups is not None and households is not None and "HAS" not in tables._edges:
        return _household_nids_of(tables, groups, households)
    has = tables.edges("HAS")
    owner_sources = {s for s, r in tables.registries.items() if r in ("kyc", "btrc")}
    nid_rows = has["to_label"].to_numpy(dtype=object) == "NID"
    groups_at_end = groups
    if groups is not None and len(groups) > _PER_NODE_LIMIT:
        groups = None  # most of the graph: restricting first would cost more than it saves
    if groups is not None:
        # only the records of the groups' members: find them first, the tables are large
        households = tables.households
        members = set(households.index[households.isin(groups).to_numpy()])
        members.update(g[len(ALONE) :] for g in groups if g.startswith(ALONE))
        of = tables.edges("OF")
        wanted = set(of.loc[of["to"].isin(members).to_numpy(), "from"])
        wanted.update(
            g[len(ALONE) + len(UNRESOLVED) :] for g in groups if g.startswith(ALONE + UNRESOLVED)
        )
        nid_rows &= has["from"].isin(wanted).to_numpy()
    nids = has[nid_rows]
    nids = nids[~tables.from_sources(nids["from"], owner_sources)]
    frame = pd.DataFrame(
        {
            "person_id": tables.persons(pd.Index(nids["from"])).to_numpy(),
            "nid": nids["to"].to_numpy(dtype=object),
        }
    )
    frame["household_id"] = household_of(frame["person_id"], tables.households).to_numpy()
    if groups_at_end is not None:
        frame = frame[frame["household_id"].isin(pd.Index(list(groups_at_end)))]
    frame = frame[["household_id", "nid"]]
    return _with_other_forms(frame, tables.edges("SAME_NID"), distinct=distinct)


def _household_nids_of(
    tables: GraphTables, groups: set[str], households: pd.Series
) -> pd.DataFrame:
    """:func:`household_nids` of some groups, reading only their members' records."""
    owner_sources = {s for s, r in tables.registries.items() if r in ("kyc", "btrc")}
    members = set(households.index[households.isin(groups).to_numpy()])
    members.update(g[len(ALONE) :] for g in groups if g.startswith(ALONE))
    of = tables.edges_at("OF", to_ids=members)
    person = person_of_records(of)
    wanted = set(person.index)
    wanted.update(
        g[len(ALONE) + len(UNRESOLVED) :] for g in groups if g.startswith(ALONE + UNRESOLVED)
    )
    has = tables.edges_at("HAS", from_ids=wanted)
    nids = has[has["to_label"].to_numpy(dtype=object) == "NID"]
    nids = nids[~tables.from_sources(nids["from"], owner_sources)]
    keys = pd.Index(nids["from"])
    named = person.reindex(keys)
    missing = named.isna().to_numpy()
    if missing.any():
        named[missing] = UNRESOLVED + keys[missing].astype(str)
    frame = pd.DataFrame({"person_id": named.to_numpy(), "nid": nids["to"].to_numpy(dtype=object)})
    frame["household_id"] = household_of(frame["person_id"], households).to_numpy()
    frame = frame[frame["household_id"].isin(pd.Index(list(groups)))][["household_id", "nid"]]
    found = set(frame["nid"])
    same = pd.concat(
        [tables.edges_at("SAME_NID", from_ids=found), tables.edges_at("SAME_NID", to_ids=found)]
    )
    return _with_other_forms(frame, same)


def _with_other_forms(
    frame: pd.DataFrame, same: pd.DataFrame, *, distinct: bool = True
) -> pd.DataFrame:
    """``household_id, nid`` rows plus, for each NID, the other forms ``SAME_NID`` ties it to
    (either direction), without duplicates (``distinct``)."""
    if not same.empty:
        forms = pd.concat(
            [
                pd.DataFrame({"nid": same["from"], "other": same["to"]}),
                pd.DataFrame({"nid": same["to"], "other": same["from"]}),
            ]
        )
        extra = frame.merge(forms, on="nid")[["household_id", "other"]]
        frame = pd.concat([frame, extra.rename(columns={"other": "nid"})])
    if not distinct:
        return frame.reset_index(drop=True)
    return frame.drop_duplicates().reset_index(drop=True)
