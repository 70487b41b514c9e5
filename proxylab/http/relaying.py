"""Passing a message on: the header rules both proxies apply to a message they relay.

A proxy is a relay. Whether it works for the client (``forward``) or for the server
(``reverse``), it takes a message that arrived on one connection and sends it on another:
it must keep the fields that describe the *message* and drop those that describe the
*connection* it arrived on, say who the original client was, and decide how to frame the
body for the next hop. This module holds those rules as pure functions on ``Headers``;
``net.relay`` does the sending.

Key ideas:
- Hop-by-hop fields (RFC 9110 section 7.6.1) describe one connection: ``Connection`` and
  every name it lists, ``Keep-Alive``, ``Transfer-Encoding``, ``TE``, ``Trailer``,
  ``Upgrade`` and the proxy-auth fields. "A proxy or gateway MUST ... remove any header or
  trailer field(s) from the message with the same name", so ``strip_hop_by_hop`` does it
  in one pass over the fields.
- Who the client was travels in ``X-Forwarded-For`` (de facto) or RFC 7239 ``Forwarded``
  (``for=192.0.2.7;proto=https;host=shop.test``; IPv6 quoted and bracketed). Such fields
  are only as honest as whoever wrote them, so they are trusted only from known networks
  (``addresses.in_networks``).
- ``Upgrade`` (RFC 9110 section 7.8) is hop-by-hop too, but a proxy that is willing to
  carry the new protocol (WebSocket, RFC 6455 section 4) sends it on with
  ``Connection: upgrade``: ``upgrade_protocols`` reads what a request asks for.
- An HTTP/1.0 client keeps its connection only when it asked with ``Connection:
  keep-alive`` *and* the answer says ``Connection: keep-alive`` back (RFC 9112 appendix
  C.2.2): ``persistence_field`` writes that answer.
- The body is re-framed (RFC 9112 section 6): a known ``Content-Length`` is kept; without
  one an HTTP/1.1 client gets chunked encoding and an HTTP/1.0 client gets the body
  delimited by closing the connection. HEAD, 1xx, 204 and 304 responses have no body.

Left out on purpose: trailers are not forwarded, and ``Content-Encoding`` is passed through
untouched (no compression here).

Layer 1: pure functions on messages; no sockets.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator

from proxylab.errors import NotImplementedByProxy, ProtocolError
from proxylab.http.framing import CHUNKED, LENGTH, NO_BODY, UNTIL_CLOSE, BodyKind
from proxylab.http.messages import HOP_BY_HOP, Headers, Request, Response, connection_tokens

__all__ = [
    "FORWARDING_FIELDS",
    "NO_BODY_STATUSES",
    "body_finished",
    "check_upgrade",
    "client_body_kind",
    "end_to_end",
    "forwarded_element",
    "persistence_field",
    "strip_hop_by_hop",
    "upgrade_protocols",
    "without_cookie",
]

#: Statuses that never carry a body (RFC 9110 sections 15.3.5 and 15.4.5).
NO_BODY_STATUSES = frozenset({204, 304})

#: Fields through which clients and proxies describe the original client and URL.
FORWARDING_FIELDS = frozenset(
    {"x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "x-forwarded-port",
     "forwarded", "x-real-ip"}
)  # fmt: skip


def strip_hop_by_hop(
    headers: Headers, drop: frozenset[str] = HOP_BY_HOP, drop_underscores: bool = False
) -> Headers:
    """A copy of ``headers`` without the lower-case names in ``drop`` (hop-by-hop ones).

    ``drop_underscores`` also drops names with an underscore (``Transfer_Encoding``), as
    nginx does by default (``underscores_in_headers off``): a backend that maps field names
    to variables (CGI, PHP, WSGI's ``HTTP_X_Y``) cannot tell ``X_Y`` from ``X-Y``, so a
    client could smuggle a value past a proxy that checks only the hyphenated one.

    ``drop`` must contain ``HOP_BY_HOP``; a caller that wants more names gone (a reverse
    proxy hides ``Server``) builds ``HOP_BY_HOP | {...}`` once at setup. Also dropped:
    the names a ``Connection`` field lists, and ``Content-Length`` when the message was
    chunked (RFC 9112 6.3: Transfer-Encoding overrides it, and a length that does not
    match the re-framed body would corrupt the stream). One pass over the fields.
    """
    names = headers.names()
    underscores = drop_underscores and "_" in "".join(names)
    if not underscores and drop.isdisjoint(names):
        return headers.copy()  # nothing to strip: a copy made in C, without the loop
    items: list[tuple[str, str]] = []
    lowered: list[str] = []
    listed: list[str] = []
    for lower, item in headers.keyed():
        if lower not in drop and not (underscores and "_" in lower):
            items.append(item)
            lowered.append(lower)
        elif lower == "connection" and item[1].lower() != "keep-alive":  # lists nothing new
            listed.extend(item[1].split(","))
        elif lower == "transfer-encoding":
            listed.append("content-length")
    kept = Headers(items, lowered)
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
        return NO_BODY
    if headers.get("content-length") is not None:
        return LENGTH
    return CHUNKED if request.version == "HTTP/1.1" else UNTIL_CLOSE


def persistence_field(request: Request, headers: Headers, keep_alive: bool) -> None:
    """Tell an HTTP/1.0 client whether its connection stays open (RFC 9112 appendix C.2.2).

    An HTTP/1.0 connection is persistent only if the client sent ``Connection: keep-alive``
    and the response confirms it; a client that asked and gets no answer waits for a close
    that never comes (``ab -k`` hangs for 30 s). So a 1.0 client that asked gets
    ``Connection: keep-alive`` when the connection is kept, ``Connection: close`` when it
    is not. HTTP/1.1 is persistent by default and needs nothing (RFC 9112 section 9.3).
    """
    if request.version == "HTTP/1.0" and "connection" not in headers and request.keep_alive:
        headers.add("Connection", "keep-alive" if keep_alive else "close")


def upgrade_protocols(request: Request) -> list[str] | None:
    """The protocols an HTTP/1.1 request asks to switch to (RFC 9110 section 7.8), or None.

    ``["websocket"]`` for a WebSocket handshake (RFC 6455 section 4.1), names in lower
    case without their version (``h2c``, ``websocket``). ``None`` when the request does
    not ask: no ``Upgrade``, an HTTP/1.0 request ("A server MUST ignore an Upgrade header
    field that is received in an HTTP/1.0 request") or no ``upgrade`` option in
    ``Connection`` (then the field was meant for some earlier hop only).
    """
    value = request.headers.get("upgrade")
    if value is None or request.version != "HTTP/1.1":
        return None
    if "upgrade" not in connection_tokens(request.headers):
        return None
    return [token.split("/")[0].strip().lower() for token in value.split(",") if token.strip()]


def check_upgrade(protocols: list[str], allowed: frozenset[str], body: BodyKind) -> None:
    """Refuse an upgrade the proxy will not carry, in its own words (501 or 400).

    Better a clear "not through this proxy" than the backend's confusing 400 or 426 for a
    request that lost its ``Upgrade`` on the way. A body before the switch is refused too:
    after a ``101`` nobody could tell where it ended and the new protocol began.
    """
    refused = [name for name in protocols if name not in allowed]
    if refused or not protocols:
        raise NotImplementedByProxy(
            f"This proxy does not carry {', '.join(refused) or 'empty'} upgrades "
            f"(it carries: {', '.join(sorted(allowed)) or 'none'})."
        )
    if body is not NO_BODY:
        raise ProtocolError("A request that asks to switch protocols cannot carry a body here.")


def body_finished(body: Iterator[bytes] | None) -> bool:
    """Was a streamed request body read to its end (or was there none)?

    If a proxy answers before reading the client's whole body, the unread bytes are still
    on the connection and would be taken for the next request: the connection must close.
    """
    return body is None or inspect.getgeneratorstate(body) == inspect.GEN_CLOSED  # type: ignore[arg-type]


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
