"""Kitchens: the lab's backends, with a latency distribution, a capacity and an error rate.

In the restaurant analogy the reverse proxy is the waiter and the backends are kitchens.
A ``Kitchen`` is a small HTTP server whose every order (request) behaves like a real
backend under load:

- it takes a time drawn from a distribution: ``Fixed(0.01)``, ``Exponential(mean)`` (the
  memoryless textbook case: mostly quick, some slow) or ``LogNormal(median, sigma)`` (the
  shape measured response times usually have: a long tail to the right);
- at most ``capacity`` orders are cooked at once; the others queue, exactly like requests
  waiting for a free worker thread, so an overloaded kitchen gets slower, not faster;
- a fraction ``error_rate`` of orders answer ``500``;
- every answer names the kitchen in ``X-Kitchen`` and in its JSON body, so load-balancing
  charts can count who cooked what (the reverse proxy hides ``Server`` and
  ``X-Powered-By``, which kitchens send too, but lets ``X-Kitchen`` through).

A kitchen can be stopped, slowed down and started again on the same port while the lab
runs, which is how failover and least-latency balancing are demonstrated. Waiting, whether
for a free place or for the food, is ``Event.wait``/``Condition.wait``, never
``time.sleep``: stopping the kitchen wakes every waiting order at once, and they answer
``503``.

The health path (``/health``) answers at once, outside the queue: an active health check
asks "are you alive?", not "how long is the queue?". So does ``/whoami`` (what the kitchen
saw of the request, e.g. the ``X-Forwarded-*`` fields a reverse proxy adds).

Left out on purpose: per-path menus, slow start, memory or CPU models.

Layer 5 (an edge): built on ``server``, ``balancers.Backend`` and ``metrics``.
"""

from __future__ import annotations

import json
import math
import random
import threading
import time
import zlib
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import urlsplit

from proxylab.errors import ConfigError
from proxylab.http.messages import Request
from proxylab.lab.sites import Reply, send_reply, whoami_report
from proxylab.metrics import Event, EventLog
from proxylab.net.connection import ClientConnection
from proxylab.net.server import Server
from proxylab.reverse.balancers import Backend

__all__ = [
    "DEFAULT_LATENCY",
    "HEALTH_PATH",
    "Exponential",
    "Fixed",
    "Kitchen",
    "Latency",
    "LogNormal",
]

#: The path a health checker should probe.
HEALTH_PATH = "/health"


class Latency(Protocol):
    """A cooking-time distribution: ``sample`` draws seconds, ``scaled`` makes it slower."""

    def sample(self, rng: random.Random) -> float:
        """One cooking time in seconds, drawn with ``rng``."""
        ...

    def scaled(self, factor: float) -> Latency:
        """The same shape, ``factor`` times slower."""
        ...

    @property
    def mean(self) -> float:
        """The average cooking time in seconds."""
        ...


@dataclass(frozen=True, slots=True)
class Fixed:
    """Every order takes exactly ``seconds``."""

    seconds: float

    def sample(self, rng: random.Random) -> float:
        """Always ``seconds``."""
        return self.seconds

    def scaled(self, factor: float) -> Fixed:
        """``factor`` times longer."""
        return Fixed(self.seconds * factor)

    @property
    def mean(self) -> float:
        """The average time: ``seconds``."""
        return self.seconds


@dataclass(frozen=True, slots=True)
class Exponential:
    """Memoryless times averaging ``mean`` seconds (the M of M/M/c)."""

    mean: float

    def sample(self, rng: random.Random) -> float:
        """One exponential draw."""
        return rng.expovariate(1.0 / self.mean) if self.mean > 0 else 0.0

    def scaled(self, factor: float) -> Exponential:
        """``factor`` times longer on average."""
        return Exponential(self.mean * factor)


@dataclass(frozen=True, slots=True)
class LogNormal:
    """Times whose logarithm is normal: half below ``median``, a long tail set by ``sigma``."""

    median: float
    sigma: float = 0.5

    def sample(self, rng: random.Random) -> float:
        """One log-normal draw."""
        return rng.lognormvariate(math.log(self.median), self.sigma) if self.median > 0 else 0.0

    def scaled(self, factor: float) -> LogNormal:
        """``factor`` times longer (the median moves, the shape stays)."""
        return LogNormal(self.median * factor, self.sigma)

    @property
    def mean(self) -> float:
        """The average: ``median * exp(sigma**2 / 2)``, above the median because of the tail."""
        return self.median * math.exp(self.sigma**2 / 2)


#: A kitchen's cooking time unless told otherwise: 10 ms, every time.
DEFAULT_LATENCY: Latency = Fixed(0.01)


class _Places:
    """A counting semaphore whose waiters can be woken by a cancel event (stopping)."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.busy = 0
        self._condition = threading.Condition()

    def acquire(self, cancel: threading.Event) -> bool:
        """Wait for a free place; False if ``cancel`` was set meanwhile."""
        with self._condition:
            while self.busy >= self.capacity and not cancel.is_set():
                self._condition.wait()
            if cancel.is_set():
                return False
            self.busy += 1
            return True

    def release(self) -> None:
        """Free a place and wake one waiter."""
        with self._condition:
            self.busy -= 1
            self._condition.notify()

    def wake_all(self) -> None:
        """Wake every waiter so they can see the cancel event."""
        with self._condition:
            self._condition.notify_all()


@dataclass(frozen=True, slots=True)
class _Order:
    """How one order went: when it came in, how long it queued and cooked, the status."""

    started: float
    path: str
    status: int
    queued: float
    cooking: float = 0.0
    finished: float = field(default_factory=time.monotonic)

    def report(self, kitchen: str) -> dict[str, object]:
        """The JSON body: who cooked, and the times in milliseconds."""
        return {
            "kitchen": kitchen,
            "status": self.status,
            "path": self.path,
            "queued_ms": round(self.queued * 1000, 3),
            "cooking_ms": round(self.cooking * 1000, 3),
            "total_ms": round((self.finished - self.started) * 1000, 3),
        }

    def event(self, kitchen: str, client: str, method: str) -> Event:
        """The kitchen's own record of the order (``source="kitchen"``)."""
        duration = self.finished - self.started
        return Event(
            time=time.time() - duration,
            source="kitchen",
            client=client,
            method=method,
            target=self.path,
            status=self.status,
            upstream=kitchen,
            duration=duration,
            extra={"queued": self.queued, "cooking": self.cooking},
        )


class Kitchen:
    """A backend with a name, a latency distribution, an error rate and a capacity.

    ``Kitchen("kitchen-a", LogNormal(0.02)).start()`` cooks on an ephemeral port;
    ``.backend`` is the ``Backend`` a reverse proxy needs. ``seed`` makes its times and
    errors repeatable (default: derived from the name).
    """

    def __init__(
        self,
        name: str,
        latency: Latency = DEFAULT_LATENCY,
        error_rate: float = 0.0,
        capacity: int = 4,
        *,
        address: tuple[str, int] = ("127.0.0.1", 0),
        weight: int = 1,
        seed: int | None = None,
        events: EventLog | None = None,
    ) -> None:
        if capacity < 1:
            raise ConfigError(f"Kitchen {name!r}: capacity must be at least 1.")
        self.name = name
        self.latency = latency
        self.error_rate = _check_rate(name, error_rate)
        self.capacity = capacity
        self.weight = weight
        self.events = events
        self.orders = 0
        self._bind = address
        self._rng = random.Random(zlib.crc32(name.encode()) if seed is None else seed)
        self._lock = threading.Lock()
        self._places = _Places(capacity)
        self._closing = threading.Event()
        self._server: Server | None = None

    # -- life cycle --------------------------------------------------------------------
    def start(self) -> Kitchen:
        """Open (idempotent); after a ``stop`` it reopens on the same port."""
        if self._server is None:
            self._closing = threading.Event()
            self._server = Server(self, self._bind, name=f"kitchen-{self.name}").start()
            self._bind = self._server.address
        return self

    def stop(self, drain: bool = False) -> None:
        """Close; every thread is joined. Orders in progress or queued answer 503 at once,
        unless ``drain``: then they are finished first (a graceful shutdown), while no new
        connection is accepted.
        """
        server, self._server = self._server, None
        if server is not None:
            if not drain:
                self._closing.set()
                self._places.wake_all()
            server.stop()

    close = stop

    def restart(self, drain: bool = False) -> Kitchen:
        """Stop and start again on the same port (a backend being redeployed)."""
        self.stop(drain)
        return self.start()

    @property
    def running(self) -> bool:
        """Is the kitchen open right now?"""
        return self._server is not None

    def slow_down(self, change: float | Latency) -> None:
        """Make orders slower: a number multiplies the latency, a distribution replaces it."""
        if isinstance(change, (int, float)):
            if change <= 0:
                raise ConfigError("slow_down needs a positive factor.")
            self.latency = self.latency.scaled(float(change))
        else:
            self.latency = change

    @property
    def address(self) -> tuple[str, int]:
        """The ``(host, port)`` the kitchen listens on (kept across restarts)."""
        return self._bind

    @property
    def url(self) -> str:
        """``http://host:port`` of the kitchen itself."""
        return f"http://{self._bind[0]}:{self._bind[1]}"

    @property
    def backend(self) -> Backend:
        """This kitchen as a reverse proxy ``Backend`` (same value after a restart)."""
        return Backend(self._bind[0], self._bind[1], self.weight, self.name)

    @property
    def in_progress(self) -> int:
        """Orders being cooked right now (at most ``capacity``)."""
        return self._places.busy

    # -- one order ---------------------------------------------------------------------
    def __call__(self, conn: ClientConnection, request: Request) -> None:
        """Take one order (the ``Handler`` protocol of ``server``)."""
        started = time.monotonic()
        for _ in conn.read_body(request):
            pass
        path = urlsplit(request.target).path
        if path in (HEALTH_PATH, "/whoami"):  # answered at once, outside the queue
            report = (
                whoami_report(self.name, conn, request) if path == "/whoami" else {"status": "open"}
            )
            send_reply(conn, request, self._reply(200, {"kitchen": self.name, **report}))
            return
        order = self._cook(started, path)
        if self.events is not None:  # recorded before answering: the log is never behind
            self.events.record(order.event(self.name, conn.client_ip, request.method))
        send_reply(conn, request, self._reply(order.status, order.report(self.name)))

    def _cook(self, started: float, path: str) -> _Order:
        """Queue for a free place, then cook; stopping the kitchen cuts both short (503)."""
        closing = self._closing
        if not self._places.acquire(closing):
            return _Order(started, path, 503, time.monotonic() - started)
        queued = time.monotonic() - started
        try:
            cooking, failed = self._draw()
            interrupted = closing.wait(cooking)  # the cooking itself: an Event, not sleep
        finally:
            self._places.release()
        status = 503 if interrupted else 500 if failed else 200
        return _Order(started, path, status, queued, cooking)

    def _draw(self) -> tuple[float, bool]:
        with self._lock:  # random.Random is not safe to share between threads unlocked
            self.orders += 1
            return max(0.0, self.latency.sample(self._rng)), self._rng.random() < self.error_rate

    def _reply(self, status: int, report: dict[str, object]) -> Reply:
        headers = (
            ("X-Kitchen", self.name),
            ("Server", f"kitchen/1.0 ({self.name})"),
            ("X-Powered-By", "proxylab-kitchen"),
            ("Cache-Control", "no-store"),
        )
        return Reply(status, (json.dumps(report) + "\n").encode(), "application/json", headers)

    def __enter__(self) -> Kitchen:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "open" if self.running else "closed"
        return f"Kitchen({self.name!r}, {self.latency!r}, capacity={self.capacity}, {state})"


def _check_rate(name: str, rate: float) -> float:
    if not 0.0 <= rate <= 1.0:
        raise ConfigError(f"Kitchen {name!r}: error_rate must be between 0 and 1.")
    return float(rate)
