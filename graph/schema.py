"""The identity graph's model: the node labels and edge types, and which labels each edge joins.

Nodes (each keyed by the string property ``id``):

===========  =====================================================================================
label        id and usual properties
===========  =====================================================================================
Record       ``source/record_id``; the canonical record's fields (source, record_id, kind,
             programme, full_name, full_name_bn, gender, date_of_birth, district, union, ...)
Person       the stable person id resolution assigns
Household    the household id
NID          the NID's 13-digit core or 10-digit smart number; ``form`` (``"13"`` / ``"10"``)
BRN          the birth registration number
Phone        the 11-digit mobile number ``01XXXXXXXXX``
Account      ``provider:number`` (:func:`account_id`: a Rocket wallet by its 11-digit mobile part);
             ``provider``, ``number``
Programme    the programme code; ``name``, ``cash`` (bool)
Source       the source's name (an MIS, the household survey, a reference registry)
===========  =====================================================================================

Edges (at most one of a type between two nodes):

==============  ================================  ===========================================
type            from -> to                        properties, meaning
==============  ================================  ===========================================
OF              Record -> Person                  the person resolution put the record in
HAS             Record -> NID|BRN|Phone|Account   ``role`` (``payment`` account, ``contact``)
ENROLLED_IN     Record -> Programme               ``status``, ``since``, ``amount``
FROM            Record -> Source                  the source the record came from
MEMBER_OF       Person -> Household               ``relation`` (to the household head)
SAME_AS         Record -> Record                  ``probability``, ``model_version``
KYC_OWNER       Account -> NID                    the MFS provider's KYC owner of the wallet
REGISTERED_TO   Phone -> NID                      the BTRC SIM registration owner
SAME_NID        NID -> NID                        smart <-> 17/13-digit link (EC extract)
==============  ================================  ===========================================

Adding a label or an edge type is a change to :data:`NODES` / :data:`EDGES` only: both stores and
the Neo4j constraints follow from them. Labels and types are checked against this allow-list
before a store uses them (Neo4j cannot take them as query parameters), and rows are checked and
cleaned here so both stores accept and reject exactly the same input.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import pandas as pd

from graph.store import InvalidEdgeEnds, InvalidRow, UnknownEdgeType, UnknownLabel

#: The node property that names a node; and the keys an edge row names its ends with.
NODE_KEY: Final = "id"
EDGE_FROM: Final = "from"
EDGE_TO: Final = "to"
#: Columns of :meth:`GraphStore.edges` that edge properties may not shadow.
EDGE_COLUMNS: Final = ("from", "to", "from_label", "to_label")


#: a Rocket (DBBL) account: the 11-digit mobile and one trailing digit; sources give either form
ROCKET_ACCOUNT_DIGITS: Final = 12
ROCKET_MOBILE_DIGITS: Final = 11


def account_id(provider: str, number: str) -> str:
    """An ``Account`` node's id, ``provider:number``, from a clean provider and number.

    A Rocket wallet is keyed by its mobile part: the 12-digit account and the 11-digit mobile that
    other sources give for it are one node, so its records meet there and a wallet's persons are
    counted together. Every other account keeps its number.

    Example
    -------
    >>> account_id("rocket", "017112345678"), account_id("rocket", "01711234567")
    ('rocket:01711234567', 'rocket:01711234567')
    >>> account_id("bkash", "01711234567")
    'bkash:01711234567'
    """
    if provider == "rocket" and len(number) == ROCKET_ACCOUNT_DIGITS and number.isdigit():
        number = number[:ROCKET_MOBILE_DIGITS]
    return f"{provider}:{number}"


_INT64 = (-(2**63), 2**63 - 1)


@dataclass(frozen=True)
class NodeSpec:
    """One node label.

    Attributes
    ----------
    label:
        The label, e.g. ``"Record"``.
    description:
        What a node of this label stands for.
    indexed:
        Properties Neo4j indexes besides ``id`` (which has a uniqueness constraint).
    categorical:
        Properties with few distinct values (district, gender, programme...): the embedded store
        keeps one shared copy of each value instead of one per node.
    """

    label: str
    description: str
    indexed: tuple[str, ...] = ()
    categorical: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True)
class EdgeSpec:
    """One edge type.

    Attributes
    ----------
    type:
        The type, e.g. ``"HAS"``.
    ends:
        The ``(from_label, to_label)`` pairs the type may join.
    description:
        What an edge of this type says.
    properties:
        The properties edges of this type usually carry (documentation; others are accepted).
    repetitive:
        True if many edges carry identical properties (``role``, ``relation``...): the embedded
        store shares one property dict between them; False for per-edge values (probabilities).
    """

    type: str
    ends: tuple[tuple[str, str], ...]
    description: str
    properties: tuple[str, ...] = ()
    repetitive: bool = True

    @property
    def from_labels(self) -> tuple[str, ...]:
        """The labels an edge of this type may start from, in schema order."""
        return tuple(dict.fromkeys(a for a, _ in self.ends))


_RECORD_CATEGORICAL = frozenset(
    {
        "source",
        "kind",
        "programme",
        "gender",
        "date_of_birth",
        "birth_year",
        "age_as_of",
        "account_provider",
        "relation_to_head",
        "division",
        "district",
        "upazila",
        "union",
        "ward",
        "status",
        "since",
    }
)

NODES: Final[dict[str, NodeSpec]] = {
    spec.label: spec
    for spec in (
        NodeSpec(
            "Record",
            "one row of one source, as the canonical record",
            indexed=("source", "programme", "district"),
            categorical=_RECORD_CATEGORICAL,
        ),
        NodeSpec("Person", "one human being, as resolution found them"),
        NodeSpec("Household", "a household of the survey or an MIS"),
        NodeSpec("NID", "a national ID number", categorical=frozenset({"form"})),
        NodeSpec("BRN", "a birth registration number"),
        NodeSpec("Phone", "a mobile number", categorical=frozenset({"operator"})),
        NodeSpec(
            "Account",
            "an MFS wallet or bank account, `provider:number`",
            indexed=("provider",),
            categorical=frozenset({"provider"}),
        ),
        NodeSpec("Programme", "a social-protection programme", categorical=frozenset({"cash"})),
        NodeSpec("Source", "an MIS, survey or reference registry", categorical=frozenset({"kind"})),
    )
}

EDGES: Final[dict[str, EdgeSpec]] = {
    spec.type: spec
    for spec in (
        EdgeSpec("OF", (("Record", "Person"),), "the record is of this person"),
        EdgeSpec(
            "HAS",
            (("Record", "NID"), ("Record", "BRN"), ("Record", "Phone"), ("Record", "Account")),
            "the record gives this identifier",
            properties=("role",),
        ),
        EdgeSpec(
            "ENROLLED_IN",
            (("Record", "Programme"),),
            "the record is an enrolment in this programme",
            properties=("status", "since", "amount"),
        ),
        EdgeSpec("FROM", (("Record", "Source"),), "the record comes from this source"),
        EdgeSpec(
            "MEMBER_OF",
            (("Person", "Household"),),
            "the person belongs to this household",
            properties=("relation",),
        ),
        EdgeSpec(
            "SAME_AS",
            (("Record", "Record"),),
            "the match model thinks the two records are one person",
            properties=("probability", "model_version"),
            repetitive=False,
        ),
        EdgeSpec("KYC_OWNER", (("Account", "NID"),), "the provider's KYC names this NID as owner"),
        EdgeSpec("REGISTERED_TO", (("Phone", "NID"),), "the SIM is registered to this NID"),
        EdgeSpec("SAME_NID", (("NID", "NID"),), "two forms of one NID (EC extract)"),
    )
}


def present(row: Mapping[str, Any]) -> dict[str, Any]:
    """A table's row as :meth:`GraphStore.node` and ``edge_list`` give it: only the properties
    it has (a missing one, ``None`` or NaN in a table, left out)."""
    return {k: v for k, v in row.items() if v is not None and not (isinstance(v, float) and v != v)}


def present_rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Each row of a table as :func:`present` gives it."""
    return [present(row) for row in frame.to_dict("records")]


def reference_sources(sources: pd.DataFrame) -> set[str]:
    """Which sources are reference registries (EC, BTRC, KYC, BDRIS extracts), from a table of
    ``Source`` nodes (``id``, ``kind``, ``registry``; either may be missing): those of kind
    ``reference`` and those that name a registry. Their records say who owns an identifier; they
    never count as a beneficiary using it.
    """
    if "id" not in sources or not len(sources):
        return set()
    reference = np.zeros(len(sources), dtype=bool)
    if "kind" in sources:
        reference |= sources["kind"].astype(object).eq("reference").to_numpy(dtype=bool)
    if "registry" in sources:
        reference |= sources["registry"].notna().to_numpy(dtype=bool)
    return set(sources.loc[reference, "id"])


def _one_of(names: Iterable[str]) -> str:
    return ", ".join(sorted(names))


def node_spec(label: str) -> NodeSpec:
    """The spec of ``label``.

    Raises
    ------
    UnknownLabel
        If ``label`` is not a node label of the model.
    """
    try:
        return NODES[label]
    except (KeyError, TypeError):
        raise UnknownLabel(
            f"Unknown node label {label!r}; the graph's labels are {_one_of(NODES)}."
        ) from None


def edge_spec(edge_type: str) -> EdgeSpec:
    """The spec of ``edge_type``.

    Raises
    ------
    UnknownEdgeType
        If ``edge_type`` is not an edge type of the model.
    """
    try:
        return EDGES[edge_type]
    except (KeyError, TypeError):
        raise UnknownEdgeType(
            f"Unknown edge type {edge_type!r}; the graph's edge types are {_one_of(EDGES)}."
        ) from None


def check_ends(edge_type: str, from_label: str, to_label: str) -> EdgeSpec:
    """The spec of ``edge_type`` after checking that it joins ``from_label`` to ``to_label``.

    Raises
    ------
    UnknownEdgeType, UnknownLabel, InvalidEdgeEnds
    """
    spec = edge_spec(edge_type)
    node_spec(from_label)
    node_spec(to_label)
    if (from_label, to_label) not in spec.ends:
        allowed = "; ".join(f"{a} -> {b}" for a, b in spec.ends)
        raise InvalidEdgeEnds(
            f"{edge_type} edges do not join {from_label} -> {to_label}; they join {allowed}."
        )
    return spec


def check_name(name: str) -> None:
    """Check that ``name`` is a node label or an edge type.

    Raises
    ------
    UnknownLabel
        If it is neither (the message lists both labels and edge types).
    """
    if name not in NODES and name not in EDGES:
        raise UnknownLabel(
            f"{name!r} is neither a node label ({_one_of(NODES)}) "
            f"nor an edge type ({_one_of(EDGES)})."
        )


# --- row cleaning ---------------------------------------------------------------------------------


def _clean_value(value: Any, what: str, row: int, key: str) -> Any:
    kind = type(value)
    if kind is str or kind is bool or value is None:
        return value
    if kind is float:
        return None if math.isnan(value) else value
    if kind is int:
        if not _INT64[0] <= value <= _INT64[1]:
            raise InvalidRow(what, row, f"property {key!r} is {value}, beyond a 64-bit integer.")
        return value
    # Values from DataFrame rows: numpy scalars, pandas' missing-value markers.
    if kind.__module__ == "numpy" and hasattr(value, "item"):
        return _clean_value(value.item(), what, row, key)
    if value is pd.NA or value is pd.NaT:
        return None
    for base in (str, int, float):  # subclasses such as StrEnum / IntEnum
        if isinstance(value, base):
            return _clean_value(base(value), what, row, key)
    raise InvalidRow(
        what,
        row,
        f"property {key!r} is a {kind.__name__} ({value!r}); a property is a str, int, float or "
        "bool (dates as ISO 'YYYY-MM-DD' strings).",
    )


def _clean_id(value: Any, what: str, row: int, key: str) -> str:
    if type(value) is str and value:
        return value
    if isinstance(value, str) and value:
        return str(value)
    raise InvalidRow(
        what,
        row,
        f"{key!r} must be a non-empty string, got {value!r} ({type(value).__name__}); "
        "identifiers such as NIDs and phone numbers are strings of digits.",
    )


_PLAIN = frozenset({str, bool})  # values that need no look at all


def _clean_props(row: Mapping[str, Any], reserved: tuple[str, ...], what: str, i: int) -> dict:
    props: dict[str, Any] = {}
    for key, value in row.items():
        if key in reserved:
            continue
        if type(key) is not str or not key:
            raise InvalidRow(what, i, f"property name {key!r} is not a non-empty string.")
        props[key] = value if type(value) in _PLAIN else _clean_value(value, what, i, key)
    return props


def _check_mapping(row: Any, what: str, i: int) -> None:
    if type(row) is not dict and not isinstance(row, Mapping):
        raise InvalidRow(what, i, f"a row is a dict, got {type(row).__name__} ({row!r}).")


def clean_node_rows(
    label: str, rows: Iterable[Mapping[str, Any]], first_row: int = 0
) -> list[tuple[str, dict[str, Any]]]:
    """Check node rows and return them as ``(id, properties)``; ``None`` marks a removal.

    NaN becomes ``None`` and numpy scalars become Python values, so DataFrame rows can be passed.

    Parameters
    ----------
    first_row:
        The position of the first row in the caller's whole stream (for error messages).

    Raises
    ------
    UnknownLabel, InvalidRow
    """
    node_spec(label)
    cleaned = []
    for i, row in enumerate(rows, start=first_row):
        _check_mapping(row, label, i)
        if NODE_KEY not in row:
            raise InvalidRow(label, i, f"the row has no {NODE_KEY!r}: {dict(row)!r}.")
        node_id = _clean_id(row[NODE_KEY], label, i, NODE_KEY)
        cleaned.append((node_id, _clean_props(row, (NODE_KEY,), label, i)))
    return cleaned


def clean_edge_rows(
    edge_type: str,
    from_label: str,
    to_label: str,
    rows: Iterable[Mapping[str, Any]],
    first_row: int = 0,
    with_props: bool = True,
) -> list[tuple[str, str, dict[str, Any]]]:
    """Check edge rows and return them as ``(from, to, properties)``.

    With ``with_props=False`` (deletes) properties are ignored and returned empty.

    Raises
    ------
    UnknownEdgeType, UnknownLabel, InvalidEdgeEnds, InvalidRow
        ``InvalidRow`` also for an edge from a node to itself (no edge type relates a node to
        itself).
    """
    check_ends(edge_type, from_label, to_label)
    cleaned = []
    for i, row in enumerate(rows, start=first_row):
        _check_mapping(row, edge_type, i)
        for key in (EDGE_FROM, EDGE_TO):
            if key not in row:
                raise InvalidRow(edge_type, i, f"the row has no {key!r}: {dict(row)!r}.")
        source = _clean_id(row[EDGE_FROM], edge_type, i, EDGE_FROM)
        target = _clean_id(row[EDGE_TO], edge_type, i, EDGE_TO)
        if source == target and from_label == to_label:
            raise InvalidRow(edge_type, i, f"the edge joins {from_label} {source!r} to itself.")
        props: dict[str, Any] = {}
        if with_props:
            props = _clean_props(row, (EDGE_FROM, EDGE_TO), edge_type, i)
            for key in EDGE_COLUMNS:
                if key in props:
                    raise InvalidRow(edge_type, i, f"{key!r} is reserved and cannot be a property.")
        cleaned.append((source, target, props))
    return cleaned


def clean_ids(label: str, ids: Iterable[str], first_row: int = 0) -> list[str]:
    """Check node ids (for deletes).

    Raises
    ------
    UnknownLabel, InvalidRow
    """
    node_spec(label)
    return [_clean_id(value, label, i, NODE_KEY) for i, value in enumerate(ids, start=first_row)]
