"""How much does the reverse proxy cost? Requests/s and latency, proxied vs direct.

Run: ``.venv/bin/python bench/bench_reverse.py [--duration 5] [--python-load]``

For each body size (1 KiB, 256 KiB) and each number of keep-alive connections (16, 64),
the same load is sent once straight to the backend and once through ``ReverseProxy``;
the table prints both and their ratio. Figures only, never assertions: they depend on the
machine.

Set-up, chosen so that the proxy is what is measured:
- backend: nginx with one worker if installed (a fast, boring backend), else a small
  proxylab ``Server`` answering fixed bytes;
- load: ``wrk`` if installed, else a Python load generator (threads, raw keep-alive
  sockets), which is much slower than wrk and so measures less precisely;
- direct and proxied runs alternate ``--repeat`` times and the best of each is shown: a
  busy machine can only make a run slower, so the best run is the least disturbed one;
- CPU pinning where the OS allows: the proxy (a subprocess) on CPU 0, the load generator
  and the backend on CPU 1 (``os.sched_setaffinity``), so they do not steal the proxy's
  time slices. With more CPUs the backend gets its own.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SIZES = {"1k": 1024, "256k": 256 * 1024}
CONNECTIONS = (16, 64)


# -- processes ---------------------------------------------------------------------------


def cpus(*wanted: int) -> set[int] | None:
    """The wanted CPUs that exist and are allowed, or None where pinning is unsupported."""
    if not hasattr(os, "sched_getaffinity"):
        return None
    allowed = os.sched_getaffinity(0)
    chosen = {c for c in wanted if c in allowed}
    return chosen or None


def pin(pid: int, cpu_set: set[int] | None) -> None:
    if cpu_set is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(pid, cpu_set)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_listening(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            threading.Event().wait(0.05)
    raise RuntimeError(f"nothing listens on port {port}")


NGINX_CONF = """
worker_processes 1;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/error.log;
{user}
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body; proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fcgi; uwsgi_temp_path {dir}/uwsgi; scgi_temp_path {dir}/scgi;
    keepalive_requests 1000000;
    server {{
        listen 127.0.0.1:{port};
        root {dir}/www;
    }}
}}
"""


@contextmanager
def backend(kind: str, cpu_set: set[int] | None) -> Iterator[tuple[str, int]]:
    """Start the backend (nginx or Python) serving /1k and /256k; yields (name, port)."""
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="bench-reverse-") as tmp:
        www = Path(tmp, "www")
        www.mkdir()
        for name, size in SIZES.items():
            (www / name).write_bytes(b"x" * size)
        if kind == "nginx":
            user = "user root;" if os.geteuid() == 0 else ""
            conf = Path(tmp, "nginx.conf")
            conf.write_text(NGINX_CONF.format(dir=tmp, port=port, user=user))
            command = ["nginx", "-c", str(conf), "-p", tmp]
        else:
            command = [sys.executable, __file__, "--serve-backend", str(port)]
        process = subprocess.Popen(command, cwd=ROOT, stdin=subprocess.PIPE)
        try:
            pin(process.pid, cpu_set)
            wait_listening(port)
            if kind == "nginx":
                for child in _children(process.pid):
                    pin(child, cpu_set)
            yield kind, port
        finally:
            process.terminate()
            process.wait(10)


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


@contextmanager
def proxy(backend_port: int, cpu_set: set[int] | None) -> Iterator[int]:
    """The reverse proxy in its own process, pinned; yields its port."""
    port = free_port()
    command = [sys.executable, __file__, "--serve-proxy", str(port), str(backend_port)]
    process = subprocess.Popen(command, cwd=ROOT, stdin=subprocess.PIPE)
    try:
        pin(process.pid, cpu_set)
        wait_listening(port)
        yield port
    finally:
        assert process.stdin is not None
        process.stdin.close()  # the child stops when its stdin closes
        process.wait(20)


def serve_proxy(port: int, backend_port: int) -> None:
    """Child process: run ReverseProxy until stdin closes."""
    sys.path.insert(0, str(ROOT))
    from proxylab.balancers import Backend
    from proxylab.metrics import EventLog
    from proxylab.reverse import ReverseProxy

    reverse = ReverseProxy(backends=[Backend("127.0.0.1", backend_port)], events=EventLog(1000))
    with reverse.serve(("127.0.0.1", port)):
        sys.stdin.read()


def serve_backend(port: int) -> None:
    """Child process: a fixed-bytes proxylab backend (when nginx is not installed)."""
    sys.path.insert(0, str(ROOT))
    from proxylab.messages import Headers, Response
    from proxylab.server import ClientConnection, Server

    bodies = {f"/{name}": b"x" * size for name, size in SIZES.items()}

    def handle(conn: ClientConnection, request: object) -> None:
        body = bodies.get(getattr(request, "target", ""), b"")
        headers = Headers([("Content-Length", str(len(body))), ("Content-Type", "text/plain")])
        conn.send_response(Response(200 if body else 404, headers, "OK"), body)

    with Server(handle, ("127.0.0.1", port), name="bench-backend"):  # type: ignore[arg-type]
        sys.stdin.read()


# -- load ----------------------------------------------------------------------------------


def run_wrk(
    url: str, connections: int, duration: float, cpu_set: set[int] | None
) -> tuple[float, float, float]:
    """(requests/s, p50 ms, p99 ms) from wrk --latency."""
    command = ["wrk", "-t1", f"-c{connections}", f"-d{duration:g}s", "--latency", url]
    if cpu_set is not None and shutil.which("taskset"):
        command = ["taskset", "-c", ",".join(map(str, sorted(cpu_set))), *command]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    return rps, _wrk_ms(out, "50%"), _wrk_ms(out, "99%")


def _wrk_ms(out: str, label: str) -> float:
    match = re.search(rf"^\s*{label}\s+([\d.]+)(us|ms|s)\b", out, re.MULTILINE)
    if match is None:
        return float("nan")
    return float(match.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[match.group(2)]


def run_python_load(
    url: str, connections: int, duration: float, cpu_set: set[int] | None
) -> tuple[float, float, float]:
    """A small keep-alive load generator: one thread per connection, raw sockets."""
    if cpu_set is not None:
        pin(0, cpu_set)
    host_port, path = url.removeprefix("http://").split("/", 1)
    address = (host_port.split(":")[0], int(host_port.split(":")[1]))
    request = f"GET /{path} HTTP/1.1\r\nHost: {host_port}\r\n\r\n".encode()
    latencies: list[float] = []
    deadline = time.monotonic() + duration

    def worker() -> None:
        mine = []
        with socket.create_connection(address) as sock:
            while time.monotonic() < deadline:
                started = time.perf_counter()
                sock.sendall(request)
                _read_one(sock)
                mine.append(time.perf_counter() - started)
        latencies.extend(mine)

    threads = [threading.Thread(target=worker) for _ in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    latencies.sort()
    p = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000  # noqa: E731
    return len(latencies) / duration, p(0.50), p(0.99)


def _read_one(sock: socket.socket) -> None:
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(re.search(rb"(?i)content-length:\s*(\d+)", head).group(1))  # type: ignore[union-attr]
    while len(body) < length:
        body += sock.recv(max(65536, length - len(body)))


# -- the run -------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per measurement")
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="alternate direct and proxied runs this often; report the best of each",
    )
    parser.add_argument("--python-load", action="store_true", help="use the Python load generator")
    parser.add_argument("--python-backend", action="store_true", help="do not use nginx")
    parser.add_argument("--serve-proxy", nargs=2, type=int, help=argparse.SUPPRESS)
    parser.add_argument("--serve-backend", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_proxy:
        serve_proxy(*args.serve_proxy)
        return 0
    if args.serve_backend:
        serve_backend(args.serve_backend)
        return 0
    use_wrk = shutil.which("wrk") is not None and not args.python_load
    kind = "nginx" if shutil.which("nginx") and not args.python_backend else "python"
    load = run_wrk if use_wrk else run_python_load
    proxy_cpus, load_cpus = cpus(0), cpus(1)
    print(f"backend: {kind}; load: {'wrk' if use_wrk else 'python'}; proxy on CPUs {proxy_cpus}, "
          f"load and backend on CPUs {load_cpus}; {args.duration:g} s per point")  # fmt: skip
    print(f"{'body':>5} {'conns':>5} | {'direct r/s':>10} {'p50':>6} {'p99':>6} | "
          f"{'proxy r/s':>10} {'p50':>6} {'p99':>6} | {'ratio':>5}")  # fmt: skip
    with (
        backend(kind, load_cpus) as (_, backend_port),
        proxy(backend_port, proxy_cpus) as proxy_port,
    ):
        for name in SIZES:
            for connections in CONNECTIONS:
                direct_url = f"http://127.0.0.1:{backend_port}/{name}"
                proxy_url = f"http://127.0.0.1:{proxy_port}/{name}"
                load(proxy_url, connections, 1.0, load_cpus)  # warm up pools and threads
                runs = [(load(direct_url, connections, args.duration, load_cpus),
                         load(proxy_url, connections, args.duration, load_cpus))
                        for _ in range(args.repeat)]  # fmt: skip
                direct = max((run[0] for run in runs), key=lambda r: r[0])
                proxied = max((run[1] for run in runs), key=lambda r: r[0])
                print(f"{name:>5} {connections:>5} | {direct[0]:>10.0f} {direct[1]:>6.2f} {direct[2]:>6.2f} | "
                      f"{proxied[0]:>10.0f} {proxied[1]:>6.2f} {proxied[2]:>6.2f} | "
                      f"{proxied[0] / direct[0]:>5.2f}", flush=True)  # fmt: skip
    print(
        f"latencies in ms; best of {args.repeat} alternating runs each (other processes on the "
        "machine only ever make a run slower); ratio = proxied r/s / direct r/s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
