"""Helpers shared by several test files: real kitchens and proxies on port 0, raw exchanges, bounded waits.

Fixtures stay in ``conftest.py``; plain functions and classes that tests import live here,
so that no test file imports another.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from proxylab.cache.http_cache import HttpCache
from proxylab.forward.proxy import ForwardProxy, ForwardSettings
from proxylab.http.messages import Headers, Request, Response, reason_phrase
from proxylab.metrics import Event, EventLog
from proxylab.net.connection import ClientConnection
from proxylab.net.server import Server
from proxylab.reverse.balancers import Backend
from proxylab.reverse.proxy import ReverseProxy
from proxylab.reverse.routes import ReverseSettings, Route


def raw_exchange(address: tuple[str, int], data: bytes, timeout: float = 10) -> bytes:
    """Send raw bytes, read until the server closes: what the wire really carried."""
    with socket.create_connection(address, timeout=timeout) as sock:
        sock.sendall(data)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


@contextmanager
def running_forward_proxy(
    settings: ForwardSettings, cache: HttpCache | None = None, **server_options: object
) -> Iterator[tuple[Server, ForwardProxy]]:
    """A started forward proxy on an ephemeral port, stopped and joined afterwards."""
    proxy = ForwardProxy(settings, cache=cache, events=EventLog())
    server = proxy.serve(("127.0.0.1", 0), **server_options)
    try:
        with server:
            yield server, proxy
    finally:
        proxy.close()


def wait_for_event(
    log: EventLog, predicate: Callable[[Event], bool], timeout: float = 5.0
) -> Event:
    """The first event in ``log`` that satisfies ``predicate``, waiting (bounded) for it."""
    arrived = threading.Event()
    log.subscribe(lambda event: arrived.set() if predicate(event) else None)
    if not any(predicate(e) for e in log.snapshot()):
        assert arrived.wait(timeout), "the expected event was never recorded"
    return next(e for e in log.snapshot() if predicate(e))


@dataclass(frozen=True)
class Seen:
    """One request as a kitchen saw it."""

    method: str
    target: str
    headers: Headers
    body: bytes


class Kitchen:
    """A small real backend with a name: answers JSON saying what it saw.

    Paths: ``/health`` (status ``health_status``), ``/slow`` (waits for ``gate``),
    ``/redirect`` (a Location naming its own address), ``/bytes/N``; anything else echoes
    the request. ``delay`` seconds are added to every answer (an interruptible wait).
    """

    def __init__(self, name: str, port: int = 0, weight: int = 1) -> None:
        self.name, self.weight = name, weight
        self.delay = 0.0
        self.health_status = 200
        self.gate = threading.Event()
        self.seen: list[Seen] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self.server = Server(self._handle, ("127.0.0.1", port), name=f"kitchen-{name}")
        self.port = self.server.address[1]

    @property
    def backend(self) -> Backend:
        return Backend("127.0.0.1", self.port, self.weight, self.name)

    @property
    def count(self) -> int:
        with self._lock:
            return len(self.seen)

    def start(self) -> Kitchen:
        self.server.start()
        return self

    def stop(self) -> None:
        self.gate.set()
        self._stopping.set()
        self.server.stop(grace=2.0)

    def restart(self) -> None:
        """A new server on the same port (the old one must be stopped)."""
        self._stopping.clear()
        self.gate.clear()
        self.server = Server(self._handle, ("127.0.0.1", self.port), name=f"kitchen-{self.name}")
        self.server.start()

    def _handle(self, conn: ClientConnection, request: Request) -> None:
        body = b"".join(conn.read_body(request))
        path = request.target.partition("?")[0]
        if path == "/health":
            self._reply(conn, self.health_status, b"ok")
            return
        if request.method == "HEAD":  # the head a GET would get, without the body
            self._reply(conn, 200, b"", [("Content-Length", "500")])
            return
        with self._lock:
            self.seen.append(Seen(request.method, request.target, request.headers.copy(), body))
        if self.delay:
            self._stopping.wait(self.delay)
        if path == "/slow":
            self.gate.wait(10)
        if path == "/redirect":
            me = f"http://127.0.0.1:{self.port}"
            extra = [("Location", f"{me}/login"), ("Content-Location", f"{me}/here"),
                     ("Link", f"<{me}/style.css>; rel=preload")]  # fmt: skip
            self._reply(conn, 302, b"moved", extra)
        elif path.startswith("/bytes/"):
            self._reply(conn, 200, b"x" * int(path.rsplit("/", 1)[1]))
        else:
            seen = {"backend": self.name, "method": request.method, "target": request.target,
                    "headers": request.headers.items(), "body": len(body)}  # fmt: skip
            self._reply(
                conn, 200, json.dumps(seen).encode(), [("Content-Type", "application/json")]
            )

    def _reply(
        self,
        conn: ClientConnection,
        status: int,
        body: bytes,
        extra: Sequence[tuple[str, str]] = (),
    ) -> None:
        length = (
            []
            if any(k == "Content-Length" for k, _ in extra)
            else [("Content-Length", str(len(body)))]
        )
        headers = Headers([*length, ("Server", "kitchen/1.0"), ("X-Powered-By", "PHP/8.3"),
                           ("X-Backend", self.name), *extra])  # fmt: skip
        conn.send_response(Response(status, headers, reason_phrase(status)), body)


@contextmanager
def kitchens(*names: str, weights: Sequence[int] = ()) -> Iterator[list[Kitchen]]:
    """Started kitchens, stopped (and their threads joined) afterwards."""
    started = [
        Kitchen(name, weight=(weights[i] if weights else 1)).start() for i, name in enumerate(names)
    ]
    try:
        yield started
    finally:
        for kitchen in started:
            kitchen.stop()


@contextmanager
def reverse_proxy(
    backends: Sequence[Backend] = (),
    balancer: Any = "round-robin",
    routes: Sequence[Route] | None = None,
    ssl_context: Any = None,
    **settings: Any,
) -> Iterator[tuple[Server, ReverseProxy]]:
    """A started reverse proxy on an ephemeral port; stopped and closed afterwards."""
    proxy = ReverseProxy(routes, backends=backends, balancer=balancer,
                         settings=ReverseSettings(**settings), events=EventLog())  # fmt: skip
    with proxy.serve(("127.0.0.1", 0), ssl_context=ssl_context) as server:
        yield server, proxy


def client(**options: Any) -> httpx.Client:
    return httpx.Client(trust_env=False, timeout=10, **options)


def who(response: httpx.Response) -> str:
    return response.headers["x-backend"]


def seen_headers(response: httpx.Response) -> Headers:
    return Headers((k, v) for k, v in response.json()["headers"])


def dead_port() -> int:
    """A port on which nothing listens (bound, then closed)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    """A bounded poll: True as soon as ``condition()`` holds, False after ``timeout``."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while time.monotonic() < deadline:
        if condition():
            return True
        pause.wait(0.005)
    return condition()


def event_waiter(events: EventLog, match: Callable[[Event], bool]) -> threading.Event:
    """A threading.Event that is set when an event matching ``match`` is recorded."""
    flag = threading.Event()
    events.subscribe(lambda event: flag.set() if match(event) else None)
    return flag


class ScriptedOrigin:
    """A raw-socket origin on 127.0.0.1 that answers each request head with ``script(head)``.

    ``script`` gets the request head (bytes up to the blank line, plus ``conn`` = the index
    of the connection it came on) and returns the exact bytes to write, or ``None`` to
    close the connection without answering. Every request head is kept in ``received``, so
    a test can count what the origin really got. ``after_answer`` (if set) runs after each
    write with the client socket, for scripted misbehaviour later on the same connection.
    Nothing here is lenient on purpose; the misbehaviour is whatever the script writes.
    """

    def __init__(self, script: Callable[[bytes, int], bytes | None]) -> None:
        self.script = script
        self.received: list[bytes] = []
        self.after_answer: Callable[[socket.socket, bytes], None] | None = None
        self.connections = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._threads: list[threading.Thread] = []
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()

    @property
    def port(self) -> int:
        return int(self._listener.getsockname()[1])

    def __enter__(self) -> ScriptedOrigin:
        self._spawn(self._accept)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopping.set()
        with contextlib.suppress(OSError):
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
        self._listener.close()
        with self._lock:
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
        for thread in self._threads:
            thread.join(5)

    def _spawn(self, target: Callable[..., None], *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept(self) -> None:
        with contextlib.suppress(OSError):
            while not self._stopping.is_set():
                client, _ = self._listener.accept()
                if self._stopping.is_set():
                    client.close()
                    return
                with self._lock:
                    self._sockets.append(client)
                    index, self.connections = self.connections, self.connections + 1
                self._spawn(self._serve, client, index)

    def _serve(self, client: socket.socket, index: int) -> None:
        buffer = b""
        with contextlib.suppress(OSError), client:
            while True:
                while b"\r\n\r\n" not in buffer:
                    data = client.recv(65536)
                    if not data:
                        return
                    buffer += data
                head, _, buffer = buffer.partition(b"\r\n\r\n")
                with self._lock:
                    self.received.append(head)
                answer = self.script(head, index)
                if answer is None:
                    return
                client.sendall(answer)
                if self.after_answer is not None:
                    self.after_answer(client, head)


def response_bytes(body: bytes, *fields: str, status: str = "200 OK") -> bytes:
    """A complete HTTP/1.1 response with ``Content-Length``, as an origin writes it."""
    head = "".join(f"{field}\r\n" for field in fields)
    return f"HTTP/1.1 {status}\r\n{head}Content-Length: {len(body)}\r\n\r\n".encode() + body
