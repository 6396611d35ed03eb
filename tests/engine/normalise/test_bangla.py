"""Bangla script: repairing broken Unicode, recognising the script, transliteration."""

from __future__ import annotations

import pytest

from engine.normalise import is_bangla, repair_bangla, transliterate


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
