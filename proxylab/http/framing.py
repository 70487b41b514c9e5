"""Where a body ends, how to decode it, and the field sections heads and trailers share.

What it does. After a head comes maybe a body, and HTTP/1.1 has three ways to say where
it ends (RFC 9112 6.3): a ``Content-Length``, the chunked transfer coding, or the closing
of the connection. ``request_framing`` and ``response_framing`` read the head and answer
with a ``Framing`` value; a ``BodyDecoder`` then takes raw bytes and hands back body data,
whatever sizes the bytes arrive in, and keeps the bytes after the body for the next
message. This module is part of the wire layer and is re-exported by ``proxylab.http.wire``.

The key idea: framing is where request smuggling lives. If the proxy and the server behind
it disagree on where a body ends, an attacker can hide a second request inside the first.
So the rules here are strict and each one cites the RFC line that licenses it: a request
with both Transfer-Encoding and Content-Length is refused, so are differing lengths, a
length that is not all digits, and a chunked coding that is not last. A response may
legally have no length at all; it then ends when the server closes.

It also holds the pieces heads and trailers share (a trailer section is a header section
after the last chunk): ``Limits``, ``split_field_section`` and ``field_pairs``.

RFC sections: RFC 9112 6 (message body), 6.1 (Transfer-Encoding), 6.2 (Content-Length),
6.3 (message body length), 7.1 (chunked coding), 7.1.2 (trailers); RFC 9110 6.5 (trailer
fields) and 15.5.14 (413).

Left out on purpose: transfer codings other than chunked in requests (501); decoding
chunk extensions (they are checked for control characters and dropped); merging
trailers into the head (RFC 9110 6.5.1 says a recipient must not do that blindly).

Why one long module: where a body ends is one decision (RFC 9112 section 6.3) with its
decoder for each answer; the rules and the state machine read best together.

Layer 1: imports only ``errors`` and ``messages``.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from proxylab.errors import (
    BodyTooLarge,
    ConfigError,
    HeadersTooLarge,
    IncompleteMessage,
    NotImplementedByProxy,
    ProtocolError,
)
from proxylab.http.messages import Headers, Request, Response

__all__ = [
    "NO_BODY",
    "LENGTH",
    "CHUNKED",
    "UNTIL_CLOSE",
    "DEFAULT_LIMITS",
    "BodyDecoder",
    "BodyKind",
    "Framing",
    "Limits",
    "field_pairs",
    "request_framing",
    "response_framing",
    "split_field_section",
]


@dataclass(frozen=True, slots=True)
class Limits:
    """How much the wire layer reads before it refuses; every limit is a DoS defence.

    ``max_request_line`` (414) and ``max_header_bytes`` (431, the whole head with its
    empty line) are checked as bytes arrive; ``max_header_count`` (431) bounds field lines;
    ``max_body`` (413, ``None`` for no limit) bounds decoded body bytes;
    ``max_chunk_size`` and ``max_chunk_line`` (400) bound one chunk and its size line;
    ``max_trailer_bytes`` (431) bounds the trailer section.
    """

    max_request_line: int = 8192
    max_header_bytes: int = 65536
    max_header_count: int = 100
    max_body: int | None = None
    max_chunk_size: int = 2**40
    max_trailer_bytes: int = 16384
    max_chunk_line: int = 4096

    def __post_init__(self) -> None:
        for name in self.__slots__:
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 0):
                raise ConfigError(f"Limits.{name} must be a whole number >= 0, not {value!r}.")


DEFAULT_LIMITS = Limits()

# --- field sections: shared by heads and trailers ----------------------------------------

#: Bytes that may not appear in a head once CRLF was turned into LF: every control
#: character except HTAB and LF, so also every CR that was not part of a CRLF (a bare CR,
#: RFC 9112 2.2) and DEL. Mapped to 0 so one ``translate`` plus one ``in`` finds them.
_FORBIDDEN = bytes(
    0 if (c < 0x20 and c not in (0x09, 0x0A)) or c == 0x7F else 1 for c in range(256)
)
#: A line feed not followed by ``token ":"``: the next field line has an empty name, a
#: space before the colon (RFC 9112 5.1), no colon, or starts with SP/HTAB (obs-fold).
_BAD_LINE_START = re.compile(rb"\n(?![-!#$%&'*+.^_`|~0-9A-Za-z]+:)")
_TOKEN = re.compile(r"[-!#$%&'*+.^_`|~0-9A-Za-z]+")
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
#: An empty line ends a section; with bare LF accepted it is LF LF, CRLF CRLF, or mixed.
_BLANK_LINE = re.compile(rb"\n\r?\n")


def split_field_section(raw: bytes) -> list[str]:
    """Check a head (start line, field lines, empty line) and return its lines as text.

    ``raw`` ends with the empty line. Line 0 is the start line; for a trailer section pass
    ``b"\\n" + raw`` so that line 0 is empty. Raises ``ProtocolError`` naming the first
    bad line. Field lines come back as sent: pass them to ``field_pairs``.
    """
    # RFC 9112 2.2: "a recipient MAY recognize a single LF as a line terminator and ignore
    # any preceding CR." After this every CR left is a bare CR, which _FORBIDDEN rejects.
    text = raw.replace(b"\r\n", b"\n")
    first = text.find(b"\n")
    if 0 in text.translate(_FORBIDDEN) or _BAD_LINE_START.search(text, first, len(text) - 2):
        raise _diagnose(text)
    lines = text.decode("latin-1").split("\n")
    del lines[-2:]  # the empty line that ended the section
    return lines


def field_pairs(lines: list[str]) -> Headers:
    """The field lines after the start line as ``Headers``, each value's OWS stripped.

    RFC 9112 5: field-line = field-name ":" OWS field-value OWS. ``split_field_section``
    already checked that each name is a token right before the colon.
    """
    items: list[tuple[str, str]] = []
    lowered: list[str] = []
    for line in lines[1:]:
        name, _, value = line.partition(":")
        items.append((name, value.strip(" \t")))
        lowered.append(name.lower())
    return Headers(items, lowered)


def _diagnose(text: bytes) -> ProtocolError:
    """The slow path: find the first bad line and say what is wrong with it."""
    for number, line in enumerate(text.decode("latin-1").split("\n")[:-2]):
        control = _CONTROL.search(line)
        if control and control.group() == "\r":
            return ProtocolError(f"Line {number + 1} has a bare CR (RFC 9112 2.2).")
        if control:
            return ProtocolError(f"Line {number + 1} has a control character (RFC 9110 5.5).")
        if number == 0:
            continue  # the start line has its own checks
        name, colon, _ = line.partition(":")
        if line[:1] in (" ", "\t"):
            return ProtocolError(f"Line {number + 1} uses obsolete line folding (RFC 9112 5.2).")
        if not colon:
            return ProtocolError(f"Line {number + 1} is not a field line: it has no colon.")
        if name != name.rstrip(" \t"):
            return ProtocolError(
                f"Line {number + 1} has whitespace before the colon (RFC 9112 5.1)."
            )
        if not _TOKEN.fullmatch(name):
            return ProtocolError(
                f"Line {number + 1} has a field name that is not a token (RFC 9110 5.1)."
            )
    return ProtocolError("The head is malformed.")


# --- framing decisions ---------------------------------------------------------------------


class BodyKind(enum.Enum):
    """How the end of a body is found (RFC 9112 6.3)."""

    NONE = "none"  # no body at all
    LENGTH = "length"  # exactly Framing.length bytes
    CHUNKED = "chunked"  # chunks until the zero-size chunk and the trailers
    UNTIL_CLOSE = "until-close"  # everything until the server closes (responses only)


# The kinds under plain module-level names, which the per-request code compares against.
# Python 3.10 and 3.11 find ``BodyKind.NONE`` through the enum class's ``__getattr__``
# hook (removed in 3.12): about 1,000 machine instructions a read, and a proxied request
# reads a body kind a dozen times, 5% of all it costs (bench/bench_instructions.py).
NO_BODY = BodyKind.NONE
LENGTH = BodyKind.LENGTH
CHUNKED = BodyKind.CHUNKED
UNTIL_CLOSE = BodyKind.UNTIL_CLOSE


@dataclass(slots=True)
class Framing:
    """The decision ``request_framing``/``response_framing`` take for one message.

    A value, but not ``frozen``: one is built for most messages, and a frozen dataclass
    sets each field through ``object.__setattr__`` (2,600 more machine instructions, see
    ``messages``). The shared ones below (``_NO_BODY`` ...) are never changed.
    """

    kind: BodyKind
    length: int = 0


_NO_BODY = Framing(NO_BODY)
_CHUNKED_BODY = Framing(CHUNKED)
_UNTIL_CLOSE_BODY = Framing(UNTIL_CLOSE)


def request_framing(request: Request, limits: Limits = DEFAULT_LIMITS) -> Framing:
    """Where the request body ends: chunked, Content-Length, or no body.

    A request never reads until close: the client has to keep the connection open for
    the answer (RFC 9112 6.3, rule 7: no length means a length of zero).
    """
    lengths, codings = _framing_fields(request.headers)
    if codings is not None:
        # RFC 9112 6.1: "A server MAY reject a request that contains both Content-Length
        # and Transfer-Encoding". We do: that is the classic request-smuggling vector.
        if lengths:
            raise ProtocolError("The request has both Transfer-Encoding and Content-Length.")
        _check_request_codings(codings, request.version)
        return _CHUNKED_BODY
    if not lengths:
        return _NO_BODY
    length = _content_length(lengths)
    if limits.max_body is not None and length > limits.max_body:
        raise BodyTooLarge(f"The request body is over the limit of {limits.max_body} bytes.")
    return Framing(LENGTH, length)


def _check_request_codings(codings: list[str], version: str) -> None:
    # RFC 9112 6.1: a recipient of "an HTTP/1.0 message containing a Transfer-Encoding
    # header field MUST treat the message as if the framing is faulty".
    if version == "HTTP/1.0":
        raise ProtocolError("An HTTP/1.0 request cannot use Transfer-Encoding (RFC 9112 6.1).")
    # RFC 9112 6.3: "If a Transfer-Encoding header field is present in a request and the
    # chunked transfer coding is not the final encoding, ... the server MUST respond with
    # the 400 (Bad Request) status code and then close the connection."
    if codings[-1] != "chunked":
        raise ProtocolError("In a request, chunked must be the final transfer coding.")
    if codings != ["chunked"]:
        # RFC 9112 6.1: a server "that receives a request message with a transfer coding it
        # does not understand SHOULD respond with 501 (Not Implemented)".
        raise NotImplementedByProxy("Only Transfer-Encoding: chunked is supported.")


def response_framing(response: Response, request_method: str) -> Framing:
    """Where the response body ends, following RFC 9112 6.3 in order.

    The framing fields are checked first, whatever the status: a malformed length means
    the server is confused or hostile even when this response has no body (like h11).
    """
    lengths, codings = _framing_fields(response.headers)
    length = _content_length(lengths) if lengths else None
    status = response.status
    # Rule 1: "Any response to a HEAD request and any response with a 1xx (Informational),
    # 204 (No Content), or 304 (Not Modified) status code is always terminated by the
    # first empty line after the header fields".
    if request_method == "HEAD" or status < 200 or status in (204, 304):
        return _NO_BODY
    # Rule 2: "Any 2xx (Successful) response to a CONNECT request implies that the
    # connection will become a tunnel immediately after the empty line".
    if request_method == "CONNECT" and status < 300:
        return _NO_BODY
    if codings is not None:
        if response.version == "HTTP/1.0":  # RFC 9112 6.1, as for requests
            raise ProtocolError("An HTTP/1.0 response cannot use Transfer-Encoding.")
        # Rule 3: Transfer-Encoding overrides Content-Length. Rule 4: chunked last means
        # chunked; otherwise "the message body length is determined by reading the
        # connection until it is closed by the server".
        return _CHUNKED_BODY if codings[-1] == "chunked" else _UNTIL_CLOSE_BODY
    if length is not None:
        return Framing(LENGTH, length)
    return _UNTIL_CLOSE_BODY  # rule 8


def _framing_fields(headers: Headers) -> tuple[list[str], list[str] | None]:
    """The Content-Length values and the transfer codings (``None``: no such field)."""
    names = headers.names()  # a look through the names first: most messages lack one or both
    lengths = headers.get_all("content-length") if "content-length" in names else []
    if "transfer-encoding" not in names:
        return lengths, None
    encodings = headers.get_all("transfer-encoding")
    codings = [c.strip().lower() for value in encodings for c in value.split(",")]
    codings = [c for c in codings if c]
    if not codings:
        raise ProtocolError("Transfer-Encoding is empty.")
    # RFC 9112 6.1: "A sender MUST NOT apply the chunked transfer coding more than once".
    if codings.count("chunked") > 1:
        raise ProtocolError("The chunked transfer coding is applied more than once.")
    return lengths, codings


def _content_length(values: list[str]) -> int:
    """The one length that every Content-Length line and list element agrees on.

    RFC 9112 6.3 rule 5: "If a message is received without Transfer-Encoding and with an
    invalid Content-Length header field, then the message framing is invalid". Identical
    repeats (``5, 5``) may be treated as one value (RFC 9110 8.6); differing ones may not.
    """
    if len(values) == 1 and _is_length(values[0]):
        return int(values[0])  # the usual case: one line holding one number
    found = {part.strip(" \t") for value in values for part in value.split(",")}
    if len(found) != 1:
        raise ProtocolError("The message has differing Content-Length values.")
    text = found.pop()
    if not _is_length(text):
        raise ProtocolError("Content-Length must be a number of at most 20 digits.")
    return int(text)


def _is_length(text: str) -> bool:
    # RFC 9110 8.6: Content-Length = 1*DIGIT. isdigit() alone would accept "²", and 20
    # digits are more bytes than any disk holds.
    return text.isascii() and text.isdigit() and len(text) <= 20


# --- decoding a body -----------------------------------------------------------------------


class _Chunk(enum.Enum):
    """Where a chunked decoder is inside ``chunk = chunk-size [ext] CRLF data CRLF``."""

    SIZE = "size line"
    DATA = "chunk data"
    DATA_END = "CRLF after the chunk data"
    TRAILERS = "trailer section"


_HEX_DIGITS = b"0123456789abcdefABCDEF"


class BodyDecoder:
    """Turns the raw bytes of one body into body data, for any ``Framing``.

    ``feed`` returns the decoded pieces (never empty ones); once ``done`` is true, the
    bytes after the body are in ``leftover``. For ``UNTIL_CLOSE``, call ``eof`` when the
    peer closes; for any other unfinished body ``eof`` raises ``IncompleteMessage``.

    Chunk data is handed back as slices of what was fed, never copied into a buffer: only
    an unfinished size line, CRLF or trailer section waits here, and each has a limit.
    ``max_body`` is enforced as early as possible: a declared length over it is refused
    when the decoder is made, a chunk as soon as its size line arrives.
    """

    __slots__ = (
        "_buffer",
        "_done",
        "_framing",
        "_leftover",
        "_limits",
        "_received",
        "_remaining",
        "_state",
        "_trailers",
    )

    def __init__(self, framing: Framing, limits: Limits = DEFAULT_LIMITS) -> None:
        self._framing = framing
        self._limits = limits
        self._remaining = framing.length  # LENGTH: bytes to come; CHUNKED: left in chunk
        self._state = _Chunk.SIZE
        self._buffer = b""
        self._leftover = b""
        self._trailers = Headers()
        self._received = 0
        self._done = framing.kind is NO_BODY or (framing.kind is LENGTH and framing.length == 0)
        if framing.kind is LENGTH:
            self._count(framing.length)  # refuse a declared length over the limit at once

    @property
    def done(self) -> bool:
        """Whether the whole body (and any trailers) has been read."""
        return self._done

    @property
    def leftover(self) -> bytes:
        """Bytes received after the end of the body: the next message starts here."""
        return self._leftover

    @property
    def trailers(self) -> Headers:
        """The trailer fields of a chunked body (RFC 9112 7.1.2); empty otherwise."""
        return self._trailers

    @property
    def received(self) -> int:
        """Decoded body bytes so far."""
        return self._received

    def feed(self, data: bytes) -> list[bytes]:
        """Decode ``data``; return the body pieces it held (maybe none)."""
        if self._done:
            self._leftover += data
            return []
        kind = self._framing.kind
        if kind is LENGTH:
            return self._feed_length(data)
        if kind is CHUNKED:
            return self._feed_chunked(data)
        self._count(self._received + len(data))  # UNTIL_CLOSE: everything is body
        self._received += len(data)
        return [data] if data else []

    def eof(self) -> None:
        """The peer closed: this ends an ``UNTIL_CLOSE`` body, and is an error otherwise."""
        if self._done:
            return
        if self._framing.kind is UNTIL_CLOSE:
            self._done = True
            return
        # RFC 9112 8: "A message that uses a valid Content-Length is incomplete if the size
        # of the message body received ... is less than the value given". Same for chunks.
        raise IncompleteMessage(
            f"The connection closed {self.received} bytes into the body, before its end."
        )

    def _count(self, total: int) -> None:
        limit = self._limits.max_body
        if limit is not None and total > limit:
            raise BodyTooLarge(f"The body is over the limit of {limit} bytes.")

    def _feed_length(self, data: bytes) -> list[bytes]:
        take = min(self._remaining, len(data))
        self._remaining -= take
        self._received += take
        if self._remaining == 0:
            self._done = True
            self._leftover = data[take:]
        return [data[:take]] if take else []

    def _feed_chunked(self, data: bytes) -> list[bytes]:
        buffer = self._buffer + data if self._buffer else data
        position = 0
        pieces: list[bytes] = []
        while not self._done:
            step = _STEPS[self._state]
            after = step(self, buffer, position, pieces)
            if after < 0:
                break  # this step needs more bytes
            position = after
        if self._done:
            self._leftover = buffer[position:]
            self._buffer = b""
        else:
            self._buffer = buffer[position:]
        return pieces

    def _step_size(self, buffer: bytes, position: int, _: list[bytes]) -> int:
        limit = self._limits.max_chunk_line
        lf = buffer.find(b"\n", position, position + limit + 2)
        if lf < 0:
            if len(buffer) - position > limit + 1:
                raise ProtocolError(f"A chunk-size line is longer than {limit} bytes.")
            return -1
        size = _chunk_size(buffer[position:lf])
        if size > self._limits.max_chunk_size:
            raise ProtocolError("A chunk is larger than the configured limit.")
        self._count(self._received + size)
        self._remaining = size
        self._state = _Chunk.DATA if size else _Chunk.TRAILERS
        return lf + 1

    def _step_data(self, buffer: bytes, position: int, pieces: list[bytes]) -> int:
        take = min(len(buffer) - position, self._remaining)
        if take == 0:
            return -1
        pieces.append(buffer[position : position + take])
        self._remaining -= take
        self._received += take
        if self._remaining == 0:
            self._state = _Chunk.DATA_END
        return position + take

    def _step_data_end(self, buffer: bytes, position: int, _: list[bytes]) -> int:
        # RFC 9112 7.1: chunk = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
        end = buffer[position : position + 2]
        if end == b"\r\n":
            self._state = _Chunk.SIZE
            return position + 2
        if b"\r\n".startswith(end):
            return -1  # only b"" or b"\r" so far
        raise ProtocolError("Chunk data must be followed by CRLF (RFC 9112 7.1).")

    def _step_trailers(self, buffer: bytes, position: int, _: list[bytes]) -> int:
        limit = self._limits.max_trailer_bytes
        end = _section_end(buffer, position)
        if end < 0:
            if len(buffer) - position >= limit:  # even one more byte would be too many
                raise HeadersTooLarge("The trailer section is larger than the limit.")
            return -1
        if end - position > limit:
            raise HeadersTooLarge("The trailer section is larger than the limit.")
        lines = split_field_section(b"\n" + buffer[position:end])
        if len(lines) - 1 > self._limits.max_header_count:
            raise HeadersTooLarge("The trailer section has too many fields.")
        self._trailers = field_pairs(lines)
        self._done = True
        return end


_STEPS = {
    _Chunk.SIZE: BodyDecoder._step_size,
    _Chunk.DATA: BodyDecoder._step_data,
    _Chunk.DATA_END: BodyDecoder._step_data_end,
    _Chunk.TRAILERS: BodyDecoder._step_trailers,
}


def _chunk_size(line: bytes) -> int:
    """The size from ``chunk-size [ chunk-ext ] CR`` (the LF already cut off)."""
    # RFC 9112 7.1: the size line ends in CRLF; unlike in the head, no bare LF here.
    if not line.endswith(b"\r"):
        raise ProtocolError("A chunk-size line must end with CRLF (RFC 9112 7.1).")
    size, _, extension = line[:-1].partition(b";")
    size = size.rstrip(b" \t")  # RFC 9112 7.1.1 allows BWS before the ";"
    # RFC 9112 7.1: "Recipients MUST anticipate potentially large hexadecimal numerals and
    # prevent parsing errors due to integer conversion overflows": at most 16 hex digits.
    if not size or len(size) > 16 or size.translate(None, _HEX_DIGITS):
        raise ProtocolError("A chunk size must be 1 to 16 hexadecimal digits.")
    if extension and 0 in extension.translate(_FORBIDDEN):
        raise ProtocolError("A chunk extension contains a control character.")
    return int(size, 16)


def _section_end(buffer: bytes, position: int) -> int:
    """Index just after the empty line that ends a trailer section, or -1."""
    if buffer.startswith(b"\n", position):
        return position + 1
    if buffer.startswith(b"\r\n", position):
        return position + 2
    match = _BLANK_LINE.search(buffer, position)
    return match.end() if match else -1
