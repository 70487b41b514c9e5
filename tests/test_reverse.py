"""The reverse proxy with real backends (small ``Server`` kitchens) and real clients.

Every backend here is a real ``proxylab.net.server.Server`` on 127.0.0.1 with port 0, run by
``Kitchen`` (in ``helpers``); clients are httpx and raw sockets.
"""

from __future__ import annotations

import json
import random
import socket
import sys
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from helpers import (
    client,
    dead_port,
    kitchens,
    raw_exchange,
    reverse_proxy,
    seen_headers,
    wait_for,
    wait_for_event,
    who,
)

from proxylab.http.messages import Headers
from proxylab.net.connection import Timeouts
from proxylab.reverse.balancers import Backend, RoundRobin, make_balancer
from proxylab.reverse.routes import Route

pytestmark = pytest.mark.timeout(30)


# -- helpers shared by the reverse-proxy tests -------------------------------------------


# -- balancers through real sockets ------------------------------------------------------


def test_round_robin_spreads_30_requests_10_10_10() -> None:
    with (
        kitchens("a", "b", "c") as ks,
        reverse_proxy([k.backend for k in ks]) as (server, _),
        client() as c,
    ):
        names = [who(c.get(f"{server.url}/")) for _ in range(30)]
    assert [names.count(n) for n in "abc"] == [10, 10, 10]
    assert names[:6] == ["a", "b", "c", "a", "b", "c"]


def test_weighted_5_1_1_gives_the_nginx_sequence() -> None:
    with kitchens("a", "b", "c", weights=(5, 1, 1)) as ks, \
            reverse_proxy([k.backend for k in ks], "weighted") as (server, _), client() as c:  # fmt: skip
        names = [who(c.get(f"{server.url}/")) for _ in range(14)]
    assert "".join(names) == "aabacaa" * 2


def test_least_connections_sends_less_to_a_slow_backend() -> None:
    with kitchens("fast", "slow") as (fast, slow), \
            reverse_proxy([fast.backend, slow.backend], "least-connections") as (server, _):  # fmt: skip
        slow.delay = 10.0  # answers only when the kitchen stops (its stop event ends the wait)

        def one(c: httpx.Client) -> str:
            return who(c.get(f"{server.url}/"))

        with client() as c, ThreadPoolExecutor(8) as pool:
            futures = [pool.submit(one, c) for _ in range(40)]
            assert wait_for(lambda: fast.count >= 30, timeout=10)
            stuck = slow.count
            slow.stop()  # lets the stuck requests finish
            results = [f.result() for f in futures]
    assert stuck <= 4, f"the slow backend got {stuck} requests"
    assert results.count("fast") >= 36


def test_p2c_routes_requests() -> None:
    balancer = make_balancer("p2c", rng=random.Random(7))
    with (
        kitchens("a", "b", "c") as ks,
        reverse_proxy([k.backend for k in ks], balancer) as (server, _),
        client() as c,
    ):
        names = {who(c.get(f"{server.url}/")) for _ in range(30)}
    assert len(names) >= 2


def test_a_balancer_that_learns_is_told_of_every_exchange() -> None:
    class Learning(RoundRobin):  # overrides on_end only
        def __init__(self) -> None:
            super().__init__()
            self.ended: list[tuple[str, int]] = []

        def on_end(self, backend: Backend, status: int, duration: float) -> None:
            self.ended.append((backend.name, status))

    balancer = Learning()
    with (
        kitchens("a") as (a,),
        reverse_proxy([a.backend], balancer) as (server, _),
        client() as c,
    ):
        assert c.get(f"{server.url}/").status_code == 200
    assert balancer.ended == [(a.backend.name, 200)]


@pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="127.0.0.2/.3 as source addresses need Linux"
)
def test_ip_hash_keeps_each_client_on_one_backend() -> None:
    with (
        kitchens("a", "b", "c") as ks,
        reverse_proxy([k.backend for k in ks], "ip-hash") as (server, proxy),
    ):
        picks = {}
        for source in ("127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"):
            with client(transport=httpx.HTTPTransport(local_address=source)) as c:
                picks[source] = {who(c.get(f"{server.url}/")) for _ in range(6)}
    assert all(len(names) == 1 for names in picks.values()), picks
    clients = {e.client for e in proxy.events.snapshot("reverse")}
    assert clients == set(picks)


def test_consistent_hash_by_header_keeps_a_key_on_one_backend() -> None:
    balancer = make_balancer("consistent-hash", key="header:X-User")
    with (
        kitchens("a", "b", "c") as ks,
        reverse_proxy([k.backend for k in ks], balancer) as (server, _),
        client() as c,
    ):
        picks = {user: {who(c.get(f"{server.url}/", headers={"X-User": user})) for _ in range(4)}
                 for user in (f"user-{i}" for i in range(12))}  # fmt: skip
    assert all(len(names) == 1 for names in picks.values())
    assert len(set().union(*picks.values())) >= 2  # and the keys do spread


def test_least_latency_moves_traffic_away_from_a_backend_that_slows_down() -> None:
    with (
        kitchens("a", "b") as (a, b),
        reverse_proxy([a.backend, b.backend], "least-latency") as (server, _),
        client() as c,
    ):
        before = [who(c.get(f"{server.url}/")) for _ in range(10)]
        b.delay = 0.1
        after = [who(c.get(f"{server.url}/")) for _ in range(30)]
    assert set(before) == {"a", "b"}
    assert after.count("b") <= 4  # one slow answer is enough to make b the last choice


# -- errors: 502, 503, 504, 404 ----------------------------------------------------------


def test_a_lone_unreachable_backend_is_502_each_time_never_taken_out() -> None:
    # nginx: a group with a single server never marks it unavailable (max_fails ignored)
    dead = Backend("127.0.0.1", dead_port(), name="dead")
    with reverse_proxy([dead]) as (server, proxy), client() as c:
        first = c.get(f"{server.url}/")
        second = c.get(f"{server.url}/")
    assert first.status_code == 502 and "could not get an answer" in first.text
    assert str(dead.port) not in first.text  # the body does not reveal the backend either
    assert second.status_code == 502 and "Traceback" not in second.text
    assert [e.status for e in proxy.events.snapshot("reverse")] == [502, 502]


def test_a_lone_backend_that_dropped_one_connection_serves_the_next_request() -> None:
    with kitchens("a") as (a,), reverse_proxy([a.backend]) as (server, proxy), client() as c:
        a.stop()
        assert c.get(f"{server.url}/").status_code == 502  # one dropped exchange
        a.restart()
        assert c.get(f"{server.url}/").status_code == 200  # not 10 s of "no healthy backend"


def test_when_every_backend_failed_passively_all_are_tried_again() -> None:
    dead = [Backend("127.0.0.1", dead_port(), name=n) for n in ("x", "y")]
    with reverse_proxy(dead) as (server, proxy), client() as c:
        statuses = [c.get(f"{server.url}/").status_code for _ in range(3)]
    assert statuses == [502, 502, 502]  # each time both were tried, none "unhealthy" forever


def test_the_event_of_an_error_page_counts_the_bytes_the_client_got() -> None:
    dead = Backend("127.0.0.1", dead_port(), name="dead")
    with reverse_proxy([dead]) as (server, proxy):
        received = raw_exchange(server.address, b"GET / HTTP/1.1\r\nHost: shop.test\r\n\r\n")
        event = wait_for_event(proxy.events, lambda e: e.status == 502)
    assert received.startswith(b"HTTP/1.1 502 ")
    assert event.bytes_out == len(received)


def test_a_request_refused_before_routing_is_recorded_too() -> None:
    dead = Backend("127.0.0.1", dead_port(), name="dead")
    bad_field = b"GET / HTTP/1.1\r\nHost: shop.test\r\nBad Name: x\r\n\r\n"
    with reverse_proxy([dead]) as (server, proxy):
        received = raw_exchange(server.address, bad_field)
        event = wait_for_event(proxy.events, lambda e: e.status == 400)
    assert received.startswith(b"HTTP/1.1 400 ")
    assert (event.source, event.method, event.target) == (
        "reverse",
        "NONE",
        "error:invalid-request",
    )
    assert "field name" in event.note and event.upstream == ""


def test_route_without_backends_is_503() -> None:
    with reverse_proxy(routes=[Route("/", [])]) as (server, _), client() as c:
        assert c.get(f"{server.url}/").status_code == 503


def test_slow_backend_over_the_read_timeout_is_504() -> None:
    with (
        kitchens("a") as (a,),
        reverse_proxy([a.backend], timeouts=Timeouts(upstream_read=0.2)) as (server, proxy),
    ):
        with client() as c:
            response = c.get(f"{server.url}/slow")
        a.gate.set()
    assert response.status_code == 504
    assert "did not answer in time" in response.text
    assert str(a.port) not in response.text
    assert "timed out" in proxy.events.snapshot("reverse")[0].note  # the detail is logged
    assert proxy.stats()[0].failures == 1


def test_unknown_route_is_404() -> None:
    with (
        kitchens("a") as (a,),
        reverse_proxy(routes=[Route("/api", [a.backend])]) as (server, _),
        client() as c,
    ):
        assert c.get(f"{server.url}/other").status_code == 404
        assert c.get(f"{server.url}/api/x").status_code == 200


def test_routes_longest_prefix_and_host_first() -> None:
    with kitchens("root", "api", "v2", "site") as (root, api, v2, site):
        routes = [Route("/", [root.backend]), Route("/api", [api.backend]),
                  Route("/api/v2", [v2.backend]), Route("/", [site.backend], host="shop.test")]  # fmt: skip
        with reverse_proxy(routes=routes) as (server, _), client() as c:
            get = lambda path, **kw: who(c.get(f"{server.url}{path}", **kw))  # noqa: E731
            assert get("/x") == "root"
            assert get("/api/users") == "api"
            assert get("/api/v2/users") == "v2"
            assert get("/api/v2", headers={"Host": "SHOP.test:80"}) == "site"


# -- headers -----------------------------------------------------------------------------


def test_forwarding_headers_for_an_untrusted_client() -> None:
    with kitchens("a") as (a,), reverse_proxy([a.backend]) as (server, _), client() as c:
        spoofed = {"X-Forwarded-For": "6.6.6.6", "X-Forwarded-Host": "evil.test", "Forwarded": "for=6.6.6.6",
                   "X-Real-IP": "6.6.6.6"}  # fmt: skip
        seen = seen_headers(c.get(f"{server.url}/path?q=1", headers=spoofed))
        port = server.address[1]
    assert seen.get_all("x-forwarded-for") == ["127.0.0.1"]
    assert seen.get("x-forwarded-proto") == "http"
    assert seen.get("x-forwarded-host") == f"127.0.0.1:{port}"
    assert seen.get("host") == f"127.0.0.1:{port}"  # preserved by default
    assert "forwarded" not in seen and "x-real-ip" not in seen


def test_forwarding_headers_from_a_trusted_proxy_are_extended() -> None:
    with kitchens("a") as (a,), reverse_proxy([a.backend], trusted_proxies=("127.0.0.0/8",),
                                              forwarded_header=True) as (server, _), client() as c:  # fmt: skip
        seen = seen_headers(c.get(f"{server.url}/", headers={
            "X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https", "Forwarded": "for=203.0.113.7"}))  # fmt: skip
        port = server.address[1]
    assert seen.get("x-forwarded-for") == "203.0.113.7, 127.0.0.1"
    assert seen.get("x-forwarded-proto") == "https"  # the front proxy knows the original scheme
    assert (
        seen.get("forwarded")
        == f'for=203.0.113.7, for=127.0.0.1;proto=http;host="127.0.0.1:{port}"'
    )


def test_forwarded_header_and_backend_host_when_not_preserved() -> None:
    with kitchens("a") as (a,), reverse_proxy([a.backend], forwarded_header=True, preserve_host=False) as (server, _), \
            client() as c:  # fmt: skip
        seen = seen_headers(c.get(f"{server.url}/"))
        port = server.address[1]
    assert seen.get("host") == f"127.0.0.1:{a.port}"
    assert seen.get("forwarded") == f'for=127.0.0.1;proto=http;host="127.0.0.1:{port}"'


def test_hop_by_hop_fields_are_removed_both_ways() -> None:
    with kitchens("a") as (a,), reverse_proxy([a.backend]) as (server, _):
        raw = (b"GET / HTTP/1.1\r\nHost: shop.test\r\nConnection: keep-alive, X-Secret\r\n"
               b"X-Secret: 1\r\nKeep-Alive: timeout=5\r\nTE: trailers\r\nProxy-Authorization: x\r\n\r\n")  # fmt: skip
        with socket.create_connection(server.address, timeout=5) as sock:
            sock.sendall(raw)
            head, body = _read_response(sock)
    seen = Headers((k, v) for k, v in json.loads(body)["headers"])
    for name in ("x-secret", "keep-alive", "te", "proxy-authorization", "connection"):
        assert name not in seen
    assert seen.get("host") == "shop.test"
    assert b"HTTP/1.1 200" in head


def _read_response(sock: socket.socket) -> tuple[bytes, bytes]:
    """Read one Content-Length response from a raw socket."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length")
    )
    while len(body) < length:
        body += sock.recv(65536)
    return head, body


def test_backends_stay_hidden_in_response_headers() -> None:
    with kitchens("a") as (a,), reverse_proxy([a.backend]) as (server, _), client() as c:
        responses = [c.get(f"{server.url}{path}") for path in ("/", "/redirect", "/bytes/10")]
        url = server.url
    for response in responses:
        assert "server" not in response.headers and "x-powered-by" not in response.headers
        for name, value in response.headers.items():
            assert f"127.0.0.1:{a.port}" not in value, (name, value)
    redirect = responses[1]
    assert redirect.status_code == 302
    assert redirect.headers["location"] == f"{url}/login"
    assert redirect.headers["content-location"] == f"{url}/here"
    assert redirect.headers["link"] == f"<{url}/style.css>; rel=preload"


def test_post_body_reaches_the_backend_and_chunked_bodies_are_reframed() -> None:
    with kitchens("a") as (a,), reverse_proxy([a.backend]) as (server, _), client() as c:
        fixed = c.post(f"{server.url}/form", content=b"x" * 5000)
        chunked = c.post(f"{server.url}/upload", content=iter([b"abc", b"defg"]))
        big = c.get(f"{server.url}/bytes/300000")
    assert fixed.json()["body"] == 5000
    assert chunked.json()["body"] == 7
    assert a.seen[1].body == b"abcdefg"
    assert len(big.content) == 300000


def test_events_record_every_exchange() -> None:
    with (
        kitchens("a", "b") as ks,
        reverse_proxy([k.backend for k in ks]) as (server, proxy),
        client() as c,
    ):
        for _ in range(4):
            c.get(f"{server.url}/menu")
    events = proxy.events.snapshot("reverse")
    assert [e.upstream for e in events] == ["a", "b", "a", "b"]
    assert all(
        e.status == 200 and e.target == "/menu" and e.duration >= e.upstream_duration > 0
        for e in events
    )
    assert all(e.bytes_out > 0 and e.client == "127.0.0.1" for e in events)


def test_head_and_no_body_statuses_keep_the_connection_usable() -> None:
    with kitchens("a") as (a,), reverse_proxy([a.backend]) as (server, proxy), client() as c:
        head = c.head(f"{server.url}/bytes/500")
        after = c.get(f"{server.url}/bytes/7")
    assert (head.status_code, head.headers["content-length"], head.content) == (200, "500", b"")
    assert after.content == b"x" * 7
    assert proxy.pool.opened == 1  # the same pooled connection carried both exchanges
