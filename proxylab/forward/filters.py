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

The rules themselves live in ``rules``; their command-line spelling (``parse_pattern``)
and the sample rule sets in ``patterns``; the 403 page in ``block_page``.
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

Layer 2: a pure policy; no sockets, no threads.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from proxylab.errors import ConfigError
from proxylab.forward.patterns import parse_pattern
from proxylab.forward.rules import (
    Allow,
    AnyRequest,
    Block,
    Decision,
    FilterRequest,
    Rule,
    decision_of,
)

__all__ = ["FilterPolicy"]

_DEFAULT_DENY = AnyRequest("block", "default deny (allow-list mode)")


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
        object.__setattr__(self, "_table", tuple((rule, decision_of(rule)) for rule in self.rules))
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
