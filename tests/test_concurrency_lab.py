"""The many-clients lesson's instruments: bursts, the bounded pool, slowloris and the CPU meter.

No assertion here is an upper bound on time. The only times checked are lower bounds that a
deadline imposes (a deadline cannot fire early), so a slow machine cannot make them fail.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from proxylab.course.concurrency_lab import (
    HandlerMeter,
    SlowClient,
    burst,
    measure,
    slowest_wait,
    throughput_ceiling,
)
from proxylab.errors import ConfigError
from proxylab.lab.lab import Lab, wait_until


@pytest.fixture
def lab() -> Iterator[Lab]:
    with Lab() as running:
        yield running


def test_a_burst_answers_every_client_and_sorts_their_waits(lab: Lab) -> None:
    friend = lab.forward_proxy()
    shots = burst(lambda: lab.client(via_proxy=friend), "http://news.test/whoami", 5)
    assert [shot.status for shot in shots] == [200] * 5
    assert [s.latency for s in shots] == sorted(s.latency for s in shots)
    assert lab.site("news.test").count("/whoami") == 5
    with pytest.raises(ConfigError):
        burst(lambda: lab.client(), "http://news.test/", 0)


def test_a_burst_records_a_client_that_gets_no_answer(lab: Lab) -> None:
    hole = lab.black_hole("hole.test")
    shots = burst(
        lambda: lab.client(timeout=0.2), f"http://{hole.address[0]}:{hole.address[1]}/", 2
    )
    assert [shot.status for shot in shots] == [0, 0]
    assert all("Timeout" in shot.error for shot in shots)


def test_a_slow_client_is_cut_off_at_the_head_deadline_with_a_408(lab: Lab) -> None:
    head = 0.4
    friend = lab.forward_proxy(head_timeout=head)
    with SlowClient(friend.server.address, interval=0.1, source=lab.addresses.you) as slow:
        assert slow.cut_off.wait(10)
    assert slow.status_line == "HTTP/1.1 408 Request Timeout"
    assert slow.elapsed is not None and slow.elapsed >= head
    assert slow.sent >= 2  # it kept sending: a timeout per read would never have fired
    assert wait_until(lambda: any(e.status == 408 for e in friend.proxy.events.snapshot()))


def test_the_threaded_friend_serves_others_while_a_slow_client_trickles(lab: Lab) -> None:
    friend = lab.forward_proxy(head_timeout=30)
    with SlowClient(friend.server.address, interval=0.1) as slow:
        assert wait_until(lambda: friend.server.active_connections == 1)
        assert lab.client(via_proxy=friend).get("http://news.test/whoami").status_code == 200
        assert not slow.cut_off.is_set()
    assert slow.cut_off.is_set() and slow.status_line == ""  # we hung up; it never answered


def test_a_pool_of_one_takes_the_next_client_only_after_the_first_is_done(lab: Lab) -> None:
    head = 0.3
    friend = lab.forward_proxy(max_connections=1, head_timeout=head)
    address = friend.server.address
    with SlowClient(address, interval=0.05) as first:
        assert wait_until(lambda: friend.server.active_connections == 1)
        with SlowClient(address, interval=0.05) as second:
            assert first.cut_off.wait(10) and second.cut_off.wait(10)
    assert first.elapsed is not None and second.elapsed is not None
    # the second's deadline only started when the first left: two deadlines, back to back
    assert second.elapsed >= first.elapsed + head * 0.9
    assert first.status_line == second.status_line == "HTTP/1.1 408 Request Timeout"


def test_the_models_of_waiting_and_of_the_cpu_ceiling() -> None:
    assert slowest_wait(5, 1, 0.1) == pytest.approx(0.5)
    assert slowest_wait(10, 4, 0.2) == pytest.approx(0.6)  # waves of 4, 4 and 2
    assert slowest_wait(3, 8, 0.2) == pytest.approx(0.2)
    assert throughput_ceiling(0.0004) == pytest.approx(2500)
    assert throughput_ceiling(0.001, cores=2) == pytest.approx(2000)
    for bad in (lambda: slowest_wait(0, 1, 1), lambda: throughput_ceiling(0)):
        with pytest.raises(ConfigError):
            bad()
    with pytest.raises(ConfigError):
        SlowClient(("127.0.0.1", 9), interval=0)


def test_measure_counts_cpu_for_work_and_not_for_waiting() -> None:
    with measure() as busy:
        total = sum(i * i for i in range(300_000))
    assert total > 0 and busy.cpu > 0 and busy.wall > 0 and busy.cores > 0
    with measure() as idle:
        wait_until(lambda: False, timeout=0.2, every=0.05)
    assert idle.wall >= 0.2 and idle.cpu < idle.wall


def test_the_handler_meter_counts_every_request_and_the_cpu_of_the_friends_threads(
    lab: Lab,
) -> None:
    friend = lab.forward_proxy()
    meter = HandlerMeter.on(friend.server)
    you = lab.client(via_proxy=friend)
    for _ in range(20):
        assert you.get("http://news.test/whoami").status_code == 200
    assert meter.requests == 20 and meter.cpu > 0
    assert meter.per_request == meter.cpu / 20
    meter.reset()
    assert meter.requests == 0 and meter.per_request == 0.0
    assert friend.server.handler is meter and meter.handler is friend.proxy
