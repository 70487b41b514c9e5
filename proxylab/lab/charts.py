"""Charts: matplotlib figures drawn from event records, for notebooks and the tour.

Every function takes *records* and returns a labelled, titled ``matplotlib.figure.Figure``.
A record is an ``Event`` (from ``lab.events``, a proxy or ``run_load``), a plain row dict
(``Event.as_row()``, a CSV line), or a row of the simulator (``simulate.RequestRecord``):
fields are read by name, ``upstream`` or ``backend`` for who served, ``duration`` or
``latency`` for how long. A ``LoadResult`` or ``SimResult`` may stand in for its records.

Key ideas:

- Figures are built with ``matplotlib.figure.Figure`` directly, never ``pyplot``: no
  global state, no window, nothing to ``show()``; it works under the Agg backend in tests
  and scripts, and Jupyter displays a returned figure by itself.
- matplotlib is imported inside the functions, so ``import proxylab.lab.charts`` is instant
  and the library works without matplotlib until a chart is asked for.
- The two analogies, the friend who phones the restaurant (forward proxy) and the waiter
  between diners and kitchens (reverse proxy), are drawn as sequence diagrams from *real*
  records: each arrow is an exchange that happened, labelled with what each side saw
  (drawn by ``diagrams``).
- Writing another chart takes a few lines with the helpers of ``figures``: ``new_figure``
  for a titled, labelled figure and ``record_field`` to read any kind of record.

Left out on purpose: interactive charts, styling options, pandas.

Layer 5 (an edge).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from proxylab.lab.figures import (
    BAD,
    backend_of,
    is_health,
    latency_of,
    mark_empty,
    new_figure,
    record_field,
    records_of,
)
from proxylab.metrics import percentile

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "allowed_vs_blocked",
    "backend_timeline",
    "cache_timeline",
    "hit_ratio_by_cache_size",
    "latency_cdf",
    "latency_percentiles",
    "requests_per_backend",
]

_COLOURS = {"hit": "#2a9d8f", "miss": "#e76f51", "reval": "#457b9d", "stale": "#f4a261"}


def _groups(results: Any) -> dict[str, list[Any]]:
    """``{label: records}`` from a mapping, or one unlabelled group from plain records."""
    if isinstance(results, Mapping):
        return {str(label): records_of(records) for label, records in results.items()}
    return {"all requests": records_of(results)}


def _per_bin(
    rows: Sequence[Any], key: Any, width: float | None, start: float | None = None
) -> tuple[float, float, dict[str, list[int]]]:
    """Count ``rows`` per time slice, per ``key(row)``; about 40 slices unless ``width``.

    Returns the start time, the slice width and ``{key: counts per slice}``.
    """
    times = [float(record_field(r, "time")) for r in rows]
    start = min(times) if start is None else start
    width = width or max((max(times) - start) / 40, 0.05)
    counts: dict[str, list[int]] = {}
    for row, when in zip(rows, times, strict=True):
        slices = counts.setdefault(str(key(row)), [0] * (int((max(times) - start) / width) + 1))
        slices[int((when - start) / width)] += 1
    return start, width, counts


def _grouped_bars(axes: Axes, categories: list[str], series: dict[str, list[float]]) -> None:
    width = 0.8 / max(1, len(series))
    for n, (label, values) in enumerate(series.items()):
        offsets = [i - 0.4 + width * (n + 0.5) for i in range(len(categories))]
        axes.bar(offsets, values, width, label=label)
    axes.set_xticks(range(len(categories)), categories)
    if len(series) > 1:
        axes.legend()


# -- load balancing -----------------------------------------------------------------------
def requests_per_backend(results: Any, title: str = "Requests per backend") -> Figure:
    """Bars of requests per backend; several labelled runs (e.g. balancers) side by side."""
    groups = _groups(results)
    counts = {
        label: Counter(backend_of(r) for r in rows if backend_of(r) and not is_health(r))
        for label, rows in groups.items()
    }
    backends = sorted({name for counter in counts.values() for name in counter})
    figure, axes = new_figure(title, "backend", "requests")
    if not backends:
        mark_empty(axes, "requests with a backend")
        return figure
    _grouped_bars(
        axes, backends, {label: [float(c[b]) for b in backends] for label, c in counts.items()}
    )
    return figure


def latency_percentiles(
    results: Any, fractions: Sequence[float] = (0.5, 0.95, 0.99), title: str = "Latency percentiles"
) -> Figure:
    """p50/p95/p99 (in ms) per labelled run: the tail shows what averages hide."""
    groups = _groups(results)
    figure, axes = new_figure(title, "run", "latency (ms)")
    latencies = {
        label: [latency_of(r) for r in rows if record_field(r, "status") != 0]
        for label, rows in groups.items()
    }
    if not any(latencies.values()):
        mark_empty(axes, "answered requests")
        return figure
    series = {
        f"p{round(q * 100)}": [percentile(values, q) * 1000 for values in latencies.values()]
        for q in fractions
    }
    _grouped_bars(axes, list(latencies), series)
    axes.legend(title="percentile")
    return figure


def latency_cdf(results: Any, title: str = "Latency distribution (CDF)") -> Figure:
    """For each run, the share of requests answered within x ms."""
    figure, axes = new_figure(title, "latency (ms)", "share of requests answered within")
    drawn = False
    for label, rows in _groups(results).items():
        values = sorted(latency_of(r) * 1000 for r in rows if record_field(r, "status") != 0)
        if values:
            shares = [(i + 1) / len(values) for i in range(len(values))]
            axes.step(values, shares, where="post", label=label)
            drawn = True
    if drawn:
        axes.set_ylim(0, 1.02)
        axes.legend()
    else:
        mark_empty(axes, "answered requests")
    return figure


def backend_timeline(
    records: Any, health_events: Any = None, bin_seconds: float | None = None,
    title: str = "Requests per backend over time",
) -> Figure:  # fmt: skip
    """Requests per second to each backend, with health changes as vertical lines.

    Health changes are taken from ``health_events`` or else from ``records`` themselves
    (events with ``kind="health"``): watch a kitchen go down and its share move elsewhere.
    """
    rows = [r for r in records_of(records) if backend_of(r) and not is_health(r)]
    health = [
        r
        for r in records_of(health_events if health_events is not None else records)
        if is_health(r)
    ]
    figure, axes = new_figure(title, "seconds since start", "requests per second")
    if not rows:
        mark_empty(axes, "requests with a backend")
        return figure
    begin = min(float(record_field(r, "time")) for r in rows + health)
    start, width, counts = _per_bin(rows, backend_of, bin_seconds, begin)
    for backend, slices in sorted(counts.items()):
        middles = [(i + 0.5) * width for i in range(len(slices))]
        axes.plot(middles, [n / width for n in slices], label=backend)
    for event in health:
        x, note = record_field(event, "time") - start, str(record_field(event, "note", ""))
        colour = BAD if "down" in note else "#2a9d8f"
        axes.axvline(x, color=colour, linestyle="--", linewidth=1)
        axes.annotate(f"{backend_of(event)} {note}", (x, 1), xycoords=("data", "axes fraction"),
                      rotation=90, va="top", ha="right", fontsize=8, color=colour)  # fmt: skip
    axes.legend()
    return figure


# -- caching ------------------------------------------------------------------------------
def _colour(outcome: str) -> str:
    return next((c for key, c in _COLOURS.items() if key in outcome), "#999999")


def cache_timeline(
    records: Any, bin_seconds: float | None = None, title: str = "Cache hits and misses over time"
) -> Figure:
    """Stacked bars of cache outcomes (hit, miss, revalidated ...) per time slice."""
    rows = [r for r in records_of(records) if record_field(r, "cache")]
    figure, axes = new_figure(title, "seconds since start", "requests")
    if not rows:
        mark_empty(axes, "cached exchanges")
        return figure
    _, width, counts = _per_bin(rows, lambda r: record_field(r, "cache"), bin_seconds)
    bottom = [0] * len(next(iter(counts.values())))
    for outcome in sorted(counts, key=lambda o: (_colour(o), o)):
        lefts = [i * width for i in range(len(bottom))]
        colour = _colour(outcome)
        axes.bar(
            lefts, counts[outcome], width * 0.9, bottom, align="edge", label=outcome, color=colour
        )
        bottom = [b + n for b, n in zip(bottom, counts[outcome], strict=True)]
    axes.legend(title="cache")
    return figure


def _points(points: Any) -> list[tuple[float, float]]:
    if isinstance(points, Mapping):
        items = list(points.items())
    else:
        items = [
            (p.get("cache_size", p.get("size")), p.get("hit_ratio", p.get("ratio")))
            if isinstance(p, Mapping)
            else p
            for p in points
        ]
    return sorted((float(size), float(ratio)) for size, ratio in items)


def hit_ratio_by_cache_size(points: Any, title: str = "Hit ratio by cache size") -> Figure:
    """The hit ratio each cache size reached: ``{size_bytes: ratio}`` or (size, ratio) pairs."""
    pairs = _points(points)
    big = bool(pairs) and pairs[-1][0] >= 10 * 2**20
    unit, scale = ("MiB", 2**20) if big else ("KiB", 2**10)
    figure, axes = new_figure(title, f"cache size ({unit})", "hit ratio (%)")
    if not pairs:
        mark_empty(axes, "measurements")
        return figure
    as_percent = 100 if all(ratio <= 1 for _, ratio in pairs) else 1
    xs, ys = [s / scale for s, _ in pairs], [r * as_percent for _, r in pairs]
    axes.plot(xs, ys, marker="o")
    if xs[0] > 0 and xs[-1] / xs[0] >= 20:
        axes.set_xscale("log")  # sizes usually grow by factors: equal steps on a log axis
    for x, y in zip(xs, ys, strict=True):
        axes.annotate(
            f"{y:.0f}%", (x, y), textcoords="offset points", xytext=(0, 6), ha="center", fontsize=8
        )
    axes.set_ylim(0, 105)
    return figure


# -- filtering ----------------------------------------------------------------------------
def _host(target: str) -> str:
    """The host of a URL, or of ``host:port`` (a CONNECT target)."""
    if "://" in target:
        return urlsplit(target).hostname or target
    return target.rsplit(":", 1)[0]


def allowed_vs_blocked(
    records: Any, title: str = "Allowed and blocked requests per site"
) -> Figure:
    """Per site, how many requests the filter allowed and how many it blocked."""
    rows = [r for r in records_of(records) if record_field(r, "decision") in ("allowed", "blocked")]
    counts: dict[str, Counter[str]] = {}
    for r in rows:
        counts.setdefault(_host(str(record_field(r, "target", ""))), Counter())[
            str(record_field(r, "decision"))
        ] += 1
    figure, axes = new_figure(title, "requests", "site", margins=(1.3, 0.6, 0.25, 0.45))
    if not counts:
        mark_empty(axes, "filtered requests")
        return figure
    sites = sorted(counts)
    allowed = [counts[s]["allowed"] for s in sites]
    axes.barh(sites, allowed, color="#2a9d8f", label="allowed")
    axes.barh(
        sites, [counts[s]["blocked"] for s in sites], left=allowed, color=BAD, label="blocked"
    )
    axes.legend()
    return figure
