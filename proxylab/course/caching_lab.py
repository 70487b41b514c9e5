"""Instruments for the caching lesson: a clock turned by hand, an origin with chosen headers, Zipf.

``04_caching.ipynb`` shows how an HTTP cache decides, and a decision about freshness needs
three things the demo sites do not give: time that passes on command (nobody waits five
minutes for ``max-age=300`` to run out), responses whose ``Cache-Control``, ``Expires`` and
``Last-Modified`` the lesson chooses, and a realistic stream of requests for the hit-ratio
curve. This module holds those three, small enough to read next to the lesson.

Key ideas:
- ``FakeClock`` is what ``HttpCache(clock=...)`` calls for "now". It starts on a whole second
  and moves only when told to, so the ``Age`` a reply shows is exactly the seconds you
  advanced it, and the ``ttl`` in ``Cache-Status`` is exactly the lifetime you work out.
- ``HeaderOrigin`` is a tiny origin server on the project's own ``Server``: each page names
  its caching fields, with times given relative to the moment of answering (``expires_in``,
  ``last_modified_ago``), so the ``Date``, ``Expires`` and ``Last-Modified`` of one reply are
  whole seconds apart by exactly those amounts (RFC 9110 5.6.7 dates have one-second steps).
  It counts the requests that reach it: a hit never does.
- Web requests follow a Zipf law (Breslau et al., "Web caching and Zipf-like
  distributions", 1999): the k-th most popular object is asked for in proportion to
  1 / k**s. A few objects get most requests, which is why a small cache already helps.
  ``zipf_workload`` draws such a stream; ``lru_hit_ratio`` replays it against a model LRU
  cache counted in objects, to put beside what the real cache measured.

Left out on purpose: HTTPS, ranges, compression; an origin that changes its pages over time
(an ETag here is fixed per page).

Layer 5 (an edge): built on ``net.server`` and the lab's ``sites`` helpers.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import httpx

from proxylab.cache.validators import format_http_date
from proxylab.errors import ConfigError
from proxylab.http.messages import Headers, Request, Response, reason_phrase
from proxylab.lab.sites import not_modified
from proxylab.net.connection import ClientConnection
from proxylab.net.server import Server

if TYPE_CHECKING:
    from proxylab.lab.lab import Lab

__all__ = [
    "CACHE_FIELDS",
    "FakeClock",
    "HeaderOrigin",
    "Page",
    "lru_hit_ratio",
    "reply_row",
    "zipf_workload",
]


class FakeClock:
    """A clock for ``HttpCache(clock=...)`` that moves only when you call ``advance``.

    It starts at the current time rounded down to a whole second, so a response that an
    origin dates "now" is not already a fraction of a second old when it arrives.
    """

    def __init__(self, start: float | None = None) -> None:
        self._now = float(math.floor(time.time() if start is None else start))
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> float:
        """Move the clock forward by ``seconds`` (never back); returns the new time."""
        if seconds < 0:
            raise ConfigError("A clock only moves forward: give advance() a positive number.")
        with self._lock:
            self._now += seconds
            return self._now

    def __repr__(self) -> str:
        return f"FakeClock({format_http_date(self())})"


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a ``HeaderOrigin``: the caching fields it answers with.

    ``expires_in`` and ``last_modified_ago`` are seconds from the reply's own ``Date``;
    ``vary`` names a request field whose value the body depends on (``Accept-Language``).
    """

    cache_control: str | None = None
    expires_in: int | None = None
    last_modified_ago: int | None = None
    vary: str | None = None
    etag: str | None = None

    def headers(self, now: int) -> list[tuple[str, str]]:
        """The caching fields of a reply dated ``now`` (whole seconds since the epoch)."""
        fields: list[tuple[str, str]] = []
        if self.cache_control is not None:
            fields.append(("Cache-Control", self.cache_control))
        if self.expires_in is not None:
            fields.append(("Expires", format_http_date(now + self.expires_in)))
        if self.last_modified_ago is not None:
            fields.append(("Last-Modified", format_http_date(now - self.last_modified_ago)))
        if self.vary is not None:
            fields.append(("Vary", self.vary))
        if self.etag is not None:
            fields.append(("ETag", f'"{self.etag}"'))
        return fields


class HeaderOrigin:
    """An origin server whose pages carry the caching fields a lesson chooses.

    ``origin.page("/a", cache_control="max-age=60")`` adds a page; ``origin.count("/a")``
    says how many requests reached it. ``HeaderOrigin.on(lab, "shop.test")`` starts one on
    a lab address and gives it a name the lab's proxies know. Stop it with ``close()``.
    """

    def __init__(
        self, address: tuple[str, int] = ("127.0.0.1", 0), *, clock: Callable[[], float] = time.time
    ) -> None:
        self._pages: dict[str, Page] = {}
        self._counts: Counter[str] = Counter()
        self._received: list[Request] = []
        self._lock = threading.Lock()
        self._clock = clock
        self._server = Server(self, address, name="header-origin").start()

    @classmethod
    def on(
        cls, lab: Lab, name: str = "shop.test", *, clock: Callable[[], float] = time.time
    ) -> HeaderOrigin:
        """Start one on a lab site address and register ``name`` for it.

        Give it the cache's ``clock`` when that is a ``FakeClock``: an origin and a cache
        that disagree about the time make every response look older (or younger) than it is.
        """
        if name in lab.resolver:
            raise ConfigError(f"The lab already has a {name!r}; choose another name.")
        origin = cls((lab.addresses.site(len(lab.sites)), 0), clock=clock)
        lab.resolver[name] = origin.address
        return origin

    # -- pages and counts ------------------------------------------------------------------
    def page(self, path: str, **fields: str | int | None) -> str:
        """Add (or replace) the page at ``path`` with ``Page`` fields; returns ``path``."""
        if not path.startswith("/"):
            raise ConfigError(f"A path starts with '/': write '/{path}'.")
        try:
            page = Page(**fields)  # type: ignore[arg-type]
        except TypeError:
            known = "cache_control, expires_in, last_modified_ago, vary, etag"
            raise ConfigError(f"A page takes {known}; got {', '.join(fields)}.") from None
        with self._lock:
            self._pages[path] = page
        return path

    def received(self, path: str | None = None) -> list[Request]:
        """The request heads that reached this origin (for one path), oldest first."""
        with self._lock:
            return [r for r in self._received if path is None or _path(r) == path]

    def count(self, path: str | None = None) -> int:
        """Requests that reached this origin, for one path or in total."""
        with self._lock:
            return sum(self._counts.values()) if path is None else self._counts[path]

    # -- serving ---------------------------------------------------------------------------
    def __call__(self, conn: ClientConnection, request: Request) -> None:
        """Answer one request (the ``Handler`` protocol of ``server``)."""
        for _ in conn.read_body(request):
            pass
        path = _path(request)
        with self._lock:
            self._counts[path] += 1
            self._received.append(request)
            page = self._pages.get(path)
        now = int(self._clock())
        status, fields, body = self._answer(path, page, request, now)
        # Date from this origin's clock (RFC 9110 6.6.1), so that a FakeClock shared with the
        # cache keeps the two in agreement; no body for HEAD and 304 (RFC 9110 6.4.1).
        headers = Headers([("Date", format_http_date(now)), *fields])
        if status != 304:
            headers.add("Content-Type", "text/plain; charset=utf-8")
            headers.add("Content-Length", str(len(body)))
        no_body = request.method == "HEAD" or status == 304
        conn.send_response(
            Response(status, headers, reason_phrase(status)), b"" if no_body else body
        )

    def _answer(
        self, path: str, page: Page | None, request: Request, now: int
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        """Status, caching fields and body of the reply to ``request`` at time ``now``."""
        if page is None:
            return 404, [("Cache-Control", "no-store")], f"No page {path} here.\n".encode()
        fields = page.headers(now)
        body = f"{path}\n".encode()
        if page.vary is not None:
            body = f"{path} for {page.vary}: {request.headers.get(page.vary, '(none)')}\n".encode()
        asked = request.headers.get_list("if-none-match")  # only entity tags are compared here
        if page.etag is not None and asked and not_modified(request.headers, f'"{page.etag}"', 0):
            return 304, fields, b""
        return 200, fields, body

    # -- life cycle ------------------------------------------------------------------------
    @property
    def address(self) -> tuple[str, int]:
        """The ``(host, port)`` it listens on."""
        return self._server.address

    def close(self) -> None:
        """Stop serving; join its threads (idempotent)."""
        self._server.stop()

    stop = close

    def __enter__(self) -> HeaderOrigin:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _path(request: Request) -> str:
    return urlsplit(request.target).path or "/"


#: The reply fields that tell what a cache did, in the order a lesson's table shows them.
CACHE_FIELDS = ("X-Cache", "Age", "Cache-Status")


def reply_row(response: httpx.Response, **first: object) -> dict[str, object]:
    """One table row about a reply: ``first`` columns, the status, then ``CACHE_FIELDS``.

    A field the reply lacks shows as ``-`` (a miss has no ``Age``: it is brand new).
    """
    row: dict[str, object] = dict(first)
    row["status"] = response.status_code
    for name in CACHE_FIELDS:
        row[name] = response.headers.get(name, "-")
    return row


# -- a realistic request stream ------------------------------------------------------------
def zipf_workload(objects: int, requests: int, exponent: float = 1.0, seed: int = 0) -> list[int]:
    """``requests`` object numbers in ``0 .. objects-1``, object k asked for in proportion to 1/(k+1)**exponent.

    Object 0 is the most popular. ``exponent`` 0 makes every object equally likely; web
    traces measure 0.6 to 1.0. The same ``seed`` gives the same stream.
    """
    if objects < 1 or requests < 0 or exponent < 0:
        raise ConfigError("Give objects >= 1, requests >= 0 and exponent >= 0.")
    weights = [1 / (rank + 1) ** exponent for rank in range(objects)]
    return random.Random(seed).choices(range(objects), weights=weights, k=requests)


def lru_hit_ratio(workload: Sequence[int], capacity: int) -> float:
    """The share of ``workload`` a least-recently-used cache of ``capacity`` objects answers.

    A model of what ``HttpCache`` does (its store is an LRU list too, bounded in bytes rather
    than objects): a hit moves the object to the back; a miss stores it and, when full,
    forgets the object at the front, the least recently used.
    """
    if capacity < 0:
        raise ConfigError("A cache holds zero or more objects.")
    if not workload:
        return 0.0
    cache: OrderedDict[int, None] = OrderedDict()
    hits = 0
    for item in workload:
        if item in cache:
            hits += 1
            cache.move_to_end(item)
        elif capacity > 0:
            cache[item] = None
            if len(cache) > capacity:
                cache.popitem(last=False)
    return hits / len(workload)
