"""Personal data at rest and in messages: the home readable by its owner only, and identifiers
masked in what ekjon says.

- :func:`private_files` sets the process's umask so every folder ekjon creates is 0700 and every
  file 0600, whatever the caller's umask; :func:`tighten` closes up a home made before (or by
  hand) with looser modes. The edges (``ekjon``, ``ekjon serve``) call both at start.
- :func:`mask_value` and :func:`mask_text` hide all but the last 3 digits of NIDs, birth
  registration numbers, phones and wallets; log lines, warnings and error messages pass through
  :func:`mask_text` unless the operator asked to see values (:func:`show_values`). Ingest reports
  keep raw values on purpose (their use is correcting the source) and are private files.

Masking in text works on runs of 10 to 17 digits that do not follow a letter or digit: a NID (10,
13, 17 digits), a phone (11), a wallet (11, 12), a record key of a registry keyed by one
(``ec_nid/1990123456789``), a node key (``Phone:01711000001``). Dates, amounts and codes such as
``BD50388175900002`` are shorter or follow a letter, and stay.
"""

from __future__ import annotations

import logging
import os
import re
import stat
import sys
import traceback
from pathlib import Path
from typing import Any, Final

__all__ = [
    "FILE_MODE",
    "FOLDER_MODE",
    "mask_log_records",
    "mask_text",
    "masked_traceback",
    "mask_value",
    "private_files",
    "show_values",
    "shown",
    "tighten",
    "values_shown",
]

FOLDER_MODE: Final = 0o700
FILE_MODE: Final = 0o600
#: Digits kept at the end of a masked identifier.
SHOWN: Final = 3
_IDENTIFIER_RUN: Final = re.compile(r"(?<![^\W_])\d{10,17}(?!\d)")
_show = False


def mask_value(value: Any) -> Any:
    """``"1990123456789"`` -> ``"**********789"``: every character but the last 3 hidden (a
    wallet ``provider:number`` or a node key ``Label:id`` keeps its prefix). Missing values stay
    missing.

    Example
    -------
    >>> mask_value("01711000001"), mask_value("bkash:01711000001")
    ('********001', 'bkash:********001')
    """
    if value is None:
        return None
    text = str(value)
    label, sep, rest = text.partition(":")
    if sep and label.isalpha():
        return f"{label}:{mask_value(rest)}"
    if len(text) <= SHOWN:
        return "*" * len(text)
    return "*" * (len(text) - SHOWN) + text[-SHOWN:]


def mask_text(text: str) -> str:
    """Every identifier-length run of digits in ``text`` masked (see the module docstring).

    Example
    -------
    >>> mask_text("row 12: nid '19901234567890123' is not a NID (17 digits, bad year)")
    "row 12: nid '**************123' is not a NID (17 digits, bad year)"
    """
    return _IDENTIFIER_RUN.sub(lambda m: mask_value(m.group()), text)


def show_values(show: bool = True) -> None:
    """Let messages carry identifiers in full from now on (``--show-values``: for the operator)."""
    global _show
    _show = show


def values_shown() -> bool:
    """Whether messages carry identifiers in full (:func:`show_values`)."""
    return _show


def shown(text: str) -> str:
    """``text`` as a message may say it: masked unless values are shown."""
    return text if _show else mask_text(text)


def mask_log_records() -> None:
    """Mask identifiers in every log record this process makes from now on, whichever logger and
    handler it goes to (unless values are shown). Idempotent."""
    factory = logging.getLogRecordFactory()
    if getattr(factory, "_ekjon_masking", False):
        return

    def masked_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = factory(*args, **kwargs)
        if not _show:
            message = record.getMessage()
            masked = mask_text(message)
            if masked != message:
                record.msg, record.args = masked, None
        return record

    masked_record._ekjon_masking = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(masked_record)


def masked_traceback(kind: type[BaseException], error: BaseException, tb: Any) -> None:
    """A ``sys.excepthook`` that prints the traceback with identifiers masked."""
    text = "".join(traceback.format_exception(kind, error, tb))
    sys.stderr.write(shown(text))


def private_files() -> int:
    """Make every file this process creates from now on private: umask 077 (folders 0700, files
    0600). Returns the umask it replaced."""
    return os.umask(0o077)


def tighten(root: Path) -> list[Path]:
    """Close up ``root`` and everything in it to its owner alone (folders 0700, files 0600: the
    group's and others' bits cleared); the paths whose modes changed (none when it was private
    already or does not exist).

    Symbolic links are not followed (what they point at is not ekjon's); the Neo4j server's
    files are tightened like the rest.
    """
    changed: list[Path] = []
    if not root.exists():
        return changed
    for path in [root, *root.rglob("*")]:
        try:
            info = path.lstat()
        except FileNotFoundError:  # gone meanwhile (a store's temporary file)
            continue
        if stat.S_ISLNK(info.st_mode):
            continue
        mode = stat.S_IMODE(info.st_mode)
        if mode & 0o077:  # the group's or others' bits: gone, the owner's kept
            os.chmod(path, mode & ~0o077)
            changed.append(path)
    return changed
