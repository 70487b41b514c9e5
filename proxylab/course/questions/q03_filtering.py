"""Questions of ``03_filtering.ipynb``: rules, their order, allow-lists, HTTPS and time."""

from __future__ import annotations

from typing import Any

from proxylab.course.checks import Question, equals, one_of


def _false_or_no(answer: Any) -> bool:
    """``False`` or the word "no" (and not 0, which only equals False)."""
    return answer is False or str(answer).strip().casefold() == "no"


QUESTIONS = (
    Question(
        "03.first_match",
        one_of("blocked", "block"),
        "Walk the list from the top, as the friend does, and stop at the first rule that "
        "matches the request (section 4).",
    ),
    Question(
        "03.allow_list",
        equals(2),
        "In allow-list mode a site passes only if an allow rule names it; count the sites "
        "that WORK_ONLY names (section 3).",
    ),
    Question(
        "03.https_page",
        _false_or_no,
        "What does the friend see of an HTTPS request before it opens the tunnel? Section 6 "
        "asked the policy directly.",
    ),
    Question(
        "03.lunch",
        one_of("allowed", "allow"),
        "Look at the lesson times of section 7, and at what a time window rule does when "
        "the clock is outside it.",
    ),
)
