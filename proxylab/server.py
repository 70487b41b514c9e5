"""A small threaded HTTP/1.1 server: listening, bounded concurrency, keep-alive, deadlines.

Both proxies are *handlers* plugged into this one server: ``Server(handler, address)``.
The server owns the sockets and threads; the handler only sees a ``ClientConnection`` and
a parsed ``Request`` and answers it. That is composition, not inheritance: compare
CPython's ``socketserver``, where behaviour is mixed in through class attributes.

Key ideas:
- One thread per client connection, at most ``max_connections`` at once. When all slots
  are taken the server stops accepting, so further clients wait in the kernel's backlog
  instead of creating an unbounded number of threads.
- Keep-alive (RFC 9112 section 9.3): after an exchange the same connection waits for the
  next request, for at most ``Timeouts.idle`` seconds.
- A *deadline* for the whole request head, not a per-read timeout: a client that trickles
  one byte every few seconds would reset a per-read timeout forever (the slowloris
  attack); against a deadline it is cut off after ``Timeouts.head`` seconds whatever it does.
- One place turns exceptions into responses (``error_response``): handlers raise
  ``ProxyLabError``s, the server answers with their status and a short HTML body. If the
  response had already started, the only honest thing left is to close the connection, so
  the client sees an incomplete message rather than a wrong one.

Left out on purpose: HTTP/2, ``Expect: 100-continue`` negotiation beyond forwarding it,
and pipelined requests being *processed* in parallel (they are answered in order).

Layer 3: sockets and threads live here; socket errors become ``errors`` here.
"""

from __future__ import annotations

import contextlib
import html
import logging
import selectors
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from types import TracebackType

from proxylab.errors import ClientTimeout, IncompleteMessage, ProxyLabError
from proxylab.messages import Headers, Request, Response, reason_phrase
from proxylab.sockets import TIMEOUT_ERRORS, no_delay, set_timeout
from proxylab.wire import (
    BodyDecoder,
    BodyKind,
    Framing,
    HeadParser,
    Limits,
    encode_chunk,
    last_chunk,
    request_framing,
    serialize_response_head,
)

__all__ = [
    "ClientConnection",
    "Handler",
    "Server",
    "Timeouts",
    "error_response",
    "parse_address",
    "write_body",
]

log = logging.getLogger("proxylab.server")

RECV_SIZE = 65536


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Every wait in seconds, so that no peer can hold a thread forever.

    ``head``: deadline for a whole request head once its first byte arrived.
    ``idle``: how long a kept-alive connection may wait for the next request.
    ``read``: longest silence while reading a body from the client.
    ``connect`` and ``upstream_read``: used by the proxies for their outbound side.
    """

    head: float = 10.0
    idle: float = 30.0
    read: float = 30.0
    connect: float = 5.0
    upstream_read: float = 30.0


def parse_address(text: str, default_host: str = "127.0.0.1") -> tuple[str, int]:
    """``"HOST:PORT"``, ``":PORT"`` or ``"PORT"`` -> ``(host, port)`` with a clear error."""
    from proxylab.errors import ConfigError

    host, sep, port_text = text.rpartition(":")
    if not sep:
        host, port_text = "", text
    host = host.strip("[]") or default_host
    if not port_text.isdigit() or not 0 <= int(port_text) < 65536:
        raise ConfigError(f"Bad address {text!r}: expected HOST:PORT, e.g. 127.0.0.1:8080.")
    return host, int(port_text)


def error_response(error: ProxyLabError) -> tuple[Response, bytes]:
    """The one place where an error becomes a response: its status and a short HTML page."""
    reason = reason_phrase(error.status)
    body = (
        f"<!doctype html><html><head><title>{error.status} {reason}</title></head>"
        f"<body><h1>{error.status} {reason}</h1><p>{html.escape(error.message)}</p>"
        f"<hr><p>proxylab</p></body></html>\n"
    ).encode()
    headers = Headers(
        [
            ("Content-Type", "text/html; charset=utf-8"),
            ("Content-Length", str(len(body))),
            ("Cache-Control", "no-store"),
        ]
    )
    for name, value in error.headers:
        headers.add(name, value)
    return Response(error.status, headers, reason), body


def write_body(send: Callable[[bytes], None], pieces: Iterable[bytes], kind: BodyKind) -> int:
    """Send body ``pieces`` framed as ``kind``; returns the number of body bytes sent.

    With a known length or read-until-close the bytes go out as they are; chunked bodies
    get each piece wrapped in a chunk and the zero-length last chunk at the end.
    """
    sent = 0
    chunked = kind is BodyKind.CHUNKED
    for piece in pieces:
        if piece:
            send(encode_chunk(piece) if chunked else piece)
            sent += len(piece)
    if chunked:
        send(last_chunk())
    return sent


class ClientConnection:
    """One accepted client connection: buffered reading, the head deadline, writing.

    A handler uses ``read_body`` to stream the request body, ``send`` / ``send_response``
    to answer, and ``take_over`` when it turns the connection into a CONNECT tunnel.
    """

    def __init__(
        self, sock: socket.socket, address: tuple[str, int], limits: Limits, timeouts: Timeouts
    ) -> None:
        self.sock = sock
        self.client_address = address
        self.client_ip = address[0]
        self.limits = limits
        self.timeouts = timeouts
        self.keep_alive = True
        self.response_started = False
        self.bytes_out = 0
        self.idle = True
        self._buffer = b""
        self._taken_over = False
        self._timeout: float | None = None

    def _use_timeout(self, seconds: float) -> None:
        """Set the socket's timeout, skipping the system call when it is already right."""
        if seconds != self._timeout:
            set_timeout(self.sock, seconds)
            self._timeout = seconds

    # -- reading ---------------------------------------------------------------------
    def read_request(self) -> Request | None:
        """The next request head, or ``None`` when the client closed or went idle too long."""
        self.response_started = False
        self.bytes_out = 0
        parser = HeadParser("request", self.limits)
        data, self._buffer = self._buffer, b""
        if not data and not self._wait_for_first_byte():
            return None
        self.idle = False
        deadline = time.monotonic() + self.timeouts.head
        data = data or self._buffer
        self._buffer = b""
        while True:
            request = parser.feed(data)
            if request is not None:
                self._buffer = parser.leftover
                return request  # type: ignore[return-value]
            data = self._recv_before(deadline)

    def _wait_for_first_byte(self) -> bool:
        self._use_timeout(self.timeouts.idle)
        try:
            data = self.sock.recv(RECV_SIZE)
        except OSError:  # includes TIMEOUT_ERRORS: an idle client is simply let go
            return False
        self._buffer = data
        return bool(data)

    def _recv_before(self, deadline: float) -> bytes:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise ClientTimeout("The request head did not arrive in time.")
        self._use_timeout(remaining)
        try:
            data = self.sock.recv(RECV_SIZE)
        except TIMEOUT_ERRORS:
            raise ClientTimeout("The request head did not arrive in time.") from None
        if not data:
            raise IncompleteMessage("The client closed the connection mid-request.")
        return data

    def read_body(self, request: Request) -> Iterator[bytes]:
        """Stream the request body, decoded; framing from RFC 9112 section 6."""
        return self.read_framed(request_framing(request, self.limits))

    def read_framed(self, framing: Framing) -> Iterator[bytes]:
        """Stream a body with the given framing from this connection."""
        if framing.kind is BodyKind.NONE:
            return
        decoder = BodyDecoder(framing, self.limits)
        data, self._buffer = self._buffer, b""
        self._use_timeout(self.timeouts.read)
        while True:
            if data:
                yield from decoder.feed(data)
            if decoder.done:
                self._buffer = decoder.leftover
                return
            try:
                data = self.sock.recv(RECV_SIZE)
            except TIMEOUT_ERRORS:
                raise ClientTimeout("The request body stopped arriving.") from None
            if not data:
                decoder.eof()
                return

    # -- writing ---------------------------------------------------------------------
    def send(self, data: bytes) -> None:
        """Send bytes to the client; after this an error can no longer become a response."""
        self.response_started = True
        self.bytes_out += len(data)
        self.sock.sendall(data)

    def continue_if_expected(self, request: Request) -> None:
        """Answer ``Expect: 100-continue`` with an interim ``100 Continue``.

        A client that sends this waits (curl: one second) before its body (RFC 9110
        10.1.1). A proxy that means to read the body says "go ahead" at once. The interim
        response (RFC 9110 15.2) does not start the final one, so an error may still
        become a status code.
        """
        expect = request.headers.get("expect")
        if expect is not None and expect.lower() == "100-continue":
            self.sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")

    def send_response(self, response: Response, body: bytes = b"") -> None:
        """Send a whole small response in one write (head and body together)."""
        self.send(serialize_response_head(response) + body)

    def take_over(self) -> tuple[socket.socket, bytes]:
        """Hand the raw socket (and bytes already read) to a tunnel; the loop ends after."""
        self._taken_over = True
        self.keep_alive = False
        data, self._buffer = self._buffer, b""
        return self.sock, data

    def linger(self, seconds: float = 1.0, most: int = 1 << 20) -> None:
        """Half-close, then read away what the client still sends, briefly, before closing.

        Closing a socket with unread input makes the kernel send a reset, which can destroy
        the error response still in flight to the client (the "lingering close" of Apache
        and nginx). Bounded in time and bytes, so it cannot hold a thread.
        """
        try:
            self.sock.shutdown(socket.SHUT_WR)
            deadline = time.monotonic() + seconds
            while most > 0 and (remaining := deadline - time.monotonic()) > 0:
                self._use_timeout(remaining)
                data = self.sock.recv(RECV_SIZE)
                if not data:
                    return
                most -= len(data)
        except OSError:
            pass

    def close(self) -> None:
        """Close the socket (idempotent)."""
        with contextlib.suppress(OSError):
            self.sock.close()

    def abort(self) -> None:
        """Shut the socket down so a thread blocked on it wakes up (used when stopping)."""
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)


Handler = Callable[[ClientConnection, Request], None]


class Server:
    """A threaded HTTP/1.1 server that runs ``handler`` for every request.

    ``Server(handler, ("127.0.0.1", 0))`` listens on an ephemeral port shown by
    ``.address`` and ``.url``. Use it as a context manager (``with Server(...) as s:``):
    it starts in the background and, on exit, stops accepting, lets in-flight exchanges
    finish (up to ``grace`` seconds), closes idle connections and joins every thread.
    """

    def __init__(
        self,
        handler: Handler,
        address: tuple[str, int] = ("127.0.0.1", 0),
        *,
        max_connections: int = 1024,
        limits: Limits | None = None,
        timeouts: Timeouts | None = None,
        ssl_context: ssl.SSLContext | None = None,
        backlog: int = 1024,
        name: str = "proxylab",
    ) -> None:
        if max_connections < 1:
            from proxylab.errors import ConfigError

            raise ConfigError("max_connections must be at least 1.")
        self.handler = handler
        self.limits = limits or Limits()
        self.timeouts = timeouts or Timeouts()
        self.ssl_context = ssl_context
        self.max_connections = max_connections
        self.name = name
        self._listener = socket.create_server(address, backlog=backlog)
        self._slots = threading.BoundedSemaphore(max_connections)
        self._connections: dict[ClientConnection, threading.Thread] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._wake_reader, self._wake_writer = socket.socketpair()
        self._acceptor: threading.Thread | None = None

    # -- public surface --------------------------------------------------------------
    @property
    def address(self) -> tuple[str, int]:
        """The ``(host, port)`` actually bound (port 0 becomes a real port)."""
        host, port = self._listener.getsockname()[:2]
        return str(host), int(port)

    @property
    def url(self) -> str:
        """``http://host:port`` (or ``https://`` with TLS) of this server."""
        host, port = self.address
        scheme = "https" if self.ssl_context else "http"
        host = f"[{host}]" if ":" in host else host
        return f"{scheme}://{host}:{port}"

    @property
    def active_connections(self) -> int:
        """How many client connections are open right now."""
        with self._lock:
            return len(self._connections)

    def start(self) -> Server:
        """Start accepting in a background thread; returns self."""
        if self._acceptor is None:
            self._acceptor = threading.Thread(
                target=self._accept_loop, name=f"{self.name}-accept", daemon=True
            )
            self._acceptor.start()
        return self

    def stop(self, grace: float = 5.0) -> None:
        """Stop accepting, finish in-flight exchanges, close the rest, join every thread."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        self._wake_writer.send(b"x")
        if self._acceptor is not None:
            self._acceptor.join()
        self._listener.close()
        self._close_connections(grace)
        self._wake_reader.close()
        self._wake_writer.close()

    def serve_forever(self) -> None:
        """Start and block until ``stop`` is called (from another thread or Ctrl-C)."""
        self.start()
        try:
            self._stopping.wait()
        finally:
            self.stop()

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- accepting -------------------------------------------------------------------
    def _accept_loop(self) -> None:
        selector = selectors.DefaultSelector()
        selector.register(self._listener, selectors.EVENT_READ)
        selector.register(self._wake_reader, selectors.EVENT_READ)
        try:
            while self._take_slot():
                if not self._wait_readable(selector):
                    self._slots.release()
                    return
                self._accept_one()
        finally:
            selector.close()

    def _take_slot(self) -> bool:
        # Holding a slot *before* accept() is what bounds the threads: with all slots
        # taken we simply stop calling accept() and new clients wait in the backlog.
        while not self._stopping.is_set():
            if self._slots.acquire(timeout=0.25):
                return True
        return False

    def _wait_readable(self, selector: selectors.BaseSelector) -> bool:
        while not self._stopping.is_set():
            for key, _ in selector.select():
                return key.fileobj is not self._wake_reader
        return False

    def _accept_one(self) -> None:
        try:
            sock, address = self._listener.accept()
        except OSError:
            self._slots.release()
            return
        no_delay(sock)
        connection = ClientConnection(sock, address[:2], self.limits, self.timeouts)
        thread = threading.Thread(
            target=self._serve, args=(connection,), name=f"{self.name}-conn", daemon=True
        )
        with self._lock:
            self._connections[connection] = thread
        thread.start()

    # -- one connection --------------------------------------------------------------
    def _serve(self, connection: ClientConnection) -> None:
        try:
            if self.ssl_context is not None and not self._wrap_tls(connection):
                return
            while not self._stopping.is_set() and self._serve_one(connection):
                connection.idle = True
        finally:
            connection.close()
            with self._lock:
                self._connections.pop(connection, None)
            self._slots.release()

    def _wrap_tls(self, connection: ClientConnection) -> bool:
        assert self.ssl_context is not None
        connection.sock.settimeout(self.timeouts.head)  # the handshake counts as the head
        try:
            connection.sock = self.ssl_context.wrap_socket(connection.sock, server_side=True)
        except (OSError, ssl.SSLError):
            return False
        connection._timeout = None
        return True

    def _serve_one(self, connection: ClientConnection) -> bool:
        """Read and answer one request; True when the connection may carry another."""
        try:
            request = connection.read_request()
            if request is None:
                return False
            self.handler(connection, request)
        except ProxyLabError as error:
            self._answer_error(connection, error)
            return False
        except OSError:
            return False
        except Exception:
            log.exception("handler failed")
            self._answer_error(connection, ProxyLabError())
            return False
        return connection.keep_alive and request.keep_alive and not connection._taken_over

    def _answer_error(self, connection: ClientConnection, error: ProxyLabError) -> None:
        if connection.response_started or connection._taken_over:
            return  # too late for a status: closing tells the client the message is cut
        response, body = error_response(error)
        response.headers.add("Connection", "close")
        try:
            connection.send_response(response, body)
        except OSError:
            return
        connection.linger()

    def _close_connections(self, grace: float) -> None:
        deadline = time.monotonic() + grace
        with self._lock:
            items = list(self._connections.items())
        for connection, _ in items:
            if connection.idle:
                connection.abort()
        for connection, thread in items:
            thread.join(max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                connection.abort()
                thread.join()
