"""Reference for exercise 08 (health checks): ``proxylab.reverse.health``.

The exercise names backends by strings and states by ``"up"``/``"down"``; ``RiseFall``
(HAProxy's active-check state machine) and ``PassiveHealth`` (nginx's ``max_fails`` /
``fail_timeout``) work on ``Backend`` values and ``HealthState``. This module converts.

Layer 5 (an edge).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from proxylab.reverse.balancers import Backend
from proxylab.reverse.health import PassiveHealth as _PassiveHealth
from proxylab.reverse.health import RiseFall as _RiseFall

__all__ = ["PassiveHealth", "RiseFall"]


def _backend(name: str) -> Backend:
    return Backend(name, 0, 1, name)


def _whole(value: object, least: int, what: str) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < least:
        raise ValueError(f"{what} must be a whole number >= {least}, not {value!r}")


class RiseFall:
    """``fall`` failures in a row take an UP backend DOWN; ``rise`` successes bring it back."""

    def __init__(self, rise: int = 2, fall: int = 3) -> None:
        _whole(rise, 1, "rise")
        _whole(fall, 1, "fall")
        self._machine = _RiseFall(rise, fall)

    def state(self, backend: str) -> str:
        """``"up"`` or ``"down"`` (every backend starts up)."""
        return self._machine.state(_backend(backend)).value

    def observe(self, backend: str, ok: bool) -> str | None:
        """One probe result; the new state when it changed, else None."""
        changed = self._machine.observe(_backend(backend), ok)
        return None if changed is None else changed.value

    def mark_down(self, backend: str) -> bool:
        """Force down (a real request failed); ``rise`` good probes bring it back."""
        return self._machine.mark_down(_backend(backend))


class PassiveHealth:
    """``max_fails`` failures within ``fail_timeout`` seconds take a backend out that long."""

    def __init__(
        self,
        max_fails: int = 1,
        fail_timeout: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        _whole(max_fails, 0, "max_fails")
        if fail_timeout < 0:
            raise ValueError("fail_timeout cannot be negative")
        self._passive = _PassiveHealth(max_fails, fail_timeout, clock)

    def failure(self, backend: str) -> bool:
        """Count one failure; True when it takes ``backend`` out (it was in until now)."""
        self._passive.release_expired()  # as HealthChecker does: an out period that ended is over
        return self._passive.failure(_backend(backend))

    def success(self, backend: str) -> None:
        """A good exchange forgives the failures counted so far."""
        self._passive.success(_backend(backend))

    def is_out(self, backend: str) -> bool:
        """Is ``backend`` out right now?"""
        return self._passive.is_out(_backend(backend))
