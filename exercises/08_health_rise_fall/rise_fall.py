"""Exercise 08: a health checker's state machines (write the bodies).

A reverse proxy must stop sending requests to a dead backend, and start again once it
is back, without flapping on every lost probe. Read README.md; run ``proxylab grade 08``.

Backends are plain names (``"kitchen-1"``); states are the strings ``"up"`` and ``"down"``.
Neither class needs a lock: the health checker that owns them holds one.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class RiseFall:
    """HAProxy's active checks (``check rise 2 fall 3``).

    Every backend starts ``"up"``. An up backend goes ``"down"`` after ``fall`` failed
    probes in a row; a down backend comes back ``"up"`` after ``rise`` good probes in a
    row. A result that agrees with the current state starts the count again from zero.
    """

    def __init__(self, rise: int = 2, fall: int = 3) -> None:
        """ValueError unless rise and fall are whole numbers >= 1."""
        raise NotImplementedError

    def state(self, backend: str) -> str:
        """``"up"`` or ``"down"``; a backend never seen is ``"up"``."""
        raise NotImplementedError

    def observe(self, backend: str, ok: bool) -> str | None:
        """Feed one probe result; return the new state if it changed now, else None."""
        raise NotImplementedError

    def mark_down(self, backend: str) -> bool:
        """Force ``"down"`` now (a real request failed, HAProxy ``on-error mark-down``).

        The count of good probes starts from zero, so ``rise`` good probes are needed to
        come back. Returns True if the backend was up until now.
        """
        raise NotImplementedError


class PassiveHealth:
    """nginx's passive checks (``server ... max_fails=3 fail_timeout=10s``).

    A backend that fails ``max_fails`` times within ``fail_timeout`` seconds is out for
    ``fail_timeout`` seconds, then simply in again. The window starts at the first
    failure counted; a failure more than ``fail_timeout`` seconds after it starts a new
    window (exactly ``fail_timeout`` later still counts in the old one). ``max_fails=0``
    turns passive checks off. Read the time only from ``clock()``.
    """

    def __init__(
        self,
        max_fails: int = 1,
        fail_timeout: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """ValueError if max_fails is not a whole number >= 0 or fail_timeout < 0."""
        raise NotImplementedError

    def failure(self, backend: str) -> bool:
        """Count one failure; True only when this failure takes the backend out."""
        raise NotImplementedError

    def success(self, backend: str) -> None:
        """A good exchange: forget the failures counted so far for ``backend``."""
        raise NotImplementedError

    def is_out(self, backend: str) -> bool:
        """True from the failure that took it out until ``fail_timeout`` seconds later."""
        raise NotImplementedError
