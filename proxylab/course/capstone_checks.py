"""What the capstone driver checks, with its points: CMU Proxy Lab's parts and more.

What it does. Each check is a small function that drives the student's proxy over raw
sockets against the driver's own origins (``capstone_origin``) and either returns
(passed) or raises ``CheckFailed`` with a sentence that says what went wrong and what to
do. ``CHECKS`` lists them in the order they run, each with its group and points:

=============  ======  ===============================================================
group          points  what is checked
=============  ======  ===============================================================
basic          40      text and binary files byte-identical to a direct fetch; status,
                       query string and request fields relayed (CMU: basic, 40)
concurrency    15      a request to an origin that never answers, or a client that
                       sends nothing, does not block another client (CMU: 15)
cache          15      served from the cache after the origin stopped; an object above
                       1 MiB is not cached (CMU: 15)
http11         10      keep-alive on the client side; a chunked response relayed
privacy         5      the origin does not learn the client's address
filtering       5      a host listed in the rule file gets 403 (others still work)
robustness     10      malformed requests get 400 and the proxy still serves; a client
                       that disconnects mid-response does not hurt it
=============  ======  ===============================================================

Key idea: every check compares with the truth, never with a guess: the bodies the origin
sends are fixed, a direct fetch is the reference, and the origin counts what reached it.

Layer 5 (an edge).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from proxylab.course.capstone_client import (
    ClientError,
    Conversation,
    Reply,
    abort,
    fetch,
    request_bytes,
)
from proxylab.course.capstone_origin import BIG_SIZE, CACHE_LIMIT, CHUNKS, CapstoneOrigin
from proxylab.lab.sites import BlackHole

__all__ = ["BLOCKED_HOST", "CHECKS", "Check", "CheckFailed", "Context", "RULES_TEXT"]

#: The host the rule file blocks: a name that does reach the origin if not blocked.
BLOCKED_HOST = "localhost"
#: What the driver writes to the rule file passed as ``{rules}`` / ``$PROXYLAB_RULES``.
RULES_TEXT = f"# Hosts this proxy must refuse with 403, one a line.\n{BLOCKED_HOST}\n"
_FORWARDING_FIELDS = frozenset({"x-forwarded-for", "forwarded", "x-real-ip"})


class CheckFailed(Exception):
    """A check did not pass; the message is for the student."""


@dataclass
class Context:
    """What every check may use: the proxy's address, the origins, the time limits."""

    proxy: tuple[str, int]
    origin: CapstoneOrigin
    cache_origin: CapstoneOrigin
    timeout: float  # for each exchange
    wait: float  # how long the concurrency checks let the second client wait
    client_source: str | None  # a second loopback address for the client, if the OS has one
    notes: dict[str, bool] = field(default_factory=dict)  # what one check tells a later one


@dataclass(frozen=True, slots=True)
class Check:
    """One graded check: where its points count, how many, and the function that runs it."""

    group: str
    name: str
    points: float
    run: Callable[[Context], None]


def via_proxy(
    ctx: Context,
    path: str,
    *,
    origin: CapstoneOrigin | None = None,
    host: str = "127.0.0.1",
    timeout: float | None = None,
    extra: tuple[tuple[str, str], ...] = (),
    source: str | None = None,
) -> Reply:
    """GET ``path`` of ``origin`` through the proxy; a ``ClientError`` becomes ``CheckFailed``."""
    origin = origin or ctx.origin
    url = origin.url(path, host)
    try:
        return fetch(
            ctx.proxy,
            url,
            f"{host}:{origin.port}",
            timeout or ctx.timeout,
            extra=extra,
            source=source,
        )
    except ClientError as error:
        raise CheckFailed(f"GET {url} through the proxy: {error}.") from None


def expect_object(
    ctx: Context, path: str, reply: Reply, origin: CapstoneOrigin | None = None
) -> None:
    """``reply`` must be a 200 carrying exactly the origin's bytes for ``path``."""
    wanted = (origin or ctx.origin).body(path)
    if reply.status != 200:
        raise CheckFailed(f"GET {path} through the proxy answered {reply.status}, not 200.")
    if reply.body != wanted:
        raise CheckFailed(f"GET {path}: {_difference(reply.body, wanted)}")


def _difference(got: bytes, wanted: bytes) -> str:
    if len(got) != len(wanted):
        return f"the body has {len(got)} bytes; the origin sent {len(wanted)}."
    first = next(i for i, (a, b) in enumerate(zip(got, wanted, strict=True)) if a != b)
    return (
        f"the body differs from the origin's at byte {first} ({got[first]:#04x} instead of "
        f"{wanted[first]:#04x}); relay bytes, do not decode or re-encode text."
    )


def whoami(ctx: Context, path: str, **options: Any) -> dict[str, Any]:
    """What the origin saw of a request sent through the proxy (its JSON report)."""
    reply = via_proxy(ctx, path, **options)
    if reply.status != 200:
        raise CheckFailed(f"GET {path} through the proxy answered {reply.status}, not 200.")
    try:
        report: dict[str, Any] = json.loads(reply.body)
    except ValueError:
        raise CheckFailed(f"GET {path}: the body is not the origin's JSON report.") from None
    return report


# --- basic ------------------------------------------------------------------------------


def text_file(ctx: Context) -> None:
    """A text page, byte-identical to a direct fetch."""
    expect_object(ctx, "/text/page.html", via_proxy(ctx, "/text/page.html"))


def binary_file(ctx: Context) -> None:
    """200 KB holding every byte value (NUL, CR, LF ...), byte-identical."""
    expect_object(ctx, "/binary/blob.bin", via_proxy(ctx, "/binary/blob.bin"))


def status_relayed(ctx: Context) -> None:
    """A 404 from the origin reaches the client as a 404."""
    reply = via_proxy(ctx, "/no/such/page")
    if reply.status != 404:
        raise CheckFailed(f"the origin answered 404 but the client got {reply.status}.")


def query_string(ctx: Context) -> None:
    """The path and query reach the origin exactly as the client wrote them."""
    target = "/echo?q=a%20b&n=1"
    reply = via_proxy(ctx, target)
    if reply.status != 200:
        raise CheckFailed(f"GET {target} through the proxy answered {reply.status}, not 200.")
    if reply.body != target.encode():
        raise CheckFailed(f"the client asked for {target}; the origin received {reply.body!r}.")


def request_forwarded(ctx: Context) -> None:
    """Origin-form target, the right Host, and the client's own fields passed on."""
    report = whoami(ctx, "/whoami?from=capstone", extra=(("X-Capstone", "hello"),))
    headers = {name.lower(): value for name, value in report["headers"]}
    if report["target"] != "/whoami?from=capstone":
        raise CheckFailed(
            f"the origin received the target {report['target']!r}: send it the origin-form "
            "/path?query (RFC 9112 3.2.1), not the absolute URL."
        )
    if headers.get("host") != f"127.0.0.1:{ctx.origin.port}":
        raise CheckFailed(f"the origin received Host: {headers.get('host')!r}, not host:port.")
    if headers.get("x-capstone") != "hello":
        raise CheckFailed("the client's X-Capstone: hello did not reach the origin.")


# --- concurrency ------------------------------------------------------------------------


def stuck_origin(ctx: Context) -> None:
    """A request to an origin that never answers does not block another client."""
    with BlackHole() as hole, Conversation(ctx.proxy, ctx.timeout) as stuck:
        stuck.send(request_bytes(f"{hole.url}/never", f"127.0.0.1:{hole.address[1]}"))
        _second_client(ctx, "while another client was waiting for an origin that never answers")


def idle_client(ctx: Context) -> None:
    """A client that connects and sends half a request does not block another client."""
    with Conversation(ctx.proxy, ctx.timeout) as idle:
        idle.send(b"GET http://127.0")
        _second_client(ctx, "while another client had sent only half a request line")


def _second_client(ctx: Context, situation: str) -> None:
    try:
        reply = via_proxy(ctx, "/text/page.html", timeout=ctx.wait)
    except CheckFailed as failed:
        raise CheckFailed(
            f"{failed} (That was {situation}.) Serve each client in its own thread or process."
        ) from None
    expect_object(ctx, "/text/page.html", reply)


# --- cache ------------------------------------------------------------------------------


def served_from_cache(ctx: Context) -> None:
    """Fetch, stop the origin, fetch again: the second answer comes from the cache."""
    origin = ctx.cache_origin
    expect_object(
        ctx, "/cache/small.txt", via_proxy(ctx, "/cache/small.txt", origin=origin), origin
    )
    expect_object(ctx, "/big.bin", via_proxy(ctx, "/big.bin", origin=origin), origin)
    origin.stop()
    try:
        again = via_proxy(ctx, "/cache/small.txt", origin=origin)
        expect_object(ctx, "/cache/small.txt", again, origin)
    except CheckFailed as failed:
        raise CheckFailed(
            f"After the origin stopped: {failed} Keep responses of up to 1 MiB in a cache "
            "keyed by URL and answer from it."
        ) from None
    ctx.notes["cache works"] = True
    try:
        big = via_proxy(ctx, "/big.bin", origin=origin)
    except CheckFailed:
        return  # not cached: the proxy had to ask the stopped origin
    ctx.notes["big cached"] = big.status == 200 and big.body == origin.body("/big.bin")


def large_not_cached(ctx: Context) -> None:
    """An object above the limit is fetched anew every time (checked with the cache test)."""
    if not ctx.notes.get("cache works"):
        raise CheckFailed(
            "Not counted: the proxy did not answer from its cache (see served_from_cache), so "
            "not caching the large object proves nothing yet."
        )
    if ctx.notes.get("big cached"):
        raise CheckFailed(
            f"The {BIG_SIZE} byte object came from the cache after the origin stopped; objects "
            f"above {CACHE_LIMIT} bytes (1 MiB) must not be cached."
        )


# --- HTTP/1.1 ---------------------------------------------------------------------------


def keep_alive(ctx: Context) -> None:
    """Two requests, one after the other, on one client connection."""
    port = ctx.origin.port
    with Conversation(ctx.proxy, ctx.timeout) as conversation:
        for number, path in enumerate(("/text/page.html", "/binary/blob.bin"), start=1):
            conversation.send(request_bytes(ctx.origin.url(path), f"127.0.0.1:{port}"))
            try:
                reply = conversation.read_reply()
            except ClientError as error:
                raise CheckFailed(
                    f"request {number} of 2 on one connection: {error}. HTTP/1.1 connections "
                    "stay open unless a side sends Connection: close (RFC 9112 9.3); frame "
                    "each response (Content-Length or chunked) so the client sees its end."
                ) from None
            expect_object(ctx, path, reply)


def chunked_relayed(ctx: Context) -> None:
    """A response the origin sends in chunks arrives whole."""
    reply = via_proxy(ctx, "/chunked")
    wanted = b"".join(CHUNKS)
    if reply.status != 200 or reply.body != wanted:
        raise CheckFailed(
            f"GET /chunked: status {reply.status}, {len(reply.body)} body bytes instead of "
            f"{len(wanted)}. Relay the chunks as they are, or decode them and send the whole body "
            "with a Content-Length (RFC 9112 7.1)."
        )


# --- privacy and filtering --------------------------------------------------------------


def client_hidden(ctx: Context) -> None:
    """The origin does not learn the client's address, from the connection or a field."""
    client = ctx.client_source or "127.0.0.1"
    report = whoami(ctx, "/whoami", source=ctx.client_source)
    if ctx.client_source and report["remote_address"] == client:
        raise CheckFailed(f"the origin's connection came from the client's own address {client}.")
    for name, value in report["headers"]:
        telling = ctx.client_source is not None or name.lower() in _FORWARDING_FIELDS
        if telling and client in value:
            raise CheckFailed(
                f"the origin learnt the client's address {client} from '{name}: {value}'; do "
                "not add X-Forwarded-For or Forwarded, and drop them if the client sent any."
            )


def blocked_host(ctx: Context) -> None:
    """A host in the rule file gets 403 and never reaches the origin; others still work."""
    before = ctx.origin.count("/text/page.html")
    reply = via_proxy(ctx, "/text/page.html", host=BLOCKED_HOST)
    if reply.status != 403:
        raise CheckFailed(
            f"{BLOCKED_HOST} is listed in the rule file ({{rules}} or $PROXYLAB_RULES) but the "
            f"proxy answered {reply.status}, not 403 Forbidden."
        )
    if ctx.origin.count("/text/page.html") != before:
        raise CheckFailed(
            "the proxy answered 403 but still asked the origin: refuse before fetching."
        )
    expect_object(ctx, "/text/page.html", via_proxy(ctx, "/text/page.html"))


# --- robustness -------------------------------------------------------------------------

MALFORMED: tuple[tuple[bytes, str], ...] = (
    (b"HELLO\r\n\r\n", "a request line that is one word"),
    (b"GET http://127.0.0.1/ HTTP/1.1\r\nHost 127.0.0.1\r\n\r\n", "a field line without a colon"),
    (
        b"GET http://127.0.0.1/ HTTP/1.1 extra\r\nHost: 127.0.0.1\r\n\r\n",
        "four words in the request line",
    ),
)


def malformed_requests(ctx: Context) -> None:
    """Each malformed request gets a 400; then a good request still works."""
    for data, what in MALFORMED:
        with Conversation(ctx.proxy, ctx.timeout) as conversation:
            conversation.send(data)
            try:
                status = conversation.read_reply().status
            except ClientError as error:
                raise CheckFailed(f"{what} ({data!r}): {error}; answer 400 Bad Request.") from None
        if status != 400:
            raise CheckFailed(f"{what} ({data!r}) got {status}; answer 400 Bad Request.")
    expect_object(ctx, "/text/page.html", via_proxy(ctx, "/text/page.html"))


def client_disconnects(ctx: Context) -> None:
    """Clients that reset the connection mid-response leave the proxy serving."""
    for _ in range(3):
        with Conversation(ctx.proxy, ctx.timeout) as conversation:
            conversation.send(
                request_bytes(ctx.origin.url("/big.bin"), f"127.0.0.1:{ctx.origin.port}")
            )
            with contextlib.suppress(OSError):
                conversation.sock.recv(16384)
            abort(conversation.sock)
    try:
        expect_object(ctx, "/text/page.html", via_proxy(ctx, "/text/page.html"))
    except CheckFailed as failed:
        raise CheckFailed(
            f"after 3 clients reset their connections mid-response: {failed} Catch the write "
            "error (EPIPE, ECONNRESET) and ignore SIGPIPE."
        ) from None


CHECKS: tuple[Check, ...] = (
    Check("basic", "text_file", 10, text_file),
    Check("basic", "binary_file", 10, binary_file),
    Check("basic", "status_relayed", 5, status_relayed),
    Check("basic", "query_string", 5, query_string),
    Check("basic", "request_forwarded", 10, request_forwarded),
    Check("concurrency", "stuck_origin", 8, stuck_origin),
    Check("concurrency", "idle_client", 7, idle_client),
    Check("cache", "served_from_cache", 10, served_from_cache),
    Check("cache", "large_not_cached", 5, large_not_cached),
    Check("http11", "keep_alive", 5, keep_alive),
    Check("http11", "chunked_relayed", 5, chunked_relayed),
    Check("privacy", "client_hidden", 5, client_hidden),
    Check("filtering", "blocked_host", 5, blocked_host),
    Check("robustness", "malformed_requests", 5, malformed_requests),
    Check("robustness", "client_disconnects", 5, client_disconnects),
)
