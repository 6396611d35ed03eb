"""Suspicious identifiers: wallets and phones used by several persons who are not one household.

Members of one household share phones and wallets as a matter of course, so sharing *inside* a
household is never reported. What remains (agent wallets paid for strangers, phone farms, hijacked
payments, and some resolution errors) is ranked by a risk score.

The risk score
--------------
For one identifier, over the beneficiary records (``kind`` not ``reference``) that give it:

- ``H`` households and ``P`` persons. ``K`` distinct household groups hold the persons whose
  household is known; ``N`` persons have none (resolution gave none, no survey names one). Such
  persons may well belong to one of the ``K`` households, or to one household together, so each
  counts only ``0.1`` of a household: ``H = K + 0.1 N`` (if ``K`` is 0: ``1 + 0.1 (N - 1)``), and
  ``P`` counts the persons of known households (or 1 if there are none). ``U`` unions
  (district/upazila/union), ``G`` programmes among those records;
- ER confidence ``c``: for each person, one minus the highest ``SAME_AS`` probability between one
  of their records and a record of another of the persons (0 if none was scored); ``c`` is the mean.
  A low ``c`` says the "different persons" may be one person that resolution split;
- the owner: the MFS KYC owner of a wallet (else the BTRC owner of the wallet's mobile number), the
  BTRC owner of a phone. ``outside`` if that NID belongs to none of the persons nor anyone in
  their households, ``inside`` if it does, ``unknown`` without a registry record. An outside
  owner counts in proportion ``k`` of the persons whose household is known (the owner may be an
  unknown household's member).

- locality ``l``: ``0.5`` when every record with a known place is in one union, else 1. A
  household lives in one union, so households that share an identifier inside one union are
  often one household (or one family) that resolution grouped as two, and an "outside" owner
  there is often a member without a record of their own (a parent paying for the children's
  stipends). Only spread across unions is evidence that they are strangers.

With ``H' = 1 + (H - 1) c`` and ``P' = 1 + (P - 1) c``::

    x    = l (1.0 (H' - 1) + 1.5 k [owner outside]) + 0.1 (P' - 1) + 0.5 (U - 1) + 0.25 (G - 1)
    risk = x / (x + 2)

so risk is 0 for one household and below 0.5 (the default ``min_risk``) for two or three
households of one union and programme, even with an outside owner; it passes 0.5 at four
households of one union with an outside owner, or two households in two unions with one. An
agent wallet paying six strangers across three unions, owned by someone else, scores about 0.8.
The weights are :class:`RiskWeights`; change them there, not in the code below.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import pandas as pd

from graph.queries._common import (
    ALONE,
    UNRESOLVED,
    GraphTables,
    household_nids,
    household_of,
    joined,
    without_gc,
)
from graph.store import GraphStore

__all__ = ["SUSPICIOUS_COLUMNS", "RiskWeights", "suspicious_identifiers"]

log = logging.getLogger(__name__)

SUSPICIOUS_COLUMNS: Final = (
    "identifier_type",
    "identifier",
    "risk",
    "persons",
    "households",
    "unions",
    "programmes",
    "owner",
    "owner_nid",
    "er_confidence",
    "person_ids",
    "record_ids",
    "reasons",
)
_TYPES: Final = {"Account": "wallet", "Phone": "phone"}


@dataclass(frozen=True)
class RiskWeights:
    """Weights of the risk score (see the module docstring)."""

    households: float = 1.0
    persons: float = 0.1
    unions: float = 0.5
    programmes: float = 0.25
    owner_outside: float = 1.5
    unknown_household: float = 0.1
    one_union: float = 0.5
    scale: float = 2.0


def _er_confidence(records: pd.DataFrame, links: pd.DataFrame) -> float:
    """Mean over persons of 1 - their strongest link to another of the persons."""
    persons = records["person_id"].nunique()
    if persons < 2 or links.empty:
        return 1.0
    person = dict(zip(records["record_id"], records["person_id"], strict=True))
    strongest: dict[str, float] = {}
    for a, b, p in zip(links["from"], links["to"], links["probability"], strict=True):
        pa, pb = person.get(a), person.get(b)
        if pa is None or pb is None or pa == pb or p is None or p != p:
            continue
        strongest[pa] = max(strongest.get(pa, 0.0), float(p))
        strongest[pb] = max(strongest.get(pb, 0.0), float(p))
    return float(np.mean([1.0 - strongest.get(p, 0.0) for p in records["person_id"].unique()]))


@without_gc
def suspicious_identifiers(
    store: GraphStore,
    *,
    min_risk: float = 0.5,
    min_households: int = 2,
    weights: RiskWeights | None = None,
    tables: GraphTables | None = None,
) -> pd.DataFrame:
    """Wallets and phones tied to several persons who are not one household, ranked by risk.

    Parameters
    ----------
    store:
        Any graph store.
    min_risk:
        Only identifiers at or above this risk are returned (0 returns every shared one).
    min_households:
        Only identifiers used in at least this many household groups are scored.
    weights:
        The score's weights (default :class:`RiskWeights`).
    tables:
        Whole-graph tables to share with other queries (see :class:`GraphTables`).

    Returns
    -------
    A DataFrame with columns :data:`SUSPICIOUS_COLUMNS`, highest risk first: ``identifier_type``
    (``wallet`` / ``phone``), ``identifier`` (``provider:number`` / the mobile number), ``risk``,
    counts of ``persons``, ``households``, ``unions``, ``programmes``, ``owner`` (``outside`` /
    ``inside`` / ``unknown``), ``owner_nid``, ``er_confidence``, ``person_ids`` and
    ``record_ids`` (``;``-joined) and ``reasons`` (readable).

    Example
    -------
    >>> found = suspicious_identifiers(store)                             # doctest: +SKIP
    >>> found[["identifier_type", "identifier", "risk", "persons"]].head()  # doctest: +SKIP
    """
    w = weights or RiskWeights()
    if not 0 <= min_risk <= 1:
        raise ValueError(
            f"The 'min_risk' parameter of suspicious_identifiers must be in [0, 1]. Got {min_risk}."
        )
    if min_households < 2:
        raise ValueError(
            "The 'min_households' parameter of suspicious_identifiers must be an int of at "
            f"least 2 (sharing inside one household is never suspicious). Got {min_households}."
        )
    tables = tables or GraphTables(store)
    # the store narrows millions of phones and wallets to those crossing households
    shared_ = store.shared_identifiers(["Phone", "Account"], exclude_sources=tables.references)
    shared_ = shared_.drop_duplicates(["label", "identifier", "record"])
    if shared_.empty:
        return pd.DataFrame(columns=list(SUSPICIOUS_COLUMNS))
    tied = pd.DataFrame(
        {
            "record_id": shared_["record"].to_numpy(dtype=object),
            "label": shared_["label"].to_numpy(dtype=object),
            "identifier": shared_["identifier"].to_numpy(dtype=object),
        }
    )
    person = shared_["person"].to_numpy(dtype=object)
    alone = pd.isna(person)
    person[alone] = UNRESOLVED + tied["record_id"].to_numpy(dtype=object)[alone]
    tied["person_id"] = person
    households = tables.household_groups_of(tied["person_id"][~alone])
    tied["household_id"] = household_of(tied["person_id"], households).to_numpy()
    ident, _ = pd.factorize(tied["identifier"])
    group, groups_ = pd.factorize(tied["household_id"])
    pairs = np.unique(ident.astype(np.int64) * max(len(groups_), 1) + group)
    per_identifier = np.bincount(pairs // max(len(groups_), 1), minlength=ident.max() + 1)
    keep = per_identifier[ident] >= min_households
    if not keep.any():
        return pd.DataFrame(columns=list(SUSPICIOUS_COLUMNS))
    cand = tied[keep].reset_index(drop=True)
    shared = cand[["label", "identifier"]].drop_duplicates()

    places = tables.record_props(
        cand["record_id"], ["district", "upazila", "union", "programme"]
    ).reindex(cand["record_id"])
    cand["place"] = (
        (
            places["district"].astype(str)
            + "/"
            + places["upazila"].astype(str)
            + "/"
            + places["union"].astype(str)
        )
        .where(places["union"].notna().to_numpy(), None)
        .to_numpy()
    )
    cand["programme"] = places["programme"].to_numpy()

    owners = _owners(tables, shared)
    theirs_table = household_nids(tables, set(cand["household_id"]), households)
    known_nids = theirs_table.groupby("household_id")["nid"].agg(set).to_dict()
    links = tables.links(cand["record_id"].unique())

    rows: list[dict[str, Any]] = []
    for (label, identifier), group in cand.groupby(["label", "identifier"], sort=False):
        persons = group["person_id"].nunique()
        n_households = group["household_id"].nunique()
        unknown = group.loc[
            group["household_id"].str.startswith(ALONE), "person_id"
        ].nunique()  # persons whose household nobody names
        known = n_households - unknown  # distinct known household groups
        alone = 1 if known == 0 and unknown else 0  # only strangers: count them as one at least
        households = known + alone + w.unknown_household * (unknown - alone)
        counted_persons = persons - unknown + alone
        known_share = (persons - unknown) / persons
        unions = group["place"].dropna().nunique()
        programmes = group["programme"].dropna().nunique()
        keys = set(group["record_id"])
        near = links[links["from"].isin(keys) & links["to"].isin(keys)]
        confidence = _er_confidence(group, near)
        owner_nids = owners.get((label, identifier), set())
        theirs = set().union(*(known_nids.get(h, set()) for h in group["household_id"].unique()))
        if not owner_nids:
            owner = "unknown"
        elif owner_nids & theirs:
            owner = "inside"
        else:
            owner = "outside"
        h_eff = 1 + (households - 1) * confidence
        p_eff = 1 + (counted_persons - 1) * confidence
        local = w.one_union if unions == 1 else 1.0
        x = (
            local
            * (w.households * (h_eff - 1) + w.owner_outside * known_share * (owner == "outside"))
            + w.persons * (p_eff - 1)
            + w.unions * max(unions - 1, 0)
            + w.programmes * max(programmes - 1, 0)
        )
        risk = x / (x + w.scale)
        if risk < min_risk:
            continue
        kind = _TYPES[label]
        registry = "KYC" if kind == "wallet" else "BTRC"
        reasons = [f"{persons} persons in {n_households - unknown} households"]
        if unknown:
            reasons[0] += f" and {unknown} of unknown household"
        if unions > 1:
            reasons.append(f"{unions} unions")
        elif unions == 1:
            reasons.append("all in one union")
        if programmes > 1:
            reasons.append(f"{programmes} programmes")
        if owner == "outside":
            reasons.append(f"{registry} owner NID {joined(owner_nids)} is none of theirs")
        elif owner == "inside":
            reasons.append(f"{registry} owner is one of them")
        else:
            reasons.append(f"no {registry} record")
        if confidence < 0.95:
            reasons.append(f"persons distinct with ER confidence {confidence:.2f}")
        rows.append(
            {
                "identifier_type": kind,
                "identifier": identifier,
                "risk": round(risk, 4),
                "persons": persons,
                "households": n_households,
                "unions": unions,
                "programmes": programmes,
                "owner": owner,
                "owner_nid": joined(owner_nids) or None,
                "er_confidence": round(confidence, 4),
                "person_ids": joined(group["person_id"]),
                "record_ids": joined(group["record_id"]),
                "reasons": "; ".join(reasons),
            }
        )
    frame = pd.DataFrame(rows, columns=list(SUSPICIOUS_COLUMNS))
    frame = frame.sort_values(["risk", "persons", "identifier"], ascending=[False, False, True])
    return frame.reset_index(drop=True)


def _owners(tables: GraphTables, shared: pd.DataFrame) -> dict[tuple[str, str], set[str]]:
    """Registry owner NIDs of the shared identifiers (KYC for wallets, else BTRC of the number)."""
    owners: dict[tuple[str, str], set[str]] = {}
    accounts = set(shared.loc[shared["label"] == "Account", "identifier"])
    phones = set(shared.loc[shared["label"] == "Phone", "identifier"])
    kyc = tables.edges_at("KYC_OWNER", from_ids=accounts)
    for account, nid in zip(kyc["from"], kyc["to"], strict=True):
        owners.setdefault(("Account", account), set()).add(nid)
    wallet_phone: dict[str, str] = {}
    unowned = accounts - {a for (_, a) in owners}
    if unowned:
        nodes = tables.store.nodes("Account", ["phone"], ids=unowned)
        for account, phone in zip(nodes["id"], nodes["phone"], strict=True):
            if isinstance(phone, str) and phone:
                wallet_phone[account] = phone
    wanted = phones | set(wallet_phone.values())
    btrc = tables.edges_at("REGISTERED_TO", from_ids=wanted)
    registered: dict[str, set[str]] = {}
    for phone, nid in zip(btrc["from"], btrc["to"], strict=True):
        registered.setdefault(phone, set()).add(nid)
    for phone in phones:
        if phone in registered:
            owners[("Phone", phone)] = registered[phone]
    for account, phone in wallet_phone.items():
        if phone in registered:
            owners[("Account", account)] = registered[phone]
    return owners
