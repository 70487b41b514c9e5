"""Questions of ``00_welcome.ipynb``: which proxy acts for whom."""

from __future__ import annotations

from proxylab.course.checks import Question, one_of

QUESTIONS = (
    Question(
        "00.acts_for_client",
        one_of("forward", "forward proxy"),
        "Think of the friend who phones the restaurant for you: whose side is the friend on?",
    ),
)
