"""``HttpCache.exchange`` against a scripted in-test origin and a fake clock.

``ScriptedOrigin`` is a plain callable with the ``Fetch`` signature: it records every request
it sees and answers from a script, so each test states exactly what the origin said and then
checks what the cache did with it. Ageing is done by moving the fake clock, never by sleeping.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import pytest

from proxylab.cache.http_cache import CacheOutcome, CacheReply, HttpCache
from proxylab.cache.policy import CachePolicy, Timing
from proxylab.cache.store import CacheStore, Entry
from proxylab.cache.validators import format_http_date
from proxylab.errors import UpstreamError
from proxylab.http.messages import Headers, Request, Response, reason_phrase
from proxylab.lab.lab import wait_until

URL = "http://news.test/a.css"
START = 1_700_000_000.0


class Clock:
    """A clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class ScriptedOrigin:
    """A scripted origin implementing ``Fetch``: answers in order, the last one repeating.

    Every request it receives is kept in ``requests``; ``released`` counts bodies that were
    read to the end or closed, which is what frees an upstream connection in the real proxy.
    """

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.requests: list[Request] = []
        self.script: list[tuple[int, list[tuple[str, str]], Iterator[bytes] | bytes]] = []
        self.released = 0  # bodies exhausted or closed

    def answer(
        self, status: int = 200, *headers: tuple[str, str], body: Iterator[bytes] | bytes = b"hello"
    ) -> ScriptedOrigin:
        self.script.append((status, list(headers), body))
        return self

    @property
    def calls(self) -> int:
        return len(self.requests)

    def __call__(self, request: Request) -> tuple[Response, Iterator[bytes]]:
        self.requests.append(request)
        status, pairs, body = self.script[0] if len(self.script) == 1 else self.script.pop(0)
        headers = Headers(pairs)
        if "date" not in headers:
            headers.add("Date", format_http_date(self.clock()))
        if isinstance(body, bytes) and "content-length" not in headers and status not in (204, 304):
            headers.add("Content-Length", str(len(body)))
        chunks = iter([body]) if isinstance(body, bytes) else body
        return Response(status, headers, reason_phrase(status)), Body(chunks, self)


class Body:
    """An origin body as the proxy hands it over: chunks, and a ``close`` that frees the line."""

    def __init__(self, chunks: Iterator[bytes], origin: ScriptedOrigin) -> None:
        self._chunks, self._origin, self._done = chunks, origin, False

    def __iter__(self) -> Body:
        return self

    def __next__(self) -> bytes:
        try:
            return next(self._chunks)
        except StopIteration:
            self.close()
            raise

    def close(self) -> None:
        if not self._done:
            self._done = True
            self._origin.released += 1


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def origin(clock: Clock) -> ScriptedOrigin:
    """Replaces the conftest's real origin server: these tests need no sockets."""
    return ScriptedOrigin(clock)


@pytest.fixture
def cache(clock: Clock) -> HttpCache:
    return HttpCache(clock=clock)


def get(
    cache: HttpCache,
    origin: Callable[[Request], tuple[Response, Iterator[bytes]]],
    *headers: tuple[str, str],
    method: str = "GET",
    url: str = URL,
) -> tuple[CacheReply, bytes]:
    """One exchange, body read to the end."""
    reply = cache.exchange(Request(method, "/a.css", Headers(headers)), url, origin)
    return reply, b"".join(reply.body)


def header(reply: CacheReply, name: str) -> str | None:
    return reply.response.headers.get(name)


MAX_AGE_60 = ("Cache-Control", "max-age=60")


# -- hits, misses and the headers on every reply ---------------------------------------------


def test_a_miss_is_stored_and_the_next_request_is_a_hit(
    cache: HttpCache, origin: ScriptedOrigin
) -> None:
    origin.answer(200, MAX_AGE_60)
    first, body1 = get(cache, origin)
    second, body2 = get(cache, origin)
    assert (first.outcome, second.outcome) == (CacheOutcome.MISS, CacheOutcome.HIT)
    assert body1 == body2 == b"hello"
    assert origin.calls == 1
    assert header(first, "x-cache") == "MISS" and header(second, "x-cache") == "HIT"
    assert header(first, "cache-status") == "proxylab; fwd=uri-miss; fwd-status=200; ttl=60; stored"
    assert header(second, "cache-status") == "proxylab; hit; ttl=60"
    assert header(first, "age") is None and header(second, "age") == "0"


def test_age_on_a_hit_follows_rfc9111_4_2_3(cache: HttpCache, clock: Clock) -> None:
    def slow_origin(request: Request) -> tuple[Response, Iterator[bytes]]:
        date = format_http_date(clock() - 5)  # the origin's clock is 5 s behind the response
        clock.advance(2)  # the exchange takes 2 s
        headers = Headers([("Date", date), ("Age", "4"), ("Cache-Control", "max-age=600")])
        return Response(200, headers, "OK"), iter([b"x"])

    get(cache, slow_origin)
    clock.advance(20)
    reply, _ = get(cache, slow_origin)
    # apparent_age = 2 - (-5) = 7; corrected_age_value = 4 + 2 = 6; resident_time = 20
    assert header(reply, "age") == "27"
    assert header(reply, "cache-status") == "proxylab; hit; ttl=573"


def test_ttl_and_age_move_with_the_clock(
    cache: HttpCache, origin: ScriptedOrigin, clock: Clock
) -> None:
    origin.answer(200, MAX_AGE_60)
    get(cache, origin)
    clock.advance(59)
    reply, _ = get(cache, origin)
    assert reply.outcome is CacheOutcome.HIT
    assert (header(reply, "age"), header(reply, "cache-status")) == ("59", "proxylab; hit; ttl=1")
    clock.advance(1)
    assert get(cache, origin)[0].outcome is not CacheOutcome.HIT


def test_a_stored_miss_reports_the_ttl_is_the_one_its_stored_copy_is_judged_by(
    cache: HttpCache, origin: ScriptedOrigin
) -> None:
    # no-cache="Expires": the copy is stored without its Expires (RFC 9111 5.2.2.4), so it
    # has no freshness of its own, whatever the relayed head promised.
    expires = ("Expires", format_http_date(START + 60))
    origin.answer(200, ("Cache-Control", 'no-cache="Expires"'), expires)
    first, _ = get(cache, origin)
    assert header(first, "cache-status") == "proxylab; fwd=uri-miss; fwd-status=200; ttl=0; stored"
    assert get(cache, origin)[0].outcome is CacheOutcome.MISS


def test_a_date_is_added_when_the_origin_sent_none(cache: HttpCache, clock: Clock) -> None:
    def dateless(request: Request) -> tuple[Response, Iterator[bytes]]:
        return Response(200, Headers([MAX_AGE_60]), "OK"), iter([b"x"])

    first, _ = get(cache, dateless)
    clock.advance(10)
    second, _ = get(cache, dateless)
    assert header(first, "date") == header(second, "date") == format_http_date(START)
    assert header(second, "age") == "10"


def test_the_origins_date_is_never_rewritten(
    cache: HttpCache, origin: ScriptedOrigin, clock: Clock
) -> None:
    origin.answer(200, MAX_AGE_60, ("Date", format_http_date(START - 30)))
    get(cache, origin)
    clock.advance(5)
    assert header(get(cache, origin)[0], "date") == format_http_date(START - 30)


def test_cache_status_is_appended_to_an_upstream_one(
    cache: HttpCache, origin: ScriptedOrigin
) -> None:
    origin.answer(200, MAX_AGE_60, ("Cache-Status", "OriginCache; hit"))
    reply, _ = get(cache, origin)
    assert reply.response.headers.get_all("cache-status")[0] == "OriginCache; hit"
    assert reply.response.headers.get_all("cache-status")[1].startswith("proxylab; fwd=uri-miss")


def test_the_cache_name_appears_in_cache_status(clock: Clock, origin: ScriptedOrigin) -> None:
    cache = HttpCache(clock=clock, name="lab-cache")
    origin.answer(200, MAX_AGE_60)
    get(cache, origin)
    assert header(get(cache, origin)[0], "cache-status") == "lab-cache; hit; ttl=60"


def test_heuristic_freshness_end_to_end(
    cache: HttpCache, origin: ScriptedOrigin, clock: Clock
) -> None:
    origin.answer(200, ("Last-Modified", format_http_date(START - 1000)))
    get(cache, origin)
    clock.advance(99)
    assert get(cache, origin)[0].outcome is CacheOutcome.HIT  # 10% of 1000 s
    clock.advance(1)
    assert get(cache, origin)[0].outcome is CacheOutcome.MISS


def test_unstorable_responses_are_relayed_but_not_kept(
    cache: HttpCache, origin: ScriptedOrigin
) -> None:
    origin.answer(200, ("Cache-Control", "no-store, max-age=60"))
    first, _ = get(cache, origin)
    second, _ = get(cache, origin)
    assert (first.outcome, second.outcome) == (CacheOutcome.MISS, CacheOutcome.MISS)
    assert header(first, "cache-status") == "proxylab; fwd=uri-miss; fwd-status=200"
    assert cache.stats().stored_objects == 0


def test_private_responses_are_not_kept(cache: HttpCache, origin: ScriptedOrigin) -> None:
    origin.answer(200, ("Cache-Control", "private, max-age=60"))
    get(cache, origin)
    assert get(cache, origin)[0].outcome is CacheOutcome.MISS


def test_authorization_needs_public(cache: HttpCache, origin: ScriptedOrigin) -> None:
    auth = ("Authorization", "Basic eDp5")
    origin.answer(200, MAX_AGE_60)
    get(cache, origin, auth)
    assert get(cache, origin, auth)[0].outcome is CacheOutcome.MISS
    origin.script = []
    origin.answer(200, ("Cache-Control", "max-age=60, public"))
    get(cache, origin, auth)
    assert get(cache, origin, auth)[0].outcome is CacheOutcome.HIT


def test_qualified_no_cache_fields_are_not_stored(cache: HttpCache, origin: ScriptedOrigin) -> None:
    origin.answer(
        200, ("Cache-Control", 'no-cache="Set-Cookie", max-age=60'), ("Set-Cookie", "a=1")
    )
    first, _ = get(cache, origin)
    second, _ = get(cache, origin)
    assert header(first, "set-cookie") == "a=1"
    assert second.outcome is CacheOutcome.HIT and header(second, "set-cookie") is None


# -- request directives ----------------------------------------------------------------------


def test_only_if_cached_without_a_stored_response_is_a_504(
    cache: HttpCache, origin: ScriptedOrigin
) -> None:
    reply, body = get(cache, origin, ("Cache-Control", "only-if-cached"))
    assert reply.outcome is CacheOutcome.ONLY_IF_CACHED_MISS
    assert reply.response.status == 504
    assert b"only-if-cached" in body and origin.calls == 0
    assert header(reply, "content-length") == str(len(body))


def test_only_if_cached_with_a_fresh_response_is_a_hit(
    cache: HttpCache, origin: ScriptedOrigin
) -> None:
    origin.answer(200, MAX_AGE_60)
    get(cache, origin)
    reply, body = get(cache, origin, ("Cache-Control", "only-if-cached"))
    assert (reply.outcome, body, origin.calls) == (CacheOutcome.HIT, b"hello", 1)


def test_request_no_cache_revalidates_a_fresh_response(
    cache: HttpCache, origin: ScriptedOrigin
) -> None:
    origin.answer(200, MAX_AGE_60, ("ETag", '"v1"')).answer(304, MAX_AGE_60, ("ETag", '"v1"'))
    get(cache, origin)
    reply, body = get(cache, origin, ("Cache-Control", "no-cache"))
    assert reply.outcome is CacheOutcome.REVALIDATED and body == b"hello"
    assert origin.requests[1].headers.get("if-none-match") == '"v1"'
    assert header(reply, "cache-status") == "proxylab; fwd=request; fwd-status=304; ttl=60"


def test_pragma_no_cache_acts_as_request_no_cache(cache: HttpCache, origin: ScriptedOrigin) -> None:
    origin.answer(200, MAX_AGE_60)
    get(cache, origin)
    assert get(cache, origin, ("Pragma", "no-cache"))[0].outcome is not CacheOutcome.HIT
    assert origin.calls == 2


def test_request_no_store_is_served_but_not_stored(
    cache: HttpCache, origin: ScriptedOrigin
) -> None:
    no_store = ("Cache-Control", "no-store")
    origin.answer(200, MAX_AGE_60)
    get(cache, origin, no_store)
    assert cache.stats().stored_objects == 0
    get(cache, origin)
    assert get(cache, origin, no_store)[0].outcome is CacheOutcome.HIT


def test_request_max_age_and_min_fresh(
    cache: HttpCache, origin: ScriptedOrigin, clock: Clock
) -> None:
    origin.answer(200, MAX_AGE_60)
    get(cache, origin)
    clock.advance(30)
    assert get(cache, origin, ("Cache-Control", "max-age=30"))[0].outcome is CacheOutcome.HIT
    reply, _ = get(cache, origin, ("Cache-Control", "min-fresh=31"))
    assert reply.outcome is CacheOutcome.MISS
    assert header(reply, "cache-status").startswith("proxylab; fwd=request")  # type: ignore[union-attr]


def test_max_stale_serves_stale_unless_must_revalidate(
    cache: HttpCache, origin: ScriptedOrigin, clock: Clock
) -> None:
    origin.answer(200, MAX_AGE_60)
    get(cache, origin)
    clock.advance(100)
    reply, body = get(cache, origin, ("Cache-Control", "max-stale=60"))
    assert (reply.outcome, body, header(reply, "x-cache")) == (CacheOutcome.STALE, b"hello", "HIT")
    assert header(reply, "cache-status") == "proxylab; hit; ttl=-40"
    origin.script = []
    origin.answer(200, ("Cache-Control", "max-age=60, must-revalidate"), ("ETag", '"m"'))
    get(cache, origin, url=URL + "?m")
    clock.advance(100)
    reply, _ = get(cache, origin, ("Cache-Control", "max-stale"), url=URL + "?m")
    assert reply.outcome is not CacheOutcome.STALE and origin.calls == 3


# -- validation -------------------------------------------------------------------------------


def test_a_stale_response_is_revalidated_and_the_304_merged(
    cache: HttpCache, origin: ScriptedOrigin, clock: Clock
) -> None:
    last_modified = format_http_date(START - 3600)
    origin.answer(
        200,
        ("Cache-Control", "max-age=10"),
        ("ETag", '"v1"'),
        ("Last-Modified", last_modified),
        ("X-Version", "A"),
    )
    origin.answer(
        304,
        ("Cache-Control", "max-age=100"),
        ("ETag", '"v1"'),
        ("X-Version", "B"),
        ("Content-Length", "0"),
    )
    get(cache, origin)
    clock.advance(11)
    reply, body = get(cache, origin)
    sent = origin.requests[1].headers
    assert (sent.get("if-none-match"), sent.get("if-modified-since")) == ('"v1"', last_modified)
    assert (reply.outcome, reply.response.status, body) == (CacheOutcome.REVALIDATED, 200, b"hello")
    assert header(reply, "x-version") == "B" and header(reply, "content-length") == "5"
    assert header(reply, "date") == format_http_date(START + 11)
    assert header(reply, "cache-status") == "proxylab; fwd=stale; fwd-status=304; ttl=100"
    clock.advance(50)
    later, _ = get(cache, origin)
    assert (later.outcome, header(later, "x-version"), header(later, "age")) == (
        CacheOutcome.HIT,
        "B",
        "50",
    )
    stats = cache.stats()
    assert (stats.revalidations, stats.revalidations_304, stats.revalidated) == (1, 1, 1)


def test_a_304_merge_obeys_the_storing_rules(
    cache: HttpCache, origin: ScriptedOrigin, clock: Clock
) -> None:
    """RFC 9111 3.2: fields "excepted from storage in Section 3.1" are not merged in either."""
    origin.answer(200, ("Cache-Control", "max-age=10"), ("ETag", '"v1"'), ("X-Secret", "old"))
    origin.answer(
        304,
        ("Cache-Control", 'max-age=100, no-cache="X-Secret"'),
        ("ETag", '"v1"'),
        ("X-Secret", "new"),
        ("Proxy-Authentication-Info", "nextnonce=x"),
    )
    get(cache, origin)
    clock.advance(11)
    assert get(cache, origin)[0].outcome is CacheOutcome.REVALIDATED
    later, _ = get(cache, origin)
    assert later.outcome is CacheOutcome.HIT
    assert header(later, "x-secret") is None
    assert header(later, "proxy-authentication-info") is None


def test_a_200_to_a_revalidation_replaces_the_entry(
    cache: HttpCache, origin: ScriptedOrigin, clock: Clock
) -> None:
    origin.answer(200, ("Cache-Control", "max-age=10"), ("ETag", '"v1"'), body=b"old")
    origin.answer(200, ("Cache-Control", "max-age=10"), ("ETag", '"v2"'), body=b"new")
    get(cache, origin)
    clock.advance(11)
    reply, body = get(cache, origin)
    assert (reply.outcome, body) == (CacheOutcome.MISS, b"new")
    assert get(cache, origin)[1] == b"new" and origin.calls == 2
    assert cache.stats().stored_objects == 1


def test_a_304_for_another_representation_triggers_a_plain_request(
    cache: HttpCache, origin: ScriptedOrigin, clock: Clock
) -> None:
    origin.answer(200, ("Cache-Control", "max-age=10"), ("ETag", '"v1"'), body=b"old")
    origin.answer(304, ("ETag", '"v9"'))
    origin.answer(200, ("Cache-Control", "max-age=10"), ("ETag", '"v9"'), body=b"new")
    get(cache, origin)
    clock.advance(11)
    reply, body = get(cache, origin)
    assert (reply.outcome, body, origin.calls) == (CacheOutcome.MISS, b"new", 3)
    assert "if-none-match" not in origin.requests[2].headers


def test_response_no_cache_is_revalidated_every_time(
    cache: HttpCache, origin: ScriptedOrigin
) -> None:
    origin.answer(200, ("Cache-Control", "max-age=600, no-cache"), ("ETag", '"v1"'))
    origin.answer(304, ("ETag", '"v1"'))
    get(cache, origin)
    assert get(cache, origin)[0].outcome is CacheOutcome.REVALIDATED
    assert get(cache, origin)[0].outcome is CacheOutcome.REVALIDATED
    assert origin.calls == 3


def test_stale_is_served_when_the_origin_is_unreachable(
    cache: HttpCache, origin: ScriptedOrigin, clock: Clock
) -> None:
    origin.answer(200, MAX_AGE_60)
    get(cache, origin)
    clock.advance(100)

    def down(request: Request) -> tuple[Response, Iterator[bytes]]:
        raise UpstreamError()

    reply, body = get(cache, down)
    assert (reply.outcome, body) == (CacheOutcome.STALE, b"hello")
    assert (
        header(reply, "cache-status") == "proxylab; fwd=stale; ttl=-40; detail=origin-unreachable"
    )
    assert cache.stats().stale_served == 1


def test_must_revalidate_turns_an_unreachable_origin_into_an_error(
    cache: HttpCache, origin: ScriptedOrigin, clock: Clock
) -> None:
    origin.answer(200, ("Cache-Control", "max-age=60, must-revalidate"))
    get(cache, origin)
    clock.advance(100)

    def down(request: Request) -> tuple[Response, Iterator[bytes]]:
        raise UpstreamError()

    with pytest.raises(UpstreamError):
        get(cache, down)
    origin.script = []
    origin.answer(200, MAX_AGE_60)
    assert get(cache, origin)[0].outcome is CacheOutcome.MISS  # no collapse flight left behind


def test_a_5xx_is_relayed_unless_stale_if_error_allows(
    cache: HttpCache, origin: ScriptedOrigin, clock: Clock
) -> None:
    origin.answer(200, ("Cache-Control", "max-age=60, stale-if-error=600"))
    origin.answer(503, body=b"busy")
    get(cache, origin)
    clock.advance(100)
    reply, body = get(cache, origin)
    assert (reply.outcome, reply.response.status, body) == (CacheOutcome.STALE, 200, b"hello")
    assert "fwd-status=503" in (header(reply, "cache-status") or "")
    assert origin.released == 2


# -- conditional requests from the client -----------------------------------------------------


def test_a_matching_if_none_match_gets_a_304_from_the_store(
    cache: HttpCache, origin: ScriptedOrigin
) -> None:
    origin.answer(200, MAX_AGE_60, ("ETag", '"v1"'), ("Content-Type", "text/css"))
    get(cache, origin)
    reply, body = get(cache, origin, ("If-None-Match", 'W/"v0", "v1"'))
    assert (reply.outcome, reply.response.status, body) == (CacheOutcome.HIT, 304, b"")
    assert header(reply, "etag") == '"v1"' and header(reply, "cache-control") == "max-age=60"
    assert header(reply, "content-type") is None and header(reply, "content-length") is None
    assert header(reply, "age") == "0" and origin.calls == 1


def test_if_modified_since_is_answered_from_the_store(
    cache: HttpCache, origin: ScriptedOrigin
) -> None:
    last_modified = format_http_date(START - 3000)
    origin.answer(200, MAX_AGE_60, ("Last-Modified", last_modified))
    get(cache, origin)
    assert get(cache, origin, ("If-Modified-Since", last_modified))[0].response.status == 304
    earlier = format_http_date(START - 3001)
    assert get(cache, origin, ("If-Modified-Since", earlier))[0].response.status == 200


@pytest.mark.parametrize("status", [301, 404, 410])
def test_a_stored_non_2xx_never_answers_a_conditional_with_304(
    cache: HttpCache, origin: ScriptedOrigin, status: int
) -> None:
    # RFC 9110 13.2.1: preconditions are ignored when the response would not be a 2xx.
    origin.answer(status, MAX_AGE_60, ("ETag", '"v1"'), body=b"gone")
    get(cache, origin)
    for condition in [
        ("If-None-Match", '"v1"'),
        ("If-Modified-Since", format_http_date(START + 9)),
    ]:
        reply, body = get(cache, origin, condition)
        assert (reply.outcome, reply.response.status, body) == (CacheOutcome.HIT, status, b"gone")


def test_the_clients_validators_stay_out_of_the_caches_revalidation(
    cache: HttpCache, origin: ScriptedOrigin, clock: Clock
) -> None:
    origin.answer(200, ("Cache-Control", "max-age=10"), ("ETag", '"v1"'))
    origin.answer(304, ("Cache-Control", "max-age=10"), ("ETag", '"v1"'))
    get(cache, origin)
    clock.advance(11)
    reply, _ = get(cache, origin, ("If-None-Match", '"v1"'))
    assert origin.requests[1].headers.get_all("if-none-match") == ['"v1"']
    assert (reply.outcome, reply.response.status) == (CacheOutcome.REVALIDATED, 304)


def test_on_a_miss_the_clients_conditional_goes_to_the_origin(
    cache: HttpCache, origin: ScriptedOrigin
) -> None:
    origin.answer(304, ("ETag", '"v1"'))
    reply, body = get(cache, origin, ("If-None-Match", '"v1"'))
    assert origin.requests[0].headers.get("if-none-match") == '"v1"'
    assert (reply.outcome, reply.response.status, body) == (CacheOutcome.MISS, 304, b"")
    assert cache.stats().stored_objects == 0


# -- HEAD, Range and other methods ------------------------------------------------------------


def test_head_is_answered_from_a_stored_get(cache: HttpCache, origin: ScriptedOrigin) -> None:
    origin.answer(200, MAX_AGE_60)
    get(cache, origin)
    reply, body = get(cache, origin, method="HEAD")
    assert (reply.outcome, body, header(reply, "content-length")) == (CacheOutcome.HIT, b"", "5")
    assert origin.calls == 1


def test_a_head_miss_is_relayed_with_no_body_and_not_stored(
    cache: HttpCache, origin: ScriptedOrigin
) -> None:
    origin.answer(200, MAX_AGE_60, body=b"should not be here")
    reply, body = get(cache, origin, method="HEAD")
    assert (reply.outcome, body) == (CacheOutcome.MISS, b"")
    assert origin.requests[0].method == "HEAD" and origin.released == 1
    assert cache.stats().stored_objects == 0


def test_a_head_200_freshens_the_stored_get(
    cache: HttpCache, origin: ScriptedOrigin, clock: Clock
) -> None:
    origin.answer(200, ("Cache-Control", "max-age=10"), ("X-A", "1"))
    origin.answer(
        200, ("Cache-Control", "max-age=1000"), ("X-A", "2"), ("Content-Length", "5"), body=b""
    )
    get(cache, origin)
    clock.advance(20)
    assert get(cache, origin, method="HEAD")[0].outcome is CacheOutcome.MISS
    reply, body = get(cache, origin)
    assert (reply.outcome, header(reply, "x-a"), body) == (CacheOutcome.HIT, "2", b"hello")


def test_a_head_with_another_length_makes_the_stored_get_go(
    cache: HttpCache, origin: ScriptedOrigin, clock: Clock
) -> None:
    origin.answer(200, ("Cache-Control", "max-age=10"))
    origin.answer(200, ("Cache-Control", "max-age=1000"), ("Content-Length", "9"), body=b"")
    get(cache, origin)
    clock.advance(20)
    get(cache, origin, method="HEAD")
    assert cache.stats().stored_objects == 0


@pytest.mark.parametrize(
    "field", [("Range", "bytes=0-1, 3-4"), ("Range", "lines=0-1"), ("If-Match", '"v1"')]
)
def test_ranges_and_origin_preconditions_bypass_the_store(
    cache: HttpCache, origin: ScriptedOrigin, field: tuple[str, str]
) -> None:
    origin.answer(200, MAX_AGE_60)
    get(cache, origin)
    reply, _ = get(cache, origin, field)
    assert reply.outcome is CacheOutcome.BYPASS and origin.calls == 2
    assert header(reply, "cache-status") == "proxylab; fwd=bypass; fwd-status=200"


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "M-SEARCH"])
def test_unsafe_methods_invalidate_on_success(
    cache: HttpCache, origin: ScriptedOrigin, method: str
) -> None:
    origin.answer(200, MAX_AGE_60)
    get(cache, origin)
    origin.script = []
    origin.answer(204)
    reply, _ = get(cache, origin, method=method)
    assert reply.outcome is CacheOutcome.BYPASS
    assert header(reply, "cache-status") == "proxylab; fwd=method; fwd-status=204"
    assert cache.stats().stored_objects == 0 and cache.stats().invalidations == 1


def test_failed_unsafe_requests_invalidate_nothing(
    cache: HttpCache, origin: ScriptedOrigin
) -> None:
    origin.answer(200, MAX_AGE_60).answer(500)
    get(cache, origin)
    get(cache, origin, method="POST")
    assert get(cache, origin)[0].outcome is CacheOutcome.HIT


def test_location_and_content_location_are_invalidated_on_the_same_host(
    cache: HttpCache, origin: ScriptedOrigin
) -> None:
    urls = ["http://news.test/new", "http://news.test/b", "http://other.test/c"]
    origin.answer(200, MAX_AGE_60)
    for url in urls:
        get(cache, origin, url=url)
    origin.script = []
    origin.answer(201, ("Location", "/new"), ("Content-Location", "http://other.test/c"))
    get(cache, origin, method="POST", url="http://news.test/list")
    outcomes = [get(cache, origin, url=url)[0].outcome.value for url in urls]
    assert outcomes == ["miss", "hit", "hit"]


def test_safe_methods_other_than_get_pass_through(cache: HttpCache, origin: ScriptedOrigin) -> None:
    origin.answer(200, MAX_AGE_60)
    get(cache, origin)
    assert get(cache, origin, method="OPTIONS")[0].outcome is CacheOutcome.BYPASS
    assert get(cache, origin)[0].outcome is CacheOutcome.HIT


# -- Vary ------------------------------------------------------------------------------------


def test_vary_keeps_one_variant_per_selecting_value(
    cache: HttpCache, origin: ScriptedOrigin
) -> None:
    origin.answer(200, MAX_AGE_60, ("Vary", "Accept-Language"), body=b"en")
    origin.answer(200, MAX_AGE_60, ("Vary", "Accept-Language"), body=b"de")
    get(cache, origin, ("Accept-Language", "en"))
    miss, body = get(cache, origin, ("Accept-Language", "de"))
    assert body == b"de"
    assert header(miss, "cache-status").startswith("proxylab; fwd=vary-miss")  # type: ignore[union-attr]
    assert get(cache, origin, ("accept-language", " en"))[1] == b"en"
    assert get(cache, origin, ("Accept-Language", "de"))[1] == b"de"
    assert origin.calls == 2 and cache.stats().stored_objects == 2


def test_a_request_without_the_varying_field_does_not_match(
    cache: HttpCache, origin: ScriptedOrigin
) -> None:
    origin.answer(200, MAX_AGE_60, ("Vary", "Foo"))
    get(cache, origin, ("Foo", "1"))
    assert get(cache, origin)[0].outcome is CacheOutcome.MISS


def test_a_new_response_replaces_the_variant_its_request_selected(
    cache: HttpCache, origin: ScriptedOrigin, clock: Clock
) -> None:
    origin.answer(200, ("Cache-Control", "max-age=10"), ("Vary", "Foo"), body=b"old")
    origin.answer(200, MAX_AGE_60, body=b"new")  # no Vary any more
    get(cache, origin)
    clock.advance(11)
    assert get(cache, origin)[1] == b"new"
    assert cache.stats().stored_objects == 1


def test_vary_star_is_never_reused(cache: HttpCache, origin: ScriptedOrigin) -> None:
    origin.answer(200, MAX_AGE_60, ("Vary", "*"))
    get(cache, origin)
    assert get(cache, origin)[0].outcome is CacheOutcome.MISS


# -- incomplete bodies ------------------------------------------------------------------------


def test_a_body_shorter_than_content_length_is_not_stored(
    cache: HttpCache, origin: ScriptedOrigin
) -> None:
    origin.answer(200, MAX_AGE_60, ("Content-Length", "10"), body=b"short")
    get(cache, origin)
    assert cache.stats().stored_objects == 0


def test_a_body_that_fails_midway_is_not_stored(cache: HttpCache, origin: ScriptedOrigin) -> None:
    def failing() -> Iterator[bytes]:
        yield b"part"
        raise UpstreamError()

    origin.answer(200, MAX_AGE_60, body=failing())
    with pytest.raises(UpstreamError):
        get(cache, origin)
    assert cache.stats().stored_objects == 0 and origin.released == 1


def test_a_client_that_leaves_early_stores_nothing_and_frees_the_origin(
    cache: HttpCache, origin: ScriptedOrigin
) -> None:
    origin.answer(200, MAX_AGE_60, body=iter([b"a", b"b", b"c"]))
    reply = cache.exchange(Request("GET", "/"), URL, origin)
    assert next(reply.body) == b"a"
    reply.body.close()  # type: ignore[attr-defined]
    assert cache.stats().stored_objects == 0 and origin.released == 1


def test_a_body_dropped_unread_still_frees_the_origin(
    cache: HttpCache, origin: ScriptedOrigin
) -> None:
    origin.answer(200, MAX_AGE_60)
    reply = cache.exchange(Request("GET", "/"), URL, origin)
    reply.body.close()  # type: ignore[attr-defined]
    assert origin.released == 1 and cache.stats().stored_objects == 0
    assert get(cache, origin)[0].outcome is CacheOutcome.MISS  # and nobody waits for it


# -- size limits ------------------------------------------------------------------------------


def test_lru_eviction_under_byte_pressure(clock: Clock, origin: ScriptedOrigin) -> None:
    cache = HttpCache(max_bytes=2000, max_object_size=1000, clock=clock)
    origin.answer(200, MAX_AGE_60, body=b"x" * 400)  # about 550 bytes with the head
    for name in ("a", "b", "c"):
        get(cache, origin, url=f"http://s.test/{name}")
    get(cache, origin, url="http://s.test/a")  # a is now the most recently used
    get(cache, origin, url="http://s.test/d")  # needs room: b goes first
    outcomes = [get(cache, origin, url=f"http://s.test/{n}")[0].outcome for n in "adcb"]
    assert outcomes[:3] == [CacheOutcome.HIT] * 3 and outcomes[3] is CacheOutcome.MISS
    assert cache.stats().evictions >= 1 and cache.stats().stored_bytes <= 2000


def test_the_store_alone_evicts_the_least_recently_looked_up() -> None:
    # CacheStore needs no origin, clock or threads: entries, a byte budget and lookups.
    timing = Timing(START, START, START, 0)
    freshness = CachePolicy().freshness(200, Headers(), timing)
    entry = Entry(200, "OK", Headers(), b"x" * 100, (), timing, freshness)
    store = CacheStore(max_bytes=3 * entry.size)
    for name in "abc":
        store.put(f"http://s.test/{name}", entry)
    assert store.lookup("http://s.test/a", Headers()) == (entry, "miss")  # a: most recent
    store.put("http://s.test/d", entry)  # needs room: b, the least recently used, goes
    assert store.lookup("http://s.test/b", Headers()) == (None, "uri-miss")
    assert (store.stats().evictions, store.stats().stored_objects) == (1, 3)


def test_an_object_over_the_limit_streams_through_lazily(
    clock: Clock, origin: ScriptedOrigin
) -> None:
    cache = HttpCache(max_object_size=10_000, clock=clock)
    produced: list[int] = []

    def hundred_chunks() -> Iterator[bytes]:
        for index in range(100):
            produced.append(index)
            yield bytes([index % 256]) * 1000

    origin.answer(200, MAX_AGE_60, body=hundred_chunks())
    reply = cache.exchange(Request("GET", "/"), URL, origin)
    assert produced == []  # nothing is read before the client asks
    pieces = []
    for piece in reply.body:
        pieces.append(piece)
        assert len(produced) == len(pieces)  # one origin chunk per client chunk, no read-ahead
    assert len(pieces) == 100 and all(len(p) == 1000 for p in pieces)
    assert cache.stats().stored_bytes == 0 and cache.stats().stored_objects == 0


def test_a_declared_oversize_object_is_never_buffered(clock: Clock, origin: ScriptedOrigin) -> None:
    cache = HttpCache(max_object_size=10, clock=clock)
    origin.answer(200, MAX_AGE_60, body=b"x" * 11)
    reply, body = get(cache, origin)
    assert len(body) == 11 and "stored" not in (header(reply, "cache-status") or "")
    assert cache.stats().stored_bytes == 0


def test_stats_and_clear(cache: HttpCache, origin: ScriptedOrigin) -> None:
    origin.answer(200, MAX_AGE_60)
    get(cache, origin)
    get(cache, origin)
    stats = cache.stats()
    assert (stats.hits, stats.misses, stats.bytes_served_from_cache, stats.stored_objects) == (
        1,
        1,
        5,
        1,
    )
    assert stats.stored_bytes > 5
    cache.clear()
    assert (cache.stats().stored_objects, cache.stats().stored_bytes) == (0, 0)
    assert get(cache, origin)[0].outcome is CacheOutcome.MISS


def test_limits_must_be_positive() -> None:
    with pytest.raises(ValueError):
        HttpCache(max_bytes=0)


# -- collapsed forwarding --------------------------------------------------------------------


def run_threads(count: int, work: Callable[[], CacheOutcome]) -> list[CacheOutcome]:
    outcomes: list[CacheOutcome] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def runner() -> None:
        try:
            outcome = work()
            with lock:
                outcomes.append(outcome)
        except BaseException as exc:  # reported below, not lost in the thread
            errors.append(exc)

    threads = [threading.Thread(target=runner) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert not errors and not any(t.is_alive() for t in threads)
    return outcomes


def test_twenty_simultaneous_misses_make_one_origin_request(cache: HttpCache, clock: Clock) -> None:
    calls: list[Request] = []

    def gated_origin(request: Request) -> tuple[Response, Iterator[bytes]]:
        calls.append(request)
        assert wait_until(lambda: cache.stats().waiting == 19)  # everyone else is queued behind us
        headers = Headers([("Date", format_http_date(clock())), MAX_AGE_60])
        return Response(200, headers, "OK"), iter([b"shared"])

    def one_client() -> CacheOutcome:
        reply, body = get(cache, gated_origin)
        assert body == b"shared"
        return reply.outcome

    outcomes = run_threads(20, one_client)
    assert len(calls) == 1
    assert sorted(o.value for o in outcomes) == ["hit"] * 19 + ["miss"]
    assert cache.stats().collapsed == 19 and cache.stats().waiting == 0


def test_waiters_fetch_themselves_when_the_leaders_answer_is_not_storable(
    cache: HttpCache, clock: Clock
) -> None:
    calls: list[Request] = []

    def private_origin(request: Request) -> tuple[Response, Iterator[bytes]]:
        calls.append(request)
        if len(calls) == 1:
            assert wait_until(lambda: cache.stats().waiting == 4)
        headers = Headers([("Date", format_http_date(clock())), ("Cache-Control", "private")])
        return Response(200, headers, "OK"), iter([b"mine"])

    outcomes = run_threads(5, lambda: get(cache, private_origin)[0].outcome)
    assert len(calls) == 5 and outcomes == [CacheOutcome.MISS] * 5


def test_a_leader_whose_client_leaves_releases_the_waiters(cache: HttpCache, clock: Clock) -> None:
    origin = ScriptedOrigin(clock).answer(200, MAX_AGE_60, body=iter([b"a", b"b"]))
    origin.answer(200, MAX_AGE_60, body=b"ab")
    leader = cache.exchange(Request("GET", "/"), URL, origin)
    assert next(leader.body) == b"a"
    outcomes: list[CacheOutcome] = []
    waiter = threading.Thread(target=lambda: outcomes.append(get(cache, origin)[0].outcome))
    waiter.start()
    assert wait_until(lambda: cache.stats().waiting == 1)
    leader.body.close()  # type: ignore[attr-defined]  # the leader's client went away
    waiter.join(timeout=10)
    assert outcomes == [CacheOutcome.MISS] and origin.calls == 2
    assert get(cache, origin)[1] == b"ab"  # the waiter's whole body, not the leader's half


def test_a_collapsed_hit_says_so_in_cache_status(cache: HttpCache, clock: Clock) -> None:
    def origin_fn(request: Request) -> tuple[Response, Iterator[bytes]]:
        assert wait_until(lambda: cache.stats().waiting == 1)
        headers = Headers([("Date", format_http_date(clock())), MAX_AGE_60])
        return Response(200, headers, "OK"), iter([b"x"])

    statuses: list[str] = []
    lock = threading.Lock()

    def client() -> CacheOutcome:
        reply, _ = get(cache, origin_fn)
        with lock:
            statuses.append(header(reply, "cache-status") or "")
        return reply.outcome

    run_threads(2, client)
    assert "proxylab; fwd=uri-miss; ttl=60; collapsed" in statuses


def test_a_waiter_gives_up_after_the_collapse_timeout(clock: Clock) -> None:
    cache = HttpCache(clock=clock, collapse_timeout=0.01)
    origin_fn = ScriptedOrigin(clock).answer(200, MAX_AGE_60)
    leader = cache.exchange(Request("GET", "/"), URL, origin_fn)  # body not read: still in flight
    reply, _ = get(cache, origin_fn)
    assert reply.outcome is CacheOutcome.MISS and origin_fn.calls == 2
    assert "collapsed=?0" in (header(reply, "cache-status") or "")
    leader.body.close()  # type: ignore[attr-defined]
