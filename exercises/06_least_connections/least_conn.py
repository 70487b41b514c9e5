"""Exercise 06: least connections and power of two choices (write the bodies).

Two load balancers that look at live load: how many requests each backend is serving
right now ("in flight"). Read README.md for the rules; run ``proxylab grade 06``.

Both classes get the backends as a mapping of name to weight, e.g. ``{"a": 3, "b": 1}``.
The proxy calls ``pick()`` to choose, then ``start(name)`` just before it sends the
request and ``end(name)`` when the response is over. Many client threads call these at
the same time: keep the counts correct under threads (a ``threading.Lock``).
"""

from __future__ import annotations

import random
from collections.abc import Mapping


class LeastConnections:
    """The backend with the fewest requests in flight per unit of weight (nginx least_conn).

    Load of a backend = in_flight / weight. On a tie, take the first tied backend
    scanning from just after the one picked last time (wrapping around), so an idle
    pool is served in turn; the very first scan starts at the first backend.
    Weight 0 means drained: never picked, but its requests in flight still count.
    """

    def __init__(self, weights: Mapping[str, int]) -> None:
        """Remember the backends in order. ValueError for a weight that is not a whole
        number >= 0, or when no backend has a weight above 0."""
        raise NotImplementedError

    def pick(self) -> str:
        """The name of the backend for the next request (``pick`` does not count it)."""
        raise NotImplementedError

    def start(self, name: str) -> None:
        """One more request in flight at ``name``. KeyError for an unknown name."""
        raise NotImplementedError

    def end(self, name: str) -> None:
        """One request fewer at ``name``; never below 0. KeyError for an unknown name."""
        raise NotImplementedError

    def in_flight(self, name: str) -> int:
        """How many requests ``name`` is serving now. KeyError for an unknown name."""
        raise NotImplementedError


class PowerOfTwo:
    """Draw two different backends at random; the less loaded (in_flight / weight) wins.

    The draws use the injected ``rng`` exactly like this (tests replay them)::

        i = rng.randrange(n)          # n = number of backends with weight > 0
        j = rng.randrange(n - 1)
        if j >= i:
            j += 1                    # so j is any backend except i
        first, second = pickable[i], pickable[j]

    The second wins only if it is strictly less loaded; on a tie the first wins.
    With a single pickable backend, pick it without drawing.
    """

    def __init__(self, weights: Mapping[str, int], rng: random.Random) -> None:
        """As ``LeastConnections``, plus the random generator to draw with."""
        raise NotImplementedError

    def pick(self) -> str:
        """The name of the backend for the next request (not counted until ``start``)."""
        raise NotImplementedError

    def start(self, name: str) -> None:
        """One more request in flight at ``name``. KeyError for an unknown name."""
        raise NotImplementedError

    def end(self, name: str) -> None:
        """One request fewer at ``name``; never below 0. KeyError for an unknown name."""
        raise NotImplementedError

    def in_flight(self, name: str) -> int:
        """How many requests ``name`` is serving now. KeyError for an unknown name."""
        raise NotImplementedError
