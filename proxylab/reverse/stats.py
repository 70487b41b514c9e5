"""Per-backend statistics in the spirit of HAProxy's stats page and CSV.

An operator in front of a pool of backends wants to answer, at a glance: who is up, who is
busy, who is slow, who fails, and does the balancer spread the traffic as intended?
HAProxy answers with one CSV row per server (``show stat``: ``scur`` current sessions,
``stot`` total, ``econ``/``eresp`` errors, ``wretr`` retries, ``status`` UP/DOWN,
``rtime`` average response time over the last 1024 requests...) and renders the same rows
as its famous HTML stats page. ``StatsTable`` keeps those counters; ``rows()``,
``to_csv()``, ``to_json()`` and ``to_html()`` are four views of one snapshot.

Key ideas:
- Counters are updated from every client thread, so one lock guards them; the work under
  the lock is a few integer additions, cheap enough for the per-request path.
- Response times go into a bounded ring buffer (``window`` samples, 1024 like HAProxy),
  so memory stays constant however long the lab runs, and mean and p95 describe *recent*
  behaviour: a backend that was slow an hour ago is not blamed for it now.
- A snapshot is a list of frozen ``BackendStats`` values, taken under the lock: readers
  never see a half-updated row.

Left out on purpose: frontend and listener rows, session rates per second, byte counters
in both directions, HAProxy's admin actions (drain, maint) on the page.

Layer 2: pure; a ``Lock``, no sockets, no threads.
"""

from __future__ import annotations

import csv
import html
import io
import json
import threading
from collections import deque
from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields
from typing import Any

from proxylab.http.messages import Headers, Request, Response
from proxylab.metrics import percentile
from proxylab.reverse.balancers import Backend

__all__ = ["BackendStats", "StatsTable"]


@dataclass(frozen=True, slots=True)
class BackendStats:
    """One backend's row: what HAProxy's CSV calls scur, stot, eresp, wretr, status, rtime.

    Times are in milliseconds (as on HAProxy's page); ``share`` is this backend's fraction
    of every request the table has counted (0..1), to compare with the intended weights.
    """

    name: str
    address: str
    weight: int
    state: str
    current: int
    total: int
    failures: int
    retries: int
    mean_ms: float
    p95_ms: float
    share: float
    bytes_out: int


class _Counters:
    """Mutable counters of one backend; only touched under ``StatsTable``'s lock."""

    __slots__ = ("bytes_out", "current", "failures", "retries", "state", "times", "total")

    def __init__(self, window: int) -> None:
        self.current = self.total = self.failures = self.retries = self.bytes_out = 0
        self.state = "UP"
        self.times: deque[float] = deque(maxlen=window)


class StatsTable:
    """Thread-safe counters per backend, keyed by ``Backend.name``.

    The proxy calls ``start`` when a request is sent to a backend and ``end`` when it is
    over; ``retry`` when it gave up on a backend and tried another; ``set_state`` when the
    health checker changes its mind.
    """

    def __init__(self, backends: Iterable[Backend] = (), window: int = 1024) -> None:
        self._window = window
        self._backends: dict[str, Backend] = {}
        self._counters: dict[str, _Counters] = {}
        self._lock = threading.Lock()
        for backend in backends:
            self.add(backend)

    def add(self, backend: Backend) -> None:
        """Start counting for ``backend`` (no effect if it is already known)."""
        with self._lock:
            if backend.name not in self._counters:
                self._backends[backend.name] = backend
                self._counters[backend.name] = _Counters(self._window)

    def start(self, name: str) -> None:
        """A request is on its way to backend ``name``."""
        with self._lock:
            counters = self._counters[name]
            counters.current += 1
            counters.total += 1

    def end(self, name: str, duration: float, bytes_out: int = 0, failed: bool = False) -> None:
        """The request to ``name`` is over after ``duration`` s; ``failed``: 502/504 kind."""
        with self._lock:
            counters = self._counters[name]
            if counters.current > 0:  # an end without a start must not go below zero
                counters.current -= 1
            counters.bytes_out += bytes_out
            if failed:
                counters.failures += 1
            else:
                counters.times.append(duration)

    def retry(self, name: str) -> None:
        """The proxy gave up on ``name`` for one request and tried another backend."""
        with self._lock:
            self._counters[name].retries += 1

    def set_state(self, name: str, state: str) -> None:
        """Record the health state shown for ``name`` (``"UP"``, ``"DOWN"``...)."""
        with self._lock:
            if name in self._counters:
                self._counters[name].state = state

    def snapshot(self) -> list[BackendStats]:
        """Every backend's row, in the order backends were added, taken consistently."""
        with self._lock:
            copied = [
                (self._backends[name], c.state, c.current, c.total, c.failures, c.retries,
                 list(c.times), c.bytes_out)
                for name, c in self._counters.items()
            ]  # fmt: skip
        grand_total = sum(row[3] for row in copied) or 1
        return [
            BackendStats(
                name=backend.name,
                address=f"{backend.host}:{backend.port}",
                weight=backend.weight,
                state=state,
                current=current,
                total=total,
                failures=failures,
                retries=retries,
                mean_ms=round(1000 * sum(times) / len(times), 3) if times else 0.0,
                p95_ms=round(1000 * percentile(times, 0.95), 3),
                share=round(total / grand_total, 4),
                bytes_out=bytes_out,
            )
            for backend, state, current, total, failures, retries, times, bytes_out in copied
        ]

    # -- views -------------------------------------------------------------------------
    def rows(self) -> list[dict[str, Any]]:
        """The snapshot as plain dicts (what a notebook, pandas or a CSV writer want)."""
        return [asdict(row) for row in self.snapshot()]

    def to_csv(self) -> str:
        """The snapshot as CSV with a header line, like HAProxy's ``show stat``."""
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.rows())
        return out.getvalue()

    def to_json(self) -> str:
        """The snapshot as a JSON object ``{"backends": [row, ...]}``."""
        return json.dumps({"backends": self.rows()}, indent=2)

    def render(self, target: str) -> tuple[str, str]:
        """The view a status URL asks for, as ``(body, content type)``.

        ``.json`` or ``?format=json`` -> JSON, ``.csv`` or ``?format=csv`` -> CSV, else HTML.
        """
        path, _, query = target.partition("?")
        if path.endswith(".json") or "format=json" in query:
            return self.to_json(), "application/json"
        if path.endswith(".csv") or "format=csv" in query:
            return self.to_csv(), "text/csv; charset=utf-8"
        return self.to_html(), "text/html; charset=utf-8"

    def status_response(self, request: Request) -> tuple[Response, bytes]:
        """A whole 200 response for a status-page request (HEAD gets the head only).

        A body sent to the status page is not read, so the response then asks to close.
        """
        text, kind = self.render(request.target)
        body = text.encode()
        headers = Headers([("Content-Type", kind), ("Content-Length", str(len(body))),
                           ("Cache-Control", "no-store")])  # fmt: skip
        if "content-length" in request.headers or "transfer-encoding" in request.headers:
            headers.add("Connection", "close")
        return Response(200, headers, "OK"), b"" if request.method == "HEAD" else body

    def to_html(self, title: str = "proxylab status") -> str:
        """A small self-contained HTML page with one table row per backend."""
        head = "".join(f"<th>{html.escape(name)}</th>" for name in _COLUMNS)
        body = "".join(_html_row(row) for row in self.rows())
        return (
            f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}"
            f"</title><style>{_STYLE}</style></head><body><h1>{html.escape(title)}</h1>"
            f"<table><tr>{head}</tr>{body}</table>"
            "<p>Also as <a href='?format=json'>JSON</a> and <a href='?format=csv'>CSV</a>.</p>"
            "</body></html>\n"
        )


_COLUMNS = [f.name for f in fields(BackendStats)]
_STYLE = (
    "body{font-family:sans-serif}table{border-collapse:collapse}"
    "td,th{border:1px solid #999;padding:2px 8px;text-align:right}"
    ".UP{background:#cfc}.DOWN{background:#fcc}"
)


def _html_row(row: dict[str, Any]) -> str:
    state = html.escape(str(row["state"]).split()[0] if row["state"] else "")
    cells = "".join(f"<td>{html.escape(str(row[name]))}</td>" for name in _COLUMNS)
    return f"<tr class='{state}'>{cells}</tr>"
