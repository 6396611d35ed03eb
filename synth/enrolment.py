"""Who is enrolled in which programme, how they are paid, and the fraud planted on top.

Enrolment follows eligibility (age, gender, widowhood, disability, young or school-age children,
poverty) and the default double-dipping rules are never broken by accident: a person gets at most
one of old age / widow / disability allowance, a household at most one old-age allowance. The
planted cases then break them on purpose and are listed in :class:`Planted`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Final

import numpy as np

from synth.names import FEMALE, MALE
from synth.population import TODAY, Population, add_years, age_on, from_ymd, ymd
from synth.tags import Tag

log = logging.getLogger(__name__)

#: programme code -> counts toward the cash cap (workfare and in-kind support do not)
PROGRAMMES: Final[dict[str, bool]] = {
    "old_age_allowance": True,
    "widow_allowance": True,
    "disability_allowance": True,
    "mother_child_benefit": True,
    "primary_stipend": True,
    "freedom_fighter_honorarium": True,
    "egpp_workfare": False,
    "vgd_food": False,
}
CODES: Final = tuple(PROGRAMMES)
OA, WIDOW, DISABILITY, MCB, PESP, FF, EGPP, VGD = range(len(CODES))

#: account providers (0 = none)
NO_ACCOUNT, BKASH, NAGAD, ROCKET, BANK = range(5)
PROVIDER_CODES: Final = ("", "bkash", "nagad", "rocket", "sonali")

#: monthly amount in taka
AMOUNTS: Final = {
    OA: 600,
    WIDOW: 550,
    DISABILITY: 850,
    MCB: 800,
    PESP: 150,
    FF: 20000,
    EGPP: 8000,
    VGD: 1200,
}


@dataclass(frozen=True, slots=True)
class PlantRates:
    """How many fraud cases to plant: ``max(minimum, round(rate * persons))``, pool permitting."""

    oa_widow: tuple[float, int] = (4e-4, 3)
    cash_cap: tuple[float, int] = (1e-4, 2)
    oa_disability: tuple[float, int] = (1e-4, 2)
    oa_household: tuple[float, int] = (3e-4, 3)
    ghost_duplicate: tuple[float, int] = (4e-4, 4)
    agent_wallet: tuple[float, int] = (2e-5, 2)
    phone_farm: tuple[float, int] = (2e-5, 2)
    year_shift: tuple[float, int] = (6e-4, 3)

    def count(self, name: str, persons: int) -> int:
        rate, minimum = getattr(self, name)
        return max(minimum, round(rate * persons))


@dataclass(slots=True)
class Planted:
    """The fraud planted on purpose (person indices; identifiers as 10-digit ints)."""

    cases: dict[str, np.ndarray] = field(default_factory=dict)  # case -> persons
    oa_households: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    agents: list[tuple[int, int, int]] = field(
        default_factory=list
    )  # (agent, provider, wallet phone)
    farms: list[tuple[int, int]] = field(default_factory=list)  # (operator, phone)

    def counts(self) -> dict[str, int]:
        out = {k: len(v) for k, v in self.cases.items()}
        out["oa_household"] = len(self.oa_households)
        out["agent_wallet"] = len(self.agents)
        out["phone_farm"] = len(self.farms)
        return out


@dataclass(slots=True)
class Enrolments:
    """One row per programme record (a ghost duplicate is a second row for the same person)."""

    person: np.ndarray
    programme: np.ndarray
    tags: (
        np.ndarray
    )  # Tag bits fixed at enrolment (ghost, agent wallet, phone farm, year shift, ...)
    year_shift: np.ndarray  # years the programme's record moves the birth year back (0 = none)
    status: np.ndarray  # 0 active, 1 inactive, 2 suspended
    since: np.ndarray  # datetime64[D]
    provider: np.ndarray  # PROVIDER code
    account: np.ndarray  # int64: wallet phone (10 digits), Rocket phone*10+digit, bank account
    account_owner: np.ndarray  # person index
    phone: np.ndarray  # contact phone, 10-digit int or -1
    phone_owner: np.ndarray
    fraud: np.ndarray  # part of a planted case: never given invalid values

    def __len__(self) -> int:
        return len(self.person)

    def of(self, programme: int) -> np.ndarray:
        return np.flatnonzero(self.programme == programme)


def enrol(pop: Population, rng_for, rates: PlantRates) -> tuple[Enrolments, Planted]:
    """Assign programmes, payment accounts and contact phones, then plant the fraud."""
    p, h = pop.persons, pop.households
    n = len(p)
    rng = rng_for("enrolment")
    age = age_on(p.dob, TODAY)
    male, female = p.gender == MALE, p.gender == FEMALE
    poor = 1.7 - 1.4 * h.poverty_rank[p.hh]  # 0.3 (richest) .. 1.7 (poorest)
    u = rng.random((n, 8))

    oa_elig = (male & (age >= 65)) | (female & (age >= 62))
    widow_elig = female & p.widowed & (age >= 18)
    on = np.zeros((n, len(CODES)), dtype=bool)
    on[:, DISABILITY] = p.disabled & (u[:, 0] < 0.5 * poor)
    on[:, OA] = oa_elig & ~on[:, DISABILITY] & (u[:, 1] < 0.6 * poor)
    on[:, OA] &= _one_per_group(p.hh, on[:, OA], u[:, 2])
    on[:, WIDOW] = widow_elig & ~on[:, DISABILITY] & ~on[:, OA] & (u[:, 3] < 0.5 * poor)
    young_child = (age < 4) & (p.mother >= 0)
    has_young = np.zeros(n, dtype=bool)
    has_young[p.mother[young_child]] = True
    on[:, MCB] = female & has_young & (u[:, 4] < 0.3 * poor)
    on[:, PESP] = (age >= 6) & (age <= 11) & (u[:, 5] < 0.85)
    on[:, FF] = male & (p.dob <= np.datetime64("1959-06-30")) & (u[:, 6] < 0.04)
    hh_u = rng.random((len(h), 2))
    egpp_hh = (h.poverty_rank < 0.4) & (hh_u[:, 0] < 0.25)
    egpp_cand = egpp_hh[p.hh] & (age >= 18) & (age <= 60)
    on[:, EGPP] = egpp_cand & _one_per_group(p.hh, egpp_cand, p.slot + u[:, 7])
    vgd_hh = (h.poverty_rank < 0.3) & (hh_u[:, 1] < 0.15)
    vgd_cand = vgd_hh[p.hh] & female & (age >= 18) & (age <= 49)
    on[:, VGD] = vgd_cand & _one_per_group(p.hh, vgd_cand, u[:, 7])

    planted = Planted()
    used = np.zeros(n, dtype=bool)
    rng = rng_for("plant")
    year_shift = np.zeros(n, dtype=np.int64)

    def hh_oa_others(i: np.ndarray) -> np.ndarray:
        """Old-age enrolees in each person's household other than the person."""
        count = np.bincount(p.hh[on[:, OA]], minlength=len(h))
        return count[p.hh[i]] - on[i, OA]

    def pick(pool: np.ndarray, k: int) -> np.ndarray:
        cand = np.flatnonzero(pool)
        return (
            np.sort(rng.choice(cand, size=min(k, len(cand)), replace=False)) if len(cand) else cand
        )

    def pick_one_per_household(pool: np.ndarray, k: int) -> np.ndarray:
        cand = np.flatnonzero(pool)
        cand = cand[rng.permutation(len(cand))]
        _, first = np.unique(p.hh[cand], return_index=True)
        cand = cand[np.sort(first)]
        return np.sort(cand[:k])

    everyone = np.arange(n)
    old_widow = widow_elig & (age >= 62) & ~p.disabled
    # a widow in both old age and widow allowance
    chosen = pick_one_per_household(
        old_widow & ~used & (hh_oa_others(everyone) == 0) & ~on[:, DISABILITY],
        rates.count("oa_widow", n),
    )
    on[chosen, OA] = on[chosen, WIDOW] = True
    used[chosen] = True
    planted.cases["oa_widow"] = chosen
    # more than three cash programmes (and therefore every exclusive pair as well)
    chosen = pick_one_per_household(
        widow_elig & (age >= 62) & ~used & (hh_oa_others(everyone) == 0), rates.count("cash_cap", n)
    )
    on[chosen, OA] = on[chosen, WIDOW] = on[chosen, DISABILITY] = on[chosen, FF] = True
    used[chosen] = True
    planted.cases["cash_cap"] = chosen
    # old age and disability together
    chosen = pick_one_per_household(
        oa_elig & ~used & ~on[:, WIDOW] & (hh_oa_others(everyone) == 0),
        rates.count("oa_disability", n),
    )
    on[chosen, OA] = on[chosen, DISABILITY] = True
    used[chosen] = True
    planted.cases["oa_disability"] = chosen
    # two members of one household in old age allowance
    free_elder = oa_elig & ~used & ~on[:, WIDOW] & ~on[:, DISABILITY]
    n_free = np.bincount(p.hh[free_elder], minlength=len(h))
    n_oa = np.bincount(p.hh[on[:, OA]], minlength=len(h))
    n_oa_free = np.bincount(p.hh[on[:, OA] & free_elder], minlength=len(h))
    ok_hh = (n_free >= 2) & (n_oa == n_oa_free)  # nobody else in the household already on OA
    hhs = np.flatnonzero(ok_hh)
    hhs = np.sort(
        rng.choice(hhs, size=min(rates.count("oa_household", n), len(hhs)), replace=False)
    )
    members = np.flatnonzero(free_elder & np.isin(p.hh, hhs))
    members = members[np.lexsort((members, p.hh[members]))]
    first_two = _first_k_per_group(p.hh[members], 2)
    pair = members[first_two]
    on[np.flatnonzero(np.isin(p.hh, hhs) & on[:, OA]), OA] = False
    on[pair, OA] = True
    used[np.isin(p.hh, hhs)] = True
    planted.oa_households = hhs
    planted.cases["oa_household"] = pair
    # a few years short of the pension age, the record moves the birth year back to qualify
    short = (male & (age >= 62) & (age <= 64)) | (female & (age >= 59) & (age <= 61))
    short &= ~used & ~on[:, WIDOW] & ~on[:, DISABILITY]
    chosen = pick_one_per_household(
        short & (hh_oa_others(everyone) == 0), rates.count("year_shift", n)
    )
    need = np.where(male[chosen], 65, 62) - age[chosen]
    year_shift[chosen] = need + rng.integers(0, 2, len(chosen))
    on[chosen, OA] = True
    used[chosen] = True
    planted.cases["year_shift"] = chosen

    person, prog = np.nonzero(on)
    tags = np.zeros(len(person), dtype=np.int64)
    shift = np.where(prog == OA, year_shift[person], 0)
    tags[shift > 0] |= Tag.DOB_YEAR_SHIFT
    fraud = used[person] & (prog != PESP) & (prog != EGPP) & (prog != VGD)
    # a person enrolled twice in one programme: a second record under another id
    dup_pool = np.isin(prog, (OA, WIDOW, DISABILITY, PESP)) & ~used[person]
    rows = np.flatnonzero(dup_pool)
    k = min(rates.count("ghost_duplicate", n), len(rows))
    dup_rows = np.sort(rng.choice(rows, size=k, replace=False)) if k else rows
    _, first = np.unique(person[dup_rows], return_index=True)
    dup_rows = dup_rows[np.sort(first)]
    used[person[dup_rows]] = True
    fraud[dup_rows] = True
    planted.cases["ghost_duplicate"] = person[dup_rows]
    person = np.concatenate([person, person[dup_rows]])
    prog = np.concatenate([prog, prog[dup_rows]])
    tags = np.concatenate([tags, tags[dup_rows] | Tag.GHOST_DUPLICATE])
    shift = np.concatenate([shift, shift[dup_rows]])
    fraud = np.concatenate([fraud, np.ones(len(dup_rows), dtype=bool)])
    order = np.lexsort((np.arange(len(person)), person, prog))
    person, prog, tags, shift, fraud = (
        person[order],
        prog[order],
        tags[order],
        shift[order],
        fraud[order],
    )

    e = _payments(pop, rng_for("payments"), person, prog, tags, shift, fraud, age)
    _plant_agents_and_farms(pop, rng, e, planted, used, rates)
    log.info("enrolment: %d programme records, planted %s", len(e), planted.counts())
    return e, planted


def _one_per_group(group: np.ndarray, mask: np.ndarray, key: np.ndarray) -> np.ndarray:
    """Within each group keep only the masked element with the smallest key."""
    keep = np.zeros(len(group), dtype=bool)
    cand = np.flatnonzero(mask)
    if not len(cand):
        return keep
    order = np.lexsort((key[cand], group[cand]))
    cand = cand[order]
    g = group[cand]
    first = np.concatenate([[True], g[1:] != g[:-1]])
    keep[cand[first]] = True
    return keep


def _first_k_per_group(group_sorted: np.ndarray, k: int) -> np.ndarray:
    if not len(group_sorted):
        return np.zeros(0, dtype=bool)
    first = np.concatenate([[True], group_sorted[1:] != group_sorted[:-1]])
    starts = np.maximum.accumulate(np.where(first, np.arange(len(group_sorted)), 0))
    return (np.arange(len(group_sorted)) - starts) < k


def _payments(
    pop: Population,
    rng: np.random.Generator,
    person: np.ndarray,
    prog: np.ndarray,
    tags: np.ndarray,
    year_shift: np.ndarray,
    fraud: np.ndarray,
    age: np.ndarray,
) -> Enrolments:
    p, h = pop.persons, pop.households
    m = len(person)
    # the stipend is paid to the mother (or, without her, to the household's wallet)
    payee = np.where((prog == PESP) & (p.mother[person] >= 0), p.mother[person], person)
    hh_wallet = h.wallet_owner[p.hh[person]]
    own = p.bkash[payee] | p.nagad[payee] | (p.rocket[payee] >= 0)
    u = rng.random((m, 6))
    use_household = ~own & (hh_wallet >= 0) & (u[:, 0] < 0.85)
    owner = np.where(own, payee, np.where(use_household, hh_wallet, -1))
    o = np.maximum(owner, 0)
    prefer_nagad = np.isin(prog, (MCB, PESP)) & (u[:, 1] < 0.7)
    provider = np.select(
        [owner < 0, prefer_nagad & p.nagad[o], p.bkash[o], p.nagad[o], p.rocket[o] >= 0],
        [NO_ACCOUNT, NAGAD, BKASH, NAGAD, ROCKET],
        NO_ACCOUNT,
    )
    account = np.where(provider == ROCKET, p.phone[o] * 10 + p.rocket[o], p.phone[o])
    # freedom fighters are paid into a bank account
    bank = prog == FF
    provider = np.where(bank, BANK, provider)
    account = np.where(bank, 3_400_000_000_000 + (person * 7919) % 10**11, account)
    owner = np.where(bank, person, owner)
    account = np.where(provider == NO_ACCOUNT, -1, account)
    owner = np.where(provider == NO_ACCOUNT, -1, owner)
    tags[(owner >= 0) & (owner != person) & (prog != PESP)] |= Tag.WALLET_OF_HOUSEHOLD
    tags[(prog == PESP) & (owner >= 0) & (owner != payee)] |= Tag.WALLET_OF_HOUSEHOLD

    contact = np.where(prog == PESP, payee, person)
    own_phone = p.phone[contact] >= 0
    hh_phone_owner = h.phone_owner[p.hh[person]]
    phone_owner = np.where(own_phone, contact, hh_phone_owner)
    phone = np.where(phone_owner >= 0, p.phone[np.maximum(phone_owner, 0)], -1)
    tags[(phone_owner >= 0) & (phone_owner != contact)] |= Tag.PHONE_OF_HOUSEHOLD

    status = np.select([u[:, 2] < 0.88, u[:, 2] < 0.94], [0, 1], 2)
    since = _since(pop, rng, person, prog, age, year_shift)
    ghost = (tags & Tag.GHOST_DUPLICATE) != 0
    since = np.where(ghost, since + rng.integers(30, 900, m).astype("timedelta64[D]"), since)
    since = np.minimum(since, np.datetime64("2025-05-31"))
    return Enrolments(
        person=person,
        programme=prog,
        tags=tags,
        year_shift=year_shift,
        status=status,
        since=since,
        provider=provider,
        account=account,
        account_owner=owner,
        phone=phone,
        phone_owner=phone_owner,
        fraud=fraud,
    )


def _since(
    pop: Population,
    rng: np.random.Generator,
    person: np.ndarray,
    prog: np.ndarray,
    age: np.ndarray,
    year_shift: np.ndarray,
) -> np.ndarray:
    p = pop.persons
    dob = p.dob[person]
    m = len(person)
    start_of = {
        OA: "1998-01-01",
        WIDOW: "1998-01-01",
        DISABILITY: "2005-07-01",
        MCB: "2019-07-01",
        PESP: "2010-01-01",
        FF: "2000-01-01",
        EGPP: "2024-11-01",
        VGD: "2023-01-01",
    }
    start = np.array([np.datetime64(start_of[int(g)], "D") for g in range(len(CODES))])[prog]
    pension_age = np.where(p.gender[person] == MALE, 65, 62) - year_shift
    eligible_from = np.select(
        [prog == OA, prog == WIDOW, prog == PESP, prog == MCB],
        [
            add_years(dob, pension_age),
            add_years(dob, 18),
            from_ymd(ymd(dob)[0] + 6, 1, 1),
            dob + np.timedelta64(9 * 30, "D"),
        ],
        dob,
    )
    lo = np.maximum(start, eligible_from)
    hi = np.datetime64("2025-05-01")
    span = np.maximum((hi - lo).astype(np.int64), 1)
    since = lo + (rng.random(m) * span).astype(np.int64).astype("timedelta64[D]")
    # workfare and food cycles start on fixed days
    since = np.where(prog == EGPP, np.datetime64("2024-11-01"), since)
    since = np.where(prog == VGD, np.datetime64("2025-01-01"), since)
    return np.minimum(since, hi)


def _plant_agents_and_farms(
    pop: Population,
    rng: np.random.Generator,
    e: Enrolments,
    planted: Planted,
    used: np.ndarray,
    rates: PlantRates,
) -> None:
    """Agent wallets paid for many unrelated beneficiaries, and phones shared by many strangers."""
    p, h, geo = pop.persons, pop.households, pop.geo
    n = len(p)
    age = age_on(p.dob, TODAY)
    district = geo.district_idx[h.union[p.hh]]
    spare = list(pop.spare_phones)
    enrolled = np.zeros(n, dtype=bool)
    enrolled[e.person] = True

    def operators(k: int) -> np.ndarray:
        pool = (p.nid17 >= 0) & (age >= 25) & (age <= 55) & ~enrolled & ~used
        cand = np.flatnonzero(pool)
        chosen = np.sort(rng.choice(cand, size=min(k, len(cand)), replace=False))
        used[chosen] = True
        used[np.isin(p.hh, p.hh[chosen])] = True
        return chosen

    def victims(op: int, programmes: tuple[int, ...], lo: int, hi: int) -> np.ndarray:
        rows = np.flatnonzero(np.isin(e.programme, programmes) & ~used[e.person] & ~e.fraud)
        local = rows[district[e.person[rows]] == district[op]]
        k = int(rng.integers(lo, hi + 1))
        pool = local if len(np.unique(p.hh[e.person[local]])) >= k else rows
        pool = pool[rng.permutation(len(pool))]
        _, first = np.unique(p.hh[e.person[pool]], return_index=True)
        chosen = np.sort(pool[np.sort(first)][:k])
        # every record of the chosen persons in these programmes (a ghost pair stays together)
        return np.flatnonzero(
            np.isin(e.person, e.person[chosen]) & np.isin(e.programme, programmes)
        )

    for agent in operators(rates.count("agent_wallet", n)):
        number = int(spare.pop(0))
        provider = BKASH if rng.random() < 0.7 else NAGAD
        rows = victims(agent, (OA, WIDOW, DISABILITY, MCB), 6, 25)
        e.provider[rows] = provider
        e.account[rows] = number
        e.account_owner[rows] = agent
        e.tags[rows] = (e.tags[rows] & ~int(Tag.WALLET_OF_HOUSEHOLD)) | Tag.AGENT_WALLET
        e.fraud[rows] = True
        used[e.person[rows]] = True
        planted.agents.append((int(agent), int(provider), number))
    for farmer in operators(rates.count("phone_farm", n)):
        number = int(spare.pop(0))
        rows = victims(farmer, (OA, WIDOW, DISABILITY, EGPP, VGD), 5, 15)
        e.phone[rows] = number
        e.phone_owner[rows] = farmer
        e.tags[rows] = (e.tags[rows] & ~int(Tag.PHONE_OF_HOUSEHOLD)) | Tag.PHONE_FARM
        e.fraud[rows] = True
        used[e.person[rows]] = True
        planted.farms.append((int(farmer), number))
    pop.spare_phones = np.array(spare, dtype=np.int64)
