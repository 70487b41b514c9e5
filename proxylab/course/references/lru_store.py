"""Reference for exercise 04 (a byte-bounded LRU store): ``proxylab.cache.store.CacheStore``.

The exercise's store keeps ``bytes`` values under string keys and counts only the values'
bytes against ``max_bytes``; ``CacheStore`` keeps whole responses and also charges for their
heads. The adapter stores each value as a response with an empty head whose size is its
body's length, so the LRU order, the eviction and the lock are all ``CacheStore``'s.

Layer 5 (an edge).
"""

from __future__ import annotations

from dataclasses import dataclass

from proxylab.cache.policy import CacheControl, Freshness, Timing
from proxylab.cache.store import CacheStore, Entry
from proxylab.http.messages import Headers

__all__ = ["LruStore"]

_NO_HEADERS = Headers()
_TIMING = Timing(0.0, 0.0, 0.0, 0)
_FRESHNESS = Freshness(0.0, False, 0.0, 0.0, CacheControl())


@dataclass(frozen=True, slots=True)
class _Value(Entry):
    """A stored value: an ``Entry`` charged for its body only."""

    @property
    def size(self) -> int:
        return len(self.body)


class LruStore:
    """``bytes`` under string keys, at most ``max_bytes`` in all, least recently used out first."""

    def __init__(self, max_bytes: int) -> None:
        if max_bytes < 0:
            raise ValueError(f"max_bytes must be 0 or more, not {max_bytes}")
        self._store = CacheStore(max_bytes)

    def get(self, key: str) -> bytes | None:
        """The value under ``key`` (now the most recently used), or None."""
        entry, _ = self._store.lookup(key, _NO_HEADERS)
        return None if entry is None else entry.body

    def put(self, key: str, value: bytes) -> None:
        """Keep ``value`` under ``key``, evicting the least recently used until it fits."""
        entry = _Value(200, "OK", _NO_HEADERS, bytes(value), (), _TIMING, _FRESHNESS)
        self._store.put(key, entry)

    def delete(self, key: str) -> None:
        """Forget ``key`` (nothing happens if it is not stored)."""
        self._store.invalidate([key])

    @property
    def size(self) -> int:
        """Bytes stored right now."""
        return self._store.stats().stored_bytes

    def __len__(self) -> int:
        return self._store.stats().stored_objects
