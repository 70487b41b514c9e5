"""``proxylab forward`` as a real subprocess: startup panel, traffic, access log, Ctrl-C."""

from __future__ import annotations

import os
import signal
import socket
from pathlib import Path

import httpx
import pytest
from origins import TEXT, Origin
from subprocesses import OutputReader, start_proxylab

from proxylab.cli.console import parse_size
from proxylab.errors import ConfigError

pytestmark = pytest.mark.timeout(60)


@pytest.mark.skipif(os.name != "posix", reason="sending SIGINT to a child needs POSIX")
def test_forward_serves_logs_and_stops_on_ctrl_c(origin: Origin, tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    process = start_proxylab(
        "forward", "--listen", "127.0.0.1:0", "--privacy", "elite", "--block", "*.social.test",
        "--resolve", f"origin.test=127.0.0.1:{origin.port}", "--access-log", str(log),
    )  # fmt: skip
    output = OutputReader(process)
    try:
        url = output.wait_for(r"listening\s+(http://127\.0\.0\.1:\d+)").group(1)
        output.wait_for(r"try\s+curl")  # the end of the startup panel
        assert "elite" in output.seen and "*.social.test" in output.seen
        with httpx.Client(proxy=url) as client:
            assert client.get("http://origin.test/text").content == TEXT
            assert client.get("http://chat.social.test/").status_code == 403
        output.wait_for(r"200 127\.0\.0\.1 GET http://origin\.test/text")
        output.wait_for(r"403 127\.0\.0\.1 GET http://chat\.social\.test/")
        host, port = url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=10) as sock:
            sock.sendall(b"\x16\x03\x01\x00\x05hello")  # https:// spoken to the plain port
            assert sock.recv(100).startswith(b"HTTP/1.1 400 ")
        output.wait_for(r"400 127\.0\.0\.1 error:invalid-request\s+This is a TLS handshake")
    finally:
        process.send_signal(signal.SIGINT)
        code = output.finish()
    assert code == 0
    logged = log.read_text()
    assert "TCP_MISS/200" in logged and "TCP_DENIED/403" in logged and "NONE/400" in logged


def test_quiet_prints_only_the_panel(origin: Origin) -> None:
    process = start_proxylab(
        "forward",
        "--listen",
        "127.0.0.1:0",
        "--quiet",
        "--resolve",
        f"origin.test=127.0.0.1:{origin.port}",
    )
    output = OutputReader(process)
    try:
        url = output.wait_for(r"listening\s+(http://127\.0\.0\.1:\d+)").group(1)
        with httpx.Client(proxy=url) as client:
            assert client.get("http://origin.test/text").status_code == 200
    finally:
        process.terminate()
        output.finish()
    assert "GET http://origin.test/text" not in output.seen


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--listen", "nowhere"], "HOST:PORT"),
        (["--resolve", "origin.test"], "NAME=HOST:PORT"),
        (["--block", "re:("], "pattern"),
        (["--auth", "nobody"], "USER:PASSWORD"),
        (["--connect-port", "0"], "from 1 to 65535"),
        (["--connect-port", "https"], "from 1 to 65535"),
    ],
)
def test_bad_flags_exit_2_with_a_clear_message(args: list[str], message: str) -> None:
    process = start_proxylab("forward", *args)
    output = OutputReader(process)
    code = output.finish()
    assert code == 2
    assert message in output.seen and "Traceback" not in output.seen


def test_bad_size_is_a_usage_error() -> None:
    process = start_proxylab("forward", "--cache-size", "lots")
    output = OutputReader(process)
    assert output.finish() == 2
    assert "64MB" in output.seen


@pytest.mark.parametrize(
    ("text", "size"),
    [("64MB", 64 * 2**20), ("1kb", 1024), ("0", 0), ("2G", 2 * 2**30), ("1.5MiB", 1572864)],
)
def test_parse_size(text: str, size: int) -> None:
    assert parse_size(text) == size


def test_parse_size_rejects_nonsense() -> None:
    with pytest.raises(ConfigError, match="KB, MB or GB"):
        parse_size("12 parsecs")


def _connect_status(url: str, port: int) -> int:
    """The status a CONNECT to 127.0.0.1:PORT gets from the proxy at ``url``."""
    host, proxy_port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(proxy_port)), timeout=10) as sock:
        sock.sendall(
            f"CONNECT 127.0.0.1:{port} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()
        )
        return int(sock.recv(100).split()[1])


@pytest.mark.parametrize(
    ("flags", "panel", "allowed"),
    [
        (["--connect-port", "{port}"], "443, {port}", {443, "{port}"}),
        (["--connect-port", "{port}", "--connect-port", "-443"], "{port}", {"{port}"}),
        (["--connect-port={port}", "--no-default-connect-ports"], "{port}", {"{port}"}),
        (["--no-default-connect-ports"], "none (refused)", set()),
    ],
)
def test_connect_port_adds_to_443_unless_dropped(
    origin: Origin, flags: list[str], panel: str, allowed: set[object]
) -> None:
    port = origin.port
    fill = [flag.format(port=port) for flag in flags]
    process = start_proxylab("forward", "--listen", "127.0.0.1:0", "--quiet", *fill)
    output = OutputReader(process)
    try:
        url = output.wait_for(r"listening\s+(http://127\.0\.0\.1:\d+)").group(1)
        shown = output.wait_for(r"CONNECT ports\s+(.+?)\s*│?\n").group(1).strip(" │")
        to_origin, to_443 = _connect_status(url, port), _connect_status(url, 443)
    finally:
        process.terminate()
        output.finish()
    assert shown == panel.format(port=port)
    ports = {port if p == "{port}" else p for p in allowed}
    assert (to_origin == 200) == (port in ports)  # the tunnel opened
    assert (to_443 != 403) == (443 in ports)  # allowed: tried (nothing listens: 502)
    assert to_origin in (200, 403) and to_443 in (403, 502)
