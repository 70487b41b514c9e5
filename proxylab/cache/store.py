"""CacheStore: what an HTTP cache remembers between requests, behind one lock.

``cache`` decides what to do with each exchange; this module holds the state those decisions
read and change, shared by every thread of the proxy: the stored responses, the origin fetches
in flight (for collapsed forwarding) and the counters. Keeping all of it in one small class, with
one lock, means the locking can be read in one place and the choreography in ``cache`` has none.

Key ideas:
- An ``OrderedDict`` is an LRU list for free: a lookup moves the entry it returns to the end, so
  the first entry is always the least recently used, and a new entry evicts from the front until
  it fits in ``max_bytes``. A second index, URL -> Vary keys, finds the variants of one URL.
- Collapsed forwarding: the first miss for a URL becomes the *leader* and records a ``Flight``;
  later misses wait on its event (bounded) instead of asking the origin again. The leader
  *lands* the flight when its response is stored or known to be unstorable.
- The lock is held only inside these short methods: never while waiting for a flight, calling
  the origin or streaming a body.

RFC sections: RFC 9111 3 (storing), 4.1 (several matching variants: the most recent Date wins),
4.4 (invalidation); RFC 9211 2.6 (``collapsed``). Which responses may be stored and reused is
``policy``'s business, not this module's.

Left out on purpose: persistence to disk, sweeping out stale entries (a stale response can
still be revalidated, so it stays until evicted or replaced), fairness among waiters.

Layer 2: imports ``messages`` and ``policy``; a ``Lock`` and ``Event``, no threads started.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field, fields

from proxylab.cache.policy import Freshness, Timing, VaryKey, vary_matches
from proxylab.http.messages import Headers

__all__ = ["CacheStats", "CacheStore", "Entry", "Flight"]


@dataclass(frozen=True, slots=True)
class CacheStats:
    """A snapshot of the counters, for dashboards and lessons.

    One counter per outcome (``hits`` ... ``only_if_cached_misses``); ``revalidations`` counts
    conditional requests sent and ``revalidations_304`` those answered 304; ``collapsed``
    counts requests that waited for another's fetch, ``waiting`` those waiting right now.
    """

    hits: int = 0
    misses: int = 0
    revalidated: int = 0
    stale_served: int = 0
    bypassed: int = 0
    only_if_cached_misses: int = 0
    revalidations: int = 0
    revalidations_304: int = 0
    collapsed: int = 0
    bytes_served_from_cache: int = 0
    evictions: int = 0
    invalidations: int = 0
    waiting: int = 0
    stored_bytes: int = 0
    stored_objects: int = 0


#: Running totals: every CacheStats field but the last three, which are measured when asked.
_COUNTERS = [f.name for f in fields(CacheStats)][:-3]


@dataclass(frozen=True, slots=True)
class Entry:
    """One stored response: head, whole body, secondary key, timing and freshness.

    ``freshness`` is derived from the others (``CachePolicy.freshness``) and kept beside
    them so that a hit does not derive it again; whoever changes the head or the timing
    (a 304 freshening it) computes it anew.
    """

    status: int
    reason: str
    headers: Headers
    body: bytes
    vary: VaryKey
    timing: Timing
    freshness: Freshness

    @property
    def size(self) -> int:
        """Bytes charged against ``max_bytes``: the body plus a rough size of the head."""
        return len(self.body) + sum(len(n) + len(v) + 4 for n, v in self.headers) + 64


@dataclass(frozen=True, slots=True)
class Flight:
    """An origin fetch in progress that other requests for the same URL may wait for."""

    done: threading.Event = field(default_factory=threading.Event)


def _recency(entry: Entry) -> tuple[float, float]:
    """Which of two stored variants is the more recent: Date, then the time of receipt."""
    return entry.timing.date_value, entry.timing.response_time


class CacheStore:
    """Stored responses (LRU, bounded by ``max_bytes``), flights and counters of one cache."""

    def __init__(self, max_bytes: int) -> None:
        self._max_bytes = max_bytes
        self._lock = threading.Lock()
        self._entries: OrderedDict[tuple[str, VaryKey], Entry] = OrderedDict()
        self._variants: dict[str, list[VaryKey]] = {}
        self._flights: dict[str, Flight] = {}
        self._stored_bytes = 0
        self._waiting = 0
        self._counts = dict.fromkeys(_COUNTERS, 0)

    # -- stored responses ----------------------------------------------------------------

    def lookup(self, url: str, request_headers: Headers) -> tuple[Entry | None, str]:
        """The stored response selected for a request, or None and the RFC 9211 miss reason."""
        # Every request through the cache comes here, so the lock is taken by hand: on
        # CPython 3.10/3.11 ``with lock:`` costs about twice as much as acquire/release.
        self._lock.acquire()
        try:
            variants = self._variants.get(url)
            if not variants:
                return None, "uri-miss"
            best: Entry | None = None
            for vary in variants:
                if vary_matches(vary, request_headers):
                    entry = self._entries[(url, vary)]
                    # RFC 9111 4.1: if several match, "the most recent response (as
                    # determined by the Date header field)" is used.
                    if best is None or _recency(entry) > _recency(best):
                        best = entry
            if best is None:
                return None, "vary-miss"
            self._entries.move_to_end((url, best.vary))
            return best, "miss"
        finally:
            self._lock.release()

    def put(self, url: str, entry: Entry, request_headers: Headers | None = None) -> None:
        """Keep ``entry``, replacing the variants this request selected, evicting LRU objects."""
        if entry.size > self._max_bytes:
            return
        with self._lock:
            for vary in list(self._variants.get(url, ())):
                selected = request_headers is not None and vary_matches(vary, request_headers)
                if selected or vary == entry.vary:
                    self._drop((url, vary))
            while self._entries and self._stored_bytes + entry.size > self._max_bytes:
                self._drop(next(iter(self._entries)))  # the least recently used
                self._counts["evictions"] += 1
            self._entries[(url, entry.vary)] = entry
            self._variants.setdefault(url, []).append(entry.vary)
            self._stored_bytes += entry.size

    def drop(self, url: str, vary: VaryKey) -> None:
        """Forget one stored variant (a 304 showed it no longer describes the resource)."""
        with self._lock:
            self._drop((url, vary))

    def invalidate(self, urls: list[str]) -> None:
        """RFC 9111 4.4: forget every variant stored for these URLs."""
        with self._lock:
            for url in urls:
                for vary in list(self._variants.get(url, ())):
                    self._drop((url, vary))
                    self._counts["invalidations"] += 1

    def clear(self) -> None:
        """Forget every stored response (counters are kept)."""
        with self._lock:
            self._entries.clear()
            self._variants.clear()
            self._stored_bytes = 0

    def _drop(self, key: tuple[str, VaryKey]) -> None:
        """Remove one entry; the caller holds the lock."""
        entry = self._entries.pop(key, None)
        if entry is None:
            return
        self._stored_bytes -= entry.size
        variants = self._variants[key[0]]
        variants.remove(key[1])
        if not variants:
            del self._variants[key[0]]

    # -- counters ------------------------------------------------------------------------

    def count(self, name: str, amount: int = 1) -> None:
        """Add to one of the running totals (a ``CacheStats`` field name)."""
        with self._lock:
            self._counts[name] += amount

    def count_reply(self, outcome: str, bytes_served: int) -> None:
        """Count one reply (``outcome`` names its counter) and the stored bytes it carries.

        One call, so one turn of the lock, for what every reply counts; the lock is taken
        by hand as in ``lookup``.
        """
        self._lock.acquire()
        try:
            self._counts[outcome] += 1
            self._counts["bytes_served_from_cache"] += bytes_served
        finally:
            self._lock.release()

    def stats(self) -> CacheStats:
        """The counters and the current size of the store, read at one instant."""
        with self._lock:
            return CacheStats(
                **self._counts,
                waiting=self._waiting,
                stored_bytes=self._stored_bytes,
                stored_objects=len(self._entries),
            )

    # -- collapsed forwarding ------------------------------------------------------------

    def join_or_lead(
        self, url: str, *, may_lead: bool, may_wait: bool, timeout: float
    ) -> tuple[Flight | None, bool]:
        """Become the leader for ``url``, or wait (up to ``timeout``) for the current one.

        Returns the flight this request leads (or None) and whether it waited. With no flight
        under way a request leads only if ``may_lead``; with one, it waits only if ``may_wait``.
        """
        with self._lock:
            current = self._flights.get(url)
            if current is None or current.done.is_set():
                if not may_lead:
                    return None, False
                flight = self._flights[url] = Flight()
                return flight, False
            if not may_wait:
                return None, False
            self._waiting += 1
            self._counts["collapsed"] += 1
        try:
            current.done.wait(timeout)
        finally:
            with self._lock:
                self._waiting -= 1
        return None, True

    def land(self, url: str, flight: Flight | None) -> None:
        """End a flight (idempotent): wake its waiters and let the next miss lead."""
        if flight is None:
            return
        with self._lock:
            if self._flights.get(url) is flight:
                del self._flights[url]
        flight.done.set()
