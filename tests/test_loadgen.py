"""The load generator against real lab kitchens and sites: counts, bounds, errors, proxies."""

from __future__ import annotations

import functools
import socket
from collections.abc import Iterator

import pytest

from proxylab.errors import ConfigError
from proxylab.lab.kitchens import Fixed
from proxylab.lab.lab import Lab
from proxylab.lab.loadgen import run_load, summarize
from proxylab.metrics import EventLog


@pytest.fixture
def lab() -> Iterator[Lab]:
    with Lab() as running:
        yield running


def test_closed_loop_sends_exactly_the_requests_asked(lab: Lab) -> None:
    kitchens = lab.kitchens(2, Fixed(0.005))
    waiter = lab.reverse_proxy(kitchens)
    result = run_load(
        f"{waiter.url}/order", users=4, requests=40, client=lab.client, progress=False
    )
    summary = result.summary
    assert summary.count == 40 and summary.errors == 0
    assert result.statuses() == {200: 40}
    assert result.per_upstream() == {"kitchen-a": 20, "kitchen-b": 20}
    assert 0.005 <= summary.p50 <= summary.p95 <= summary.p99
    assert summary.rps > 0 and summary.elapsed > 0
    assert all(r.source == "loadgen" and r.method == "GET" for r in result.records)
    assert [r.time for r in result.records] == sorted(r.time for r in result.records)
    assert "40 requests" in str(summary)


def test_think_time_slows_each_user(lab: Lab) -> None:
    kitchen = lab.kitchen("quick", Fixed(0.0))
    result = run_load(
        kitchen.url, users=1, requests=3, think=0.05, client=lab.client, progress=False
    )
    assert result.summary.count == 3
    assert result.records[-1].time - result.records[0].time >= 0.1  # two thinks in between


def test_open_loop_keeps_outstanding_requests_bounded(lab: Lab) -> None:
    kitchen = lab.kitchen("busy", Fixed(0.1), capacity=50)
    result = run_load(
        kitchen.url, rate=1000, requests=12, max_outstanding=3, client=lab.client, progress=False
    )
    assert result.summary.count == 12 and result.summary.errors == 0
    assert result.summary.elapsed >= 0.4  # 12 requests, 3 at a time, 0.1 s each
    lags = [r.extra["lag"] for r in result.records]
    assert min(lags) >= 0.0 and max(lags) >= 0.2  # arrivals waited for a free slot


def test_a_duration_bounds_the_run(lab: Lab) -> None:
    kitchen = lab.kitchen("steady", Fixed(0.01), capacity=8)
    result = run_load(kitchen.url, users=2, duration=0.3, client=lab.client, progress=False)
    assert result.summary.count > 2
    assert result.summary.elapsed >= 0.3


def test_open_loop_with_a_duration(lab: Lab) -> None:
    kitchen = lab.kitchen("paced", Fixed(0.0))
    result = run_load(kitchen.url, rate=100, duration=0.2, client=lab.client, progress=False)
    assert result.summary.count >= 1 and result.summary.errors == 0


def test_failures_become_records_not_exceptions(lab: Lab) -> None:
    with socket.socket() as spare:
        spare.bind(("127.0.0.1", 0))
        closed_port = spare.getsockname()[1]
    refused = run_load(f"http://127.0.0.1:{closed_port}/", users=2, requests=4, progress=False)
    assert refused.statuses() == {0: 4}
    assert all(r.note.startswith("could not connect") for r in refused.records)
    assert refused.summary.errors == 4
    lab.black_hole()
    stuck = run_load(
        "http://blackhole.test/",
        users=2,
        requests=2,
        client=functools.partial(lab.client, timeout=0.2),
        progress=False,
    )
    assert stuck.statuses() == {0: 2}
    assert all(r.note.startswith("timeout") for r in stuck.records)
    assert all(r.duration >= 0.2 for r in stuck.records)


def test_load_through_the_forward_proxy_records_cache_outcomes(lab: Lab) -> None:
    friend = lab.forward_proxy(cache_size=1_000_000)
    urls = ["http://video.test/images/thumb-1.png", "http://video.test/images/thumb-2.png"]
    result = run_load(urls, users=1, requests=6, proxy=friend.url, progress=False)
    assert [r.target for r in result.records] == urls * 3
    assert [r.cache for r in result.records] == ["miss", "miss", "hit", "hit", "hit", "hit"]
    assert lab.site("video.test").count() == 2


def test_records_go_to_an_event_log_and_progress_can_show(
    lab: Lab, capsys: pytest.CaptureFixture[str]
) -> None:
    events = EventLog()
    kitchen = lab.kitchen("shown", Fixed(0.0))
    with lab.client() as client:
        result = run_load(kitchen.url, users=2, requests=5, client=client, events=events)
        assert not client.is_closed  # a client passed in is not ours to close
    assert len(events.snapshot("loadgen")) == 5 == result.summary.count
    assert "5/5" in capsys.readouterr().out


def test_arguments_are_checked() -> None:
    with pytest.raises(ConfigError):
        run_load("http://x.test/", users=2, rate=3.0)
    with pytest.raises(ConfigError):
        run_load("http://x.test/", users=0)
    with pytest.raises(ConfigError):
        run_load([], users=1, requests=1, progress=False)
    empty = summarize([])
    assert empty.count == 0 and empty.p99 == 0.0 and empty.rps == 0.0
