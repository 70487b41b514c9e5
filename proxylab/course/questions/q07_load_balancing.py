"""Questions of ``07_load_balancing.ipynb``: smooth weights, least connections, hashing."""

from __future__ import annotations

from typing import Any

from proxylab.course.checks import Judge, Question, equals, one_of


def same_sequence(expected: str) -> Judge:
    """Right when the answer names the same backends in the same order: "abc", "a b c" or a list."""

    def judge(answer: Any) -> bool:
        items = list(answer) if isinstance(answer, (list, tuple)) else str(answer).split()
        if len(items) == 1:  # "abacba" written without spaces
            items = list(items[0])
        return [str(item).strip().casefold() for item in items] == list(expected)

    return judge


QUESTIONS = (
    Question(
        "07.swrr_sequence",
        same_sequence("abacba"),
        "Work the table by hand as in section 3: add each weight, pick the largest (the first "
        "on a tie), subtract the total (6) from the winner. Six picks, as a string like 'abc...'.",
    ),
    Question(
        "07.least_connections",
        one_of("a", "kitchen-a"),
        "Least connections divides the requests in flight by the weight before comparing: "
        "work out in_flight / weight for each kitchen.",
    ),
    Question(
        "07.ip_hash_kitchens",
        equals(1),
        "ip-hash looks only at the client's address, and the whole office shares one. What "
        "does a hash of the same text give each time?",
    ),
)
