"""Zero-copy relaying of large bodies with splice(2), and its fallbacks.

On Linux a large body of known length goes upstream socket -> pipe -> client socket
without entering Python; everything here must behave exactly as the copying path does:
same bytes, the upstream connection reused afterwards, a dying origin cuts the client off.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from helpers import raw_exchange, running_forward_proxy
from origins import big_body

from proxylab.cache.http_cache import HttpCache
from proxylab.forward.proxy import ForwardSettings
from proxylab.http.framing import Limits
from proxylab.http.messages import Headers, Request
from proxylab.net.connection import ClientConnection, Timeouts
from proxylab.net.pool import ConnectionPool
from proxylab.net.splicing import MIN_SPLICE, SPLICE_AVAILABLE, Pipe
from proxylab.net.upstream import SpliceableBody

needs_splice = pytest.mark.skipif(not SPLICE_AVAILABLE, reason="os.splice is Linux-only")
LARGE = 3 * 2**20 + 17  # several pipe-fulls, and not a round number

StartProxy = Callable[..., Any]


@needs_splice
def test_a_pipe_moves_bytes_between_sockets_in_the_kernel() -> None:
    data = big_body(200_000)
    source, writer = socket.socketpair()
    reader, sink = socket.socketpair()
    pipe = Pipe()
    with source, writer, reader, sink, contextlib.closing(pipe):
        writer.sendall(data[:100_000])
        moved = pipe.fill(source.fileno(), len(data))
        assert 0 < moved <= 100_000
        pipe.drain(sink.fileno(), moved)
        reader.settimeout(5)
        assert reader.recv(moved, socket.MSG_WAITALL) == data[:moved]


@needs_splice
def test_a_large_body_is_spliced_and_its_connection_reused(origin: Any) -> None:
    """At the pool level: the body arrives whole and the connection goes back to the pool."""
    pool = ConnectionPool()
    client_side, proxy_side = socket.socketpair()
    conn = ClientConnection(proxy_side, ("127.0.0.1", 1), Limits(), Timeouts())
    with client_side, contextlib.closing(conn):
        try:
            request = Request("GET", f"/bytes/{LARGE}", Headers([("Host", "origin.test")]))
            reply = pool.exchange("127.0.0.1", origin.port, request)
            assert isinstance(reply.body, SpliceableBody)
            received: list[bytes] = []
            reader = threading.Thread(target=_read_all, args=(client_side, 6 + LARGE, received))
            reader.start()
            assert reply.body.splice_into(conn, b"head: ") == LARGE
            reader.join(10)
            assert b"".join(received) == b"head: " + big_body(LARGE)
            again = pool.exchange("127.0.0.1", origin.port, request)
            assert b"".join(again.body) == big_body(LARGE)  # iterating works as well
            assert again.reused and origin.accepted == 1
        finally:
            pool.close()


def _read_all(sock: socket.socket, size: int, into: list[bytes]) -> None:
    while size > 0 and (chunk := sock.recv(1 << 20)):
        into.append(chunk)
        size -= len(chunk)


def test_large_bodies_through_the_proxy_are_identical_and_reuse_the_upstream(
    forward_proxy: StartProxy, origin: Any
) -> None:
    server, _ = forward_proxy()
    with httpx.Client(proxy=server.url, timeout=10) as client:
        for size in (MIN_SPLICE - 1, MIN_SPLICE, LARGE):
            reply = client.get(f"http://origin.test/bytes/{size}")
            assert reply.content == big_body(size)
    assert origin.accepted == 1


def test_a_cached_large_body_is_read_not_spliced(origin: Any) -> None:
    """The cache keeps a copy of what it relays, so it reads the body piece by piece."""
    settings = ForwardSettings(resolve={"origin.test": ("127.0.0.1", origin.port)})
    cache = HttpCache(64 * 2**20, 8 * 2**20)
    with (
        running_forward_proxy(settings, cache) as (server, _),
        httpx.Client(proxy=server.url, timeout=10) as client,
    ):
        first = client.get(f"http://origin.test/cacheable/{LARGE}/big")
        second = client.get(f"http://origin.test/cacheable/{LARGE}/big")
    assert first.content == second.content == big_body(LARGE) + f"/cacheable/{LARGE}/big".encode()
    assert second.headers["x-cache"] == "HIT"
    assert len(origin.requests) == 1


@contextlib.contextmanager
def dying_origin(announced: int, sent: int) -> Iterator[int]:
    """An origin that announces ``announced`` body bytes, sends ``sent``, then closes."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        with contextlib.suppress(OSError):
            conn, _ = listener.accept()
            with conn:
                conn.recv(65536)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % announced)
                conn.sendall(b"x" * sent)

    thread = threading.Thread(target=serve)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        thread.join(10)
        listener.close()


def test_an_origin_dying_mid_way_through_a_large_body_cuts_the_client_off(
    forward_proxy: StartProxy,
) -> None:
    with dying_origin(announced=4 * 2**20, sent=300_000) as port:
        server, _ = forward_proxy(resolve={"dying.test": ("127.0.0.1", port)})
        reply = raw_exchange(
            server.address, b"GET http://dying.test/ HTTP/1.1\r\nHost: dying.test\r\n\r\n"
        )
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ")
    assert 0 < len(body) < 4 * 2**20  # cut off, never padded or declared complete
    with httpx.Client(proxy=server.url, timeout=10) as client:  # and the proxy is fine
        assert client.get("http://origin.test/text").status_code == 200
