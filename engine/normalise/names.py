"""Names in either script reduced to one Latin spelling, so "মোঃ আব্দুল করিম" meets "Md. Abdul Karim".

:func:`normalise_name` does, in order:

1. repair Bangla Unicode (:func:`engine.normalise.bangla.repair_bangla`) and split the name into
   words on spaces and punctuation (``Md.Abdul`` is two words);
2. drop honorifics: ``Md``/``Md.``/``MD``, ``Mohd``, ``Mst``/``Most``, ``Mosammat`` and its
   spellings, ``Mr``/``Mrs``/``Ms``, ``Late``, ``Alhaj``, ``Haji``, ``Sri``/``Srimati``, ``Dr``,
   ``Janab``, and in Bangla ``মোঃ``, ``মোছাঃ``, ``মোসাম্মৎ``, ``শ্রী``, ``শ্রীমতী``, ``মৃত``,
   ``মরহুম`` ... anywhere in the name; ``Mohammad`` / ``Muhammad`` / ``Mohammed`` / ``মোহাম্মদ`` and
   their spellings only as the *first* word of a longer name (``Noor Mohammad`` keeps it);
   ``Sheikh`` / ``Sk`` / ``শেখ`` is kept: it is a lineage name that is part of many names, not a
   title; it is spelled ``sheikh`` whatever the source wrote;
3. write Bangla words in Latin letters (:func:`engine.normalise.bangla.transliterate_word`) and
   strip accents from Latin ones;
4. re-join or split the pieces names are written in: ``Nur-ul Amin`` -> ``nurul amin``,
   ``Abdurrahman`` -> ``abdul rahman``, ``Nasiruddin`` -> ``nasir uddin``, ``Ud Din`` -> ``uddin``,
   ``Kamrunnahar`` -> ``kamrun nahar``;
5. fold each word's spelling (:func:`fold_token`) and show it in the canonical spelling of
   ``data/name_variants.csv`` when the fold is one of those (``Hossen`` -> ``hossain``, ``Begom`` ->
   ``begum``), else as the fold itself.

The fold (:func:`fold_token`) is a consonant skeleton with two vowel classes, built for Bangladeshi
romanisation: an explicit variant table first (``Abdur``/``Abdus`` -> ``abdul``, ``Bagum`` ->
``begum``, ``Ahmed`` -> ``ahmad``), then ``q``/``que`` -> ``k``, ``x`` -> ``ks``, ``c`` -> ``k``
(``ch`` stays), ``ph`` -> ``f``, ``v`` -> ``b``, ``ngk`` -> ``nk``, ``z`` -> ``j``, ``chh`` (Bangla
ছ) -> ``s``, word-final ``-er`` -> ``-ar`` (Sarker, Akter, Halder), word-final ``-pad`` -> ``-pada``
(Haripada), ``h`` after a consonant other than ``c`` and at the end of a word dropped (``kh``,
``sh``, ``dh``; ``Miah``), ``w`` read as a vowel (``Anwar`` ~ ``Anowar``), an unwritten vowel after
``Vh`` dropped (``Rahaman`` -> ``rahman``, ``Johora`` ~ ``জোহরা``), double letters single,
vowels in two classes ``a`` (a, o, u) and ``i`` (e, i, y), and a run of vowels written as its last
one (``Hossain`` ~ ``Hossen``, ``Foysal`` ~ ``Faisal``). The fold is idempotent, so a normalised
name normalises to itself. Folding is many-to-one on purpose: ``Rana`` and ``Runa`` fold together;
the comparator decides with other fields.

:func:`phonetic_key` is the blocking key: the fold of the first *given* name word (skipping
``abdul``, ``abu``, ``golam``, ``sheikh``, ``syed``, ``kazi``, ``mir`` and initials) with its vowels
removed except a leading one (``Md. Abdul Karim`` and ``মোঃ আব্দুল করিম`` -> ``krm``).
"""

from __future__ import annotations

import csv
import logging
import re
import unicodedata
from functools import lru_cache
from typing import Final

from engine.normalise.bangla import repair_bangla, transliterate_word
from engine.normalise.data import DATA_DIR

log = logging.getLogger(__name__)

_SPLIT: Final = re.compile(
    r"[\s.,;:()\[\]{}\-/\\'\"`_|&+*!?#@$%^=~<>।॥0-9\u09e6-\u09ef\u2018\u2019\u201c\u201d]+"
)
_BANGLA: Final = re.compile(r"[\u0980-\u09ff]")
_NOT_LATIN: Final = re.compile(r"[^a-z]+")
_NOT_BANGLA: Final = re.compile(r"[^\u0980-\u09ff]+")
#: Bangla abbreviations glued to the next word without a space (মোঃআব্দুল).
_GLUED_BANGLA: Final = re.compile("^(মোঃ|মোছাঃ|মোসাঃ|মোহাঃ|মুহাঃ|ডাঃ|মিঃ)(?=.)")

MALE, FEMALE = "male", "female"

#: Honorifics dropped wherever they stand -> the gender they imply (None: none).
_HONORIFICS: Final[dict[str, str | None]] = {
    "md": MALE,
    "mohd": MALE,
    "mr": MALE,
    "mister": MALE,
    "janab": MALE,
    "alhaj": MALE,
    "alhajj": MALE,
    "alhaz": MALE,
    "alhaji": MALE,
    "haji": MALE,
    "hazi": MALE,
    "marhum": MALE,
    "sri": MALE,
    "shri": MALE,
    "sree": MALE,
    "shree": MALE,
    "sriman": MALE,
    "mst": FEMALE,
    "most": FEMALE,
    "mosammat": FEMALE,
    "mossamat": FEMALE,
    "mosamat": FEMALE,
    "mossammat": FEMALE,
    "musammat": FEMALE,
    "mosammot": FEMALE,
    "mosammet": FEMALE,
    "mosst": FEMALE,
    "mrs": FEMALE,
    "ms": FEMALE,
    "miss": FEMALE,
    "marhuma": FEMALE,
    "srimati": FEMALE,
    "shrimati": FEMALE,
    "srimoti": FEMALE,
    "shrimoti": FEMALE,
    "smt": FEMALE,
    "sreemati": FEMALE,
    "late": None,
    "lt": None,
    "dr": None,
    "prof": None,
    "professor": None,
    "engr": None,
    # Bangla (compared after repair_bangla)
    "মোঃ": MALE,
    "মো": MALE,
    "মোহাঃ": MALE,
    "মুহাঃ": MALE,
    "জনাব": MALE,
    "আলহাজ্ব": MALE,
    "আলহাজ": MALE,
    "আলহাজ্জ": MALE,
    "হাজী": MALE,
    "মরহুম": MALE,
    "শ্রী": MALE,
    "মিঃ": MALE,
    "মিস্টার": MALE,
    "মোছাঃ": FEMALE,
    "মোসাঃ": FEMALE,
    "মোছা": FEMALE,
    "মোসা": FEMALE,
    "মোসাম্মৎ": FEMALE,
    "মোছাম্মৎ": FEMALE,
    "মোসাম্মাৎ": FEMALE,
    "মোছাম্মাৎ": FEMALE,
    "মোসাম্মত": FEMALE,
    "মোছাম্মত": FEMALE,
    "মোসাম্মাত": FEMALE,
    "মোছাম্মাত": FEMALE,
    "মুসাম্মৎ": FEMALE,
    "মুছাম্মৎ": FEMALE,
    "শ্রীমতি": FEMALE,
    "শ্রীমতী": FEMALE,
    "মিসেস": FEMALE,
    "মরহুমা": FEMALE,
    "মৃত": None,
    "মৃতঃ": None,
    "স্বর্গীয়": None,
    "ডাঃ": None,
    "ডা": None,
    "ডক্টর": None,
    "প্রফেসর": None,
}

#: Dropped only as the first word of a name with more words: they are also given names.
_LEADING_HONORIFICS: Final[dict[str, str]] = {
    **dict.fromkeys(
        (
            "mohammad",
            "mohammed",
            "muhammad",
            "muhammed",
            "mohamed",
            "mohamad",
            "mohammod",
            "muhammod",
            "mahammad",
            "mohummad",
            "muhamad",
            "mohammd",
            "mohmmad",
            "mohamod",
        ),
        MALE,
    ),
    **dict.fromkeys(("মোহাম্মদ", "মুহাম্মদ", "মোহাম্মাদ", "মুহাম্মাদ", "মুহম্মদ", "মোহম্মদ", "মোহাম্মেদ"), MALE),
}

_HONORIFIC_TABLE: Final = {repair_bangla(k): v for k, v in _HONORIFICS.items()}
_LEADING_TABLE: Final = {repair_bangla(k): v for k, v in _LEADING_HONORIFICS.items()}

#: Particles that belong to the word before them (Nur-ul Amin, Shams ud Doha).
_JOINERS: Final = frozenset({"ul", "ur", "us", "un", "uz", "ud", "ush"})
_ABDUL: Final = re.compile(r"^abd[uoae]?([lrsnz])(?P<rest>\1?[a-z]{3,})$")
_UDDIN: Final = re.compile(r"^(?P<pre>[a-z]{3,}?)(?P<suf>ud+(?:i|ee|e)n|ud+im)$")
_NAHAR: Final = re.compile(
    r"^(?P<pre>[a-z]{2,}?un)(?P<suf>nahar|nehar|nesa|nessa|nisa|nisha|nesha|necha|nechha)$"
)

#: First words that say little about who someone is; the blocking key skips them.
_WEAK_FIRST: Final = frozenset(
    {"abdul", "abu", "golam", "sheikh", "syed", "kazi", "mir", "khandaker", "sayed"}
)


def _load_variants() -> tuple[dict[str, str], list[str]]:
    variants: dict[str, str] = {}
    canonical: list[str] = []
    with open(DATA_DIR / "name_variants.csv", encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(row for row in handle if not row.startswith("#")):
            name = row["canonical"].strip().lower()
            canonical.append(name)
            for variant in row["variants"].split("|"):
                variant = variant.strip().lower()
                if variant:
                    variants[variant] = name
    return variants, canonical


_VARIANTS, _CANONICAL = _load_variants()

_FOLD_STEPS: Final[tuple[tuple[re.Pattern[str], str], ...]] = tuple(
    (re.compile(pattern), replacement)
    for pattern, replacement in (
        (r"que$", "k"),
        (r"qu(?=[aeiouy])", "k"),
        (r"q", "k"),
        (r"x", "ks"),
        (r"ck", "k"),
        (r"ph", "f"),
        (r"v", "b"),
        (r"z", "j"),
        (r"chh", "s"),  # Bangla ছ, mostly the s of Arabic names (ছালাম Salam, মোছাম্মৎ)
        (r"c(?!h)", "k"),
        (r"([^aeiouy])er$", r"\1ar"),
        (r"p[ao]d$", "pada"),  # Haripada, Kalipada: Bangla drops the final vowel English keeps
        (r"([bdfgjklmnprstvz])h", r"\1"),  # kh, gh, sh, th, dh, bh ... ("ch" stays: c alone is k)
        (r"([aeiouyw])h$", r"\1"),
        (r"w", "o"),
        (r"ngk", "nk"),  # ঙ্ক / ংক: Dipankar, Sankar
        (r"(.)\1+", r"\1"),
        (r"([aeiouy])h[aou](?=[^aeiouyh][aeiouy])", r"\1h"),  # Rahaman ~ Rahman, Johora ~ Johra
        (r"[aou]", "a"),
        (r"[eiy]", "i"),
        (r"[ai]*([ai])", r"\1"),
    )
)


#: Canonical names whose fold is the name itself, so that the generic fold cannot merge them with a
#: different name (``Mohammad`` would otherwise fold like ``Mahmud``). Folds never contain ``o``,
#: ``u``,
#: ``e`` or double letters, so these keys cannot meet a generic fold.
_PINNED: Final = frozenset({"mohammad"})


def _fold_once(text: str) -> str:
    for pattern, replacement in _FOLD_STEPS:
        text = pattern.sub(replacement, text)
    return text


@lru_cache(maxsize=1 << 17)
def fold_token(token: str) -> str:
    """One lower-case Latin word folded to its spelling class (see the module docstring).

    The fold is idempotent: ``fold_token(fold_token(w)) == fold_token(w)``.

    Example
    -------
    >>> fold_token("hossain") == fold_token("hossen") == fold_token("hussain")
    True
    """
    text = _VARIANTS.get(token, token)
    if text in _PINNED:
        return text
    for _ in range(
        4
    ):  # a step can open a new match for an earlier one (rare); run to a fixed point
        folded = _fold_once(text)
        if folded == text:
            break
        text = folded
    return text


def _display_table() -> dict[str, str]:
    table: dict[str, str] = {}
    for name in _CANONICAL:
        key = fold_token(name)
        if key in table and table[key] != name:
            log.debug(
                "name spellings %r and %r fold together; showing %r", table[key], name, table[key]
            )
        table.setdefault(key, name)
    return table


_DISPLAY: Final = _display_table()
_WEAK_FOLDS: Final = frozenset(fold_token(w) for w in _WEAK_FIRST)
_VOWEL_CLASSES: Final = re.compile("[ai]")


@lru_cache(maxsize=1 << 17)
def canonical_token(token: str) -> str:
    """A lower-case Latin word in its canonical spelling (``hossen`` -> ``hossain``; unknown words:
    the fold)."""
    key = fold_token(token)
    return _DISPLAY.get(key, key)


@lru_cache(maxsize=1 << 16)
def _latin_word(word: str) -> str:
    if _BANGLA.search(word):
        return transliterate_word(_NOT_BANGLA.sub("", word))
    text = unicodedata.normalize("NFKD", word.lower())
    return _NOT_LATIN.sub("", "".join(c for c in text if not unicodedata.combining(c)))


def _words(raw: str) -> list[str]:
    """The words of a name, repaired; a glued Bangla abbreviation is its own word."""
    words: list[str] = []
    for word in _SPLIT.split(repair_bangla(raw)):
        if not word:
            continue
        glued = _GLUED_BANGLA.match(word)
        if glued:
            words.extend((glued.group(1), word[glued.end() :]))
        else:
            words.append(word)
    return words


def _honorific(word: str, latin: str) -> tuple[bool, str | None, bool]:
    """(is an honorific, the gender it implies, dropped only when leading)."""
    for key in (word, latin):
        if key in _HONORIFIC_TABLE:
            return True, _HONORIFIC_TABLE[key], False
    for key in (word, latin):
        if key in _LEADING_TABLE:
            return True, _LEADING_TABLE[key], True
    return False, None, False


@lru_cache(maxsize=1 << 18)
def _analyse(raw: str) -> tuple[tuple[str, ...], str | None]:
    """(the Latin words without honorifics, the gender the first gendered honorific implies)."""
    words = _words(raw)
    gender: str | None = None
    latin_words: list[str] = []
    leading = True
    for i, word in enumerate(words):
        latin = _latin_word(word)
        is_honorific, implied, leading_only = _honorific(word, latin)
        if is_honorific and (not leading_only or (leading and i < len(words) - 1)):
            gender = gender or implied
            continue
        leading = False
        if latin:
            latin_words.append(latin)
    return tuple(_reshape(latin_words)), gender


def _reshape(words: list[str]) -> list[str]:
    """Join particles to their word and split compounds (see step 4 of the module docstring)."""
    out: list[str] = []
    i = 0
    while i < len(words):
        word = words[i]
        nxt = words[i + 1] if i + 1 < len(words) else None
        if word == "ud" and nxt in ("din", "deen", "doula", "daula", "doulah"):
            out.append("ud" + nxt)
            i += 2
            continue
        if word in _JOINERS and out:
            out[-1] += word
        else:
            out.extend(_split_compound(word))
        i += 1
    return out


@lru_cache(maxsize=1 << 16)
def _split_compound(word: str) -> tuple[str, ...]:
    """One word as the words it is made of: ``abdurrahman`` -> (abdul, rahman), ``nasiruddin``..."""
    match = _ABDUL.match(word)
    if match and match.group("rest") not in ("lah", "llah"):
        return ("abdul", match.group("rest"))
    match = _UDDIN.match(word) or _NAHAR.match(word)
    if match:
        return (match.group("pre"), match.group("suf"))
    return (word,)


@lru_cache(maxsize=1 << 18)
def _normalised_tokens(raw: str) -> tuple[str, ...]:
    words, _ = _analyse(raw)
    return tuple(t for t in (canonical_token(w) for w in words) if t)


def _as_name(raw: object) -> str:
    if raw is None or (isinstance(raw, float) and raw != raw):
        return ""
    return raw if isinstance(raw, str) else str(raw)


def normalise_name(raw: str) -> str:
    """A name in either script as lower-case Latin words in their canonical spelling, one space
    apart.

    Returns ``""`` when nothing but honorifics and punctuation is left.

    Example
    -------
    >>> normalise_name("মোঃ আব্দুল করিম") == normalise_name("Md. Abdul Karim") == "abdul karim"
    True
    """
    return " ".join(_normalised_tokens(_as_name(raw)))


def name_tokens(raw: str) -> list[str]:
    """The words of :func:`normalise_name` as a list."""
    return list(_normalised_tokens(_as_name(raw)))


@lru_cache(maxsize=1 << 18)
def phonetic_key(raw: str) -> str:
    """The blocking key: the consonant skeleton of the first given-name word (see the module
    docstring).

    The same for both scripts and all romanisations the fold covers; ``""`` for an empty name.

    Example
    -------
    >>> phonetic_key("Mst. Rahima Khatun") == phonetic_key("রহিমা বেগম") == "rhm"
    True
    """
    folds = [f for f in (fold_token(w) for w in _analyse(_as_name(raw))[0]) if f]
    if not folds:
        return ""
    given = next((f for f in folds if len(f) > 1 and f not in _WEAK_FOLDS), folds[0])
    return given[0] + _VOWEL_CLASSES.sub("", given[1:])


def honorific_gender(raw: str) -> str | None:
    """``"male"`` for Md./Mohammad/মোঃ/Sri, ``"female"`` for Mst./Mosammat/মোছাঃ/Srimati, else
    ``None``."""
    return _analyse(_as_name(raw))[1]
