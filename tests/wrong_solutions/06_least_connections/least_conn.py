"""A plausible wrong exercise 06: no lock around the counts, and ties go to the first backend.

Both mistakes pass a quick try by hand: with one thread the counts are right, and with
one busy backend the least loaded one wins. The graded tests catch them: threads lose
updates, and an idle pool sends everything to backend ``a``.
"""

from __future__ import annotations

import random
from collections.abc import Mapping


class _Counted:
    def __init__(self, weights: Mapping[str, int]) -> None:
        for name, weight in weights.items():
            if not isinstance(weight, int) or weight < 0:
                raise ValueError(f"bad weight for {name}")
        if not any(weights.values()):
            raise ValueError("no backend has a weight above 0")
        self.weights = dict(weights)
        self.pickable = [name for name, weight in weights.items() if weight > 0]
        self.counts = dict.fromkeys(weights, 0)

    def load(self, name: str) -> float:
        return self.counts[name] / self.weights[name]

    def start(self, name: str) -> None:
        current = self.counts[name]  # read ... (another thread may write in between)
        self.counts[name] = current + 1  # ... then write: not atomic

    def end(self, name: str) -> None:
        current = self.counts[name]
        self.counts[name] = max(0, current - 1)

    def in_flight(self, name: str) -> int:
        return self.counts[name]


class LeastConnections(_Counted):
    def pick(self) -> str:
        return min(self.pickable, key=self.load)  # ties: always the first one


class PowerOfTwo(_Counted):
    def __init__(self, weights: Mapping[str, int], rng: random.Random) -> None:
        super().__init__(weights)
        self.rng = rng

    def pick(self) -> str:
        n = len(self.pickable)
        if n == 1:
            return self.pickable[0]
        i = self.rng.randrange(n)
        j = self.rng.randrange(n - 1)
        if j >= i:
            j += 1
        first, second = self.pickable[i], self.pickable[j]
        return second if self.load(second) < self.load(first) else first
