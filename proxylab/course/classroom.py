"""GitHub Classroom autograding: a template repository whose workflow grades group by group.

GitHub Classroom copies a template repository for each student and runs its workflow on
every push. Its graders run a command per test and award the test's points when the
command exits 0. This module writes both forms the platform has used:

- ``.github/workflows/classroom.yml``: today's form, one ``classroom-resources/
  autograding-command-grader@v1`` step per test (``test-name``, ``setup-command``,
  ``command``, ``timeout`` in minutes, ``max-score``), then ``autograding-grading-reporter@v1``
  with the step ids as ``runners`` and each step's result in ``<ID>_RESULTS``;
- ``.github/classroom/autograding.json``: the older per-test form (``name``, ``setup``,
  ``run``, ``comparison``, ``timeout``, ``points``) that the classic Classroom UI imports.

Key idea: one "test" per exercise and test group, run by plain pytest with the exercises'
``--group`` option. Students' repositories then need only pytest, not proxylab, and a
student can run the very same command on their laptop.

Left out on purpose: hidden tests (a student's repository is theirs to read; use
Gradescope for tests students must not see).

Layer 5 (an edge).
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from proxylab.course.grading import Exercise, collect_tests

__all__ = ["ClassroomTest", "classroom_tests", "make_classroom"]

SETUP = "python -m pip install --quiet pytest 'tomli; python_version < \"3.11\"'"
TIMEOUT_MINUTES = 5


@dataclass(frozen=True, slots=True)
class ClassroomTest:
    """One autograding test: an exercise's test group, its command and its points."""

    id: str  # a step id: letters, digits and dashes, not starting with a digit
    name: str
    command: str
    points: float


def classroom_tests(exercises: Sequence[Exercise]) -> list[ClassroomTest]:
    """One test per exercise and group, worth the sum of the group's points."""
    tests = []
    for exercise in exercises:
        groups: dict[str, float] = {}
        for result in collect_tests(exercise):
            groups[result.group] = groups.get(result.group, 0.0) + result.max_points
        for group, points in groups.items():
            tests.append(
                ClassroomTest(
                    id=_slug(f"ex{exercise.name}-{group}"),
                    name=f"{exercise.name}: {group}",
                    command=group_command(exercise, group),
                    points=points,
                )
            )
    return tests


def group_command(exercise: Exercise, group: str) -> str:
    """The shell command, run at the repository's root, that passes iff the group passes."""
    tests = f"exercises/{exercise.name}/tests"
    return f"python -m pytest -q -p no:cacheprovider {tests} --group {shlex.quote(group)}"


def make_classroom(destination: Path, exercises: Sequence[Exercise]) -> list[ClassroomTest]:
    """Write a template repository for ``exercises`` into ``destination``."""
    tests = classroom_tests(exercises)
    target = destination / "exercises"
    target.mkdir(parents=True, exist_ok=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache")
    for exercise in exercises:
        shutil.copytree(exercise.folder, target / exercise.name, ignore=ignore, dirs_exist_ok=True)
    if exercises:
        for name in ("conftest.py", "pytest.ini"):
            if (exercises[0].folder.parent / name).is_file():
                shutil.copy2(exercises[0].folder.parent / name, target / name)
    _write(destination / ".github" / "classroom" / "autograding.json", _autograding_json(tests))
    _write(destination / ".github" / "workflows" / "classroom.yml", _workflow(tests))
    return tests


def _autograding_json(tests: Sequence[ClassroomTest]) -> str:
    entries = [
        {
            "name": test.name,
            "setup": SETUP,
            "run": test.command,
            "input": "",
            "output": "",
            "comparison": "included",
            "timeout": TIMEOUT_MINUTES,
            "points": _number(test.points),
        }
        for test in tests
    ]
    return json.dumps({"tests": entries}, indent=2) + "\n"


_WORKFLOW_HEAD = """\
name: Autograding Tests
'on':
  - push
  - repository_dispatch
permissions:
  checks: write
  actions: read
  contents: read
jobs:
  run-autograding-tests:
    runs-on: ubuntu-latest
    if: github.actor != 'github-classroom[bot]'
    steps:
      - name: Checkout code
        uses: actions/checkout@v4
      - uses: actions/setup-python@v5
        with:
          python-version: '3.12'
"""


def _workflow(tests: Sequence[ClassroomTest]) -> str:
    """The workflow: a command-grader step per test, then the reporter that adds them up."""
    lines = _WORKFLOW_HEAD.splitlines()
    for test in tests:
        lines += [
            f"      - name: {json.dumps(test.name)}",
            f"        id: {test.id}",
            "        uses: classroom-resources/autograding-command-grader@v1",
            "        with:",
            f"          test-name: {json.dumps(test.name)}",
            f"          setup-command: {json.dumps(SETUP)}",
            f"          command: {json.dumps(test.command)}",
            f"          timeout: {TIMEOUT_MINUTES}",
            f"          max-score: {_number(test.points)}",
        ]
    lines += [
        "      - name: Autograding Reporter",
        "        uses: classroom-resources/autograding-grading-reporter@v1",
        "        env:",
        *[
            f'          {test.id.upper()}_RESULTS: "${{{{steps.{test.id}.outputs.result}}}}"'
            for test in tests
        ],
        "        with:",
        f"          runners: {','.join(test.id for test in tests)}",
    ]
    return "\n".join(lines) + "\n"


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _number(points: float) -> int | float:
    """Whole points as an int (``5``, not ``5.0``): Classroom's forms expect integers."""
    return int(points) if float(points).is_integer() else points


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8", newline="\n")
