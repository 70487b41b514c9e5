"""The forward proxy, the friend who phones the restaurant for you: it acts for the client.

``proxy`` is the proxy itself; the policies it applies are each a module: ``privacy`` (what
the origin learns of you), ``rules``, ``filters`` and ``patterns`` (what you may reach),
``access`` (who may use the proxy), ``block_page`` (what a refused user sees), and
``accesslog`` (Squid's log). The cache it keeps lives in ``proxylab.cache``.

This file is the package's face: the names a user types, re-exported from their modules.
"""

from proxylab.forward.access import ClientAccess
from proxylab.forward.accesslog import AccessLog
from proxylab.forward.filters import FilterPolicy
from proxylab.forward.patterns import PATTERN_SYNTAX, SCHOOL_SOCIAL_MEDIA, WORK_ONLY, parse_pattern
from proxylab.forward.privacy import PrivacyLevel, PrivacyPolicy
from proxylab.forward.proxy import ForwardProxy, ForwardSettings
from proxylab.forward.rules import (
    Allow,
    AnyRequest,
    Block,
    ClientNetworkRule,
    FilterRequest,
    ForClients,
    HostRule,
    PathPrefixRule,
    Rule,
    TimeWindowRule,
    UrlRegexRule,
    WildcardHostRule,
)

__all__ = [
    "AccessLog",
    "Allow",
    "AnyRequest",
    "Block",
    "ClientAccess",
    "ClientNetworkRule",
    "FilterPolicy",
    "FilterRequest",
    "ForClients",
    "ForwardProxy",
    "ForwardSettings",
    "HostRule",
    "PATTERN_SYNTAX",
    "PathPrefixRule",
    "PrivacyLevel",
    "PrivacyPolicy",
    "Rule",
    "SCHOOL_SOCIAL_MEDIA",
    "TimeWindowRule",
    "UrlRegexRule",
    "WORK_ONLY",
    "WildcardHostRule",
    "parse_pattern",
]
