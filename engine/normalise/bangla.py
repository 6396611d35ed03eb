"""Bangla script: repairing broken Unicode and writing names in Latin letters.

:func:`repair_bangla` undoes what input methods, ANSI (Bijoy) converters and copy-paste do to Bangla
text, so that one name has one code-point sequence:

- NFC, which recomposes split vowel signs (``ে`` + ``া`` -> ``ো``, ``ে`` + ``ৗ`` -> ``ৌ``);
- the three nukta letters precomposed (``য`` + ``়`` -> ``য়``, ``ড`` + ``়`` -> ``ড়``, ``ঢ`` +
  ``়`` -> ``ঢ়``). NFC itself *decomposes* these (they are composition exclusions); ekjon keeps the
  precomposed letters because that is what keyboards produce and what people search with;
- ``ত`` + hasanta + ZWJ (the old way of writing khanda ta) -> ``ৎ``; other zero-width joiners and
  non-joiners, zero-width spaces, soft hyphens and BOMs removed;
- ``অ`` + ``া`` -> ``আ``;
- pre-base vowel signs (``ি``, ``ে``, ``ৈ``) typed in visual order, before their consonant (a
  typical Bijoy-conversion fault: ``েবগম`` for ``বেগম``, ``েমাঃ`` for ``মোঃ``), moved after the
  consonant.

:func:`transliterate` writes a Bangla name the way the same name tends to be spelled in Latin
letters (``করিম`` -> ``korim``, ``রহমান`` -> ``rohman``, ``চৌধুরী`` -> ``choudhuri``). It is not a
scholarly transliteration: it aims to land on the same key as the English spelling once
:func:`engine.normalise.names.normalise_name` has folded the vowels (``korim`` ~ ``Karim``). The
inherent vowel is written ``o``; it is dropped at the end of a word (kept after a final conjunct:
``চন্দ্র`` -> ``chondro``) and in the context V C _ C V with single consonants (Ohala's schwa
deletion rule, scanned right to left: ``রহমান`` -> ``rohman``, ``নাসরিন`` -> ``nasrin``, ``আকবর`` ->
``akbor``). Known misses: names where Bangla keeps the vowel against the rule (``মিনতি`` ->
``minti``, English "Minati"; ``মাধবী`` -> ``madhbi``, English "Madhabi").
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import Final

HASANTA: Final = "\u09cd"
NUKTA: Final = "\u09bc"
ZWJ: Final = "\u200d"

_CONSONANTS: Final[dict[str, str]] = {
    "ক": "k",
    "খ": "kh",
    "গ": "g",
    "ঘ": "gh",
    "ঙ": "ng",
    "চ": "ch",
    "ছ": "chh",
    "জ": "j",
    "ঝ": "jh",
    "ঞ": "n",
    "ট": "t",
    "ঠ": "th",
    "ড": "d",
    "ঢ": "dh",
    "ণ": "n",
    "ত": "t",
    "থ": "th",
    "দ": "d",
    "ধ": "dh",
    "ন": "n",
    "প": "p",
    "ফ": "f",
    "ব": "b",
    "ভ": "bh",
    "ম": "m",
    "য": "j",
    "র": "r",
    "ল": "l",
    "শ": "sh",
    "ষ": "sh",
    "স": "s",
    "হ": "h",
    "\u09dc": "r",
    "\u09dd": "rh",
    "\u09df": "y",
    "ৎ": "t",
    "ৱ": "w",
    "ৰ": "r",
}
_VOWEL_SIGNS: Final[dict[str, str]] = {
    "া": "a",
    "ি": "i",
    "ী": "i",
    "ু": "u",
    "ূ": "u",
    "ৃ": "ri",
    "ৄ": "ri",
    "ে": "e",
    "ৈ": "oi",
    "ো": "o",
    "ৌ": "ou",
    "ৗ": "ou",
}
_VOWELS: Final[dict[str, str]] = {
    "অ": "o",
    "আ": "a",
    "ই": "i",
    "ঈ": "i",
    "উ": "u",
    "ঊ": "u",
    "ঋ": "ri",
    "ৠ": "ri",
    "এ": "e",
    "ঐ": "oi",
    "ও": "o",
    "ঔ": "ou",
    "ঌ": "li",
}
#: Signs that follow a syllable: anusvara, chandrabindu (nasal, written "n" as in চাঁদপুর Chandpur),
#: visarga (a trailing ঃ marks an abbreviation, as in মোঃ, and is not pronounced).
_MODIFIERS: Final[dict[str, str]] = {"ং": "ng", "ঁ": "n", "ঃ": "h"}
#: Second members of a conjunct that are written differently from the letter alone.
_PHALA: Final[dict[str, str]] = {"য": "y", "ব": "w"}
INHERENT: Final = "o"

_BANGLA_BLOCK: Final = re.compile(r"[\u0980-\u09ff]")
_BANGLA_LETTER: Final = re.compile(r"[\u0980-\u09e5\u09f0-\u09ff]")
_LATIN_LETTER: Final = re.compile(r"[A-Za-z]")
_CONSONANT_CLASS: Final = "\u0995-\u09b9\u09dc\u09dd\u09df\u09f0\u09f1"
_PRE_BASE_MISPLACED: Final = re.compile(
    rf"(^|[^{_CONSONANT_CLASS}\u09bc\u09cd])([\u09bf\u09c7\u09c8])([{_CONSONANT_CLASS}]\u09bc?(?:\u09cd[{_CONSONANT_CLASS}]\u09bc?)*)"
)
_INVISIBLE: Final = re.compile("[\u200b\u200c\u200d\u2060\ufeff\u00ad]")
_NUKTA_LETTERS: Final = (("য\u09bc", "\u09df"), ("ড\u09bc", "\u09dc"), ("ঢ\u09bc", "\u09dd"))


#: Bangla words (letters and signs, no digits) with single spaces between them
_BANGLA_WORDS: Final = re.compile("[\u0981-\u09e3]+(?: [\u0981-\u09e3]+)*").fullmatch
#: finds a pre-base vowel sign that :data:`_PRE_BASE_MISPLACED` would move (about three times
#: as fast: the search starts at the sign)
_MISPLACED_SIGN: Final = re.compile(
    rf"[\u09bf\u09c7\u09c8](?<![{_CONSONANT_CLASS}\u09bc\u09cd][\u09bf\u09c7\u09c8])[{_CONSONANT_CLASS}]"
).search


@lru_cache(maxsize=1 << 16)
def repair_bangla(text: str) -> str:
    """Bangla text in one canonical code-point form (see the module docstring for what is repaired).

    Text without Bangla letters only gets NFC and the invisible characters removed.

    Example
    -------
    >>> repair_bangla("ম\\u09c7\\u09beঃ") == "মোঃ"
    True
    """
    if text.isascii():
        return text
    repaired = repaired_quickly(text)
    return _repair(text) if repaired is None else repaired


def repaired_quickly(text: str) -> str | None:
    """:func:`repair_bangla` of Bangla words (letters and signs, no digits, one space between
    words) whose only fault, if any, is a nukta letter written split (``য`` + ``়``), which most
    names are: the same text without the repair's every step; ``None`` for any other text.

    Such text in canonical form is its own repair: nothing invisible, no ``অ`` + ``া``, no
    pre-base vowel sign before its consonant, and in NFC but for the nukta letters (NFC splits
    them; the repair joins them again): with no nukta left, the only other marks NFC would
    change in these letters and signs are ``ে`` + ``া`` and ``ে`` + ``ৗ`` (it writes ``ো`` and
    ``ৌ``). Its split nukta letters joined, text is canonically equivalent to what it was, and
    the repair reads text through its canonical decomposition.

    Example
    -------
    >>> repaired_quickly("নাজমা বেগম"), repaired_quickly("েবগম"), repaired_quickly("Begum")
    ('নাজমা বেগম', None, None)
    """
    if _BANGLA_WORDS(text) is None:
        return None
    if NUKTA in text:
        for split, whole in _NUKTA_LETTERS:
            text = text.replace(split, whole)
        if NUKTA in text:
            return None
    if (
        "অ\u09be" in text
        or "\u09c7\u09be" in text
        or "\u09c7\u09d7" in text
        or _MISPLACED_SIGN(text) is not None
    ):
        return None
    return text


def _repair(text: str) -> str:
    text = text.replace("ত" + HASANTA + ZWJ, "ৎ")
    text = _INVISIBLE.sub("", text)
    if not _BANGLA_BLOCK.search(text):
        return unicodedata.normalize("NFC", text)
    text = unicodedata.normalize("NFD", text)
    for split, whole in _NUKTA_LETTERS:
        text = text.replace(split, whole)
    text = text.replace("অ\u09be", "আ")
    text = _PRE_BASE_MISPLACED.sub(r"\1\3\2", text)
    text = unicodedata.normalize("NFC", text)
    for split, whole in _NUKTA_LETTERS:  # NFC decomposes them again
        text = text.replace(split, whole)
    return text


def is_bangla(text: str) -> bool:
    """Whether ``text`` is mainly in Bangla script (more Bangla than Latin letters, at least one;
    digits do not count)."""
    bangla = len(_BANGLA_LETTER.findall(text))
    return bangla > 0 and bangla >= len(_LATIN_LETTER.findall(text))


class _Syllable:
    """One written syllable: a consonant cluster (possibly empty) and its vowel."""

    __slots__ = ("consonants", "vowel", "coda", "killed")

    def __init__(self, consonants: list[str], vowel: str | None) -> None:
        self.consonants = consonants
        #: the vowel written (Latin); None = inherent vowel, still to be decided
        self.vowel = vowel
        #: anusvara / chandrabindu / visarga after the vowel
        self.coda = ""
        #: hasanta at the end: no vowel at all
        self.killed = False


def _syllables(word: str) -> list[_Syllable]:
    syllables: list[_Syllable] = []
    i, n = 0, len(word)
    while i < n:
        ch = word[i]
        if ch in _CONSONANTS:
            cluster = [ch]
            i += 1
            while i + 1 < n and word[i] == HASANTA and word[i + 1] in _CONSONANTS:
                cluster.append(word[i + 1])
                i += 2
            syl = _Syllable(cluster, None)
            if ch == "ৎ":
                syl.killed = True
            if i < n and word[i] in _VOWEL_SIGNS:
                syl.vowel = _VOWEL_SIGNS[word[i]]
                i += 1
            elif i < n and word[i] == HASANTA:
                syl.killed = True
                i += 1
            syllables.append(syl)
        elif ch in _VOWELS:
            syllables.append(_Syllable([], _VOWELS[ch]))
            i += 1
        elif ch in _MODIFIERS:
            if syllables:
                syllables[-1].coda += ch
            i += 1
        elif ch in _VOWEL_SIGNS:  # a vowel sign with no consonant: read it as the vowel
            syllables.append(_Syllable([], _VOWEL_SIGNS[ch]))
            i += 1
        else:  # nukta on its own, digits, marks we do not read
            i += 1
    return syllables


def _resolve_inherent(syllables: list[_Syllable]) -> None:
    """Decide, right to left, which inherent vowels are spoken (Ohala's rule; module docstring)."""
    last = len(syllables) - 1
    for i in range(last, -1, -1):
        syl = syllables[i]
        if syl.vowel is not None or not syl.consonants:
            continue
        if syl.killed:
            syl.vowel = ""
            continue
        if syl.coda.strip("ঃ"):  # a nasal coda carries the vowel: রং rong, চাঁদ is explicit anyway
            syl.vowel = INHERENT
            continue
        if i == 0:
            syl.vowel = INHERENT
            continue
        if i == last:
            syl.vowel = INHERENT if len(syl.consonants) > 1 else ""
            continue
        nxt = syllables[i + 1]
        prev = syllables[i - 1]
        # the next syllable must start with one consonant: deleting before a conjunct would stack
        # three
        # consonants (বাসন্তী is basonti, not basnti)
        next_voiced = len(nxt.consonants) == 1 and bool(nxt.vowel)
        prev_voiced = prev.vowel is None or bool(prev.vowel)
        if len(syl.consonants) == 1 and next_voiced and prev_voiced:
            syl.vowel = ""
        else:
            syl.vowel = INHERENT


def _cluster_latin(cluster: list[str], word_initial: bool) -> str:
    out: list[str] = []
    j = 0
    while j < len(cluster):
        ch = cluster[j]
        nxt = cluster[j + 1] if j + 1 < len(cluster) else None
        if ch == "ক" and nxt == "ষ":
            out.append("kh" if word_initial and j == 0 else "ksh")
            j += 2
            continue
        if ch == "জ" and nxt == "ঞ":
            out.append("gy")
            j += 2
            continue
        if j > 0 and ch in _PHALA:
            prev = cluster[j - 1]
            out.append("b" if ch == "ব" and prev in ("ম", "ব") else _PHALA[ch])
        else:
            out.append(_CONSONANTS[ch])
        j += 1
    return "".join(out)


@lru_cache(maxsize=1 << 16)
def transliterate_word(word: str) -> str:
    """One Bangla word in Latin letters (lower case); see :func:`transliterate`."""
    syllables = _syllables(word)
    _resolve_inherent(syllables)
    out: list[str] = []
    for k, syl in enumerate(syllables):
        if syl.consonants:
            out.append(_cluster_latin(syl.consonants, k == 0))
        out.append(syl.vowel or "")
        for mark in syl.coda:
            if mark == "ঃ" and k == len(syllables) - 1:
                continue  # abbreviation mark (মোঃ, ডাঃ), not spoken
            out.append(_MODIFIERS[mark])
    return "".join(out)


_WORD: Final = re.compile(r"[\u0980-\u09ff]+")


@lru_cache(maxsize=1 << 16)
def transliterate(text: str) -> str:
    """Bangla text written in lower-case Latin letters the way names are usually spelled in English.

    Non-Bangla characters are kept as they are (lower-cased). Text is repaired first.

    Example
    -------
    >>> transliterate("আব্দুল করিম")
    'abdul korim'
    """
    text = repair_bangla(text)
    return _WORD.sub(lambda m: transliterate_word(m.group(0)), text).lower()
