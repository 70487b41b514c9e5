"""One client connection as a handler sees it: reading requests and bodies, writing answers.

The server (``server.Server``) accepts connections and runs one thread per connection;
each thread wraps its socket in a ``ClientConnection``. The handler (a proxy) then uses it
to stream the request body, to answer, or to take the raw socket over for a tunnel.

Key ideas:
- A *deadline* for the whole request head, not a per-read timeout: a client that trickles
  one byte every few seconds would reset a per-read timeout forever (the slowloris
  attack); against a deadline it is cut off after ``Timeouts.head`` seconds whatever it does.
- Bytes read past the end of one message (the start of a pipelined request, or of the
  body) are kept in a buffer, never lost: the wire layer says where a message ends.
- Once the first byte of an answer is sent, an error can no longer become a status code;
  ``response_started`` tells the server which case it is in.
- Closing a socket with unread input makes the kernel send a reset that can destroy the
  error response still in flight, so error answers end with a short "lingering close".

Left out on purpose: HTTP/2 and request processing in parallel on one connection.

Layer 3: sockets live here; socket errors become ``errors`` here.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from proxylab.errors import ClientTimeout, IncompleteMessage
from proxylab.http.framing import (
    CHUNKED,
    NO_BODY,
    BodyDecoder,
    BodyKind,
    Framing,
    Limits,
    request_framing,
)
from proxylab.http.messages import Request, Response
from proxylab.http.relaying import end_to_end
from proxylab.http.wire import HeadParser, encode_chunk, last_chunk, serialize_response_head
from proxylab.net.sockets import TIMEOUT_ERRORS, set_timeout
from proxylab.net.splicing import SPLICE_AVAILABLE, Pipe

__all__ = ["RECV_SIZE", "ClientConnection", "Timeouts", "write_body"]

RECV_SIZE = 65536


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Every wait in seconds, so that no peer can hold a thread forever.

    ``head``: deadline for a whole request head once its first byte arrived.
    ``idle``: how long a kept-alive connection may wait for the next request.
    ``read``: longest silence while reading a body from the client.
    ``connect`` and ``upstream_read``: used by the proxies for their outbound side.
    ``upstream_idle``: how long an idle pooled connection to an origin or backend is kept
    (below the 5 s keep-alive of Node and Apache, so the proxy lets go first).
    """

    head: float = 10.0
    idle: float = 30.0
    read: float = 30.0
    connect: float = 5.0
    upstream_read: float = 30.0
    upstream_idle: float = 4.0


def write_body(send: Callable[[bytes], None], pieces: Iterable[bytes], kind: BodyKind) -> int:
    """Send body ``pieces`` framed as ``kind``; returns the number of body bytes sent.

    With a known length or read-until-close the bytes go out as they are; chunked bodies
    get each piece wrapped in a chunk and the zero-length last chunk at the end.
    """
    sent = 0
    chunked = kind is CHUNKED
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
        self.error_sent = False  # an error page went out: the connection ends after it
        self.bytes_out = 0
        self.idle = True
        self._buffer = b""
        self._taken_over = False
        self._timeout: float | None = None
        self._pipe: Pipe | None = None

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
        data, self._buffer = self._buffer, b""
        if not data:
            data = self._wait_for_first_byte()
            if not data:
                return None
        self.idle = False
        parser = HeadParser("request", self.limits)
        request = parser.feed(data)  # the usual case: the whole head came in one read
        if request is None:
            request = self._read_rest_of_head(parser)
        self._buffer = parser.leftover
        return request  # type: ignore[return-value]

    def _wait_for_first_byte(self) -> bytes:
        """What the client sends next; ``b""`` if it closed or stayed idle too long."""
        self._use_timeout(self.timeouts.idle)
        try:
            return self.sock.recv(RECV_SIZE)
        except OSError:  # includes TIMEOUT_ERRORS: an idle client is simply let go
            return b""

    def _read_rest_of_head(self, parser: HeadParser) -> Request | Response:
        """Read until the head is complete, all of it before one deadline.

        One deadline for the whole head, not a timeout per read: a client that trickles
        a byte at a time would otherwise reset a per-read timeout forever (slowloris).
        """
        deadline = time.monotonic() + self.timeouts.head
        while True:
            head = parser.feed(self._recv_before(deadline))
            if head is not None:
                return head

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
        if framing.kind is NO_BODY:
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

    def relay_interim(self, response: Response) -> None:
        """Pass an upstream's interim 1xx response on (102 Processing, 103 Early Hints ...).

        RFC 9110 section 15.2: a proxy MUST forward 1xx responses to an HTTP/1.1 client
        (the proxies do not call this for an HTTP/1.0 one, which does not know them),
        without its hop-by-hop fields. ``100 Continue`` is not passed on: the proxy
        answered the client's ``Expect`` itself. Like that one, an interim response does
        not start the final response: an error after it may still become a status code.
        """
        if response.status == 100:
            return
        head = serialize_response_head(end_to_end(response))
        self.bytes_out += len(head)
        self.sock.sendall(head)

    def send_response(self, response: Response, body: bytes = b"") -> None:
        """Send a whole small response in one write (head and body together)."""
        self.send(serialize_response_head(response) + body)

    @property
    def can_splice(self) -> bool:
        """Can bytes be spliced to this client (Linux, and not TLS: see ``splicing``)?"""
        return SPLICE_AVAILABLE and not isinstance(self.sock, ssl.SSLSocket)

    def pipe(self) -> Pipe:
        """This connection's pipe for splicing, made on first use (closed with it)."""
        if self._pipe is None:
            self._pipe = Pipe()
        return self._pipe

    def send_from_pipe(self, count: int) -> None:
        """Splice the ``count`` bytes waiting in ``pipe()`` to the client, zero-copy."""
        self.response_started = True
        self.pipe().drain(self.sock.fileno(), count)
        self.bytes_out += count

    @property
    def taken_over(self) -> bool:
        """Has a tunnel taken the raw socket (``take_over``)? Then HTTP is over on it."""
        return self._taken_over

    def replace_socket(self, sock: socket.socket) -> None:
        """Carry on over ``sock`` (the same connection wrapped in TLS, say).

        The new socket's timeout is whatever its maker left, so the next read sets it.
        """
        self.sock = sock
        self._timeout = None

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
        """Close the socket and the splicing pipe, if any (idempotent)."""
        with contextlib.suppress(OSError):
            self.sock.close()
        if self._pipe is not None:
            self._pipe.close()
            self._pipe = None

    def abort(self) -> None:
        """Shut the socket down so a thread blocked on it wakes up (used when stopping)."""
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
