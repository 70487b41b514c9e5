"""The outbound connection pool: when a connection goes back to the pool, and when it must not.

The origin here writes each response, head and body, in one ``sendall``, as nginx does for a
small file, so the proxy's first read brings the whole response.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator

from proxylab.http.messages import Headers, Request
from proxylab.net.pool import ConnectionPool

SMALL = b"small body\n" * 10
LARGE = b"L" * (4 << 20)  # far more than one read: it has to stream


@contextlib.contextmanager
def one_write_origin() -> Iterator[int]:
    """A keep-alive origin on 127.0.0.1 that answers GET /small and GET /large."""
    listener = socket.create_server(("127.0.0.1", 0))
    clients: list[socket.socket] = []

    def answer(client: socket.socket) -> None:
        buffer = b""
        with contextlib.suppress(OSError):
            while True:
                while b"\r\n\r\n" not in buffer:
                    data = client.recv(65536)
                    if not data:
                        return
                    buffer += data
                head, _, buffer = buffer.partition(b"\r\n\r\n")
                body = LARGE if b" /large " in head else SMALL
                client.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
                )

    def accept() -> None:
        with contextlib.suppress(OSError):
            while True:
                client, _ = listener.accept()
                clients.append(client)
                if stopping.is_set():
                    return
                answering.append(threading.Thread(target=answer, args=(client,)))
                answering[-1].start()

    answering: list[threading.Thread] = []
    stopping = threading.Event()
    acceptor = threading.Thread(target=accept)
    acceptor.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stopping.set()
        address = listener.getsockname()[:2]
        with contextlib.suppress(OSError):
            listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept() on Linux
        if acceptor.is_alive():  # elsewhere, a last connection wakes it
            with contextlib.suppress(OSError):
                socket.create_connection(address, timeout=1).close()
        listener.close()
        acceptor.join(5)
        for client in clients:
            with contextlib.suppress(OSError):
                client.shutdown(socket.SHUT_RDWR)  # wakes the blocked recv()
        for thread in answering:
            thread.join(5)
        for client in clients:
            client.close()


def get(path: str) -> Request:
    return Request("GET", path, Headers([("Host", "origin.test")]))


def test_a_body_that_came_with_the_head_frees_its_connection_at_once() -> None:
    with one_write_origin() as port:
        pool = ConnectionPool()
        try:
            reply = pool.exchange("127.0.0.1", port, get("/small"))
            assert reply.body_read
            reply.abandon()  # the client went away: the pooled connection must stay open
            again = pool.exchange("127.0.0.1", port, get("/small"))
            assert b"".join(again.body) == SMALL
            assert again.reused and pool.opened == 1
        finally:
            pool.close()


def test_abandoning_a_body_left_unread_closes_its_connection() -> None:
    with one_write_origin() as port:
        pool = ConnectionPool()
        try:
            reply = pool.exchange("127.0.0.1", port, get("/large"))
            assert not reply.body_read
            reply.abandon()  # unread bytes are still on the way: the connection is unusable
            again = pool.exchange("127.0.0.1", port, get("/small"))
            assert b"".join(again.body) == SMALL
            assert not again.reused and pool.opened == 2
        finally:
            pool.close()


def test_a_streamed_body_read_to_its_end_returns_the_connection() -> None:
    with one_write_origin() as port:
        pool = ConnectionPool()
        try:
            reply = pool.exchange("127.0.0.1", port, get("/large"))
            assert b"".join(reply.body) == LARGE
            again = pool.exchange("127.0.0.1", port, get("/small"))
            assert b"".join(again.body) == SMALL
            assert again.reused and pool.opened == 1
        finally:
            pool.close()
