"""The rows written since a generation's tables: what the journal changed, kept as final states.

A row-level write (the HTTP API's one-record publish, a merge, a delete) goes into the journal
and here, not into a graph of the whole store: for every node and edge the journal touched, its
properties as they are now (or ``None``, deleted). Reads (:class:`graph.embedded.tables.TableSet`)
answer from the tables with these rows laid over them: a table's row that the delta touched is
left out and the delta's row put in its place. So a write costs a look-up of the rows it changes
in the tables (a binary search each) and a few dicts, whatever the size of the graph; a reader
replays the journal into a delta when it opens the store, which costs as much as the journal.

Writes are applied here exactly as :class:`graph.embedded.memory.GraphMemory` applies them (the
contract suite holds both to the same answers): merges set the properties they name and ``None``
removes one; ``replace_edges_from`` removes a node's edges of the type to the label first; a
deleted node takes its edges with it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from graph.embedded.frames import (
    _DELETE_EDGES,
    _DELETE_NODES,
    _MERGE_EDGES,
    _MERGE_NODES,
    _REPLACE_EDGES,
)
from graph.store import StoreCorrupted

__all__ = ["Delta"]

Group = tuple[str, str, str]  # edge type, from label, to label
Pair = tuple[str, str]  # from id, to id


class TableSet(Protocol):
    """What the delta looks up in the tables it lies over (``graph.embedded.tables.TableSet``)."""

    folder: Any

    def base_nodes(self, label: str, ids: Sequence[str]) -> dict[str, dict[str, Any]]: ...

    def base_edges(
        self, group: Group, end: str, ids: Sequence[str]
    ) -> list[tuple[str, str, dict[str, Any]]]: ...

    def all_groups(self) -> list[Group]: ...


def _merged(current: dict | None, props: dict) -> dict:
    """``current`` (``None``: a new node or edge) after a merge of ``props``."""
    merged = {} if current is None else dict(current)
    for name, value in props.items():
        if value is None:
            merged.pop(name, None)
        else:
            merged[name] = value
    return merged


def _same(a: dict, b: dict) -> bool:
    """Equal properties of equal types (``True == 1`` in Python; not here)."""
    return a == b and all(type(a[k]) is type(b[k]) for k in a)


class Delta:
    """The final state of every node and edge written since the tables (see the module).

    ``nodes[label][id]`` and ``edges[(type, from_label, to_label)][(from, to)]`` hold the
    properties (without ``id``, ``from``, ``to``) or ``None`` for deleted; ``out`` and ``into``
    index the touched edges by their ends; ``nodes_added`` and ``edges_added`` count, per label and
    type, how many more the graph holds than the tables. ``version`` grows with every change.
    """

    def __init__(self) -> None:
        self.nodes: dict[str, dict[str, dict | None]] = {}
        self.edges: dict[Group, dict[Pair, dict | None]] = {}
        self.out: dict[Group, dict[str, set[str]]] = {}
        self.into: dict[Group, dict[str, set[str]]] = {}
        self.nodes_added: Counter[str] = Counter()
        self.edges_added: Counter[str] = Counter()
        self.version = 0

    def __len__(self) -> int:
        """How many nodes and edges the delta holds (touched, deleted ones too)."""
        return sum(map(len, self.nodes.values())) + sum(map(len, self.edges.values()))

    def groups(self) -> list[Group]:
        return [group for group, rows in self.edges.items() if rows]

    # --- what is there now --------------------------------------------------------------------

    def node_state(self, tables: TableSet, label: str, ids: Iterable[str]) -> dict[str, dict]:
        """The properties of the nodes among ``ids`` that exist (touched or in the tables)."""
        touched = self.nodes.get(label, {})
        found = {i: p for i in ids if i in touched and (p := touched[i]) is not None}
        rest = [i for i in dict.fromkeys(ids) if i not in touched]
        if rest:
            found.update(tables.base_nodes(label, rest))
        return found

    def edges_at(
        self, tables: TableSet, group: Group, end: str, ids: Iterable[str]
    ) -> list[tuple[str, str, dict]]:
        """The edges of ``group`` whose ``end`` (``from`` or ``to``) is one of ``ids``."""
        ids = list(dict.fromkeys(ids))
        touched = self.edges.get(group, {})
        found = [
            (s, t, p) for s, t, p in tables.base_edges(group, end, ids) if (s, t) not in touched
        ]
        index = (self.out if end == "from" else self.into).get(group, {})
        for i in ids:
            for other in index.get(i, ()):
                pair = (i, other) if end == "from" else (other, i)
                props = touched[pair]
                if props is not None:
                    found.append((*pair, props))
        return found

    # --- writes (journal operations) ------------------------------------------------------------

    def apply(self, tables: TableSet, op: tuple) -> None:
        """Make one journal operation's change, over ``tables``."""
        kind = op[0]
        if kind == _MERGE_NODES:
            self._merge_nodes(tables, op[1], op[2])
        elif kind == _MERGE_EDGES:
            self._merge_edges(tables, (op[1], op[2], op[3]), op[4])
        elif kind == _REPLACE_EDGES:
            group = (op[1], op[2], op[3])
            for s, t, _ in self.edges_at(tables, group, "from", op[4]):
                self._set_edge(group, (s, t), None, -1)
            self._merge_edges(tables, group, op[5])
        elif kind == _DELETE_EDGES:
            group = (op[1], op[2], op[3])
            wanted = set(map(tuple, op[4]))
            starts = [s for s, _ in op[4]]
            for s, t, _ in self.edges_at(tables, group, "from", starts):
                if (s, t) in wanted:
                    self._set_edge(group, (s, t), None, -1)
        elif kind == _DELETE_NODES:
            self._delete_nodes(tables, op[1], op[2])
        else:
            raise StoreCorrupted(f"{tables.folder}: unknown operation {kind!r} in the journal")
        self.version += 1

    def _merge_nodes(self, tables: TableSet, label: str, rows: list[tuple[str, dict]]) -> None:
        touched = self.nodes.setdefault(label, {})
        base = tables.base_nodes(label, [i for i, _ in rows if i not in touched])
        for node_id, props in rows:
            if node_id in touched:
                current = touched[node_id]
            else:
                current = base.get(node_id)
            merged = _merged(current, props)
            if current is None:
                self.nodes_added[label] += 1
            elif node_id not in touched and _same(merged, current):
                continue  # as the tables have it: nothing to lay over them
            touched[node_id] = merged

    def _merge_edges(
        self, tables: TableSet, group: Group, rows: list[tuple[str, str, dict]]
    ) -> None:
        touched = self.edges.setdefault(group, {})
        starts = [s for s, t, _ in rows if (s, t) not in touched]
        base = {(s, t): p for s, t, p in tables.base_edges(group, "from", starts)}
        for s, t, props in rows:
            pair = (s, t)
            current = touched[pair] if pair in touched else base.get(pair)
            merged = _merged(current, props)
            if current is not None and pair not in touched and _same(merged, current):
                continue
            self._set_edge(group, pair, merged, 1 if current is None else 0)

    def _set_edge(self, group: Group, pair: Pair, props: dict | None, added: int) -> None:
        self.edges.setdefault(group, {})[pair] = props
        self.out.setdefault(group, {}).setdefault(pair[0], set()).add(pair[1])
        self.into.setdefault(group, {}).setdefault(pair[1], set()).add(pair[0])
        self.edges_added[group[0]] += added

    def _delete_nodes(self, tables: TableSet, label: str, ids: list[str]) -> None:
        present = self.node_state(tables, label, ids)
        gone = [i for i in dict.fromkeys(ids) if i in present]
        if not gone:
            return
        touched = self.nodes.setdefault(label, {})
        for node_id in gone:
            touched[node_id] = None
            self.nodes_added[label] -= 1
        for group in tables.all_groups():
            for end, end_label in (("from", group[1]), ("to", group[2])):
                if end_label != label:
                    continue
                for s, t, _ in self.edges_at(tables, group, end, gone):
                    if self.edges.get(group, {}).get((s, t), True) is not None:
                        self._set_edge(group, (s, t), None, -1)

    def node_rows(self, label: str, ids: Iterable[str] | None = None) -> list[tuple[str, dict]]:
        """The touched nodes of ``label`` that exist, as ``(id, properties)`` (of ``ids`` only)."""
        touched = self.nodes.get(label, {})
        if ids is None:
            return [(i, p) for i, p in touched.items() if p is not None]
        return [(i, p) for i in ids if (p := touched.get(i)) is not None]

    def edge_rows(
        self, group: Group, starts: set[str] | None = None, ends: set[str] | None = None
    ) -> list[tuple[str, str, dict]]:
        """The touched edges of ``group`` that exist (from ``starts`` / to ``ends`` only)."""
        touched = self.edges.get(group, {})
        if starts is not None:
            index = self.out.get(group, {})
            pairs: Iterable[Pair] = ((s, t) for s in starts for t in index.get(s, ()))
        elif ends is not None:
            index = self.into.get(group, {})
            pairs = ((s, t) for t in ends for s in index.get(t, ()))
        else:
            pairs = touched
        rows = []
        for pair in pairs:
            props = touched[pair]
            if props is not None and (ends is None or pair[1] in ends):
                rows.append((pair[0], pair[1], props))
        return rows

    def touches(self, label_or_group: str | Group) -> bool:
        if isinstance(label_or_group, str):
            return bool(self.nodes.get(label_or_group))
        return bool(self.edges.get(label_or_group))
