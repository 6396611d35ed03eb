"""The source files of the synthetic world: each programme MIS, the household survey and the
reference registries, each with its own columns, formats, script and habits, and the mapping that
ingests it.

Every builder returns a :class:`Source`: its columns (in file order), the mapping's ``fields``
section and, per row, the true person and the tags of what was done to the row.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
from numpy.dtypes import StringDType

from synth.enrolment import (
    BANK,
    BKASH,
    DISABILITY,
    EGPP,
    FF,
    MCB,
    NAGAD,
    OA,
    PESP,
    ROCKET,
    VGD,
    WIDOW,
    Enrolments,
    Planted,
)
from synth.geography import DISTRICTS, district_number
from synth.names import FEMALE, MALE, NameStyle, typos, write_names
from synth.population import (
    RELATIONS,
    SURVEY_DATE,
    TODAY,
    Population,
    age_on,
    rank_within,
    unique_numbers,
)
from synth.tags import Tag
from synth.variation import (
    DASHED,
    INTL,
    INTL_NOPLUS,
    INTL_SPACED,
    LOCAL,
    NO_ZERO,
    DateStyle,
    NidStyle,
    bangla_digits,
    blank,
    digits,
    iso_dates,
    one_digit_typos,
    plant_invalid,
    write_dates,
    write_nids,
    write_phones,
)

STR: Final = StringDType()
#: the share of programme / survey rows given an invalid phone, date or NID (ingest must flag them)
INVALID_RATE: Final = 0.002
EGPP_LIST_DATE: Final = "2024-11-01"
_PROVIDER_LABEL: Final = {
    0: "",
    BKASH: "bKash",
    NAGAD: "Nagad",
    ROCKET: "Rocket",
    BANK: "Sonali Bank",
}
_OPERATOR: Final = {
    3: "GP",
    7: "GP",
    4: "Banglalink",
    9: "Banglalink",
    8: "Robi",
    6: "Airtel",
    5: "Teletalk",
}


@dataclass(slots=True)
class Source:
    """One source file: its rows, its mapping and the truth about each row."""

    name: str
    file: str
    kind: str
    description: str
    record_id: tuple[str, ...]
    columns: dict[str, np.ndarray]
    fields: dict[str, Any]
    person: np.ndarray
    tags: np.ndarray
    programme: str | None = None
    delimiter: str = ","
    #: per row, the identifiers truly on it (canonical; -1 = none or unreadable)
    phone_id: np.ndarray | None = None
    wallet_provider: np.ndarray | None = None
    wallet_number: np.ndarray | None = None
    typed: dict[str, str] = field(default_factory=dict)  # parquet / jsonl column -> "int" | "date"

    def __len__(self) -> int:
        return len(self.person)

    @property
    def format(self) -> str:
        return self.file.rsplit(".", 1)[1]

    def record_ids(self) -> np.ndarray:
        """Record ids exactly as ingest computes them: the key columns joined with ``:``."""
        ids = self.columns[self.record_id[0]].astype(STR)
        for col in self.record_id[1:]:
            ids = np.strings.add(np.strings.add(ids, ":"), self.columns[col].astype(STR))
        return ids

    def mapping(self) -> dict[str, Any]:
        out: dict[str, Any] = {"source": self.name, "kind": self.kind}
        out["record_id"] = list(self.record_id)
        file: dict[str, Any] = {"format": self.format}
        if self.format == "csv":
            file["delimiter"] = self.delimiter
        if self.format in ("csv", "jsonl"):
            file["encoding"] = "utf-8"
        out["file"] = file
        out["fields"] = self.fields
        return out

    def sort_by(self, key: np.ndarray) -> None:
        order = np.argsort(key, kind="stable")
        self.columns = {k: v[order] for k, v in self.columns.items()}
        self.person, self.tags = self.person[order], self.tags[order]
        for name in ("phone_id", "wallet_provider", "wallet_number"):
            value = getattr(self, name)
            if value is not None:
                setattr(self, name, value[order])


class Ctx:
    """What every builder needs: the world, the enrolments and a random stream per source."""

    def __init__(
        self, pop: Population, enrolments: Enrolments, planted: Planted, rng_for: Callable
    ) -> None:
        self.pop, self.e, self.planted, self.rng_for = pop, enrolments, planted, rng_for
        p, h, g = pop.persons, pop.households, pop.geo
        self.union = h.union[p.hh]
        self.district = g.district_idx[self.union]

    # -- places -------------------------------------------------------------------------------

    def district_names(
        self, who: np.ndarray, rng: np.random.Generator, old: float = 0.0
    ) -> np.ndarray:
        """District names; an older spelling (Chittagong, Comilla, Bogra) in ``old`` of rows."""
        name = np.array([d[1] for d in DISTRICTS], dtype=STR)
        alt = np.array([d[3][0] if d[3] else d[1] for d in DISTRICTS], dtype=STR)
        d = self.district[who]
        return np.where(rng.random(len(who)) < old, alt[d], name[d]).astype(STR)

    def geocode(self, who: np.ndarray) -> np.ndarray:
        return np.array([d[0] for d in DISTRICTS], dtype=STR)[self.district[who]]

    def division(self, who: np.ndarray) -> np.ndarray:
        return np.array([d[0][2:4] for d in DISTRICTS], dtype=STR)[self.district[who]]

    def upazila(
        self, who: np.ndarray, upper: float = 0.0, rng: np.random.Generator | None = None
    ) -> np.ndarray:
        return self._place(self.pop.geo.upazila_name, who, upper, rng)

    def union_name(
        self, who: np.ndarray, upper: float = 0.0, rng: np.random.Generator | None = None
    ) -> np.ndarray:
        return self._place(self.pop.geo.union_name, who, upper, rng)

    def _place(
        self, table: np.ndarray, who: np.ndarray, upper: float, rng: np.random.Generator | None
    ) -> np.ndarray:
        names = table.astype(STR)[self.union[who]]
        if upper and rng is not None:
            names = np.where(rng.random(len(who)) < upper, np.strings.upper(names), names).astype(
                STR
            )
        return names

    def ward(self, who: np.ndarray) -> np.ndarray:
        return digits(self.pop.households.ward[self.pop.persons.hh[who]])

    # -- names --------------------------------------------------------------------------------

    def name(
        self,
        who: np.ndarray,
        rng: np.random.Generator,
        style: NameStyle,
        script: str = "en",
        rows: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Persons' own names as the source writes them.

        With ``rows`` (programme rows), a ghost duplicate's English name always differs from its
        twin record's by at least one typo.
        """
        p = self.pop.persons
        names, tags = write_names(
            p.tok[who], p.has_prefix[who], p.gender[who], p.religion[who], rng, style, script
        )
        if rows is not None and script == "en":
            ghost = np.flatnonzero((self.e.tags[rows] & Tag.GHOST_DUPLICATE) != 0)
            if len(ghost):
                names[ghost] = typos(names[ghost], np.zeros(len(ghost), dtype=bool), rng)
                tags[ghost] |= Tag.NAME_TYPO
        return names, tags

    def relative_name(
        self,
        who: np.ndarray,
        relative: str,
        rng: np.random.Generator,
        style: NameStyle,
        script: str = "en",
        missing: float = 0.0,
    ) -> np.ndarray:
        """Names of a relative: ``father``, ``mother``, ``spouse`` or ``father_or_husband``.

        ``father_or_husband`` is the husband for married and widowed women, else the father.
        """
        p = self.pop.persons
        if relative == "father_or_husband":
            married = (p.gender[who] == FEMALE) & (p.spouse_tok[who, 0] >= 0)
            tok = np.where(married[:, None], p.spouse_tok[who], p.father_tok[who])
            prefix = np.where(married, p.spouse_prefix[who], p.father_prefix[who])
            gender = np.full(len(who), MALE)
        else:
            tok = getattr(p, f"{relative}_tok")[who]
            prefix = getattr(p, f"{relative}_prefix")[who]
            if relative == "father":
                gender = np.full(len(who), MALE)
            elif relative == "mother":
                gender = np.full(len(who), FEMALE)
            else:
                gender = 1 - p.gender[who]
        names, _ = write_names(tok, prefix, gender, p.religion[who], rng, style, script)
        return blank(names, rng.random(len(who)) < missing)

    # -- other columns ------------------------------------------------------------------------

    def gender(self, who: np.ndarray, labels: tuple[str, str]) -> np.ndarray:
        return np.where(self.pop.persons.gender[who] == MALE, labels[0], labels[1]).astype(STR)

    def status(self, rows: np.ndarray, labels: tuple[str, str, str]) -> np.ndarray:
        return np.array(labels, dtype=STR)[self.e.status[rows]]

    def accounts(
        self, rows: np.ndarray, labels: dict[int, str] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Provider label and account number of programme rows (``""`` when unpaid / unknown)."""
        labels = labels or _PROVIDER_LABEL
        prov = self.e.provider[rows]
        acct = self.e.account[rows]
        label = np.array([labels.get(i, "") for i in range(5)], dtype=STR)[prov]
        number = np.where(prov == BANK, digits(acct, 13), np.strings.add("0", digits(acct))).astype(
            STR
        )
        return label, blank(number, prov == 0)

    def ids(self, rng: np.random.Generator, n: int, prefix: str, width: int) -> np.ndarray:
        return np.strings.add(
            prefix, digits(unique_numbers(rng, n, 10 ** (width - 1), 10**width), width)
        )


def _programme_truth(src: Source, ctx: Ctx, rows: np.ndarray, phone_col: str | None) -> None:
    e = ctx.e
    if phone_col is not None:
        bad = (src.columns[phone_col] == "") | ((src.tags & Tag.INVALID_PHONE) != 0)
        src.phone_id = np.where(bad, -1, e.phone[rows])
    else:
        src.phone_id = np.full(len(rows), -1, dtype=np.int64)
    src.wallet_provider = e.provider[rows].copy()
    src.wallet_number = e.account[rows].copy()


def _finish(
    src: Source,
    ctx: Ctx,
    rows: np.ndarray,
    rng: np.random.Generator,
    invalid: dict[str, str],
    phone_col: str | None,
) -> Source:
    plant_invalid(src.columns, invalid, src.tags, ~ctx.e.fraud[rows], INVALID_RATE, rng)
    _programme_truth(src, ctx, rows, phone_col)
    src.sort_by(src.record_ids())
    return src


# -- programme MISs ----------------------------------------------------------------------------


def dss_old_age(ctx: Ctx) -> Source:
    rng = ctx.rng_for("source:dss_old_age")
    rows = ctx.e.of(OA)
    who = ctx.e.person[rows]
    n = len(rows)
    style = NameStyle(
        prefix_keep=0.65, prefix_add=0.05, variant=0.25, typo=0.03, swap=0.02, case="mixed"
    )
    name, tags = ctx.name(who, rng, style, rows=rows)
    dob, t = write_dates(
        ctx.pop.persons.dob[who],
        DateStyle("%d/%m/%Y", default=0.05, swap=0.02, missing=0.01),
        rng,
        ctx.e.year_shift[rows],
    )
    tags |= t | ctx.e.tags[rows]
    nid, t = write_nids(
        ctx.pop.persons, who, NidStyle(((17, 0.6), (13, 0.4)), typo=0.005, missing=0.03), rng
    )
    tags |= t
    mobile, t = write_phones(
        ctx.e.phone[rows], {LOCAL: 0.75, INTL: 0.1, INTL_NOPLUS: 0.05, DASHED: 0.1}, rng, 0.03
    )
    tags |= t
    mfs, wallet = ctx.accounts(rows)
    since, _ = write_dates(ctx.e.since[rows], DateStyle("%d/%m/%Y"), rng)
    cols = {
        "ben_id": ctx.ids(rng, n, "OA", 9),
        "beneficiary_name": name,
        "father_or_husband": ctx.relative_name(who, "father_or_husband", rng, style, missing=0.08),
        "sex": np.where(
            rng.random(n) < 0.8, ctx.gender(who, ("Male", "Female")), ctx.gender(who, ("M", "F"))
        ),
        "dob": dob,
        "nid_no": nid,
        "mobile": mobile,
        "mfs_name": mfs,
        "wallet_no": wallet,
        "zila": ctx.district_names(who, rng, old=0.3),
        "upazila": ctx.upazila(who),
        "union_name": ctx.union_name(who),
        "ward_no": ctx.ward(who),
        "status": ctx.status(rows, ("Active", "Inactive", "Suspended")),
        "enrol_date": since,
        "monthly_amount": np.full(n, "600", dtype=STR),
    }
    fields = {
        "programme": {"value": "old_age_allowance"},
        "full_name": {"column": "beneficiary_name", "script": "en"},
        "father_name": "father_or_husband",
        "gender": "sex",
        "date_of_birth": {"column": "dob", "formats": ["%d/%m/%Y"]},
        "nid": "nid_no",
        "phone": "mobile",
        "account_provider": "mfs_name",
        "account_number": "wallet_no",
        "district": "zila",
        "upazila": "upazila",
        "union": "union_name",
        "ward": "ward_no",
        "status": "status",
        "since": {"column": "enrol_date", "formats": ["%d/%m/%Y"]},
        "amount": "monthly_amount",
    }
    src = Source(
        "dss_old_age",
        "dss_old_age.csv",
        "programme",
        "Department of Social Services, Old Age Allowance MIS export",
        ("ben_id",),
        cols,
        fields,
        who,
        tags,
        "old_age_allowance",
    )
    return _finish(
        src, ctx, rows, rng, {"phone": "mobile", "date": "dob", "nid": "nid_no"}, "mobile"
    )


def dss_widow(ctx: Ctx) -> Source:
    rng = ctx.rng_for("source:dss_widow")
    rows = ctx.e.of(WIDOW)
    who = ctx.e.person[rows]
    n = len(rows)
    en_style = NameStyle(prefix_keep=0.6, variant=0.25, typo=0.03, swap=0.02, case="title")
    bn_style = NameStyle(prefix_keep=0.7, variant=0.2, broken_unicode=0.1)
    name_en, tags = ctx.name(who, rng, en_style, rows=rows)
    name_bn, t = ctx.name(who, rng, bn_style, "bn")
    tags |= t
    dob, t = write_dates(
        ctx.pop.persons.dob[who], DateStyle("%d-%m-%Y", default=0.05, swap=0.03, missing=0.02), rng
    )
    tags |= t | ctx.e.tags[rows]
    nid, t = write_nids(
        ctx.pop.persons, who, NidStyle(((17, 0.5), (10, 0.5)), typo=0.005, missing=0.03), rng
    )
    tags |= t
    mobile, t = write_phones(ctx.e.phone[rows], {LOCAL: 0.6, DASHED: 0.3, INTL: 0.1}, rng, 0.04)
    tags |= t
    channel, account = ctx.accounts(rows)
    since, _ = write_dates(ctx.e.since[rows], DateStyle("%d-%m-%Y"), rng)
    cols = {
        "BeneficiaryID": ctx.ids(rng, n, "WA-", 8),
        "NameEnglish": name_en,
        "NameBangla": name_bn,
        "HusbandName": ctx.relative_name(who, "spouse", rng, en_style, missing=0.05),
        "DateOfBirth": dob,
        "NationalID": nid,
        "MobileNo": mobile,
        "PaymentChannel": channel,
        "AccountNo": account,
        "District": ctx.district_names(who, rng, old=0.15),
        "Upazila": ctx.upazila(who, upper=0.5, rng=rng),
        "Union": ctx.union_name(who, upper=0.5, rng=rng),
        "Ward": ctx.ward(who),
        "Status": ctx.status(rows, ("ACTIVE", "INACTIVE", "STOPPED")),
        "ApprovalDate": since,
        "Allowance": np.full(n, "550", dtype=STR),
    }
    fields = {
        "programme": {"value": "widow_allowance"},
        "full_name": {"column": "NameEnglish", "script": "en"},
        "full_name_bn": {"column": "NameBangla", "script": "bn"},
        "spouse_name": "HusbandName",
        "gender": {"value": "female"},
        "date_of_birth": {"column": "DateOfBirth", "formats": ["%d-%m-%Y"]},
        "nid": "NationalID",
        "phone": "MobileNo",
        "account_provider": "PaymentChannel",
        "account_number": "AccountNo",
        "district": "District",
        "upazila": "Upazila",
        "union": "Union",
        "ward": "Ward",
        "status": "Status",
        "since": {"column": "ApprovalDate", "formats": ["%d-%m-%Y"]},
        "amount": "Allowance",
    }
    src = Source(
        "dss_widow",
        "dss_widow.csv",
        "programme",
        "Department of Social Services, Allowances for Widowed, Deserted and Destitute Women",
        ("BeneficiaryID",),
        cols,
        fields,
        who,
        tags,
        "widow_allowance",
    )
    return _finish(
        src,
        ctx,
        rows,
        rng,
        {"phone": "MobileNo", "date": "DateOfBirth", "nid": "NationalID"},
        "MobileNo",
    )


def dss_disability(ctx: Ctx) -> Source:
    rng = ctx.rng_for("source:dss_disability")
    rows = ctx.e.of(DISABILITY)
    who = ctx.e.person[rows]
    p = ctx.pop.persons
    n = len(rows)
    style = NameStyle(prefix_keep=0.7, variant=0.2, typo=0.03, swap=0.01, case="title")
    name, tags = ctx.name(who, rng, style, rows=rows)
    dob, t = write_dates(
        p.dob[who], DateStyle("%Y-%m-%d", default=0.04, swap=0.02, missing=0.01), rng
    )
    tags |= t | ctx.e.tags[rows]
    nid, t = write_nids(
        p, who, NidStyle(((17, 0.4), (13, 0.3), (10, 0.3)), typo=0.005, missing=0.03), rng
    )
    tags |= t
    adult = age_on(p.dob[who], TODAY) >= 18
    brn = blank(digits(p.brn[who], 17), adult & (rng.random(n) < 0.8))
    phone, t = write_phones(
        ctx.e.phone[rows], {LOCAL: 0.5, INTL: 0.2, INTL_SPACED: 0.2, DASHED: 0.1}, rng, 0.03
    )
    tags |= t
    provider, number = ctx.accounts(rows)
    kinds = np.array(
        [
            "Physical",
            "Visual",
            "Hearing",
            "Speech",
            "Intellectual",
            "Autism",
            "Multiple",
            "Cerebral palsy",
        ],
        dtype=STR,
    )
    since, _ = write_dates(ctx.e.since[rows], DateStyle("%Y-%m-%d"), rng)
    cols = {
        "id": ctx.ids(rng, n, "DIS", 10),
        "name": name,
        "guardian_name": ctx.relative_name(who, "father", rng, style, missing=0.05),
        "gender": ctx.gender(who, ("male", "female")),
        "birth_date": dob,
        "nid": nid,
        "brn": brn,
        "disability_type": kinds[rng.integers(0, len(kinds), n)],
        "phone": phone,
        "mfs_provider": provider,
        "mfs_number": number,
        "geocode": ctx.geocode(who),
        "upazila": ctx.upazila(who),
        "union": ctx.union_name(who),
        "ward": ctx.ward(who),
        "status": ctx.status(rows, ("active", "inactive", "suspended")),
        "since": since,
        "amount": np.full(n, "850", dtype=STR),
    }
    fields = {
        "programme": {"value": "disability_allowance"},
        "full_name": {"column": "name", "script": "en"},
        "father_name": "guardian_name",
        "gender": "gender",
        "date_of_birth": {"column": "birth_date", "formats": ["%Y-%m-%d"]},
        "nid": "nid",
        "brn": "brn",
        "phone": "phone",
        "account_provider": "mfs_provider",
        "account_number": "mfs_number",
        "district": "geocode",
        "upazila": "upazila",
        "union": "union",
        "ward": "ward",
        "status": "status",
        "since": {"column": "since", "formats": ["%Y-%m-%d"]},
        "amount": "amount",
    }
    src = Source(
        "dss_disability",
        "dss_disability.jsonl",
        "programme",
        "Department of Social Services, Disability Allowance (JSON lines from the DIS MIS API)",
        ("id",),
        cols,
        fields,
        who,
        tags,
        "disability_allowance",
        typed={"ward": "int", "amount": "int"},
    )
    return _finish(
        src, ctx, rows, rng, {"phone": "phone", "date": "birth_date", "nid": "nid"}, "phone"
    )


def dwa_mcb(ctx: Ctx) -> Source:
    rng = ctx.rng_for("source:dwa_mcb")
    rows = ctx.e.of(MCB)
    who = ctx.e.person[rows]
    p = ctx.pop.persons
    n = len(rows)
    style = NameStyle(prefix_keep=0.75, prefix_add=0.05, variant=0.25, broken_unicode=0.15)
    name, tags = ctx.name(who, rng, style, "bn")
    dob, t = write_dates(
        p.dob[who], DateStyle("%d/%m/%Y", default=0.05, swap=0.02, missing=0.01), rng
    )
    tags |= t | ctx.e.tags[rows]
    nid, t = write_nids(p, who, NidStyle(((17, 0.6), (10, 0.4)), typo=0.005, missing=0.02), rng)
    tags |= t
    mobile, t = write_phones(ctx.e.phone[rows], {LOCAL: 0.9, DASHED: 0.1}, rng, 0.03)
    tags |= t
    # the youngest child's date of birth (the reason for the benefit)
    latest = np.full(len(p), np.iinfo(np.int64).min)
    has_mother = p.mother >= 0
    np.maximum.at(latest, p.mother[has_mother], p.dob[has_mother].astype(np.int64))
    youngest = np.where(latest[who] > np.iinfo(np.int64).min, latest[who], np.iinfo(np.int64).min)
    child_dob, _ = write_dates(youngest.astype("datetime64[D]"), DateStyle("%d/%m/%Y"), rng)
    provider, number = ctx.accounts(rows)
    since, _ = write_dates(ctx.e.since[rows], DateStyle("%d/%m/%Y"), rng)
    bn = rng.random((n, 4))
    cols = {
        "mcb_id": ctx.ids(rng, n, "", 12),
        "mother_name": name,
        "husband_name": ctx.relative_name(who, "spouse", rng, style, "bn", missing=0.05),
        "dob": bangla_digits(dob, bn[:, 0] < 0.15),
        "nid": bangla_digits(nid, bn[:, 1] < 0.05),
        "mobile": bangla_digits(mobile, bn[:, 2] < 0.2),
        "wallet_provider": provider,
        "wallet_no": number,
        "child_dob": bangla_digits(child_dob, bn[:, 3] < 0.15),
        "district": ctx.district_names(who, rng),
        "upazila": ctx.upazila(who),
        "union": ctx.union_name(who),
        "ward": ctx.ward(who),
        "status": ctx.status(rows, ("active", "inactive", "suspended")),
        "since": since,
        "amount": np.full(n, "800", dtype=STR),
    }
    for col, tag_on in (
        ("dob", bn[:, 0] < 0.15),
        ("nid", bn[:, 1] < 0.05),
        ("mobile", bn[:, 2] < 0.2),
    ):
        tags[tag_on & (cols[col] != "")] |= Tag.BANGLA_DIGITS
    fields = {
        "programme": {"value": "mother_child_benefit"},
        "full_name": {"column": "mother_name", "script": "bn"},
        "spouse_name": {"column": "husband_name", "script": "bn"},
        "gender": {"value": "female"},
        "date_of_birth": {"column": "dob", "formats": ["%d/%m/%Y"]},
        "nid": "nid",
        "phone": "mobile",
        "account_provider": "wallet_provider",
        "account_number": "wallet_no",
        "district": "district",
        "upazila": "upazila",
        "union": "union",
        "ward": "ward",
        "status": "status",
        "since": {"column": "since", "formats": ["%d/%m/%Y"]},
        "amount": "amount",
    }
    src = Source(
        "dwa_mcb",
        "dwa_mcb.csv",
        "programme",
        "Department of Women Affairs, Mother and Child Benefit Programme (names in Bangla only)",
        ("mcb_id",),
        cols,
        fields,
        who,
        tags,
        "mother_child_benefit",
    )
    return _finish(src, ctx, rows, rng, {"phone": "mobile", "date": "dob", "nid": "nid"}, "mobile")


def pesp_stipend(ctx: Ctx) -> Source:
    rng = ctx.rng_for("source:pesp_stipend")
    rows = ctx.e.of(PESP)
    who = ctx.e.person[rows]
    p = ctx.pop.persons
    n = len(rows)
    style = NameStyle(prefix_keep=0.4, variant=0.2, typo=0.03, swap=0.01, case="mixed")
    name, tags = ctx.name(who, rng, style, rows=rows)
    dob, t = write_dates(
        p.dob[who], DateStyle("%Y-%m-%d", default=0.03, swap=0.02, missing=0.01), rng
    )
    tags |= t | ctx.e.tags[rows]
    brn = digits(p.brn[who], 17)
    u = rng.random((n, 2))
    typo = (u[:, 0] < 0.005) & (brn != "")
    if typo.any():
        brn[typo] = one_digit_typos(brn[typo], rng)
    mobile, t = write_phones(ctx.e.phone[rows], {LOCAL: 0.85, INTL: 0.15}, rng, 0.05)
    tags |= t
    provider, number = ctx.accounts(rows)
    # schools: up to three per union; a ghost duplicate sits in another school of the union
    ghost = (ctx.e.tags[rows] & Tag.GHOST_DUPLICATE) != 0
    school_no = (p.hh[who] % 3 + ghost.astype(np.int64)) % 3 + 1
    g = ctx.pop.geo
    un = ctx.union[who]
    school = (
        (district_number(g.district_idx[un]) * 100 + g.upazila_code[un]) * 100 + g.union_code[un]
    ) * 10 + school_no
    school_code = np.strings.add("1", digits(school, 7))
    student = rank_within(school, rng) + 1
    since = ctx.e.since[rows]
    age = age_on(p.dob[who], TODAY)
    cols = {
        "school_code": school_code,
        "student_no": digits(student, 4),
        "student_name": name,
        "gender": ctx.gender(who, ("M", "F")),
        "dob": dob,
        "brn": brn,
        "class": np.clip(age - 5, 1, 5),
        "father_name": ctx.relative_name(who, "father", rng, style, missing=0.05),
        "mother_name": ctx.relative_name(who, "mother", rng, style, missing=0.02),
        "guardian_mobile": mobile,
        "mfs_provider": provider,
        "wallet_no": number,
        "district": ctx.district_names(who, rng, old=0.2),
        "upazila": ctx.upazila(who, upper=1.0, rng=rng),
        "union": ctx.union_name(who, upper=1.0, rng=rng),
        "status": ctx.status(rows, ("active", "inactive", "dropped")),
        "since": since,
        "amount": np.full(n, 150),
    }
    fields = {
        "programme": {"value": "primary_stipend"},
        "full_name": {"column": "student_name", "script": "en"},
        "father_name": "father_name",
        "mother_name": "mother_name",
        "gender": "gender",
        "date_of_birth": {"column": "dob", "formats": ["%Y-%m-%d"]},
        "brn": "brn",
        "phone": "guardian_mobile",
        "account_provider": "mfs_provider",
        "account_number": "wallet_no",
        "district": "district",
        "upazila": "upazila",
        "union": "union",
        "status": "status",
        "since": {"column": "since", "formats": ["%Y-%m-%d"]},
        "amount": "amount",
    }
    src = Source(
        "pesp_stipend",
        "pesp_stipend.parquet",
        "programme",
        "Primary Education Stipend Project: pupils, paid to the mother's wallet",
        ("school_code", "student_no"),
        cols,
        fields,
        who,
        tags,
        "primary_stipend",
        typed={"class": "int", "amount": "int", "since": "date"},
    )
    return _finish(
        src, ctx, rows, rng, {"phone": "guardian_mobile", "date": "dob"}, "guardian_mobile"
    )


def egpp_workers(ctx: Ctx) -> Source:
    rng = ctx.rng_for("source:egpp_workers")
    rows = ctx.e.of(EGPP)
    who = ctx.e.person[rows]
    p = ctx.pop.persons
    n = len(rows)
    style = NameStyle(
        prefix_keep=0.55,
        prefix_add=0.1,
        prefix_variant=0.5,
        variant=0.35,
        typo=0.25,
        typo_more=0.4,
        swap=0.05,
        case="mixed",
    )
    name, tags = ctx.name(who, rng, style, rows=rows)
    tags |= ctx.e.tags[rows]
    age, t = _reported_age(p.dob[who], np.datetime64(EGPP_LIST_DATE), rng, heaping=0.25)
    tags |= t
    age_text = np.where(rng.random(n) < 0.1, np.strings.add(digits(age), "y"), digits(age)).astype(
        STR
    )
    nid, t = write_nids(
        p, who, NidStyle(((13, 0.4), (17, 0.4), (10, 0.2)), typo=0.015, missing=0.08), rng
    )
    tags |= t
    mobile, t = write_phones(
        ctx.e.phone[rows], {LOCAL: 0.5, NO_ZERO: 0.3, INTL: 0.1, DASHED: 0.1}, rng, 0.15
    )
    tags |= t
    provider, number = ctx.accounts(rows)
    days = rng.integers(20, 41, n)
    cols = {
        "Card No": ctx.ids(rng, n, "EG", 8),
        "Worker Name": name,
        "Father/Husband Name": ctx.relative_name(
            who, "father_or_husband", rng, style, missing=0.15
        ),
        "Age": age_text,
        "Sex": np.where(
            rng.random(n) < 0.5, ctx.gender(who, ("M", "F")), ctx.gender(who, ("Male", "Female"))
        ),
        "NID No": nid,
        "Mobile No": mobile,
        "MFS": provider,
        "MFS No": number,
        "District": ctx.district_names(who, rng, old=0.4),
        "Upazila": ctx.upazila(who, upper=0.3, rng=rng),
        "Union": ctx.union_name(who, upper=0.3, rng=rng),
        "Ward": ctx.ward(who),
        "Status": ctx.status(rows, ("Active", "Absent", "Dropped")),
        "Start Date": np.full(n, "01/11/2024", dtype=STR),
        "Days": digits(days),
        "Payable Tk": digits(days * 400),
    }
    fields = {
        "programme": {"value": "egpp_workfare"},
        "full_name": {"column": "Worker Name", "script": "en"},
        "father_name": "Father/Husband Name",
        "gender": "Sex",
        "age": {"column": "Age", "as_of": EGPP_LIST_DATE},
        "nid": "NID No",
        "phone": "Mobile No",
        "account_provider": "MFS",
        "account_number": "MFS No",
        "district": "District",
        "upazila": "Upazila",
        "union": "Union",
        "ward": "Ward",
        "status": "Status",
        "since": {"column": "Start Date", "formats": ["%d/%m/%Y"]},
        "amount": "Payable Tk",
    }
    src = Source(
        "egpp_workers",
        "egpp_workers.csv",
        "programme",
        "Employment Generation Programme for the Poorest: an Excel worker list (ages only)",
        ("Card No",),
        cols,
        fields,
        who,
        tags,
        "egpp_workfare",
    )
    return _finish(src, ctx, rows, rng, {"phone": "Mobile No", "nid": "NID No"}, "Mobile No")


def vgd_food(ctx: Ctx) -> Source:
    rng = ctx.rng_for("source:vgd_food")
    rows = ctx.e.of(VGD)
    who = ctx.e.person[rows]
    p = ctx.pop.persons
    n = len(rows)
    style = NameStyle(prefix_keep=0.5, variant=0.3, typo=0.05, swap=0.02, case="upper")
    name, tags = ctx.name(who, rng, style, rows=rows)
    dob, t = write_dates(
        p.dob[who], DateStyle("%Y%m%d", default=0.08, swap=0.02, missing=0.05), rng
    )
    tags |= t | ctx.e.tags[rows]
    nid, t = write_nids(p, who, NidStyle(((17, 0.7), (13, 0.3)), typo=0.01, missing=0.05), rng)
    tags |= t
    mobile, t = write_phones(ctx.e.phone[rows], {LOCAL: 0.8, INTL_NOPLUS: 0.2}, rng, 0.1)
    tags |= t
    since, _ = write_dates(ctx.e.since[rows], DateStyle("%Y%m%d"), rng)
    cols = {
        "card_no": ctx.ids(rng, n, "VGD", 8),
        "name": name,
        "husband_name": ctx.relative_name(who, "spouse", rng, style, missing=0.1),
        "dob": dob,
        "nid": nid,
        "mobile": mobile,
        "district": ctx.district_names(who, rng, old=0.3),
        "upazila": ctx.upazila(who, upper=1.0, rng=rng),
        "union": ctx.union_name(who, upper=1.0, rng=rng),
        "ward": ctx.ward(who),
        "cycle": np.full(n, "2025-2026", dtype=STR),
        "status": ctx.status(rows, ("active", "inactive", "cancelled")),
        "since": since,
        "rice_kg": np.full(n, "30", dtype=STR),
        "value_tk": np.full(n, "1200", dtype=STR),
    }
    fields = {
        "programme": {"value": "vgd_food"},
        "full_name": {"column": "name", "script": "en"},
        "spouse_name": "husband_name",
        "gender": {"value": "female"},
        "date_of_birth": {"column": "dob", "formats": ["%Y%m%d"]},
        "nid": "nid",
        "phone": "mobile",
        "district": "district",
        "upazila": "upazila",
        "union": "union",
        "ward": "ward",
        "status": "status",
        "since": {"column": "since", "formats": ["%Y%m%d"]},
        "amount": "value_tk",
    }
    src = Source(
        "vgd_food",
        "vgd_food.csv",
        "programme",
        "Vulnerable Group Development (food, in kind): union parishad list, ';'-separated",
        ("card_no",),
        cols,
        fields,
        who,
        tags,
        "vgd_food",
        delimiter=";",
    )
    return _finish(src, ctx, rows, rng, {"phone": "mobile", "date": "dob", "nid": "nid"}, "mobile")


def molwa_ff(ctx: Ctx) -> Source:
    rng = ctx.rng_for("source:molwa_ff")
    rows = ctx.e.of(FF)
    who = ctx.e.person[rows]
    p = ctx.pop.persons
    n = len(rows)
    style = NameStyle(prefix_keep=0.85, variant=0.15, typo=0.01, case="title")
    name, tags = ctx.name(who, rng, style, rows=rows)
    dob, t = write_dates(p.dob[who], DateStyle("%d.%m.%Y", default=0.03, swap=0.01), rng)
    tags |= t | ctx.e.tags[rows]
    nid, t = write_nids(p, who, NidStyle(((17, 1.0),), typo=0.002, missing=0.01), rng)
    tags |= t
    mobile, t = write_phones(ctx.e.phone[rows], {LOCAL: 1.0}, rng, 0.05)
    tags |= t
    bank, account = ctx.accounts(rows)
    since, _ = write_dates(ctx.e.since[rows], DateStyle("%d.%m.%Y"), rng)
    cols = {
        "gazette_no": ctx.ids(rng, n, "GZ", 6),
        "name": name,
        "father_name": ctx.relative_name(who, "father", rng, style, missing=0.02),
        "dob": dob,
        "nid": nid,
        "mobile": mobile,
        "bank_name": bank,
        "account_no": account,
        "district": ctx.district_names(who, rng),
        "upazila": ctx.upazila(who),
        "status": ctx.status(rows, ("active", "inactive", "suspended")),
        "since": since,
        "amount": np.full(n, "20000", dtype=STR),
    }
    fields = {
        "programme": {"value": "freedom_fighter_honorarium"},
        "full_name": {"column": "name", "script": "en"},
        "father_name": "father_name",
        "date_of_birth": {"column": "dob", "formats": ["%d.%m.%Y"]},
        "nid": "nid",
        "phone": "mobile",
        "account_provider": "bank_name",
        "account_number": "account_no",
        "district": "district",
        "upazila": "upazila",
        "status": "status",
        "since": {"column": "since", "formats": ["%d.%m.%Y"]},
        "amount": "amount",
    }
    src = Source(
        "molwa_ff",
        "molwa_ff.csv",
        "programme",
        "Ministry of Liberation War Affairs, freedom fighters' honorarium (paid by bank)",
        ("gazette_no",),
        cols,
        fields,
        who,
        tags,
        "freedom_fighter_honorarium",
    )
    return _finish(src, ctx, rows, rng, {"phone": "mobile", "date": "dob", "nid": "nid"}, "mobile")


# -- the household survey ----------------------------------------------------------------------


def bbs_nhd(ctx: Ctx) -> Source:
    rng = ctx.rng_for("source:bbs_nhd")
    p, h, g = ctx.pop.persons, ctx.pop.households, ctx.pop.geo
    who = np.flatnonzero(h.in_survey[p.hh] & (p.dob <= SURVEY_DATE))
    n = len(who)
    style = NameStyle(prefix_keep=0.6, variant=0.25, typo=0.04, swap=0.01, case="upper")
    name, tags = ctx.name(who, rng, style)
    age, t = _reported_age(p.dob[who], SURVEY_DATE, rng, heaping=0.3)
    tags |= t
    adult = age_on(p.dob[who], SURVEY_DATE) >= 18
    nid, t = write_nids(
        p, who, NidStyle(((17, 0.5), (13, 0.3), (10, 0.2)), typo=0.008, missing=0.0), rng
    )
    asked = adult & (rng.random(n) < 0.3)
    nid = blank(nid, ~asked)
    tags |= np.where(asked, t, 0)
    hh = p.hh[who]
    phone_owner = h.phone_owner[hh]
    mobile, t = write_phones(h.phone[hh], {LOCAL: 1.0}, rng)
    tags[(phone_owner >= 0) & (phone_owner != who)] |= Tag.PHONE_OF_HOUSEHOLD
    # household ids: geography + ward + serial within the union; members numbered from 1 (the head)
    un = h.union[hh]
    serial = rank_within(np.where(np.isin(np.arange(len(h)), hh), h.union, -1), rng)[hh] + 1
    hh_id = np.strings.add(
        np.strings.add(ctx.geocode(who), digits(g.upazila_code[un], 2)), digits(g.union_code[un], 2)
    )
    hh_id = np.strings.add(np.strings.add(hh_id, digits(h.ward[hh], 1)), digits(serial, 5))
    member = np.arange(n) - np.searchsorted(hh, hh) + 1
    labels = {
        "head": "Head",
        "spouse": "Spouse",
        "son": "Son",
        "daughter": "Daughter",
        "father": "Father",
        "mother": "Mother",
    }
    relation = np.array([labels[r] for r in RELATIONS], dtype=STR)[p.relation[who]]
    cols = {
        "hh_id": hh_id,
        "member_no": digits(member),
        "name": name,
        "relation": relation,
        "sex": ctx.gender(who, ("Male", "Female")),
        "age": digits(age),
        "nid": nid,
        "hh_mobile": mobile,
        "pmt_score": h.pmt[hh].astype(STR),
        "div_code": ctx.division(who),
        "dist_code": ctx.geocode(who),
        "upazila": ctx.upazila(who, upper=1.0, rng=rng),
        "union": ctx.union_name(who, upper=1.0, rng=rng),
        "ward": ctx.ward(who),
    }
    fields = {
        "full_name": {"column": "name", "script": "en"},
        "relation_to_head": "relation",
        "gender": "sex",
        "age": {"column": "age", "as_of": str(SURVEY_DATE)},
        "nid": "nid",
        "phone": "hh_mobile",
        "household_id": "hh_id",
        "pmt_score": "pmt_score",
        "division": "div_code",
        "district": "dist_code",
        "upazila": "upazila",
        "union": "union",
        "ward": "ward",
    }
    src = Source(
        "bbs_nhd",
        "bbs_nhd.csv",
        "survey",
        f"BBS National Household Database: one row per member, ages as of {SURVEY_DATE}",
        ("hh_id", "member_no"),
        cols,
        fields,
        who,
        tags,
    )
    plant_invalid(
        src.columns,
        {"phone": "hh_mobile", "nid": "nid"},
        src.tags,
        np.ones(n, dtype=bool),
        INVALID_RATE,
        rng,
    )
    bad = (src.columns["hh_mobile"] == "") | ((src.tags & Tag.INVALID_PHONE) != 0)
    src.phone_id = np.where(bad, -1, h.phone[hh])
    src.wallet_provider = np.zeros(n, dtype=np.int64)
    src.wallet_number = np.full(n, -1, dtype=np.int64)
    return src


# -- reference registries ----------------------------------------------------------------------


def ec_nid(ctx: Ctx, who: np.ndarray) -> Source:
    rng = ctx.rng_for("source:ec_nid")
    p = ctx.pop.persons
    n = len(who)
    exact = NameStyle(
        prefix_keep=1.0,
        prefix_add=0.0,
        prefix_variant=0.0,
        variant=0.0,
        typo=0.0,
        swap=0.0,
        case="upper",
    )
    name_en, _ = ctx.name(who, rng, exact)
    name_bn, _ = ctx.name(who, rng, exact, "bn")
    cols = {
        "nid": digits(p.nid17[who], 17),
        "smart_nid": digits(p.smart_nid[who], 10),
        "name_en": name_en,
        "name_bn": name_bn,
        "dob": iso_dates(p.dob[who]),
        "gender": ctx.gender(who, ("male", "female")),
        "father_name_bn": ctx.relative_name(who, "father", rng, exact, "bn"),
        "mother_name_bn": ctx.relative_name(who, "mother", rng, exact, "bn"),
        "spouse_name_bn": ctx.relative_name(who, "spouse", rng, exact, "bn"),
        "perm_district": ctx.district_names(who, rng),
        "perm_upazila": ctx.upazila(who),
        "perm_union": ctx.union_name(who),
    }
    fields = {
        "full_name": {"column": "name_en", "script": "en"},
        "full_name_bn": {"column": "name_bn", "script": "bn"},
        "father_name": {"column": "father_name_bn", "script": "bn"},
        "mother_name": {"column": "mother_name_bn", "script": "bn"},
        "spouse_name": {"column": "spouse_name_bn", "script": "bn"},
        "gender": "gender",
        "date_of_birth": {"column": "dob", "formats": ["%Y-%m-%d"]},
        "nid": "nid",
        "nid_alt": "smart_nid",
        "district": "perm_district",
        "upazila": "perm_upazila",
        "union": "perm_union",
    }
    src = Source(
        "ec_nid",
        "ec_nid.csv",
        "reference",
        "Election Commission NID server extract: 17-digit and smart-card NID of the same person",
        ("nid",),
        cols,
        fields,
        who,
        np.zeros(n, dtype=np.int64),
    )
    src.sort_by(src.record_ids())
    return src


def btrc_sim(ctx: Ctx, numbers: np.ndarray, owners: np.ndarray) -> Source:
    rng = ctx.rng_for("source:btrc_sim")
    p = ctx.pop.persons
    n = len(numbers)
    style = NameStyle(prefix_keep=0.7, variant=0.15, typo=0.01, case="upper")
    name, _ = ctx.name(owners, rng, style)
    nid, _ = write_nids(p, owners, NidStyle(((17, 0.6), (10, 0.4)), typo=0.0, missing=0.0), rng)
    dob, _ = write_dates(p.dob[owners], DateStyle("%Y%m%d"), rng)
    since = TODAY - rng.integers(30, 3650, n).astype("timedelta64[D]")
    op = np.array([_OPERATOR.get(d, "") for d in range(10)], dtype=STR)[(numbers // 10**8) % 10]
    cols = {
        "msisdn": np.strings.add("880", digits(numbers)),
        "operator": op,
        "owner_nid": nid,
        "owner_name": name,
        "owner_dob": dob,
        "activation_date": iso_dates(since),
    }
    fields = {
        "phone": "msisdn",
        "nid": "owner_nid",
        "full_name": {"column": "owner_name", "script": "en"},
        "date_of_birth": {"column": "owner_dob", "formats": ["%Y%m%d"]},
    }
    src = Source(
        "btrc_sim",
        "btrc_sim.csv",
        "reference",
        "BTRC biometric SIM registration: which NID owns each mobile number",
        ("msisdn",),
        cols,
        fields,
        owners,
        np.zeros(n, dtype=np.int64),
    )
    src.phone_id = numbers.copy()
    src.wallet_provider = np.zeros(n, dtype=np.int64)
    src.wallet_number = np.full(n, -1, dtype=np.int64)
    src.sort_by(src.record_ids())
    return src


def mfs_kyc(ctx: Ctx, provider: np.ndarray, number: np.ndarray, owners: np.ndarray) -> Source:
    rng = ctx.rng_for("source:mfs_kyc")
    p = ctx.pop.persons
    n = len(number)
    style = NameStyle(prefix_keep=0.6, variant=0.1, typo=0.01, case="title")
    name, _ = ctx.name(owners, rng, style)
    nid, _ = write_nids(p, owners, NidStyle(((10, 0.6), (17, 0.4)), typo=0.0, missing=0.0), rng)
    dob, _ = write_dates(p.dob[owners], DateStyle("%d/%m/%Y"), rng)
    kyc = TODAY - rng.integers(30, 3000, n).astype("timedelta64[D]")
    cols = {
        "provider": np.array([_PROVIDER_LABEL[i] for i in range(4)], dtype=STR)[provider],
        "wallet_no": np.strings.add("0", digits(number)),
        "holder_name": name,
        "holder_nid": nid,
        "holder_dob": dob,
        "kyc_date": iso_dates(kyc),
    }
    fields = {
        "account_provider": "provider",
        "account_number": "wallet_no",
        "full_name": {"column": "holder_name", "script": "en"},
        "nid": "holder_nid",
        "date_of_birth": {"column": "holder_dob", "formats": ["%d/%m/%Y"]},
    }
    src = Source(
        "mfs_kyc",
        "mfs_kyc.csv",
        "reference",
        "Mobile financial services KYC (bKash, Nagad, Rocket): which NID owns each wallet",
        ("provider", "wallet_no"),
        cols,
        fields,
        owners,
        np.zeros(n, dtype=np.int64),
    )
    src.phone_id = np.full(n, -1, dtype=np.int64)
    src.wallet_provider = provider.copy()
    src.wallet_number = number.copy()
    src.sort_by(src.record_ids())
    return src


def bdris(ctx: Ctx, who: np.ndarray) -> Source:
    rng = ctx.rng_for("source:bdris")
    p = ctx.pop.persons
    n = len(who)
    exact = NameStyle(
        prefix_keep=0.8, prefix_add=0.0, prefix_variant=0.0, variant=0.05, typo=0.005, swap=0.0
    )
    name_bn, _ = ctx.name(who, rng, exact, "bn")
    name_en, _ = ctx.name(who, rng, exact)
    dob, _ = write_dates(p.dob[who], DateStyle("%d/%m/%Y"), rng)
    father = p.father[who]
    mother = p.mother[who]
    cols = {
        "brn": digits(p.brn[who], 17),
        "name_bn": name_bn,
        "name_en": np.strings.upper(name_en),
        "dob": dob,
        "sex": ctx.gender(who, ("Male", "Female")),
        "father_name_bn": ctx.relative_name(who, "father", rng, exact, "bn"),
        "mother_name_bn": ctx.relative_name(who, "mother", rng, exact, "bn"),
        "father_nid": digits(np.where(father >= 0, p.nid17[np.maximum(father, 0)], -1), 17),
        "mother_nid": digits(np.where(mother >= 0, p.nid17[np.maximum(mother, 0)], -1), 17),
        "district": ctx.district_names(who, rng),
        "upazila": ctx.upazila(who),
        "union": ctx.union_name(who),
    }
    fields = {
        "full_name": {"column": "name_en", "script": "en"},
        "full_name_bn": {"column": "name_bn", "script": "bn"},
        "father_name": {"column": "father_name_bn", "script": "bn"},
        "mother_name": {"column": "mother_name_bn", "script": "bn"},
        "gender": "sex",
        "date_of_birth": {"column": "dob", "formats": ["%d/%m/%Y"]},
        "brn": "brn",
        "district": "district",
        "upazila": "upazila",
        "union": "union",
    }
    src = Source(
        "bdris",
        "bdris.csv",
        "reference",
        "Birth and Death Registration Information System: birth registrations (BRN)",
        ("brn",),
        cols,
        fields,
        who,
        np.zeros(n, dtype=np.int64),
    )
    src.sort_by(src.record_ids())
    return src


PROGRAMME_SOURCES: Final = (
    dss_old_age,
    dss_widow,
    dss_disability,
    dwa_mcb,
    pesp_stipend,
    egpp_workers,
    vgd_food,
    molwa_ff,
)


def reference_sources(ctx: Ctx, built: list[Source]) -> list[Source]:
    """The registries, extracted for the identifiers the programme MISs present, plus a sample."""
    p = ctx.pop.persons
    rng = ctx.rng_for("references")
    e = ctx.e
    n = len(p)
    # SIMs: contact phones and the numbers behind wallets on programme records
    extra = [(number, agent) for agent, _, number in ctx.planted.agents]
    extra += [(number, farmer) for farmer, number in ctx.planted.farms]
    known = np.concatenate([p.phone[p.phone >= 0], np.array([x for x, _ in extra], dtype=np.int64)])
    known_owner = np.concatenate(
        [np.flatnonzero(p.phone >= 0), np.array([o for _, o in extra], dtype=np.int64)]
    )
    order = np.argsort(known)
    known, known_owner = known[order], known_owner[order]
    wallet_phone = np.select(
        [e.provider == ROCKET, np.isin(e.provider, (BKASH, NAGAD))],
        [e.account // 10, e.account],
        -1,
    )
    numbers = np.unique(np.concatenate([e.phone[e.phone >= 0], wallet_phone[wallet_phone >= 0]]))
    sim_owner = known_owner[np.searchsorted(known, numbers)]
    # wallets on programme records, with their KYC owner
    mfs = np.flatnonzero(np.isin(e.provider, (BKASH, NAGAD, ROCKET)))
    _, first = np.unique(
        np.stack([e.provider[mfs], e.account[mfs]], axis=1), axis=0, return_index=True
    )
    mfs = mfs[first]
    pairs = np.stack([e.provider[mfs], e.account[mfs], e.account_owner[mfs]], axis=1)
    # NID holders the programmes present, plus a sample of everyone else
    presented = np.zeros(n, dtype=bool)
    presented[e.person] = True
    pesp = e.programme == PESP
    presented[e.account_owner[e.account_owner >= 0]] = True
    presented[p.mother[e.person[pesp]][p.mother[e.person[pesp]] >= 0]] = True
    presented[sim_owner] = True
    presented[pairs[:, 2]] = True
    ec_who = np.flatnonzero((p.nid17 >= 0) & (presented | (rng.random(n) < 0.03)))
    brn_seen = np.zeros(n, dtype=bool)
    for src in built:
        if "brn" in src.fields:
            col = (
                src.fields["brn"]
                if isinstance(src.fields["brn"], str)
                else src.fields["brn"]["column"]
            )
            brn_seen[src.person[src.columns[col] != ""]] = True
    bdris_who = np.flatnonzero((p.brn >= 0) & (brn_seen | (rng.random(n) < 0.05)))
    return [
        ec_nid(ctx, ec_who),
        btrc_sim(ctx, numbers, sim_owner),
        mfs_kyc(ctx, pairs[:, 0], pairs[:, 1], pairs[:, 2]),
        bdris(ctx, bdris_who),
    ]


def _reported_age(
    dob: np.ndarray, day: np.datetime64, rng: np.random.Generator, heaping: float
) -> tuple[np.ndarray, np.ndarray]:
    """Age on ``day`` as people report it: from 40 on, often rounded to a multiple of 5."""
    age = age_on(dob, day)
    heaped = (age >= 40) & (rng.random(len(age)) < heaping) & (age % 5 != 0)
    tags = np.where(heaped, int(Tag.AGE_HEAPED), 0).astype(np.int64)
    return np.where(heaped, 5 * np.rint(age / 5).astype(np.int64), age), tags
