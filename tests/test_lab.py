"""The lab: sites, kitchens, the black hole, addresses and a clean teardown, all for real.

Every test starts its own ``Lab`` on loopback with ephemeral ports and real httpx clients.
Timing assertions are lower bounds only ("took at least the cooking time"), which stay
true however loaded the machine is.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from proxylab.errors import ConfigError
from proxylab.lab.kitchens import Exponential, Fixed
from proxylab.lab.lab import Lab, wait_until
from proxylab.lab.loadgen import run_load
from proxylab.lab.network import loopback_aliases_work
from proxylab.lab.sites import SITE_NAMES

DISTINCT = loopback_aliases_work()
needs_distinct = pytest.mark.skipif(
    not DISTINCT, reason="127.0.0.2 cannot be bound here (macOS without aliases): one address only"
)


@pytest.fixture
def lab() -> Iterator[Lab]:
    with Lab() as running:
        yield running


def refuses(address: tuple[str, int]) -> bool:
    try:
        socket.create_connection(address, timeout=2).close()
    except OSError:
        return True
    return False


# -- sites ---------------------------------------------------------------------------------
def test_every_site_serves_its_pages(lab: Lab) -> None:
    client = lab.client()
    for name in SITE_NAMES:
        page = client.get(f"http://{name}/")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert f"- {name}</title>" in page.text
        assert client.get(f"http://{name}/no/such/page").status_code == 404
    assert "Proxies explained" in client.get("http://news.test/article/1").text
    assert client.get("http://video.test/images/thumb-3.png").content.startswith(b"\x89PNG")


def test_static_assets_carry_cache_headers_and_answer_conditionals(lab: Lab) -> None:
    client = lab.client()
    css = client.get("http://video.test/static/style.css")
    assert css.status_code == 200
    assert css.headers["cache-control"] == "public, max-age=300"
    assert css.headers["etag"].startswith('"') and css.headers["last-modified"].endswith("GMT")
    again = client.get(
        "http://video.test/static/style.css", headers={"If-None-Match": css.headers["etag"]}
    )
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == css.headers["etag"]
    since = client.get(
        "http://video.test/static/style.css",
        headers={"If-Modified-Since": css.headers["last-modified"]},
    )
    assert since.status_code == 304
    changed = client.get("http://video.test/static/style.css", headers={"If-None-Match": '"old"'})
    assert changed.status_code == 200
    short = client.get("http://news.test/images/logo.png?max_age=1")
    assert short.headers["cache-control"] == "public, max-age=1"
    assert client.get("http://news.test/revalidate").headers["cache-control"] == "no-cache"
    head = client.head("http://news.test/images/logo.png")
    assert head.content == b"" and int(head.headers["content-length"]) > 0


def test_bytes_and_slow_pages(lab: Lab) -> None:
    client = lab.client()
    body = client.get("http://news.test/bytes/1000").content
    assert len(body) == 1000 and body[:3] == b"\x00\x01\x02"
    started = time.monotonic()
    slow = client.get("http://news.test/slow?ms=80")
    assert time.monotonic() - started >= 0.08
    assert slow.json()["slept_ms"] == 80


def test_site_counts_show_cache_hits_never_reach_the_origin(lab: Lab) -> None:
    lab.forward_proxy(cache_size=1_000_000)
    client = lab.client(via_proxy=True)
    outcomes = [
        client.get("http://video.test/images/logo.png").headers.get("x-cache") for _ in range(3)
    ]
    assert outcomes == ["MISS", "HIT", "HIT"]
    assert lab.site("video.test").count("/images/logo.png") == 1
    assert lab.site("video.test").count() == 1
    lab.site("video.test").reset_counts()
    assert lab.site("video.test").count() == 0


# -- what the origin sees ------------------------------------------------------------------
def test_whoami_reports_what_the_site_saw(lab: Lab) -> None:
    direct = lab.client().get("http://news.test/whoami", headers={"User-Agent": "lab-test"}).json()
    assert direct["site"] == "news.test"
    assert direct["remote_address"] == lab.addresses.you
    assert ["User-Agent", "lab-test"] in direct["headers"]
    assert direct["proxy_signs"] == []
    lab.forward_proxy(privacy="transparent")
    proxied = lab.client(via_proxy=True).get("http://news.test/whoami").json()
    assert any(sign.startswith("Via: 1.1 proxylab") for sign in proxied["proxy_signs"])
    assert f"X-Forwarded-For: {lab.addresses.you}" in proxied["proxy_signs"]
    page = lab.client().get("http://news.test/whoami.html").text
    assert lab.addresses.you in page and "No header gives a proxy away" in page


@needs_distinct
def test_whoami_shows_a_different_address_through_the_proxy(lab: Lab) -> None:
    assert lab.distinct_addresses
    direct = lab.client().get("http://news.test/whoami").json()
    friend = lab.forward_proxy(privacy="elite")
    proxied = lab.client(via_proxy=friend).get("http://news.test/whoami").json()
    assert direct["remote_address"] == "127.0.0.10"
    assert proxied["remote_address"] == "127.0.0.2"
    assert proxied["proxy_signs"] == []  # elite: nothing gives the proxy away
    assert wait_until(lambda: len(lab.events.snapshot("forward")) == 1)  # logged after answering
    forward = lab.events.snapshot("forward")[0]
    assert forward.client == "127.0.0.10"  # the proxy saw you; the site saw only the proxy


@needs_distinct
def test_a_kitchen_sees_the_waiter_not_you(lab: Lab) -> None:
    """The reverse proxy dials kitchens from its own address (nginx's proxy_bind)."""
    kitchen = lab.kitchen("kitchen-a")
    direct = lab.client().get(f"{kitchen.url}/whoami").json()
    waiter = lab.reverse_proxy([kitchen])
    served = lab.client().get(f"{waiter.url}/whoami").json()
    assert direct["remote_address"] == lab.addresses.you == "127.0.0.10"
    assert served["remote_address"] == lab.addresses.waiter == "127.0.0.3"


def test_without_distinct_addresses_everyone_is_127_0_0_1() -> None:
    with Lab(distinct_addresses=False) as lab:
        assert not lab.distinct_addresses
        assert set(lab.resolver.values()) == {site.address for site in lab.sites.values()}
        assert {host for host, _ in lab.resolver.values()} == {"127.0.0.1"}
        lab.forward_proxy()
        seen = lab.client(via_proxy=True).get("http://school.test/whoami").json()
        assert seen["remote_address"] == "127.0.0.1"
        assert seen["proxy_signs"]  # the difference shows in headers (and ports) instead


# -- kitchens ------------------------------------------------------------------------------
def test_a_fixed_kitchen_never_answers_before_its_cooking_time(lab: Lab) -> None:
    kitchen = lab.kitchen("steady", Fixed(0.05), capacity=10)
    result = run_load(
        kitchen.url + "/order", users=10, requests=30, client=lab.client, progress=False
    )
    assert result.summary.count == 30 and result.summary.errors == 0
    assert all(record.duration >= 0.05 for record in result.records)
    assert result.per_upstream() == {"steady": 30}
    cooked = [e for e in lab.events.snapshot("kitchen") if e.upstream == "steady"]
    assert len(cooked) == 30 and all(e.duration >= 0.05 for e in cooked)


def test_an_exponential_kitchen_draws_around_its_mean_repeatably(lab: Lab) -> None:
    kitchen = lab.kitchen("poisson", Exponential(0.004), capacity=20, seed=7)
    result = run_load(kitchen.url, users=10, requests=200, client=lab.client, progress=False)
    draws = [e.extra["cooking"] for e in lab.events.snapshot("kitchen") if e.upstream == "poisson"]
    assert len(draws) == 200
    mean = sum(draws) / len(draws)
    assert 0.002 < mean < 0.008  # the drawn times (not wall-clock): seeded, so not flaky
    assert max(draws) > 2 * mean  # a long tail, as exponential times have
    assert all(r.duration >= 0.0 for r in result.records)


def test_orders_beyond_capacity_queue(lab: Lab) -> None:
    kitchen = lab.kitchen("tiny", Fixed(0.1), capacity=1)
    result = run_load(kitchen.url, users=2, requests=2, client=lab.client, progress=False)
    records = result.records
    assert min(record.duration for record in records) >= 0.1
    # the second order waited for the first: both together took two cooking times (the
    # 5 ms allow for the two clocks, wall and monotonic, that the records mix)
    span = max(r.time + r.duration for r in records) - min(r.time for r in records)
    assert span >= 0.2 - 0.005
    queued = sorted(e.extra["queued"] for e in lab.events.snapshot("kitchen"))
    assert queued[-1] >= 0.09


def test_error_rate_one_answers_500_naming_the_kitchen(lab: Lab) -> None:
    kitchen = lab.kitchen("burnt", Fixed(0.0), error_rate=1.0)
    answer = lab.client().get("http://burnt.test/order")
    assert answer.status_code == 500
    assert answer.headers["x-kitchen"] == "burnt" and answer.json()["kitchen"] == "burnt"
    assert kitchen.orders == 1
    with pytest.raises(ConfigError):
        lab.kitchen("impossible", error_rate=1.5)


def test_a_kitchen_stops_and_restarts_on_the_same_port(lab: Lab) -> None:
    kitchen = lab.kitchen("phoenix", Fixed(0.0))
    address, backend = kitchen.address, kitchen.backend
    client = lab.client()
    assert client.get("http://phoenix.test/").status_code == 200
    kitchen.stop()
    assert not kitchen.running and refuses(address)
    with pytest.raises(httpx.ConnectError):
        lab.client().get("http://phoenix.test/")
    kitchen.start()
    assert kitchen.address == address and kitchen.backend == backend
    assert lab.client().get("http://phoenix.test/").headers["x-kitchen"] == "phoenix"
    kitchen.restart()
    assert lab.client().get("http://phoenix.test/").status_code == 200


def test_stopping_a_kitchen_wakes_a_long_order(lab: Lab) -> None:
    kitchen = lab.kitchen("glacial", Fixed(30.0))
    answers: list[int] = []
    waiter = threading.Thread(
        target=lambda: answers.append(lab.client(timeout=40).get(kitchen.url).status_code)
    )
    waiter.start()
    assert wait_until(lambda: kitchen.in_progress == 1)  # the order is on the stove
    started = time.monotonic()
    kitchen.stop()
    waiter.join()
    assert answers == [503]
    assert time.monotonic() - started < 10  # far below the 30 s cooking time


def test_a_draining_kitchen_finishes_its_orders(lab: Lab) -> None:
    kitchen = lab.kitchen("gentle", Fixed(0.2))
    answers: list[int] = []
    diner = threading.Thread(
        target=lambda: answers.append(lab.client().get(kitchen.url).status_code)
    )
    diner.start()
    assert wait_until(lambda: kitchen.in_progress == 1)
    kitchen.stop(drain=True)
    diner.join()
    assert answers == [200] and refuses(kitchen.address)


def test_slow_down_multiplies_or_replaces_the_latency(lab: Lab) -> None:
    kitchen = lab.kitchen("tired", Fixed(0.01))
    kitchen.slow_down(3)
    assert kitchen.latency == Fixed(0.03)
    kitchen.slow_down(Exponential(0.02))
    assert kitchen.latency == Exponential(0.02)


# -- the black hole ------------------------------------------------------------------------
def test_the_black_hole_never_answers(lab: Lab) -> None:
    lab.black_hole()
    with pytest.raises(httpx.ReadTimeout):
        lab.client(timeout=0.3).get("http://blackhole.test/")


def test_one_stuck_origin_does_not_hold_up_the_others(lab: Lab) -> None:
    lab.black_hole()
    friend = lab.forward_proxy(timeout=2.0)
    stuck: list[int] = []
    thread = threading.Thread(
        target=lambda: stuck.append(lab.client(friend).get("http://blackhole.test/").status_code)
    )
    thread.start()
    client = lab.client(friend)
    for _ in range(5):
        assert client.get("http://news.test/").status_code == 200
    assert thread.is_alive()  # the stuck request still waits, the others were served
    thread.join()
    assert stuck == [504]


# -- reverse proxy and TLS through the lab -------------------------------------------------
def test_the_waiter_serves_kitchens_over_https(lab: Lab) -> None:
    kitchens = lab.kitchens(2)
    waiter = lab.reverse_proxy(kitchens, "round-robin", tls=True)
    assert waiter.url == "https://waiter.test"
    client = lab.client()
    served = [client.get(f"{waiter.url}/order") for _ in range(4)]
    assert [r.headers["x-kitchen"] for r in served] == ["kitchen-a", "kitchen-b"] * 2
    assert all("kitchen" not in r.headers.get("server", "") for r in served)  # hidden
    assert all(r.url.host == "waiter.test" for r in served)


# -- teardown ------------------------------------------------------------------------------
def _open_fds() -> int | None:
    return len(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else None


def test_close_leaves_no_thread_and_no_socket() -> None:
    threads, fds = set(threading.enumerate()), _open_fds()
    lab = Lab().start()
    kitchens = lab.kitchens(2)
    lab.reverse_proxy(kitchens, tls=True)
    lab.forward_proxy(cache_size=100_000, block=["*.social.test"])
    lab.black_hole()
    client = lab.client(via_proxy=True)
    assert client.get("http://news.test/").status_code == 200
    assert client.get("http://social.test/").status_code == 403
    assert lab.client().get("https://waiter.test/").status_code == 200
    listening = list(lab.resolver.values())
    lab.close()
    lab.close()  # idempotent
    assert set(threading.enumerate()) == threads
    assert all(refuses(address) for address in listening)
    if fds is not None:
        assert _open_fds() == fds
    with pytest.raises(ConfigError):
        lab.start()


def test_a_failing_cell_still_tears_everything_down() -> None:
    threads = set(threading.enumerate())
    with pytest.raises(ZeroDivisionError), Lab() as lab:
        lab.kitchen("k", Fixed(0.0))
        listening = list(lab.resolver.values())
        lab.client().get("http://news.test/")
        1 / 0  # noqa: B018 - the notebook cell that fails
    assert set(threading.enumerate()) == threads
    assert all(refuses(address) for address in listening)
