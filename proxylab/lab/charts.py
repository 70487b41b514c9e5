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
- Every chart says what to see: a caption under it (``caption=`` replaces it, ``""``
  drops it), which also starts its alt text; ``charts.show(figure)`` displays a figure in
  a notebook as an image with that alt text. Counts get whole-number ticks, time is cut
  into equal slices that exactly cover the run (a last, partial slice would read as a
  sudden drop), and back-to-back runs given as ``{label: records}`` are drawn as marked
  phases, never as one run.
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
    alt_text,
    backend_of,
    count_per_slice,
    is_health,
    latency_of,
    mark_empty,
    new_figure,
    record_field,
    records_of,
    show,
    whole_numbers,
)
from proxylab.metrics import percentile

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "allowed_vs_blocked",
    "alt_text",
    "backend_timeline",
    "cache_timeline",
    "hit_ratio_by_cache_size",
    "latency_cdf",
    "latency_percentiles",
    "requests_per_backend",
    "show",
]

_COLOURS = {"hit": "#2a9d8f", "miss": "#e76f51", "reval": "#457b9d", "stale": "#f4a261"}
#: margins (left, bottom, right, top) in inches with room on the right for the legend
_LEGEND_RIGHT = (0.8, 0.6, 1.9, 0.45)


def _groups(results: Any) -> dict[str, list[Any]]:
    """``{label: records}`` from a mapping, or one unlabelled group from plain records."""
    if isinstance(results, Mapping):
        return {str(label): records_of(records) for label, records in results.items()}
    return {"all requests": records_of(results)}


def _said(caption: str | None, default: str) -> str:
    return default if caption is None else caption


def _legend(axes: Axes, title: str | None = None) -> None:
    """The legend outside the plot, on the right: it never hides a bar or a line."""
    axes.legend(title=title, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)


def _grouped_bars(axes: Axes, categories: list[str], series: dict[str, list[float]]) -> None:
    width = 0.8 / max(1, len(series))
    for n, (label, values) in enumerate(series.items()):
        offsets = [i - 0.4 + width * (n + 0.5) for i in range(len(categories))]
        axes.bar(offsets, values, width, label=label)
    axes.set_xticks(range(len(categories)), categories)
    if len(series) > 1:
        _legend(axes)


# -- load balancing -----------------------------------------------------------------------
def requests_per_backend(
    results: Any, title: str = "Requests per backend", *, caption: str | None = None
) -> Figure:
    """Bars of requests per backend; several labelled runs (e.g. balancers) side by side."""
    groups = _groups(results)
    counts = {
        label: Counter(backend_of(r) for r in rows if backend_of(r) and not is_health(r))
        for label, rows in groups.items()
    }
    backends = sorted({name for counter in counts.values() for name in counter})
    said = _said(caption, "Each bar counts the requests one backend served: equal bars are an "
                 "even spread; a short bar is a backend the balancer spared.")  # fmt: skip
    figure, axes = new_figure(title, "backend", "requests", margins=_LEGEND_RIGHT, caption=said)
    whole_numbers(axes.yaxis)
    if not backends:
        mark_empty(axes, "requests with a backend")
        return figure
    _grouped_bars(
        axes, backends, {label: [float(c[b]) for b in backends] for label, c in counts.items()}
    )
    shares = "; ".join(
        f"{label}: " + ", ".join(f"{b} {c[b]}" for b in backends) for label, c in counts.items()
    )
    figure.set_label(alt_text(figure, f"Requests per backend: {shares}."))
    return figure


def latency_percentiles(
    results: Any,
    fractions: Sequence[float] = (0.5, 0.95, 0.99),
    title: str = "Latency percentiles",
    *,
    caption: str | None = None,
) -> Figure:
    """p50/p95/p99 (in ms) per labelled run: the tail shows what averages hide."""
    groups = _groups(results)
    said = _said(caption, "p50 is the typical request; p95 and p99 are the slow tail, the "
                 "answers one user in twenty (or a hundred) waits for.")  # fmt: skip
    figure, axes = new_figure(title, "run", "latency (ms)", margins=_LEGEND_RIGHT, caption=said)
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
    _legend(axes, "percentile")
    return figure


def latency_cdf(
    results: Any, title: str = "Latency distribution (CDF)", *, caption: str | None = None
) -> Figure:
    """For each run, the share of requests answered within x ms."""
    said = _said(caption, "Read a line left to right: the sooner it reaches the top, the "
                 "faster that run answered; the long flat end is the slow tail.")  # fmt: skip
    figure, axes = new_figure(
        title, "latency (ms)", "share of requests answered within", margins=_LEGEND_RIGHT,
        caption=said,
    )  # fmt: skip
    drawn = False
    for label, rows in _groups(results).items():
        values = sorted(latency_of(r) * 1000 for r in rows if record_field(r, "status") != 0)
        if values:
            shares = [(i + 1) / len(values) for i in range(len(values))]
            axes.step(values, shares, where="post", label=label)
            drawn = True
    if drawn:
        axes.set_ylim(0, 1.02)
        _legend(axes)
    else:
        mark_empty(axes, "answered requests")
    return figure


def backend_timeline(
    records: Any, health_events: Any = None, bin_seconds: float | None = None,
    title: str = "Requests per backend over time", *, caption: str | None = None,
) -> Figure:  # fmt: skip
    """Requests per second to each backend, with health changes as vertical lines.

    Health changes are taken from ``health_events`` or else from ``records`` themselves
    (events with ``kind="health"``): watch a kitchen go down and its share move elsewhere.
    The time slices cover the run exactly, so the lines end where the traffic ended.
    """
    rows = [r for r in records_of(records) if backend_of(r) and not is_health(r)]
    health = [
        r
        for r in records_of(health_events if health_events is not None else records)
        if is_health(r)
    ]
    said = _said(
        caption,
        "Each line is one backend's request rate. Dashed lines mark health "
        "changes: after 'down' its line falls to zero and the others carry its share.",
    )
    figure, axes = new_figure(
        title, "seconds since start", "requests per second", margins=_LEGEND_RIGHT, caption=said
    )
    if not rows:
        mark_empty(axes, "requests with a backend")
        return figure
    begin = min(float(record_field(r, "time")) for r in rows)
    end = max(float(record_field(r, "time")) for r in rows)
    start, width, counts = count_per_slice(rows, backend_of, bin_seconds, begin)
    for backend, slices in sorted(counts.items()):
        middles = [(i + 0.5) * width for i in range(len(slices))]
        axes.plot(middles, [n / width for n in slices], label=backend)
    for event in health:
        x, note = record_field(event, "time") - start, str(record_field(event, "note", ""))
        if not 0 <= x <= end - start:
            continue  # a change before or after this traffic: not part of this picture
        colour = BAD if "down" in note else "#2a9d8f"
        axes.axvline(x, color=colour, linestyle="--", linewidth=1)
        axes.annotate(f"{backend_of(event)} {note}", (x, 1), xycoords=("data", "axes fraction"),
                      rotation=90, va="top", ha="right", fontsize=8, color=colour,
                      bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8, "pad": 1})  # fmt: skip
    axes.set_xlim(0, end - start)
    axes.set_ylim(bottom=0)
    _legend(axes, "backend")
    return figure


# -- caching ------------------------------------------------------------------------------
def _colour(outcome: str) -> str:
    return next((c for key, c in _COLOURS.items() if key in outcome), "#999999")


def _phases(records: Any) -> list[tuple[str, list[Any]]]:
    """``[(label, cached rows)]``: one unlabelled phase, or one per labelled run."""
    groups = _groups(records) if isinstance(records, Mapping) else {"": records_of(records)}
    return [
        (label, [r for r in rows if record_field(r, "cache")]) for label, rows in groups.items()
    ]


def _stack(axes: Axes, lefts: list[float], width: float, counts: dict[str, list[int]],
           seen: set[str]) -> None:  # fmt: skip
    """Stacked bars of outcomes, each outcome in its colour (labelled once)."""
    bottom = [0] * len(lefts)
    for outcome in sorted(counts, key=lambda o: (_colour(o), o)):
        label = outcome if outcome not in seen else None
        seen.add(outcome)
        axes.bar(lefts, counts[outcome], width * 0.9, bottom, align="edge", label=label,
                 color=_colour(outcome))  # fmt: skip
        bottom = [b + n for b, n in zip(bottom, counts[outcome], strict=True)]


def cache_timeline(
    records: Any,
    bin_seconds: float | None = None,
    title: str = "Cache hits and misses over time",
    *,
    caption: str | None = None,
) -> Figure:
    """Stacked bars of cache outcomes (hit, miss, revalidated ...) per time slice.

    ``records`` may be ``{label: records}``: runs made one after the other (say, three
    cache sizes), drawn as separate, labelled phases, each on its own shaded band.
    """
    phases = [(label, rows) for label, rows in _phases(records) if rows]
    default = "Green bars were answered from the cache, orange ones fetched from the origin."
    if len(phases) > 1:
        default += " Each shaded band is a separate run that starts with an empty cache."
    said = _said(caption, default)
    figure, axes = new_figure(title, "seconds since start", "requests", margins=_LEGEND_RIGHT,
                              caption=said)  # fmt: skip
    whole_numbers(axes.yaxis)
    if not phases:
        mark_empty(axes, "cached exchanges")
        return figure
    origin = min(float(record_field(r, "time")) for _, rows in phases for r in rows)
    width = bin_seconds or max(
        (max(float(record_field(r, "time")) for _, rows in phases for r in rows) - origin) / 40,
        0.01,
    )
    seen: set[str] = set()
    for n, (label, rows) in enumerate(phases):
        start, step, counts = count_per_slice(rows, lambda r: record_field(r, "cache"), width)
        offset = start - origin
        lefts = [offset + i * step for i in range(len(next(iter(counts.values()))))]
        _stack(axes, lefts, step, counts, seen)
        if label:
            end = lefts[-1] + step
            axes.axvspan(offset, end, color="#000000", alpha=0.04 if n % 2 == 0 else 0.1,
                         zorder=0, linewidth=0)  # fmt: skip
            axes.annotate(label, ((offset + end) / 2, 1.0), xycoords=("data", "axes fraction"),
                          xytext=(0, -4), textcoords="offset points", ha="center", va="top",
                          fontsize=9, fontweight="bold")  # fmt: skip
    axes.margins(y=0.12)
    _legend(axes, "cache")
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


def hit_ratio_by_cache_size(
    points: Any, title: str = "Hit ratio by cache size", *, caption: str | None = None
) -> Figure:
    """The hit ratio each cache size reached: ``{size_bytes: ratio}`` or (size, ratio) pairs."""
    pairs = _points(points)
    big = bool(pairs) and pairs[-1][0] >= 10 * 2**20
    unit, scale = ("MiB", 2**20) if big else ("KiB", 2**10)
    said = _said(caption, "Each point is one measured run. A bigger cache keeps more of the "
                 "popular objects, so more requests never reach the origin.")  # fmt: skip
    figure, axes = new_figure(title, f"cache size ({unit})", "hit ratio (%)", caption=said)
    if not pairs:
        mark_empty(axes, "measurements")
        return figure
    as_percent = 100 if all(ratio <= 1 for _, ratio in pairs) else 1
    xs, ys = [s / scale for s, _ in pairs], [r * as_percent for _, r in pairs]
    axes.plot(xs, ys, marker="o")
    if xs[0] > 0 and xs[-1] / xs[0] >= 20:
        axes.set_xscale("log")  # sizes usually grow by factors: equal steps on a log axis
    axes.set_xticks(xs, [f"{x:g}" for x in xs])  # the sizes measured, and only those
    axes.minorticks_off()
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
    records: Any, title: str = "Allowed and blocked requests per site", *,
    caption: str | None = None,
) -> Figure:  # fmt: skip
    """Per site, how many requests the filter allowed and how many it blocked."""
    rows = [r for r in records_of(records) if record_field(r, "decision") in ("allowed", "blocked")]
    counts: dict[str, Counter[str]] = {}
    for r in rows:
        counts.setdefault(_host(str(record_field(r, "target", ""))), Counter())[
            str(record_field(r, "decision"))
        ] += 1
    said = _said(caption, "One bar per site: green requests passed the filter, red ones got "
                 "the 403 block page naming the rule.")  # fmt: skip
    figure, axes = new_figure(
        title, "requests", "site", margins=(1.3, 0.6, 1.6, 0.45), caption=said
    )
    whole_numbers(axes.xaxis)
    if not counts:
        mark_empty(axes, "filtered requests")
        return figure
    sites = sorted(counts)
    allowed = [counts[s]["allowed"] for s in sites]
    axes.barh(sites, allowed, color="#2a9d8f", label="allowed")
    axes.barh(
        sites, [counts[s]["blocked"] for s in sites], left=allowed, color=BAD, label="blocked"
    )
    axes.set_xlim(0, max(sum(c.values()) for c in counts.values()) + 0.5)
    _legend(axes)
    told = ", ".join(f"{s} {counts[s]['allowed']} allowed {counts[s]['blocked']} blocked"
                     for s in sites)  # fmt: skip
    figure.set_label(alt_text(figure, f"Per site: {told}."))
    return figure
