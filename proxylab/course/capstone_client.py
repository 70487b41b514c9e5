"""The capstone driver's HTTP client: raw sockets, exact bytes, a deadline on every answer.

What it does. The driver talks to a student's proxy the way a browser configured with a
proxy does: it opens a TCP connection, writes an absolute-form request
(``GET http://127.0.0.1:PORT/path HTTP/1.1``, RFC 9112 3.2.2) and reads the response with
proxylab's own sans-I/O parser (``HeadParser``, ``BodyDecoder``), so a response framed by
Content-Length, by chunks or by closing the connection is read alike. Every failure becomes
a ``ClientError`` with a sentence a student understands ("no answer within 5 s", "the proxy
closed the connection before the response was complete") instead of a traceback.

Why raw sockets and not httpx: the driver must send malformed requests too, bind the
client to a chosen loopback address, keep one connection open for two requests, and
abort a connection in the middle of a response; and it must show the student exactly
what was sent.

Layer 5 (an edge).
"""

from __future__ import annotations

import contextlib
import socket
import struct
import time
from dataclasses import dataclass

from proxylab.errors import ProxyLabError
from proxylab.http.framing import BodyDecoder, response_framing
from proxylab.http.messages import Headers, Response
from proxylab.http.wire import HeadParser

__all__ = ["ClientError", "Conversation", "Reply", "abort", "fetch", "request_bytes"]


class ClientError(Exception):
    """The exchange failed; ``str(error)`` says how, in words for the student."""


@dataclass(frozen=True, slots=True)
class Reply:
    """A whole response as received: status, header fields and the decoded body."""

    status: int
    headers: Headers
    body: bytes


def request_bytes(
    url: str, host: str, method: str = "GET", extra: tuple[tuple[str, str], ...] = ()
) -> bytes:
    """An absolute-form request head for ``url`` (or origin-form when ``url`` is a path)."""
    lines = [f"{method} {url} HTTP/1.1", f"Host: {host}", "User-Agent: proxylab-capstone"]
    lines += [f"{name}: {value}" for name, value in extra]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


class Conversation:
    """One client connection that may carry several requests (keep-alive)."""

    def __init__(self, address: tuple[str, int], timeout: float, source: str | None = None) -> None:
        self.timeout = timeout
        self._buffer = b""
        try:
            self.sock = socket.create_connection(
                address, timeout=timeout, source_address=(source, 0) if source else None
            )
        except OSError as error:
            raise ClientError(f"cannot connect to {address[0]}:{address[1]} ({error})") from None

    def send(self, data: bytes) -> None:
        """Write ``data``; a closed connection is a ``ClientError``."""
        try:
            self.sock.sendall(data)
        except OSError as error:
            raise ClientError(f"the connection broke while sending the request ({error})") from None

    def read_reply(self, method: str = "GET") -> Reply:
        """Read one whole response within ``timeout`` seconds."""
        deadline = time.monotonic() + self.timeout
        parser = HeadParser("response")
        try:
            head = parser.feed(self._buffer) if self._buffer else None
            while head is None:
                head = parser.feed(self._recv(deadline, "before the response head was complete"))
        except ProxyLabError as error:
            raise ClientError(f"the response is not valid HTTP: {error.message}") from None
        assert isinstance(head, Response)
        try:
            decoder = BodyDecoder(response_framing(head, method))
        except ProxyLabError as error:
            raise ClientError(f"the response framing is invalid: {error.message}") from None
        body = self._read_body(decoder, parser.leftover, deadline)
        self._buffer = decoder.leftover
        return Reply(head.status, head.headers, body)

    def _read_body(self, decoder: BodyDecoder, data: bytes, deadline: float) -> bytes:
        pieces: list[bytes] = []
        try:
            while True:
                pieces += decoder.feed(data)
                if decoder.done:
                    return b"".join(pieces)
                data = self._recv(deadline, "", allow_eof=True)
                if not data:
                    decoder.eof()  # fine for a body that ends at close, else IncompleteMessage
                    return b"".join(pieces)
        except ProxyLabError as error:
            got = sum(len(piece) for piece in pieces)
            raise ClientError(
                f"the response body is broken after {got} bytes: {error.message}"
            ) from None

    def _recv(self, deadline: float, what: str, allow_eof: bool = False) -> bytes:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise ClientError(f"no complete answer within {self.timeout:g} s")
        self.sock.settimeout(remaining)
        try:
            data = self.sock.recv(65536)
        except TimeoutError:
            raise ClientError(f"no complete answer within {self.timeout:g} s") from None
        except OSError as error:
            raise ClientError(
                f"the connection broke {what or 'during the body'} ({error})"
            ) from None
        if not data and not allow_eof:
            raise ClientError(f"the proxy closed the connection {what}")
        return data

    def close(self) -> None:
        """Close the connection (idempotent)."""
        self.sock.close()

    def __enter__(self) -> Conversation:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def fetch(
    address: tuple[str, int],
    url: str,
    host: str,
    timeout: float,
    *,
    extra: tuple[tuple[str, str], ...] = (),
    source: str | None = None,
) -> Reply:
    """One request on a fresh connection (``Connection: close``) and its whole response."""
    with Conversation(address, timeout, source) as conversation:
        conversation.send(request_bytes(url, host, extra=(("Connection", "close"), *extra)))
        return conversation.read_reply()


def abort(sock: socket.socket) -> None:
    """Close with a TCP reset (SO_LINGER 0): the rudest way a client can leave."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()
