"""Clustering scored pairs into persons without chaining through shared phones or one weak link.

Records are nodes and scored pairs weighted edges, the weight being the match log-odds
``log(p / (1 - p))``. Taking connected components of every positive edge would chain a household
into one "person" (mother ~ daughter through a shared wallet, daughter ~ aunt through a shared
name), so:

1. **Components** of the confident edges (log-odds above ``link_threshold``, cannot-links excluded),
   with scipy's sparse connected components: cheap, and most components are final here.
2. A component is **accepted as is** when every pair inside it was scored positive and none is a
   cannot-link (two different NIDs of the same form; two members of one household of one source).
3. Any other component is **split by constrained average linkage** on the log-odds: start from
   single records and repeatedly merge the two groups whose average log-odds over the scored pairs
   between them is highest, while that average is positive and no cannot-link joins them. A weak
   bridge between two tight groups averages out negative and is cut; a household member linked
   through one shared wallet never joins.

4. **Household evidence** (:func:`cluster_with_households`): a record that comes with a household
   (a survey lists the family) and a candidate of another source scored at least
   :data:`HOUSEHOLD_FLOOR` are linked (their weight raised to :data:`HOUSEHOLD_LOGODDS`) when the
   candidate's person holds a phone or wallet number that the person of a member of that household
   holds (:func:`household_evidence`); the records are then clustered again. A name, an age and a
   district fit many namesakes; one of them holding the household's number rarely is a
   coincidence.

:func:`complete_pairs` lists the pairs inside small components that blocking did not produce, so the
pipeline can score them before step 3 and the average sees every pair.

Example
-------
>>> import numpy as np
>>> left, right = np.array([0, 1, 0]), np.array([1, 2, 2])
>>> logodds = np.array([5.0, 1.0, -6.0])   # 0~1 strong, 1~2 weak bridge, 0 vs 2 clearly different
>>> cluster_records(3, left, right, logodds).tolist()
[0, 0, 1]
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

#: weights are clipped to this many nats either way: no single pair is infinitely sure.
MAX_LOGODDS = 20.0
#: Pairs scored between ``-NEUTRAL_BAND`` and 0 log-odds count as no evidence when splitting.
NEUTRAL_BAND = 3.0


def logodds(probability: np.ndarray) -> np.ndarray:
    """``log(p / (1 - p))`` clipped to +-:data:`MAX_LOGODDS`."""
    p = np.clip(np.asarray(probability, dtype=np.float64), 1e-9, 1 - 1e-9)
    return np.clip(np.log(p) - np.log1p(-p), -MAX_LOGODDS, MAX_LOGODDS)


@dataclass
class ClusterStats:
    """What clustering did: components found, accepted as is, split, the largest one, and the
    pairs household evidence linked (:func:`cluster_with_households`) and the name-and-age-only
    pairs capped before (:func:`engine.resolve.crowded.crowded_pairs`)."""

    components: int = 0
    accepted: int = 0
    reviewed: int = 0
    split: int = 0
    largest_component: int = 0
    household_links: int = 0
    crowded_links: int = 0


def key_order(keys: np.ndarray | pd.Series) -> np.ndarray:
    """The rank of each record key (``source/record_id``) in sorted order: the canonical order
    clustering breaks ties in (the identity ledger orders clusters by their smallest key too).

    Example
    -------
    >>> key_order(np.array(["dss/2", "dss/10", "bbs/1"], dtype=object)).tolist()
    [2, 1, 0]
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    text = pa.array(np.asarray(keys, dtype=object), type=pa.string())
    rank = pc.rank(text, sort_keys="ascending", tiebreaker="first")
    return rank.to_numpy().astype(np.int64) - 1


def components(n: int, left: np.ndarray, right: np.ndarray, strong: np.ndarray) -> np.ndarray:
    """Connected-component label of every record over the ``strong`` edges."""
    # imported here: scipy's import costs 0.3 s that ``ekjon match`` (one record) never needs
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    if n == 0:
        return np.empty(0, np.int64)
    a, b = left[strong], right[strong]
    graph = coo_matrix((np.ones(len(a), dtype=np.int8), (a, b)), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    return labels.astype(np.int64)


def complete_pairs(labels: np.ndarray, known: pd.DataFrame, max_size: int = 60) -> pd.DataFrame:
    """Pairs inside components of 3 to ``max_size`` records that are not in ``known`` (left <
    right)."""
    from engine.resolve.blocking import pairs_within_blocks

    n = len(labels)
    sizes = np.bincount(labels)[labels]
    rows = np.flatnonzero((sizes >= 3) & (sizes <= max_size)).astype(np.int64)
    left, right = pairs_within_blocks(rows, labels[rows])
    if len(left) == 0:
        return pd.DataFrame({"left": left, "right": right})
    code = left * n + right
    known_left = known["left"].to_numpy(np.int64)
    known_right = known["right"].to_numpy(np.int64)
    # only known pairs inside one such component can be among them: matching the few against the
    # pairs is much faster than all the scored pairs (tens of millions at a million records)
    inside = (labels[known_left] == labels[known_right]) & (sizes[known_left] >= 3)
    inside &= sizes[known_left] <= max_size
    known_code = known_left[inside] * n + known_right[inside]
    new = ~np.isin(code, known_code)
    return pd.DataFrame({"left": left[new], "right": right[new]})


def average_linkage(
    size: int,
    left: np.ndarray,
    right: np.ndarray,
    weight: np.ndarray,
    cannot: np.ndarray,
    neutral: float = NEUTRAL_BAND,
    order: np.ndarray | None = None,
) -> np.ndarray:
    """Constrained average linkage of ``size`` records (local numbering) on scored pairs.

    Two groups merge while the mean weight of the scored pairs between them is the highest
    remaining, is positive, and no cannot-link pair joins them. Unscored pairs carry no evidence
    either way, and neither do pairs scored only mildly negative (log-odds in ``(-neutral, 0]``):
    that is a pair with too little in common to link on its own (a wallet KYC record and a survey
    record that share only a name and an age), not one that contradicts the link.

    Equal means are common (a record without an NID scored the same against two namesakes whose
    NIDs differ, both capped at :data:`MAX_LOGODDS`); the tie goes to the pair of records first in
    ``order`` (a rank per record: :func:`key_order` of their record keys), so the groups depend on
    the records, not on the row order they came in. Without it, on the local numbering.

    Returns
    -------
    numpy.ndarray
        A group label (0 ..) per record.
    """
    if order is not None:
        # number the records in their canonical order, link, and give the labels back
        position = np.empty(size, dtype=np.int64)
        position[np.argsort(np.asarray(order), kind="stable")] = np.arange(size)
        labels = average_linkage(
            size, position[left], position[right], weight, cannot, neutral, order=None
        )
        return labels[position]
    cannot_left, cannot_right = left[cannot], right[cannot]
    informative = (weight > 0) | (weight <= -neutral)
    left, right, weight = left[informative], right[informative], weight[informative]
    total = np.zeros((size, size))
    count = np.zeros((size, size))
    forbidden = np.zeros((size, size), dtype=bool)
    np.add.at(total, (left, right), weight)
    np.add.at(total, (right, left), weight)
    np.add.at(count, (left, right), 1)
    np.add.at(count, (right, left), 1)
    forbidden[cannot_left, cannot_right] = True
    forbidden[cannot_right, cannot_left] = True
    alive = np.ones(size, dtype=bool)
    group = np.arange(size)
    while True:
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(count > 0, total / count, -np.inf)
        mean[forbidden] = -np.inf
        mean[~alive, :] = -np.inf
        mean[:, ~alive] = -np.inf
        np.fill_diagonal(mean, -np.inf)
        flat = int(np.argmax(mean))
        a, b = divmod(flat, size)
        if not mean[a, b] > 0:
            break
        # merge b into a
        total[a, :] += total[b, :]
        total[:, a] += total[:, b]
        count[a, :] += count[b, :]
        count[:, a] += count[:, b]
        forbidden[a, :] |= forbidden[b, :]
        forbidden[:, a] |= forbidden[:, b]
        total[a, a] = count[a, a] = 0
        alive[b] = False
        group[group == b] = a
    _, labels = np.unique(group, return_inverse=True)
    return labels


def cluster_records(
    n: int,
    left: np.ndarray,
    right: np.ndarray,
    weight: np.ndarray,
    cannot: np.ndarray | None = None,
    *,
    link_threshold: float = 0.0,
    max_linkage_size: int = 400,
    stats: ClusterStats | None = None,
    order: np.ndarray | None = None,
) -> np.ndarray:
    """A person (cluster) label for each of ``n`` records from scored pairs.

    Parameters
    ----------
    n:
        Number of records (positional rows 0 .. n-1).
    left, right:
        The scored pairs.
    weight:
        Match log-odds of each pair (see :func:`logodds`).
    cannot:
        Boolean per pair: a cannot-link (never one person).
    link_threshold:
        Edges above this log-odds form the first components.
    max_linkage_size:
        A component larger than this is first cut into the components of edges above a raised
        threshold
        (it is then too large to be one person and too large for dense linkage).
    stats:
        Filled with counts when given.
    order:
        A rank per record (:func:`key_order` of the record keys): ties in linkage go to the
        records first in it, so the persons do not depend on the row order. Default: row order.

    Returns
    -------
    numpy.ndarray
        Cluster label per record, ``0 .. k-1``; records in no pair are singletons.
    """
    left = np.asarray(left, dtype=np.int64)
    right = np.asarray(right, dtype=np.int64)
    weight = np.asarray(weight, dtype=np.float64)
    cannot = np.zeros(len(left), dtype=bool) if cannot is None else np.asarray(cannot, dtype=bool)
    stats = stats if stats is not None else ClusterStats()
    rank = np.arange(n, dtype=np.int64) if order is None else np.asarray(order, dtype=np.int64)
    if len(rank) != n:
        raise ValueError(f"Got {len(rank)} ranks in order for {n} records; give one per record.")
    labels = _cluster(n, left, right, weight, cannot, link_threshold, max_linkage_size, stats, rank)
    labels, _ = pd.factorize(labels)
    return labels.astype(np.int64)


def _cluster(
    n: int,
    left: np.ndarray,
    right: np.ndarray,
    weight: np.ndarray,
    cannot: np.ndarray,
    threshold: float,
    max_size: int,
    stats: ClusterStats,
    rank: np.ndarray,
) -> np.ndarray:
    strong = (weight > threshold) & ~cannot
    comp = components(n, left, right, strong)
    sizes = np.bincount(comp)
    stats.components += int((sizes >= 2).sum())
    stats.largest_component = max(stats.largest_component, int(sizes.max()) if n else 0)
    inside = comp[left] == comp[right]
    el, er, ew, ec = left[inside], right[inside], weight[inside], cannot[inside]
    ecomp = comp[el]
    # a component is fine as is when every pair in it is scored, positive and allowed
    pair_code = el * n + er
    order = np.argsort(pair_code, kind="stable")
    # (no pair inside a component, e.g. one source whose records link to nothing: none is first)
    first = np.r_[True, pair_code[order][1:] != pair_code[order][:-1]][: len(order)]
    distinct = np.zeros(len(el), dtype=bool)
    distinct[order[first]] = True
    good = distinct & (ew > threshold) & ~ec
    good_count = np.bincount(ecomp[good], minlength=len(sizes))
    bad = np.bincount(ecomp[~good & distinct], minlength=len(sizes)) > 0
    complete = good_count == sizes * (sizes - 1) // 2
    review = (sizes >= 3) & (bad | ~complete)
    review |= (sizes == 2) & bad
    stats.accepted += int(((sizes >= 2) & ~review).sum())
    stats.reviewed += int(review.sum())
    labels = comp.copy()
    if not review.any():
        return labels
    next_label = n  # fresh labels above any component id
    review_ids = np.flatnonzero(review)
    record_order = np.argsort(comp, kind="stable")
    record_starts = np.r_[0, np.cumsum(sizes)]
    edge_mask = review[ecomp]
    r_el, r_er, r_ew, r_ec, r_comp = (
        el[edge_mask],
        er[edge_mask],
        ew[edge_mask],
        ec[edge_mask],
        ecomp[edge_mask],
    )
    edge_order = np.argsort(r_comp, kind="stable")
    r_el, r_er, r_ew, r_ec, r_comp = (
        r_el[edge_order],
        r_er[edge_order],
        r_ew[edge_order],
        r_ec[edge_order],
        r_comp[edge_order],
    )
    edge_starts = np.searchsorted(r_comp, review_ids, side="left")
    edge_ends = np.searchsorted(r_comp, review_ids, side="right")
    local = np.full(n, -1, dtype=np.int64)
    for cid, es, ee in zip(review_ids, edge_starts, edge_ends, strict=True):
        members = record_order[record_starts[cid] : record_starts[cid + 1]]
        size = len(members)
        local[members] = np.arange(size)
        sl, sr, sw, sc = local[r_el[es:ee]], local[r_er[es:ee]], r_ew[es:ee], r_ec[es:ee]
        if size > max_size:
            # too big for dense linkage: cut at a higher threshold and recurse on the pieces
            log.warning("component of %d records: re-clustering at a raised threshold", size)
            sub = _cluster(size, sl, sr, sw, sc, threshold + 2.0, max_size, stats, rank[members])
        else:
            sub = average_linkage(size, sl, sr, sw, sc, order=rank[members])
        if sub.max() > 0:
            stats.split += 1
        labels[members] = next_label + sub
        next_label += int(sub.max()) + 1
        local[members] = -1
    return labels


# -- household (collective) evidence ---------------------------------------------------------------

#: A pair the model scored at least this probability may be raised by household evidence.
HOUSEHOLD_FLOOR = 0.05
#: A number used by more distinct names than this (a phone farm, an agent's wallet) is no
#: household's own and carries no household evidence.
HOUSEHOLD_NUMBER_NAMES = 8
#: The log-odds (at least) of a pair raised by household evidence.
HOUSEHOLD_LOGODDS = 6.0
#: Rounds of raise -> cluster again at most (a round's new persons carry new numbers).
HOUSEHOLD_ROUNDS = 2


def household_evidence(
    person: np.ndarray,
    left: np.ndarray,
    right: np.ndarray,
    probability: np.ndarray,
    cannot: np.ndarray,
    records: pd.DataFrame | dict[str, np.ndarray],
    *,
    floor: float = HOUSEHOLD_FLOOR,
    max_names: int = HOUSEHOLD_NUMBER_NAMES,
) -> np.ndarray:
    """The scored pairs that household evidence links: a boolean per pair.

    A household's members come with a survey record (or any record with a ``household``): the
    record's person is likely the candidate whose own person shares a phone or wallet number with
    the person of another member (the wife's SIM registration carries the phone the husband's
    allowance gives). Two namesakes, the wrong one and a household's number, rarely meet. A pair
    ``(s, m)`` of two sources, in two ``person`` clusters, scored at least ``floor`` and not a
    cannot-link, is linked when ``s`` is a member of a household and ``m``'s person holds a number
    (used by at most ``max_names`` distinct names: not a phone farm's) that the person of a member
    of ``s``'s household (``s`` included) holds, other than ``m``'s own person; never when ``m``'s
    person already holds another member of that household.

    ``records``: prepared columns ``source``, ``household`` (``-1``: none), ``phone``, ``wallet``
    (``-1``: none), ``phone_names``, ``wallet_names``, row ``i`` record ``i``.
    """
    person = np.asarray(person, dtype=np.int64)
    left = np.asarray(left, dtype=np.int64)
    right = np.asarray(right, dtype=np.int64)
    out = np.zeros(len(left), dtype=bool)
    household = np.asarray(records["household"], dtype=np.int64)
    if not len(left) or not (household >= 0).any():
        return out
    # every person's numbers (a phone farm's left out), sorted by person; numbers as codes
    owner, number = [], []
    for kind in ("phone", "wallet"):
        values = np.asarray(records[kind], dtype=np.int64)
        rows = np.flatnonzero((values >= 0) & (np.asarray(records[f"{kind}_names"]) <= max_names))
        owner.append(person[rows])
        number.append(values[rows])
    owner, number = np.concatenate(owner), np.concatenate(number)
    if not len(number):
        return out
    distinct, number = np.unique(number, return_inverse=True)
    held = np.unique(owner * len(distinct) + number)  # each (person, number) once, by person
    owner, number = held // len(distinct), held % len(distinct)

    def numbers_of(persons: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(i, number) for every number the person ``persons[i]`` holds."""
        start = np.searchsorted(owner, persons, side="left")
        count = np.searchsorted(owner, persons, side="right") - start
        which = np.repeat(np.arange(len(persons)), count)
        at = np.repeat(start - np.cumsum(count) + count, count) + np.arange(int(count.sum()))
        return which, number[at]

    members = np.flatnonzero(household >= 0)
    span = int(person.max()) + 1
    # the persons of each household's members (household * span + person)
    homes = np.unique(household[members] * span + person[members])
    # each (household, number) the person of a member holds: how many persons hold it, and one
    home_household, home_person = homes // span, homes % span
    which, held = numbers_of(home_person)
    code = home_household[which] * len(distinct) + held
    holder = home_person[which]
    order = np.lexsort((holder, code))
    code, holder = code[order], holder[order]
    first = np.r_[True, code[1:] != code[:-1]][: len(code)]
    footprint = code[first]
    if not len(footprint):
        return out
    persons_holding = np.diff(np.r_[np.flatnonzero(first), len(code)])  # (household, person) once
    one_holder = holder[first]

    # the pairs asked about: scored at least the floor (the few), then the rest of the conditions
    asked = np.flatnonzero(np.asarray(probability) >= floor)
    a, b = left[asked], right[asked]
    source = pd.factorize(np.asarray(records["source"]))[0]
    keep = (person[a] != person[b]) & ~np.asarray(cannot, dtype=bool)[asked]
    keep &= source[a] != source[b]
    asked = asked[keep]
    for s_side, m_side in ((left, right), (right, left)):
        rows = asked[household[s_side[asked]] >= 0]
        h, m = household[s_side[rows]], person[m_side[rows]]
        # m's person already holds a member of s's household: it is that member, not s
        at = np.minimum(np.searchsorted(homes, h * span + m), len(homes) - 1)
        keep = homes[at] != h * span + m
        rows, h, m = rows[keep], h[keep], m[keep]
        which, held = numbers_of(m)
        wanted = h[which] * len(distinct) + held
        at = np.minimum(np.searchsorted(footprint, wanted), len(footprint) - 1)
        # held by the person of a member, other than m's own
        found = (footprint[at] == wanted) & (
            (persons_holding[at] > 1) | (one_holder[at] != m[which])
        )
        out[rows[which[found]]] = True
    return out


def cluster_with_households(
    n: int,
    left: np.ndarray,
    right: np.ndarray,
    weight: np.ndarray,
    cannot: np.ndarray,
    probability: np.ndarray,
    records: pd.DataFrame | dict[str, np.ndarray],
    *,
    rounds: int = HOUSEHOLD_ROUNDS,
    stats: ClusterStats | None = None,
    link_threshold: float = 0.0,
    order: np.ndarray | None = None,
    **options: Any,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`cluster_records`, then up to ``rounds`` times: the pairs
    :func:`household_evidence` links (given the persons so far) raised to at least
    :data:`HOUSEHOLD_LOGODDS`, and the components they touch clustered again (the others'
    pairs are unchanged: clustering every record again gives the same persons).

    ``options`` go to :func:`cluster_records`; ``stats`` are the first clustering's, with the
    pairs household evidence linked (``household_links``).

    Returns
    -------
    (labels, weight)
        The person label per record, and the pairs' weights with the raised ones raised.
    """
    left = np.asarray(left, dtype=np.int64)
    right = np.asarray(right, dtype=np.int64)
    weight = np.asarray(weight, dtype=np.float64).copy()
    cannot = np.asarray(cannot, dtype=bool)
    rank = np.arange(n, dtype=np.int64) if order is None else np.asarray(order, dtype=np.int64)
    options.update(link_threshold=link_threshold)
    labels = cluster_records(n, left, right, weight, cannot, stats=stats, order=rank, **options)
    raised = np.zeros(len(weight), dtype=bool)
    for _ in range(rounds):
        new = household_evidence(labels, left, right, probability, cannot, records) & ~raised
        if not new.any():
            break
        raised |= new
        weight[new] = np.maximum(weight[new], HOUSEHOLD_LOGODDS)
        # the components of the confident pairs that hold a raised pair, clustered again
        comp = components(n, left, right, (weight > link_threshold) & ~cannot)
        touched = np.zeros(n, dtype=bool)
        touched[np.isin(comp, comp[left[new]])] = True
        rows = np.flatnonzero(touched)
        local = np.full(n, -1, dtype=np.int64)
        local[rows] = np.arange(len(rows))
        inside = touched[left] & touched[right]
        again = cluster_records(
            len(rows),
            local[left[inside]],
            local[right[inside]],
            weight[inside],
            cannot[inside],
            order=rank[rows],
            **options,
        )
        labels = labels.copy()
        labels[rows] = int(labels.max()) + 1 + again
        labels = pd.factorize(labels)[0].astype(np.int64)
    if stats is not None:
        stats.household_links = int(raised.sum())
    if raised.any():
        log.info("household evidence linked %d pairs", int(raised.sum()))
    return labels, weight
