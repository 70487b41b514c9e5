"""Byte ranges: answering ``Range: bytes=a-b`` from a stored complete response (RFC 9110 14).

A client that already holds part of a representation (a paused download, a video player
seeking) asks for the rest with ``Range``. A cache that stores the whole response can cut the
piece out itself: ``206 Partial Content`` with ``Content-Range: bytes a-b/LEN`` and a
``Content-Length`` of the piece. A range that starts past the end gets ``416 Range Not
Satisfiable`` with ``Content-Range: bytes */LEN``, so the client learns the real length.

Key idea: the three forms of a single range all become one pair of offsets, first and last
byte, both inclusive, once the length is known: ``bytes=0-99`` (the first 100), ``bytes=100-``
(from 100 to the end) and ``bytes=-100`` (the last 100). A last position past the end is
cut to the end; a suffix longer than the body means the whole body (14.1.2).

``If-Range`` makes the range conditional: "send me the piece only if you still have the
version I started with, else everything". Its validator must be *strong* (13.1.5): an entity
tag compared strongly, or a Last-Modified date the stored Date shows to be at least a second
old (8.8.2.2), since a date within the same second could name two versions.

RFC sections: RFC 9110 13.1.5 (If-Range), 14.1 (range units, bytes ranges), 14.2 (Range),
14.4 (Content-Range), 15.3.7 (206), 15.5.17 (416), 8.8.2.2 and 8.8.3.2 (strong validators).

Left out on purpose: several ranges in one request (``multipart/byteranges``), units other
than bytes and ranges of a response not stored: ``http_cache`` passes those to the origin.

Layer 2: imports only ``messages`` and ``validators``; pure functions, no state.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from proxylab.cache.validators import parse_http_date
from proxylab.http.messages import Headers

__all__ = [
    "UNSATISFIABLE",
    "ByteRange",
    "if_range_allows",
    "parse_range",
    "partial_headers",
    "unsatisfiable",
]

#: The reason phrase of 416 (RFC 9110 15.5.17).
UNSATISFIABLE = "Range Not Satisfiable"

#: One range-spec of the bytes unit, with optional whitespace around it (RFC 9110 14.1.1,
#: 5.6.1: list members may be padded). The unit is case-insensitive (14.1).
_SINGLE = re.compile(r"[ \t]*bytes[ \t]*=[ \t]*([0-9]*)-([0-9]*)[ \t]*", re.ASCII | re.IGNORECASE)
#: Digits beyond this are not a position any stored body can have; refuse rather than compute.
_MAX_DIGITS = 18


@dataclass(frozen=True, slots=True)
class ByteRange:
    """One ``bytes`` range as written: ``first``-``last`` or the ``suffix`` length."""

    first: int | None
    last: int | None
    suffix: int | None = None

    def resolve(self, length: int) -> tuple[int, int] | None:
        """The first and last offsets (inclusive) within ``length`` bytes, or None if none.

        RFC 9110 14.1.1: a range is satisfiable if its first-pos is below the length, or if it
        is a suffix of non-zero length.
        """
        if self.suffix is not None:
            if self.suffix == 0 or length == 0:
                return None
            return max(0, length - self.suffix), length - 1
        assert self.first is not None  # parse_range gives a first or a suffix
        if self.first >= length:
            return None
        last = length - 1 if self.last is None else min(self.last, length - 1)
        return self.first, last


def parse_range(values: list[str]) -> ByteRange | None:
    """The one bytes range the ``Range`` lines ask for, or None when it is anything else.

    None covers what this cache leaves to the origin: no Range, several lines or ranges,
    another unit, and invalid syntax (``bytes=5-2``: "invalid if the last-pos value is
    present and less than the first-pos", 14.1.1).
    """
    if len(values) != 1:
        return None
    match = _SINGLE.fullmatch(values[0])
    if match is None:
        return None
    first, last = match.groups()
    if len(first) > _MAX_DIGITS or len(last) > _MAX_DIGITS:
        return None
    if not first:  # "-n": the last n bytes ("-" alone is no range at all)
        return ByteRange(None, None, int(last)) if last else None
    start, end = int(first), int(last) if last else None
    if end is not None and end < start:
        return None
    return ByteRange(start, end)


def _strong_etag(tag: str | None) -> str | None:
    """An entity tag's opaque part if it is strong (``"v1"``, not ``W/"v1"``), else None."""
    if tag is None:
        return None
    tag = tag.strip()
    if len(tag) >= 2 and tag[0] == tag[-1] == '"':
        return tag[1:-1]
    return None


def if_range_allows(value: str, stored: Headers, received: float) -> bool:
    """RFC 9110 13.1.5: does ``If-Range: value`` name the stored representation?

    An entity tag must match the stored ETag by strong comparison (8.8.3.2: neither weak,
    same characters). A date must equal the stored Last-Modified exactly and be strong: the
    stored Date at least one second later (8.8.2.2).
    """
    value = value.strip()
    if value.startswith(('"', "W/", "w/")):
        wanted, have = _strong_etag(value), _strong_etag(stored.get("etag"))
        return wanted is not None and wanted == have
    since = parse_http_date(value, received)
    modified = parse_http_date(stored.get("last-modified"), received)
    if since is None or modified is None or since != modified:
        return False
    date = parse_http_date(stored.get("date"), received)
    return (received if date is None else date) >= modified + 1


def partial_headers(headers: Headers, first: int, last: int, length: int) -> Headers:
    """The head of a 206 cut from a stored 200: its fields, the piece's range and length.

    RFC 9110 15.3.7: a 206 carries the Date, Cache-Control, ETag, Expires, Content-Location
    and Vary a 200 would have; only Content-Range and Content-Length describe the piece.
    """
    partial = headers.copy()
    partial.set("Content-Range", f"bytes {first}-{last}/{length}")
    partial.set("Content-Length", str(last - first + 1))
    return partial


def unsatisfiable(length: int) -> tuple[Headers, bytes]:
    """The head and body of a 416: RFC 9110 15.5.17 says send ``Content-Range: bytes */LEN``."""
    text = f"416 Range Not Satisfiable: the representation has {length} bytes.\n".encode()
    headers = Headers(
        [
            ("Content-Range", f"bytes */{length}"),
            ("Content-Type", "text/plain"),
            ("Content-Length", str(len(text))),
        ]
    )
    return headers, text
