"""The rules of an HTTP shared cache, as pure functions and small values (RFC 9111).

``cache.py`` keeps responses and talks to the origin; this module only answers questions about
header fields and clocks. May this response be stored? For how long is it fresh? How old is it
now? May this stored response answer this request, or must the cache ask the origin first?
Which request headers select this variant? Nothing here holds state, so every rule has a test
that needs no network and no real time. How the cache asks the origin (HTTP-dates, entity tags,
conditional requests, the 304) is the subject of ``validators``; its names are re-exported here.

Key ideas:
- Freshness is a race between two numbers (RFC 9111 4.2): the *freshness lifetime* the origin
  granted (``s-maxage``, ``max-age``, ``Expires`` or a heuristic) and the *current age* the cache
  computes from ``Date``, ``Age`` and its own clock. Fresh while lifetime > age. Only the clock
  moves while a response is stored, so the rest is worked out once (``Freshness``) and each
  request adds the time the response has spent in the store.
- A stale response is not wrong, only unconfirmed: the cache may still use it after a cheap
  conditional request (a 304 answer) or, where the client or origin allows it, serve it stale.
- Directives are parsed once, carefully: commas inside quoted strings do not split (but a quote
  that never closes cannot swallow the rest), names are case-insensitive, the first duplicate
  wins, and a malformed ``max-age`` makes the response stale instead of fresh forever.
- ``Vary`` makes the request part of the key: the stored response remembers the values of the
  request fields it names, and only requests with the same values may reuse it.

RFC sections: RFC 9111 3 (storing), 3.1 (which fields are stored), 4.1 (Vary), 4.2
(freshness, age, serving stale), 4.4 (invalidation), 5.1-5.3 (Age, Cache-Control, Expires);
RFC 9211 (Cache-Status); RFC 5861 4 (stale-if-error). Validation (RFC 9111 4.3, RFC 9110 13):
see ``validators``.

Left out on purpose: storing 206 responses (``ranges`` cuts ranges from whole ones),
stale-while-revalidate (it needs a background fetch), the ``immutable`` directive (only
browsers reload), storing POST responses with Content-Location, the qvalue-aware matching of
``Accept-*`` in Vary.

Why one long module: RFC 9111's rules for a shared cache (what may be stored, for how
long, when a stored answer may be reused) belong together; each is a small function.

Layer 2: imports only ``messages`` and ``validators``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from urllib.parse import urldefrag, urljoin, urlsplit

from proxylab.cache.validators import (  # re-exported: they lived here before ``validators``
    format_http_date,
    parse_http_date,
)
from proxylab.http.messages import HOP_BY_HOP, Headers, Request, Response, connection_tokens

__all__ = [
    "DELTA_MAX",
    "HEURISTIC_STATUSES",
    "SAFE_METHODS",
    "CacheControl",
    "CachePolicy",
    "CacheStatus",
    "DontStore",
    "Freshness",
    "Reuse",
    "Store",
    "StoreDecision",
    "Timing",
    "VaryKey",
    "headers_to_store",
    "invalidation_targets",
    "parse_age",
    "parse_cache_control",
    "request_directives",
    "stale_on_error_allowed",
    "vary_key",
    "vary_matches",
]

#: RFC 9111 1.2.2: a delta-seconds too large to represent counts as 2**31.
DELTA_MAX = 2**31

#: RFC 9110 15.1: statuses a cache may keep without explicit freshness (a 206 is never stored).
HEURISTIC_STATUSES = frozenset({200, 203, 204, 206, 300, 301, 308, 404, 405, 410, 414, 501})

#: RFC 9110 9.2.1: methods that do not change the resource, so never invalidate.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})

#: Final statuses whose caching rules this cache knows, for ``must-understand`` (RFC 9111 5.2.2.3).
_UNDERSTOOD = frozenset({200, 201, 202, 203, 204, 205, 300, 301, 302, 303, 307, 308})
_UNDERSTOOD |= frozenset(range(400, 418)) | {421, 422, 426, 500, 501, 502, 503, 504, 505}

_TCHARS = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
#: One list member: runs of anything but commas and quotes, and whole quoted strings. A quote
#: that never closes matches nothing, so the commas after it still split: ``ext="a, no-store``
#: cannot hide its ``no-store`` inside a string that has no end.
_MEMBER = re.compile(r'(?:[^,"]|"(?:[^"\\]|\\.)*")+')
_DIRECTIVE = re.compile(rf'({_TCHARS})(?:=({_TCHARS}|"(?:[^"\\]|\\.)*"))?', re.ASCII)
_DIGITS = re.compile(r"[0-9]+", re.ASCII)
_SF_TOKEN = re.compile(r"[A-Za-z*][!#$%&'*+\-.^_`|~0-9A-Za-z:/]*", re.ASCII)  # RFC 8941 3.3.4


@dataclass(frozen=True, slots=True)
class CacheControl:
    """Cache-Control directives: lower-case name -> argument (``None`` when it has none)."""

    directives: Mapping[str, str | None] = field(default_factory=dict)

    def has(self, name: str) -> bool:
        """Whether the directive is present, with or without an argument."""
        return name in self.directives

    def seconds(self, name: str) -> int | None:
        """A delta-seconds argument: ``None`` when absent, 0 when malformed.

        RFC 9111 1.2.2: ``delta-seconds = 1*DIGIT``, capped at 2**31. Reading ``max-age=a100``
        or ``max-age=-1`` as 0 makes such a response stale: the safe mistake.
        """
        if name not in self.directives:
            return None
        value = self.directives[name]
        if value is None or not _DIGITS.fullmatch(value):
            return 0
        return min(int(value), DELTA_MAX)

    def field_names(self, name: str) -> list[str]:
        """The field names of a qualified form such as ``no-cache="Set-Cookie, X-A"``."""
        value = self.directives.get(name)
        return [part.strip().lower() for part in value.split(",") if part.strip()] if value else []

    def unqualified(self, name: str) -> bool:
        """Present without a field list: ``no-cache`` / ``private`` for the whole response."""
        return name in self.directives and not self.field_names(name)


def parse_cache_control(headers: Headers) -> CacheControl:
    """Parse every Cache-Control line (RFC 9111 5.2).

    Members that are not ``token[=token|quoted-string]`` (``max-age =5``, ``max-age= 5``) are
    ignored whole. RFC 9111 4.2.1 lets a cache use the first of duplicated directives.
    """
    return _parse_directives(", ".join(headers.get_all("cache-control")))


# Every hit re-reads the stored response's Cache-Control, and a site sends the same few
# values again and again ("max-age=3600"), so parsed values are remembered. This is a
# memo of a pure function: the answer for a value never changes, and MappingProxyType
# keeps the shared directives read-only.
@functools.lru_cache(maxsize=1024)
def _parse_directives(value: str) -> CacheControl:
    directives: dict[str, str | None] = {}
    for member in _MEMBER.findall(value):
        match = _DIRECTIVE.fullmatch(member.strip())
        if match is None:
            continue
        name, value = match.group(1).lower(), match.group(2)
        if value is not None and value.startswith('"'):
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        directives.setdefault(name, value)
    return CacheControl(MappingProxyType(directives))


_NO_DIRECTIVES = CacheControl(MappingProxyType({}))


def request_directives(headers: Headers) -> CacheControl:
    """A request's directives; ``Pragma: no-cache`` counts only without Cache-Control (RFC 9111 5.4)."""
    names = headers.names()  # asked twice of every request: one list, no lower-casing
    if "cache-control" in names:
        return parse_cache_control(headers)
    if "pragma" not in names:
        return _NO_DIRECTIVES  # the usual request
    pragma = {token.lower() for token in headers.get_list("pragma")}
    return CacheControl({"no-cache": None} if "no-cache" in pragma else {})


# -- ages ----------------------------------------------------------------------------------


def parse_age(headers: Headers) -> int:
    """The Age field in seconds; 0 when absent or malformed (RFC 9111 5.1: first value wins)."""
    values = headers.get_list("age")
    if not values or not _DIGITS.fullmatch(values[0]):
        return 0
    return min(int(values[0]), DELTA_MAX)


@dataclass(frozen=True, slots=True)
class Timing:
    """When a stored response was requested and received, and what it said about its age."""

    request_time: float
    response_time: float
    date_value: float
    age_value: int

    @classmethod
    def of(cls, headers: Headers, request_time: float, response_time: float) -> Timing:
        """Read Date and Age; a missing or invalid Date counts as the time of receipt."""
        date = parse_http_date(headers.get("date"), response_time)
        date_value = response_time if date is None else date
        return cls(request_time, response_time, date_value, parse_age(headers))

    def corrected_initial_age(self) -> float:
        """RFC 9111 4.2.3, line by line: how old the response already was on arrival."""
        apparent_age = max(0.0, self.response_time - self.date_value)
        response_delay = self.response_time - self.request_time
        corrected_age_value = self.age_value + response_delay
        return max(apparent_age, corrected_age_value)

    def current_age(self, now: float) -> float:
        """RFC 9111 4.2.3: its age on arrival plus the time it has spent here since."""
        resident_time = now - self.response_time
        return self.corrected_initial_age() + resident_time


@dataclass(frozen=True, slots=True)
class Freshness:
    """What a stored response says about its own reuse, worked out once when it is stored.

    The freshness lifetime and the age on arrival depend only on the stored fields, the
    timing and the policy, never on the request or the clock. So the cache computes them
    when it stores or freshens a response, and a hit only adds the time spent in the store.
    """

    lifetime: float  # 4.2.1: from s-maxage, max-age, Expires or the heuristic
    no_cache: bool  # 5.2.2.4: unqualified no-cache, so never reused without validation
    initial_age: float  # 4.2.3: corrected_initial_age
    response_time: float
    directives: CacheControl  # the response's Cache-Control, for the max-stale rules

    def current_age(self, now: float) -> float:
        """RFC 9111 4.2.3, as ``Timing.current_age``, with the first part done in advance."""
        resident_time = now - self.response_time
        return self.initial_age + resident_time


# -- decisions -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Store:
    """Decision: the response may be stored."""


@dataclass(frozen=True, slots=True)
class DontStore:
    """Decision: the response must not be stored, and why (for logs and lessons)."""

    reason: str


StoreDecision = Store | DontStore


@dataclass(slots=True)
class Reuse:
    """Whether one stored response may answer one request without asking the origin.

    A decision, but taken on every cache hit: a plain slots dataclass, as a frozen one
    sets its five fields through ``object.__setattr__`` (about three times slower).

    ``stale`` says it is past its freshness lifetime; ``fwd`` is the RFC 9211 reason to go
    forward when it is not usable (``stale`` or ``request``); ``ttl`` is the remaining
    freshness in seconds, negative when stale; ``age`` is the current age it was judged at
    (what the ``Age`` field of a reply built from it says).
    """

    usable: bool
    stale: bool
    fwd: str
    ttl: float
    age: float = 0.0


def _stale_forbidden(cc: CacheControl) -> bool:
    """RFC 9111 4.2.4: "MUST NOT generate a stale response if it is prohibited" by these."""
    # 5.2.2.10: for a shared cache, s-maxage also carries the meaning of proxy-revalidate.
    return any(cc.has(d) for d in ("must-revalidate", "proxy-revalidate", "s-maxage", "no-cache"))


@dataclass(frozen=True, slots=True)
class CachePolicy:
    """The storing and reuse rules of a shared cache; the heuristic is the one knob."""

    heuristic_fraction: float = 0.1
    heuristic_max: float = 86400.0

    def storable(self, request: Request, response: Response) -> StoreDecision:
        """RFC 9111 section 3: may a shared cache keep this response for later requests?"""
        req_cc, res_cc = request_directives(request.headers), parse_cache_control(response.headers)
        problem = (
            _method_problem(request)
            or _status_problem(response.status, res_cc)
            or _directive_problem(req_cc, res_cc, response.status)
            or _authorization_problem(request, res_cc)
            or _vary_problem(response.headers)
            or _freshness_problem(response, res_cc)
        )
        return DontStore(problem) if problem else Store()

    def freshness_lifetime(
        self, status: int, headers: Headers, date_value: float, cc: CacheControl | None = None
    ) -> float:
        """RFC 9111 4.2.1: seconds of freshness the origin granted (or the heuristic guessed).

        ``cc``: the response's Cache-Control, when the caller has parsed it already.
        """
        if cc is None:
            cc = parse_cache_control(headers)
        for directive in ("s-maxage", "max-age"):  # a shared cache looks at s-maxage first
            seconds = cc.seconds(directive)
            if seconds is not None:
                return float(seconds)
        if "expires" in headers:
            expires = parse_http_date(headers.get("expires"), date_value)
            # RFC 9111 5.3: "interpret invalid date formats, especially the value "0", as
            # representing a time in the past (i.e., "already expired")".
            return 0.0 if expires is None else max(0.0, expires - date_value)
        return self._heuristic(status, headers, cc, date_value)

    def _heuristic(self, status: int, headers: Headers, cc: CacheControl, date: float) -> float:
        """RFC 9111 4.2.2: a fraction of the time since Last-Modified, for cacheable statuses."""
        if status not in HEURISTIC_STATUSES and not cc.has("public"):
            return 0.0
        last_modified = parse_http_date(headers.get("last-modified"), date)
        if last_modified is None:
            return 0.0
        return min(self.heuristic_max, self.heuristic_fraction * max(0.0, date - last_modified))

    def freshness(self, status: int, headers: Headers, timing: Timing) -> Freshness:
        """The reuse facts of a stored response that do not change while it is stored."""
        cc = parse_cache_control(headers)
        lifetime = self.freshness_lifetime(status, headers, timing.date_value, cc)
        initial_age = timing.corrected_initial_age()
        return Freshness(
            lifetime, cc.unqualified("no-cache"), initial_age, timing.response_time, cc
        )

    def reuse(self, stored: Freshness, request_cc: CacheControl, now: float) -> Reuse:
        """RFC 9111 section 4: may a stored response answer a request with ``request_cc``?"""
        age = stored.current_age(now)
        # 5.2.2.4: a no-cache response "MUST NOT be used to satisfy any other request without
        # forwarding it for validation" - as if its freshness lifetime were zero.
        ttl = (0.0 if stored.no_cache else stored.lifetime) - age
        if not request_cc.directives:  # the usual request: fresh is usable, stale is not
            return Reuse(ttl > 0, ttl <= 0, "" if ttl > 0 else "stale", ttl, age)
        if request_cc.has("no-cache"):  # 5.2.1.4: the client wants the origin to confirm
            return Reuse(False, ttl <= 0, "request", ttl, age)
        max_age = request_cc.seconds("max-age")  # 5.2.1.1: age must be <= max-age
        young_enough = max_age is None or age <= max_age
        if ttl > 0:
            min_fresh = request_cc.seconds("min-fresh")  # 5.2.1.3
            usable = young_enough and (min_fresh is None or ttl >= min_fresh)
            return Reuse(usable, False, "" if usable else "request", ttl, age)
        usable = young_enough and _max_stale_allows(request_cc, stored.directives, -ttl)
        return Reuse(usable, True, "" if usable else "stale", ttl, age)


def stale_on_error_allowed(
    headers: Headers, request_cc: CacheControl, staleness: float, failed_status: int | None
) -> bool:
    """May a stale stored response stand in for an origin that failed?

    ``failed_status`` is None when the origin could not be reached: RFC 9111 4.2.4 lets a
    disconnected cache serve stale. For a 5xx answer RFC 5861's ``stale-if-error`` must allow it.
    """
    res_cc = parse_cache_control(headers)
    if _stale_forbidden(res_cc):
        return False
    if failed_status is None:
        return True
    if failed_status not in (500, 502, 503, 504):
        return False
    limits = [cc.seconds("stale-if-error") for cc in (res_cc, request_cc)]
    return any(limit is not None and staleness <= limit for limit in limits)


def _max_stale_allows(request_cc: CacheControl, res_cc: CacheControl, staleness: float) -> bool:
    """RFC 9111 5.2.1.2: the client accepts this much staleness, if the origin allows any."""
    if _stale_forbidden(res_cc) or not request_cc.has("max-stale"):
        return False
    limit = request_cc.seconds("max-stale") if request_cc.directives["max-stale"] else None
    return limit is None or staleness <= limit


def _method_problem(request: Request) -> str | None:
    # RFC 9111 3: "the request method is understood by the cache" - we store GET only.
    return None if request.method == "GET" else f"{request.method} responses are not stored"


def _status_problem(status: int, cc: CacheControl) -> str | None:
    if status < 200:
        return "an interim (1xx) response is not a final answer"
    if status in (206, 304):
        return f"{status} responses are not stored (ranges are cut from whole stored responses)"
    if cc.has("must-understand") and status not in _UNDERSTOOD:
        return f"must-understand and status {status} is not understood"
    return None


def _directive_problem(req_cc: CacheControl, res_cc: CacheControl, status: int) -> str | None:
    # 5.2.2.3: "ignore the no-store directive if it understands the status code".
    understood = res_cc.has("must-understand") and status in _UNDERSTOOD
    if res_cc.has("no-store") and not understood:
        return "response says no-store"
    if req_cc.has("no-store"):  # 5.2.1.5: "MUST NOT store any part of ... any response to it"
        return "request says no-store"
    if res_cc.unqualified("private"):  # 5.2.2.7: a shared cache MUST NOT store it
        return "response is private"
    return None


def _authorization_problem(request: Request, cc: CacheControl) -> str | None:
    # RFC 9111 3.5: only with a directive that "explicitly allows shared caching".
    if "authorization" not in request.headers:
        return None
    if any(cc.has(d) for d in ("public", "s-maxage", "must-revalidate")):
        return None
    return "request has Authorization and the response is not marked public"


def _vary_problem(headers: Headers) -> str | None:
    # RFC 9111 4.1: "Vary: *" always fails to match, so storing it is pointless.
    return "Vary: * never matches" if "*" in headers.get_list("vary") else None


def _freshness_problem(response: Response, cc: CacheControl) -> str | None:
    explicit = "expires" in response.headers or cc.has("max-age") or cc.has("s-maxage")
    if explicit or cc.has("public") or response.status in HEURISTIC_STATUSES:
        return None
    return f"no explicit freshness and {response.status} is not heuristically cacheable"


# -- stored header fields -------------------------------------------------------------------


#: RFC 9111 3.1: fields that are about one hop or one proxy's credentials, never stored. The
#: hop-by-hop ones are gone before a response reaches the cache; this keeps the store honest
#: whoever calls it (and after a 304 is merged in).
_NEVER_STORED = HOP_BY_HOP | {"age", "proxy-authentication-info"}


def headers_to_store(headers: Headers, response_time: float) -> Headers:
    """The header section as stored (RFC 9111 3.1), with a Date added if the origin sent none.

    Dropped: Connection and the fields it names, the other hop-by-hop fields, Proxy-Authenticate,
    Proxy-Authentication-Info and Proxy-Authorization ("MUST NOT be stored"), Age (recomputed on
    every reply), and the fields named by ``no-cache="..."`` and ``private="..."`` (5.2.2.4,
    5.2.2.7). Also used on the merge of a 304 into a stored response (RFC 9111 3.2).
    """
    cc = parse_cache_control(headers)
    drop = _NEVER_STORED | connection_tokens(headers)
    drop |= set(cc.field_names("no-cache")) | set(cc.field_names("private"))
    stored = Headers((name, value) for name, value in headers if name.lower() not in drop)
    if "date" not in stored:  # RFC 9110 6.6.1: a recipient without Date MUST add one if cached
        stored.add("Date", format_http_date(response_time))
    return stored


# -- Vary and invalidation -------------------------------------------------------------------

#: A secondary key: (lower-case field name, normalised request value or None if absent).
VaryKey = tuple[tuple[str, str | None], ...]


#: Request fields whose values are case-insensitive (content-codings, charsets, language tags).
_CASELESS = frozenset({"accept-charset", "accept-encoding", "accept-language"})


def _selecting_value(headers: Headers, name: str) -> str | None:
    """All lines of a request field joined and whitespace-normalised, so ``1,2`` == `` 1, 2``.

    RFC 9111 4.1 allows "case-normalization, where values are defined to be case-insensitive":
    ``Accept-Language: en-GB`` and ``en-gb`` select the same variant.
    """
    if name not in headers:
        return None
    value = ", ".join(headers.get_list(name))
    return value.lower() if name in _CASELESS else value


def vary_key(response_headers: Headers, request_headers: Headers) -> VaryKey:
    """RFC 9111 4.1: the values of the request fields the response's Vary names."""
    names = dict.fromkeys(name.lower() for name in response_headers.get_list("vary"))
    return tuple((name, _selecting_value(request_headers, name)) for name in names)


def vary_matches(key: VaryKey, request_headers: Headers) -> bool:
    """Whether a new request presents the same selecting values (absent matches only absent)."""
    if not key:  # the response had no Vary (the usual case): every request matches
        return True
    return all(_selecting_value(request_headers, name) == value for name, value in key)


def _key_url(url: str) -> str | None:
    """``url`` spelt as the proxy spells its cache keys (``Target.url``), or None if invalid.

    Lower-case scheme and host, no default port, no fragment: ``http://News.test:80/a#x`` and
    ``http://news.test/a`` name the same stored responses.
    """
    parts = urlsplit(urldefrag(url).url)
    try:
        port = parts.port
    except ValueError:
        return None
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    if scheme not in ("http", "https") or not host:
        return None
    authority = f"[{host}]" if ":" in host else host
    if port is not None and port != (443 if scheme == "https" else 80):
        authority += f":{port}"
    query = f"?{parts.query}" if parts.query else ""
    return f"{scheme}://{authority}{parts.path or '/'}{query}"


def invalidation_targets(method: str, url: str, response: Response) -> list[str]:
    """URLs whose stored responses an exchange makes obsolete (RFC 9111 4.4).

    A cache "MUST invalidate the target URI" after a non-error (2xx/3xx) response to an unsafe
    method, and may invalidate Location and Content-Location, but "MUST NOT trigger an
    invalidation ... if the origin ... of the URI to be invalidated differs from that of the
    target URI" (scheme, host and port).
    """
    if method in SAFE_METHODS or not 200 <= response.status < 400:
        return []
    targets = [url]
    origin = urlsplit(_key_url(url) or url)[:2]  # (scheme, authority)
    for name in ("location", "content-location"):
        value = response.headers.get(name)
        other = _key_url(urljoin(url, value.strip())) if value else None
        if other and urlsplit(other)[:2] == origin and other not in targets:
            targets.append(other)
    return targets


# -- Cache-Status ---------------------------------------------------------------------------


@functools.lru_cache(maxsize=16)  # one or two cache names, asked on every reply
def _sf_name(cache_name: str) -> str:
    """The cache's name as an RFC 8941 token, or quoted when it is not one."""
    return cache_name if _SF_TOKEN.fullmatch(cache_name) else f'"{cache_name}"'


@dataclass(slots=True)
class CacheStatus:
    """One cache's member of the Cache-Status field (RFC 9211 section 2).

    Built on every reply through the cache, so a plain slots dataclass: a frozen one
    sets its seven fields through ``object.__setattr__``, several times slower.

    ``hit``: answered from the store without going forward. ``fwd``: why the request went
    forward (uri-miss, vary-miss, stale, request, method, bypass). ``collapsed``: waited for
    another request's fetch; True if that response was reused, False if it could not be.
    """

    hit: bool = False
    fwd: str | None = None
    fwd_status: int | None = None
    ttl: float | None = None
    stored: bool = False
    collapsed: bool | None = None
    detail: str | None = None

    def render(self, cache_name: str) -> str:
        """The field value, e.g. ``proxylab; fwd=stale; fwd-status=304; ttl=60``."""
        text = _sf_name(cache_name)
        if self.hit:
            text += "; hit"
        if self.fwd:
            text += f"; fwd={self.fwd}"
        if self.fwd_status is not None:
            text += f"; fwd-status={self.fwd_status}"
        if self.ttl is not None:
            text += f"; ttl={round(self.ttl)}"
        if self.stored:
            text += "; stored"
        if self.collapsed is not None:
            text += "; collapsed" if self.collapsed else "; collapsed=?0"
        if self.detail:
            text += f"; detail={self.detail}"
        return text
