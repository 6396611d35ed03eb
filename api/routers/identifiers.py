"""``/v1/identifiers/search``: who holds an NID, a birth registration number, a phone or a wallet.

A POST, so the identifier travels in the body and never in a URL or an access log. The value is
cleaned as ingest cleans it (Bangla digits, +880, dashes ...; :mod:`engine.normalise`) and looked
up among the graph's identifier nodes of that type only; the answer lists the persons whose records
give it, audited and masked like every answer with personal data (:func:`api.deps.personal`).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException

from api.deps import Analyst, ServiceDep, personal
from api.schemas.common import REFUSALS
from api.schemas.findings import Holders, IdentifierSearch

router = APIRouter(prefix="/identifiers", tags=["identifiers"])

#: The record fields shown for each record that gives the identifier.
_SHOWN = ("source", "kind", "programme", "status", "full_name", "district")


def _nodes(kind: str, value: str) -> tuple[str, list[tuple[str, str]]]:
    """The cleaned value and the graph nodes (label, id) it may be.

    Raises
    ------
    engine.errors.InvalidValue
        If the value cannot be read as an identifier of that type.
    """
    from engine.errors import InvalidValue
    from engine.normalise import (
        clean_account,
        clean_brn,
        clean_nid,
        clean_phone,
        clean_provider,
        nid_core,
    )
    from graph.queries.programmes import WALLET_PROVIDERS
    from graph.schema import account_id

    if kind == "nid":
        nid = clean_nid(value)
        return nid, [("NID", nid_core(nid))]
    if kind == "brn":
        brn = clean_brn(value)
        return brn, [("BRN", brn)]
    if kind == "phone":
        phone = clean_phone(value)
        return phone, [("Phone", phone)]
    provider, sep, number = value.strip().rpartition(":")
    if sep:
        provider = clean_provider(provider)
        wallet = account_id(provider, clean_account(number, provider))
        return wallet, [("Account", wallet)]
    forms = []
    for clean in (clean_phone, lambda v: clean_account(v, "rocket")):
        try:
            forms.append(clean(number))
        except InvalidValue:
            pass
    if not forms:
        raise InvalidValue(
            "wallet",
            value,
            "not a mobile wallet number (11 digits, Rocket 12); give a bank account as "
            "provider:number",
        )
    nodes = dict.fromkeys(("Account", account_id(p, n)) for n in forms for p in WALLET_PROVIDERS)
    return forms[0], list(nodes)


def _holders(store: Any, nodes: list[tuple[str, str]]) -> tuple[list[str], list[dict[str, Any]]]:
    """The nodes that exist, and per person the records that give one of them."""
    from graph.queries._common import UNRESOLVED

    matched: list[str] = []
    keys: dict[str, None] = {}
    for label, node_id in nodes:
        if store.node(label, node_id) is None:
            continue
        matched.append(f"{label}:{node_id}")
        same = [node_id]
        if label == "NID":  # the card's other forms (the EC extract ties them)
            same += [n.props["id"] for n in store.neighbours("NID", node_id, "SAME_NID", "both")]
        for nid in same:
            for n in store.neighbours(label, nid, "HAS", "in", "Record"):
                keys[n.props["id"]] = None
    persons: dict[str, list[dict[str, Any]]] = {}
    for key in keys:
        owners = store.neighbours("Record", key, "OF", "out", "Person")
        props = store.node("Record", key) or {}
        record = {"record_id": key, **{f: props.get(f) for f in _SHOWN}}
        for person in [o.props["id"] for o in owners] or [UNRESOLVED + key]:
            persons.setdefault(person, []).append(record)
    return matched, [{"person_id": p, "records": r} for p, r in sorted(persons.items())]


@router.post(
    "/search",
    response_model=Holders,
    responses={**REFUSALS, 422: {"description": "The value cannot be read as that identifier."}},
)
def search(body: IdentifierSearch, caller: Analyst, service: ServiceDep) -> Any:
    """The persons holding an identifier: each with the records of theirs that give it. An NID
    finds the card's other forms too (smart card and 13/17-digit numbers the EC ties)."""
    from engine.errors import InvalidValue

    try:
        cleaned, nodes = _nodes(body.type, body.value)
    except InvalidValue as exc:
        raise HTTPException(422, f"{body.type} {body.value!r}: {exc.reason}.") from None
    with service.graph() as store:
        if store is None:
            raise HTTPException(503, "The graph is not open yet.", headers={"Retry-After": "5"})
        matched, persons = _holders(store, nodes)
    answer = {"type": body.type, "identifier": cleaned, "nodes": matched, "persons": persons}
    people = [p["person_id"] for p in persons]
    return personal(service, caller, "POST /v1/identifiers/search", people, answer)
