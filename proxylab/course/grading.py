"""The exercise grader: run each exercise's graded tests on a submission and score them.

What: an exercise is a folder with an ``exercise.toml`` (see ``exercises/conftest.py``).
``grade`` runs its tests with pytest in a subprocess, one per exercise, with a time limit,
and turns what the grader's pytest plugin recorded into ``TestResult`` values: points per
test, its group, and the message a student reads when it fails.

Key ideas:
- A subprocess per exercise: a student's endless loop, crash or ``sys.exit`` cannot take
  the grader down, and one exercise cannot disturb another's imports.
- The tests run from a scratch copy of the exercise (plus ``conftest.py``), so instructor
  tests kept elsewhere (``--hidden DIR``, laid out as ``DIR/NN_topic/test_*.py``) run
  beside the shipped ones with the same ``solution`` fixture, and count as "hidden".
- Every collected test gets a result, even when the run is stopped at the time limit:
  the ones that never finished score 0 with a message that says so.

Left out on purpose: sandboxing (the submission runs with the grader's rights: grade
untrusted code inside the platform's container, as Gradescope and GitHub Actions do).

Layer 5 (an edge).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from proxylab.course.results import TestResult
from proxylab.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]

__all__ = [
    "DEFAULT_TIMEOUT",
    "Exercise",
    "collect_tests",
    "default_exercises_dir",
    "find_exercises",
    "grade",
    "grade_exercise",
    "select",
]

#: Seconds one exercise's tests may run before the grader stops them.
DEFAULT_TIMEOUT = 120.0

_PYTEST_INI = "[pytest]\naddopts = -p no:cacheprovider\n"
#: the plugin's module name in the scratch folder: a copy of ``pytest_plugin``, so the
#: subprocess imports neither proxylab (unless the reference is graded) nor other plugins
_PLUGIN = "proxylab_grade_plugin"


@dataclass(frozen=True, slots=True)
class Exercise:
    """One exercise folder and what its ``exercise.toml`` says."""

    folder: Path
    title: str
    notebook: str
    module: str
    reference: str
    forbidden: tuple[str, ...] = ()
    timeout: float = DEFAULT_TIMEOUT

    @property
    def name(self) -> str:
        """The folder's name, e.g. ``01_blocklist``."""
        return self.folder.name

    @property
    def number(self) -> str:
        """``01`` of ``01_blocklist``."""
        return self.name.split("_", 1)[0]

    @property
    def topic(self) -> str:
        """``blocklist`` of ``01_blocklist``."""
        return self.name.split("_", 1)[-1]

    @classmethod
    def read(cls, folder: Path) -> Exercise:
        """The exercise in ``folder``; a ConfigError names a missing or wrong field."""
        try:
            with (folder / "exercise.toml").open("rb") as handle:
                data = tomllib.load(handle)
        except (OSError, tomllib.TOMLDecodeError) as error:
            raise ConfigError(f"Cannot read {folder / 'exercise.toml'}: {error}") from None
        capstone = folder.name.split("_", 1)[-1] == "capstone"  # graded by its own driver
        required = ("title",) if capstone else ("title", "module")
        missing = [key for key in required if key not in data]
        if missing:
            raise ConfigError(f"{folder / 'exercise.toml'} lacks {', '.join(missing)}.")
        return cls(
            folder=folder.resolve(),
            title=str(data["title"]),
            notebook=str(data.get("notebook", "")),
            module=str(data.get("module", "")),
            reference=str(data.get("reference", "")),
            forbidden=tuple(data.get("forbidden", ())),
            timeout=float(data.get("timeout", DEFAULT_TIMEOUT)),
        )

    @property
    def is_capstone(self) -> bool:
        """The capstone is graded by probing a running proxy, not by pytest on a module."""
        return self.topic == "capstone"


def default_exercises_dir() -> Path:
    """The repository's ``exercises/`` beside the proxylab package, else ``./exercises``."""
    beside = Path(__file__).resolve().parents[2] / "exercises"
    return beside if (beside / "conftest.py").is_file() else Path.cwd() / "exercises"


def find_exercises(root: Path) -> list[Exercise]:
    """Every exercise folder directly in ``root`` (one with an ``exercise.toml``), by name."""
    if not root.is_dir():
        raise ConfigError(f"There is no exercises folder at {root}.")
    folders = sorted(p for p in root.iterdir() if (p / "exercise.toml").is_file())
    return [Exercise.read(folder) for folder in folders]


def select(exercises: Sequence[Exercise], wanted: Iterable[str]) -> list[Exercise]:
    """The exercises ``wanted`` names (``01``, ``01_blocklist`` or ``blocklist``); all if none."""
    names = [name.strip().rstrip("/\\") for name in wanted]
    if not names:
        return list(exercises)
    chosen: list[Exercise] = []
    for name in names:
        base = Path(name).name
        found = [e for e in exercises if base in (e.name, e.number, e.topic, e.module)]
        if not found:
            known = ", ".join(e.name for e in exercises) or "none"
            raise ConfigError(f"No exercise called {name!r}. Known exercises: {known}.")
        chosen += [e for e in found if e not in chosen]
    return chosen


def grade(
    exercises: Sequence[Exercise],
    submission: Path,
    *,
    reference: bool = False,
    hidden: Path | None = None,
    timeout: float | None = None,
) -> list[TestResult]:
    """Grade each of ``exercises`` (pytest ones; see ``grade_exercise``), in order."""
    if exercises and importlib.util.find_spec("pytest") is None:
        raise ConfigError("Grading runs the exercises' tests with pytest: pip install pytest")
    results: list[TestResult] = []
    for exercise in exercises:
        results += grade_exercise(
            exercise, submission, reference=reference, hidden=hidden, timeout=timeout
        )
    return results


def grade_exercise(
    exercise: Exercise,
    submission: Path,
    *,
    reference: bool = False,
    hidden: Path | None = None,
    timeout: float | None = None,
) -> list[TestResult]:
    """Run one exercise's graded (and hidden) tests on ``submission``; one result per test."""
    limit = exercise.timeout if timeout is None else timeout
    records, finished = _run_pytest(exercise, submission, reference, hidden, limit)
    if not records["collected"]:
        return [_broken(exercise, finished)]
    return _results(exercise, records, limit if not finished.ok else None)


def collect_tests(exercise: Exercise, hidden: Path | None = None) -> list[TestResult]:
    """The exercise's graded tests, not run: each with its group and ``max_points``, 0 scored."""
    records, finished = _run_pytest(exercise, exercise.folder.parent, False, hidden,
                                    exercise.timeout, ["--collect-only"])  # fmt: skip
    if not records["collected"]:
        raise ConfigError(_broken(exercise, finished).message)
    return _results(exercise, {"collected": records["collected"], "finished": {}}, None)


def _run_pytest(
    exercise: Exercise,
    submission: Path,
    reference: bool,
    hidden: Path | None,
    limit: float,
    extra: Sequence[str] = (),
) -> tuple[dict[str, Any], _Finished]:
    with tempfile.TemporaryDirectory(prefix="proxylab-grade-") as scratch:
        workdir = _stage(exercise, Path(scratch), hidden)
        report = Path(scratch) / "report.jsonl"
        command = pytest_command(workdir, report, submission, reference=reference)
        finished = _run([*command, *extra], Path(scratch), limit)
        return _read_records(report), finished


def pytest_command(
    workdir: Path, report: Path, submission: Path, *, reference: bool = False
) -> list[str]:
    """The pytest command line that grades the staged exercise in ``workdir``."""
    command = [sys.executable, "-m", "pytest", str(workdir), "-q", "--no-header", "-rN"]
    command += ["-p", _PLUGIN, f"--proxylab-report={report}"]
    command += ["-c", str(workdir.parent / "pytest.ini"), f"--rootdir={workdir.parent}"]
    command += [f"--submission={submission.resolve()}"]
    return command + (["--reference"] if reference else [])


def _stage(exercise: Exercise, scratch: Path, hidden: Path | None) -> Path:
    """Copy the exercise, its conftest and any hidden tests into ``scratch``."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache")
    workdir = scratch / exercise.name
    shutil.copytree(exercise.folder, workdir, ignore=ignore)
    shutil.copy2(exercise.folder.parent / "conftest.py", scratch / "conftest.py")
    (scratch / "pytest.ini").write_text(_PYTEST_INI, encoding="utf-8")
    shutil.copy2(Path(__file__).with_name("pytest_plugin.py"), scratch / f"{_PLUGIN}.py")
    extra = None if hidden is None else hidden / exercise.name
    if extra is not None and extra.is_dir():
        shutil.copytree(extra, workdir / "hidden", ignore=ignore)
    return workdir


@dataclass(frozen=True, slots=True)
class _Finished:
    ok: bool  # ended by itself within the limit
    output: str


def _run(command: list[str], cwd: Path, limit: float) -> _Finished:
    """Run pytest; stop it (and its children) at ``limit`` seconds."""
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONIOENCODING": "utf-8"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(cwd), env.get("PYTHONPATH")]))
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"  # the graded tests need no third-party plugin
    env.pop("PYTEST_ADDOPTS", None)
    try:
        done = subprocess.run(
            command, cwd=cwd, env=env, capture_output=True, text=True, timeout=limit,
            stdin=subprocess.DEVNULL,
            encoding="utf-8", errors="replace", check=False,
        )  # fmt: skip
    except subprocess.TimeoutExpired as expired:
        output = expired.stdout if isinstance(expired.stdout, str) else ""
        return _Finished(False, output)
    return _Finished(True, done.stdout + done.stderr)


def _read_records(report: Path) -> dict[str, Any]:
    collected: dict[str, dict[str, Any]] = {}
    finished: dict[str, dict[str, Any]] = {}
    if report.is_file():
        for line in report.read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            target = collected if record["event"] == "collected" else finished
            target[record["nodeid"]] = record
    return {"collected": collected, "finished": finished}


def _results(
    exercise: Exercise, records: dict[str, Any], stopped_at: float | None
) -> list[TestResult]:
    results = []
    for nodeid, test in records["collected"].items():
        done = records["finished"].get(nodeid)
        if done is None:
            message = (
                f"This test never finished (stopped after {stopped_at:g} s): an endless loop "
                "or a deadlock?"
                if stopped_at
                else "The test run ended before this test finished: does your code exit?"
            )
            passed = False
        else:
            message, passed = done["message"], done["passed"]
        parts = nodeid.split("::", 1)[0].split("/")  # relative to the scratch folder
        hidden = len(parts) > 2 and parts[1] == "hidden"
        results.append(
            TestResult(
                exercise=exercise.name,
                group=test["group"],
                name=test["name"],
                points=test["points"] if passed else 0.0,
                max_points=test["points"],
                message=message,
                visibility="hidden" if hidden else "visible",
            )
        )
    return results


def _broken(exercise: Exercise, finished: _Finished) -> TestResult:
    """One failed result standing for an exercise whose tests could not even be collected."""
    tail = "\n".join(finished.output.strip().splitlines()[-8:])
    return TestResult(
        exercise=exercise.name,
        group="collection",
        name="tests could not be collected",
        points=0.0,
        max_points=1.0,
        message=f"pytest collected no graded test for {exercise.name}:\n{tail}",
    )
