"""Health checks: which backends may get traffic right now.

A balancer only chooses among *healthy* backends; this module decides who that is. Two
classic ways to find out, and real proxies use both:

- **Passive** checks watch real traffic. nginx's rule (``max_fails=1 fail_timeout=10s``):
  when a backend fails ``max_fails`` times within ``fail_timeout`` seconds (connection
  refused, timeout, broken response), it is taken out for ``fail_timeout`` seconds, then
  simply tried again. Free, but only learns from a request that already failed (and was,
  with luck, retried elsewhere). ``PassiveHealth`` is that rule as a pure state object.
  As in nginx, passive marks never leave a group empty: a lone backend is never taken
  out for one failure, and when all have failed, all are tried.
- **Active** checks ask. HAProxy's rule (``check inter 2s rise 2 fall 3``): every
  ``interval`` seconds send ``GET path`` to each backend; a 2xx or 3xx answer is a
  success. After ``fall`` failures in a row an UP backend goes DOWN; after ``rise``
  successes in a row a DOWN one comes back UP. The hysteresis stops a flaky backend from
  flapping. ``RiseFall`` is that state machine, pure as well.

``HealthChecker`` composes them: it owns the one background thread that probes (started
and stopped, and joined, by its owner), records every change of state as an ``Event``
(``source="health"``, ``note="down"`` or ``"up"``), and answers ``healthy(backends)`` on
the per-request path with no lock and no allocation beyond one list when all is well.
When active checks run, a passive failure marks the backend DOWN in the active state
machine (HAProxy's ``observe layer7`` with ``on-error mark-down``): it comes back after
``rise`` good probes instead of blindly after ``fail_timeout``.

Slow start (HAProxy ``slowstart``, nginx Plus ``slow_start``): a backend that just came
back gets only a growing fraction of the requests for ``slow_start`` seconds, so a cold
cache or JIT is not flattened at once. Here the ramp is simple: during the ramp the
backend is offered to the balancer with probability ``elapsed / slow_start``.

Left out on purpose: TCP-only and custom-payload checks, agent checks, per-backend check
settings, probes in parallel (one slow backend delays the others' probes by at most
``timeout``), DNS re-resolution.

Layer 3: sockets (the probe) and the one thread live here.
"""

from __future__ import annotations

import enum
import random
import socket
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from types import TracebackType

from proxylab.errors import ConfigError, ProxyLabError
from proxylab.http.messages import Headers, Request, Response
from proxylab.http.wire import HeadParser, serialize_request_head
from proxylab.metrics import Event, EventLog
from proxylab.net.upstream import open_connection
from proxylab.reverse.balancers import Backend

__all__ = ["HealthChecker", "HealthPolicy", "HealthState", "PassiveHealth", "RiseFall"]

Clock = Callable[[], float]


class HealthState(enum.Enum):
    """What the checker believes about a backend."""

    UP = "up"
    DOWN = "down"


@dataclass(frozen=True, slots=True)
class HealthPolicy:
    """Every knob of both kinds of check, with nginx's and HAProxy's defaults.

    ``path=None`` turns active checks off; ``max_fails=0`` turns passive checks off.
    ``timeout`` bounds one probe (connect plus answer).
    """

    path: str | None = None
    interval: float = 2.0
    rise: int = 2
    fall: int = 3
    timeout: float = 1.0
    max_fails: int = 1
    fail_timeout: float = 10.0
    slow_start: float = 0.0

    def __post_init__(self) -> None:
        if self.path is not None and not self.path.startswith("/"):
            raise ConfigError(f"Health check path {self.path!r} must start with '/'.")
        if self.interval <= 0 or self.timeout <= 0:
            raise ConfigError("Health check interval and timeout must be positive seconds.")
        if self.rise < 1 or self.fall < 1 or self.max_fails < 0:
            raise ConfigError("rise and fall must be at least 1, max_fails at least 0.")
        if self.fail_timeout < 0 or self.slow_start < 0:
            raise ConfigError("fail_timeout and slow_start cannot be negative.")


class PassiveHealth:
    """nginx's passive rule: ``max_fails`` failures within ``fail_timeout`` -> out that long.

    A pure state object: not thread-safe by itself (``HealthChecker`` holds a lock), with
    an injectable ``clock`` so tests can step time instead of sleeping.
    """

    def __init__(
        self, max_fails: int = 1, fail_timeout: float = 10.0, clock: Clock = time.monotonic
    ) -> None:
        self.max_fails = max_fails
        self.fail_timeout = fail_timeout
        self.clock = clock
        self._fails: dict[Backend, tuple[int, float]] = {}  # count, start of the window
        self._out: dict[Backend, float] = {}  # out until this clock time

    def failure(self, backend: Backend) -> bool:
        """Count one failure; True when it takes ``backend`` out (it was in until now)."""
        if self.max_fails == 0:
            return False
        now = self.clock()
        count, since = self._fails.get(backend, (0, now))
        if now - since > self.fail_timeout:  # the old failures are outside the window
            count, since = 0, now
        if count + 1 < self.max_fails:
            self._fails[backend] = (count + 1, since)
            return False
        self._fails.pop(backend, None)
        was_in = backend not in self._out
        self._out[backend] = now + self.fail_timeout
        return was_in

    def success(self, backend: Backend) -> None:
        """A good exchange forgives earlier failures (nginx resets ``fails``)."""
        self._fails.pop(backend, None)

    def is_out(self, backend: Backend) -> bool:
        """Is ``backend`` inside its out period?"""
        until = self._out.get(backend)
        return until is not None and self.clock() < until

    def release_expired(self) -> list[Backend]:
        """Forget out periods that are over; returns the backends that are back in."""
        now = self.clock()
        back = [backend for backend, until in self._out.items() if now >= until]
        for backend in back:
            del self._out[backend]
        return back

    def forget(self, backend: Backend) -> None:
        """Drop every record of ``backend`` (another check took over its state)."""
        self._fails.pop(backend, None)
        self._out.pop(backend, None)

    @property
    def counting(self) -> bool:
        """Are there failures being counted (so a success has something to reset)?"""
        return bool(self._fails)

    @property
    def any_out(self) -> bool:
        """Is any backend out right now (or waiting to be released)?"""
        return bool(self._out)


class RiseFall:
    """HAProxy's active-check state machine: ``fall`` failures -> DOWN, ``rise`` -> UP.

    Every backend starts UP. Only a full run of opposite results changes the state, so a
    single lost probe does not take a backend out and a single lucky one does not bring
    it back. Pure and not thread-safe by itself.
    """

    def __init__(self, rise: int = 2, fall: int = 3) -> None:
        self.rise, self.fall = rise, fall
        self._state: dict[Backend, HealthState] = {}
        self._streak: dict[Backend, int] = {}  # results in a row against the current state

    def state(self, backend: Backend) -> HealthState:
        """The current state of ``backend`` (UP until proven otherwise)."""
        return self._state.get(backend, HealthState.UP)

    def observe(self, backend: Backend, ok: bool) -> HealthState | None:
        """Feed one probe result; returns the new state when it changed, else None."""
        current = self.state(backend)
        if ok == (current is HealthState.UP):
            self._streak[backend] = 0
            return None
        streak = self._streak.get(backend, 0) + 1
        if streak < (self.fall if ok is False else self.rise):
            self._streak[backend] = streak
            return None
        new = HealthState.UP if ok else HealthState.DOWN
        self._state[backend], self._streak[backend] = new, 0
        return new

    def mark_down(self, backend: Backend) -> bool:
        """Force DOWN (a passive failure); ``rise`` good probes bring it back. True if changed."""
        changed = self.state(backend) is HealthState.UP
        self._state[backend], self._streak[backend] = HealthState.DOWN, 0
        return changed


class HealthChecker:
    """Passive and active checks for a set of backends, with one probing thread.

    ``healthy(backends)`` is what the proxy asks per request. ``report_failure`` and
    ``report_success`` feed the passive check from real traffic. ``start()`` runs the
    active checks (if ``policy.path`` is set) until ``stop()``, which joins the thread;
    it is also a context manager. ``on_change(backend, state)`` is told of every change.
    """

    def __init__(
        self,
        backends: Iterable[Backend],
        policy: HealthPolicy | None = None,
        *,
        events: EventLog | None = None,
        clock: Clock = time.monotonic,
        wall_clock: Clock = time.time,
        rng: random.Random | None = None,
        on_change: Callable[[Backend, HealthState], None] | None = None,
    ) -> None:
        self.backends = tuple(dict.fromkeys(backends))
        self.policy = policy or HealthPolicy()
        self.events = events
        self.clock, self.wall_clock = clock, wall_clock
        self.on_change = on_change
        self._rng = rng or random.Random()
        self._passive = PassiveHealth(self.policy.max_fails, self.policy.fail_timeout, clock)
        self._active = RiseFall(self.policy.rise, self.policy.fall)
        self._down: set[Backend] = set()  # DOWN by the active state machine
        self._ramp: dict[Backend, float] = {}  # slow start: when it came back up
        # True while nobody is down, out, ramping or has failures counted: the
        # per-request path reads this one flag, without the lock (see _settle)
        self._quiet = True
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def active(self) -> bool:
        """Are active checks configured?"""
        return self.policy.path is not None

    # -- the per-request questions -----------------------------------------------------
    def healthy(self, backends: Sequence[Backend]) -> list[Backend]:
        """The members of ``backends`` that may get traffic now, in the same order."""
        if self._quiet:
            return list(backends)  # the common case: everyone is fine
        with self._lock:
            released = self._passive.release_expired() if self._passive.any_out else []
            alive = self._passively_alive([b for b in backends if b not in self._down])
            chosen = self._ramp_filter(alive) if self._ramp else alive
            self._settle()
        for backend in released:
            self._announce(backend, HealthState.UP, "passive", "fail_timeout elapsed")
        return chosen

    def _passively_alive(self, candidates: list[Backend]) -> list[Backend]:
        """``candidates`` without those passive checks took out, unless that leaves none.

        nginx's rule: a group with a single server never loses it to ``max_fails``, and
        when every server has failed, all are tried again. A dropped connection then
        costs one 502, not ``fail_timeout`` seconds of "no healthy backend" for everyone.
        """
        kept = [b for b in candidates if not self._passive.is_out(b)]
        return kept or candidates

    def _ramp_filter(self, alive: list[Backend]) -> list[Backend]:
        now = self.clock()
        chosen = []
        for backend in alive:
            started = self._ramp.get(backend)
            fraction = 1.0 if started is None else (now - started) / self.policy.slow_start
            if fraction >= 1.0:
                self._ramp.pop(backend, None)
            if fraction >= 1.0 or self._rng.random() < fraction:
                chosen.append(backend)
        return chosen or alive  # never refuse traffic only because of the ramp

    def state(self, backend: Backend) -> HealthState:
        """UP or DOWN as the proxy would treat ``backend`` now."""
        with self._lock:
            down = backend in self._down or self._passive.is_out(backend)
        return HealthState.DOWN if down else HealthState.UP

    def report_failure(self, backend: Backend, reason: str = "") -> None:
        """A real exchange with ``backend`` failed (connect error, timeout, broken reply)."""
        with self._lock:
            out = self._passive.failure(backend)
            if out and self.active:  # hand over to the active checks: rise good probes
                self._passive.forget(backend)
                out = self._active.mark_down(backend)
                self._down.add(backend)
                self._ramp.pop(backend, None)
            self._settle()
        if out:
            self._announce(backend, HealthState.DOWN, "passive", reason)

    def report_success(self, backend: Backend) -> None:
        """A real exchange with ``backend`` went well (cheap when nothing is counted)."""
        if not self._quiet and self._passive.counting:
            with self._lock:
                self._passive.success(backend)
                self._settle()

    def _settle(self) -> None:
        """Recompute ``_quiet`` after a change of state (called with the lock held).

        The per-request methods read the flag without the lock. A request that reads it
        just before another thread's change acts on the state of a moment ago: what the
        unlocked check did before, one attribute instead of four tests and two calls.
        """
        passive = self._passive
        self._quiet = not (self._down or self._ramp or passive.any_out or passive.counting)

    # -- active checks -----------------------------------------------------------------
    def probe(self, backend: Backend) -> tuple[bool, str]:
        """One active check: ``GET path`` with ``Connection: close``; 2xx/3xx is up."""
        timeout = self.policy.timeout
        request = Request("GET", self.policy.path or "/", Headers([
            ("Host", f"{backend.host}:{backend.port}"),
            ("User-Agent", "proxylab-health-check"),
            ("Connection", "close"),
        ]))  # fmt: skip
        try:
            with open_connection(backend.host, backend.port, timeout) as sock:
                sock.settimeout(timeout)
                sock.sendall(serialize_request_head(request))
                response = _read_response_head(sock)
        except ProxyLabError as error:
            return False, error.message
        except OSError as error:
            return False, f"probe failed ({error.__class__.__name__})"
        return 200 <= response.status < 400, f"HTTP {response.status}"

    def check_now(self) -> None:
        """Probe every backend once, in turn, and apply the results."""
        for backend in self.backends:
            self._apply(backend, *self.probe(backend))

    def _apply(self, backend: Backend, ok: bool, reason: str) -> None:
        with self._lock:
            changed = self._active.observe(backend, ok)
            if changed is HealthState.DOWN:
                self._down.add(backend)
                self._ramp.pop(backend, None)
            elif changed is HealthState.UP:
                self._down.discard(backend)
                if self.policy.slow_start > 0:
                    self._ramp[backend] = self.clock()
            self._settle()
        if changed is not None:
            self._announce(backend, changed, "active", reason)

    def _announce(self, backend: Backend, state: HealthState, check: str, reason: str) -> None:
        if self.on_change is not None:
            self.on_change(backend, state)
        if self.events is not None:
            self.events.record(
                Event(
                    time=self.wall_clock(),
                    source="health",
                    kind="health",
                    upstream=backend.name,
                    note=state.value,
                    extra={"check": check, "reason": reason},
                )
            )

    # -- the thread --------------------------------------------------------------------
    def start(self) -> HealthChecker:
        """Start probing every ``interval`` seconds (no-op without a check path)."""
        if self.active and self.backends and self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="health-check", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop probing and join the thread (at most one probe timeout later)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _run(self) -> None:
        # Event.wait, not time.sleep: stop() wakes the thread at once.
        while not self._stop.wait(self.policy.interval):
            for backend in self.backends:
                if self._stop.is_set():
                    return
                self._apply(backend, *self.probe(backend))

    def __enter__(self) -> HealthChecker:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _read_response_head(sock: socket.socket) -> Response:
    """Read until a whole response head arrived (the socket has its timeout set)."""
    parser = HeadParser("response")
    while True:
        data = sock.recv(4096)
        if not data:
            raise OSError("the backend closed the connection without answering")
        head = parser.feed(data)
        if head is not None:
            assert isinstance(head, Response)
            return head
