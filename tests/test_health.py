"""Health checks: the pure passive and rise/fall rules on a fake clock, real probes."""

from __future__ import annotations

import random

import pytest
from helpers import Kitchen, dead_port, event_waiter

from proxylab.errors import ConfigError
from proxylab.metrics import EventLog
from proxylab.reverse.balancers import Backend
from proxylab.reverse.health import (
    HealthChecker,
    HealthPolicy,
    HealthState,
    PassiveHealth,
    RiseFall,
)

pytestmark = pytest.mark.timeout(20)

A = Backend("10.0.0.1", 80, name="a")
B = Backend("10.0.0.2", 80, name="b")


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# -- passive (nginx max_fails / fail_timeout) --------------------------------------------


def test_passive_defaults_take_a_backend_out_at_the_first_failure_for_fail_timeout() -> None:
    clock = FakeClock()
    passive = PassiveHealth(clock=clock)
    assert passive.failure(A) is True
    assert passive.is_out(A) and not passive.is_out(B)
    clock.now += 9.9
    assert passive.is_out(A) and passive.release_expired() == []
    clock.now += 0.2
    assert not passive.is_out(A) and passive.release_expired() == [A]
    assert not passive.any_out


def test_passive_counts_failures_within_the_window_only() -> None:
    clock = FakeClock()
    passive = PassiveHealth(max_fails=3, fail_timeout=10.0, clock=clock)
    assert not passive.failure(A) and not passive.failure(A)
    clock.now += 11  # the two old failures fall out of the window
    assert not passive.failure(A) and not passive.failure(A)
    assert passive.failure(A)
    passive.forget(A)
    assert not passive.is_out(A)


def test_passive_success_resets_and_zero_disables() -> None:
    passive = PassiveHealth(max_fails=2, clock=FakeClock())
    passive.failure(A)
    passive.success(A)
    assert not passive.failure(A)  # the count starts again from zero
    assert passive.counting
    assert PassiveHealth(max_fails=0).failure(A) is False


# -- active (HAProxy rise / fall) --------------------------------------------------------


def test_rise_fall_needs_full_runs_to_change_state() -> None:
    machine = RiseFall(rise=2, fall=3)
    results = [False, False, True, False, False, False, True, True]
    changes = [machine.observe(A, ok) for ok in results]
    assert changes == [None, None, None, None, None, HealthState.DOWN, None, HealthState.UP]
    assert machine.mark_down(A) is True and machine.mark_down(A) is False
    assert machine.state(A) is HealthState.DOWN and machine.state(B) is HealthState.UP


def test_policy_validates() -> None:
    with pytest.raises(ConfigError):
        HealthPolicy(path="health")
    with pytest.raises(ConfigError):
        HealthPolicy(rise=0)


# -- the checker -------------------------------------------------------------------------


def test_checker_filters_and_records_events_for_passive_changes() -> None:
    clock, events, changes = FakeClock(), EventLog(), []
    checker = HealthChecker([A, B], events=events, clock=clock, wall_clock=clock,
                            on_change=lambda b, s: changes.append((b.name, s)))  # fmt: skip
    assert checker.healthy([A, B]) == [A, B]
    checker.report_failure(A, "refused")
    assert checker.healthy([A, B]) == [B] and checker.state(A) is HealthState.DOWN
    clock.now += 10.5
    assert checker.healthy([A, B]) == [A, B]
    assert changes == [("a", HealthState.DOWN), ("a", HealthState.UP)]
    rows = [(e.source, e.kind, e.upstream, e.note, e.extra["check"]) for e in events.snapshot()]
    assert rows == [
        ("health", "health", "a", "down", "passive"),
        ("health", "health", "a", "up", "passive"),
    ]


def test_checker_forgives_counted_failures_after_a_success() -> None:
    checker = HealthChecker([A, B], HealthPolicy(max_fails=2), clock=FakeClock())
    checker.report_failure(A)  # counted, not yet out
    assert checker.healthy([A, B]) == [A, B]
    checker.report_success(A)  # forgiven: the next failure counts from zero again
    checker.report_failure(A)
    assert checker.healthy([A, B]) == [A, B]
    checker.report_failure(A)
    assert checker.healthy([A, B]) == [B]


def test_with_active_checks_a_passive_failure_waits_for_rise_good_probes() -> None:
    clock = FakeClock()
    checker = HealthChecker([A], HealthPolicy(path="/health", rise=2), clock=clock)
    checker.report_failure(A)
    clock.now += 60  # no fail_timeout release: the active checks decide now
    assert checker.healthy([A]) == []
    checker._apply(A, True, "HTTP 200")
    assert checker.healthy([A]) == []
    checker._apply(A, True, "HTTP 200")
    assert checker.healthy([A]) == [A]


def test_slow_start_offers_a_returning_backend_a_growing_share() -> None:
    clock = FakeClock()
    policy = HealthPolicy(path="/health", rise=1, fall=1, slow_start=10.0)
    checker = HealthChecker([A, B], policy, clock=clock, rng=random.Random(3))
    checker._apply(A, False, "down")
    checker._apply(A, True, "up")

    def share() -> float:
        return sum(A in checker.healthy([A, B]) for _ in range(1000)) / 1000

    clock.now += 1
    early = share()
    clock.now += 7
    late = share()
    clock.now += 3
    assert 0.03 < early < 0.2 and 0.7 < late < 0.9 and share() == 1.0
    assert checker.healthy([A]) == [A]  # never refuse the only backend


def test_real_probes_and_the_checker_thread() -> None:
    kitchen = Kitchen("k").start()
    dead = Backend("127.0.0.1", dead_port(), name="dead")
    events = EventLog()
    try:
        checker = HealthChecker([kitchen.backend, dead], HealthPolicy(path="/health", interval=0.02,
                                timeout=0.5, rise=1, fall=1), events=events)  # fmt: skip
        assert checker.probe(kitchen.backend) == (True, "HTTP 200")
        ok, reason = checker.probe(dead)
        assert not ok and "Could not connect" in reason
        kitchen.health_status = 503
        assert checker.probe(kitchen.backend) == (False, "HTTP 503")
        kitchen.health_status = 200
        dead_down = event_waiter(events, lambda e: e.upstream == "dead" and e.note == "down")
        kitchen_down = event_waiter(events, lambda e: e.upstream == "k" and e.note == "down")
        with checker:
            assert dead_down.wait(5)
            kitchen.health_status = 302  # 3xx counts as up
            checker.check_now()
        assert not kitchen_down.is_set()
        assert checker.healthy([kitchen.backend, dead]) == [kitchen.backend]
        checker.stop()  # stopping twice is fine
    finally:
        kitchen.stop()


def test_without_a_path_start_runs_no_thread() -> None:
    checker = HealthChecker([A]).start()
    assert checker._thread is None and not checker.active
    checker.stop()
