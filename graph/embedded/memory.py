"""The embedded store's graph in memory: a networkx DiGraph of the whole graph.

The store keeps its graph on disk as tables (:mod:`graph.embedded.tables`) with the rows written
since laid over them (:mod:`graph.embedded.delta`) and answers from them; this in-memory graph is
built only when asked for (:attr:`EmbeddedStore.graph`, for networkx algorithms), and is what a
store written by an older ekjon (a pickled snapshot) is read into.

Nodes are keyed ``(label, id)``; ``graph.nodes[key]`` holds the properties, and ``graph[u][v]``
maps each edge type between ``u`` and ``v`` to the edge's properties. Identical edge property
dicts, repeated categorical values and empty adjacency dicts are shared between nodes and edges to
keep memory down, so the graph must be treated as read-only: write through the store.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from types import MappingProxyType
from typing import Any

import networkx as nx
import pandas as pd

from ekjon.collector import cycle_collection_paused
from graph import schema
from graph.embedded.frames import (
    _DELETE_EDGES,
    _DELETE_NODES,
    _MERGE_EDGES,
    _MERGE_NODES,
    _REPLACE_EDGES,
)
from graph.store import (
    SHARED_COLUMNS,
    MissingNode,
    Neighbour,
    StoreCorrupted,
    column_table,
    table,
)

#: Adjacency of a node without edges in that direction: one shared, immutable empty mapping.
_NO_EDGES: Mapping[Any, Any] = MappingProxyType({})
_MISSING = float("nan")  # a property an edge lacks, as a table of row dicts shows it


class GraphMemory:
    """The whole graph as a networkx DiGraph, changed by journal operations (see the module)."""

    def __init__(self, where: object = "the graph store") -> None:
        self.where = where
        self._g = nx.DiGraph()
        nx.freeze(self._g)
        self._index: dict[str, dict[str, tuple[str, str]]] = {label: {} for label in schema.NODES}
        self._edge_count: Counter[str] = Counter()
        self._values: dict[str, str] = {}  # one shared copy of each categorical value
        self._edge_props: dict[tuple, dict] = {}  # one shared dict per distinct edge properties
        self._categorical = {label: spec.categorical for label, spec in schema.NODES.items()}
        self._repetitive = {t for t, spec in schema.EDGES.items() if spec.repetitive}
        # the one shared {type: {}} dict of all edges of a type without properties
        self._bare: dict[str, dict[str, dict]] = {t: {t: {}} for t in schema.EDGES}
        self._forget_tables()

    @property
    def graph(self) -> nx.DiGraph:
        return self._g

    def __len__(self) -> int:
        return len(self._g._node)

    def has_node(self, label: str, id: str) -> bool:
        return id in self._index[label]

    def present(self, label: str, ids: Sequence[str]) -> set[str]:
        index = self._index[label]
        return {i for i in ids if i in index}

    # --- the whole graph as rows, for tables --------------------------------------------------

    def node_rows(self, label: str) -> Iterator[tuple[str, dict]]:
        """``(id, properties)`` of every node of ``label``."""
        node_props = self._g._node
        for node_id, key in self._index[label].items():
            yield node_id, node_props[key]

    def edge_rows(self) -> dict[tuple[str, str, str], list[tuple[str, str, dict]]]:
        """Per ``(type, from_label, to_label)``, the ``(from, to, properties)`` of its edges."""
        groups: dict[tuple[str, str, str], list[tuple[str, str, dict]]] = {}
        for u, out in self._g._succ.items():
            for v, types in out.items():
                for kind, props in types.items():
                    group = groups.get((kind, u[0], v[0]))
                    if group is None:
                        group = groups[(kind, u[0], v[0])] = []
                    group.append((u[1], v[1], props))
        return groups

    # --- reads ----------------------------------------------------------------------------------

    def node(self, label: str, id: str) -> dict[str, Any] | None:
        """The node's properties with its ``id``, or ``None``."""
        key = self._index[label].get(id)
        if key is None:
            return None
        return {"id": id, **self._g._node[key]}

    def neighbours(
        self,
        label: str,
        id: str,
        edge_type: str | None = None,
        direction: str = "out",
        neighbour_label: str | None = None,
    ) -> list[Neighbour]:
        """The edges at one node; see :meth:`graph.store.GraphStore.neighbours`."""
        key = self._index[label].get(id)
        if key is None:
            return []
        sides = []
        if direction in ("out", "both"):
            sides.append(self._g._succ[key])
        if direction in ("in", "both"):
            sides.append(self._g._pred[key])
        found = []
        node_props = self._g._node
        for adjacency in sides:
            for other, types in adjacency.items():
                if neighbour_label is not None and other[0] != neighbour_label:
                    continue
                for kind, props in types.items():
                    if edge_type is None or kind == edge_type:
                        found.append(
                            Neighbour(
                                kind,
                                dict(props),
                                other[0],
                                {"id": other[1], **node_props[other]},
                            )
                        )
        found.sort(key=lambda n: (n.edge_type, n.label, n.props["id"]))
        return found

    def nodes(
        self,
        label: str,
        properties: Sequence[str] | None = None,
        ids: Iterable[str] | None = None,
    ) -> pd.DataFrame:
        """Every node of ``label`` as a table; see :meth:`graph.store.GraphStore.nodes`."""
        node_props = self._g._node
        index = self._index[label]
        if ids is None:
            names, keys = list(index), list(index.values())
        else:
            names = [i for i in dict.fromkeys(ids) if i in index]
            keys = [index[i] for i in names]
        if properties is None:
            records = ({"id": i, **node_props[k]} for i, k in zip(names, keys, strict=True))
            return table(records, ("id",), properties)
        wanted = list(dict.fromkeys(p for p in properties if p != "id"))
        with cycle_collection_paused():
            props = [node_props[k] for k in keys]
            columns = {"id": names}
            for name in wanted:  # missing as None, as the Neo4j store gives it
                columns[name] = [row.get(name) for row in props]
            return column_table(columns, ["id", *(p for p in properties if p != "id")])

    def edges(
        self,
        edge_type: str,
        from_ids: Iterable[str] | None = None,
        to_ids: Iterable[str] | None = None,
    ) -> pd.DataFrame:
        """Every edge of ``edge_type`` as a table; see :meth:`graph.store.GraphStore.edges`.

        The edges of all types out of a label are gathered in one walk over that label's
        adjacency; each type's table is built when first asked for and kept until the next write,
        so the whole-graph queries pay for the walk once.
        """
        spec = schema.edge_spec(edge_type)
        if from_ids is not None or to_ids is not None:
            return table(self._some_edges(spec, from_ids, to_ids), schema.EDGE_COLUMNS)
        if edge_type not in self._tables:
            with cycle_collection_paused():
                for from_label in spec.from_labels:
                    self._walk_edges(from_label)
                self._tables[edge_type] = self._edge_table(edge_type)
        return self._tables[edge_type].copy()

    def _some_edges(
        self, spec: schema.EdgeSpec, from_ids: Iterable[str] | None, to_ids: Iterable[str] | None
    ) -> list[dict[str, Any]]:
        """The edges of one type at the named nodes, as rows (see :meth:`edges`)."""
        edge_type = spec.type
        from_labels = set(spec.from_labels)
        to_labels = {b for _, b in spec.ends}
        ends = None if to_ids is None else set(to_ids)
        rows = []
        if from_ids is not None:
            succ = self._g._succ
            for from_id in dict.fromkeys(from_ids):
                for from_label in spec.from_labels:
                    key = self._index[from_label].get(from_id)
                    if key is None:
                        continue
                    for other, types in succ[key].items():
                        props = types.get(edge_type)
                        if (
                            props is not None
                            and other[0] in to_labels
                            and (ends is None or other[1] in ends)
                        ):
                            rows.append(
                                {
                                    "from": from_id,
                                    "to": other[1],
                                    "from_label": from_label,
                                    "to_label": other[0],
                                    **props,
                                }
                            )
            return rows
        pred = self._g._pred
        for to_id in ends or ():
            for to_label in to_labels:
                key = self._index[to_label].get(to_id)
                if key is None:
                    continue
                for other, types in pred[key].items():
                    props = types.get(edge_type)
                    if props is not None and other[0] in from_labels:
                        rows.append(
                            {
                                "from": other[1],
                                "to": to_id,
                                "from_label": other[0],
                                "to_label": to_label,
                                **props,
                            }
                        )
        return rows

    def shared_identifiers(
        self, labels: Sequence[str], exclude_sources: Iterable[str] = ()
    ) -> pd.DataFrame:
        """Identifiers of several households; see :meth:`GraphStore.shared_identifiers`.

        A walk over the identifiers' incoming ``HAS`` edges: only identifiers given by two records
        or more are looked at further.
        """
        excluded = set(exclude_sources)
        found: dict[str, list] = {name: [] for name in SHARED_COLUMNS}
        with cycle_collection_paused():
            succ, pred, node_props = self._g._succ, self._g._pred, self._g._node
            # per record: None if its source is excluded, else (person, households); equal
            # household sets are one object, so members of one household compare by identity
            of_record: dict[tuple[str, str], tuple | None] = {}
            of_person: dict[tuple[str, str], frozenset] = {}
            interned: dict[frozenset, frozenset] = {}
            nowhere: frozenset = frozenset()

            def look(record: tuple[str, str]) -> tuple | None:
                if node_props[record].get("source") in excluded:
                    return None
                for other, types in succ[record].items():
                    if other[0] == "Person" and "OF" in types:
                        homes = of_person.get(other)
                        if homes is None:
                            homes = frozenset(
                                h for h, kinds in succ[other].items() if "MEMBER_OF" in kinds
                            )
                            homes = of_person[other] = interned.setdefault(homes, homes)
                        return (other, homes)
                return (None, nowhere)

            for label in dict.fromkeys(labels):
                for key in self._index[label].values():
                    into = pred[key]
                    if len(into) < 2:
                        continue
                    given = 0
                    common: frozenset | None = None
                    for record, types in into.items():
                        if "HAS" not in types:
                            continue
                        info = of_record.get(record, False)
                        if info is False:
                            info = of_record[record] = look(record)
                        if info is None:
                            continue
                        given += 1
                        homes = info[1]
                        if common is None:
                            common = homes
                        elif common and homes is not common:
                            common = common & homes
                    if given < 2 or common:
                        continue
                    for record, types in into.items():
                        info = of_record.get(record) if "HAS" in types else None
                        if info is None:
                            continue
                        found["label"].append(label)
                        found["identifier"].append(key[1])
                        found["record"].append(record[1])
                        found["person"].append(None if info[0] is None else info[0][1])
        return pd.DataFrame(found, columns=list(SHARED_COLUMNS))

    def _walk_edges(self, from_label: str) -> None:
        """Collect every edge out of ``from_label`` nodes, by type, as columns."""
        if from_label in self._walked:
            return
        succ = self._g._succ
        rows: dict[str, list] = self._edge_rows
        for from_id, key in self._index[from_label].items():
            for other, types in succ[key].items():
                for kind, props in types.items():
                    found = rows.get(kind)
                    if found is None:
                        found = rows[kind] = [[], [], [], [], []]
                    found[0].append(from_id)
                    found[1].append(other[1])
                    found[2].append(from_label)
                    found[3].append(other[0])
                    found[4].append(props)
        self._walked.add(from_label)

    def _edge_table(self, edge_type: str) -> pd.DataFrame:
        """The table of ``edge_type`` from the walked columns (which it then lets go of)."""
        found = self._edge_rows.pop(edge_type, None)
        if found is None:
            return pd.DataFrame(columns=list(schema.EDGE_COLUMNS))
        starts, ends, from_labels, to_labels, props = found
        columns: dict[str, list] = dict(
            zip(schema.EDGE_COLUMNS, (starts, ends, from_labels, to_labels), strict=True)
        )
        names = sorted({name for row in props if row for name in row})
        for name in names:
            columns[name] = [row.get(name, _MISSING) for row in props]
        return column_table(columns, [*schema.EDGE_COLUMNS, *names])

    def count(self, name: str) -> int:
        """How many nodes have the label ``name``, or edges the type ``name``."""
        if name in schema.NODES:
            return len(self._index[name])
        return self._edge_count[name]

    # --- writes ---

    def _forget_tables(self) -> None:
        """Drop the edge tables kept for reads (every write calls this)."""
        self._tables: dict[str, pd.DataFrame] = {}
        self._edge_rows: dict[str, list[list]] = {}
        self._walked: set[str] = set()

    def _changed(self) -> None:
        self._forget_tables()
        clear_cache = getattr(nx, "_clear_cache", None)
        if clear_cache is not None:
            clear_cache(self._g)

    def apply(self, op: tuple) -> None:
        """Make one journal operation's change."""
        kind = op[0]
        if kind == _MERGE_NODES:
            self._apply_merge_nodes(op[1], op[2])
        elif kind == _MERGE_EDGES:
            self._apply_merge_edges(op[1], op[2], op[3], op[4])
        elif kind == _REPLACE_EDGES:
            self._apply_replace_edges(*op[1:])
        elif kind == _DELETE_EDGES:
            self._apply_delete_edges(op[1], op[2], op[3], op[4])
        elif kind == _DELETE_NODES:
            self._apply_delete_nodes(op[1], op[2])
        else:
            raise StoreCorrupted(f"{self.where}: unknown operation {kind!r} in the journal")
        self._changed()

    def _share(self, props: dict, categorical: frozenset[str]) -> None:
        """Replace categorical string values by the one shared copy of each."""
        values = self._values
        for name, value in props.items():  # only values change: safe while iterating
            if type(value) is str and name in categorical:
                props[name] = values.setdefault(value, value)

    def _apply_merge_nodes(self, label: str, rows: list[tuple[str, dict]]) -> None:
        index = self._index[label]
        node, succ, pred = self._g._node, self._g._succ, self._g._pred
        categorical = self._categorical[label]
        for node_id, props in rows:
            key = index.get(node_id)
            if key is None:
                if None in props.values():
                    props = {k: v for k, v in props.items() if v is not None}
                if categorical:
                    self._share(props, categorical)
                key = (label, node_id)
                index[node_id] = key
                node[key] = props
                succ[key] = _NO_EDGES
                pred[key] = _NO_EDGES
            else:
                current = node[key]
                for name, value in props.items():
                    if value is None:
                        current.pop(name, None)
                    else:
                        current[name] = value
                if categorical:
                    self._share(current, categorical)

    def _one_type(self, edge_type: str, props: dict) -> dict:
        """The ``{edge_type: props}`` dict of an edge, shared with equal ones if the type repeats.

        ``props`` must be the caller's to keep; ``None`` values are dropped.
        """
        if None in props.values():
            props = {k: v for k, v in props.items() if v is not None}
        if not props:
            return self._bare[edge_type]
        if edge_type not in self._repetitive:
            return {edge_type: props}
        # Types in the key keep True apart from 1; key order only costs a missed share.
        key = (edge_type, tuple(props.items()), tuple(map(type, props.values())))
        shared = self._edge_props.get(key)
        if shared is None:
            shared = self._edge_props[key] = {edge_type: props}
        return shared

    def _with_type(self, types: dict, edge_type: str, props: dict) -> dict:
        """``types`` (an edge's {type: props}) after merging ``props`` into ``edge_type``."""
        old = types.get(edge_type)
        if old is None:
            self._edge_count[edge_type] += 1
            merged = props
        else:
            merged = {**old, **props}
        if len(types) == 1 and old is not None:
            return self._one_type(edge_type, merged)
        return {**types, edge_type: {k: v for k, v in merged.items() if v is not None}}

    def _missing(self, label: str, node_id: str) -> StoreCorrupted:
        return StoreCorrupted(f"{self.where}: the journal names a missing {label} {node_id!r}")

    def _key(self, label: str, node_id: str) -> tuple[str, str]:
        key = self._index[label].get(node_id)
        if key is None:
            raise self._missing(label, node_id)
        return key

    def _apply_merge_edges(
        self, edge_type: str, from_label: str, to_label: str, rows: list[tuple[str, str, dict]]
    ) -> None:
        succ, pred = self._g._succ, self._g._pred
        starts, ends = self._index[from_label], self._index[to_label]
        one_type, bare = self._one_type, self._bare[edge_type]
        # Snapshot frames share one props object between equal edges: look each up only once.
        seen: dict[int, dict] = {}
        added = 0
        for source, target, props in rows:
            u = starts.get(source)
            v = ends.get(target)
            if u is None or v is None:
                raise self._missing(*((from_label, source) if u is None else (to_label, target)))
            out = succ[u]
            types = out.get(v)
            if types is None:
                if not props:
                    new = bare
                else:
                    cached = seen.get(id(props))
                    if cached is None:
                        cached = seen[id(props)] = one_type(edge_type, props)
                    new = cached
                added += 1
            else:
                new = self._with_type(types, edge_type, props)
            if out is _NO_EDGES:
                out = succ[u] = {}
            into = pred[v]
            if into is _NO_EDGES:
                into = pred[v] = {}
            out[v] = new
            into[u] = new
        self._edge_count[edge_type] += added

    def _remove_edge(self, edge_type: str, u: tuple, v: tuple) -> bool:
        succ, pred = self._g._succ, self._g._pred
        types = succ[u].get(v)
        if types is None or edge_type not in types:
            return False
        if len(types) == 1:
            del succ[u][v]
            del pred[v][u]
        else:
            rest = {k: p for k, p in types.items() if k != edge_type}
            if len(rest) == 1:
                ((kind, props),) = rest.items()
                rest = self._one_type(kind, dict(props))
            succ[u][v] = rest
            pred[v][u] = rest
        self._edge_count[edge_type] -= 1
        return True

    def _apply_replace_edges(
        self,
        edge_type: str,
        from_label: str,
        to_label: str,
        sources: list[str],
        rows: list[tuple[str, str, dict]],
    ) -> None:
        for source in sources:
            u = self._key(from_label, source)
            for v in [v for v in self._g._succ[u] if v[0] == to_label]:
                self._remove_edge(edge_type, u, v)
        self._apply_merge_edges(edge_type, from_label, to_label, rows)

    def _apply_delete_edges(
        self, edge_type: str, from_label: str, to_label: str, rows: list[tuple[str, str]]
    ) -> None:
        for source, target in rows:
            self._remove_edge(edge_type, self._key(from_label, source), self._key(to_label, target))

    def _apply_delete_nodes(self, label: str, ids: list[str]) -> None:
        g = self._g
        index = self._index[label]
        for node_id in ids:
            key = index.pop(node_id, None)
            if key is None:
                continue
            for v, types in g._succ[key].items():
                del g._pred[v][key]
                self._edge_count.subtract(types.keys())
            for u, types in g._pred[key].items():
                if u != key:
                    del g._succ[u][key]
                    self._edge_count.subtract(types.keys())
            del g._succ[key], g._pred[key], g._node[key]

    def has_edge(
        self, edge_type: str, from_label: str, source: str, to_label: str, target: str
    ) -> bool:
        u = self._index[from_label].get(source)
        v = self._index[to_label].get(target)
        if u is None or v is None:
            return False
        types = self._g._succ[u].get(v)
        return types is not None and edge_type in types

    def check_ends_exist(
        self, edge_type: str, from_label: str, to_label: str, rows: list[tuple[str, str, dict]]
    ) -> None:
        starts, ends = self._index[from_label], self._index[to_label]
        MissingNode.check(edge_type, from_label, to_label, rows, starts, ends)

    # --- disk -------------------------------------------------------------------------------------

    def count_edges(self) -> int:
        """Every edge, of all types."""
        return self._edge_count.total()
