"""Instruments for the forward-proxy lessons: the bytes on each side of the friend.

A lesson about the friend who phones the restaurant for you keeps asking one question:
what exactly did each side hear? httpx hides the wire on purpose, and the lab's sites
report what they *parsed*, not the bytes that arrived. These instruments show the bytes:

- ``RawConnection`` (and ``raw_exchange``): a client made of a socket. You write the
  request's bytes yourself (``GET http://news.test/ HTTP/1.1`` ...) and get back exactly
  the bytes of one response, read with the library's own wire layer (``HeadParser`` and
  ``BodyDecoder``) so it knows where a response ends without waiting for a close. It can
  start TLS in the middle (after a CONNECT), like a browser does. ``ask`` sends one
  request that way and returns the status with the friend's own record of its decision.
- ``Wiretap``: a recorder spliced into the line between the friend and one lab site. It
  relays bytes both ways unchanged, dialling from the address the call came from (so the
  site still sees the friend), and keeps a copy: what the restaurant heard, what it said,
  and how many connections were opened.
- ``SecureSite``: a lab site served over HTTPS with a lab certificate (the lab's own
  sites speak plain HTTP), so a lesson can send HTTPS through a CONNECT tunnel.
- ``FakeClock``: a clock a filter policy can be given, to be "Tuesday 10:30" at will.
- ``hexdump``: bytes that are not text (TLS records), shown as hex with offsets.

Left out on purpose: HTTP/2, pipelining, request bodies in ``RawConnection`` beyond what
you write yourself, and recording anything but loopback traffic.

Layer 5 (an edge).
"""

from __future__ import annotations

import atexit
import contextlib
import html
import selectors
import socket
import ssl
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from proxylab.errors import ConfigError
from proxylab.http.framing import BodyDecoder, response_framing
from proxylab.http.messages import Response
from proxylab.http.wire import HeadParser
from proxylab.lab.lab import ForwardRun, Lab, wait_until
from proxylab.lab.sites import Site
from proxylab.net.server import Server

__all__ = [
    "FakeClock",
    "RawConnection",
    "SecureSite",
    "Wiretap",
    "ask",
    "HexDump",
    "hexdump",
    "raw_exchange",
    "split_message",
]

_CHUNK = 65536


# -- a client made of a socket ------------------------------------------------------------
class RawConnection:
    """One TCP connection on which you write request bytes and read whole responses.

    ``source`` is the local address to connect from (the lab's "you" is ``127.0.0.10``).
    ``start_tls`` turns the connection into TLS, for HTTPS inside a CONNECT tunnel.
    """

    def __init__(
        self, address: tuple[str, int], *, source: str | None = None, timeout: float = 5.0
    ) -> None:
        bind = (source, 0) if source else None
        self.sock: socket.socket = socket.create_connection(address, timeout, bind)
        self._leftover = b""

    def send(self, data: bytes) -> None:
        """Write ``data`` as it is: no header is added, nothing is fixed."""
        self.sock.sendall(data)

    def read_response(self, method: str = "GET") -> bytes:
        """The bytes of exactly one response (head and body) to a ``method`` request."""
        parser, received = HeadParser("response"), self._leftover
        head = parser.feed(received) if received else None
        while head is None:
            data = self._recv("the head of a response")
            received += data
            head = parser.feed(data)
        assert isinstance(head, Response)
        raw = received[: len(received) - len(parser.leftover)]  # the head, blank line included
        decoder = BodyDecoder(response_framing(head, method))
        body = parser.leftover  # the body as it travels (chunked stays chunked)
        decoder.feed(body)
        while not decoder.done:
            data = self._recv("the rest of a body", allow_close=True)
            if not data:
                decoder.eof()  # the end of a read-until-close body; an error otherwise
                break
            body += data
            decoder.feed(data)
        self._leftover = decoder.leftover  # the start of the next response, if any
        return raw + body[: len(body) - len(decoder.leftover)]

    def exchange(self, data: bytes) -> bytes:
        """Send one request's bytes and return the bytes of its response."""
        self.send(data)
        return self.read_response(data.split(b" ", 1)[0].decode("latin-1"))

    def start_tls(self, context: ssl.SSLContext, server_hostname: str) -> None:
        """Speak TLS from now on (after ``CONNECT`` got its 200), checking the certificate."""
        self.sock = context.wrap_socket(self.sock, server_hostname=server_hostname)

    def _recv(self, doing: str, allow_close: bool = False) -> bytes:
        data = self.sock.recv(_CHUNK)
        if not data and not allow_close:
            raise ConnectionError(f"The connection closed while reading {doing}.")
        return data

    def close(self) -> None:
        """Close the connection."""
        self.sock.close()

    def __enter__(self) -> RawConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def raw_exchange(
    address: tuple[str, int], data: bytes, *, source: str | None = None, timeout: float = 5.0
) -> bytes:
    """Send ``data`` on a new connection to ``address`` and return one response's bytes."""
    with RawConnection(address, source=source, timeout=timeout) as conn:
        return conn.exchange(data)


def ask(
    lab: Lab, friend: ForwardRun, target: str, *, source: str | None = None, method: str = "GET"
) -> dict[str, Any]:
    """Send one request through ``friend`` from ``source`` and say what the friend decided.

    ``target`` is a URL (``http://social.test/``) or, for ``CONNECT``, ``host:port``.
    Returns the request, the status you got, and the friend's own record of its
    decision and rule (waiting, bounded, for the record: it is written after the reply).
    """
    before = len(lab.events.snapshot("forward"))
    host = target if method == "CONNECT" else urlsplit(target).netloc
    request = f"{method} {target} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
    reply = raw_exchange(friend.server.address, request, source=source or lab.addresses.you)
    if not wait_until(lambda: len(lab.events.snapshot("forward")) > before):
        raise ConfigError("The friend wrote no record of the request (is it another lab's?).")
    event = lab.events.snapshot("forward")[-1]
    status = int(reply.split(b" ", 2)[1])
    return {"request": f"{method} {target}", "status": status, "decision": event.decision,
            "rule": event.rule or "-"}  # fmt: skip


def split_message(raw: bytes) -> tuple[bytes, bytes]:
    """``(head, body)`` of a message's bytes; the head ends with its empty line."""
    end = raw.find(b"\r\n\r\n")
    if end < 0:
        return raw, b""
    return raw[: end + 4], raw[end + 4 :]


# -- a recorder on the restaurant's line --------------------------------------------------
@dataclass(slots=True)
class _Line:
    """One tapped connection: its two sockets and the thread copying between them."""

    caller: socket.socket
    callee: socket.socket
    thread: threading.Thread | None = None


class Wiretap:
    """Records every byte between the lab's proxies (or any client) and one lab site.

    ``Wiretap(lab, "news.test")`` points the lab's name ``news.test`` at itself and relays
    each connection to the real site, keeping a copy of both directions: ``to_origin``
    (what the restaurant heard) and ``from_origin`` (what it said). It dials the site from
    the caller's own address, so the site still sees the friend. ``connections`` counts
    the connections made through it: keep-alive shows as a small number. ``close()``
    (or the end of a ``with`` block) puts the name back.
    """

    def __init__(self, lab: Lab, name: str) -> None:
        if name not in lab.resolver:
            raise ConfigError(
                f"The lab has no name {name!r} to tap; it has {sorted(lab.resolver)}."
            )
        self.lab, self.name = lab, name
        self._target = lab.resolver[name]
        self._listener = socket.create_server((self._target[0], 0))
        self._lines: list[_Line] = []
        self._to: list[bytes] = []
        self._from: list[bytes] = []
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._acceptor = threading.Thread(target=self._accept, name=f"tap-{name}", daemon=True)
        self._acceptor.start()
        lab.resolver[name] = self._listener.getsockname()[:2]
        atexit.register(self.close)

    @property
    def site_address(self) -> tuple[str, int]:
        """Where the site really listens (the tap stands in for it under its name)."""
        return self._target

    @property
    def to_origin(self) -> bytes:
        """Every byte sent to the site since the tap started (or since ``clear``)."""
        with self._lock:
            return b"".join(self._to)

    @property
    def from_origin(self) -> bytes:
        """Every byte the site sent back since the tap started (or since ``clear``)."""
        with self._lock:
            return b"".join(self._from)

    @property
    def connections(self) -> int:
        """How many connections were made to the site through the tap."""
        with self._lock:
            return len(self._lines)

    def clear(self) -> None:
        """Forget the bytes recorded so far (the connection count stays)."""
        with self._lock:
            self._to.clear()
            self._from.clear()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                caller, (peer, _) = self._listener.accept()
            except OSError:
                return  # the listener was closed: stop accepting
            try:
                callee = socket.create_connection(self._target, 5.0, (peer, 0))
            except OSError:
                caller.close()  # the site is gone: hang up, as the site itself would
                continue
            line = _Line(caller, callee)
            line.thread = threading.Thread(target=self._relay, args=(line,), daemon=True)
            with self._lock:
                self._lines.append(line)
            line.thread.start()

    def _relay(self, line: _Line) -> None:
        """Copy both ways, recording each piece *before* passing it on, until both ends close."""
        records = {line.caller: (self._to, line.callee), line.callee: (self._from, line.caller)}
        with selectors.DefaultSelector() as selector:
            for sock in records:
                sock.settimeout(None)
                selector.register(sock, selectors.EVENT_READ)
            while selector.get_map() and not self._closed.is_set():
                for key, _ in selector.select(timeout=0.5):
                    if not self._copy(key.fileobj, records, selector):  # type: ignore[arg-type]
                        break

    def _copy(
        self,
        sock: socket.socket,
        records: Mapping[socket.socket, tuple[list[bytes], socket.socket]],
        selector: selectors.BaseSelector,
    ) -> bool:
        store, other = records[sock]
        try:
            data = sock.recv(_CHUNK)
        except OSError:
            data = b""
        if not data:  # this side is done sending: pass the half-close on
            selector.unregister(sock)
            _quietly(other.shutdown, socket.SHUT_WR)
            return False
        with self._lock:
            store.append(data)
        try:
            other.sendall(data)
        except OSError:
            for known in list(selector.get_map().values()):
                selector.unregister(known.fileobj)
            return False
        return True

    def close(self) -> None:
        """Put the site's name back, stop relaying, close every socket, join every thread."""
        if self._closed.is_set():
            return
        self._closed.set()
        atexit.unregister(self.close)
        self.lab.resolver[self.name] = self._target
        _quietly(self._listener.shutdown, socket.SHUT_RDWR)
        self._listener.close()
        self._acceptor.join()
        for line in self._lines:
            for sock in (line.caller, line.callee):
                _quietly(sock.shutdown, socket.SHUT_RDWR)
            if line.thread is not None:
                line.thread.join()
            line.caller.close()
            line.callee.close()

    def __enter__(self) -> Wiretap:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _quietly(action: Callable[..., object], *args: object) -> None:
    with contextlib.suppress(OSError):  # already closed: nothing left to do
        action(*args)


# -- an HTTPS site ---------------------------------------------------------------------------
class SecureSite:
    """A lab site (``/whoami`` and all) served over HTTPS with a certificate the lab trusts.

    The lab's own sites speak plain HTTP; this one lets a lesson send HTTPS through the
    friend's CONNECT tunnel: ``lab.client(via_proxy=friend).get("https://bank.test/whoami")``.
    ``pages_of`` serves the pages of another demo site (``"video.test"``) under this name.
    The name is added to ``lab.resolver`` until ``close()``.
    """

    def __init__(self, lab: Lab, name: str = "bank.test", *, pages_of: str | None = None) -> None:
        self.lab, self.name = lab, name
        # the handler, with its pages and instruments (a Site is a request handler)
        self.site = Site(pages_of or name, events=lab.events)
        host = lab.addresses.site(len(lab.sites))
        context = lab.certificates.server_context(name)
        self.server = Server(self.site, (host, 0), ssl_context=context, name=f"site-{name}")
        self.server.start()
        self.address = self.server.address
        lab.resolver[name] = self.address
        atexit.register(self.close)

    @property
    def url(self) -> str:
        """``https://name``: the URL a browser would use."""
        return f"https://{self.name}"

    def close(self) -> None:
        """Stop serving and forget the name (idempotent)."""
        atexit.unregister(self.close)
        self.server.stop()
        if self.lab.resolver.get(self.name) == self.address:
            del self.lab.resolver[self.name]

    def __enter__(self) -> SecureSite:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# -- a clock you set ------------------------------------------------------------------------
@dataclass
class FakeClock:
    """A clock for ``FilterPolicy(clock=...)``: it says ``now``, then moves on by ``step``.

    ``step`` zero keeps time still until you ``set`` it; a positive step makes each reading
    a little later, so a run of requests walks through a (school) day.
    """

    now: datetime
    step: timedelta = timedelta(0)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def __call__(self) -> datetime:
        with self._lock:
            reading, self.now = self.now, self.now + self.step
        return reading

    def set(self, when: datetime) -> None:
        """Jump to ``when``."""
        with self._lock:
            self.now = when


# -- a view of bytes that are not text ------------------------------------------------------
@dataclass(frozen=True, slots=True)
class HexDump:
    """Bytes as a hex dump (offset, 16 bytes in hex, the printable ones as text)."""

    data: bytes
    title: str = ""
    limit: int = 256
    start: int = 0

    def lines(self) -> list[str]:
        """One line per 16 bytes, up to ``limit`` bytes; offsets count from ``start``."""
        out = []
        for offset in range(0, min(len(self.data), self.limit), 16):
            row = self.data[offset : offset + 16]
            text = "".join(chr(b) if 32 <= b < 127 else "." for b in row)
            out.append(f"{self.start + offset:04x}  {row.hex(' '):<47}  {text}")
        if len(self.data) > self.limit:
            out.append(f"... ({len(self.data) - self.limit} more bytes)")
        return out

    def _repr_html_(self) -> str:
        title = f"<b>{html.escape(self.title)}</b>" if self.title else ""
        return f"{title}<pre style='font-family:monospace'>{html.escape(chr(10).join(self.lines()))}</pre>"

    def __str__(self) -> str:
        return "\n".join(([self.title] if self.title else []) + self.lines())

    __repr__ = __str__


def hexdump(data: bytes, title: str = "", limit: int = 256, start: int = 0) -> HexDump:
    """A ``HexDump`` of the first ``limit`` bytes of ``data``.

    ``start`` is where ``data`` began in a longer stream (a slice), so offsets stay true.
    """
    return HexDump(bytes(data), title, limit, start)
