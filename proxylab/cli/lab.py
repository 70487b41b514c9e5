"""``proxylab lab``: the whole lab in one terminal, to point curl or a browser at.

It starts what the notebooks use, on loopback and offline: the demo sites (``news.test``,
``social.test``, ``video.test``, ``school.test``), three kitchens (two quick, one slow),
the friend (a forward proxy that knows the lab's names) and the waiter (a reverse proxy
in front of the kitchens, with active health checks). The startup panel says where each
listens and prints commands that work exactly as printed; every exchange is printed as it
happens, until Ctrl-C stops everything.

``proxylab forward --lab`` and ``proxylab reverse --lab`` start one proxy with its half of
the lab; this command starts both.

Layer 5 (an edge).
"""

from __future__ import annotations

import argparse
import contextlib
import threading
from typing import TYPE_CHECKING, Any

from rich.console import Console

from proxylab.addresses import parse_host_port
from proxylab.cli.console import (
    EventPrinter,
    print_error,
    startup_panel,
    stop_on_signals,
    wait_for_ctrl_c,
)
from proxylab.cli.labsites import forward_hints, lab_kitchens, lab_sites, reverse_hints
from proxylab.cli.plugins import balancer_argument, describe_balancer
from proxylab.errors import ConfigError
from proxylab.metrics import Event

if TYPE_CHECKING:
    from proxylab.lab.lab import Lab
    from proxylab.net.server import Server

__all__ = ["add_parser", "run"]


def add_parser(subparsers: Any) -> None:
    """Register ``lab`` and its flags."""
    parser = subparsers.add_parser(
        "lab",
        help="start the demo sites, kitchens and both proxies, to try with curl or a browser",
        description=(
            "Start the lab on loopback: demo sites (news.test ...), three kitchens, the friend "
            "(forward proxy) and the waiter (reverse proxy). Ctrl-C stops everything."
        ),
    )
    add = parser.add_argument
    add("--forward", default="127.0.0.1:8080", metavar="HOST:PORT",
        help="where the friend (forward proxy) listens (default 127.0.0.1:8080)")  # fmt: skip
    add("--reverse", default="127.0.0.1:8000", metavar="HOST:PORT",
        help="where the waiter (reverse proxy) listens (default 127.0.0.1:8000)")  # fmt: skip
    add("--privacy", choices=["transparent", "anonymous", "elite"], default="anonymous",
        help="the friend's privacy level (default: anonymous)")  # fmt: skip
    add("--balancer", type=balancer_argument, default="round-robin", metavar="NAME|MODULE:CLASS",
        help="the waiter's balancer (default: round-robin), or MODULE:CLASS for your own")  # fmt: skip
    add("--seed", type=int, default=0, help="seed for the kitchens' cooking times")
    add("--quiet", action="store_true", help="print only the startup panel and errors")


def _describe(event: Event) -> str:
    if event.source == "health":
        return f"health: {event.upstream} is {event.note.upper()}"
    who = {"forward": "friend", "reverse": "waiter"}[event.source]
    served = f" -> {event.upstream}" if event.source == "reverse" and event.upstream else ""
    cache = f"  [{event.cache}]" if event.cache else ""
    return f"{who}: {event.client} {event.method} {event.target}{served}{cache}"


def _proxies(lab: Lab, args: argparse.Namespace) -> tuple[Any, Any]:
    """The friend (knowing the lab's names) and the waiter (in front of new lab kitchens)."""
    from proxylab.forward.privacy import PrivacyPolicy
    from proxylab.forward.proxy import ForwardProxy, ForwardSettings
    from proxylab.lab.kitchens import HEALTH_PATH
    from proxylab.reverse.proxy import ReverseProxy
    from proxylab.reverse.routes import ReverseSettings

    settings = ForwardSettings(privacy=PrivacyPolicy.from_names(args.privacy), resolve=lab.resolver)
    friend = ForwardProxy(settings, events=lab.events)
    waiter = ReverseProxy(
        backends=lab_kitchens(lab), balancer=args.balancer, events=lab.events,
        settings=ReverseSettings(health_check_path=HEALTH_PATH),
    )  # fmt: skip
    return friend, waiter


def _rows(lab: Lab, friend: Server, waiter: Server, args: argparse.Namespace) -> list[Any]:
    sites = ", ".join(sorted(lab.sites))
    kitchens = ", ".join(f"{n} {h}:{p}" for n, (h, p) in lab.resolver.items() if "kitchen" in n
                         and not n.endswith(".test"))  # fmt: skip
    return [
        ("friend", f"{friend.url} (forward proxy, {args.privacy}, knows the lab's names)"),
        (
            "waiter",
            f"{waiter.url} (reverse proxy, {describe_balancer(args.balancer)}, checks /health)",
        ),
        ("sites", sites),
        ("kitchens", kitchens),
    ]


def run(args: argparse.Namespace) -> int:
    """Start the lab and both proxies, print the panel and the traffic, stop on Ctrl-C."""
    console = Console()
    with lab_sites(console, args.seed) as lab, contextlib.ExitStack() as stack:
        if lab is None:
            return 2
        try:
            friend, waiter = _proxies(lab, args)
            stack.callback(friend.close)
            stack.callback(waiter.close)
            servers = [
                stack.enter_context(friend.serve(parse_host_port(args.forward))),
                stack.enter_context(waiter.serve(parse_host_port(args.reverse))),
            ]
        except (ConfigError, OSError) as error:
            reason = error.message if isinstance(error, ConfigError) else error.strerror
            print_error(console, f"cannot start: {reason}")
            return 1
        _serve(console, lab, servers[0], servers[1], args)
    console.print("[dim]stopped[/dim]")
    return 0


def _serve(console: Console, lab: Lab, friend: Server, waiter: Server, args: Any) -> None:
    """The panel, then the traffic as it happens, until Ctrl-C."""
    printer, stop = EventPrinter(console, _describe), threading.Event()
    if not args.quiet:
        lab.events.subscribe(lambda e: printer.record(e) if e.source in _SHOWN else None)
    hints = f"{forward_hints(friend.url, with_lab=True)}\n{reverse_hints(waiter.url)}"
    with stop_on_signals(stop):
        console.print(startup_panel("proxylab lab", _rows(lab, friend, waiter, args), hints))
        printer.start()
        try:
            wait_for_ctrl_c(stop)
        finally:
            printer.stop()


#: what the printer shows: the proxies and health changes, not each site's own record
_SHOWN = frozenset({"forward", "reverse", "health"})
