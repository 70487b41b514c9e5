"""``proxylab grade``: score exercises for a student, Gradescope, GitHub Classroom or a script.

``proxylab grade`` grades every exercise for the files in ``--submission`` (default: the
exercises folder itself, where a student edits the starters) and prints a score table:
exercise, test group, points, and what failed with a hint. ``proxylab grade 01 03`` (or
``blocklist freshness``) grades some. ``--reference`` grades proxylab's own references
(full marks, or a test is wrong). ``--require-full`` exits 1 unless every point was won.

Outputs: ``--gradescope PATH`` (Gradescope's results.json), ``--json PATH`` (every result).
Platforms: ``--make-gradescope DIR`` writes an autograder bundle (setup.sh,
run_autograder, autograder.zip), ``--make-classroom DIR`` a GitHub Classroom template
repository (workflow and autograding.json). Instructors add ``--hidden DIR`` of extra
tests (``DIR/NN_topic/test_*.py``) that count as hidden on Gradescope.

The capstone (a student's own proxy, any language) is graded by probing it over sockets:
``proxylab grade capstone --proxy-command "python myproxy.py {port}"``.

Layer 5 (an edge).
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from proxylab.cli.console import print_error
from proxylab.course.classroom import make_classroom
from proxylab.course.gradescope import make_gradescope_bundle
from proxylab.course.grading import Exercise, default_exercises_dir, find_exercises, grade, select
from proxylab.course.reports import gradescope_results, plain_report, totals, write_json
from proxylab.course.results import TestResult
from proxylab.errors import ConfigError

__all__ = ["add_parser", "run", "score_table"]

CAPSTONE = "capstone"
#: seconds per request the capstone driver waits for a student's proxy, unless --timeout
CAPSTONE_TIMEOUT = 10.0


def add_parser(subparsers: Any) -> None:
    """Register ``grade`` and its flags."""
    parser = subparsers.add_parser(
        "grade",
        help="grade the exercises (a score table, Gradescope or GitHub Classroom output)",
        description="Run the graded tests of the exercises on a submission and show the score.",
    )
    parser.add_argument("exercises", nargs="*", metavar="EXERCISE",
                        help="01, 01_blocklist or blocklist; 'capstone'; default: all")  # fmt: skip
    parser.add_argument("--submission", type=Path, metavar="DIR",
                        help="the student's files (default: the exercises folder)")  # fmt: skip
    parser.add_argument("--exercises", dest="exercises_dir", type=Path, metavar="DIR",
                        help="where the exercise folders are (default: proxylab's exercises/)")  # fmt: skip
    parser.add_argument("--reference", action="store_true", help="grade proxylab's references")
    parser.add_argument("--hidden", type=Path, metavar="DIR",
                        help="instructor tests, DIR/NN_topic/test_*.py (hidden on Gradescope)")  # fmt: skip
    parser.add_argument("--timeout", type=float, metavar="SECONDS",
                        help="time limit per exercise (default: its exercise.toml, or 120)")  # fmt: skip
    parser.add_argument("--require-full", action="store_true",
                        help="exit 1 unless every point was won")  # fmt: skip
    parser.add_argument(
        "--gradescope", type=Path, metavar="PATH", help="write Gradescope's results.json"
    )
    parser.add_argument("--json", type=Path, metavar="PATH", help="write every result as JSON")
    parser.add_argument("--make-gradescope", type=Path, metavar="DIR",
                        help="write a Gradescope autograder bundle for these exercises")  # fmt: skip
    parser.add_argument("--make-classroom", type=Path, metavar="DIR",
                        help="write a GitHub Classroom template repository for these exercises")  # fmt: skip
    parser.add_argument("--proxy-command", metavar="CMD",
                        help='capstone: how to start your proxy, e.g. "python proxy.py {port}"')  # fmt: skip


def run(args: argparse.Namespace) -> int:
    """Grade, print the table, write what was asked for; 1 if --require-full and not full."""
    console = Console()
    try:
        exercises, capstone = _selection(args)
        if args.make_gradescope or args.make_classroom:
            return _make_platform_files(console, args, exercises)
        submission = (args.submission or _root(args)).resolve()
        if not submission.is_dir():
            raise ConfigError(f"There is no submission folder at {submission}.")
        results = grade(exercises, submission, reference=args.reference, hidden=args.hidden,
                        timeout=args.timeout)  # fmt: skip
        if capstone:
            results += _grade_capstone(args)
    except ConfigError as error:
        print_error(console, error.message)
        return 2
    console.print(score_table(results))
    if args.gradescope:
        write_json(args.gradescope, gradescope_results(results))
    if args.json:
        write_json(args.json, plain_report(results))
    score, possible = totals(results)
    return 1 if args.require_full and score < possible else 0


def _root(args: argparse.Namespace) -> Path:
    return Path(args.exercises_dir) if args.exercises_dir else default_exercises_dir()


def _selection(args: argparse.Namespace) -> tuple[list[Exercise], bool]:
    """The pytest-graded exercises asked for, and whether the capstone is asked for too."""
    found = find_exercises(_root(args))
    names = [name for name in args.exercises if name.lower() != CAPSTONE]
    chosen = select(found, names) if names or not args.exercises else []
    capstone = len(names) < len(args.exercises) or any(e.is_capstone for e in chosen)
    if capstone and not args.exercises and not args.proxy_command:
        # "grade everything" without a proxy to probe: the capstone waits for --proxy-command
        Console(stderr=True).print("[dim]capstone skipped: it needs --proxy-command[/dim]")
        capstone = False
    return [e for e in chosen if not e.is_capstone], capstone


def _grade_capstone(args: argparse.Namespace) -> list[TestResult]:
    """The capstone driver's results for the student's proxy (``--proxy-command``)."""
    if not args.proxy_command:
        raise ConfigError(
            'The capstone grades your running proxy: add --proxy-command "CMD {port}", '
            'e.g. --proxy-command "python myproxy.py {port}".'
        )
    try:
        driver = importlib.import_module("proxylab.course.capstone")
    except ModuleNotFoundError as error:
        if error.name != "proxylab.course.capstone":
            raise
        raise ConfigError(
            "This proxylab has no capstone driver (proxylab.course.capstone)."
        ) from None
    timeout = args.timeout if args.timeout else CAPSTONE_TIMEOUT
    results: list[TestResult] = list(driver.run_capstone(args.proxy_command, timeout=timeout))
    return results


def _make_platform_files(
    console: Console, args: argparse.Namespace, exercises: list[Exercise]
) -> int:
    if not exercises:
        raise ConfigError("Name at least one exercise graded by tests (not only the capstone).")
    if args.make_gradescope:
        archive = make_gradescope_bundle(args.make_gradescope, exercises, args.hidden)
        console.print(f"Gradescope bundle written to {escape(str(args.make_gradescope))}; "
                      f"upload {escape(str(archive))} as the autograder.")  # fmt: skip
    if args.make_classroom:
        tests = make_classroom(args.make_classroom, exercises)
        points = sum(test.points for test in tests)
        console.print(f"GitHub Classroom template written to {escape(str(args.make_classroom))}: "
                      f"{len(tests)} tests, {points:g} points.")  # fmt: skip
    return 0


def score_table(results: Sequence[TestResult]) -> Table:
    """One row per exercise and test group: points, and the first failure with its hint."""
    table = Table(title="proxylab grade", show_lines=True)
    table.add_column("Exercise", style="bold")
    table.add_column("Group")
    table.add_column("Points", justify="right")
    table.add_column("What failed, and a hint")
    for (exercise, group), rows in _groups(results).items():
        score, possible = totals(rows)
        failed = [r for r in rows if not r.passed]
        colour = "green" if not failed else ("red" if score == 0 else "yellow")
        table.add_row(exercise, group, f"[{colour}]{score:g} / {possible:g}[/{colour}]",
                      _failure_text(failed))  # fmt: skip
    score, possible = totals(results)
    table.add_row("[bold]total[/bold]", "", f"[bold]{score:g} / {possible:g}[/bold]", "")
    return table


def _groups(results: Sequence[TestResult]) -> dict[tuple[str, str], list[TestResult]]:
    groups: dict[tuple[str, str], list[TestResult]] = {}
    for result in results:
        group = result.group + (" (hidden)" if result.visibility == "hidden" else "")
        groups.setdefault((result.exercise, group), []).append(result)
    return groups


def _failure_text(failed: Sequence[TestResult]) -> str:
    if not failed:
        return ""
    first = failed[0]
    text = f"[dim]{escape(first.name)}[/dim]\n{escape(first.message)}"
    if len(failed) > 1:
        text += f"\n[dim](and {len(failed) - 1} more failed in this group)[/dim]"
    return text
