"""Filtering: decide, per request, whether the proxy fetches it or answers 403.

What: a ``FilterPolicy`` holds an ordered list of rules. For each request it walks the list
and the FIRST rule that matches decides, by its action: "block" or "allow". When no rule
matches, the default decides: "allow" (a block-list, the usual set-up) or "deny" (an
allow-list, for kiosks and exams). This is how Squid's ``http_access`` lines and firewalls
work: order matters, so put narrow exceptions before broad rules.

Key ideas:
- A rule is a small object with one main method, ``matches(req, now)``. Subclass ``Rule``
  to write your own. A decision is a value, ``Allow(rule)`` or ``Block(rule, reason)``, so
  the proxy, the log and the block page all see the same thing.
- Expensive work happens once, when rules are built: regexes compiled, networks parsed,
  names lower-cased, and each rule's decision made in advance. Per request,
  ``FilterRequest`` normalises the host once, and parses the client address and builds the
  URL only if some rule asks, once for all rules.
- Time is an argument: the policy asks its injected clock once per request, so tests can
  check "after 22:00" at noon.
- Rules see only what a proxy sees. For CONNECT (HTTPS) that is the host and port: the path
  travels inside the encrypted tunnel, so path rules cannot match it (its path is "").

Patterns (the command-line spelling of rules, ``parse_pattern`` and ``PATTERN_SYNTAX``), the
403 block page and the sample rule sets live in ``filter_patterns``; they are re-exported
here, so ``from proxylab.filters import parse_pattern`` still works.
``FilterPolicy.from_patterns`` checks block patterns BEFORE allow patterns, and any allow
pattern makes the default deny. Why blocks first: in allow-list mode everything not allowed
is blocked anyway, so a block pattern can only matter as an exception carved out of an
allow pattern (allow ``*.school.test``, block ``school.test/admin``). Checked after the
allows it could never change a decision.

Sources: Squid's acl types (dstdomain, url_regex, urlpath_regex, src, time) and
http_access; RFC 9110 section 15.5.4 (403 Forbidden); RFC 3986 (the parts of a URL).

Left out on purpose: DNS lookups (rules match names as the client wrote them, so a client
that types the IP address slips past host rules: a lesson, not a bug), content
inspection, vendor category lists, and users (authentication is 407's business).

Layer 2: imports only ``errors`` and ``messages`` (``filter_patterns`` lazily); no sockets,
no threads.
"""

from __future__ import annotations

import abc
import ipaddress
import re
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time
from typing import TYPE_CHECKING, Literal, TypeAlias

from proxylab.errors import ConfigError
from proxylab.messages import Target

if TYPE_CHECKING:  # for mypy only; at run time these come from __getattr__ at the end
    from proxylab.filter_patterns import (
        PATTERN_SYNTAX,
        SCHOOL_SOCIAL_MEDIA,
        WORK_ONLY,
        block_page,
        parse_pattern,
    )

__all__ = [
    "PATTERN_SYNTAX",
    "SCHOOL_SOCIAL_MEDIA",
    "WORK_ONLY",
    "Action",
    "Allow",
    "AnyRequest",
    "Block",
    "ClientAccess",
    "ClientNetworkRule",
    "Decision",
    "FilterPolicy",
    "FilterRequest",
    "ForClients",
    "HostRule",
    "PathPrefixRule",
    "Rule",
    "TimeWindowRule",
    "UrlRegexRule",
    "WildcardHostRule",
    "block_page",
    "parse_address",
    "parse_pattern",
]

Action: TypeAlias = Literal["block", "allow"]
_Address: TypeAlias = ipaddress.IPv4Address | ipaddress.IPv6Address
_Network: TypeAlias = ipaddress.IPv4Network | ipaddress.IPv6Network

_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # index = datetime.weekday()
_HOST_RE = re.compile(r"[a-z0-9_-]+(?:\.[a-z0-9_-]+)*|[0-9a-f.]*:[0-9a-f.]*:[0-9a-f:.]*")


def parse_address(text: str) -> _Address | None:
    """The client address as an IP object (``::ffff:10.0.0.1`` becomes IPv4), or None."""
    try:
        address = ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped  # a dual-stack socket reports IPv4 clients this way
    return address


def _networks(items: Sequence[str] | str) -> tuple[_Network, ...]:
    """Parse networks once; a plain address is a network of one (/32 or /128)."""
    networks: list[_Network] = []
    for item in (items,) if isinstance(items, str) else items:
        try:
            networks.append(ipaddress.ip_network(item.strip(), strict=False))
        except ValueError:
            msg = f"{item!r} is not an IP address or network (10.1.0.0/16, ::1)."
            raise ConfigError(msg) from None
    if not networks:
        raise ConfigError("Give at least one client address or network.")
    return tuple(networks)


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
    _address: _Address | None = field(default=None, init=False, repr=False, compare=False)
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
    def client_address(self) -> _Address | None:
        """``client_ip`` parsed (IPv4-mapped IPv6 unwrapped), or None if it is no address."""
        if not self._parsed:
            object.__setattr__(self, "_address", parse_address(self.client_ip))
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


def _check_action(action: str) -> None:
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
        _check_action(self.action)
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
        _check_action(self.action)
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
        _check_action(self.action)
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
        _check_action(self.action)
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
    _network: _Network = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _check_action(self.action)
        network = _networks(self.network)[0]
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
    _parsed: tuple[_Network, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        parsed = _networks(self.networks)
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
        return f"{_DAYS[ordered[0]]}-{_DAYS[ordered[-1]]}"
    return ",".join(_DAYS[day] for day in ordered)


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
_DEFAULT_DENY = AnyRequest("block", "default deny (allow-list mode)")


def _decision(rule: Rule) -> Decision:
    """The decision a matching rule gives, built once and shared by every request."""
    _check_action(rule.action)
    if rule.action == "allow":
        return Allow(rule)
    return Block(rule, "A block rule of this proxy matches the request.")


@dataclass(frozen=True, slots=True)
class FilterPolicy:
    """Ordered rules, first match wins; ``default`` decides when none matches."""

    rules: Sequence[Rule] = ()
    default: Literal["allow", "deny"] = "allow"
    clock: Callable[[], datetime] = datetime.now
    _table: tuple[tuple[Rule, Decision], ...] = field(init=False, repr=False, compare=False)
    _fallback: Decision = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.default not in ("allow", "deny"):
            raise ConfigError(f"The default is 'allow' or 'deny', not {self.default!r}.")
        for rule in self.rules:
            if not isinstance(rule, Rule):
                raise ConfigError(f"{rule!r} is not a filter Rule.")
        object.__setattr__(self, "rules", tuple(self.rules))
        object.__setattr__(self, "_table", tuple((rule, _decision(rule)) for rule in self.rules))
        reason = "No allow rule matches, and this proxy only fetches what is allowed."
        fallback = Allow() if self.default == "allow" else Block(_DEFAULT_DENY, reason)
        object.__setattr__(self, "_fallback", fallback)

    @classmethod
    def from_patterns(
        cls,
        block: Sequence[str] = (),
        allow: Sequence[str] = (),
        clock: Callable[[], datetime] = datetime.now,
    ) -> FilterPolicy:
        """Command-line policy: block patterns first, then allow patterns.

        Any allow pattern turns on allow-list mode (default deny); blocks are checked first
        so they can carve exceptions out of the allowed sites (see the module notes).
        """
        # Imported here, not at the top: filter_patterns builds on the rules of this
        # module, so a top-level import would be circular (see the end of the module).
        from proxylab.filter_patterns import parse_pattern

        rules = [parse_pattern(text, "block") for text in block]
        rules += [parse_pattern(text, "allow") for text in allow]
        return cls(tuple(rules), "deny" if allow else "allow", clock)

    @property
    def unconditional(self) -> Decision | None:
        """With no rules, the decision every request gets; ``None`` when rules must look.

        Lets the proxy skip describing the request for a policy that cannot look at it.
        """
        return None if self._table else self._fallback

    def decide(self, req: FilterRequest) -> Decision:
        """The decision of the first rule that matches ``req``, else the default's."""
        if not self._table:
            return self._fallback
        now = self.clock()
        for rule, decision in self._table:
            if rule.matches(req, now):
                return decision
        return self._fallback


@dataclass(frozen=True, slots=True)
class ClientAccess:
    """Who may use the proxy at all; loopback only by default (an open proxy gets abused)."""

    networks: Sequence[str] = ("127.0.0.0/8", "::1/128")
    _parsed: tuple[_Network, ...] = field(init=False, repr=False, compare=False)
    _answers: dict[str, bool] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        parsed = _networks(self.networks)
        object.__setattr__(self, "networks", tuple(str(net) for net in parsed))
        object.__setattr__(self, "_parsed", parsed)
        object.__setattr__(self, "_answers", {})

    @classmethod
    def anyone(cls) -> ClientAccess:
        """Every IPv4 and IPv6 client: for a lab network you control, never the internet."""
        return cls(("0.0.0.0/0", "::/0"))

    def allows(self, client_ip: str) -> bool:
        """Whether ``client_ip`` may use the proxy; an unparsable address may not.

        Asked on every request, and clients are few: answers are remembered per address
        (at most 4096; a dict read and write are atomic, so threads may share it).
        """
        answer = self._answers.get(client_ip)
        if answer is None:
            address = parse_address(client_ip)
            answer = address is not None and any(address in net for net in self._parsed)
            if len(self._answers) >= 4096:
                self._answers.clear()
            self._answers[client_ip] = answer
        return answer


# Import direction: filter_patterns imports this module at its top (it builds rules), and
# this module never imports filter_patterns at its top. The names that moved there are
# still served from here, looked up on first use (PEP 562), so old imports keep working
# and whichever of the two modules is imported first, both load.
_MOVED = frozenset(
    ("PATTERN_SYNTAX", "SCHOOL_SOCIAL_MEDIA", "WORK_ONLY", "block_page", "parse_pattern")
)


def __getattr__(name: str) -> object:
    """Names that moved to ``filter_patterns``, fetched from there when asked for."""
    if name in _MOVED:
        from proxylab import filter_patterns

        return getattr(filter_patterns, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    """``dir()`` and ``help()`` list the moved names too, as they did before the move."""
    return sorted({*globals(), *_MOVED})
