"""Exercise 01: blocklist matching, the rules a filtering proxy checks every request against.

Write the three pieces below (see README.md for the whole task and the points):

- ``host_matches(pattern, host)``: an exact host (``news.test``) or a wildcard domain
  (``*.social.test``: the domain itself and every subdomain);
- ``path_matches(prefix, path)``: a path prefix that ends at a segment boundary;
- ``Blocklist``: ordered rules, the first one that matches decides.

Run the grader with ``proxylab grade 01`` (or ``pytest exercises/01_blocklist``).
"""

from __future__ import annotations

from collections.abc import Sequence


def host_matches(pattern: str, host: str) -> bool:
    """Whether ``host`` is matched by ``pattern``.

    - ``"news.test"`` matches only the host ``news.test``.
    - ``"*.social.test"`` (also written ``".social.test"``) matches ``social.test`` itself
      and every name that ends in ``.social.test`` (``www.social.test``, ``a.b.social.test``),
      but not ``notsocial.test``.
    - Host names are not case-sensitive, and ``news.test.`` (a trailing dot, the fully
      qualified spelling) is the same host as ``news.test``: ignore both, in the pattern
      and in the host.
    """
    raise NotImplementedError("write host_matches")


def path_matches(prefix: str, path: str) -> bool:
    """Whether ``path`` is ``prefix`` itself or lies under it.

    ``"/ads"`` matches ``/ads``, ``/ads/banner.png``, ``/ads?id=3`` and ``/ads;v=1``, but not
    ``/adsense``: the prefix must end where a path segment ends (the next character is
    ``/``, ``?``, ``;`` or ``#``, or there is none). A prefix that ends in ``/`` (``"/ads/"``)
    matches whatever starts with it. Paths ARE case-sensitive (RFC 3986 section 6.2.2.1).
    """
    raise NotImplementedError("write path_matches")


class Blocklist:
    """Ordered rules; the first rule that matches a request decides, else ``default``.

    ``rules`` is a sequence of ``(action, pattern)`` pairs. ``action`` is ``"block"`` or
    ``"allow"``; ``pattern`` is one of:

    - ``"news.test"`` or ``"*.social.test"``: a host pattern (see ``host_matches``);
    - ``"news.test/sports"`` or ``"*.news.test/sports"``: a path prefix on those hosts;
    - ``"/ads"``: a path prefix on any host.

    ``default`` (``"allow"`` or ``"block"``) decides when no rule matches. Raise
    ``ValueError`` for an unknown action or default, or an empty pattern.
    """

    def __init__(self, rules: Sequence[tuple[str, str]], default: str = "allow") -> None:
        raise NotImplementedError("write Blocklist.__init__")

    def decide(self, host: str, path: str = "/") -> str:
        """``"allow"`` or ``"block"``: the action of the first matching rule, else the default."""
        raise NotImplementedError("write Blocklist.decide")

    def first_match(self, host: str, path: str = "/") -> int | None:
        """The index in ``rules`` of the rule that decides, or None when the default decides."""
        raise NotImplementedError("write Blocklist.first_match")
