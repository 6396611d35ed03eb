"""One writer of persons at a time on a home: the lock a resolve run holds from start to end.

A resolve run reads the ledger's state, writes its run, then reads back that run's events; two
runs at once on one home would interleave (each crediting the other's events, and the later one's
complete run undoing the earlier's). The HTTP API's storing ``/v1/resolve`` writes the ledger too,
so it holds the same lock for the moment it writes one record, and is refused while a run holds it
(a run's complete assignment would drop a record stored under it).

The lock is an exclusive ``flock`` on ``$EKJON_HOME/resolve.lock``, which says who holds it for the
message another process gets; the operating system lets it go when its holder ends, however it
ends (``kill -9`` included), so a crashed run never leaves the home locked. A process asks once
more every so often up to ``wait`` seconds (a stored record takes a moment), then is refused with
the holder named; neither side ever waits for the other without a limit.

Example
-------
>>> with hold_home(home, "ekjon resolve", wait=10):  # doctest: +SKIP
...     ...
"""

from __future__ import annotations

import fcntl
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from engine.errors import EkjonError
from engine.home import Home

__all__ = ["HomeBusy", "hold_home"]

#: How often a waiting process asks for the lock again.
POLL_SECONDS = 0.1


class HomeBusy(EkjonError):
    """Another process is resolving (or storing a record into) the same home now."""


@contextmanager
def hold_home(home: Home, doing: str, *, wait: float = 0.0, then: str = "") -> Iterator[None]:
    """Hold the home's resolve lock while the body runs.

    Parameters
    ----------
    home:
        The home.
    doing:
        What this process does, for the message another process gets (e.g. ``"ekjon resolve"``).
    wait:
        Seconds to keep asking while another process holds the lock.
    then:
        What the refused caller should do, appended to the message.

    Raises
    ------
    HomeBusy
        If another process (or another thread of this one) still holds the lock after ``wait``
        seconds; the message names what it does, its process, host and since when.
    """
    path = home.resolve_lock
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = os.pread(fd, 4096, 0).decode("utf-8", "replace").strip()
                    raise HomeBusy(
                        f"{home} is busy: {holder or 'another process'} holds it. Two resolves "
                        "of one home at once would credit each other's ledger events and undo "
                        f"each other's IDs.{' ' + then if then else ''}"
                    ) from None
                time.sleep(POLL_SECONDS)
        since = datetime.now(UTC).isoformat(timespec="seconds")
        holder = f"{doing} (process {os.getpid()} on {socket.gethostname()}, since {since})"
        os.ftruncate(fd, 0)
        os.pwrite(fd, holder.encode("utf-8"), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)  # the next holder writes its own name; nobody holds it now
    finally:
        os.close(fd)  # lets the lock go
