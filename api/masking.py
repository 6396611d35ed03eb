"""Masking of personal identifiers in API answers: NIDs, birth registration numbers, phones and
wallets keep their last 3 digits unless the caller named a purpose that reveals them.

Masking works on the answer's plain data (dicts, lists, values) just before it is sent, so no route
can forget a field it did not know it returned:

- the values of the fields that hold identifiers (:data:`IDENTIFIER_FIELDS`);
- the ids (and ``number``) of graph nodes that are identifiers (:data:`IDENTIFIER_LABELS`);
- in every other text, each run of 10 to 17 digits that does not follow a letter or digit: record
  keys of registries keyed by the identifier itself (``ec_nid/1990123456789``, ``btrc/01711...``),
  node keys (``Phone:01711000001``), and identifiers quoted in findings' reasons ("KYC owner NID
  3214694717 is none of theirs"). Dates, amounts and codes such as ``BD50388175900002`` are shorter
  or follow a letter, and stay.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

from engine.privacy import mask_text, mask_value

__all__ = ["IDENTIFIER_FIELDS", "IDENTIFIER_LABELS", "mask", "mask_text", "mask_value"]

#: Fields (in records, findings, graph rows) whose values are personal identifiers.
IDENTIFIER_FIELDS: Final = frozenset(
    {
        "nid",
        "nid_alt",
        "brn",
        "phone",
        "account_number",
        "wallet",
        "identifier",
        "owner_nid",
        "kyc_owner_nid",
        "registered_nid",
        "nid_text",
        "brn_text",
        "identifiers",
    }
)
#: Graph node labels whose ids are personal identifiers.
IDENTIFIER_LABELS: Final = frozenset({"NID", "BRN", "Phone", "Account"})
#: Properties of an identifier node that spell the identifier.
_IDENTIFIER_PROPS: Final = frozenset({"id", "key", "number", "phone"})
#: What every text :func:`mask_text` changes holds: 10 digits in a row (most texts have none).
_TEN_DIGITS: Final = re.compile(r"\d{10}")


def mask(data: Any) -> Any:
    """A copy of ``data`` (nested dicts and lists) with every identifier masked (see the module
    docstring).

    Example
    -------
    >>> mask({"nid": "1990123456789", "edges": [{"source": "Phone:01711000001"}]})
    {'nid': '**********789', 'edges': [{'source': 'Phone:********001'}]}
    >>> mask({"records": ["ec_nid/19901234567890123", "dss/OA879561823"]})
    {'records': ['ec_nid/**************123', 'dss/OA879561823']}
    """
    kind = type(data)
    if kind is str:  # most of an answer: texts, most of them without an identifier
        return mask_text(data) if _TEN_DIGITS.search(data) else data
    if data is None or kind is int or kind is float or kind is bool:
        return data
    if kind is dict or isinstance(data, Mapping):
        identifier_node = data.get("label") in IDENTIFIER_LABELS
        out = {}
        for key, value in data.items():
            if key in IDENTIFIER_FIELDS or (identifier_node and key in _IDENTIFIER_PROPS):
                out[key] = (
                    [mask_value(v) for v in value] if isinstance(value, list) else mask_value(value)
                )
            elif identifier_node and key == "props" and isinstance(value, Mapping):
                out[key] = {
                    k: mask_value(v) if k in _IDENTIFIER_PROPS else mask(v)
                    for k, v in value.items()
                }
            else:
                out[key] = mask(value)
        return out
    if kind is list or isinstance(data, list | tuple):
        return [mask(v) for v in data]
    if isinstance(data, str):
        return mask_text(data)
    return data
