"""A node's neighbourhood, for looking at: who and what surrounds a person, record or identifier.

:func:`neighbourhood` walks the graph breadth-first from one node and returns a networkx graph;
:func:`draw_neighbourhood` draws it to a PNG. Programme and Source nodes are shown but not walked
through (each joins hundreds of thousands of records).
"""

from __future__ import annotations

import logging
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from graph.schema import NODES
from graph.store import GraphStore

if TYPE_CHECKING:  # imported where a neighbourhood is built: most findings need none
    import networkx as nx

__all__ = ["HUBS", "draw_neighbourhood", "neighbourhood", "node_key"]

log = logging.getLogger(__name__)

#: Labels shown but never expanded: every record of a programme or source hangs off them.
HUBS: Final = frozenset({"Programme", "Source"})

_COLOURS: Final = {
    "Person": "#d62728",
    "Household": "#ff7f0e",
    "Record": "#1f77b4",
    "NID": "#2ca02c",
    "BRN": "#98df8a",
    "Phone": "#9467bd",
    "Account": "#8c564b",
    "Programme": "#e377c2",
    "Source": "#7f7f7f",
}


def node_key(label: str, node_id: str) -> str:
    """The key a node has in the returned graph: ``Label:id``."""
    return f"{label}:{node_id}"


def neighbourhood(
    store: GraphStore,
    label: str,
    id: str,
    depth: int = 2,
    limit: int = 200,
    expand_hubs: bool = False,
) -> nx.MultiDiGraph:
    """The nodes within ``depth`` edges of one node, with the edges among them.

    Parameters
    ----------
    store:
        Any graph store.
    label, id:
        The starting node, e.g. ``("Person", "P1")`` or ``("Phone", "01711000001")``.
    depth:
        How many edges out to walk (in either direction).
    limit:
        Stop adding nodes after this many (the walk is breadth-first, so the nearest are kept).
    expand_hubs:
        Walk through Programme and Source nodes too (rarely wise on a real graph).

    Returns
    -------
    A ``networkx.MultiDiGraph`` whose nodes are ``Label:id`` (:func:`node_key`) with attributes
    ``label``, ``id``, ``depth`` and ``props``; edges keep their direction and carry ``type`` and
    ``props``. Empty if the node does not exist. ``graph.graph["truncated"]`` is True if ``limit``
    cut the walk short.

    Raises
    ------
    graph.store.UnknownLabel
        If ``label`` is not a node label.

    Example
    -------
    >>> g = neighbourhood(store, "Person", "P1", depth=2)                # doctest: +SKIP
    >>> sorted({d["label"] for _, d in g.nodes(data=True)})              # doctest: +SKIP
    ['NID', 'Person', 'Phone', 'Programme', 'Record', 'Source']
    """
    if depth < 0 or limit < 1:
        raise ValueError(
            f"The 'depth' and 'limit' parameters of neighbourhood must be >= 0 and >= 1. "
            f"Got {depth} and {limit}."
        )
    import networkx as nx

    graph = nx.MultiDiGraph(start=node_key(label, id), truncated=False)
    props = store.node(label, id)
    if props is None:
        return graph
    start = node_key(label, id)
    graph.add_node(start, label=label, id=id, depth=0, props=props)
    queue: deque[tuple[str, str, int]] = deque([(label, id, 0)])
    seen_edges: set[tuple[str, str, str]] = set()
    while queue:
        here_label, here_id, here_depth = queue.popleft()
        if here_depth >= depth or (here_label in HUBS and not expand_hubs and here_depth > 0):
            continue
        here = node_key(here_label, here_id)
        for n in store.neighbours(here_label, here_id, direction="both"):
            other = node_key(n.label, n.props["id"])
            if other not in graph:
                if graph.number_of_nodes() >= limit:
                    graph.graph["truncated"] = True
                    continue
                graph.add_node(
                    other, label=n.label, id=n.props["id"], depth=here_depth + 1, props=n.props
                )
                queue.append((n.label, n.props["id"], here_depth + 1))
            # the store does not say which way an edge of "both" points; the schema does
            forward = _points_from(here_label, n.label, n.edge_type, here, other, store)
            a, b = (here, other) if forward else (other, here)
            if (a, n.edge_type, b) in seen_edges:
                continue
            seen_edges.add((a, n.edge_type, b))
            graph.add_edge(a, b, key=n.edge_type, type=n.edge_type, props=n.edge_props)
    return graph


def _points_from(
    here_label: str, other_label: str, edge_type: str, here: str, other: str, store: GraphStore
) -> bool:
    """True if an ``edge_type`` edge between the two nodes goes from ``here`` to ``other``."""
    from graph.schema import EDGES

    ends = EDGES[edge_type].ends
    forward = (here_label, other_label) in ends
    backward = (other_label, here_label) in ends
    if forward and not backward:
        return True
    if backward and not forward:
        return False
    # same labels both ways (SAME_AS, SAME_NID): ask the store which way it is stored
    here_label_, here_id = here.split(":", 1)
    _, other_id = other.split(":", 1)
    return any(
        n.props["id"] == other_id
        for n in store.neighbours(here_label_, here_id, edge_type, direction="out")
    )


def _caption(data: dict[str, Any]) -> str:
    props = data.get("props", {})
    label, node_id = data["label"], data["id"]
    if label == "Record":
        name = props.get("full_name") or props.get("full_name_bn") or ""
        what = props.get("programme") or props.get("kind") or ""
        return f"{node_id}\n{name}\n{what}".strip()
    if label == "Person":
        return f"person {node_id}\n{props.get('name') or ''}".strip()
    if label == "Household":
        return f"household {node_id}"
    return f"{label} {node_id}"


def draw_neighbourhood(
    graph: nx.MultiDiGraph, path: str | Path, title: str | None = None, seed: int = 7
) -> Path:
    """Draw a :func:`neighbourhood` graph to a PNG file.

    Nodes are coloured by label, edges captioned by type (with the probability of ``SAME_AS``).

    Parameters
    ----------
    graph:
        What :func:`neighbourhood` returned.
    path:
        The PNG file to write.
    title:
        A title (default: the starting node).
    seed:
        The layout's seed (the same graph is drawn the same way).

    Returns
    -------
    The path written.

    Example
    -------
    >>> draw_neighbourhood(neighbourhood(store, "Person", "P1"), "p1.png")  # doctest: +SKIP
    """
    import matplotlib
    import networkx as nx

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    n = graph.number_of_nodes()
    size = min(6 + n * 0.15, 24)
    fig, ax = plt.subplots(figsize=(size, size * 0.75))
    try:
        if n:
            layout = nx.spring_layout(nx.Graph(graph), seed=seed, k=1.6 / max(n, 1) ** 0.5)
            colours = [_COLOURS.get(d["label"], "#17becf") for _, d in graph.nodes(data=True)]
            simple = nx.DiGraph(graph)
            nx.draw_networkx_edges(simple, layout, ax=ax, alpha=0.5, arrows=True, arrowsize=10)
            nx.draw_networkx_nodes(graph, layout, ax=ax, node_color=colours, node_size=380)
            nx.draw_networkx_labels(
                graph,
                layout,
                ax=ax,
                labels={k: _caption(d) for k, d in graph.nodes(data=True)},
                font_size=7,
            )
            edge_labels = {}
            for a, b, d in graph.edges(data=True):
                text = d["type"]
                if d["type"] == "SAME_AS" and d["props"].get("probability") is not None:
                    text += f" {float(d['props']['probability']):.2f}"
                edge_labels[(a, b)] = text
            nx.draw_networkx_edge_labels(
                simple, layout, edge_labels=edge_labels, ax=ax, font_size=6
            )
            handles = [
                plt.Line2D([], [], marker="o", linestyle="", color=_COLOURS[lab], label=lab)
                for lab in NODES
                if any(d["label"] == lab for _, d in graph.nodes(data=True))
            ]
            ax.legend(handles=handles, loc="upper left", fontsize=8, frameon=False)
        else:
            ax.text(0.5, 0.5, "no such node", ha="center", va="center")
        heading = title or f"neighbourhood of {graph.graph.get('start', '?')}"
        if graph.graph.get("truncated"):
            heading += " (truncated)"
        ax.set_title(heading)
        ax.set_axis_off()
        fig.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=110)
    finally:
        plt.close(fig)
    log.info("drew %d nodes to %s", n, path)
    return path
