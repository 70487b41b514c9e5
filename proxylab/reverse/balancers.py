"""Load balancers: which backend gets the next request.

A reverse proxy stands in front of several backends and, for every request (not every
connection), must pick one. That pick is a *policy*: a small object with one main method,
``Balancer.choose(request, backends, client_ip) -> Backend``, and two notifications,
``on_start`` and ``on_end``, through which balancers with a memory learn how busy or how
slow each backend is. The proxy passes only the backends that are healthy right now, in
configured order; deciding who is healthy is the job of ``health``.

Key idea: every classic algorithm is a few lines once you ask "what does it know?":

- nothing: ``RoundRobin``, ``RandomChoice`` (fair on average, blind to load);
- static capacity: ``SmoothWeightedRoundRobin`` (nginx's weights);
- live load: ``LeastConnections``, ``PowerOfTwoChoices`` (requests in flight, ``InFlight``);
- measured speed: ``LeastLatency`` (moving average of response times);
- affinity: ``IpHash``, ``ConsistentHash`` (the same key always lands on the same backend,
  which keeps sessions and caches warm).

One balancer object serves every client connection of a proxy at once, so each keeps its
mutable state under a ``threading.Lock``; randomness comes from an injected
``random.Random``, so tests and the simulator (``simulate``) are repeatable.

Sources: nginx ``ngx_http_upstream_round_robin.c`` and ``least_conn``; HAProxy's ``balance``
documentation; Mitzenmacher, "The Power of Two Choices in Randomized Load Balancing"
(2001); Karger et al., "Consistent Hashing and Random Trees" (1997) and libketama;
Finagle and Linkerd for peak EWMA.

Left out on purpose: slow start, nginx's lowering of effective weights after failures,
bounded-load consistent hashing, Maglev tables, zone awareness. Retries and health live
elsewhere.

Why one long module: eight balancers side by side, each one short class against the same
protocol, so a student compares them on one page.

Layer 2: imports only ``errors`` and ``messages``; no sockets, no threads started.
"""

from __future__ import annotations

import abc
import bisect
import hashlib
import inspect
import random
import threading
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from proxylab.errors import ConfigError, ServiceUnavailable
from proxylab.http.messages import Request, cookie_value

__all__ = [
    "BALANCERS",
    "Backend",
    "Balancer",
    "ConsistentHash",
    "InFlight",
    "IpHash",
    "LeastConnections",
    "LeastLatency",
    "PowerOfTwoChoices",
    "RandomChoice",
    "RoundRobin",
    "SmoothWeightedRoundRobin",
    "make_balancer",
    "require_backends",
]


@dataclass(frozen=True, slots=True)
class Backend:
    """One upstream server, as a value: equal fields mean the same backend.

    Being a hashable value lets balancers key their state by ``Backend`` and keep it when
    the health checker hands them a fresh list. ``weight`` is relative capacity, as in
    nginx's ``server ... weight=3``: it should get three times the share of weight 1.
    """

    host: str
    port: int
    weight: int = 1
    name: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.weight, int) or self.weight < 1:
            raise ConfigError(
                f"Backend {self.host}:{self.port} has weight {self.weight!r}; "
                "the weight must be a whole number of at least 1."
            )
        if not self.name:
            object.__setattr__(self, "name", f"{self.host}:{self.port}")

    @property
    def address(self) -> tuple[str, int]:
        """``(host, port)``, ready for ``socket.create_connection``."""
        return (self.host, self.port)


def require_backends(backends: Sequence[Backend]) -> None:
    """Raise the 503 every balancer owes its caller when nobody is healthy."""
    if not backends:
        raise ServiceUnavailable("No healthy backend is available.")


class InFlight:
    """How many requests each backend is serving right now (nginx's ``peer->conns``).

    ``start`` and ``end`` arrive from many client threads at once, hence the lock. An end
    without a start is ignored rather than driving a count below zero.
    """

    __slots__ = ("_counts", "_lock")

    def __init__(self) -> None:
        self._counts: dict[Backend, int] = {}
        self._lock = threading.Lock()

    def start(self, backend: Backend) -> None:
        """One more request is on its way to ``backend``."""
        with self._lock:
            self._counts[backend] = self._counts.get(backend, 0) + 1

    def end(self, backend: Backend) -> None:
        """A request to ``backend`` has finished, well or badly."""
        with self._lock:
            self._counts[backend] = max(0, self._counts.get(backend, 0) - 1)

    def counts(self, backends: Sequence[Backend]) -> list[int]:
        """The in-flight count of each of ``backends``, read together under the lock."""
        with self._lock:
            return [self._counts.get(backend, 0) for backend in backends]

    def snapshot(self) -> dict[Backend, int]:
        """A copy of every count, for stats pages and tests."""
        with self._lock:
            return dict(self._counts)


class Balancer(abc.ABC):
    """The policy that picks a backend for each request. Write your own in one class.

    Override ``choose``; start it with ``require_backends(backends)``. Override ``on_start``
    and ``on_end`` only if your balancer learns from traffic. The proxy calls ``choose``,
    then ``on_start`` just before sending, then ``on_end`` once the response is over
    (``status`` 502 or 504 when the backend failed). One instance is shared by every
    client thread: guard mutable state with a lock.
    """

    name: ClassVar[str] = "custom"

    @abc.abstractmethod
    def choose(self, request: Request, backends: Sequence[Backend], client_ip: str = "") -> Backend:
        """Pick one of ``backends`` (the healthy ones, non-empty) for ``request``."""

    def on_start(self, backend: Backend) -> None:  # noqa: B027 - an optional hook
        """A request is being sent to ``backend``. Default: nothing to learn."""

    def on_end(self, backend: Backend, status: int, duration: float) -> None:  # noqa: B027
        """A request to ``backend`` ended with ``status`` after ``duration`` seconds."""


def _weighted_slot(backends: Sequence[Backend], slot: int) -> Backend:
    """The owner of ``slot`` when each backend owns ``weight`` consecutive slots."""
    for backend in backends:
        if slot < backend.weight:
            return backend
        slot -= backend.weight
    raise ValueError("slot is beyond the total weight")


class RoundRobin(Balancer):
    """Each backend in turn: a, b, c, a, b, c...

    The default of HAProxy (``balance roundrobin``), nginx and Envoy (``ROUND_ROBIN``),
    though theirs also honour weights (see ``SmoothWeightedRoundRobin``); this one ignores
    them. Fair when requests cost alike and backends are alike; blind to both. If the
    healthy list shrinks, the counter simply carries on over the survivors.
    """

    name = "round-robin"

    def __init__(self) -> None:
        self._next = 0
        self._lock = threading.Lock()

    def choose(self, request: Request, backends: Sequence[Backend], client_ip: str = "") -> Backend:
        require_backends(backends)
        with self._lock:
            index = self._next % len(backends)
            self._next = index + 1
        return backends[index]


class SmoothWeightedRoundRobin(Balancer):
    """Weighted round robin that spreads the heavy backend out, exactly as nginx does.

    Each pick, every backend adds its weight to its "current weight"; the largest current
    weight wins (the first in order on a tie) and then loses the total of all weights.
    Weights {a: 5, b: 1, c: 1} give ``a a b a c a a`` rather than the lumpy
    ``a a a a a b c``, so a light backend is never starved for long. Backends missing from
    the healthy list keep their current weight untouched, as nginx skips down peers.
    Source: ``ngx_http_upstream_get_peer`` in nginx (2012, by Maxim Dounin).
    """

    name = "weighted"

    def __init__(self) -> None:
        self._current: dict[Backend, int] = {}
        self._lock = threading.Lock()

    def choose(self, request: Request, backends: Sequence[Backend], client_ip: str = "") -> Backend:
        require_backends(backends)
        with self._lock:
            current = self._current
            for backend in backends:
                current[backend] = current.get(backend, 0) + backend.weight
            best = max(backends, key=current.__getitem__)  # max() keeps the first of equals
            current[best] -= sum(backend.weight for backend in backends)
        return best


class LeastConnections(Balancer):
    """The backend with the fewest requests in flight per unit of weight.

    nginx ``least_conn``, HAProxy ``balance leastconn``. It notices a slow backend because
    requests pile up there. Ties are broken round robin: the scan starts just after the
    previous pick, so an idle pool is served in turn instead of backend 0 taking all (nginx
    runs weighted round robin among the tied peers; this is the unweighted version).
    The counts are exact only if they are fresh: with delayed counts every request of the
    delay window goes to the one backend that looked idle ("herding", see ``simulate``).
    """

    name = "least-connections"

    def __init__(self) -> None:
        self.in_flight = InFlight()
        self._offset = 0
        self._lock = threading.Lock()

    def choose(self, request: Request, backends: Sequence[Backend], client_ip: str = "") -> Backend:
        require_backends(backends)
        counts = self.in_flight.counts(backends)
        n = len(backends)
        with self._lock:
            start = self._offset % n
            order = list(range(start, n)) + list(range(start))  # start after the last pick
            index = min(order, key=lambda i: counts[i] / backends[i].weight)
            self._offset = index + 1
        return backends[index]

    def on_start(self, backend: Backend) -> None:
        self.in_flight.start(backend)

    def on_end(self, backend: Backend, status: int, duration: float) -> None:
        self.in_flight.end(backend)


class RandomChoice(Balancer):
    """A backend drawn at random, in proportion to its weight.

    HAProxy ``balance random``, Envoy ``RANDOM``. Needs no shared state beyond the random
    generator, which is why it scales to many proxies; but luck makes queues, and its tail
    latency is poor next to ``PowerOfTwoChoices``. Seed the ``rng`` for repeatable runs.
    """

    name = "random"

    def __init__(self, rng: random.Random | None = None) -> None:
        self._rng = rng if rng is not None else random.Random()
        self._lock = threading.Lock()

    def choose(self, request: Request, backends: Sequence[Backend], client_ip: str = "") -> Backend:
        require_backends(backends)
        total = sum(backend.weight for backend in backends)
        with self._lock:
            slot = self._rng.randrange(total)
        return _weighted_slot(backends, slot)


class PowerOfTwoChoices(Balancer):
    """Draw two distinct backends at random and send to the less loaded of the two.

    Mitzenmacher (2001) showed that this one extra look shrinks the longest queue from
    about log n / log log n to log log n: nearly as good as asking everyone, at the cost
    of two counters. Envoy's ``LEAST_REQUEST``, HAProxy ``balance random(2)``, nginx
    ``random two least_conn``. Load is in-flight requests per unit of weight; on a tie
    the first draw wins. It never picks the busier of its two draws (``last_draw`` keeps
    the latest pair so tests and notebooks can check).
    """

    name = "p2c"

    def __init__(self, rng: random.Random | None = None) -> None:
        self.in_flight = InFlight()
        self.last_draw: tuple[Backend, Backend] | None = None
        self._rng = rng if rng is not None else random.Random()
        self._lock = threading.Lock()

    def choose(self, request: Request, backends: Sequence[Backend], client_ip: str = "") -> Backend:
        require_backends(backends)
        n = len(backends)
        if n == 1:
            return backends[0]
        with self._lock:
            i = self._rng.randrange(n)
            j = self._rng.randrange(n - 1)
            j += j >= i  # skip i, so j is uniform over the *other* backends
            first, second = backends[i], backends[j]
            self.last_draw = (first, second)
        load_first, load_second = self.in_flight.counts((first, second))
        if load_second * first.weight < load_first * second.weight:  # compares count/weight
            return second
        return first

    def on_start(self, backend: Backend) -> None:
        self.in_flight.start(backend)

    def on_end(self, backend: Backend, status: int, duration: float) -> None:
        self.in_flight.end(backend)


class IpHash(Balancer):
    """The same client address always goes to the same backend (while the list holds).

    nginx ``ip_hash`` (which hashes only the first three octets of an IPv4 address),
    HAProxy ``balance source``: sticky sessions without cookies. The hash is CRC-32, the
    same in every process; Python's ``hash()`` of a ``str`` is salted per process, so two
    proxies would disagree. Weights count as slots. The price of ``hash % total``: when a
    backend comes or goes, most clients move. ``ConsistentHash`` fixes that.
    """

    name = "ip-hash"

    def choose(self, request: Request, backends: Sequence[Backend], client_ip: str = "") -> Backend:
        require_backends(backends)
        total = sum(backend.weight for backend in backends)
        return _weighted_slot(backends, zlib.crc32(client_ip.encode()) % total)


def _hash32(text: str) -> int:
    """A 32-bit point on the ring: the first four bytes of MD5, as libketama does."""
    digest = hashlib.md5(text.encode(), usedforsecurity=False).digest()
    return int.from_bytes(digest[:4], "little")


class _Ring:
    """A sorted circle of points, each owned by a backend; a key belongs to the next point."""

    __slots__ = ("_owners", "_points")

    def __init__(self, backends: Sequence[Backend], points_per_weight: int) -> None:
        pairs = sorted(
            (_hash32(f"{backend.name}-{i}"), backend.name, index)
            for index, backend in enumerate(backends)
            for i in range(points_per_weight * backend.weight)
        )
        self._points = [point for point, _, _ in pairs]
        self._owners = [backends[index] for _, _, index in pairs]

    def owner(self, point: int) -> Backend:
        """The backend at or clockwise after ``point``, wrapping past the top."""
        index = bisect.bisect_left(self._points, point)
        return self._owners[index % len(self._owners)]


class ConsistentHash(Balancer):
    """Ketama consistent hashing: when one of N backends leaves, only ~1/N of keys move.

    Each backend puts ``points_per_weight * weight`` points on a circle of 2**32 hashes
    (160 per unit, as libketama; libketama takes four points from each MD5, this takes
    one, which is simpler and as good); a key goes to the first point at or after its own
    hash. Removing a backend hands only its own arcs to its neighbours, where ``hash % n``
    would move almost everyone. Used for caches (nginx ``hash ... consistent``, HAProxy
    ``hash-type consistent``, Envoy ``RING_HASH``). The key is ``"client-ip"`` (default),
    ``"path"`` (without the query), ``"header:NAME"`` or ``"cookie:NAME"``; a request
    without that header or cookie falls back to its client address (HAProxy falls back to
    round robin instead). Rings are cached by the tuple of backends they were built for.
    """

    name = "consistent-hash"
    _CACHE_SIZE = 16

    def __init__(self, key: str = "client-ip", points_per_weight: int = 160) -> None:
        self._kind, self._key_name = _parse_key(key)
        if points_per_weight < 1:
            raise ConfigError("points_per_weight must be at least 1 (libketama uses 160).")
        self._points_per_weight = points_per_weight
        self._rings: dict[tuple[Backend, ...], _Ring] = {}
        self._lock = threading.Lock()

    def choose(self, request: Request, backends: Sequence[Backend], client_ip: str = "") -> Backend:
        require_backends(backends)
        return self._ring(tuple(backends)).owner(_hash32(self.key_of(request, client_ip)))

    def key_of(self, request: Request, client_ip: str) -> str:
        """The text that is hashed for ``request``: path, header, cookie or client IP."""
        value: str | None = client_ip
        if self._kind == "path":
            value = request.target.partition("?")[0]
        elif self._kind == "header":
            value = request.headers.get(self._key_name)
        elif self._kind == "cookie":
            value = cookie_value(request.headers, self._key_name)
        return value or client_ip

    def _ring(self, backends: tuple[Backend, ...]) -> _Ring:
        with self._lock:
            ring = self._rings.get(backends)
            if ring is None:
                if len(self._rings) >= self._CACHE_SIZE:  # forget the oldest ring
                    del self._rings[next(iter(self._rings))]
                ring = self._rings[backends] = _Ring(backends, self._points_per_weight)
            return ring


def _parse_key(spec: str) -> tuple[str, str]:
    """Split ``"header:X-User"`` into ``("header", "X-User")``; reject anything else."""
    if spec in ("client-ip", "path"):
        return spec, ""
    kind, sep, name = spec.partition(":")
    if sep and kind in ("header", "cookie") and name.strip():
        return kind, name.strip()
    raise ConfigError(
        f"Unknown consistent-hash key {spec!r}; use 'client-ip', 'path', "
        "'header:NAME' or 'cookie:NAME'."
    )


class LeastLatency(Balancer):
    """The backend that has been answering fastest lately, by a moving average.

    Each backend keeps an EWMA of its response times, ``avg += decay * (sample - avg)``:
    recent samples count most, old ones fade. Untried backends come first; a backend still
    waiting for its first answer counts as the slowest known one; ties go to the fewer in
    flight. ``peak=True`` is Finagle's and Linkerd's peak EWMA: a sample above the average
    replaces it at once (trouble is believed fast, forgiven slowly) and the cost is
    multiplied by in-flight + 1, so the fastest backend is not flooded. ``error_penalty``
    seconds are added to 5xx samples: a backend that fails fast would otherwise look like
    the best one and swallow all traffic. Also: nginx Plus ``least_time``. Averages count
    samples, not seconds, so an idle slow backend keeps its bad name until others get worse.
    Plain mode only looks back: under load it sends everything to the current favourite
    until that one's average catches up (herding); compare it with ``peak=False`` in
    ``simulate``. Backends whose cost is within ``tolerance`` (10 %) of the best count as
    equally good and take turns, so two identical kitchens share the work instead of the
    one that happened to answer a microsecond faster taking it all.
    """

    name = "least-latency"

    def __init__(
        self,
        decay: float = 0.3,
        *,
        peak: bool = True,
        error_penalty: float = 0.0,
        tolerance: float = 0.1,
    ) -> None:
        if tolerance < 0.0:
            raise ConfigError("tolerance must be zero or positive, e.g. 0.1 for 10 %.")
        if not 0.0 < decay <= 1.0:
            raise ConfigError(f"decay is {decay!r}; it must be in (0, 1], e.g. 0.3.")
        if error_penalty < 0.0:
            raise ConfigError("error_penalty must be zero or a positive number of seconds.")
        self.decay, self.peak, self.error_penalty = decay, peak, error_penalty
        self.tolerance = tolerance
        self.in_flight = InFlight()
        self._average: dict[Backend, float] = {}
        self._next = 0
        self._lock = threading.Lock()

    def choose(self, request: Request, backends: Sequence[Backend], client_ip: str = "") -> Backend:
        require_backends(backends)
        counts = self.in_flight.counts(backends)
        with self._lock:
            slowest = max(self._average.values(), default=0.0)
            scores = [self._cost(b, n, slowest) for b, n in zip(backends, counts, strict=True)]
            limit = min(scores) * (1.0 + self.tolerance)
            near_best = [i for i, score in enumerate(scores) if score <= limit]
            fewest = min(counts[i] for i in near_best)
            tied = [i for i in near_best if counts[i] == fewest]
            # take turns: the first tied backend after the one chosen last time
            chosen = next((i for i in tied if i >= self._next), tied[0])
            self._next = chosen + 1
        return backends[chosen]

    def _cost(self, backend: Backend, in_flight: int, slowest: float) -> float:
        average = self._average.get(backend, slowest if in_flight else 0.0)
        if self.peak:
            average *= in_flight + 1
        return average / backend.weight

    def average(self, backend: Backend) -> float | None:
        """The current moving average for ``backend`` in seconds, or None if untried."""
        with self._lock:
            return self._average.get(backend)

    def on_start(self, backend: Backend) -> None:
        self.in_flight.start(backend)

    def on_end(self, backend: Backend, status: int, duration: float) -> None:
        self.in_flight.end(backend)
        sample = duration + (self.error_penalty if status >= 500 else 0.0)
        with self._lock:
            old = self._average.get(backend)
            if old is None or (self.peak and sample > old):
                self._average[backend] = sample
            else:
                self._average[backend] = old + self.decay * (sample - old)


#: Every built-in balancer by its configuration name.
BALANCERS: dict[str, type[Balancer]] = {
    cls.name: cls
    for cls in (
        RoundRobin,
        SmoothWeightedRoundRobin,
        LeastConnections,
        RandomChoice,
        PowerOfTwoChoices,
        IpHash,
        ConsistentHash,
        LeastLatency,
    )
}


def make_balancer(name: str, *, rng: random.Random | None = None, **options: Any) -> Balancer:
    """Build the balancer called ``name`` (see ``BALANCERS``) with its ``options``.

    ``rng`` goes to the balancers that draw at random and is ignored by the others, so
    callers can always pass one. Unknown names and options raise ``ConfigError``.
    """
    cls = BALANCERS.get(name)
    if cls is None:
        raise ConfigError(f"Unknown balancer {name!r}; choose one of: {', '.join(BALANCERS)}.")
    parameters = inspect.signature(cls).parameters
    if rng is not None and "rng" in parameters:
        options["rng"] = rng
    unknown = sorted(set(options) - set(parameters))
    if unknown:
        accepted = ", ".join(p for p in parameters if p != "rng") or "no options"
        raise ConfigError(
            f"Balancer {name!r} does not take {', '.join(unknown)}; it takes {accepted}."
        )
    return cls(**options)
