"""A discrete-event simulator: the real balancers against imaginary backends, at scale.

``simulate(balancer, backends, requests, arrival_rate, seed)`` plays out a million requests
in seconds on a virtual clock and reports latency percentiles and how the load was spread.
It drives the very classes the reverse proxy uses, calling ``choose``, ``on_start`` and
``on_end`` just as the proxy does: what you see is that code at work, not a model of it.

Key idea: in a discrete-event simulation nothing happens between events, so the clock jumps
from one to the next. A heap (``heapq``) holds future events ordered by time; the loop pops
the earliest, moves the clock there and handles it, which may schedule more events. The
events are: a request arrives; a backend finishes one; a late report reaches the balancer.

The model:

- Clients, open loop (default): Poisson arrivals at ``arrival_rate`` per second, that is
  exponential gaps; many independent users who never wait for each other, the shape of
  traffic at scale. Closed loop: ``users`` who each send, wait for the answer, think
  ``think_time`` seconds on average and send again, the shape of a load test. Each request
  comes from one of ``clients`` addresses, for the hashing balancers.
- A backend (``SimBackend``) has ``capacity`` workers; requests beyond that wait in a FIFO
  queue at the backend, like a thread pool's queue. Service times come from a distribution
  and a fraction ``error_rate`` of answers are 500s.
- Latency = queueing wait + service time; the network and the proxy cost nothing.
- ``stale_info``: the balancer hears of starts and ends that many seconds late, as when
  proxies share load reports. Least connections then sends every request of the window to
  the one backend that looked idle: herding (Mitzenmacher, "How Useful Is Old Information?",
  2000). Power of two choices resists it thanks to its randomness.

Percentiles come from a histogram of 1%-wide buckets, so a run keeps a few hundred numbers
whatever its size; ``records=True`` also keeps one row per request.

Left out on purpose: network delays, timeouts, retries, health checks, several proxies, and
numpy (plain Python runs well over 50,000 requests a second, plenty for a lab).

Why one long module: one discrete-event loop and the few value types it reads and
writes; splitting it would hide the loop's order of events.

Layer 5 (an edge) but pure: no sockets, no threads, no wall clock. One seeded
``random.Random`` drives the run, so a seed gives the same result every time.
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from proxylab.errors import ConfigError
from proxylab.http.messages import Request
from proxylab.reverse.balancers import Backend, Balancer, make_balancer

__all__ = [
    "LatencyHistogram",
    "RequestRecord",
    "ServiceTime",
    "SimBackend",
    "SimResult",
    "constant",
    "exponential",
    "lognormal",
    "parse_service_time",
    "simulate",
    "uniform",
]

#: A service-time distribution: draws one duration in seconds from the generator.
ServiceTime = Callable[[random.Random], float]


def constant(seconds: float) -> ServiceTime:
    """Every request takes exactly ``seconds`` (the D in queueing theory's M/D/c)."""
    if seconds < 0:
        raise ConfigError("A service time cannot be negative.")
    return lambda rng: seconds


def exponential(mean: float) -> ServiceTime:
    """Memoryless times around ``mean``: mostly short, a few long (the M of M/M/c)."""
    if mean <= 0:
        raise ConfigError("The mean service time must be positive, e.g. exp:0.01.")
    rate = 1.0 / mean
    return lambda rng: rng.expovariate(rate)


def uniform(low: float, high: float) -> ServiceTime:
    """Anywhere between ``low`` and ``high`` seconds, all equally likely."""
    if not 0 <= low <= high:
        raise ConfigError("A uniform service time needs 0 <= low <= high.")
    return lambda rng: rng.uniform(low, high)


def lognormal(median: float, sigma: float) -> ServiceTime:
    """A long right tail, like measured web response times: ``median`` and spread ``sigma``."""
    if median <= 0 or sigma < 0:
        raise ConfigError("A lognormal service time needs median > 0 and sigma >= 0.")
    mu = math.log(median)
    return lambda rng: rng.lognormvariate(mu, sigma)


_DISTRIBUTIONS: dict[str, Callable[..., ServiceTime]] = {
    "const": constant,
    "exp": exponential,
    "uniform": uniform,
    "lognormal": lognormal,
}


def parse_service_time(spec: ServiceTime | float | str) -> ServiceTime:
    """A sampler from a callable, seconds (``0.01``) or text (``"exp:0.01"``, ...)."""
    if callable(spec):
        return spec
    if isinstance(spec, (int, float)):
        return constant(float(spec))
    kind, _, arguments = spec.partition(":")
    try:
        return _DISTRIBUTIONS[kind](*(float(text) for text in arguments.split(":")))
    except ConfigError:  # a known distribution with a bad number: keep its precise message
        raise
    except (KeyError, TypeError, ValueError):
        raise ConfigError(
            f"Unknown service time {spec!r}; use seconds (0.01), 'const:S', 'exp:MEAN', "
            "'uniform:LOW:HIGH' or 'lognormal:MEDIAN:SIGMA'."
        ) from None


@dataclass(frozen=True, slots=True)
class SimBackend:
    """An imaginary backend ("kitchen"): how long it takes and how many it serves at once.

    ``service_time`` is a sampler or a spec for ``parse_service_time``. ``capacity`` is the
    number of workers; the balancer sees ``backend``, a real ``Backend`` named ``name``.
    """

    name: str
    service_time: ServiceTime | float | str
    capacity: int = 1
    weight: int = 1
    error_rate: float = 0.0
    backend: Backend = field(init=False, repr=False, compare=False)
    sampler: ServiceTime = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.capacity < 1:
            raise ConfigError(f"Backend {self.name!r}: capacity must be at least 1 worker.")
        if not 0.0 <= self.error_rate <= 1.0:
            raise ConfigError(f"Backend {self.name!r}: error_rate must be between 0 and 1.")
        object.__setattr__(self, "sampler", parse_service_time(self.service_time))
        object.__setattr__(self, "backend", Backend(self.name, 80, self.weight, self.name))


class RequestRecord(NamedTuple):
    """One simulated request: when it arrived, from whom, where it went, how long it took."""

    time: float
    client: str
    backend: str
    wait: float
    service: float
    latency: float
    status: int


class LatencyHistogram:
    """Latencies in log-scale buckets 1% wide: percentiles to within 1% in little memory.

    Bucket ``k`` counts values in [1.01**k, 1.01**(k+1)); 1 ms and 10 s are both known to
    1%, with a few hundred buckets. The idea of HdrHistogram and DDSketch, minus tricks.
    """

    __slots__ = ("_buckets", "_zeros", "count", "largest", "total")
    _LOG_GROWTH = math.log(1.01)

    def __init__(self) -> None:
        self._buckets: dict[int, int] = {}
        self._zeros = 0
        self.count = 0
        self.total = 0.0
        self.largest = 0.0

    def add(self, value: float) -> None:
        """Count one latency of ``value`` seconds."""
        self.count += 1
        self.total += value
        if value > self.largest:
            self.largest = value
        if value <= 0.0:
            self._zeros += 1
            return
        key = math.floor(math.log(value) / self._LOG_GROWTH)
        self._buckets[key] = self._buckets.get(key, 0) + 1

    def quantile(self, q: float) -> float:
        """The latency that a fraction ``q`` of requests did not exceed (nearest rank)."""
        rank = max(1, math.ceil(q * self.count))
        seen = self._zeros
        if seen >= rank:
            return 0.0
        for key in sorted(self._buckets):
            seen += self._buckets[key]
            if seen >= rank:
                return min(math.exp((key + 0.5) * self._LOG_GROWTH), self.largest)
        return self.largest


@dataclass(frozen=True, slots=True)
class SimResult:
    """What a run produced: latency summary, load per backend and, maybe, every request.

    Latencies are in seconds. ``records`` is in arrival order (empty if not kept).
    """

    balancer: str
    requests: int
    elapsed: float
    mean: float
    p50: float
    p95: float
    p99: float
    max_latency: float
    errors: int
    per_backend: dict[str, int]
    max_queue: dict[str, int]
    records: list[RequestRecord]

    @property
    def throughput(self) -> float:
        """Requests completed per simulated second."""
        return self.requests / self.elapsed if self.elapsed > 0 else 0.0

    def summary(self) -> str:
        """A few lines for a terminal or a notebook."""
        ms = 1000.0
        lines = [
            f"{self.balancer}: {self.requests} requests in {self.elapsed:.1f} simulated s",
            f"latency ms: p50 {self.p50 * ms:.1f}  p95 {self.p95 * ms:.1f}  "
            f"p99 {self.p99 * ms:.1f}  max {self.max_latency * ms:.1f}",
        ]
        for name, count in self.per_backend.items():
            lines.append(f"  {name}: {count} requests, longest queue {self.max_queue[name]}")
        return "\n".join(lines)


_ARRIVE, _DONE, _TELL_START, _TELL_END = range(4)


class _Station:
    """A ``SimBackend`` during a run: busy workers, its FIFO queue and counters."""

    __slots__ = (
        "backend",
        "busy",
        "capacity",
        "error_rate",
        "max_queue",
        "queue",
        "sample",
        "served",
    )

    def __init__(self, spec: SimBackend) -> None:
        self.backend, self.capacity = spec.backend, spec.capacity
        self.sample, self.error_rate = spec.sampler, spec.error_rate
        self.busy = self.served = self.max_queue = 0
        self.queue: deque[_Job] = deque()


class _Job:
    """One request on its way through the simulation."""

    __slots__ = ("arrival", "client", "start", "station", "user")

    def __init__(self, arrival: float, client: str, station: _Station, user: int) -> None:
        self.arrival, self.client, self.station, self.user = arrival, client, station, user
        self.start = arrival


def _client_ip(number: int) -> str:
    """Client ``number`` as an address in 10.0.0.0/8 (up to 2**24 distinct clients)."""
    return f"10.{number >> 16 & 255}.{number >> 8 & 255}.{number & 255}"


@dataclass(frozen=True, slots=True)
class _Settings:
    """The knobs of one run, checked once: each wrong one is named in the error."""

    requests: int
    arrival_rate: float
    clients: int
    stale_info: float
    users: int | None
    think_time: float
    paths: Sequence[str]
    records: bool

    def __post_init__(self) -> None:
        problems = [
            (self.requests < 1, "requests must be at least 1"),
            (self.users is None and self.arrival_rate <= 0, "arrival_rate must be positive"),
            (self.users is not None and not 1 <= self.users <= 2**24, "users: 1 to 2**24"),
            (not 1 <= self.clients <= 2**24, "clients must be between 1 and 2**24"),
            (self.stale_info < 0, "stale_info cannot be negative"),
            (self.think_time < 0, "think_time cannot be negative"),
            (not self.paths, "give at least one path"),
        ]
        for failed, message in problems:
            if failed:
                raise ConfigError(f"simulate(): {message}.")


class _Run:
    """The state of one simulation: clock, event heap, stations and tallies."""

    def __init__(
        self, balancer: Balancer, specs: Sequence[SimBackend], seed: int, settings: _Settings
    ) -> None:
        if not specs or len({spec.name for spec in specs}) != len(specs):
            raise ConfigError("simulate(): give one or more backends, with distinct names.")
        self.balancer, self.rng = balancer, random.Random(seed)
        self.stations = {spec.backend: _Station(spec) for spec in specs}
        self.backends = tuple(self.stations)
        self.heap: list[tuple[float, int, int, Any]] = []
        self.sequence = itertools.count()  # breaks ties between events at the same time
        self.histogram = LatencyHistogram()
        self.rows: list[RequestRecord] | None = [] if settings.records else None
        self.requests = [Request("GET", path) for path in settings.paths]
        self.stale, self.clients = settings.stale_info, settings.clients
        self.rate, self.think = settings.arrival_rate, settings.think_time
        self.limit, self.scheduled, self.errors = settings.requests, 0, 0
        self.now = self.finished_at = 0.0

    def push(self, when: float, kind: int, payload: Any) -> None:
        heapq.heappush(self.heap, (when, next(self.sequence), kind, payload))

    def schedule(self, when: float, user: int) -> None:
        """Plan an arrival from ``user`` (-1: an open-loop stranger) unless all are planned."""
        if self.scheduled < self.limit:
            self.scheduled += 1
            self.push(when, _ARRIVE, user)

    def loop(self) -> None:
        """Handle events in time order until none are left: the whole simulation."""
        heap, pop, balancer = self.heap, heapq.heappop, self.balancer
        while heap:
            self.now, _, kind, payload = pop(heap)
            if kind == _DONE:
                self.finish(payload)
            elif kind == _ARRIVE:
                self.arrive(payload)
            elif kind == _TELL_START:
                balancer.on_start(payload)
            else:
                balancer.on_end(*payload)

    def arrive(self, user: int) -> None:
        """A request arrives: ask the balancer, then serve it or queue it."""
        now, rng = self.now, self.rng
        if user < 0:
            self.schedule(now + rng.expovariate(self.rate), -1)
            client = _client_ip(rng.randrange(self.clients))
        else:
            client = _client_ip(user)
        requests = self.requests
        request = requests[0] if len(requests) == 1 else rng.choice(requests)
        backend = self.balancer.choose(request, self.backends, client)
        if self.stale:
            self.push(now + self.stale, _TELL_START, backend)
        else:
            self.balancer.on_start(backend)
        station = self.stations[backend]
        job = _Job(now, client, station, user)
        if station.busy < station.capacity:
            self.serve(job)
        else:
            station.queue.append(job)
            station.max_queue = max(station.max_queue, len(station.queue))

    def serve(self, job: _Job) -> None:
        station = job.station
        station.busy += 1
        job.start = self.now
        self.push(self.now + station.sample(self.rng), _DONE, job)

    def finish(self, job: _Job) -> None:
        """A backend answers: tell the balancer, count it, start the next in its queue."""
        now, station = self.now, job.station
        station.busy -= 1
        station.served += 1
        status = 500 if station.error_rate and self.rng.random() < station.error_rate else 200
        latency = now - job.arrival
        if self.stale:
            self.push(now + self.stale, _TELL_END, (station.backend, status, latency))
        else:
            self.balancer.on_end(station.backend, status, latency)
        self.record(job, status, latency)
        if station.queue:
            self.serve(station.queue.popleft())
        if job.user >= 0:  # a closed-loop user thinks, then asks again
            think = self.rng.expovariate(1.0 / self.think) if self.think else 0.0
            self.schedule(now + think, job.user)

    def record(self, job: _Job, status: int, latency: float) -> None:
        self.histogram.add(latency)
        self.errors += status >= 500
        self.finished_at = self.now
        if self.rows is not None:
            wait, service = job.start - job.arrival, self.now - job.start
            name = job.station.backend.name
            self.rows.append(
                RequestRecord(job.arrival, job.client, name, wait, service, latency, status)
            )

    def result(self) -> SimResult:
        histogram = self.histogram
        rows = sorted(self.rows, key=lambda row: row.time) if self.rows is not None else []
        return SimResult(
            balancer=self.balancer.name,
            requests=histogram.count,
            elapsed=self.finished_at,
            mean=histogram.total / histogram.count if histogram.count else 0.0,
            p50=histogram.quantile(0.50),
            p95=histogram.quantile(0.95),
            p99=histogram.quantile(0.99),
            max_latency=histogram.largest,
            errors=self.errors,
            per_backend={s.backend.name: s.served for s in self.stations.values()},
            max_queue={s.backend.name: s.max_queue for s in self.stations.values()},
            records=rows,
        )


def simulate(
    balancer: Balancer | str,
    backends: Sequence[SimBackend],
    requests: int,
    arrival_rate: float = 100.0,
    seed: int = 0,
    clients: int = 1_000_000,
    stale_info: float = 0.0,
    *,
    users: int | None = None,
    think_time: float = 1.0,
    paths: Sequence[str] = ("/",),
    records: bool = True,
) -> SimResult:
    """Send ``requests`` requests through ``balancer`` to ``backends``; report what happened.

    ``balancer`` is a fresh instance (state carries over between runs) or a name for
    ``make_balancer``, which then gets its own generator seeded from ``seed``. Open loop at
    ``arrival_rate`` requests per second unless ``users`` is given (closed loop, each user
    thinking ``think_time`` seconds on average). ``paths`` are requested at random, for
    the path-hashing balancer. ``records=False`` keeps only the aggregates.
    """
    settings = _Settings(
        requests, arrival_rate, clients, stale_info, users, think_time, paths, records
    )
    if isinstance(balancer, str):
        balancer = make_balancer(balancer, rng=random.Random(seed + 1))
    run = _Run(balancer, backends, seed, settings)
    if users is None:
        run.schedule(run.rng.expovariate(arrival_rate), -1)
    for user in range(users or 0):
        run.schedule(run.rng.uniform(0.0, think_time), user)
    run.loop()
    return run.result()
