"""Exercise 05: smooth weighted round robin, how nginx shares requests by weight.

Write ``SmoothWeighted`` (see README.md for the whole task and the points). A waiter with
three kitchens of capacity 5, 1 and 1 should send 5 of every 7 orders to the first; nginx
spreads them out (``a a b a c a a``) instead of sending five in a row (``a a a a a b c``),
so no kitchen waits long and none is flooded.

Each pick, every backend adds its weight to its *current weight*; the backend with the
largest current weight wins (on a tie, the one that comes first in ``weights``), and the
winner's current weight goes down by the total of the weights that took part.

Run the grader with ``proxylab grade 05`` (or ``pytest exercises/05_smooth_weighted``).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping


class SmoothWeighted:
    """nginx's smooth weighted round robin over named backends; safe to share between threads.

    ``weights`` maps a backend's name to a whole number >= 0, in the order that breaks ties.
    Weight 0 means "drained": never picked. Raise ``ValueError`` for a negative weight, a
    weight that is not an ``int``, or when no backend has a weight above 0.
    """

    def __init__(self, weights: Mapping[str, int]) -> None:
        raise NotImplementedError("write SmoothWeighted.__init__")

    def pick(self, available: Collection[str] | None = None) -> str:
        """The name of the next backend.

        With ``available``, only those backends take part in this pick (the others are down:
        their current weights stay as they are, and the total subtracted from the winner is
        the total of the weights that took part). Names not in ``weights`` are ignored.
        Raise ``ValueError`` when no available backend has a weight above 0.
        """
        raise NotImplementedError("write SmoothWeighted.pick")
