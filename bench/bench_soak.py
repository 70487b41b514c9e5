"""Soak: does every response reach the request it answers, with a misbehaving origin?

Run: ``.venv/bin/python bench/bench_soak.py [--requests 50000] [--quick] [--clients 8]
[--proxy forward|reverse|both] [--seed 1]``. Prints figures; asserts nothing.

Each proxy in turn (the forward proxy with its cache on; the reverse proxy with three
backends) takes ``--requests`` GETs from ``--clients`` keep-alive clients (the standard
library's ``http.client``, an HTTP implementation that is not ours). Behind it runs a
*lenient origin*, a separate process on 127.0.0.1, that answers ``/r/<id>`` and ``/c/<k>``
with ``X-Request-Id: r<id>`` (or ``c<k>``), a body that spells the same id and
``Cache-Control: max-age=300``, and now and then misbehaves on purpose:

- it writes a whole second response right after the first (``X-Request-Id: poison``, itself
  cacheable), or a few stray bytes: what a buggy backend does, and what a proxy that reuses
  the connection without looking would hand to the next request, maybe another client's;
- it closes the connection instead of answering, or half-way through the body;
- it is killed (SIGKILL, so pooled connections die unannounced) and restarted on the same
  port twice during the run; for the reverse proxy, each backend at its own moments.

Every response is checked against the request it answers: a 200 must carry the id of its
own URL in the header and the exact body for that id. Anything else that is not a 502, 503
or 504 is a *mismatch*, and there must be none. A fifth of the URLs are shared (``/c/<k>``,
200 of them), so the forward proxy's cache serves hits too: a poisoned store would show.

Figures: mismatches, 502/503/504 counts, answers cut short, client errors, requests per
second (the load, the proxy and the pool share one interpreter and two cores with other
work: take it as an order of magnitude), the pool's ``opened`` and ``discarded`` counters
and the cache's hits. Nothing here reaches beyond 127.0.0.1. The origin process is killed at
the end; every thread of this process is joined.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import os
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
ORIGIN = Path(__file__).resolve().with_name("soak_origin.py")

from soak_origin import Misbehaviour, expected_body  # noqa: E402

from proxylab.cache.http_cache import HttpCache  # noqa: E402
from proxylab.forward.proxy import ForwardProxy, ForwardSettings  # noqa: E402
from proxylab.metrics import EventLog  # noqa: E402
from proxylab.net.pool import ConnectionPool  # noqa: E402
from proxylab.reverse.balancers import Backend  # noqa: E402
from proxylab.reverse.proxy import ReverseProxy  # noqa: E402

SHARED_KEYS = 200  # /c/0 .. /c/199


class OriginProcess:
    """One lenient origin in a child process, on a fixed port, that can be killed and restarted."""

    def __init__(self, port: int, seed: int, odds: Misbehaviour) -> None:
        self.port, self.seed, self.odds = port, seed, odds
        self.process: subprocess.Popen[str] | None = None
        self.starts = 0

    def start(self) -> None:
        odds = f"{self.odds.extra},{self.odds.early},{self.odds.cut}"
        command = [sys.executable, str(ORIGIN), str(self.port), str(self.seed + self.starts), odds]
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        if self.process.stdout.readline().strip() != "ready":
            raise SystemExit(f"the origin on port {self.port} did not start")
        self.starts += 1

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)
            if self.process.stdout is not None:
                self.process.stdout.close()
            self.process = None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- the load and the checks ----------------------------------------------------------------


@dataclass
class Tally:
    """What the clients saw, counted under one lock."""

    statuses: Counter[int] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    mismatches: list[str] = field(default_factory=list)
    verified: int = 0
    done: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def check(self, url_ident: str, status: int, header: str | None, body: bytes) -> None:
        """A 200 must be this request's own answer; 502-504 are failures, not mismatches."""
        with self.lock:
            self.done += 1
            self.statuses[status] += 1
            if status == 200 and header == url_ident and body == expected_body(url_ident):
                self.verified += 1
            elif status not in (502, 503, 504):
                got = f"{status} X-Request-Id={header} body={body[:40]!r}"
                self.mismatches.append(f"asked for {url_ident}, got {got}")

    def failed(self, kind: str) -> None:
        with self.lock:
            self.done += 1
            self.errors[kind] += 1


class Load:
    """``clients`` threads sending ``total`` GETs between them over keep-alive connections."""

    def __init__(self, proxy: tuple[str, int], total: int, absolute: bool) -> None:
        self.proxy, self.total, self.absolute = proxy, total, absolute
        self.tally = Tally()
        self._next = 0
        self._lock = threading.Lock()

    def take(self) -> int | None:
        with self._lock:
            if self._next >= self.total:
                return None
            self._next += 1
            return self._next - 1

    def run_client(self) -> None:
        conn: http.client.HTTPConnection | None = None
        while (number := self.take()) is not None:
            ident = f"c{number % SHARED_KEYS}" if number % 5 == 0 else f"r{number}"
            path = f"/{ident[0]}/{ident[1:]}"
            target = f"http://soak.test{path}" if self.absolute else path
            try:
                if conn is None:
                    conn = http.client.HTTPConnection(*self.proxy, timeout=30)
                conn.request("GET", target, headers={"Host": "soak.test"})
                reply = conn.getresponse()
                body = reply.read()
            except http.client.IncompleteRead:
                self.tally.failed("cut short")
                conn = _closed(conn)
                continue
            except (http.client.HTTPException, OSError) as error:
                self.tally.failed(type(error).__name__)
                conn = _closed(conn)
                continue
            self.tally.check(ident, reply.status, reply.getheader("X-Request-Id"), body)
            if reply.will_close:
                conn = _closed(conn)
        _closed(conn)


def _closed(conn: http.client.HTTPConnection | None) -> None:
    if conn is not None:
        conn.close()


class Chaos:
    """Kills and restarts origins at set points of the run (counted in requests done)."""

    def __init__(self, origins: list[OriginProcess], tally: Tally, total: int) -> None:
        self.origins, self.tally = origins, tally
        downtime = max(20, total // 100)  # about 1 % of the run, at least 20 requests
        self.plan: list[tuple[int, int]] = []  # (requests done, origin index)
        for index in range(len(origins)):
            for fraction in (0.30, 0.65):
                self.plan.append((int(total * (fraction + 0.05 * index)), index))
        self.plan.sort()
        self.downtime = downtime
        self.kills = 0
        self.stop = threading.Event()

    def done(self) -> int:
        with self.tally.lock:
            return self.tally.done

    def run(self) -> None:
        for at, index in self.plan:
            if not self._wait_for(at):
                return
            self.origins[index].kill()
            self.kills += 1
            back_at = self.done() + self.downtime
            # Down for ``downtime`` requests (bounded by the run's end), then back on its port.
            self._wait_for(back_at)
            self.origins[index].start()

    def _wait_for(self, requests_done: int) -> bool:
        """A bounded poll: True once that many requests are done, False if the run ended."""
        while not self.stop.is_set():
            if self.done() >= requests_done:
                return True
            self.stop.wait(0.005)
        return False


@contextlib.contextmanager
def origins_running(count: int, seed: int, odds: Misbehaviour) -> Iterator[list[OriginProcess]]:
    origins = [OriginProcess(free_port(), seed + 1000 * i, odds) for i in range(count)]
    try:
        for origin in origins:
            origin.start()
        yield origins
    finally:
        for origin in origins:
            origin.kill()


def drive(
    proxy_address: tuple[str, int], origins: list[OriginProcess], args: argparse.Namespace,
    absolute: bool,
) -> tuple[Load, Chaos, float]:  # fmt: skip
    """Run the load and the chaos together; every thread joined before returning."""
    load = Load(proxy_address, args.requests, absolute)
    chaos = Chaos(origins, load.tally, args.requests)
    chaos_thread = threading.Thread(target=chaos.run, name="chaos")
    clients = [threading.Thread(target=load.run_client, name=f"client-{i}")
               for i in range(args.clients)]  # fmt: skip
    started = time.perf_counter()
    chaos_thread.start()
    for thread in clients:
        thread.start()
    for thread in clients:
        thread.join()
    elapsed = time.perf_counter() - started
    chaos.stop.set()
    chaos_thread.join()
    return load, chaos, elapsed


def soak_forward(args: argparse.Namespace, odds: Misbehaviour) -> dict[str, object]:
    with origins_running(1, args.seed, odds) as origins:
        settings = ForwardSettings(resolve={"soak.test": ("127.0.0.1", origins[0].port)})
        cache = HttpCache()
        proxy = ForwardProxy(settings, cache=cache, events=EventLog(capacity=1000))
        try:
            with proxy.serve(("127.0.0.1", 0)) as server:
                load, chaos, elapsed = drive(server.address, origins, args, absolute=True)
        finally:
            proxy.close()
        stats = cache.stats()
        extra = {"cache hits": stats.hits, "cache misses": stats.misses,
                 "stored objects": stats.stored_objects}  # fmt: skip
        return _figures("forward + cache", load, chaos, elapsed, proxy.pool, extra)


def soak_reverse(args: argparse.Namespace, odds: Misbehaviour) -> dict[str, object]:
    with origins_running(3, args.seed, odds) as origins:
        backends = [Backend("127.0.0.1", o.port, 1, f"b{i}") for i, o in enumerate(origins)]
        proxy = ReverseProxy(backends=backends, events=EventLog(capacity=1000))
        with proxy.serve(("127.0.0.1", 0)) as server:
            load, chaos, elapsed = drive(server.address, origins, args, absolute=False)
        return _figures("reverse, 3 backends", load, chaos, elapsed, proxy.pool, {})


def _figures(
    name: str, load: Load, chaos: Chaos, elapsed: float, pool: ConnectionPool,
    extra: dict[str, object],
) -> dict[str, object]:  # fmt: skip
    tally = load.tally
    return {
        "proxy": name,
        "requests": tally.done,
        "verified 200": tally.verified,
        "mismatches": len(tally.mismatches),
        "502": tally.statuses[502],
        "503": tally.statuses[503],
        "504": tally.statuses[504],
        "client errors": dict(tally.errors),
        "origin kills": chaos.kills,
        "requests/s": round(tally.done / elapsed) if elapsed else 0,
        "seconds": round(elapsed, 1),
        "pool opened": pool.opened,
        "pool discarded": dict(pool.discarded),
        **extra,
        "first mismatches": tally.mismatches[:5],
    }


def report(figures: dict[str, object]) -> None:
    print(f"\n== {figures['proxy']} ==")
    for key, value in figures.items():
        if key != "proxy" and (key != "first mismatches" or value):
            print(f"  {key:16} {value}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=50_000, help="per proxy (50,000)")
    parser.add_argument("--quick", action="store_true", help="2,000 requests per proxy")
    parser.add_argument("--clients", type=int, default=8, help="keep-alive clients (8)")
    parser.add_argument("--proxy", choices=("forward", "reverse", "both"), default="both")
    parser.add_argument("--seed", type=int, default=1, help="the origin's misbehaviour (1)")
    parser.add_argument("--extra", type=float, default=0.03, help="P(extra bytes) (0.03)")
    parser.add_argument("--early", type=float, default=0.01, help="P(close unanswered) (0.01)")
    parser.add_argument("--cut", type=float, default=0.01, help="P(close mid-body) (0.01)")
    args = parser.parse_args(argv)
    odds = Misbehaviour(args.extra, args.early, args.cut)
    if args.quick:
        args.requests = 2_000
    if args.requests <= 0 or args.clients <= 0:
        parser.error("--requests and --clients must be positive")
    print(f"soak: {args.requests:,} requests per proxy, {args.clients} clients, origin odds "
          f"extra={odds.extra} early-close={odds.early} cut={odds.cut}, seed {args.seed}; "
          f"pid {os.getpid()}")  # fmt: skip
    results = []
    if args.proxy in ("forward", "both"):
        results.append(soak_forward(args, odds))
        report(results[-1])
    if args.proxy in ("reverse", "both"):
        results.append(soak_reverse(args, odds))
        report(results[-1])
    total = sum(int(str(r["mismatches"])) for r in results)
    print(f"\nmismatches in all: {total} (must be 0)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
