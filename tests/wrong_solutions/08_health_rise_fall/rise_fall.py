"""A plausible wrong exercise 08: failures are counted in total, not in a row.

The streak is never reset by a result that agrees with the state, so a flapping backend
(fail, ok, fail, ok ...) is taken down after its third failure in all. And the passive
window is closed one instant too early (``>=`` instead of ``>``).
"""

from __future__ import annotations

import time
from collections.abc import Callable


class RiseFall:
    def __init__(self, rise: int = 2, fall: int = 3) -> None:
        if not isinstance(rise, int) or not isinstance(fall, int) or rise < 1 or fall < 1:
            raise ValueError("rise and fall must be at least 1")
        self.rise, self.fall = rise, fall
        self.states: dict[str, str] = {}
        self.count: dict[str, int] = {}

    def state(self, backend: str) -> str:
        return self.states.get(backend, "up")

    def observe(self, backend: str, ok: bool) -> str | None:
        current = self.state(backend)
        if ok == (current == "up"):
            return None  # forgot: self.count[backend] = 0
        self.count[backend] = self.count.get(backend, 0) + 1
        if self.count[backend] < (self.rise if ok else self.fall):
            return None
        new = "up" if ok else "down"
        self.states[backend], self.count[backend] = new, 0
        return new

    def mark_down(self, backend: str) -> bool:
        was_up = self.state(backend) == "up"
        self.states[backend], self.count[backend] = "down", 0
        return was_up


class PassiveHealth:
    def __init__(
        self,
        max_fails: int = 1,
        fail_timeout: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_fails < 0 or fail_timeout < 0:
            raise ValueError("bad settings")
        self.max_fails, self.fail_timeout, self.clock = max_fails, fail_timeout, clock
        self.fails: dict[str, tuple[int, float]] = {}
        self.out_until: dict[str, float] = {}

    def failure(self, backend: str) -> bool:
        if self.max_fails == 0:
            return False
        now = self.clock()
        count, since = self.fails.get(backend, (0, now))
        if now - since >= self.fail_timeout:  # off by one instant: should be >
            count, since = 0, now
        if count + 1 < self.max_fails:
            self.fails[backend] = (count + 1, since)
            return False
        self.fails.pop(backend, None)
        was_in = not self.is_out(backend)
        self.out_until[backend] = now + self.fail_timeout
        return was_in

    def success(self, backend: str) -> None:
        self.fails.pop(backend, None)

    def is_out(self, backend: str) -> bool:
        return self.clock() < self.out_until.get(backend, float("-inf"))
