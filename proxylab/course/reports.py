"""Reports drawn from a list of ``TestResult``: Gradescope's results.json and a plain JSON report.

Gradescope's format (gradescope-autograders.readthedocs.io, "Autograder Specifications"):
a top-level ``score`` and a ``tests`` list whose items carry ``name``, ``score``,
``max_score``, ``output``, ``visibility`` and ``status`` ("passed" or "failed"). One
item per graded test; its name says the exercise and the group, so a student sees where
the points went. The plain report keeps every field of every result plus the totals per
exercise, for any other tool (a spreadsheet, a learning platform's import).

Layer 5 (an edge).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from proxylab.course.results import TestResult

__all__ = ["gradescope_results", "plain_report", "totals", "write_json"]


def totals(results: Sequence[TestResult]) -> tuple[float, float]:
    """Points scored and points possible."""
    return sum(r.points for r in results), sum(r.max_points for r in results)


def gradescope_results(results: Sequence[TestResult], output: str = "") -> dict[str, Any]:
    """Gradescope's ``results.json`` for ``results``."""
    score, possible = totals(results)
    tests = [
        {
            "name": f"{r.exercise} / {r.group} / {r.name}",
            "number": str(index),
            "score": r.points,
            "max_score": r.max_points,
            "status": "passed" if r.passed else "failed",
            "output": r.message if not r.passed else "",
            "visibility": r.visibility,
            "tags": [r.exercise, r.group],
        }
        for index, r in enumerate(results, start=1)
    ]
    summary = output or f"{score:g} of {possible:g} points."
    return {"score": score, "output": summary, "visibility": "visible", "tests": tests}


def plain_report(results: Sequence[TestResult]) -> dict[str, Any]:
    """Every result, and the totals overall and per exercise."""
    score, possible = totals(results)
    exercises: dict[str, dict[str, float]] = {}
    for r in results:
        entry = exercises.setdefault(r.exercise, {"score": 0.0, "max_score": 0.0})
        entry["score"] += r.points
        entry["max_score"] += r.max_points
    return {
        "score": score,
        "max_score": possible,
        "exercises": exercises,
        "tests": [{**asdict(r), "passed": r.passed} for r in results],
    }


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write ``data`` as indented JSON, creating the folder if needed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
