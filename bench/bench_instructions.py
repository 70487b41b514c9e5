"""How many machine instructions does one request cost? Forward, cache hit and reverse.

Run: ``.venv/bin/python bench/bench_instructions.py [--count 2000] [--warmup 200]
[--repeat 2] [--path forward]`` (needs valgrind; about a minute on two cores).

Prints one row per path: the user-space instructions (valgrind's cachegrind "I refs")
that one small request costs, measured ``--repeat`` times:

- ``forward``: a 1 KiB GET through ``ForwardProxy`` to an origin, keep-alive, no cache;
- ``cache-hit``: the same GET answered by ``ForwardProxy`` from its ``HttpCache`` (the
  origin's answer carries ``Cache-Control: max-age``; only the first request reaches it);
- ``reverse``: a 1 KiB GET through ``ReverseProxy`` to its one backend.

Why instructions and not seconds: on a shared VM, wall-clock figures move by several per
cent from one run to the next (other guests, frequency scaling, cache misses). The number
of instructions the CPU executes for the same work is the same to the last digit every
time, so a change of 1 % in the per-request path shows up as 1 %, not as noise. What it
does not see: time spent waiting, the kernel's work (a system call counts as one
instruction), and how fast each instruction runs (cache misses, branch mispredictions).

How, all in one process, with no threads: the real handler gets a ``ClientConnection`` on
one end of a ``socket.socketpair()``; the benchmark holds the other end and plays the
client. The proxy's connection pool gets one idle upstream connection that is also a
socketpair; the benchmark holds its other end and plays the origin. Since nothing runs
in parallel, the origin's answer is written *before* the request is sent: it waits in
the socket until the proxy reads it. Each request is what ``Server`` does for it (read
the head, call the handler) and nothing more.

The difference method: the script runs itself under valgrind twice, once for ``count``
requests and once for ``2 * count`` (both after ``warmup`` requests), and reports
``(instructions(2N) - instructions(N)) / N``. Start-up (the interpreter, imports, the
warm-up) is the same in both runs and cancels. The figure still includes the benchmark's
own side of each exchange (writing the request, reading the response, playing the
origin): a few socket calls and a small head parse, the same for every version of the
proxy. ``PYTHONHASHSEED=0`` makes string hashing, and so dict layouts, the same in every
run (another seed moves the figures by a few hundredths of a per cent). The same command
in the same place gives the same figures to the last digit; anything that changes the
process's history a little (the environment, where the script lies, an edit to it) moves
them by up to about 0.2 %, mostly in glibc's malloc, whose search for a free block for
each 64 KiB ``recv`` depends on what was freed before. So take differences under 0.5 %
between versions as noise, and compare figures from the same interpreter and ``--count``.

Only 127.0.0.1 and socketpairs: nothing here touches the network.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from proxylab.cache import HttpCache
from proxylab.forward import ForwardProxy, ForwardSettings
from proxylab.http import Limits, Request
from proxylab.metrics import EventLog
from proxylab.net import ClientConnection, ConnectionPool, Timeouts
from proxylab.net.upstream import UpstreamConnection

# ---- proxylab imports: the only lines that name its modules (the layout is changing) -----
from proxylab.reverse import Backend, ReverseProxy, ReverseSettings

# ---- end of proxylab imports ---------------------------------------------------------------

PATHS = ("forward", "cache-hit", "reverse")
BODY = b"x" * 1024
#: What the origin (or backend) answers every time: 1 KiB, cacheable for a day. ``Age: 100``
#: (as if a cache upstream had held it that long) keeps the Age the cache sends at three
#: digits: from ``Age: 0`` to ``Age: 1`` one second into the run, ``str()`` of the age
#: costs a few instructions more, and the figure would depend on where that second falls.
ORIGIN_RESPONSE = (
    b"HTTP/1.1 200 OK\r\n"
    b"Content-Type: text/plain\r\n"
    b"Cache-Control: max-age=86400\r\n"
    b"Age: 100\r\n"
    b"Content-Length: " + str(len(BODY)).encode() + b"\r\n"
    b"\r\n" + BODY
)
#: The forward proxy gets absolute-form requests (RFC 9112 3.2.2); the name is never
#: resolved: the pool already holds a connection for the address in ``resolve``.
FORWARD_REQUEST = (
    b"GET http://origin.test/small HTTP/1.1\r\n"
    b"Host: origin.test\r\n"
    b"User-Agent: bench-instructions\r\n"
    b"Accept: */*\r\n"
    b"\r\n"
)
REVERSE_REQUEST = (
    b"GET /small HTTP/1.1\r\n"
    b"Host: site.test\r\n"
    b"User-Agent: bench-instructions\r\n"
    b"Accept: */*\r\n"
    b"\r\n"
)
#: The address the pool files its upstream connection under. Port 9 (discard) on
#: loopback: if the proxy ever dialled it, the connection would be refused (a 502).
UPSTREAM = ("127.0.0.1", 9)
CLIENT_ADDRESS = ("127.0.0.1", 40000)
#: Events each proxy keeps (its default is 100,000). Fewer than the warm-up requests, so the
#: log is full when measuring, as in a long-running proxy: every request adds one event and
#: drops the oldest. A log still growing makes the figure depend on N (about 1 %), as the
#: garbage collector walks ever more live events.
EVENTS_KEPT = 100
RECV_SIZE = 65536
TEST_SIDE_TIMEOUT = 10.0  # a wrong expectation fails with a timeout instead of hanging
CONTENT_LENGTH = re.compile(rb"(?im)^content-length:[ \t]*(\d+)")

Handler = Callable[[ClientConnection, Request], None]


# ==== the inner measurement: runs under valgrind ===========================================


@dataclass
class Rig:
    """One proxy handler between a pretend client and a pretend origin, in this process."""

    handler: Handler
    conn: ClientConnection  # the proxy's end of the client socketpair
    client: socket.socket  # our end: we write requests and read responses
    origin: socket.socket  # our end of the upstream socketpair: we play the origin
    request: bytes
    expect: bytes  # every measured response must contain this (e.g. b"X-Cache: HIT")
    origin_answers: bool = True  # False: answered by the cache, the origin sees nothing


def client_connection(timeouts: Timeouts) -> tuple[ClientConnection, socket.socket]:
    """A ``ClientConnection`` as ``Server`` makes one, and the client's end of it."""
    proxy_end, client_end = socket.socketpair()
    client_end.settimeout(TEST_SIDE_TIMEOUT)
    return ClientConnection(proxy_end, CLIENT_ADDRESS, Limits(), timeouts), client_end


class OriginSocket(socket.socket):
    """The proxy's end of the upstream socketpair: when the proxy sends a request on it,
    the pretend origin's answer is written back at once, as a real origin would answer.

    So the pool finds the connection quiet (nothing to read) whenever it checks it before
    reuse, and the proxy's read finds the answer waiting: no thread plays the origin.
    """

    answer = b""
    origin_end: socket.socket

    def sendall(self, data: Any, flags: int = 0) -> None:
        super().sendall(data, flags)
        if self.answer:
            self.origin_end.sendall(self.answer)


def pooled_origin(pool: ConnectionPool, answer: bytes) -> socket.socket:
    """Put one idle keep-alive connection to ``UPSTREAM`` in ``pool``; return its far end."""
    pair_end, origin_end = socket.socketpair()
    proxy_end = OriginSocket(pair_end.family, pair_end.type, pair_end.proto, pair_end.detach())
    proxy_end.answer, proxy_end.origin_end = answer, origin_end
    origin_end.settimeout(TEST_SIDE_TIMEOUT)
    connection = UpstreamConnection(proxy_end, (*UPSTREAM, False), pool.limits)
    connection.use_timeout(pool.read_timeout)  # as the pool does for a connection it opens
    connection.reusable = True
    pool.release(connection)
    return origin_end


def forward_rig(cache: HttpCache | None) -> Rig:
    settings = ForwardSettings(resolve={"origin.test": UPSTREAM})
    proxy = ForwardProxy(settings, cache=cache, events=EventLog(EVENTS_KEPT))
    conn, client = client_connection(settings.timeouts)
    origin = pooled_origin(proxy.pool, ORIGIN_RESPONSE)
    if cache is None:
        return Rig(proxy, conn, client, origin, FORWARD_REQUEST, b"200 OK")
    return Rig(proxy, conn, client, origin, FORWARD_REQUEST, b"X-Cache: HIT", False)


def reverse_rig() -> Rig:
    settings = ReverseSettings()
    backends = [Backend(*UPSTREAM)]
    proxy = ReverseProxy(backends=backends, settings=settings, events=EventLog(EVENTS_KEPT))
    conn, client = client_connection(settings.timeouts)
    origin = pooled_origin(proxy.pool, ORIGIN_RESPONSE)
    return Rig(proxy, conn, client, origin, REVERSE_REQUEST, b"200 OK")


def make_rig(path: str) -> Rig:
    if path == "forward":
        return forward_rig(cache=None)
    if path == "cache-hit":
        return forward_rig(cache=HttpCache())
    return reverse_rig()


def serve_one(conn: ClientConnection, handler: Handler) -> None:
    """What ``Server`` does for one request on a kept-alive connection."""
    request = conn.read_request()
    if request is None:
        raise RuntimeError("the proxy saw no request")
    handler(conn, request)
    if not (conn.keep_alive and request.keep_alive):
        raise RuntimeError("the proxy would close the client connection")
    conn.idle = True


def read_response(sock: socket.socket) -> bytes:
    """One whole response with a Content-Length body, read from ``sock``."""
    data = sock.recv(RECV_SIZE)
    while b"\r\n\r\n" not in data:
        data += _recv_more(sock)
    head, _, body = data.partition(b"\r\n\r\n")
    found = CONTENT_LENGTH.search(head)
    length = int(found.group(1)) if found else 0
    while len(body) < length:
        more = _recv_more(sock)
        data, body = data + more, body + more
    return data


def _recv_more(sock: socket.socket) -> bytes:
    data = sock.recv(RECV_SIZE)
    if not data:
        raise RuntimeError("the proxy closed the client connection")
    return data


def exchange(rig: Rig, origin_answers: bool, expect: bytes) -> None:
    """One request from the client, through the handler, (maybe) to the origin and back."""
    rig.client.sendall(rig.request)
    serve_one(rig.conn, rig.handler)
    if origin_answers and not rig.origin.recv(RECV_SIZE):  # the request the origin got
        raise RuntimeError("the origin got no request")
    response = read_response(rig.client)
    if expect not in response:
        raise RuntimeError(f"unexpected response: {response[:300]!r}")


def run_inner(path: str, warmup: int, count: int) -> None:
    """Set up ``path``, answer ``warmup`` requests, then ``count`` more (what is measured)."""
    rig = make_rig(path)
    if not rig.origin_answers:  # the cache: a first request, the miss that fills it
        exchange(rig, origin_answers=True, expect=b"X-Cache: MISS")
    for _ in range(warmup):
        exchange(rig, rig.origin_answers, rig.expect)
    settle_garbage_collector()
    for _ in range(count):
        exchange(rig, rig.origin_answers, rig.expect)


def settle_garbage_collector() -> None:
    """Collect, then freeze every object alive now out of the collector's sight.

    A full collection walks every live object, and when one runs depends on how many there
    are. Without this, anything that changes the start-up heap (the environment, the path
    of this script, an unrelated edit to it) moves the figure by some hundreds of
    instructions. Frozen, the collector sees only what the measured requests create.
    """
    gc.collect()
    gc.freeze()


# ==== the outer driver: runs the inner part under valgrind and subtracts ===================


def count_instructions(path: str, warmup: int, count: int) -> int:
    """Total user-space instructions of one inner run under cachegrind."""
    command = [
        "valgrind",
        "--tool=cachegrind",
        "--cache-sim=no",
        "--cachegrind-out-file=/dev/null",
        sys.executable,
        os.path.abspath(__file__),
        "--inner",
        f"--path={path}",
        f"--count={count}",
        f"--warmup={warmup}",
    ]
    env = {**os.environ, "PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1"}
    result = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    found = re.search(r"I\s+refs:\s+([\d,]+)", result.stderr)
    if result.returncode != 0 or found is None:
        raise RuntimeError(f"valgrind run failed ({' '.join(command)}):\n{result.stderr}")
    return int(found.group(1).replace(",", ""))


def per_request(single: int, double: int, count: int) -> float:
    """``(instructions(2N) - instructions(N)) / N``: start-up cost cancels."""
    return (double - single) / count


def measure(
    paths: list[str], repeat: int, warmup: int, count: int, jobs: int
) -> dict[str, list[float]]:
    """``{path: [per-request figure of each run]}``; ``jobs`` valgrind runs at a time."""
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        runs = {
            path: [
                (
                    pool.submit(count_instructions, path, warmup, count),
                    pool.submit(count_instructions, path, warmup, 2 * count),
                )
                for _ in range(repeat)
            ]
            for path in paths
        }
        return {
            path: [per_request(one.result(), two.result(), count) for one, two in pairs]
            for path, pairs in runs.items()
        }


def print_table(figures: dict[str, list[float]], warmup: int, count: int) -> None:
    python = f"{platform.python_implementation()} {platform.python_version()} ({sys.executable})"
    print(f"instructions per request, (I(2N) - I(N)) / N with N={count}, warm-up {warmup}")
    print(f"interpreter: {python}")
    runs = len(next(iter(figures.values())))
    print(f"{'path':<12}" + "".join(f"{'run ' + str(i + 1):>14}" for i in range(runs)))
    for path, values in figures.items():
        print(f"{path:<12}" + "".join(f"{value:>14,.1f}" for value in values))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Count the machine instructions one request costs (valgrind cachegrind)."
    )
    parser.add_argument(
        "--path",
        choices=PATHS,
        action="append",
        help="measure only this path (repeatable; default: all three)",
    )
    parser.add_argument("--count", type=int, default=2000, help="N: measured requests")
    parser.add_argument("--warmup", type=int, default=200, help="requests before measuring")
    parser.add_argument("--repeat", type=int, default=2, help="measurements per path")
    parser.add_argument(
        "--jobs", type=int, default=os.cpu_count() or 1, help="valgrind runs at once"
    )
    parser.add_argument(
        "--inner",
        action="store_true",
        help="internal: run one path's requests in this process (what valgrind runs)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    paths = args.path or list(PATHS)
    if args.inner:
        run_inner(paths[0], args.warmup, args.count)
        return 0
    if shutil.which("valgrind") is None:
        print("valgrind is not installed (apt-get install valgrind)", file=sys.stderr)
        return 1
    figures = measure(paths, args.repeat, args.warmup, args.count, args.jobs)
    print_table(figures, args.warmup, args.count)
    return 0


if __name__ == "__main__":
    sys.exit(main())
