"""HttpCache: the shared HTTP cache a forward proxy consults on every exchange (RFC 9111).

The proxy hands over each request with a ``fetch`` callback that reaches the origin. The cache
answers from its store when the rules allow (a *hit*), asks the origin to confirm a stored
response with a conditional request (a *revalidation*: 304 means "still good"), or forwards the
request and keeps a copy of the answer as it streams past (a *miss*). The rules themselves live
in ``policy`` and ``validators``, the shared state (stored responses, fetches in flight,
counters) and its lock in ``store``; this module is the choreography.

Key ideas:
- The primary key is the absolute URL; ``Vary`` adds a secondary key, so one URL may hold
  several variants. The store evicts the least recently used, bounded by total bytes; an
  object larger than ``max_object_size`` is never buffered, only streamed.
- Bodies stream. A miss's body is relayed chunk by chunk while a copy accumulates; the copy is
  stored only if the body arrived whole. The proxy may stop reading at any time (the client
  left): the generator's ``finally`` then closes the origin's iterator and stores nothing.
- Collapsed forwarding: while one request (the *leader*) fetches a URL, others for the same
  URL wait for it (bounded) and are then answered from the store, so a burst of identical
  misses makes one origin request. If the leader's answer cannot be reused, they fetch.
- No lock is held while calling ``fetch`` or while the client consumes a body: this module
  takes none itself; ``store`` takes its one lock inside each short call.
- A single byte range (``Range: bytes=a-b``) of a fresh stored 200 is cut from the stored
  body (206, or 416 past the end; the rules are in ``ranges``). Any other Range request
  goes to the origin untouched, and its answer is never stored.

RFC sections: RFC 9111 2-4 (via ``policy``), 4.3.2 (answering a client's conditional
from the store, via ``validators``), 4.3.4-4.3.5 (freshening with 304 and HEAD), 4.4
(invalidation), 5.1 (Age);
RFC 9110 6.6.1 (Date), 14 and 15.3.7 (ranges and 206, via ``ranges``); RFC 9211
(Cache-Status).

Left out on purpose: several ranges in one request, ranges of a response not stored (both
passed through, never stored), stale-while-revalidate (it needs a background fetch),
persistence to disk.

Decisions where the RFC leaves a choice: a stale response is served when the client allows it
(``max-stale``), when the origin cannot be reached (RFC 9111 4.2.4) or when it answers 5xx and
``stale-if-error`` allows it (RFC 5861) - never against must-revalidate, proxy-revalidate,
s-maxage or no-cache. A collapsed request that reuses the leader's response is a HIT whose
Cache-Status reads ``fwd=uri-miss; collapsed`` (the RFC 9211 example). ``stored`` in
Cache-Status means a copy is being kept while the body streams; an interrupted body is dropped.
``X-Cache: HIT`` marks every body that came from the store (HIT, REVALIDATED, STALE).

Why one long module: it is the cache's one choreography, the order of the RFC 9111
steps for one exchange (look up, judge, revalidate, collapse, store, answer a range);
every rule it applies is a pure function in ``policy``, ``validators`` or ``ranges``.

Layer 2: imports ``errors``, ``messages``, ``policy``, ``ranges``, ``store`` and ``validators``;
no sockets, no threads started.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, fields, replace

from proxylab.cache import policy as rules
from proxylab.cache import ranges, validators
from proxylab.cache.policy import CacheControl, CacheStatus, Reuse, Timing
from proxylab.cache.store import CacheStats, CacheStore, Entry, Flight
from proxylab.errors import ConfigError, ProxyLabError, UpstreamError
from proxylab.http.messages import Headers, Request, Response, reason_phrase

__all__ = [
    "HIT",
    "MISS",
    "STALE",
    "CacheOutcome",
    "CacheReply",
    "Fetch",
    "HttpCache",
]

#: Sends a request to the origin: the response head and an iterator of body bytes that the
#: caller must exhaust or close. Raises ``UpstreamError`` (502) or ``GatewayTimeout`` (504).
Fetch = Callable[[Request], tuple[Response, Iterator[bytes]]]

_CHUNK = 64 * 1024
#: Request fields a store cannot honour: ranges, and the preconditions that RFC 9111 4.3.2
#: leaves to the origin server (If-Match, If-Unmodified-Since).
_NOT_FOR_THE_STORE = frozenset({"range", "if-range", "if-match", "if-unmodified-since"})
#: Of those, the ones a single byte range of a stored response can still answer.
_RANGE_FIELDS = frozenset({"range", "if-range"})
_NO_BODY = (204, 304)


class CacheOutcome(enum.Enum):
    """What the cache did with one exchange (the proxy's event record shows the value)."""

    HIT = "hit"  # answered from the store; the origin never saw the request
    MISS = "miss"  # forwarded; the body came from the origin (and may have been stored)
    REVALIDATED = "revalidated"  # conditional request got 304; answered from the store
    STALE = "stale"  # a stale stored response was served (max-stale, or the origin failed)
    BYPASS = "bypass"  # the cache stood aside (method, Range, If-Match ...)
    ONLY_IF_CACHED_MISS = "only-if-cached-miss"  # 504: nothing usable and no forwarding allowed


# Plain names for the outcomes of the hit path (see ``http.framing.NO_BODY``).
HIT, MISS, STALE = CacheOutcome.HIT, CacheOutcome.MISS, CacheOutcome.STALE


@dataclass(slots=True)
class CacheReply:
    """What to send to the client: head (with Age, Cache-Status, X-Cache), body and outcome.

    A handle on a body still to be streamed rather than a value, so not frozen (which
    would cost three ``object.__setattr__`` calls on every request).
    """

    response: Response
    body: Iterator[bytes]
    outcome: CacheOutcome


#: Outcomes answered from the store (X-Cache: HIT). A set, not ``HIT`` read
#: on each reply: enum members read through their class are slow on Python 3.10/3.11.
_FROM_STORE = frozenset({HIT, CacheOutcome.REVALIDATED, STALE})

#: CacheStats starts with one counter per outcome, in the order of CacheOutcome.
_OUTCOME_COUNTER = dict(
    zip(CacheOutcome, [f.name for f in fields(CacheStats)][: len(CacheOutcome)], strict=True)
)


@dataclass(slots=True)
class _Exchange:
    """One client request on its way through the cache (a working record, never changed)."""

    request: Request
    url: str
    fetch: Fetch
    directives: CacheControl


@dataclass(frozen=True, slots=True)
class _Pending:
    """A response being relayed that will be stored once its body has arrived whole."""

    url: str
    request_headers: Headers
    entry: Entry
    expected_length: int | None


class HttpCache:
    """An RFC 9111 shared cache in memory, safe to use from many threads at once.

    ``max_bytes`` bounds the store (least recently used objects go first); responses with
    bodies over ``max_object_size`` stream through unstored. ``clock`` returns seconds since
    the epoch and is injectable so tests can age responses without waiting.
    """

    def __init__(
        self,
        max_bytes: int = 64 * 2**20,
        max_object_size: int = 2**20,
        *,
        clock: Callable[[], float] = time.time,
        name: str = "proxylab",
        heuristic_fraction: float = 0.1,
        heuristic_max: float = 86400.0,
        collapse_timeout: float = 30.0,
    ) -> None:
        if max_bytes <= 0 or max_object_size <= 0:
            raise ConfigError("max_bytes and max_object_size must be positive.")
        self.policy = rules.CachePolicy(heuristic_fraction, heuristic_max)
        self.name = name
        self._max_object_size = max_object_size
        self._clock = clock
        self._collapse_timeout = collapse_timeout
        self._store = CacheStore(max_bytes)

    # -- public API ----------------------------------------------------------------------

    def exchange(self, request: Request, url: str, fetch: Fetch) -> CacheReply:
        """Answer ``request`` for ``url`` from the store, by revalidating, or via ``fetch``."""
        ex = _Exchange(request, url, fetch, rules.request_directives(request.headers))
        if request.method not in ("GET", "HEAD"):
            return self._pass_through(ex, "method")
        if not _NOT_FOR_THE_STORE.isdisjoint(request.headers.names()):
            ranged = self._ranged(ex)  # a byte range the store can cut, or None
            return self._pass_through(ex, "bypass") if ranged is None else ranged
        entry, fwd = self._store.lookup(url, request.headers)
        if entry is not None:
            decision = self._reuse(ex, entry)
            if decision.usable:
                outcome = STALE if decision.stale else HIT
                status = CacheStatus(hit=True, ttl=decision.ttl)
                return self._from_store(ex, entry, status, outcome, decision.age)
            fwd = decision.fwd
        if ex.directives.has("only-if-cached"):  # RFC 9111 5.2.1.7: "respond ... with a 504"
            return self._only_if_cached()
        return self._forward(ex, entry, fwd)

    def stats(self) -> CacheStats:
        """The counters and the current size of the store."""
        return self._store.stats()

    def clear(self) -> None:
        """Forget every stored response (counters are kept)."""
        self._store.clear()

    # -- answering from the store ----------------------------------------------------------

    def _reuse(self, ex: _Exchange, entry: Entry) -> Reuse:
        return self.policy.reuse(entry.freshness, ex.directives, self._clock())

    def _from_store(
        self,
        ex: _Exchange,
        entry: Entry,
        status: CacheStatus,
        outcome: CacheOutcome,
        age: float | None = None,
    ) -> CacheReply:
        """Build the reply from a stored response: current Age, the client's 304, HEAD.

        ``status`` and ``age`` may come from the reuse decision already taken for it.
        """
        if status.ttl is None or age is None:
            decision = self._reuse(ex, entry)
            status = replace(status, ttl=decision.ttl) if status.ttl is None else status
            age = decision.age
        headers = entry.headers.copy()
        # RFC 9111 4: a stored response used without validation "MUST generate an Age header
        # field" holding its current age, replacing any it came with.
        headers.set("Age", str(min(int(age), rules.DELTA_MAX)))
        body: Iterator[bytes]
        if _not_modified_for_client(ex.request, entry):
            head = Response(304, validators.not_modified_headers(headers), reason_phrase(304))
            body, served = _nothing(), 0
        else:
            if entry.status not in _NO_BODY and "content-length" not in headers:
                headers.set("Content-Length", str(len(entry.body)))
            head = Response(entry.status, headers, entry.reason)
            is_get = ex.request.method == "GET"
            body, served = self._replay(entry.body) if is_get else (_nothing(), 0)
        return self._reply(head, body, status, outcome, served)

    def _ranged(self, ex: _Exchange) -> CacheReply | None:
        """One byte range cut from a usable stored 200 (RFC 9110 14), or None: ask the origin.

        RFC 9110 13.2.2: If-None-Match and If-Modified-Since come before Range, so a client's
        matching conditional still gets its 304; If-Range must name the stored version.
        """
        headers = ex.request.headers
        present = _NOT_FOR_THE_STORE.intersection(headers.names())
        if ex.request.method != "GET" or "range" not in present or present - _RANGE_FIELDS:
            return None
        wanted = ranges.parse_range(headers.get_all("range"))
        entry = None if wanted is None else self._store.lookup(ex.url, headers)[0]
        if wanted is None or entry is None or entry.status != 200:
            return None
        decision = self._reuse(ex, entry)
        if not decision.usable or not _if_range_holds(headers.get_all("if-range"), entry):
            return None
        status = CacheStatus(hit=True, ttl=decision.ttl)
        outcome = STALE if decision.stale else HIT
        if not entry.body or _not_modified_for_client(ex.request, entry):
            return self._from_store(ex, entry, status, outcome, decision.age)  # 304 or all
        return self._partial(entry, wanted.resolve(len(entry.body)), status, outcome, decision)

    def _partial(
        self, entry: Entry, span: tuple[int, int] | None, status: CacheStatus,
        outcome: CacheOutcome, decision: Reuse,
    ) -> CacheReply:  # fmt: skip
        """The 206 with the bytes ``span`` names, or the 416 when it names none (15.5.17)."""
        length = len(entry.body)
        if span is None:
            fields, text = ranges.unsatisfiable(length)
            head = _with_date(Response(416, fields, ranges.UNSATISFIABLE), self._clock())
            return self._reply(head, iter((text,)), status, outcome)
        first, last = span
        headers = ranges.partial_headers(entry.headers, first, last, length)
        headers.set("Age", str(min(int(decision.age), rules.DELTA_MAX)))  # RFC 9111 4
        body, served = self._replay(entry.body[first : last + 1])
        return self._reply(
            Response(206, headers, reason_phrase(206)), body, status, outcome, served
        )

    def _replay(self, body: bytes) -> tuple[Iterator[bytes], int]:
        """Yield a stored body in chunks; also the bytes to count with the reply, if any."""
        if len(body) <= _CHUNK:  # one piece: counted with the reply, no generator needed
            return iter((body,)), len(body)
        return self._replay_chunks(body), 0  # counted as the client takes each chunk

    def _replay_chunks(self, body: bytes) -> Generator[bytes, None, None]:
        for start in range(0, len(body), _CHUNK):
            chunk = body[start : start + _CHUNK]
            self._store.count("bytes_served_from_cache", len(chunk))
            yield chunk

    def _reply(
        self, head: Response, body: Iterator[bytes], status: CacheStatus, outcome: CacheOutcome,
        served: int = 0,
    ) -> CacheReply:  # fmt: skip
        """Stamp Cache-Status (appended, RFC 9211 2) and X-Cache, and count the reply.

        ``served``: bytes of a stored body already handed over (counted with the outcome).
        """
        head.headers.add("Cache-Status", status.render(self.name))
        head.headers.set("X-Cache", "HIT" if outcome in _FROM_STORE else "MISS")
        self._store.count_reply(_OUTCOME_COUNTER[outcome], served)
        return CacheReply(head, body, outcome)

    def _only_if_cached(self) -> CacheReply:
        text = b"504 Gateway Timeout: only-if-cached, and no usable stored response.\n"
        headers = Headers([("Content-Type", "text/plain"), ("Content-Length", str(len(text)))])
        head = _with_date(Response(504, headers), self._clock())
        status = CacheStatus(detail="only-if-cached")
        return self._reply(head, iter([text]), status, CacheOutcome.ONLY_IF_CACHED_MISS)

    # -- going forward ---------------------------------------------------------------------

    def _pass_through(self, ex: _Exchange, fwd: str) -> CacheReply:
        """Forward untouched; after an unsafe method's success, invalidate (RFC 9111 4.4)."""
        response, upstream = ex.fetch(ex.request)
        targets = rules.invalidation_targets(ex.request.method, ex.url, response)
        if targets:
            self._store.invalidate(targets)
        head = _with_date(response, self._clock())
        status = CacheStatus(fwd=fwd, fwd_status=response.status)
        return self._reply(head, upstream, status, CacheOutcome.BYPASS)

    def _forward(self, ex: _Exchange, entry: Entry | None, fwd: str) -> CacheReply:
        """Go to the origin - unless another request for this URL already is, then wait."""
        flight, waited = self._join_or_lead(ex)
        if waited:
            reply = self._after_wait(ex, fwd)
            if reply is not None:
                return reply
            entry = self._store.lookup(ex.url, ex.request.headers)[0]
        status = CacheStatus(fwd=fwd, collapsed=False if waited else None)
        try:
            reply = self._fetch(ex, entry, status, flight)
        except BaseException:
            self._store.land(ex.url, flight)
            raise
        if reply.outcome is not MISS:  # a MISS body lands the flight itself
            self._store.land(ex.url, flight)
        return reply

    def _join_or_lead(self, ex: _Exchange) -> tuple[Flight | None, bool]:
        """Become the leader for this URL (GET only), or wait for the current one.

        A request with ``no-cache`` wants its own answer from the origin, so it never waits.
        """
        return self._store.join_or_lead(
            ex.url,
            may_lead=ex.request.method == "GET",
            may_wait=not ex.directives.has("no-cache"),
            timeout=self._collapse_timeout,
        )

    def _after_wait(self, ex: _Exchange, fwd: str) -> CacheReply | None:
        """After waiting for a leader: answer from what it stored, if that fits this request."""
        entry = self._store.lookup(ex.url, ex.request.headers)[0]
        if entry is None:
            return None
        decision = self._reuse(ex, entry)
        if not decision.usable:
            return None
        status = CacheStatus(fwd=fwd, ttl=decision.ttl, collapsed=True)
        outcome = STALE if decision.stale else HIT
        return self._from_store(ex, entry, status, outcome)

    def _fetch(
        self, ex: _Exchange, entry: Entry | None, status: CacheStatus, flight: Flight | None
    ) -> CacheReply:
        """Send the request (conditional when we hold a response) and handle the answer."""
        outbound = ex.request
        if entry is not None:
            headers = validators.conditional_headers(ex.request.headers, entry.headers)
            outbound = replace(ex.request, headers=headers)
            self._store.count("revalidations")
        request_time = self._clock()
        try:
            response, upstream = ex.fetch(outbound)
        except UpstreamError:
            stale = self._stale_on_error(ex, entry, status, None)
            if stale is None:
                raise
            return stale
        timing = Timing.of(response.headers, request_time, self._clock())
        status = replace(status, fwd_status=response.status)
        if entry is not None:
            reply = self._validated(ex, entry, response, upstream, timing, status, flight)
            if reply is not None:
                return reply
        return self._relay(ex, response, upstream, timing, status, flight)

    def _validated(
        self, ex: _Exchange, entry: Entry, response: Response, upstream: Iterator[bytes],
        timing: Timing, status: CacheStatus, flight: Flight | None,
    ) -> CacheReply | None:  # fmt: skip
        """Use the origin's answer to a validation; None means "relay it like a miss"."""
        if response.status == 304:
            _discard(upstream)
            self._store.count("revalidations_304")
            fresh = self._freshen(ex, entry, response, timing)
            if fresh is None:  # the 304 is about another representation: ask plainly
                return self._fetch(ex, None, status, flight)
            return self._from_store(ex, fresh, status, CacheOutcome.REVALIDATED)
        stale = self._stale_on_error(ex, entry, status, response.status)
        if stale is not None:
            _discard(upstream)
            return stale
        if ex.request.method == "HEAD" and response.status == 200:
            # RFC 9111 4.3.5: a HEAD 200 freshens the stored GET response it describes.
            self._freshen(ex, entry, response, timing, ("content-length",))
        return None

    def _freshen(
        self, ex: _Exchange, entry: Entry, response: Response, timing: Timing,
        also_compare: tuple[str, ...] = (),
    ) -> Entry | None:  # fmt: skip
        """RFC 9111 4.3.4: update a stored response from a 304/HEAD, or drop it on mismatch."""
        update = _with_date(response, timing.response_time).headers
        if not validators.same_validators(entry.headers, update, also_compare):
            self._store.drop(ex.url, entry.vary)
            return None
        # RFC 9111 3.2: the merged fields obey the storing rules too (a 304 may name fields in
        # no-cache="..." or Connection, or carry Proxy-Authentication-Info).
        merged = validators.freshen_headers(entry.headers, update)
        headers = rules.headers_to_store(merged, timing.response_time)
        freshness = self.policy.freshness(entry.status, headers, timing)
        fresh = replace(entry, headers=headers, timing=timing, freshness=freshness)
        self._store.put(ex.url, fresh)
        return fresh

    def _stale_on_error(
        self, ex: _Exchange, entry: Entry | None, status: CacheStatus, failed: int | None
    ) -> CacheReply | None:
        """Serve the stale response in place of a failed origin, where that is allowed."""
        if entry is None:
            return None
        staleness = -self._reuse(ex, entry).ttl
        if not rules.stale_on_error_allowed(entry.headers, ex.directives, staleness, failed):
            return None
        detail = "origin-unreachable" if failed is None else "stale-if-error"
        status = replace(status, fwd="stale", fwd_status=failed, detail=detail)
        return self._from_store(ex, entry, status, STALE)

    def _relay(
        self, ex: _Exchange, response: Response, upstream: Iterator[bytes], timing: Timing,
        status: CacheStatus, flight: Flight | None,
    ) -> CacheReply:  # fmt: skip
        """Pass the origin's response on, keeping a copy when it may be stored."""
        head = _with_date(response, timing.response_time)
        pending = self._plan(ex, head, timing)
        if pending is None:
            self._store.land(ex.url, flight)
            body = upstream
            if ex.request.method == "HEAD" or head.status in _NO_BODY:  # never a body
                _discard(upstream)
                body = _nothing()
        else:
            body = _primed(self._stream_and_store(upstream, pending, flight))
            stored = pending.entry.freshness  # judged on the fields as stored
            ttl = stored.lifetime - stored.current_age(timing.response_time)
            status = replace(status, stored=True, ttl=ttl)
        return self._reply(head, body, status, MISS)

    def _plan(self, ex: _Exchange, response: Response, timing: Timing) -> _Pending | None:
        """What to store once the body is in, or None if this response is not to be kept."""
        if isinstance(self.policy.storable(ex.request, response), rules.DontStore):
            return None
        length = _content_length(response.headers)
        if length is not None and length > self._max_object_size:
            return None  # too big: never buffer it
        headers = rules.headers_to_store(response.headers, timing.response_time)
        vary = rules.vary_key(response.headers, ex.request.headers)
        freshness = self.policy.freshness(response.status, headers, timing)
        entry = Entry(response.status, response.reason, headers, b"", vary, timing, freshness)
        return _Pending(ex.url, ex.request.headers, entry, length)

    def _stream_and_store(
        self, upstream: Iterator[bytes], pending: _Pending, flight: Flight | None
    ) -> Generator[bytes, None, None]:
        """Relay the origin's body and keep a copy; store it only if it arrived whole."""
        kept: list[bytes] | None = []
        total, complete = 0, False
        try:
            yield b""  # the priming point, see _primed
            for chunk in upstream:
                total += len(chunk)
                if kept is not None and total > self._max_object_size:
                    kept = None  # too big after all: stop buffering, keep streaming
                elif kept is not None:
                    kept.append(chunk)
                yield chunk
            complete = True
        finally:
            try:
                _close(upstream)
                # RFC 9111 3: do not store an incomplete response as if it were complete.
                if complete and kept is not None and pending.expected_length in (None, total):
                    entry = replace(pending.entry, body=b"".join(kept))
                    self._store.put(pending.url, entry, pending.request_headers)
            finally:
                self._store.land(pending.url, flight)


def _not_modified_for_client(request: Request, entry: Entry) -> bool:
    """RFC 9111 4.3.2: may the store answer the client's own conditional with a 304?

    Only for a stored 2xx: RFC 9110 13.2.1, a recipient "MUST ignore all received
    preconditions if its response to the same request without those conditions ... would have
    been a status code other than a 2xx" - a stored 404 is never "not modified".
    """
    if not 200 <= entry.status < 300:
        return False
    return validators.client_not_modified(
        request.headers, entry.headers, entry.timing.response_time
    )


def _if_range_holds(values: list[str], entry: Entry) -> bool:
    """No If-Range, or one that names the stored version (RFC 9110 13.1.5); not several."""
    if not values:
        return True
    received = entry.timing.response_time
    return len(values) == 1 and ranges.if_range_allows(values[0], entry.headers, received)


def _primed(body: Generator[bytes, None, None]) -> Generator[bytes, None, None]:
    """Run a body generator to its first ``yield`` so that its ``finally`` always runs.

    A generator that never started skips its ``finally`` when closed or garbage-collected;
    one paused inside its ``try`` runs it. So the origin connection and the waiting requests
    are released even if the proxy drops the body unread.
    """
    next(body)
    return body


def _nothing() -> Generator[bytes, None, None]:
    yield from ()


def _close(upstream: Iterator[bytes]) -> None:
    close = getattr(upstream, "close", None)
    if callable(close):
        close()


def _discard(upstream: Iterator[bytes]) -> None:
    """Finish with a body nobody will see (a 304's, a HEAD's, a failed 5xx's).

    Reading a little first lets an empty body end cleanly, so its connection can be reused;
    anything longer is closed.
    """
    taken = 0
    try:
        for chunk in upstream:
            taken += len(chunk)
            if taken > _CHUNK:
                break
    except ProxyLabError:
        pass  # a broken body we were going to throw away anyway
    finally:
        _close(upstream)


def _content_length(headers: Headers) -> int | None:
    value = headers.get("content-length")
    return int(value) if value is not None and value.strip().isdigit() else None


def _with_date(response: Response, received: float) -> Response:
    """A copy of the head with a Date if it had none (RFC 9110 6.6.1)."""
    headers = response.headers.copy()
    if "date" not in headers:
        headers.add("Date", validators.format_http_date(received))
    return Response(response.status, headers, response.reason or reason_phrase(response.status))
