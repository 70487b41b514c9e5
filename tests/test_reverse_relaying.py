"""The relaying helpers both proxies use: pure functions, no sockets."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from proxylab.addresses import in_networks, parse_networks
from proxylab.http.framing import BodyKind, Limits
from proxylab.http.messages import HOP_BY_HOP, Headers, Request, Response, cookie_value
from proxylab.http.relaying import (
    client_body_kind,
    forwarded_element,
    strip_hop_by_hop,
    without_cookie,
)
from proxylab.net.connection import ClientConnection, Timeouts
from proxylab.net.relay import relay_response


def test_strip_hop_by_hop_drops_fixed_listed_and_extra_names() -> None:
    headers = Headers([("Host", "a"), ("Connection", "keep-alive, X-Secret"), ("X-Secret", "1"),
                       ("Keep-Alive", "5"), ("Server", "nginx"), ("X-Other", "2")])  # fmt: skip
    assert strip_hop_by_hop(headers).items() == [
        ("Host", "a"),
        ("Server", "nginx"),
        ("X-Other", "2"),
    ]
    hidden = HOP_BY_HOP | {"server"}
    assert strip_hop_by_hop(headers, hidden).items() == [("Host", "a"), ("X-Other", "2")]
    assert len(headers) == 6  # the input is untouched


def test_a_chunked_message_loses_its_content_length() -> None:
    headers = Headers([("Transfer-Encoding", "chunked"), ("Content-Length", "10"), ("A", "b")])
    assert strip_hop_by_hop(headers).items() == [("A", "b")]


def test_client_body_kind() -> None:
    get, head = Request("GET", "/"), Request("HEAD", "/")
    old = Request("GET", "/", version="HTTP/1.0")
    ok = Response(200)
    assert client_body_kind(head, ok, Headers()) is BodyKind.NONE
    assert client_body_kind(get, Response(304), Headers()) is BodyKind.NONE
    assert client_body_kind(get, ok, Headers([("Content-Length", "3")])) is BodyKind.LENGTH
    assert client_body_kind(get, ok, Headers()) is BodyKind.CHUNKED
    assert client_body_kind(old, ok, Headers()) is BodyKind.UNTIL_CLOSE


def _pieces() -> Iterator[bytes]:
    yield b"abc"
    yield b"de"


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        ("HTTP/1.1", b"Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"),
        ("HTTP/1.0", b"Connection: close\r\n\r\nabcde"),
    ],
)
def test_relay_response_frames_for_the_client(version: str, expected: bytes) -> None:
    near, far = socket.socketpair()
    with near, far:
        conn = ClientConnection(near, ("127.0.0.1", 1), Limits(), Timeouts())
        request = Request("GET", "/", version=version)
        assert relay_response(conn, request, Response(200), Headers([("A", "b")]), _pieces()) == 5
        near.shutdown(socket.SHUT_WR)
        received = b"".join(iter(lambda: far.recv(65536), b""))
    assert received.startswith(b"HTTP/1.1 200 OK\r\nA: b\r\n") and received.endswith(expected)
    assert conn.keep_alive is (version == "HTTP/1.1")


def test_relay_response_reports_an_abandoned_upstream() -> None:
    abandoned: list[bool] = []
    near, far = socket.socketpair()
    far.close()  # the client went away
    with near:
        conn = ClientConnection(near, ("127.0.0.1", 1), Limits(), Timeouts())
        with pytest.raises(OSError):
            relay_response(conn, Request("GET", "/"), Response(200), Headers(), _pieces(),
                           lambda: abandoned.append(True))  # fmt: skip
    assert abandoned == [True]


@pytest.mark.parametrize(
    ("ip", "host", "expected"),
    [
        ("192.0.2.7", "shop.test", "for=192.0.2.7;proto=http;host=shop.test"),
        ("2001:db8::1", None, 'for="[2001:db8::1]";proto=http'),
        ("192.0.2.7", "shop.test:8000", 'for=192.0.2.7;proto=http;host="shop.test:8000"'),
    ],
)
def test_forwarded_element(ip: str, host: str | None, expected: str) -> None:
    assert forwarded_element(ip, "http", host) == expected


def test_networks_and_cookies() -> None:
    networks = parse_networks(["10.0.0.0/8", "::1"])
    assert in_networks("10.1.2.3", networks) and in_networks("::1", networks)
    assert not in_networks("192.0.2.1", networks) and not in_networks("nonsense", networks)
    headers = Headers([("Cookie", "a=1; proxylab_backend=xyz"), ("Cookie", "b=2")])
    assert cookie_value(headers, "proxylab_backend") == "xyz"
    without_cookie(headers, "proxylab_backend")
    assert headers.get_all("cookie") == ["a=1; b=2"]
    without_cookie(headers, "a")
    without_cookie(headers, "b")
    assert "cookie" not in headers
