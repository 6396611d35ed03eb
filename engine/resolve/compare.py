"""Comparison features: what two records say about being one person, as numbers a model can weigh.

:func:`compare` takes the prepared frame (:mod:`engine.resolve.prepare`) and candidate pairs
(:mod:`engine.resolve.blocking`) and returns one row of :data:`FEATURES` per pair. ``NaN`` means
"not
comparable" (one side has no value), never "disagrees". Every feature is computed over whole
columns: string similarities with rapidfuzz's ``process.cpdist`` (only for pairs whose strings
differ), the rest with numpy on integer codes.

The features and what they catch:

=================  =================================================================================
feature            meaning
=================  =================================================================================
name_sort          best token-sort similarity over the name pairings (English / Bangla-folded,
                   either side): order-insensitive; the scripts meet in the folded Latin form
name_set           best token-set similarity: a name that is the other plus a prefix or extra word
given_sim          Jaro-Winkler of the first tokens (the given name), best pairing
last_sim           Jaro-Winkler of the last tokens, best pairing
name_swap          the first and last words swapped: the mean Jaro-Winkler of one name's first word
                   with the other's last and the reverse, best pairing ("Khanam Rahima")
name_len_diff      difference in token counts of the best pairing
father_sim         token-sort similarity of fathers' names (mother_sim, spouse_sim alike)
name_father_cross  one record's name vs the other's father: high for a son named after his father
kin_sim            a relative one record names (father, mother, spouse) found among the other
                   members of the other record's household (a survey lists the family): the best
                   token-sort similarity, either way round, when at least KIN_FOUND; NaN
                   otherwise, since a relative not found says nothing (a married daughter's
                   parents, a dead husband live elsewhere)
gender_match       1 same, 0 different
year_gap           years between the birth-year ranges (0 when they overlap; age-only records
                   carry a range)
year_span          width of the wider birth-year range (an age-only record is vaguer)
dob_match          1 same full date, 0.5 same date with day and month swapped, 0 different
dob_weak           either date is a default (1 / 31 January) or not a full date
nid_match          1 same card, 0.5 one typo apart (one digit changed or two swapped), 0 two
                   different NIDs of the same form; NaN when one side has none or the forms
                   cannot be linked
brn_match          the same for birth registration numbers
number_shared      1 the records share a phone or wallet number, 0 both have numbers but share none
number_names       log of how many distinct names use the shared number in the whole data: a number
                   a household (or a phone farm) shares is weaker evidence
geo_level          3 same union (or the same place as far as both records say), 2 same upazila
                   but different unions, 1 same district, 0 different districts
geo_common         the finest level both records give (a level left out filled in from a finer
                   one, see prepare.Gazetteer; a postcode gives the upazila it lies in): 3 union,
                   2 upazila, 1 district; agreeing on the district alone says less than agreeing
                   on the union
address_sim        token-set similarity of the addresses (village, para, road; labels dropped,
                   words folded as names are)
postcode_match     1 same postcode, 0 different
identifier_match   the extra identifiers a source declares (TIN, employee no.): 1 the records
                   share one, 0.5 one of the same name is one typo apart, 0 they hold different
                   values of one, NaN when they hold none of the same name
name_freq          log of how many records in 100,000 carry the (rarer) full name of the pair:
                   common names agreeing are weaker evidence
given_freq         the same for the given-name key
place_name_freq    log of how many records carry the (more common) full name of the pair within
                   the finest place both records name (geo_common, a postcode's upazila left
                   out): whether one name in one district (or union) can mean one person,
                   whatever the place's size
same_source        1 both records come from the same source
same_household     1 both records are members of one household of one source
=================  =================================================================================
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, TypeAlias

import numpy as np
import pandas as pd
from rapidfuzz import fuzz, process
from rapidfuzz.distance import OSA, JaroWinkler

log = logging.getLogger(__name__)

FEATURES: Final = (
    "name_sort",
    "name_set",
    "given_sim",
    "last_sim",
    "name_swap",
    "name_len_diff",
    "father_sim",
    "mother_sim",
    "spouse_sim",
    "name_father_cross",
    "kin_sim",
    "gender_match",
    "year_gap",
    "year_span",
    "dob_match",
    "dob_weak",
    "nid_match",
    "brn_match",
    "number_shared",
    "number_names",
    "geo_level",
    "geo_common",
    "address_sim",
    "postcode_match",
    "identifier_match",
    "name_freq",
    "given_freq",
    "place_name_freq",
    "same_source",
    "same_household",
)

#: worker threads for rapidfuzz's cpdist.
WORKERS: Final = 2

#: What comparison reads records from: a prepared frame, or its columns as arrays (column name ->
#: array, one value per record).
Prepared: TypeAlias = pd.DataFrame | Mapping[str, np.ndarray]


def column(prepared: Prepared, name: str, dtype: Any = None) -> np.ndarray:
    """Column ``name`` of ``prepared`` as an array (of ``dtype``, when given)."""
    values = prepared[name]
    if isinstance(values, np.ndarray):
        return values if dtype is None else values.astype(dtype, copy=False)
    return values.to_numpy(dtype=dtype)


#: Up to this many values are coded in Python rather than by pandas (the same codes): for the few
#: records of a one-record resolve, pandas' set-up costs more than the work.
FEW_VALUES: Final = 2000


def factorize(values: Sequence[Any] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``pandas.factorize`` of ``values`` (objects): each value's code in order of first
    appearance (``-1``: missing) and the distinct values, as an object array."""
    if len(values) > FEW_VALUES:
        codes, uniques = pd.factorize(pd.Series(values, dtype=object), use_na_sentinel=True)
        return codes.astype(np.int64), np.asarray(uniques, dtype=object)
    table: dict[Any, int] = {}
    codes = np.empty(len(values), dtype=np.int64)
    for i, value in enumerate(values):
        if not isinstance(value, str) and (value is None or pd.isna(value)):
            codes[i] = -1
        else:
            codes[i] = table.setdefault(value, len(table))
    uniques = np.empty(len(table), dtype=object)
    for value, code in table.items():
        uniques[code] = value
    return codes, uniques


def factorize_numbers(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``pandas.factorize`` of whole numbers (no missing values): codes in order of first
    appearance, and the distinct numbers."""
    if len(values) > FEW_VALUES:
        return pd.factorize(values)
    table: dict[int, int] = {}
    codes = np.fromiter(
        (table.setdefault(v, len(table)) for v in values.tolist()), dtype=np.intp, count=len(values)
    )
    return codes, np.fromiter(table, dtype=values.dtype, count=len(table))


def positions(strings: np.ndarray, values: Sequence[str]) -> np.ndarray:
    """The position of each of ``values`` among the distinct ``strings`` (``-1``: not there), as
    ``pandas.Index(strings).get_indexer(values)`` gives it."""
    if len(strings) + len(values) > FEW_VALUES:
        return pd.Index(strings).get_indexer(values)
    where = {s: i for i, s in enumerate(strings.tolist())}
    return np.fromiter((where.get(v, -1) for v in values), dtype=np.intp, count=len(values))


def rows_of(prepared: Prepared) -> int:
    """How many records ``prepared`` holds."""
    if isinstance(prepared, pd.DataFrame):
        return len(prepared)
    return len(next(iter(prepared.values()), ()))


class Vocabulary:
    """Every distinct string of the prepared name and identifier columns, coded once per resolve.

    Comparisons then work on integer codes (``-1`` missing): a pair of records indexes the codes,
    and
    strings are looked up only for pairs whose codes differ (equal codes score as identical).
    """

    NAME_COLUMNS: Final = ("name_en", "name_bn", "father", "mother", "spouse")
    TEXT_COLUMNS: Final = ("nid_text", "brn_text", "address", "identifiers")

    def __init__(self, prepared: Prepared) -> None:
        n = rows_of(prepared)
        columns = self.NAME_COLUMNS + self.TEXT_COLUMNS
        stacked = np.concatenate([column(prepared, c, object) for c in columns])
        codes, uniques = factorize(stacked)
        self.codes = {c: codes[i * n : (i + 1) * n] for i, c in enumerate(columns)}
        self.strings = np.asarray([str(u) for u in uniques], dtype=object)
        tokens = [u.split() for u in self.strings]
        # first and last words coded in one table (given names, surnames, and one name's first
        # word against another's last)
        both, self.word_strings = self._recode(
            [t[0] if t else "" for t in tokens] + [t[-1] if t else "" for t in tokens]
        )
        # each with -1 at the end, so that a missing string (code -1) has a missing word
        self.first_word = np.append(both[: len(tokens)], -1)
        self.last_word = np.append(both[len(tokens) :], -1)
        self.token_count = np.array([len(t) for t in tokens], dtype=np.float32)
        self.length = np.array([len(u) for u in self.strings], dtype=np.int64)
        self._kin_column: np.ndarray | None = (
            column(prepared, "kin", object) if "kin" in prepared else np.full(n, None, dtype=object)
        )
        self._kin: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None

    def kin(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The other members of each record's household as string codes (prepared ``kin``): per
        record the number of its kin text (``-1``: none), and per kin text its member count, the
        offset of its members in the flat array of codes, and that array."""
        if self._kin is None:
            from engine.resolve.prepare import KIN_SEP

            assert self._kin_column is not None  # dropped once the kin are coded
            record, texts = factorize(self._kin_column)
            names = [str(t).split(KIN_SEP) for t in texts]
            text_of = np.repeat(np.arange(len(names)), [len(x) for x in names])
            codes = positions(self.strings, [m for x in names for m in x])
            known = codes >= 0  # every member's name is one of the strings; kept safe all the same
            sizes = np.bincount(text_of[known], minlength=len(names)).astype(np.int64)
            offsets = np.cumsum(sizes) - sizes
            flat = codes[known].astype(np.int64)
            self._kin = (record.astype(np.int64), sizes, offsets, flat)
            self._kin_column = None
        return self._kin

    @staticmethod
    def _recode(values: list[str]) -> tuple[np.ndarray, np.ndarray]:
        return factorize(values)


def similarity(
    a: np.ndarray,
    b: np.ndarray,
    strings: np.ndarray,
    scorer: Callable[..., float],
    *,
    scale: float = 1.0,
    identical: float = 1.0,
    cutoff: float | None = None,
) -> np.ndarray:
    """``scorer`` of each pair of coded strings; NaN where either is missing.

    Parameters
    ----------
    a, b:
        Integer string codes (``-1`` missing), aligned pair by pair.
    strings:
        The strings the codes index.
    scorer:
        A rapidfuzz scorer (``fuzz.token_sort_ratio``, ``JaroWinkler.normalized_similarity``, ...),
        run only on pairs whose codes differ (with ``process.cpdist``, in C++ threads).
    scale:
        Divides the scores (100 for the ``fuzz`` ratios) so they lie in [0, 1].
    identical:
        The score of two equal strings (1 for a similarity, 0 for a distance).
    cutoff:
        A similarity below this (in the scorer's units) may be given as 0 (rapidfuzz's
        ``score_cutoff``: faster when only high similarities matter).
    """
    out = np.full(len(a), np.nan, dtype=np.float32)
    ok = (a >= 0) & (b >= 0)
    out[ok & (a == b)] = identical
    differ = np.flatnonzero(ok & (a != b))
    if len(differ):
        qa = strings[a[differ]].tolist()
        qb = strings[b[differ]].tolist()
        scores = process.cpdist(qa, qb, scorer=scorer, workers=WORKERS, score_cutoff=cutoff)
        out[differ] = scores.astype(np.float32) / scale
    return out


def _best(*arrays: np.ndarray) -> np.ndarray:
    """Element-wise maximum ignoring NaN (NaN only where every array is NaN)."""
    if len(arrays[0]) <= _PAIRED_MAX:
        # a few pairs (one record's): NumPy's fmax ignores a NaN beside a number; without the
        # stacking, whose set-up costs more than the work here
        best = arrays[0]
        for other in arrays[1:]:
            best = np.fmax(best, other)
        return np.where(np.isnan(best), np.nan, best).astype(np.float32)
    stacked = np.vstack(arrays)
    with np.errstate(invalid="ignore"):
        all_nan = np.isnan(stacked).all(axis=0)
        filled = np.where(np.isnan(stacked), -np.inf, stacked)
        best = filled.max(axis=0)
    return np.where(all_nan, np.nan, best).astype(np.float32)


_PAIRINGS: Final = (
    ("name_en", "name_en"),
    ("name_en", "name_bn"),
    ("name_bn", "name_en"),
    ("name_bn", "name_bn"),
)


def _word(table: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """The word codes (``table``: per string, then ``-1``) of string ``codes`` (``-1`` stays
    missing)."""
    return table[codes]


#: Pairs up to which :func:`_paired` scores its arrays in one call.
_PAIRED_MAX: Final = 4096


def _paired(
    a: list[np.ndarray],
    b: list[np.ndarray],
    strings: np.ndarray,
    scorer: Callable[..., float],
    **options: Any,
) -> list[np.ndarray]:
    """:func:`similarity` of each pair of code arrays ``a[k], b[k]`` (all of one length), in one
    call when they are short: each pair of strings is scored on its own, so the values are those
    of one call per ``k``, without the fixed cost of each call (most of the time for one record's
    few pairs). Long arrays (a batch's chunk) are scored one ``k`` at a time, as joined they would
    take several times the memory for nothing."""
    n = len(a[0])
    if n > _PAIRED_MAX:
        return [similarity(x, y, strings, scorer, **options) for x, y in zip(a, b, strict=True)]
    scores = similarity(np.concatenate(a), np.concatenate(b), strings, scorer, **options)
    return [scores[k * n : (k + 1) * n] for k in range(len(a))]


def _name_features(vocab: Vocabulary, li: np.ndarray, ri: np.ndarray) -> dict[str, np.ndarray]:
    codes, strings = vocab.codes, vocab.strings
    # the four pairings (English and Bangla names either side) scored in one call per scorer;
    # each side's two columns read once
    names = ("name_en", "name_bn")
    on_left = {c: codes[c][li] for c in names}
    on_right = {c: codes[c][ri] for c in names}
    left = [on_left[a] for a, _ in _PAIRINGS]
    right = [on_right[b] for _, b in _PAIRINGS]
    sort = _paired(left, right, strings, fuzz.token_sort_ratio, scale=100.0)
    name_sort = _best(*sort)
    name_set = _best(*_paired(left, right, strings, fuzz.token_set_ratio, scale=100.0))
    jw = JaroWinkler.normalized_similarity
    out: dict[str, np.ndarray] = {"name_sort": name_sort, "name_set": name_set}
    words = {
        (side, c, which): _word(table, side_codes[c])
        for side, side_codes in (("left", on_left), ("right", on_right))
        for c in names
        for which, table in (("first", vocab.first_word), ("last", vocab.last_word))
    }
    k = len(_PAIRINGS)
    # per pairing, in one call: the given names (first words), the surnames (last words), then
    # the first and last words swapped ("Khanam Rahima" for "Rahima Khanam"): the left's first
    # word with the right's last, and the left's last with the right's first
    sides = (("first", "first"), ("last", "last"), ("first", "last"), ("last", "first"))
    jws = _paired(
        [words["left", a, x] for x, _ in sides for a, _ in _PAIRINGS],
        [words["right", b, y] for _, y in sides for _, b in _PAIRINGS],
        vocab.word_strings,
        jw,
    )
    out["given_sim"] = _best(*jws[:k])
    out["last_sim"] = _best(*jws[k : 2 * k])
    cross = jws[2 * k :]
    # the swap: the mean of the two cross similarities, best pairing
    swaps = [(cross[i] + cross[k + i]) / np.float32(2.0) for i in range(k)]
    out["name_swap"] = _best(*swaps)
    # token-count difference of the best-sorting pairing
    stacked = np.vstack([np.where(np.isnan(s), -1, s) for s in sort])
    best_idx = stacked.argmax(axis=0)
    count = np.append(vocab.token_count, np.nan)  # code -1 -> NaN
    diffs = np.vstack([np.abs(count[codes[a][li]] - count[codes[b][ri]]) for a, b in _PAIRINGS])
    len_diff = diffs[best_idx, np.arange(len(li))]
    out["name_len_diff"] = np.where(np.isnan(name_sort), np.nan, len_diff).astype(np.float32)
    return out


def _relation_features(vocab: Vocabulary, li: np.ndarray, ri: np.ndarray) -> dict[str, np.ndarray]:
    codes, strings = vocab.codes, vocab.strings
    relatives = ("father", "mother", "spouse")
    left, right = [], []
    for column in relatives:
        left.append(codes[column][li])
        right.append(codes[column][ri])
    # a record's father against the other's spouse, either way round (:func:`husband_named`)
    father_left, father_right = left[0], right[0]
    left += [father_left, left[2]]
    right += [right[2], father_right]
    # a record's name against the other's father, either way round
    for name in ("name_en", "name_bn"):
        c = codes[name]
        left += [c[li], father_left]
        right += [father_right, c[ri]]
    # all in one call (scored pair by pair: the values of one call each)
    sims = _paired(left, right, strings, fuzz.token_sort_ratio, scale=100.0)
    out = {f"{column}_sim": sims[i] for i, column in enumerate(relatives)}
    k = len(relatives)
    out["father_sim"], out["spouse_sim"] = husband_named(
        out["father_sim"], out["spouse_sim"], _best(sims[k], sims[k + 1])
    )
    out["name_father_cross"] = _best(*sims[k + 2 :])
    return out


#: The similarity from which a father's name one record gives is taken for the spouse the other
#: names (:func:`husband_named`).
HUSBAND_FOUND: Final = 0.9


def husband_named(
    father_sim: np.ndarray, spouse_sim: np.ndarray, father_spouse: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``father_sim`` and ``spouse_sim`` where one record's father's name is the other's spouse's
    (``father_spouse`` at least :data:`HUSBAND_FOUND`): forms ask a woman her father's *or*
    husband's name (a workfare list's "Father" column holds a married woman's husband), so that
    name is compared as the spouse's (``spouse_sim``) and its disagreement with the other's
    father says nothing (``father_sim`` NaN)."""
    found = father_spouse >= HUSBAND_FOUND
    father = np.where(found, np.nan, father_sim).astype(np.float32)
    spouse = np.where(found, np.fmax(spouse_sim, father_spouse), spouse_sim).astype(np.float32)
    return father, spouse


#: The similarity from which a relative's name is taken as found in a household (``kin_sim``).
KIN_FOUND: Final = 0.85


def _kin_similarity(vocab: Vocabulary, li: np.ndarray, ri: np.ndarray) -> np.ndarray:
    """``kin_sim``: the best token-sort similarity between a relative one record names and a
    member of the other record's household, where it is at least :data:`KIN_FOUND` (NaN
    otherwise: not found is no evidence)."""
    best = np.full(len(li), -1.0, dtype=np.float32)
    kin, sizes, offsets, flat = vocab.kin()
    if len(flat) == 0:
        return np.full(len(li), np.nan, dtype=np.float32)
    m = len(vocab.strings) + 1
    # one direction and one relative at a time, so that only one set of meetings is in memory
    for a, b in ((li, ri), (ri, li)):
        household = kin[b]
        for column in ("father", "mother", "spouse"):
            relative = vocab.codes[column][a]
            hit = np.flatnonzero((household >= 0) & (relative >= 0))
            if len(hit) == 0:
                continue
            n = sizes[household[hit]]
            total = int(n.sum())
            if total == 0:
                continue
            within = np.arange(total) - np.repeat(np.cumsum(n) - n, n)
            member = flat[np.repeat(offsets[household[hit]], n) + within]
            del within
            # one relative's name meets one member's in many pairs: score each meeting once
            meeting, distinct = factorize_numbers(np.repeat(relative[hit], n) * m + member)
            del member
            scores = similarity(
                distinct // m,
                distinct % m,
                vocab.strings,
                fuzz.token_sort_ratio,
                scale=100.0,
                cutoff=KIN_FOUND * 100.0,
            )[meeting]
            del meeting
            # each hit pair's members are one run of the scores: the best of each run
            runs = np.cumsum(n) - n
            has = n > 0
            top = np.maximum.reduceat(np.nan_to_num(scores, nan=-1.0), runs[has])
            best[hit[has]] = np.maximum(best[hit[has]], top)
    return np.where(best >= KIN_FOUND, best, np.nan).astype(np.float32)


def _match_or_nan(left: np.ndarray, right: np.ndarray, missing: object = -1) -> np.ndarray:
    ok = (left != missing) & (right != missing)
    return np.where(ok, (left == right).astype(np.float32), np.nan).astype(np.float32)


def _identifier_match(
    key: np.ndarray, text: np.ndarray, vocab: Vocabulary, li: np.ndarray, ri: np.ndarray
) -> np.ndarray:
    """1 same key, 0.5 one typo (OSA distance 1, same length), 0 different same-length, else NaN.

    ``text`` holds the vocabulary codes of the identifier's digits.
    """
    kl, kr = key[li], key[ri]
    out = np.full(len(li), np.nan, dtype=np.float32)
    both = (kl >= 0) & (kr >= 0)
    out[both & (kl == kr)] = 1.0
    differ = np.flatnonzero(both & (kl != kr))
    if len(differ):
        tl, tr = text[li[differ]], text[ri[differ]]
        have = (tl >= 0) & (tr >= 0)
        length = np.append(vocab.length, -1)
        same_len = have & (length[tl] == length[tr])
        dist = similarity(tl, tr, vocab.strings, OSA.distance, identical=0.0)
        typo = same_len & (dist <= 1)
        out[differ] = np.where(typo, 0.5, np.where(same_len, 0.0, np.nan))
    return out


def _number_features(prepared: Prepared, li: np.ndarray, ri: np.ndarray) -> dict[str, np.ndarray]:
    phone = column(prepared, "phone")
    wallet = column(prepared, "wallet")
    phone_names = column(prepared, "phone_names").astype(np.float32)
    wallet_names = column(prepared, "wallet_names").astype(np.float32)
    left = [(phone[li], phone_names[li]), (wallet[li], wallet_names[li])]
    right = [(phone[ri], phone_names[ri]), (wallet[ri], wallet_names[ri])]
    shared = np.zeros(len(li), dtype=bool)
    names = np.full(len(li), np.inf, dtype=np.float32)
    for a, a_names in left:
        for b, _ in right:
            hit = (a >= 0) & (a == b)
            shared |= hit
            names = np.where(hit, np.minimum(names, a_names), names)
    has_l = (phone[li] >= 0) | (wallet[li] >= 0)
    has_r = (phone[ri] >= 0) | (wallet[ri] >= 0)
    number_shared = np.where(has_l & has_r, shared.astype(np.float32), np.nan).astype(np.float32)
    number_names = np.where(shared, np.log(np.maximum(names, 1.0)), np.nan).astype(np.float32)
    return {"number_shared": number_shared, "number_names": number_names}


def _birth_features(prepared: Prepared, li: np.ndarray, ri: np.ndarray) -> dict[str, np.ndarray]:
    lo = column(prepared, "year_lo", np.float32)
    hi = column(prepared, "year_hi", np.float32)
    month = column(prepared, "month", np.float32)
    day = column(prepared, "day", np.float32)
    weak = column(prepared, "dob_weak", bool)
    gap = np.maximum(0.0, np.maximum(lo[ri] - hi[li], lo[li] - hi[ri])).astype(np.float32)
    span = np.maximum(hi[li] - lo[li], hi[ri] - lo[ri]).astype(np.float32)
    has_date = ~np.isnan(day[li]) & ~np.isnan(day[ri])
    same_year = lo[li] == lo[ri]
    exact = same_year & (month[li] == month[ri]) & (day[li] == day[ri])
    swapped = same_year & (month[li] == day[ri]) & (day[li] == month[ri])
    dob_match = np.where(exact, 1.0, np.where(swapped, 0.5, 0.0))
    dob_match = np.where(has_date, dob_match, np.nan).astype(np.float32)
    dob_weak = np.where(np.isnan(gap), np.nan, (weak[li] | weak[ri]).astype(np.float32)).astype(
        np.float32
    )
    return {"year_gap": gap, "year_span": span, "dob_match": dob_match, "dob_weak": dob_weak}


def placed_upazila(prepared: Prepared) -> np.ndarray:
    """Each record's upazila code as geography compares it: the upazila it gives (or its union
    lies in), else the one its postcode lies in (``post_upazila``, from the records that give both:
    :func:`engine.resolve.prepare.postcode_upazila`); ``-1``: none."""
    upazila = column(prepared, "upazila")
    return np.where(upazila >= 0, upazila, column(prepared, "post_upazila"))


def _places(prepared: Prepared, postcode: bool) -> tuple[tuple[str, np.ndarray], ...]:
    """The district, upazila and union codes (the upazila placed by the postcode too, when
    ``postcode``)."""
    upazila = placed_upazila(prepared) if postcode else column(prepared, "upazila")
    return (
        ("district", column(prepared, "district")),
        ("upazila", upazila),
        ("union", column(prepared, "union")),
    )


def _geo_level(prepared: Prepared, li: np.ndarray, ri: np.ndarray) -> np.ndarray:
    """3 when the records agree as far as both say where they live; 2, 1, 0 when they first differ
    at the union, the upazila or the district. A level one side leaves blank is no disagreement:
    a record that names only the upazila is not "in another union" (only 3 then says so). A
    postcode places a record in its upazila (:func:`placed_upazila`)."""
    level = np.full(len(li), np.nan, dtype=np.float32)
    agreeing = np.ones(len(li), dtype=bool)  # no level both carry has differed so far
    differs = {"district": 0.0, "upazila": 1.0, "union": 2.0}
    for place, codes in _places(prepared, postcode=True):
        differ = differs[place]
        a, b = codes[li], codes[ri]
        both = (a >= 0) & (b >= 0)
        first_difference = agreeing & both & (a != b)
        level = np.where(first_difference, differ, level)
        level = np.where(agreeing & both & (a == b), 3.0, level)
        agreeing &= ~first_difference
    return level.astype(np.float32)


def _geo_common(
    prepared: Prepared, li: np.ndarray, ri: np.ndarray, *, postcode: bool = True
) -> np.ndarray:
    """The finest geography level both records give: 3 union, 2 upazila (named, or placed by a
    postcode unless not ``postcode``: :func:`placed_upazila`), 1 district (NaN: none)."""
    common = np.full(len(li), np.nan, dtype=np.float32)
    levels = {"district": 1.0, "upazila": 2.0, "union": 3.0}
    for place, codes in _places(prepared, postcode):
        level = levels[place]
        common = np.where((codes[li] >= 0) & (codes[ri] >= 0), level, common)
    return common.astype(np.float32)


def _place_name_freq(
    prepared: Prepared, li: np.ndarray, ri: np.ndarray, common: np.ndarray
) -> np.ndarray:
    """``log1p`` of the larger of the two records' counts of their full name within the finest
    place both give (``common``: 1 district, 2 upazila, 3 union; NaN: none)."""
    from engine.resolve.prepare import PLACE_COUNTS

    out = np.full(len(li), np.nan, dtype=np.float32)
    for level, counted in zip((1.0, 2.0, 3.0), PLACE_COUNTS, strict=True):
        counts = column(prepared, counted).astype(np.float32)
        at = common == level
        larger = np.maximum(counts[li], counts[ri])
        out = np.where(at & (larger > 0), np.log1p(larger), out)
    return out.astype(np.float32)


def identifier_agreement(left: str | None, right: str | None) -> float:
    """How two records' extra identifiers (stored ``name=value;...`` texts) agree: 1 they share
    one, 0.5 one of the same name is one typo apart (a digit changed or two swapped, same length),
    0 they hold different values of one, NaN when they hold none of the same name.

    Example
    -------
    >>> identifier_agreement("tin=123456789", "employee_id=e7;tin=123456789")
    1.0
    >>> identifier_agreement("tin=123456789", "tin=123456798"), identifier_agreement("tin=1", None)
    (0.5, nan)
    """
    from engine.normalise.identifiers import parse_identifiers

    a, b = parse_identifiers(left), parse_identifiers(right)
    shared = sorted(set(a) & set(b))
    if not shared:
        return math.nan
    if any(a[name] == b[name] for name in shared):
        return 1.0
    typo = any(
        len(a[name]) == len(b[name]) and OSA.distance(a[name], b[name]) <= 1 for name in shared
    )
    return 0.5 if typo else 0.0


def _identifier_feature(vocab: Vocabulary, li: np.ndarray, ri: np.ndarray) -> np.ndarray:
    """:func:`identifier_agreement` of every pair, once per distinct pair of identifier texts."""
    out = np.full(len(li), np.nan, dtype=np.float32)
    codes = vocab.codes["identifiers"]
    a, b = codes[li], codes[ri]
    both = np.flatnonzero((a >= 0) & (b >= 0))
    if len(both):
        m = int(codes.max()) + 1
        inverse, distinct = factorize_numbers(a[both] * m + b[both])
        values = [
            identifier_agreement(vocab.strings[x], vocab.strings[y])
            for x, y in zip((distinct // m).tolist(), (distinct % m).tolist(), strict=True)
        ]
        out[both] = np.asarray(values, dtype=np.float32)[inverse]
    return out


def compare(
    prepared: pd.DataFrame, pairs: pd.DataFrame, vocabulary: Vocabulary | None = None
) -> pd.DataFrame:
    """The comparison features of every candidate pair.

    Parameters
    ----------
    prepared:
        The frame from :func:`engine.resolve.prepare.prepare`.
    pairs:
        ``left`` and ``right`` positional rows of ``prepared`` (e.g. from
        :func:`engine.resolve.blocking.candidate_pairs`).
    vocabulary:
        The prepared frame's :class:`Vocabulary`, when the caller compares several batches of pairs
        of one frame (built here otherwise).

    Returns
    -------
    pandas.DataFrame
        One row per pair, in the pairs' order and with their index, columns :data:`FEATURES`
        (float32, NaN = not comparable).
    """
    li = pairs["left"].to_numpy(dtype=np.int64)
    ri = pairs["right"].to_numpy(dtype=np.int64)
    return pd.DataFrame(compare_columns(prepared, li, ri, vocabulary), index=pairs.index)


def compare_columns(
    prepared: Prepared, li: np.ndarray, ri: np.ndarray, vocabulary: Vocabulary | None = None
) -> dict[str, np.ndarray]:
    """:func:`compare`'s features as arrays, :data:`FEATURES` in order (float32): the pairs
    ``li[i], ri[i]`` of ``prepared``, a prepared frame or its columns as arrays (the one-record
    resolver's few candidates, compared without building a frame)."""
    features: dict[str, np.ndarray] = {}
    vocab = vocabulary if vocabulary is not None else Vocabulary(prepared)
    features.update(_name_features(vocab, li, ri))
    features.update(_relation_features(vocab, li, ri))
    features["kin_sim"] = _kin_similarity(vocab, li, ri)
    gender = column(prepared, "gender")
    features["gender_match"] = _match_or_nan(gender[li], gender[ri], 0)
    features.update(_birth_features(prepared, li, ri))
    for feature, key, text in (
        ("nid_match", "nid_key", "nid_text"),
        ("brn_match", "brn_key", "brn_text"),
    ):
        features[feature] = _identifier_match(
            column(prepared, key), vocab.codes[text], vocab, li, ri
        )
    features.update(_number_features(prepared, li, ri))
    features["geo_level"] = _geo_level(prepared, li, ri)
    features["geo_common"] = _geo_common(prepared, li, ri)
    address = vocab.codes["address"]
    features["address_sim"] = similarity(
        address[li], address[ri], vocab.strings, fuzz.token_set_ratio, scale=100.0
    )
    postcode = column(prepared, "postcode")
    features["postcode_match"] = _match_or_nan(postcode[li], postcode[ri])
    features["identifier_match"] = _identifier_feature(vocab, li, ri)
    # per 100,000 records, so that a model trained on a small world reads a large one alike
    per = np.float32(100_000 / max(rows_of(prepared), 1))
    for feature in ("name_freq", "given_freq"):
        freq = column(prepared, feature).astype(np.float32)
        features[feature] = np.log1p(np.minimum(freq[li], freq[ri]) * per).astype(np.float32)
    # namesakes are counted in the places records name: a postcode's upazila is not counted in
    # (counted, at 100,000 persons of a district-and-postcode survey, precision fell to 0.994)
    named = _geo_common(prepared, li, ri, postcode=False)
    features["place_name_freq"] = _place_name_freq(prepared, li, ri, named)
    source = factorize(column(prepared, "source", object))[0]
    features["same_source"] = (source[li] == source[ri]).astype(np.float32)
    household = column(prepared, "household")
    features["same_household"] = ((household[li] >= 0) & (household[li] == household[ri])).astype(
        np.float32
    )
    return {name: features[name] for name in FEATURES}


def cannot_link(features: pd.DataFrame | Mapping[str, np.ndarray]) -> np.ndarray:
    """Pairs that must never end in one person, whatever their score.

    - two different NIDs of the same form that are not one typo apart (``nid_match == 0``);
    - two different birth registration numbers, likewise (``brn_match == 0``): BDRIS gives one
      number per birth, and namesake children of one union born the same year are common;
    - two members of one household of one source (a household list names different people).
    """
    nid = np.asarray(features["nid_match"])
    brn = np.asarray(features["brn_match"])
    return (nid == 0.0) | (brn == 0.0) | (np.asarray(features["same_household"]) == 1.0)
