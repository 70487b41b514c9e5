"""What the proxies' commands share: a startup panel, a cheap live event printer, sizes.

Printing one rich-formatted line per request from the request's own thread would make the
terminal the bottleneck (rich rendering costs far more than forwarding a small request).
``EventPrinter`` therefore only appends events to a queue on the per-request path; a
single background thread renders them in batches a few times a second, and when traffic
is heavier than a person can read it prints a summary line instead of every exchange.

Layer 5 (an edge).
"""

from __future__ import annotations

import argparse
import contextlib
import queue
import signal
import threading
from collections.abc import Callable, Iterable, Iterator
from types import FrameType

from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from proxylab.errors import ConfigError
from proxylab.metrics import Event

__all__ = [
    "INSTALL_LAB",
    "EventPrinter",
    "add_server_flags",
    "parse_size",
    "port_argument",
    "print_error",
    "startup_panel",
    "stop_on_signals",
    "wait_for_ctrl_c",
]

#: How to get the lab extra, installed from PyPI or working in a clone of the repository.
INSTALL_LAB = "pip install 'proxylab[lab]' (in a clone of the repository: pip install -e '.[lab]')"

_UNITS = {
    "": 1,
    "B": 1,
    "KB": 1024,
    "K": 1024,
    "MB": 1024**2,
    "M": 1024**2,
    "GB": 1024**3,
    "G": 1024**3,
}


def parse_size(text: str) -> int:
    """``"64MB"`` -> 67108864. Accepts B, KB, MB, GB (binary multiples), case-insensitive."""
    cleaned = text.strip().upper().replace(" ", "").removesuffix("IB").removesuffix("I")
    number = cleaned.rstrip("KMGB")
    unit = cleaned[len(number) :]
    try:
        value = float(number)
    except ValueError:
        value = -1.0
    if unit not in _UNITS or value < 0:
        raise ConfigError(f"Bad size {text!r}: use a number with KB, MB or GB, e.g. 64MB.")
    return int(value * _UNITS[unit])


def size_argument(text: str) -> int:
    """``argparse`` type for sizes, turning ``ConfigError`` into a usage error."""
    try:
        return parse_size(text)
    except ConfigError as error:
        raise argparse.ArgumentTypeError(error.message) from None


def port_argument(text: str) -> int:
    """``argparse`` type for a TCP port: a whole number from 1 to 65535."""
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port: use a number from 1 to 65535.")
    return int(text)


def add_server_flags(parser: argparse.ArgumentParser, default_listen: str) -> None:
    """The flags every proxy command shares: where to listen, how many, how talkative."""
    parser.add_argument(
        "--listen", default=default_listen, metavar="HOST:PORT", help="address to listen on"
    )
    parser.add_argument(
        "--max-connections",
        type=int,
        default=1024,
        metavar="N",
        help="most client connections served at once (default 1024)",
    )
    parser.add_argument(
        "--quiet", action="store_true", help="print only the startup panel and errors"
    )


def print_error(console: Console, message: str) -> None:
    """Print ``error: message`` in red, the message as plain text.

    Escaped, because rich would take ``[lab]`` in "pip install 'proxylab[lab]'" for a
    style tag and silently drop it.
    """
    console.print(f"[red]error:[/red] {escape(message)}")


def startup_panel(title: str, rows: Iterable[tuple[str, str]], hint: str) -> Panel:
    """A panel that says where the proxy listens and which policy is in force."""
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold cyan")
    table.add_column()
    for key, value in rows:
        table.add_row(key, value)
    table.add_row("", "")
    table.add_row("try", Text(hint, style="green"))
    return Panel(table, title=title, border_style="cyan", expand=False)


def _status_style(status: int) -> str:
    if status >= 500:
        return "red"
    if status >= 400:
        return "yellow"
    return "green"


def _status_column(event: Event) -> Text:
    """The first column: the HTTP status, or for a health change the backend's new state."""
    if event.kind == "health":
        state = event.note.upper() or "?"
        return Text(f"{state:>4} ", style="red" if state == "DOWN" else "green")
    return Text(f"{event.status:3d} ", style=_status_style(event.status))


class EventPrinter:
    """Prints events on a console in batches from one background thread.

    ``printer.record`` is cheap (a queue put) and safe to subscribe to an ``EventLog``.
    When more than ``max_lines`` events arrive within one batch, only a summary is printed.
    """

    def __init__(
        self,
        console: Console,
        describe: Callable[[Event], str],
        interval: float = 0.25,
        max_lines: int = 20,
    ) -> None:
        self.console = console
        self.describe = describe
        self.interval = interval
        self.max_lines = max_lines
        self._queue: queue.SimpleQueue[Event] = queue.SimpleQueue()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="event-printer", daemon=True)

    def record(self, event: Event) -> None:
        """Queue an event for printing (called on the per-request path)."""
        self._queue.put(event)

    def start(self) -> EventPrinter:
        """Start the printing thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Print what is left and join the thread."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._print_batch()
        self._print_batch()

    def _print_batch(self) -> None:
        batch: list[Event] = []
        while True:
            try:
                batch.append(self._queue.get_nowait())
            except queue.Empty:
                break
        if len(batch) > self.max_lines:
            errors = sum(1 for event in batch if event.status >= 500)
            self.console.print(f"[dim]... {len(batch)} exchanges ({errors} with 5xx)[/dim]")
            return
        for event in batch:
            line = _status_column(event)
            line.append(self.describe(event))
            self.console.print(line, highlight=False)


@contextlib.contextmanager
def stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """While the body runs, Ctrl-C (SIGINT) or SIGTERM only sets ``stop``.

    Taken before the startup panel is printed: whoever acts on the panel (a person, or a
    test) may press Ctrl-C at once, and the command still stops cleanly with exit code 0.
    """
    signals = (signal.SIGINT, signal.SIGTERM)
    previous = {sig: signal.signal(sig, lambda signum, frame: stop.set()) for sig in signals}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def wait_for_ctrl_c(stop: threading.Event) -> None:
    """Block until Ctrl-C (SIGINT) or SIGTERM, then set ``stop``."""

    def handle(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = signal.signal(signal.SIGINT, handle)
    previous_term = signal.signal(signal.SIGTERM, handle)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        signal.signal(signal.SIGINT, previous)
        signal.signal(signal.SIGTERM, previous_term)
