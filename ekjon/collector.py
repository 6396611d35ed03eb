"""Pausing Python's cycle collector while millions of small objects are made.

Loading a graph's tables, publishing a resolve and answering a whole-graph question each allocate
millions of small objects while millions more (the records, a graph in memory) are alive. Every
full pass of the cyclic garbage collector then walks all of them again: at a million persons that
made snapshot loads about twice as slow, publishes about a third slower and the findings two to
three times slower. None of that work makes cycles that must be freed meanwhile.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["cycle_collection_paused"]


@contextmanager
def cycle_collection_paused() -> Iterator[None]:
    """Pause the cycle collector inside the ``with`` block (or a function it decorates); it is
    switched back on afterwards if it was on, and left off if it was off.

    Example
    -------
    >>> import gc
    >>> with cycle_collection_paused():
    ...     gc.isenabled()
    False
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
