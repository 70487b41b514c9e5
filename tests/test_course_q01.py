"""01_the_friend's questions: the right answers, worked out live on the lab, pass; wrong ones fail."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from proxylab.course.checks import check
from proxylab.course.forward_views import RawConnection, SecureSite, Wiretap, raw_exchange
from proxylab.http.wire import parse_request_head
from proxylab.lab.lab import Lab


@pytest.fixture
def lab() -> Iterator[Lab]:
    with Lab() as running:
        yield running


def heard_through_friend(lab: Lab, request: bytes) -> bytes:
    """The bytes news.test received when ``request`` was sent to a friend."""
    friend = lab.forward_proxy()
    with Wiretap(lab, "news.test") as tap:
        raw_exchange(friend.server.address, request, source=lab.addresses.you)
        return tap.to_origin


def test_origin_form(lab: Lab) -> None:
    sent = b"GET http://news.test/article/2?lang=en HTTP/1.1\r\nHost: news.test\r\n\r\n"
    heard = heard_through_friend(lab, sent)
    first_line = heard.split(b"\r\n", 1)[0].decode()
    assert check("01.origin_form", first_line)
    assert check("01.origin_form", f"  {first_line.lower()} ")  # case and spaces forgiven
    assert not check("01.origin_form", sent.split(b"\r\n", 1)[0].decode())
    assert not check("01.origin_form", "GET /article/2 HTTP/1.1")


def test_hop_by_hop(lab: Lab) -> None:
    sent = (
        b"GET http://news.test/ HTTP/1.1\r\nHost: news.test\r\nAccept: text/html\r\n"
        b"User-Agent: quiz/1.0\r\nConnection: X-Trace\r\nX-Trace: 42\r\n"
        b"Proxy-Connection: keep-alive\r\nTE: trailers\r\n\r\n"
    )
    received = {
        name.lower() for name, _ in parse_request_head(heard_through_friend(lab, sent)).headers
    }
    removed = [name for name, _ in parse_request_head(sent).headers if name.lower() not in received]
    assert check("01.hop_by_hop", removed)
    assert not check("01.hop_by_hop", removed[:-1])
    assert not check("01.hop_by_hop", [*removed, "Accept"])
    assert not check("01.hop_by_hop", "Connection")


def test_tunnel_sees(lab: Lab) -> None:
    friend = lab.forward_proxy()
    connect = b"CONNECT bank.test:443 HTTP/1.1\r\nHost: bank.test:443\r\n\r\n"
    secret = b"GET /account HTTP/1.1\r\nHost: bank.test\r\nCookie: id=s3cret\r\n\r\n"
    with SecureSite(lab, "bank.test"), Wiretap(lab, "bank.test") as tap:
        with RawConnection(friend.server.address, source=lab.addresses.you) as conn:
            established = conn.exchange(connect)
            conn.start_tls(lab.certificates.client_context(), "bank.test")
            page = conn.exchange(secret)
        friend_saw = connect + established + tap.to_origin + tap.from_origin
    assert b"404" in page.split(b"\r\n", 1)[0]  # the site got the request and answered it
    clues = {"host": b"bank.test", "port": b":443", "path": b"/account",
             "cookie": b"s3cret", "page": b"Not found"}  # fmt: skip
    readable = [word for word, clue in clues.items() if clue in friend_saw]
    assert check("01.tunnel_sees", readable)
    assert not check("01.tunnel_sees", [*readable, "path"])
    assert not check("01.tunnel_sees", ["host"])


def test_upstream_connections(lab: Lab) -> None:
    friend = lab.forward_proxy()
    request = b"GET http://news.test/ HTTP/1.1\r\nHost: news.test\r\n\r\n"
    for _ in range(5):
        raw_exchange(friend.server.address, request, source=lab.addresses.you)
    assert check("01.upstream_connections", friend.proxy.pool.opened)
    assert not check("01.upstream_connections", 5)
    assert not check("01.upstream_connections", "many")
