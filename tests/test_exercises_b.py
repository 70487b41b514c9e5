"""Exercises 06-09 proven: the starter scores 0, the reference full marks, a wrong solution some.

Each exercise's graded tests run in a pytest subprocess, as the grader runs them
(``python -m pytest exercises/NN --submission DIR``), with a small plugin that reports
every test's points and outcome. A wrong solution (``tests/wrong_solutions/NN_topic/``)
is a plausible mistake: not thread-safe, ties broken wrongly, off by one, too lenient.
It must lose the points of exactly the tests that catch its mistake, and keep the rest.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TESTS = ROOT / "tests"
FOLDERS = ["06_least_connections", "07_consistent_hash", "08_health_rise_fall", "09_request_parser"]

#: The tests each wrong solution must fail, and only those.
WRONG = {
    "06_least_connections": {
        "test_idle_pool_takes_turns",
        "test_tie_scan_starts_after_previous_pick",
        "test_counts_exact_under_threads",
    },
    "07_consistent_hash": {
        "test_each_point_label_belongs_to_its_node",
        "test_owners_match_the_ring_rule",
        "test_wraps_past_the_top",
    },
    "08_health_rise_fall": {
        "test_a_good_probe_restarts_the_fall_count",
        "test_a_failed_probe_restarts_the_rise_count",
        "test_a_flapping_backend_keeps_its_state",
        "test_the_window_boundaries",
    },
    "09_request_parser": {
        "test_obs_fold_refused",
        "test_whitespace_before_colon_refused",
        "test_transfer_encoding_with_content_length_refused",
        "test_long_request_line_is_414",
    },
}


Results = dict[str, tuple[float, bool]]  # test name -> (points, passed)


def grade(tmp_path: Path, *options: str, folders: list[str] = FOLDERS) -> dict[str, Results]:
    """Run the graded tests of ``folders`` in one pytest subprocess; results by folder."""
    report = tmp_path / "points.json"
    env = dict(os.environ, EXERCISE_POINTS=str(report))
    env["PYTHONPATH"] = os.pathsep.join([str(TESTS), env.get("PYTHONPATH", "")])
    command = [sys.executable, "-m", "pytest", *[f"exercises/{f}" for f in folders], "-q"]
    command += ["-p", "exercise_points", "-p", "no:cacheprovider", *options]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert report.exists(), f"pytest did not run:\n{done.stdout}\n{done.stderr}"
    by_folder: dict[str, Results] = {folder: {} for folder in folders}
    for nodeid, (points, passed) in json.loads(report.read_text()).items():
        folder = next(part for part in nodeid.split("/") if part in by_folder)
        by_folder[folder][nodeid.rsplit("::", 1)[1]] = (points, passed)
    assert all(by_folder.values()), f"an exercise has no graded tests:\n{done.stdout}"
    return by_folder


@pytest.fixture(scope="module")
def starters(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Results]:
    return grade(tmp_path_factory.mktemp("starters"))


@pytest.fixture(scope="module")
def references(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Results]:
    return grade(tmp_path_factory.mktemp("references"), "--reference")


@pytest.fixture(scope="module")
def wrong(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Results]:
    folder = str(TESTS / "wrong_solutions")
    return grade(tmp_path_factory.mktemp("wrong"), "--submission", folder)


def earned(results: Results) -> float:
    return sum(points for points, passed in results.values() if passed)


def total(results: Results) -> float:
    return sum(points for points, _ in results.values())


@pytest.mark.parametrize("folder", FOLDERS)
def test_the_starter_scores_zero(folder: str, starters: dict[str, Results]) -> None:
    results = starters[folder]
    assert earned(results) == 0, [name for name, (_, ok) in results.items() if ok]
    assert all(points > 0 for points, _ in results.values()), "every graded test has points"


@pytest.mark.parametrize("folder", FOLDERS)
def test_the_reference_scores_full_marks(folder: str, references: dict[str, Results]) -> None:
    results = references[folder]
    failed = [name for name, (_, ok) in results.items() if not ok]
    assert failed == [] and earned(results) == total(results) >= 15, failed


@pytest.mark.parametrize("folder", FOLDERS)
def test_a_wrong_solution_loses_some_points_but_not_all(
    folder: str, wrong: dict[str, Results]
) -> None:
    results = wrong[folder]
    failed = {name for name, (_, ok) in results.items() if not ok}
    assert failed == WRONG[folder]
    assert 0 < earned(results) < total(results)


def test_a_submission_that_imports_the_library_is_refused(tmp_path: Path) -> None:
    (tmp_path / "06_least_connections").mkdir()
    (tmp_path / "06_least_connections" / "least_conn.py").write_text(
        "from proxylab.reverse.balancers import LeastConnections, PowerOfTwoChoices\n"
    )
    folder = "06_least_connections"
    results = grade(tmp_path, "--submission", str(tmp_path), folders=[folder])[folder]
    assert earned(results) == 0
