"""Reference for exercise 07 (a consistent-hash ring): ``proxylab.reverse.balancers.ConsistentHash``.

The exercise's ring holds named nodes with weights and answers ``node_for(key)``;
``ConsistentHash`` is the balancer that does the same for ``Backend`` values, hashing the
client address (here: the key itself) onto libketama's ring of MD5 points, ``vnodes``
points per unit of weight, labelled ``"<name>-<i>"``.

Layer 5 (an edge).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from proxylab.http.messages import Request
from proxylab.reverse.balancers import Backend, ConsistentHash

__all__ = ["HashRing", "ring_hash"]

_REQUEST = Request("GET", "/")


def ring_hash(text: str) -> int:
    """A point on the ring, 0 <= point < 2**32: the first 4 bytes of MD5, little-endian."""
    digest = hashlib.md5(text.encode(), usedforsecurity=False).digest()
    return int.from_bytes(digest[:4], "little")


class HashRing:
    """Nodes on a ring of 2**32 points; a key belongs to the first point at or after it."""

    def __init__(self, nodes: Iterable[str] = (), vnodes: int = 160) -> None:
        if not isinstance(vnodes, int) or vnodes < 1:
            raise ValueError(f"vnodes must be a whole number >= 1 (libketama: 160), not {vnodes!r}")
        self._balancer = ConsistentHash("client-ip", points_per_weight=vnodes)
        self._weights: dict[str, int] = {}
        for node in nodes:
            self.add(node)

    def add(self, node: str, weight: int = 1) -> None:
        """Put ``node`` on the ring with ``vnodes * weight`` points."""
        if node in self._weights:
            raise ValueError(f"{node!r} is already on the ring")
        if not isinstance(weight, int) or isinstance(weight, bool) or weight < 1:
            raise ValueError(f"the weight of {node!r} must be a whole number >= 1")
        self._weights[node] = weight

    def remove(self, node: str) -> None:
        """Take ``node`` and its points off the ring (KeyError if it is not there)."""
        del self._weights[node]

    @property
    def nodes(self) -> list[str]:
        """The nodes on the ring, in the order they were added."""
        return list(self._weights)

    def node_for(self, key: str) -> str:
        """The node that owns ``key``; LookupError on an empty ring."""
        if not self._weights:
            raise LookupError("the ring is empty: add a node first")
        backends = [Backend(name, 0, weight, name) for name, weight in self._weights.items()]
        return self._balancer.choose(_REQUEST, backends, client_ip=key).name
