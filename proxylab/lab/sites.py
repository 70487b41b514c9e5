"""The lab's demo web sites (news.test, social.test, video.test, school.test) and a black hole.

A proxy is easiest to understand from the far side: what did the web site actually see?
Each ``Site`` is a tiny origin server, a ``Handler`` on the project's own ``Server``, with
a few HTML pages and some instruments a lesson can point at:

- ``/whoami`` (JSON) and ``/whoami.html`` (for people) report the visitor's address and
  every header field as received, and name the fields that give a proxy away (``Via``,
  ``X-Forwarded-For``, ``Forwarded``). Privacy becomes visible from the origin's side.
- ``/static/style.css`` and ``/images/logo.png`` (and on video.test ``/images/thumb-N.png``)
  are cacheable: ``Cache-Control: public, max-age=300``, an ``ETag`` and a
  ``Last-Modified``, and conditional requests (``If-None-Match``, ``If-Modified-Since``)
  get ``304 Not Modified`` (RFC 9110 section 13). ``?max_age=N`` changes the lifetime;
  ``/revalidate`` is ``no-cache``: a cache must ask every time, and usually gets a 304.
- ``/slow?ms=N`` answers after N milliseconds (``&max_age=S`` makes the answer cacheable,
  to show a cache's speed-up); ``/bytes/N`` returns N binary bytes
  (cacheable; any query string makes a distinct object, handy for cache-size curves).
- ``Site.count(path)`` says how many requests arrived: a cache hit never reaches it.
- Every answered request is also recorded as an ``Event(source="site")`` in the lab's log,
  so a chart can show what the origin saw next to what the proxy did.

``BlackHole`` is an origin that never answers: a listening socket nobody ever calls
``accept()`` on. The kernel still completes the TCP handshake and buffers what the client
sends, so a client (or proxy) connects fine and then waits forever: the classic cause of a
``504 Gateway Timeout``. It needs no thread at all, and closing it resets every waiting
connection.

Left out on purpose: HTTPS origins, range requests, compression, cookies beyond one demo.

Layer 5 (an edge): built on ``server``, ``messages`` and ``metrics``.
"""

from __future__ import annotations

import html
import json
import socket
import threading
import time
import zlib
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import formatdate, parsedate_to_datetime
from urllib.parse import parse_qs, urlsplit

from proxylab.http.messages import Headers, Request, Response, reason_phrase
from proxylab.metrics import Event, EventLog
from proxylab.net.connection import ClientConnection
from proxylab.net.server import Server

__all__ = [
    "LAST_MODIFIED",
    "PROXY_SIGNS",
    "SITE_NAMES",
    "BlackHole",
    "Reply",
    "Site",
    "not_modified",
    "send_reply",
    "whoami_report",
]

#: The demo sites every ``Lab`` starts.
SITE_NAMES: tuple[str, ...] = ("news.test", "social.test", "video.test", "school.test")

#: Every static asset claims this modification time (a fixed date keeps validators stable).
LAST_MODIFIED: float = 1_704_067_200.0  # 2024-01-01 00:00:00 UTC

#: Request fields that tell an origin a proxy was involved.
PROXY_SIGNS: frozenset[str] = frozenset({"via", "x-forwarded-for", "forwarded", "x-real-ip"})

MAX_BYTES = 16 * 1024 * 1024
MAX_SLOW_MS = 60_000


@dataclass(frozen=True, slots=True)
class Reply:
    """What a page answers: status, body, content type and extra header fields."""

    status: int
    body: bytes
    content_type: str = "text/html; charset=utf-8"
    headers: tuple[tuple[str, str], ...] = (("Cache-Control", "no-store"),)


def send_reply(conn: ClientConnection, request: Request, reply: Reply) -> None:
    """Send ``reply`` with Date and Content-Length; no body for HEAD and 304 (RFC 9110 6.4.1)."""
    headers = Headers([("Date", formatdate(usegmt=True)), ("Server", "proxylab-lab")])
    for name, value in reply.headers:
        headers.add(name, value)
    no_body = request.method == "HEAD" or reply.status == 304
    if reply.status != 304:
        headers.add("Content-Type", reply.content_type)
        headers.add("Content-Length", str(len(reply.body)))
    response = Response(reply.status, headers, reason_phrase(reply.status))
    conn.send_response(response, b"" if no_body else reply.body)


def not_modified(headers: Headers, etag: str, last_modified: float) -> bool:
    """Does a conditional GET match, so that 304 is the answer (RFC 9110 13.1.1, 13.1.3)?

    ``If-None-Match`` wins when present (weak comparison: ``W/"x"`` equals ``"x"``);
    otherwise ``If-Modified-Since`` matches when the resource is not newer.
    """
    if_none_match = headers.get_list("if-none-match")
    if if_none_match:
        return "*" in if_none_match or etag.removeprefix("W/") in {
            tag.removeprefix("W/") for tag in if_none_match
        }
    since = headers.get("if-modified-since")
    if since is None:
        return False
    try:
        return last_modified <= parsedate_to_datetime(since).timestamp()
    except (TypeError, ValueError):
        return False  # RFC 9110 13.1.3: an invalid date is ignored


def _page(site: str, heading: str, content: str) -> bytes:
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{heading} - {site}</title>"
        f"<link rel='stylesheet' href='/static/style.css'></head><body>"
        f"<header><img src='/images/logo.png' alt='' width='16' height='16'> {site}</header>"
        f"<h1>{heading}</h1>{content}</body></html>\n"
    ).encode()


def _png(size: int, seed: int) -> bytes:
    """A valid grey ``size`` x ``size`` PNG whose shade depends on ``seed``."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return len(data).to_bytes(4, "big") + body + zlib.crc32(body).to_bytes(4, "big")

    header = size.to_bytes(4, "big") * 2 + bytes([8, 0, 0, 0, 0])  # 8-bit greyscale
    rows = b"".join(
        b"\x00" + bytes([(seed * 40 + x) % 256 for x in range(size)]) for _ in range(size)
    )
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


_STYLE = (
    b"body { font-family: sans-serif; max-width: 40em; margin: 2em auto; }\nh1 { color: #246; }\n"
)

_PAGES: dict[str, dict[str, tuple[str, str]]] = {
    "news.test": {
        "/": ("Today's news", "<ul><li><a href='/article/1'>Proxies explained</a></li>"
              "<li><a href='/article/2'>Caches save the day</a></li></ul>"),
        "/article/1": ("Proxies explained", "<p>A forward proxy acts for the client.</p>"),
        "/article/2": ("Caches save the day", "<p>A hit never reaches the origin.</p>"),
    },
    "social.test": {
        "/": ("Your feed", "<p>12 new posts from your friends.</p><a href='/profile'>Profile</a>"),
        "/profile": ("Your profile", "<p>Only you should see this page.</p>"),
    },
    "video.test": {
        "/": ("Videos", "".join(f"<img src='/images/thumb-{n}.png' alt='video {n}'>" for n in range(1, 7))),
        "/watch": ("Now playing", "<p>A video would play here.</p>"),
    },
    "school.test": {
        "/": ("School portal", "<p><a href='/homework'>Homework</a> is due on Friday.</p>"),
        "/homework": ("Homework", "<ol><li>Read about proxies.</li><li>Run the lab.</li></ol>"),
    },
}  # fmt: skip


class Site:
    """One demo web site: pages, instruments and a request counter, on its own ``Server``.

    ``Site("news.test").start()`` listens on ``address`` (port 0: any free port); the lab
    maps the name to that address. ``count()`` tells how many requests reached the site.
    """

    def __init__(
        self,
        name: str,
        address: tuple[str, int] = ("127.0.0.1", 0),
        *,
        events: EventLog | None = None,
    ) -> None:
        self.name = name
        self.events = events
        self._bind = address
        self._pages = _PAGES.get(name, {"/": (f"Welcome to {name}", "<p>A lab site.</p>")})
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: Server | None = None
        self._logo = _png(16, zlib.crc32(name.encode()) % 7)

    # -- life cycle --------------------------------------------------------------------
    def start(self) -> Site:
        """Start serving in the background (idempotent); returns self."""
        if self._server is None:
            self._stopping.clear()
            self._server = Server(self, self._bind, name=f"site-{self.name}").start()
            self._bind = self._server.address
        return self

    def stop(self) -> None:
        """Stop serving: wake slow pages, close every connection, join every thread."""
        server, self._server = self._server, None
        if server is not None:
            self._stopping.set()
            server.stop()

    close = stop

    @property
    def address(self) -> tuple[str, int]:
        """The ``(host, port)`` the site listens on (after ``start``)."""
        return self._bind

    @property
    def url(self) -> str:
        """``http://host:port`` by address (the lab's clients use ``http://name/``)."""
        return f"http://{self._bind[0]}:{self._bind[1]}"

    # -- the request counter -----------------------------------------------------------
    def count(self, path: str | None = None) -> int:
        """Requests received so far, for one path (without the query) or in total."""
        with self._lock:
            return sum(self._counts.values()) if path is None else self._counts[path]

    def reset_counts(self) -> None:
        """Start counting from zero (between two demonstrations)."""
        with self._lock:
            self._counts.clear()

    # -- the handler -------------------------------------------------------------------
    def __call__(self, conn: ClientConnection, request: Request) -> None:
        """Answer one request (the ``Handler`` protocol of ``server``)."""
        started = time.monotonic()
        received = sum(len(piece) for piece in conn.read_body(request))
        parts = urlsplit(request.target)
        path, query = parts.path or "/", parse_qs(parts.query)
        with self._lock:
            self._counts[path] += 1
        reply = self._route(path, query, request, conn)
        self._record(conn, request, reply, time.monotonic() - started, received)
        send_reply(conn, request, reply)  # after recording: the log is never behind the client

    def _route(
        self, path: str, query: Mapping[str, list[str]], request: Request, conn: ClientConnection
    ) -> Reply:
        if path in ("/whoami", "/whoami.html"):
            report = self.whoami(conn, request)
            return _whoami_html(report) if path.endswith(".html") else _json(report)
        if path == "/slow":
            return self._slow(_int(query, "ms", 100), query)
        if path.startswith("/bytes/"):
            size = min(MAX_BYTES, max(0, _int({"n": [path[7:]]}, "n", 0)))
            body = (bytes(range(256)) * (size // 256 + 1))[:size]
            return _asset(request, body, "application/octet-stream", f"bytes-{size}", query)
        asset = self._asset_for(path)
        if asset is not None:
            return _asset(request, asset[0], asset[1], f"{self.name}-{zlib.crc32(asset[0])}", query)
        if path == "/revalidate":
            body = _page(self.name, "Always checked", "<p>Cache-Control: no-cache.</p>")
            return _asset(request, body, "text/html; charset=utf-8", "rev-1", {"no_cache": ["1"]})
        if path in self._pages:
            heading, content = self._pages[path]
            return Reply(
                200, _page(self.name, heading, content), headers=(("Cache-Control", "max-age=30"),)
            )
        return Reply(404, _page(self.name, "Not found", f"<p>No page {html.escape(path)}.</p>"))

    def _asset_for(self, path: str) -> tuple[bytes, str] | None:
        if path == "/static/style.css":
            return _STYLE, "text/css"
        if path == "/images/logo.png":
            return self._logo, "image/png"
        if path.startswith("/images/thumb-") and path.endswith(".png"):
            return _png(48, _int({"n": [path[14:-4]]}, "n", 0)), "image/png"
        return None

    def _slow(self, ms: int, query: Mapping[str, list[str]]) -> Reply:
        """Answer after ``ms``; with ``max_age`` the answer is cacheable (a cache's speed-up)."""
        ms = min(MAX_SLOW_MS, max(0, ms))
        self._stopping.wait(ms / 1000)  # an Event, not sleep: stopping the site wakes it
        reply = _json({"site": self.name, "slept_ms": ms})
        if "max_age" in query:
            control = f"public, max-age={_int(query, 'max_age', 60)}"
            return Reply(
                reply.status, reply.body, reply.content_type, (("Cache-Control", control),)
            )
        return reply

    def whoami(self, conn: ClientConnection, request: Request) -> dict[str, object]:
        """What this site learns about its visitor: address, request line, every header."""
        return whoami_report(self.name, conn, request)

    def _record(
        self, conn: ClientConnection, request: Request, reply: Reply, duration: float, received: int
    ) -> None:
        if self.events is None:
            return
        headers = request.headers
        self.events.record(
            Event(
                time=time.time() - duration,
                source="site",
                client=conn.client_ip,
                method=request.method,
                target=f"http://{self.name}{request.target}",
                status=reply.status,
                upstream=self.name,
                bytes_in=received,
                bytes_out=0 if request.method == "HEAD" else len(reply.body),
                duration=duration,
                note="; ".join(f"{n}: {v}" for n, v in headers if n.lower() in PROXY_SIGNS),
                extra={
                    # the connection's far end: a proxy's event names the same address and
                    # port as its ``upstream_from``, which pairs the two records exactly
                    "peer": f"{conn.client_address[0]}:{conn.client_address[1]}",
                    "user_agent": headers.get("user-agent", ""),
                    "cookie": headers.get("cookie", ""),
                },
            )
        )


def whoami_report(site: str, conn: ClientConnection, request: Request) -> dict[str, object]:
    """What a server learns about its visitor: address, request line, every header field.

    ``proxy_signs`` lists the fields that give a proxy away (see ``PROXY_SIGNS``).
    """
    fields = [[name, value] for name, value in request.headers]
    return {
        "site": site,
        "remote_address": conn.client_ip,
        "remote_port": conn.client_address[1],
        "method": request.method,
        "target": request.target,
        "http_version": request.version,
        "headers": fields,
        "proxy_signs": [f"{n}: {v}" for n, v in fields if n.lower() in PROXY_SIGNS],
    }


def _int(query: Mapping[str, list[str]], name: str, default: int) -> int:
    values = query.get(name)
    try:
        return int(values[0]) if values else default
    except ValueError:
        return default


def _json(data: object) -> Reply:
    return Reply(200, (json.dumps(data, indent=2) + "\n").encode(), "application/json")


def _asset(
    request: Request, body: bytes, content_type: str, tag: str, query: Mapping[str, list[str]]
) -> Reply:
    """A cacheable answer with validators, or 304 when the client's copy is still good."""
    etag = f'"{tag}"'
    control = (
        "no-cache" if "no_cache" in query else f"public, max-age={_int(query, 'max_age', 300)}"
    )
    headers = (
        ("Cache-Control", control),
        ("ETag", etag),
        ("Last-Modified", formatdate(LAST_MODIFIED, usegmt=True)),
    )
    if request.method in ("GET", "HEAD") and not_modified(request.headers, etag, LAST_MODIFIED):
        return Reply(304, b"", content_type, headers)
    return Reply(200, body, content_type, headers)


def _whoami_html(report: dict[str, object]) -> Reply:
    rows = "".join(
        f"<tr><th>{html.escape(str(name))}</th><td>{html.escape(str(value))}</td></tr>"
        for name, value in report["headers"]  # type: ignore[attr-defined]
    )
    signs = report["proxy_signs"]
    verdict = (
        f"A proxy was involved: {html.escape('; '.join(signs))}."  # type: ignore[arg-type]
        if signs
        else "No header gives a proxy away."
    )
    content = (
        f"<p>Your address, as this site sees it: <b>{report['remote_address']}</b> "
        f"(port {report['remote_port']}).</p><p>{verdict}</p>"
        f"<p><code>{html.escape(str(report['method']))} {html.escape(str(report['target']))}"
        f" {report['http_version']}</code></p><table>{rows}</table>"
    )
    return Reply(200, _page(str(report["site"]), "Who am I?", content))


class BlackHole:
    """An origin that accepts connections and never answers (for 504s and stuck backends).

    Nobody calls ``accept()``: the kernel finishes the handshake and queues the
    connection, the client's request sits unread, no reply ever comes. ``close()`` makes
    the kernel reset every queued connection, so whoever waits gets an error at once.
    """

    def __init__(self, address: tuple[str, int] = ("127.0.0.1", 0), backlog: int = 128) -> None:
        self._sock: socket.socket | None = socket.create_server(address, backlog=backlog)
        self._address: tuple[str, int] = self._sock.getsockname()[:2]

    @property
    def address(self) -> tuple[str, int]:
        """The ``(host, port)`` that swallows requests."""
        return self._address

    @property
    def url(self) -> str:
        """``http://host:port`` of the black hole."""
        return f"http://{self._address[0]}:{self._address[1]}"

    def close(self) -> None:
        """Stop listening (idempotent); waiting clients see a connection reset."""
        sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()

    stop = close

    def __enter__(self) -> BlackHole:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
