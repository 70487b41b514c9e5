"""How much does the reverse proxy cost? Requests/s and latency, proxied vs direct.

Run: ``.venv/bin/python bench/bench_reverse.py [--duration 5] [--repeat 3] [--no-pin]``

For each body size (1 KiB, 256 KiB) and each number of keep-alive connections (16, 64),
the same load is sent once straight to the origin and once through
``python -m proxylab reverse --quiet --backend ORIGIN``; the table prints both and their
ratio. Figures only, never assertions: they depend on the machine.

Calibration: for 1 KiB at 16 connections the same load also goes through
bench/bare_relay.py, the cheapest threaded relay CPython allows, measured against the same
direct runs; its ratio is as near to direct as any threaded Python proxy gets here.

Set-up (bench/harness.py, shared with bench_forward.py), chosen so that the proxy is
what is measured:
- origin: nginx with one worker if installed, else Python's http.server;
- load: ``wrk`` if installed, else a Python load generator (threads, raw keep-alive
  sockets), which is much slower than wrk and so measures less precisely;
- direct and proxied runs alternate ``--repeat`` times and the best of each is shown: a
  busy machine can only make a run slower, so the best run is the least disturbed one;
- CPU pinning (``taskset``): the proxy on CPU 0, the load generator and the origin on
  CPU 1, so they do not steal the proxy's time slices; ``--no-pin`` leaves placement to
  the scheduler (cross-CPU wake-ups cost a lot on some VMs, so compare both).
"""

from __future__ import annotations

import argparse
import sys
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import (  # noqa: E402
    COMPARISON_HEADER,
    SETTINGS,
    bare_relay_process,
    best_of,
    comparison_row,
    free_port,
    interpreter,
    load,
    load_name,
    origin,
    origin_name,
    placement,
    proxylab_process,
)

SIZES = {"1k": 1024, "256k": 256 * 1024}
CONNECTIONS = (16, 64)
CALIBRATION = ("1k", 16)  # the point also measured through the bare relay


def url(port: int, name: str) -> str:
    return f"http://127.0.0.1:{port}/{name}"


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
    parser.add_argument("--no-pin", action="store_true", help="let the scheduler place processes")
    args = parser.parse_args()
    SETTINGS.pin = not args.no_pin
    SETTINGS.wrk = SETTINGS.wrk and not args.python_load
    SETTINGS.nginx = SETTINGS.nginx and not args.python_backend

    print(f"origin: {origin_name()}; load: {load_name()}; {args.duration:g} s per point")
    print(f"placement: {placement()}")
    print(f"proxy interpreter: {interpreter()}")
    print(COMPARISON_HEADER)
    proxy_port, relay_port = free_port(), free_port()
    with origin(SIZES) as origin_port:
        proxy_arguments = ["reverse", "--listen", f"127.0.0.1:{proxy_port}", "--quiet",
                           "--backend", f"127.0.0.1:{origin_port}"]  # fmt: skip
        with (
            proxylab_process(proxy_arguments, proxy_port),
            bare_relay_process(relay_port, origin_port),
        ):
            calibration = ""
            for name in SIZES:
                for connections in CONNECTIONS:
                    ports = [origin_port, proxy_port]
                    if (name, connections) == CALIBRATION:
                        ports.append(relay_port)
                    load(url(proxy_port, name), connections, 1.0)  # warm up threads and pools
                    runs = [
                        partial(load, url(port, name), connections, args.duration) for port in ports
                    ]
                    direct, proxied, *relayed = best_of(args.repeat, *runs)
                    print(
                        comparison_row("proxylab", name, connections, direct, proxied), flush=True
                    )
                    if relayed:
                        calibration = comparison_row(
                            "bare relay", name, connections, direct, relayed[0]
                        )
            print(calibration)
    print(
        f"latencies in ms; best of {args.repeat} alternating runs each (other processes on the "
        "machine only ever make a run slower); ratio = proxied r/s / direct r/s"
    )
    print("bare relay = bench/bare_relay.py: the cheapest threaded relay, a yardstick, not a proxy")
    return 0


if __name__ == "__main__":
    sys.exit(main())
