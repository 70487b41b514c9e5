"""Filter rules: the conditions a forward proxy tests a request against, and its decisions.

A rule is a small object with one main method, ``matches(req, now)``, and an action,
"block" or "allow". Subclass ``Rule`` to write your own. A decision is a value,
``Allow(rule)`` or ``Block(rule, reason)``, so the proxy, the log and the block page all
see the same thing. ``FilterPolicy`` (in ``filters``) walks the rules in order.

Key ideas:
- Expensive work happens once, when rules are built: regexes compiled, networks parsed,
  names lower-cased. Per request, ``FilterRequest`` normalises the host once, and parses
  the client address and builds the URL only if some rule asks, once for all rules.
- Rules see only what a proxy sees. For CONNECT (HTTPS) that is the host and port: the
  path travels inside the encrypted tunnel, so path rules cannot match it (its path is "").

Sources: Squid's acl types (dstdomain, url_regex, urlpath_regex, src, time); RFC 3986 (the
parts of a URL).

Layer 2: a pure policy (imports ``errors``, ``addresses`` and ``http.messages``).
"""

from __future__ import annotations

import abc
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time
from typing import Literal, TypeAlias

from proxylab.addresses import Address, Network, parse_ip, parse_networks
from proxylab.errors import ConfigError
from proxylab.http.messages import Target

__all__ = [
    "DAYS",
    "Action",
    "Allow",
    "AnyRequest",
    "Block",
    "ClientNetworkRule",
    "Decision",
    "FilterRequest",
    "ForClients",
    "HostRule",
    "PathPrefixRule",
    "Rule",
    "TimeWindowRule",
    "UrlRegexRule",
    "WildcardHostRule",
    "check_action",
    "decision_of",
]

#: Day names in ``datetime.weekday()`` order (0 = Monday), as time windows spell them.
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HOST_RE = re.compile(r"[a-z0-9_-]+(?:\.[a-z0-9_-]+)*|[0-9a-f.]*:[0-9a-f.]*:[0-9a-f:.]*")

Action: TypeAlias = Literal["block", "allow"]


def _host(text: str) -> str:
    """The form every host comparison uses: lower case, no brackets, no trailing dot."""
    return text.strip().lower().strip("[]").rstrip(".")


def _host_pattern(text: str) -> str:
    """A validated host for a rule (a name, an IPv4 or an IPv6 address)."""
    host = _host(text)
    if not _HOST_RE.fullmatch(host):
        raise ConfigError(f"{text!r} is not a host name like news.test.")
    return host


@dataclass(frozen=True, slots=True)
class FilterRequest:
    """What a rule may look at: who asks, how, and for which URL.

    ``host`` is stored normalised (lower case, no brackets or trailing dot). The client
    address and the URL are worked out on first use and kept, so no rule repeats the work
    and a policy without client or URL rules never pays for them.
    """

    client_ip: str
    method: str
    host: str
    port: int
    path: str
    scheme: str = "http"
    _url: str = field(default="", init=False, repr=False, compare=False)
    _address: Address | None = field(default=None, init=False, repr=False, compare=False)
    _parsed: bool = field(default=False, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "host", _host(self.host))

    @classmethod
    def from_target(cls, client_ip: str, method: str, target: Target) -> FilterRequest:
        """Build from a parsed request target (see ``messages.parse_target``)."""
        return cls(client_ip, method, target.host, target.port, target.path, target.scheme)

    @property
    def url(self) -> str:
        """The absolute URL, e.g. ``http://news.test/sports`` (default port left out)."""
        if not self._url:
            host = f"[{self.host}]" if ":" in self.host else self.host
            default = 443 if self.scheme == "https" else 80
            authority = host if self.port == default else f"{host}:{self.port}"
            object.__setattr__(self, "_url", f"{self.scheme}://{authority}{self.path}")
        return self._url

    @property
    def client_address(self) -> Address | None:
        """``client_ip`` parsed (IPv4-mapped IPv6 unwrapped), or None if it is no address."""
        if not self._parsed:
            object.__setattr__(self, "_address", parse_ip(self.client_ip))
            object.__setattr__(self, "_parsed", True)
        return self._address


class Rule(abc.ABC):
    """A filter rule: a condition (``matches``) and what to do when it holds (``action``).

    To write one, subclass and implement ``matches``; override ``describe`` so the block
    page can name your rule. ``matches`` must not change anything: it is called on every
    request, from many threads.
    """

    __slots__ = ()
    action: Action = "block"

    @abc.abstractmethod
    def matches(self, req: FilterRequest, now: datetime) -> bool:
        """Whether this rule applies to ``req`` at time ``now``."""

    def describe(self) -> str:
        """A short text for logs and the block page (the pattern, where there is one)."""
        return type(self).__name__

    @property
    def name(self) -> str:
        """Same as ``describe()``: how people refer to the rule."""
        return self.describe()


def check_action(action: str) -> None:
    if action not in ("block", "allow"):
        raise ConfigError(f"A rule's action is 'block' or 'allow', not {action!r}.")


@dataclass(frozen=True, slots=True)
class AnyRequest(Rule):
    """Matches every request: a catch-all, or the inner rule of a time window."""

    action: Action = "block"
    label: str = "*"

    def matches(self, req: FilterRequest, now: datetime) -> bool:
        return True

    def describe(self) -> str:
        return self.label


@dataclass(frozen=True, slots=True)
class HostRule(Rule):
    """Exactly one host (Squid ``dstdomain news.test``); case and a trailing dot ignored."""

    host: str
    action: Action = "block"

    def __post_init__(self) -> None:
        check_action(self.action)
        object.__setattr__(self, "host", _host_pattern(self.host))

    def matches(self, req: FilterRequest, now: datetime) -> bool:
        return req.host == self.host

    def describe(self) -> str:
        return self.host


@dataclass(frozen=True, slots=True)
class WildcardHostRule(Rule):
    """A domain AND all its subdomains: ``*.social.test`` matches ``social.test`` too.

    Matching the bare domain is a choice, the same as Squid's ``.social.test``: people
    who write ``*.social.test`` mean "the social site", and it usually lives at both
    names. ``domain`` may be written ``*.social.test``, ``.social.test`` or ``social.test``.
    """

    domain: str
    action: Action = "block"
    _suffix: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        check_action(self.action)
        text = self.domain.strip()
        domain = _host_pattern(text[2:] if text.startswith("*.") else text.removeprefix("."))
        object.__setattr__(self, "domain", domain)
        object.__setattr__(self, "_suffix", "." + domain)

    def matches(self, req: FilterRequest, now: datetime) -> bool:
        return req.host == self.domain or req.host.endswith(self._suffix)

    def describe(self) -> str:
        return "*." + self.domain


@dataclass(frozen=True, slots=True)
class UrlRegexRule(Rule):
    """A regular expression searched anywhere in the full URL (Squid ``url_regex``)."""

    pattern: str
    action: Action = "block"
    _regex: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        check_action(self.action)
        try:
            object.__setattr__(self, "_regex", re.compile(self.pattern))
        except re.error as exc:
            raise ConfigError(f"Bad regular expression {self.pattern!r}: {exc}.") from None

    def matches(self, req: FilterRequest, now: datetime) -> bool:
        return self._regex.search(req.url) is not None

    def describe(self) -> str:
        return "re:" + self.pattern


@dataclass(frozen=True, slots=True)
class PathPrefixRule(Rule):
    """Paths under ``prefix``, on any host or on ``host`` (which may be ``*.domain``).

    The prefix ends at a segment boundary: ``/ads`` matches ``/ads``, ``/ads/x`` and
    ``/ads?q`` but not ``/adsense``. Paths are compared case-sensitively (RFC 3986 6.2.2.1).
    """

    prefix: str
    host: str | None = None
    action: Action = "block"
    _host_rule: Rule | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        check_action(self.action)
        if not self.prefix.startswith("/"):
            raise ConfigError(f"A path prefix starts with '/', not {self.prefix!r}.")
        host_rule: Rule | None = None
        if self.host is not None:
            wild = self.host.strip().startswith(("*", "."))
            host_rule = WildcardHostRule(self.host) if wild else HostRule(self.host)
            object.__setattr__(self, "host", host_rule.describe())
        object.__setattr__(self, "_host_rule", host_rule)

    def matches(self, req: FilterRequest, now: datetime) -> bool:
        path, prefix = req.path, self.prefix
        if not path.startswith(prefix):
            return False
        if len(path) > len(prefix) and prefix[-1] != "/" and path[len(prefix)] not in "/?;#":
            return False
        return self._host_rule is None or self._host_rule.matches(req, now)

    def describe(self) -> str:
        return (self._host_rule.describe() if self._host_rule else "") + self.prefix


@dataclass(frozen=True, slots=True)
class ClientNetworkRule(Rule):
    """Requests from one client address or network (Squid ``src``), IPv4 or IPv6."""

    network: str
    action: Action = "block"
    _network: Network = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        check_action(self.action)
        network = parse_networks(self.network, at_least_one=True)[0]
        object.__setattr__(self, "network", str(network))
        object.__setattr__(self, "_network", network)

    def matches(self, req: FilterRequest, now: datetime) -> bool:
        address = req.client_address
        return address is not None and address in self._network

    def describe(self) -> str:
        return f"client:{self.network}"


@dataclass(frozen=True, slots=True)
class ForClients(Rule):
    """``inner``, but only for clients in ``networks``: per-client policy.

    ``ForClients(["10.1.0.0/16"], WildcardHostRule("*.social.test"))`` blocks the social
    site for students while teachers (another network) pass. The action is ``inner``'s.
    """

    networks: Sequence[str]
    inner: Rule
    action: Action = field(init=False)
    _parsed: tuple[Network, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        parsed = parse_networks(self.networks, at_least_one=True)
        object.__setattr__(self, "networks", tuple(str(net) for net in parsed))
        object.__setattr__(self, "_parsed", parsed)
        object.__setattr__(self, "action", self.inner.action)

    def matches(self, req: FilterRequest, now: datetime) -> bool:
        address = req.client_address
        if address is None or not any(address in net for net in self._parsed):
            return False
        return self.inner.matches(req, now)

    def describe(self) -> str:
        return f"client:{','.join(self.networks)} {self.inner.describe()}"


@dataclass(frozen=True, slots=True)
class TimeWindowRule(Rule):
    """``inner`` (or any request), but only from ``start`` until ``end`` on ``days``.

    ``end`` is excluded; ``start == end`` means all day. A window that crosses midnight
    (22:00-06:00) belongs to the day it starts on: Friday's window covers Saturday 02:00.
    ``days`` are ``datetime.weekday()`` numbers (0 = Monday); None means every day. The
    action is ``inner``'s, or "block" without one (use ``inner=AnyRequest("allow")``).
    """

    start: time
    end: time
    days: Collection[int] | None = None
    inner: Rule | None = None
    action: Action = field(init=False)

    def __post_init__(self) -> None:
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise ConfigError("Time windows use local wall-clock times without a time zone.")
        if self.days is not None:
            days = frozenset(self.days)
            if not days or not days <= set(range(7)):
                raise ConfigError(f"Days are 0 (Monday) to 6 (Sunday), not {sorted(days)}.")
            object.__setattr__(self, "days", days)
        object.__setattr__(self, "action", self.inner.action if self.inner else "block")

    def matches(self, req: FilterRequest, now: datetime) -> bool:
        day, clock = now.weekday(), now.time()
        if self.start > self.end:  # crosses midnight
            if clock < self.end:
                day = (day - 1) % 7  # the window started yesterday
            elif clock < self.start:
                return False
        elif self.start < self.end and not self.start <= clock < self.end:
            return False
        if self.days is not None and day not in self.days:
            return False
        return self.inner is None or self.inner.matches(req, now)

    def describe(self) -> str:
        parts = [] if self.days is None else [_format_days(self.days)]
        if self.start != self.end or self.days is None:
            parts.append(f"{self.start:%H:%M}-{self.end:%H:%M}")
        return f"{self.inner.describe() if self.inner else '*'}@{','.join(parts)}"


def _format_days(days: Collection[int]) -> str:
    ordered = sorted(days)
    if len(ordered) > 1 and ordered == list(range(ordered[0], ordered[-1] + 1)):
        return f"{DAYS[ordered[0]]}-{DAYS[ordered[-1]]}"
    return ",".join(DAYS[day] for day in ordered)


@dataclass(frozen=True, slots=True)
class Allow:
    """Fetch it. ``rule`` is the allow rule that matched, or None for the default."""

    rule: Rule | None = None


@dataclass(frozen=True, slots=True)
class Block:
    """Refuse with 403. ``rule`` matched (or is the synthetic default-deny rule)."""

    rule: Rule
    reason: str


Decision: TypeAlias = Allow | Block


def decision_of(rule: Rule) -> Decision:
    """The decision a matching rule gives, built once and shared by every request."""
    check_action(rule.action)
    if rule.action == "allow":
        return Allow(rule)
    return Block(rule, "A block rule of this proxy matches the request.")
