"""Event records: one plain row per exchange, collected thread-safely for charts and tables.

Both proxies, the health checker and the load generator describe what happened as an
``Event`` (who asked, for what, what came back, how long it took, what the cache, the filter,
the privacy policy or the balancer decided). An ``EventLog`` collects them from many threads
and hands out snapshots as plain rows, so a chart or a notebook never needs to know how a
proxy works inside.

Key idea: record values, not objects. An event is a dataclass of strings and numbers,
cheap to create on the per-request path (no formatting happens until someone reads it).
It is written once, by whoever records it, and only read after that; it is not ``frozen``
because a frozen dataclass sets each of its 18 fields through ``object.__setattr__``,
which made creating one three times slower, on every request.

Layer 2: no sockets, no threads; a ``Lock`` guards the buffer.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["Event", "EventLog", "percentile"]


@dataclass(slots=True)
class Event:
    """What happened in one exchange (or one health change), as plain values.

    ``source`` names who recorded it: "forward", "reverse", "loadgen" or "health".
    ``kind`` is "exchange", "tunnel" (CONNECT), "upgrade" (a protocol switch such as
    WebSocket, tunnelled after its ``101``; ``bytes_in`` and ``bytes_out`` count both
    ways) or "health". Times are seconds; ``time`` is the wall
    clock when the exchange started. Fields that do not apply stay empty.
    """

    time: float
    source: str
    kind: str = "exchange"
    client: str = ""
    method: str = ""
    target: str = ""
    status: int = 0
    upstream: str = ""
    bytes_in: int = 0
    bytes_out: int = 0
    duration: float = 0.0
    upstream_duration: float = 0.0
    cache: str = ""
    decision: str = ""
    rule: str = ""
    privacy: str = ""
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def as_row(self) -> dict[str, Any]:
        """The event as a plain dict (what tables, CSV writers and pandas want)."""
        return asdict(self)


class EventLog:
    """A bounded, thread-safe buffer of events with optional listeners.

    Bounded because a lab may run for hours: the oldest events drop off once ``capacity``
    is reached. Listeners (for example the command line's printer) are called in the
    recording thread, so they must be quick.
    """

    def __init__(self, capacity: int = 100_000) -> None:
        self._events: deque[Event] = deque(maxlen=capacity)
        self._lock = threading.Lock()
        # a tuple, replaced (never changed) on subscribe: record() reads it without a copy
        self._listeners: tuple[Callable[[Event], None], ...] = ()

    def record(self, event: Event) -> None:
        """Add one event and tell the listeners.

        No lock: ``deque.append`` is thread-safe by itself (the ``collections`` docs say
        so), and this runs once per request. The lock guards the rest (listeners, copies).
        """
        self._events.append(event)
        for listener in self._listeners:
            listener(event)

    def subscribe(self, listener: Callable[[Event], None]) -> None:
        """Call ``listener(event)`` for every event recorded from now on."""
        with self._lock:
            self._listeners = (*self._listeners, listener)

    def unsubscribe(self, listener: Callable[[Event], None]) -> None:
        """Stop calling ``listener`` (no error if it was not subscribed)."""
        with self._lock:
            self._listeners = tuple(known for known in self._listeners if known != listener)

    def snapshot(self, source: str | None = None) -> list[Event]:
        """A copy of the events so far, optionally only those from ``source``."""
        events = list(self._events.copy())  # one atomic copy, even while others append
        return events if source is None else [e for e in events if e.source == source]

    def rows(self, source: str | None = None) -> list[dict[str, Any]]:
        """The events as plain dicts."""
        return [event.as_row() for event in self.snapshot(source)]

    def clear(self) -> None:
        """Forget every event (listeners stay)."""
        with self._lock:
            self._events.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._events)


def percentile(values: Iterable[float], fraction: float) -> float:
    """The ``fraction`` quantile (0..1) by the nearest-rank method; 0.0 for no values."""
    ordered = sorted(values)
    if not ordered:
        return 0.0
    rank = min(len(ordered) - 1, max(0, math.ceil(fraction * len(ordered)) - 1))
    return ordered[rank]
