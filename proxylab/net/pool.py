"""Keep-alive towards origins and backends: idle connections kept per origin and reused.

Opening a TCP connection costs a round trip and a thread's worth of kernel work, so, like
Squid and nginx's ``keepalive`` directive, the proxies keep a few idle connections per
origin in a ``ConnectionPool`` and reuse them (RFC 9112 section 9.3, persistence).

Key ideas:
- A connection goes back to the pool only when its exchange ended cleanly: the response
  was read to its end and not one byte more is waiting (``UpstreamConnection.unread``).
  Before reuse it is checked again: anything that arrived while it was idle (bytes that
  answer no request, or the server's close) means it is closed instead.
- Idle connections expire after ``idle_timeout`` seconds, shorter than the keep-alive
  timeouts of common servers (Node and Apache 5 s, nginx 75 s), so the proxy drops a
  connection before the server does rather than sending a request into a closing one.
  Expired ones are closed when found, and swept on the way in and out of the pool.
- A reused connection may still fail before the response starts (the server closed it at
  the very moment it was taken). Only an idempotent request (RFC 9110 section 9.2.2: GET,
  HEAD, PUT, DELETE, OPTIONS, TRACE) without a body is then sent again, on a new
  connection. A POST the server may already have acted on is never resent: the client
  gets a 502 that says the outcome is unknown.
- A request that asks to switch protocols (``Upgrade``, RFC 9110 section 7.8) gets a
  connection of its own (``upgrade``), which never goes back to the pool.

Left out on purpose: a background reaper thread (the sweep runs whenever the pool is
used), per-origin connection limits.

Layer 3: sockets, through ``upstream``.
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from proxylab.errors import GatewayTimeout, ProtocolError, ProxyLabError, UpstreamError
from proxylab.http.framing import (
    LENGTH,
    NO_BODY,
    UNTIL_CLOSE,
    BodyKind,
    Framing,
    Limits,
    response_framing,
)
from proxylab.http.messages import IDEMPOTENT_METHODS, Request, Response
from proxylab.http.wire import serialize_request_head
from proxylab.net.connection import Timeouts, write_body
from proxylab.net.splicing import MIN_SPLICE, SPLICE_AVAILABLE
from proxylab.net.upstream import Interim, SpliceableBody, UpstreamConnection, open_connection

__all__ = ["DEFAULT_IDLE_TIMEOUT", "ConnectionPool", "UpstreamReply"]

#: Seconds an idle pooled connection is kept (``Timeouts.upstream_idle``, the one place it is set).
DEFAULT_IDLE_TIMEOUT = Timeouts().upstream_idle


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
    """Idle keep-alive connections per ``(host, port, tls)``, bounded per origin and in time.

    ``exchange`` sends one request and returns the response with a body iterator; when the
    body has been read to its end the connection goes back to the pool by itself.
    """

    def __init__(
        self,
        *,
        max_idle_per_origin: int = 16,
        connect_timeout: float = 5.0,
        read_timeout: float = 30.0,
        idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
        source_address: tuple[str, int] | None = None,
        ssl_context: ssl.SSLContext | None = None,
        limits: Limits | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_idle_per_origin = max_idle_per_origin
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.idle_timeout = idle_timeout
        self.source_address = source_address
        self.ssl_context = ssl_context
        self.limits = limits or Limits(max_header_bytes=262144)
        self.clock = clock
        self.opened = 0
        #: connections closed instead of reused, by reason (see ``_discard``)
        self.discarded: dict[str, int] = {}
        self._idle: dict[tuple[str, int, bool], list[UpstreamConnection]] = {}
        self._lock = threading.Lock()
        self._next_sweep = 0.0

    def acquire(self, host: str, port: int, tls: bool = False) -> tuple[UpstreamConnection, bool]:
        """A quiet, unexpired idle connection to ``host:port`` if there is one, else a new one.

        Every idle connection is checked before reuse (one ``select`` call): one that has
        something to read was closed by the server or got bytes that answer no request.
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
            if self._expired(connection):
                self._discard(connection, "idle too long")
            elif not connection.is_quiet():
                self._discard(connection, "closed or sent unasked bytes while idle")
            else:
                return connection, True

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
        """Return a connection after its exchange: kept if reusable, clean and there is room.

        nginx's rule for an upstream that sent more than the response's length: the extra
        bytes are not the next response, so the connection is closed (``discard_reason``
        says why, for the proxy's event).
        """
        if connection.reusable and connection.unread:
            extra = "bytes after the end of the response"
            self._discard(connection, extra, f"{connection.unread} {extra}")
            return
        if not connection.reusable:
            connection.close()
            return
        connection.idle_since = now = self.clock()
        self._lock.acquire()  # by hand, as in ``acquire``
        try:
            idle = self._idle.setdefault(connection.key, [])
            kept = len(idle) < self.max_idle_per_origin
            if kept:
                idle.append(connection)
        finally:
            self._lock.release()
        if not kept:
            connection.close()
        if now >= self._next_sweep:
            self.sweep()

    def sweep(self) -> int:
        """Close every idle connection past ``idle_timeout``; returns how many."""
        self._next_sweep = self.clock() + min(1.0, self.idle_timeout)
        with self._lock:
            expired = [c for idle in self._idle.values() for c in idle if self._expired(c)]
            for idle in self._idle.values():
                idle[:] = [c for c in idle if c not in expired]
        for connection in expired:
            self._discard(connection, "idle too long")
        return len(expired)

    def _expired(self, connection: UpstreamConnection) -> bool:
        return self.clock() - connection.idle_since > self.idle_timeout

    def _discard(self, connection: UpstreamConnection, reason: str, detail: str = "") -> None:
        """Close a connection that must not be reused; count it under ``reason``.

        ``detail`` (default: the reason itself) is what the connection keeps for the
        proxy's event, e.g. "72 bytes after the end of the response".
        """
        connection.discard_reason = detail or reason
        connection.close()
        with self._lock:
            self.discarded[reason] = self.discarded.get(reason, 0) + 1

    def idle_count(self) -> int:
        """How many connections wait in the pool now."""
        with self._lock:
            return sum(len(idle) for idle in self._idle.values())

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
        on_interim: Interim | None = None,
    ) -> UpstreamReply:
        """Send ``request`` (head, then the body framed as ``body_kind``) and read the reply head.

        If a reused connection fails before any response byte, the server may have closed
        it just as it was taken: an idempotent request without a body is then sent once
        more on a new connection. Anything else that fails after it was sent is not resent
        (RFC 9110 section 9.2.2), and the 502 says that its outcome is unknown.
        """
        started = time.monotonic()
        head = serialize_request_head(request)
        connection, reused = self.acquire(host, port, tls)
        sent = False  # the whole request went out: the server may have acted on it
        try:
            self._send(connection, head, body, body_kind)
            sent = True
            response = connection.read_response(request.method, self.read_timeout, on_interim)
        except (UpstreamError, ProtocolError) as error:
            connection.close()
            if self._may_resend(request, body, reused, error):
                connection, reused = self._open((host, port, tls)), False
                response = self._resend(connection, request, head, on_interim)
            elif sent and request.method not in IDEMPOTENT_METHODS:
                raise _outcome_unknown(request, error) from None
            else:
                raise
        except BaseException:
            connection.close()
            raise
        return self._reply(connection, request, response, reused, started)

    def upgrade(
        self, host: str, port: int, request: Request, *, tls: bool = False
    ) -> UpstreamReply:
        """Send a request that asks to switch protocols, on a connection of its own.

        RFC 9110 section 7.8: after ``101 Switching Protocols`` the connection speaks the
        new protocol (WebSocket frames, say), so it can never carry another HTTP exchange:
        it is opened for this request and never pooled, whatever the answer. A ``101``
        comes back with an empty body and the connection still open, for a tunnel; any
        other answer is an ordinary response, after which the connection is closed.
        """
        started = time.monotonic()
        connection = self._open((host, port, tls))
        try:
            connection.send(serialize_request_head(request))
            response = connection.read_response(request.method, self.read_timeout)
        except BaseException:
            connection.close()
            raise
        now = time.monotonic()
        if response.status == 101:
            return UpstreamReply(response, iter(()), connection, False, started, now, True)
        # refused: an ordinary answer, after which the connection closes (reusable is False)
        body = connection.read_body(response_framing(response, request.method), _close)
        return UpstreamReply(response, body, connection, False, started, now)

    @staticmethod
    def _may_resend(
        request: Request, body: Iterable[bytes] | None, reused: bool, error: Exception
    ) -> bool:
        """A stale reused connection, and a request that can safely go again as it was."""
        return (
            reused
            and body is None
            and request.method in IDEMPOTENT_METHODS
            and not isinstance(error, GatewayTimeout)
        )

    def _resend(
        self,
        connection: UpstreamConnection,
        request: Request,
        head: bytes,
        on_interim: Interim | None,
    ) -> Response:
        try:
            connection.send(head)
            return connection.read_response(request.method, self.read_timeout, on_interim)
        except BaseException:
            connection.close()
            raise

    @staticmethod
    def _send(
        connection: UpstreamConnection,
        head: bytes,
        body: Iterable[bytes] | None,
        body_kind: BodyKind,
    ) -> None:
        connection.send(head)
        if body is not None:
            write_body(connection.send, body, body_kind)

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


def _close(connection: UpstreamConnection) -> None:
    """What happens to a connection after a refused upgrade's answer: it is closed."""
    connection.close()


def _outcome_unknown(request: Request, error: ProxyLabError) -> UpstreamError:
    """The 502 for a request the upstream may have acted on before the connection broke."""
    return UpstreamError(
        f"{error.message} The {request.method} request had already been sent, so the proxy "
        "did not send it again: whether the server acted on it is unknown."
    )
