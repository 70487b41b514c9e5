"""The in-notebook checker: a lesson's "Check yourself" questions, answered in code, checked at once.

A student answers a question with a value (``check("02.levels", {"elite"})``) and sees a
green tick, or a hint that points back to the part of the lesson to reread. The expected
answer is never printed: the question knows how to *judge* an answer (``equals``,
``close_to``, ``same_items`` ...), and the hint says where to look, not what to type. This
is the idea of otter-grader's ``grader.check``, for feedback rather than marks (marks are
the exercises' business, see ``proxylab grade``).

Key ideas:
- A question is a value: an id (``"NN.name"``, NN the notebook's number), a judge and a
  hint. Each notebook's questions live in their own module under ``course.questions``, so
  writing a lesson never touches another lesson's file.
- ``check`` returns a ``CheckResult``: true when right, shown as HTML in Jupyter and as a
  line of text elsewhere, so the same call works in a notebook, a script and a test.

Layer 5 (an edge): imports nothing from the proxies.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

__all__ = [
    "CheckResult",
    "Judge",
    "Question",
    "check",
    "close_to",
    "equals",
    "one_of",
    "same_items",
    "same_text",
]

#: A judge: given the student's answer, is it right?
Judge = Callable[[Any], bool]


@dataclass(frozen=True, slots=True)
class Question:
    """One "Check yourself" question: ``judge(answer)`` says right or wrong; ``hint`` helps after a miss."""

    id: str
    judge: Judge
    hint: str


@dataclass(frozen=True, slots=True)
class CheckResult:
    """What ``check`` found: ``passed`` (also the truth value) and the message a student sees."""

    question: str
    passed: bool
    message: str

    def __bool__(self) -> bool:
        return self.passed

    def __str__(self) -> str:
        mark = "\N{CHECK MARK} right" if self.passed else "\N{BALLOT X} not yet"
        return f"{self.question}: {mark}. {self.message}".rstrip()

    def _repr_html_(self) -> str:
        colour, mark = ("#2a7d2a", "\N{CHECK MARK}") if self.passed else ("#b3261e", "\N{BALLOT X}")
        return (
            f'<div style="color:{colour};font-size:1.1em"><b>{mark} {html.escape(self.question)}'
            f"</b> {html.escape(self.message)}</div>"
        )

    def __repr__(self) -> str:
        return str(self)


def check(question_id: str, answer: Any) -> CheckResult:
    """Judge ``answer`` to the question ``question_id`` (e.g. ``"02.levels"``).

    An unknown id is a ``KeyError`` naming the ids that exist, since a typo must not look
    like a wrong answer. A judge that fails on an answer of the wrong type counts as wrong.
    """
    from proxylab.course.questions import all_questions

    questions = all_questions()
    if question_id not in questions:
        known = ", ".join(sorted(questions))
        raise KeyError(f"No question {question_id!r}. The questions are: {known}")
    question = questions[question_id]
    try:
        passed = bool(question.judge(answer))
    except (TypeError, ValueError, AttributeError, KeyError):
        passed = False
    return CheckResult(question_id, passed, "Well done." if passed else f"Hint: {question.hint}")


# -- judges: how an answer is compared with the expected one ------------------------------
def equals(expected: Any) -> Judge:
    """Right when the answer ``== expected`` (numbers: ``3 == 3.0``; strings exactly)."""
    return lambda answer: bool(answer == expected)


def same_text(expected: str) -> Judge:
    """Right when the answer is the same text, ignoring case and surrounding spaces."""
    return lambda answer: str(answer).strip().casefold() == expected.strip().casefold()


def one_of(*accepted: Any) -> Judge:
    """Right when the answer is any of ``accepted`` (strings compared without case or spaces)."""
    norm = {_norm(a) for a in accepted}
    return lambda answer: _norm(answer) in norm


def close_to(expected: float, tolerance: float) -> Judge:
    """Right when a number within ``tolerance`` (absolute) of ``expected``."""
    return lambda answer: math.isclose(float(answer), expected, rel_tol=0, abs_tol=tolerance)


def same_items(expected: Iterable[Any]) -> Judge:
    """Right when the answer holds exactly these items, in any order (strings without case)."""
    want = sorted(_norm(item) for item in expected)
    return lambda answer: sorted(_norm(item) for item in answer) == want


def _norm(value: Any) -> Any:
    return value.strip().casefold() if isinstance(value, str) else value
