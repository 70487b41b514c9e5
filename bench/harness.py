"""What the benchmark scripts share: a fast origin, a load generator, CPU pinning, figures.

Measurements follow one rule: the same origin and the same load generator, in the same run,
once directly and once through the proxy, so that the *ratio* says what the proxy costs.
On this 2-core machine the proxy runs pinned to CPU 0 and the origin and the load
generator share CPU 1 (``taskset``; the Python load generator's threads by
``os.sched_setaffinity``), so the proxy never competes with its own load.
``SETTINGS.pin = False`` (the scripts' ``--no-pin``) leaves placement to the scheduler;
``placement()`` says which was used, for the table headers.
- ``interpreter()`` names the Python that runs the proxy (the one running the script):
  how CPython was built moves every figure here (see the README's benchmark section).

- The origin is nginx (one worker) when installed, else Python's http.server (keep-alive).
- The load is wrk when installed (a Lua line makes it send absolute-form requests, which
  is what a forward proxy expects), else a Python keep-alive load generator.
- ``best_of`` alternates runs and keeps the best of each: a busy machine can only make a
  run slower, so the best run is the least disturbed one.
- Calibration: ``bare_relay_process`` runs bench/bare_relay.py, the cheapest threaded
  relay CPython allows, on the proxy's CPU; its ratio to direct is about the best that any
  threaded Python proxy can reach on this machine.

Nothing here reaches beyond 127.0.0.1.
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BARE_RELAY = Path(__file__).resolve().with_name("bare_relay.py")
PROXY_CPU = os.environ.get("PROXY_CPU", "0")
LOAD_CPU = os.environ.get("LOAD_CPU", "1")
ORIGIN_CPU = os.environ.get("ORIGIN_CPU", LOAD_CPU)


@dataclass
class Settings:
    """What a script's command line chose; set before starting anything."""

    pin: bool = True  # False: the scheduler places every process (--no-pin)
    wrk: bool = shutil.which("wrk") is not None  # False: the Python load generator
    nginx: bool = shutil.which("nginx") is not None  # False: Python's http.server


SETTINGS = Settings()


def pinning() -> bool:
    """Whether processes get pinned: asked for, taskset exists, and two CPUs or more."""
    return SETTINGS.pin and shutil.which("taskset") is not None and (os.cpu_count() or 1) >= 2


def interpreter() -> str:
    """The Python that runs the proxy, and how it is linked, for table headers.

    How CPython was built moves every figure: on the 2-core test machine the forward proxy
    served 10-20 % more small requests per second under Debian's /usr/bin/python3 (built
    with PGO and LTO, libpython linked in) than under pyenv's default build (a shared
    libpython, no PGO), which is what ``python3`` there runs.
    """
    linked = "shared libpython" if _links_shared_libpython() else "static libpython"
    version = platform.python_version()
    return f"{platform.python_implementation()} {version} at {sys.executable} ({linked})"


def _links_shared_libpython() -> bool:
    maps = Path("/proc/self/maps")
    if maps.exists():  # Linux: is a libpython*.so mapped into this very process?
        return "/libpython" in maps.read_text()
    return bool(sysconfig.get_config_var("Py_ENABLE_SHARED"))


def placement() -> str:
    """Which CPUs the proxy, the load and the origin ran on, for table headers."""
    if not SETTINGS.pin:
        return "unpinned (--no-pin: the scheduler places every process)"
    if not pinning():
        return "unpinned (no taskset, or a single CPU)"
    if ORIGIN_CPU == LOAD_CPU:
        return f"pinned (proxy on CPU {PROXY_CPU}, load and origin on CPU {LOAD_CPU})"
    return f"pinned (proxy on CPU {PROXY_CPU}, load on CPU {LOAD_CPU}, origin on CPU {ORIGIN_CPU})"


def pinned(command: Sequence[str], cpu: str) -> list[str]:
    """Prefix ``command`` with ``taskset -c cpu`` when ``pinning()``.

    ``cpu`` "any" leaves the process to the scheduler.
    """
    if cpu != "any" and pinning():
        return ["taskset", "-c", cpu, *command]
    return list(command)


def cpu_set(cpus: str) -> set[int]:
    """taskset's CPU list ("1", "0,2", "2-3") as a set of CPU numbers."""
    chosen: set[int] = set()
    for part in cpus.split(","):
        first, _, last = part.partition("-")
        chosen.update(range(int(first), int(last or first) + 1))
    return chosen


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


PYTHON_ORIGIN = """
import functools, http.server, sys
class Handler(http.server.SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the load expects
    disable_nagle_algorithm = True  # the head and the body leave in separate writes
    def log_message(self, *args): pass
handler = functools.partial(Handler, directory=sys.argv[2])
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), handler).serve_forever()
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
        if SETTINGS.nginx:
            conf = Path(folder, "nginx.conf")
            conf.write_text(NGINX_CONF.format(dir=folder, port=port))
            command = ["nginx", "-c", str(conf), "-p", folder]
        else:
            command = [sys.executable, "-c", PYTHON_ORIGIN, str(port), str(www)]
        command = pinned(command, ORIGIN_CPU)
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_for_port(port)
            yield port
        finally:
            process.terminate()
            process.wait(10)


def origin_name() -> str:
    return "nginx (1 worker)" if SETTINGS.nginx else "python http.server"


# -- the proxy under test, and the bare relay to calibrate it --------------------------------


@contextmanager
def proxylab_process(arguments: Sequence[str], port: int) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``python -m proxylab ARGS`` pinned to the proxy CPU until the block ends."""
    with _proxy_cpu_process(["-m", "proxylab", *arguments], port) as process:
        yield process


@contextmanager
def bare_relay_process(port: int, origin_port: int) -> Iterator[subprocess.Popen[bytes]]:
    """Run bench/bare_relay.py (listening on ``port``) pinned to the proxy CPU."""
    with _proxy_cpu_process([str(BARE_RELAY), str(port), str(origin_port)], port) as process:
        yield process


@contextmanager
def _proxy_cpu_process(arguments: Sequence[str], port: int) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``python ARGS`` on the proxy CPU; yields once it listens on ``port``.

    Its stderr goes to a file (a pipe nobody reads could fill and stall it) and is shown
    if it never listens.
    """
    command = pinned([sys.executable, *arguments], PROXY_CPU)
    with tempfile.TemporaryFile() as stderr:
        process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=stderr)
        try:
            try:
                wait_for_port(port)
            except RuntimeError as error:
                stderr.seek(0)
                tail = stderr.read()[-4000:].decode(errors="replace")
                raise RuntimeError(f"{error}; its stderr:\n{tail}") from None
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


def load_name() -> str:
    return "wrk (1 thread)" if SETTINGS.wrk else "python threads"


def load(url: str, connections: int, seconds: float, *, via: str | None = None) -> Figures:
    """Closed-loop load on ``url`` (through forward proxy ``via`` = "host:port" if given)."""
    if SETTINGS.wrk:
        return _wrk(url, connections, seconds, via)
    return _python_load(url, connections, seconds, via)


def best_of(repeat: int, *runs: Callable[[], Figures]) -> list[Figures]:
    """Call ``runs`` in turn, ``repeat`` rounds; for each, the run with the most requests/s.

    Alternating spreads any disturbance from elsewhere on the machine over all of them.
    """
    rounds = [[run() for run in runs] for _ in range(max(1, repeat))]
    columns = zip(*rounds, strict=True)
    return [max(column, key=lambda f: f.requests_per_second) for column in columns]


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
    here = os.sched_getaffinity(0) if pinning() and LOAD_CPU != "any" else None
    if here is not None:  # threads inherit this thread's CPUs when they start
        os.sched_setaffinity(0, cpu_set(LOAD_CPU))
    try:
        for thread in threads:
            thread.start()
    finally:
        if here is not None:
            os.sched_setaffinity(0, here)
    for thread in threads:
        thread.join()
    latencies.sort()
    count = len(latencies)
    return Figures(
        count / seconds, latencies[count // 2] * 1000, latencies[int(count * 0.99)] * 1000
    )


def ratio(through: float, direct: float) -> str:
    return f"{through / direct:.2f}" if direct else "n/a"


#: The comparison table both benchmarks print: a header, then one ``comparison_row`` per point.
COMPARISON_HEADER = (
    f"{'through':<10} {'body':>5} {'conns':>5} | {'direct r/s':>10} {'p50':>6} {'p99':>6} | "
    f"{'proxy r/s':>10} {'p50':>6} {'p99':>6} | {'ratio':>5}"
)


def comparison_row(
    through: str, body: str, connections: int, direct: Figures, proxied: Figures
) -> str:
    """One line of the table: direct and proxied figures side by side, and their ratio."""
    return (
        f"{through:<10} {body:>5} {connections:>5} | "
        f"{direct.requests_per_second:>10.0f} {direct.p50_ms:>6.2f} {direct.p99_ms:>6.2f} | "
        f"{proxied.requests_per_second:>10.0f} {proxied.p50_ms:>6.2f} {proxied.p99_ms:>6.2f} | "
        f"{ratio(proxied.requests_per_second, direct.requests_per_second):>5}"
        + (f"  errors {proxied.errors}" if proxied.errors else "")
    )


if __name__ == "__main__":
    import argparse

    argparse.ArgumentParser(
        description="Shared helpers of the benchmark scripts (origin, load, pinning); not a "
        "benchmark itself: run bench/bench_forward.py, bench_reverse.py, bench_simulate.py or "
        "bench_wire.py (each answers --help). Details: bench/README.md."
    ).parse_args()
    print("harness.py is imported by the benchmark scripts; see --help.")
