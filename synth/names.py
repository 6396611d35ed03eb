"""Bangladeshi names for the synthetic world: drawing true names, writing them as MIS clerks do.

A name is held as up to :data:`MAX_TOKENS` token ids (``-1`` pads) into the name book
(``data/names.csv``) plus a flag saying whether the person's registered name carries the honorific
prefix (Md. / Mst.). Each token has an English spelling with its romanisation variants and a Bangla
spelling (as a Bangla-writing clerk types it) with its variants. Writing a name for a source picks
variants, writes or drops the prefix, swaps token order, makes typos and sets the case, all
vectorised over numpy ``StringDType`` arrays.

The Bangla tables are written by hand, never derived with ekjon's own transliterator, so that
cross-script matching is tested honestly.
"""

from __future__ import annotations

import csv
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Final

import numpy as np
from numpy.dtypes import StringDType

from synth.tags import Tag

DATA: Final = Path(__file__).parent / "data" / "names.csv"
MAX_TOKENS: Final = 4
STR: Final = StringDType()

MUSLIM: Final = 0
HINDU: Final = 1
MALE: Final = 0
FEMALE: Final = 1

_LETTERS: Final = "abcdefghijklmnopqrstuvwxyz"
#: Keys near each other on a QWERTY keyboard: typists hit the neighbour, not a random letter.
_NEIGHBOURS: Final[dict[str, str]] = {
    "a": "sqz",
    "b": "vn",
    "c": "xv",
    "d": "sf",
    "e": "wr",
    "f": "dg",
    "g": "fh",
    "h": "gj",
    "i": "uo",
    "j": "hk",
    "k": "jl",
    "l": "k",
    "m": "n",
    "n": "bm",
    "o": "ip",
    "p": "o",
    "q": "wa",
    "r": "et",
    "s": "ad",
    "t": "ry",
    "u": "yi",
    "v": "cb",
    "w": "qe",
    "x": "zc",
    "y": "tu",
    "z": "xa",
}

# Broken Bangla Unicode as old converters and some keyboards leave it: the precomposed YYA that NFC
# splits into YA + NUKTA, and the O / AU vowel signs typed as two separate signs.
_YYA_NFC: Final = "\u09af\u09bc"
_YYA_PRECOMPOSED: Final = "\u09df"
_O_SIGN: Final = "\u09cb"
_O_SPLIT: Final = "\u09c7\u09be"


@dataclass(frozen=True, slots=True)
class NameStyle:
    """How one source writes names (all probabilities are per record unless said otherwise).

    Attributes
    ----------
    prefix_keep : a registered Md./Mst. prefix is written.
    prefix_add : a prefix is written although the registered name has none (Muslim names only).
    prefix_variant : a written prefix takes a non-standard form (Mohammad, Most., Mosammat, ...).
    variant : per token, a romanisation (or Bangla spelling) variant is used.
    typo : the name gets one keyboard typo (insert / delete / substitute / transpose).
    typo_more : given a typo, a second one.
    swap : the last token is moved to the front ("Begum Rahima").
    case : ``title`` | ``upper`` | ``lower`` | ``mixed`` (a per-record mix of the three).
    broken_unicode : Bangla only: non-NFC forms (precomposed YYA, split O sign).
    """

    prefix_keep: float = 0.7
    prefix_add: float = 0.05
    prefix_variant: float = 0.3
    variant: float = 0.2
    typo: float = 0.03
    typo_more: float = 0.2
    swap: float = 0.02
    case: str = "title"
    broken_unicode: float = 0.0


@dataclass(frozen=True, slots=True)
class NameBook:
    """The name tables as arrays: token id -> spellings, and the token ids of each group."""

    en: np.ndarray  # (tokens + 1, max variants) StringDType; the last row is the empty token
    bn: np.ndarray
    n_en: np.ndarray  # variants per token
    n_bn: np.ndarray
    groups: dict[str, np.ndarray]

    @property
    def empty(self) -> int:
        """The row of the empty token (what ``-1`` maps to)."""
        return self.en.shape[0] - 1

    def group(self, name: str) -> np.ndarray:
        return self.groups[name]

    def canonical_en(
        self, tok: np.ndarray, has_prefix: np.ndarray, gender: np.ndarray
    ) -> np.ndarray:
        """The registered English name: canonical spellings, prefix where the person has one."""
        return _assemble(
            self, "en", np.where(tok < 0, self.empty, tok), np.zeros_like(tok), has_prefix, gender
        )

    def canonical_bn(
        self, tok: np.ndarray, has_prefix: np.ndarray, gender: np.ndarray
    ) -> np.ndarray:
        """The registered Bangla name (NFC), prefix where the person has one."""
        return _assemble(
            self, "bn", np.where(tok < 0, self.empty, tok), np.zeros_like(tok), has_prefix, gender
        )


@lru_cache(maxsize=1)
def name_book() -> NameBook:
    """Load ``data/names.csv`` once (Bangla spellings normalised to NFC)."""
    groups: dict[str, list[int]] = {}
    en_rows: list[list[str]] = []
    bn_rows: list[list[str]] = []
    with DATA.open(encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            groups.setdefault(row["group"], []).append(len(en_rows))
            en_rows.append(row["en"].split("|"))
            bn_rows.append([unicodedata.normalize("NFC", b) for b in row["bn"].split("|")])
    en_rows.append([""])
    bn_rows.append([""])
    return NameBook(
        en=_table(en_rows),
        bn=_table(bn_rows),
        n_en=np.array([len(r) for r in en_rows]),
        n_bn=np.array([len(r) for r in bn_rows]),
        groups={k: np.array(v, dtype=np.int32) for k, v in groups.items()},
    )


def _table(rows: list[list[str]]) -> np.ndarray:
    width = max(len(r) for r in rows)
    padded = [r + [r[0]] * (width - len(r)) for r in rows]
    return np.array(padded, dtype=STR)


# -- drawing true names ------------------------------------------------------------------------


def draw_names(
    rng: np.random.Generator,
    gender: np.ndarray,
    religion: np.ndarray,
    birth_year: np.ndarray,
    surname: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Draw registered names.

    Parameters
    ----------
    gender, religion, birth_year : per person (``MALE``/``FEMALE``, ``MUSLIM``/``HINDU``).
    surname : Hindu family surname token per person (``-1`` draws one); ignored for Muslims, who
        share no family surname.

    Returns
    -------
    tokens : ``(n, MAX_TOKENS)`` int32, ``-1`` padded.
    has_prefix : whether the registered name carries Md. / Mst.
    """
    book = name_book()
    n = len(gender)
    tok = np.full((n, MAX_TOKENS), -1, dtype=np.int32)
    r = rng.random((n, 6))
    young = r[:, 0] < np.clip((birth_year - 1970) / 30.0, 0.05, 0.92)

    def pick(group: str, u: np.ndarray) -> np.ndarray:
        ids = book.group(group)
        return ids[np.minimum((u * len(ids)).astype(np.int64), len(ids) - 1)]

    def pick_by_age(old: str, new: str, u: np.ndarray) -> np.ndarray:
        return np.where(young, pick(new, u), pick(old, u))

    mm = (religion == MUSLIM) & (gender == MALE)
    if mm.any():
        u = r[mm]
        t = u[:, 1]
        lead = t < 0.25
        ul = (t >= 0.25) & (t < 0.40)
        ur = (t >= 0.40) & (t < 0.50)
        plain = t >= 0.50
        y = young[mm]
        c0 = np.where(lead, pick("m_lead", u[:, 2]), -1)
        c0 = np.where(ul, pick("m_given_ul", u[:, 2]), c0)
        c0 = np.where(ur, pick("m_given_ur", u[:, 2]), c0)
        c0 = np.where(plain & y, pick("m_given_young", u[:, 2]), c0)
        c0 = np.where(plain & ~y, pick("m_given_old", u[:, 2]), c0)
        c1 = np.where(lead, pick("m_after_lead", u[:, 3]), -1)
        any_suffix = pick("m_suffix", u[:, 4])
        c1 = np.where(ul, np.where(u[:, 5] < 0.8, pick("m_suffix_ul", u[:, 4]), any_suffix), c1)
        c1 = np.where(ur, np.where(u[:, 5] < 0.9, pick("m_suffix_ur", u[:, 4]), any_suffix), c1)
        c1 = np.where(plain & (u[:, 5] < 0.8), any_suffix, c1)
        c2 = np.where(lead & (u[:, 5] < 0.25), any_suffix, -1)
        tok[mm, 0], tok[mm, 1], tok[mm, 2] = c0, c1, c2

    mf = (religion == MUSLIM) & (gender == FEMALE)
    if mf.any():
        u = r[mf]
        y = young[mf]
        c0 = np.where(y, pick("f_given_young", u[:, 1]), pick("f_given_old", u[:, 1]))
        suffix_young = np.where(y, u[:, 2] < 0.75, u[:, 2] < 0.25)
        suffix = np.where(
            suffix_young, pick("f_suffix_young", u[:, 3]), pick("f_suffix_old", u[:, 3])
        )
        c1 = np.where(u[:, 4] < 0.9, suffix, -1)
        tok[mf, 0], tok[mf, 1] = c0, c1

    hindu = religion == HINDU
    if hindu.any():
        u = r[hindu]
        male = gender[hindu] == MALE
        sur = pick("h_surname", u[:, 1])
        if surname is not None:
            given_sur = surname[hindu]
            sur = np.where(given_sur >= 0, given_sur, sur)
        c0 = np.where(male, pick("h_m_given", u[:, 2]), pick("h_f_given", u[:, 2]))
        mid = np.where(male, pick("h_m_middle", u[:, 3]), pick("h_f_middle", u[:, 3]))
        has_mid = np.where(male, u[:, 4] < 0.45, u[:, 4] < 0.7)
        tok[hindu, 0] = c0
        tok[hindu, 1] = np.where(has_mid, mid, sur)
        tok[hindu, 2] = np.where(has_mid, sur, -1)

    p_prefix = np.where(gender == MALE, np.where(young, 0.55, 0.8), np.where(young, 0.4, 0.6))
    has_prefix = (religion == MUSLIM) & (r[:, 5] < p_prefix)
    return tok, has_prefix


def hindu_surname(tok: np.ndarray, religion: np.ndarray) -> np.ndarray:
    """The family surname token of Hindu names (their last token), ``-1`` for Muslim names."""
    n_tok = (tok >= 0).sum(axis=1)
    last = tok[np.arange(len(tok)), np.maximum(n_tok - 1, 0)]
    return np.where(religion == HINDU, last, -1)


def distinct_given(
    rng: np.random.Generator,
    tok: np.ndarray,
    other: np.ndarray,
    gender: np.ndarray,
    birth_year: np.ndarray,
) -> np.ndarray:
    """Redraw the first token of ``tok`` where it equals ``other``'s (twins get distinct names)."""
    book = name_book()
    out = tok.copy()
    for _ in range(8):
        same = out[:, 0] == other[:, 0]
        if not same.any():
            break
        idx = np.flatnonzero(same)
        for i in idx:
            group = _group_of(book, int(out[i, 0]))
            ids = book.group(group)
            out[i, 0] = ids[rng.integers(len(ids))]
    return out


def _group_of(book: NameBook, token: int) -> str:
    for name, ids in book.groups.items():
        if token in ids:
            return name
    raise KeyError(token)


# -- writing names as a source does ------------------------------------------------------------


def write_names(
    tok: np.ndarray,
    has_prefix: np.ndarray,
    gender: np.ndarray,
    religion: np.ndarray,
    rng: np.random.Generator,
    style: NameStyle,
    script: str = "en",
) -> tuple[np.ndarray, np.ndarray]:
    """Write names as one source's clerks do.

    Parameters
    ----------
    tok, has_prefix, gender, religion : the true names (see :func:`draw_names`).
    style : the source's habits.
    script : ``en`` (romanised) or ``bn`` (Bangla script).

    Returns
    -------
    names : StringDType array; rows whose ``tok`` is all ``-1`` give ``""``.
    tags : int64 bit flags (:class:`~synth.tags.Tag`) saying which variations were applied.
    """
    book = name_book()
    n = len(tok)
    tags = np.zeros(n, dtype=np.int64)
    if n == 0:
        return np.array([], dtype=STR), tags
    table, n_var = (book.en, book.n_en) if script == "en" else (book.bn, book.n_bn)
    rows = np.where(tok < 0, book.empty, tok)
    nv = n_var[rows]
    u = rng.random((n, MAX_TOKENS))
    use_variant = (u < style.variant) & (nv > 1)
    var = np.where(use_variant, 1 + (rng.random((n, MAX_TOKENS)) * (nv - 1)).astype(np.int64), 0)
    var = np.minimum(var, nv - 1)
    tags[use_variant.any(axis=1)] |= Tag.NAME_SPELLING

    r = rng.random((n, 5))
    n_tok = (tok >= 0).sum(axis=1)
    swap = (r[:, 0] < style.swap) & (n_tok >= 2)
    if swap.any():
        rows, var = _rotate(rows, var, n_tok, swap, book.empty)
        tags[swap] |= Tag.NAME_ORDER
    muslim = religion == MUSLIM
    written = np.where(
        has_prefix, r[:, 1] < style.prefix_keep, muslim & (r[:, 1] < style.prefix_add)
    )
    written &= n_tok > 0
    tags[has_prefix & ~written] |= Tag.PREFIX_DROPPED
    tags[~has_prefix & written] |= Tag.PREFIX_ADDED
    n_prefix = n_var[_prefix_token(book, gender)]
    prefix_var = np.where(
        r[:, 2] < style.prefix_variant, 1 + (r[:, 3] * (n_prefix - 1)).astype(np.int64), 0
    )
    names = _assemble(
        book, script, rows, var, written, gender, np.minimum(prefix_var, n_prefix - 1)
    )

    if script == "en":
        names = _set_case(names, style.case, r[:, 4])
        typo = (rng.random(n) < style.typo) & (n_tok > 0)
        if typo.any():
            idx = np.flatnonzero(typo)
            more = rng.random(len(idx)) < style.typo_more
            names[idx] = typos(names[idx], more, rng)
            tags[idx] |= Tag.NAME_TYPO
    elif style.broken_unicode > 0:
        broken = (rng.random(n) < style.broken_unicode) & (n_tok > 0)
        if broken.any():
            idx = np.flatnonzero(broken)
            part = names[idx]
            part = np.strings.replace(part, _YYA_NFC, _YYA_PRECOMPOSED)
            part = np.strings.replace(part, _O_SIGN, _O_SPLIT)
            changed = part != names[idx]
            names[idx] = part
            tags[idx[changed]] |= Tag.BN_UNICODE
    return names, tags


def _prefix_token(book: NameBook, gender: np.ndarray) -> np.ndarray:
    return np.where(gender == MALE, int(book.group("prefix_m")[0]), int(book.group("prefix_f")[0]))


def _assemble(
    book: NameBook,
    script: str,
    rows: np.ndarray,
    var: np.ndarray,
    written: np.ndarray,
    gender: np.ndarray,
    prefix_var: np.ndarray | None = None,
) -> np.ndarray:
    """Names from token rows (``book.empty`` for none), spelling variants and prefix choices.

    Names repeat a lot, so each distinct combination is built once: the combination is packed into
    one int64 (9 bits per token, 3 per variant, prefix flag, gender and prefix variant).
    """
    table = book.en if script == "en" else book.bn
    n = len(rows)
    if n == 0:
        return np.array([], dtype=STR)
    prefix_var = np.zeros(n, dtype=np.int64) if prefix_var is None else prefix_var
    key = np.zeros(n, dtype=np.int64)
    for j in range(MAX_TOKENS):
        key |= rows[:, j].astype(np.int64) << (9 * j)
        key |= var[:, j].astype(np.int64) << (36 + 3 * j)
    key |= written.astype(np.int64) << 48
    key |= gender.astype(np.int64) << 49
    key |= prefix_var.astype(np.int64) << 50
    _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    pid = _prefix_token(book, gender[first])
    prefix = np.where(written[first], table[pid, prefix_var[first]], "").astype(STR)
    cells = [table[rows[first, j], var[first, j]] for j in range(MAX_TOKENS)]
    return _join_tokens(cells, prefix)[inverse.reshape(-1)]


def _rotate(
    rows: np.ndarray, var: np.ndarray, n_tok: np.ndarray, swap: np.ndarray, empty: int
) -> tuple[np.ndarray, np.ndarray]:
    """Move each swapped row's last token to the front (tokens are left-packed)."""
    rows, var = rows.copy(), var.copy()
    idx = np.flatnonzero(swap)
    k = n_tok[idx][:, None]
    j = np.arange(MAX_TOKENS)[None, :]
    src = np.where(j < k, (j - 1) % k, j)
    rows[idx] = np.take_along_axis(rows[idx], src, axis=1)
    var[idx] = np.take_along_axis(var[idx], src, axis=1)
    return rows, var


def _join_tokens(cells: list[np.ndarray], prefix: np.ndarray | None = None) -> np.ndarray:
    """Join token cells with single spaces, skipping empty ones."""
    out = prefix if prefix is not None else np.full(len(cells[0]), "", dtype=STR)
    for c in cells:
        out = np.strings.add(out, np.strings.add(np.where(c != "", " ", "").astype(STR), c))
    return np.strings.lstrip(out, " ")


def _set_case(names: np.ndarray, case: str, u: np.ndarray) -> np.ndarray:
    if case == "title":
        return names
    if case == "upper":
        return np.strings.upper(names)
    if case == "lower":
        return np.strings.lower(names)
    # mixed: most records title case, some upper, a few lower
    upper = np.strings.upper(names)
    lower = np.strings.lower(names)
    return np.where(u < 0.6, names, np.where(u < 0.9, upper, lower)).astype(STR)


def typos(names: np.ndarray, more: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One (sometimes two) keyboard typos per name, never in the first letter."""
    k = len(names)
    draws = rng.random((k, 2, 3))
    out = []
    for i, name in enumerate(names.tolist()):
        for t in range(2 if more[i] else 1):
            name = _typo(name, draws[i, t])
        out.append(name)
    return np.array(out, dtype=STR)


def _typo(name: str, u: np.ndarray) -> str:
    if len(name) < 3:
        return name
    pos = 1 + int(u[1] * (len(name) - 2))
    ch = name[pos]
    op = int(u[0] * 4)
    if op == 0:  # substitute with a neighbouring key
        near = _NEIGHBOURS.get(ch.lower())
        if not near:
            return name
        new = near[int(u[2] * len(near)) % len(near)]
        return name[:pos] + (new.upper() if ch.isupper() else new) + name[pos + 1 :]
    if op == 1:  # delete
        return name[:pos] + name[pos + 1 :]
    if op == 2:  # insert (often a doubled letter)
        new = ch if u[2] < 0.5 else _LETTERS[int(u[2] * 26) % 26]
        new = new.upper() if ch.isupper() else new.lower()
        return name[:pos] + new + name[pos:]
    if pos + 1 < len(name):  # transpose
        return name[:pos] + name[pos + 1] + name[pos] + name[pos + 2 :]
    return name
