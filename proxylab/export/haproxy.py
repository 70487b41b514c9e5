"""The reverse proxy as an ``haproxy.cfg``: a frontend, one backend per pool, checks.

What: ``to_haproxy(config)`` writes a complete HAProxy configuration (``haproxy -c -f
FILE`` accepts it) for a ``ReverseConfig``: ``frontend`` with ``bind`` (``ssl crt`` for
TLS), routing by ``acl ... path_beg`` / ``hdr(host)`` and ``use_backend``, the forwarding
headers (``option forwardfor``, ``http-request set-header``), and a ``backend`` per pool
with its ``balance`` and ``server ... weight N check inter 2s rise 2 fall 3``.

Key idea: HAProxy tries ``use_backend`` rules in order, first match wins; proxylab's
route table is sorted so that first match is best match (host routes first, longer
prefixes first), so writing the rules in that order gives the same routing.

Choices where the two differ (each is a comment in the file and a warning):
- ``p2c`` is ``balance random(2)``: HAProxy's power-of-two-choices (two random servers,
  the one with fewer connections wins), the same idea as proxylab's.
- ``least-latency`` has no HAProxy balance algorithm; ``leastconn`` is the nearest (a slow
  server holds its connections longer, so it gets fewer new ones).
- ``round-robin`` in proxylab ignores weights; every server is written with weight 1.
- HAProxy wants the certificate and its key in ONE PEM file (``crt``); give the
  concatenation of ``cert`` and ``key`` (or a ``.key`` file next to it, HAProxy >= 2.2).

Directives from docs.haproxy.org (configuration manual, 2.6): balance, hash-type,
option httpchk, server check/inter/rise/fall, option forwardfor, http-request
set-header/redirect, http-response del-header/set-header, cookie.

Layer 5 (an edge).
"""

from __future__ import annotations

from proxylab.export.model import PoolConfig, ReverseConfig
from proxylab.export.writer import Exported, Writer

__all__ = ["to_haproxy"]

_BALANCE = {
    "round-robin": "roundrobin",
    "weighted": "roundrobin",
    "least-connections": "leastconn",
    "random": "random",
    "p2c": "random(2)",
    "ip-hash": "source",
    "least-latency": "leastconn",
}


def to_haproxy(config: ReverseConfig) -> Exported:
    """The haproxy.cfg of a reverse-proxy configuration."""
    out = Writer("haproxy", config.source)
    _global(out)
    _frontend(out, config)
    for pool in config.pools:
        out.line()
        _backend(out, pool, config)
    return out.result()


def _global(out: Writer) -> None:
    out.line("global")
    out.depth = 1
    out.line("maxconn 1024")
    out.depth = 0
    out.line()
    out.line("defaults")
    out.depth = 1
    for line in ("mode http", "option http-keep-alive", "timeout connect 5s",
                 "timeout client 30s", "timeout server 30s", "timeout http-request 10s",
                 "retries 1", "option redispatch"):  # fmt: skip
        out.line(line)
    out.depth = 0
    out.line()


def _frontend(out: Writer, config: ReverseConfig) -> None:
    out.line("frontend proxylab")
    out.depth = 1
    tls = config.tls
    if tls is not None:
        if tls.self_signed:
            out.cannot("self_signed: give HAProxy a real certificate; this path is a placeholder.")
        out.comment("crt: the certificate chain AND its private key in one PEM file")
        if tls.key:
            out.comment(f"(append {tls.key} to it, or name the key file <crt>.key: HAProxy >= 2.2)")
        out.line(f"bind {config.listen} ssl crt {tls.cert or 'lab-cert.pem'}")
        if tls.redirect_http:
            out.line(f"bind {tls.redirect_http}")
            _redirect(out, config)
        if tls.hsts_max_age is not None:
            out.line(
                f'http-response set-header Strict-Transport-Security "max-age={tls.hsts_max_age}"'
            )
    else:
        out.line(f"bind {config.listen}")
    out.comment("what the kitchens learn about the guest (client-sent XFF is replaced)")
    out.line("http-request del-header X-Forwarded-For")
    out.line("option forwardfor")
    out.line("http-request set-header X-Forwarded-Proto https if { ssl_fc }")
    out.line("http-request set-header X-Forwarded-Proto http if !{ ssl_fc }")
    out.line("http-request set-header X-Forwarded-Host %[req.hdr(host)]")
    if config.forwarded_header:
        out.comment("RFC 7239 Forwarded (HAProxy >= 2.7 also has `option forwarded`)")
        out.line(
            "http-request set-header Forwarded "
            '"for=%[src];proto=%[ssl_fc,iif(https,http)];host=\\"%[req.hdr(host)]\\""'
        )
    for name in config.hide_headers:
        out.line(f"http-response del-header {_title(name)}")
    _routing(out, config)
    out.depth = 0


def _redirect(out: Writer, config: ReverseConfig) -> None:
    port = config.listen.rpartition(":")[2]
    suffix = "" if port == "443" else f":{port}"
    out.comment("plain HTTP: send the guest to HTTPS (proxylab: 301 for GET/HEAD, else 308)")
    out.line(
        f"http-request redirect prefix https://%[req.hdr(host),field(1,:)]{suffix} "
        "code 301 unless { ssl_fc }"
    )


def _routing(out: Writer, config: ReverseConfig) -> None:
    """``use_backend`` rules in proxylab's order: host routes first, longer prefixes first."""
    ordered = sorted(config.pools, key=lambda p: (p.host is None, -len(p.prefix)))
    default = None
    for pool in ordered:
        conditions = []
        if pool.host is not None:
            conditions.append(f"{{ hdr(host),field(1,:) -i {pool.host} }}")
        if pool.prefix != "/":
            conditions.append(f"{{ path_beg {pool.prefix} }}")
        if not conditions:
            default = pool
            break
        out.line(f"use_backend {_name(pool)} if {' '.join(conditions)}")
    if default is not None:
        out.line(f"default_backend {_name(default)}")


def _backend(out: Writer, pool: PoolConfig, config: ReverseConfig) -> None:
    out.line(f"backend {_name(pool)}")
    out.depth = 1
    _balance(out, pool)
    health = config.health
    check = ""
    if health.path is not None:
        out.line(f"option httpchk GET {health.path}")
        check = f" check inter {health.interval:g}s rise {health.rise} fall {health.fall}"
    else:
        out.comment(
            f"passive checks: {health.max_fails} failure(s) in {health.fail_timeout:g}s "
            "mark a server down"
        )
        check = f" check observe layer7 error-limit {max(1, health.max_fails)} on-error mark-down"
        check += f" inter {health.fail_timeout:g}s"
    if config.sticky:
        out.line("cookie proxylab_backend insert indirect nocache")
    for number, backend in enumerate(pool.backends, 1):
        weight = backend.weight if pool.balancer != "round-robin" else 1
        cookie = f" cookie s{number}" if config.sticky else ""
        out.line(f"server s{number} {backend.host}:{backend.port} weight {weight}{check}{cookie}")
    out.depth = 0


def _balance(out: Writer, pool: PoolConfig) -> None:
    name = pool.balancer
    if name == "consistent-hash":
        out.line(f"balance {_hash_expression(pool.hash_key)}")
        out.line("hash-type consistent")
        return
    if name == "p2c":
        out.comment("random(2) is HAProxy's power of two choices: the less busy of two draws")
    elif name == "least-latency":
        out.cannot("HAProxy has no least-latency balance; leastconn is the nearest.")
    elif name == "round-robin":
        out.comment("round-robin: proxylab's ignores weights, so every weight is 1 here")
    elif name == "ip-hash":
        out.line("hash-type map-based  # source: a hash of the client address")
    out.line(f"balance {_BALANCE[name]}")


def _hash_expression(key: str) -> str:
    if key == "client-ip":
        return "source"
    if key == "path":
        return "uri path-only"
    kind, _, name = key.partition(":")
    return f"hdr({name.strip()})" if kind == "header" else f"hash req.cook({name.strip()})"


def _name(pool: PoolConfig) -> str:
    return "pool_" + "".join(c if c.isalnum() else "_" for c in pool.name)


def _title(name: str) -> str:
    return "-".join(part.capitalize() for part in name.split("-"))
