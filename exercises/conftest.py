"""The graded tests' side of the grader: which code a test grades, and its points.

Every exercise folder ``exercises/NN_topic/`` holds an ``exercise.toml``::

    title = "Blocklist matching"
    notebook = "03_filtering.ipynb"
    module = "blocklist"                                  # the file the student edits
    reference = "proxylab.course.references.blocklist"    # the same interface, by proxylab
    forbidden = ["proxylab.forward.rules", "proxylab.forward.filters"]

A graded test asks for the ``solution`` fixture and gets the student's module (or, with
``--reference``, the reference module): ``def test_x(solution): solution.matches(...)``.
Points and groups are markers: ``@pytest.mark.points(2)`` and ``@pytest.mark.group("wildcards")``.
Where the student's file is looked for: ``--submission DIR`` (default: the exercises folder
itself), as ``DIR/NN_topic/<module>.py`` and then ``DIR/<module>.py`` (a flat upload).
A student file that imports what it was asked to write (a ``forbidden`` module) is refused:
every test fails with a message that says so. Spellings that dodge ``import`` count too
(``importlib.import_module("...")``, ``proxylab.forward.rules.HostRule`` after ``import
proxylab``), as does a module whose functions or classes come from a forbidden module.
``--group NAME`` runs only the tests of one group (GitHub Classroom grades group by group).
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

EXERCISES = Path(__file__).resolve().parent


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("proxylab exercises")
    group.addoption("--submission", default=str(EXERCISES), help="folder with the student's files")
    group.addoption("--reference", action="store_true", help="grade proxylab's reference instead")
    group.addoption("--group", default=None, help="run only the tests of this test group")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "points(n): how many points this graded test is worth")
    config.addinivalue_line("markers", "group(name): the test group its points count in")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """With ``--group NAME``, deselect every test of another group."""
    wanted = config.getoption("--group")
    if not wanted:
        return
    keep, drop = [], []
    for item in items:
        marker = item.get_closest_marker("group")
        (keep if marker is not None and marker.args[0] == wanted else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def exercise_of(test_file: Path) -> Path:
    """The exercise folder (the one with ``exercise.toml``) that a test file belongs to."""
    for folder in test_file.resolve().parents:
        if (folder / "exercise.toml").is_file():
            return folder
    raise pytest.UsageError(f"{test_file} is not inside an exercise folder (no exercise.toml).")


def read_exercise(folder: Path) -> dict[str, Any]:
    """The exercise's ``exercise.toml`` as a dict."""
    with (folder / "exercise.toml").open("rb") as handle:
        return tomllib.load(handle)


def student_file(submission: Path, folder: Path, module: str) -> Path | None:
    """Where the student's ``module.py`` is in ``submission``, or None."""
    for candidate in (submission / folder.name / f"{module}.py", submission / f"{module}.py"):
        if candidate.is_file():
            return candidate
    return None


def forbidden_imports(source: str, forbidden: list[str]) -> list[str]:
    """The forbidden modules ``source`` imports (a module or anything inside it counts)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            names = [node.value.strip()]  # importlib.import_module("proxylab.forward.rules")
        elif isinstance(node, ast.Attribute):
            names = [_dotted(node)]  # proxylab.forward.rules.HostRule after import proxylab
        for name in names:
            if any(name == f or name.startswith(f + ".") for f in forbidden):
                found.append(name)
    return sorted(set(found))


def _dotted(node: ast.expr) -> str:
    """``a.b.c`` for an attribute chain on a name, else ``""``."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return ""
    return ".".join([node.id, *reversed(parts)])


def borrowed_names(module: ModuleType, forbidden: list[str]) -> list[str]:
    """Functions and classes of ``module`` that were defined in a forbidden module."""
    borrowed = []
    for name, value in vars(module).items():
        origin = getattr(value, "__module__", None) if callable(value) else None
        if isinstance(origin, str) and any(
            origin == f or origin.startswith(f + ".") for f in forbidden
        ):
            borrowed.append(f"{name} (from {origin})")
    return sorted(borrowed)


def _refuse(path: Path, refused: list[str]) -> None:
    pytest.fail(
        f"Refused: {path.name} uses {', '.join(refused)}, proxylab's own version of what "
        "this exercise asks you to write. Write it yourself (you may import other modules).",
        pytrace=False,
    )


def load_student_module(path: Path, exercise: dict[str, Any]) -> ModuleType:
    """Import the student's file under a private name; refuse one that imports the library's answer."""
    source = path.read_text(encoding="utf-8")
    forbidden = list(exercise.get("forbidden", []))
    try:
        refused = forbidden_imports(source, forbidden)
    except SyntaxError as error:
        pytest.fail(f"{path.name} line {error.lineno}: syntax error: {error.msg}", pytrace=False)
    if refused:
        _refuse(path, refused)
    spec = importlib.util.spec_from_file_location(f"submission_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses and pickle look a class's module up here
    sys.path.insert(0, str(path.parent))  # the student's file may import its neighbours
    try:
        spec.loader.exec_module(module)
    except Exception as error:  # a student's import-time error is a message, not a crash
        pytest.fail(
            f"{path.name} could not be imported: {type(error).__name__}: {error}", pytrace=False
        )
    finally:
        sys.path.remove(str(path.parent))
    borrowed = borrowed_names(module, forbidden)
    if borrowed:
        _refuse(path, borrowed)
    return module


@pytest.fixture(scope="module")
def solution(request: pytest.FixtureRequest) -> ModuleType:
    """The module under test: the student's file, or the reference with ``--reference``."""
    folder = exercise_of(Path(str(request.node.path)))
    exercise = read_exercise(folder)
    if request.config.getoption("--reference"):
        return importlib.import_module(exercise["reference"])
    submission = Path(request.config.getoption("--submission"))
    path = student_file(submission, folder, exercise["module"])
    if path is None:
        pytest.fail(
            f"No {exercise['module']}.py found in {submission} for {folder.name}.", pytrace=False
        )
    return load_student_module(path, exercise)
