"""``proxylab reverse`` as a real subprocess, and its argument parsing."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest
from test_reverse import kitchens

from proxylab.cli.reverse import parse_backend, parse_route
from proxylab.errors import ConfigError

pytestmark = pytest.mark.timeout(30)
ROOT = Path(__file__).resolve().parents[1]
URL = re.compile(r"listening\s+(https?://127\.0\.0\.1:\d+)")


def start(*args: str) -> subprocess.Popen[str]:
    env = dict(os.environ, PYTHONUNBUFFERED="1", COLUMNS="160", NO_COLOR="1")
    return subprocess.Popen(
        [sys.executable, "-m", "proxylab", "reverse", *args],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip


def read_until(
    process: subprocess.Popen[str], pattern: re.Pattern[str], timeout: float = 15.0
) -> tuple[str, threading.Thread]:
    """Read stdout lines (in a thread, so the wait is bounded) until ``pattern`` matches."""
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line)
        lines.put(None)

    reader = threading.Thread(target=pump)
    reader.start()
    seen = ""
    while True:
        line = lines.get(timeout=timeout)
        if line is None:
            raise AssertionError(f"the proxy exited early:\n{seen}")
        seen += line
        match = pattern.search(seen)
        if match:
            return match.group(1), reader


@pytest.mark.skipif(os.name != "posix", reason="SIGINT delivery to a child needs POSIX")
def test_cli_serves_then_exits_0_on_ctrl_c() -> None:
    with kitchens("a", "b") as (a, b):
        process = start("--listen", "127.0.0.1:0", "--backend", f"127.0.0.1:{a.port}",
                        f"http://127.0.0.1:{b.port}=2", "--balancer", "weighted", "--quiet")  # fmt: skip
        reader = None
        try:
            url, reader = read_until(process, URL)
            assert not url.endswith(":0")
            with httpx.Client(trust_env=False, timeout=10) as client:
                names = [client.get(f"{url}/").headers["x-backend"] for _ in range(3)]
            assert sorted(names) == ["a", "b", "b"]
            process.send_signal(signal.SIGINT)
            assert process.wait(timeout=15) == 0
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
            if reader is not None:
                reader.join()
            assert process.stdout is not None
            process.stdout.close()


def test_cli_bad_backend_exits_2_naming_the_expected_form() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "proxylab", "reverse", "--backend", "kitchen-one"],
        cwd=ROOT, capture_output=True, text=True, timeout=30,
        env=dict(os.environ, COLUMNS="200", NO_COLOR="1"),
    )  # fmt: skip
    assert result.returncode == 2
    assert "HOST:PORT" in result.stdout + result.stderr and "kitchen-one" in result.stdout


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:8001", ("127.0.0.1", 8001, 1)),
        ("127.0.0.1:8001=3", ("127.0.0.1", 8001, 3)),
        ("http://localhost:9000/", ("localhost", 9000, 1)),
        ("http://localhost=2", ("localhost", 80, 2)),
        ("[::1]:8080", ("::1", 8080, 1)),
    ],
)
def test_parse_backend(text: str, expected: tuple[str, int, int]) -> None:
    backend = parse_backend(text)
    assert (backend.host, backend.port, backend.weight) == expected


@pytest.mark.parametrize(
    "text", ["8001", "host:", "host:99999", "ftp://h:1", "h:1=x", "http://h:1/path"]
)
def test_parse_backend_rejects(text: str) -> None:
    with pytest.raises(ConfigError, match="HOST:PORT"):
        parse_backend(text)


def test_parse_route() -> None:
    route = parse_route("/api=127.0.0.1:8001,127.0.0.1:8002=2", "least-connections")
    assert route.prefix == "/api" and [b.weight for b in route.backends] == [1, 2]
    with pytest.raises(ConfigError, match="PREFIX=ADDR"):
        parse_route("api=127.0.0.1:1", "round-robin")


@pytest.mark.skipif(os.name != "posix", reason="SIGINT delivery to a child needs POSIX")
def test_cli_dashboard_and_tls_self_signed() -> None:
    with kitchens("a") as (a,):
        process = start("--listen", "127.0.0.1:0", "--backend", f"127.0.0.1:{a.port}", "--tls-self-signed",
                        "--hsts", "--dashboard")  # fmt: skip
        reader = None
        try:
            url, reader = read_until(process, URL)
            assert url.startswith("https://")
            process.send_signal(signal.SIGINT)
            assert process.wait(timeout=15) == 0
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
            if reader is not None:
                reader.join()
            assert process.stdout is not None
            process.stdout.close()
