"""``proxylab tour``: a guided walk through everything proxies do, live, in the terminal.

The tour starts a ``Lab`` (demo sites, kitchens, both proxies, all on loopback) and shows,
one panel at a time, real requests and what each side saw:

1. the lab itself: who has which address;
2. privacy: what news.test learns with no proxy and through the friend at each level;
3. filtering: the school's proxy blocks social media with a 403 page naming the rule;
4. caching: a miss, a hit, a revalidation, the speed-up, and the hit ratio per cache size;
5. load balancing: how four balancers spread the same orders over three kitchens;
6. failover: a kitchen closes and reopens during traffic, and no diner notices;
7. TLS termination: HTTPS up to the waiter, plain HTTP in the kitchen;

and a last panel says where to go next: the notebooks and the exercises.

Every chart it draws is saved as a PNG in ``--output`` (default ``./tour-output``). The
tour runs straight through in under ten seconds (what CI and a pipe want; about five on
an idle laptop);
``--step`` waits for Enter after each panel, so a person can read it. It needs no network
and leaves nothing running.

Layer 5 (an edge).
"""

from __future__ import annotations

import argparse
import random
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from proxylab.cli.coursemap import where_next
from proxylab.forward.patterns import SCHOOL_SOCIAL_MEDIA
from proxylab.lab import charts, diagrams
from proxylab.lab.figures import save_all
from proxylab.lab.kitchens import Kitchen, LogNormal
from proxylab.lab.lab import Lab, wait_until
from proxylab.lab.loadgen import LoadResult, run_load
from proxylab.metrics import Event

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["STEPS", "add_parser", "run", "wait_for_enter"]

Figures = dict[str, "Figure"]
Step = Callable[[Lab, Console], Figures]


def add_parser(subparsers: Any) -> None:
    """Register ``tour`` and its flags."""
    parser = subparsers.add_parser(
        "tour",
        help="a live walk-through: privacy, filtering, caching, balancing, failover, TLS",
        description=(
            "Start the lab and both proxies and show, live, what proxies do: seven panels and "
            "a last one on where to go next, in under ten seconds (--step: at your pace)."
        ),
    )
    parser.add_argument("--output", default="tour-output", metavar="DIR",
                        help="folder for the charts (default: ./tour-output)")  # fmt: skip
    parser.add_argument("--seed", type=int, default=0, help="seed for the kitchens and the load")
    parser.add_argument("--step", action="store_true",
                        help="wait for Enter after each panel (default: run straight through)")  # fmt: skip


def run(args: argparse.Namespace) -> int:
    """Run every step, save the charts, say where to go next; 0 on success."""
    console = Console()
    started = time.monotonic()
    figures: Figures = {}
    pace = "press Enter after each one" if args.step else "under ten seconds, no pauses"
    console.print(
        f"[bold]proxylab tour[/bold]: {len(STEPS)} live panels, then where to go next ({pace})."
    )
    step_by_step = args.step
    with Lab(seed=args.seed) as lab:
        for number, step in enumerate(STEPS, 1):
            figures.update(step(lab, console))
            if step_by_step and number < len(STEPS):
                step_by_step = wait_for_enter(console)
    paths = save_all(figures, Path(args.output))
    listing = "\n".join(f"  {path}" for path in paths)
    elapsed = time.monotonic() - started
    console.print(Panel(f"Charts saved:\n{listing}", title=f"Tour done in {elapsed:.1f} s"))
    where_next(console)
    return 0


def wait_for_enter(console: Console) -> bool:
    """Wait for Enter; False when input has ended (a closed pipe), so the tour runs on."""
    console.print("[dim]Press Enter for the next panel (Ctrl-C ends the tour) ...[/dim]")
    return sys.stdin.readline() != ""


# -- helpers -------------------------------------------------------------------------------
def _panel(console: Console, title: str, table: Table, lesson: str) -> None:
    grid = Table.grid(padding=(1, 0))
    grid.add_row(table)
    grid.add_row(f"[italic]{lesson}[/italic]")
    console.print(Panel(grid, title=f"[bold]{title}[/bold]", border_style="cyan", expand=False))


def _table(*columns: str) -> Table:
    table = Table(show_edge=False, header_style="bold")
    for column in columns:
        table.add_column(column)
    return table


def _since(lab: Lab, mark: float, source: str | None = None) -> list[Event]:
    return [event for event in lab.events.snapshot(source) if event.time >= mark]


def _event(lab: Lab, mark: float, source: str, index: int) -> Event:
    """The ``index``-th event of ``source`` since ``mark``, waiting for it if need be.

    A proxy records an exchange just *after* answering, so the client can be a moment
    ahead of the log.
    """
    wait_until(lambda: len(_since(lab, mark, source)) > index)
    return _since(lab, mark, source)[index]


# -- 1. the lab ----------------------------------------------------------------------------
def meet_the_lab(lab: Lab, console: Console) -> Figures:
    """Who is where: addresses of you, the friend, the waiter and the sites."""
    table = _table("who", "address")
    table.add_row("you (the client)", lab.addresses.you)
    table.add_row("the friend (forward proxy)", lab.addresses.proxy)
    table.add_row("the waiter (reverse proxy)", lab.addresses.waiter)
    for name, site in lab.sites.items():
        table.add_row(name, f"{site.address[0]}:{site.address[1]}")
    lesson = (
        "Every role has its own loopback address, so sites see real differences."
        if lab.distinct_addresses
        else "Only 127.0.0.1 exists here (macOS): differences show in ports and headers."
    )
    _panel(console, "1. The lab: a small internet on loopback", table, lesson)
    return {}


# -- 2. privacy ----------------------------------------------------------------------------
def privacy(lab: Lab, console: Console) -> Figures:
    """What news.test sees directly and through the friend at each privacy level."""
    mark = time.time()
    table = _table("how you go", "news.test saw address", "fields that reveal a proxy")
    seen = lab.client().get("http://news.test/whoami").json()
    table.add_row("directly", seen["remote_address"], "; ".join(seen["proxy_signs"]) or "none")
    for level in ("transparent", "anonymous", "elite"):
        friend = lab.forward_proxy(level)
        seen = lab.client(friend).get("http://news.test/whoami").json()
        table.add_row(
            f"friend, {level}", seen["remote_address"], "; ".join(seen["proxy_signs"]) or "none"
        )
    lesson = (
        "Through the friend the site sees the friend's address. Transparent still tells it "
        "yours (X-Forwarded-For); anonymous admits a proxy (Via); elite hides even that."
    )
    _panel(console, "2. Privacy: the friend who phones the restaurant", table, lesson)
    return {"forward_sequence": diagrams.forward_sequence(_since(lab, mark), limit=4, direct=True)}


# -- 3. filtering --------------------------------------------------------------------------
def filtering(lab: Lab, console: Console) -> Figures:
    """The school's proxy: social media blocked with a 403 page naming the rule."""
    mark = time.time()
    friend = lab.forward_proxy(rules=SCHOOL_SOCIAL_MEDIA)
    client = lab.client(friend)
    table = _table("request", "status", "decision", "rule")
    urls = ("http://school.test/homework", "http://news.test/", "http://social.test/",
            "http://video.test/watch")  # fmt: skip
    for index, url in enumerate(urls):
        status = client.get(url).status_code
        event = _event(lab, mark, "forward", index)
        table.add_row(url, str(status), event.decision, event.rule or "-")
    lesson = "Rules are checked in order; the first match decides. A block is a 403 page."
    _panel(console, "3. Filtering: the school blocks social media", table, lesson)
    return {"allowed_vs_blocked": charts.allowed_vs_blocked(_since(lab, mark, "forward"))}


# -- 4. caching ----------------------------------------------------------------------------
def caching(lab: Lab, console: Console) -> Figures:
    """Miss, hit, revalidation and speed-up; then hit ratios for three cache sizes."""
    friend = lab.forward_proxy(cache_size=4 * 2**20)
    client, news = lab.client(friend), lab.site("news.test")
    table = _table("request", "cache", "time", "requests news.test received")
    mark = time.time()
    paths = ["/slow?ms=300&max_age=60"] * 2 + ["/images/logo.png"] * 2 + ["/revalidate"] * 2
    for index, path in enumerate(paths):
        started = time.monotonic()
        client.get(f"http://news.test{path}")
        took = (time.monotonic() - started) * 1000
        event = _event(lab, mark, "forward", index)
        table.add_row(path, event.cache, f"{took:.1f} ms", str(news.count(path.split("?")[0])))
    lesson = (
        "A hit never reaches the origin (its count stays put) and is as fast as memory; a "
        "revalidation asks 'changed?' and gets a 304 with no body."
    )
    _panel(console, "4. Caching: the friend remembers", table, lesson)
    return _cache_sizes(lab, console)


def _workload(count: int, objects: int, seed: int) -> list[str]:
    """A skewed workload: object k is requested in proportion to 1/k (Zipf-like)."""
    rng = random.Random(seed)
    weights = [1 / k for k in range(1, objects + 1)]
    picks = rng.choices(range(objects), weights, k=count)
    return [f"http://video.test/bytes/2000?item={k}" for k in picks]


def _cache_sizes(lab: Lab, console: Console) -> Figures:
    urls = _workload(150, 40, lab.seed)
    ratios: dict[int, float] = {}
    runs: dict[str, list[Event]] = {}  # one run per size, each with a new, empty cache
    table = _table("cache size", "hit ratio")
    for size in (8 * 1024, 24 * 1024, 96 * 1024):
        friend = lab.forward_proxy(cache_size=size, max_object_size=4096)
        result = run_load(urls, users=1, requests=len(urls), proxy=friend.url, progress=False)
        ratios[size] = sum(r.cache == "hit" for r in result.records) / len(urls)
        runs[f"{size // 1024} KiB cache"] = list(result.records)
        table.add_row(f"{size // 1024} KiB", f"{ratios[size]:.0%}")
    lesson = "Popular objects dominate real traffic, so even a small cache answers many requests."
    _panel(console, "4b. Bigger caches hit more (150 requests for 40 objects)", table, lesson)
    return {
        "cache_timeline": charts.cache_timeline(
            runs, title="Cache hits and misses: the same 150 requests, three cache sizes"
        ),
        "hit_ratio_by_cache_size": charts.hit_ratio_by_cache_size(ratios),
    }


# -- 5. load balancing ---------------------------------------------------------------------
def _kitchens(lab: Lab) -> list[Kitchen]:
    return [
        lab.kitchen("kitchen-a", LogNormal(0.004, 0.3), capacity=4),
        lab.kitchen("kitchen-b", LogNormal(0.004, 0.3), capacity=4),
        lab.kitchen("kitchen-c", LogNormal(0.02, 0.3), capacity=4),  # the slow one
    ]


def balancing(lab: Lab, console: Console) -> Figures:
    """The same orders through four balancers: who cooked how many, and how fast."""
    kitchens = _kitchens(lab)
    mark = time.time()
    waiter = lab.reverse_proxy(kitchens, "round-robin", name="waiter.test")
    client = lab.client()
    for _ in range(3):
        client.get(f"{waiter.url}/order")
    sequence = diagrams.reverse_sequence(_since(lab, mark), limit=3)
    results: dict[str, LoadResult] = {}
    table = _table("balancer", *(k.name for k in kitchens), "p50", "p95")
    for name in ("round-robin", "least-connections", "p2c", "least-latency"):
        url = f"{lab.reverse_proxy(kitchens, name, name=f'{name}.test').url}/order"
        results[name] = result = run_load(
            url, users=8, requests=120, client=lab.client, progress=False
        )
        share = result.per_upstream()
        p50, p95 = result.summary.p50 * 1000, result.summary.p95 * 1000
        table.add_row(
            name, *(str(share.get(k.name, 0)) for k in kitchens), f"{p50:.1f} ms", f"{p95:.1f} ms"
        )
    lesson = (
        "kitchen-c is five times slower. Round robin ignores that; balancers that watch "
        "queues or response times send it less work, and the tail (p95) shrinks."
    )
    _panel(console, "5. Load balancing: the waiter picks a kitchen", table, lesson)
    return {
        "reverse_sequence": sequence,
        "requests_per_backend": charts.requests_per_backend(results),
        "latency_percentiles": charts.latency_percentiles(results),
        "latency_cdf": charts.latency_cdf(results),
    }


# -- 6. failover ---------------------------------------------------------------------------
def _down_then_up(lab: Lab, kitchen: Kitchen, console: Console) -> None:
    def health(note: str) -> Callable[[], bool]:
        return lambda: any(
            e.upstream == kitchen.name and e.note == note for e in lab.events.snapshot("health")
        )

    threading.Event().wait(0.4)  # let traffic flow first
    console.print(f"  {kitchen.name} closes (finishing the orders it has) ...")
    kitchen.stop(drain=True)
    wait_until(health("down"))
    threading.Event().wait(0.4)
    console.print(f"  {kitchen.name} reopens on the same address ...")
    kitchen.start()
    wait_until(health("up"))


def failover(lab: Lab, console: Console) -> Figures:
    """Traffic keeps flowing while a kitchen closes and reopens; nobody sees an error."""
    kitchens = [lab.kitchen(f"kitchen-{n}", LogNormal(0.005, 0.3)) for n in ("x", "y", "z")]
    waiter = lab.reverse_proxy(
        kitchens, "round-robin", name="failover.test",
        check_interval=0.1, rise=2, fall=1, fail_timeout=0.5,
    )  # fmt: skip
    results: list[LoadResult] = []
    load = threading.Thread(
        target=lambda: results.append(
            run_load(
                f"{waiter.url}/order", users=4, duration=2.5, client=lab.client, progress=False
            )
        )
    )
    load.start()
    try:
        _down_then_up(lab, kitchens[1], console)
    finally:
        load.join()
    result = results[0]
    table = _table("orders", "failed", "served by")
    table.add_row(
        str(result.summary.count), str(result.summary.errors), _shares(result.per_upstream())
    )
    lesson = (
        "Health checks took the closed kitchen out and brought it back; retries covered the gap."
    )
    _panel(console, "6. Failover: a kitchen closes, nobody notices", table, lesson)
    health = lab.events.snapshot("health")
    return {"backend_timeline": charts.backend_timeline(result.records, health_events=health)}


def _shares(counts: dict[str, int]) -> str:
    return ", ".join(f"{name} {count}" for name, count in sorted(counts.items()))


# -- 7. TLS --------------------------------------------------------------------------------
def tls_termination(lab: Lab, console: Console) -> Figures:
    """HTTPS from you to the waiter; plain HTTP (with X-Forwarded-Proto) to the kitchen."""
    kitchen = lab.kitchen("kitchen-tls", LogNormal(0.002, 0.2))
    waiter = lab.reverse_proxy([kitchen], name="secure.test", tls=True)
    with lab.client().stream("GET", f"{waiter.url}/whoami") as response:
        secure = response.extensions["network_stream"].get_extra_info("ssl_object")
        version, cipher = secure.version(), secure.cipher()[0]
        response.read()
    seen = dict((name.lower(), value) for name, value in response.json()["headers"])
    table = _table("hop", "what travels")
    table.add_row(
        "you -> waiter", f"HTTPS to {waiter.url} ({version}, {cipher}), lab CA certificate"
    )
    table.add_row("waiter -> kitchen", f"plain HTTP from {response.json()['remote_address']}")
    for name in ("x-forwarded-proto", "x-forwarded-for", "x-forwarded-host"):
        table.add_row(f"  the kitchen saw {name}", seen.get(name, "-"))
    lesson = _tls_lesson(seen)
    _panel(console, "7. TLS termination at the waiter", table, lesson)
    return {}


def _tls_lesson(seen: dict[str, str]) -> str:
    """What the kitchen learned, said from the fields it really received."""
    told = [
        f"that you used {seen['x-forwarded-proto'].upper()} (X-Forwarded-Proto)"
        if "x-forwarded-proto" in seen else "",
        f"your address {seen['x-forwarded-for']} (X-Forwarded-For)"
        if "x-forwarded-for" in seen else "",
        f"the name you asked for, {seen['x-forwarded-host']} (X-Forwarded-Host)"
        if "x-forwarded-host" in seen else "",
    ]  # fmt: skip
    learned = ", ".join(part for part in told if part) or "nothing about you"
    return (
        "The waiter holds the certificate and decrypts; the kitchen gets plain HTTP from the "
        f"waiter's address, and from the waiter's headers it learns {learned}."
    )


#: The steps in order; each prints a panel and returns the charts it drew.
STEPS: Sequence[Step] = (
    meet_the_lab,
    privacy,
    filtering,
    caching,
    balancing,
    failover,
    tls_termination,
)
