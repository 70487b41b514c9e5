"""Reading a ``[forward]`` table: listen, privacy, scrub, rules, CONNECT ports, clients, cache.

Rules (``[[forward.rules]]``) are written with keys (``host``, ``path``, ``url_regex``,
``client`` or ``pattern``; optionally ``clients``, ``days``, ``hours``) and turned into the
command-line pattern language, then into ``Rule`` objects by ``parse_pattern``: one
parser for both spellings, so a file can say nothing the proxy cannot do, and a bad rule
gets the pattern parser's explanation with the file's line and key in front.

Layer 5 (an edge).
"""

from __future__ import annotations

from collections.abc import Callable

from proxylab.addresses import parse_host_port
from proxylab.export.model import ForwardConfig
from proxylab.export.reading import Section
from proxylab.forward.access import ClientAccess
from proxylab.forward.patterns import parse_pattern
from proxylab.forward.privacy import SCRUBBABLE
from proxylab.forward.rules import Rule

__all__ = ["read_forward"]

_PRIVACY = ("transparent", "anonymous", "elite")
_RULE_TARGETS = ("host", "path", "url_regex", "client", "pattern")
_SIZE_UNITS = {"B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3}


def read_forward(section: Section, source: str) -> ForwardConfig:
    """The ``[forward]`` table, checked key by key."""
    listen = section.address("listen", "127.0.0.1:3128")
    privacy = section.text("privacy", "anonymous", choices=_PRIVACY)
    scrub = tuple(name.lower() for name in section.texts("scrub"))
    for name in scrub:
        if name not in SCRUBBABLE:
            allowed = ", ".join(sorted(SCRUBBABLE))
            raise section.error("scrub", f"cannot scrub {name!r}; choose from: {allowed}.")
    default = section.text("default", "allow", choices=("allow", "deny"))
    ports = _ports(section)
    clients = section.texts("allow_clients", ("127.0.0.0/8", "::1/128"))
    section.check("allow_clients", lambda: ClientAccess(clients))
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
        mapping[name.lower()] = section.check(name, _host_port(str(section.text(name))))
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
    return section.check(key, lambda: parse_pattern(pattern, action))


def _window(section: Section, days: object, hours: str | None) -> str:
    if isinstance(days, list) and all(isinstance(day, str) for day in days):
        days = ",".join(days)
    if days is not None and not isinstance(days, str):
        raise section.error("days", 'expected days like "mon-fri" or ["sat", "sun"].')
    return ",".join(part for part in (days, hours) if part)


def _host_port(text: str) -> Callable[[], tuple[str, int]]:
    return lambda: parse_host_port(text)
