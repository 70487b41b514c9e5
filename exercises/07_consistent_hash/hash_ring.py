"""Exercise 07: a consistent-hash ring with virtual nodes (write the bodies).

Keys (a URL, a user id, a client address) are spread over nodes (cache servers) so that
when a node joins or leaves, only a few keys move. Read README.md; run ``proxylab grade 07``.

The ring is the circle of numbers 0 .. 2**32 - 1. A node with weight w puts
``vnodes * w`` points on it, at ``ring_hash(f"{node}-{i}")`` for i = 0, 1, ...
A key belongs to the node of the first point at or after ``ring_hash(key)``; past the
last point it wraps around to the first one (libketama's rule).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable


def ring_hash(text: str) -> int:
    """A point on the ring, 0 <= point < 2**32: the first 4 bytes of MD5, little-endian.

    Given, not graded: the same in every process, unlike Python's ``hash()`` of a str.
    """
    digest = hashlib.md5(text.encode()).digest()
    return int.from_bytes(digest[:4], "little")


class HashRing:
    """Nodes on a ring; ``node_for(key)`` says which node owns a key."""

    def __init__(self, nodes: Iterable[str] = (), vnodes: int = 160) -> None:
        """Start with ``nodes`` (weight 1 each). ValueError if ``vnodes`` < 1."""
        raise NotImplementedError

    def add(self, node: str, weight: int = 1) -> None:
        """Put ``node`` on the ring with ``vnodes * weight`` points.

        ValueError if the node is already there or the weight is not a whole number >= 1.
        """
        raise NotImplementedError

    def remove(self, node: str) -> None:
        """Take ``node`` and all its points off the ring. KeyError if it is not there."""
        raise NotImplementedError

    @property
    def nodes(self) -> list[str]:
        """The nodes on the ring, in the order they were added."""
        raise NotImplementedError

    def node_for(self, key: str) -> str:
        """The owner of ``key``: the first point at or after ``ring_hash(key)``, wrapping.

        LookupError on an empty ring.
        """
        raise NotImplementedError
