"""Reference checks: beneficiary records held against the reference registries.

==================  ==========================================================================
check               a finding is
==================  ==========================================================================
wallet_not_own      a payment wallet whose MFS KYC owner NID is neither the beneficiary's nor a
                    household member's (since July 2025 G2P pays only into the beneficiary's own
                    wallet)
phone_not_own       a phone whose BTRC SIM owner NID is neither the beneficiary's nor a household
                    member's
nid_not_in_ec       an NID (in none of its forms) in the EC NID extract
brn_not_in_bdris    a birth registration number BDRIS does not know
brn_dob_mismatch    a record whose date of birth differs from BDRIS's for its BRN
==================  ==========================================================================

A check needs its registry in the graph (a source whose ``registry`` is ``kyc``, ``btrc``, ``ec``
or ``bdris``); without it the check is skipped and named in ``frame.attrs["skipped"]``. Ownership
checks are made only where at least one NID of the beneficiary's household is known.
"""

from __future__ import annotations

import logging
from typing import Final

import numpy as np
import pandas as pd

from graph.queries._common import GraphTables, household_nids, household_of, without_gc
from graph.store import GraphStore

__all__ = ["CHECKS", "REFERENCE_COLUMNS", "reference_checks"]

log = logging.getLogger(__name__)

CHECKS: Final = (
    "wallet_not_own",
    "phone_not_own",
    "nid_not_in_ec",
    "brn_not_in_bdris",
    "brn_dob_mismatch",
)
REFERENCE_COLUMNS: Final = (
    "check",
    "record_id",
    "person_id",
    "household_id",
    "identifier",
    "found",
    "expected",
    "detail",
)


def _empty() -> pd.DataFrame:
    return pd.DataFrame(columns=list(REFERENCE_COLUMNS))


def _any_of_pair(frame: pd.DataFrame, mask: np.ndarray) -> np.ndarray:
    """Per row, whether a row of its ``record_id`` and ``identifier`` has ``mask`` (the grouped
    ``any`` of pandas, on factorized codes: a tenth of the time on a million rows)."""
    record, _ = pd.factorize(frame["record_id"])
    identifier, identifiers = pd.factorize(frame["identifier"])
    pair = record.astype(np.int64) * (len(identifiers) + 1) + identifier
    found = np.isin(pair, pair[mask & (record >= 0) & (identifier >= 0)])
    return found & (record >= 0) & (identifier >= 0)


def _pairs_in(
    first: pd.Series, second: pd.Series, in_first: pd.Series, in_second: pd.Series
) -> np.ndarray:
    """Per row, whether the pair (``first``, ``second``) is one of the pairs (``in_first``,
    ``in_second``): what a merge on both columns finds, on factorized codes (a missing value
    matches a missing value, as in a merge), without building the merged rows."""
    pairs = np.zeros(len(first) + len(in_first), dtype=np.int64)
    for ours, theirs in ((first, in_first), (second, in_second)):
        values = np.concatenate([ours.to_numpy(dtype=object), theirs.to_numpy(dtype=object)])
        codes, distinct = pd.factorize(values, use_na_sentinel=False)
        pairs = pairs * (len(distinct) + 1) + codes
    return np.isin(pairs[: len(first)], pairs[len(first) :])


def _joined(frame: pd.DataFrame, keys: list[str], column: str) -> pd.DataFrame:
    """One row per distinct ``keys`` (rows with a missing key left out), sorted by them, with
    ``column``'s distinct values sorted and joined by ``;``.

    What ``frame.groupby(keys)[column].agg(lambda s: ";".join(sorted(set(s))))`` gives, without
    a Python call per group: at a million persons there are a hundred thousand findings.
    """
    rows = frame[[*keys, column]].dropna(subset=keys).drop_duplicates()
    if rows.empty:
        return pd.DataFrame(columns=[*keys, column])
    rows = rows.sort_values([*keys, column], ignore_index=True)
    same = np.ones(len(rows), dtype=bool)
    same[0] = False
    for key in keys:
        values = rows[key].to_numpy(dtype=object)
        same[1:] &= values[1:] == values[:-1]
    starts = np.flatnonzero(~same)
    ends = [*starts[1:].tolist(), len(rows)]
    values = rows[column].astype(str).tolist()
    out = rows.loc[starts, keys].reset_index(drop=True)
    out[column] = [";".join(values[a:b]) for a, b in zip(starts.tolist(), ends, strict=True)]
    return out


@without_gc
def reference_checks(
    store: GraphStore, checks: tuple[str, ...] = CHECKS, *, tables: GraphTables | None = None
) -> pd.DataFrame:
    """Every beneficiary record that disagrees with a reference registry.

    Parameters
    ----------
    store:
        Any graph store.
    checks:
        The checks to run (default: all of :data:`CHECKS`).
    tables:
        Whole-graph tables to share with other queries (see :class:`GraphTables`).

    Returns
    -------
    A DataFrame with columns :data:`REFERENCE_COLUMNS`, one row per record and check: ``check``,
    ``record_id``, ``person_id``, ``household_id``, ``identifier`` (the wallet, phone, NID or BRN),
    ``found`` (what the registry says: owner NID, BDRIS date of birth), ``expected`` (the
    household's NIDs, the record's date of birth) and ``detail``. ``frame.attrs["skipped"]`` lists
    the checks whose registry is not in the graph.

    Raises
    ------
    ValueError
        If ``checks`` names an unknown check.

    Example
    -------
    >>> found = reference_checks(store)                                   # doctest: +SKIP
    >>> found["check"].value_counts()                                     # doctest: +SKIP
    """
    unknown = set(checks) - set(CHECKS)
    if unknown:
        raise ValueError(
            f"Unknown reference check {sorted(unknown)[0]!r}; the checks are {', '.join(CHECKS)}."
        )
    tables = tables or GraphTables(store)
    registries = tables.registries
    present = set(registries.values())
    needs = {
        "wallet_not_own": "kyc",
        "phone_not_own": "btrc",
        "nid_not_in_ec": "ec",
        "brn_not_in_bdris": "bdris",
        "brn_dob_mismatch": "bdris",
    }
    skipped = [c for c in checks if needs[c] not in present]
    if skipped:
        log.info("reference checks skipped (registry not in the graph): %s", ", ".join(skipped))
    run = [c for c in checks if c not in skipped]
    result = _empty()
    result.attrs["skipped"] = skipped
    if not run:
        return result

    has = tables.edges("HAS")
    # per HAS row: what it points at, and whether a beneficiary's record gives it (read from the
    # record key's source, so no whole-graph Record table is needed)
    to_label = has["to_label"].to_numpy(dtype=object)
    from_beneficiary = ~tables.reference(has["from"])

    def from_registry(label: str, registry: str) -> np.ndarray:
        """Rows of ``label`` given by a record of ``registry`` (a mask over all HAS rows)."""
        mask = to_label == label
        sources = [s for s, r in registries.items() if r == registry]
        mask[mask] = tables.from_sources(has["from"][mask], sources)
        return mask

    def rows_of(label: str, mask: np.ndarray) -> pd.DataFrame:
        take = np.flatnonzero((to_label == label) & mask)
        return pd.DataFrame(
            {
                "record_id": has["from"].to_numpy(dtype=object)[take],
                "identifier": has["to"].to_numpy(dtype=object)[take],
            }
        )

    def with_persons(frame: pd.DataFrame) -> pd.DataFrame:
        persons = tables.persons(pd.Index(frame["record_id"]))
        frame["person_id"] = persons.to_numpy()
        frame["household_id"] = household_of(frame["person_id"], tables.households).to_numpy()
        return frame

    parts: list[pd.DataFrame] = []
    owned: dict[str, pd.DataFrame] = {}  # check -> records using an identifier with an owner
    for check in [c for c in run if c in ("wallet_not_own", "phone_not_own")]:
        label, edge = (
            ("Account", "KYC_OWNER") if check == "wallet_not_own" else ("Phone", "REGISTERED_TO")
        )
        owners = tables.edges(edge)[["from", "to"]].rename(
            columns={"from": "identifier", "to": "owner"}
        )
        frame = rows_of(label, from_beneficiary)
        frame = frame[frame["identifier"].isin(pd.Index(owners["identifier"]))]
        if not frame.empty:
            frame = with_persons(frame.reset_index(drop=True))
            owner_of = pd.Series(
                owners["owner"].to_numpy(dtype=object), index=pd.Index(owners["identifier"])
            )
            if owner_of.index.is_unique:  # one owner an identifier: a lookup, not a merge
                frame["owner"] = owner_of.reindex(pd.Index(frame["identifier"])).to_numpy()
            else:
                frame = frame.merge(owners, on="identifier")
            owned[check] = frame
    if owned:
        groups = set().union(*(set(f["household_id"]) for f in owned.values()))
        known = household_nids(tables, groups=groups, distinct=False)  # only which pairs
        known_groups = pd.Index(known["household_id"].unique())
    for check, frame in owned.items():
        registry, what = ("KYC", "wallet") if check == "wallet_not_own" else ("BTRC", "phone")
        # judged only where the household's own NIDs are known
        frame = frame[frame["household_id"].isin(known_groups)]
        theirs = _pairs_in(
            frame["household_id"], frame["owner"], known["household_id"], known["nid"]
        )
        frame = frame[~_any_of_pair(frame, theirs)]
        if frame.empty:
            continue
        expected = known[known["household_id"].isin(pd.Index(frame["household_id"]))]
        expected = _joined(expected, ["household_id"], "nid").set_index("household_id")["nid"]
        frame = _joined(
            frame, ["record_id", "identifier", "person_id", "household_id"], "owner"
        ).rename(columns={"owner": "found"})
        frame["expected"] = frame["household_id"].map(expected)
        frame["detail"] = (
            f"{registry} owner of the {what} is not the beneficiary nor a household member"
        )
        frame["check"] = check
        parts.append(frame)

    if "nid_not_in_ec" in run:
        in_ec = pd.Index(has["to"].to_numpy(dtype=object)[from_registry("NID", "ec")])
        same = tables.edges("SAME_NID")
        if not same.empty:  # a form the EC has makes every other form of the card known
            forward = same["from"].isin(in_ec).to_numpy() | same["to"].isin(in_ec).to_numpy()
            in_ec = in_ec.append(pd.Index(same["from"][forward])).append(
                pd.Index(same["to"][forward])
            )
        frame = rows_of("NID", from_beneficiary)
        frame = frame[~frame["identifier"].isin(in_ec)].reset_index(drop=True)
        frame = with_persons(frame)
        frame["found"] = None
        frame["expected"] = None
        frame["detail"] = "the NID (in none of its forms) is in the EC extract"
        frame["check"] = "nid_not_in_ec"
        parts.append(frame)

    bdris_checks = [c for c in run if c in ("brn_not_in_bdris", "brn_dob_mismatch")]
    if bdris_checks:
        bdris = rows_of("BRN", from_registry("BRN", "bdris"))
        frame = rows_of("BRN", from_beneficiary)
        dob = tables.record_props(
            pd.concat([bdris["record_id"], frame["record_id"]]), ["date_of_birth"]
        )["date_of_birth"]
        bdris = pd.DataFrame(
            {
                "identifier": bdris["identifier"],
                "found": dob.reindex(bdris["record_id"]).to_numpy(),
            }
        )
        frame["expected"] = dob.reindex(frame["record_id"]).to_numpy()
        # the findings first, then their persons: most of the records' BRNs are in order
        if "brn_not_in_bdris" in bdris_checks:
            missing = frame[~frame["identifier"].isin(pd.Index(bdris["identifier"])).to_numpy()]
            missing = with_persons(missing.reset_index(drop=True))
            missing["found"] = None
            missing["detail"] = "BDRIS does not know the BRN"
            missing["check"] = "brn_not_in_bdris"
            parts.append(missing)
        if "brn_dob_mismatch" in bdris_checks:
            both = frame[frame["expected"].notna().to_numpy()].merge(
                bdris.dropna(subset=["found"]), on="identifier"
            )
            # a record's BRN is judged on all of BDRIS's rows for it: one that agrees is enough
            agrees = _any_of_pair(both, (both["expected"] == both["found"]).to_numpy())
            bad = with_persons(both[~agrees].reset_index(drop=True))
            bad = _joined(
                bad, ["record_id", "identifier", "person_id", "household_id", "expected"], "found"
            )
            bad["detail"] = "the date of birth differs from BDRIS's for this BRN"
            bad["check"] = "brn_dob_mismatch"
            parts.append(bad)

    parts = [p for p in parts if not p.empty]
    if not parts:
        return result
    frame = pd.concat([p[list(REFERENCE_COLUMNS)] for p in parts], ignore_index=True)
    order = {check: i for i, check in enumerate(CHECKS)}
    frame = frame.sort_values(
        ["check", "record_id", "identifier"],
        key=lambda s: s.map(order) if s.name == "check" else s,
    ).reset_index(drop=True)
    frame.attrs["skipped"] = skipped
    return frame
