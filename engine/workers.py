"""Forked worker processes: the one rule that they die with the process that forked them.

``ekjon resolve`` and ``ekjon ingest`` fork helpers (scoring and name-normalising pools, the
background writer, the file reader). Killed mid-run, even by SIGKILL, the command must leave no
helper behind: an orphan would go on holding the home's lock it inherited with the fork, or writing
outputs nobody reads, or (a pool worker waiting for work) wait forever.
"""

from __future__ import annotations

import os
import signal


def die_with_parent(parent: int | None = None) -> None:
    """In a forked worker: be killed when the process that forked it (``parent``, default the
    current parent) dies (Linux; elsewhere nothing). Give the parent's pid, taken before the fork,
    where the parent may already be gone when this runs (a pool's ``initargs``)."""
    parent = os.getppid() if parent is None else parent
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux
        return
    if os.getppid() != parent:  # the parent died before the signal was asked for
        os._exit(1)
