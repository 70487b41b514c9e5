"""Zero weights, backends that are down, bad input, threads."""

import sys
import threading
from collections import Counter

import pytest


def picks(balancer, count, available=None):
    return "".join(balancer.pick(available) for _ in range(count))


@pytest.mark.group("zero weights")
@pytest.mark.points(4)
def test_zero_weight_is_never_picked(solution):
    got = picks(solution.SmoothWeighted({"a": 0, "b": 1, "c": 2}), 9)
    assert "a" not in got, f"A backend of weight 0 is drained: never picked; got {got!r}."
    assert got == "cbc" * 3, f"Weights b=1, c=2 (a drained) should give 'cbccbccbc'; got {got!r}."


@pytest.mark.group("zero weights")
@pytest.mark.points(1)
@pytest.mark.parametrize("weights", [{}, {"a": 0}, {"a": 0, "b": 0}])
def test_nothing_to_pick_is_an_error(solution, weights):
    with pytest.raises(ValueError):
        solution.SmoothWeighted(weights).pick()


@pytest.mark.group("zero weights")
@pytest.mark.points(1)
@pytest.mark.parametrize("weights", [{"a": -1, "b": 1}, {"a": 1.5}, {"a": "2"}])
def test_bad_weights_are_an_error(solution, weights):
    with pytest.raises(ValueError):
        solution.SmoothWeighted(weights).pick()


@pytest.mark.group("backends down")
@pytest.mark.points(3)
def test_only_available_backends_take_part(solution):
    balancer = solution.SmoothWeighted({"a": 1, "b": 1, "c": 1})
    got = [balancer.pick(), balancer.pick({"a", "c"}), balancer.pick({"a", "c"})]
    got += [balancer.pick() for _ in range(3)]
    assert got == ["a", "c", "c", "b", "a", "c"], (
        f"Weights 1, 1, 1; picks: all, then twice with only a and c up, then all again. "
        f"Expected a c c b a c, got {' '.join(got)}. While b is down its current weight stays "
        "as it was, and the total subtracted is that of the backends taking part (2)."
    )


@pytest.mark.group("backends down")
@pytest.mark.points(2)
def test_unknown_and_drained_names_are_ignored(solution):
    """pick({'a', 'zz'}) with a drained and zz unknown: nothing to pick."""
    balancer = solution.SmoothWeighted({"a": 0, "b": 1})
    assert balancer.pick({"b", "zz"}) == "b", "A name not in the weights is ignored."
    with pytest.raises(ValueError):
        balancer.pick({"a", "zz"})


@pytest.mark.group("threads")
@pytest.mark.points(10)
def test_shared_between_threads(solution):
    balancer = solution.SmoothWeighted({"a": 5, "b": 1, "c": 1})
    per_thread, threads_count = 1400, 8
    counts = Counter()
    lock = threading.Lock()
    errors = []

    def work():
        mine = Counter()
        try:
            for _ in range(per_thread):
                mine[balancer.pick()] += 1
        except Exception as error:
            errors.append(f"{type(error).__name__}: {error}")
        with lock:
            counts.update(mine)

    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible: races show up here
    try:
        threads = [threading.Thread(target=work) for _ in range(threads_count)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    finally:
        sys.setswitchinterval(before)
    assert not errors, f"pick() raised under threads: {errors[0]}"
    total = per_thread * threads_count
    expected = {"a": total * 5 // 7, "b": total // 7, "c": total // 7}
    assert dict(counts) == expected, (
        f"{threads_count} threads picked {total} times in all: expected exactly {expected}, "
        f"got {dict(counts)}. Updates of the current weights were lost between threads: "
        "hold a lock for the whole pick."
    )
