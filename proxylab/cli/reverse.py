"""``proxylab reverse``: run the reverse proxy from the command line.

The flags map onto ``Route``, ``ReverseSettings`` and the TLS helpers; the startup panel
repeats the routes, the balancer and the checks in force, with the real bound address
(``--listen 127.0.0.1:0`` picks a free port); ``--lab`` opens three lab kitchens to stand
behind it, so there is something to balance. ``--dashboard`` replaces the event lines by
a live table of per-backend statistics, the terminal cousin of HAProxy's stats page.

Layer 5 (an edge).
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from rich.console import Console
from rich.live import Live
from rich.panel import Panel
from rich.table import Table

from proxylab.addresses import parse_host_port
from proxylab.cli.config_file import add_config_flag, apply_reverse_config, reverse_with_config
from proxylab.cli.console import (
    EventPrinter,
    add_server_flags,
    print_error,
    startup_panel,
    wait_for_ctrl_c,
)
from proxylab.cli.labsites import lab_kitchens, lab_sites, reverse_hints
from proxylab.cli.plugins import balancer_argument, describe_balancer
from proxylab.errors import ConfigError
from proxylab.export.examples import EXAMPLE_REVERSE
from proxylab.forward.accesslog import AccessLog
from proxylab.metrics import Event, EventLog
from proxylab.net.server import Server
from proxylab.net.tls import (
    LabCertificates,
    hsts_value,
    redirect_to_https,
    server_context_from_files,
)
from proxylab.reverse.balancers import BALANCERS, Backend, Balancer
from proxylab.reverse.proxy import ReverseProxy
from proxylab.reverse.routes import COMBINED_LOG_FIELDS, ReverseSettings, Route

__all__ = ["add_parser", "parse_backend", "parse_route", "run", "settings_from_args"]

BACKEND_FORM = (
    "HOST:PORT or http://HOST:PORT, optionally followed by =WEIGHT (e.g. 127.0.0.1:8001=3)"
)


def add_parser(subparsers: Any) -> None:
    """Register ``reverse`` and its flags (these names are the public interface)."""
    parser = subparsers.add_parser(
        "reverse",
        help="run the reverse proxy (load balancing, health checks, TLS)",
        description="Run proxylab's reverse proxy: the waiter between the guests and the kitchen.",
    )
    add_server_flags(parser, default_listen="127.0.0.1:8000")
    add = parser.add_argument
    add(
        "--backend",
        action="extend",
        nargs="+",
        default=[],
        metavar="ADDR",
        help=f"a backend: {BACKEND_FORM} (repeatable)",
    )
    add(
        "--balancer",
        type=balancer_argument,
        default="round-robin",
        metavar="NAME|MODULE:CLASS",
        help=f"how to pick a backend per request: {', '.join(sorted(BALANCERS))} "
        "(default: round-robin), or MODULE:CLASS for your own Balancer subclass",
    )
    add("--health-check", metavar="PATH", help="probe PATH on every backend (active checks)")
    add(
        "--route",
        action="append",
        default=[],
        metavar="PREFIX=ADDR[,ADDR...]",
        help="send paths starting with PREFIX to these backends (repeatable)",
    )
    add("--sticky", action="store_true", help="keep a client on one backend with a cookie")
    add(
        "--tls-self-signed",
        action="store_true",
        help="serve HTTPS with a certificate from a throw-away lab CA",
    )
    add("--cert", metavar="FILE", help="serve HTTPS with this PEM certificate (needs --key)")
    add("--key", metavar="FILE", help="the private key for --cert")
    add(
        "--redirect-http",
        metavar="HOST:PORT",
        help="also listen here for plain HTTP and redirect it to HTTPS",
    )
    add("--hsts", action="store_true", help="send Strict-Transport-Security on HTTPS responses")
    add("--dashboard", action="store_true", help="show a live table of backends instead of events")
    add(
        "--access-log",
        metavar="PATH|-",
        help="write an access log in nginx's combined format to PATH, or - for stdout",
    )
    add(
        "--lab",
        action="store_true",
        help="also open three lab kitchens (two quick, one slow) and use them as backends",
    )
    add_config_flag(parser, "reverse", EXAMPLE_REVERSE)


def parse_backend(text: str) -> Backend:
    """``127.0.0.1:8001``, ``http://127.0.0.1:8001`` or either with ``=WEIGHT`` -> Backend."""
    address, sep, weight_text = text.strip().rpartition("=")
    if not sep:
        address, weight_text = weight_text, "1"
    if "://" in address:
        parts = urlsplit(address)
        if parts.scheme != "http" or not parts.hostname or parts.path not in ("", "/"):
            raise ConfigError(f"Bad backend {text!r}: expected {BACKEND_FORM}.")
        address = f"{parts.hostname}:{parts.port or 80}"
    host, _, port_text = address.rpartition(":")
    if (
        not host
        or not port_text.isdigit()
        or not 0 < int(port_text) < 65536
        or not weight_text.isdigit()
    ):
        raise ConfigError(f"Bad backend {text!r}: expected {BACKEND_FORM}.")
    return Backend(host.strip("[]"), int(port_text), max(1, int(weight_text)))


def parse_route(text: str, balancer: str | Balancer) -> Route:
    """``/api=127.0.0.1:8001,127.0.0.1:8002`` -> a ``Route`` with its own balancer."""
    prefix, sep, addresses = text.partition("=")
    if not sep or not prefix.startswith("/") or not addresses:
        raise ConfigError(
            f"Bad route {text!r}: expected PREFIX=ADDR[,ADDR...], e.g. /api=127.0.0.1:8001."
        )
    return Route(prefix, [parse_backend(a) for a in addresses.split(",")], balancer)


def settings_from_args(args: argparse.Namespace) -> ReverseSettings:
    """Turn parsed flags into ``ReverseSettings``."""
    tls = args.tls_self_signed or args.cert
    return ReverseSettings(
        health_check_path=args.health_check,
        sticky=args.sticky,
        hsts=hsts_value() if args.hsts and tls else None,
        log_headers=COMBINED_LOG_FIELDS if getattr(args, "access_log", None) else (),
    )


def _check(args: argparse.Namespace) -> None:
    if not (args.backend or args.route or getattr(args, "lab", False) or args.config):
        raise ConfigError(
            "Give at least one --backend ADDR or --route PREFIX=ADDR, a --config FILE, "
            "or --lab to open three lab kitchens as backends."
        )
    if bool(args.cert) != bool(args.key):
        raise ConfigError("--cert and --key go together.")
    if args.tls_self_signed and args.cert:
        raise ConfigError("Choose either --tls-self-signed or --cert/--key, not both.")
    if args.redirect_http and not (args.tls_self_signed or args.cert):
        raise ConfigError("--redirect-http needs HTTPS: add --tls-self-signed or --cert/--key.")


def _describe(event: Event) -> str:
    if event.source == "health":
        return f"health: {event.upstream} is {event.note.upper()} ({event.extra.get('reason', '')})"
    note = f"  [{event.note}]" if event.note else ""
    return f"{event.client} {event.method} {event.target} -> {event.upstream or '-'} {event.duration * 1000:.1f} ms{note}"


def _panel_rows(
    args: argparse.Namespace, proxy: ReverseProxy, url: str, extra: list[tuple[str, str]]
) -> list[tuple[str, str]]:
    routes = [f"{r.prefix} -> {', '.join(b.name + (f' (w{b.weight})' if b.weight > 1 else '') for b in r.backends)}"
              for r in proxy.routes()]  # fmt: skip
    checks = (
        f"GET {args.health_check} every 2 s (rise 2, fall 3)"
        if args.health_check
        else "passive only"
    )
    return [
        ("listening", url),
        *extra,
        ("routes", "\n".join(routes)),
        ("balancer", describe_balancer(args.balancer)),
        ("health", checks),
        ("sticky", "cookie proxylab_backend" if args.sticky else "off"),
        ("hsts", proxy.settings.hsts or "off"),
        ("status", f"{url}/proxylab/status (local clients only)"),
    ]


def _panel(
    args: argparse.Namespace, proxy: ReverseProxy, url: str, extra: list[tuple[str, str]]
) -> Panel:
    cacert = next((f"--cacert {path} " for key, path in extra if key == "CA"), "")
    return startup_panel(
        "proxylab reverse proxy", _panel_rows(args, proxy, url, extra), reverse_hints(url, cacert)
    )


def _dashboard(proxy: ReverseProxy) -> Table:
    table = Table(title="proxylab reverse proxy: backends")
    for column in (
        "backend",
        "state",
        "now",
        "total",
        "fail",
        "retry",
        "mean ms",
        "p95 ms",
        "share",
    ):
        table.add_column(column, justify="left" if column == "backend" else "right")
    for row in proxy.stats():
        style = "green" if row.state == "UP" else "red"
        table.add_row(row.name, f"[{style}]{row.state}[/{style}]", str(row.current), str(row.total),
                      str(row.failures), str(row.retries), f"{row.mean_ms:.1f}", f"{row.p95_ms:.1f}",
                      f"{row.share:.0%}")  # fmt: skip
    return table


@contextlib.contextmanager
def _display(
    args: argparse.Namespace, console: Console, proxy: ReverseProxy, events: EventLog
) -> Iterator[None]:
    """Either the live dashboard, or event lines (unless --quiet), while the body runs."""
    if args.dashboard:
        with Live(get_renderable=lambda: _dashboard(proxy), console=console, refresh_per_second=4):
            yield
        return
    printer = EventPrinter(console, _describe)
    if not args.quiet:
        events.subscribe(printer.record)
    printer.start()
    try:
        yield
    finally:
        printer.stop()


@contextlib.contextmanager
def _stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """From now on SIGINT/SIGTERM set ``stop`` (before ``wait_for_ctrl_c`` takes over)."""
    previous = {sig: signal.signal(sig, lambda signum, frame: stop.set()) for sig in _SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def run(args: argparse.Namespace) -> int:
    """Start the proxy (and lab kitchens if ``--lab``), print the panel, stop on Ctrl-C."""
    console = Console()
    if not getattr(args, "lab", False):
        return _run(args, console, [])
    with lab_sites(console, sites=()) as lab:
        return 2 if lab is None else _run(args, console, lab_kitchens(lab))


def _run(args: argparse.Namespace, console: Console, kitchens: list[Backend]) -> int:
    """Serve until Ctrl-C; ``kitchens`` (from ``--lab``) join the ``--backend`` list."""
    try:
        config = apply_reverse_config(args)  # --config FILE: flags given here win
        _check(args)
        address = parse_host_port(args.listen)
        routes = [parse_route(r, args.balancer) for r in args.route]
        backends = [parse_backend(b) for b in args.backend] + kitchens
        pools = (routes, backends)
        routes, backends, settings = reverse_with_config(
            config, args, pools, settings_from_args(args)
        )
    except ConfigError as error:
        print_error(console, error.message)
        return 2
    events = EventLog(capacity=10_000)
    proxy = ReverseProxy(
        routes, backends=backends, balancer=args.balancer, settings=settings, events=events
    )
    stop = threading.Event()
    with contextlib.ExitStack() as stack:
        if args.access_log and not _open_access_log(console, args.access_log, events, stack):
            return 1
        stack.callback(proxy.close)
        stack.enter_context(_stop_on_signals(stop))  # Ctrl-C while the panel prints is fine too
        try:
            servers, extra = _servers(args, proxy, address, stack)
        except (OSError, ConfigError) as error:
            reason = error.message if isinstance(error, ConfigError) else error.strerror
            print_error(console, f"cannot start: {reason}")
            return 1
        for server in servers:
            server.start()
        console.print(_panel(args, proxy, servers[0].url, extra))
        with _display(args, console, proxy, events):
            wait_for_ctrl_c(stop)
    console.print("[dim]stopped[/dim]")
    return 0


def _open_access_log(
    console: Console, path: str, events: EventLog, stack: contextlib.ExitStack
) -> bool:
    """Log every exchange in nginx's combined format; closed (flushed) when the stack ends."""
    try:
        access_log = AccessLog(path, "combined")
    except OSError as error:
        print_error(console, f"cannot open the access log {path}: {error.strerror}")
        return False
    stack.callback(access_log.close)  # registered first, so it runs after the servers stop
    events.subscribe(access_log.record)
    return True


def _servers(
    args: argparse.Namespace,
    proxy: ReverseProxy,
    address: tuple[str, int],
    stack: contextlib.ExitStack,
) -> tuple[list[Server], list[tuple[str, str]]]:
    """The main server (HTTP or HTTPS) and the optional HTTP redirector, not started."""
    context, extra = None, []
    if args.tls_self_signed:
        certs = LabCertificates()
        stack.callback(certs.close)
        names = tuple(dict.fromkeys(("localhost", "127.0.0.1", "::1", address[0])))
        context = certs.server_context(*names)
        extra.append(("CA", certs.ca_pem_path))
    elif args.cert:
        context = server_context_from_files(args.cert, args.key)
    main = proxy.serve(address, ssl_context=context, max_connections=args.max_connections)
    stack.callback(main.stop)
    servers = [main]
    if args.redirect_http:
        redirect = Server(
            redirect_to_https(main.address[1]), parse_host_port(args.redirect_http), name="redirect"
        )
        stack.callback(redirect.stop)
        servers.append(redirect)
        extra.append(("redirect", f"{redirect.url} -> {main.url}"))
    return servers, extra
