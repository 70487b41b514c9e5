"""Instruments for the lesson on many clients: a burst of users, a slow client, a CPU meter.

``05_many_clients.ipynb`` asks what happens when many people use the friend at once. Three
measurements answer it, and each needs a small tool that the load generator does not have:

- ``burst``: N clients that all ask at the same instant (a barrier releases them together),
  each on its own new connection, and how long each one waited. Against a one-at-a-time
  proxy the waits line up as 1x, 2x, 3x the origin's delay; against a threaded one they
  are all about 1x.
- ``SlowClient``: the slowloris attack (Robert Hansen, 2009) as a probe. It opens a real
  connection, sends a request line and then one byte of header every ``interval`` seconds,
  never finishing the head. A timeout per read never fires (a byte always comes in time);
  only a deadline for the whole head (``Timeouts.head``) ends it. The probe records when
  the proxy cut it off and what it answered (``408 Request Timeout``).
- ``measure``: wall-clock time and CPU time (``time.process_time``, every thread of this
  process) around a block of code. CPU seconds per wall second is how many cores the block
  kept busy: a Python process whose threads run Python code rarely gets past one (the GIL),
  however many threads it has.
- ``HandlerMeter``: the CPU time (``time.thread_time``) a server's threads spend inside its
  handler, per request: the proxy's own work, apart from the clients and sites that share
  the notebook's process. Waiting for an origin costs no CPU, so it is not counted.

Left out on purpose: several processes (Squid's ``workers``), async I/O, HTTPS probes.

Layer 5 (an edge): sockets and threads, for lessons and their tests.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import TracebackType

import httpx

from proxylab.errors import ConfigError
from proxylab.http.messages import Request
from proxylab.net.connection import ClientConnection
from proxylab.net.server import Handler, Server

__all__ = [
    "HandlerMeter",
    "Measurement",
    "Shot",
    "SlowClient",
    "burst",
    "measure",
    "slowest_wait",
    "throughput_ceiling",
]


@dataclass(frozen=True, slots=True)
class Shot:
    """One client of a burst: seconds from the common start to its answer, and the status.

    ``status`` is 0 when no answer came (``error`` says why: a timeout, a refused connection).
    ``cache_status`` is the reply's ``Cache-Status`` field, if any (what a cache did).
    """

    latency: float
    status: int
    error: str = ""
    cache_status: str = ""


def burst(
    make_client: Callable[[], httpx.Client], url: str, clients: int, *, join_timeout: float = 60.0
) -> list[Shot]:
    """``clients`` users send one GET to ``url`` at the same instant; each one's wait, in order.

    Every user gets its own client from ``make_client`` (so its own connection), made before
    the start so that making it is not timed; a barrier releases them together. The list is
    sorted from the quickest answer to the slowest.
    """
    if clients < 1:
        raise ConfigError("A burst needs at least one client.")
    made = [make_client() for _ in range(clients)]
    start = threading.Barrier(clients)
    shots: list[Shot] = []
    lock = threading.Lock()

    def user(client: httpx.Client) -> None:
        start.wait()
        began = time.monotonic()
        shot = _one(client, url, began)
        with lock:
            shots.append(shot)

    threads = [threading.Thread(target=user, args=(c,), name="burst-user") for c in made]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(join_timeout)
    finally:
        for client in made:
            client.close()
    return sorted(shots, key=lambda shot: shot.latency)


def slowest_wait(clients: int, slots: int, service: float) -> float:
    """The prediction for a burst: the last of ``clients`` waits ``ceil(clients/slots)`` services.

    ``slots`` clients are served at once (``max_connections``), each for ``service`` seconds;
    the others wait in the kernel's queue, so answers come in waves. Real waits are a little
    longer (the proxy's own work, the machine's other jobs): the model says what to expect.
    """
    if clients < 1 or slots < 1 or service < 0:
        raise ConfigError("Give clients >= 1, slots >= 1 and a service time >= 0 s.")
    waves = -(-clients // slots)  # ceiling division
    return waves * service


def throughput_ceiling(cpu_per_request: float, cores: float = 1.0) -> float:
    """Requests per second when every request costs ``cpu_per_request`` CPU seconds.

    ``cores`` is how many cores run Python code at once: 1 for CPython's threads under the
    GIL, however many threads there are. Waiting costs no CPU, so only the work counts.
    """
    if cpu_per_request <= 0 or cores <= 0:
        raise ConfigError("CPU time per request and cores must be positive.")
    return cores / cpu_per_request


def _one(client: httpx.Client, url: str, began: float) -> Shot:
    """One request, closed at once (``Connection: close``) so it holds no slot afterwards."""
    try:
        response = client.get(url, headers={"Connection": "close"})
    except httpx.HTTPError as error:
        return Shot(time.monotonic() - began, 0, type(error).__name__)
    cache_status = response.headers.get("cache-status", "")
    return Shot(time.monotonic() - began, response.status_code, cache_status=cache_status)


class SlowClient:
    """A slowloris probe: a request head sent one byte every ``interval`` seconds, never ended.

    ``SlowClient(proxy_address)`` connects and starts trickling in a background thread.
    ``cut_off`` is set when the server ended the connection; then ``elapsed`` says how many
    seconds after ``started`` (a ``time.monotonic()`` reading) that was, ``sent`` how many
    bytes went out and ``answer`` what came back (its first line: ``status_line``).
    ``close()`` stops it early; use it as a context manager.
    """

    def __init__(
        self,
        address: tuple[str, int],
        target: str = "http://news.test/",
        *,
        interval: float = 0.25,
        source: str | None = None,
        give_up: float = 60.0,
    ) -> None:
        if interval <= 0:
            raise ConfigError("interval is the seconds between two bytes: give a positive number.")
        self.interval = interval
        self.cut_off = threading.Event()
        self.answer = b""
        self.sent = 0
        self.elapsed: float | None = None
        self._give_up = give_up
        self._stop = threading.Event()
        bind = (source, 0) if source else None
        self._sock = socket.create_connection(address, timeout=5.0, source_address=bind)
        self._head = f"GET {target} HTTP/1.1\r\nHost: {_host_of(target)}\r\nX-Slow: ".encode()
        self.started = time.monotonic()  # when it connected (time.monotonic)
        self._thread = threading.Thread(target=self._trickle, name="slowloris", daemon=True)
        self._thread.start()

    @property
    def status_line(self) -> str:
        """The first line the server answered (``""`` while it has said nothing)."""
        return self.answer.split(b"\r\n", 1)[0].decode("latin-1")

    def _trickle(self) -> None:
        """Send a byte, listen for ``interval`` seconds, repeat, until the server hangs up."""
        try:
            self._send(self._head[:1])
            for byte in self._bytes():
                if self._listen():
                    break
                self._send(byte)
        except OSError:
            pass  # the server reset the connection: that is being cut off too
        finally:
            self.elapsed = time.monotonic() - self.started
            self._sock.close()  # hang up too, as a browser would, so the server need not linger
            self.cut_off.set()

    def _bytes(self) -> Iterator[bytes]:
        """The rest of the head, then an endless header value: ``aaaa...``, never a CRLF."""
        for index in range(1, len(self._head)):
            yield self._head[index : index + 1]
        while True:
            yield b"a"

    def _send(self, byte: bytes) -> None:
        if self._stop.is_set() or time.monotonic() - self.started > self._give_up:
            raise OSError("the probe was stopped")
        self._sock.sendall(byte)
        self.sent += 1

    def _listen(self) -> bool:
        """Wait up to ``interval`` for the server; True when it answered and hung up."""
        self._sock.settimeout(self.interval)
        try:
            data = self._sock.recv(65536)
        except TimeoutError:
            return False
        while data:
            self.answer += data
            self._sock.settimeout(1.0)
            data = self._sock.recv(65536)
        return True

    def close(self) -> None:
        """Stop trickling and close the socket (idempotent); joins the thread."""
        self._stop.set()
        self._thread.join()  # it notices within one interval (or one second of reading)

    def __enter__(self) -> SlowClient:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = f"cut off after {self.elapsed:.2f} s" if self.cut_off.is_set() else "trickling"
        return f"SlowClient({state}, {self.sent} bytes sent, answer {self.status_line!r})"


def _host_of(target: str) -> str:
    return target.split("://", 1)[-1].split("/", 1)[0]


@dataclass(slots=True)
class Measurement:
    """Wall-clock and CPU seconds of a measured block; filled in when the block ends."""

    wall: float = 0.0
    cpu: float = 0.0

    @property
    def cores(self) -> float:
        """CPU seconds per wall second: how many cores the block kept busy on average."""
        return self.cpu / self.wall if self.wall > 0 else 0.0


@contextmanager
def measure() -> Iterator[Measurement]:
    """``with measure() as m: ...`` then ``m.wall``, ``m.cpu`` (all threads of this process)."""
    result = Measurement()
    wall, cpu = time.perf_counter(), time.process_time()
    try:
        yield result
    finally:
        result.wall = time.perf_counter() - wall
        result.cpu = time.process_time() - cpu


class HandlerMeter:
    """Adds up the CPU time a server's threads spend in its handler (``time.thread_time``).

    ``HandlerMeter.on(server)`` wraps the handler of a running server: the server looks its
    handler up for every request, so the next requests go through the meter. ``requests``
    and ``cpu`` are running totals; ``per_request`` their ratio. Reading the request head
    happens before the handler is called, so that small part of the work is not counted.
    """

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests = 0
        self.cpu = 0.0
        self._lock = threading.Lock()

    @classmethod
    def on(cls, server: Server) -> HandlerMeter:
        """Meter ``server`` from its next request on; returns the meter."""
        meter = cls(server.handler)
        server.handler = meter
        return meter

    def __call__(self, conn: ClientConnection, request: Request) -> None:
        began = time.thread_time()  # this thread's CPU only: other threads do not count
        try:
            self.handler(conn, request)
        finally:
            spent = time.thread_time() - began
            with self._lock:
                self.requests += 1
                self.cpu += spent

    @property
    def per_request(self) -> float:
        """CPU seconds per request so far (0 before the first)."""
        with self._lock:
            return self.cpu / self.requests if self.requests else 0.0

    def reset(self) -> None:
        """Start counting again from zero."""
        with self._lock:
            self.requests, self.cpu = 0, 0.0
