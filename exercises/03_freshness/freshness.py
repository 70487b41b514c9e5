"""Exercise 03: freshness lifetime and age, the two numbers that decide a cache hit (RFC 9111 4.2).

Write the three functions below (see README.md for the whole task and the points). A
stored response is *fresh* while its freshness lifetime (what the origin granted) is
larger than its current age (how long ago the origin made it). ``headers`` is a dict of
the response's header fields with lower-case names, e.g. ``{"cache-control": "max-age=60",
"date": "Tue, 01 Oct 2024 12:00:00 GMT"}``. Times are POSIX timestamps in seconds.

Hint: ``email.utils.parsedate_to_datetime`` reads an HTTP-date.

Run the grader with ``proxylab grade 03`` (or ``pytest exercises/03_freshness``).
"""

from __future__ import annotations

from collections.abc import Mapping

#: RFC 9110 15.1: statuses a cache may keep for a heuristic lifetime.
HEURISTIC_STATUSES = frozenset({200, 203, 204, 206, 300, 301, 308, 404, 405, 410, 414, 501})

#: The heuristic takes this fraction of (Date - Last-Modified), at most HEURISTIC_MAX seconds.
HEURISTIC_FRACTION = 0.1
HEURISTIC_MAX = 86400.0


def freshness_lifetime(
    headers: Mapping[str, str], response_time: float, status: int = 200
) -> float:
    """RFC 9111 4.2.1: how many seconds of freshness the response was given.

    The first of these that is present decides (a shared cache's order):

    1. ``s-maxage=N`` in Cache-Control, then ``max-age=N``: N seconds. A malformed
       argument (``max-age=soon``, ``max-age=-1``) counts as 0. Directive names are
       case-insensitive.
    2. ``Expires``: Expires minus Date (never below 0). An Expires that is not a valid date
       (``0`` is a common one) means "already expired": 0.
    3. Otherwise the heuristic (RFC 9111 4.2.2), only for ``HEURISTIC_STATUSES``:
       ``HEURISTIC_FRACTION`` of (Date - Last-Modified), capped at ``HEURISTIC_MAX``;
       0 without a valid Last-Modified.

    When Date is missing or invalid, use ``response_time`` (when the response arrived).
    """
    raise NotImplementedError("write freshness_lifetime")


def current_age(
    headers: Mapping[str, str], request_time: float, response_time: float, now: float
) -> float:
    """RFC 9111 4.2.3: the response's age at ``now``.

    ``request_time`` is when the cache sent the request, ``response_time`` when the
    response arrived. Follow the RFC line by line::

        apparent_age = max(0, response_time - date_value)
        response_delay = response_time - request_time
        corrected_age_value = age_value + response_delay
        corrected_initial_age = max(apparent_age, corrected_age_value)
        resident_time = now - response_time
        current_age = corrected_initial_age + resident_time

    ``age_value`` is the Age field in seconds (0 when absent or not a number);
    ``date_value`` is the Date field (``response_time`` when absent or invalid).
    """
    raise NotImplementedError("write current_age")


def is_fresh(
    headers: Mapping[str, str],
    request_time: float,
    response_time: float,
    now: float,
    status: int = 200,
) -> bool:
    """RFC 9111 4.2: fresh while the freshness lifetime is LARGER than the current age.

    A response with ``no-cache`` in its Cache-Control is never fresh (it must be
    revalidated every time, RFC 9111 5.2.2.4).
    """
    raise NotImplementedError("write is_fresh")
