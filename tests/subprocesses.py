"""Running ``python -m proxylab ...`` as a real subprocess and reading what it prints."""

from __future__ import annotations

import os
import queue
import re
import subprocess
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def start_proxylab(*args: str) -> subprocess.Popen[str]:
    """Start the command with plain, wide, unbuffered output."""
    env = dict(os.environ, PYTHONUNBUFFERED="1", COLUMNS="160", NO_COLOR="1")
    return subprocess.Popen(
        [sys.executable, "-m", "proxylab", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


class OutputReader:
    """Collects a process's output in a thread, so every wait on it is bounded."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self.seen = ""
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._thread = threading.Thread(target=self._pump)
        self._thread.start()

    def _pump(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def wait_for(self, pattern: str, timeout: float = 15.0) -> re.Match[str]:
        """Read lines until ``pattern`` matches the output so far (or fail clearly)."""
        compiled = re.compile(pattern)
        while not (match := compiled.search(self.seen)):
            line = self._lines.get(timeout=timeout)
            if line is None:
                raise AssertionError(
                    f"the process exited before printing {pattern!r}:\n{self.seen}"
                )
            self.seen += line
        return match

    def finish(self, timeout: float = 15.0) -> int:
        """Wait for the process to end and collect the rest of its output; returns the exit code."""
        code = self.process.wait(timeout)
        self._thread.join(timeout)
        while (line := self._lines.get(timeout=timeout)) is not None:
            self.seen += line
        if self.process.stdout is not None:
            self.process.stdout.close()
        return code
