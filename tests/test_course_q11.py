"""11_friend_and_waiter: its questions (right answers from the running chain and the library)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from proxylab.course.chain_lab import records_since, scene_chart
from proxylab.course.checks import check
from proxylab.forward.privacy import PrivacyLevel
from proxylab.forward.proxy import ForwardSettings
from proxylab.http.messages import Headers, Request
from proxylab.lab import Lab, ReverseRun, run_load
from proxylab.reverse.balancers import Backend, ConsistentHash, SmoothWeightedRoundRobin

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def lab() -> Iterator[Lab]:
    with Lab() as running:
        yield running


@pytest.fixture
def waiter(lab: Lab) -> ReverseRun:
    return lab.reverse_proxy(lab.kitchens(3))


def _roles(lab: Lab) -> dict[str, str]:
    return {lab.addresses.you: "you", lab.addresses.proxy: "friend", lab.addresses.waiter: "waiter"}


# -- check yourself: the chain ----------------------------------------------------------
def test_the_chain_questions_match_what_each_hop_saw(lab: Lab, waiter: ReverseRun) -> None:
    if not lab.distinct_addresses:
        pytest.skip("telling the hops apart by address needs 127.0.0.x aliases")
    friend = lab.forward_proxy()
    started = time.time()
    answer = lab.client(via_proxy=friend).get(f"{waiter.url}/whoami")
    fields = {name.lower(): value for name, value in answer.json()["headers"]}
    xff_role = _roles(lab)[fields["x-forwarded-for"]]
    assert check("11.kitchen_xff", xff_role) and check("11.kitchen_xff", "The Friend")
    assert not check("11.kitchen_xff", "you") and not check("11.kitchen_xff", "waiter")

    direct = lab.client().get(f"{waiter.kitchens[0].url}/order")
    assert "server" in direct.headers and "server" not in answer.headers
    assert check("11.hides_kitchens", "reverse") and not check("11.hides_kitchens", "forward")

    at_waiter = records_since(lab, started, "reverse")[0]
    at_friend = records_since(lab, started, "forward")[0]
    assert at_friend.target.startswith("http://") and at_waiter.target.startswith("/")
    assert check("11.to_the_waiter", "path") and check("11.to_the_waiter", "origin-form")
    assert not check("11.to_the_waiter", "full URL")


def test_the_whole_company_is_one_address_at_the_shop(lab: Lab, waiter: ReverseRun) -> None:
    company = lab.forward_proxy(block=["*.social.test"])
    morning = time.time()
    urls = [f"{waiter.url}/order", "http://social.test/"]
    run_load(urls, users=3, requests=12, client=lambda: lab.client(via_proxy=company),
             progress=False)  # fmt: skip
    at_shop = records_since(lab, morning, "reverse", 6)
    addresses = {e.client for e in at_shop}
    assert check("11.company_addresses", len(addresses))
    assert not check("11.company_addresses", 3) and not check("11.company_addresses", 0)
    forward = records_since(lab, morning, "forward", 12)
    figure = scene_chart(forward, at_shop)
    left, right = figure.axes
    assert left.get_xlabel() and right.get_ylabel() and len(right.patches) == 3
    assert {t.get_text() for t in left.get_yticklabels()} == {"social.test", "waiter.test"}


# -- the closing quiz -------------------------------------------------------------------
def test_no_via_is_the_level_where_the_site_finds_none(lab: Lab) -> None:
    quiet = []
    for level in PrivacyLevel:
        friend = lab.forward_proxy(privacy=level.value)
        signs = lab.client(via_proxy=friend).get("http://news.test/whoami").json()["proxy_signs"]
        if not any(sign.lower().startswith("via") for sign in signs):
            quiet.append(level.value)
    assert quiet == ["elite"]
    assert check("11.quiz_no_via", quiet[0]) and not check("11.quiz_no_via", "anonymous")


def test_cache_field_is_the_one_the_cache_sends(lab: Lab) -> None:
    friend = lab.forward_proxy(cache_size=1 << 20)
    headers = lab.client(via_proxy=friend).get("http://news.test/").headers
    standard = next(name for name in ("Cache-Status", "X-Cache") if name in headers)
    assert check("11.quiz_cache_field", standard) and not check("11.quiz_cache_field", "X-Cache")


def test_connect_port_is_the_default_setting() -> None:
    (port,) = ForwardSettings().connect_ports
    assert check("11.quiz_connect_port", port) and not check("11.quiz_connect_port", 80)


def test_wrr_third_pick_is_what_the_balancer_does() -> None:
    backends = [Backend("127.0.0.1", 1, 5, "a"), Backend("127.0.0.1", 2, 1, "b"),
                Backend("127.0.0.1", 3, 1, "c")]  # fmt: skip
    balancer = SmoothWeightedRoundRobin()
    request = Request("GET", "/", Headers())
    picks = [balancer.choose(request, backends).name for _ in range(7)]
    assert picks == list("aabacaa")
    assert check("11.quiz_wrr_third", picks[2]) and not check("11.quiz_wrr_third", "a")


def test_keys_moved_is_what_the_ring_does() -> None:
    four = [Backend("127.0.0.1", port, 1, f"k{port}") for port in range(1, 5)]
    five = [*four, Backend("127.0.0.1", 5, 1, "k5")]
    ring, request = ConsistentHash(), Request("GET", "/", Headers())
    clients = [f"10.0.{n // 250}.{n % 250}" for n in range(3000)]
    before = [ring.choose(request, four, ip) for ip in clients]
    after = [ring.choose(request, five, ip) for ip in clients]
    moved = sum(b != a for b, a in zip(before, after, strict=True)) / len(clients)
    assert check("11.quiz_keys_moved", round(moved, 2))
    assert not check("11.quiz_keys_moved", 0.8) and not check("11.quiz_keys_moved", 0.5)


def test_hints_do_not_give_the_answers_away() -> None:
    for question, wrong, secret in [
        ("11.quiz_no_via", "x", "elite"),
        ("11.quiz_cache_field", "x", "cache-status"),
        ("11.quiz_connect_port", 0, "443"),
        ("11.kitchen_xff", "x", "friend"),
        ("11.company_addresses", 0, "1"),
    ]:
        assert secret not in check(question, wrong).message.lower()
