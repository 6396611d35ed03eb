"""Digits in either script: Bangla digits (০-৯, U+09E6..U+09EF) read as ASCII 0-9."""

from __future__ import annotations

import re
from typing import Final

_BANGLA_DIGITS: Final = "০১২৩৪৫৬৭৮৯"
_TO_ASCII: Final = str.maketrans({b: str(i) for i, b in enumerate(_BANGLA_DIGITS)})
_NON_DIGITS: Final = re.compile(r"[^0-9]")


def to_ascii_digits(text: str) -> str:
    """Replace every Bangla digit in ``text`` by its ASCII digit; everything else is kept.

    Example
    -------
    >>> to_ascii_digits("০১৭১১-২৩৪৫৬৭")
    '01711-234567'
    """
    # (ASCII text holds no Bangla digit; translating it cost more than the test)
    return text if text.isascii() else text.translate(_TO_ASCII)


def only_digits(text: str) -> str:
    """The ASCII digits of ``text`` (Bangla digits converted first), in order, nothing else."""
    return _NON_DIGITS.sub("", to_ascii_digits(text))
