"""Writing true values the way a source does: date formats and their errors, NID forms and typos,
phone formats, Bangla digits, missing and invalid values. All vectorised; every function returns the
strings and the :class:`~synth.tags.Tag` bits of what it did.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
from numpy.dtypes import StringDType

from synth.population import Persons, ymd
from synth.tags import Tag

STR: Final = StringDType()
_BANGLA_DIGITS: Final = str.maketrans("0123456789", "০১২৩৪৫৬৭৮৯")


def digits(values: np.ndarray, width: int = 0) -> np.ndarray:
    """Integers as zero-padded digit strings; negative values (missing) become ``""``."""
    text = (
        np.strings.zfill(np.maximum(values, 0).astype(STR), width) if width else values.astype(STR)
    )
    return np.where(values < 0, "", text).astype(STR)


def blank(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``values`` with ``""`` where ``mask``."""
    return np.where(mask, "", values).astype(STR)


def bangla_digits(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Write the digits of the masked values in Bangla script (০-৯)."""
    out = values.copy()
    idx = np.flatnonzero(mask & (values != ""))
    if len(idx):
        out[idx] = np.array([v.translate(_BANGLA_DIGITS) for v in values[idx].tolist()], dtype=STR)
    return out


@dataclass(frozen=True, slots=True)
class DateStyle:
    """How a source writes a date of birth.

    Attributes
    ----------
    fmt : a ``strptime`` format built from ``%d %m %Y`` and one separator (or none).
    default : the source writes 1 January (or 31 January) of the right year instead of the date.
    swap : day and month swapped (only where the day is 12 or less and differs from the month).
    missing : the date is left empty.
    """

    fmt: str
    default: float = 0.0
    swap: float = 0.0
    missing: float = 0.0


def write_dates(
    days: np.ndarray,
    style: DateStyle,
    rng: np.random.Generator,
    year_shift: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Dates written in ``style``; ``NaT`` gives ``""``.

    ``year_shift`` moves each date's year back by that many years (a birth year made older).
    """
    n = len(days)
    tags = np.zeros(n, dtype=np.int64)
    nat = np.isnat(days)
    y, m, d = ymd(np.where(nat, np.datetime64("2000-01-01"), days))
    u = rng.random((n, 4))
    default = (u[:, 0] < style.default) & ~((m == 1) & ((d == 1) | (d == 31)))
    jan31 = u[:, 1] < 0.15
    m = np.where(default, 1, m)
    d = np.where(default, np.where(jan31, 31, 1), d)
    tags[default & ~nat] |= Tag.DOB_DEFAULTED
    swap = (u[:, 2] < style.swap) & (d <= 12) & (d != m) & ~default
    m, d = np.where(swap, d, m), np.where(swap, m, d)
    tags[swap & ~nat] |= Tag.DOB_DAY_MONTH_SWAP
    if year_shift is not None:
        y = y - year_shift
        d = np.where((m == 2) & (d == 29), 28, d)
    missing = (u[:, 3] < style.missing) & ~nat
    tags[missing] |= Tag.DOB_MISSING
    text = format_ymd(y, m, d, style.fmt)
    return blank(text, nat | missing), tags


def format_ymd(y: np.ndarray, m: np.ndarray, d: np.ndarray, fmt: str) -> np.ndarray:
    """Year, month, day arrays in a ``strptime`` format of ``%d``, ``%m``, ``%Y`` and literals."""
    parts = {"%Y": digits(y, 4), "%m": digits(m, 2), "%d": digits(d, 2)}
    out: np.ndarray = np.full(len(y), "", dtype=STR)
    i = 0
    while i < len(fmt):
        token = fmt[i : i + 2]
        if token in parts:
            out = np.strings.add(out, parts[token])
            i += 2
        else:
            out = np.strings.add(out, fmt[i])
            i += 1
    return out


def iso_dates(days: np.ndarray) -> np.ndarray:
    y, m, d = ymd(days)
    return blank(format_ymd(y, m, d, "%Y-%m-%d"), np.isnat(days))


@dataclass(frozen=True, slots=True)
class NidStyle:
    """Which NID form a source records, with its error rates.

    ``forms`` maps 17 / 13 / 10 to a share; a smart (10-digit) form falls back to 17 digits for a
    person without a smart card.
    """

    forms: tuple[tuple[int, float], ...] = ((17, 1.0),)
    typo: float = 0.005
    missing: float = 0.02


def write_nids(
    persons: Persons, who: np.ndarray, style: NidStyle, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """The NIDs of persons ``who`` (index array) as a source writes them; no NID gives ``""``."""
    n = len(who)
    tags = np.zeros(n, dtype=np.int64)
    nid17 = persons.nid17[who]
    smart = persons.smart_nid[who]
    forms = np.array([f for f, _ in style.forms])
    share = np.array([s for _, s in style.forms], dtype=float)
    form = rng.choice(forms, size=n, p=share / share.sum())
    form = np.where((form == 10) & (smart < 0), 17, form)
    text = np.select(
        [form == 17, form == 13],
        [digits(nid17, 17), digits(np.where(nid17 >= 0, nid17 % 10**13, -1), 13)],
        digits(smart, 10),
    ).astype(STR)
    has = nid17 >= 0
    for f, tag in ((17, Tag.NID_17), (13, Tag.NID_13), (10, Tag.NID_10)):
        tags[has & (form == f)] |= tag
    u = rng.random((n, 2))
    missing = has & (u[:, 0] < style.missing)
    tags[missing] |= Tag.NID_MISSING
    typo = has & ~missing & (u[:, 1] < style.typo)
    if typo.any():
        idx = np.flatnonzero(typo)
        text[idx] = one_digit_typos(text[idx], rng)
        tags[idx] |= Tag.NID_TYPO
    return blank(text, missing | ~has), tags


def one_digit_typos(values: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Change one digit (never the first) of each value to another digit."""
    u = rng.random((len(values), 2))
    out = []
    for i, v in enumerate(values.tolist()):
        pos = 1 + int(u[i, 0] * (len(v) - 1))
        new = str((int(v[pos]) + 1 + int(u[i, 1] * 9)) % 10)
        out.append(v[:pos] + new + v[pos + 1 :])
    return np.array(out, dtype=STR)


#: phone writing styles
LOCAL, INTL, INTL_NOPLUS, DASHED, INTL_SPACED, NO_ZERO = range(6)


def write_phones(
    phone: np.ndarray, styles: dict[int, float], rng: np.random.Generator, missing: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """10-digit phone ints (``-1`` none) written in a mix of ``styles`` (style -> share)."""
    n = len(phone)
    tags = np.zeros(n, dtype=np.int64)
    local = np.strings.add("0", digits(phone))
    keys = np.array(list(styles))
    share = np.array(list(styles.values()), dtype=float)
    style = rng.choice(keys, size=n, p=share / share.sum())
    head = np.strings.slice(local, 0, 5)
    tail = np.strings.slice(local, 5, 11)
    text = np.select(
        [
            style == LOCAL,
            style == INTL,
            style == INTL_NOPLUS,
            style == DASHED,
            style == INTL_SPACED,
        ],
        [
            local,
            np.strings.add("+88", local),
            np.strings.add("88", local),
            np.strings.add(np.strings.add(head, "-"), tail),
            np.strings.add(np.strings.add(np.strings.add("+88 ", head), "-"), tail),
        ],
        np.strings.slice(local, 1, 11),
    ).astype(STR)
    has = phone >= 0
    gone = has & (rng.random(n) < missing)
    tags[gone] |= Tag.PHONE_MISSING
    return blank(text, gone | ~has), tags


def local_phone(phone: np.ndarray) -> np.ndarray:
    """``01XXXXXXXXX`` (``""`` for none)."""
    return blank(np.strings.add("0", digits(phone)), phone < 0)


def plant_invalid(
    columns: dict[str, np.ndarray],
    fields: dict[str, str],
    tags: np.ndarray,
    eligible: np.ndarray,
    rate: float,
    rng: np.random.Generator,
) -> None:
    """Put a value ingest must flag as invalid into ``rate`` of the eligible rows (one at least, in
    a source of 100 rows or more).

    ``fields`` maps a kind (``phone`` | ``date`` | ``nid``) to the column holding it; each chosen
    row gets one invalid value in a field it has. A date follows its column's layout ("00/00/0000",
    "00-00-0000", "0000-00-00", "00000000"). Changes ``columns`` and ``tags`` in place.
    """
    cand = np.flatnonzero(eligible)
    if not len(cand):
        return
    k = min(len(cand), max(1 if len(cand) >= 100 else 0, round(rate * len(cand))))
    if not k:
        return
    rows = np.sort(rng.choice(cand, size=k, replace=False))
    kinds = list(fields)
    u = rng.random((k, 2))
    for i, row in enumerate(rows.tolist()):
        have = [kind for kind in kinds if columns[fields[kind]][row] != ""]
        if not have:
            continue
        kind = have[int(u[i, 0] * len(have))]
        col = columns[fields[kind]]
        if kind == "phone":
            # 012 is no operator's prefix; the number is otherwise well formed
            col[row] = f"012{int(u[i, 1] * 10**8):08d}"
            tags[row] |= Tag.INVALID_PHONE
        elif kind == "nid":
            col[row] = f"{10**11 + int(u[i, 1] * 9 * 10**11):012d}"
            tags[row] |= Tag.INVALID_NID
        elif kind == "date":
            col[row] = _zero_date(str(col[row]))
            tags[row] |= Tag.INVALID_DATE
        else:
            raise ValueError(f"unknown invalid-value kind {kind!r}")


def _zero_date(sample: str) -> str:
    """An all-zero date in the layout of ``sample``: 00/00/0000, 0000-00-00, 00000000, ..."""
    return "".join("0" if c.isdigit() else c for c in sample)
