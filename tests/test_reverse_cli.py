"""``proxylab reverse`` as a real subprocess, and its argument parsing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import httpx
import pytest
from helpers import kitchens
from subprocesses import ROOT, OutputReader, start_proxylab

from proxylab.cli.reverse import parse_backend, parse_route
from proxylab.errors import ConfigError

pytestmark = pytest.mark.timeout(30)
URL = r"listening\s+(https?://127\.0\.0\.1:\d+)"


def start(*args: str) -> OutputReader:
    """``python -m proxylab reverse ARGS`` with its output collected in the background."""
    return OutputReader(start_proxylab("reverse", *args))


def stop(output: OutputReader) -> int:
    """Ctrl-C, then the exit code (the process is killed if it does not stop)."""
    output.process.send_signal(signal.SIGINT)
    try:
        return output.finish()
    finally:
        if output.process.poll() is None:
            output.process.kill()
            output.finish()


@pytest.mark.skipif(os.name != "posix", reason="SIGINT delivery to a child needs POSIX")
def test_cli_serves_then_exits_0_on_ctrl_c() -> None:
    with kitchens("a", "b") as (a, b):
        output = start("--listen", "127.0.0.1:0", "--backend", f"127.0.0.1:{a.port}",
                       f"http://127.0.0.1:{b.port}=2", "--balancer", "weighted", "--quiet")  # fmt: skip
        try:
            url = output.wait_for(URL).group(1)
            assert not url.endswith(":0")
            with httpx.Client(trust_env=False, timeout=10) as client:
                names = [client.get(f"{url}/").headers["x-backend"] for _ in range(3)]
            assert sorted(names) == ["a", "b", "b"]
        finally:
            code = stop(output)
        assert code == 0


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
        output = start("--listen", "127.0.0.1:0", "--backend", f"127.0.0.1:{a.port}", "--tls-self-signed",
                       "--hsts", "--dashboard")  # fmt: skip
        try:
            url = output.wait_for(URL).group(1)
            assert url.startswith("https://")
        finally:
            code = stop(output)
        assert code == 0
