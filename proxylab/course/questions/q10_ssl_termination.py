"""Questions of ``10_ssl_termination.ipynb``: what the kitchen learns, redirects, HSTS, handshakes."""

from __future__ import annotations

from proxylab.course.checks import Question, equals, same_text


def _is_false(answer: object) -> bool:
    return answer is False or (
        isinstance(answer, str) and answer.strip().casefold() in {"false", "no"}
    )


QUESTIONS = (
    Question(
        "10.forwarded_proto",
        same_text("https"),
        "Look at the kitchen's view in section 3: which field names the diner's scheme, and "
        "what did it say for the request to the TLS waiter?",
    ),
    Question(
        "10.redirect_post_status",
        equals(308),
        "301 lets old clients turn a POST into a GET. Which redirect status obliges the "
        "client to repeat the same method and body (RFC 9110 section 15.4)?",
    ),
    Question(
        "10.hsts_over_http",
        _is_false,
        "Reread RFC 6797 section 7.2 as quoted in section 4: who could have added the field "
        "to a plain-HTTP answer?",
    ),
    Question(
        "10.handshakes_for_100",
        equals(1),
        "A handshake happens when a TLS connection starts. How many connections did the "
        "diner open?",
    ),
)
