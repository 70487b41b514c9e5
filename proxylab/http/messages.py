"""HTTP messages as plain values: ``Headers``, ``Request``, ``Response``, request targets.

An HTTP message is a start line, an ordered list of header fields and maybe a body
(RFC 9110 section 6). This module holds the first two; bodies stream and belong to the
wire and I/O layers, so a 1 GB upload never has to sit inside a ``Request``.

Key ideas:
- Header field names are case-insensitive, order matters for some fields, and a name may
  repeat (RFC 9110 section 5.3). ``Headers`` keeps the pairs exactly as received and
  compares names in lower case.
- A request target comes in four forms (RFC 9112 section 3.2): origin-form ``/path?q``
  (to servers), absolute-form ``http://host/path`` (to forward proxies), authority-form
  ``host:443`` (CONNECT) and asterisk-form ``*`` (OPTIONS). ``parse_target`` names them.
- Hop-by-hop fields describe one connection, not the message, and a proxy must not pass
  them on (RFC 9110 section 7.6.1). ``HOP_BY_HOP`` lists them; ``relaying`` removes
  them, together with the names a ``Connection`` field lists.

- ``Request``, ``Response`` and ``Target`` are values: the proxies build new ones rather
  than change them. They are plain slots dataclasses, not ``frozen`` ones, for speed: a
  proxied request builds about five of them, and a frozen dataclass sets each field
  through ``object.__setattr__``, which costs about 5,000 more machine instructions per
  object (measured with ``valgrind``), some 6 % of the whole request. (Their ``Headers``
  could always be changed in place anyway.)

Left out on purpose: HTTP/2 pseudo-headers, URL percent-decoding (a proxy forwards the
target as sent).

Layer 1: imports only ``errors``.
"""

from __future__ import annotations

import enum
import functools
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from proxylab.errors import ProtocolError

__all__ = [
    "ORIGIN_FORM",
    "ABSOLUTE_FORM",
    "AUTHORITY_FORM",
    "ASTERISK_FORM",
    "HOP_BY_HOP",
    "Headers",
    "Request",
    "Response",
    "Target",
    "TargetForm",
    "connection_tokens",
    "cookie_value",
    "parse_target",
    "reason_phrase",
]

#: RFC 9110 section 9.2.2: methods whose intended effect is the same however often they
#: are sent, so a request that may or may not have arrived can be sent again.
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})

#: RFC 9110 section 7.6.1 plus the fields every proxy also treats as per-hop.
HOP_BY_HOP: frozenset[str] = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)

_REASONS = {
    100: "Continue",
    101: "Switching Protocols",
    200: "OK",
    201: "Created",
    202: "Accepted",
    204: "No Content",
    206: "Partial Content",
    301: "Moved Permanently",
    302: "Found",
    303: "See Other",
    304: "Not Modified",
    307: "Temporary Redirect",
    308: "Permanent Redirect",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    407: "Proxy Authentication Required",
    408: "Request Timeout",
    410: "Gone",
    411: "Length Required",
    413: "Content Too Large",
    414: "URI Too Long",
    417: "Expectation Failed",
    429: "Too Many Requests",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    501: "Not Implemented",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
    505: "HTTP Version Not Supported",
    508: "Loop Detected",
}


def reason_phrase(status: int) -> str:
    """The usual reason phrase for ``status`` (clients must ignore it, people read it)."""
    return _REASONS.get(status, "Unknown")


class Headers:
    """An ordered, case-insensitive multi-map of header fields.

    Why not a dict: the same name may appear several times (``Set-Cookie``, ``Via``), order
    is meaningful for list-valued fields, and a proxy should forward names as it got them.
    Iteration yields ``(name, value)`` in order, names as received. Beside the pairs we keep
    each name once in lower case (``_keys``), computed when the field is added: lookups
    then compare strings without calling ``lower()`` again, which matters because a proxy
    looks up a dozen fields of every message it relays.
    """

    __slots__ = ("_items", "_keys")

    def __init__(
        self, items: Iterable[tuple[str, str]] = (), lowered: list[str] | None = None
    ) -> None:
        """``lowered``: the names already in lower case, one per item, when the caller has
        them (the parser and the hop-by-hop filter look at every name anyway)."""
        self._items: list[tuple[str, str]] = list(items)
        self._keys: list[str] = (
            [name.lower() for name, _ in self._items] if lowered is None else lowered
        )

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self._items)

    def names(self) -> Sequence[str]:
        """The field names in lower case, in order (one per line, repeats included).

        Read-only: it is the list the look-ups use, handed out without a copy.
        """
        return self._keys

    def keyed(self) -> Iterator[tuple[str, tuple[str, str]]]:
        """Each field as ``(lower-case name, (name, value))``, in order.

        For code that decides field by field what to keep (hop-by-hop stripping, privacy):
        the lower-case name is already known, so it is not computed again.
        """
        return zip(self._keys, self._items, strict=True)

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._keys

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Headers):
            return NotImplemented
        return self._keys == other._keys and [v for _, v in self] == [v for _, v in other]

    def __repr__(self) -> str:
        return f"Headers({self._items!r})"

    def get(self, name: str, default: str | None = None) -> str | None:
        """The first value of ``name``, or ``default``."""
        lower = name.lower()
        if lower not in self._keys:  # cheaper than catching index()'s ValueError
            return default
        return self._items[self._keys.index(lower)][1]

    def count(self, name: str) -> int:
        """How many field lines are named ``name`` (e.g. exactly one ``Host``, RFC 9112 3.2)."""
        return self._keys.count(name.lower())

    def get_all(self, name: str) -> list[str]:
        """Every value of ``name``, in order."""
        lower = name.lower()
        keys = self._keys
        lines = keys.count(lower)
        if lines < 2:  # the usual cases, answered without walking the fields in Python
            return [self._items[keys.index(lower)][1]] if lines else []
        return [item[1] for key, item in zip(keys, self._items, strict=True) if key == lower]

    def get_list(self, name: str) -> list[str]:
        """The comma-separated elements of a list-valued field, across all its lines.

        RFC 9110 section 5.3: several lines of one field are equivalent to one line with the
        values joined by commas. Empty elements are dropped (section 5.6.1).
        """
        return [
            part.strip()
            for value in self.get_all(name)
            for part in value.split(",")
            if part.strip()
        ]

    def add(self, name: str, value: str) -> None:
        """Append a field line, keeping any existing ones."""
        self._items.append((name, value))
        self._keys.append(name.lower())

    def set(self, name: str, value: str) -> None:
        """Replace every line of ``name`` by one line, in place of the first."""
        lower = name.lower()
        if lower not in self._keys:
            self._items.append((name, value))
            self._keys.append(lower)
            return
        first = self._keys.index(lower)
        self._items[first] = (name, value)
        self._delete(lower, after=first)

    def remove(self, name: str) -> None:
        """Drop every line of ``name`` (no error if absent)."""
        self._delete(name.lower())

    def remove_all(self, names: Iterable[str]) -> None:
        """Drop every line whose lower-cased name is in ``names``."""
        for lower in {name.lower() for name in names}.intersection(self._keys):
            self._delete(lower)

    def _delete(self, lower: str, after: int = -1) -> None:
        """Delete the lines named ``lower`` that come after position ``after``, in place.

        Only a few lines ever go, so each is found by ``index`` (a loop in C) and deleted,
        rather than rebuilding both lists in Python.
        """
        keys, items = self._keys, self._items
        for _ in range(keys.count(lower) - (after >= 0)):
            index = keys.index(lower, after + 1)
            del keys[index], items[index]

    def copy(self) -> Headers:
        """A copy that can be changed without touching this one."""
        copy = Headers.__new__(Headers)  # not __init__: the lower-case names are known
        copy._items, copy._keys = self._items.copy(), self._keys.copy()
        return copy

    def items(self) -> list[tuple[str, str]]:
        """The field lines as a new list of ``(name, value)`` pairs."""
        return list(self._items)


def cookie_value(headers: Headers, name: str) -> str | None:
    """The value of cookie ``name`` in the ``Cookie`` fields (RFC 6265 4.2.1), or None.

    ``Cookie: a=1; b=2`` holds two cookies; a client may also send several Cookie lines.
    """
    for line in headers.get_all("cookie"):
        for pair in line.split(";"):
            key, sep, value = pair.strip().partition("=")
            if sep and key == name:
                return value
    return None


def _persistent(version: str, headers: Headers) -> bool:
    value = headers.get("connection")
    if value is None:  # the common case, answered without parsing
        return version != "HTTP/1.0"
    lowered = value.lower()
    if lowered == "keep-alive" and headers.count("connection") == 1:  # the next most common
        return True
    tokens = connection_tokens(headers)
    return "keep-alive" in tokens if version == "HTTP/1.0" else "close" not in tokens


def connection_tokens(headers: Headers) -> set[str]:
    """The lower-cased options of the ``Connection`` field (``close``, ``keep-alive``, names)."""
    return {token.lower() for token in headers.get_list("connection")}


@dataclass(slots=True)
class Request:
    """A request head: method, target as sent, version and header fields."""

    method: str
    target: str
    headers: Headers = field(default_factory=Headers)
    version: str = "HTTP/1.1"

    @property
    def keep_alive(self) -> bool:
        """Whether the client wants the connection kept open after this exchange.

        RFC 9112 section 9.3: HTTP/1.1 is persistent unless ``Connection: close``; HTTP/1.0
        only with ``Connection: keep-alive``.
        """
        return _persistent(self.version, self.headers)


@dataclass(slots=True)
class Response:
    """A response head: status, reason phrase, version and header fields."""

    status: int
    headers: Headers = field(default_factory=Headers)
    reason: str = ""
    version: str = "HTTP/1.1"

    @property
    def keep_alive(self) -> bool:
        """Whether the server lets the connection stay open (same rule as for requests)."""
        return _persistent(self.version, self.headers)


class TargetForm(enum.Enum):
    """The four request-target forms of RFC 9112 section 3.2."""

    ORIGIN = "origin"
    ABSOLUTE = "absolute"
    AUTHORITY = "authority"
    ASTERISK = "asterisk"


# Plain names for the forms, for the per-request path (see ``framing.NO_BODY``: reading
# ``TargetForm.ORIGIN`` costs some 1,000 instructions on Python 3.10 and 3.11).
ORIGIN_FORM = TargetForm.ORIGIN
ABSOLUTE_FORM = TargetForm.ABSOLUTE
AUTHORITY_FORM = TargetForm.AUTHORITY
ASTERISK_FORM = TargetForm.ASTERISK


@dataclass(slots=True)
class Target:
    """A request target taken apart: where to connect and what path to ask for."""

    form: TargetForm
    scheme: str
    host: str
    port: int
    path: str

    @property
    def authority(self) -> str:
        """``host:port`` as used in CONNECT and as a cache or pool key."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def host_header(self) -> str:
        """The Host field value: the port only when it is not the scheme's default."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"

    @property
    def url(self) -> str:
        """The absolute URL, e.g. ``http://news.test/index.html``."""
        return f"{self.scheme}://{self.host_header}{self.path}"


_BAD_HOST_CHARACTERS = frozenset(" /\\@?#")


#: absolute-form: scheme "://" authority, then the path and query. The authority ends at
#: the first "/" or "?" (RFC 3986 3.2); what it may hold is checked by ``split_authority``.
_WEBSOCKET_SCHEMES = {"ws": "http", "wss": "https"}
_ABSOLUTE_URL = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://([^/?]*)(.*)", re.DOTALL)


@functools.lru_cache(maxsize=1024)  # a proxy sees the same few authorities again and again
def split_authority(authority: str, default_port: int) -> tuple[str, int]:
    """Split ``host[:port]`` (IPv6 literals in brackets) into a lower-case host and a port.

    Remembered for the last 1024 authorities (a pure function of two immutable values;
    an authority that raises is never remembered).
    """
    if authority.startswith("["):
        host, bracket, rest = authority[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else ""
        if not bracket or (rest and not rest.startswith(":")):
            raise ProtocolError("Malformed host in the request target.")
    else:
        host, _, port_text = authority.partition(":")
    if not host or not _BAD_HOST_CHARACTERS.isdisjoint(host):
        raise ProtocolError("Malformed host in the request target.")
    if not port_text:
        return host.lower(), default_port
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ProtocolError("Malformed port in the request target.")
    return host.lower(), int(port_text)


def parse_target(method: str, target: str, host_header: str | None = None) -> Target:
    """Name the form of ``target`` and find host, port and path (RFC 9112 section 3.2).

    For origin-form, the host comes from ``host_header``. Raises ``ProtocolError`` for a
    target that fits no form.
    """
    if method == "CONNECT":
        host, port = split_authority(target, 443)
        return Target(AUTHORITY_FORM, "https", host, port, "")
    if target.startswith("/"):
        host, port = split_authority(host_header, 80) if host_header else ("", 80)
        return Target(ORIGIN_FORM, "http", host, port, target)
    if target == "*":
        host, port = split_authority(host_header, 80) if host_header else ("", 80)
        return Target(ASTERISK_FORM, "http", host, port, "*")
    url = _ABSOLUTE_URL.match(target)
    if url is None:
        raise ProtocolError("The request target must be a path or an http:// URL.")
    scheme, authority, path = url.groups()
    scheme = scheme.lower()
    if scheme not in ("http", "https"):
        # RFC 6455 section 3: ws and wss URLs are http and https underneath (port 80, 443)
        scheme = _WEBSOCKET_SCHEMES.get(scheme, "")
        if not scheme:
            raise ProtocolError("The request target must be a path or an http:// URL.")
    if "@" in authority:
        raise ProtocolError("User information in the request target is not allowed.")
    host, port = split_authority(authority, 443 if scheme == "https" else 80)
    if not path.startswith("/"):
        path = "/" + path
    return Target(ABSOLUTE_FORM, scheme, host, port, path)
