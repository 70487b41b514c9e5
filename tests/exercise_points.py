"""A small pytest plugin for ``test_exercises_b``: each graded test's points and outcome, as JSON.

Loaded into an exercise's pytest subprocess with ``-p exercise_points`` (``tests/`` on
PYTHONPATH) and ``EXERCISE_POINTS=FILE``; it writes ``{nodeid: [points, passed]}`` at the
end. (The grader has its own, richer plugin; this one keeps these tests independent of it.)
"""

from __future__ import annotations

import json
import os

import pytest

_POINTS: dict[str, float] = {}
_PASSED: dict[str, bool] = {}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        marker = item.get_closest_marker("points")
        _POINTS[item.nodeid] = float(marker.args[0]) if marker else 0.0
        _PASSED[item.nodeid] = True


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.failed or (report.when == "call" and not report.passed):
        _PASSED[report.nodeid] = False


def pytest_sessionfinish(session: pytest.Session) -> None:
    path = os.environ.get("EXERCISE_POINTS")
    if path:
        results = {nodeid: [_POINTS[nodeid], _PASSED[nodeid]] for nodeid in _POINTS}
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(results, handle)
