"""Routes: which pool of backends answers a request, decided by its host and path.

A reverse proxy often fronts more than one application: ``/api/`` goes to the API
servers, ``/static/`` to the file servers, ``shop.test`` to the shop, everything else to
the main site. This module holds that configuration (``Route``, plus the proxy-wide
``ReverseSettings``) and the table that turns it into a decision per request
(``RouteTable.match``). ``reverse`` asks the table once per request and does the rest.

Key idea: the two classic ways of picking a pool give the same answer here.

- nginx first picks a ``server`` block by ``server_name`` (the ``Host``), then, among its
  prefix ``location`` blocks, the *longest* prefix that matches the path, wherever it
  stands in the file: ``location /api/`` beats ``location /`` for ``/api/users``.
- HAProxy names conditions (``acl is_api path_beg /api/``, ``acl shop hdr(host) -i
  shop.test``) and tries ``use_backend ... if ...`` rules in order: the first rule that
  matches wins, and ``default_backend`` catches the rest.

Sorting the routes once (host routes first, then longer prefixes first) turns nginx's
"longest wins" into HAProxy's "first match wins", so the per-request work is one short
scan with no allocation. The route ``/`` without a host is the ``default_backend``; a
request for no route at all gets a 404 (``NoRoute``). Host names compare without port and
case (RFC 9110 section 4.2.3: the host is case-insensitive).

Each route gets its own balancer (a name from ``BALANCERS`` makes a fresh one per table;
an instance is used as given, shared if given twice), while a backend named in several
routes is *one* backend: one health state, one row of stats, one set of pooled
connections.

Left out on purpose: nginx's regex (``~``) and exact (``=``) locations, wildcard server
names (``*.shop.test``), HAProxy's matching on methods, headers or query strings, path
rewriting (``proxy_pass http://pool/other/``) and per-route retry or health settings.

Layer 4: configuration and routing only; uses balancers, health (``HealthPolicy``) and
server (``Timeouts``). No sockets, no threads.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from proxylab.errors import ConfigError, NoRoute
from proxylab.net.connection import Timeouts
from proxylab.reverse.balancers import Backend, Balancer, make_balancer
from proxylab.reverse.health import HealthPolicy

__all__ = ["COMBINED_LOG_FIELDS", "ReverseSettings", "Route", "RouteTable", "Site"]

#: The request fields nginx's combined log format shows (``$http_referer``, ``$http_user_agent``).
COMBINED_LOG_FIELDS = ("referer", "user-agent")


@dataclass(frozen=True, slots=True)
class Route:
    """Requests for ``host`` (any host if None) whose path starts with ``prefix``.

    ``balancer`` is an instance or a name from ``BALANCERS``; a name gets a fresh
    balancer per ``ReverseProxy``. The longest matching prefix wins, host routes first.
    """

    prefix: str = "/"
    backends: Sequence[Backend] = ()
    balancer: Balancer | str = "round-robin"
    host: str | None = None

    def __post_init__(self) -> None:
        if not self.prefix.startswith("/"):
            raise ConfigError(f"Route prefix {self.prefix!r} must start with '/'.")
        object.__setattr__(self, "backends", tuple(self.backends))
        if self.host is not None:
            object.__setattr__(self, "host", self.host.lower())


@dataclass(frozen=True, slots=True)
class ReverseSettings:
    """Everything that shapes the reverse proxy's behaviour, in one value.

    Health knobs follow nginx (``max_fails``, ``fail_timeout``) and HAProxy
    (``check_interval``, ``rise``, ``fall``); ``health_check_path=None`` means passive
    checks only. ``trusted_proxies`` are networks whose forwarding fields we keep and
    extend. ``hsts`` is a ``Strict-Transport-Security`` value added on TLS responses.
    ``keepalive``: idle connections kept per backend (nginx ``keepalive``).
    ``status_path=None`` turns the status page off. ``source_address`` is the local
    ``(host, port)`` proxied requests leave from (nginx ``proxy_bind``; port 0 for any),
    so backends see the proxy's own address; health probes leave from the default one.
    ``upgrade_protocols``: the protocols a client may switch to through the proxy
    (``Upgrade``, RFC 9110 section 7.8; lower-case names without version); any other gets
    a 501. ``tunnel_idle_timeout``: seconds an upgraded connection may stay silent.
    ``log_headers``: request fields copied into each event's ``extra`` for access logs
    (``COMBINED_LOG_FIELDS`` for nginx's combined format); none by default, as nothing
    else reads them and every request would pay for the copy.
    """

    retries: bool = True
    retry_non_idempotent: bool = False
    health_check_path: str | None = None
    check_interval: float = 2.0
    check_timeout: float = 1.0
    rise: int = 2
    fall: int = 3
    max_fails: int = 1
    fail_timeout: float = 10.0
    slow_start: float = 0.0
    sticky: bool = False
    sticky_cookie: str = "proxylab_backend"
    forwarded_header: bool = False
    trusted_proxies: tuple[str, ...] = ()
    preserve_host: bool = True
    hide_headers: tuple[str, ...] = ("server", "x-powered-by")
    #: request fields with ``_`` in the name are not passed on (nginx's default)
    drop_underscore_headers: bool = True
    hsts: str | None = None
    status_path: str | None = "/proxylab/status"
    status_clients: tuple[str, ...] = ("127.0.0.0/8", "::1/128")
    keepalive: int = 64
    source_address: tuple[str, int] | None = None
    timeouts: Timeouts = field(default_factory=Timeouts)
    upgrade_protocols: frozenset[str] = frozenset({"websocket"})
    tunnel_idle_timeout: float = 300.0
    log_headers: tuple[str, ...] = ()

    def health_policy(self) -> HealthPolicy:
        """The health-check part of these settings."""
        return HealthPolicy(
            self.health_check_path, self.check_interval, self.rise, self.fall,
            self.check_timeout, self.max_fails, self.fail_timeout, self.slow_start,
        )  # fmt: skip


class Site:
    """A route with its balancer resolved to an instance (what the hot path uses)."""

    __slots__ = ("backends", "balancer", "host", "prefix", "route")

    def __init__(self, route: Route) -> None:
        self.route, self.prefix, self.host = route, route.prefix, route.host
        self.backends: tuple[Backend, ...] = tuple(route.backends)
        balancer = route.balancer
        self.balancer = make_balancer(balancer) if isinstance(balancer, str) else balancer


class RouteTable:
    """The routes of one proxy, sorted so that the first match is the best match.

    ``backends`` and ``balancer`` are the shorthand for a single pool: they become a
    catch-all route ``/`` after the given ones (also when no routes are given at all,
    so a proxy without backends still answers, with a 503).
    """

    __slots__ = ("backends", "by_host", "sites")

    def __init__(
        self,
        routes: Sequence[Route] | None = None,
        backends: Sequence[Backend] = (),
        balancer: Balancer | str = "round-robin",
    ) -> None:
        given = list(routes or ())
        if backends or not given:
            given.append(Route("/", backends, balancer))
        # host routes first, then longer prefixes: the first match is the best match
        self.sites = sorted(
            (Site(r) for r in given), key=lambda x: (x.host is None, -len(x.prefix))
        )
        # without host routes, the per-request path skips parsing the Host field
        self.by_host = any(site.host is not None for site in self.sites)
        # one backend in several routes is still one backend (health, stats, pool)
        self.backends = tuple(dict.fromkeys(b for site in self.sites for b in site.backends))

    def match(self, host: str | None, path: str) -> Site:
        """The site for this ``Host`` value and origin-form path, or ``NoRoute`` (404)."""
        name = _host_name(host) if self.by_host and host else None
        for site in self.sites:
            if (site.host is None or site.host == name) and path.startswith(site.prefix):
                return site
        if path == "*":  # OPTIONS * asks about the server as a whole: the widest route answers
            return self.sites[-1]
        raise NoRoute()

    def routes(self) -> list[Route]:
        """The routes in the order they are tried (host routes first, longer prefixes first)."""
        return [site.route for site in self.sites]


def _host_name(host: str) -> str:
    """``Example.test:8000`` -> ``example.test``; ``[::1]:80`` -> ``::1``."""
    if host.startswith("["):
        return host[1:].partition("]")[0].lower()
    return host.rpartition(":")[0].lower() if ":" in host else host.lower()
