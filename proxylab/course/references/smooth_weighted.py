"""Reference for exercise 05 (smooth weighted round robin): ``proxylab.reverse.balancers``.

The exercise names backends by strings with integer weights; ``SmoothWeightedRoundRobin``
picks among ``Backend`` values. Weight 0 means "drained" (never picked): a ``Backend``
cannot have weight 0, so a drained backend is simply not offered to the balancer.

Layer 5 (an edge).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from proxylab.http.messages import Request
from proxylab.reverse.balancers import Backend, SmoothWeightedRoundRobin

__all__ = ["SmoothWeighted"]

_REQUEST = Request("GET", "/")


class SmoothWeighted:
    """nginx's smooth weighted round robin over named backends."""

    def __init__(self, weights: Mapping[str, int]) -> None:
        for name, weight in weights.items():
            if not isinstance(weight, int) or isinstance(weight, bool) or weight < 0:
                raise ValueError(
                    f"The weight of {name!r} must be a whole number >= 0, not {weight!r}"
                )
        if not any(weights.values()):
            raise ValueError("At least one backend needs a weight above 0.")
        self._backends = [
            Backend(name, 0, weight, name) for name, weight in weights.items() if weight > 0
        ]
        self._balancer = SmoothWeightedRoundRobin()

    def pick(self, available: Collection[str] | None = None) -> str:
        """The next backend, among ``available`` ones if given (others keep their state)."""
        backends = self._backends
        if available is not None:
            backends = [backend for backend in backends if backend.name in available]
        if not backends:
            raise ValueError("No available backend has a weight above 0.")
        return self._balancer.choose(_REQUEST, backends).name
