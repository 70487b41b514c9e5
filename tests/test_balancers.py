"""Tests for proxylab.reverse.balancers: every promise the module's docstrings make."""

from __future__ import annotations

import copy
import dataclasses
import random
import threading
import zlib
from collections import Counter
from collections.abc import Sequence
from typing import Any

import pytest

from proxylab.errors import ConfigError, ServiceUnavailable
from proxylab.http.messages import Headers, Request
from proxylab.reverse.balancers import (
    BALANCERS,
    Backend,
    Balancer,
    ConsistentHash,
    InFlight,
    IpHash,
    LeastConnections,
    LeastLatency,
    PowerOfTwoChoices,
    RandomChoice,
    RoundRobin,
    SmoothWeightedRoundRobin,
    make_balancer,
    require_backends,
)

GET = Request("GET", "/")


def pool(count: int, weights: Sequence[int] | None = None) -> list[Backend]:
    weights = weights or [1] * count
    return [Backend("10.0.0.1", 8000 + i, weight=w) for i, w in enumerate(weights)]


def picks(balancer: Balancer, backends: Sequence[Backend], count: int) -> list[Backend]:
    return [balancer.choose(GET, backends) for _ in range(count)]


# --- Backend --------------------------------------------------------------------------------


def test_backend_name_defaults_to_host_port_and_has_an_address() -> None:
    backend = Backend("app.test", 8080)
    assert backend.name == "app.test:8080"
    assert backend.address == ("app.test", 8080)
    assert Backend("app.test", 8080, name="kitchen").name == "kitchen"


def test_backends_are_values() -> None:
    assert Backend("a", 1) == Backend("a", 1)
    assert hash(Backend("a", 1, 2)) == hash(Backend("a", 1, 2))
    assert Backend("a", 1) != Backend("a", 1, weight=2)
    assert len({Backend("a", 1), Backend("a", 1), Backend("b", 1)}) == 2
    with pytest.raises(AttributeError):
        Backend("a", 1).weight = 3  # type: ignore[misc]


def test_backends_keep_their_value_semantics_through_copies() -> None:
    backend = Backend("a", 1, 2, name="kitchen")
    copied = copy.deepcopy(backend)
    assert copied == backend and {backend: "here"}[copied] == "here"
    assert repr(Backend("a", 1)) == "Backend(host='a', port=1, weight=1, name='a:1')"
    assert dataclasses.replace(backend, weight=3) == Backend("a", 1, 3, name="kitchen")


@pytest.mark.parametrize("weight", [0, -1])
def test_backend_weight_must_be_positive(weight: int) -> None:
    with pytest.raises(ConfigError, match="weight must be a whole number of at least 1"):
        Backend("a", 1, weight=weight)


# --- the protocol ---------------------------------------------------------------------------


def test_registry_has_exactly_the_documented_names() -> None:
    assert list(BALANCERS) == [
        "round-robin",
        "weighted",
        "least-connections",
        "random",
        "p2c",
        "ip-hash",
        "consistent-hash",
        "least-latency",
    ]
    for name, cls in BALANCERS.items():
        assert cls.name == name


@pytest.mark.parametrize("name", list(BALANCERS))
def test_no_backend_means_503(name: str) -> None:
    balancer = make_balancer(name, rng=random.Random(1))
    with pytest.raises(ServiceUnavailable, match="No healthy backend is available.") as info:
        balancer.choose(GET, [], "10.0.0.1")
    assert info.value.status == 503


@pytest.mark.parametrize("name", list(BALANCERS))
def test_every_balancer_picks_one_of_the_backends_it_was_given(name: str) -> None:
    balancer = make_balancer(name, rng=random.Random(1))
    backends = pool(4)
    for i in range(50):
        backend = balancer.choose(Request("GET", f"/{i}"), backends, f"10.0.0.{i}")
        assert backend in backends
        balancer.on_start(backend)
        balancer.on_end(backend, 200, 0.01)


def test_a_student_balancer_is_one_small_class() -> None:
    class FirstHealthy(Balancer):
        name = "first"

        def choose(
            self, request: Request, backends: Sequence[Backend], client_ip: str = ""
        ) -> Backend:
            require_backends(backends)
            return backends[0]

    balancer = FirstHealthy()
    backends = pool(3)
    assert balancer.choose(GET, backends) == backends[0]
    balancer.on_start(backends[0])  # the default notifications are harmless no-ops
    balancer.on_end(backends[0], 200, 0.1)
    with pytest.raises(ServiceUnavailable):
        balancer.choose(GET, [])


# --- round robin and smooth weighted round robin -------------------------------------------


def test_round_robin_takes_turns() -> None:
    backends = pool(3)
    chosen = picks(RoundRobin(), backends, 30)
    assert Counter(chosen) == {backends[0]: 10, backends[1]: 10, backends[2]: 10}
    assert chosen[:6] == backends + backends


def test_round_robin_carries_on_when_the_list_shrinks() -> None:
    balancer, backends = RoundRobin(), pool(3)
    picks(balancer, backends, 2)
    survivors = backends[:2]
    assert Counter(picks(balancer, survivors, 10)) == {survivors[0]: 5, survivors[1]: 5}


def test_smooth_weighted_round_robin_matches_nginx() -> None:
    a, b, c = (Backend(host, 80, weight=w) for host, w in (("a", 5), ("b", 1), ("c", 1)))
    sequence = "".join(backend.host for backend in picks(SmoothWeightedRoundRobin(), [a, b, c], 21))
    assert sequence == "aabacaa" * 3


def test_smooth_weighted_round_robin_gives_shares_by_weight() -> None:
    backends = pool(3, [3, 2, 1])
    counts = Counter(picks(SmoothWeightedRoundRobin(), backends, 600))
    assert [counts[b] for b in backends] == [300, 200, 100]


def test_smooth_weighted_round_robin_with_equal_weights_is_round_robin() -> None:
    backends = pool(3)
    assert picks(SmoothWeightedRoundRobin(), backends, 6) == backends + backends


# --- least connections ------------------------------------------------------------------------


def test_least_connections_avoids_the_busier_backend() -> None:
    balancer, (a, b, c) = LeastConnections(), pool(3)
    for backend in (a, a, b, c):
        balancer.on_start(backend)
    assert {balancer.choose(GET, [a, b, c]) for _ in range(5)} <= {b, c}
    balancer.on_start(b)
    assert balancer.choose(GET, [a, b, c]) == c
    balancer.on_end(a, 200, 0.1)
    balancer.on_end(a, 200, 0.1)
    assert balancer.choose(GET, [a, b, c]) == a


def test_least_connections_divides_by_weight() -> None:
    balancer = LeastConnections()
    light, heavy = Backend("light", 80), Backend("heavy", 80, weight=4)
    for _ in range(3):
        balancer.on_start(heavy)  # 3 / 4 in flight per unit of weight
    balancer.on_start(light)  # 1 / 1
    assert balancer.choose(GET, [light, heavy]) == heavy


def test_least_connections_breaks_ties_round_robin() -> None:
    backends = pool(3)
    assert picks(LeastConnections(), backends, 6) == backends + backends


def test_in_flight_never_goes_negative() -> None:
    counts, backend = InFlight(), Backend("a", 1)
    counts.end(backend)
    counts.start(backend)
    assert counts.counts([backend]) == [1]
    counts.end(backend)
    counts.end(backend)
    assert counts.snapshot() == {backend: 0}


# --- random and power of two choices ----------------------------------------------------------


def test_random_is_repeatable_with_a_seed_and_weighted() -> None:
    backends = pool(3, [1, 1, 2])
    first = picks(RandomChoice(random.Random(5)), backends, 4000)
    assert first == picks(RandomChoice(random.Random(5)), backends, 4000)
    counts = Counter(first)
    assert 0.45 < counts[backends[2]] / 4000 < 0.55
    assert 0.2 < counts[backends[0]] / 4000 < 0.3


def test_p2c_never_picks_the_busier_of_its_two_draws() -> None:
    rng = random.Random(42)
    balancer = PowerOfTwoChoices(random.Random(7))
    backends = pool(10, [1, 2, 1, 3, 1, 1, 2, 1, 1, 1])
    for backend in backends:
        for _ in range(rng.randrange(6)):
            balancer.on_start(backend)
    for _ in range(5000):
        chosen = balancer.choose(GET, backends)
        assert balancer.last_draw is not None
        first, second = balancer.last_draw
        assert first != second and chosen in (first, second)
        other = second if chosen == first else first
        load = dict(zip(backends, balancer.in_flight.counts(backends), strict=True))
        assert load[chosen] / chosen.weight <= load[other] / other.weight
        balancer.on_start(chosen)  # keep the loads moving
        if rng.random() < 0.5:
            balancer.on_end(rng.choice(backends), 200, 0.01)


def test_p2c_draws_every_pair_and_handles_one_backend() -> None:
    balancer, backends = PowerOfTwoChoices(random.Random(3)), pool(4)
    pairs = set()
    for _ in range(500):
        balancer.choose(GET, backends)
        assert balancer.last_draw is not None
        pairs.add(frozenset(balancer.last_draw))
    assert len(pairs) == 6  # all 4-choose-2 pairs
    assert balancer.choose(GET, backends[:1]) == backends[0]


# --- hashing ----------------------------------------------------------------------------------


def test_ip_hash_is_stable_per_client_and_across_instances() -> None:
    backends = pool(5)
    clients = [f"192.0.2.{i}" for i in range(200)]
    first = [IpHash().choose(GET, backends, ip) for ip in clients]
    assert first == [IpHash().choose(GET, backends, ip) for ip in clients]
    assert len(set(first)) == 5
    assert first[0] == backends[zlib.crc32(b"192.0.2.0") % 5]  # not the salted hash()


def keys_moved(balancer: Balancer, before: list[Backend], after: list[Backend]) -> float:
    clients = [f"10.{i // 256}.{i % 256}.7" for i in range(10_000)]
    moved = sum(
        balancer.choose(GET, before, ip) != balancer.choose(GET, after, ip) for ip in clients
    )
    return moved / len(clients)


def test_consistent_hash_moves_about_one_nth_of_keys() -> None:
    backends = pool(11)
    ten, eleven = backends[:10], backends
    assert 0.05 < keys_moved(ConsistentHash(), ten, ten[:9]) < 0.2  # remove one of ten
    assert 0.05 < keys_moved(ConsistentHash(), ten, eleven) < 0.2  # add one to ten
    assert keys_moved(IpHash(), ten, ten[:9]) > 0.5  # plain modulo: most keys move
    assert keys_moved(IpHash(), ten, eleven) > 0.5


def test_consistent_hash_spreads_keys_by_weight_and_ignores_order() -> None:
    balancer, backends = ConsistentHash(), pool(3, [1, 1, 2])
    counts = Counter(
        balancer.choose(GET, backends, f"10.1.{i // 256}.{i % 256}") for i in range(8000)
    )
    assert 0.4 < counts[backends[2]] / 8000 < 0.6
    reordered = backends[::-1]
    for i in range(200):
        ip = f"10.2.0.{i}"
        assert balancer.choose(GET, backends, ip) == balancer.choose(GET, reordered, ip)


def test_consistent_hash_key_from_header() -> None:
    balancer, backends = ConsistentHash(key="header:X-User"), pool(6)
    request = Request("GET", "/", Headers([("x-user", "alice")]))
    chosen = {balancer.choose(request, backends, f"10.0.0.{i}") for i in range(50)}
    assert len(chosen) == 1  # the same user wherever they come from
    assert balancer.key_of(request, "10.0.0.1") == "alice"
    assert balancer.key_of(GET, "10.0.0.1") == "10.0.0.1"  # no header: the client address


def test_consistent_hash_key_from_cookie() -> None:
    balancer = ConsistentHash(key="cookie:session")
    request = Request("GET", "/", Headers([("Cookie", "theme=dark; session=abc123; x=1")]))
    assert balancer.key_of(request, "10.0.0.1") == "abc123"
    two_lines = Request("GET", "/", Headers([("Cookie", "a=1"), ("Cookie", "session=s2")]))
    assert balancer.key_of(two_lines, "10.0.0.1") == "s2"
    other = Request("GET", "/", Headers([("Cookie", "Session=nope")]))  # names are case-sensitive
    assert balancer.key_of(other, "10.0.0.1") == "10.0.0.1"


def test_consistent_hash_key_from_path_ignores_the_query() -> None:
    balancer, backends = ConsistentHash(key="path"), pool(6)
    assert balancer.key_of(Request("GET", "/img/cat.png?size=2"), "10.0.0.1") == "/img/cat.png"
    same = {
        balancer.choose(Request("GET", f"/a?v={i}"), backends, f"10.0.0.{i}") for i in range(30)
    }
    assert len(same) == 1
    spread = {balancer.choose(Request("GET", f"/page/{i}"), backends) for i in range(300)}
    assert spread == set(backends)


@pytest.mark.parametrize("key", ["ip", "header:", "cookie", "query:x", ""])
def test_consistent_hash_rejects_unknown_keys(key: str) -> None:
    with pytest.raises(ConfigError, match="client-ip"):
        ConsistentHash(key=key)


# --- least latency ----------------------------------------------------------------------------


def serve(
    balancer: Balancer, backends: list[Backend], duration_of: dict[Backend, float]
) -> Backend:
    backend = balancer.choose(GET, backends)
    balancer.on_start(backend)
    balancer.on_end(backend, 200, duration_of[backend])
    return backend


def test_least_latency_tries_unknown_backends_first() -> None:
    balancer, backends = LeastLatency(), pool(3)
    durations = dict.fromkeys(backends, 0.01)
    assert [serve(balancer, backends, durations) for _ in range(3)] == backends


def test_least_latency_moves_away_from_a_backend_that_slows_down() -> None:
    balancer, (a, b) = LeastLatency(decay=0.5), pool(2)
    durations = {a: 0.020, b: 0.010}
    assert Counter(serve(balancer, [a, b], durations) for _ in range(20))[b] >= 19
    for step in range(20):  # b grows slower and slower
        durations[b] = 0.010 * (step + 2)
        serve(balancer, [a, b], durations)
    assert Counter(serve(balancer, [a, b], durations) for _ in range(50))[a] >= 48
    average = balancer.average(b)
    assert average is not None and average > 0.02


def test_least_latency_ties_go_to_fewer_in_flight() -> None:
    balancer, (a, b) = LeastLatency(), pool(2)
    balancer.on_end(a, 200, 0.01)
    balancer.on_end(b, 200, 0.01)
    balancer.on_start(a)
    assert balancer.choose(GET, [a, b]) == b


def test_least_latency_waiting_for_a_first_answer_counts_as_slowest() -> None:
    balancer, (a, b, c) = LeastLatency(), pool(3)
    balancer.on_end(a, 200, 0.05)
    balancer.on_end(b, 200, 0.01)
    balancer.on_start(c)  # c is untried but busy: it must not take every request meanwhile
    assert balancer.choose(GET, [a, b, c]) == b


def test_peak_ewma_believes_bad_news_at_once_and_counts_in_flight() -> None:
    balancer, (a, b) = LeastLatency(peak=True), pool(2)
    balancer.on_end(a, 200, 0.010)
    balancer.on_end(b, 200, 0.015)
    balancer.on_end(a, 200, 0.100)  # one slow answer and a is at 100 ms, not 37 ms
    assert balancer.average(a) == pytest.approx(0.100)
    assert balancer.choose(GET, [a, b]) == b
    for _ in range(10):
        balancer.on_start(b)  # 11 x 15 ms > 1 x 100 ms: the in-flight factor wins
    assert balancer.choose(GET, [a, b]) == a


def test_least_latency_error_penalty_pushes_failing_backends_away() -> None:
    balancer, (a, b) = LeastLatency(error_penalty=1.0), pool(2)
    balancer.on_end(a, 500, 0.001)  # fails fast: without a penalty it would look best
    balancer.on_end(b, 200, 0.050)
    assert balancer.choose(GET, [a, b]) == b
    assert balancer.average(a) == pytest.approx(1.001)


@pytest.mark.parametrize("options", [{"decay": 0.0}, {"decay": 1.5}, {"error_penalty": -1.0}])
def test_least_latency_rejects_bad_options(options: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        LeastLatency(**options)


# --- thread safety ----------------------------------------------------------------------------


def hammer(
    balancer: Balancer, backends: list[Backend], threads: int = 8, rounds: int = 400
) -> Counter[Backend]:
    chosen: Counter[Backend] = Counter()
    lock = threading.Lock()
    barrier = threading.Barrier(threads)

    def worker(seed: int) -> None:
        local: Counter[Backend] = Counter()
        barrier.wait()
        for i in range(rounds):
            backend = balancer.choose(GET, backends, f"10.0.{seed}.{i % 250}")
            balancer.on_start(backend)
            balancer.on_end(backend, 200 if i % 7 else 503, 0.001 * (i % 5))
            local[backend] += 1
        with lock:
            chosen.update(local)

    workers = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    return chosen


@pytest.mark.parametrize(
    "balancer",
    [LeastConnections(), PowerOfTwoChoices(random.Random(1)), LeastLatency(peak=True)],
    ids=["least-connections", "p2c", "least-latency"],
)
def test_in_flight_counts_return_to_zero_under_many_threads(
    balancer: LeastConnections | PowerOfTwoChoices | LeastLatency,
) -> None:
    backends = pool(4)
    assert sum(hammer(balancer, backends).values()) == 8 * 400
    assert set(balancer.in_flight.snapshot().values()) == {0}


def test_round_robin_counts_stay_exact_under_many_threads() -> None:
    backends = pool(4)
    assert set(hammer(RoundRobin(), backends).values()) == {800}


def test_smooth_weighted_shares_stay_exact_under_many_threads() -> None:
    backends = pool(3, [5, 1, 1])
    counts = hammer(SmoothWeightedRoundRobin(), backends, threads=7, rounds=700)
    assert [counts[b] for b in backends] == [3500, 700, 700]


# --- make_balancer ----------------------------------------------------------------------------


def test_make_balancer_builds_each_class_and_passes_options() -> None:
    for name, cls in BALANCERS.items():
        assert type(make_balancer(name, rng=random.Random(1))) is cls
    balancer = make_balancer("consistent-hash", key="path")
    assert isinstance(balancer, ConsistentHash)
    assert balancer.key_of(Request("GET", "/x?y"), "1.2.3.4") == "/x"
    latency = make_balancer("least-latency", decay=0.5, peak=True)
    assert isinstance(latency, LeastLatency) and latency.peak and latency.decay == 0.5


def test_make_balancer_hands_the_rng_to_random_balancers() -> None:
    backends = pool(5)
    for name in ("random", "p2c"):
        one = make_balancer(name, rng=random.Random(9))
        two = make_balancer(name, rng=random.Random(9))
        assert picks(one, backends, 100) == picks(two, backends, 100)


def test_make_balancer_rejects_unknown_names_listing_the_choices() -> None:
    with pytest.raises(ConfigError, match="Unknown balancer 'fastest'") as info:
        make_balancer("fastest")
    for name in BALANCERS:
        assert name in info.value.message


def test_make_balancer_rejects_unknown_options() -> None:
    with pytest.raises(ConfigError, match="does not take colour"):
        make_balancer("round-robin", colour="blue")
    with pytest.raises(ConfigError, match="it takes decay, peak, error_penalty"):
        make_balancer("least-latency", window=3)
