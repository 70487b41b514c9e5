"""Filtering through the real forward proxy: the school blocks social media."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import httpx
from helpers import wait_for_event
from origins import Origin

from proxylab.forward.filters import FilterPolicy
from proxylab.forward.rules import ClientNetworkRule, TimeWindowRule, WildcardHostRule

StartProxy = Callable[..., Any]


def social_resolver(origin: Origin) -> dict[str, tuple[str, int]]:
    return {
        name: ("127.0.0.1", origin.port)
        for name in ("social.test", "chat.social.test", "news.test")
    }


def test_wildcard_block_on_plain_http_shows_the_block_page(
    forward_proxy: StartProxy, origin: Origin
) -> None:
    policy = FilterPolicy.from_patterns(block=["*.social.test"])
    server, proxy = forward_proxy(filters=policy, resolve=social_resolver(origin))
    with httpx.Client(proxy=server.url) as client:
        blocked = client.get("http://chat.social.test/headers")
        apex = client.get("http://social.test/headers")
        allowed = client.get("http://news.test/text")
    assert blocked.status_code == 403 and apex.status_code == 403
    assert "text/html" in blocked.headers["content-type"]
    assert "*.social.test" in blocked.text
    assert allowed.status_code == 200
    assert all(path != "/headers" for _, path, _ in origin.requests)  # never reached the origin
    event = wait_for_event(proxy.events, lambda e: e.target == "http://chat.social.test/headers")
    assert event.decision == "blocked" and event.status == 403


def test_wildcard_block_on_connect(forward_proxy: StartProxy, origin: Origin) -> None:
    from helpers import raw_exchange

    policy = FilterPolicy.from_patterns(block=["*.social.test"])
    server, _ = forward_proxy(filters=policy, resolve=social_resolver(origin))
    reply = raw_exchange(
        server.address,
        b"CONNECT chat.social.test:443 HTTP/1.1\r\nHost: chat.social.test:443\r\n\r\n",
    )
    assert reply.startswith(b"HTTP/1.1 403 ")
    assert b"*.social.test" in reply


def test_allow_list_mode_denies_everything_else(forward_proxy: StartProxy, origin: Origin) -> None:
    policy = FilterPolicy.from_patterns(allow=["news.test"])
    server, _ = forward_proxy(filters=policy, resolve=social_resolver(origin))
    with httpx.Client(proxy=server.url) as client:
        assert client.get("http://news.test/text").status_code == 200
        denied = client.get("http://social.test/text")
    assert denied.status_code == 403
    assert "allow" in denied.text.lower()


def test_client_network_rule(forward_proxy: StartProxy, origin: Origin) -> None:
    students = FilterPolicy([ClientNetworkRule("127.0.0.0/8", action="block")])
    teachers = FilterPolicy([ClientNetworkRule("10.0.0.0/8", action="block")])
    blocked_server, _ = forward_proxy(filters=students)
    open_server, _ = forward_proxy(filters=teachers)
    with httpx.Client(proxy=blocked_server.url) as client:
        assert client.get("http://origin.test/text").status_code == 403
    with httpx.Client(proxy=open_server.url) as client:
        assert client.get("http://origin.test/text").status_code == 200


def test_time_rule_under_a_fake_clock(forward_proxy: StartProxy, origin: Origin) -> None:
    now = {"value": datetime(2026, 11, 30, 10, 0)}  # a Monday, school hours
    rule = TimeWindowRule(
        datetime(2026, 1, 1, 8, 0).time(),
        datetime(2026, 1, 1, 16, 0).time(),
        inner=WildcardHostRule("*.social.test"),
    )
    policy = FilterPolicy([rule], clock=lambda: now["value"])
    server, _ = forward_proxy(filters=policy, resolve=social_resolver(origin))
    with httpx.Client(proxy=server.url) as client:
        assert client.get("http://social.test/text").status_code == 403
        now["value"] = datetime(2026, 11, 30, 18, 30)  # after school
        assert client.get("http://social.test/text").status_code == 200
