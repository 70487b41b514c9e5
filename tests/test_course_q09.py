"""09_failover: its questions (right answers from the library) and the failover_lab helpers."""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest

from proxylab.course.checks import check
from proxylab.course.failover_lab import (
    CrashingKitchen,
    FirstAvailable,
    Script,
    bin_counts,
    comeback_chart,
    compare_checks,
    kitchen_counts,
    raw_exchange,
    run_outage,
    timeline,
)
from proxylab.course.questions.q09_failover import OFFERED
from proxylab.lab import Fixed, Kitchen, Lab, wait_until
from proxylab.metrics import Event
from proxylab.reverse.health import HealthChecker, HealthPolicy, HealthState
from proxylab.reverse.proxy import NON_IDEMPOTENT

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def lab() -> Iterator[Lab]:
    with Lab(sites=()) as running:
        yield running


# -- the questions ------------------------------------------------------------------------
def test_retried_methods_are_those_outside_nginx_list() -> None:
    retried = {method for method in OFFERED if method not in NON_IDEMPOTENT}
    assert check("09.retried_methods", retried)
    assert check("09.retried_methods", [m.lower() for m in retried])
    assert not check("09.retried_methods", retried | {"POST"})
    assert not check("09.retried_methods", {"GET", "HEAD"})


def test_active_worst_case_is_interval_times_fall() -> None:
    policy = HealthPolicy()  # HAProxy's defaults
    assert check("09.active_worst_case", policy.interval * policy.fall)
    assert not check("09.active_worst_case", policy.interval)
    assert not check("09.active_worst_case", policy.interval * policy.rise)


def test_passive_back_after_is_fail_timeout() -> None:
    policy = HealthPolicy()  # nginx's defaults
    assert check("09.passive_back_after", policy.fail_timeout)
    assert not check("09.passive_back_after", 0)
    assert not check("09.passive_back_after", policy.interval)


def test_slow_start_fraction_is_what_the_health_checker_does() -> None:
    """Measured: 15 s into a 60 s ramp, how often is the returning backend offered?"""
    now = [100.0]
    with Kitchen("steady") as steady, Kitchen("back") as back:
        policy = HealthPolicy("/health", rise=1, fall=1, timeout=0.5, slow_start=60.0)
        health = HealthChecker(
            [steady.backend, back.backend], policy, clock=lambda: now[0], rng=random.Random(1)
        )
        back.stop()
        health.check_now()
        assert health.state(back.backend) is HealthState.DOWN
        back.start()
        health.check_now()  # marked up: the ramp starts at now
        now[0] += 15.0
        draws = 4000
        offered = sum(back.backend in health.healthy([steady.backend, back.backend])
                      for _ in range(draws))  # fmt: skip
    fraction = offered / draws
    assert abs(fraction - 0.25) < 0.03
    assert check("09.slow_start_fraction", round(fraction, 2))
    assert not check("09.slow_start_fraction", 1.0)
    assert not check("09.slow_start_fraction", 0.5)


def test_hints_do_not_give_the_answers_away() -> None:
    for question, wrong, secret in [
        ("09.active_worst_case", 0, "6"),
        ("09.passive_back_after", 0, "10"),
        ("09.slow_start_fraction", 0, "0.25"),
    ]:
        assert secret not in check(question, wrong).message
    assert "PUT" not in check("09.retried_methods", set()).message


# -- the helpers --------------------------------------------------------------------------
def _event(at: float, upstream: str = "a", status: int = 200) -> Event:
    return Event(time=at, source="loadgen", upstream=upstream, status=status)


def test_bin_counts_keeps_whole_bins_only() -> None:
    records = [_event(t) for t in (0.1, 0.2, 0.6, 1.1, 1.3)]  # 1.3: in a bin that never ends
    bins, counts = bin_counts(records, 0.0, 0.5, lambda r: r.upstream, at=lambda r: r.time)
    assert bins == 2 and counts == {"a": [2, 1]}
    slow = [Event(time=0.1, source="loadgen", upstream="a", duration=0.5), _event(1.2)]
    assert bin_counts(slow, 0.0, 0.5, lambda r: r.upstream)[1] == {"a": [0, 1]}  # by answer
    with pytest.raises(ValueError, match="positive"):
        bin_counts(records, 0.0, 0, lambda r: r.upstream)


def test_script_runs_its_steps_in_order_and_marks_them() -> None:
    done: list[str] = []
    with Script([(0.05, "second", lambda: done.append("b")), (0.0, "first", lambda: done.append("a"))]) as script:  # fmt: skip
        pass
    assert done == ["a", "b"] and [m.label for m in script.marks] == ["first", "second"]
    cancelled = Script([(30.0, "never", lambda: done.append("x"))])
    with cancelled:
        cancelled.cancel()
    assert "x" not in done and cancelled.marks == []


def test_a_get_is_retried_past_a_crash_but_a_post_is_not(lab: Lab) -> None:
    spare = lab.kitchen("spare")
    with CrashingKitchen("crashy") as crashy:
        waiter = lab.reverse_proxy([crashy, spare], FirstAvailable(), health_check_path=None,
                                   max_fails=0)  # type: ignore[list-item]  # fmt: skip
        diner = lab.client()
        get = diner.get(f"{waiter.url}/order")
        post = diner.post(f"{waiter.url}/order", content=b"soup")
        assert (get.status_code, post.status_code) == (200, 502)
        assert crashy.counts() == {"GET": 1, "POST": 1}
        assert wait_until(lambda: kitchen_counts(lab.events.snapshot(), "spare")["GET"] == 1)
        assert kitchen_counts(lab.events.snapshot(), "spare")["POST"] == 0
        health = f"http://{crashy.backend.host}:{crashy.backend.port}/health"
        assert diner.get(health).status_code == 200  # the process is up; only orders fail
        reckless = lab.reverse_proxy([crashy, spare], FirstAvailable(), health_check_path=None,
                                     max_fails=0, retry_non_idempotent=True)  # type: ignore[list-item]  # fmt: skip
        order = f"POST /order HTTP/1.1\r\nHost: {reckless.name}\r\nConnection: close\r\n\r\n"
        answer = raw_exchange(reckless.server.address, order.encode(), lab.addresses.you)
        assert answer.startswith(b"HTTP/1.1 200")
        assert crashy.counts()["POST"] == 2
        assert wait_until(lambda: kitchen_counts(lab.events.snapshot(), "spare")["POST"] == 1)


def test_an_outage_is_noticed_and_charted(lab: Lab) -> None:
    kitchens = lab.kitchens(3, Fixed(0.005))
    outage = run_outage(lab, kitchens, kitchens[1], duration=1.2, stop_at=0.3, start_at=0.7,
                        rate=40, check_interval=0.05, rise=2, fall=2)  # fmt: skip
    assert [m.label for m in outage.marks] == ["kitchen-b stops", "kitchen-b starts again"]
    downs = [e for e in outage.health if e.note == "down"]
    assert downs and downs[0].upstream == "kitchen-b"
    assert outage.noticed_down_after is not None and outage.noticed_down_after < 0.4
    assert outage.back_up_after is not None
    assert outage.errors <= 4  # at most the orders on the stove at the crash
    summary = outage.summary()
    assert summary["requests"] == len(outage.records) > 20
    figure = timeline(outage, 0.2)
    axes = figure.axes[0]
    assert axes.get_title() and "seconds" in axes.get_xlabel() and "bin" in axes.get_ylabel()
    assert all(t == int(t) for t in axes.get_yticks())  # whole numbers: these are counts
    labels = [t.get_text() for t in axes.get_legend().get_texts()]
    assert {"kitchen-a", "kitchen-b", "kitchen-c", "errors seen by diners"} <= set(labels)
    assert any("kitchen-b down" in t.get_text() for t in axes.texts)
    both = compare_checks({"x": outage, "y": outage})
    assert len(both.axes) == 2 and all(a.get_ylabel() for a in both.axes)
    ramp = comeback_chart({"run": outage}, kitchens=3, ramp=1.0)
    assert ramp.axes[0].lines and "%" in ramp.axes[0].get_ylabel()
