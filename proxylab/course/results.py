"""One graded test's result, the common currency of the grader, the capstone driver and their reports.

The exercise grader (pytest on a student's module) and the capstone driver (a student's
proxy, any language, probed over sockets) both produce ``TestResult`` values; the score
table, Gradescope's ``results.json`` and the JSON report are all drawn from a list of them.

Layer 5 (an edge).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["TestResult", "Visibility"]

#: Gradescope's visibility values: when a student may see a test's result.
Visibility = Literal["visible", "hidden", "after_due_date", "after_published"]


@dataclass(frozen=True, slots=True)
class TestResult:
    """One graded test: where it belongs, its points out of ``max_points``, and what to tell the student."""

    __test__ = False  # not a pytest test class, despite the name

    exercise: str  # e.g. "01_blocklist" or "capstone"
    group: str  # the test group the points are counted in, e.g. "wildcards"
    name: str  # the test, e.g. "test_subdomain_matches"
    points: float
    max_points: float
    message: str = ""  # what failed and a hint; empty when passed
    visibility: Visibility = "visible"

    @property
    def passed(self) -> bool:
        """Full points for this test."""
        return self.points >= self.max_points
