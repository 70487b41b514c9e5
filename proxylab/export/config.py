"""One configuration file for both proxies: TOML in, proxylab settings (and exports) out.

What: ``load_config("school-proxy.toml")`` reads a ``[forward]`` or a ``[reverse]`` table
and returns a ``ForwardConfig`` or a ``ReverseConfig``: plain values that say what the
file asked for. ``ForwardConfig.settings()`` and ``ReverseConfig.settings()`` turn them
into the library's ``ForwardSettings`` / ``ReverseSettings`` (what ``proxylab forward
--config`` runs); the exporters (``nginx``, ``haproxy``, ``squid``) turn the same values
into the real programs' configuration. One file, one reading, several outputs: that is
how "the lab setup" and "the production setup" stay the same setup.

Key idea: the file is validated *here*, once, with messages that name the key, the line
and what is allowed (see ``reading``); filter rules are built with the library's own rule
classes (through ``parse_pattern``), so the file can express nothing the proxy cannot do.

The schema is ``EXAMPLE_FORWARD`` and ``EXAMPLE_REVERSE`` (complete, commented files; also
in ``examples/``). Rules are tried in the order of the file (first match wins, as Squid's
``http_access``), unlike ``--block``/``--allow`` on the command line.

Left out on purpose: several proxies in one file, authentication secrets (never put a
password in a file that is exported), access-log settings.

Layer 5 (an edge).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from proxylab.addresses import parse_host_port
from proxylab.errors import ConfigError
from proxylab.export.examples import EXAMPLE_FORWARD, EXAMPLE_REVERSE
from proxylab.export.reading import Section, load_toml
from proxylab.forward.access import ClientAccess
from proxylab.forward.filters import FilterPolicy
from proxylab.forward.patterns import parse_pattern
from proxylab.forward.privacy import SCRUBBABLE, PrivacyPolicy
from proxylab.forward.proxy import ForwardSettings
from proxylab.forward.rules import Rule
from proxylab.reverse.balancers import BALANCERS, Backend, Balancer, make_balancer
from proxylab.reverse.routes import ReverseSettings, Route

__all__ = [
    "EXAMPLE_FORWARD",
    "EXAMPLE_REVERSE",
    "ForwardConfig",
    "Health",
    "PoolConfig",
    "ReverseConfig",
    "Tls",
    "load_config",
]

T = TypeVar("T")

_PRIVACY = ("transparent", "anonymous", "elite")
_RULE_TARGETS = ("host", "path", "url_regex", "client", "pattern")
_SIZE_UNITS = {"B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3}


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


def load_config(path: str | Path) -> ForwardConfig | ReverseConfig:
    """Read and check a configuration file: exactly one ``[forward]`` or ``[reverse]``."""
    top = load_toml(path)
    kinds = [kind for kind in ("forward", "reverse") if top.has(kind)]
    if len(kinds) != 1:
        found = " and ".join(kinds) or "neither"
        raise top.error(
            None, f"the file needs exactly one [forward] or [reverse] table (found {found})."
        )
    section = top.table(kinds[0])
    assert section is not None  # noqa: S101 - has() said so
    top.finish("A file holds one [forward] or one [reverse] table.")
    name = Path(path).name
    return _forward(section, name) if kinds[0] == "forward" else _reverse(section, name)


# -- [forward] -----------------------------------------------------------------------------
def _forward(section: Section, source: str) -> ForwardConfig:
    listen = _listen(section, "listen", "127.0.0.1:3128")
    privacy = section.text("privacy", "anonymous", choices=_PRIVACY)
    scrub = tuple(name.lower() for name in section.texts("scrub"))
    for name in scrub:
        if name not in SCRUBBABLE:
            allowed = ", ".join(sorted(SCRUBBABLE))
            raise section.error("scrub", f"cannot scrub {name!r}; choose from: {allowed}.")
    default = section.text("default", "allow", choices=("allow", "deny"))
    ports = _ports(section)
    clients = section.texts("allow_clients", ("127.0.0.0/8", "::1/128"))
    _check(section, "allow_clients", lambda: ClientAccess(clients))
    cache_size, max_object = _cache(section.table("cache"))
    resolve = _resolve(section.table("resolve"))
    rules = tuple(_rule(rule) for rule in section.tables("rules"))
    section.finish("See `proxylab forward --help` for a complete example file.")
    return ForwardConfig(
        source, listen, privacy, scrub, rules, default, ports, clients, cache_size, max_object,
        resolve,
    )  # fmt: skip


def _ports(section: Section) -> tuple[int, ...]:
    value = section.raw("connect_ports", [443])
    if not isinstance(value, list) or not all(
        isinstance(p, int) and not isinstance(p, bool) and 0 < p < 65536 for p in value
    ):
        raise section.error(
            "connect_ports", "expected a list of ports from 1 to 65535, e.g. [443]."
        )
    return tuple(value)


def _cache(section: Section | None) -> tuple[int, int]:
    if section is None:
        return 64 * 1024**2, 1024**2
    size = _size(section, "size", 64 * 1024**2)
    largest = _size(section, "max_object_size", 1024**2)
    section.finish()
    return size, largest


def _size(section: Section, key: str, default: int) -> int:
    value = section.raw(key, default)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str):
        text = value.strip().upper().replace(" ", "")
        number = text.rstrip("KMGB")
        unit = text[len(number) :] or "B"
        if number.isdigit() and unit in _SIZE_UNITS:
            return int(number) * _SIZE_UNITS[unit]
    raise section.error(
        key, f'expected a size like "64MB", "512KB" or a number of bytes, not {value!r}.'
    )


def _resolve(section: Section | None) -> dict[str, tuple[str, int]]:
    if section is None:
        return {}
    mapping = {}
    for name in list(section.data):
        mapping[name.lower()] = _check(section, name, _host_port(str(section.text(name))))
    section.finish()
    return mapping


def _rule(section: Section) -> Rule:
    """One ``[[forward.rules]]`` table -> a Rule, via the command-line pattern language."""
    action = section.text("action", None, choices=("block", "allow"))
    if action is None:
        raise section.error(None, 'a rule needs action = "block" or "allow".')
    given = {key: section.raw(key) for key in _RULE_TARGETS if section.has(key)}
    clients, days, hours = section.texts("clients"), section.raw("days"), section.text("hours")
    for key in ("host", "path", "url_regex", "client", "pattern"):
        section.text(key)  # type check (and mark as known)
    section.finish()
    if "path" in given and "host" in given:
        given = {"path": f"{given.pop('host')}{given['path']}"}
    if len(given) != 1:
        raise section.error(
            None,
            "a rule needs exactly one of host, path (optionally with host), url_regex, "
            f"client or pattern; this one has {', '.join(given) or 'none'}.",
        )
    key, value = next(iter(given.items()))
    pattern = {"url_regex": "re:", "client": "client:"}.get(key, "") + str(value)
    window = _window(section, days, hours)
    if window:
        pattern += "@" + window
    if clients:
        pattern = f"client:{','.join(clients)} {pattern}"
    return _check(section, key, lambda: parse_pattern(pattern, action))


def _window(section: Section, days: object, hours: str | None) -> str:
    if isinstance(days, list) and all(isinstance(day, str) for day in days):
        days = ",".join(days)
    if days is not None and not isinstance(days, str):
        raise section.error("days", 'expected days like "mon-fri" or ["sat", "sun"].')
    return ",".join(part for part in (days, hours) if part)


# -- [reverse] -----------------------------------------------------------------------------
def _reverse(section: Section, source: str) -> ReverseConfig:
    listen = _listen(section, "listen", "127.0.0.1:8000")
    balancer = _balancer(section, "round-robin")
    hash_key = section.text("hash_key", "client-ip")
    _check(section, "hash_key", lambda: make_balancer("consistent-hash", key=hash_key))
    backends = tuple(_backend(section, "backends", item) for item in _list(section, "backends"))
    pools = [PoolConfig("/", backends, balancer, hash_key)] if backends else []
    for route in section.tables("routes"):
        pools.append(_route(route, balancer, hash_key, len(pools)))
    if not pools:
        raise section.error(None, 'give backends = ["127.0.0.1:9001", ...] or [[reverse.routes]].')
    health = _health(section.table("health"))
    sticky = section.flag("sticky")
    hide = tuple(name.lower() for name in section.texts("hide_headers", ("server", "x-powered-by")))
    forwarded = section.flag("forwarded_header")
    tls = _tls(section.table("tls"))
    section.finish("See `proxylab reverse --help` for a complete example file.")
    return ReverseConfig(source, listen, tuple(pools), health, sticky, hide, forwarded, tls)


def _balancer(section: Section, default: str) -> str:
    return str(section.text("balancer", default, choices=tuple(BALANCERS)))


def _list(section: Section, key: str) -> list[object]:
    value = section.raw(key, [])
    if not isinstance(value, list):
        raise section.error(key, 'expected a list, e.g. ["127.0.0.1:9001", "127.0.0.1:9002"].')
    return value


def _backend(section: Section, key: str, item: object) -> Backend:
    """``"127.0.0.1:9001"``, ``"127.0.0.1:9001=3"`` or ``{address = "...", weight = 3}``."""
    address, weight = item, 1
    if isinstance(item, dict):
        address, weight = item.get("address"), item.get("weight", 1)
        extra = sorted(set(item) - {"address", "weight"})
        if extra:
            raise section.error(
                key, f"unknown key {extra[0]!r} in a backend; allowed: address, weight."
            )
    elif isinstance(item, str) and "=" in item:
        address, _, weight_text = item.rpartition("=")
        weight = int(weight_text) if weight_text.isdigit() else -1
    if not isinstance(address, str) or isinstance(weight, bool) or not isinstance(weight, int):
        raise section.error(
            key,
            'a backend is "HOST:PORT", "HOST:PORT=WEIGHT" or '
            f'{{address = "HOST:PORT", weight = 3}}, not {item!r}.',
        )
    if weight < 1:
        raise section.error(
            key, f"backend {address!r}: the weight must be a whole number of at least 1."
        )
    host, port = _check(section, key, lambda: parse_host_port(address))
    return Backend(host, port, weight)


def _route(section: Section, balancer: str, hash_key: str, number: int) -> PoolConfig:
    prefix = section.text("prefix", "/")
    if not prefix.startswith("/"):
        raise section.error("prefix", f"a route prefix starts with '/', not {prefix!r}.")
    host = section.text("host")
    own = _balancer(section, balancer)
    key = section.text("hash_key", hash_key)
    backends = tuple(_backend(section, "backends", item) for item in _list(section, "backends"))
    if not backends:
        raise section.error("backends", 'a route needs backends = ["HOST:PORT", ...].')
    name = section.text("name", f"route{number}")
    section.finish()
    return PoolConfig(prefix, backends, own, key, host, name)


def _health(section: Section | None) -> Health:
    if section is None:
        return Health()
    path = section.text("path")
    if path is not None and not path.startswith("/"):
        raise section.error("path", f"a health-check path starts with '/', not {path!r}.")
    health = Health(
        path, section.number("interval", 2.0, minimum=0.1), section.whole("rise", 2, minimum=1),
        section.whole("fall", 3, minimum=1), section.whole("max_fails", 1, minimum=0),
        section.number("fail_timeout", 10.0, minimum=0.1),
    )  # fmt: skip
    section.finish()
    return health


def _tls(section: Section | None) -> Tls | None:
    if section is None:
        return None
    cert, key = section.text("cert"), section.text("key")
    self_signed = section.flag("self_signed")
    if bool(cert) != bool(key):
        raise section.error("cert" if cert is None else "key", "cert and key go together.")
    if self_signed == bool(cert):
        raise section.error(None, "give either cert and key, or self_signed = true (not both).")
    redirect = None
    if section.has("redirect_http"):
        redirect = _listen(section, "redirect_http", "")
    hsts = section.raw("hsts", False)
    if isinstance(hsts, bool):
        max_age = 31_536_000 if hsts else None
    elif isinstance(hsts, int) and hsts > 0:
        max_age = hsts
    else:
        raise section.error("hsts", "expected true, false or a max-age in seconds (31536000).")
    section.finish()
    return Tls(cert, key, self_signed, redirect, max_age)


# -- helpers -------------------------------------------------------------------------------
def _listen(section: Section, key: str, default: str) -> str:
    text = section.text(key, default)
    _check(section, key, lambda: parse_host_port(text))
    return str(text)


def _host_port(text: str) -> Callable[[], tuple[str, int]]:
    return lambda: parse_host_port(text)


def _check(section: Section, key: str, build: Callable[[], T]) -> T:
    """Run ``build``; a ``ConfigError`` from the library gets the file, line and key."""
    try:
        return build()
    except ConfigError as error:
        message = error.message.split("\nFilter patterns:")[0]
        raise section.error(key, message) from None
