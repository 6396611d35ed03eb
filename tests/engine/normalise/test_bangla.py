"""Bangla script: repairing broken Unicode, recognising the script, transliteration."""

from __future__ import annotations

import random

import pytest

from engine.normalise import is_bangla, repair_bangla, transliterate
from engine.normalise.bangla import _repair, repaired_quickly


@pytest.mark.parametrize(
    ("broken", "clean"),
    [
        ("ম\u09c7\u09beঃ", "মোঃ"),  # ো as ে + া
        ("চ\u09c7\u09d7ধুরী", "চৌধুরী"),  # ৌ as ে + ৗ
        ("আয\u09bcেশা", "আ\u09dfেশা"),  # য + nukta
        ("বড\u09bc", "ব\u09dc"),  # ড + nukta
        ("আষা\u09dd", "আষা\u09dd"),  # already whole
        ("অ\u09beমিনুল", "আমিনুল"),  # অ + া
        ("রহ\u200dমান", "রহমান"),  # ZWJ removed
        ("মোসাম্মত্\u200d", "মোসাম্মৎ"),  # khanda ta written with ZWJ
        ("রহি\u200cমা", "রহিমা"),  # ZWNJ removed
        ("\u09c7বগম", "বেগম"),  # ে typed before its consonant
        ("\u09c7ম\u09beঃ", "মোঃ"),  # ...and ো split around it
        ("Abdul Karim", "Abdul Karim"),
    ],
)
def test_broken_bangla_is_repaired(broken: str, clean: str) -> None:
    assert repair_bangla(broken) == clean


def test_repair_is_idempotent() -> None:
    for text in ("মোঃ আনোয়ার হোসেন", "চৌধুরী", "বগুড়া"):
        assert repair_bangla(repair_bangla(text)) == repair_bangla(text)


def test_script_detection() -> None:
    assert is_bangla("মোঃ আব্দুল করিম")
    assert is_bangla("করিম Md")
    assert not is_bangla("Md. Abdul Karim")
    assert not is_bangla("১২৩")  # digits alone are not a Bangla name


@pytest.mark.parametrize(
    ("bangla", "latin"),
    [
        ("করিম", "korim"),
        ("রহমান", "rohman"),  # schwa deleted in V C _ C V
        ("নাসরিন", "nasrin"),
        ("আকবর", "akbor"),
        ("চন্দ্র", "chondro"),  # kept after a final conjunct
        ("বাসন্তী", "basonti"),  # kept before a conjunct
        ("চৌধুরী", "choudhuri"),
        ("চাঁদপুর", "chandpur"),  # chandrabindu as n
        ("রংপুর", "rongpur"),  # anusvara
        ("শ্যামল", "shyamol"),  # ya-phala
        ("বিশ্বাস", "bishwas"),  # ba-phala
        ("লক্ষ্মী", "lokshmi"),
        ("মোঃ", "mo"),  # visarga marking an abbreviation is not spoken
        ("উদ্দিন", "uddin"),
    ],
)
def test_transliteration(bangla: str, latin: str) -> None:
    assert transliterate(bangla) == latin


_NAMES = (
    "রহিমা খানম",
    "মোঃ বাবুল সরকার",
    "মোছাঃ তানিয\u09bcা পারভিন",  # য + nukta, as many keyboards write it
    "সাদিয\u09bcা নেছা",
    "মোসাম্মৎ রাবেয\u09bcা খাতুন",
    "চৌধুরী",
    "বড\u09bc ভাই",
    "ঢাকা",
    "নাই",
)
#: what mistyping, converters and copy-paste put into names
_DAMAGE = (
    "\u09bc", "\u09cd", "\u200d", "\u200c", "\u00ad", "\ufeff", "\u09be", "\u09bf", "\u09c7",
    "\u09c8", "\u09cb", "\u09cc", "\u09d7", "অ", "য", "ড", "ঢ", "\u09df", "\u09dc", "ত", "ৎ",
    " ", "  ", "\u0981", "\u0983", "a", "é", "e\u0301", "\u0301", "\u09e6", "-", ".",
)  # fmt: skip


def _damaged_names(count: int) -> list[str]:
    rng = random.Random(11)
    texts = []
    for _ in range(count):
        text = rng.choice(_NAMES)
        for _ in range(rng.randint(0, 3)):
            at, how = rng.randint(0, len(text)), rng.random()
            if how < 0.55:
                text = text[:at] + rng.choice(_DAMAGE) + text[at:]
            elif how < 0.8:
                text = text[:at] + text[at + 1 :]
            else:
                text = text[:at] + text[at + 1 : at + 2] + text[at : at + 1] + text[at + 2 :]
        texts.append(text)
    return texts


def test_a_name_repaired_quickly_is_what_the_repair_gives() -> None:
    """Most Bangla names need no repair but joining a split nukta letter; those are answered
    without the repair's every step, the same text, and every other text left to it."""
    assert repaired_quickly("মোছাঃ তানিয\u09bcা পারভিন") == "মোছাঃ তানি\u09dfা পারভিন"
    assert repaired_quickly("রহিমা খানম") == "রহিমা খানম"
    for broken in ("\u09c7বগম", "ম\u09c7\u09beঃ", "রহ\u200dমান", "রহিমা  খানম", "Rahima"):
        assert repaired_quickly(broken) is None
    texts = _damaged_names(20_000)
    quick = 0
    for text in texts:
        repaired = repaired_quickly(text)
        if repaired is not None:
            quick += 1
            assert repaired == _repair(text), ascii(text)
        assert repair_bangla(text) == _repair(text), ascii(text)
    assert quick > len(texts) // 4  # the test reaches the quick answer
