"""Socket settings in one place: no Nagle delay, and timeouts that the kernel enforces.

Key idea: where a timeout is enforced matters for speed. CPython implements
``sock.settimeout(t)`` by making the socket non-blocking and calling ``poll()`` before
every ``recv`` and ``send``: two system calls per operation, and the interpreter lock is
released and taken back twice. A proxy does four socket operations per small request, so
that is eight system calls and eight lock hand-overs where four would do. With the
``SO_RCVTIMEO`` / ``SO_SNDTIMEO`` socket options the socket stays blocking and the kernel
itself gives up after the timeout, so each operation is one system call. When the
kernel's timeout fires, a blocking ``recv`` fails with ``EAGAIN``, which Python raises as
``BlockingIOError``; ``TIMEOUT_ERRORS`` catches both kinds.

TLS sockets keep Python's own timeouts: with a kernel timeout, OpenSSL would report a
"want read" condition instead of a timeout, which is harder to explain than it is worth.

Nagle's algorithm holds small writes back until the previous ones are acknowledged; with
the peer's delayed acknowledgements that can add 40 ms to a small response, so every
connection gets ``TCP_NODELAY``.

Layer 3: sockets.
"""

from __future__ import annotations

import socket
import ssl
import struct
import sys

__all__ = ["TIMEOUT_ERRORS", "no_delay", "set_timeout"]

#: What a socket operation raises when its timeout expires, whichever way it was set.
TIMEOUT_ERRORS: tuple[type[OSError], ...] = (TimeoutError, BlockingIOError)


def no_delay(sock: socket.socket) -> None:
    """Send small writes at once (turn Nagle's algorithm off)."""
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _encode(seconds: float) -> bytes:
    """The option value: milliseconds on Windows, a ``struct timeval`` elsewhere."""
    if sys.platform == "win32":
        return struct.pack("<L", max(1, round(seconds * 1000)))
    whole = int(seconds)
    micro = (
        max(1, round((seconds - whole) * 1_000_000))
        if whole == 0
        else round((seconds - whole) * 1_000_000)
    )
    return struct.pack("@ll", whole, micro)  # 0 would mean "wait forever": at least 1 us


def set_timeout(sock: socket.socket, seconds: float) -> None:
    """Make every later ``recv`` / ``send`` on ``sock`` give up after ``seconds``."""
    if isinstance(sock, ssl.SSLSocket):
        sock.settimeout(seconds)
        return
    try:
        value = _encode(seconds)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, value)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, value)
    except OSError:
        sock.settimeout(seconds)  # a platform without the options: Python's timeouts
        return
    if sock.gettimeout() is not None:
        sock.settimeout(None)  # blocking mode: the kernel enforces the timeout now
