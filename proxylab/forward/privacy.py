"""Privacy levels: what the origin server learns about the client and about the proxy.

What: a forward proxy opens its own connection to the origin, so the origin sees the
proxy's address, not the client's. Whether the client stays hidden then depends only on
the header fields the proxy passes on or adds. ``PrivacyPolicy.apply`` rewrites the
request's fields for one of three levels, the classic taxonomy of proxy lists:

  ============  ===========  ====================  ==================================
  level         Via          X-Forwarded-For       client-sent XFF, Forwarded, ...
  ============  ===========  ====================  ==================================
  transparent   added        appends client IP     kept
  anonymous     added        none                  removed
  elite         none         none                  removed, and every proxy trace too
  ============  ===========  ====================  ==================================

"Transparent" hides nothing (the origin learns the client's IP from X-Forwarded-For);
"anonymous" hides the client but admits there is a proxy (Via); "elite" tries to look like
an ordinary browser. On top of any level, ``scrub`` removes fields that identify the
person rather than the address: User-Agent, Referer, Cookie and From.

Key idea: privacy is a pure function of the header fields. ``apply`` never changes its
input: it returns new ``Headers`` plus a tuple of short change notes for the event log,
so a notebook can show exactly what the origin saw and why.

Sources: RFC 9110 section 7.6.3 (Via: "A proxy MUST send an appropriate Via header field
... in each message that it forwards", and its use for loop detection), RFC 7239
(Forwarded), the de facto X-Forwarded-For and X-Real-IP fields.

Left out on purpose: hop-by-hop fields (the forward proxy strips those before calling
``apply``), the body (a form can still carry a name), TLS fingerprints and DNS leaks. Elite adds no Via, so the Via-based loop check
(``is_loop``) cannot see requests that passed through an elite proxylab: a known trade-off.

Layer 2: imports only ``errors`` and ``messages``; no sockets, no threads.
"""

from __future__ import annotations

import enum
import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from proxylab.errors import ConfigError
from proxylab.http.messages import Headers

__all__ = [
    "TRANSPARENT",
    "ELITE",
    "CLIENT_IP_HEADERS",
    "PROXY_HEADERS",
    "SCRUBBABLE",
    "PrivacyLevel",
    "PrivacyPolicy",
    "PrivacyResult",
    "add_response_via",
    "is_loop",
    "response_via",
]


class PrivacyLevel(enum.Enum):
    """How much the origin may learn: the client's IP, only that a proxy exists, or nothing."""

    TRANSPARENT = "transparent"
    ANONYMOUS = "anonymous"
    ELITE = "elite"


# Plain names for the levels the per-request code tests (see ``http.framing.NO_BODY``).
TRANSPARENT = PrivacyLevel.TRANSPARENT
ELITE = PrivacyLevel.ELITE


#: Fields that identify the person or the browser; removable at any level.
SCRUBBABLE: frozenset[str] = frozenset({"user-agent", "referer", "cookie", "from"})

#: Fields that carry a client address (set by clients, other proxies or CDNs). Removed
#: from the request unless the level is transparent.
CLIENT_IP_HEADERS: frozenset[str] = frozenset(
    {
        "x-forwarded-for",
        "forwarded",  # RFC 7239: for=<client>
        "x-real-ip",
        "client-ip",
        "x-client-ip",
        "true-client-ip",
        "x-cluster-client-ip",
        "x-originating-ip",
        "x-remote-ip",
        "x-remote-addr",
        "cf-connecting-ip",
        "fastly-client-ip",
        "x-proxyuser-ip",
    }
)

#: Fields that betray a proxy even without an address. Elite removes these as well, and
#: every field starting with one of ``_PROXY_PREFIXES``.
PROXY_HEADERS: frozenset[str] = frozenset(
    {
        "via",
        "proxy-connection",
        "proxy-authorization",
        "x-proxy-id",
        "x-bluecoat-via",
    }
)
_PROXY_PREFIXES = ("x-forwarded-", "x-proxy-")

# RFC 9110 7.6.3: received-by = pseudonym / uri-host [ ":" port ]; a pseudonym is a token.
_VIA_TOKEN_RE = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+(?::[0-9]+)?")


@dataclass(slots=True)
class PrivacyResult:
    """The request's fields as the origin will see them, and what changed (for the log).

    Built for every forwarded request and handed straight to the caller, so a plain slots
    dataclass (a frozen one costs two ``object.__setattr__`` calls more).
    """

    headers: Headers
    changes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PrivacyPolicy:
    """A privacy level plus optional scrubbing; ``apply`` runs once per forwarded request.

    The sets of names to drop are computed here, once, so ``apply`` is one pass over the
    fields with set look-ups. ``level`` may also be given by name (``"elite"``).
    """

    level: PrivacyLevel = PrivacyLevel.ANONYMOUS
    scrub: frozenset[str] = frozenset()
    via_token: str = "proxylab"
    _drop: frozenset[str] = field(init=False, repr=False, compare=False)
    _prefixes: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        level = self.level if isinstance(self.level, PrivacyLevel) else _level(self.level)
        names = (self.scrub,) if isinstance(self.scrub, str) else self.scrub  # "cookie" alone
        scrub = frozenset(name.lower() for name in names)
        unknown = sorted(scrub - SCRUBBABLE)
        if unknown:
            allowed = ", ".join(sorted(SCRUBBABLE))
            raise ConfigError(f"Cannot scrub {', '.join(unknown)}: choose from {allowed}.")
        if not _VIA_TOKEN_RE.fullmatch(self.via_token):
            raise ConfigError(f"The Via token {self.via_token!r} must be one word, like proxylab.")
        hide: frozenset[str] = frozenset()
        if level is not TRANSPARENT:
            hide = CLIENT_IP_HEADERS
        if level is ELITE:
            hide = hide | PROXY_HEADERS
        object.__setattr__(self, "level", level)
        object.__setattr__(self, "scrub", scrub)
        object.__setattr__(self, "_drop", hide | scrub)  # one set look-up per field
        prefixes = _PROXY_PREFIXES if level is ELITE else ()
        object.__setattr__(self, "_prefixes", prefixes)

    @classmethod
    def from_names(
        cls, level: str, scrub: Iterable[str] = (), via_token: str = "proxylab"
    ) -> PrivacyPolicy:
        """Build a policy from command-line words, e.g. ``from_names("elite", ["cookie"])``."""
        return cls(_level(level), frozenset(scrub), via_token)

    def apply(self, headers: Headers, client_ip: str, version: str = "1.1") -> PrivacyResult:
        """The request fields the origin will see; ``headers`` itself is left untouched.

        ``version`` is the HTTP version of the request as received from the client
        (``"1.1"`` or ``"HTTP/1.1"``); it becomes the received-protocol of our Via element.
        """
        if self._prefixes or not self._drop.isdisjoint(headers.names()):
            out, changes = self._without_revealing_fields(headers)
        else:  # the usual request: none of its fields says who the client is
            out, changes = headers.copy(), []
        if self.level is TRANSPARENT:
            # The de facto rule: each proxy appends the address it received the request from.
            changes.append(_append_element(out, "X-Forwarded-For", client_ip))
        if self.level is not ELITE:
            changes.append(_append_element(out, "Via", _via_element(version, self.via_token)))
        return PrivacyResult(out, tuple(changes))

    def _without_revealing_fields(self, headers: Headers) -> tuple[Headers, list[str]]:
        """A copy without the fields this level removes, and a note for each name removed."""
        kept: list[tuple[str, str]] = []
        removed: dict[str, str] = {}  # lower-case name -> note, first spelling wins
        drop, prefixes = self._drop, self._prefixes
        for lower, item in headers.keyed():
            if lower in drop or (prefixes and lower.startswith(prefixes)):
                verb = "scrubbed" if lower in self.scrub else "removed"
                removed.setdefault(lower, f"{verb} {item[0]}")
            else:
                kept.append(item)
        return Headers(kept), list(removed.values())

    def response_headers(self, headers: Headers, version: str = "1.1") -> Headers:
        """The response fields for the client: ``response_via`` with this policy's settings."""
        return response_via(headers, self.level, self.via_token, version)


def response_via(
    headers: Headers, level: PrivacyLevel, via_token: str = "proxylab", version: str = "1.1"
) -> Headers:
    """A copy of response ``headers`` with our Via element appended, unless ``level`` is elite.

    RFC 9110 section 7.6.3: the Via field is used in both directions; ``version`` is the
    version of the response as received from the origin.
    """
    out = headers.copy()
    add_response_via(out, level, via_token, version)
    return out


def add_response_via(
    headers: Headers, level: PrivacyLevel, via_token: str = "proxylab", version: str = "1.1"
) -> None:
    """``response_via`` in place, for a caller that owns ``headers`` (saves a copy)."""
    if level is ELITE:
        return
    element = _via_element(version, via_token)
    if "via" in headers.names():
        _append_element(headers, "Via", element)
    else:  # the usual case: the origin sent no Via, so no note to write either
        headers.add("Via", element)


def is_loop(headers: Headers, via_token: str = "proxylab") -> bool:
    """True when some Via element names ``via_token`` as its received-by: a forwarding loop.

    RFC 9110 7.6.3: ``Via = #( received-protocol RWS received-by [ RWS comment ] )``, e.g.
    ``1.1 proxylab``, ``HTTP/1.1 proxylab (comment, with commas)``. The comparison ignores
    case. Loops happen when a proxy is configured to use itself as its upstream.
    """
    if "via" not in headers.names():
        return False  # the usual request: it came straight from a browser
    token = via_token.lower()
    for value in headers.get_all("via"):
        if token not in value.lower():
            continue  # cheap common case: our name is not even in the line
        for element in _via_elements(value):
            parts = element.split(None, 2)
            if len(parts) >= 2 and parts[1].lower() == token:
                return True
    return False


def _via_elements(value: str) -> list[str]:
    """Split a Via line at commas that are not inside a (possibly nested) comment."""
    elements: list[str] = []
    depth, start, escaped = 0, 0, False
    for index, char in enumerate(value):
        if escaped:
            escaped = False
        elif char == "\\" and depth:
            escaped = True  # RFC 9110 5.6.5: quoted-pair inside a comment
        elif char == "(":
            depth += 1
        elif char == ")" and depth:
            depth -= 1
        elif char == "," and not depth:
            elements.append(value[start:index])
            start = index + 1
    elements.append(value[start:])
    return [element.strip() for element in elements if element.strip()]


@functools.lru_cache(maxsize=64)  # a pure function asked the same question every request
def _via_element(version: str, via_token: str) -> str:
    """``1.1 proxylab``: RFC 9110 7.6.3 says the protocol name is omitted when it is HTTP."""
    protocol = version[5:] if version.upper().startswith("HTTP/") else version
    return f"{protocol} {via_token}"


def _append_element(headers: Headers, name: str, element: str) -> str:
    """Append ``element`` to a list-valued field, joining existing lines with ", "."""
    existing = headers.get_all(name)
    if not existing:
        headers.add(name, element)
        return f"added {name}: {element}"
    # RFC 9110 5.3: several lines of a list field equal one line joined by commas.
    headers.set(name, ", ".join([*existing, element]))
    return f"appended {element} to {name}"


def _level(name: str) -> PrivacyLevel:
    """The level called ``name`` (any case), or a ConfigError listing the choices."""
    try:
        return PrivacyLevel(str(name).strip().lower())
    except ValueError:
        choices = ", ".join(level.value for level in PrivacyLevel)
        raise ConfigError(f"Unknown privacy level {name!r}: choose {choices}.") from None
