"""Tests for proxylab.lab.simulate: small runs, fixed seeds, exact or clearly-separated results."""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from proxylab.errors import ConfigError
from proxylab.http.messages import Request
from proxylab.lab.simulate import (
    LatencyHistogram,
    RequestRecord,
    SimBackend,
    SimResult,
    parse_service_time,
    simulate,
)
from proxylab.reverse.balancers import (
    BALANCERS,
    Backend,
    ConsistentHash,
    LeastConnections,
    LeastLatency,
    PowerOfTwoChoices,
)


def mixed_kitchens() -> list[SimBackend]:
    """Two fast and two slow backends: where blind balancers hurt."""
    fast = [SimBackend(f"fast{i}", "exp:0.01", capacity=4) for i in (1, 2)]
    slow = [SimBackend(f"slow{i}", "exp:0.04", capacity=4) for i in (1, 2)]
    return fast + slow


def equal_kitchens(count: int = 5) -> list[SimBackend]:
    return [SimBackend(f"b{i}", "exp:0.05", capacity=4) for i in range(count)]


def longest_streak(records: list[RequestRecord]) -> int:
    """The most consecutive arrivals that went to the same backend."""
    return max(len(list(run)) for _, run in itertools.groupby(r.backend for r in records))


# --- the headline results -----------------------------------------------------------------------


def test_same_seed_same_result_other_seed_other_result() -> None:
    first = simulate("p2c", mixed_kitchens(), 2000, arrival_rate=300, seed=11)
    again = simulate("p2c", mixed_kitchens(), 2000, arrival_rate=300, seed=11)
    other = simulate("p2c", mixed_kitchens(), 2000, arrival_rate=300, seed=12)
    assert first == again
    assert first.records == again.records
    assert first.records != other.records


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_power_of_two_choices_beats_random_on_p99(seed: int) -> None:
    p2c = simulate("p2c", mixed_kitchens(), 5000, arrival_rate=350, seed=seed, records=False)
    rand = simulate("random", mixed_kitchens(), 5000, arrival_rate=350, seed=seed, records=False)
    assert p2c.p99 * 1.5 < rand.p99
    assert p2c.per_backend["fast1"] > p2c.per_backend["slow1"]  # it noticed who is fast


def test_stale_information_makes_least_connections_herd() -> None:
    fresh = simulate("least-connections", equal_kitchens(), 3000, 250, seed=7)
    stale = simulate("least-connections", equal_kitchens(), 3000, 250, seed=7, stale_info=0.5)
    assert longest_streak(fresh.records) <= 6
    assert longest_streak(stale.records) >= 50  # everyone piles onto the one that looked idle
    assert max(stale.max_queue.values()) > 10 * max(fresh.max_queue.values())
    assert stale.p99 > 2 * fresh.p99


def test_power_of_two_choices_resists_stale_information() -> None:
    stale = simulate("p2c", equal_kitchens(), 3000, 250, seed=7, stale_info=0.5)
    herded = simulate("least-connections", equal_kitchens(), 3000, 250, seed=7, stale_info=0.5)
    assert longest_streak(stale.records) < 15
    assert stale.p99 < herded.p99 / 2


# --- the balancer sees exactly what a proxy would show it ---------------------------------------


@pytest.mark.parametrize("stale", [0.0, 0.2])
def test_every_start_is_matched_by_an_end(stale: float) -> None:
    for balancer in (LeastConnections(), PowerOfTwoChoices(random.Random(1)), LeastLatency()):
        simulate(balancer, mixed_kitchens(), 1000, 300, seed=3, stale_info=stale)
        counts = balancer.in_flight.snapshot()
        assert len(counts) == 4 and set(counts.values()) == {0}


def test_on_end_gets_the_status_and_the_latency_the_client_saw() -> None:
    seen: list[tuple[str, int, float]] = []

    class Spy(LeastConnections):
        def on_end(self, backend: Backend, status: int, duration: float) -> None:
            seen.append((backend.name, status, duration))
            super().on_end(backend, status, duration)

    kitchens = [SimBackend("ok", 0.01, capacity=2), SimBackend("bad", 0.01, error_rate=1.0)]
    result = simulate(Spy(), kitchens, 200, 50, seed=1)
    assert len(seen) == 200
    assert {status for name, status, _ in seen if name == "bad"} == {500}
    assert {status for name, status, _ in seen if name == "ok"} == {200}
    assert result.errors == result.per_backend["bad"] > 0
    assert sorted(d for *_, d in seen) == sorted(r.latency for r in result.records)


@pytest.mark.parametrize("name", list(BALANCERS))
def test_every_built_in_balancer_runs_in_the_simulator(name: str) -> None:
    result = simulate(name, mixed_kitchens(), 500, 200, seed=5, paths=("/a", "/b", "/c"))
    assert result.requests == 500 == sum(result.per_backend.values())
    assert result.balancer == name


def test_round_robin_splits_evenly() -> None:
    result = simulate("round-robin", equal_kitchens(4), 1000, 100, seed=1)
    assert set(result.per_backend.values()) == {250}


def test_ip_hash_keeps_each_client_on_one_backend() -> None:
    result = simulate("ip-hash", equal_kitchens(), 2000, 100, seed=2, clients=40)
    homes: dict[str, set[str]] = {}
    for record in result.records:
        homes.setdefault(record.client, set()).add(record.backend)
    assert len(homes) == 40 and all(len(backends) == 1 for backends in homes.values())


def test_consistent_hash_on_path_keeps_each_path_on_one_backend() -> None:
    homes: dict[str, set[str]] = {}

    class Spy(ConsistentHash):
        def choose(
            self, request: Request, backends: Sequence[Backend], client_ip: str = ""
        ) -> Backend:
            backend = super().choose(request, backends, client_ip)
            homes.setdefault(request.target, set()).add(backend.name)
            return backend

    paths = [f"/item/{i}" for i in range(20)]
    simulate(Spy(key="path"), equal_kitchens(), 2000, 100, seed=2, paths=paths)
    assert sorted(homes) == sorted(paths)  # the simulator really sends those paths
    assert all(len(names) == 1 for names in homes.values())
    assert len(set.union(*homes.values())) > 1


def test_least_latency_with_error_penalty_avoids_a_fast_failing_backend() -> None:
    kitchens = [
        SimBackend("good", "exp:0.02", capacity=8),
        SimBackend("broken", 0.001, error_rate=1.0, capacity=8),
    ]
    blind = simulate(LeastLatency(), kitchens, 2000, 100, seed=4, records=False)
    wary = simulate(LeastLatency(error_penalty=1.0), kitchens, 2000, 100, seed=4, records=False)
    assert blind.per_backend["broken"] > 1500  # fast failures look like great latency
    assert wary.per_backend["broken"] < 100


# --- the model: queues, records, clients ---------------------------------------------------------


def test_records_add_up() -> None:
    result = simulate("random", mixed_kitchens(), 1500, 300, seed=9)
    assert len(result.records) == 1500
    assert [r.time for r in result.records] == sorted(r.time for r in result.records)
    for record in result.records:
        assert record.wait >= 0 and record.service >= 0
        assert record.latency == pytest.approx(record.wait + record.service)
        assert record.client.startswith("10.") and record.status == 200
    latencies = sorted(r.latency for r in result.records)
    exact_p99 = latencies[math.ceil(0.99 * len(latencies)) - 1]
    assert result.p99 == pytest.approx(exact_p99, rel=0.01)
    assert result.max_latency == latencies[-1]
    assert result.mean == pytest.approx(sum(latencies) / len(latencies))


def test_no_queue_when_capacity_suffices_and_fifo_when_it_does_not() -> None:
    roomy = simulate("round-robin", [SimBackend("a", 0.05, capacity=1000)], 300, 100, seed=1)
    assert all(r.wait == 0 and r.latency == pytest.approx(0.05) for r in roomy.records)
    tight = simulate("round-robin", [SimBackend("a", 0.05, capacity=1)], 300, 100, seed=1)
    starts = [r.time + r.wait for r in tight.records]
    assert starts == sorted(starts)  # first come, first served
    assert all(b - a >= 0.05 - 1e-9 for a, b in itertools.pairwise(starts))  # one at a time
    assert tight.max_queue["a"] > 0 and tight.p99 > roomy.p99


def test_records_false_keeps_the_same_aggregates_only() -> None:
    full = simulate("least-connections", mixed_kitchens(), 1500, 300, seed=9)
    lean = simulate("least-connections", mixed_kitchens(), 1500, 300, seed=9, records=False)
    assert lean.records == []
    assert (lean.p50, lean.p99, lean.per_backend) == (full.p50, full.p99, full.per_backend)


def test_closed_loop_users_never_have_more_than_one_request_each() -> None:
    result = simulate("round-robin", equal_kitchens(2), 1000, seed=3, users=10, think_time=0.1)
    assert result.requests == 1000
    assert len({r.client for r in result.records}) == 10
    by_user: dict[str, list[RequestRecord]] = {}
    for record in result.records:
        by_user.setdefault(record.client, []).append(record)
    for records in by_user.values():
        for earlier, later in itertools.pairwise(records):
            assert later.time >= earlier.time + earlier.latency


def test_arrival_rate_sets_the_pace() -> None:
    result = simulate("round-robin", [SimBackend("a", 0.001, capacity=10)], 5000, 1000, seed=1)
    assert 4.5 < result.elapsed < 5.5
    assert 900 < result.throughput < 1100
    assert "round-robin: 5000 requests" in result.summary()


# --- service times and the histogram ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "mean"),
    [(0.02, 0.02), ("const:0.02", 0.02), ("exp:0.02", 0.02), ("uniform:0.01:0.03", 0.02)],
)
def test_service_time_specs(spec: float | str, mean: float) -> None:
    sample = parse_service_time(spec)
    rng = random.Random(1)
    values = [sample(rng) for _ in range(4000)]
    assert sum(values) / len(values) == pytest.approx(mean, rel=0.05)
    median = sorted(parse_service_time("lognormal:0.02:0.5")(rng) for _ in range(4001))[2000]
    assert median == pytest.approx(0.02, rel=0.1)


@pytest.mark.parametrize(
    "spec", ["exp", "exp:0", "gauss:1:2", "uniform:3:1", "lognormal:-1:1", -1.0]
)
def test_bad_service_times_are_config_errors(spec: float | str) -> None:
    with pytest.raises(ConfigError):
        SimBackend("a", spec)


@pytest.mark.parametrize(
    "options",
    [
        {"requests": 0},
        {"arrival_rate": 0.0},
        {"stale_info": -1.0},
        {"clients": 0},
        {"users": 0},
        {"think_time": -0.5, "users": 2},
        {"paths": ()},
    ],
)
def test_bad_settings_are_config_errors(options: dict[str, object]) -> None:
    arguments: dict[str, object] = {"requests": 10, "arrival_rate": 10.0} | options
    with pytest.raises(ConfigError, match="simulate"):
        simulate("round-robin", equal_kitchens(), **arguments)  # type: ignore[arg-type]


def test_backends_must_exist_and_have_distinct_names() -> None:
    with pytest.raises(ConfigError, match="distinct names"):
        simulate("random", [SimBackend("a", 0.1), SimBackend("a", 0.2)], 10)
    with pytest.raises(ConfigError, match="distinct names"):
        simulate("random", [], 10)
    with pytest.raises(ConfigError, match="capacity"):
        SimBackend("a", 0.1, capacity=0)


@settings(derandomize=True, max_examples=60, deadline=None)
@given(st.lists(st.floats(min_value=1e-6, max_value=100.0), min_size=1, max_size=300))
def test_histogram_percentiles_are_within_one_percent(values: list[float]) -> None:
    histogram = LatencyHistogram()
    for value in values:
        histogram.add(value)
    ordered = sorted(values)
    for q in (0.5, 0.95, 0.99):
        exact = ordered[max(1, math.ceil(q * len(ordered))) - 1]
        assert histogram.quantile(q) == pytest.approx(exact, rel=0.011)


def test_result_is_a_plain_value() -> None:
    result = simulate("random", equal_kitchens(2), 20, seed=1)
    assert isinstance(result, SimResult)
    assert all(isinstance(record, tuple) for record in result.records)
    assert result.records[0]._fields == (
        "time",
        "client",
        "backend",
        "wait",
        "service",
        "latency",
        "status",
    )
