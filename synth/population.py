"""The true population: households, their members, names, dates of birth and identifiers.

Everything is generated column-wise with numpy. A household is laid out in fixed slots (head,
spouse, head's father, head's mother, up to :data:`MAX_CHILDREN` children); present slots are
flattened into the person arrays, so a household's members are contiguous and in slot order.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Final

import numpy as np

from synth.geography import Geography, build_geography, district_number
from synth.names import (
    FEMALE,
    HINDU,
    MALE,
    MUSLIM,
    distinct_given,
    draw_names,
    hindu_surname,
)

log = logging.getLogger(__name__)

#: The date the MIS exports are taken: ages and eligibility are as of this day.
TODAY: Final = np.datetime64("2025-06-30", "D")
#: The BBS household survey (NHD) date: its ages are as of this day.
SURVEY_DATE: Final = np.datetime64("2022-06-15", "D")

MAX_CHILDREN: Final = 7
SLOT_HEAD, SLOT_SPOUSE, SLOT_FATHER, SLOT_MOTHER, SLOT_CHILD = 0, 1, 2, 3, 4
N_SLOTS: Final = SLOT_CHILD + MAX_CHILDREN

RELATIONS: Final = ("head", "spouse", "son", "daughter", "father", "mother")
REL_HEAD, REL_SPOUSE, REL_SON, REL_DAUGHTER, REL_FATHER, REL_MOTHER = range(6)

# household types
COUPLE, WIDOW_HEADED, WIFE_HEADED, LONE_ELDER, LONE_MAN = range(5)
HOUSEHOLD_TYPES: Final = ("couple", "widow_headed", "wife_headed", "lone_elder", "lone_man")
_TYPE_P: Final = (0.80, 0.08, 0.05, 0.045, 0.025)

#: mobile operator digit (01X) and its share of subscribers
_OPERATORS: Final = ((7, 0.38), (3, 0.10), (9, 0.14), (4, 0.03), (8, 0.18), (6, 0.12), (5, 0.05))


@dataclass(slots=True)
class Households:
    """One row per household."""

    kind: np.ndarray
    religion: np.ndarray
    union: np.ndarray  # index into Geography
    ward: np.ndarray
    pmt: np.ndarray  # proxy-means-test score, lower = poorer
    poverty_rank: np.ndarray  # 0 = poorest, 1 = richest (percentile of pmt)
    in_survey: np.ndarray  # covered by the NHD
    start: np.ndarray  # first member's person index
    size: np.ndarray
    phone: np.ndarray  # household phone (10-digit int without the leading 0) or -1
    phone_owner: np.ndarray  # person index or -1
    wallet_owner: np.ndarray  # person whose wallet the household uses, or -1

    def __len__(self) -> int:
        return len(self.kind)


@dataclass(slots=True)
class Persons:
    """One row per person (index = person number)."""

    hh: np.ndarray
    slot: np.ndarray
    relation: np.ndarray
    gender: np.ndarray
    religion: np.ndarray
    dob: np.ndarray  # datetime64[D]: the registered date of birth (EC / BDRIS)
    default_dob: np.ndarray  # the registered date is a 1 January / 31 January default
    tok: np.ndarray
    has_prefix: np.ndarray
    father_tok: np.ndarray
    father_prefix: np.ndarray
    mother_tok: np.ndarray
    mother_prefix: np.ndarray
    spouse_tok: np.ndarray  # -1 rows: never married
    spouse_prefix: np.ndarray
    father: np.ndarray  # person index or -1 (not in the world)
    mother: np.ndarray
    spouse: np.ndarray
    widowed: np.ndarray
    disabled: np.ndarray
    twin_of: np.ndarray
    named_after: np.ndarray  # a son carrying his father's exact name: the father's index
    nid17: np.ndarray  # int64, -1 none
    smart_nid: np.ndarray
    brn: np.ndarray
    phone: np.ndarray  # own SIM (10-digit int), -1 none
    bkash: np.ndarray
    nagad: np.ndarray
    rocket: np.ndarray  # trailing digit of the Rocket account, -1 none

    def __len__(self) -> int:
        return len(self.hh)

    def age_on(self, day: np.datetime64) -> np.ndarray:
        """Whole years of age on ``day``."""
        return age_on(self.dob, day)

    @property
    def birth_year(self) -> np.ndarray:
        return self.dob.astype("datetime64[Y]").astype(np.int64) + 1970

    @property
    def nid13(self) -> np.ndarray:
        return np.where(self.nid17 >= 0, self.nid17 % 10**13, -1)


@dataclass(slots=True)
class Population:
    geo: Geography
    households: Households
    persons: Persons
    spare_phones: np.ndarray  # unused numbers for agents' and phone farmers' extra SIMs


def age_on(dob: np.ndarray, day: np.datetime64) -> np.ndarray:
    """Whole years between ``dob`` and ``day`` (vectorised)."""
    y, m, d = ymd(dob)
    dy, dm, dd = ymd(np.array([day]))
    before = (m > dm[0]) | ((m == dm[0]) & (d > dd[0]))
    return dy[0] - y - before.astype(np.int64)


def ymd(days: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Year, month, day arrays of a datetime64[D] array."""
    y = days.astype("datetime64[Y]")
    m = days.astype("datetime64[M]")
    year = y.astype(np.int64) + 1970
    month = (m - y.astype("datetime64[M]")).astype(np.int64) + 1
    day = (days - m.astype("datetime64[D]")).astype(np.int64) + 1
    return year, month, day


def from_ymd(year: np.ndarray, month: np.ndarray | int, day: np.ndarray | int) -> np.ndarray:
    """datetime64[D] from year, month, day arrays (day must be valid for the month)."""
    months = (np.asarray(year) - 1970) * 12 + np.asarray(month) - 1
    return months.astype("datetime64[M]").astype("datetime64[D]") + (np.asarray(day) - 1)


def add_years(days: np.ndarray, years: np.ndarray | int) -> np.ndarray:
    """Shift dates by whole years (29 February becomes 28 February)."""
    y, m, d = ymd(days)
    d = np.where((m == 2) & (d == 29), 28, d)
    return from_ymd(y + years, m, d)


def unique_numbers(
    rng: np.random.Generator, k: int, low: int, high: int, taken: np.ndarray | None = None
) -> np.ndarray:
    """``k`` distinct random integers in ``[low, high)``, none in ``taken``, in draw order."""
    out = np.empty(0, dtype=np.int64)
    taken = np.empty(0, dtype=np.int64) if taken is None else taken
    while len(out) < k:
        draw = rng.integers(low, high, size=int((k - len(out)) * 1.05) + 16, dtype=np.int64)
        pool = np.concatenate([out, draw])
        _, first = np.unique(pool, return_index=True)
        keep = np.zeros(len(pool), dtype=bool)
        keep[first] = True
        keep &= ~np.isin(pool, taken)
        out = pool[keep]
    return out[:k]


def _age_sampler(
    rng: np.random.Generator, weights: dict[int, float], n: int, lo: int, hi: int
) -> np.ndarray:
    ages = np.arange(lo, hi + 1)
    knots = sorted(weights)
    w = np.interp(ages, knots, [weights[k] for k in knots])
    return rng.choice(ages, size=n, p=w / w.sum())


def _draw_households(rng: np.random.Generator, h: int) -> dict[str, np.ndarray]:
    """Household composition in slots: ages, genders and presence, before names and dates."""
    kind = rng.choice(len(_TYPE_P), size=h, p=_TYPE_P)
    religion = np.where(rng.random(h) < 0.09, HINDU, MUSLIM)
    age = np.zeros((h, N_SLOTS), dtype=np.int64)
    gender = np.zeros((h, N_SLOTS), dtype=np.int64)
    present = np.zeros((h, N_SLOTS), dtype=bool)

    head_age = np.zeros(h, dtype=np.int64)
    for k, (lo, hi, w) in {
        COUPLE: (19, 88, {19: 0.2, 25: 1.0, 32: 1.6, 50: 1.4, 60: 0.9, 70: 0.4, 88: 0.02}),
        WIDOW_HEADED: (26, 85, {26: 0.3, 40: 1.0, 60: 1.0, 85: 0.1}),
        WIFE_HEADED: (19, 45, {19: 0.5, 28: 1.0, 45: 0.4}),
        LONE_ELDER: (60, 95, {60: 1.0, 75: 0.7, 95: 0.05}),
        LONE_MAN: (19, 35, {19: 1.0, 35: 0.5}),
    }.items():
        sel = kind == k
        head_age[sel] = _age_sampler(rng, w, int(sel.sum()), lo, hi)
    present[:, SLOT_HEAD] = True
    age[:, SLOT_HEAD] = head_age
    head_female = (
        (kind == WIDOW_HEADED)
        | (kind == WIFE_HEADED)
        | ((kind == LONE_ELDER) & (rng.random(h) < 0.7))
    )
    gender[:, SLOT_HEAD] = np.where(head_female, FEMALE, MALE)

    couple = kind == COUPLE
    gap = np.clip(np.rint(rng.normal(7, 3.5, h)), 0, 18).astype(np.int64)
    present[:, SLOT_SPOUSE] = couple
    age[:, SLOT_SPOUSE] = np.maximum(17, head_age - gap)
    gender[:, SLOT_SPOUSE] = FEMALE

    # the head's elderly mother (and sometimes father) live with a younger head
    has_mother = couple & (head_age <= 55) & (rng.random(h) < 0.16)
    has_father = has_mother & (rng.random(h) < 0.25)
    mother_age = np.minimum(95, head_age + rng.integers(18, 36, h))
    present[:, SLOT_MOTHER] = has_mother
    age[:, SLOT_MOTHER] = mother_age
    gender[:, SLOT_MOTHER] = FEMALE
    present[:, SLOT_FATHER] = has_father
    age[:, SLOT_FATHER] = np.minimum(99, mother_age + rng.integers(2, 12, h))
    gender[:, SLOT_FATHER] = MALE

    # children of the household's mother (the wife, or a woman head)
    with_children = np.isin(kind, (COUPLE, WIDOW_HEADED, WIFE_HEADED))
    mum_age = np.where(couple, age[:, SLOT_SPOUSE], head_age)
    fertile = np.clip((mum_age - 18) / 17.0, 0, 1)
    n_born = np.minimum(MAX_CHILDREN, rng.poisson(0.7 + 2.9 * fertile))
    n_born = np.where(with_children & (mum_age >= 18), n_born, 0)
    lo = np.maximum(0, mum_age - 42)
    hi = np.maximum(lo, mum_age - 17)
    u = rng.random((h, MAX_CHILDREN))
    kid_age = np.sort(lo[:, None] + (u * (hi - lo + 1)[:, None]).astype(np.int64), axis=1)[:, ::-1]
    kid_gender = np.where(rng.random((h, MAX_CHILDREN)) < 0.51, MALE, FEMALE)
    born = np.arange(MAX_CHILDREN)[None, :] < n_born[:, None]
    stays = rng.random((h, MAX_CHILDREN))
    moved_out = ((kid_gender == MALE) & (kid_age >= 25) & (stays > 0.35)) | (
        (kid_gender == FEMALE) & (kid_age >= 18) & (stays > 0.12)
    )
    at_home = born & ~moved_out
    # left-pack the children who live at home (keeps twins adjacent)
    order = np.argsort(~at_home, axis=1, kind="stable")
    at_home = np.take_along_axis(at_home, order, axis=1)
    kid_age = np.take_along_axis(kid_age, order, axis=1)
    kid_gender = np.take_along_axis(kid_gender, order, axis=1)
    n_kids = at_home.sum(axis=1)
    twins = (n_kids >= 2) & (rng.random(h) < 0.02)
    kid_age[twins, 1] = kid_age[twins, 0]
    present[:, SLOT_CHILD:] = at_home
    age[:, SLOT_CHILD:] = kid_age
    gender[:, SLOT_CHILD:] = kid_gender
    return {
        "kind": kind,
        "religion": religion,
        "age": age,
        "gender": gender,
        "present": present,
        "twins": twins,
    }


def build_population(rng_for, n_persons: int, n_districts: int) -> Population:
    """Draw the true world of ``n_persons`` persons.

    Parameters
    ----------
    rng_for : ``rng_for(stage) -> numpy Generator``, one independent stream per stage.
    n_persons : exactly this many persons are made (the last household may lose its youngest).
    n_districts : how many real districts the world spreads over.
    """
    geo = build_geography(rng_for("geography"), n_districts)
    rng = rng_for("households")
    h = int(n_persons / 3.8) + 16
    while True:
        hh = _draw_households(rng, h)
        sizes = hh["present"].sum(axis=1)
        if sizes.sum() >= n_persons:
            break
        h = int(h * 1.3)
    cum = np.cumsum(sizes)
    n_hh = int(np.searchsorted(cum, n_persons) + 1)
    present = hh["present"][:n_hh].copy()
    overflow = int(cum[n_hh - 1] - n_persons)
    if overflow:
        last = np.flatnonzero(present[n_hh - 1])[-overflow:]
        present[n_hh - 1, last] = False
    for key in ("kind", "religion", "twins"):
        hh[key] = hh[key][:n_hh]
    age_m, gender_m = hh["age"][:n_hh], hh["gender"][:n_hh]
    twins_hh = hh["twins"] & present[:, SLOT_CHILD + 1]

    hh_of, slot = np.nonzero(present)  # row-major: households in order, slots in order
    n = len(hh_of)
    assert n == n_persons
    size = present.sum(axis=1)
    start = np.concatenate([[0], np.cumsum(size)[:-1]])
    index_of = np.full((n_hh, N_SLOTS), -1, dtype=np.int64)
    index_of[hh_of, slot] = np.arange(n)
    age = age_m[hh_of, slot]
    gender = gender_m[hh_of, slot]
    religion = hh["religion"][hh_of]
    kind = hh["kind"][hh_of]

    relation = np.select(
        [
            slot == SLOT_HEAD,
            slot == SLOT_SPOUSE,
            slot == SLOT_FATHER,
            slot == SLOT_MOTHER,
            gender == MALE,
        ],
        [REL_HEAD, REL_SPOUSE, REL_FATHER, REL_MOTHER, REL_SON],
        REL_DAUGHTER,
    )

    # dates of birth; many registered dates are defaults (1 January, some 31 January)
    rng = rng_for("dates")
    days = np.floor(age * 365.2425 + rng.random(n) * 365).astype(np.int64)
    dob = TODAY - days.astype("timedelta64[D]")
    year = dob.astype("datetime64[Y]").astype(np.int64) + 1970
    p_default = np.select([year < 1960, year < 1980, year < 2000], [0.4, 0.3, 0.18], 0.06)
    default = rng.random(n) < p_default
    jan31 = rng.random(n) < 0.2
    dob = np.where(default, from_ymd(year, 1, np.where(jan31, 31, 1)), dob)
    twin_of = np.full(n, -1, dtype=np.int64)
    first_twin = index_of[twins_hh, SLOT_CHILD]
    second_twin = index_of[twins_hh, SLOT_CHILD + 1]
    dob[second_twin] = dob[first_twin]
    default[second_twin] = default[first_twin]
    twin_of[second_twin] = first_twin
    twin_of[first_twin] = second_twin
    birth_year = dob.astype("datetime64[Y]").astype(np.int64) + 1970

    # names
    rng = rng_for("names")
    hh_surname = draw_names(
        rng, np.zeros(n_hh, dtype=np.int64), np.full(n_hh, HINDU), np.full(n_hh, 1970)
    )[0]
    hh_surname = hindu_surname(hh_surname, np.full(n_hh, HINDU))
    fam_surname = np.where(religion == HINDU, hh_surname[hh_of], -1)
    tok, has_prefix = draw_names(rng, gender, religion, birth_year, fam_surname)
    # relatives outside the world: fathers and mothers of adults, absent and late husbands
    father_tok, father_prefix = draw_names(
        rng, np.full(n, MALE), religion, birth_year - 28, fam_surname
    )
    mother_tok, mother_prefix = draw_names(
        rng, np.full(n, FEMALE), religion, birth_year - 22, fam_surname
    )
    husband_tok, husband_prefix = draw_names(
        rng, np.full(n, MALE), religion, birth_year - 6, fam_surname
    )
    # a Hindu wife's father carries her birth family's surname, not her husband's
    wife_sur = np.where((slot == SLOT_SPOUSE) & (religion == HINDU), -1, fam_surname)
    wf_tok, wf_prefix = draw_names(rng, np.full(n, MALE), religion, birth_year - 28, wife_sur)
    wm_tok, wm_prefix = draw_names(rng, np.full(n, FEMALE), religion, birth_year - 22, wife_sur)
    is_wife = slot == SLOT_SPOUSE
    father_tok = np.where(is_wife[:, None], wf_tok, father_tok)
    father_prefix = np.where(is_wife, wf_prefix, father_prefix)
    mother_tok = np.where(is_wife[:, None], wm_tok, mother_tok)
    mother_prefix = np.where(is_wife, wm_prefix, mother_prefix)

    # sons named after their fathers (same name, different date of birth, same household)
    named_after = np.full(n, -1, dtype=np.int64)
    kids = index_of[:, SLOT_CHILD:]
    is_son = (kids >= 0) & (gender[np.maximum(kids, 0)] == MALE)
    first_son = np.where(is_son.any(axis=1), kids[np.arange(n_hh), np.argmax(is_son, axis=1)], -1)
    couple_hh = hh["kind"] == COUPLE
    namesake = couple_hh & (first_son >= 0) & (rng.random(n_hh) < 0.04)
    sons = first_son[namesake]
    heads = index_of[namesake, SLOT_HEAD]
    tok[sons] = tok[heads]
    has_prefix[sons] = has_prefix[heads]
    named_after[sons] = heads
    # twins carry different given names
    if len(second_twin):
        tok[second_twin] = distinct_given(
            rng, tok[second_twin], tok[first_twin], gender[second_twin], birth_year[second_twin]
        )

    father = np.full(n, -1, dtype=np.int64)
    mother = np.full(n, -1, dtype=np.int64)
    spouse = np.full(n, -1, dtype=np.int64)
    head_i = index_of[hh_of, SLOT_HEAD]
    wife_i = index_of[hh_of, SLOT_SPOUSE]
    fath_i = index_of[hh_of, SLOT_FATHER]
    moth_i = index_of[hh_of, SLOT_MOTHER]
    child = slot >= SLOT_CHILD
    # children: father = head in couples; mother = wife (couple) or the woman head
    father = np.where(child & (kind == COUPLE), head_i, father)
    mother = np.where(child & (kind == COUPLE), wife_i, mother)
    mother = np.where(child & np.isin(kind, (WIDOW_HEADED, WIFE_HEADED)), head_i, mother)
    # head: parents when they live in the household
    father = np.where(slot == SLOT_HEAD, fath_i, father)
    mother = np.where(slot == SLOT_HEAD, moth_i, mother)
    spouse = np.where(slot == SLOT_HEAD, wife_i, spouse)
    spouse = np.where(slot == SLOT_SPOUSE, head_i, spouse)
    spouse = np.where(slot == SLOT_FATHER, moth_i, spouse)
    spouse = np.where(slot == SLOT_MOTHER, fath_i, spouse)

    # husband names of women whose husband is not in the world
    woman_head_hh = np.isin(kind, (WIDOW_HEADED, WIFE_HEADED)) | (
        (kind == LONE_ELDER) & (gender == FEMALE)
    )
    # a late husband of the head's mother is the head's father (named on the head's record)
    widowed_mother = (slot == SLOT_MOTHER) & (fath_i < 0)
    head_father_tok = father_tok[head_i]
    spouse_tok = np.full_like(tok, -1)
    spouse_prefix = np.zeros(n, dtype=bool)
    spouse_tok[woman_head_hh & (slot == SLOT_HEAD)] = husband_tok[
        woman_head_hh & (slot == SLOT_HEAD)
    ]
    spouse_prefix[woman_head_hh & (slot == SLOT_HEAD)] = husband_prefix[
        woman_head_hh & (slot == SLOT_HEAD)
    ]
    spouse_tok[widowed_mother] = head_father_tok[widowed_mother]
    spouse_prefix[widowed_mother] = father_prefix[head_i][widowed_mother]
    lone_man_elder = (kind == LONE_ELDER) & (gender == MALE)
    wives_tok, wives_prefix = draw_names(
        rng, np.full(n, FEMALE), religion, birth_year + 6, fam_surname
    )
    spouse_tok[lone_man_elder] = wives_tok[lone_man_elder]
    spouse_prefix[lone_man_elder] = wives_prefix[lone_man_elder]
    # in-world relatives: copy their names
    for rel, rel_tok, rel_prefix in (
        (father, father_tok, father_prefix),
        (mother, mother_tok, mother_prefix),
        (spouse, spouse_tok, spouse_prefix),
    ):
        has = rel >= 0
        rel_tok[has] = tok[rel[has]]
        rel_prefix[has] = has_prefix[rel[has]]
    # children of a woman head: their father is her absent or late husband
    fatherless = child & np.isin(kind, (WIDOW_HEADED, WIFE_HEADED))
    father_tok[fatherless] = spouse_tok[head_i[fatherless]]
    father_prefix[fatherless] = spouse_prefix[head_i[fatherless]]
    widowed = (
        ((kind == WIDOW_HEADED) & (slot == SLOT_HEAD))
        | ((kind == LONE_ELDER) & (slot == SLOT_HEAD))
        | widowed_mother
    )

    rng = rng_for("health")
    p_dis = np.select([age < 18, age < 60], [0.012, 0.02], 0.06)
    disabled = rng.random(n) < p_dis

    # geography, poverty, survey coverage
    rng = rng_for("places")
    union_weight = rng.gamma(2.0, 1.0, len(geo))
    union = rng.choice(len(geo), size=n_hh, p=union_weight / union_weight.sum())
    ward = rng.integers(1, 10, n_hh)
    district_effect = rng.normal(0, 0.3, 64)[geo.district_idx[union]]
    kind_h = hh["kind"]
    z = rng.normal(0, 1, n_hh) + district_effect - 0.15 * (size - 4)
    z -= np.where(np.isin(kind_h, (WIDOW_HEADED, LONE_ELDER)), 0.5, 0.0)
    z += np.where(hh["religion"] == HINDU, -0.1, 0.0)
    pmt = np.round(40 + 12 * z, 2)
    poverty_rank = np.argsort(np.argsort(pmt, kind="stable"), kind="stable") / max(1, n_hh - 1)
    in_survey = rng.random(n_hh) < 0.92

    age_now = age_on(dob, TODAY)
    ids = _identifiers(rng_for("identifiers"), geo, union[hh_of], age_now, gender, birth_year)
    persons = Persons(
        hh=hh_of.astype(np.int64),
        slot=slot.astype(np.int64),
        relation=relation.astype(np.int64),
        gender=gender,
        religion=religion,
        dob=dob,
        default_dob=default,
        tok=tok,
        has_prefix=has_prefix,
        father_tok=father_tok,
        father_prefix=father_prefix,
        mother_tok=mother_tok,
        mother_prefix=mother_prefix,
        spouse_tok=spouse_tok,
        spouse_prefix=spouse_prefix,
        father=father,
        mother=mother,
        spouse=spouse,
        widowed=widowed,
        disabled=disabled,
        twin_of=twin_of,
        named_after=named_after,
        **ids["persons"],
    )
    phone_owner, wallet_owner = _household_owners(persons, start, size)
    households = Households(
        kind=kind_h,
        religion=hh["religion"],
        union=union,
        ward=ward,
        pmt=pmt,
        poverty_rank=poverty_rank,
        in_survey=in_survey,
        start=start,
        size=size,
        phone=np.where(phone_owner >= 0, persons.phone[np.maximum(phone_owner, 0)], -1),
        phone_owner=phone_owner,
        wallet_owner=wallet_owner,
    )
    log.info("population: %d persons in %d households over %d unions", n, n_hh, len(geo))
    return Population(
        geo=geo, households=households, persons=persons, spare_phones=ids["spare_phones"]
    )


def rank_within(group: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random 0-based rank of each element within its group."""
    key = rng.random(len(group))
    order = np.lexsort((key, group))
    g = group[order]
    first = np.concatenate([[True], g[1:] != g[:-1]])
    starts = np.maximum.accumulate(np.where(first, np.arange(len(g)), 0))
    rank = np.empty(len(group), dtype=np.int64)
    rank[order] = np.arange(len(g)) - starts
    return rank


def _identifiers(
    rng: np.random.Generator,
    geo: Geography,
    union: np.ndarray,
    age: np.ndarray,
    gender: np.ndarray,
    birth_year: np.ndarray,
) -> dict:
    n = len(union)
    adult = age >= 18
    has_nid = adult & (rng.random(n) < 0.97)
    dist = district_number(geo.district_idx[union])
    location = (
        (dist * 10 + geo.rmo[union]) * 100 + geo.upazila_code[union]
    ) * 100 + geo.union_code[union]
    offset = rng.integers(1, 2000, len(geo))[union]
    nid_serial = rank_within(np.where(has_nid, union, -1), rng) + offset
    nid17 = np.where(has_nid, birth_year * 10**13 + location * 10**6 + nid_serial, -1)
    has_smart = has_nid & (rng.random(n) < np.where(age < 60, 0.8, 0.65))
    body = unique_numbers(rng, int(has_smart.sum()), 100_000_000, 1_000_000_000)
    smart = np.full(n, -1, dtype=np.int64)
    smart[has_smart] = body * 10 + _luhn_digit(body)
    p_brn = np.select([age < 18, age < 36], [0.93, 0.45], 0.1)
    has_brn = rng.random(n) < p_brn
    brn_serial = 500_000 + rank_within(np.where(has_brn, union, -1), rng) + offset
    brn = np.where(has_brn, birth_year * 10**13 + location * 10**6 + brn_serial, -1)

    p_phone = np.where(gender == MALE, np.where(age < 60, 0.85, 0.6), np.where(age < 60, 0.55, 0.3))
    owns = has_nid & (rng.random(n) < p_phone)
    k = int(owns.sum())
    spare_k = 64 + n // 500
    numbers = _phone_numbers(rng, k + spare_k)
    phone = np.full(n, -1, dtype=np.int64)
    phone[owns] = numbers[:k]
    bkash = owns & (rng.random(n) < 0.6)
    nagad = owns & (rng.random(n) < 0.35)
    rocket = np.where(owns & (rng.random(n) < 0.08), rng.integers(0, 10, n), -1)
    return {
        "persons": {
            "nid17": nid17,
            "smart_nid": smart,
            "brn": brn,
            "phone": phone,
            "bkash": bkash,
            "nagad": nagad,
            "rocket": rocket,
        },
        "spare_phones": numbers[k:],
    }


def _phone_numbers(rng: np.random.Generator, k: int) -> np.ndarray:
    """``k`` distinct mobile numbers as 10-digit ints (``1XYYYYYYYY``; write with a leading 0)."""
    digits = np.array([d for d, _ in _OPERATORS])
    weights = np.array([w for _, w in _OPERATORS])
    slots = unique_numbers(rng, k, 0, 10**8 * 10)  # operator slot * 1e8 + subscriber
    op = rng.choice(digits, size=k, p=weights / weights.sum())
    subscriber = slots % 10**8
    numbers = 1_000_000_000 + op * 10**8 + subscriber
    # operator choice can collide two draws on one number: redraw those subscribers
    while True:
        _, first = np.unique(numbers, return_index=True)
        dup = np.ones(k, dtype=bool)
        dup[first] = False
        if not dup.any():
            return numbers
        numbers[dup] = 1_000_000_000 + op[dup] * 10**8 + rng.integers(0, 10**8, int(dup.sum()))


def _luhn_digit(body: np.ndarray) -> np.ndarray:
    """Luhn check digit of 9-digit numbers (the smart card's real algorithm is not public)."""
    total = np.zeros(len(body), dtype=np.int64)
    x = body.copy()
    for i in range(9):
        d = x % 10
        x //= 10
        if i % 2 == 0:
            d = d * 2
            d = np.where(d > 9, d - 9, d)
        total += d
    return (10 - total % 10) % 10


def _household_owners(
    p: Persons, start: np.ndarray, size: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The member whose phone / wallet the household uses: head, spouse, a child, else a parent."""
    priority = np.select(
        [p.slot == SLOT_HEAD, p.slot == SLOT_SPOUSE, p.slot >= SLOT_CHILD], [0, 1, 2], 3
    )
    n_hh = len(start)

    def first_owner(owns: np.ndarray) -> np.ndarray:
        cand = np.flatnonzero(owns)
        order = np.lexsort((cand, priority[cand], p.hh[cand]))
        cand = cand[order]
        hh = p.hh[cand]
        first = np.concatenate([[True], hh[1:] != hh[:-1]]) if len(hh) else np.zeros(0, dtype=bool)
        out = np.full(n_hh, -1, dtype=np.int64)
        out[hh[first]] = cand[first]
        return out

    phone_owner = first_owner(p.phone >= 0)
    wallet_owner = first_owner(p.bkash | p.nagad | (p.rocket >= 0))
    return phone_owner, wallet_owner
