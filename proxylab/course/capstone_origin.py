"""The origin server the capstone driver fetches from, through the student's proxy and directly.

What it does. One small web site on loopback with exactly the objects the checks need:
a text page, a binary file holding every byte value, a response sent with the chunked
coding, an object above the cache's size limit, a page that echoes the request target
and one that reports what the origin learnt about its visitor (address and every header
field). Every text and binary object is cacheable (``Cache-Control: public,
max-age=300``), so a proxy that honours HTTP caching rules may store it, and a proxy that
caches everything (CMU Proxy Lab style) does too. ``count(path)`` tells how many requests
reached the origin: a cache hit, or a blocked request, never does.

Key idea: the checks compare what came through the proxy with what the origin sends when
asked directly, byte for byte, so the bodies are fixed and known in advance.

Built on the project's own ``Server`` (a threaded HTTP/1.1 server). Left out: anything a
check does not use.

Layer 5 (an edge).
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from urllib.parse import urlsplit

from proxylab.http.messages import Headers, Request, Response
from proxylab.http.wire import encode_chunk, last_chunk, serialize_response_head
from proxylab.net.connection import ClientConnection
from proxylab.net.server import Server

__all__ = ["BIG_SIZE", "CACHE_LIMIT", "CHUNKS", "CapstoneOrigin", "binary_body", "text_body"]

#: The largest object the README says a proxy must cache (CMU Proxy Lab: 100 KiB; here 1 MiB).
CACHE_LIMIT = 1024 * 1024
#: The size of ``/big.bin``: above the limit, so it must not be cached.
BIG_SIZE = CACHE_LIMIT + CACHE_LIMIT // 2
#: The pieces ``/chunked`` is sent in, one chunk each.
CHUNKS: tuple[bytes, ...] = (b"The first chunk. ", b"A second one, longer. " * 40, b"The end.\n")


def text_body() -> bytes:
    """The HTML page of ``/text/page.html`` (about 6 KB)."""
    rows = "".join(
        f"<li>Line {n}: the friend phones the restaurant for you.</li>\n" for n in range(100)
    )
    return f"<!doctype html>\n<title>Capstone</title>\n<ul>\n{rows}</ul>\n".encode()


def binary_body(size: int = 200_000) -> bytes:
    """``size`` bytes holding every byte value, 0 and CR and LF included, in a fixed order."""
    pattern = bytes((i * 7 + 3) % 256 for i in range(256 * 3))
    return (pattern * (size // len(pattern) + 1))[:size]


_CACHEABLE = (("Cache-Control", "public, max-age=300"),)


class CapstoneOrigin:
    """The driver's web site: ``start()``, ``url(path)``, ``count(path)``, ``stop()``."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self._host = host
        self._server: Server | None = None
        self._port = 0
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._objects = {
            "/text/page.html": (text_body(), "text/html; charset=utf-8"),
            "/binary/blob.bin": (binary_body(), "application/octet-stream"),
            "/cache/small.txt": (b"A small object, cached by the proxy.\n" * 200, "text/plain"),
            "/big.bin": (binary_body(BIG_SIZE), "application/octet-stream"),
        }

    def start(self) -> CapstoneOrigin:
        """Listen on a free port of ``host``."""
        self._server = Server(self, (self._host, 0), name="capstone-origin").start()
        self._port = self._server.address[1]
        return self

    def stop(self) -> None:
        """Stop serving and close every connection (idempotent)."""
        server, self._server = self._server, None
        if server is not None:
            server.stop(grace=0.5)

    @property
    def port(self) -> int:
        """The port the origin listens on (after ``start``; kept after ``stop``)."""
        return self._port

    def url(self, path: str, host: str | None = None) -> str:
        """The absolute URL of ``path``, by address (or by another ``host`` name)."""
        return f"http://{host or self._host}:{self.port}{path}"

    def body(self, path: str) -> bytes:
        """The body the origin sends for one of its objects."""
        return self._objects[path][0]

    def count(self, path: str) -> int:
        """How many requests for ``path`` (without the query) reached the origin."""
        with self._lock:
            return self._counts[path]

    def __call__(self, conn: ClientConnection, request: Request) -> None:
        """Answer one request (the ``Handler`` protocol of ``Server``)."""
        for _ in conn.read_body(request):
            pass
        path = urlsplit(request.target).path or "/"
        with self._lock:
            self._counts[path] += 1
        if path == "/chunked":
            self._send_chunked(conn, request)
        elif path == "/echo":
            self._send(conn, request, 200, request.target.encode(), "text/plain")
        elif path == "/whoami":
            report = {
                "remote_address": conn.client_ip,
                "target": request.target,
                "headers": [[name, value] for name, value in request.headers],
            }
            self._send(conn, request, 200, json.dumps(report).encode(), "application/json")
        elif path in self._objects:
            body, kind = self._objects[path]
            self._send(conn, request, 200, body, kind, _CACHEABLE)
        else:
            self._send(conn, request, 404, b"No such page on the capstone origin.\n", "text/plain")

    @staticmethod
    def _send(
        conn: ClientConnection,
        request: Request,
        status: int,
        body: bytes,
        kind: str,
        extra: tuple[tuple[str, str], ...] = (),
    ) -> None:
        headers = Headers([("Content-Type", kind), ("Content-Length", str(len(body))), *extra])
        conn.send_response(Response(status, headers), b"" if request.method == "HEAD" else body)

    @staticmethod
    def _send_chunked(conn: ClientConnection, request: Request) -> None:
        """A response without Content-Length: three chunks and the last chunk (RFC 9112 7.1).

        An HTTP/1.0 request cannot get chunked coding ("A server MUST NOT send a response
        containing Transfer-Encoding unless the corresponding request indicates HTTP/1.1",
        RFC 9112 6.1): it gets the same pieces, the body ending when the connection closes.
        """
        if request.version == "HTTP/1.0":
            conn.keep_alive = False
            conn.send(
                serialize_response_head(Response(200, Headers([("Content-Type", "text/plain")])))
            )
            for piece in CHUNKS:
                conn.send(piece)
            return
        headers = Headers([("Content-Type", "text/plain"), ("Transfer-Encoding", "chunked")])
        conn.send(serialize_response_head(Response(200, headers)))
        for piece in CHUNKS:
            conn.send(encode_chunk(piece))
        conn.send(last_chunk())
