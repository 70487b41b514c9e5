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
  next request, for at most ``Timeouts.idle`` seconds. Reading one connection, with its
  deadline for the request head, is ``connection.ClientConnection``'s job.
- On a TLS port, a client that speaks plain HTTP gets nginx's 400 "The plain HTTP request
  was sent to HTTPS port" in plain HTTP instead of a reset (``_plain_http``), and ALPN
  offers ``http/1.1`` (RFC 7301), the one protocol spoken here.
- One place turns exceptions into responses (``error_response``): handlers raise
  ``ProxyLabError``s, the server answers with their status and a short HTML body. If the
  response had already started, the only honest thing left is to close the connection, so
  the client sees an incomplete message rather than a wrong one.

Left out on purpose: HTTP/2, and pipelined requests being *processed* in parallel (they
are answered in order).

Layer 3: sockets and threads live here; socket errors become ``errors`` here.
"""

from __future__ import annotations

import html
import logging
import selectors
import socket
import ssl
import threading
import time
from collections.abc import Callable
from types import TracebackType

from proxylab.errors import ConfigError, ProtocolError, ProxyLabError
from proxylab.http.framing import Limits
from proxylab.http.messages import Headers, Request, Response, reason_phrase
from proxylab.net.connection import ClientConnection, Timeouts
from proxylab.net.sockets import no_delay

__all__ = [
    "Handler",
    "PLAIN_HTTP_TO_TLS",
    "RejectionListener",
    "Server",
    "answer_error",
    "error_response",
]

log = logging.getLogger("proxylab.net.server")


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


def answer_error(connection: ClientConnection, error: ProxyLabError) -> None:
    """Send ``error``'s page, unless a response has already begun on ``connection``.

    The server calls it for any error a handler lets through. A handler may call it first,
    before it records its exchange, so that the record counts the page; the server's own
    call then finds the response started and does nothing. ``connection.error_sent``
    tells the server to close politely (``linger``) afterwards.
    """
    if connection.response_started or connection.taken_over:
        return  # too late for a status: closing tells the client the message is cut
    response, body = error_response(error)
    response.headers.add("Connection", "close")
    try:
        connection.send_response(response, body)
    except OSError:
        return
    connection.error_sent = True


#: What a client that speaks plain HTTP to the TLS port is told (nginx's words).
PLAIN_HTTP_TO_TLS = "The plain HTTP request was sent to HTTPS port"

#: The first byte of a TLS record that carries a handshake (RFC 8446 section 5.1).
_TLS_HANDSHAKE = 0x16


def _plain_http(sock: socket.socket) -> bool:
    """Does the client's first byte start a plain HTTP request rather than a TLS handshake?

    Peeked, not read, so that a TLS handshake stays whole for ``wrap_socket``. A request
    line starts with a method, an upper-case letter; a ClientHello with ``0x16``.
    """
    try:
        first = sock.recv(1, socket.MSG_PEEK)
    except OSError:
        return False  # the handshake will fail the same way and say nothing
    return bool(first) and first[0] != _TLS_HANDSHAKE and chr(first[0]).isalpha()


Handler = Callable[[ClientConnection, Request], None]
#: Told about a request refused before it reached the handler (bad, too large or too slow).
RejectionListener = Callable[[ClientConnection, ProxyLabError], None]


class Server:
    """A threaded HTTP/1.1 server that runs ``handler`` for every request.

    ``Server(handler, ("127.0.0.1", 0))`` listens on an ephemeral port shown by
    ``.address`` and ``.url``. Use it as a context manager (``with Server(...) as s:``):
    it starts in the background and, on exit, stops accepting, lets in-flight exchanges
    finish (up to ``grace`` seconds), closes idle connections and joins every thread.
    A request whose head is refused (400, 408, 414, 431 ...) never reaches ``handler``;
    ``on_rejected(connection, error)`` hears of it, after its error page went out, so
    that a proxy can log it too.
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
        on_rejected: RejectionListener | None = None,
    ) -> None:
        if max_connections < 1:
            raise ConfigError("max_connections must be at least 1.")
        self.handler = handler
        self.on_rejected = on_rejected
        self.limits = limits or Limits()
        self.timeouts = timeouts or Timeouts()
        self.ssl_context = ssl_context
        if ssl_context is not None:
            # ALPN (RFC 7301): say which protocol this server speaks, so that a client that
            # offers h2 and http/1.1 knows at once (without it, none is negotiated)
            ssl_context.set_alpn_protocols(["http/1.1"])
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
        if _plain_http(connection.sock):
            # nginx's answer, in plain HTTP (the client speaks nothing else), then close
            self._reject(connection, ProtocolError(PLAIN_HTTP_TO_TLS))
            return False
        try:
            wrapped = self.ssl_context.wrap_socket(connection.sock, server_side=True)
        except (OSError, ssl.SSLError):
            return False
        connection.replace_socket(wrapped)
        return True

    def _serve_one(self, connection: ClientConnection) -> bool:
        """Read and answer one request; True when the connection may carry another."""
        try:
            request = connection.read_request()
        except ProxyLabError as error:  # the head was malformed, too large or too slow
            self._reject(connection, error)
            return False
        except OSError:
            return False
        if request is None:
            return False
        try:
            self.handler(connection, request)
        except ProxyLabError as error:
            self._end_with_error(connection, error)
            return False
        except OSError:
            return False
        except Exception:
            log.exception("handler failed")
            self._end_with_error(connection, ProxyLabError())
            return False
        return connection.keep_alive and request.keep_alive and not connection.taken_over

    def _end_with_error(self, connection: ClientConnection, error: ProxyLabError) -> None:
        answer_error(connection, error)
        if connection.error_sent:
            connection.linger()  # so the page is not lost to a reset (see ClientConnection)

    def _reject(self, connection: ClientConnection, error: ProxyLabError) -> None:
        answer_error(connection, error)
        if self.on_rejected is not None:
            try:
                self.on_rejected(connection, error)  # after the page: it can count its bytes
            except Exception:
                log.exception("on_rejected failed")
        if connection.error_sent:
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
