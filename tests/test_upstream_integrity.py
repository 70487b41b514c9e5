"""Upstream integrity: a response never reaches the wrong request, and a request is never sent twice unsafely.

Each test drives a real proxy with real clients against ``ScriptedOrigin``, an origin that
misbehaves exactly as scripted: extra bytes after a response, a close after receiving a
request, a close while idle. The faults are those a lenient or broken server really shows.
"""

from __future__ import annotations

import threading

import httpx
import pytest
from helpers import (
    ScriptedOrigin,
    raw_exchange,
    response_bytes,
    running_forward_proxy,
    wait_for_event,
)

from proxylab.cache.http_cache import HttpCache
from proxylab.forward.proxy import ForwardSettings
from proxylab.metrics import EventLog
from proxylab.net.pool import ConnectionPool
from proxylab.reverse.balancers import Backend
from proxylab.reverse.proxy import ReverseProxy

pytestmark = pytest.mark.timeout(30)

#: what a broken origin writes after /a: a whole second response nobody asked for
INJECTED = response_bytes(b"POISON", "Cache-Control: max-age=300")


def poisoning_script(head: bytes, conn: int) -> bytes:
    """/a: five bytes as announced, then an injected response in the same write."""
    if head.startswith(b"GET /a "):
        return response_bytes(b"hello", "Cache-Control: max-age=300") + INJECTED
    path = head.split(b" ")[1]
    return response_bytes(b"answer to " + path, "Cache-Control: max-age=300")


def two_clients(proxy_url: str) -> tuple[httpx.Client, httpx.Client]:
    return (
        httpx.Client(proxy=proxy_url, trust_env=False, timeout=10),
        httpx.Client(proxy=proxy_url, trust_env=False, timeout=10),
    )


def test_bytes_after_a_response_never_answer_another_clients_request_forward_with_cache() -> None:
    with (
        ScriptedOrigin(poisoning_script) as origin,
        running_forward_proxy(
            ForwardSettings(resolve={"origin.test": ("127.0.0.1", origin.port)}),
            cache=HttpCache(max_bytes=1 << 20),
        ) as (server, proxy),
    ):
        alice, bob = two_clients(server.url)
        with alice, bob:
            assert alice.get("http://origin.test/a").content == b"hello"
            for _ in range(2):  # the second time from the cache: it must hold the right answer
                assert bob.get("http://origin.test/b").content == b"answer to /b"
        event = wait_for_event(proxy.events, lambda e: e.target == "http://origin.test/a")
        assert "after the end of the response" in event.note
    assert proxy.pool.discarded == {"bytes after the end of the response": 1}


def test_bytes_that_arrive_while_a_connection_is_idle_close_it_reverse() -> None:
    sent_late = threading.Event()
    origin = ScriptedOrigin(lambda head, conn: response_bytes(b"answer to " + head.split(b" ")[1]))

    def inject_late(client: object, head: bytes) -> None:
        if head.startswith(b"GET /a "):
            allowed.wait(5)
            client.sendall(INJECTED)  # type: ignore[attr-defined]
            sent_late.set()

    allowed = threading.Event()
    origin.after_answer = inject_late
    with (
        origin,
        ReverseProxy(backends=[Backend("127.0.0.1", origin.port)]).serve(
            ("127.0.0.1", 0)
        ) as server,
    ):
        with httpx.Client(trust_env=False, timeout=10) as alice:
            assert alice.get(f"{server.url}/a").content == b"answer to /a"
        allowed.set()
        assert sent_late.wait(5)
        with httpx.Client(trust_env=False, timeout=10) as bob:
            assert bob.get(f"{server.url}/b").content == b"answer to /b"
    assert origin.connections == 2  # the poisoned connection was not reused


def counting_origin(fail: bytes) -> ScriptedOrigin:
    """Answers /warm (keep-alive); a request starting with ``fail`` is received, then dropped."""

    def script(head: bytes, conn: int) -> bytes | None:
        if head.startswith(fail) and conn == 0:
            return None  # got it, may have acted on it, and the connection dies unanswered
        return response_bytes(b"done")

    return ScriptedOrigin(script)


def forward_settings(port: int) -> ForwardSettings:
    return ForwardSettings(resolve={"origin.test": ("127.0.0.1", port)})


def test_a_post_the_origin_received_is_not_sent_again() -> None:
    with (
        counting_origin(b"POST ") as origin,
        running_forward_proxy(forward_settings(origin.port)) as (server, _),
        httpx.Client(proxy=server.url, trust_env=False, timeout=10) as client,
    ):
        assert client.get("http://origin.test/warm").status_code == 200  # pools a connection
        # a POST without a body and without Content-Length: nothing marks it as unsafe to replay
        answer = raw_exchange(
            server.address,
            b"POST http://origin.test/order HTTP/1.1\r\nHost: origin.test\r\nConnection: close\r\n\r\n",
        )
        assert answer.startswith(b"HTTP/1.1 502 ")
        assert b"unknown" in answer
        assert [h.split(b" ")[0] for h in origin.received] == [b"GET", b"POST"]


def test_an_idempotent_get_on_a_stale_connection_is_sent_again() -> None:
    with (
        counting_origin(b"GET /again ") as origin,
        running_forward_proxy(forward_settings(origin.port)) as (server, _),
        httpx.Client(proxy=server.url, trust_env=False, timeout=10) as client,
    ):
        assert client.get("http://origin.test/warm").status_code == 200
        assert client.get("http://origin.test/again").status_code == 200
        assert [h.split(b" ")[1] for h in origin.received] == [b"/warm", b"/again", b"/again"]


def test_a_connection_the_origin_closed_while_idle_is_not_used_for_a_put() -> None:
    closed = threading.Event()
    origin = ScriptedOrigin(lambda head, conn: response_bytes(b"ok"))

    def close_after_first(client: object, head: bytes) -> None:
        if head.startswith(b"GET "):
            client.close()  # type: ignore[attr-defined]  # idle timeout on the origin's side
            closed.set()

    origin.after_answer = close_after_first
    with (
        origin,
        running_forward_proxy(forward_settings(origin.port)) as (server, proxy),
        httpx.Client(proxy=server.url, trust_env=False, timeout=10) as client,
    ):
        assert client.get("http://origin.test/first").status_code == 200
        assert closed.wait(5)
        response = client.put("http://origin.test/doc", content=b"x" * 1000)
        assert response.status_code == 200, response.text
    assert [h.split(b" ")[0] for h in origin.received] == [b"GET", b"PUT"]


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_idle_connections_expire_and_are_swept() -> None:
    clock = FakeClock()
    origin = ScriptedOrigin(lambda head, conn: response_bytes(b"ok"))
    with origin:
        pool = ConnectionPool(idle_timeout=4.0, clock=clock)
        from proxylab.http.messages import Headers, Request

        def get() -> bool:
            reply = pool.exchange(
                "127.0.0.1", origin.port, Request("GET", "/", Headers([("Host", "o")]))
            )
            list(reply.body)
            return reply.reused

        assert get() is False
        clock.now += 3.9
        assert get() is True  # within the idle timeout: reused
        clock.now += 4.1
        assert get() is False  # expired: a new connection, the old one closed
        assert pool.discarded == {"idle too long": 1}
        clock.now += 4.1
        assert pool.sweep() == 1 and pool.idle_count() == 0
        pool.close()
    assert origin.connections == 2


def test_reverse_proxy_records_why_a_connection_was_dropped() -> None:
    with ScriptedOrigin(poisoning_script) as origin:
        proxy = ReverseProxy(backends=[Backend("127.0.0.1", origin.port)], events=EventLog())
        with (
            proxy.serve(("127.0.0.1", 0)) as server,
            httpx.Client(trust_env=False, timeout=10) as alice,
            httpx.Client(trust_env=False, timeout=10) as bob,
        ):
            assert alice.get(f"{server.url}/a").content == b"hello"
            assert bob.get(f"{server.url}/b").content == b"answer to /b"
        event = wait_for_event(proxy.events, lambda e: e.target == "/a")
    assert (
        f"backend connection closed: {len(INJECTED)} bytes after the end of the response"
        in event.note
    )


# -- interim responses (RFC 9110 section 15.2) ------------------------------------------
EARLY_HINTS = (
    b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\nX-Hint: early\r\n\r\n"
)


def hinting_script(head: bytes, conn: int) -> bytes:
    """102 and 103 before the final 200, all in one write."""
    final = response_bytes(b"page", "Cache-Control: max-age=300")
    return b"HTTP/1.1 102 Processing\r\n\r\n" + EARLY_HINTS + final


def read_until_body(address: tuple[str, int], request: bytes) -> bytes:
    import socket

    with socket.create_connection(address, timeout=10) as sock:
        sock.sendall(request)
        data = b""
        while not data.endswith(b"page"):
            chunk = sock.recv(65536)
            assert chunk, f"closed early after {data!r}"
            data += chunk
    return data


def test_interim_responses_are_relayed_by_the_forward_proxy_and_never_stored() -> None:
    with (
        ScriptedOrigin(hinting_script) as origin,
        running_forward_proxy(forward_settings(origin.port), cache=HttpCache(1 << 20)) as (
            server,
            _,
        ),
    ):
        ask = b"GET http://origin.test/p HTTP/1.1\r\nHost: origin.test\r\n\r\n"
        first = read_until_body(server.address, ask)
        assert first.startswith(b"HTTP/1.1 102 Processing\r\n")
        assert b"HTTP/1.1 103 Early Hints\r\n" in first and b"Link: </style.css>" in first
        final = first[first.index(b"HTTP/1.1 200") :]
        assert b"X-Hint" not in final and b"Link:" not in final  # no leak into the final head
        second = read_until_body(server.address, ask)  # from the cache: the final answer only
        assert second.startswith(b"HTTP/1.1 200") and b"103" not in second.split(b"\r\n")[0]
        assert b"X-Cache: HIT" in second


def test_interim_responses_are_relayed_by_the_reverse_proxy_but_not_to_http_1_0() -> None:
    with (
        ScriptedOrigin(hinting_script) as origin,
        ReverseProxy(backends=[Backend("127.0.0.1", origin.port)]).serve(
            ("127.0.0.1", 0)
        ) as server,
    ):
        eleven = read_until_body(server.address, b"GET /p HTTP/1.1\r\nHost: shop.test\r\n\r\n")
        assert eleven.startswith(b"HTTP/1.1 102 Processing\r\n") and b"103 Early Hints" in eleven
        ten = read_until_body(server.address, b"GET /p HTTP/1.0\r\nHost: shop.test\r\n\r\n")
        assert ten.startswith(b"HTTP/1.1 200 ")  # an HTTP/1.0 client never sees a 1xx


# -- small protocol points ----------------------------------------------------------------
def test_an_http_0_9_request_is_answered_at_once_not_at_the_head_deadline() -> None:
    import socket

    from proxylab.net.connection import Timeouts

    settings = ForwardSettings(timeouts=Timeouts(head=30.0))
    with (
        running_forward_proxy(settings) as (server, _),
        socket.create_connection(server.address, timeout=5) as sock,
    ):
        sock.sendall(b"GET /\r\n")  # HTTP/0.9: no version, and no header section to come
        answer = sock.recv(65536)  # a timeout here would mean it waited for the deadline
    assert answer.startswith(b"HTTP/1.1 400 ") and b"HTTP/0.9" in answer


def underscore_request(path: bytes) -> bytes:
    return (
        b"GET " + path + b" HTTP/1.1\r\nHost: origin.test\r\nX_Api_Key: forged\r\n"
        b"Transfer_Encoding: chunked\r\nX-Api-Key: real\r\nConnection: close\r\n\r\n"
    )


@pytest.mark.parametrize("drop", [True, False])
def test_header_names_with_underscores_are_dropped_by_default_forward(drop: bool) -> None:
    with (
        ScriptedOrigin(lambda head, conn: response_bytes(b"ok")) as origin,
        running_forward_proxy(
            ForwardSettings(
                resolve={"origin.test": ("127.0.0.1", origin.port)}, drop_underscore_headers=drop
            )
        ) as (server, _),
    ):
        assert raw_exchange(server.address, underscore_request(b"http://origin.test/u")).startswith(
            b"HTTP/1.1 200"
        )
    seen = origin.received[0].lower()
    assert (b"x_api_key" in seen, b"transfer_encoding" in seen) == (not drop, not drop)
    assert b"x-api-key: real" in seen


@pytest.mark.parametrize("drop", [True, False])
def test_header_names_with_underscores_are_dropped_by_default_reverse(drop: bool) -> None:
    from proxylab.reverse.routes import ReverseSettings

    with ScriptedOrigin(lambda head, conn: response_bytes(b"ok")) as origin:
        proxy = ReverseProxy(
            backends=[Backend("127.0.0.1", origin.port)],
            settings=ReverseSettings(drop_underscore_headers=drop),
        )
        with proxy.serve(("127.0.0.1", 0)) as server:
            assert raw_exchange(server.address, underscore_request(b"/u")).startswith(
                b"HTTP/1.1 200"
            )
    seen = origin.received[0].lower()
    assert (b"x_api_key" in seen) is (not drop) and b"x-api-key: real" in seen


def test_a_higher_minor_version_is_forwarded_as_http_1_1() -> None:
    with (
        ScriptedOrigin(lambda head, conn: response_bytes(b"ok")) as origin,
        running_forward_proxy(forward_settings(origin.port)) as (server, _),
    ):
        answer = raw_exchange(
            server.address,
            b"GET http://origin.test/v HTTP/1.2\r\nHost: origin.test\r\nConnection: close\r\n\r\n",
        )
    assert answer.startswith(b"HTTP/1.1 200 ")
    assert origin.received[0].startswith(b"GET /v HTTP/1.1\r\n")
