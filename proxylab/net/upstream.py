"""The proxy's outbound side: connections to origins and backends, kept alive and reused.

A proxy is a client too. For every request it forwards, it needs a connection to the
origin (forward proxy) or to a backend (reverse proxy). Opening a TCP connection costs a
round trip and a thread's worth of kernel work, so, like Squid and nginx's ``keepalive``
directive, we keep a few idle connections per origin in a ``ConnectionPool`` and reuse them
(RFC 9112 section 9.3, persistence).

Key ideas:
- Bodies stream in both directions: the request body is read from the client piece by
  piece and written upstream as it arrives; the response body comes back as an iterator.
  A 1 GB body never sits in memory.
- A pooled connection may have been closed by the server while it sat idle. We check it is
  still quiet before reuse, and if a reused connection fails before any byte of the
  response arrived, a request without a body is sent once more on a fresh connection
  (RFC 9112 section 9.3.1, retrying idempotent requests).
- ``relay`` is the CONNECT tunnel: two sockets, bytes copied both ways until both sides
  are done, with half-close passed on (when one side shuts its sending half, we shut ours
  towards the other side and keep copying the other direction).
- Socket errors become ``UpstreamError`` (502) or ``GatewayTimeout`` (504) here, so the
  proxies above never see an ``OSError``.

Left out on purpose: HTTP/2 to upstreams, DNS caching, happy-eyeballs.

Layer 3: sockets live here.
"""

from __future__ import annotations

import contextlib
import select
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from proxylab.errors import GatewayTimeout, ProtocolError, UpstreamError
from proxylab.http.framing import (
    LENGTH,
    NO_BODY,
    UNTIL_CLOSE,
    BodyDecoder,
    BodyKind,
    Framing,
    Limits,
    response_framing,
)
from proxylab.http.messages import Request, Response
from proxylab.http.wire import HeadParser, serialize_request_head
from proxylab.net.connection import ClientConnection, write_body
from proxylab.net.sockets import TIMEOUT_ERRORS, no_delay, set_timeout
from proxylab.net.splicing import MIN_SPLICE, SPLICE_AVAILABLE, Pipe

__all__ = [
    "ConnectionPool",
    "SpliceableBody",
    "UpstreamConnection",
    "UpstreamReply",
    "open_connection",
    "relay",
]

RECV_SIZE = 65536
#: Bytes moved per read in a CONNECT tunnel (into a buffer that is reused).
TUNNEL_BUFFER = 1 << 20
T = TypeVar("T")

#: Idle connections younger than this are reused without checking them (see ``acquire``).
QUIET_CHECK_AFTER = 1.0


def upstream_error(error: OSError, doing: str) -> GatewayTimeout | UpstreamError:
    """The one place where a socket error on an upstream connection becomes a proxylab error.

    A timeout is 504 Gateway Timeout, any other socket error 502 Bad Gateway, each with a
    sentence that says what the proxy was doing (the idea of httpcore's ``map_exceptions``).
    Callers write ``except OSError as error: raise upstream_error(error, "...") from None``:
    a ``try`` costs nothing until something fails, and it sits on every read.
    """
    if isinstance(error, TIMEOUT_ERRORS):
        return GatewayTimeout(f"The upstream server timed out {doing}.")
    return UpstreamError(f"The upstream connection broke {doing}.")


def open_connection(
    host: str, port: int, timeout: float, source_address: tuple[str, int] | None = None
) -> socket.socket:
    """Open a TCP connection or raise 502 (refused, unreachable, unknown) / 504 (timeout)."""
    try:
        sock = socket.create_connection((host, port), timeout, source_address=source_address)
    except TimeoutError:
        raise GatewayTimeout(f"Connecting to {host}:{port} timed out.") from None
    except socket.gaierror:
        raise UpstreamError(f"The name {host} could not be resolved.") from None
    except OSError as error:
        reason = error.strerror or "connection failed"
        raise UpstreamError(f"Could not connect to {host}:{port} ({reason}).") from None
    no_delay(sock)
    return sock


class UpstreamConnection:
    """One connection to an origin or backend, able to carry several exchanges in turn."""

    def __init__(self, sock: socket.socket, key: tuple[str, int, bool], limits: Limits) -> None:
        self.sock = sock
        self.key = key
        self.limits = limits
        self.reusable = False
        self.exchanges = 0
        self.idle_since = 0.0
        self._buffer = b""
        self._timeout: float | None = None

    def use_timeout(self, seconds: float) -> None:
        """Set the socket's timeout, skipping the system call when it is already right."""
        if seconds != self._timeout:
            set_timeout(self.sock, seconds)
            self._timeout = seconds

    def send(self, data: bytes) -> None:
        """Write bytes upstream; a failure is a 502."""
        try:
            self.sock.sendall(data)
        except OSError as error:
            raise upstream_error(error, "while sending the request") from None

    def read_response(self, method: str, timeout: float) -> Response:
        """Read the final response head, skipping interim 1xx responses (RFC 9110 15.2)."""
        while True:
            response = self._read_head(timeout)
            if response.status >= 200 or response.status == 101:
                return response

    def _read_head(self, timeout: float) -> Response:
        parser = HeadParser("response", self.limits)
        data, self._buffer = self._buffer, b""
        self.use_timeout(timeout)
        while True:
            if data:
                head = _theirs(parser.feed, data)
                if head is not None:
                    self._buffer = parser.leftover
                    assert isinstance(head, Response)
                    return head
            data = self._recv("waiting for the response")
            if not data:
                raise UpstreamError("The upstream server closed the connection without answering.")

    def _recv(self, doing: str) -> bytes:
        try:
            return self.sock.recv(RECV_SIZE)
        except OSError as error:
            raise upstream_error(error, doing) from None

    def take_whole_body(self, framing: Framing) -> bytes | None:
        """The whole body when it already arrived with the head, else ``None``.

        The usual case for a small response: the server wrote head and body together, so
        one read brought both. Then there is nothing to stream and the connection is free
        at once.
        """
        if framing.kind is NO_BODY:
            return b""
        length, max_body = framing.length, self.limits.max_body
        if framing.kind is not LENGTH or len(self._buffer) < length:
            return None
        if max_body is not None and length > max_body:
            return None  # the streaming path reports the error
        body, self._buffer = self._buffer[:length], self._buffer[length:]
        return body

    def read_body(
        self, framing: Framing, done: Callable[[UpstreamConnection], None]
    ) -> Iterator[bytes]:
        """Stream the response body; calls ``done(self)`` once it was read to its end.

        If the server closes before the announced end, ``IncompleteMessage`` is raised so
        the proxy cuts its client off instead of ending the response as if complete.
        """
        if framing.kind is NO_BODY:
            done(self)
            return
        finished = False
        try:
            yield from self._decode(BodyDecoder(framing, self.limits))
            finished = True
        finally:
            if not finished:  # cut short: by the server, by an error, or by our client
                self.close()
        done(self)

    def _decode(self, decoder: BodyDecoder) -> Iterator[bytes]:
        data, self._buffer = self._buffer, b""
        while True:
            if data:
                yield from _theirs(decoder.feed, data)
            if decoder.done:
                self._buffer = decoder.leftover
                return
            data = self._recv("sending the body")
            if not data:
                _theirs(decoder.eof)  # an error unless the body was read-until-close
                self.reusable = False
                return

    def is_quiet(self) -> bool:
        """True when an idle connection has nothing to read (so the server did not close it)."""
        if self._buffer:
            return False
        try:
            readable, _, _ = select.select([self.sock], [], [], 0)
        except (OSError, ValueError):
            return False
        return not readable

    def close(self) -> None:
        """Close the socket (idempotent)."""
        self.reusable = False
        with contextlib.suppress(OSError):
            self.sock.close()


def _theirs(parse: Callable[..., T], *args: Any) -> T:
    """Run a wire-layer step on bytes from upstream: its protocol errors are the server's
    fault, so they become 502 Bad Gateway for our client, never a 400 that blames it."""
    try:
        return parse(*args)
    except ProtocolError as error:
        raise UpstreamError(
            f"The upstream server sent an invalid message: {error.message}"
        ) from None


class SpliceableBody:
    """A large response body that can be read piece by piece, or spliced to a client.

    Iterating gives the pieces exactly as ``UpstreamConnection.read_body`` does (the cache,
    which keeps a copy, and TLS clients read it that way). ``splice_into`` instead moves it
    through the client connection's pipe without copying it into Python (see
    ``splicing``). Either way the connection goes back to the pool once the body was read
    to its end, and is closed if it was not.
    """

    def __init__(
        self,
        connection: UpstreamConnection,
        framing: Framing,
        done: Callable[[UpstreamConnection], None],
    ) -> None:
        self._connection, self._framing, self._done = connection, framing, done
        self._pieces: Iterator[bytes] | None = None

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        if self._pieces is None:
            self._pieces = self._connection.read_body(self._framing, self._done)
        return next(self._pieces)

    def close(self) -> None:
        """Stop reading: an unfinished body closes its connection (as a generator does)."""
        close = getattr(self._pieces, "close", None)
        if close is not None:
            close()

    def splice_into(self, client: ClientConnection, head: bytes) -> int:
        """Send ``head`` and the body to ``client``, splicing all but what was read already.

        Returns the body's length. Upstream failures are 502/504 as when reading; a client
        that went away raises ``OSError``. Either way the upstream connection is closed.
        """
        connection, length = self._connection, self._framing.length
        early, connection._buffer = connection._buffer, b""  # came in with the head
        remaining = length - len(early)
        try:
            client.send(head + early)
            pipe, source = client.pipe(), connection.sock.fileno()
            while remaining:
                moved = _fill(pipe, source, remaining)
                client.send_from_pipe(moved)
                remaining -= moved
        except BaseException:
            connection.close()
            raise
        self._done(connection)
        return length


def _fill(pipe: Pipe, source: int, remaining: int) -> int:
    """Splice the next part of a body from upstream into ``pipe``; errors as 502 / 504."""
    try:
        moved = pipe.fill(source, remaining)
    except OSError as error:
        raise upstream_error(error, "sending the body") from None
    if not moved:
        raise UpstreamError(f"The upstream server closed {remaining} bytes before the body's end.")
    return moved


@dataclass(slots=True)
class UpstreamReply:
    """A response head from upstream, its streaming body, and timing.

    A handle on a live connection rather than a value, so not frozen (which would also
    cost eight ``object.__setattr__`` calls on every request).
    """

    response: Response
    body: Iterator[bytes]
    connection: UpstreamConnection
    reused: bool
    started: float
    head_received: float
    body_read: bool = False

    def abandon(self) -> None:
        """Close the connection when the body was left unread: its state is unknown then.

        A body that came whole with the head (``body_read``) was read already and its
        connection is back in the pool, maybe carrying another request: it stays open.
        """
        if not self.body_read:
            self.connection.close()


class ConnectionPool:
    """Idle keep-alive connections per ``(host, port, tls)``, bounded per origin.

    ``exchange`` sends one request and returns the response with a body iterator; when the
    body has been read to its end the connection goes back to the pool by itself.
    """

    def __init__(
        self,
        *,
        max_idle_per_origin: int = 16,
        connect_timeout: float = 5.0,
        read_timeout: float = 30.0,
        source_address: tuple[str, int] | None = None,
        ssl_context: ssl.SSLContext | None = None,
        limits: Limits | None = None,
    ) -> None:
        self.max_idle_per_origin = max_idle_per_origin
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.source_address = source_address
        self.ssl_context = ssl_context
        self.limits = limits or Limits(max_header_bytes=262144)
        self.opened = 0
        self._idle: dict[tuple[str, int, bool], list[UpstreamConnection]] = {}
        self._lock = threading.Lock()

    def acquire(
        self, host: str, port: int, tls: bool = False, *, replayable: bool = False
    ) -> tuple[UpstreamConnection, bool]:
        """A quiet idle connection to ``host:port`` if there is one, else a new one.

        Checking that an idle connection is still open costs a system call. A connection
        idle for less than ``QUIET_CHECK_AFTER`` seconds is very likely still open, and a
        ``replayable`` request (no body) is retried on a fresh connection anyway if it was
        not, so the check is skipped then: that keeps the per-request path short under load.
        """
        key = (host, port, tls)
        while True:
            # Every request comes here and to ``release``, so the lock is taken by hand: on
            # CPython 3.10/3.11 ``with lock:`` costs about twice as much as acquire/release.
            self._lock.acquire()
            try:
                idle = self._idle.get(key)
                connection = idle.pop() if idle else None
            finally:
                self._lock.release()
            if connection is None:
                return self._open(key), False
            recent = time.monotonic() - connection.idle_since < QUIET_CHECK_AFTER
            if (replayable and recent) or connection.is_quiet():
                return connection, True
            connection.close()

    def _open(self, key: tuple[str, int, bool]) -> UpstreamConnection:
        host, port, tls = key
        sock = open_connection(host, port, self.connect_timeout, self.source_address)
        if tls:
            sock = self._wrap_tls(sock, host)
        with self._lock:
            self.opened += 1
        connection = UpstreamConnection(sock, key, self.limits)
        connection.use_timeout(self.read_timeout)
        return connection

    def _wrap_tls(self, sock: socket.socket, host: str) -> socket.socket:
        context = self.ssl_context or ssl.create_default_context()
        try:
            return context.wrap_socket(sock, server_hostname=host)
        except (OSError, ssl.SSLError) as error:
            sock.close()
            raise UpstreamError(f"TLS with {host} failed ({error.__class__.__name__}).") from None

    def release(self, connection: UpstreamConnection) -> None:
        """Return a connection after its exchange: kept if reusable and there is room."""
        if connection.reusable:
            connection.idle_since = time.monotonic()
            self._lock.acquire()  # by hand, as in ``acquire``
            try:
                idle = self._idle.setdefault(connection.key, [])
                kept = len(idle) < self.max_idle_per_origin
                if kept:
                    idle.append(connection)
            finally:
                self._lock.release()
            if kept:
                return
        connection.close()

    def _body(self, connection: UpstreamConnection, framing: Framing) -> Iterator[bytes]:
        """The body still to come: spliceable when large, plain TCP and of known length."""
        spliceable = (
            SPLICE_AVAILABLE
            and framing.kind is LENGTH
            and framing.length >= MIN_SPLICE
            and not isinstance(connection.sock, ssl.SSLSocket)
            and (self.limits.max_body is None or framing.length <= self.limits.max_body)
        )
        if spliceable:
            return SpliceableBody(connection, framing, self.release)
        return connection.read_body(framing, self.release)

    def close(self) -> None:
        """Close every idle connection."""
        with self._lock:
            idle, self._idle = self._idle, {}
        for connections in idle.values():
            for connection in connections:
                connection.close()

    def exchange(
        self,
        host: str,
        port: int,
        request: Request,
        body: Iterable[bytes] | None = None,
        body_kind: BodyKind = NO_BODY,
        *,
        tls: bool = False,
    ) -> UpstreamReply:
        """Send ``request`` (head, then the body framed as ``body_kind``) and read the reply head.

        A request without a body that fails on a reused connection before any response
        byte is retried once on a new connection: the server may have closed it while idle.
        """
        started = time.monotonic()
        head = serialize_request_head(request)
        connection, reused = self.acquire(host, port, tls, replayable=body is None)
        try:
            response = self._send_and_read(connection, request, head, body, body_kind)
        except (UpstreamError, ProtocolError) as error:
            connection.close()
            if not (reused and body is None and not isinstance(error, GatewayTimeout)):
                raise
            connection, reused = self._open((host, port, tls)), False
            try:
                response = self._send_and_read(connection, request, head, None, body_kind)
            except BaseException:
                connection.close()
                raise
        except BaseException:
            connection.close()
            raise
        return self._reply(connection, request, response, reused, started)

    def _send_and_read(
        self,
        connection: UpstreamConnection,
        request: Request,
        head: bytes,
        body: Iterable[bytes] | None,
        body_kind: BodyKind,
    ) -> Response:
        if body is None:
            connection.send(head)
        else:
            connection.send(head)
            write_body(connection.send, body, body_kind)
        return connection.read_response(request.method, self.read_timeout)

    def _reply(
        self,
        connection: UpstreamConnection,
        request: Request,
        response: Response,
        reused: bool,
        started: float,
    ) -> UpstreamReply:
        connection.exchanges += 1
        framing = response_framing(response, request.method)
        connection.reusable = (
            response.keep_alive and request.keep_alive and framing.kind is not UNTIL_CLOSE
        )
        whole = connection.take_whole_body(framing)
        if whole is None:
            body = self._body(connection, framing)
        else:
            self.release(connection)
            body = iter((whole,) if whole else ())
        now = time.monotonic()
        return UpstreamReply(response, body, connection, reused, started, now, whole is not None)


def relay(
    client: socket.socket, upstream: socket.socket, idle_timeout: float = 300.0, first: bytes = b""
) -> tuple[int, int]:
    """Copy bytes both ways until both directions are finished; returns (up, down) counts.

    ``first`` holds bytes the client sent before the tunnel existed (they go upstream
    first). When one side half-closes, the other side's sending half is shut too, and the
    remaining direction continues: TLS close_notify and "request, then shutdown(WR)"
    clients both work. ``idle_timeout`` ends a tunnel where nothing moves at all.
    """
    counts = {client: 0, upstream: 0}
    if first:
        upstream.sendall(first)
        counts[client] += len(first)
    peers = {client: upstream, upstream: client}
    # One reusable buffer per direction: no allocation per read, and big reads mean few
    # system calls per megabyte (a tunnel carries bulk data: downloads, uploads).
    buffers = {client: bytearray(TUNNEL_BUFFER), upstream: bytearray(TUNNEL_BUFFER)}
    open_readers = [client, upstream]
    for sock in open_readers:
        sock.setblocking(True)
    while open_readers:
        readable, _, _ = select.select(open_readers, [], [], idle_timeout)
        if not readable:
            break
        for sock in readable:
            if not _pump(sock, peers[sock], buffers[sock], counts):
                open_readers.remove(sock)
    return counts[client], counts[upstream]


def _pump(
    source: socket.socket,
    target: socket.socket,
    buffer: bytearray,
    counts: dict[socket.socket, int],
) -> bool:
    """Move one read's worth from source to target; False when source is finished."""
    try:
        size = source.recv_into(buffer)
    except OSError:
        size = 0
    if size:
        with contextlib.suppress(OSError):
            target.sendall(memoryview(buffer)[:size])
            counts[source] += size
            return True
    with contextlib.suppress(OSError):
        target.shutdown(socket.SHUT_WR)  # pass the half-close on
    return False
