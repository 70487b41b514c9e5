"""The reverse proxy as an ``nginx.conf``: upstreams, locations, headers, TLS.

What: ``to_nginx(config)`` writes a complete nginx configuration (``nginx -t -c FILE``
accepts it) for a ``ReverseConfig``: one ``upstream`` block per pool, one ``location``
per route prefix, the forwarding headers, hidden backend headers, TLS, the HTTP to HTTPS
redirect and HSTS.

Key idea: most of proxylab's reverse proxy was modelled on nginx, so most settings are
one directive each (``weight=3``, ``least_conn``, ``random two least_conn``, ``hash
$remote_addr consistent``, ``max_fails``/``fail_timeout``, ``proxy_set_header``). What
open-source nginx lacks (active health checks, ``least_time``, ``sticky cookie``: all
nginx Plus) is said in a comment at that place and as a warning.

nginx picks the *longest* matching prefix ``location`` (as proxylab's ``RouteTable``), so
the order of the blocks does not matter. Directives from nginx.org/en/docs:
ngx_http_upstream_module, ngx_http_proxy_module, ngx_http_ssl_module,
ngx_http_headers_module.

Left out on purpose: the process-wide paths (``pid``, ``error_log``, temp dirs): the
packaged defaults apply, and ``nginx -g`` or ``-p`` can change them.

Layer 5 (an edge).
"""

from __future__ import annotations

from proxylab.export.model import PoolConfig, ReverseConfig
from proxylab.export.writer import Exported, Writer, split_address

__all__ = ["to_nginx"]

_BALANCE = {
    "weighted": None,  # nginx's default is this very algorithm
    "least-connections": "least_conn;",
    "random": "random;",
    "p2c": "random two least_conn;",
    "ip-hash": "ip_hash;",
}


def to_nginx(config: ReverseConfig) -> Exported:
    """The nginx.conf of a reverse-proxy configuration."""
    out = Writer("nginx", config.source)
    out.line("worker_processes auto;")
    out.open("events")
    out.line("worker_connections 1024;")
    out.close()
    out.line()
    out.open("http")
    out.line("server_tokens off;  # no version in nginx's own Server field")
    out.line("proxy_http_version 1.1;  # keep-alive to the backends")
    out.line('proxy_set_header Connection "";')
    _forwarding_headers(out, config)
    _hidden_headers(out, config)
    out.line("proxy_connect_timeout 5s;")
    out.line("proxy_read_timeout 30s;")
    out.line("proxy_next_upstream error timeout;  # retry elsewhere; never POST (nginx >= 1.9.13)")
    if config.sticky:
        out.cannot(
            "sticky sessions (sticky cookie) are nginx Plus only; "
            "`hash $cookie_NAME consistent;` is the open-source way."
        )
    for pool in config.pools:
        out.line()
        _upstream(out, pool, config)
    for host in dict.fromkeys(pool.host for pool in config.pools):
        out.line()
        _server(out, config, host)
    if config.tls is not None and config.tls.redirect_http:
        out.line()
        _redirect(out, config)
    out.close()
    return out.result()


def _forwarding_headers(out: Writer, config: ReverseConfig) -> None:
    out.comment("what the kitchens learn about the guest (proxylab trusts no client-sent XFF)")
    out.line("proxy_set_header Host $http_host;")
    out.line("proxy_set_header X-Forwarded-For $remote_addr;")
    out.line("proxy_set_header X-Forwarded-Proto $scheme;")
    out.line("proxy_set_header X-Forwarded-Host $http_host;")
    if config.forwarded_header:
        out.line(
            'proxy_set_header Forwarded "for=$remote_addr;proto=$scheme;host=\\"$http_host\\"";'
        )


def _hidden_headers(out: Writer, config: ReverseConfig) -> None:
    for name in config.hide_headers:
        if name == "server":
            out.comment(
                "the backends' Server is hidden by default; nginx sends its own `Server: nginx`"
            )
        else:
            out.line(f"proxy_hide_header {_title(name)};")


def _upstream(out: Writer, pool: PoolConfig, config: ReverseConfig) -> None:
    out.open(f"upstream {_pool_name(pool)}")
    out.line(f"zone {_pool_name(pool)} 64k;  # one balancer state for all workers, as proxylab")
    weights = pool.balancer != "round-robin"
    _balance(out, pool)
    if config.health.path is not None:
        out.cannot(
            f"active health checks (GET {config.health.path} every {config.health.interval:g}s) "
            "are nginx Plus only; passive checks (max_fails, fail_timeout) stand in."
        )
    health = f" max_fails={config.health.max_fails} fail_timeout={config.health.fail_timeout:g}s"
    for backend in pool.backends:
        weight = f" weight={backend.weight}" if weights and backend.weight > 1 else ""
        out.line(f"server {backend.host}:{backend.port}{weight}{health};")
    out.line("keepalive 64;")
    out.close()


def _balance(out: Writer, pool: PoolConfig) -> None:
    name = pool.balancer
    if name == "round-robin":
        out.comment("round-robin: proxylab's ignores weights, so no weight= here")
    elif name == "consistent-hash":
        out.line(f"hash {_hash_variable(pool.hash_key)} consistent;")
    elif name == "least-latency":
        out.cannot("least-latency needs nginx Plus (least_time); least_conn is the nearest.")
        out.line("least_conn;")
    elif _BALANCE[name] is not None:
        out.line(str(_BALANCE[name]))
    else:
        out.comment("smooth weighted round robin: nginx's default, the same algorithm")


def _hash_variable(key: str) -> str:
    if key == "client-ip":
        return "$remote_addr"
    if key == "path":
        return "$uri"
    kind, _, name = key.partition(":")
    variable = name.strip().lower().replace("-", "_")
    return f"$http_{variable}" if kind == "header" else f"$cookie_{variable}"


def _server(out: Writer, config: ReverseConfig, host: str | None) -> None:
    out.open("server")
    address, port = split_address(config.listen)
    ssl = " ssl" if config.tls is not None else ""
    out.line(f"listen {_listen(address, port)}{ssl};")
    out.line(f"server_name {host};" if host else 'server_name "";  # any host')
    if config.tls is not None:
        _tls(out, config)
    for pool in sorted((p for p in config.pools if p.host == host), key=lambda p: -len(p.prefix)):
        out.open(f"location {pool.prefix}")
        out.line(f"proxy_pass http://{_pool_name(pool)};")
        out.close()
    out.close()


def _tls(out: Writer, config: ReverseConfig) -> None:
    tls = config.tls
    assert tls is not None  # noqa: S101 - the caller checked
    if tls.self_signed:
        out.cannot("self_signed: give nginx a real certificate; these paths are placeholders.")
    out.line(f"ssl_certificate {tls.cert or 'lab-cert.pem'};")
    out.line(f"ssl_certificate_key {tls.key or 'lab-key.pem'};")
    out.line("ssl_protocols TLSv1.2 TLSv1.3;")
    if tls.hsts_max_age is not None:
        out.line(f'add_header Strict-Transport-Security "max-age={tls.hsts_max_age}" always;')


def _redirect(out: Writer, config: ReverseConfig) -> None:
    tls = config.tls
    assert tls is not None and tls.redirect_http is not None  # noqa: S101
    address, port = split_address(tls.redirect_http)
    https_port = split_address(config.listen)[1]
    suffix = "" if https_port == 443 else f":{https_port}"
    out.open("server")
    out.comment("plain HTTP: send the guest to HTTPS (301; 308 for other methods in proxylab)")
    out.line(f"listen {_listen(address, port)};")
    out.line(f"return 301 https://$host{suffix}$request_uri;")
    out.close()


def _listen(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _pool_name(pool: PoolConfig) -> str:
    return "pool_" + "".join(c if c.isalnum() else "_" for c in pool.name)


def _title(name: str) -> str:
    return "-".join(part.capitalize() for part in name.split("-"))
