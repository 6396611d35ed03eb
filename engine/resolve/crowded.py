"""Name-and-age-only links between records that share no place, where namesakes crowd.

A SIM or wallet registration gives a name, an age, a number and an NID, no place; a survey a name,
an age and a district. A pair of such records that agrees on the name and the age and on nothing
else (no NID or BRN, no phone or wallet, no full date of birth, no place in common) fits every
namesake of the country born in those years: at a million persons such pairs scored above 0.5
were the same person 4% of the time (37% at 100,000). So such a pair's log-odds is capped at
:data:`CROWDED_LOGODDS` when the other record's source holds :data:`CROWDED_NAMESAKES` or more
records of the record's full name (folded, English else Bangla) with overlapping birth years
(Fellegi-Sunter's term frequency, read as candidates competing for the link). The batch
(:func:`engine.resolve.pipeline.resolve`) and the one-record path apply it with
:func:`crowded_pairs`; :class:`Namesakes` holds the counts.

Example
-------
>>> import pandas as pd
>>> names = Namesakes.of(pd.DataFrame({
...     "source": ["sim"] * 5 + ["survey"], "name_en": ["rahim uddin"] * 6, "name_bn": [None] * 6,
...     "year_lo": [1980.0] * 6, "year_hi": [1981.0] * 6}))
>>> names.count(np.array(["sim"], object), np.array(["rahim uddin"], object),
...             np.array([1981.0]), np.array([1982.0])).tolist()
[5]
"""

from __future__ import annotations

from typing import Any, Final

import numpy as np
import pandas as pd

from engine.resolve.compare import Prepared, column

#: The log-odds a crowded name-and-age-only pair is capped at.
CROWDED_LOGODDS: Final = -1.0
#: Records of the other source carrying the name with overlapping birth years that make it crowded.
CROWDED_NAMESAKES: Final = 5
#: Birth years stand for themselves below this; an unknown year overlaps every one.
_YEARS: Final = 10_000
_SEP: Final = "\x1f"


def full_names(frame: Prepared) -> np.ndarray:
    """Each record's full name as compared (folded; English, else Bangla), ``None`` when none."""
    en = np.asarray(column(frame, "name_en"), dtype=object)
    bn = np.asarray(column(frame, "name_bn"), dtype=object)
    return np.where(pd.isna(en), bn, en)


def _years(lo: Any, hi: Any) -> tuple[np.ndarray, np.ndarray]:
    lo = np.asarray(lo, dtype=np.float64)
    hi = np.asarray(hi, dtype=np.float64)
    lo = np.clip(np.nan_to_num(lo, nan=0.0), 0, _YEARS - 1).astype(np.int64)
    hi = np.clip(np.nan_to_num(hi, nan=_YEARS - 1.0), 0, _YEARS - 1).astype(np.int64)
    return lo, hi


def _keys(source: np.ndarray, name: np.ndarray) -> np.ndarray:
    return np.asarray(
        [
            None if n is None or n != n else f"{s}{_SEP}{n}"
            for s, n in zip(source, name, strict=True)
        ],
        dtype=object,
    )


class Namesakes:
    """Per source and full name carried by at least :data:`CROWDED_NAMESAKES` records, those
    records' birth years: how many records of a source carry a name with birth years overlapping
    a range (:meth:`count`). Fewer records than that are never crowded, so are not kept."""

    def __init__(self, source: Any, name: Any, lo: Any, hi: Any) -> None:
        """One entry per record counted: its source, full name and birth years (``lo``, ``hi``
        as prepared; NaN unknown)."""
        keys = _keys(np.asarray(source, dtype=object), np.asarray(name, dtype=object))
        ok = np.asarray([k is not None for k in keys], dtype=bool)
        lo, hi = _years(np.asarray(lo)[ok], np.asarray(hi)[ok])
        distinct, code = np.unique(keys[ok].astype(str), return_inverse=True)
        #: the sorted ``source<US>name`` keys (an array, or a sorted sequence with ``find``)
        self.keys: Any = distinct
        #: per record counted, ``key's position * 10,000 + birth year`` (earliest, latest), sorted
        self.lo = np.sort(code.astype(np.int64) * _YEARS + lo)
        self.hi = np.sort(code.astype(np.int64) * _YEARS + hi)

    @classmethod
    def saved(cls, keys: Any, lo: np.ndarray, hi: np.ndarray) -> Namesakes:
        """As :attr:`keys`, :attr:`lo` and :attr:`hi` were kept (``keys``: a sorted array, or a
        sorted sequence whose ``find(key)`` gives a key's position or -1)."""
        out = cls([], [], [], [])
        out.keys, out.lo, out.hi = keys, np.asarray(lo), np.asarray(hi)
        return out

    @classmethod
    def of(cls, prepared: pd.DataFrame) -> Namesakes:
        """The namesakes of a batch's prepared records (only names a source carries
        :data:`CROWDED_NAMESAKES` times or more)."""
        source = prepared["source"].to_numpy(dtype=object)
        name = full_names(prepared)
        frame = pd.DataFrame({"source": source, "name": name})
        size = frame.groupby(["source", "name"], sort=False)["name"].transform("size")
        keep = (size.fillna(0).to_numpy() >= CROWDED_NAMESAKES) & pd.notna(name)
        return cls(
            source[keep],
            name[keep],
            prepared["year_lo"].to_numpy()[keep],
            prepared["year_hi"].to_numpy()[keep],
        )

    def count(self, source: np.ndarray, name: np.ndarray, lo: Any, hi: Any) -> np.ndarray:
        """Records of ``source[i]`` (as counted) carrying ``name[i]`` with birth years
        overlapping ``lo[i]..hi[i]`` (0 for a name no source carries that often)."""
        out = np.zeros(len(name), dtype=np.int64)
        if not len(name) or not len(self.keys):
            return out
        keys = _keys(np.asarray(source, dtype=object), np.asarray(name, dtype=object))
        known = np.asarray([k is not None for k in keys], dtype=bool)
        wanted = keys[known].astype(str)
        if isinstance(self.keys, np.ndarray):
            at = np.minimum(np.searchsorted(self.keys, wanted), len(self.keys) - 1)
            found = self.keys[at] == wanted
        else:  # a saved table's column: a binary search a key
            at = np.asarray([self.keys.find(k) for k in wanted.tolist()], dtype=np.int64)
            found = at >= 0
        rows = np.flatnonzero(known)[found]
        base = at[found].astype(np.int64) * _YEARS
        lo, hi = _years(np.asarray(lo)[rows], np.asarray(hi)[rows])
        first = np.searchsorted(self.lo, base, "left")
        last = np.searchsorted(self.lo, base + _YEARS - 1, "right")
        later = last - np.searchsorted(self.lo, base + hi, "right")  # born after hi
        earlier = np.searchsorted(self.hi, base + lo, "left") - np.searchsorted(
            self.hi, base, "left"
        )  # born before lo
        out[rows] = last - first - later - earlier
        return out


def name_age_only(frame: Prepared, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """The pairs of records of two sources that share no place (no district, upazila or union
    both give), no NID or BRN, no phone or wallet number and no full date of birth: all they can
    agree on is a name and an age. (Each test narrows the pairs the next one looks at.)"""
    left = np.asarray(left, dtype=np.int64)
    right = np.asarray(right, dtype=np.int64)
    out = np.zeros(len(left), dtype=bool)
    keep = np.arange(len(left))

    def same(a: str, b: str | None = None) -> np.ndarray:
        """Both records give the value (``>= 0``), and the same one."""
        x, y = column(frame, a), column(frame, b or a)
        x, y = x[left[keep]], y[right[keep]]
        return (x >= 0) & (x == y)

    for place in ("district", "upazila", "union"):
        codes = column(frame, place)
        keep = keep[(codes[left[keep]] < 0) | (codes[right[keep]] < 0)]
    source = column(frame, "source")
    keep = keep[source[left[keep]] != source[right[keep]]]
    for a, b in (
        ("nid_key", None),
        ("brn_key", None),
        *((x, y) for x in ("phone", "wallet") for y in ("phone", "wallet")),
    ):
        keep = keep[~same(a, b)]
    day = column(frame, "day", np.float64)
    month = column(frame, "month", np.float64)
    year = column(frame, "year_lo", np.float64)
    a, b = left[keep], right[keep]
    born = ~np.isnan(day[a]) & (day[a] == day[b]) & (month[a] == month[b]) & (year[a] == year[b])
    out[keep[~born]] = True
    return out


def crowded_pairs(
    frame: Prepared,
    left: np.ndarray,
    right: np.ndarray,
    weight: np.ndarray,
    namesakes: Namesakes,
    *,
    uncounted: int | None = None,
) -> np.ndarray:
    """The pairs whose log-odds are capped at :data:`CROWDED_LOGODDS`: scored above it, name and
    age only (:func:`name_age_only`), and one record's full name carried by at least
    :data:`CROWDED_NAMESAKES` records of the other's source with overlapping birth years.

    ``uncounted``: the row of ``frame`` holding a record ``namesakes`` did not count (the
    one-record path's): counted in too, as the batch would count it."""
    left = np.asarray(left, dtype=np.int64)
    right = np.asarray(right, dtype=np.int64)
    out = np.zeros(len(left), dtype=bool)
    asked = np.flatnonzero(np.asarray(weight) > CROWDED_LOGODDS)
    if not len(asked):
        return out
    asked = asked[name_age_only(frame, left[asked], right[asked])]
    if not len(asked):
        return out
    count = _Competitors(frame, namesakes, uncounted)
    most = np.maximum(count(left[asked], right[asked]), count(right[asked], left[asked]))
    out[asked[most >= CROWDED_NAMESAKES]] = True
    return out


class _Competitors:
    """How many records of ``b``'s source carry ``a``'s full name with overlapping birth years,
    for pairs of rows ``a``, ``b`` of ``frame`` (:meth:`Namesakes.count`); ``uncounted``: a row
    holding a record ``namesakes`` did not count (the one-record path's), counted in too, as the
    batch would count it. The one count the cap (:func:`crowded_pairs`) and its words
    (:func:`crowded_reason`) read."""

    def __init__(self, frame: Prepared, namesakes: Namesakes, uncounted: int | None) -> None:
        self.source = np.asarray(column(frame, "source"), dtype=object)
        self.name = full_names(frame)
        self.lo = column(frame, "year_lo", np.float64)
        self.hi = column(frame, "year_hi", np.float64)
        self.namesakes, self.uncounted = namesakes, uncounted

    def __call__(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        source, name, lo, hi, own = self.source, self.name, self.lo, self.hi, self.uncounted
        count = self.namesakes.count(source[b], name[a], lo[a], hi[a])
        if own is not None:  # the record is of b's source, carries a's name, born then
            own_lo, own_hi = _years(lo[[own]], hi[[own]])
            a_lo, a_hi = _years(lo[a], hi[a])
            count = count + (
                (source[b] == source[own])
                & (name[a] == name[own])
                & pd.notna(name[a])
                & (a_lo <= own_hi[0])
                & (a_hi >= own_lo[0])
            )
        return count


def cap_crowded(weight: np.ndarray, crowded: np.ndarray) -> np.ndarray:
    """``weight`` with the crowded pairs' log-odds capped at :data:`CROWDED_LOGODDS`."""
    out = np.asarray(weight, dtype=np.float64).copy()
    out[crowded] = np.minimum(out[crowded], CROWDED_LOGODDS)
    return out


def crowded_reason(
    frame: Prepared,
    a: int,
    b: int,
    weight: float,
    namesakes: Namesakes,
    *,
    uncounted: int | None = None,
) -> str | None:
    """Why the pair of records ``a`` and ``b`` of ``frame`` (scored ``weight``) is capped, in
    words; ``None`` when it is not. ``uncounted`` as :func:`crowded_pairs` takes it."""
    left, right = np.array([a], np.int64), np.array([b], np.int64)
    if not crowded_pairs(frame, left, right, np.array([weight]), namesakes, uncounted=uncounted)[0]:
        return None
    competitors = _Competitors(frame, namesakes, uncounted)
    counts = [
        (int(competitors(np.array([x]), np.array([y]))[0]), x, y) for x, y in ((a, b), (b, a))
    ]
    count, x, y = max(counts)
    return (
        f"capped at {CROWDED_LOGODDS:+.2f} log-odds (the model gave {weight:+.2f}): the records "
        "share no place and agree on nothing but a name and an age (no NID or BRN, number or "
        f"full date of birth), and {competitors.source[y]} holds {count} records named "
        f"{competitors.name[x]!r} born in overlapping years ({CROWDED_NAMESAKES} or more compete "
        "for the link)"
    )
