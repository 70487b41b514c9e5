"""A load generator: many simulated users, real HTTP requests, one record per request.

Charts about load balancing and caching need traffic. ``run_load`` sends it with httpx,
directly or through a proxy, from a bounded number of threads, and returns one
``Event(source="loadgen")`` per request plus a ``LoadSummary`` (count, errors, requests
per second, p50/p95/p99)::

    result = run_load("http://waiter.test/order", users=8, requests=400, client=lab.client)
    print(result.summary)

Key idea: there are two ways to generate load, and they answer different questions.

- Closed loop (``users=N``): N users each send a request, wait for the answer, think for
  ``think`` seconds, and send the next. When the server slows down the users slow down
  too, so the load adapts: that is how a fixed group of people behaves, and how most
  benchmark tools work.
- Open loop (``rate=R``): requests arrive at R per second on average with exponential
  gaps (a Poisson process), whether or not earlier ones have been answered: that is how
  a large public population behaves. When the server is too slow, work piles up. We bound
  the outstanding requests (``max_outstanding``) so a lab machine survives, and record in
  ``extra["lag"]`` how late each request started compared with its planned arrival
  (ignoring that lag is the "coordinated omission" that makes load tests look rosy).

Every run is bounded by a number of requests, a duration or both (whichever comes first).
Failures (connection refused, timeouts) become records with ``status=0`` and a ``note``;
they never end the run. The ``upstream`` of a record is the ``X-Kitchen`` response field
when present and ``cache`` comes from ``X-Cache`` or ``Cache-Status``, so charts can count
who served what without any access to the servers.

Left out on purpose: HTTP/2, ramp-up schedules, distributed load, async I/O (threads are
easier to read and plenty for loopback).

Layer 5 (an edge).
"""

from __future__ import annotations

import importlib.util
import queue
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

import httpx

from proxylab.errors import ConfigError
from proxylab.metrics import Event, EventLog, percentile

__all__ = [
    "MAX_THREADS",
    "LoadResult",
    "LoadSummary",
    "Target",
    "exchange",
    "run_load",
    "summarize",
]

#: Most threads (closed-loop users or open-loop workers) one run may use.
MAX_THREADS = 100

#: A URL, URLs taken in turn, or a function of the request number giving the URL.
Target = str | Sequence[str] | Callable[[int], str]


@dataclass(frozen=True, slots=True)
class LoadSummary:
    """The headline numbers of a run; latencies in seconds.

    ``errors`` counts failures without a response (status 0) and 5xx answers; the
    percentiles are over every request that got a response.
    """

    count: int
    errors: int
    elapsed: float
    rps: float
    mean: float
    p50: float
    p95: float
    p99: float

    def __str__(self) -> str:
        ms = 1000.0
        return (
            f"{self.count} requests in {self.elapsed:.2f} s ({self.rps:.0f} req/s), "
            f"{self.errors} errors; latency p50 {self.p50 * ms:.1f} ms, "
            f"p95 {self.p95 * ms:.1f} ms, p99 {self.p99 * ms:.1f} ms"
        )


@dataclass(frozen=True, slots=True)
class LoadResult:
    """Every request's record (in start order) and the summary."""

    records: tuple[Event, ...]
    summary: LoadSummary

    def per_upstream(self) -> dict[str, int]:
        """How many answers named each upstream (``X-Kitchen``); "" for none."""
        return dict(Counter(record.upstream for record in self.records))

    def statuses(self) -> dict[int, int]:
        """How many records had each status (0: no response)."""
        return dict(Counter(record.status for record in self.records))

    def rows(self) -> list[dict[str, Any]]:
        """The records as plain dicts (for tables and pandas)."""
        return [record.as_row() for record in self.records]


def summarize(records: Iterable[Event], elapsed: float | None = None) -> LoadSummary:
    """Count, errors, throughput and latency percentiles of ``records``.

    ``elapsed`` defaults to the span from the first start to the last finish.
    """
    rows = list(records)
    if elapsed is None:
        starts = [r.time for r in rows] or [0.0]
        elapsed = max((r.time + r.duration for r in rows), default=0.0) - min(starts)
    answered = [r.duration for r in rows if r.status != 0]
    return LoadSummary(
        count=len(rows),
        errors=sum(1 for r in rows if r.status == 0 or r.status >= 500),
        elapsed=elapsed,
        rps=len(rows) / elapsed if elapsed > 0 else 0.0,
        mean=sum(answered) / len(answered) if answered else 0.0,
        p50=percentile(answered, 0.50),
        p95=percentile(answered, 0.95),
        p99=percentile(answered, 0.99),
    )


def run_load(
    target: Target,
    *,
    users: int | None = None,
    rate: float | None = None,
    requests: int | None = None,
    duration: float | None = None,
    think: float = 0.0,
    client: httpx.Client | Callable[[], httpx.Client] | None = None,
    proxy: str | None = None,
    method: str = "GET",
    headers: Mapping[str, str] | None = None,
    timeout: float = 5.0,
    max_outstanding: int = 32,
    seed: int = 0,
    progress: bool = True,
    events: EventLog | None = None,
    description: str = "requests",
) -> LoadResult:
    """Send load to ``target`` and return a record per request and a summary.

    Closed loop with ``users`` (default 4), or open loop with ``rate`` arrivals per
    second. Stops after ``requests`` (default 100 when no ``duration``) or ``duration``
    seconds, whichever first. ``client`` is an httpx client, or a function making one
    (``lab.client``); otherwise one is made, through ``proxy`` if given. Records also go
    to ``events`` if given. ``progress`` shows a rich progress bar (terminal or Jupyter).
    """
    _check(users, rate, requests, duration, think, max_outstanding)
    if requests is None and duration is None:
        requests = 100
    http, owned = _client(client, proxy, timeout)
    stop = threading.Event()
    started = time.monotonic()
    try:
        with _progress(progress, requests, description) as advance:
            runner = _Runner(
                _url_picker(target), http, method, dict(headers or {}), events, advance
            )
            plan = _Plan(requests, duration, stop)
            if rate is None:
                _closed_loop(runner, plan, users or 4, think, stop)
            else:
                _open_loop(runner, plan, rate, min(max_outstanding, MAX_THREADS), stop, seed)
    finally:
        if owned:
            http.close()
    records = tuple(sorted(runner.records, key=lambda r: r.time))
    return LoadResult(records, summarize(records, time.monotonic() - started))


def _check(
    users: int | None, rate: float | None, requests: int | None, duration: float | None,
    think: float, max_outstanding: int,
) -> None:  # fmt: skip
    if users is not None and rate is not None:
        raise ConfigError("Choose users= (closed loop) or rate= (open loop), not both.")
    if users is not None and not 1 <= users <= MAX_THREADS:
        raise ConfigError(f"users must be between 1 and {MAX_THREADS}.")
    if rate is not None and rate <= 0:
        raise ConfigError("rate must be a positive number of requests per second.")
    if (requests is not None and requests < 0) or (duration is not None and duration <= 0):
        raise ConfigError("requests must be at least 0 and duration positive.")
    if think < 0 or max_outstanding < 1:
        raise ConfigError("think must be >= 0 and max_outstanding >= 1.")


def _client(
    client: httpx.Client | Callable[[], httpx.Client] | None, proxy: str | None, timeout: float
) -> tuple[httpx.Client, bool]:
    """The client to use and whether this run owns (and so closes) it."""
    if isinstance(client, httpx.Client):
        return client, False
    if client is not None:
        return client(), True
    limits = httpx.Limits(max_connections=MAX_THREADS, max_keepalive_connections=MAX_THREADS)
    return httpx.Client(proxy=proxy, timeout=timeout, limits=limits, trust_env=False), True


def _url_picker(target: Target) -> Callable[[int], str]:
    if isinstance(target, str):
        return lambda index: target
    if callable(target):
        return target
    urls = list(target)
    if not urls:
        raise ConfigError("Give at least one URL.")
    return lambda index: urls[index % len(urls)]


@contextmanager
def _progress(enabled: bool, total: int | None, description: str) -> Iterator[Callable[[], None]]:
    """A rich progress bar (terminal or Jupyter) or a do-nothing stand-in.

    In Jupyter, rich redraws through ipywidgets; without it we print one line at the end
    rather than a stream of warnings.
    """
    if not enabled:
        yield lambda: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console()
    if console.is_jupyter and importlib.util.find_spec("ipywidgets") is None:
        done: list[None] = []  # list.append is atomic: safe from every worker thread
        yield lambda: done.append(None)
        console.print(f"{description}: {len(done)} done")
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console) as bar:
        task = bar.add_task(description, total=total)
        yield lambda: bar.advance(task)


class _Plan:
    """Hands out request numbers until the count or the time runs out (thread-safe)."""

    def __init__(self, requests: int | None, duration: float | None, stop: threading.Event) -> None:
        self.limit = requests
        self.deadline = None if duration is None else time.monotonic() + duration
        self.stop = stop
        self.issued = 0
        self._lock = threading.Lock()

    def take(self) -> int | None:
        """The next request's number, or None when the run is over."""
        with self._lock:
            over = self.limit is not None and self.issued >= self.limit
            late = self.deadline is not None and time.monotonic() >= self.deadline
            if over or late or self.stop.is_set():
                return None
            self.issued += 1
            return self.issued - 1


class _Runner:
    """Sends one request and keeps its record; shared by every thread of a run."""

    def __init__(
        self, pick: Callable[[int], str], client: httpx.Client, method: str, headers: dict[str, str],
        events: EventLog | None, advance: Callable[[], None],
    ) -> None:  # fmt: skip
        self.pick, self.client, self.method, self.headers = pick, client, method, headers
        self.events, self.advance = events, advance
        self.records: list[Event] = []
        self._lock = threading.Lock()

    def one(self, index: int, lag: float | None = None) -> None:
        """Request number ``index``; ``lag`` is how late it starts (open loop)."""
        record = exchange(self.client, self.method, self.pick(index), self.headers)
        if lag is not None:
            record = replace(record, extra={"lag": lag})
        with self._lock:
            self.records.append(record)
        if self.events is not None:
            self.events.record(record)
        self.advance()


def exchange(client: httpx.Client, method: str, url: str, headers: Mapping[str, str]) -> Event:
    """One request as a record; a failure is a record with status 0, never an exception."""
    wall, started = time.time(), time.monotonic()
    try:
        response = client.request(method, url, headers=headers)
    except httpx.TimeoutException as error:
        return _failure(wall, started, method, url, f"timeout ({type(error).__name__})")
    except httpx.ConnectError as error:
        return _failure(wall, started, method, url, f"could not connect ({error})")
    except Exception as error:  # noqa: BLE001 - a load test records failures, it does not stop
        return _failure(wall, started, method, url, f"{type(error).__name__}: {error}")
    return Event(
        time=wall,
        source="loadgen",
        method=method,
        target=url,
        status=response.status_code,
        upstream=response.headers.get("x-kitchen", ""),
        bytes_in=len(response.content),
        duration=time.monotonic() - started,
        cache=_cache_outcome(response.headers),
    )


def _failure(wall: float, started: float, method: str, url: str, note: str) -> Event:
    duration = time.monotonic() - started
    return Event(
        time=wall, source="loadgen", method=method, target=url, duration=duration, note=note
    )


def _cache_outcome(headers: httpx.Headers) -> str:
    """``hit``/``miss``/... from ``X-Cache: HIT`` or ``Cache-Status: proxylab; hit`` (RFC 9211)."""
    x_cache = str(headers.get("x-cache", ""))
    if x_cache.strip():
        return x_cache.split()[0].lower()
    status = str(headers.get("cache-status", ""))
    if not status:
        return ""
    params = [p.strip() for p in status.split(",")[0].split(";")[1:]]
    if "hit" in params:
        return "hit"
    fwd = [p.split("=", 1)[1] for p in params if p.startswith("fwd=")]
    return fwd[0] if fwd else "miss"


def _closed_loop(
    runner: _Runner, plan: _Plan, users: int, think: float, stop: threading.Event
) -> None:
    def user() -> None:
        while (index := plan.take()) is not None:
            runner.one(index)
            if think and stop.wait(think):  # thinking; an interrupted run wakes at once
                return

    _run_threads(
        [threading.Thread(target=user, name=f"loadgen-user-{n}") for n in range(users)], stop
    )


def _open_loop(
    runner: _Runner, plan: _Plan, rate: float, workers: int, stop: threading.Event, seed: int
) -> None:
    arrivals: queue.SimpleQueue[tuple[int, float] | None] = queue.SimpleQueue()
    free = threading.Semaphore(workers)  # bounds the requests outstanding at once

    def worker() -> None:
        while (item := arrivals.get()) is not None:
            runner.one(item[0], lag=time.monotonic() - item[1])
            free.release()

    threads = [threading.Thread(target=worker, name=f"loadgen-worker-{n}") for n in range(workers)]
    for thread in threads:
        thread.start()
    rng, due = random.Random(seed), time.monotonic()
    try:
        while True:
            due += rng.expovariate(rate)  # Poisson arrivals: exponential gaps
            if stop.wait(max(0.0, due - time.monotonic())):
                break
            index = plan.take()
            if index is None:
                break
            free.acquire()
            arrivals.put((index, due))
    finally:
        for _ in threads:
            arrivals.put(None)
        _join(threads, stop)


def _run_threads(threads: list[threading.Thread], stop: threading.Event) -> None:
    for thread in threads:
        thread.start()
    _join(threads, stop)


def _join(threads: list[threading.Thread], stop: threading.Event) -> None:
    """Join every thread; on Ctrl-C tell them to stop, join them anyway, and re-raise."""
    try:
        for thread in threads:
            thread.join()
    except KeyboardInterrupt:
        stop.set()
        for thread in threads:
            thread.join()
        raise
