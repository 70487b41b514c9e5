"""The shared-cache cases of http-tests/cache-tests (https://cache-tests.fyi), through the proxy.

Each case below carries the id of a cache-tests case and replays it the way that suite's engine
does: every request says which step it is (``Req-Num``), a real origin on 127.0.0.1 answers with
that step's scripted response, and "cached" means the origin never saw the request. Like the
suite, every request also carries ``Cache-Control: nothing-to-see-here`` and ``Pragma: foo``,
and a step that expects validation gets a 304 only if the cache's conditional names the
previous step's ETag or Last-Modified exactly (otherwise status 999, "304 not generated").

One difference: time. The suite pauses 3 s to let responses go stale; here the cache and the
origin's ``Date`` share a fake clock that the case moves forward, so nothing sleeps.

Only cases that apply to a shared cache are here, and only those whose outcome this cache
promises (required ones, and "optimal"/"check" ones where it behaves as the suite hopes).
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from helpers import running_forward_proxy

from proxylab.cache.http_cache import HttpCache
from proxylab.cache.validators import format_http_date
from proxylab.forward.proxy import ForwardSettings

START = 1_700_000_000.0
DATE_FIELDS = frozenset({"date", "expires", "last-modified", "if-modified-since"})
HARNESS_HEADERS = (("Cache-Control", "nothing-to-see-here"), ("Pragma", "foo"))
#: Plain HTTP only; one context for every client saves loading the CA bundle ~200 times.
TLS = ssl.create_default_context()

Field = tuple[str, "str | int"]  # an int in a date field is seconds from "now", as in the suite


@dataclass(frozen=True)
class Step:
    """One request of a case, the origin's answer to it, and what the client must see."""

    headers: tuple[Field, ...] = ()  # the origin's answer, if the request reaches it
    status: int = 200
    body: bytes | None = None  # default: b"step N"
    request: tuple[Field, ...] = ()
    method: str = "GET"
    path: str = ""  # appended to the case's URL: "?query" or "/file"
    pause: float = 0.0  # seconds the clock moves before this request
    expect: str = ""  # "cached", "not_cached", "validated" or "" (no claim)
    expect_status: int | None = None  # default: ``status`` (200 for "cached")
    expect_headers: tuple[tuple[str, str], ...] = ()
    expect_missing: tuple[str, ...] = ()
    disconnect: bool = False  # the origin closes the connection without answering


class Clock:
    """A clock that moves only when told to; the cache and the origin's Date read it."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


def _resolve(name: str, value: str | int, now: float) -> str:
    if isinstance(value, int) and name.lower() in DATE_FIELDS:
        return format_http_date(now + value)
    return str(value)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _ScriptServer

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def __getattr__(self, name: str) -> Callable[[], None]:
        if name.startswith("do_"):  # every method, M-SEARCH included
            return self._answer
        raise AttributeError(name)

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        number = int(self.headers.get("Req-Num", "0"))
        seen = self.server.record(self.command, self.path, list(self.headers.items()))
        steps = self.server.steps
        step = steps[number]
        if step.disconnect:
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        status = step.status
        if step.expect == "validated":
            status = 304 if _conditional_matches(self.headers, steps[number - 1]) else 999
        self._send(status, step, number, seen)

    def _send(self, status: int, step: Step, number: int, seen: int) -> None:
        now = self.server.clock()
        self.send_response_only(status, "Scripted" if status != 304 else "Not Modified")
        fields = [(n, _resolve(n, v, now)) for n, v in step.headers]
        if not any(n.lower() == "date" for n, _ in fields):
            fields.append(("Date", format_http_date(now)))
        fields.append(("Server-Request-Count", str(seen)))
        body = b"" if status in (204, 304) else (step.body or b"step %d" % number)
        if status not in (204, 304) and not any(n.lower() == "content-length" for n, _ in fields):
            fields.append(("Content-Length", str(len(body))))
        for name, value in fields:
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


def _conditional_matches(headers: Any, previous: Step) -> bool:
    """The suite's rule: the conditional repeats the previous answer's validator exactly."""
    stored = {name.lower(): value for name, value in previous.headers}
    etag, modified = stored.get("etag"), stored.get("last-modified")
    return (etag is not None and headers.get("If-None-Match") == etag) or (
        isinstance(modified, str) and headers.get("If-Modified-Since") == modified
    )


class _ScriptServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = True

    def __init__(self, clock: Clock) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.clock = clock
        self.lock = threading.Lock()
        self.steps: tuple[Step, ...] = ()
        self.requests: list[tuple[str, str, list[tuple[str, str]]]] = []
        self.sockets: list[socket.socket] = []

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, address = super().get_request()
        with self.lock:
            self.sockets.append(sock)
        return sock, address

    def record(self, method: str, path: str, headers: list[tuple[str, str]]) -> int:
        with self.lock:
            self.requests.append((method, path, headers))
            return len(self.requests)

    def cut_all_connections(self) -> None:
        with self.lock:
            sockets, self.sockets = self.sockets, []
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


@contextlib.contextmanager
def scripted_origin(clock: Clock) -> Iterator[_ScriptServer]:
    server = _ScriptServer(clock)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01})
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.cut_all_connections()
        server.server_close()
        thread.join()


@dataclass
class Run:
    """A started case: the proxy's client, the origin and the clock."""

    client: httpx.Client
    origin: _ScriptServer
    clock: Clock

    def step(self, number: int, step: Step) -> httpx.Response:
        """Send one request of the case and check what the client got."""
        self.clock.now += step.pause
        before = len(self.origin.requests)
        headers = [*HARNESS_HEADERS, *((n, _resolve(n, v, START)) for n, v in step.request)]
        headers.append(("Req-Num", str(number)))
        url = f"http://cache.test/test/case{step.path}"
        reply = self.client.request(step.method, url, headers=headers, content=_body(step))
        reached = len(self.origin.requests) - before
        where = f"step {number}: {reply.status_code} {dict(reply.headers)}"
        if step.expect == "cached":
            assert reached == 0, f"expected from cache, origin was asked; {where}"
        elif step.expect in ("not_cached", "validated"):
            assert reached >= 1, f"expected the origin to be asked; {where}"
        expected_status = step.expect_status or (200 if step.expect == "cached" else step.status)
        if step.expect == "validated":
            expected_status = step.expect_status or 200
        assert reply.status_code == expected_status, where
        for name, value in step.expect_headers:
            assert reply.headers.get(name) == value, f"{name}; {where}"
        for name in step.expect_missing:
            assert name not in reply.headers, f"{name}; {where}"
        return reply


def _body(step: Step) -> bytes | None:
    return b"abc" if step.method not in ("GET", "HEAD") else None


@pytest.fixture
def run_case() -> Iterator[Callable[..., list[httpx.Response]]]:
    """Factory: ``run_case(steps)`` replays a case through a fresh proxy and cache."""
    clock = Clock()
    with scripted_origin(clock) as origin:
        settings = ForwardSettings(resolve={"cache.test": ("127.0.0.1", origin.server_address[1])})
        proxy = running_forward_proxy(settings, HttpCache(clock=clock))
        with proxy as (server, _), httpx.Client(proxy=server.url, timeout=10, verify=TLS) as client:
            run = Run(client, origin, clock)

            def replay(steps: tuple[Step, ...]) -> list[httpx.Response]:
                origin.steps = steps
                return [run.step(number, step) for number, step in enumerate(steps)]

            yield replay


# -- the cases -----------------------------------------------------------------------------


def cc(value: str) -> Field:
    return ("Cache-Control", value)


def setup(*headers: Field, **options: Any) -> Step:
    """The first request of most cases: the origin's answer is what gets stored (or not)."""
    return Step(headers=headers, **options)


CACHED = Step(pause=3, expect="cached")
NOT_CACHED = Step(pause=3, expect="not_cached")
FRESH = (("Expires", 100000), cc("max-age=100000"), ("Last-Modified", 0), ("Date", 0))
STALE = (("Expires", -5000), ("Last-Modified", -100000), ("Date", 0))


def _fresh_then(expect: str, *headers: Field) -> tuple[Step, Step]:
    return (setup(*headers), Step(pause=3, expect=expect))


CASES: dict[str, tuple[Step, ...]] = {
    # cc-freshness.mjs and cc-parse.mjs
    "freshness-none": (setup(), NOT_CACHED),
    "freshness-max-age": _fresh_then("cached", cc("max-age=3600")),
    "freshness-max-age-quoted": _fresh_then("cached", cc('max-age="3600"')),
    "freshness-max-age-single-quoted": _fresh_then("not_cached", cc("max-age='3600'")),
    "freshness-max-age-ignore-quoted": _fresh_then(
        "not_cached", cc('extension="max-age=3600", max-age=1')
    ),
    "freshness-max-age-ignore-quoted-rev": _fresh_then(
        "not_cached", cc('max-age=1, extension="max-age=3600"')
    ),
    "freshness-max-age-ignore-quoted-all": _fresh_then(
        "not_cached", cc('extension="max-age=100", max-age="1"')
    ),
    "freshness-max-age-space-before-equals": _fresh_then("not_cached", cc("max-age =3600")),
    "freshness-max-age-space-after-equals": _fresh_then("not_cached", cc("max-age= 3600")),
    "freshness-max-age-0": _fresh_then("not_cached", cc("max-age=0")),
    "freshness-max-age-a100": _fresh_then("not_cached", cc("max-age=a100")),
    "freshness-max-age-100a": _fresh_then("not_cached", cc("max-age=100a")),
    "freshness-max-age-negative": _fresh_then("not_cached", cc("max-age=-100")),
    "freshness-max-age-leading-zero": _fresh_then("cached", cc("max-age=003600")),
    "freshness-max-age-max": _fresh_then("cached", cc("max-age=2147483648")),
    "freshness-max-age-max-plus": _fresh_then("cached", cc("max-age=99999999999")),
    "freshness-max-age-age": _fresh_then(
        "not_cached", ("Date", 0), cc("max-age=10"), ("Age", "15")
    ),
    "freshness-max-age-expires": _fresh_then(
        "cached", cc("max-age=3600"), ("Expires", -10000), ("Date", 0)
    ),
    "freshness-max-age-expires-invalid": _fresh_then(
        "cached", cc("max-age=3600"), ("Expires", "0"), ("Date", 0)
    ),
    "freshness-max-age-0-expires": _fresh_then(
        "not_cached", ("Expires", 10000), cc("max-age=0"), ("Date", 0)
    ),
    "freshness-max-age-extension": _fresh_then("cached", cc("foobar, max-age=3600")),
    "freshness-max-age-case-insenstive": _fresh_then("cached", cc("MaX-aGe=3600")),
    "freshness-max-age-two-fresh-stale-sameline": _fresh_then(
        "cached", cc("max-age=1800, max-age=1")
    ),
    "freshness-max-age-two-fresh-stale-sepline": _fresh_then(
        "cached", cc("max-age=1800"), cc("max-age=1")
    ),
    "freshness-s-maxage-shared": _fresh_then("cached", cc("s-maxage=3600")),
    "freshness-max-age-s-maxage-shared-longer": _fresh_then(
        "not_cached", cc("max-age=3600, s-maxage=1")
    ),
    "freshness-max-age-s-maxage-shared-longer-reversed": _fresh_then(
        "not_cached", cc("s-maxage=1, max-age=3600")
    ),
    "freshness-max-age-s-maxage-shared-longer-multiple": _fresh_then(
        "not_cached", cc("max-age=3600"), cc("s-maxage=1")
    ),
    "freshness-max-age-s-maxage-shared-shorter": _fresh_then(
        "cached", cc("max-age=1, s-maxage=3600")
    ),
    # age-parse.mjs
    "age-parse-nonnumeric": _fresh_then("cached", ("Date", 0), cc("max-age=3600"), ("Age", "abc")),
    "age-parse-negative": _fresh_then("cached", ("Date", 0), cc("max-age=3600"), ("Age", "-7200")),
    "age-parse-float": _fresh_then("cached", ("Date", 0), cc("max-age=3600"), ("Age", "7200.0")),
    "age-parse-large-minus-one": _fresh_then(
        "not_cached", ("Date", 0), cc("max-age=3600"), ("Age", "2147483647")
    ),
    "age-parse-large": _fresh_then(
        "not_cached", ("Date", 0), cc("max-age=3600"), ("Age", "2147483648")
    ),
    "age-parse-suffix": _fresh_then(
        "not_cached", ("Date", 0), cc("max-age=3600"), ("Age", "7200, 0")
    ),
    "age-parse-prefix": _fresh_then("cached", ("Date", 0), cc("max-age=3600"), ("Age", "0, 7200")),
    "age-parse-suffix-twoline": _fresh_then(
        "not_cached", ("Date", 0), cc("max-age=3600"), ("Age", "7200"), ("Age", "0")
    ),
    "age-parse-prefix-twoline": _fresh_then(
        "cached", ("Date", 0), cc("max-age=3600"), ("Age", "0"), ("Age", "7200")
    ),
    "age-parse-dup-old": _fresh_then(
        "cached", ("Date", 0), cc("max-age=10000"), ("Age", "3600"), ("Age", "3600")
    ),
    # expires-freshness.mjs and expires-parse.mjs
    "freshness-expires-future": _fresh_then("cached", ("Expires", 30 * 86400), ("Date", 0)),
    "freshness-expires-past": _fresh_then("not_cached", ("Expires", -30 * 86400), ("Date", 0)),
    "freshness-expires-present": (setup(("Expires", 0), ("Date", 0)), Step(expect="not_cached")),
    "freshness-expires-old-date": _fresh_then("not_cached", ("Expires", 300), ("Date", 400)),
    "freshness-expires-invalid": _fresh_then("not_cached", ("Expires", "0"), ("Date", 0)),
    "freshness-expires-invalid-date": (
        setup(("Date", "foo"), ("Expires", 10)),
        Step(expect="cached"),
    ),
    "freshness-expires-age-slow-date": (
        setup(("Date", -10), ("Expires", 10), ("Age", "25")),
        Step(expect="not_cached"),
    ),
    "freshness-expires-age-fast-date": (
        setup(("Date", 10), ("Expires", 20), ("Age", "15")),
        Step(expect="not_cached"),
    ),
    "freshness-expires-32bit": _fresh_then(
        "cached", ("Expires", "Tue, 19 Jan 2038 14:14:08 GMT"), ("Date", 0)
    ),
    "freshness-expires-far-future": _fresh_then(
        "cached", ("Expires", "Sun, 21 Nov 2286 04:46:39 GMT"), ("Date", 0)
    ),
    "freshness-expires-rfc850": _fresh_then(
        "cached", ("Expires", "Thursday, 18-Aug-50 02:01:18 GMT"), ("Date", 0)
    ),
    "freshness-expires-ansi-c": _fresh_then(
        "cached", ("Expires", "Thu Aug  8 02:01:18 2050"), ("Date", 0)
    ),
    "freshness-expires-wrong-case-tz": _fresh_then(
        "cached", ("Expires", "Thu, 18 Aug 2050 02:01:18 gMT"), ("Date", 0)
    ),
    **{
        f"freshness-expires-invalid-{name}": _fresh_then(
            "not_cached", ("Expires", value), ("Date", 0)
        )
        for name, value in [
            ("utc", "Thu, 18 Aug 2050 02:01:18 UTC"),
            ("aest", "Thu, 18 Aug 2050 02:01:18 AEST"),
            ("2-digit-year", "Thu, 18 Aug 50 02:01:18 GMT"),
            ("no-comma", "Thu 18 Aug 2050 02:01:18 GMT"),
            ("multiple-spaces", "Thu, 18  Aug  2050 02:01:18 GMT"),
            ("date-dashes", "Thu, 18-Aug-2050 02:01:18 GMT"),
            ("time-periods", "Thu, 18 Aug 2050 02.01.18 GMT"),
            ("1-digit-hour", "Thu, 18 Aug 2050 2:01:18 GMT"),
        ]
    },
    # cc-response.mjs
    "cc-resp-private-shared": (setup(cc("private, max-age=3600")), Step(expect="not_cached")),
    "cc-resp-no-store": (setup(cc("no-store")), Step(expect="not_cached")),
    "cc-resp-no-store-case-insensitive": (setup(cc("No-StOrE")), Step(expect="not_cached")),
    "cc-resp-no-store-fresh": (
        setup(cc("max-age=10000, no-store"), ("Expires", 10000), ("Date", 0)),
        Step(expect="not_cached"),
    ),
    "cc-resp-no-store-unclosed-quote": (  # not in the suite: a quote must not hide no-store
        setup(cc('max-age=10000, ext="x, no-store')),
        Step(expect="not_cached"),
    ),
    "cc-resp-no-cache": (
        setup(cc("max-age=10000, No-CaChE"), ("Expires", 10000), ("Date", 0)),
        Step(expect="not_cached"),
    ),
    "cc-resp-no-cache-revalidate": (
        setup(cc("no-cache"), ("ETag", '"abcd"')),
        Step(expect="validated"),
    ),
    "cc-resp-no-cache-revalidate-fresh": (
        setup(cc("max-age=10000, no-cache"), ("Expires", 10000), ("Date", 0), ("ETag", '"abcd"')),
        Step(expect="validated"),
    ),
    "headers-omit-headers-listed-in-Cache-Control-no-cache": (
        setup(cc('no-cache="a, b"'), ("a", "1"), ("b", "2"), ("c", "3"), cc("max-age=3600")),
        Step(pause=3, expect="cached", expect_headers=(("c", "3"),), expect_missing=("a", "b")),
    ),
    "cc-resp-private-qualified": (  # not in the suite: RFC 9111 5.2.2.7, store the rest
        setup(cc('private="a", max-age=3600'), ("a", "1"), ("c", "3")),
        Step(pause=3, expect="cached", expect_headers=(("c", "3"),), expect_missing=("a",)),
    ),
    "cc-resp-must-revalidate-fresh": _fresh_then(
        "cached", cc("max-age=10000, must-revalidate"), ("ETag", '"abcd"')
    ),
    "cc-resp-must-revalidate-stale": (
        setup(cc("max-age=2, must-revalidate"), ("ETag", '"abcd"')),
        Step(headers=(cc("max-age=2, must-revalidate"), ("ETag", '"abcd"')), expect="cached"),
        Step(pause=3, expect="validated"),
    ),
    # heuristic-freshness.mjs: Last-Modified a day ago, no explicit freshness
    **{
        f"heuristic-{status}-{'cached' if ok else 'not_cached'}": (
            setup(("Last-Modified", -86400), ("Date", 0), *extra, status=status),
            Step(status=status, expect="cached" if ok else "not_cached", expect_status=status),
        )
        for ok, status, extra in [
            (True, 200, ()),
            (False, 201, ()),
            (False, 202, ()),
            (True, 203, ()),
            (True, 204, ()),
            (False, 403, ()),
            (True, 404, ()),
            (True, 405, ()),
            (True, 410, ()),
            (True, 414, ()),
            (True, 501, ()),
            (False, 502, ()),
            (False, 503, ()),
            (False, 504, ()),
            (False, 599, ()),
        ]
    },
    "heuristic-599-cached-public": (
        setup(("Last-Modified", -86400), ("Date", 0), cc("public"), status=599),
        Step(status=599, expect="cached", expect_status=599),
    ),
    # status.mjs: explicit freshness makes any final status reusable, and stale means stale
    **{
        f"status-{status}-fresh": (
            setup(*FRESH, status=status),
            Step(status=status, expect="cached", expect_status=status),
        )
        for status in (200, 203, 204, 299, 301, 302, 303, 307, 308, 400, 404, 410, 499, 500)
        + (502, 503, 504, 599)
    },
    **{
        f"status-{status}-stale": (setup(*STALE, status=status), Step(expect="not_cached"))
        for status in (200, 204, 301, 302, 404, 500, 599)
    },
    "status-599-must-understand": (
        setup(cc("max-age=3600, no-store, must-understand"), status=599),
        Step(expect="not_cached"),
    ),
    "status-200-must-understand": (
        setup(cc("max-age=3600, no-store, must-understand")),
        Step(expect="cached"),
    ),
    # cc-request.mjs (RFC 9111 5.2.1; "check" cases in the suite)
    "ccreq-ma0": (setup(*FRESH), Step(pause=3, request=(cc("max-age=0"),), expect="not_cached")),
    "ccreq-ma1": (setup(*FRESH), Step(pause=3, request=(cc("max-age=1"),), expect="not_cached")),
    "ccreq-magreaterage": (
        setup(cc("max-age=3600"), ("Age", "1800")),
        Step(request=(cc("max-age=600"),), expect="not_cached"),
    ),
    "ccreq-max-stale": (
        setup(cc("max-age=1")),
        Step(pause=3, request=(cc("max-stale=1000"),), expect="cached"),
    ),
    "ccreq-max-stale-age": (
        setup(cc("max-age=1500"), ("Age", "2000")),
        Step(request=(cc("max-stale=1000"),), expect="cached"),
    ),
    "ccreq-min-fresh": (
        setup(cc("max-age=1500")),
        Step(request=(cc("min-fresh=2000"),), expect="not_cached"),
    ),
    "ccreq-min-fresh-age": (
        setup(cc("max-age=1500"), ("Age", "1000")),
        Step(request=(cc("min-fresh=1000"),), expect="not_cached"),
    ),
    "ccreq-no-cache": (
        setup(cc("max-age=3600")),
        Step(request=(cc("no-cache"),), expect="not_cached"),
    ),
    "ccreq-oic": (Step(request=(cc("only-if-cached"),), expect_status=504),),
    "ccreq-oic-stored": (  # not in the suite: only-if-cached with a fresh stored response
        setup(cc("max-age=3600")),
        Step(request=(cc("only-if-cached"),), expect="cached"),
    ),
    # pragma.mjs: with the harness's Cache-Control on every request, Pragma is ignored
    "pragma-request-no-cache": (
        setup(cc("max-age=3600")),
        Step(request=(("Pragma", "no-cache"),), expect="cached"),
    ),
    "pragma-response-no-cache": (
        setup(cc("max-age=3600"), ("Pragma", "no-cache")),
        Step(expect="cached"),
    ),
    # authorization.mjs
    "other-authorization": (
        setup(*FRESH, request=(("Authorization", "FOO"),)),
        Step(expect="not_cached"),
    ),
    **{
        f"other-authorization-{name}": (
            setup(cc(value), ("Date", 0), request=(("Authorization", "FOO"),)),
            Step(pause=3, expect="cached"),
        )
        for name, value in [
            ("public", "max-age=3600, public"),
            ("must-revalidate", "max-age=3600, must-revalidate"),
            ("smaxage", "s-maxage=3600"),
        ]
    },
    # other.mjs
    "other-age-gen": (
        setup(*FRESH),
        Step(pause=3, expect="cached", expect_headers=(("Age", "3"),)),
    ),
    "other-age-update-expires": (
        setup(("Expires", 30 * 86400), ("Date", 0), ("Age", "30")),
        Step(pause=3, expect="cached", expect_headers=(("Age", "33"),)),
    ),
    "other-age-update-max-age": (
        setup(*FRESH, ("Age", "30")),
        Step(pause=3, expect="cached", expect_headers=(("Age", "33"),)),
    ),
    "other-date-update": (
        setup(*FRESH),
        Step(pause=3, expect="cached", expect_headers=(("Date", format_http_date(START)),)),
    ),
    "other-date-update-expires-update": (
        setup(("Expires", 30 * 86400), ("Date", 0)),
        Step(
            pause=3,
            expect="cached",
            expect_headers=(("Expires", format_http_date(START + 2592000)),),
        ),
    ),
    "query-args-different": (
        setup(*FRESH, path="?test=1"),
        Step(path="?test=2", expect="not_cached"),
    ),
    "query-args-same": (setup(*FRESH, path="?test=1"), Step(path="?test=1", expect="cached")),
    "other-set-cookie": (setup(*FRESH, ("Set-Cookie", "a=b")), Step(expect="cached")),
    "other-cookie": (setup(*FRESH), Step(request=(("Cookie", "a=b"),), expect="cached")),
    # headers.mjs: what is stored with a response, and what never is
    "headers-omit-headers-listed-in-Connection": (
        setup(*FRESH, ("Connection", "a, b"), ("a", "1"), ("b", "2"), ("c", "3")),
        Step(expect="cached", expect_headers=(("c", "3"),), expect_missing=("a", "b")),
    ),
    "headers-store-Test-Header": (
        setup(("Date", 0), ("Test-Header", "x"), cc("max-age=3600")),
        Step(pause=3, expect="cached", expect_headers=(("Test-Header", "x"),)),
    ),
    "headers-store-Set-Cookie": (
        setup(("Date", 0), ("Set-Cookie", "a=b"), cc("max-age=3600")),
        Step(pause=3, expect="cached", expect_headers=(("Set-Cookie", "a=b"),)),
    ),
    "headers-store-Proxy-Authentication-Info": (
        setup(("Date", 0), ("Proxy-Authentication-Info", "x"), cc("max-age=3600")),
        Step(pause=3, expect="cached", expect_missing=("Proxy-Authentication-Info",)),
    ),
    "headers-store-Proxy-Authenticate": (
        setup(("Date", 0), ("Proxy-Authenticate", "Basic"), cc("max-age=3600")),
        Step(pause=3, expect="cached", expect_missing=("Proxy-Authenticate",)),
    ),
    # update304.mjs
    "304-lm-use-stored-Test-Header": (
        setup(
            cc("max-age=2"),
            ("Last-Modified", "Wed, 01 Jan 2020 00:00:00 GMT"),
            ("Date", 0),
            ("Test-Header", "A"),
        ),
        Step(
            pause=3,
            headers=(("Last-Modified", "Wed, 01 Jan 2020 00:00:00 GMT"), ("Date", 0)),
            expect="validated",
            expect_headers=(("Test-Header", "A"),),
        ),
    ),
    **{
        f"304-etag-update-response-{name}": (
            setup(("Date", 0), (name, a), *extra, ("ETag", '"v1"')),
            Step(
                pause=3,
                headers=(("Date", 0), (name, b), *extra, ("ETag", '"v1"')),
                expect="validated",
                expect_headers=((name, b),),
            ),
            Step(expect="cached", expect_headers=((name, b),)),
        )
        for name, a, b, extra in [
            ("Test-Header", "A", "B", (cc("max-age=2"),)),
            ("X-Content-Foo", "A", "B", (cc("max-age=2"),)),
            ("Cache-Control", "max-age=1", "max-age=3600", ()),
            (
                "Expires",
                "Fri, 01 Jan 2038 01:01:01 GMT",
                "Mon, 11 Jan 2038 11:11:11 GMT",
                (cc("max-age=2"),),
            ),
        ]
    },
    "304-etag-update-response-Content-Length": (  # "must not" update
        setup(("Date", 0), cc("max-age=2"), ("ETag", '"v1"'), body=b"12345"),
        Step(
            pause=3,
            headers=(("Date", 0), cc("max-age=2"), ("ETag", '"v1"'), ("Content-Length", "10")),
            expect="validated",
            expect_headers=(("Content-Length", "5"),),
        ),
        Step(expect="cached", expect_headers=(("Content-Length", "5"),)),
    ),
    # vary.mjs and vary-parse.mjs
    **{
        name: (
            setup(cc("max-age=5000"), ("Last-Modified", -3000), ("Date", 0), *vary, request=first),
            Step(request=second, expect=expect),
        )
        for name, vary, first, second, expect in [
            ("vary-match", (("Vary", "Foo"),), (("Foo", "1"),), (("Foo", "1"),), "cached"),
            ("vary-no-match", (("Vary", "Foo"),), (("Foo", "1"),), (("Foo", "2"),), "not_cached"),
            ("vary-omit-stored", (("Vary", "Foo"),), (), (("Foo", "1"),), "not_cached"),
            ("vary-omit", (("Vary", "Foo"),), (("Foo", "1"),), (), "not_cached"),
            (
                "vary-cache-key",
                (("Vary", "Foo"),),
                (("Foo", "1"), ("Other", "2")),
                (("Foo", "1"), ("Other", "3")),
                "cached",
            ),
            (
                "vary-2-match-two-lines",
                (("Vary", "Foo"), ("Vary", "Bar")),
                (("Foo", "1"), ("Bar", "abc")),
                (("Foo", "1"), ("Bar", "abc")),
                "cached",
            ),
            (
                "vary-2-no-match",
                (("Vary", "Foo, Bar"),),
                (("Foo", "1"), ("Bar", "abc")),
                (("Foo", "2"), ("Bar", "abc")),
                "not_cached",
            ),
            (
                "vary-3-order",
                (("Vary", "Foo, Bar, Baz"),),
                (("Foo", "1"), ("Bar", "abc"), ("Baz", "789")),
                (("Foo", "1"), ("Baz", "789"), ("Bar", "abcde")),
                "not_cached",
            ),
            (
                "vary-3-omit",
                (("Vary", "Foo, Bar, Baz"),),
                (("Foo", "1"), ("Baz", "789")),
                (("Foo", "1"), ("Baz", "789")),
                "cached",
            ),
            (
                "vary-normalise-combine",
                (("Vary", "Foo"),),
                (("Foo", "1, 2"),),
                (("Foo", "1"), ("Foo", "2")),
                "cached",
            ),
            (
                "vary-normalise-space",
                (("Vary", "Foo"),),
                (("Foo", "1,2"),),
                (("Foo", "1,   2"),),
                "cached",
            ),
            (
                "vary-normalise-lang-case",
                (("Vary", "Accept-Language"),),
                (("Accept-Language", "en, de"),),
                (("Accept-Language", "eN, De"),),
                "cached",
            ),
            ("vary-case", (("Vary", "FOO"),), (("foo", "1"),), (("Foo", "1"),), "cached"),
            ("vary-star", (("Vary", "*"),), (("Foo", "1"),), (("Foo", "1"),), "not_cached"),
            ("vary-syntax-star-star", (("Vary", "*, *"),), (), (), "not_cached"),
            ("vary-syntax-star-star-lines", (("Vary", "*"), ("Vary", "*")), (), (), "not_cached"),
            ("vary-syntax-empty-star", (("Vary", ", *"),), (), (), "not_cached"),
            ("vary-syntax-empty-star-lines", (("Vary", ""), ("Vary", "*")), (), (), "not_cached"),
            ("vary-syntax-foo-star", (("Vary", "Foo, *"),), (("Foo", "1"),), (), "not_cached"),
        ]
    },
    "vary-invalidate": (
        setup(cc("max-age=5000"), ("Vary", "Foo"), request=(("Foo", "1"),), body=b"foo_1"),
        Step(
            headers=(cc("max-age=5000"), ("Vary", "Foo")),
            request=(("Foo", "2"),),
            body=b"foo_2",
            expect="not_cached",
        ),
        Step(request=(("Foo", "1"),), expect="cached"),
    ),
    # conditional-etag.mjs and conditional-lm.mjs
    "conditional-etag-strong-respond": (
        setup(*FRESH, ("ETag", '"abcdef"')),
        Step(
            request=(("If-None-Match", '"abcdef"'),),
            expect="cached",
            expect_status=304,
            expect_headers=(("ETag", '"abcdef"'),),  # conditional-304-etag
        ),
    ),
    "conditional-etag-precedence": (
        setup(*FRESH, ("Last-Modified", -5000), ("ETag", '"abcdef"')),
        Step(
            request=(("If-None-Match", '"abcdef"'), ("If-Modified-Since", -10000)),
            expect="cached",
            expect_status=304,
        ),
    ),
    "conditional-etag-weak-respond": (
        setup(*FRESH, ("ETag", 'W/"abcdef"')),
        Step(request=(("If-None-Match", 'W/"abcdef"'),), expect="cached", expect_status=304),
    ),
    "conditional-etag-strong-respond-multiple-second": (
        setup(*FRESH, ("ETag", '"abcdef"')),
        Step(
            request=(("If-None-Match", '"1234", "abcdef", "5678"'),),
            expect="cached",
            expect_status=304,
        ),
    ),
    "conditional-etag-vary-headers": (
        setup(
            ("Expires", 1),
            ("ETag", '"abcdef"'),
            ("Date", 0),
            ("Vary", "Abc"),
            request=(("Abc", "123"),),
        ),
        Step(pause=3, request=(("Abc", "123"),), expect="validated"),
    ),
    "conditional-etag-strong-generate": (
        setup(cc("max-age=2"), ("ETag", '"abcdef"')),
        Step(pause=3, expect="validated"),
    ),
    "conditional-etag-weak-generate-weak": (
        setup(cc("max-age=2"), ("ETag", 'W/"abcdef"')),
        Step(pause=3, expect="validated"),
    ),
    "conditional-lm-fresh": (
        setup(cc("max-age=100000"), ("Last-Modified", -3000), ("Date", 0)),
        Step(request=(("If-Modified-Since", -3000),), expect="cached", expect_status=304),
    ),
    "conditional-lm-fresh-earlier": (
        setup(cc("max-age=100000"), ("Last-Modified", -3000), ("Date", 0)),
        Step(request=(("If-Modified-Since", -2000),), expect="cached", expect_status=304),
    ),
    "conditional-lm-stale": (
        setup(cc("max-age=2"), ("Last-Modified", "Wed, 01 Jan 2020 00:00:00 GMT"), ("Date", 0)),
        Step(
            pause=3,
            request=(("If-Modified-Since", "Wed, 01 Jan 2020 00:00:00 GMT"),),
            expect="validated",
            expect_status=304,
        ),
    ),
    "conditional-stored-404-ignores-ims": (  # not in the suite: RFC 9110 13.2.1
        setup(cc("max-age=3600"), status=404),
        Step(request=(("If-Modified-Since", 3000),), expect="cached", expect_status=404),
    ),
    # invalidation.mjs
    **{
        f"invalidate-{method}": (setup(*FRESH), Step(method=method), Step(expect="not_cached"))
        for method in ("POST", "PUT", "DELETE", "M-SEARCH")
    },
    **{
        f"invalidate-{method}-failed": (
            setup(*FRESH),
            Step(method=method, status=500),
            Step(expect="cached"),
        )
        for method in ("POST", "PUT", "DELETE", "M-SEARCH")
    },
    "invalidate-POST-location": (
        setup(*FRESH, path="/location_target"),
        Step(method="POST", headers=(("Location", "/test/case/location_target"),)),
        Step(path="/location_target", expect="not_cached"),
    ),
    "invalidate-POST-cl": (
        setup(*FRESH, path="/content_location_target"),
        Step(
            method="POST",
            headers=(
                ("Content-Location", "HTTP://CACHE.test:80/test/case/content_location_target"),
            ),
        ),
        Step(path="/content_location_target", expect="not_cached"),
    ),
    "invalidate-POST-location-other-host": (  # not in the suite: other hosts stay untouched
        setup(*FRESH, path="/location_target"),
        Step(method="POST", headers=(("Location", "http://other.test/test/case/location_target"),)),
        Step(path="/location_target", expect="cached"),
    ),
    # stale.mjs and cc-stale.mjs: a disconnected origin, and what forbids serving stale
    "stale-close": (  # the suite's "cached": the answer is the first origin response
        setup(cc("max-age=2")),
        Step(pause=3, disconnect=True, expect_headers=(("Server-Request-Count", "1"),)),
    ),
    **{
        f"stale-close-{directive}": (
            setup(cc(f"max-age=2, {directive}")),
            Step(pause=3, disconnect=True, expect_status=502),
        )
        for directive in ("must-revalidate", "proxy-revalidate", "no-cache", "s-maxage=2")
    },
    "stale-if-error-cc-response": (
        setup(cc("max-age=0, stale-if-error=3600")),
        Step(status=500, expect="not_cached", expect_status=200),
    ),
    "stale-if-error-cc-response-expired": (
        setup(cc("max-age=0, stale-if-error=1")),
        Step(pause=3, status=500, expect="not_cached"),
    ),
    "stale-if-error-cc-request-expired": (
        setup(cc("max-age=0")),
        Step(pause=3, status=500, request=(cc("stale-if-error=1"),), expect="not_cached"),
    ),
    # partial.mjs: partial content is never stored, nor served as a whole; a range of a
    # stored complete response is cut from it ("optimal" cases)
    "partial-206-not-stored": (
        setup(cc("max-age=3600"), ("Content-Range", "bytes 4-9/10"), status=206, body=b"01234"),
        Step(expect="not_cached"),
    ),
    "partial-range-of-unstored-not-kept": (  # not in the suite: the 206 passed on is not kept
        Step(
            request=(("Range", "bytes=0-1"),),
            headers=(cc("max-age=3600"), ("Content-Range", "bytes 0-1/11")),
            status=206,
            body=b"01",
            expect="not_cached",
        ),
        Step(headers=(cc("max-age=3600"),), body=b"01234567890", expect="not_cached"),
        Step(expect="cached", expect_headers=(("Content-Length", "11"),)),
    ),
    **{
        f"partial-store-complete-reuse-partial{suffix}": (
            setup(cc("max-age=3600"), body=b"01234567890"),
            Step(
                request=(("Range", spec),),
                expect="cached",
                expect_status=206,
                expect_headers=(("Content-Range", content_range), ("Content-Length", length)),
            ),
        )
        for suffix, spec, content_range, length in [
            ("", "bytes=0-1", "bytes 0-1/11", "2"),
            ("-no-last", "bytes=1-", "bytes 1-10/11", "10"),
            ("-suffix", "bytes=-1", "bytes 10-10/11", "1"),
        ]
    },
    # update-head.mjs ("check" cases): a HEAD 200 freshens the stored GET
    "head-200-update": (
        setup(cc("max-age=2"), ("Template-A", "1")),
        Step(pause=3, method="HEAD", headers=(("Template-A", "2"), cc("max-age=1000"))),
        Step(expect="cached", expect_headers=(("Template-A", "2"),)),
    ),
    "head-from-stored-get": (setup(*FRESH), Step(method="HEAD", expect="cached")),
}


@pytest.mark.parametrize("case", list(CASES))
def test_cache_tests_case(case: str, run_case: Callable[..., list[httpx.Response]]) -> None:
    run_case(CASES[case])
