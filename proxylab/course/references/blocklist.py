"""Reference for exercise 01 (blocklist matching): ``proxylab.forward.rules`` and ``filters``.

The exercise's rules are ``(action, pattern)`` pairs in the command-line spelling of
``parse_pattern`` (``news.test``, ``*.social.test``, ``news.test/sports``, ``/ads``); the
decision is the first matching rule's action, as ``FilterPolicy.decide`` makes it.

Layer 5 (an edge).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from proxylab.errors import ConfigError
from proxylab.forward.filters import FilterPolicy
from proxylab.forward.patterns import parse_pattern
from proxylab.forward.rules import Block, FilterRequest, HostRule, PathPrefixRule, WildcardHostRule

__all__ = ["Blocklist", "host_matches", "path_matches"]

_NOON = datetime(2024, 1, 1, 12, 0)  # rules of this exercise have no time window


def _request(host: str, path: str = "/") -> FilterRequest:
    return FilterRequest("127.0.0.1", "GET", host, 80, path)


def host_matches(pattern: str, host: str) -> bool:
    """``news.test`` matches exactly; ``*.social.test`` matches the domain and its subdomains."""
    text = pattern.strip()
    rule = WildcardHostRule(text) if text.startswith(("*", ".")) else HostRule(text)
    return rule.matches(_request(host), _NOON)


def path_matches(prefix: str, path: str) -> bool:
    """Whether ``path`` is ``prefix`` or lies under it, at a segment boundary."""
    return PathPrefixRule(prefix).matches(_request("any.test", path), _NOON)


class Blocklist:
    """Ordered ``(action, pattern)`` rules, first match wins, else ``default``."""

    def __init__(self, rules: Sequence[tuple[str, str]], default: str = "allow") -> None:
        if default not in ("allow", "block"):
            raise ValueError(f"default is 'allow' or 'block', not {default!r}")
        built = []
        for action, pattern in rules:
            if action not in ("allow", "block"):
                raise ValueError(f"A rule's action is 'allow' or 'block', not {action!r}")
            try:
                built.append(parse_pattern(pattern, "allow" if action == "allow" else "block"))
            except ConfigError as error:
                raise ValueError(str(error)) from None
        self._rules = tuple(built)
        self._policy = FilterPolicy(self._rules, "allow" if default == "allow" else "deny")

    def decide(self, host: str, path: str = "/") -> str:
        """``"allow"`` or ``"block"`` for a request to ``host`` with ``path``."""
        decision = self._policy.decide(_request(host, path))
        return "block" if isinstance(decision, Block) else "allow"

    def first_match(self, host: str, path: str = "/") -> int | None:
        """The index of the rule that decides, or None when the default decides."""
        rule = self._policy.decide(_request(host, path)).rule
        for index, candidate in enumerate(self._rules):
            if candidate is rule:
                return index
        return None
