"""What a configuration file says, as plain values: the model every exporter reads.

``ForwardConfig`` (a ``[forward]`` file) and ``ReverseConfig`` (a ``[reverse]`` file) hold
the settings as the file gave them, already checked; ``settings()`` turns them into the
library's ``ForwardSettings`` / ``ReverseSettings``, so ``proxylab forward --config`` runs
exactly what ``proxylab export`` translates. Filter rules are the library's own ``Rule``
objects; pools keep the balancer's *name* (the exporters need the name, the proxy an
instance, made fresh by ``PoolConfig.make_balancer``).

Layer 5 (an edge).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from proxylab.forward.access import ClientAccess
from proxylab.forward.filters import FilterPolicy
from proxylab.forward.privacy import PrivacyPolicy
from proxylab.forward.proxy import ForwardSettings
from proxylab.forward.rules import Rule
from proxylab.reverse.balancers import Backend, Balancer, make_balancer
from proxylab.reverse.routes import ReverseSettings, Route

__all__ = ["ForwardConfig", "Health", "PoolConfig", "ReverseConfig", "Tls"]


@dataclass(frozen=True, slots=True)
class ForwardConfig:
    """A forward proxy as the file describes it (``[forward]``)."""

    source: str
    listen: str = "127.0.0.1:3128"
    privacy: str = "anonymous"
    scrub: tuple[str, ...] = ()
    rules: tuple[Rule, ...] = ()
    default: str = "allow"
    connect_ports: tuple[int, ...] = (443,)
    allow_clients: tuple[str, ...] = ("127.0.0.0/8", "::1/128")
    cache_size: int = 64 * 1024**2
    max_object_size: int = 1024**2
    resolve: dict[str, tuple[str, int]] = field(default_factory=dict)

    def filters(self) -> FilterPolicy:
        return FilterPolicy(self.rules, "deny" if self.default == "deny" else "allow")

    def settings(self, resolve: Mapping[str, tuple[str, int]] | None = None) -> ForwardSettings:
        """The ``ForwardSettings`` that run this file (the cache is built by the caller).

        ``resolve`` replaces the file's name map (``lab.resolver`` in a notebook).
        """
        return ForwardSettings(
            privacy=PrivacyPolicy.from_names(self.privacy, self.scrub),
            filters=self.filters(),
            access=ClientAccess(self.allow_clients),
            connect_ports=frozenset(self.connect_ports),
            resolve=dict(self.resolve) if resolve is None else resolve,
        )


@dataclass(frozen=True, slots=True)
class PoolConfig:
    """A route and its pool: path prefix (and host), backends, balancer and its key."""

    prefix: str
    backends: tuple[Backend, ...]
    balancer: str = "round-robin"
    hash_key: str = "client-ip"
    host: str | None = None
    name: str = "default"

    def make_balancer(self) -> Balancer:
        if self.balancer == "consistent-hash":
            return make_balancer(self.balancer, key=self.hash_key)
        return make_balancer(self.balancer)

    def route(self) -> Route:
        return Route(self.prefix, self.backends, self.make_balancer(), self.host)


@dataclass(frozen=True, slots=True)
class Health:
    """Active checks (``path`` every ``interval``, rise, fall) and passive ones."""

    path: str | None = None
    interval: float = 2.0
    rise: int = 2
    fall: int = 3
    max_fails: int = 1
    fail_timeout: float = 10.0


@dataclass(frozen=True, slots=True)
class Tls:
    """HTTPS: a certificate and key (or a throw-away lab one), redirect, HSTS."""

    cert: str | None = None
    key: str | None = None
    self_signed: bool = False
    redirect_http: str | None = None
    hsts_max_age: int | None = None


@dataclass(frozen=True, slots=True)
class ReverseConfig:
    """A reverse proxy as the file describes it (``[reverse]``)."""

    source: str
    listen: str = "127.0.0.1:8000"
    pools: tuple[PoolConfig, ...] = ()
    health: Health = field(default_factory=Health)
    sticky: bool = False
    hide_headers: tuple[str, ...] = ("server", "x-powered-by")
    forwarded_header: bool = False
    tls: Tls | None = None

    def routes(self) -> list[Route]:
        return [pool.route() for pool in self.pools]

    def settings(self) -> ReverseSettings:
        """The ``ReverseSettings`` that run this file."""
        health = self.health
        hsts = None
        if self.tls is not None and self.tls.hsts_max_age is not None:
            hsts = f"max-age={self.tls.hsts_max_age}"
        return ReverseSettings(
            health_check_path=health.path, check_interval=health.interval, rise=health.rise,
            fall=health.fall, max_fails=health.max_fails, fail_timeout=health.fail_timeout,
            sticky=self.sticky, hide_headers=self.hide_headers,
            forwarded_header=self.forwarded_header, hsts=hsts,
        )  # fmt: skip
