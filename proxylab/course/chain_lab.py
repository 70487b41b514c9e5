"""Chain lab: both proxies in one path, and the records each hop kept.

``11_friend_and_waiter.ipynb`` sends requests along you -> friend (forward proxy) ->
waiter (reverse proxy) -> kitchens and compares what each hop wrote down. Two small
helpers make that reliable and visible:

- ``records_since`` waits (a bounded poll, ``wait_until``) until the proxies have written
  their records for the requests just made. A proxy records an exchange just *after* it
  answered, so a client can hold the answer a moment before the record exists.
- ``scene_chart`` draws the seed's two "in practice" examples side by side from the
  records: what the company's proxy let through per site, and how the busy website's
  waiter spread the orders over its kitchens.

Layer 5 (an edge).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from proxylab.lab.lab import Lab, wait_until
from proxylab.metrics import Event

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["records_since", "scene_chart"]

_ALLOWED, _BLOCKED, _KITCHEN = "#2a9d8f", "#c1121f", "#1d3557"


def records_since(
    lab: Lab, since: float, source: str, count: int = 1, timeout: float = 5.0
) -> list[Event]:
    """The ``source`` records (``"forward"``, ``"reverse"`` ...) from ``since`` on, at least ``count``.

    Waits at most ``timeout`` seconds for them; returns what there is after that.
    """

    def found() -> list[Event]:
        return [e for e in lab.events.snapshot(source) if e.time >= since]

    wait_until(lambda: len(found()) >= count, timeout)
    return found()


def _site(target: str) -> str:
    return urlsplit(target).hostname or target


def scene_chart(
    forward: Sequence[Event], reverse: Sequence[Event], title: str = "One morning, two proxies"
) -> Figure:
    """Left: the company proxy's decisions per site. Right: the waiter's orders per kitchen."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    figure = Figure(figsize=(12, 4.8))
    figure.subplots_adjust(left=0.1, right=0.98, bottom=0.14, top=0.82, wspace=0.35)
    figure.suptitle(title, fontsize=14)
    left, right = figure.add_subplot(1, 2, 1), figure.add_subplot(1, 2, 2)
    decided: dict[str, Counter[str]] = {}
    for event in forward:
        if event.decision in ("allowed", "blocked"):
            decided.setdefault(_site(event.target), Counter())[event.decision] += 1
    sites = sorted(decided)
    allowed = [decided[s]["allowed"] for s in sites]
    blocked = [decided[s]["blocked"] for s in sites]
    left.barh(sites, allowed, color=_ALLOWED, label="allowed")
    left.barh(sites, blocked, left=allowed, color=_BLOCKED, label="blocked (403)")
    left.set_title("the company's proxy (the friend): per site")
    left.set_xlabel("employees' requests")
    left.xaxis.set_major_locator(MaxNLocator(integer=True))
    left.set_xlim(0, max([1, *(a + b for a, b in zip(allowed, blocked, strict=True))]) * 1.6)
    left.legend(loc="lower right", fontsize=10)
    per_kitchen = Counter(e.upstream for e in reverse if e.upstream)
    kitchens = sorted(per_kitchen)
    bars = right.bar(kitchens, [per_kitchen[k] for k in kitchens], color=_KITCHEN)
    right.bar_label(bars, fontsize=11)
    right.set_title("the website's reverse proxy (the waiter): per kitchen")
    right.set_ylabel("orders cooked")
    right.yaxis.set_major_locator(MaxNLocator(integer=True))
    right.set_ylim(0, max([1, *per_kitchen.values()]) * 1.2)
    return figure
