"""Every script under bench/ answers --help (and exits 0) without running a benchmark."""

from __future__ import annotations

import subprocess
import sys

import pytest
from subprocesses import ROOT

SCRIPTS = sorted((ROOT / "bench").glob("*.py"))


def test_the_bench_folder_has_its_scripts() -> None:
    assert {"bench_forward", "bench_reverse", "bench_simulate", "bench_wire"} <= {
        path.stem for path in SCRIPTS
    }


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda path: path.name)
def test_every_bench_script_answers_help(script: object) -> None:
    done = subprocess.run(
        [sys.executable, str(script), "--help"], cwd=ROOT, capture_output=True, text=True,
        timeout=30,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage:") and "Traceback" not in done.stderr
