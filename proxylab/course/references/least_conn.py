"""Reference for exercise 06 (least connections, power of two choices): ``proxylab.reverse.balancers``.

The exercise names backends by strings with integer weights and counts requests in flight
with ``start``/``end``; ``LeastConnections`` and ``PowerOfTwoChoices`` pick among ``Backend``
values and learn the counts through ``on_start``/``on_end``. Weight 0 means "drained"
(never picked, HAProxy's ``weight 0``): a ``Backend`` cannot have weight 0, so a drained
backend is simply not offered to the balancer, though its requests still in flight count.

Layer 5 (an edge).
"""

from __future__ import annotations

import random
from collections.abc import Mapping

from proxylab.http.messages import Request
from proxylab.reverse.balancers import Backend, PowerOfTwoChoices
from proxylab.reverse.balancers import LeastConnections as _LeastConnections

__all__ = ["LeastConnections", "PowerOfTwo"]

_REQUEST = Request("GET", "/")


def _check_weights(weights: Mapping[str, int]) -> None:
    for name, weight in weights.items():
        if not isinstance(weight, int) or isinstance(weight, bool) or weight < 0:
            raise ValueError(f"The weight of {name!r} must be a whole number >= 0, not {weight!r}")
    if not any(weights.values()):
        raise ValueError("At least one backend needs a weight above 0.")


class _Counted:
    """What both balancers share: named backends, the pickable ones, start and end."""

    def __init__(self, weights: Mapping[str, int], balancer: _LeastConnections | PowerOfTwoChoices):
        _check_weights(weights)
        # a drained backend is still a Backend for counting; weight 1 is only a placeholder
        self._by_name = {name: Backend(name, 0, max(1, w), name) for name, w in weights.items()}
        self._pickable = [self._by_name[name] for name, w in weights.items() if w > 0]
        self._balancer = balancer

    def pick(self) -> str:
        """The backend for the next request (not counted until ``start``)."""
        return self._balancer.choose(_REQUEST, self._pickable).name

    def start(self, name: str) -> None:
        """A request is on its way to ``name``; KeyError for an unknown backend."""
        self._balancer.on_start(self._by_name[name])

    def end(self, name: str) -> None:
        """A request to ``name`` finished; an end without a start is ignored."""
        self._balancer.on_end(self._by_name[name], 200, 0.0)

    def in_flight(self, name: str) -> int:
        """How many requests ``name`` is serving now."""
        backend = self._by_name[name]
        return self._balancer.in_flight.counts([backend])[0]


class LeastConnections(_Counted):
    """Fewest in flight per unit of weight; ties round robin after the previous pick."""

    def __init__(self, weights: Mapping[str, int]) -> None:
        super().__init__(weights, _LeastConnections())


class PowerOfTwo(_Counted):
    """Two distinct random draws; the less loaded (per weight) wins, the first on a tie."""

    def __init__(self, weights: Mapping[str, int], rng: random.Random) -> None:
        super().__init__(weights, PowerOfTwoChoices(rng=rng))
