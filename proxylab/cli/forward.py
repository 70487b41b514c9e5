"""``proxylab forward``: run the forward proxy from the command line.

The flags map one to one onto ``ForwardSettings`` and ``HttpCache``; the startup panel
repeats the policy in force so a student can see what the proxy will do before using it.
``--lab`` also starts the lab's demo sites and lets the proxy dial them by name, so the
``curl`` lines the panel prints work as printed (``.test`` names resolve nowhere else).
"""

from __future__ import annotations

import argparse
import dataclasses
import threading
from typing import Any

from rich.console import Console

from proxylab.addresses import parse_host_port
from proxylab.cache.http_cache import HttpCache
from proxylab.cli.config_file import add_config_flag, apply_forward_config, forward_with_config
from proxylab.cli.console import (
    EventPrinter,
    add_server_flags,
    port_argument,
    print_error,
    size_argument,
    startup_panel,
    stop_on_signals,
    wait_for_ctrl_c,
)
from proxylab.cli.labsites import forward_hints, lab_rows, lab_sites
from proxylab.errors import ConfigError
from proxylab.export.examples import EXAMPLE_FORWARD
from proxylab.forward.access import ClientAccess
from proxylab.forward.accesslog import AccessLog
from proxylab.forward.filters import FilterPolicy
from proxylab.forward.privacy import PrivacyPolicy
from proxylab.forward.proxy import ForwardProxy, ForwardSettings
from proxylab.metrics import Event, EventLog

__all__ = ["add_parser", "connect_ports", "run", "settings_from_args"]


def add_parser(subparsers: Any) -> None:
    """Register ``forward`` and its flags (these names are the public interface)."""
    parser = subparsers.add_parser(
        "forward",
        help="run the forward proxy (privacy, filtering, caching)",
        description="Run proxylab's forward proxy: the friend who phones the restaurant for you.",
    )
    add_server_flags(parser, default_listen="127.0.0.1:8080")
    add = parser.add_argument
    add(
        "--privacy",
        choices=["transparent", "anonymous", "elite"],
        default="anonymous",
        help="what the origin learns about the client (default: anonymous)",
    )
    add(
        "--scrub",
        action="append",
        default=[],
        metavar="HEADER",
        help="also remove this request header: user-agent, referer, cookie or from (repeatable)",
    )
    add(
        "--block",
        action="append",
        default=[],
        metavar="PATTERN",
        help="block requests matching PATTERN, e.g. '*.social.test' (repeatable)",
    )
    add(
        "--block-file",
        action="append",
        default=[],
        metavar="PATH",
        help="block every pattern listed in PATH, one a line, # for comments (repeatable)",
    )
    add(
        "--allow",
        action="append",
        default=[],
        metavar="PATTERN",
        help="allow PATTERN; any --allow makes everything else denied (repeatable)",
    )
    add(
        "--connect-port",
        action="append",
        type=_connect_port,
        default=[],
        metavar="N",
        help="also allow CONNECT tunnels to port N, as Squid's SSL_ports (repeatable; 443 is "
        "always allowed unless dropped with --connect-port -443 or --no-default-connect-ports)",
    )
    add(
        "--no-default-connect-ports",
        action="store_true",
        help="do not allow CONNECT to 443 by default: only the --connect-port ports",
    )
    add(
        "--resolve",
        action="append",
        default=[],
        metavar="NAME=HOST:PORT",
        help="dial HOST:PORT for requests to NAME (repeatable)",
    )
    add(
        "--allow-client",
        action="append",
        default=[],
        metavar="NETWORK",
        help="who may use the proxy (repeatable; default loopback only)",
    )
    add("--auth", metavar="USER:PASSWORD", help="require Basic proxy authentication")
    add("--access-log", metavar="PATH|-", help="write an access log to PATH, or - for stdout")
    add(
        "--access-log-format",
        choices=["squid", "common"],
        default="squid",
        help="access log format (default: squid)",
    )
    add(
        "--cache-size",
        type=size_argument,
        default=size_argument("64MB"),
        metavar="SIZE",
        help="cache size, e.g. 64MB; 0 turns the cache off (default 64MB)",
    )
    add(
        "--max-object-size",
        type=size_argument,
        default=size_argument("1MB"),
        metavar="SIZE",
        help="largest response the cache stores (default 1MB)",
    )
    add(
        "--lab",
        action="store_true",
        help="also start the lab's demo sites (news.test, social.test ...) and reach them by name",
    )
    add_config_flag(parser, "forward", EXAMPLE_FORWARD)


def _connect_port(text: str) -> int:
    """A port to add (``8443``) or, with a minus, to drop (``-443``)."""
    return -port_argument(text[1:]) if text.startswith("-") else port_argument(text)


def connect_ports(args: argparse.Namespace) -> frozenset[int]:
    """The CONNECT ports in force: 443 (unless dropped) plus those added, in flag order."""
    ports = set() if args.no_default_connect_ports else {443}
    for port in args.connect_port:
        if port > 0:
            ports.add(port)
        else:
            ports.discard(-port)
    return frozenset(ports)


def _resolve_map(items: list[str]) -> dict[str, tuple[str, int]]:
    mapping: dict[str, tuple[str, int]] = {}
    for item in items:
        name, sep, address = item.partition("=")
        if not sep or not name:
            raise ConfigError(f"Bad --resolve {item!r}: expected NAME=HOST:PORT.")
        mapping[name.lower()] = parse_host_port(address)
    return mapping


def _patterns_in(path: str) -> list[str]:
    """The patterns of a block file: one a line; blank lines and ``#`` comments are skipped."""
    try:
        with open(path, encoding="utf-8") as handle:
            lines = handle.read().splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"Cannot read --block-file {path}: {error}.") from None
    return [line.split("#", 1)[0].strip() for line in lines if line.split("#", 1)[0].strip()]


def settings_from_args(args: argparse.Namespace) -> ForwardSettings:
    """Turn parsed flags into ``ForwardSettings`` (ConfigError explains a bad value)."""
    auth = None
    if args.auth:
        user, sep, password = args.auth.partition(":")
        if not sep:
            raise ConfigError("Bad --auth: expected USER:PASSWORD.")
        auth = (user, password)
    blocked = list(args.block) + [p for path in args.block_file for p in _patterns_in(path)]
    access = ClientAccess(tuple(args.allow_client)) if args.allow_client else ClientAccess()
    return ForwardSettings(
        privacy=PrivacyPolicy.from_names(args.privacy, args.scrub),
        filters=FilterPolicy.from_patterns(block=blocked, allow=args.allow),
        access=access,
        connect_ports=connect_ports(args),
        resolve=_resolve_map(args.resolve),
        auth=auth,
    )


def _describe(event: Event) -> str:
    extras = [
        part
        for part in (event.cache, event.decision if event.decision == "blocked" else "")
        if part
    ]
    suffix = f"  [{', '.join(extras)}]" if extras else ""
    if event.method == "NONE":  # refused before it was understood: say why instead
        return f"{event.client} {event.target}  {event.note}"
    return f"{event.client} {event.method} {event.target} {event.duration * 1000:.1f} ms{suffix}"


def _panel_rows(args: argparse.Namespace, url: str) -> list[tuple[str, str]]:
    blocks = args.block + [f"patterns of {path}" for path in args.block_file]
    filters = ", ".join([f"allow {p}" for p in args.allow] + [f"block {p}" for p in blocks])
    cache = (
        "off"
        if args.cache_size == 0
        else f"{args.cache_size // 2**20} MB (objects up to {args.max_object_size // 1024} KB)"
    )
    return [
        ("listening", url),
        ("privacy", args.privacy + (f" + scrub {', '.join(args.scrub)}" if args.scrub else "")),
        ("filter", filters or getattr(args, "rules_note", "") or "none (everything allowed)"),
        ("CONNECT ports", ", ".join(map(str, sorted(connect_ports(args)))) or "none (refused)"),
        ("cache", cache),
        ("auth", "Basic" if args.auth else "none"),
    ]


def run(args: argparse.Namespace) -> int:
    """Start the proxy (with the lab's sites if ``--lab``), print the panel and events."""
    console = Console()
    if not getattr(args, "lab", False):
        return _run(args, console, None)
    with lab_sites(console) as lab:
        return 2 if lab is None else _run(args, console, lab)


def _run(args: argparse.Namespace, console: Console, lab: Any) -> int:
    """Serve until Ctrl-C; ``lab`` (a started ``Lab`` or None) lends its names to dial."""
    try:
        config = apply_forward_config(args)  # --config FILE: flags given here win
        settings = forward_with_config(config, args, settings_from_args(args))
        address = parse_host_port(args.listen)
    except ConfigError as error:
        print_error(console, error.message)
        return 2
    if lab is not None:  # the lab's names first; an explicit --resolve still wins
        settings = dataclasses.replace(settings, resolve={**lab.resolver, **settings.resolve})
    events = EventLog(capacity=10_000)
    cache = HttpCache(args.cache_size, args.max_object_size) if args.cache_size > 0 else None
    proxy = ForwardProxy(settings, cache=cache, events=events)
    access_log = AccessLog(args.access_log, args.access_log_format) if args.access_log else None
    if access_log is not None:
        events.subscribe(access_log.record)
    printer = EventPrinter(console, _describe)
    if not args.quiet:
        events.subscribe(printer.record)
    try:
        server = proxy.serve(address, max_connections=args.max_connections)
    except OSError as error:
        print_error(console, f"cannot listen on {args.listen}: {error.strerror}")
        return 1
    stop = threading.Event()
    with server, stop_on_signals(stop):
        hint = forward_hints(server.url, with_lab=lab is not None)
        rows = _panel_rows(args, server.url) + lab_rows(lab)
        console.print(startup_panel("proxylab forward proxy", rows, hint))
        printer.start()
        wait_for_ctrl_c(stop)
    printer.stop()
    proxy.close()
    if access_log is not None:
        access_log.close()
    console.print("[dim]stopped[/dim]")
    return 0
