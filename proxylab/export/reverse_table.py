"""Reading a ``[reverse]`` table: listen, backends, balancer, routes, health, TLS, headers.

Backends are ``"HOST:PORT"``, ``"HOST:PORT=WEIGHT"`` or ``{address = ..., weight = ...}``;
the top-level ``backends`` are the ``/`` pool, each ``[[reverse.routes]]`` another pool
with its own prefix (and host, balancer, hash key). Sizes of time accept ``2`` or ``"2s"``.

Layer 5 (an edge).
"""

from __future__ import annotations

from proxylab.addresses import parse_host_port
from proxylab.export.model import Health, PoolConfig, ReverseConfig, Tls
from proxylab.export.reading import Section
from proxylab.reverse.balancers import BALANCERS, Backend, make_balancer

__all__ = ["read_reverse"]


def read_reverse(section: Section, source: str) -> ReverseConfig:
    """The ``[reverse]`` table, checked key by key."""
    listen = section.address("listen", "127.0.0.1:8000")
    balancer = _balancer(section, "round-robin")
    hash_key = section.text("hash_key", "client-ip")
    section.check("hash_key", lambda: make_balancer("consistent-hash", key=hash_key))
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
    host, port = section.check(key, lambda: parse_host_port(address))
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
        redirect = section.address("redirect_http", "")
    hsts = section.raw("hsts", False)
    if isinstance(hsts, bool):
        max_age = 31_536_000 if hsts else None
    elif isinstance(hsts, int) and hsts > 0:
        max_age = hsts
    else:
        raise section.error("hsts", "expected true, false or a max-age in seconds (31536000).")
    section.finish()
    return Tls(cert, key, self_signed, redirect, max_age)
