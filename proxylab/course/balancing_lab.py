"""Helpers for the waiter's lessons (notebooks 06-08): the sums done by hand, the runs, the charts.

The reverse-proxy notebooks keep doing four things: work a rule out by hand and hold it
next to what the library did (smooth weighted round robin, the backend's "who is the real
client?" rule, how many keys move when a pool grows); run the same load through one
waiter per balancer; run the same balancers in the simulator; and draw the results so
that a room can read them from the back row. This module holds those steps, so that a
notebook cell stays one idea long.

Key ideas:

- By hand means *independently*: ``swrr_by_hand`` and ``real_client_ip`` are written from
  the rules (nginx's ``ngx_http_upstream_get_peer``; nginx's ``real_ip_recursive``), not
  by calling the library, so that a notebook comparing them with the library's answer
  compares two things, and a test can too.
- Charts follow the course's rules: a title, axes with units, whole-number ticks for
  counts, legends outside the data, time in whole bins only (a last, partial bin would
  look like a drop in traffic that never happened), and fonts big enough for a projector.

Left out on purpose: anything a lesson does once (that stays in its cell).

Layer 5 (an edge): uses the lab (load, simulator, figures) and the balancers.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from proxylab.addresses import in_networks, parse_networks
from proxylab.http.messages import Request
from proxylab.lab.figures import new_figure
from proxylab.lab.lab import Lab
from proxylab.lab.loadgen import LoadResult, run_load
from proxylab.lab.simulate import SimBackend, SimResult, simulate
from proxylab.reverse.balancers import Backend, Balancer

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from proxylab.lab.kitchens import Kitchen

__all__ = [
    "Swappable",
    "bar_chart",
    "kitchen_counts",
    "line_chart",
    "moved_share",
    "percentiles_ms",
    "real_client_ip",
    "run_each",
    "simulate_each",
    "swrr_by_hand",
    "timeline_chart",
]

#: Font sizes for a projected notebook: titles, axis labels, ticks and legends.
TITLE, LABEL, TICKS = 15, 13, 12


# -- by hand -------------------------------------------------------------------------------
def swrr_by_hand(weights: Mapping[str, int], picks: int) -> list[dict[str, Any]]:
    """Smooth weighted round robin worked step by step, one row per pick.

    nginx's rule: every peer adds its weight to its current weight; the largest current
    weight wins (the first on a tie) and loses the total of all weights. Each row holds the
    current weights after adding (``before``), the winner, and the weights after it paid.
    """
    current = dict.fromkeys(weights, 0)
    total = sum(weights.values())
    rows = []
    for number in range(1, picks + 1):
        for name, weight in weights.items():
            current[name] += weight
        before = dict(current)
        winner = max(current, key=current.__getitem__)  # max keeps the first of equals
        current[winner] -= total
        rows.append({"pick": number, "before": before, "chosen": winner, "after": dict(current)})
    return rows


def real_client_ip(remote: str, forwarded_for: str, trusted: Sequence[str]) -> str:
    """Who the client really was, as a careful backend works it out (nginx's realip module).

    ``remote`` is the address the connection came from. If it is not one of ``trusted``
    (our own proxies), ``X-Forwarded-For`` is ignored: anyone can type it. Otherwise the
    list is read from the right (each proxy appends), skipping our own proxies; the first
    address that is not ours is the client (``set_real_ip_from`` + ``real_ip_recursive``).
    """
    networks = parse_networks(trusted)
    if not in_networks(remote, networks):
        return remote
    hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not in_networks(hop, networks):
            return hop
    return hops[0] if hops else remote


def moved_share(
    make: Callable[[], Balancer],
    keys: Sequence[str],
    before: Sequence[Backend],
    after: Sequence[Backend],
) -> float:
    """The share of ``keys`` (client addresses) whose backend changes from ``before`` to ``after``.

    ``make`` builds the balancer (a fresh one per side, so no state is carried over).
    """
    request = Request("GET", "/")
    old, new = make(), make()
    moved = sum(
        old.choose(request, before, key).name != new.choose(request, after, key).name
        for key in keys
    )
    return moved / len(keys) if keys else 0.0


class Swappable(Balancer):
    """A stand-in balancer that passes every call on to the one plugged in now.

    A waiter keeps the balancer it was built with; give it a ``Swappable`` and you can
    ``plug`` another policy into the *running* waiter, as a lesson does with the one a
    student wrote. Plug while the waiter is idle: an order that started under the old
    balancer would otherwise end under the new one, which never heard it start.
    """

    name = "swappable"

    def __init__(self, balancer: Balancer) -> None:
        self._current = balancer
        self._lock = threading.Lock()

    @property
    def current(self) -> Balancer:
        """The balancer that decides right now."""
        with self._lock:
            return self._current

    def plug(self, balancer: Balancer) -> None:
        """From the next order on, ``balancer`` decides."""
        with self._lock:
            self._current = balancer

    def choose(self, request: Request, backends: Sequence[Backend], client_ip: str = "") -> Backend:
        return self.current.choose(request, backends, client_ip)

    def on_start(self, backend: Backend) -> None:
        self.current.on_start(backend)

    def on_end(self, backend: Backend, status: int, duration: float) -> None:
        self.current.on_end(backend, status, duration)


# -- runs ----------------------------------------------------------------------------------
def run_each(
    lab: Lab,
    kitchens: Sequence[Kitchen],
    balancers: Mapping[str, Balancer | str],
    requests: int,
    users: int = 8,
    path: str = "/order",
    **settings: Any,
) -> dict[str, LoadResult]:
    """The same closed-loop load through one new waiter per balancer, on the same kitchens.

    ``balancers`` maps a label to a balancer (a name from ``BALANCERS`` or an instance);
    ``settings`` go to every waiter (``ReverseSettings`` fields). One line per run is
    printed, so a long cell shows it is alive.
    """
    results = {}
    for label, balancer in balancers.items():
        waiter = lab.reverse_proxy(kitchens, balancer, **settings)
        result = run_load(
            f"{waiter.url}{path}", users=users, requests=requests, client=lab.client,
            progress=False,
        )  # fmt: skip
        print(f"{label:>18}: {result.summary}")
        results[label] = result
    return results


def simulate_each(
    balancers: Iterable[str],
    backends: Sequence[SimBackend],
    requests: int,
    arrival_rate: float,
    seed: int = 0,
    stale_info: float = 0.0,
    quiet: bool = False,
) -> dict[str, SimResult]:
    """Each balancer on the same simulated backends and the same arrivals (same ``seed``).

    The simulator has no progress bar of its own; this prints one line per finished run
    (runs, requests, simulated and real seconds) unless ``quiet``.
    """
    names = list(balancers)
    results = {}
    for number, name in enumerate(names, start=1):
        started = time.monotonic()
        result = simulate(
            name, backends, requests, arrival_rate, seed, stale_info=stale_info, records=False
        )
        results[name] = result
        if not quiet:
            done = "#" * number + "." * (len(names) - number)
            print(
                f"[{done}] {name:>18}: {result.requests:,} requests, "
                f"{result.elapsed:,.0f} s simulated in {time.monotonic() - started:.1f} s"
            )
    return results


def kitchen_counts(result: LoadResult | SimResult) -> dict[str, int]:
    """Requests per backend of a load run (``X-Kitchen``) or a simulation."""
    if isinstance(result, SimResult):
        return dict(result.per_backend)
    return {name: n for name, n in Counter(r.upstream for r in result.records).items() if name}


def percentiles_ms(result: LoadResult | SimResult) -> dict[str, float]:
    """p50 and p99 latency in milliseconds of a load run or a simulation."""
    source = result if isinstance(result, SimResult) else result.summary
    return {"p50": source.p50 * 1000, "p99": source.p99 * 1000}


# -- charts --------------------------------------------------------------------------------
def _figure(
    title: str, xlabel: str, ylabel: str, legend_room: float = 0.0, wide: bool = False
) -> tuple[Figure, Axes]:
    """A projector-sized figure, with ``legend_room`` inches kept free on the right."""
    size = (12.0 if wide else 10.0, 5.5)
    figure, axes = new_figure(title, xlabel, ylabel, size, (1.1, 1.0, 0.3 + legend_room, 0.6))
    axes.title.set_fontsize(TITLE)
    axes.xaxis.label.set_fontsize(LABEL)
    axes.yaxis.label.set_fontsize(LABEL)
    axes.tick_params(labelsize=TICKS)
    axes.grid(axis="y", alpha=0.3)
    return figure, axes


def _legend(axes: Axes, title: str = "") -> None:
    """The legend outside the plot, on the right, where it cannot cover a bar or a line."""
    axes.legend(
        title=title or None, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=TICKS,
        title_fontsize=TICKS, frameon=False,
    )  # fmt: skip


def bar_chart(
    series: Mapping[str, Mapping[str, float]],
    title: str,
    ylabel: str,
    xlabel: str = "balancer",
    legend_title: str = "",
    counts: bool = True,
    labels: bool = False,
) -> Figure:
    """Grouped bars: one group per key of ``series``, one bar per inner key (sorted, with a legend).

    ``counts`` gives whole-number ticks on the value axis; ``labels`` writes each value
    above its bar.
    """
    from matplotlib.ticker import MaxNLocator

    groups = list(series)
    # sorted, so that a kitchen keeps its colour from one chart to the next
    inner = sorted({k for values in series.values() for k in values})
    legend_room = 1.9 if len(inner) > 1 else 0.0  # one series needs no legend
    figure, axes = _figure(title, xlabel, ylabel, legend_room, wide=len(groups) > 4)
    width = 0.8 / max(1, len(inner))
    for n, key in enumerate(inner):
        xs = [i - 0.4 + width * (n + 0.5) for i in range(len(groups))]
        values = [series[g].get(key, 0) for g in groups]
        bars = axes.bar(xs, values, width, label=key)
        if labels:
            axes.bar_label(bars, fmt="{:,.0f}", fontsize=TICKS - 2, padding=2)
    axes.set_xticks(range(len(groups)), groups, rotation=20 if len(groups) > 4 else 0)
    if counts:
        axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.margins(y=0.12)
    if len(inner) > 1:
        _legend(axes, legend_title)
    return figure


def line_chart(
    xs: Sequence[float],
    series: Mapping[str, Sequence[float]],
    title: str,
    xlabel: str,
    ylabel: str,
    integer_x: bool = False,
    percent: bool = False,
) -> Figure:
    """One line with markers per series over ``xs``; ``percent`` shows 0..1 values as %."""
    from matplotlib.ticker import MaxNLocator, PercentFormatter

    figure, axes = _figure(title, xlabel, ylabel, legend_room=2.4)
    styles = ["-o", "-s", "--^", ":D", "-.v"]
    for n, (label, values) in enumerate(series.items()):
        axes.plot(xs, values, styles[n % len(styles)], label=label, linewidth=2, markersize=7)
    if integer_x:
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    if percent:
        axes.yaxis.set_major_formatter(PercentFormatter(1.0))
        axes.set_ylim(0, 1.05)
    else:
        axes.set_ylim(bottom=0)
    _legend(axes)
    return figure


def timeline_chart(
    records: Iterable[Any],
    bin_seconds: float,
    title: str,
    marks: Mapping[str, float] | None = None,
) -> Figure:
    """Requests started per second for each kitchen, in whole bins of ``bin_seconds``.

    ``records`` are load-generator events (``time`` is the wall-clock start, ``upstream``
    the kitchen); ``marks`` are labelled wall-clock moments drawn as dashed lines. The
    last bin is dropped unless full: a half-filled bin looks like traffic falling.
    """
    from matplotlib.ticker import MaxNLocator

    rows = [(r.time, r.upstream) for r in records if r.upstream]
    figure, axes = _figure(title, "seconds since the run started", "requests per second", 2.0)
    if not rows:
        return figure
    start, end = min(t for t, _ in rows), max(t for t, _ in rows)
    full = max(1, int((end - start) / bin_seconds))
    counts: dict[str, list[int]] = {}
    for when, kitchen in sorted(rows):
        index = int((when - start) / bin_seconds)
        if index < full:
            counts.setdefault(kitchen, [0] * full)[index] += 1
    middles = [(i + 0.5) * bin_seconds for i in range(full)]
    for kitchen in sorted(counts):
        rate = [n / bin_seconds for n in counts[kitchen]]
        axes.plot(middles, rate, "-o", label=kitchen, linewidth=2, markersize=5)
    highest = max(n for slices in counts.values() for n in slices) / bin_seconds
    for label, moment in (marks or {}).items():
        axes.axvline(moment - start, color="#c1121f", linestyle="--", linewidth=2)
        axes.annotate(label, (moment - start, 1.0), xycoords=("data", "axes fraction"),
                      xytext=(6, -6), textcoords="offset points", va="top", fontsize=TICKS,
                      color="#c1121f")  # fmt: skip
    axes.set_xlim(0, full * bin_seconds)
    axes.set_ylim(0, highest * 1.25)  # headroom: the marks' labels sit above every line
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    _legend(axes, "kitchen")
    return figure
