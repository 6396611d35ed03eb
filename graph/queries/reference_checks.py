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
from collections.abc import Iterable
from typing import Final

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from graph.queries._common import ID_TEXT, GraphTables, without_gc
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


def _dictionary(column: pa.ChunkedArray) -> tuple[pa.Array, np.ndarray]:
    """``column``'s distinct values (a missing value one of them) and each row's number among
    them: one hash pass in Arrow."""
    coded = pc.dictionary_encode(column, null_encoding="encode")
    if not coded.num_chunks:
        return pa.array([], column.type), np.zeros(0, dtype=np.int64)
    codes = [c.indices.to_numpy(zero_copy_only=False).astype(np.int64) for c in coded.chunks]
    return coded.chunk(0).dictionary, np.concatenate(codes)  # the chunks share one dictionary


def _codes(found: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Positions Arrow found (``index_in``) as int64, ``-1`` where none."""
    return pc.fill_null(found, -1).to_numpy(zero_copy_only=False).astype(np.int64)


def _coded(*columns: pa.ChunkedArray) -> list[np.ndarray]:
    """Each column's values as numbers, equal where the values are equal across all the columns
    (a missing value is a value): one hash pass in Arrow over all of them."""
    _, codes = _dictionary(
        pa.chunked_array([c for column in columns for c in column.chunks], ID_TEXT)
    )
    ends = np.cumsum([len(column) for column in columns]).tolist()
    return np.split(codes, ends[:-1])


def _pairs_in(
    rows: list[tuple[pa.ChunkedArray, pa.ChunkedArray]],
    in_first: pa.ChunkedArray,
    in_second: pa.ChunkedArray,
) -> list[np.ndarray]:
    """For each ``(first, second)`` of ``rows``, per row: whether its pair is one of the pairs
    (``in_first``, ``in_second``): what a merge on both columns finds (a missing value matches
    a missing value, as in a merge), on numbers, without building the merged rows."""
    *firsts, known_firsts = _coded(*(f for f, _ in rows), in_first)
    *seconds, known_seconds = _coded(*(s for _, s in rows), in_second)
    width = int(max(c.max(initial=-1) for c in (*seconds, known_seconds))) + 2
    known = pa.array(known_firsts * width + known_seconds)
    return [
        pc.is_in(pa.array(f * width + s), value_set=known).to_numpy(zero_copy_only=False)
        for f, s in zip(firsts, seconds, strict=True)
    ]


def _with_owners(rows: pa.Table, owners: pa.Table) -> pa.Table:
    """``record_id, identifier, owner``: each row of ``rows`` (``from`` a record, ``to`` an
    identifier) with each owner ``owners`` (``from`` the identifier, ``to`` the NID) gives its
    identifier; rows whose identifier has none left out."""
    if pc.count_distinct(owners.column("from")).as_py() == owners.num_rows:
        # one owner an identifier: a lookup, not a join
        at = pc.index_in(rows.column("to"), value_set=owners.column("from"))
        found = at.is_valid()
        return pa.table(
            {
                "record_id": rows.column("from").filter(found),
                "identifier": rows.column("to").filter(found),
                "owner": owners.column("to").take(at.filter(found)),
            }
        )
    return rows.rename_columns(["record_id", "identifier"]).join(
        owners.rename_columns(["identifier", "owner"]), "identifier", join_type="inner"
    )


def _with_persons(tables: GraphTables, frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with each ``record_id``'s ``person_id`` and ``household_id`` (looked up in
    Arrow: only findings and their like get here, but the tables are the whole graph's)."""
    persons = tables.persons_of(pa.array(frame["record_id"].to_numpy(dtype=object), type=ID_TEXT))
    households = tables.households_of(persons)
    frame["person_id"] = persons.to_numpy(zero_copy_only=False)
    frame["household_id"] = households.to_numpy(zero_copy_only=False)
    return frame


class _OtherForms:
    """Each NID's other forms: the ``SAME_NID`` edges either way, grouped by NID once, so that
    rows are given theirs by lookups rather than a join (Arrow's hash join costs about half a
    second at a million persons however few rows it is given)."""

    def __init__(self, same: pa.Table) -> None:
        ends = (same.column("from").chunks, same.column("to").chunks)
        self.nid = pa.chunked_array([*ends[0], *ends[1]], ID_TEXT)
        self.other = pa.chunked_array([*ends[1], *ends[0]], ID_TEXT)
        self._nids, codes = _dictionary(self.nid)
        order = np.argsort(codes, kind="stable")
        self._others = self.other.take(pa.array(order))  # grouped by NID
        self._counts = np.bincount(codes, minlength=len(self._nids))
        self._starts = np.cumsum(self._counts) - self._counts

    def added(self, known: pa.Table) -> pa.Table:
        """``household_id, nid`` rows plus, for each NID, a row of each of its other forms
        (duplicates left in)."""
        if not len(self._nids) or not known.num_rows:
            return known
        at = _codes(pc.index_in(known.column("nid"), value_set=self._nids))
        rows = np.flatnonzero(at >= 0)
        counts = self._counts[at[rows]]
        firsts = np.repeat(self._starts[at[rows]] - (np.cumsum(counts) - counts), counts)
        extra = pa.table(
            {
                "household_id": known.column("household_id").take(
                    pa.array(np.repeat(rows, counts))
                ),
                "nid": self._others.take(pa.array(firsts + np.arange(counts.sum()))),
            }
        )
        return pa.concat_tables([known, extra])


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

    def given(label: str) -> pa.Table:
        """The records' ``HAS`` edges to ``label``: ``from`` (record), ``to`` (identifier)."""
        return tables.edge_pairs("HAS", "Record", label)

    def by_beneficiaries(table: pa.Table) -> pa.Table:
        # reference records say who owns an identifier; they never use one
        return table.filter(pa.array(~tables.reference(table.column("from"))))

    def by_registry(table: pa.Table, registry: str) -> pa.Table:
        sources = [s for s, r in registries.items() if r == registry]
        return table.filter(pa.array(tables.from_sources(table.column("from"), sources)))

    parts: list[pd.DataFrame] = []
    owned: dict[str, pa.Table] = {}  # check -> records using an identifier with an owner
    judged: Iterable[tuple[pa.ChunkedArray, np.ndarray]] = ()  # household known, owner theirs
    for check in [c for c in run if c in ("wallet_not_own", "phone_not_own")]:
        label, edge = (
            ("Account", "KYC_OWNER") if check == "wallet_not_own" else ("Phone", "REGISTERED_TO")
        )
        rows = _with_owners(by_beneficiaries(given(label)), tables.edge_pairs(edge, label, "NID"))
        if rows.num_rows:
            owned[check] = rows
    if owned:
        # the NIDs the members of each household give (not the KYC / BTRC rows, which name an
        # owner, not the person): their persons and households looked up with the users'
        owner_sources = {s for s, r in registries.items() if r in ("kyc", "btrc")}
        nids = given("NID")
        nids = nids.filter(pa.array(~tables.from_sources(nids.column("from"), owner_sources)))
        records = [rows.column("record_id") for rows in owned.values()]
        records.append(nids.column("from"))
        persons = tables.persons_of(
            pa.chunked_array([c for r in records for c in r.chunks], ID_TEXT)
        )
        households = tables.households_of(persons)
        at = 0
        for check, rows in owned.items():
            n = rows.num_rows
            owned[check] = rows.append_column("person_id", persons.slice(at, n)).append_column(
                "household_id", households.slice(at, n)
            )
            at += n
        known = pa.table({"household_id": households.slice(at), "nid": nids.column("to")})
        same = tables.edge_pairs("SAME_NID", "NID", "NID")
        # an owner is a household's if it is one of the household's NIDs or another form of
        # one: only the rows of the owners' NIDs and their other forms can say so
        owners = pa.chunked_array([c for r in owned.values() for c in r.column("owner").chunks])
        forms = _OtherForms(same)
        owners_forms = pa.chunked_array(
            [*owners.chunks, *forms.other.filter(pc.is_in(forms.nid, owners)).chunks], ID_TEXT
        )
        theirs = forms.added(known.filter(pc.is_in(known.column("nid"), value_set=owners_forms)))
        judged = zip(
            (
                pc.is_in(rows.column("household_id"), value_set=known.column("household_id"))
                for rows in owned.values()
            ),
            _pairs_in(
                [(rows.column("household_id"), rows.column("owner")) for rows in owned.values()],
                theirs.column("household_id"),
                theirs.column("nid"),
            ),
            strict=True,
        )
    for (check, rows), (household_known, theirs) in zip(owned.items(), judged, strict=True):
        registry, what = ("KYC", "wallet") if check == "wallet_not_own" else ("BTRC", "phone")
        # judged only where the household's own NIDs are known; a record's identifier is its
        # household's if any of its owners is one of them: only the identifiers of the rows
        # left can have such a row
        household_known = household_known.to_numpy(zero_copy_only=False)
        suspects = rows.column("identifier").filter(pa.array(household_known & ~theirs))
        near = household_known & pc.is_in(rows.column("identifier"), value_set=suspects).to_numpy(
            zero_copy_only=False
        )
        frame = rows.filter(pa.array(near)).to_pandas()
        frame = frame[~_any_of_pair(frame, theirs[near])]
        if frame.empty:
            continue
        of_finding = pc.is_in(
            known.column("household_id"),
            value_set=pa.array(frame["household_id"].unique(), ID_TEXT),
        )
        expected = forms.added(known.filter(of_finding)).to_pandas()
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
        nids_given = given("NID")
        in_ec = by_registry(nids_given, "ec").column("to")
        same = tables.edge_pairs("SAME_NID", "NID", "NID")
        if same.num_rows:  # a form the EC has makes every other form of the card known
            forward = pc.or_(
                pc.is_in(same.column("from"), value_set=in_ec),
                pc.is_in(same.column("to"), value_set=in_ec),
            )
            in_ec = pa.chunked_array(
                [
                    *in_ec.chunks,
                    *same.column("from").filter(forward).chunks,
                    *same.column("to").filter(forward).chunks,
                ],
                type=ID_TEXT,
            )
        rows = by_beneficiaries(nids_given)
        rows = rows.filter(pc.invert(pc.is_in(rows.column("to"), value_set=in_ec)))
        frame = _with_persons(tables, rows.rename_columns(["record_id", "identifier"]).to_pandas())
        frame["found"] = None
        frame["expected"] = None
        frame["detail"] = "the NID (in none of its forms) is in the EC extract"
        frame["check"] = "nid_not_in_ec"
        parts.append(frame)

    bdris_checks = [c for c in run if c in ("brn_not_in_bdris", "brn_dob_mismatch")]
    if bdris_checks:
        brns = given("BRN")
        bdris = by_registry(brns, "bdris").to_pandas()
        bdris.columns = ["record_id", "identifier"]
        frame = by_beneficiaries(brns).rename_columns(["record_id", "identifier"])
        dob = tables.record_props(
            pd.concat([bdris["record_id"], frame.column("record_id").to_pandas()]),
            ["date_of_birth"],
        )["date_of_birth"]
        bdris = pd.DataFrame(
            {
                "identifier": bdris["identifier"],
                "found": dob.reindex(bdris["record_id"]).to_numpy(),
            }
        )
        frame = frame.to_pandas()
        frame["expected"] = dob.reindex(frame["record_id"]).to_numpy()
        # the findings first, then their persons: most of the records' BRNs are in order
        if "brn_not_in_bdris" in bdris_checks:
            missing = frame[~frame["identifier"].isin(pd.Index(bdris["identifier"])).to_numpy()]
            missing = _with_persons(tables, missing.reset_index(drop=True))
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
            bad = _with_persons(tables, both[~agrees].reset_index(drop=True))
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
