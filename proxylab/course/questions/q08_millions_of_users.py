"""Questions of ``08_millions_of_users.ipynb``: tails, stale information, consistent hashing."""

from __future__ import annotations

from proxylab.course.checks import Question, close_to, one_of

QUESTIONS = (
    Question(
        "08.herding",
        one_of("least-connections", "least connections", "leastconn", "least_conn"),
        "Look at the staleness chart: which line climbs fastest as the load reports get "
        "older? Think about what every proxy does when they all believe the same backend is idle.",
    ),
    Question(
        "08.modulo_moves",
        close_to(0.95, 0.02),
        "With hash % n, a key stays only if hash % 19 and hash % 20 happen to agree. Follow "
        "the trend of the chart, or compute it with moved_share. A fraction, e.g. 0.5.",
    ),
    Question(
        "08.ring_moves",
        close_to(0.05, 0.02),
        "On the ring, a key moves only if it lands on an arc that the newcomer's points take "
        "over. Follow the trend of the chart, or compute it with moved_share. A fraction, e.g. 0.5.",
    ),
)
