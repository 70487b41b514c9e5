"""Exercise 04: a byte-bounded LRU store, the memory of a caching proxy, safe under threads.

Write ``LruStore`` (see README.md for the whole task and the points). A proxy's cache
cannot keep everything: it has a budget of bytes, and when a new response does not fit it
forgets the one used least recently. Every client thread of the proxy uses the same store
at once, so each method must be safe to call from many threads.

Hint: ``collections.OrderedDict`` (``move_to_end``, ``popitem(last=False)``) and one
``threading.Lock`` held by every method that reads or changes the state.

Run the grader with ``proxylab grade 04`` (or ``pytest exercises/04_lru_store``).
"""

from __future__ import annotations


class LruStore:
    """``bytes`` values under ``str`` keys; at most ``max_bytes`` bytes of values in all.

    Only the values' lengths count against ``max_bytes`` (``len(value)``). Raise
    ``ValueError`` for a negative ``max_bytes``.
    """

    def __init__(self, max_bytes: int) -> None:
        raise NotImplementedError("write LruStore.__init__")

    def get(self, key: str) -> bytes | None:
        """The value under ``key``, or None. A hit makes ``key`` the most recently used."""
        raise NotImplementedError("write LruStore.get")

    def put(self, key: str, value: bytes) -> None:
        """Keep ``value`` under ``key`` (replacing what was there): now the most recently used.

        Evict least recently used entries, oldest first, until the value fits. A value
        larger than ``max_bytes`` is not stored at all, and then the store is left exactly
        as it was (nothing evicted, an older value under ``key`` kept).
        """
        raise NotImplementedError("write LruStore.put")

    def delete(self, key: str) -> None:
        """Forget ``key``; nothing happens if it is not stored."""
        raise NotImplementedError("write LruStore.delete")

    @property
    def size(self) -> int:
        """How many bytes of values are stored right now."""
        raise NotImplementedError("write LruStore.size")

    def __len__(self) -> int:
        """How many keys are stored right now."""
        raise NotImplementedError("write LruStore.__len__")
