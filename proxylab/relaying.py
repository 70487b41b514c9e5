"""Passing a message on: what both proxies do to a request or response they relay.

A proxy is a relay. Whether it works for the client (``forward``) or for the server
(``reverse``), it takes a message that arrived on one connection and sends it on another:
it must keep the fields that describe the *message* and drop those that describe the
*connection* it arrived on, say who the original client was, decide how to frame the
body for the next hop, and stream the body through without holding it in memory.

Key ideas:
- Hop-by-hop fields (RFC 9110 section 7.6.1) describe one connection: ``Connection`` and
  every name it lists, ``Keep-Alive``, ``Transfer-Encoding``, ``TE``, ``Trailer``,
  ``Upgrade`` and the proxy-auth fields. "A proxy or gateway MUST ... remove any header or
  trailer field(s) from the message with the same name", so ``strip_hop_by_hop`` does it
  in one pass over the fields (one copy, which matters on the per-request path).
- Who the client was travels in ``X-Forwarded-For`` (de facto) or RFC 7239 ``Forwarded``
  (``for=192.0.2.7;proto=https;host=shop.test``; IPv6 quoted and bracketed). Such fields
  are only as honest as whoever wrote them, so they are trusted only from known networks
  (``in_networks``).
- The body is re-framed (RFC 9112 section 6): a known ``Content-Length`` is kept; without
  one an HTTP/1.1 client gets chunked encoding and an HTTP/1.0 client gets the body
  delimited by closing the connection. HEAD, 1xx, 204 and 304 responses have no body.
- A large body of known length between two plain TCP sockets is spliced on Linux: it goes
  from the upstream socket through a kernel pipe to the client without being copied into
  Python (``splicing``, ``upstream.SpliceableBody``); everything else is copied piece by piece.
- If the relay stops half way (the client went away, the upstream broke), the upstream
  connection is in an unknown state and must be closed, never returned to the pool:
  ``relay_response`` calls ``on_abandon`` then.

Left out on purpose: trailers are not forwarded (the chunked encoder sends none), and
``Content-Encoding`` is passed through untouched (no compression here).

Layer 3: uses ``server`` (``ClientConnection``, ``write_body``) and ``wire``.
"""

from __future__ import annotations

import inspect
import ipaddress
import time
from collections.abc import Callable, Iterable, Iterator, Sequence

from proxylab.connection import ClientConnection
from proxylab.errors import ConfigError, ProxyLabError
from proxylab.messages import HOP_BY_HOP, Headers, Request, Response, cookie_value
from proxylab.metrics import Event
from proxylab.upstream import SpliceableBody
from proxylab.wire import BodyKind, encode_chunk, last_chunk, serialize_response_head

__all__ = [
    "FORWARDING_FIELDS",
    "NO_BODY_STATUSES",
    "Network",
    "body_finished",
    "client_body_kind",
    "cookie_value",
    "end_to_end",
    "forwarded_element",
    "in_networks",
    "parse_networks",
    "rejected_event",
    "relay_response",
    "strip_hop_by_hop",
    "without_cookie",
]

#: Statuses that never carry a body (RFC 9110 sections 15.3.5 and 15.4.5).
NO_BODY_STATUSES = frozenset({204, 304})

#: Fields through which clients and proxies describe the original client and URL.
FORWARDING_FIELDS = frozenset(
    {"x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "x-forwarded-port",
     "forwarded", "x-real-ip"}
)  # fmt: skip

# Read through the class (BodyKind.NONE), an enum member costs a slow attribute hook on
# Python 3.10 and 3.11 (EnumType.__getattr__): about 900 machine instructions a read.
# The per-request path reads these module-level names instead.
_NONE, _LENGTH, _CHUNKED = BodyKind.NONE, BodyKind.LENGTH, BodyKind.CHUNKED
_UNTIL_CLOSE = BodyKind.UNTIL_CLOSE


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def rejected_event(source: str, conn: ClientConnection, error: ProxyLabError) -> Event:
    """The record of a request refused before it was understood (``Server.on_rejected``).

    Named as Squid names it in its access log: method ``NONE`` and the pseudo-URL
    ``error:invalid-request``; ``note`` says what was wrong.
    """
    return Event(
        time.time(), source, client=conn.client_ip, method="NONE",
        target="error:invalid-request", status=error.status, bytes_out=conn.bytes_out,
        note=error.message,
    )  # fmt: skip


def strip_hop_by_hop(headers: Headers, drop: frozenset[str] = HOP_BY_HOP) -> Headers:
    """A copy of ``headers`` without the lower-case names in ``drop`` (hop-by-hop ones).

    ``drop`` must contain ``HOP_BY_HOP``; a caller that wants more names gone (a reverse
    proxy hides ``Server``) builds ``HOP_BY_HOP | {...}`` once at setup. Also dropped:
    the names a ``Connection`` field lists, and ``Content-Length`` when the message was
    chunked (RFC 9112 6.3: Transfer-Encoding overrides it, and a length that does not
    match the re-framed body would corrupt the stream). One pass over the fields.
    """
    if drop.isdisjoint(headers.names()):
        return headers.copy()  # nothing to strip: a copy made in C, without the loop
    items: list[tuple[str, str]] = []
    keys: list[str] = []
    listed: list[str] = []
    for lower, item in headers.keyed():
        if lower not in drop:
            items.append(item)
            keys.append(lower)
        elif lower == "connection" and item[1].lower() != "keep-alive":  # lists nothing new
            listed.extend(item[1].split(","))
        elif lower == "transfer-encoding":
            listed.append("content-length")
    kept = Headers.from_lowered(items, keys)
    if listed:
        kept.remove_all(name for token in listed if (name := token.strip()).lower() not in drop)
    return kept


def end_to_end(response: Response) -> Response:
    """The response without its hop-by-hop fields (RFC 9110 section 7.6.1)."""
    headers = strip_hop_by_hop(response.headers)
    return Response(response.status, headers, response.reason, response.version)


def client_body_kind(request: Request, response: Response, headers: Headers) -> BodyKind:
    """How to frame the body towards this client (RFC 9112 section 6).

    ``headers`` are the fields about to be sent (already stripped of hop-by-hop ones).
    """
    if request.method == "HEAD" or response.status < 200 or response.status in NO_BODY_STATUSES:
        return _NONE
    if headers.get("content-length") is not None:
        return _LENGTH
    return _CHUNKED if request.version == "HTTP/1.1" else _UNTIL_CLOSE


def relay_response(
    conn: ClientConnection,
    request: Request,
    response: Response,
    headers: Headers,
    pieces: Iterable[bytes],
    on_abandon: Callable[[], None] | None = None,
) -> int:
    """Send ``response`` with ``headers`` and stream its body ``pieces``; returns body bytes.

    ``headers`` (end-to-end fields only) get ``Transfer-Encoding: chunked`` or
    ``Connection: close`` as the framing for this client requires. The head goes out in
    one write with the first piece of the body: a small response costs one system call
    and one packet instead of two. ``pieces`` is always read to its end (that is what
    hands a pooled upstream connection back); if it is not, because the client went away
    or the upstream broke mid-body, ``on_abandon()`` is called, as the upstream
    connection is then in an unknown state and must be closed. Exceptions pass through.
    """
    kind = client_body_kind(request, response, headers)
    if kind is _UNTIL_CLOSE:
        conn.keep_alive = False
        headers.set("Connection", "close")
    elif kind is _CHUNKED:
        headers.add("Transfer-Encoding", "chunked")
    pending = serialize_response_head(Response(response.status, headers, response.reason))
    if kind is _LENGTH and isinstance(pieces, SpliceableBody) and conn.can_splice:
        return _relay_spliced(conn, pending, pieces, on_abandon)
    sent, complete = 0, False
    try:
        for piece in pieces:
            if piece and kind is not _NONE:
                conn.send(pending + (encode_chunk(piece) if kind is _CHUNKED else piece))
                pending, sent = b"", sent + len(piece)
        complete = True
        tail = pending + last_chunk() if kind is _CHUNKED else pending
        if tail:
            conn.send(tail)
    finally:
        _close(pieces)
        if not complete and on_abandon is not None:
            on_abandon()
    return sent


def _relay_spliced(
    conn: ClientConnection,
    head: bytes,
    body: SpliceableBody,
    on_abandon: Callable[[], None] | None,
) -> int:
    """The zero-copy way for a large body between plain sockets (see ``splicing``)."""
    complete = False
    try:
        sent = body.splice_into(conn, head)
        complete = True
    finally:
        if not complete and on_abandon is not None:
            on_abandon()
    return sent


def _close(pieces: Iterable[bytes]) -> None:
    close = getattr(pieces, "close", None)
    if close is not None:
        close()


def body_finished(body: Iterator[bytes] | None) -> bool:
    """Was a streamed request body read to its end (or was there none)?

    If a proxy answers before reading the client's whole body, the unread bytes are still
    on the connection and would be taken for the next request: the connection must close.
    """
    return body is None or inspect.getgeneratorstate(body) == inspect.GEN_CLOSED  # type: ignore[arg-type]


def parse_networks(specs: Sequence[str]) -> tuple[Network, ...]:
    """``["10.0.0.0/8", "::1"]`` -> networks; a clear ``ConfigError`` for a bad one."""
    try:
        return tuple(ipaddress.ip_network(spec, strict=False) for spec in specs)
    except ValueError as error:
        raise ConfigError(f"Bad network in {list(specs)!r}: {error}.") from None


def in_networks(ip: str, networks: Sequence[Network]) -> bool:
    """Is the address ``ip`` inside one of ``networks``? (False for a malformed address.)"""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return any(address in network for network in networks)


def forwarded_element(client_ip: str, proto: str, host: str | None) -> str:
    """One RFC 7239 ``Forwarded`` element, e.g. ``for=192.0.2.7;proto=http;host=shop.test``.

    RFC 7239 section 6: an IPv6 node is in brackets and, as ``:`` is not a token
    character, in quotes: ``for="[2001:db8::1]"``. A host with a port is quoted too.
    """
    node = f'"[{client_ip}]"' if ":" in client_ip else client_ip
    element = f"for={node};proto={proto}"
    return element if host is None else f"{element};host={_token_or_quoted(host)}"


def _token_or_quoted(value: str) -> str:
    """A token as is, anything else as an RFC 9110 quoted-string (section 5.6.4)."""
    if value and all(c.isalnum() or c in "!#$%&'*+-.^_`|~" for c in value):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def without_cookie(headers: Headers, name: str) -> None:
    """Remove cookie ``name`` from the ``Cookie`` fields in place, keeping the others."""
    prefix = name + "="
    kept = [p.strip() for line in headers.get_all("cookie") for p in line.split(";")]
    kept = [p for p in kept if p and not p.startswith(prefix)]
    if kept:
        headers.set("Cookie", "; ".join(kept))
    else:
        headers.remove("cookie")
