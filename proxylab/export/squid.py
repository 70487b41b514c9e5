"""The forward proxy as a ``squid.conf``: acl lines, http_access in rule order, privacy.

What: ``to_squid(config)`` writes a Squid configuration (``squid -k parse -f FILE``
accepts it) for a ``ForwardConfig``.

Key idea: Squid and proxylab filter the same way. An ``acl`` names a condition (``acl r2
dstdomain .social.test``); ``http_access allow|deny`` lines are tried in order and the
first whose acls ALL match decides, so each proxylab rule becomes one ``http_access``
line (two for a time window that crosses midnight), in the file's order, with the
default last. How each rule kind is written:

  ==================  ===============================================================
  proxylab rule       Squid
  ==================  ===============================================================
  host news.test      ``dstdomain news.test``
  *.social.test       ``dstdomain .social.test`` (the domain and every subdomain)
  path /ads           ``urlpath_regex ^/ads([/?;#]|$)`` (a segment boundary, as proxylab)
  url_regex           ``url_regex`` (POSIX extended; Python-only syntax is reported)
  client network      ``src 10.1.0.0/16``
  time window         ``time MTWHF 08:00-15:59`` (S M T W H F A = Sunday .. Saturday)
  ==================  ===============================================================

Privacy levels: transparent = ``forwarded_for on`` + ``via on``; anonymous =
``forwarded_for delete`` + ``via on``; elite = ``forwarded_for delete`` + ``via off``;
client-address fields and scrubbed fields are ``request_header_access NAME deny all``.

Directives from squid-cache.org/Doc/config: acl, http_access, http_port, forwarded_for,
via, request_header_access, cache_mem, maximum_object_size(_in_memory).

Left out on purpose: ``cache_dir`` (the memory cache only, as proxylab), the resolve map
(Squid asks DNS or ``hosts_file``), users and authentication.

Layer 5 (an edge).
"""

from __future__ import annotations

import re
from datetime import time

from proxylab.export.model import ForwardConfig
from proxylab.export.writer import Exported, Writer
from proxylab.forward.privacy import CLIENT_IP_HEADERS
from proxylab.forward.rules import (
    AnyRequest,
    ClientNetworkRule,
    ForClients,
    HostRule,
    PathPrefixRule,
    Rule,
    TimeWindowRule,
    UrlRegexRule,
    WildcardHostRule,
)

__all__ = ["to_squid"]

#: Squid's day letters, in ``datetime.weekday()`` order (Monday first)
_DAY_LETTERS = "MTWHFAS"
#: regex syntax Python has and POSIX extended regexes (Squid) do not
_PYTHON_ONLY = re.compile(r"\\[dDwWsSbB]|\(\?|\*\?|\+\?|\?\?")


def to_squid(config: ForwardConfig) -> Exported:
    """The squid.conf of a forward-proxy configuration."""
    out = Writer("squid", config.source)
    out.line(f"http_port {config.listen}")
    out.line("visible_hostname proxylab-squid")
    out.line()
    _access(out, config)
    out.line()
    _privacy(out, config)
    out.line()
    _cache(out, config)
    if config.resolve:
        out.cannot(
            "resolve: Squid asks DNS; put these names in a hosts_file: "
            + ", ".join(f"{name}={host}:{port}" for name, (host, port) in config.resolve.items())
        )
    return out.result()


def _access(out: Writer, config: ForwardConfig) -> None:
    ports = " ".join(str(port) for port in config.connect_ports)
    out.comment("CONNECT (HTTPS tunnels) only to these ports, as proxylab's connect_ports")
    out.line(f"acl SSL_ports port {ports}")
    out.line("acl CONNECT method CONNECT")
    out.line(f"acl clients src {' '.join(config.allow_clients)}")
    out.line("http_access deny CONNECT !SSL_ports")
    out.line("http_access deny !clients")
    out.comment("the rules, in the file's order: the first matching line decides")
    for number, rule in enumerate(config.rules, 1):
        _rule(out, rule, f"r{number}")
    out.comment("no rule matched: the default")
    out.line(f"http_access {'deny' if config.default == 'deny' else 'allow'} all")


def _rule(out: Writer, rule: Rule, name: str) -> None:
    """One rule -> its acl lines and one (or two) http_access lines."""
    out.comment(f"rule {name[1:]}: {rule.action} {rule.describe()}")
    verb = "allow" if rule.action == "allow" else "deny"
    clients: list[str] = []
    if isinstance(rule, ForClients):
        out.line(f"acl {name}_clients src {' '.join(rule.networks)}")
        clients, rule = [f"{name}_clients"], rule.inner
    windows: list[list[str]] = [[]]
    if isinstance(rule, TimeWindowRule):
        windows = _windows(out, rule, name)
        rule = AnyRequest(rule.action) if rule.inner is None else rule.inner
    target = _target(out, rule, name)
    if target is None:
        return
    for window in windows:
        out.line(" ".join(["http_access", verb, *clients, *target, *window]))


def _target(out: Writer, rule: Rule, name: str) -> list[str] | None:
    """The acl names of the rule's condition, or None (with a note) if Squid lacks it."""
    if isinstance(rule, AnyRequest):
        return ["all"]
    if isinstance(rule, HostRule):
        out.line(f"acl {name} dstdomain {rule.host}")
    elif isinstance(rule, WildcardHostRule):
        out.line(f"acl {name} dstdomain .{rule.domain}")
    elif isinstance(rule, UrlRegexRule):
        if _PYTHON_ONLY.search(rule.pattern):
            out.cannot(f"{rule.pattern!r} uses Python-only regex syntax; check it for Squid.")
        out.line(f"acl {name} url_regex {rule.pattern}")
    elif isinstance(rule, PathPrefixRule):
        return _path(out, rule, name)
    elif isinstance(rule, ClientNetworkRule):
        out.line(f"acl {name} src {rule.network}")
    else:
        out.cannot(f"rule {rule.describe()!r} ({type(rule).__name__}) has no Squid acl; skipped.")
        return None
    return [name]


def _path(out: Writer, rule: PathPrefixRule, name: str) -> list[str]:
    prefix = re.escape(rule.prefix).replace("\\/", "/")
    tail = "" if rule.prefix.endswith("/") else "([/?;#]|$)"
    out.line(f"acl {name} urlpath_regex ^{prefix}{tail}")
    if rule.host is None:
        return [name]
    host = rule.host.removeprefix("*")  # "*.news.test" -> ".news.test"
    out.line(f"acl {name}_host dstdomain {host}")
    return [f"{name}_host", name]


def _windows(out: Writer, rule: TimeWindowRule, name: str) -> list[list[str]]:
    """``time`` acls; a window across midnight is two: until midnight, then the next morning.

    Squid includes the end minute (its TimeData matches ``start <= now <= stop``) where
    proxylab excludes it, so the acl ends one minute earlier: 08:00-16:00 is 08:00-15:59.
    """
    days = sorted(rule.days) if rule.days is not None else list(range(7))
    midnight = time(0)
    if rule.start == rule.end:
        spans = [(days, midnight, midnight)]
    elif rule.start < rule.end:
        spans = [(days, rule.start, rule.end)]
    else:
        spans = [(days, rule.start, midnight), ([(d + 1) % 7 for d in days], midnight, rule.end)]
    result = []
    for number, (span_days, start, end) in enumerate(spans, 1):
        letters = "".join(_DAY_LETTERS[d] for d in sorted(set(span_days)))
        acl = f"{name}_time{number if len(spans) > 1 else ''}"
        out.line(f"acl {acl} time {letters} {start:%H:%M}-{_minute_before(end)}")
        result.append([acl])
    return result


def _minute_before(end: time) -> str:
    """The last minute inside a window that ends (excluded) at ``end``; midnight -> 23:59."""
    minutes = (end.hour * 60 + end.minute - 1) % (24 * 60)
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _privacy(out: Writer, config: ForwardConfig) -> None:
    level = config.privacy
    out.comment(f"privacy: {level}")
    out.line(f"forwarded_for {'on' if level == 'transparent' else 'delete'}")
    out.line(f"via {'off' if level == 'elite' else 'on'}")
    hidden = [] if level == "transparent" else sorted(CLIENT_IP_HEADERS - {"x-forwarded-for"})
    for header in hidden + sorted(config.scrub):
        out.line(f"request_header_access {_title(header)} deny all")
    if level == "elite":
        _elite(out)


#: proxy traces proxylab's elite level removes that Squid's forwarded_for and via do not
_PROXY_TRACES = ("X-Proxy-Id", "X-Bluecoat-Via", "X-Forwarded-Host", "X-Forwarded-Proto",
                 "X-Forwarded-Port", "X-Forwarded-Server")  # fmt: skip


def _elite(out: Writer) -> None:
    """No proxy trace at all: what the elite level removes beyond Via and X-Forwarded-For."""
    for header in _PROXY_TRACES:
        out.line(f"request_header_access {header} deny all")
    out.cannot(
        "elite removes every X-Forwarded-* and X-Proxy-* field; Squid matches names "
        "exactly, so only the common ones are listed above."
    )
    out.line("reply_header_access Via deny all")
    out.line("reply_header_access X-Cache deny all")
    out.line("reply_header_access X-Cache-Lookup deny all")


def _cache(out: Writer, config: ForwardConfig) -> None:
    if config.cache_size == 0:
        out.comment("cache off")
        out.line("cache deny all")
        return
    out.comment("memory cache only, as proxylab (no cache_dir)")
    out.line(f"cache_mem {_size(config.cache_size)}")
    out.line(f"maximum_object_size {_size(config.max_object_size)}")
    out.line(f"maximum_object_size_in_memory {_size(config.max_object_size)}")


def _size(size: int) -> str:
    for unit, factor in (("MB", 1024**2), ("KB", 1024)):
        if size >= factor and size % factor == 0:
            return f"{size // factor} {unit}"
    return f"{size} bytes"


def _title(name: str) -> str:
    return "-".join(part.capitalize() for part in name.split("-"))
