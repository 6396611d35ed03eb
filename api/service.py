"""What the HTTP API holds while it runs: the home, the graph store and the one-record resolver,
opened once at start, the access store (keys, audit), the settings, and the locks that keep one
process's writers in line.

One process, one worker: the in-memory resolver and SQLite's single writer are not shared across
processes (``ekjon serve`` starts one uvicorn worker).
"""

from __future__ import annotations

import gc
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Final, TypeVar

import anyio

from api.access import AccessStore
from ekjon.errors import EkjonError
from engine.home import Home
from engine.incremental.grouping import GroupCommit

__all__ = ["PURPOSES", "RateLimiter", "Service", "ServiceBusy", "Settings"]

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Storing resolves served at once (each holds a thread while its group is kept and published).
STORING_THREADS: Final = 160

#: Purposes an analyst may name (``X-Purpose``) to see identifiers in full.
PURPOSES: Final = ("fraud_investigation", "grievance", "payment_verification")


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a whole number.") from None
    if value <= 0:
        raise ValueError(f"{name}={raw!r} must be above 0.")
    return value


class ServiceBusy(EkjonError):
    """A request waited too long for another (the API's 503 with ``Retry-After``)."""


@dataclass(frozen=True)
class Settings:
    """The API's configuration (each from an environment variable, see docs/api.md).

    Attributes
    ----------
    purposes:
        ``EKJON_API_PURPOSES`` (comma-separated): the purposes that reveal identifiers.
    max_body_bytes:
        ``EKJON_API_MAX_BODY_BYTES``: a larger request body is refused with 413 (uploads too).
    requests_per_minute:
        ``EKJON_API_REQUESTS_PER_MINUTE``: per key; beyond it 429 with ``Retry-After``.
    page_max:
        The most rows one page of findings may ask for.
    """

    purposes: tuple[str, ...] = PURPOSES
    max_body_bytes: int = 20 * 1024 * 1024
    requests_per_minute: int = 12_000
    page_max: int = 1000

    @classmethod
    def from_env(cls) -> Settings:
        """Settings from the environment, defaults where unset.

        Raises
        ------
        ValueError
            If a variable is set to something that is not a positive whole number.
        """
        purposes = os.environ.get("EKJON_API_PURPOSES")
        return cls(
            purposes=(
                tuple(p.strip() for p in purposes.split(",") if p.strip()) if purposes else PURPOSES
            ),
            max_body_bytes=_env_int("EKJON_API_MAX_BODY_BYTES", cls.max_body_bytes),
            requests_per_minute=_env_int("EKJON_API_REQUESTS_PER_MINUTE", cls.requests_per_minute),
        )


@dataclass
class RateLimiter:
    """A token bucket per API key: ``per_minute`` requests, refilled continuously.

    Counted in this process (the API runs one), so one key's burst never slows another's.
    """

    per_minute: int
    _buckets: dict[str, tuple[float, float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self, key_id: str, now: float | None = None) -> float:
        """Spend one request of ``key_id``: 0 when allowed, else the seconds until one is."""
        now = time.monotonic() if now is None else now
        rate = self.per_minute / 60.0
        with self._lock:
            tokens, last = self._buckets.get(key_id, (float(self.per_minute), now))
            tokens = min(float(self.per_minute), tokens + (now - last) * rate)
            if tokens >= 1.0:
                self._buckets[key_id] = (tokens - 1.0, now)
                return 0.0
            self._buckets[key_id] = (tokens, now)
            return (1.0 - tokens) / rate


class Service:
    """The API's state for one process.

    Parameters
    ----------
    home:
        The home whose stores are served.
    backend:
        ``"embedded"`` or ``"neo4j"``: the graph store answering the analysts' questions.
    settings:
        The API's configuration.
    """

    def __init__(self, home: Home, backend: str = "embedded", settings: Settings | None = None):
        self.home = home
        self.backend = backend
        self.settings = settings or Settings()
        self.access = AccessStore(home.api)
        self.limiter = RateLimiter(self.settings.requests_per_minute)
        self.started_at = time.time()
        self.start_seconds: dict[str, float] = {}
        #: one writer at a time: a group of storing resolves' store -> resolve -> add -> ledger
        self.write_lock = threading.RLock()
        self.graph_lock = threading.RLock()
        #: the resolver is read by dry runs while a storing resolve (under the write lock) adds
        #: its record to it: one at a time
        self.remembering = threading.Lock()
        #: records of storing resolves, kept (stored, resolved, identified, remembered) in
        #: groups: those sent while one group is kept go together in the next
        self.keeps: GroupCommit[tuple[dict[str, Any], str], Any] = GroupCommit(self.keep_sent)
        #: records kept by storing resolves, published in groups: those kept while one group
        #: publishes go together in the next
        self.publishes: GroupCommit[Any, None] = GroupCommit(self.publish_kept)
        #: the threads storing resolves run in, beside the 40 the other routes share: a storing
        #: request spends most of its time waiting for its group, and a group takes the requests
        #: waiting in threads, so more of them make larger groups that share a group's costs
        self.storing_threads = anyio.CapacityLimiter(STORING_THREADS)
        #: each source's kind, as storing resolves learn it (under :attr:`write_lock`)
        self.source_kinds: dict[str, str] = {}
        self._claims: dict[str, threading.Event] = {}
        self._claims_lock = threading.Lock()
        self._store: Any = None
        self._kept_open: tuple[Any, Any] | None = None
        self._resolver: Any = None
        self._model: Any = None
        self._cache: dict[str, Any] = {}
        self._publishes_seen: int | None = None

    # -- start and stop

    def start(self) -> Service:
        """Open the graph store and load the one-record resolver (when a resolve has run)."""
        from engine.quality.training import DEFAULT_ARTIFACT, load_model
        from graph.open import open_store

        step = time.perf_counter()
        self._store = open_store(self.backend, self.home.root)
        self._store.warm()
        self.start_seconds["graph"] = time.perf_counter() - step
        step = time.perf_counter()
        self._model = load_model(DEFAULT_ARTIFACT)
        self.start_seconds["model"] = time.perf_counter() - step
        if (self.home.incremental / "incremental.json").exists():
            from engine.incremental import IncrementalResolver

            step = time.perf_counter()
            from engine.incremental.register import remember_registered

            self._resolver = IncrementalResolver.load(self.home.incremental, self._model)
            # records stored through /v1/resolve since the batch: the saved state lacks them
            remember_registered(self.home, self._resolver)
            self.start_seconds["resolver"] = time.perf_counter() - step
        # what start-up loaded (the resolver's millions of objects at a million persons) lives as
        # long as the process: the cycle collector's full passes walk only what requests allocate
        gc.collect()
        gc.freeze()
        log.info("ekjon API ready: %s", self.start_seconds)
        return self

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None
        if self._kept_open is not None:
            for opened in self._kept_open:
                opened.close()
            self._kept_open = None
        self.access.close()

    # -- what routes use

    @property
    def model(self) -> Any:
        return self._model

    def record_stores(self) -> tuple[Any, Any]:
        """The record store and the identity ledger a storing resolve writes to, opened on first
        use and kept open (opening and closing them cost more than storing one record). Callers
        hold :attr:`write_lock`."""
        if self._kept_open is None:
            from engine.identity.ledger import IdentityLedger
            from engine.ingest.store import RecordStore

            records = RecordStore(self.home.records)
            try:
                self._kept_open = (records, IdentityLedger(self.home.ledger))
            except BaseException:
                records.close()
                raise
        return self._kept_open

    @property
    def store(self) -> Any:
        """The graph store itself: callers hold :attr:`graph_lock` while they use it (or use
        :meth:`graph`)."""
        return self._store

    @property
    def resolver(self) -> Any:
        """The one-record resolver, or ``None`` before the first ``ekjon resolve``."""
        return self._resolver

    @contextmanager
    def graph(self, check: bool = True) -> Iterator[Any]:
        """The graph store, one caller at a time.

        With ``check`` (every reader), only a complete graph: a publish into it that began and
        has not finished (cut short, or on Neo4j running in another process), or that began or
        ended while the caller read, raises :class:`graph.store.PublishInterrupted` (the API's
        503). A publish another process finished makes the kept whole-graph answers stale: they
        are dropped.
        """
        from graph.store import PublishInterrupted, require_complete

        with self.graph_lock:
            store = self._store
            if store is None or not check:
                yield store
                return
            state = require_complete(store)
            if state.changes != self._publishes_seen:
                self._cache.clear()
                self._publishes_seen = state.changes
            yield store
            if store.publish_state().changes != state.changes:
                raise PublishInterrupted(
                    "A publish began or ended in the graph while it was read; send the request "
                    "again.",
                    state,
                )

    def cached(self, name: str, compute: Callable[[], T]) -> T:
        """An answer about the whole graph, worked out once until the graph changes."""
        with self.graph_lock:
            if name not in self._cache:
                self._cache[name] = compute()
            return self._cache[name]

    def keep_sent(self, sent: list[tuple[dict[str, Any], str]]) -> list[Any]:
        """Keep records that storing resolves sent, each ``(record, origin)``, as one group
        (:func:`engine.incremental.register.keep_records`); per record what was kept, or the
        error that kept it out."""
        from engine.incremental.register import keep_records

        with self.write_lock:
            return keep_records(
                self.home,
                self._resolver,
                self._store,
                sent,
                graph_lock=self.graph_lock,
                remembering=self.remembering,
                stores=self.record_stores(),
                kinds=self.source_kinds,
            )

    def publish_kept(self, kept: list[Any]) -> list[BaseException | None]:
        """Publish records that storing resolves kept (:func:`engine.incremental.register.
        keep_record`) in one partial publish; per record ``None``, or the error that kept it out."""
        from engine.incremental.register import publish_registered
        from graph.policy import default_policy

        try:
            return publish_registered(
                self._store, kept, policy=default_policy(), graph_lock=self.graph_lock
            )
        finally:
            self.graph_changed()

    def claim(self, keys: list[str], wait: float) -> threading.Event:
        """Hold the idempotency ``keys`` of a storing request until :meth:`release`, once its
        answer is kept: a request with one of them waits for the holder to finish (then finds
        its answer).

        Raises
        ------
        ServiceBusy
            If another request still holds one of them after ``wait`` seconds.
        """
        mine = threading.Event()
        while True:
            with self._claims_lock:
                held = next((self._claims[k] for k in keys if k in self._claims), None)
                if held is None:
                    self._claims.update(dict.fromkeys(keys, mine))
                    return mine
            if not held.wait(wait):
                raise ServiceBusy("The same request is still being stored; send it again.")

    def release(self, keys: list[str], claim: threading.Event) -> None:
        """Let go of the ``keys`` :meth:`claim` gave ``claim`` for."""
        with self._claims_lock:
            for k in keys:
                if self._claims.get(k) is claim:
                    del self._claims[k]
        claim.set()

    def graph_changed(self) -> None:
        """Forget the whole-graph answers (after a write)."""
        with self.graph_lock:
            self._cache.clear()
