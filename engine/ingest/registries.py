"""Which reference registry a source is (the EC NID extract, BTRC SIM registration, an MFS KYC
extract, BDRIS), read from the fields its records carry: publishing draws each registry's edges
(``KYC_OWNER``, ``REGISTERED_TO``, ``SAME_NID``) from the sources found to be it."""

from __future__ import annotations

from typing import Final

import numpy as np
import pandas as pd

__all__ = ["REGISTRIES", "detect_registries"]

#: Reference registries ekjon knows, as ``Source.registry`` names them.
REGISTRIES: Final = ("ec", "btrc", "kyc", "bdris")


def detect_registries(records: pd.DataFrame) -> dict[str, str]:
    """Which registry each reference source is, read from the fields its records give.

    A row with a wallet and an NID is an MFS KYC row; a phone and an NID (no wallet), a BTRC SIM
    registration; an NID with a second NID form or with names (no phone, no wallet), an EC NID
    extract row; a BRN without an NID, a BDRIS row. A source is the registry most of its rows are.

    Parameters
    ----------
    records:
        Canonical records (at least ``source`` and ``kind``).

    Returns
    -------
    Source name -> one of :data:`REGISTRIES`, for reference sources that match a registry.

    Example
    -------
    >>> frame = pd.DataFrame({"source": ["btrc"], "kind": ["reference"],
    ...                       "phone": ["01711000001"], "nid": ["1234567890123"]})
    >>> detect_registries(frame)
    {'btrc': 'btrc'}
    """
    if "kind" not in records.columns:
        return {}
    ref = records[records["kind"].astype(object).eq("reference")]
    if ref.empty:
        return {}

    def has(column: str) -> np.ndarray:
        if column not in ref.columns:
            return np.zeros(len(ref), dtype=bool)
        return ref[column].notna().to_numpy()

    nid, alt, phone, account, brn = (
        has("nid"),
        has("nid_alt"),
        has("phone"),
        has("account_number"),
        has("brn"),
    )
    named = has("full_name") | has("full_name_bn")
    kind = np.select(
        [
            account & nid,
            phone & nid & ~account,
            nid & (alt | named) & ~phone & ~account,
            brn & ~nid,
        ],
        ["kyc", "btrc", "ec", "bdris"],
        "",
    )
    guess = pd.DataFrame({"source": ref["source"].astype(str).to_numpy(), "registry": kind})
    guess = guess[guess["registry"] != ""]
    if guess.empty:
        return {}
    counts = guess.value_counts(["source", "registry"]).reset_index(name="n")
    best = counts.sort_values(["source", "n"], ascending=[True, False]).drop_duplicates("source")
    return dict(zip(best["source"], best["registry"], strict=True))
