"""Validators and conditional requests: HTTP dates, entity tags and the 304 (RFC 9110).

A stale stored response is not thrown away: it carries *validators*, an entity tag (``ETag``)
and a modification date (``Last-Modified``), so the cache can ask the origin "has it changed
since this?" with a conditional request. ``304 Not Modified`` means no, and costs a header
section instead of a body. This module holds the pure parts of that conversation: reading and
writing HTTP-dates, comparing entity tags, building the cache's own conditional request,
deciding whether the store can answer a client's conditional itself, and merging the fields of
a 304 into the stored ones. ``policy`` and ``cache`` call these; nothing here has state.

Key idea: a 304 says "what you hold is good enough", never "byte for byte", so entity tags are
compared *weakly* (RFC 9110 8.8.3.2): ``W/"v1"`` matches ``"v1"``; only the opaque part between
the quotes counts. And If-None-Match, when present, wins over If-Modified-Since (13.2.2):
a tag names a representation exactly, a one-second date only roughly.

RFC sections: RFC 9110 5.6.7 (HTTP-date), 8.8.2 (Last-Modified), 8.8.3 (ETag and its
comparison), 13.1.2-13.1.3 (If-None-Match, If-Modified-Since), 13.2.2 (precedence), 15.4.5
(304); RFC 9111 3.2 (updating stored fields), 4.3.1-4.3.2 (sending and answering conditionals),
4.3.4-4.3.5 (freshening with 304 and HEAD).

Left out on purpose: strong comparison and the preconditions that need it (If-Match,
If-Unmodified-Since, If-Range): the cache passes those requests to the origin untouched. No
date arithmetic beyond whole seconds, no time zones but GMT.

Layer 2: imports only ``messages``; the caller passes the clock (``now``) in.
"""

from __future__ import annotations

import re
import time
from datetime import datetime, timezone
from email.utils import formatdate

from proxylab.http.messages import Headers, connection_tokens

__all__ = [
    "client_not_modified",
    "conditional_headers",
    "format_http_date",
    "freshen_headers",
    "not_modified_headers",
    "parse_http_date",
    "same_validators",
    "split_list",
]


def split_list(value: str) -> list[str]:
    """Split a comma-separated field value, leaving commas inside quoted strings alone.

    It lives here because entity-tag lists are where it matters most (``"a,b"`` is one tag);
    ``policy`` borrows it for Cache-Control.
    """
    members: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for char in value:
        if escaped:
            escaped = False
        elif quoted and char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == "," and not quoted:
            members.append("".join(current).strip())
            current = []
            continue
        current.append(char)
    members.append("".join(current).strip())
    return [member for member in members if member]


# -- HTTP dates ----------------------------------------------------------------------------

_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_MON = "(" + "|".join(_MONTHS) + ")"
_DAY = "(?:mon|tue|wed|thu|fri|sat|sun)"
_LONG_DAY = "(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday)"
_HMS = "([0-9]{2}):([0-9]{2}):([0-9]{2})"
_FLAGS = re.ASCII | re.IGNORECASE
_IMF = re.compile(rf"{_DAY}, ([0-9]{{2}}) {_MON} ([0-9]{{4}}) {_HMS} GMT", _FLAGS)
_RFC850 = re.compile(rf"{_LONG_DAY}, ([0-9]{{2}})-{_MON}-([0-9]{{2}}) {_HMS} GMT", _FLAGS)
_ASCTIME = re.compile(rf"{_DAY} {_MON} ([0-9 ][0-9]) {_HMS} ([0-9]{{4}})", _FLAGS)


def parse_http_date(value: str | None, now: float) -> float | None:
    """Seconds since the epoch for an HTTP-date, or ``None`` if ``value`` is not one.

    RFC 9110 5.6.7: IMF-fixdate, plus the obsolete rfc850 and asctime forms. Anything else
    (``0``, ``UTC`` instead of ``GMT``, a missing comma, a one-digit hour) is invalid; letter
    case is forgiven. ``now`` places two-digit rfc850 years in the right century.
    """
    if not value:
        return None  # absent: the usual case for request preconditions
    text = value.strip()
    if match := _IMF.fullmatch(text):
        day, month, year, hour, minute, second = match.groups()
    elif match := _RFC850.fullmatch(text):
        day, month, short_year, hour, minute, second = match.groups()
        year = str(_full_year(int(short_year), now))
    elif match := _ASCTIME.fullmatch(text):
        month, day, hour, minute, second, year = match.groups()
    else:
        return None
    month_number = _MONTHS.index(month.lower()) + 1
    try:
        moment = datetime(int(year), month_number, int(day), int(hour), int(minute), int(second))
    except ValueError:  # 31 Feb, 25:00 ...
        return None
    return moment.replace(tzinfo=timezone.utc).timestamp()


def _full_year(short: int, now: float) -> int:
    """RFC 9110 5.6.7: a two-digit year more than 50 years ahead belongs to the last century."""
    this_year = time.gmtime(now).tm_year
    year = this_year - this_year % 100 + short
    return year - 100 if year > this_year + 50 else year


def format_http_date(timestamp: float) -> str:
    """An IMF-fixdate such as ``Sun, 06 Nov 1994 08:49:37 GMT``."""
    return formatdate(timestamp, usegmt=True)


# -- entity tags and validators ------------------------------------------------------------


def _opaque(tag: str) -> str:
    """An entity tag for weak comparison (RFC 9110 8.8.3.2): no ``W/``, no quotes."""
    tag = tag.strip()
    if tag[:2] in ("W/", "w/"):
        tag = tag[2:]
    return tag[1:-1] if len(tag) >= 2 and tag[0] == tag[-1] == '"' else tag


def same_validators(stored: Headers, update: Headers, names: tuple[str, ...] = ()) -> bool:
    """Whether a 304 or HEAD response describes the stored representation (RFC 9111 4.3.4-5).

    Every validator the update carries (ETag, Last-Modified and any extra ``names``) must
    equal the stored one; an update without validators is taken to confirm what we sent.
    """
    for name in ("etag", "last-modified", *names):
        new, old = update.get(name), stored.get(name)
        if new is None:
            continue
        if old is None or (_opaque(old) != _opaque(new) if name == "etag" else old != new):
            return False
    return True


# -- conditional requests and the 304 ------------------------------------------------------


def conditional_headers(request_headers: Headers, stored: Headers) -> Headers:
    """The request fields for the cache's own validation of a stored response (RFC 9111 4.3.1).

    The client's own If-None-Match / If-Modified-Since are replaced: the cache validates what it
    holds and answers the client's conditional itself afterwards.
    """
    headers = request_headers.copy()
    headers.remove_all(("if-none-match", "if-modified-since"))
    etag = stored.get("etag")
    if etag:
        quoted = etag if etag.startswith(('"', 'W/"')) else f'"{etag}"'
        headers.set("If-None-Match", quoted)
    # RFC 9110 13.1.3: caches send the stored Last-Modified, or else its Date.
    since = stored.get("last-modified") or stored.get("date")
    if since:
        headers.set("If-Modified-Since", since)
    return headers


def client_not_modified(request_headers: Headers, stored: Headers, received: float) -> bool:
    """Does the client's conditional match the stored response, so a 304 answers it?

    RFC 9110 13.2.2: If-None-Match (weak comparison, ``*``) wins over If-Modified-Since.
    RFC 9111 4.3.2: without Last-Modified, compare with Date or with the time of receipt.
    """
    names = request_headers.names()  # asked on every hit: one list, no lower-casing
    if "if-none-match" in names:
        tags = split_list(", ".join(request_headers.get_all("if-none-match")))
        etag = stored.get("etag")
        return "*" in tags or (etag is not None and _opaque(etag) in map(_opaque, tags))
    if "if-modified-since" not in names:
        return False  # the usual request: no conditional of its own
    since = parse_http_date(request_headers.get("if-modified-since"), received)
    if since is None:
        return False
    for name in ("last-modified", "date"):
        modified = parse_http_date(stored.get(name), received)
        if modified is not None:
            return modified <= since
    return received <= since


_NOT_MODIFIED_FIELDS = frozenset(
    {"age", "cache-control", "content-location", "date", "etag", "expires", "vary"}
)


def not_modified_headers(headers: Headers) -> Headers:
    """The fields a 304 carries (RFC 9110 15.4.5), plus Last-Modified when there is no ETag."""
    keep = _NOT_MODIFIED_FIELDS | ({"last-modified"} if "etag" not in headers else set())
    return Headers((name, value) for name, value in headers if name.lower() in keep)


def freshen_headers(stored: Headers, update: Headers) -> Headers:
    """RFC 9111 3.2: fields of a 304 (or HEAD 200) replace the stored ones, except Content-Length."""
    skip = {"content-length", "age", "connection"} | connection_tokens(update)
    names = {name.lower() for name, _ in update} - skip
    result = stored.copy()
    result.remove_all(names)
    for name, value in update:
        if name.lower() in names:
            result.add(name, value)
    return result
