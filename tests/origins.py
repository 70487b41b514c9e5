"""Test origins built on the standard library's ``http.server``: an independent HTTP
implementation, so the proxy is checked against a server that is not our own code.

``Origin`` serves a few fixed routes and counts the TCP connections it accepted (to prove
keep-alive reuse) and the requests it answered (to prove cache hits never reach it).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import socket
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

TEXT = ("proxylab says hello\n" * 200).encode()
BINARY = bytes(range(256)) * 1024  # 256 KiB, every byte value


def big_body(size: int) -> bytes:
    """Deterministic non-repeating-looking bytes of ``size``."""
    seed = hashlib.sha256(b"proxylab").digest()
    return (seed * (size // len(seed) + 1))[:size]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _OriginServer

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _send(
        self, status: int, body: bytes, content_type: str = "text/plain", **extra: str
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in extra.items():
            self.send_header(name.replace("_", "-"), value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _read_body(self) -> bytes | None:
        """The request body, or None when it is cut short or malformed."""
        try:
            return self._read_body_or_fail()
        except ValueError:
            self.close_connection = True
            return None

    def _read_body_or_fail(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return data
                data += self.rfile.read(size)
                self.rfile.readline()
        length = int(self.headers.get("Content-Length", "0"))
        data = self.rfile.read(length) if length else b""
        if len(data) < length:
            raise ValueError("body cut short")
        return data

    def do_GET(self) -> None:
        self.server.record(self)
        path = self.path.split("?")[0]
        if path == "/text":
            self._send(200, TEXT)
        elif path == "/binary":
            self._send(200, BINARY, "application/octet-stream")
        elif path.startswith("/bytes/"):
            self._send(200, big_body(int(path.rsplit("/", 1)[1])), "application/octet-stream")
        elif path == "/headers":
            seen = {
                "client": self.client_address[0],
                "headers": [[k, v] for k, v in self.headers.items()],
            }
            self._send(200, json.dumps(seen).encode(), "application/json")
        elif path.startswith("/cacheable/"):
            body = big_body(int(path.split("/")[2])) + path.encode()  # /cacheable/SIZE/name
            self._send(
                200, body, "application/octet-stream", Cache_Control="max-age=600", ETag='"v1"'
            )
        elif path == "/gate":
            self.server.gate.wait(10)  # held until the test opens the gate
            self._send(200, b"through the gate", Cache_Control="max-age=600")
        elif path == "/chunked":
            self._send_chunked([b"first-", b"second-", b"third"])
        elif path == "/die-mid-body":
            self._die_mid_body()
        else:
            self._send(404, b"not found")

    do_HEAD = do_GET

    def do_POST(self) -> None:
        body = self._read_body()
        if body is None:
            return
        self.server.record(self)  # only complete requests count
        self._send(200, hashlib.sha256(body).hexdigest().encode() + b" %d" % len(body))

    do_PUT = do_POST

    def _send_chunked(self, pieces: list[bytes]) -> None:
        self.send_response(200)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for piece in pieces:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
        self.wfile.write(b"0\r\n\r\n")

    def _die_mid_body(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "100000")
        self.end_headers()
        self.wfile.write(b"x" * 1000)
        self.wfile.flush()
        self.close_connection = True
        self.connection.shutdown(socket.SHUT_RDWR)


class _OriginServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = True

    def __init__(self, address: tuple[str, int]) -> None:
        super().__init__(address, _Handler)
        self.lock = threading.Lock()
        self.accepted = 0
        self.open_sockets: list[socket.socket] = []
        self.gate = threading.Event()
        self.requests: list[tuple[str, str, dict[str, str]]] = []

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, address = super().get_request()
        with self.lock:
            self.accepted += 1
            self.open_sockets.append(sock)
        return sock, address

    def cut_all_connections(self) -> None:
        """Shut down every accepted connection, as when the origin machine goes away."""
        with self.lock:
            sockets, self.open_sockets = self.open_sockets, []
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def record(self, handler: _Handler) -> None:
        with self.lock:
            self.requests.append((handler.command, handler.path, dict(handler.headers.items())))


class Origin:
    """A real HTTP/1.1 origin on 127.0.0.1, port 0, run in a background thread."""

    def __init__(self, ssl_context: ssl.SSLContext | None = None) -> None:
        self.server = _OriginServer(("127.0.0.1", 0))
        if ssl_context is not None:
            self.server.socket = ssl_context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}
        )

    def __enter__(self) -> Origin:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.gate.set()
        self.server.shutdown()
        self.server.server_close()
        self.server.cut_all_connections()
        self.thread.join()

    @property
    def accepted(self) -> int:
        with self.server.lock:
            return self.server.accepted

    @property
    def gate(self) -> threading.Event:
        """Requests to /gate wait until this is set."""
        return self.server.gate

    @property
    def requests(self) -> list[tuple[str, str, dict[str, str]]]:
        with self.server.lock:
            return list(self.server.requests)


class BlackHole:
    """A port that accepts connections (in the kernel backlog) and never answers."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0), backlog=64)
        self.port = self.sock.getsockname()[1]

    def __enter__(self) -> BlackHole:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.sock.close()
