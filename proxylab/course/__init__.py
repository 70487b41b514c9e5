"""The course: the in-notebook checker, the exercise grader and the capstone driver.

``check`` judges a notebook's "Check yourself" answers (feedback, no marks); the grader
(``proxylab grade``) scores exercises for Gradescope, GitHub Classroom or a terminal.
"""

from proxylab.course.checks import CheckResult, Question, check
from proxylab.course.results import TestResult
from proxylab.course.views import table, wire

__all__ = ["CheckResult", "Question", "TestResult", "check", "table", "wire"]
