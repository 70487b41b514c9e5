"""Filter patterns: the short command-line language for rules, and sample rule sets.

What: ``parse_pattern("*.social.test@mon-fri,08:00-16:00", "block")`` turns one line a
teacher types after ``--block`` or ``--allow`` into the ``Rule`` objects of
``proxylab.forward.rules``. ``SCHOOL_SOCIAL_MEDIA`` and ``WORK_ONLY`` are ready-made rule
sets for the lab and the tour.

Key idea: a pattern is only a spelling of rules that already exist. Parsing peels it from
the outside in (an optional ``client:NETS`` scope, then an optional ``@WINDOW``, then the
target) and wraps the target rule in ``TimeWindowRule`` and ``ForClients``, so a pattern
never matches anything the rule classes could not match on their own, and every mistake
is reported as a ``ConfigError`` that quotes the syntax (``PATTERN_SYNTAX``).

Why a separate module: ``rules`` are read per request; this is their front end (text,
read once at start-up). The dependency runs one way: this module imports ``rules``, and
``filters`` (the policy) imports this module for ``FilterPolicy.from_patterns``.

Left out on purpose: config files, negation (``!pattern``), several time spans in one
window, and named client groups; write Python rules for those.

Layer 2: imports only ``errors`` and ``rules``; no sockets, no threads.
"""

from __future__ import annotations

import re
from datetime import time

from proxylab.errors import ConfigError
from proxylab.forward.rules import (
    DAYS,
    Action,
    AnyRequest,
    ClientNetworkRule,
    ForClients,
    HostRule,
    PathPrefixRule,
    Rule,
    TimeWindowRule,
    UrlRegexRule,
    WildcardHostRule,
    check_action,
)

__all__ = [
    "PATTERN_SYNTAX",
    "SCHOOL_SOCIAL_MEDIA",
    "WORK_ONLY",
    "parse_pattern",
]

PATTERN_SYNTAX = """\
Filter patterns:
  news.test                exactly this host (case and a trailing dot ignored)
  *.social.test            social.test and every subdomain (.social.test works too)
  news.test/sports         paths under /sports on news.test (also *.news.test/sports)
  /ads                     paths under /ads on any host (/ads, /ads/x, not /adsense)
  re:REGEX                 Python regex searched in the full URL, e.g. re:\\.mp4$
  client:10.1.0.0/16       requests from these clients (an address or network)
  *                        every request
  PATTERN@08:00-16:00      only in that time window (end excluded; 22:00-06:00 works)
  PATTERN@mon-fri,08:00-16:00   ... on those days (sat,sun or mon-fri; days alone = all day)
  client:10.1.0.0/16 PATTERN    PATTERN, only for these clients (comma-separated networks)"""

_TIMES_RE = re.compile(r"(\d{1,2}):(\d\d)-(\d{1,2}):(\d\d)")
_DAY = "(?:" + "|".join(DAYS) + ")"
_ITEM = rf"(?:{_DAY}(?:-{_DAY})?|{_TIMES_RE.pattern})"
#: What a window suffix looks like; after a regex, only this counts as a window.
_WINDOW_RE = re.compile(rf"{_ITEM}(?:,{_ITEM})*", re.IGNORECASE)


def parse_pattern(text: str, action: Action = "block") -> Rule:
    """The rule a command-line pattern describes (syntax in ``PATTERN_SYNTAX``)."""
    try:
        check_action(action)
        rest = text.strip()
        networks: list[str] = []
        scope, _, tail = rest.partition(" ")
        if scope.startswith("client:") and tail.strip():  # a client scope before a pattern
            networks, rest = scope[len("client:") :].split(","), tail.strip()
        rest, window = _split_window(rest)
        rule = _target_rule(rest, action)
        if window is not None:
            rule = _window_rule(window, rule)
        return ForClients(networks, rule) if networks else rule
    except ConfigError as exc:
        raise ConfigError(f"Bad filter pattern {text!r}: {exc.message}\n{PATTERN_SYNTAX}") from None


def _split_window(text: str) -> tuple[str, str | None]:
    """Split ``PATTERN@WINDOW``; in a regex, an '@' counts only before a window-like tail."""
    head, sep, tail = text.rpartition("@")
    if not sep:
        return text, None
    if text.startswith("re:") and not _WINDOW_RE.fullmatch(tail):
        return text, None
    return head, tail


def _target_rule(text: str, action: Action) -> Rule:
    if not text:
        raise ConfigError("the pattern is empty")
    if text == "*":
        return AnyRequest(action)
    if text.startswith("re:"):
        return UrlRegexRule(text[3:], action)
    if text.startswith("client:"):
        return ClientNetworkRule(text[len("client:") :], action)
    text = text.split("://", 1)[1] if "://" in text else text  # a pasted URL's scheme
    host, slash, path = text.partition("/")
    if slash:
        return PathPrefixRule("/" + path, host or None, action)
    if host.startswith(("*", ".")):
        return WildcardHostRule(host, action)
    return HostRule(host, action)


def _window_rule(window: str, inner: Rule) -> TimeWindowRule:
    """``mon-fri,08:00-16:00``, ``sat,sun``, ``22:00-06:00``: days and at most one span."""
    days: set[int] = set()
    span: tuple[time, time] | None = None
    for item in window.lower().split(","):
        match = _TIMES_RE.fullmatch(item)
        if match and span is not None:
            raise ConfigError("give at most one time span")
        if match:
            h1, m1, h2, m2 = (int(part) for part in match.groups())
            if max(h1, h2) > 23 or max(m1, m2) > 59:
                raise ConfigError(f"{item!r} is not a time span like 08:00-16:00")
            span = (time(h1, m1), time(h2, m2))
        else:
            days |= _day_range(item)
    start, end = span or (time(0), time(0))
    return TimeWindowRule(start, end, days or None, inner)


def _day_range(item: str) -> set[int]:
    """``mon`` or ``fri-mon`` (a range may wrap around the week)."""
    first, _, last = item.partition("-")
    if first not in DAYS or (last and last not in DAYS):
        raise ConfigError(f"{item!r} is not a day (mon..sun), a day range or a time span")
    a, b = DAYS.index(first), DAYS.index(last or first)
    return {(a + offset) % 7 for offset in range((b - a) % 7 + 1)}


#: The school example: social and video sites blocked (lab sites and real ones).
_SOCIAL = "social.test video.test facebook.com instagram.com tiktok.com x.com twitter.com"
SCHOOL_SOCIAL_MEDIA: tuple[Rule, ...] = tuple(
    WildcardHostRule(domain) for domain in f"{_SOCIAL} snapchat.com reddit.com".split()
)

#: An allow-list example: use with ``FilterPolicy(WORK_ONLY, default="deny")``.
WORK_ONLY: tuple[Rule, ...] = (
    WildcardHostRule("school.test", "allow"),
    WildcardHostRule("news.test", "allow"),
)
