"""A Gradescope autograder bundle: ``setup.sh``, ``run_autograder`` and what they need.

Gradescope builds an image from a zip whose root holds ``setup.sh`` (run once, to install)
and ``run_autograder`` (run per submission, in /autograder, with the student's files in
/autograder/submission; it must write /autograder/results/results.json). See
gradescope-autograders.readthedocs.io, "Autograder Specifications".

Key idea: the bundle carries everything, so nothing depends on proxylab being on PyPI:
proxylab's own source (the grader and the references), the exercises' tests and conftest,
and the instructor's hidden tests. ``setup.sh`` installs only proxylab's small runtime
dependencies and pytest, and installs the bundled proxylab by path (a ``.pth`` file);
``run_autograder`` also puts it on ``PYTHONPATH`` and calls ``proxylab grade --gradescope``. ``autograder.zip`` is written beside the
files, ready to upload.

Layer 5 (an edge).
"""

from __future__ import annotations

import shlex
import shutil
import zipfile
from collections.abc import Sequence
from pathlib import Path

from proxylab.course.grading import Exercise

__all__ = ["make_gradescope_bundle"]

SOURCE = "/autograder/source"

_SETUP = """\
#!/usr/bin/env bash
# Gradescope runs this once, when it builds the autograder image (Ubuntu, as root).
set -euo pipefail
if ! command -v python3 >/dev/null || ! python3 -m pip --version >/dev/null 2>&1; then
    apt-get update && apt-get install -y python3 python3-pip
fi
# proxylab itself travels in this bundle (source/proxylab); only its dependencies come from PyPI.
python3 -m pip install --quiet rich pytest 'tomli; python_version < "3.11"' \\
    || python3 -m pip install --quiet --break-system-packages rich pytest 'tomli; python_version < "3.11"'
# Install the bundled proxylab by path: a .pth file puts {source} on every python3's path.
SITE=$(python3 -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
echo {source} > "$SITE/proxylab-autograder.pth"
python3 -c 'import proxylab.course.grading' && echo "proxylab is installed from {source}"
"""

_RUN = """\
#!/usr/bin/env bash
# Gradescope runs this for every submission: grade /autograder/submission.
set -uo pipefail
cd {source}
export PYTHONPATH={source}${{PYTHONPATH:+:$PYTHONPATH}}
mkdir -p /autograder/results
python3 -m proxylab grade {names} \\
    --exercises {source}/exercises \\
    --submission /autograder/submission \\
    --gradescope /autograder/results/results.json{hidden}
# The score is in results.json; a non-zero exit here would only hide it.
exit 0
"""


def make_gradescope_bundle(
    destination: Path, exercises: Sequence[Exercise], hidden: Path | None = None
) -> Path:
    """Write the bundle for ``exercises`` into ``destination``; return the zip's path."""
    destination.mkdir(parents=True, exist_ok=True)
    _copy_exercises(destination / "exercises", exercises)
    _copy_package(destination / "proxylab")
    hidden_flag = ""
    if hidden is not None:
        for exercise in exercises:
            if (hidden / exercise.name).is_dir():
                _copytree(hidden / exercise.name, destination / "hidden" / exercise.name)
        hidden_flag = f" \\\n    --hidden {SOURCE}/hidden"
    names = " ".join(shlex.quote(exercise.name) for exercise in exercises)
    _script(destination / "setup.sh", _SETUP.format(source=SOURCE))
    _script(
        destination / "run_autograder",
        _RUN.format(source=SOURCE, names=names, hidden=hidden_flag),
    )
    return _zip(destination, destination / "autograder.zip")


def _copytree(source: Path, target: Path) -> None:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache", ".mypy_cache")
    shutil.copytree(source, target, ignore=ignore, dirs_exist_ok=True)


def _copy_exercises(target: Path, exercises: Sequence[Exercise]) -> None:
    """The exercises' folders (tests, starters, READMEs) and their shared conftest."""
    target.mkdir(parents=True, exist_ok=True)
    for exercise in exercises:
        _copytree(exercise.folder, target / exercise.name)
    if exercises:
        for name in ("conftest.py", "pytest.ini"):
            if (exercises[0].folder.parent / name).is_file():
                shutil.copy2(exercises[0].folder.parent / name, target / name)


def _copy_package(target: Path) -> None:
    """proxylab's own source: the grader, the pytest plugin and the references."""
    _copytree(Path(__file__).resolve().parents[1], target)


def _script(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8", newline="\n")
    path.chmod(0o755)


def _zip(folder: Path, archive: Path) -> Path:
    """Zip the folder's CONTENTS (Gradescope wants setup.sh at the root), keeping modes."""
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as bundle:
        for path in sorted(folder.rglob("*")):
            if path == archive or path.is_dir():
                continue
            info = zipfile.ZipInfo.from_file(path, path.relative_to(folder).as_posix())
            info.compress_type = zipfile.ZIP_DEFLATED
            bundle.writestr(info, path.read_bytes())
    return archive
