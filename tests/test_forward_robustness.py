"""Bad input, slow clients and broken origins: clear errors, never a hang or a traceback."""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, suppress
from typing import Any

import httpx
import pytest
from helpers import raw_exchange, wait_for_event

from proxylab.forward.accesslog import squid_line
from proxylab.http.framing import Limits
from proxylab.net.connection import Timeouts

StartProxy = Callable[..., Any]

GOOD_HEAD = b"GET http://origin.test/text HTTP/1.1\r\nHost: origin.test\r\n"


@pytest.mark.parametrize(
    ("name", "data", "status"),
    [
        (
            "content-length with transfer-encoding",
            b"POST http://origin.test/ HTTP/1.1\r\nHost: origin.test\r\nContent-Length: 5\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            400,
        ),
        (
            "two different content-lengths",
            b"POST http://origin.test/ HTTP/1.1\r\nHost: origin.test\r\nContent-Length: 5\r\n"
            b"Content-Length: 6\r\n\r\nhello!",
            400,
        ),
        (
            "bad chunk size",
            b"POST http://origin.test/ HTTP/1.1\r\nHost: origin.test\r\nTransfer-Encoding: chunked\r\n"
            b"\r\nzz\r\nhello\r\n0\r\n\r\n",
            400,
        ),
        ("space before colon", GOOD_HEAD + b"X-Bad : 1\r\n\r\n", 400),
        ("obs-fold", GOOD_HEAD + b"X-Folded: a\r\n  b\r\n\r\n", 400),
        (
            "request line too long",
            b"GET http://origin.test/" + b"a" * 20_000 + b" HTTP/1.1\r\n\r\n",
            414,
        ),
        ("header section too large", GOOD_HEAD + b"X-Big: " + b"b" * 70_000 + b"\r\n\r\n", 431),
        (
            "not http at all",
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 40 + b"\r\n\r\n",
            400,
        ),
    ],
)
def test_bad_input_gets_its_status_and_the_connection_closed(
    forward_proxy: StartProxy, name: str, data: bytes, status: int
) -> None:
    server, _ = forward_proxy()
    reply = raw_exchange(server.address, data)  # returns only once the proxy closed
    assert reply.startswith(b"HTTP/1.1 %d " % status), (name, reply[:100])
    assert b"Connection: close" in reply
    assert b"Traceback" not in reply and b"Error(" not in reply


def test_bad_chunk_size_never_reaches_the_origin_complete(
    forward_proxy: StartProxy, origin: Any
) -> None:
    server, _ = forward_proxy()
    raw_exchange(
        server.address,
        b"POST http://origin.test/ HTTP/1.1\r\nHost: origin.test\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    )
    assert not [r for r in origin.requests if r[0] == "POST"]


def test_a_trickling_client_is_cut_at_the_head_deadline(forward_proxy: StartProxy) -> None:
    server, proxy = forward_proxy(timeouts=Timeouts(head=0.5))
    with socket.create_connection(server.address, timeout=10) as sock:
        sock.sendall(b"GET http://origin.test/text HTTP/1.1\r\n")
        reply = b""
        # keep trickling one byte per read wait: a per-read timeout would never fire
        for _ in range(300):  # bounded: 30 s at most
            with suppress(OSError):
                sock.sendall(b"X")
            if socket_wait(sock, 0.1):
                reply = sock.recv(4096)
                break
    assert reply.startswith(b"HTTP/1.1 408 ")
    event = wait_for_event(proxy.events, lambda e: e.status == 408)  # recorded, though refused
    assert (event.method, event.target) == ("NONE", "error:invalid-request")


def test_https_spoken_to_the_plain_port_gets_a_400_at_once(forward_proxy: StartProxy) -> None:
    """A client told ``https://`` for the proxy sends a TLS ClientHello: say so, do not wait."""
    server, proxy = forward_proxy(timeouts=Timeouts(head=30))
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ssl.create_default_context().wrap_bio(incoming, outgoing, server_hostname="proxy.test")
    with suppress(ssl.SSLWantReadError):
        tls.do_handshake()  # writes the ClientHello, then wants the server's answer
    hello = outgoing.read()
    assert hello[:1] == b"\x16"
    reply = raw_exchange(server.address, hello, timeout=5)  # the head deadline is 30 s
    assert reply.startswith(b"HTTP/1.1 400 ") and b"TLS handshake" in reply
    # the proxy never saw a request, but its log says what happened, as Squid's does
    event = wait_for_event(proxy.events, lambda e: e.status == 400)
    assert (event.method, event.target) == ("NONE", "error:invalid-request")
    assert "TLS handshake" in event.note and event.bytes_out == len(reply)
    assert " NONE/400 " in squid_line(event)


def socket_wait(sock: socket.socket, seconds: float) -> bool:
    import select

    return bool(select.select([sock], [], [], seconds)[0])


@pytest.mark.timeout(60)
def test_300_trickling_clients_do_not_starve_ordinary_ones(forward_proxy: StartProxy) -> None:
    server, _ = forward_proxy(timeouts=Timeouts(head=30))
    with ExitStack() as stack:
        for _ in range(300):
            sock = stack.enter_context(socket.create_connection(server.address, timeout=10))
            sock.sendall(b"GET http://origin.test/text HTTP/1.1\r\nHost: ")
        with httpx.Client(proxy=server.url, timeout=5) as client:
            statuses = [client.get("http://origin.test/text").status_code for _ in range(5)]
    assert statuses == [200] * 5


@pytest.mark.timeout(30)
def test_an_origin_dying_mid_body_cuts_the_client_off(forward_proxy: StartProxy) -> None:
    server, _ = forward_proxy()
    reply = raw_exchange(
        server.address, b"GET http://origin.test/die-mid-body HTTP/1.1\r\nHost: origin.test\r\n\r\n"
    )
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ")
    assert b"Content-Length: 100000" in head
    assert len(body) < 100_000  # the proxy closed instead of pretending the body was complete


def test_a_chunked_origin_dying_mid_body_never_gets_a_last_chunk(origin: Any) -> None:
    """With chunked framing the client can only tell an incomplete body by the missing 0-chunk."""
    from helpers import running_forward_proxy

    from proxylab.forward.proxy import ForwardSettings

    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def dying_origin() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")

    thread = threading.Thread(target=dying_origin)
    thread.start()
    settings = ForwardSettings(resolve={"dying.test": ("127.0.0.1", port)})
    with running_forward_proxy(settings) as (server, _):
        reply = raw_exchange(
            server.address, b"GET http://dying.test/ HTTP/1.1\r\nHost: dying.test\r\n\r\n"
        )
    thread.join()
    listener.close()
    assert b"5\r\nhello\r\n" in reply
    assert not reply.endswith(b"0\r\n\r\n")


def test_limits_are_configurable(origin: Any) -> None:
    from helpers import running_forward_proxy

    from proxylab.forward.proxy import ForwardSettings

    settings = ForwardSettings(resolve={"origin.test": ("127.0.0.1", origin.port)})
    with (
        running_forward_proxy(settings, limits=Limits(max_body=10)) as (server, _),
        httpx.Client(proxy=server.url) as client,
    ):
        response = client.post("http://origin.test/", content=b"x" * 100)
    assert response.status_code == 413


def pipelined(n: int) -> Iterator[bytes]:
    for _ in range(n):
        yield GOOD_HEAD + b"\r\n"


def test_pipelined_requests_are_answered_in_order(forward_proxy: StartProxy) -> None:
    server, _ = forward_proxy()
    data = b"".join(pipelined(3))[:-2] + b"Connection: close\r\n\r\n"
    reply = raw_exchange(server.address, data)
    assert reply.count(b"HTTP/1.1 200 ") == 3


def test_expect_100_continue_is_answered_before_the_body(forward_proxy: StartProxy) -> None:
    server, _ = forward_proxy()
    head = (
        b"POST http://origin.test/upload HTTP/1.1\r\nHost: origin.test\r\nContent-Length: 5\r\n"
        b"Expect: 100-continue\r\nConnection: close\r\n\r\n"
    )
    with socket.create_connection(server.address, timeout=10) as sock:
        sock.sendall(head)
        assert sock.recv(4096).startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
        sock.sendall(b"hello")
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 200 ") and reply.endswith(b" 5")
