"""Byte ranges through the forward proxy's cache: cut from a stored whole response, or passed on.

The origin is a raw-socket ``ScriptedOrigin`` that answers a plain GET with the whole body and
a ``Range: bytes=a-b`` with its own 206, and records every request head, so "from the store"
means the origin saw nothing. Clients: real curl ``-r`` (skipped where it is not installed)
and httpx. Every piece is compared with the same slice of the origin's full body.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from helpers import ScriptedOrigin, response_bytes, running_forward_proxy
from origins import big_body

from proxylab.cache.http_cache import HttpCache
from proxylab.cache.ranges import if_range_allows, parse_range
from proxylab.cache.validators import parse_http_date
from proxylab.forward.proxy import ForwardSettings
from proxylab.http.messages import Headers

BODY = big_body(100_000)  # bigger than one 64 KiB chunk of a replayed body
ETAG = '"v1"'
LAST_MODIFIED = "Sun, 01 Nov 2026 10:00:00 GMT"
FIELDS = ("Cache-Control: max-age=300", f"ETag: {ETAG}", f"Last-Modified: {LAST_MODIFIED}")
URL = "http://files.test/movie.bin"
CURL = shutil.which("curl")
needs_curl = pytest.mark.skipif(CURL is None, reason="curl is not installed: apt-get install curl")


def _origin_answer(head: bytes, _connection: int) -> bytes:
    """The whole body, or a 206 for a simple ``bytes=a-b`` (what a real origin does)."""
    match = re.search(rb"\r\nrange: *bytes=([0-9]+)-([0-9]+)\r?(\n|$)", head, re.IGNORECASE)
    if match is None:
        return response_bytes(BODY, *FIELDS, "Content-Type: application/octet-stream")
    first, last = int(match[1]), int(match[2])
    content_range = f"Content-Range: bytes {first}-{last}/{len(BODY)}"
    piece = BODY[first : last + 1]
    return response_bytes(piece, *FIELDS, content_range, status="206 Partial Content")


@dataclass
class Setup:
    proxy_url: str
    origin: ScriptedOrigin
    client: httpx.Client

    def seen(self, path: str = "/movie.bin") -> int:
        """How many requests for ``path`` reached the origin."""
        return sum(1 for head in self.origin.received if head.startswith(b"GET " + path.encode()))


@pytest.fixture
def setup() -> Iterator[Setup]:
    with ScriptedOrigin(_origin_answer) as origin:
        settings = ForwardSettings(resolve={"files.test": ("127.0.0.1", origin.port)})
        proxy = running_forward_proxy(settings, cache=HttpCache())
        with proxy as (server, _), httpx.Client(proxy=server.url, trust_env=False) as client:
            yield Setup(server.url, origin, client)


def _stored(setup: Setup) -> None:
    whole = setup.client.get(URL)
    assert whole.status_code == 200 and whole.content == BODY
    assert setup.seen() == 1


def _is_store_hit(reply: httpx.Response) -> bool:
    return reply.headers["cache-status"].startswith("proxylab; hit") and (
        reply.headers["x-cache"] == "HIT"
    )


# -- from the store ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "first", "last"),
    [
        ("bytes=0-99", 0, 99),
        ("bytes=0-0", 0, 0),
        ("bytes=99990-", 99990, 99999),
        ("bytes=-100", 99900, 99999),
        ("bytes=70000-80000", 70000, 80000),  # crosses a 64 KiB chunk of the replay
        ("bytes=99000-200000", 99000, 99999),  # a last-pos past the end is cut to the end
        ("bytes=-500000", 0, 99999),  # a suffix longer than the body: all of it
        ("Bytes = 5-9", 5, 9),  # the unit is case-insensitive, blanks allowed around
    ],
)
def test_a_single_range_is_cut_from_the_stored_response(
    setup: Setup, spec: str, first: int, last: int
) -> None:
    _stored(setup)
    reply = setup.client.get(URL, headers={"Range": spec})
    assert reply.status_code == 206 and reply.content == BODY[first : last + 1]
    assert reply.headers["content-range"] == f"bytes {first}-{last}/{len(BODY)}"
    assert reply.headers["content-length"] == str(last - first + 1)
    assert reply.headers["etag"] == ETAG and "age" in reply.headers
    assert _is_store_hit(reply) and setup.seen() == 1


@pytest.mark.parametrize("spec", ["bytes=100000-", "bytes=200000-300000", "bytes=-0"])
def test_a_range_past_the_end_gets_416_with_the_length(setup: Setup, spec: str) -> None:
    _stored(setup)
    reply = setup.client.get(URL, headers={"Range": spec})
    assert reply.status_code == 416
    assert reply.headers["content-range"] == f"bytes */{len(BODY)}"
    assert int(reply.headers["content-length"]) == len(reply.content) > 0
    assert _is_store_hit(reply) and setup.seen() == 1


def test_a_matching_if_range_still_gets_the_piece(setup: Setup) -> None:
    _stored(setup)
    for validator in (ETAG, LAST_MODIFIED):  # the stored Date is later than Last-Modified
        reply = setup.client.get(URL, headers={"Range": "bytes=10-19", "If-Range": validator})
        assert (reply.status_code, reply.content) == (206, BODY[10:20]) and _is_store_hit(reply)
    assert setup.seen() == 1


def test_a_matching_if_none_match_beats_the_range(setup: Setup) -> None:
    # RFC 9110 13.2.2: If-None-Match is evaluated before Range.
    _stored(setup)
    reply = setup.client.get(URL, headers={"Range": "bytes=0-9", "If-None-Match": ETAG})
    assert (reply.status_code, reply.content) == (304, b"") and setup.seen() == 1


# -- passed to the origin, never stored ----------------------------------------------------


@pytest.mark.parametrize(
    "fields",
    [
        {"Range": "bytes=0-1, 5-6"},  # several ranges
        {"Range": "bytes=0-9", "If-Range": '"v0"'},  # another version
        {"Range": "bytes=0-9", "If-Range": 'W/"v1"'},  # If-Range needs a strong tag
        {"Range": "bytes=0-9", "If-Range": "Sun, 01 Nov 2026 10:00:01 GMT"},  # another date
        {"Range": "items=0-9"},  # another unit
        {"Range": "bytes=9-0"},  # invalid: last before first
    ],
)
def test_anything_else_goes_to_the_origin(setup: Setup, fields: dict[str, str]) -> None:
    _stored(setup)
    reply = setup.client.get(URL, headers=fields)
    assert setup.seen() == 2 and "fwd=bypass" in reply.headers["cache-status"]
    assert reply.headers["x-cache"] == "MISS"


def test_a_range_of_a_response_not_stored_is_relayed_and_never_stored(setup: Setup) -> None:
    piece = setup.client.get(URL, headers={"Range": "bytes=0-9"})
    assert (piece.status_code, piece.content) == (206, BODY[:10])
    assert "fwd=bypass" in piece.headers["cache-status"]
    whole = setup.client.get(URL)  # the origin's 206 was not kept as the whole response
    assert (whole.status_code, whole.content) == (200, BODY)
    assert whole.headers["x-cache"] == "MISS" and setup.seen() == 2


def test_a_stale_stored_response_is_not_cut(setup: Setup) -> None:
    _stored(setup)
    reply = setup.client.get(URL, headers={"Range": "bytes=0-9", "Cache-Control": "max-age=0"})
    assert (reply.status_code, reply.content) == (206, BODY[:10]) and setup.seen() == 2


# -- real curl -r --------------------------------------------------------------------------


def _curl(setup: Setup, spec: str, out: Path) -> tuple[str, bytes]:
    """``curl -r spec`` through the proxy: the response head and the body it saved."""
    assert CURL is not None
    heads, body = out / "head.txt", out / "body.bin"
    command = [CURL, "--silent", "--show-error", "--max-time", "10", "--proxy", setup.proxy_url,
               "--noproxy", "", "-r", spec, "-D", str(heads), "-o", str(body), URL]  # fmt: skip
    subprocess.run(command, check=True, env={"PATH": "/usr/bin:/bin"}, timeout=20)
    return heads.read_bytes().decode("latin-1"), body.read_bytes()


@needs_curl
@pytest.mark.parametrize(
    ("spec", "first", "last"),
    [
        ("0-99", 0, 99),
        ("99000-", 99000, 99999),
        ("-1000", 99000, 99999),
        ("5000-70000", 5000, 70000),
    ],
)
def test_curl_range_is_served_from_the_store(
    setup: Setup, tmp_path: Path, spec: str, first: int, last: int
) -> None:
    _stored(setup)
    head, body = _curl(setup, spec, tmp_path)
    assert head.startswith("HTTP/1.1 206 Partial Content\r\n"), head
    assert f"\r\nContent-Range: bytes {first}-{last}/{len(BODY)}\r\n" in head
    assert f"\r\nContent-Length: {last - first + 1}\r\n" in head
    assert "\r\nCache-Status: proxylab; hit" in head
    assert body == BODY[first : last + 1] and setup.seen() == 1


@needs_curl
def test_curl_range_past_the_end_gets_416(setup: Setup, tmp_path: Path) -> None:
    _stored(setup)
    head, _ = _curl(setup, "200000-", tmp_path)
    assert head.startswith("HTTP/1.1 416 Range Not Satisfiable\r\n"), head
    assert f"\r\nContent-Range: bytes */{len(BODY)}\r\n" in head and setup.seen() == 1


@needs_curl
def test_curl_several_ranges_go_to_the_origin(setup: Setup, tmp_path: Path) -> None:
    _stored(setup)
    head, _ = _curl(setup, "0-9,20-29", tmp_path)
    assert "fwd=bypass" in head and setup.seen() == 2


# -- the pure rules ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "length", "span"),
    [
        (["bytes=0-4"], 10, (0, 4)),
        (["bytes=8-"], 10, (8, 9)),
        (["bytes=-3"], 10, (7, 9)),
        (["bytes=-30"], 10, (0, 9)),
        (["bytes=10-"], 10, None),  # first-pos at the length: unsatisfiable
        (["bytes=-0"], 10, None),  # a zero suffix: unsatisfiable
        (["bytes=0-0"], 0, None),  # nothing to cut from an empty body
    ],
)
def test_resolving_a_range_against_a_length(
    values: list[str], length: int, span: tuple[int, int] | None
) -> None:
    wanted = parse_range(values)
    assert wanted is not None and wanted.resolve(length) == span


@pytest.mark.parametrize(
    "values",
    [
        [],
        ["bytes=0-1", "bytes=2-3"],
        ["bytes=0-1,2-3"],
        ["bytes=-"],
        ["bytes=5-4"],
        ["bytes=a-b"],
        ["items=0-1"],
        ["bytes 0-1"],
        [f"bytes=0-{'9' * 19}"],
    ],  # fmt: skip
)
def test_what_is_not_one_bytes_range(values: list[str]) -> None:
    assert parse_range(values) is None


def test_if_range_wants_a_strong_validator() -> None:
    lm = "Sun, 01 Nov 2026 10:00:00 GMT"
    stored = Headers([("ETag", '"v1"'), ("Last-Modified", lm), ("Date", lm)])
    received = parse_http_date(lm, 0) or 0.0
    assert if_range_allows('"v1"', stored, received)
    assert not if_range_allows('W/"v1"', stored, received)  # a weak tag never matches
    assert not if_range_allows('"v2"', stored, received)
    # Last-Modified equal to Date: two versions could share that second (RFC 9110 8.8.2.2)
    assert not if_range_allows(lm, stored, received)
    stored.set("Date", "Sun, 01 Nov 2026 10:00:01 GMT")
    assert if_range_allows(lm, stored, received)
    assert not if_range_allows("Sun, 01 Nov 2026 09:59:59 GMT", stored, received)
    assert not if_range_allows("not a date", stored, received)
