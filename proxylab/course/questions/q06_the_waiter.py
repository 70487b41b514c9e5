"""Questions of ``06_the_waiter.ipynb``: what the waiter hides, what it tells, where it routes."""

from __future__ import annotations

from proxylab.course.checks import Question, equals, one_of, same_items

QUESTIONS = (
    Question(
        "06.hidden_headers",
        same_items(["server", "x-powered-by"]),
        "Put the kitchen's own response headers next to those that came through the waiter: "
        "which names are missing? Give them as a list of names.",
    ),
    Question(
        "06.real_client",
        equals("127.0.0.10"),
        "Read X-Forwarded-For from the right: each proxy appends the address it was talking "
        "to. Skip the proxies you trust; a value typed by a client proves nothing.",
    ),
    Question(
        "06.route",
        one_of("bar", "the bar", "bar kitchens"),
        "The waiter looks at the Host first, and only then at the longest path prefix. "
        "Which route names that host?",
    ),
)
