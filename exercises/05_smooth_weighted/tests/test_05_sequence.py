"""The picks themselves: order, ties, shares."""

import pytest


def picks(balancer, count, available=None):
    return "".join(balancer.pick(available) for _ in range(count))


@pytest.mark.group("nginx's sequence")
@pytest.mark.points(5)
def test_five_one_one(solution):
    got = picks(solution.SmoothWeighted({"a": 5, "b": 1, "c": 1}), 14)
    assert got == "aabacaa" * 2, (
        f"Weights a=5, b=1, c=1 should give 'aabacaa' and again (nginx's smooth order); got "
        f"{got!r}. Each pick: add every weight to its current weight, pick the largest, "
        "subtract the total (7) from the winner."
    )


@pytest.mark.group("nginx's sequence")
@pytest.mark.points(3)
def test_four_two_one(solution):
    got = picks(solution.SmoothWeighted({"a": 4, "b": 2, "c": 1}), 7)
    assert got == "abacaba", f"Weights a=4, b=2, c=1 should give 'abacaba'; got {got!r}."


@pytest.mark.group("nginx's sequence")
@pytest.mark.points(3)
def test_three_two(solution):
    got = picks(solution.SmoothWeighted({"a": 3, "b": 2}), 10)
    assert got == "ababa" * 2, (
        f"Weights a=3, b=2 should give 'ababa' and again; got {got!r}: a smooth order never "
        "sends three in a row when the weights are this close."
    )


@pytest.mark.group("ties")
@pytest.mark.points(3)
def test_equal_weights_are_plain_round_robin(solution):
    got = picks(solution.SmoothWeighted({"a": 1, "b": 1, "c": 1}), 6)
    assert got == "abcabc", (
        f"Equal weights should give 'abcabc'; got {got!r}. On a tie the backend that comes "
        "FIRST in the weights wins (max() keeps the first of equals; '>=' in a loop keeps the last)."
    )


@pytest.mark.group("ties")
@pytest.mark.points(3)
def test_ties_go_to_the_first_in_order(solution):
    got = picks(solution.SmoothWeighted({"b": 2, "a": 2}), 4)
    assert got == "baba", (
        f"Weights b=2, a=2 (b listed first) should give 'baba'; got {got!r}: ties are broken "
        "by the order of the weights, not by name."
    )


@pytest.mark.group("ties")
@pytest.mark.points(2)
def test_light_backend_first_on_a_later_tie(solution):
    got = picks(solution.SmoothWeighted({"a": 1, "b": 2}), 6)
    assert got == "babbab", (
        f"Weights a=1, b=2 should give 'babbab'; got {got!r}. After 'ba', the current weights "
        "tie at 0 and 0... then add weights again: follow the algorithm exactly."
    )


@pytest.mark.group("shares")
@pytest.mark.points(2)
@pytest.mark.parametrize(
    "weights", [{"a": 5, "b": 1, "c": 1}, {"a": 7, "b": 3}, {"x": 1, "y": 9, "z": 90}]
)
def test_every_cycle_honours_the_weights_exactly(solution, weights):
    balancer = solution.SmoothWeighted(weights)
    total = sum(weights.values())
    for cycle in range(3):
        seen = picks(balancer, total)
        counts = {name: seen.count(name) for name in weights}
        assert counts == weights, (
            f"Weights {weights}: in each run of {total} picks every backend gets exactly its "
            f"weight; cycle {cycle + 1} gave {counts}."
        )
