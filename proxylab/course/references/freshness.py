"""Reference for exercise 03 (freshness and age): ``proxylab.cache.policy`` (RFC 9111 4.2).

The exercise passes a response's header fields as a dict of lower-case names and clock
readings as POSIX timestamps; ``CachePolicy`` and ``Timing`` answer.

Layer 5 (an edge).
"""

from __future__ import annotations

from collections.abc import Mapping

from proxylab.cache.policy import CacheControl, CachePolicy, Timing
from proxylab.http.messages import Headers

__all__ = ["current_age", "freshness_lifetime", "is_fresh"]

_POLICY = CachePolicy()


def _headers(headers: Mapping[str, str]) -> Headers:
    return Headers(headers.items())


def freshness_lifetime(
    headers: Mapping[str, str], response_time: float, status: int = 200
) -> float:
    """RFC 9111 4.2.1: seconds of freshness granted (``Date`` defaults to ``response_time``)."""
    timing = Timing.of(_headers(headers), response_time, response_time)
    return _POLICY.freshness_lifetime(status, _headers(headers), timing.date_value)


def current_age(
    headers: Mapping[str, str], request_time: float, response_time: float, now: float
) -> float:
    """RFC 9111 4.2.3: how old the stored response is at ``now``."""
    return Timing.of(_headers(headers), request_time, response_time).current_age(now)


def is_fresh(
    headers: Mapping[str, str],
    request_time: float,
    response_time: float,
    now: float,
    status: int = 200,
) -> bool:
    """RFC 9111 4.2: fresh while the lifetime is larger than the current age."""
    fields = _headers(headers)
    stored = _POLICY.freshness(status, fields, Timing.of(fields, request_time, response_time))
    return _POLICY.reuse(stored, CacheControl(), now).usable
