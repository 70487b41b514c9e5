"""What the exercise tests share: the exercise folders found, and grading them once each."""

from __future__ import annotations

from pathlib import Path

from proxylab.course.grading import Exercise, find_exercises, grade_exercise
from proxylab.course.reports import totals
from proxylab.course.results import TestResult

ROOT = Path(__file__).resolve().parents[1]
EXERCISES_DIR = ROOT / "exercises"
WRONG_SOLUTIONS = Path(__file__).resolve().parent / "wrong_solutions"

#: every exercise folder graded by pytest (the capstone is graded by its own driver)
EXERCISES: list[Exercise] = [e for e in find_exercises(EXERCISES_DIR) if not e.is_capstone]


def by_name(name: str) -> Exercise:
    return next(e for e in EXERCISES if e.name == name)


def graded(exercise: Exercise, submission: Path, **options: object) -> list[TestResult]:
    """Grade one exercise (a pytest subprocess); fail loudly if nothing was collected."""
    results = grade_exercise(exercise, submission, **options)  # type: ignore[arg-type]
    assert results and results[0].group != "collection", results[0].message
    return results


def score(results: list[TestResult]) -> tuple[float, float]:
    return totals(results)
