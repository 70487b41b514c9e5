"""Sending a relayed response to the client: framing, streaming, and splicing large bodies.

The header rules live in ``http.relaying``; this module does the I/O. The body streams
through without being held in memory, and the head goes out with the first piece.

Key ideas:
- A large body of known length between two plain TCP sockets is spliced on Linux: it goes
  from the upstream socket through a kernel pipe to the client without being copied into
  Python (``splicing``, ``upstream.SpliceableBody``); everything else is copied piece by piece.
- If the relay stops half way (the client went away, the upstream broke), the upstream
  connection is in an unknown state and must be closed, never returned to the pool:
  ``relay_response`` calls ``on_abandon`` then.

Layer 3: uses ``net.connection`` (``ClientConnection``) and ``http.wire``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from proxylab.errors import ProxyLabError
from proxylab.http.framing import CHUNKED, LENGTH, NO_BODY, UNTIL_CLOSE
from proxylab.http.messages import Headers, Request, Response
from proxylab.http.relaying import client_body_kind, persistence_field
from proxylab.http.wire import encode_chunk, last_chunk, serialize_response_head
from proxylab.metrics import Event
from proxylab.net.connection import ClientConnection
from proxylab.net.upstream import SpliceableBody

__all__ = ["rejected_event", "relay_response"]


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
    ``Connection: close`` as the framing for this client requires, and an HTTP/1.0 client
    that asked for keep-alive gets its answer (``relaying.persistence_field``). The head goes out in
    one write with the first piece of the body: a small response costs one system call
    and one packet instead of two. ``pieces`` is always read to its end (that is what
    hands a pooled upstream connection back); if it is not, because the client went away
    or the upstream broke mid-body, ``on_abandon()`` is called, as the upstream
    connection is then in an unknown state and must be closed. Exceptions pass through.
    """
    kind = client_body_kind(request, response, headers)
    if kind is UNTIL_CLOSE:
        conn.keep_alive = False
        headers.set("Connection", "close")
    elif kind is CHUNKED:
        headers.add("Transfer-Encoding", "chunked")
    if request.version == "HTTP/1.0":  # tell a 1.0 client whether it may keep the connection
        persistence_field(request, headers, conn.keep_alive)
    pending = serialize_response_head(Response(response.status, headers, response.reason))
    if kind is LENGTH and isinstance(pieces, SpliceableBody) and conn.can_splice:
        return _relay_spliced(conn, pending, pieces, on_abandon)
    sent, complete = 0, False
    try:
        for piece in pieces:
            if piece and kind is not NO_BODY:
                conn.send(pending + (encode_chunk(piece) if kind is CHUNKED else piece))
                pending, sent = b"", sent + len(piece)
        complete = True
        tail = pending + last_chunk() if kind is CHUNKED else pending
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
