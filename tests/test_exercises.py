"""Every exercise folder: the starter scores 0, the reference full marks, a wrong solution some.

Parametrised over the folders found in exercises/, so a new exercise is checked as soon as
it lands. Each exercise is graded once per case (a pytest subprocess each), kept by
module-scoped fixtures and shared by the tests that read it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from exercise_helpers import EXERCISES, EXERCISES_DIR, WRONG_SOLUTIONS, by_name, graded, score

from proxylab.course.grading import Exercise
from proxylab.course.results import TestResult

IDS = [e.name for e in EXERCISES]


@pytest.fixture(scope="module", params=EXERCISES, ids=IDS)
def exercise(request: pytest.FixtureRequest) -> Exercise:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def starter(exercise: Exercise) -> list[TestResult]:
    return graded(exercise, EXERCISES_DIR)


@pytest.fixture(scope="module")
def reference(exercise: Exercise) -> list[TestResult]:
    return graded(exercise, EXERCISES_DIR, reference=True)


def test_exercises_are_found() -> None:
    names = [e.name for e in EXERCISES]
    for expected in ("01_blocklist", "02_anonymity", "03_freshness", "04_lru_store"):
        assert expected in names


def test_starter_scores_zero(exercise: Exercise, starter: list[TestResult]) -> None:
    got, possible = score(starter)
    assert possible > 0 and got == 0, f"{exercise.name}: the starter scored {got}/{possible}"


def test_starter_imports_and_runs(exercise: Exercise, starter: list[TestResult]) -> None:
    """0 because the bodies are not written, not because the file is broken or missing."""
    broken = [r for r in starter if "could not be imported" in r.message or "No " in r.message[:3]]
    assert not broken, broken[0].message
    assert all(r.message for r in starter), "every failed test must tell the student why"


def test_reference_scores_full_marks(exercise: Exercise, reference: list[TestResult]) -> None:
    failed = [r for r in reference if not r.passed]
    assert not failed, f"{exercise.name}: the reference fails {failed[0].name}: {failed[0].message}"
    assert score(reference)[0] > 0


def test_every_test_has_points_and_a_group(exercise: Exercise, reference: list[TestResult]) -> None:
    text = "".join(
        p.read_text(encoding="utf-8") for p in (exercise.folder / "tests").glob("test_*.py")
    )
    assert text.count("def test_") == text.count("@pytest.mark.points("), (
        f"{exercise.name}: every graded test needs @pytest.mark.points(n)"
    )
    assert all(r.group != "tests" for r in reference), f"{exercise.name}: a test lacks a group"


def test_wrong_solution_loses_some_points_but_not_all(exercise: Exercise) -> None:
    folder = WRONG_SOLUTIONS / exercise.name
    assert (folder / f"{exercise.module}.py").is_file(), (
        f"add a plausible wrong solution: tests/wrong_solutions/{exercise.name}/{exercise.module}.py"
    )
    results = graded(exercise, WRONG_SOLUTIONS)
    got, possible = score(results)
    assert 0 < got < possible, f"{exercise.name}: the wrong solution scored {got}/{possible}"
    lost = [r for r in results if not r.passed]
    assert all(r.message and "Refused" not in r.message for r in lost)


def test_importing_the_library_is_refused(exercise: Exercise, tmp_path: Path) -> None:
    library = next(f for f in exercise.forbidden if f.startswith("proxylab.") and "course" not in f)
    folder = tmp_path / exercise.name
    folder.mkdir()
    (folder / f"{exercise.module}.py").write_text(f"from {library} import *\n", encoding="utf-8")
    results = graded(exercise, tmp_path)
    assert score(results)[0] == 0
    assert all("Refused" in r.message and library in r.message for r in results), results[0].message


def test_readme_names_notebook_points_and_grader(
    exercise: Exercise, reference: list[TestResult]
) -> None:
    readme = (exercise.folder / "README.md").read_text(encoding="utf-8")
    assert exercise.notebook.removesuffix(".ipynb") in readme
    assert f"proxylab grade {exercise.number}" in readme
    groups: dict[str, float] = {}
    for result in reference:
        groups[result.group] = groups.get(result.group, 0) + result.max_points
    for group, points in groups.items():
        assert f"| {group} | {points:g} |" in readme, f"README table row for {group!r} ({points:g})"


@pytest.mark.parametrize(
    "source",
    [
        "import importlib\nrules = importlib.import_module('proxylab.forward.rules')\n",
        "import proxylab\nHostRule = proxylab.forward.rules.HostRule\n",
        "from proxylab import forward\n",
        "rules = __import__('importlib').import_module('proxylab.' + 'forward.rules')\n"
        "HostRule = rules.HostRule\n",
    ],
    ids=["import_module", "attribute-chain", "from-package", "borrowed-at-runtime"],
)
def test_dodging_the_import_is_refused_too(source: str, tmp_path: Path) -> None:
    exercise = by_name("01_blocklist")
    (tmp_path / "blocklist.py").write_text(source, encoding="utf-8")  # a flat upload
    results = graded(exercise, tmp_path)
    assert all("Refused" in r.message for r in results), results[0].message
