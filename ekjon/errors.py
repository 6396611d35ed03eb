"""The root of ekjon's exceptions: one ``except EkjonError`` catches every error raised on purpose.

It lives here, below every other package, because ``models`` imports no other ekjon package and
``graph`` imports neither ``engine`` nor ``api``; each package keeps its own small tree beneath it.
"""

from __future__ import annotations


class EkjonError(Exception):
    """Base of every error ekjon raises on purpose."""
