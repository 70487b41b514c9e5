"""Questions of ``09_failover.ipynb``: retries, passive and active checks, slow start."""

from __future__ import annotations

from proxylab.course.checks import Question, close_to, same_items

#: The methods the question offers; the waiter retries those not in nginx's list
#: (proxylab.reverse.proxy.NON_IDEMPOTENT: POST, PATCH, LOCK).
OFFERED = ("GET", "HEAD", "PUT", "DELETE", "POST", "PATCH")

QUESTIONS = (
    Question(
        "09.retried_methods",
        same_items(["GET", "HEAD", "PUT", "DELETE"]),
        "RFC 9110 section 9.2.2: which methods have the same effect when done twice as once? "
        "Reread section 3 (the crashing kitchen): which order reached only one kitchen?",
    ),
    Question(
        "09.active_worst_case",
        close_to(6.0, 0.01),
        "The kitchen died just after a good probe. When are the next probes sent, and how "
        "many failed ones in a row does 'fall' ask for?",
    ),
    Question(
        "09.passive_back_after",
        close_to(10.0, 0.01),
        "With passive checks nobody probes: the waiter only tries the kitchen again once "
        "its time out is over. Which setting sets that time?",
    ),
    Question(
        "09.slow_start_fraction",
        close_to(0.25, 0.01),
        "Reread section 4: how does proxylab's ramp grow with the time since the kitchen "
        "was marked up?",
    ),
)
