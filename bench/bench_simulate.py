"""How fast does the discrete-event simulator run? Prints simulated requests per second.

Run: ``.venv/bin/python bench/bench_simulate.py [requests]`` (default 1,000,000). Eight
heterogeneous backends able to serve 2,000 requests/s in all, offered 800/s in open loop:
40% of the total, yet an even split (random, round robin) gives each slow backend 100% of
its capacity, so their tails explode while p2c and least connections stay calm. Aggregates
only (``records=False``). Prints figures; asserts nothing about time.
"""

from __future__ import annotations

import argparse
import time

from proxylab.lab.simulate import SimBackend, simulate

BALANCERS = ("p2c", "random", "least-connections", "round-robin")


def kitchens() -> list[SimBackend]:
    """Four fast (400/s each) and four slow (100/s each) backends with four workers each."""
    fast = [SimBackend(f"fast{i}", "exp:0.010", capacity=4) for i in range(4)]
    slow = [SimBackend(f"slow{i}", "exp:0.040", capacity=4) for i in range(4)]
    return fast + slow


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("requests", nargs="?", type=int, default=1_000_000,
                        help="simulated requests per balancer (default 1,000,000)")  # fmt: skip
    requests = parser.parse_args().requests
    print(f"{requests:,} simulated requests per balancer, 8 backends, 800 requests/s offered")
    print(f"{'balancer':<18} {'wall s':>7} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>9}")
    for name in BALANCERS:
        started = time.perf_counter()
        result = simulate(name, kitchens(), requests, arrival_rate=800, seed=1, records=False)
        wall = time.perf_counter() - started
        print(
            f"{name:<18} {wall:7.1f} {requests / wall:9,.0f} "
            f"{result.p50 * 1000:8.1f} {result.p99 * 1000:9.1f}"
        )


if __name__ == "__main__":
    main()
