"""The cache inside the real forward proxy: hits, a dead origin, collapsed misses, LRU, size,
conditionals."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from helpers import ScriptedOrigin, response_bytes, running_forward_proxy, wait_for_event
from origins import Origin

from proxylab.cache.http_cache import HttpCache
from proxylab.cache.validators import format_http_date, parse_http_date
from proxylab.forward.proxy import ForwardSettings
from proxylab.lab.lab import wait_until

START = 1_800_000_000.0


class Clock:
    """The cache's clock: moves only when a test says so."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


StartProxy = Callable[..., Any]


def test_miss_then_hit_with_cache_headers(forward_proxy: StartProxy, origin: Origin) -> None:
    server, proxy = forward_proxy(cache=HttpCache())
    with httpx.Client(proxy=server.url) as client:
        first = client.get("http://origin.test/cacheable/5000/a")
        second = client.get("http://origin.test/cacheable/5000/a")
    assert first.headers["x-cache"] == "MISS" and second.headers["x-cache"] == "HIT"
    assert (
        "fwd=uri-miss" in first.headers["cache-status"]
        and "stored" in first.headers["cache-status"]
    )
    assert second.headers["cache-status"].startswith("proxylab; hit")
    assert "age" in second.headers
    assert first.content == second.content
    assert len([r for r in origin.requests if r[1] == "/cacheable/5000/a"]) == 1
    wait_for_event(proxy.events, lambda e: e.cache == "hit")
    assert [e.cache for e in proxy.events.snapshot()] == ["miss", "hit"]
    assert proxy.cache.stats().hits == 1


def test_cache_check_serves_everything_after_the_origin_stops(forward_proxy: StartProxy) -> None:
    """Proxy Lab's cache check: fetch, stop the origin, fetch again: all served, identical."""
    origin = Origin().__enter__()
    server, _ = forward_proxy(cache=HttpCache(), resolve={"shop.test": ("127.0.0.1", origin.port)})
    paths = [f"/cacheable/{size}/item{size}" for size in (10, 1000, 50_000, 200_000)]
    with httpx.Client(proxy=server.url) as client:
        first = {path: client.get(f"http://shop.test{path}").content for path in paths}
        origin.__exit__(None, None, None)
        again = {path: client.get(f"http://shop.test{path}") for path in paths}
        uncached = client.get("http://shop.test/text")
    assert all(reply.status_code == 200 for reply in again.values())
    assert {path: reply.content for path, reply in again.items()} == first
    assert uncached.status_code == 502  # only what was cached survives


def test_twenty_simultaneous_misses_reach_a_slow_origin_once(
    forward_proxy: StartProxy, origin: Origin
) -> None:
    cache = HttpCache()
    server, _ = forward_proxy(cache=cache)
    results: list[bytes] = []
    lock = threading.Lock()

    def fetch() -> None:
        with httpx.Client(proxy=server.url, timeout=20) as client:
            body = client.get("http://origin.test/gate").content
        with lock:
            results.append(body)

    threads = [threading.Thread(target=fetch) for _ in range(20)]
    for thread in threads:
        thread.start()
    wait_until(lambda: cache.stats().waiting == 19)  # the others queue behind the first
    origin.gate.set()
    for thread in threads:
        thread.join(20)
    assert results == [b"through the gate"] * 20
    assert len([r for r in origin.requests if r[1] == "/gate"]) == 1
    assert cache.stats().collapsed == 19


def test_lru_under_byte_pressure_evicts_the_least_recently_used(
    forward_proxy: StartProxy, origin: Origin
) -> None:
    cache = HttpCache(max_bytes=25_000, max_object_size=20_000)
    server, _ = forward_proxy(cache=cache)
    with httpx.Client(proxy=server.url) as client:

        def get(name: str) -> str:
            return client.get(f"http://origin.test/cacheable/10000/{name}").headers["x-cache"]

        assert [get("a"), get("b"), get("a")] == ["MISS", "MISS", "HIT"]  # a is now most recent
        assert get("c") == "MISS"  # no room for three: b, the least recently used, goes
        assert [get("a"), get("c"), get("b")] == ["HIT", "HIT", "MISS"]
    assert cache.stats().evictions >= 1


def test_an_object_over_the_max_size_streams_through_uncached(
    forward_proxy: StartProxy, origin: Origin
) -> None:
    cache = HttpCache(max_bytes=10_000_000, max_object_size=100_000)
    server, proxy = forward_proxy(cache=cache)
    with httpx.Client(proxy=server.url) as client:
        with client.stream("GET", "http://origin.test/cacheable/3000000/big") as reply:
            pieces = [len(piece) for piece in reply.iter_raw()]
        again = client.get("http://origin.test/cacheable/3000000/big")
    assert sum(pieces) == 3_000_000 + len(b"/cacheable/3000000/big")
    assert again.headers["x-cache"] == "MISS"
    assert cache.stats().stored_bytes == 0
    event = wait_for_event(proxy.events, lambda e: e.target.endswith("/big") and e.cache != "")
    assert event.status == 200


def test_unsafe_method_invalidates(forward_proxy: StartProxy, origin: Origin) -> None:
    server, _ = forward_proxy(cache=HttpCache())
    url = "http://origin.test/cacheable/100/doc"
    with httpx.Client(proxy=server.url) as client:
        client.get(url)
        assert client.get(url).headers["x-cache"] == "HIT"
        client.post(url, content=b"edit")
        assert client.get(url).headers["x-cache"] == "MISS"


def test_client_conditional_answered_from_the_cache(
    forward_proxy: StartProxy, origin: Origin
) -> None:
    server, _ = forward_proxy(cache=HttpCache())
    url = "http://origin.test/cacheable/100/etag"
    with httpx.Client(proxy=server.url) as client:
        client.get(url)
        reply = client.get(url, headers={"If-None-Match": '"v1"'})
    assert reply.status_code == 304 and reply.content == b""
    assert len([r for r in origin.requests if r[1] == "/cacheable/100/etag"]) == 1


def test_head_is_served_from_a_stored_get(forward_proxy: StartProxy, origin: Origin) -> None:
    server, _ = forward_proxy(cache=HttpCache())
    url = "http://origin.test/cacheable/100/head"
    with httpx.Client(proxy=server.url) as client:
        client.get(url)
        reply = client.head(url)
    assert reply.status_code == 200 and reply.headers["x-cache"] == "HIT" and reply.content == b""


@pytest.mark.parametrize("origin_sends_date", [True, False])
def test_if_modified_since_without_last_modified_compares_the_stored_date(
    origin_sends_date: bool,
) -> None:
    """RFC 9111 4.3.2: no Last-Modified, so the stored Date (or the time of receipt) decides."""
    clock = Clock()  # the cache's clock; the origin's Date is one hour before it
    date = format_http_date(clock.now - 3600)
    fields = [f"Date: {date}"] if origin_sends_date else []
    answer = response_bytes(b"no validators", "Cache-Control: max-age=86400", *fields)
    with ScriptedOrigin(lambda head, conn: answer) as scripted:
        settings = ForwardSettings(resolve={"plain.test": ("127.0.0.1", scripted.port)})
        proxy = running_forward_proxy(settings, cache=HttpCache(clock=clock))
        with proxy as (server, _), httpx.Client(proxy=server.url, trust_env=False) as client:
            first = client.get("http://plain.test/page")
            clock.now += 60  # a minute in the store: still fresh

            def since(offset: float) -> httpx.Response:
                ims = format_http_date(parse_http_date(first.headers["date"], 0) + offset)
                return client.get("http://plain.test/page", headers={"If-Modified-Since": ims})

            same, later, earlier = since(0), since(30), since(-1)
    assert "last-modified" not in first.headers
    assert first.headers["date"] == (date if origin_sends_date else format_http_date(START))
    assert (same.status_code, same.content, later.status_code) == (304, b"", 304)
    assert same.headers["x-cache"] == "HIT" and same.headers["date"] == first.headers["date"]
    assert (earlier.status_code, earlier.content) == (200, b"no validators")
    assert len(scripted.received) == 1  # all three answered from the store
