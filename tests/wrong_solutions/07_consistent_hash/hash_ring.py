"""A plausible wrong exercise 07: "after" instead of "at or after", and no wrap-around.

``bisect_right`` sends a key that lands exactly on a point to the next point (an off by
one), and a key past the last point is given to the last point's node instead of
wrapping to the first. Random keys rarely hit either case, so it looks right by hand.
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Iterable


def ring_hash(text: str) -> int:
    return int.from_bytes(hashlib.md5(text.encode()).digest()[:4], "little")


class HashRing:
    def __init__(self, nodes: Iterable[str] = (), vnodes: int = 160) -> None:
        if vnodes < 1:
            raise ValueError("vnodes must be at least 1")
        self.vnodes = vnodes
        self.weights: dict[str, int] = {}
        self.points: list[tuple[int, str]] = []
        for node in nodes:
            self.add(node)

    def add(self, node: str, weight: int = 1) -> None:
        if node in self.weights or weight < 1:
            raise ValueError(f"cannot add {node}")
        self.weights[node] = weight
        self.points += [(ring_hash(f"{node}-{i}"), node) for i in range(self.vnodes * weight)]
        self.points.sort()

    def remove(self, node: str) -> None:
        del self.weights[node]
        self.points = [p for p in self.points if p[1] != node]

    @property
    def nodes(self) -> list[str]:
        return list(self.weights)

    def node_for(self, key: str) -> str:
        if not self.points:
            raise LookupError("empty ring")
        index = bisect.bisect_right([p for p, _ in self.points], ring_hash(key))
        return self.points[min(index, len(self.points) - 1)][1]
