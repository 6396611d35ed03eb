"""Varied source shapes: each source of the world re-cut the way another ministry's export might be.

``ekjon synth --shapes varied --shape-seed S`` passes every source :func:`reshape` before it is
written. Real MIS exports carry other columns, other subsets of fields and other vocabularies than
ekjon's own synthetic sources; a match model or blocking rule that only ever saw ekjon's layouts
learns them, not the people. For each source, drawn from its own random stream (the world's seed
and the shape seed):

- **column names**: every column renamed from a pool of names real exports use (``NID``,
  ``nid_no``, ``jatiyo_porichoy_potro``, ``Beneficiary Name``, ...);
- **fields kept**: optional fields dropped (the NID, relatives' names, one of the two name scripts,
  gender, the ward), never the record id, the last name field, the identifiers fraud findings
  rest on (phones, accounts) or the programme facts;
- **geography**: sometimes one level only (district, upazila or union);
- **ages instead of dates**: a date of birth column replaced by the age on the export date, or
  mixed: some rows give the date, others an age written ``58y``, ``58 yrs``, ``58 years``,
  ``৫৮ বছর`` or a bare ``58`` (the mapping's ``age_as_of`` says when);
- **split names**: an English name written as two columns, first names and last name (the mapping
  joins them: ``columns: [first, last]``);
- **vocabulary**: relations to the head as words in English or Bangla (``child``, ``parent``,
  ``ছেলে``, ``মেয়ে``, ``স্ত্রী``, ``স্বামী``, ``বাবা``, ``মা``); gender as ``M/F``, ``Male/Female``,
  ``পুরুষ/মহিলা`` or BBS codes ``1/2``;
- **addresses and postcodes**: some sources gain an ``address`` column (the household's para and
  village, often its union and upazila, each source writing them its own way and with spelling
  variants) and some a ``postcode`` (the upazila's); drawn from a stream of their own, so the other
  choices above are what they were before addresses came.

Record ids, the rows and the truth do not change: the same people, other shapes.
"""

from __future__ import annotations

from typing import Any, Final

import numpy as np
from numpy.dtypes import StringDType

from synth.names import MALE
from synth.population import RELATIONS, TODAY, age_on
from synth.sources import Ctx, Source
from synth.variation import bangla_digits, blank, digits

__all__ = ["SHAPES", "reshape"]

STR: Final = StringDType()
SHAPES: Final = ("default", "varied")

#: Column names real exports give each canonical field (the first is used when none other fits).
_NAMES: Final[dict[str, tuple[str, ...]]] = {
    "full_name": (
        "Name",
        "beneficiary_name",
        "BENEFICIARY NAME",
        "Naam",
        "applicant_name",
        "NameEn",
        "member_name",
        "Full Name",
    ),
    "full_name_bn": ("নাম", "name_bn", "NameBangla", "বাংলা নাম", "nam_bangla"),
    "father_name": ("Father", "father_name", "pitar_nam", "পিতার নাম", "FatherName"),
    "mother_name": ("Mother", "mother_name", "matar_nam", "মাতার নাম", "MotherName"),
    "spouse_name": ("Spouse", "husband_wife_name", "swami_stri", "স্বামী/স্ত্রীর নাম"),
    "gender": ("Gender", "sex", "SEX", "linga", "লিঙ্গ"),
    "date_of_birth": (
        "DOB",
        "birth_date",
        "date_of_birth",
        "jonmo_tarikh",
        "জন্ম তারিখ",
        "BirthDate",
    ),
    "age": ("Age", "age_years", "boyosh", "বয়স"),
    "nid": ("NID", "nid_no", "national_id", "jatiyo_porichoy_potro", "NIDNumber", "এনআইডি"),
    "brn": ("BRN", "birth_reg_no", "jonmo_nibondhon"),
    "phone": ("Mobile", "phone_no", "contact", "mobile_number", "মোবাইল"),
    "account_provider": ("PaymentMode", "mfs_provider", "bank_or_mfs", "channel"),
    "account_number": ("AccountNumber", "wallet", "mfs_account", "acct_no"),
    "district": ("District", "zila", "zilla_name", "DIST", "জেলা"),
    "upazila": ("Upazila", "thana", "upazilla_name", "UPZ", "উপজেলা"),
    "union": ("Union", "union_parishad", "UnionName", "ইউনিয়ন"),
    "ward": ("Ward", "ward_no", "WARD_NO"),
    "division": ("Division", "bibhag"),
    "relation_to_head": ("Relation", "rel_to_head", "relationship", "সম্পর্ক"),
    "household_id": ("HouseholdID", "hh_no", "khana_no", "family_id"),
    "pmt_score": ("PMT", "pmt", "poverty_score"),
    "status": ("Status", "state", "ben_status"),
    "since": ("EnrolDate", "approval_date", "start_date"),
    "amount": ("Amount", "monthly_tk", "payment_amount"),
    "address": ("Address", "address", "thikana", "ঠিকানা", "village_para"),
    "postcode": ("PostCode", "post_code", "po_code", "ডাক কোড"),
}
#: Fields a source may lose, with the chance it does.
_DROP: Final[dict[str, float]] = {
    "nid": 0.2,
    "father_name": 0.4,
    "mother_name": 0.4,
    "spouse_name": 0.4,
    "gender": 0.2,
    "ward": 0.5,
    "division": 0.5,
}
_GENDER_WORDS: Final = (("M", "F"), ("Male", "Female"), ("পুরুষ", "মহিলা"), ("1", "2"))
#: Relation words per ekjon relation (head, spouse by the member's gender, son, daughter, father,
#: mother), in English or Bangla.
_RELATION_WORDS: Final[dict[str, dict[str, tuple[str, ...]]]] = {
    "en": {
        "head": ("head", "self", "Head of household"),
        "husband": ("husband", "spouse"),
        "wife": ("wife", "spouse"),
        "son": ("child", "son"),
        "daughter": ("child", "daughter"),
        "father": ("parent", "father"),
        "mother": ("parent", "mother"),
    },
    "bn": {
        "head": ("খানা প্রধান", "নিজ"),
        "husband": ("স্বামী",),
        "wife": ("স্ত্রী",),
        "son": ("ছেলে", "পুত্র"),
        "daughter": ("মেয়ে", "কন্যা"),
        "father": ("বাবা", "পিতা"),
        "mother": ("মা", "মাতা"),
    },
}
_AGE_FORMS: Final = ("{}y", "{} yrs", "{} years", "{} বছর", "{}")
_GEOGRAPHY: Final = ("district", "upazila", "union")


def reshape(src: Source, ctx: Ctx, shape_seed: int) -> Source:
    """Re-cut ``src`` (in place, and returned) as another export of the same rows might be.

    Parameters
    ----------
    src:
        A built source (columns, the mapping's fields, the true person per row).
    ctx:
        The world the source was built from (for true dates of birth, genders and relations).
    shape_seed:
        With the world's seed, decides every choice; the same seeds give the same shapes.
    """
    rng = ctx.rng_for(f"shape:{shape_seed}:{src.name}")
    fields: dict[str, Any] = dict(src.fields)
    columns = dict(src.columns)
    person = src.person

    def column_of(field: str) -> str | None:
        entry = fields.get(field)
        if isinstance(entry, str):
            return entry
        if isinstance(entry, dict):
            return entry.get("column")
        return None

    def drop(field: str) -> None:
        column = column_of(field)
        del fields[field]
        if column is not None and column not in src.record_id and column not in _used(fields):
            columns.pop(column, None)

    # fields kept
    names = [f for f in ("full_name", "full_name_bn") if column_of(f)]
    if len(names) == 2 and rng.random() < 0.3:
        drop(names[int(rng.integers(2))])
    for field, chance in _DROP.items():
        # a registry's identifiers are what it is consulted for: never dropped
        if column_of(field) and rng.random() < chance:
            if not (src.kind == "reference" and field in ("nid", "brn")):
                drop(field)
    present = [g for g in _GEOGRAPHY if column_of(g)]
    if len(present) > 1 and rng.random() < 0.4:
        keep = present[int(rng.integers(len(present)))]
        for level in present:
            if level != keep:
                drop(level)

    # vocabulary
    if column_of("gender") and "value" not in _entry(fields["gender"]):
        male, female = _GENDER_WORDS[int(rng.integers(len(_GENDER_WORDS)))]
        is_male = ctx.pop.persons.gender[person] == MALE
        old = columns[column_of("gender")]
        columns[column_of("gender")] = blank(np.where(is_male, male, female).astype(STR), old == "")
    if column_of("relation_to_head"):
        columns[column_of("relation_to_head")] = _relation_words(ctx, person, rng)

    # ages instead of dates
    dob_column = column_of("date_of_birth")
    if dob_column and rng.random() < 0.45:
        written = columns[dob_column]
        age = age_on(ctx.pop.persons.dob[person], TODAY)
        as_age = rng.random(len(person)) < (1.0 if rng.random() < 0.5 else 0.35)
        forms = rng.integers(len(_AGE_FORMS), size=len(person))
        text = np.array(
            [_AGE_FORMS[f].format(a) for f, a in zip(forms.tolist(), age.tolist(), strict=True)],
            dtype=STR,
        )
        text = bangla_digits(text, np.strings.find(text, "বছর") >= 0)
        if as_age.all():
            columns[dob_column] = blank(digits(age), written == "")
            fields.pop("date_of_birth")
            fields["age"] = {"column": dob_column, "as_of": str(TODAY)}
        else:
            columns[dob_column] = np.where(as_age & (written != ""), text, written).astype(STR)
            fields["date_of_birth"] = {**_entry(fields["date_of_birth"]), "age_as_of": str(TODAY)}

    # split names
    name_column = column_of("full_name")
    if name_column and rng.random() < 0.3:
        first, last = _split(columns[name_column])
        del columns[name_column]
        columns[f"{name_column} (first)"], columns[f"{name_column} (last)"] = first, last
        entry = {k: v for k, v in _entry(fields["full_name"]).items() if k != "column"}
        fields["full_name"] = {
            "columns": [f"{name_column} (first)", f"{name_column} (last)"],
            **entry,
        }

    # addresses and postcodes (their own stream: the draws above stay as they were)
    _add_address(ctx, src, columns, fields, ctx.rng_for(f"shape-address:{shape_seed}:{src.name}"))

    # column names
    renamed = _new_names(columns, fields, src.record_id, rng)
    src.columns = {renamed.get(c, c): v for c, v in columns.items()}
    src.fields = {f: _renamed(e, renamed) for f, e in fields.items()}
    src.record_id = tuple(renamed.get(c, c) for c in src.record_id)
    src.typed = {renamed.get(c, c): kind for c, kind in src.typed.items() if c in columns}
    dob_now = renamed.get(dob_column or "", dob_column or "")
    if src.typed.get(dob_now) == "date" and (
        "age" in src.fields or "age_as_of" in _entry(src.fields.get("date_of_birth", {}))
    ):
        del src.typed[dob_now]  # ages, or ages and dates: a text column now
    src.description += " (reshaped)"
    return src


def _entry(entry: Any) -> dict[str, Any]:
    return {"column": entry} if isinstance(entry, str) else dict(entry)


def _used(fields: dict[str, Any]) -> set[str]:
    used: set[str] = set()
    for entry in fields.values():
        entry = _entry(entry)
        if "column" in entry:
            used.add(entry["column"])
        used.update(entry.get("columns", ()))
    return used


def _renamed(entry: Any, renamed: dict[str, str]) -> Any:
    if isinstance(entry, str):
        return renamed.get(entry, entry)
    entry = dict(entry)
    if "column" in entry:
        entry["column"] = renamed.get(entry["column"], entry["column"])
    if "columns" in entry:
        entry["columns"] = [renamed.get(c, c) for c in entry["columns"]]
    return entry


def _new_names(
    columns: dict[str, np.ndarray],
    fields: dict[str, Any],
    record_id: tuple[str, ...],
    rng: np.random.Generator,
) -> dict[str, str]:
    """Old column -> new name: a field's column from its pool, others (and clashes) kept."""
    renamed: dict[str, str] = {}
    taken: set[str] = set()
    for field, entry in fields.items():
        entry = _entry(entry)
        pool = _NAMES.get(field)
        olds = entry.get("columns") or ([entry["column"]] if "column" in entry else [])
        if not pool or not olds:
            continue
        base = pool[int(rng.integers(len(pool)))]
        for i, old in enumerate(olds):
            new = base if len(olds) == 1 else f"{base}_{('first', 'last')[i] if i < 2 else i}"
            if old in renamed or new in taken or new in columns:
                continue
            renamed[old] = new
            taken.add(new)
    return renamed


def _split(names: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Names split at the last space: (first names, last name); a one-word name is all last."""
    first, last = [], []
    for name in names.tolist():
        head, _, tail = name.rpartition(" ")
        first.append(head)
        last.append(tail)
    return np.array(first, dtype=STR), np.array(last, dtype=STR)


def _relation_words(ctx: Ctx, person: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    p = ctx.pop.persons
    script = "bn" if rng.random() < 0.5 else "en"
    words = _RELATION_WORDS[script]
    out = []
    picks = rng.random(len(person))
    for who, pick in zip(person.tolist(), picks.tolist(), strict=True):
        relation = RELATIONS[p.relation[who]]
        if relation == "spouse":
            relation = "husband" if p.gender[who] == MALE else "wife"
        choices = words[relation]
        out.append(choices[int(pick * len(choices))])
    return np.array(out, dtype=STR)


#: chance that a source gains an address column, and a postcode column
_ADDRESS_CHANCE: Final = 0.45
_POSTCODE_CHANCE: Final = 0.3
#: village names: a root and a suffix, as Bangladeshi villages are named
_VILLAGE_ROOTS: Final = (
    "Ram",
    "Krishna",
    "Madhab",
    "Sona",
    "Rupa",
    "Gopal",
    "Hari",
    "Shib",
    "Kashi",
    "Kamal",
    "Noa",
    "Bara",
    "Dhan",
    "Shanti",
    "Kadam",
    "Shimul",
    "Bakul",
    "Hijal",
    "Tetul",
    "Pir",
    "Mirza",
    "Kazi",
    "Fakir",
    "Lal",
    "Nil",
    "Amin",
    "Sher",
    "Mohan",
    "Basan",
    "Chand",
)
_VILLAGE_SUFFIXES: Final = (
    "pur",
    "ganj",
    "nagar",
    "bari",
    "dia",
    "khali",
    "kandi",
    "danga",
    "gram",
    "tala",
    "kati",
)
_PARAS: Final = (
    "Uttar Para",
    "Dakshin Para",
    "Purba Para",
    "Paschim Para",
    "Majhi Para",
    "Bazar Para",
    "Mia Bari",
    "Sarkar Bari",
    "Khan Bari",
    "Munshi Bari",
    "Hindu Para",
    "Madhya Para",
)
#: spelling variants a writer may use for a part of an address
_VARIANTS: Final = (
    ("Para", "Parha"),
    ("Para", "para"),
    ("Bari", "Baari"),
    ("pur", "poor"),
    ("Uttar", "North"),
    ("Dakshin", "South"),
    ("Dakshin", "Dokkhin"),
    ("Purba", "East"),
    ("Paschim", "West"),
    ("Char ", "Chor "),
    ("kandi", "kandhi"),
    ("khali", "khaly"),
)
#: how a source writes an address: its parts in order (para, village, union, upazila, ward)
_ADDRESS_FORMS: Final = (
    "{para}, {village}",
    "{para}, {village}, {union}",
    "Vill: {village}, Para: {para}, Union: {union}",
    "{village} ({para}), {union}, {upazila}",
    "Village-{village}, PO-{union}, Upazila-{upazila}",
    "{para}, Ward {ward}, {village}",
)


def _add_address(
    ctx: Ctx,
    src: Source,
    columns: dict[str, np.ndarray],
    fields: dict[str, Any],
    rng: np.random.Generator,
) -> None:
    """Maybe give the source an ``address`` column (and a ``postcode`` one): the true
    household's para and village (fixed per household), union and upazila, written in one of
    :data:`_ADDRESS_FORMS`, with spelling variants on some rows and some rows left empty."""
    wants_address = rng.random() < _ADDRESS_CHANCE
    wants_postcode = rng.random() < _POSTCODE_CHANCE
    if not (wants_address or wants_postcode) or (src.kind == "reference" and rng.random() < 0.5):
        return
    p, h, g = ctx.pop.persons, ctx.pop.households, ctx.pop.geo
    hh = p.hh[src.person]
    union = h.union[hh]
    n = len(src.person)
    if wants_address and "address" not in fields:
        form = _ADDRESS_FORMS[int(rng.integers(len(_ADDRESS_FORMS)))]
        village, para = _village(union, hh)
        noisy = rng.random(n) < 0.25
        picks = rng.integers(len(_VARIANTS), size=n)
        gone = rng.random(n) < 0.06
        text = []
        for i in range(n):
            value = form.format(
                para=para[i],
                village=village[i],
                union=g.union_name[union[i]],
                upazila=g.upazila_name[union[i]],
                ward=int(h.ward[hh[i]]),
            )
            if noisy[i]:
                old, new = _VARIANTS[int(picks[i])]
                value = value.replace(old, new)
            text.append("" if gone[i] else value)
        column = "address" if "address" not in columns else "address_text"
        columns[column] = np.array(text, dtype=STR)
        fields["address"] = column
    if wants_postcode and "postcode" not in fields:
        code = _postcode(g.district_idx[union], g.upazila_code[union])
        written = digits(code)
        written = bangla_digits(written, rng.random(n) < 0.1)
        column = "post_code" if "post_code" not in columns else "postcode_no"
        columns[column] = blank(written, rng.random(n) < 0.08)
        fields["postcode"] = column


def _village(union: np.ndarray, hh: np.ndarray) -> tuple[list[str], list[str]]:
    """Each household's village (one of six of its union) and para, fixed by the world."""
    villages, paras = [], []
    for u, h in zip(union.tolist(), hh.tolist(), strict=True):
        v = u * 6 + (h * 2654435761 >> 7) % 6
        root = _VILLAGE_ROOTS[(v * 7919) % len(_VILLAGE_ROOTS)]
        villages.append(root + _VILLAGE_SUFFIXES[(v * 104729 >> 2) % len(_VILLAGE_SUFFIXES)])
        paras.append(_PARAS[(h * 40503 >> 3) % len(_PARAS)])
    return villages, paras


def _postcode(district: np.ndarray, upazila: np.ndarray) -> np.ndarray:
    """A 4-digit postcode per upazila (first digit 1-9), fixed by the world."""
    return 1000 + (district.astype(np.int64) * 131 + upazila.astype(np.int64) * 17) % 9000
