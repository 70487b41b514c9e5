"""The grader's pytest plugin: one JSON line per graded test, written as the tests run.

``proxylab grade`` runs each exercise's tests in a pytest subprocess with
``-p proxylab.course.pytest_plugin --proxylab-report FILE``. The plugin writes one line
for every test collected (its points and group, read from the ``points`` and ``group``
markers) and one line for every test finished (passed or not, and a message a student can
read). Lines are flushed at once, so when the grader has to stop a run that hangs, the
tests that finished still count and the ones that did not are known by name.

The message is the assertion's own message (the graded tests write them for students),
cut to a few lines; for an exception raised by the student's code it is the exception and
the line of the student's file that raised it.

Layer 5 (an edge).
"""

from __future__ import annotations

import json
from collections.abc import Generator
from pathlib import Path
from typing import IO, Any

import pytest

__all__ = ["MESSAGE_LINES", "describe_failure"]

#: How many lines of a failure message a student is shown.
MESSAGE_LINES = 6


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--proxylab-report", default=None, help="JSON-lines file for the grader")


def pytest_configure(config: pytest.Config) -> None:
    path = config.getoption("--proxylab-report")
    if path:
        config.stash[_REPORT] = Path(path).open("a", encoding="utf-8")  # noqa: SIM115
        config.stash[_FAILURES] = {}


def pytest_unconfigure(config: pytest.Config) -> None:
    handle = config.stash.get(_REPORT, None)
    if handle is not None:
        handle.close()


def pytest_collection_finish(session: pytest.Session) -> None:
    for item in session.items:
        points = item.get_closest_marker("points")
        group = item.get_closest_marker("group")
        _write(
            session.config,
            event="collected",
            nodeid=item.nodeid,
            name=item.name,
            path=str(item.path),
            points=float(points.args[0]) if points and points.args else 1.0,
            group=str(group.args[0]) if group and group.args else "tests",
        )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, Any, None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    failures = item.config.stash.get(_FAILURES, None)
    if failures is None:
        return
    if report.failed and item.nodeid not in failures:
        failures[item.nodeid] = describe_failure(call.excinfo, call.when, item)
    elif report.skipped and item.nodeid not in failures:
        failures[item.nodeid] = "This test was skipped, so it scores no points."
    if call.when == "teardown":
        message = failures.get(item.nodeid, "")
        _write(item.config, event="finished", nodeid=item.nodeid, passed=not message,
               message=message)  # fmt: skip


def describe_failure(
    excinfo: pytest.ExceptionInfo[BaseException] | None, when: str, item: pytest.Item | None = None
) -> str:
    """What a student is told about one failed test: the message, and where their code raised."""
    if excinfo is None:
        return f"The test failed during {when}."
    error = excinfo.value
    if isinstance(error, AssertionError) or excinfo.typename == "Failed":
        text = str(error).strip() or "An expectation of this test was not met."
        if text.startswith("DID NOT RAISE"):  # pytest.raises(...) around the student's call
            raised = text.removeprefix("DID NOT RAISE").strip(" <>").removeprefix("class ")
            case = _case_of(item)
            return f"Your code should raise {raised.strip(chr(39))} here, but it did not{case}."
        return _first_lines(_without_introspection(text))
    where = _student_line(excinfo)
    text = f"Your code raised {type(error).__name__}: {error}".rstrip(": ")
    return _first_lines(text + (f" ({where})" if where else ""))


def _case_of(item: pytest.Item | None) -> str:
    """`` (with weights={'a': -1})``: the parameters of a parametrised test, else its docstring."""
    callspec = getattr(item, "callspec", None)
    if callspec is not None:
        return " (with " + ", ".join(f"{k}={v!r}" for k, v in callspec.params.items()) + ")"
    doc = getattr(getattr(item, "obj", None), "__doc__", None)
    return f" ({doc.strip().splitlines()[0]})" if doc else ""


def _without_introspection(text: str) -> str:
    """The author's message without pytest's ``assert x == y`` explanation after it."""
    lines = text.splitlines()
    for index, line in enumerate(lines):
        if index and line.startswith("assert "):
            return "\n".join(lines[:index]).strip()
    return text


def _first_lines(text: str) -> str:
    lines = text.splitlines()
    if len(lines) <= MESSAGE_LINES:
        return text
    return "\n".join([*lines[:MESSAGE_LINES], "..."])


def _student_line(excinfo: pytest.ExceptionInfo[BaseException]) -> str:
    """``blocklist.py line 12``: the last traceback entry outside the tests and pytest."""
    for entry in reversed(excinfo.traceback):
        path = Path(str(entry.path))
        if path.name.startswith("test_") or path.name == "conftest.py" or path.suffix != ".py":
            continue
        if not {"_pytest", "pluggy", "site-packages"} & set(path.parts):
            return f"{path.name} line {entry.lineno + 1}"
    return ""


_REPORT = pytest.StashKey[IO[str]]()
_FAILURES = pytest.StashKey[dict[str, str]]()


def _write(config: pytest.Config, **record: Any) -> None:
    handle = config.stash.get(_REPORT, None)
    if handle is not None:
        handle.write(json.dumps(record) + "\n")
        handle.flush()
