"""The two analogies as sequence diagrams, drawn from real lab records.

A forward proxy is a friend who phones the restaurant for you; a reverse proxy is the
waiter between the diners and the kitchens. ``diagrams.forward_sequence`` and
``diagrams.reverse_sequence`` draw these stories as sequence diagrams: one vertical lifeline
per participant, one arrow per message, time running down the page. Nothing is made up:
every arrow comes from an ``Event`` that a proxy, a site or a health checker recorded, and
its label says what that side saw (the method and path, what the friend changed for
privacy, the status, the address the origin saw, how long the kitchen took).

Key idea: match records across the hop by the connection, never by the clock. The
forward proxy records what it forwarded, at which privacy level, and the address and port
it phoned from (``upstream_from``); the site records what arrived and the far end of the
connection it arrived on (``peer``, ``source="site"``). The two are the same pair of
numbers, the way an operator joins HAProxy's log (``%bi:%bp``) with a server's access log.
Two requests a few milliseconds apart for the same URL, one direct and one through the
friend, can no longer be mixed up. A cache hit or a block has no site record: the story
stops at the friend.

Left out on purpose: concurrent exchanges drawn as overlapping (they are shown one after
the other, in start order), retries drawn as separate arrows.

Layer 5 (an edge): drawing helpers come from ``figures``.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from proxylab.lab.figures import (
    BAD,
    GOOD,
    PLAIN,
    alt_text,
    backend_of,
    is_health,
    mark_empty,
    new_figure,
    records_of,
)
from proxylab.lab.figures import record_field as get

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "Message",
    "draw_forward",
    "draw_reverse",
    "draw_sequence",
    "forward_sequence",
    "reverse_sequence",
]

HIT = "#2a9d8f"

#: One arrow: from lane, to lane, label, colour (from == to: a note on that lane).
Message = tuple[int, int, str, str]


def draw_sequence(
    title: str, lanes: Sequence[str], messages: Sequence[Message], caption: str = ""
) -> Figure:
    """Lifelines for ``lanes`` and one row per message, top to bottom.

    The alt text lists every message in words, so the story reaches a screen reader too.
    """
    size = (max(8.0, 2.2 * len(lanes)), 1.8 + 0.32 * len(messages))
    margins = (0.5, 0.45, 0.2, 1.05)  # room on top for the title and two-line lane names
    figure, axes = new_figure(
        title, "participants", "time (top to bottom)", size, margins, caption=caption
    )
    names = [lane.replace("\n", " ") for lane in lanes]
    steps = "; ".join(
        f"{n}. {names[src]}" + (f" to {names[dst]}" if dst != src else "") + f": {label}"
        for n, (src, dst, label, _) in enumerate(messages, 1)
    )
    figure.set_label(alt_text(figure, f"Sequence diagram. {steps}." if steps else ""))
    bottom = -(len(messages) + 1)
    for x in range(len(lanes)):
        axes.plot([x, x], [0, bottom], color="#bbbbbb", linewidth=1, zorder=0)
    for n, (src, dst, label, colour) in enumerate(messages):
        y = -(n + 1)
        if src == dst:
            box = {"boxstyle": "round", "facecolor": "white", "edgecolor": colour}
            axes.text(src, y, label, ha="center", va="center", fontsize=8, color=colour, bbox=box)
            continue
        arrow = {"arrowstyle": "-|>", "color": colour}
        axes.annotate("", xy=(dst, y), xytext=(src, y), arrowprops=arrow)
        axes.text(
            (src + dst) / 2, y + 0.08, label, ha="center", va="bottom", fontsize=8, color=colour
        )
    axes.set_xticks(range(len(lanes)), lanes)
    axes.xaxis.tick_top()
    axes.set_yticks([])
    axes.set_xlim(-0.6, len(lanes) - 0.4)
    axes.set_ylim(bottom + 0.5, 0.2)
    for side in ("left", "right", "bottom"):
        axes.spines[side].set_visible(False)
    if not messages:
        mark_empty(axes, "exchanges")
    return figure


def _short(text: str, limit: int = 38) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _path(target: str) -> str:
    """``/path?query`` of a URL (a path stays as it is)."""
    parts = urlsplit(target)
    if not parts.scheme:
        return target
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


def _by_peer(sites: list[Any]) -> dict[str, deque[Any]]:
    """The site records per connection they arrived on (``peer``), oldest first."""
    queues: dict[str, deque[Any]] = {}
    for seen in sites:
        queues.setdefault(str((get(seen, "extra") or {}).get("peer", "")), deque()).append(seen)
    return queues


def _origin_saw(queues: Mapping[str, deque[Any]], event: Any) -> Any:
    """The site's own record of the request the friend forwarded, or None.

    Paired by the connection, never by time: the friend notes the address and port it
    phoned from (``upstream_from``) and the site notes the far end of the connection
    (``peer``): the same two numbers. Several requests may share one kept-alive
    connection; they follow each other on it, so the n-th forwarded on it is the n-th
    the site received on it.
    """
    waiting = queues.get(str((get(event, "extra") or {}).get("upstream_from") or "-"))
    return waiting.popleft() if waiting else None


def _what_origin_saw(seen: Any) -> str:
    """``200; the origin saw 127.0.0.2 (X-Forwarded-For: 127.0.0.10)``: address and giveaways."""
    told = [sign for sign in str(get(seen, "note") or "").split("; ") if sign.lower().startswith(
        ("x-forwarded-for", "forwarded")
    )]  # fmt: skip
    return f"{get(seen, 'status')}; the origin saw {get(seen, 'client')}" + (
        f" ({_short('; '.join(told), 34)})" if told else ""
    )


def _forward_messages(event: Any, queues: Mapping[str, deque[Any]]) -> list[Message]:
    """One exchange through the friend: ask; then blocked, remembered, or phoned through."""
    status, cache = get(event, "status"), str(get(event, "cache") or "")
    asked: list[Message] = [(0, 1, _short(f"{get(event, 'method')} {get(event, 'target')}"), PLAIN)]
    if get(event, "decision") == "blocked":
        return [*asked, (1, 0, _short(f"{status} blocked: {get(event, 'rule')}"), BAD)]
    if cache.startswith("hit"):
        return [*asked, (1, 0, f"{status} from memory (cache hit)", HIT)]
    level = (get(event, "extra") or {}).get("privacy_level")
    changes = re.sub(r"\s+", " ", str(get(event, "privacy") or "nothing changed"))
    request = f"{get(event, 'method')} {_path(get(event, 'target'))}"
    forwarded = _short(f"{level}: {request} [{changes}]" if level else f"{request} [{changes}]", 64)
    seen = _origin_saw(queues, event)
    if seen is not None:
        answer = (2, 1, _what_origin_saw(seen), GOOD)
    else:
        # an origin that keeps no lab record (another proxy, say) still answered: not an error
        answer = (
            (2, 1, "no answer", BAD)
            if status in (502, 504)
            else (2, 1, f"{status} (no site record)", PLAIN)
        )
    told = f"{status}" + (f" (cache {cache})" if cache else "")
    return [*asked, (1, 2, forwarded, PLAIN), answer, (1, 0, told, BAD if status >= 400 else GOOD)]


def _direct_messages(seen: Any) -> list[Message]:
    """A visit without the friend: straight to the restaurant and back."""
    visit = _short(f"{get(seen, 'method')} {get(seen, 'target')} (no proxy)", 60)
    return [(0, 2, visit, PLAIN), (2, 0, _what_origin_saw(seen), GOOD)]


def draw_forward(events: Any, limit: int, title: str, direct: bool = False) -> Figure:
    """You -> friend (forward proxy) -> restaurant (origin), from forward and site events.

    With ``direct``, a site visit that no proxy forwarded is drawn as you -> restaurant.
    """
    rows = sorted(records_of(events), key=lambda r: get(r, "time"))
    sites = [r for r in rows if get(r, "source") == "site"]
    forwarded = {str((get(r, "extra") or {}).get("upstream_from")) for r in rows}
    stories = [r for r in rows if get(r, "source") == "forward"]
    if direct:
        stories += [r for r in sites if (get(r, "extra") or {}).get("peer") not in forwarded]
        stories.sort(key=lambda r: get(r, "time"))
    stories = stories[:limit]
    queues = _by_peer(sites)
    you = next((get(r, "client") for r in stories if get(r, "source") == "forward"), "client")
    lanes = [f"you\n({you})", "friend\n(forward proxy)", "restaurant\n(origin site)"]
    messages = [
        m
        for story in stories
        for m in (
            _forward_messages(story, queues)
            if get(story, "source") == "forward"
            else _direct_messages(story)
        )
    ]
    return draw_sequence(title, lanes, messages, FORWARD_CAPTION)


#: what to see in each diagram
FORWARD_CAPTION = (
    "Read top to bottom: every arrow is a message that really happened. The friend's call "
    "names its privacy level and what it changed; the origin's answer says which address it saw."
)
REVERSE_CAPTION = (
    "Each order goes from the diner to the waiter and on to one kitchen; the diner only ever "
    "talks to the waiter. Notes on a kitchen's line are health changes."
)


def _reverse_messages(event: Any, lane: Mapping[str, int]) -> list[Message]:
    """One order through the waiter, or a health change noted on the kitchen's lane."""
    kitchen = lane.get(backend_of(event))
    if is_health(event):  # a note on the kitchen's own line; never an order with status 0
        if kitchen is None:
            return []
        note = str(get(event, "note"))
        return [(kitchen, kitchen, f"{backend_of(event)} {note}", BAD if "down" in note else HIT)]
    status = get(event, "status")
    order = _short(f"{get(event, 'method')} {_path(str(get(event, 'target')))}")
    colour = BAD if status >= 500 or status == 0 else GOOD
    messages: list[Message] = [(0, 1, order, PLAIN)]
    if kitchen is not None:
        took = float(get(event, "upstream_duration") or get(event, "duration") or 0.0) * 1000
        messages += [(1, kitchen, order, PLAIN), (kitchen, 1, f"{status} in {took:.0f} ms", colour)]
    total = float(get(event, "duration") or 0.0) * 1000
    return [*messages, (1, 0, f"{status} after {total:.0f} ms", colour)]


def draw_reverse(events: Any, limit: int, title: str) -> Figure:
    """Diner -> waiter (reverse proxy) -> kitchens, one lane per kitchen, health noted."""
    rows = sorted(records_of(events), key=lambda r: get(r, "time"))
    served = [r for r in rows if get(r, "source") == "reverse"][:limit]
    if served:
        first, last = get(served[0], "time") - 1.0, get(served[-1], "time")
        served += [r for r in rows if is_health(r) and first <= get(r, "time") <= last]
        served.sort(key=lambda r: get(r, "time"))
    kitchens = sorted({backend_of(r) for r in served if backend_of(r)})
    lane = {name: 2 + n for n, name in enumerate(kitchens)}
    lanes = ["diner", "waiter\n(reverse proxy)", *kitchens]
    messages = [m for event in served for m in _reverse_messages(event, lane)]
    return draw_sequence(title, lanes, messages, REVERSE_CAPTION)


# -- the two analogies --------------------------------------------
def forward_sequence(
    events: Any,
    limit: int = 6,
    title: str = "The friend who phones the restaurant (forward proxy)",
    *,
    direct: bool = False,
) -> Figure:
    """You -> friend (forward proxy) -> restaurant (origin), from real forward and site events.

    Each exchange shows what you asked, what the friend forwarded at which privacy level
    (and what it changed), what the origin answered and which address it saw; blocks and
    cache hits stop at the friend. ``direct=True`` also draws the visits you made without
    the friend, for comparison. Drawn by ``draw_forward``.
    """
    return draw_forward(events, limit, title, direct)


def reverse_sequence(
    events: Any,
    limit: int = 8,
    title: str = "The waiter between diners and kitchens (reverse proxy)",
) -> Figure:
    """Diner -> waiter (reverse proxy) -> kitchens, one lane per kitchen, health changes noted."""
    return draw_reverse(events, limit, title)
