"""The proxy's outbound side: one connection to an origin or a backend, able to carry many exchanges.

A proxy is a client too. For every request it forwards, it needs a connection to the
origin (forward proxy) or to a backend (reverse proxy). This module opens one, sends a
request on it and reads the response; ``pool`` keeps idle ones for reuse, and ``tunnel``
copies bytes for CONNECT.

Key ideas:
- Bodies stream: the response body comes back as an iterator, so a 1 GB body never sits
  in memory; a large body of known length can instead be spliced to the client
  (``SpliceableBody``).
- A connection knows when it can carry another exchange: the response was complete and
  nothing else arrived after it. Bytes beyond the end of a response (more than its
  ``Content-Length``, or anything after the last chunk) belong to no request: a connection
  holding them is never reused, or the next request would get them as its answer.
- Socket errors become ``UpstreamError`` (502) or ``GatewayTimeout`` (504) here, in one
  function (``upstream_error``), so the proxies above never see an ``OSError``.

Left out on purpose: HTTP/2 to upstreams, DNS caching, happy-eyeballs.

Layer 3: sockets live here.
"""

from __future__ import annotations

import contextlib
import select
import socket
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from proxylab.errors import GatewayTimeout, ProtocolError, UpstreamError
from proxylab.http.framing import (
    LENGTH,
    NO_BODY,
    BodyDecoder,
    Framing,
    Limits,
)
from proxylab.http.messages import Response
from proxylab.http.wire import HeadParser
from proxylab.net.connection import ClientConnection
from proxylab.net.sockets import TIMEOUT_ERRORS, no_delay, set_timeout
from proxylab.net.splicing import Pipe

__all__ = [
    "RECV_SIZE",
    "Interim",
    "SpliceableBody",
    "UpstreamConnection",
    "open_connection",
    "upstream_error",
]

RECV_SIZE = 65536
#: What hears of an interim (1xx) response while the final one is awaited.
Interim = Callable[[Response], None]
T = TypeVar("T")


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
        #: why the pool closed this connection instead of keeping it ("" while kept)
        self.discard_reason = ""
        #: our end, "host:port": what the origin sees as its client (for joining logs)
        self.local_address = _endpoint(sock.getsockname())
        self._buffer = b""
        self._timeout: float | None = None

    @property
    def unread(self) -> int:
        """Bytes received after the end of the last response: they answer no request."""
        return len(self._buffer)

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

    def read_response(
        self, method: str, timeout: float, on_interim: Interim | None = None
    ) -> Response:
        """Read the final response head; each interim 1xx before it goes to ``on_interim``.

        RFC 9110 section 15.2: a client must be ready for any number of 1xx responses
        before the final one. ``101 Switching Protocols`` is final: the connection changes.
        """
        while True:
            response = self._read_head(timeout)
            if response.status >= 200 or response.status == 101:
                return response
            if on_interim is not None:
                on_interim(response)

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

    def take_buffered(self) -> bytes:
        """The bytes that came after the last response head (an upgraded protocol's first
        frames, which a server may send in the same packet as its ``101``)."""
        data, self._buffer = self._buffer, b""
        return data

    def is_quiet(self) -> bool:
        """True when an idle connection has nothing to read: no stray bytes and no close.

        A readable idle connection has either been closed by the server (EOF) or received
        bytes that answer no request; either way it must not carry the next one.
        """
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


def _endpoint(name: object) -> str:
    """``("127.0.0.3", 40112)`` -> ``"127.0.0.3:40112"`` (a Unix socket's name as it is)."""
    if isinstance(name, tuple):
        return f"{name[0]}:{name[1]}"
    return str(name)


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
