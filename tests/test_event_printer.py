"""The command line's event printer: a health change shows the backend's state, not a 0."""

from __future__ import annotations

import io

from rich.console import Console

from proxylab.cli.console import EventPrinter
from proxylab.metrics import Event


def test_health_changes_show_their_state_and_exchanges_their_status() -> None:
    out = io.StringIO()
    printer = EventPrinter(Console(file=out, width=100, no_color=True), lambda e: e.upstream)
    printer.start()
    for event in (
        Event(1.0, "health", kind="health", upstream="kitchen-b", note="down"),
        Event(2.0, "health", kind="health", upstream="kitchen-b", note="up"),
        Event(3.0, "reverse", upstream="kitchen-a", status=200),
    ):
        printer.record(event)
    printer.stop()
    assert out.getvalue().splitlines() == ["DOWN kitchen-b", "  UP kitchen-b", "200 kitchen-a"]
