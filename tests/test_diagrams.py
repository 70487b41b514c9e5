"""The sequence diagrams say what each side really saw: exchanges paired by connection, not time.

The welcome notebook visits news.test directly and, a moment later, through the anonymous
friend. A diagram that pairs the friend's record with the site's by URL and time picks the
direct visit's record and claims the site saw *your* address: these tests replay that
sequence and read the labels the diagram drew.
"""

from __future__ import annotations

from typing import Any

import matplotlib
import pytest

matplotlib.use("Agg")

from proxylab.lab import diagrams  # noqa: E402
from proxylab.lab.lab import Lab, wait_until  # noqa: E402
from proxylab.metrics import Event  # noqa: E402


def texts(figure: Any) -> list[str]:
    return [text.get_text() for text in figure.axes[0].texts]


def _settled(lab: Lab, forwarded: int) -> list[Event]:
    """The events once the friend has recorded its ``forwarded`` exchanges."""
    assert wait_until(lambda: len(lab.events.snapshot("forward")) >= forwarded)
    return lab.events.snapshot()


def _close_visits(lab: Lab, friend: Any) -> tuple[dict[str, Any], dict[str, Any], list[Event]]:
    """The notebook's calls: a direct visit, then the same URL through the friend within 50 ms.

    Retried (a few times at most) until the two visits really are within 50 ms of each
    other, the situation in which pairing by URL and time goes wrong.
    """
    you, through = lab.client(), lab.client(via_proxy=friend)
    url = "http://news.test/whoami"
    for _ in range(5):
        lab.events.clear()
        direct = you.get(url).json()
        proxied = through.get(url).json()
        events = _settled(lab, 1)
        site_times = sorted(e.time for e in events if e.source == "site")
        if len(site_times) == 2 and site_times[1] - site_times[0] < 0.05:
            return direct, proxied, events
    pytest.fail("could not make two visits within 50 ms of each other")


@pytest.mark.skipif(not Lab().distinct_addresses, reason="needs distinct 127.0.0.x addresses")
def test_the_anonymous_exchange_shows_the_address_the_site_really_saw() -> None:
    with Lab() as lab:
        friend = lab.forward_proxy(privacy="anonymous")
        direct, proxied, events = _close_visits(lab, friend)
    assert proxied["remote_address"] == lab.addresses.proxy != direct["remote_address"]
    labels = texts(diagrams.forward_sequence(events))
    answers = [t for t in labels if "the origin saw" in t]
    assert answers == [f"200; the origin saw {proxied['remote_address']}"]
    forwarded = [t for t in labels if t.startswith("anonymous: GET /whoami")]
    assert len(forwarded) == 1 and "added Via" in forwarded[0]


@pytest.mark.skipif(not Lab().distinct_addresses, reason="needs distinct 127.0.0.x addresses")
def test_direct_visits_are_drawn_beside_the_friends_calls() -> None:
    with Lab() as lab:
        friend = lab.forward_proxy(privacy="transparent")
        direct, proxied, events = _close_visits(lab, friend)
    labels = texts(diagrams.forward_sequence(events, direct=True))
    answers = [t for t in labels if "the origin saw" in t]
    you = direct["remote_address"]
    assert answers == [
        f"200; the origin saw {you}",  # directly: your own address
        f"200; the origin saw {proxied['remote_address']} (X-Forwarded-For: {you})",
    ]
    assert any(t.startswith("GET http://news.test/whoami (no proxy)") for t in labels)
    assert any(t.startswith("transparent: GET /whoami [added X-Forwarded-For") for t in labels)


def test_kept_alive_connections_pair_in_order_and_each_level_is_labelled() -> None:
    """Several requests on one pooled connection pair in turn; each names its privacy level."""
    with Lab() as lab:
        for level in ("transparent", "anonymous", "elite"):
            client = lab.client(via_proxy=lab.forward_proxy(level))
            for n in range(3):
                client.get(f"http://news.test/slow?ms={n}")
        events = _settled(lab, 9)
    forwards = [e for e in events if e.source == "forward"]
    peers = [e.extra["upstream_from"] for e in forwards]
    assert len(set(peers)) == 3  # one kept-alive connection per friend, three requests each
    labels = texts(diagrams.forward_sequence(events, limit=9))
    sent = [t.split(" [")[0] for t in labels if ": GET /slow" in t]
    assert sent == [
        f"{level}: GET /slow?ms={n}" for level in ("transparent", "anonymous", "elite")
        for n in range(3)
    ]  # fmt: skip
    seen = [t for t in labels if "the origin saw" in t]
    assert len(seen) == 9 and all(lab.addresses.proxy in t for t in seen)


def test_without_a_matching_site_record_the_diagram_says_so() -> None:
    """Records from elsewhere (no connection noted) are never paired by guesswork."""
    forward = Event(1.0, "forward", client="127.0.0.10", method="GET",
                    target="http://news.test/", status=200, decision="allowed")  # fmt: skip
    site = Event(1.0, "site", client="127.0.0.10", method="GET", target="http://news.test/",
                 status=200, extra={"peer": "127.0.0.10:5000"})  # fmt: skip
    labels = texts(diagrams.forward_sequence([forward, site]))
    assert "200 (no site record)" in labels
    assert not any("the origin saw" in t for t in labels)


def test_a_health_change_is_a_note_never_an_order_with_status_zero() -> None:
    order = Event(1.0, "reverse", method="GET", target="/order", status=200, upstream="a",
                  duration=0.01)  # fmt: skip
    health = [
        Event(1.5, "health", kind="health", upstream="a", note="down"),
        Event(1.6, "health", kind="health", upstream="elsewhere", note="down"),
    ]
    later = Event(2.0, "reverse", method="GET", target="/order", status=200, upstream="a",
                  duration=0.01)  # fmt: skip
    labels = texts(diagrams.reverse_sequence([order, *health, later]))
    assert "a down" in labels
    assert not any(label.startswith("0") or " 0 " in label for label in labels)
