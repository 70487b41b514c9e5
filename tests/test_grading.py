"""The grader end to end: hidden tests, time limits, reports, the command and the platform files.

Every grade here is a real pytest subprocess on a real submission folder; each case is
graded once (module-scoped fixtures) and read by several tests.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from exercise_helpers import EXERCISES_DIR, ROOT, WRONG_SOLUTIONS, by_name, graded, score

from proxylab.cli import main
from proxylab.course.classroom import make_classroom
from proxylab.course.gradescope import make_gradescope_bundle
from proxylab.course.grading import grade_exercise
from proxylab.course.reports import gradescope_results
from proxylab.course.results import TestResult

HIDDEN_TESTS = """
import pytest


@pytest.mark.group("instructor")
@pytest.mark.points(3)
def test_hidden_subdomain(solution):
    assert solution.host_matches("*.school.test", "a.b.school.test"), "deep subdomains count"


@pytest.mark.group("instructor")
@pytest.mark.points(2)
def test_hidden_that_fails(solution):
    assert solution.host_matches("a.test", "b.test"), "an instructor test that fails on purpose"
"""


@pytest.fixture(scope="module")
def hidden_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("hidden")
    (folder / "01_blocklist").mkdir()
    (folder / "01_blocklist" / "test_instructor.py").write_text(HIDDEN_TESTS, encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def with_hidden(hidden_dir: Path) -> list[TestResult]:
    return graded(by_name("01_blocklist"), EXERCISES_DIR, reference=True, hidden=hidden_dir)


def test_hidden_tests_count_as_hidden(with_hidden: list[TestResult]) -> None:
    hidden = {r.name: r for r in with_hidden if r.visibility == "hidden"}
    assert set(hidden) == {"test_hidden_subdomain", "test_hidden_that_fails"}
    assert hidden["test_hidden_subdomain"].points == 3
    assert hidden["test_hidden_that_fails"].points == 0
    assert hidden["test_hidden_that_fails"].message == "an instructor test that fails on purpose"
    assert all(r.visibility == "visible" for r in with_hidden if r.name not in hidden)
    assert score(with_hidden) == (53, 55)


def test_results_json_has_gradescopes_fields(with_hidden: list[TestResult]) -> None:
    data = json.loads(json.dumps(gradescope_results(with_hidden)))
    assert data["score"] == sum(test["score"] for test in data["tests"]) == 53
    assert len(data["tests"]) == len(with_hidden)
    for test in data["tests"]:
        assert isinstance(test["name"], str) and test["name"]
        assert isinstance(test["score"], (int, float)) and isinstance(
            test["max_score"], (int, float)
        )
        assert 0 <= test["score"] <= test["max_score"]
        assert test["status"] == ("passed" if test["score"] == test["max_score"] else "failed")
        assert test["visibility"] in {"visible", "hidden", "after_due_date", "after_published"}
        assert isinstance(test["output"], str)
        assert (test["output"] == "") == (test["status"] == "passed")
    failed = [t for t in data["tests"] if t["status"] == "failed"]
    assert [t["visibility"] for t in failed] == ["hidden"]


def test_a_submission_that_never_returns_is_stopped(tmp_path: Path) -> None:
    (tmp_path / "blocklist.py").write_text(
        "def host_matches(pattern, host):\n    while True:\n        pass\n", encoding="utf-8"
    )
    results = grade_exercise(by_name("01_blocklist"), tmp_path, timeout=4)
    assert len(results) == len(graded(by_name("01_blocklist"), EXERCISES_DIR, reference=True))
    assert score(results)[0] == 0
    assert any("never finished (stopped after 4 s)" in r.message for r in results)


# -- the command --------------------------------------------------------------------------


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    os.environ["COLUMNS"] = "200"
    try:
        code = main(["grade", *args])
    finally:
        del os.environ["COLUMNS"]
    return code, capsys.readouterr().out


def test_cli_reference_full_marks_and_reports(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    results_json, report = tmp_path / "gs" / "results.json", tmp_path / "report.json"
    code, out = run_cli(capsys, "01", "blocklist", "--reference", "--require-full",
                        "--gradescope", str(results_json), "--json", str(report))  # fmt: skip
    assert code == 0
    assert "01_blocklist" in out and "first match wins" in out and "50 / 50" in out
    gradescope = json.loads(results_json.read_text(encoding="utf-8"))
    assert gradescope["score"] == 50 and all(t["status"] == "passed" for t in gradescope["tests"])
    plain = json.loads(report.read_text(encoding="utf-8"))
    assert plain["exercises"] == {"01_blocklist": {"score": 50, "max_score": 50}}
    assert {"exercise", "group", "name", "points", "max_points", "message", "visibility"} <= set(
        plain["tests"][0]
    )


def test_cli_table_shows_what_failed_and_require_full_fails(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out = run_cli(capsys, "01", "--submission", str(WRONG_SOLUTIONS), "--require-full")
    assert code == 1
    assert "notsocial.test" in out, "the table shows the failed test's message"
    assert "Hint" in out and "more failed in this group" in out
    assert "test_first_match_wins_allow_before_block" in out


def test_cli_unknown_exercise_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run_cli(capsys, "99_nothing")
    assert code == 2 and "No exercise called '99_nothing'" in out and "01_blocklist" in out


def test_cli_capstone_needs_a_proxy_command(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run_cli(capsys, "capstone")
    assert code == 2 and "--proxy-command" in out


# -- GitHub Classroom ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def classroom(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("classroom")
    make_classroom(folder, [by_name("01_blocklist"), by_name("05_smooth_weighted")])
    return folder


def test_classroom_config_has_a_test_per_group_with_points(classroom: Path) -> None:
    config = json.loads((classroom / ".github/classroom/autograding.json").read_text("utf-8"))
    tests = config["tests"]
    assert sum(t["points"] for t in tests) == 100
    assert {"name", "setup", "run", "comparison", "timeout", "points"} <= set(tests[0])
    assert any(t["name"] == "01_blocklist: first match wins" and t["points"] == 11 for t in tests)
    workflow = (classroom / ".github/workflows/classroom.yml").read_text("utf-8")
    assert workflow.count("uses: classroom-resources/autograding-command-grader@v1") == len(tests)
    assert "uses: classroom-resources/autograding-grading-reporter@v1" in workflow
    runners = workflow.split("runners: ", 1)[1].strip().split(",")
    assert len(runners) == len(tests) and all(f"id: {r}" in workflow for r in runners)
    assert all(f"{r.upper()}_RESULTS" in workflow for r in runners)


def classroom_run(classroom: Path, name: str, *extra: str) -> subprocess.CompletedProcess[str]:
    """Run one test's command from autograding.json, as the grader would, at the repo root."""
    config = json.loads((classroom / ".github/classroom/autograding.json").read_text("utf-8"))
    command = shlex.split(next(t["run"] for t in config["tests"] if t["name"] == name))
    assert command[0] == "python"
    return subprocess.run([sys.executable, *command[1:], *extra], cwd=classroom,
                          capture_output=True, text=True, timeout=120, check=False)  # fmt: skip


def test_classroom_command_runs_the_group(classroom: Path) -> None:
    starter = classroom_run(classroom, "01_blocklist: first match wins")
    assert starter.returncode == 1, starter.stdout + starter.stderr
    assert "4 failed" in starter.stdout and "deselected" in starter.stdout
    passing = classroom_run(classroom, "01_blocklist: first match wins", "--reference")
    assert passing.returncode == 0, passing.stdout + passing.stderr
    assert "4 passed" in passing.stdout


# -- Gradescope ---------------------------------------------------------------------------


def test_gradescope_bundle_grades_a_submission(tmp_path: Path, hidden_dir: Path) -> None:
    bundle = tmp_path / "bundle"
    archive = make_gradescope_bundle(bundle, [by_name("01_blocklist")], hidden_dir)
    names = set(zipfile.ZipFile(archive).namelist())
    assert {"setup.sh", "run_autograder", "exercises/conftest.py", "proxylab/__init__.py",
            "exercises/01_blocklist/exercise.toml", "hidden/01_blocklist/test_instructor.py"} <= names  # fmt: skip
    for script in ("setup.sh", "run_autograder"):
        assert (bundle / script).stat().st_mode & stat.S_IXUSR
    if shutil.which("bash") is None:
        pytest.skip("bash is needed to run run_autograder")
    for script in ("setup.sh", "run_autograder"):
        syntax = subprocess.run(
            ["bash", "-n", str(bundle / script)], capture_output=True, check=False
        )
        assert syntax.returncode == 0, syntax.stderr
    # Gradescope's layout, moved under tmp_path: source, submission, results.
    submission, results = tmp_path / "submission", tmp_path / "results"
    submission.mkdir()
    shutil.copy2(WRONG_SOLUTIONS / "01_blocklist" / "blocklist.py", submission)
    script = (bundle / "run_autograder").read_text("utf-8")
    script = script.replace("/autograder/source", str(bundle))
    script = script.replace("/autograder/submission", str(submission))
    script = script.replace("/autograder/results", str(results))
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=120, check=False)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    data = json.loads((results / "results.json").read_text("utf-8"))
    assert 0 < data["score"] < 55
    assert sum(t["max_score"] for t in data["tests"]) == 55
    assert {t["visibility"] for t in data["tests"]} == {"visible", "hidden"}


def test_gradescope_bundle_uses_its_own_proxylab(tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    make_gradescope_bundle(bundle, [by_name("01_blocklist")])
    assert (bundle / "proxylab" / "course" / "grading.py").read_bytes() == (
        ROOT / "proxylab" / "course" / "grading.py"
    ).read_bytes()
    assert "PYTHONPATH=/autograder/source" in (bundle / "run_autograder").read_text("utf-8")


def test_cli_writes_the_platform_files(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out = run_cli(capsys, "02", "--make-gradescope", str(tmp_path / "gs"),
                        "--make-classroom", str(tmp_path / "gh"))  # fmt: skip
    assert code == 0, out
    assert (tmp_path / "gs" / "autograder.zip").is_file()
    assert "02_anonymity" in (tmp_path / "gs" / "run_autograder").read_text("utf-8")
    config = json.loads((tmp_path / "gh/.github/classroom/autograding.json").read_text("utf-8"))
    assert sum(t["points"] for t in config["tests"]) == 50
    assert "5 tests, 50 points" in out


def test_grading_needs_no_lab_extra() -> None:
    """The Gradescope bundle installs only rich and pytest: grading must not need the lab."""
    code = (
        "import sys\n"
        "for name in ('httpx', 'httpcore', 'matplotlib', 'trustme'):\n"
        "    sys.modules[name] = None\n"
        "from proxylab.cli import main\n"
        "sys.exit(main(['grade', '03', '--reference', '--require-full']))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, check=False, env={**os.environ, "COLUMNS": "120"})  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "50 / 50" in done.stdout
