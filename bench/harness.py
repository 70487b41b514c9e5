"""What the benchmark scripts share: a fast origin, a load generator, CPU pinning, figures.

Measurements follow one rule: the same origin and the same load generator, in the same run,
once directly and once through the proxy, so that the *ratio* says what the proxy costs.
On this 2-core machine the proxy runs pinned to CPU 0 and the origin and the load
generator share CPU 1 (``taskset``), so the proxy never competes with its own load.

- The origin is nginx (one worker) when installed, else a small Python server.
- The load is wrk when installed (a Lua line makes it send absolute-form requests, which
  is what a forward proxy expects), else a Python keep-alive load generator.

Nothing here reaches beyond 127.0.0.1.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROXY_CPU = os.environ.get("PROXY_CPU", "0")
LOAD_CPU = os.environ.get("LOAD_CPU", "1")
ORIGIN_CPU = os.environ.get("ORIGIN_CPU", LOAD_CPU)


def pinned(command: Sequence[str], cpu: str) -> list[str]:
    """Prefix ``command`` with taskset when it exists and there are two CPUs or more.

    ``cpu`` "any" leaves the process to the scheduler.
    """
    if cpu != "any" and shutil.which("taskset") and (os.cpu_count() or 1) >= 2:
        return ["taskset", "-c", cpu, *command]
    return list(command)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout: float = 10.0) -> None:
    """Poll until something accepts on ``port`` (bounded)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port} after {timeout} s")


@dataclass(frozen=True)
class Figures:
    """One load run's results."""

    requests_per_second: float
    p50_ms: float
    p99_ms: float
    transfer_mb_s: float = 0.0
    errors: int = 0


# -- origins -------------------------------------------------------------------------------


NGINX_CONF = """
worker_processes 1;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/error.log crit;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    keepalive_requests 1000000;
    server {{
        listen 127.0.0.1:{port};
        root {dir}/www;
        location /nostore/ {{ add_header Cache-Control "no-store"; }}
        location /cached/ {{ add_header Cache-Control "max-age=3600"; }}
    }}
}}
"""


@contextmanager
def origin(sizes: dict[str, int], sparse: dict[str, int] | None = None) -> Iterator[int]:
    """Serve files named like ``sizes`` keys (e.g. ``"1k": 1024``) on a port; yields it.

    ``sparse`` files (e.g. ``{"1g": 2**30}``) cost no disk and read as zeros.
    """
    with tempfile.TemporaryDirectory(prefix="proxylab-bench-") as folder:
        os.chmod(folder, 0o755)  # nginx workers run as an unprivileged user
        www = Path(folder, "www")
        for sub in ("", "nostore", "cached"):
            (www / sub).mkdir(parents=True, exist_ok=True)
            for name, size in sizes.items():
                (www / sub / name).write_bytes(os.urandom(size))
        for name, size in (sparse or {}).items():
            with open(www / name, "wb") as handle:
                handle.truncate(size)
        port = free_port()
        if shutil.which("nginx"):
            conf = Path(folder, "nginx.conf")
            conf.write_text(NGINX_CONF.format(dir=folder, port=port))
            command = pinned(["nginx", "-c", str(conf), "-p", folder], ORIGIN_CPU)
        else:
            command = pinned(
                [sys.executable, "-m", "http.server", str(port), "-b", "127.0.0.1", "-d", str(www)],
                LOAD_CPU,
            )
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_for_port(port)
            yield port
        finally:
            process.terminate()
            process.wait(10)


def origin_name() -> str:
    return "nginx (1 worker)" if shutil.which("nginx") else "python http.server"


# -- the proxy under test --------------------------------------------------------------------


@contextmanager
def proxylab_process(arguments: Sequence[str], port: int) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``python -m proxylab ARGS`` pinned to the proxy CPU until the block ends."""
    command = pinned([sys.executable, "-m", "proxylab", *arguments], PROXY_CPU)
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_for_port(port)
        yield process
    finally:
        process.send_signal(2)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident memory (Linux /proc), in MB; 0 where unknown."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    match = re.search(r"VmHWM:\s+(\d+) kB", status)
    return int(match.group(1)) / 1024 if match else 0.0


# -- load ----------------------------------------------------------------------------------


def load(url: str, connections: int, seconds: float, *, via: str | None = None) -> Figures:
    """Closed-loop load on ``url`` (through forward proxy ``via`` = "host:port" if given)."""
    if shutil.which("wrk"):
        return _wrk(url, connections, seconds, via)
    return _python_load(url, connections, seconds, via)


def _wrk(url: str, connections: int, seconds: float, via: str | None) -> Figures:
    target = url
    script_lines = []
    if via is not None:
        script_lines.append(f'wrk.path = "{url}"')  # absolute-form, as sent to a forward proxy
        target = f"http://{via}/"
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write("\n".join(script_lines) + "\n")
    command = pinned(
        [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{max(1, round(seconds))}s",
            "--latency",
            "-s",
            script.name,
            target,
        ],
        LOAD_CPU,
    )
    try:
        output = subprocess.run(
            command, capture_output=True, text=True, timeout=seconds + 30
        ).stdout
    finally:
        os.unlink(script.name)
    return _parse_wrk(output)


def _parse_wrk(output: str) -> Figures:
    def ms(label: str) -> float:
        match = re.search(rf"{label}\s+([\d.]+)(us|ms|s)", output)
        if not match:
            return 0.0
        value, unit = float(match.group(1)), match.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    transfer = re.search(r"Transfer/sec:\s+([\d.]+)(KB|MB|GB)", output)
    mb = 0.0
    if transfer:
        mb = float(transfer.group(1)) * {"KB": 1 / 1024, "MB": 1, "GB": 1024}[transfer.group(2)]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    total_errors = int(errors.group(1)) if errors else 0
    if socket_errors:
        total_errors += sum(int(g) for g in socket_errors.groups())
    return Figures(float(rps.group(1)) if rps else 0.0, ms("50%"), ms("99%"), mb, total_errors)


def _python_load(url: str, connections: int, seconds: float, via: str | None) -> Figures:
    """A small keep-alive load generator for machines without wrk."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    host, port = (via or parts.netloc).split(":")
    target = url if via else (parts.path or "/")
    request = f"GET {target} HTTP/1.1\r\nHost: {parts.netloc}\r\n\r\n".encode()
    latencies: list[float] = []
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def user() -> None:
        mine = []
        with socket.create_connection((host, int(port))) as sock:
            reader = sock.makefile("rb")
            while time.monotonic() < stop_at:
                start = time.perf_counter()
                sock.sendall(request)
                length = 0
                while (line := reader.readline()) not in (b"\r\n", b""):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                reader.read(length)
                mine.append(time.perf_counter() - start)
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=user) for _ in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    latencies.sort()
    count = len(latencies)
    return Figures(
        count / seconds, latencies[count // 2] * 1000, latencies[int(count * 0.99)] * 1000
    )


def ratio(through: float, direct: float) -> str:
    return f"{through / direct:.2f}" if direct else "n/a"
