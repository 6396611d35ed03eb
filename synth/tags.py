"""What was done to a record on purpose: bit flags, written to ``truth/records.csv`` as names."""

from __future__ import annotations

import enum

import numpy as np
from numpy.dtypes import StringDType


class Tag(enum.IntFlag):
    """One planted variation or hard case on a source record."""

    NAME_SPELLING = enum.auto()  # a romanisation / Bangla spelling variant of a token
    NAME_TYPO = enum.auto()
    NAME_ORDER = enum.auto()  # last token moved to the front
    PREFIX_DROPPED = enum.auto()
    PREFIX_ADDED = enum.auto()
    BN_UNICODE = enum.auto()  # non-NFC Bangla (precomposed YYA, split O sign)
    DOB_DEFAULTED = enum.auto()  # this source wrote 1 January / 31 January instead of the real date
    DOB_DAY_MONTH_SWAP = enum.auto()
    DOB_YEAR_SHIFT = enum.auto()  # birth year moved 1-3 years (e.g. to qualify for an allowance)
    DOB_MISSING = enum.auto()
    NID_17 = enum.auto()
    NID_13 = enum.auto()
    NID_10 = enum.auto()
    NID_TYPO = enum.auto()  # one digit wrong
    NID_MISSING = enum.auto()
    BANGLA_DIGITS = enum.auto()  # some digits written ০-৯
    PHONE_MISSING = enum.auto()
    PHONE_OF_HOUSEHOLD = enum.auto()  # the phone belongs to another member of the household
    WALLET_OF_HOUSEHOLD = (
        enum.auto()
    )  # the payment wallet belongs to another member of the household
    AGENT_WALLET = enum.auto()  # paid into an agent's wallet (fraud)
    PHONE_FARM = enum.auto()  # a phone shared by many unrelated beneficiaries (fraud)
    GHOST_DUPLICATE = enum.auto()  # the second record of a person enrolled twice in one programme
    AGE_HEAPED = enum.auto()  # an age reported rounded to a multiple of 5
    INVALID_PHONE = enum.auto()  # a value ingest must flag invalid
    INVALID_DATE = enum.auto()
    INVALID_NID = enum.auto()


_STR = StringDType()


def tag_text(tags: np.ndarray) -> np.ndarray:
    """``;``-joined lower-case tag names per record ("" for none)."""
    combos, inverse = np.unique(tags, return_inverse=True)
    names = [";".join(str(t.name).lower() for t in Tag if int(c) & int(t)) for c in combos.tolist()]
    return (
        np.array(names, dtype=_STR)[inverse.reshape(-1)] if len(tags) else np.array([], dtype=_STR)
    )


def tag_counts(tags: np.ndarray) -> dict[str, int]:
    """How many records carry each tag (tags that occur only)."""
    counts = {}
    for tag in Tag:
        c = int(((tags & int(tag)) != 0).sum())
        if c:
            counts[str(tag.name).lower()] = c
    return counts
