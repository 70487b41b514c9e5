"""The CONNECT tunnel: bytes copied both ways between two sockets until both sides are done.

Once a forward proxy has answered ``200 Connection Established`` (RFC 9110 section 9.3.6),
it no longer speaks HTTP on that connection: whatever the client sends (usually a TLS
handshake) goes to the origin and back, untouched and unread.

Key idea: half-close is passed on. When one side shuts its sending half, the proxy shuts
its own towards the other side and keeps copying the other direction, so TLS close_notify
and "request, then shutdown(WR)" clients both work. ``idle_timeout`` ends a tunnel where
nothing moves at all.

The same tunnel carries an upgraded connection (``upgraded``): after a ``101 Switching
Protocols`` (RFC 9110 section 15.2.2) client and server speak WebSocket (RFC 6455) or
another protocol over the connection, and a proxy in between just copies the bytes.

Layer 3: sockets; uses ``connection`` (the client) and ``upstream`` (the server side).
"""

from __future__ import annotations

import contextlib
import select
import socket

from proxylab.net.connection import ClientConnection
from proxylab.net.upstream import UpstreamConnection

__all__ = ["TUNNEL_BUFFER", "relay", "upgraded"]

#: Bytes moved per read in a CONNECT tunnel (into a buffer that is reused).
TUNNEL_BUFFER = 1 << 20


def relay(
    client: socket.socket, upstream: socket.socket, idle_timeout: float = 300.0, first: bytes = b""
) -> tuple[int, int]:
    """Copy bytes both ways until both directions are finished; returns (up, down) counts.

    ``first`` holds bytes the client sent before the tunnel existed (they go upstream
    first). When one side half-closes, the other side's sending half is shut too, and the
    remaining direction continues: TLS close_notify and "request, then shutdown(WR)"
    clients both work. ``idle_timeout`` ends a tunnel where nothing moves at all.
    """
    counts = {client: 0, upstream: 0}
    if first:
        upstream.sendall(first)
        counts[client] += len(first)
    peers = {client: upstream, upstream: client}
    # One reusable buffer per direction: no allocation per read, and big reads mean few
    # system calls per megabyte (a tunnel carries bulk data: downloads, uploads).
    buffers = {client: bytearray(TUNNEL_BUFFER), upstream: bytearray(TUNNEL_BUFFER)}
    open_readers = [client, upstream]
    for sock in open_readers:
        sock.setblocking(True)
    while open_readers:
        readable, _, _ = select.select(open_readers, [], [], idle_timeout)
        if not readable:
            break
        for sock in readable:
            if not _pump(sock, peers[sock], buffers[sock], counts):
                open_readers.remove(sock)
    return counts[client], counts[upstream]


def _pump(
    source: socket.socket,
    target: socket.socket,
    buffer: bytearray,
    counts: dict[socket.socket, int],
) -> bool:
    """Move one read's worth from source to target; False when source is finished."""
    try:
        size = source.recv_into(buffer)
    except OSError:
        size = 0
    if size:
        with contextlib.suppress(OSError):
            target.sendall(memoryview(buffer)[:size])
            counts[source] += size
            return True
    with contextlib.suppress(OSError):
        target.shutdown(socket.SHUT_WR)  # pass the half-close on
    return False


def upgraded(
    conn: ClientConnection, upstream: UpstreamConnection, head: bytes, idle_timeout: float
) -> tuple[int, int]:
    """Send the ``101`` ``head`` to the client, then tunnel; returns (up, down) byte counts.

    Bytes that came with the server's ``101`` (its first frames) go to the client right
    behind the head; bytes the client sent after its request go to the server first.
    ``down`` counts everything the client received, the head included. The upstream
    connection is closed at the end: it spoke another protocol, it is never reused.
    """
    try:
        down = len(head) + len(early := upstream.take_buffered())
        conn.send(head + early)
        client, first = conn.take_over()
        up, rest = relay(client, upstream.sock, idle_timeout, first)
    finally:
        upstream.close()
    return up, down + rest
