"""``proxylab tour`` end to end: every step runs, every chart is a real PNG, --step waits."""

from __future__ import annotations

import io
import os
import re
import struct
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from rich.console import Console
from subprocesses import ROOT, OutputReader

from proxylab.cli import main
from proxylab.cli.tour import wait_for_enter

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
EXPECTED = {
    "forward_sequence",
    "allowed_vs_blocked",
    "cache_timeline",
    "hit_ratio_by_cache_size",
    "reverse_sequence",
    "requests_per_backend",
    "latency_percentiles",
    "latency_cdf",
    "backend_timeline",
}


#: the first panel heading of each step, in order (caching shows two panels, 4 and 4b)
PANELS = (
    "1. The lab", "2. Privacy", "3. Filtering", "4. Caching", "5. Load balancing",
    "6. Failover", "7. TLS termination",
)  # fmt: skip


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from the IHDR chunk that must follow the signature."""
    assert data[:8] == PNG_SIGNATURE and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_the_tour_runs_and_saves_its_charts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    threads = set(threading.enumerate())
    output = tmp_path / "tour"
    assert main(["tour", "--output", str(output)]) == 0
    assert set(threading.enumerate()) == threads  # the lab and every proxy were shut down
    saved = {path.stem: path for path in output.glob("*.png")}
    assert set(saved) == EXPECTED
    for path in saved.values():
        data = path.read_bytes()
        width, height = png_size(data)
        assert width >= 400 and height >= 200 and len(data) > 5_000
    printed = capsys.readouterr().out
    for heading in ("Privacy", "Filtering", "Caching", "Load balancing", "Failover", "TLS"):
        assert heading in printed
    assert "Tour done in" in printed
    assert "Where next" in printed and "make lab" in printed and "exercises/" in printed
    assert printed.index("Tour done in") < printed.index("Where next")
    assert "Press Enter" not in printed  # the default never waits
    # panel 7 says what the kitchen's own record shows: your address in X-Forwarded-For
    assert "your address 127.0.0." in " ".join(printed.split())


@pytest.mark.skipif(os.name != "posix", reason="SIGINT delivery to a child needs POSIX")
def test_step_mode_waits_for_enter_before_each_next_panel(tmp_path: Path) -> None:
    """Driven like a person: the next panel appears only after Enter is pressed."""
    process = subprocess.Popen(
        [sys.executable, "-m", "proxylab", "tour", "--step", "--output", str(tmp_path)],
        cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, env=dict(os.environ, PYTHONUNBUFFERED="1", COLUMNS="120", NO_COLOR="1"),
    )  # fmt: skip
    output = OutputReader(process)
    assert process.stdin is not None
    try:
        for number, heading in enumerate(PANELS[1:], 2):
            output.wait_for(r"Press Enter" + r"(?:.|\n)*Press Enter" * (number - 2))
            assert heading not in output.seen  # still waiting: the next panel is not out
            process.stdin.write("\n")
            process.stdin.flush()
            output.wait_for(re.escape(heading))
        process.stdin.close()
        assert output.finish(timeout=60) == 0
    finally:
        if process.poll() is None:
            process.kill()
            output.finish()
    assert output.seen.count("Press Enter") == len(PANELS) - 1
    assert "Where next" in output.seen


def test_step_mode_runs_on_when_input_ends(monkeypatch: pytest.MonkeyPatch) -> None:
    """A closed stdin (a pipe with nothing in it) never leaves --step waiting."""
    console = Console(file=io.StringIO())
    monkeypatch.setattr(sys, "stdin", io.StringIO("\n"))
    assert wait_for_enter(console) is True  # Enter: go on pausing
    assert wait_for_enter(console) is False  # end of input: run on without pauses
