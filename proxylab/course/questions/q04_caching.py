"""Questions of ``04_caching.ipynb``: freshness by hand, what a shared cache may store, the herd."""

from __future__ import annotations

from typing import Any

from proxylab.course.checks import Question, equals, same_items

#: Letters of the responses in "04.storable" a shared cache may keep.
_STORABLE = ("c", "d")


def _pair(expected: tuple[int, int]) -> Any:
    """Right when the answer is these two numbers in this order (a tuple or a list)."""
    return lambda answer: tuple(int(n) for n in answer) == expected and len(answer) == 2


QUESTIONS = (
    Question(
        "04.lifetime",
        equals(60),
        "Work down the list of RFC 9111 section 4.2.1 and stop at the first field that is "
        "there. Remember that the friend is a shared cache.",
    ),
    Question(
        "04.heuristic",
        equals(43200),
        "With no explicit freshness the cache guesses from how long the page has stayed the "
        "same (Date - Last-Modified). Use the fraction from the freshness section, and "
        "answer in seconds.",
    ),
    Question(
        "04.storable",
        same_items(_STORABLE),
        "Storing and reusing are two questions. One of these directives allows storing "
        "but not reusing without asking; another is about whose cache may keep it; and a "
        "request with credentials needs the origin's explicit permission (RFC 9111 3.5).",
    ),
    Question(
        "04.herd",
        _pair((1, 50)),
        "With collapsing, the first miss leads and the crowd waits for it; without, every "
        "user of the crowd misses on its own. Compare the first two bars of the herd chart "
        "and scale to this crowd.",
    ),
)
