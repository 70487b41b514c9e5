"""A plausible wrong freshness: max-age before s-maxage, no response delay, '>=' at the boundary."""

from email.utils import parsedate_to_datetime

HEURISTIC_STATUSES = {200, 203, 204, 206, 300, 301, 308, 404, 405, 410, 414, 501}


def _date(value):
    try:
        return parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError):
        return None


def _directives(headers):
    found = {}
    for part in headers.get("cache-control", "").split(","):
        name, _, arg = part.strip().partition("=")
        found.setdefault(name.lower(), arg)
    return found


def freshness_lifetime(headers, response_time, status=200):
    cc = _directives(headers)
    for name in ("max-age", "s-maxage"):  # wrong order: a shared cache looks at s-maxage first
        if name in cc:
            return float(cc[name]) if cc[name].isdigit() else 0.0
    date = _date(headers.get("date")) or response_time
    if "expires" in headers:
        expires = _date(headers["expires"])
        return 0.0 if expires is None else max(0.0, expires - date)
    modified = _date(headers.get("last-modified"))
    if status not in HEURISTIC_STATUSES or modified is None:
        return 0.0
    return min(86400.0, 0.1 * max(0.0, date - modified))


def current_age(headers, request_time, response_time, now):
    date = _date(headers.get("date")) or response_time
    age = headers.get("age", "")
    age_value = int(age) if age.isdigit() else 0
    apparent = max(0.0, response_time - date)
    return max(apparent, age_value) + (now - response_time)  # wrong: forgets the response delay


def is_fresh(headers, request_time, response_time, now, status=200):
    if "no-cache" in _directives(headers):
        return False
    lifetime = freshness_lifetime(headers, response_time, status)
    return lifetime >= current_age(headers, request_time, response_time, now)  # off by one
