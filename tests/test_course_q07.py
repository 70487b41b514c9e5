"""Questions of 07_load_balancing: right answers (from the balancers themselves) pass, wrong fail."""

from __future__ import annotations

from proxylab.course.balancing_lab import swrr_by_hand
from proxylab.course.checks import check
from proxylab.course.questions import all_questions
from proxylab.http.messages import Request
from proxylab.reverse.balancers import Backend, IpHash, LeastConnections, SmoothWeightedRoundRobin

REQUEST = Request("GET", "/")


def test_swrr_sequence_is_what_the_balancer_picks() -> None:
    pool = [Backend("10.0.0.1", 80, w, name) for name, w in (("a", 3), ("b", 2), ("c", 1))]
    balancer = SmoothWeightedRoundRobin()
    picks = [balancer.choose(REQUEST, pool).name for _ in range(6)]
    assert picks == [row["chosen"] for row in swrr_by_hand({"a": 3, "b": 2, "c": 1}, 6)]
    assert check("07.swrr_sequence", "".join(picks))
    assert check("07.swrr_sequence", " ".join(picks).upper())
    assert check("07.swrr_sequence", picks)
    assert not check("07.swrr_sequence", "aaabbc")  # the lumpy order
    assert not check("07.swrr_sequence", picks[:5])
    assert not check("07.swrr_sequence", None)


def test_least_connections_answer_is_the_balancers_pick() -> None:
    pool = [Backend("10.0.0.1", 80, w, name) for name, w in (("a", 4), ("b", 1), ("c", 1))]
    balancer = LeastConnections()
    for backend, in_flight in zip(pool, (3, 2, 1), strict=True):
        for _ in range(in_flight):
            balancer.on_start(backend)
    chosen = balancer.choose(REQUEST, pool).name
    assert check("07.least_connections", chosen)
    assert check("07.least_connections", f"kitchen-{chosen}")
    assert not check("07.least_connections", "c")  # fewest in flight, ignoring weights


def test_ip_hash_sends_one_address_to_one_kitchen() -> None:
    pool = [Backend("10.0.0.1", 80 + n, name=f"k{n}") for n in range(3)]
    kitchens = {IpHash().choose(REQUEST, pool, "198.51.100.7").name for _ in range(50)}
    assert check("07.ip_hash_kitchens", len(kitchens))
    assert not check("07.ip_hash_kitchens", 3)


def test_hints_do_not_give_the_answers_away() -> None:
    questions = all_questions()
    assert "abacba" not in questions["07.swrr_sequence"].hint.replace(" ", "")
    assert "kitchen-a" not in questions["07.least_connections"].hint
