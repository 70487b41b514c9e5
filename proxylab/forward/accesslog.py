"""Access logs in the formats that log tools already read: Squid's native, CLF, combined.

Every exchange a proxy finishes becomes one ``Event`` (see ``metrics``); an ``AccessLog``
turns events into lines. Three formats, because students meet them all in the wild:

- Squid's native format (squid.conf ``logformat squid``)::

      time.ms  elapsed_ms client  cache_code/status bytes method URL user hierarchy/peer type
      1700000000.123     12 127.0.0.1 TCP_MISS/200 1534 GET http://news.test/ - HIER_DIRECT/127.0.0.1 text/html

- The common log format of Apache and nginx::

      127.0.0.1 - - [29/Nov/2026:08:00:00 +0000] "GET http://news.test/ HTTP/1.1" 200 1534

- nginx's ``combined`` format (its default, what GoAccess and friends parse), which adds
  the ``Referer`` and ``User-Agent`` in quotes::

      127.0.0.1 - - [29/Nov/2026:08:00:00 +0000] "GET / HTTP/1.1" 200 1534 "-" "curl/8.5.0"

Every field is present in every line, ``-`` where there is nothing to say (Squid and
nginx do the same): log analysers split on whitespace or match a regex, and one missing
field shifts all the others. The user name is the one the proxy authenticated (Squid's
``%un``); in a quoted field, quotes, backslashes and control characters are written as
hexadecimal escapes (a quote becomes backslash-x22), as nginx does, so that no value can
break its quotes.

Key idea: logging sits on the per-request path, so a line is formatted with plain string
operations and written to a buffered file; a background thread flushes the buffer every
half second (and ``close`` does), so ``tail -f`` still sees lines promptly without a
system call per request.

Layer 3: it writes files.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import IO

from proxylab.metrics import Event

__all__ = ["FORMATS", "AccessLog", "combined_line", "common_line", "squid_line"]

_SQUID_CODES = {
    "hit": "TCP_HIT",
    "revalidated": "TCP_REFRESH_UNMODIFIED",
    "stale": "TCP_STALE_HIT",
    "miss": "TCP_MISS",
    "bypass": "TCP_MISS",
}


def squid_line(event: Event) -> str:
    """One line in Squid's native access.log format."""
    if event.decision == "blocked":
        code = "TCP_DENIED"
    elif event.kind == "tunnel":
        code = "TCP_TUNNEL"
    elif event.method == "NONE":  # refused before it was understood (relaying.rejected_event)
        code = "NONE"
    else:
        code = _SQUID_CODES.get(event.cache, "TCP_MISS")
    hierarchy = f"HIER_DIRECT/{event.upstream}" if event.upstream else "HIER_NONE/-"
    content_type = str(event.extra.get("content_type") or "-")
    # str() and rjust() rather than format specs (":6d", ":03d"): one line per request,
    # and a format spec is parsed again every time it is used
    millis = str(round(event.duration * 1000)).rjust(6)
    status = str(event.status) if event.status >= 100 else f"{event.status:03d}"
    user = event.extra.get("user") or "-"
    return (
        f"{event.time:.3f} {millis} {event.client or '-'} {code}/{status} {event.bytes_out} "
        f"{event.method or '-'} {event.target or '-'} {user} {hierarchy} {content_type}\n"
    )


def common_line(event: Event) -> str:
    """One line in the common log format (Apache/nginx ``combined`` without the last two)."""
    return _clf(event) + "\n"


def combined_line(event: Event) -> str:
    """One line in nginx's ``combined`` format: CLF plus quoted Referer and User-Agent."""
    referer = _escape(str(event.extra.get("referer") or "-"))
    agent = _escape(str(event.extra.get("user_agent") or "-"))
    return f'{_clf(event)} "{referer}" "{agent}"\n'


def _clf(event: Event) -> str:
    """``client - user [time] "request" status bytes``, every field present."""
    stamp = time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(event.time))
    user = event.extra.get("user") or "-"
    version = event.extra.get("version") or "HTTP/1.1"
    request = _escape(f"{event.method or '-'} {event.target or '-'} {version}")
    status = str(event.status) if event.status >= 100 else f"{event.status:03d}"
    return f'{event.client or "-"} - {user} [{stamp}] "{request}" {status} {event.bytes_out}'


def _escape(value: str) -> str:
    """nginx's escaping inside a quoted log field: ``"``, ``\\``, controls -> ``\\xHH``."""
    if value.isascii() and value.isprintable() and '"' not in value and "\\" not in value:
        return value  # the usual case, untouched
    return "".join(
        c if " " <= c <= "~" and c not in '"\\' else "".join(f"\\x{b:02X}" for b in c.encode())
        for c in value
    )


#: The formats ``AccessLog`` writes, by name.
FORMATS = {"squid": squid_line, "common": common_line, "combined": combined_line}


class AccessLog:
    """Writes one line per event to a file (or ``-`` for standard output).

    ``fmt`` is ``"squid"``, ``"common"`` or ``"combined"``; health changes, which are
    not exchanges, are not logged. Use ``log.record`` as an ``EventLog`` listener,
    and ``close()`` when done (or ``with AccessLog(...) as log:``). A small background
    thread flushes the buffered lines every ``flush_interval`` seconds, so the last lines
    show up in ``tail -f`` even when traffic stops, and ``record`` never asks the clock.
    """

    def __init__(self, path: str, fmt: str = "squid", flush_interval: float = 0.5) -> None:
        if fmt not in FORMATS:
            from proxylab.errors import ConfigError

            raise ConfigError(
                f"Unknown access log format {fmt!r}: use 'squid', 'common' or 'combined'."
            )
        self._format = FORMATS[fmt]
        self._owns_file = path != "-"
        # kept open for the log's lifetime and closed in close(), so no ``with`` here
        self._file: IO[str] = (
            open(path, "a", encoding="utf-8") if self._owns_file else sys.stdout  # noqa: SIM115
        )
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._flusher = threading.Thread(
            target=self._flush_every, args=(flush_interval,), name="access-log", daemon=True
        )
        self._flusher.start()

    def record(self, event: Event) -> None:
        """Append the line for ``event`` to the file's buffer (thread-safe)."""
        if event.kind == "health":
            return  # a backend going up or down is not a request
        line = self._format(event)
        # once per request, so the lock is taken by hand: on CPython 3.10/3.11 ``with lock:``
        # costs about twice as much as acquire/release
        self._lock.acquire()
        try:
            if not self._file.closed:
                self._file.write(line)
        finally:
            self._lock.release()

    def _flush_every(self, interval: float) -> None:
        while not self._closing.wait(interval):
            with self._lock:
                if self._file.closed:
                    return
                self._file.flush()

    def close(self) -> None:
        """Flush, stop the flushing thread, and close the file if we opened it."""
        self._closing.set()
        if self._flusher is not threading.current_thread():
            self._flusher.join()
        with self._lock:
            if self._file.closed:
                return
            self._file.flush()
            if self._owns_file:
                self._file.close()

    def __enter__(self) -> AccessLog:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
