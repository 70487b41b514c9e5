"""The caching lesson's instruments, through a real forward proxy and cache on the lab."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest

from proxylab.cache.http_cache import HttpCache
from proxylab.cache.policy import CachePolicy, parse_http_date
from proxylab.course.caching_lab import FakeClock, HeaderOrigin, lru_hit_ratio, zipf_workload
from proxylab.course.concurrency_lab import burst
from proxylab.errors import ConfigError
from proxylab.http.messages import Headers
from proxylab.lab.lab import Lab, wait_until


@pytest.fixture
def lab() -> Iterator[Lab]:
    with Lab() as running:
        yield running


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def shop(lab: Lab, clock: FakeClock) -> Iterator[HeaderOrigin]:
    with HeaderOrigin.on(lab, "shop.test", clock=clock) as origin:
        yield origin


def cache_status(headers: object) -> dict[str, str]:
    """``proxylab; hit; ttl=5`` -> {"hit": "", "ttl": "5"}."""
    members = str(headers["cache-status"]).split(";")[1:]  # type: ignore[index]
    return dict((m.strip().split("=", 1) + [""])[:2] for m in members)  # type: ignore[misc]


def test_the_fake_clock_starts_on_a_whole_second_and_moves_only_forward() -> None:
    clock = FakeClock(1000.7)
    assert clock() == 1000.0
    assert clock.advance(5) == 1005.0 and clock() == 1005.0
    with pytest.raises(ConfigError, match="forward"):
        clock.advance(-1)


@pytest.mark.parametrize(
    "fields",
    [
        {"cache_control": "max-age=60"},
        {"cache_control": "s-maxage=30, max-age=600"},
        {"expires_in": 120},
        {"last_modified_ago": 1000},
        {"cache_control": "max-age=45", "expires_in": 900},
    ],
)
def test_the_ttl_a_miss_reports_is_the_lifetime_the_policy_computes(
    lab: Lab, shop: HeaderOrigin, clock: FakeClock, fields: dict[str, object]
) -> None:
    shop.page("/p", **fields)  # type: ignore[arg-type]
    friend = lab.forward_proxy(cache_size=2**20, cache_clock=clock)
    reply = lab.client(via_proxy=friend).get("http://shop.test/p")
    headers = Headers(list(reply.headers.items()))
    date = parse_http_date(reply.headers["date"], clock())
    assert date is not None
    lifetime = CachePolicy().freshness_lifetime(200, headers, date)
    assert lifetime > 0
    assert cache_status(reply.headers)["ttl"] == str(round(lifetime))


def test_age_is_the_time_turned_and_a_hit_never_reaches_the_origin(
    lab: Lab, shop: HeaderOrigin, clock: FakeClock
) -> None:
    shop.page("/a", cache_control="max-age=60")
    friend = lab.forward_proxy(cache_size=2**20, cache_clock=clock)
    you = lab.client(via_proxy=friend)
    assert you.get("http://shop.test/a").headers["x-cache"] == "MISS"
    clock.advance(7)
    hit = you.get("http://shop.test/a")
    assert hit.headers["x-cache"] == "HIT" and hit.headers["age"] == "7"
    assert cache_status(hit.headers)["ttl"] == "53"
    assert shop.count("/a") == 1


def test_a_stale_page_with_an_etag_is_revalidated_with_a_304(
    lab: Lab, shop: HeaderOrigin, clock: FakeClock
) -> None:
    shop.page("/e", cache_control="max-age=5", etag="v1")
    friend = lab.forward_proxy(cache_size=2**20, cache_clock=clock)
    you = lab.client(via_proxy=friend)
    first = you.get("http://shop.test/e")
    clock.advance(10)
    again = you.get("http://shop.test/e")
    status = cache_status(again.headers)
    assert again.status_code == 200 and again.content == first.content
    assert status["fwd"] == "stale" and status["fwd-status"] == "304" and status["ttl"] == "5"
    assert friend.cache is not None and friend.cache.stats().revalidated == 1
    assert shop.count("/e") == 2


def test_vary_keeps_one_variant_per_language(lab: Lab, shop: HeaderOrigin) -> None:
    shop.page("/v", cache_control="max-age=60", vary="Accept-Language")
    friend = lab.forward_proxy(cache_size=2**20)
    you = lab.client(via_proxy=friend)
    cache = friend.cache
    assert cache is not None
    seen = []
    for lang, variants in (("en", 1), ("fr", 2), ("en", 2)):
        seen.append(you.get("http://shop.test/v", headers={"Accept-Language": lang}))
        # a copy is kept just after its body went out: wait, so the next lookup finds it
        assert wait_until(lambda n=variants: cache.stats().stored_objects == n)  # type: ignore[misc]
    assert [r.headers["x-cache"] for r in seen] == ["MISS", "MISS", "HIT"]
    assert cache_status(seen[1].headers)["fwd"] == "vary-miss"
    assert "fr" in seen[1].text and "en" in seen[2].text


def test_the_origin_answers_404_for_unknown_pages_and_refuses_bad_ones(
    lab: Lab, shop: HeaderOrigin
) -> None:
    assert lab.client(via_proxy=True).get("http://shop.test/nothing").status_code == 404
    with pytest.raises(ConfigError, match="starts with '/'"):
        shop.page("p")
    with pytest.raises(ConfigError, match="cache_control"):
        shop.page("/p", max_age=5)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="already"):
        HeaderOrigin.on(lab, "shop.test")


def test_zipf_workload_is_repeatable_and_skewed() -> None:
    stream = zipf_workload(50, 5000, exponent=1.0, seed=3)
    assert stream == zipf_workload(50, 5000, exponent=1.0, seed=3)
    counts = Counter(stream)
    assert set(stream) <= set(range(50))
    assert counts[0] > counts[1] > counts[9] > counts[49]  # 1/1, 1/2, 1/10, 1/50 of the weight
    flat = Counter(zipf_workload(5, 5000, exponent=0.0))
    assert max(flat.values()) < 1.3 * min(flat.values())
    with pytest.raises(ConfigError):
        zipf_workload(0, 10)


def test_lru_model_by_hand() -> None:
    workload = [0, 1, 0, 2, 0, 1]
    assert lru_hit_ratio(workload, 0) == 0.0
    assert lru_hit_ratio(workload, 1) == 0.0  # every request evicts the object asked next
    assert lru_hit_ratio(workload, 2) == 2 / 6  # 0 hit, then 2 evicts 1, 0 hit, 1 misses
    assert lru_hit_ratio(workload, 3) == 3 / 6
    assert lru_hit_ratio([], 3) == 0.0


def test_the_real_cache_matches_the_lru_model_request_for_request(lab: Lab) -> None:
    workload = zipf_workload(40, 300, seed=1)

    def url(item: int) -> str:
        return f"http://news.test/bytes/512?object={item:03d}"

    probe = lab.forward_proxy(cache_size=2**20)
    lab.client(via_proxy=probe).get(url(0))
    cache = probe.cache
    assert cache is not None
    # the copy is stored just after the body went out: wait for it
    assert wait_until(lambda: cache.stats().stored_objects == 1)
    entry_size = cache.stats().stored_bytes  # every object costs the same here
    for capacity in (4, 12):
        friend = lab.forward_proxy(cache_size=capacity * entry_size)
        you = lab.client(via_proxy=friend)
        for item in workload:
            you.get(url(item))
        assert friend.cache is not None
        stats = friend.cache.stats()
        assert stats.hits / (stats.hits + stats.misses) == lru_hit_ratio(workload, capacity)


def test_a_herd_reaches_the_origin_once_with_collapsing_and_once_each_without(
    lab: Lab,
) -> None:
    news, users = lab.site("news.test"), 6
    counts = []
    for case, options in enumerate(
        [{"cache_size": 2**20}, {"cache": HttpCache(2**20, collapse_timeout=0)}, {}]
    ):
        friend = lab.forward_proxy(**options)  # type: ignore[arg-type]
        url = f"http://news.test/slow?ms=800&max_age=60&case={case}"
        before = news.count("/slow")
        shots = burst(lambda f=friend: lab.client(via_proxy=f), url, users)  # type: ignore[misc]
        assert [shot.status for shot in shots] == [200] * users
        counts.append(news.count("/slow") - before)
    assert counts == [1, users, users]


def test_the_lab_takes_a_cache_built_by_hand_but_not_two_caches(lab: Lab) -> None:
    cache = HttpCache(2**20, collapse_timeout=0)
    assert lab.forward_proxy(cache=cache).cache is cache
    with pytest.raises(ConfigError, match="not both"):
        lab.forward_proxy(cache=cache, cache_size=2**20)
