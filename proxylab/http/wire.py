"""Sans-I/O HTTP/1.1: read and write message heads and bodies as bytes (RFC 9112).

What it does. A proxy reads every message twice over: once from the client and once from
the server. This module turns bytes into ``messages.Request``/``Response`` values and back,
and tells the caller where each body ends. It never touches a socket: you ``feed`` it the
bytes you received and it answers "here is a head", "need more" or raises an error from
``proxylab.errors`` whose ``status`` is the answer to send. That makes it testable with
plain byte strings, byte by byte, and reusable by any I/O loop.

The key idea: find the end of the head first, then check every byte of it at once.
A head ends at the first empty line. Only then do we decode it (latin-1, one call) and
validate it with a few whole-head operations that run in C - normalise line endings, map
every byte through a table of forbidden control characters, and one regular expression
that checks that every field line starts with ``token ":"`` - before splitting it with
plain ``str`` methods. Per-line Python work is one ``partition`` and one ``strip``. When a
check fails, a slow path walks the lines to say exactly what was wrong. This is why the
parser is several times faster than h11, which runs a regular expression per line
(``bench/bench_wire.py`` measures both); and a proxy parses every message twice.

RFC sections. RFC 9112 2.2 (message parsing, bare LF, leading empty lines), 3 (request
line and target forms), 4 (status line), 5 (field lines, no obs-fold, no space before the
colon), 6 (message body length), 7 (chunked coding, trailers), 9.3 (persistence, see
``Request.keep_alive``). RFC 9110 5.5 (field values) and 5.6.2 (tokens).

What is left out on purpose: HTTP/0.9 and HTTP/2; obs-fold (we reject rather than unfold,
RFC 9112 5.2 allows either); transfer codings other than chunked in requests (501);
decoding of chunk extensions (allowed and ignored); Upgrade handling (the caller sees the
101 and takes over the socket, as for a CONNECT tunnel); 100-continue (an I/O concern).
Where a body ends and how to decode it (``Framing``, ``BodyDecoder``) lives in
``proxylab.http.framing`` and is re-exported here, so callers only ever import ``proxylab.http.wire``.

Layer 1: imports only ``errors``, ``messages``, ``framing`` and the standard library.
"""

from __future__ import annotations

import re
from typing import Literal

from proxylab.errors import (
    ConfigError,
    HeadersTooLarge,
    IncompleteMessage,
    ProtocolError,
    RequestLineTooLong,
    VersionNotSupported,
)
from proxylab.http.framing import (
    DEFAULT_LIMITS,
    Limits,
    field_pairs,
    split_field_section,
)
from proxylab.http.messages import Headers, Request, Response, reason_phrase

__all__ = [
    "HeadParser",
    "encode_chunk",
    "last_chunk",
    "parse_request_head",
    "parse_response_head",
    "serialize_request_head",
    "serialize_response_head",
]

#: The end of a head: an empty line. RFC 9112 2.2 lets a recipient accept a bare LF as a
#: line terminator, so the empty line may be CRLF CRLF, LF LF, CRLF LF or LF CRLF.
_BLANK_LINE = re.compile(rb"\n\r?\n")

#: RFC 9110 5.6.2: token = 1*tchar. Methods are tokens too (RFC 9110 9.1).
_TOKEN = re.compile(r"[-!#$%&'*+.^_`|~0-9A-Za-z]+")
#: The usual methods skip the token regex: a set lookup is several times cheaper.
_COMMON_METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "CONNECT", "TRACE"}
)
_VERSIONS = frozenset({"HTTP/1.0", "HTTP/1.1"})
#: What a request may start with while its line is still arriving: a method token (all of
#: it, or its beginning), then the space before the target.
_METHOD_START = re.compile(rb"[-!#$%&'*+.^_`|~0-9A-Za-z]+(?: |$)")
#: The first byte of a TLS record carrying a handshake (RFC 8446 5.1): https:// spoken to
#: a plain HTTP port, the most common way to end up here with a client's ClientHello.
_TLS_HANDSHAKE = 0x16
_WELL_FORMED_VERSION = re.compile(r"HTTP/[0-9]\.[0-9]")
#: RFC 3986 3.1: scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ); http(s) URIs have "//".
_ABSOLUTE_FORM = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")
#: RFC 9112 3.2.3: authority-form = uri-host ":" port (IPv6 literals in brackets).
_AUTHORITY_FORM = re.compile(r"(?:\[[0-9A-Fa-f:.]+\]|[^\[\]/?#@:]+):[0-9]{1,5}")


class HeadParser:
    """Incremental reader of one request or response head.

    Feed it whatever the socket gave you; ``feed`` returns the parsed head once the empty
    line that ends it has arrived and ``None`` until then. Bytes after the head (the start
    of the body, or a pipelined request) stay in ``leftover`` for the next reader. One
    parser reads one head: for the next message, start a new parser with the leftover.

    Limits are applied as bytes arrive, so an endless request line is refused with 414
    long before a line feed shows up, and an endless head with 431.
    """

    __slots__ = (
        "_buffer",
        "_done",
        "_leftover",
        "_limits",
        "_line_ok",
        "_method_ok",
        "_request",
        "_scan",
    )

    def __init__(
        self, kind: Literal["request", "response"], limits: Limits = DEFAULT_LIMITS
    ) -> None:
        if kind not in ("request", "response"):
            raise ConfigError("HeadParser kind must be 'request' or 'response'.")
        self._request = kind == "request"
        self._limits = limits
        self._buffer = bytearray()
        self._leftover = b""
        self._scan = 0  # where the search for the empty line resumes
        self._line_ok = False  # the first line is known to be within its limit
        self._method_ok = kind != "request"  # a request's first bytes are a method token
        self._done = False

    @property
    def leftover(self) -> bytes:
        """Bytes received after the head: the start of the body or of the next message."""
        return self._leftover

    @property
    def buffered(self) -> int:
        """How many received bytes are not yet part of a returned head."""
        return len(self._buffer) + len(self._leftover)

    def feed(self, data: bytes) -> Request | Response | None:
        """Add ``data``; return the head once it is complete, else ``None``.

        After the head was returned, further bytes are simply added to ``leftover``.
        """
        if self._done:
            self._leftover += data
            return None
        if not self._buffer and data[:1] not in (b"\r", b"\n"):
            # The usual case: the whole head came in one read. It is parsed straight
            # from ``data``, without first copying it into the buffer.
            match = _BLANK_LINE.search(data)
            if match is not None:
                return self._finish(data, match.end())
        buffer = self._buffer
        buffer += data
        if self._request and buffer and buffer[0] in b"\r\n":
            self._skip_empty_lines()
        # Resume the search a couple of bytes back: the empty line may straddle two feeds.
        match = _BLANK_LINE.search(buffer, self._scan)
        if match is None:
            self._scan = max(0, len(buffer) - 2)
            self._check_partial()
            return None
        received = bytes(buffer)
        buffer.clear()
        return self._finish(received, match.end())

    def _finish(self, received: bytes, end: int) -> Request | Response:
        """The head is ``received[:end]``; what follows it is kept as ``leftover``."""
        self._done = True
        self._leftover = received[end:]
        return self._parse(received[:end])

    def _skip_empty_lines(self) -> None:
        # RFC 9112 2.2: "a server that is expecting to receive and parse a request-line
        # SHOULD ignore at least one empty line (CRLF) received prior to the request-line."
        # A lone CR may still become CRLF, so it waits; a bare CR fails the head checks.
        buffer = self._buffer
        while buffer.startswith(b"\r\n") or buffer.startswith(b"\n"):
            del buffer[: 2 if buffer[0] == 13 else 1]
            self._scan = 0

    def _check_partial(self) -> None:
        limits = self._limits
        buffer = self._buffer
        if not self._method_ok and buffer:
            self._method_ok = self._check_method_start(buffer)
        if len(buffer) > limits.max_request_line and not self._line_ok:
            self._line_ok = self._check_first_line(buffer)  # once: many small feeds stay O(n)
        if self._request and not self._line_ok and b"\n" in buffer:
            self._line_ok = self._check_request_line(buffer)
        if len(buffer) >= limits.max_header_bytes:
            # Even if the next byte ended the head, it would be over the limit.
            raise self._too_large("header section")

    def _check_method_start(self, data: bytearray) -> bool:
        """Refuse at once bytes that cannot begin a request; True once the method is whole.

        Without this, a client that is not speaking HTTP at all (a TLS handshake, say)
        would wait for a line feed that never comes, until the head deadline cuts it off.
        A complete head is checked by ``_make_request`` instead.
        """
        if data[0] == 13:  # a CR that may yet become an empty line's CRLF: wait and see
            return False
        if _METHOD_START.match(data, 0, 64) is None:
            if data[0] == _TLS_HANDSHAKE:
                raise ProtocolError(
                    "This is a TLS handshake, but this port speaks plain HTTP: "
                    "use http://, not https://, in the proxy's address."
                )
            raise ProtocolError("A request must start with a method such as GET (RFC 9112 3).")
        return b" " in data[:64]

    def _check_first_line(self, data: bytes | bytearray) -> bool:
        """Raise if the start line is over the limit; True once it is known not to be."""
        limit = self._limits.max_request_line
        end = data.find(b"\n", 0, limit + 2)
        complete = end >= 0
        if not complete:
            end = min(len(data), limit + 2)  # the earliest the line feed can still come
        if end - (data[end - 1 : end] == b"\r") <= limit:
            return complete
        if self._request:
            raise RequestLineTooLong(
                f"The request line is longer than {limit} bytes (RFC 9112 3: answer 414)."
            )
        raise ProtocolError(f"The status line is longer than {limit} bytes.")

    def _check_request_line(self, data: bytearray) -> bool:
        """Refuse a whole request line at once if it cannot be HTTP/1.x; True when it can.

        ``GET /`` alone is an HTTP/0.9 request: its sender waits for the page, never
        sending the header section a parser would wait for, so only the head deadline
        would end it. Refusing it as soon as the line is complete answers at once.
        """
        self._check_first_line(data)  # 414 first, if it is also too long
        line = bytes(data[: data.index(b"\n")]).rstrip(b"\r")
        if line.count(b" ") == 2 and b" HTTP/" in line:
            return True
        if line.count(b" ") == 1:
            raise ProtocolError("An HTTP/0.9 request (no version): send HTTP/1.1 instead.")
        raise ProtocolError("The request line must be: METHOD SP target SP HTTP-version.")

    def _too_large(self, what: str) -> HeadersTooLarge:
        side = "request" if self._request else "response"
        return HeadersTooLarge(f"The {side} {what} is larger than the configured limit.")

    def _parse(self, raw: bytes) -> Request | Response:
        limits = self._limits
        if len(raw) > limits.max_request_line:
            self._check_first_line(raw)
        if len(raw) > limits.max_header_bytes:
            raise self._too_large("header section")
        lines = split_field_section(raw)
        if len(lines) - 1 > limits.max_header_count:
            raise self._too_large(f"head (more than {limits.max_header_count} fields)")
        fields = field_pairs(lines)
        if self._request:
            return _make_request(lines[0], fields)
        return _make_response(lines[0], fields)


def _make_request(line: str, headers: Headers) -> Request:
    parts = line.split(" ")
    if len(parts) != 3:
        raise ProtocolError("The request line must be: METHOD SP target SP HTTP-version.")
    method, target, sent_version = parts
    version = _known_version(sent_version)
    if method not in _COMMON_METHODS and not _TOKEN.fullmatch(method):
        raise ProtocolError("The request method is not a token (RFC 9110 9.1).")
    _check_target(method, target)
    hosts = headers.count("host")
    # RFC 9112 3.2: "A server MUST respond with a 400 (Bad Request) status code to any
    # HTTP/1.1 request message that lacks a Host header field and to any request message
    # that contains more than one Host header field line".
    if hosts > 1:
        raise ProtocolError("The request has more than one Host field (RFC 9112 3.2).")
    if hosts == 0 and version == "HTTP/1.1":
        raise ProtocolError("An HTTP/1.1 request must have a Host field (RFC 9112 3.2).")
    return Request(method, target, headers, version)


def _known_version(version: str) -> str:
    """The version to treat a message as: ``HTTP/1.0`` or ``HTTP/1.1``.

    RFC 9110 section 2.5: a higher minor version than the recipient supports is treated
    as the highest it does (``HTTP/1.2`` as ``HTTP/1.1``, as nginx and Squid do); another
    major version is not HTTP/1 at all (505).
    """
    if version in _VERSIONS:
        return version
    if not _WELL_FORMED_VERSION.fullmatch(version):
        raise ProtocolError("The HTTP version must look like HTTP/1.1 (RFC 9112 2.3).")
    if version.startswith("HTTP/1."):
        return "HTTP/1.1"
    raise VersionNotSupported(f"{version} is not supported here: only HTTP/1.0 and HTTP/1.1.")


def _check_target(method: str, target: str) -> None:
    """Check the request-target and that its form suits the method (RFC 9112 3.2).

    The whole head was already checked for control characters, so a target that is
    ASCII without HTAB holds only visible characters, as a URI must.
    """
    if not target or not target.isascii() or "\t" in target:
        raise ProtocolError("The request target must be visible ASCII (RFC 9112 3.2).")
    if method == "CONNECT":
        # RFC 9112 3.2.3: "The authority-form of request-target is only used for CONNECT".
        if not _AUTHORITY_FORM.fullmatch(target):
            raise ProtocolError("CONNECT needs an authority-form target host:port.")
    elif target == "*":
        # RFC 9112 3.2.4: "The asterisk-form ... is only used for a server-wide OPTIONS".
        if method != "OPTIONS":
            raise ProtocolError("The target '*' is only allowed with OPTIONS.")
    elif target[0] != "/" and not _ABSOLUTE_FORM.match(target):
        raise ProtocolError("The target must be a /path or an absolute URL (RFC 9112 3.2).")


def _make_response(line: str, headers: Headers) -> Response:
    # RFC 9112 4: status-line = HTTP-version SP status-code SP [ reason-phrase ]
    # Like h11 we also accept "HTTP/1.1 200" without the second SP: such servers exist.
    sent_version, _, rest = line.partition(" ")
    code, _, reason = rest.partition(" ")
    version = _known_version(sent_version)
    if len(code) != 3 or not (code.isascii() and code.isdigit()):
        raise ProtocolError("The status code must be three digits (RFC 9112 4).")
    status = int(code)
    if status < 100:
        raise ProtocolError("The status code must be between 100 and 999 (RFC 9110 15).")
    # The reason phrase was already checked: HTAB, SP, VCHAR and obs-text only.
    return Response(status, headers, reason, version)


def parse_request_head(data: bytes, limits: Limits = DEFAULT_LIMITS) -> Request:
    """Parse ``data``, which must be exactly one whole request head, empty line included."""
    head = _parse_whole(HeadParser("request", limits), data)
    assert isinstance(head, Request)
    return head


def parse_response_head(data: bytes, limits: Limits = DEFAULT_LIMITS) -> Response:
    """Parse ``data``, which must be exactly one whole response head, empty line included."""
    head = _parse_whole(HeadParser("response", limits), data)
    assert isinstance(head, Response)
    return head


def _parse_whole(parser: HeadParser, data: bytes) -> Request | Response:
    head = parser.feed(data)
    if head is None:
        raise IncompleteMessage("The head does not end with an empty line.")
    if parser.buffered:
        raise ProtocolError("There are bytes after the end of the head.")
    return head


def serialize_request_head(request: Request) -> bytes:
    """The request line, field lines and the empty line that ends the head, as bytes."""
    start = f"{request.method} {request.target} {request.version}"
    return _encode_head(start, request.headers)


def serialize_response_head(response: Response) -> bytes:
    """The status line, field lines and the empty line; an empty reason gets the usual one."""
    # RFC 9112 4: "A client SHOULD ignore the reason-phrase content", but people read it.
    reason = response.reason or reason_phrase(response.status)
    return _encode_head(f"{response.version} {response.status} {reason}", response.headers)


def _encode_head(start: str, headers: Headers) -> bytes:
    """``start`` CRLF, one ``name: value`` CRLF per field, then the empty line.

    Refuses (``ConfigError``, a 500) a CR or LF inside any part: writing one would let a
    value start a new field or a new message (response splitting).
    """
    lines = [start]
    lines += map(": ".join, headers)  # ("Host", "a.test") -> "Host: a.test"
    text = "\r\n".join(lines) + "\r\n\r\n"
    if text.count("\n") != len(lines) + 1 or text.count("\r") != len(lines) + 1:
        raise ConfigError("A start line or field contains CR or LF; refusing to write it.")
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        raise ConfigError("A start line or field has characters outside latin-1.") from None


def encode_chunk(data: bytes) -> bytes:
    """One chunk: hex size, CRLF, data, CRLF. Empty data gives ``b""`` (0 would end it)."""
    if not data:
        return b""
    return b"%x\r\n%s\r\n" % (len(data), data)


def last_chunk(trailers: Headers | None = None) -> bytes:
    """The zero-size chunk that ends a chunked body, the trailers, and the empty line."""
    return _encode_head("0", trailers if trailers is not None else Headers())
