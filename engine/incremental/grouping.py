"""Group commit: work that callers on many threads hand in one item at a time, done in groups.

A caller that hands in an item while no group is being worked on does its own group at once (a
group of one: no waiting). Items handed in while a group is being worked on wait, and the first
of their callers to find the work free does them all as the next group, in the order they came.
Each caller gets its own item's result (or error) once its group is done. The API's storing
``/v1/resolve`` publishes the records kept meanwhile this way: one publish of many records costs
little more than one of one record (:func:`engine.incremental.register.publish_registered`).

Example
-------
>>> publishes = GroupCommit(lambda items: [f"published {i}" for i in items])
>>> publishes.submit("dss/1")
'published dss/1'
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

__all__ = ["GroupCommit"]

T = TypeVar("T")
R = TypeVar("R")

_PENDING = object()


class _Slot(Generic[T]):
    __slots__ = ("item", "result", "error")

    def __init__(self, item: T) -> None:
        self.item = item
        self.result: object = _PENDING
        self.error: BaseException | None = None


class GroupCommit(Generic[T, R]):
    """Items handed in by many threads, done in groups by ``work``.

    Parameters
    ----------
    work:
        Does one group: takes the items in the order they came and returns, per item, its result
        or the exception to raise in its caller. An exception ``work`` itself raises is raised in
        every caller of the group.

    Attributes
    ----------
    groups:
        Groups done so far; ``largest``: the most items one held.
    """

    def __init__(self, work: Callable[[list[T]], Sequence[R | BaseException]]) -> None:
        self._work = work
        self._turn = threading.Condition(threading.Lock())
        self._waiting: list[_Slot[T]] = []
        self._busy = False
        self.groups = 0
        self.largest = 0

    @property
    def waiting(self) -> int:
        """Items handed in and waiting for a group (not those of the group being done)."""
        with self._turn:
            return len(self._waiting)

    def submit(self, item: T, wait: float | None = None) -> R:
        """Hand in ``item``; return its result once its group is done (or raise its error).

        Raises
        ------
        TimeoutError
            If ``wait`` seconds pass before a group takes the item (it is then withdrawn, not
            done).
        """
        slot = _Slot(item)
        group: list[_Slot[T]] = []
        deadline = None if wait is None else time.monotonic() + wait
        with self._turn:
            self._waiting.append(slot)
            while self._busy and slot.result is _PENDING:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0 and slot in self._waiting:
                    self._waiting.remove(slot)
                    raise TimeoutError(f"No group took the item within {wait:g} seconds.")
                self._turn.wait(left if left is None or left > 0 else None)
            if slot.result is _PENDING:  # the work is free and this item not yet done: do a group
                self._busy = True
                group, self._waiting = self._waiting, []
        if group:
            self._do(group)
        if slot.error is not None:
            raise slot.error
        return slot.result  # type: ignore[return-value]

    def _do(self, group: list[_Slot[T]]) -> None:
        try:
            results: Sequence[R | BaseException] = self._work([s.item for s in group])
            if len(results) != len(group):
                raise RuntimeError(
                    f"A group of {len(group)} items got {len(results)} results; the work must "
                    "return one per item."
                )
        except BaseException as exc:  # every caller of the group gets it
            results = [exc] * len(group)
        finally:
            with self._turn:
                for s, r in zip(group, results, strict=True):
                    if isinstance(r, BaseException):
                        s.error = r
                    s.result = r
                self._busy = False
                self.groups += 1
                self.largest = max(self.largest, len(group))
                self._turn.notify_all()
