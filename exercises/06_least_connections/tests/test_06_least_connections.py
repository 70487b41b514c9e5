"""Graded tests for exercise 06: least connections and power of two choices."""

from __future__ import annotations

import random
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import pytest


class ScriptedRandom(random.Random):
    """A generator whose ``randrange`` answers are given in advance (and checked)."""

    def __init__(self, answers: list[tuple[int, int]]) -> None:
        super().__init__(0)
        self.answers = list(answers)  # (expected n, value returned)
        self.calls: list[int] = []

    def randrange(self, start: int, stop: int | None = None, step: int = 1) -> int:  # type: ignore[override]
        n = start if stop is None else stop - start
        self.calls.append(n)
        assert self.answers, f"rng.randrange was called more often than twice (calls: {self.calls})"
        expected, value = self.answers.pop(0)
        assert n == expected, (
            f"rng.randrange({n}) was called where randrange({expected}) was expected: "
            "draw i = rng.randrange(n), then j = rng.randrange(n - 1) (see README)"
        )
        return value


def started(balancer: object, **loads: int) -> None:
    for name, count in loads.items():
        for _ in range(count):
            balancer.start(name)  # type: ignore[attr-defined]


@pytest.fixture
def busy_threads() -> Iterator[None]:
    """Switch threads very often, so that an unguarded read-modify-write loses updates."""
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(old)


# --- least connections ------------------------------------------------------------------


@pytest.mark.points(2)
@pytest.mark.group("least_connections")
def test_fewest_in_flight_wins(solution: ModuleType) -> None:
    lc = solution.LeastConnections({"a": 1, "b": 1, "c": 1})
    started(lc, a=2, b=1)
    assert lc.pick() == "c", "a has 2 in flight, b 1 and c 0: pick() must return c"
    started(lc, c=2)
    assert lc.pick() == "b", "now a has 2, b 1, c 2 in flight: pick() must return b"


@pytest.mark.points(2)
@pytest.mark.group("least_connections")
def test_counts_follow_start_and_end(solution: ModuleType) -> None:
    lc = solution.LeastConnections({"a": 1, "b": 1})
    started(lc, a=3)
    lc.end("a")
    assert lc.in_flight("a") == 2, "3 starts and 1 end at a leave 2 in flight"
    assert lc.in_flight("b") == 0, "b never started a request: 0 in flight"
    lc.end("b")
    assert lc.in_flight("b") == 0, "an end() without a start() must not make the count negative"


@pytest.mark.points(1)
@pytest.mark.group("least_connections")
def test_unknown_backend_is_a_key_error(solution: ModuleType) -> None:
    lc = solution.LeastConnections({"a": 1})
    for call in (lc.start, lc.end, lc.in_flight):
        with pytest.raises(KeyError):
            call("nope")


@pytest.mark.points(2)
@pytest.mark.group("ties")
def test_idle_pool_takes_turns(solution: ModuleType) -> None:
    lc = solution.LeastConnections({"a": 1, "b": 1, "c": 1})
    picks = [lc.pick() for _ in range(6)]
    assert picks == list("abcabc"), (
        f"with nothing in flight every backend ties; picks were {picks}, expected a b c a b c "
        "(scan from just after the previous pick)"
    )


@pytest.mark.points(2)
@pytest.mark.group("ties")
def test_tie_scan_starts_after_previous_pick(solution: ModuleType) -> None:
    lc = solution.LeastConnections({"a": 1, "b": 1, "c": 1})
    started(lc, a=1)
    picks = [lc.pick() for _ in range(3)]
    assert picks == ["b", "c", "b"], (
        f"a is busy, b and c tie at 0; picks were {picks}, expected b c b: after b the scan "
        "starts at c, after c it wraps to a (busy) and then b"
    )


@pytest.mark.points(2)
@pytest.mark.group("weights")
def test_load_is_per_unit_of_weight(solution: ModuleType) -> None:
    lc = solution.LeastConnections({"a": 3, "b": 1})
    started(lc, a=2, b=1)
    assert lc.pick() == "a", "a: 2 in flight / weight 3 = 0.67 is less than b: 1 / 1 = 1.0"


@pytest.mark.points(2)
@pytest.mark.group("weights")
def test_shares_follow_weights(solution: ModuleType) -> None:
    lc = solution.LeastConnections({"a": 3, "b": 1, "c": 0, "d": 2})
    for _ in range(600):
        lc.start(lc.pick())
    counts = {name: lc.in_flight(name) for name in "abcd"}
    assert counts == {"a": 300, "b": 100, "c": 0, "d": 200}, (
        f"600 requests that never end should split 3:1:0:2 like the weights; got {counts}"
    )


@pytest.mark.points(2)
@pytest.mark.group("weights")
def test_zero_weight_is_drained(solution: ModuleType) -> None:
    lc = solution.LeastConnections({"a": 0, "b": 1})
    started(lc, b=5)
    assert lc.pick() == "b", "a has weight 0 (drained): it must never be picked, even when idle"
    lc.start("a")
    assert lc.in_flight("a") == 1, "a drained backend still counts its requests in flight"


@pytest.mark.points(1)
@pytest.mark.group("weights")
def test_bad_weights_refused(solution: ModuleType) -> None:
    for weights in ({"a": 0, "b": 0}, {}, {"a": -1, "b": 1}, {"a": 1.5}):
        with pytest.raises(ValueError):
            solution.LeastConnections(weights)


@pytest.mark.points(4)
@pytest.mark.group("concurrency")
def test_counts_exact_under_threads(solution: ModuleType, busy_threads: None) -> None:
    per_thread, threads = 2000, 8
    for _ in range(5):  # a race shows up only now and then: give it several chances
        lc = solution.LeastConnections({"a": 1, "b": 1, "c": 1, "d": 1})
        picked: list[list[str]] = [[] for _ in range(threads)]

        def starts(mine: list[str], lc: Any = lc) -> None:
            for _ in range(per_thread):
                name = lc.pick()
                lc.start(name)
                mine.append(name)

        run_together([lambda m=m: starts(m) for m in picked])
        total = sum(lc.in_flight(name) for name in "abcd")
        assert total == per_thread * threads, (
            f"{threads} threads started {per_thread * threads} requests but the counts add up "
            f"to {total}: guard the counts with a threading.Lock"
        )
        run_together([lambda m=m, lc=lc: [lc.end(name) for name in m] for m in picked])
        left = {name: lc.in_flight(name) for name in "abcd"}
        assert left == dict.fromkeys("abcd", 0), (
            f"every request ended, from {threads} threads at once, yet the counts are {left}: "
            "guard the counts with a threading.Lock"
        )


def run_together(targets: list[Callable[[], object]]) -> None:
    """Run each target in its own thread, all released at the same moment."""
    barrier = threading.Barrier(len(targets))

    def go(target: Callable[[], object]) -> None:
        barrier.wait()
        target()

    workers = [threading.Thread(target=go, args=(target,)) for target in targets]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()


# --- power of two choices ---------------------------------------------------------------


@pytest.mark.points(2)
@pytest.mark.group("power_of_two")
def test_less_loaded_of_the_two_draws(solution: ModuleType) -> None:
    rng = ScriptedRandom([(4, 0), (3, 2)])  # i = 0 (a); j = 2, which is >= 0, so 3 (d)
    p2 = solution.PowerOfTwo({"a": 1, "b": 1, "c": 1, "d": 1}, rng)
    started(p2, a=2, b=0, c=0, d=1)
    assert p2.pick() == "d", "the draws were a (2 in flight) and d (1): the less loaded d wins"


@pytest.mark.points(2)
@pytest.mark.group("power_of_two")
def test_second_draw_skips_the_first(solution: ModuleType) -> None:
    rng = ScriptedRandom([(3, 1), (2, 1)])  # i = 1 (b); j = 1 >= 1, so 2 (c)
    p2 = solution.PowerOfTwo({"a": 1, "b": 1, "c": 1}, rng)
    started(p2, a=0, b=1, c=0)
    got = p2.pick()
    assert got == "c", (
        f"got {got}: i = 1 is b; j = randrange(2) = 1, and since j >= i it becomes 2, c. "
        "The second draw must never be the first backend again"
    )


@pytest.mark.points(1)
@pytest.mark.group("power_of_two")
def test_tie_goes_to_first_draw(solution: ModuleType) -> None:
    rng = ScriptedRandom([(3, 2), (2, 0)])  # i = 2 (c); j = 0 (a)
    p2 = solution.PowerOfTwo({"a": 1, "b": 1, "c": 1}, rng)
    started(p2, a=1, c=1)
    assert p2.pick() == "c", "c and a both have 1 in flight: on a tie the first draw (c) wins"


@pytest.mark.points(1)
@pytest.mark.group("power_of_two")
def test_draws_compare_load_per_weight(solution: ModuleType) -> None:
    rng = ScriptedRandom([(2, 1), (1, 0)])  # i = 1 (b); j = 0 (a)
    p2 = solution.PowerOfTwo({"a": 2, "b": 1}, rng)
    started(p2, a=3, b=2)
    assert p2.pick() == "a", "a: 3 / weight 2 = 1.5 is less loaded than b: 2 / 1 = 2.0"


@pytest.mark.points(1)
@pytest.mark.group("power_of_two")
def test_single_backend_needs_no_draw(solution: ModuleType) -> None:
    rng = ScriptedRandom([])
    p2 = solution.PowerOfTwo({"a": 0, "b": 4}, rng)
    assert p2.pick() == "b", "only b has a weight above 0"
    assert rng.calls == [], f"with one pickable backend, do not draw (randrange calls: {rng.calls})"


@pytest.mark.points(1)
@pytest.mark.group("power_of_two")
def test_drained_backends_are_not_drawn(solution: ModuleType) -> None:
    rng = ScriptedRandom([(2, 0), (1, 0)])  # among b and c only: i = 0 (b), j = 0 -> 1 (c)
    p2 = solution.PowerOfTwo({"a": 0, "b": 1, "c": 1}, rng)
    started(p2, b=1)
    assert p2.pick() == "c", "a is drained, so n = 2: the draws are b and c, and c is idle"


@pytest.mark.points(2)
@pytest.mark.group("power_of_two")
def test_never_the_busiest(solution: ModuleType) -> None:
    p2 = solution.PowerOfTwo({name: 1 for name in "abcde"}, random.Random(7))
    started(p2, a=1, b=2, c=3, d=4, e=9)
    picks = Counter(p2.pick() for _ in range(2000))
    assert picks["e"] == 0, "e is the busiest of all: it loses against any other draw"
    assert picks["a"] > picks["d"] > 0, (
        f"picks {dict(picks)}: the idlest (a) should win most often, and d (beats only e) sometimes"
    )
