"""Failover lab: outages on a timer, a kitchen that crashes mid-order, and the outage timeline.

``09_failover.ipynb`` needs three things the general lab does not have:

- ``Script``: actions at set times while load runs ("at 1.0 s stop kitchen-b, at 2.5 s
  start it again"), each remembered as a ``Mark`` so the chart can shade the outage. The
  thread waits on an ``Event`` (stopping it wakes it at once) and is joined on exit.
- ``CrashingKitchen``: a backend that *takes* the order (reads it whole, counts it) and
  then drops the connection without a word, like a process that dies mid-request. This is
  the case where retrying is dangerous: the work may already have been done (RFC 9110
  section 9.2.2, idempotent methods). ``/health`` still answers 200: the process is up.
- ``FirstAvailable``: HAProxy's ``balance first``, always the first healthy backend, so a
  demonstration can be sure which kitchen gets an order first.

``run_outage`` runs the whole experiment (a waiter, load, a kitchen stopped and started)
and returns an ``Outage`` whose numbers (errors seen by diners, retries, time until the
waiter noticed) come from the records; ``timeline`` draws it, counting requests per
kitchen in whole time bins and marking every health change (events with kind "health").

Why one long module: the helpers of one lesson (notebook 09), in the order it uses them.

Layer 5 (an edge).
"""

from __future__ import annotations

import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Any

from proxylab.http.messages import Headers, Request, Response
from proxylab.lab.figures import new_figure
from proxylab.lab.kitchens import HEALTH_PATH, Kitchen
from proxylab.lab.lab import Lab, ReverseRun
from proxylab.lab.loadgen import run_load
from proxylab.metrics import Event
from proxylab.net.connection import ClientConnection
from proxylab.net.server import Server
from proxylab.reverse.balancers import Backend, Balancer, require_backends

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "CrashingKitchen",
    "FirstAvailable",
    "Mark",
    "Outage",
    "Script",
    "answered_at",
    "bin_counts",
    "comeback_chart",
    "compare_checks",
    "kitchen_counts",
    "raw_exchange",
    "run_outage",
    "share_over_time",
    "timeline",
]

#: Colours of the kitchens' lines, the diners' errors and the health marks.
_LINE_COLOURS = ("#1d3557", "#2a9d8f", "#e9a23b", "#6a4c93", "#8d99ae")
_ERROR, _DOWN, _UP = "#c1121f", "#c1121f", "#2a9d8f"


@dataclass(frozen=True, slots=True)
class Mark:
    """Something the script did, and when (wall clock, like event times)."""

    time: float
    label: str


class Script:
    """Run ``steps`` (seconds after the start, label, action) in a thread, in order.

    ``with Script([(1.0, "kitchen-b stops", b.stop)]) as script: run_load(...)``; the
    marks are in ``script.marks``. Leaving the block stops waiting and joins the thread.
    """

    def __init__(self, steps: Sequence[tuple[float, str, Callable[[], object]]]) -> None:
        self.steps = sorted(steps, key=lambda step: step[0])
        self.marks: list[Mark] = []
        self.started = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="failover-script", daemon=True)

    def _run(self) -> None:
        begin = time.monotonic()
        for at, label, action in self.steps:
            # Event.wait, not sleep: leaving the block early wakes the thread at once
            if self._stop.wait(max(0.0, begin + at - time.monotonic())):
                return
            self.marks.append(Mark(time.time(), label))
            action()

    def __enter__(self) -> Script:
        self.started = time.time()
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.wait()

    def wait(self) -> None:
        """Let the remaining steps run, then join the thread."""
        self._thread.join()

    def cancel(self) -> None:
        """Skip the remaining steps and join the thread."""
        self._stop.set()
        self._thread.join()


class FirstAvailable(Balancer):
    """Always the first healthy backend (HAProxy's ``balance first``)."""

    name = "first"

    def choose(self, request: Request, backends: Sequence[Backend], client_ip: str = "") -> Backend:
        require_backends(backends)
        return backends[0]


class CrashingKitchen:
    """A backend that reads each order whole, writes it down, then drops the connection.

    ``received`` lists ``(method, path)`` of every order it took. ``/health`` answers 200
    (the process is up; only its orders fail). Start and stop it like a ``Kitchen``; the
    lab does not own it, so stop it yourself (or use ``with``).
    """

    def __init__(self, name: str = "crashy", address: tuple[str, int] = ("127.0.0.1", 0)) -> None:
        self.name = name
        self.received: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        self._server = Server(self, address, name=f"kitchen-{name}")

    def __call__(self, conn: ClientConnection, request: Request) -> None:
        """Take the order, then fail without answering (the ``Handler`` protocol)."""
        for _ in conn.read_body(request):
            pass
        if request.target == HEALTH_PATH:
            body = b'{"status": "open"}\n'
            headers = Headers([("Content-Type", "application/json"),
                               ("Content-Length", str(len(body)))])  # fmt: skip
            conn.send_response(Response(200, headers, "OK"), body)
            return
        with self._lock:
            self.received.append((request.method, request.target))
        # no response at all: the server closes the connection, as a dying process would
        raise ConnectionAbortedError(f"{self.name} crashed after taking the order")

    def counts(self) -> Counter[str]:
        """Orders received, by method."""
        with self._lock:
            return Counter(method for method, _ in self.received)

    @property
    def backend(self) -> Backend:
        """This kitchen as a reverse proxy ``Backend``."""
        host, port = self._server.address
        return Backend(host, port, 1, self.name)

    def start(self) -> CrashingKitchen:
        """Open for orders."""
        self._server.start()
        return self

    def stop(self) -> None:
        """Close; every thread is joined."""
        self._server.stop()

    def __enter__(self) -> CrashingKitchen:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def kitchen_counts(events: Sequence[Event], kitchen: str) -> Counter[str]:
    """Orders a lab kitchen received (its own records, ``source="kitchen"``), by method."""
    return Counter(e.method for e in events if e.source == "kitchen" and e.upstream == kitchen)


def raw_exchange(
    address: tuple[str, int], data: bytes, source: str | None = None, timeout: float = 5.0
) -> bytes:
    """Send ``data`` as it is (from ``source``, e.g. ``lab.addresses.you``), read until close.

    For requests a client library would not send, such as a POST without any body framing
    (RFC 9112 section 6.3: then the body is empty). Send ``Connection: close`` in ``data``.
    """
    with socket.create_connection(address, timeout, (source, 0) if source else None) as sock:
        sock.sendall(data)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


# -- an outage, measured ----------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Outage:
    """What happened while ``victim`` was stopped and started again under load.

    ``records``: the diners' requests (``run_load``); ``health``: the health changes;
    ``proxied``: the waiter's own records; ``marks``: when the kitchen stopped and restarted.
    """

    victim: str
    records: tuple[Event, ...]
    health: tuple[Event, ...]
    proxied: tuple[Event, ...]
    marks: tuple[Mark, ...]
    started: float
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def errors(self) -> int:
        """Diners who got no answer or a 5xx."""
        return sum(1 for r in self.records if r.status == 0 or r.status >= 500)

    @property
    def retries(self) -> int:
        """Requests first sent to the stopped kitchen and then retried elsewhere."""
        return sum(1 for e in self.proxied if f"retried from {self.victim}" in e.note)

    def _after(self, label: str, note: str) -> float | None:
        mark = next((m for m in self.marks if label in m.label), None)
        if mark is None:
            return None
        changes = [e.time for e in self.health if e.upstream == self.victim and e.note == note]
        later = [t - mark.time for t in changes if t >= mark.time]
        return min(later) if later else None

    @property
    def noticed_down_after(self) -> float | None:
        """Seconds from stopping the kitchen until the waiter marked it down."""
        return self._after("stop", "down")

    @property
    def back_up_after(self) -> float | None:
        """Seconds from restarting the kitchen until the waiter marked it up."""
        return self._after("start", "up")

    @property
    def cooking_again_after(self) -> float | None:
        """Seconds from restarting the kitchen until a diner got an order it cooked."""
        mark = next((m for m in self.marks if "start" in m.label), None)
        if mark is None:
            return None
        served = [
            r.time + r.duration
            for r in self.records
            if r.upstream == self.victim and r.status == 200 and r.time >= mark.time
        ]
        return min(served) - mark.time if served else None

    def summary(self) -> dict[str, Any]:
        """One row for a table: the headline numbers."""

        def ms(value: float | None) -> str:
            return "never" if value is None else f"{value * 1000:.0f} ms"

        return {
            "requests": len(self.records),
            "errors seen by diners": self.errors,
            "retried on another kitchen": self.retries,
            "marked down after": ms(self.noticed_down_after),
            "serving again after restart": ms(self.cooking_again_after),
        }


def run_outage(
    lab: Lab,
    kitchens: Sequence[Kitchen],
    victim: Kitchen,
    *,
    duration: float = 3.0,
    stop_at: float = 0.8,
    start_at: float = 2.0,
    rate: float = 60.0,
    balancer: str | Balancer = "round-robin",
    drain: bool = False,
    **settings: Any,
) -> Outage:
    """A fresh waiter over ``kitchens``; load at ``rate``/s; ``victim`` stopped and restarted.

    ``settings`` go to the waiter (``ReverseSettings`` fields). The waiter is stopped at
    the end, so its health checks do not keep probing while the next experiment runs.
    """
    waiter = lab.reverse_proxy(kitchens, balancer, **settings)
    try:
        with Script([
            (stop_at, f"{victim.name} stops", lambda: victim.stop(drain=drain)),
            (start_at, f"{victim.name} starts again", victim.start),
        ]) as script:  # fmt: skip
            result = run_load(f"{waiter.url}/order", rate=rate, duration=duration,
                              client=lab.client, progress=False)  # fmt: skip
    finally:
        victim.start()  # idempotent: open again even if the script was cut short
        waiter.server.stop()
    return _outage(lab, waiter, victim.name, result.records, script, settings)


def _outage(
    lab: Lab, waiter: ReverseRun, victim: str, records: Sequence[Event], script: Script,
    settings: dict[str, Any],
) -> Outage:  # fmt: skip
    begin = script.started
    end = max((r.time + r.duration for r in records), default=begin)
    during = [e for e in lab.events.snapshot() if begin <= e.time <= end + 0.5]
    names = {backend.name for backend in waiter.proxy.backends}
    health = tuple(e for e in during if e.kind == "health" and e.upstream in names)
    proxied = tuple(e for e in during if e.source == "reverse" and e.upstream in names)
    return Outage(victim, tuple(records), health, proxied, tuple(script.marks), begin, settings)


# -- counting in time bins ----------------------------------------------------------------
def answered_at(record: Event) -> float:
    """When the diner had the answer (start plus duration): what a timeline counts."""
    return record.time + record.duration


def bin_counts(
    records: Sequence[Event],
    begin: float,
    width: float,
    key: Callable[[Event], str],
    at: Callable[[Event], float] = answered_at,
) -> tuple[int, dict[str, list[int]]]:
    """Counts per ``key`` in whole bins of ``width`` seconds from ``begin``, placed by ``at``.

    Only whole bins: the records after the last full bin are left out, so the last point
    is not a short bin that looks like a drop in traffic. Returns (bins, counts).
    """
    if width <= 0:
        raise ValueError("The bin width must be positive seconds.")
    end = max((at(r) for r in records), default=begin)
    bins = int((end - begin) // width)
    counts: dict[str, list[int]] = {}
    for record in records:
        index = int((at(record) - begin) // width)
        if 0 <= index < bins:
            counts.setdefault(key(record), [0] * bins)[index] += 1
    return bins, counts


def _outcome(record: Event) -> str:
    return record.upstream if 200 <= record.status < 500 and record.upstream else "error"


def timeline(
    outage: Outage, bin_seconds: float = 0.25, title: str = "Requests per kitchen over time"
) -> Figure:
    """Answers from each kitchen per time bin (by answer time), diners' errors, health changes.

    The outage (from the stop to the restart mark) is shaded; each health change is a
    dashed line named after the kitchen and its new state.
    """
    from matplotlib.ticker import MaxNLocator

    figure, axes = new_figure(title, "seconds since the load started (when each answer came)",
                              f"answers per {bin_seconds:g} s bin", size=(11, 5),
                              margins=(0.8, 0.6, 2.3, 0.45))  # fmt: skip
    bins, counts = bin_counts(outage.records, outage.started, bin_seconds, _outcome)
    xs = [(i + 0.5) * bin_seconds for i in range(bins)]
    kitchens = sorted(name for name in counts if name != "error")
    for colour, name in zip(_LINE_COLOURS * 3, kitchens, strict=False):
        axes.plot(xs, counts[name], marker="o", markersize=4, linewidth=2, label=name,
                  color=colour)  # fmt: skip
    errors = counts.get("error", [0] * bins)
    axes.bar(xs, errors, bin_seconds * 0.8, color=_ERROR, alpha=0.7, label="errors seen by diners")
    _shade_outage(axes, outage)
    top = max([1, *errors, *(n for name in kitchens for n in counts[name])])
    axes.set_ylim(0, top * 1.35)
    axes.set_xlim(0, max(bins, 1) * bin_seconds)
    _health_lines(axes, outage, bins * bin_seconds)
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=10)
    return figure


def _shade_outage(axes: Any, outage: Outage) -> None:
    stops = [m for m in outage.marks if "stop" in m.label]
    starts = [m for m in outage.marks if "start" in m.label]
    if stops:
        left = stops[0].time - outage.started
        right = starts[0].time - outage.started if starts else axes.get_xlim()[1]
        axes.axvspan(left, right, color="#adb5bd", alpha=0.3, label=f"{outage.victim} stopped")


def _health_lines(axes: Any, outage: Outage, span: float) -> None:
    """A dashed line per health change; labels of changes close together are staggered."""
    last_x, level = -1.0, 0
    for event in sorted(outage.health, key=lambda e: e.time):
        x = event.time - outage.started
        level = level + 1 if x - last_x < span * 0.04 else 0
        colour = _DOWN if event.note == "down" else _UP
        _health_line(axes, x, f"{event.upstream} {event.note}", colour, 0.98 - 0.3 * (level % 3))
        last_x = x


def _health_line(axes: Any, x: float, label: str, colour: str, height: float) -> None:
    axes.axvline(x, color=colour, linestyle="--", linewidth=1.5)
    axes.annotate(label, (x, height), xycoords=("data", "axes fraction"), rotation=90,
                  va="top", ha="right", fontsize=10, color=colour,
                  bbox={"boxstyle": "square,pad=0.1", "facecolor": "white", "edgecolor": "none"})  # fmt: skip


def share_over_time(
    records: Sequence[Event], kitchen: str, begin: float, width: float
) -> list[float]:
    """Percent of the answered requests in each whole bin that ``kitchen`` cooked."""
    answered = [r for r in records if r.upstream and r.status == 200]
    bins, counts = bin_counts(answered, begin, width, lambda r: r.upstream)
    totals = [sum(c[i] for c in counts.values()) for i in range(bins)]
    mine = counts.get(kitchen, [0] * bins)
    return [100.0 * m / t if t else 0.0 for m, t in zip(mine, totals, strict=True)]


def compare_checks(
    outages: dict[str, Outage], title: str = "Passive against active checks"
) -> Figure:
    """Two panels per kind of check: requests that hit the dead kitchen, and reaction times."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    figure = Figure(figsize=(11, 4.6))
    figure.subplots_adjust(left=0.07, right=0.98, bottom=0.2, top=0.83, wspace=0.3)
    figure.suptitle(title, fontsize=14)
    names = list(outages)
    left, right = figure.add_subplot(1, 2, 1), figure.add_subplot(1, 2, 2)
    retries = [outages[n].retries for n in names]
    bars = left.bar(names, retries, color="#e9a23b")
    left.bar_label(bars, fontsize=11)
    left.set_title("requests sent to the stopped kitchen")
    left.set_ylabel("requests (each retried elsewhere)")
    left.yaxis.set_major_locator(MaxNLocator(integer=True))
    left.set_ylim(0, max([1, *retries]) * 1.25)
    width = 0.38
    series = {
        "marked down after stop": [outages[n].noticed_down_after for n in names],
        "serving again after restart": [outages[n].cooking_again_after for n in names],
    }
    for offset, (label, values) in zip((-width / 2, width / 2), series.items(), strict=True):
        ms = [0.0 if v is None else v * 1000 for v in values]
        xs = [i + offset for i in range(len(names))]
        drawn = right.bar(xs, ms, width, label=label, color=_DOWN if "down" in label else _UP)
        right.bar_label(drawn, labels=[f"{v:.0f}" for v in ms], fontsize=10)
    right.set_xticks(range(len(names)), names)
    right.set_title("how fast the waiter reacted")
    right.set_ylabel("milliseconds")
    top = max([1.0, *(v * 1000 for vs in series.values() for v in vs if v is not None)])
    right.set_ylim(0, top * 1.35)
    right.legend(loc="upper left", fontsize=10)
    return figure


def comeback_chart(
    outages: dict[str, Outage], kitchens: int, bin_seconds: float = 0.25, ramp: float = 0.0,
    title: str = "A kitchen comes back: its share of the orders",
) -> Figure:  # fmt: skip
    """The victim's share of answered requests per bin, from the moment it was marked up.

    ``kitchens``: how many share the load (the dotted line is the fair share); ``ramp``:
    the slow-start time, drawn as the straight ramp it aims for.
    """
    figure, axes = new_figure(title, "seconds since the kitchen was marked up again",
                              "share of the answered orders (%)", size=(11, 4.8),
                              margins=(0.8, 0.6, 2.6, 0.45))  # fmt: skip
    fair = 100.0 / kitchens
    longest = 0.0
    for colour, (label, outage) in zip(_LINE_COLOURS, outages.items(), strict=False):
        up = outage.back_up_after
        mark = next((m for m in outage.marks if "start" in m.label), None)
        if up is None or mark is None:
            continue
        shares = share_over_time(outage.records, outage.victim, mark.time + up, bin_seconds)
        xs = [(i + 0.5) * bin_seconds for i in range(len(shares))]
        longest = max(longest, len(shares) * bin_seconds)
        axes.plot(xs, shares, marker="o", linewidth=2, color=colour, label=label)
    axes.axhline(
        fair, color="#555555", linestyle=":", linewidth=2, label=f"fair share ({fair:.0f}%)"
    )
    if ramp > 0:
        axes.plot([0, ramp, max(ramp, longest)], [0, fair, fair], color="#999999",
                  linestyle="--", label=f"slow-start ramp ({ramp:g} s)")  # fmt: skip
    axes.set_xlim(0, max(longest, 0.5))
    axes.set_ylim(0, max(60.0, fair * 1.6))
    axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=10)
    return figure
