"""The freshness lifetime (RFC 9111 4.2.1 and 4.2.2)."""

from email.utils import formatdate

import pytest

T = 1_700_000_000.0  # when the response arrived (a Tuesday in November 2023)


def http_date(timestamp):
    return formatdate(timestamp, usegmt=True)


@pytest.mark.group("explicit lifetime")
@pytest.mark.points(2)
def test_max_age(solution):
    got = solution.freshness_lifetime({"cache-control": "max-age=60"}, T)
    assert got == 60, f"Cache-Control: max-age=60 grants 60 s of freshness; got {got}."


@pytest.mark.group("explicit lifetime")
@pytest.mark.points(2)
def test_s_maxage_wins_in_a_shared_cache(solution):
    headers = {"cache-control": "max-age=600, s-maxage=30", "date": http_date(T)}
    got = solution.freshness_lifetime(headers, T)
    assert got == 30, (
        f"max-age=600, s-maxage=30 gave {got}: a shared cache (a proxy) uses s-maxage "
        "first (RFC 9111 5.2.2.10), whatever the order of the directives."
    )


@pytest.mark.group("explicit lifetime")
@pytest.mark.points(2)
def test_max_age_wins_over_expires(solution):
    headers = {"cache-control": "max-age=10", "date": http_date(T), "expires": http_date(T + 3600)}
    got = solution.freshness_lifetime(headers, T)
    assert got == 10, f"max-age beats Expires (RFC 9111 5.3); got {got}, expected 10."


@pytest.mark.group("explicit lifetime")
@pytest.mark.points(2)
def test_directive_names_are_case_insensitive(solution):
    got = solution.freshness_lifetime({"cache-control": "public, Max-Age=45"}, T)
    assert got == 45, f"'Max-Age=45' is max-age=45 (names are case-insensitive); got {got}."


@pytest.mark.group("explicit lifetime")
@pytest.mark.points(1)
@pytest.mark.parametrize("value", ["max-age=soon", "max-age=-1", "max-age="])
def test_malformed_max_age_is_zero(solution, value):
    got = solution.freshness_lifetime({"cache-control": value, "date": http_date(T)}, T)
    assert got == 0, (
        f"Cache-Control: {value} gave {got}: a malformed delta-seconds counts as 0, so the "
        "response is stale at once (the safe mistake, never fresh forever)."
    )


@pytest.mark.group("expires")
@pytest.mark.points(3)
def test_expires_minus_date(solution):
    headers = {"date": http_date(T - 100), "expires": http_date(T + 200)}
    got = solution.freshness_lifetime(headers, T)
    assert got == 300, (
        f"Expires is 300 s after Date, so the lifetime is 300; got {got}. Subtract Date, not "
        "the time the response arrived."
    )


@pytest.mark.group("expires")
@pytest.mark.points(1)
def test_expires_without_date_uses_arrival(solution):
    got = solution.freshness_lifetime({"expires": http_date(T + 120)}, T)
    assert got == 120, f"Without Date, use response_time as the Date: expected 120, got {got}."


@pytest.mark.group("expires")
@pytest.mark.points(1)
@pytest.mark.parametrize("expires", ["0", "yesterday", "PAST"])
def test_invalid_expires_means_expired(solution, expires):
    got = solution.freshness_lifetime({"date": http_date(T), "expires": expires}, T)
    assert got == 0, (
        f"Expires: {expires} gave {got}: an invalid date, especially '0', means already "
        "expired (RFC 9111 5.3)."
    )


@pytest.mark.group("expires")
@pytest.mark.points(2)
def test_expires_in_the_past_is_zero(solution):
    got = solution.freshness_lifetime({"date": http_date(T), "expires": http_date(T - 60)}, T)
    assert got == 0, f"An Expires before Date gives 0, never a negative lifetime; got {got}."


@pytest.mark.group("heuristic")
@pytest.mark.points(3)
def test_heuristic_ten_percent(solution):
    headers = {"date": http_date(T), "last-modified": http_date(T - 1000)}
    got = solution.freshness_lifetime(headers, T)
    assert got == pytest.approx(100), (
        f"Last-Modified 1000 s before Date and no explicit lifetime: 10% gives 100 s; got {got}."
    )


@pytest.mark.group("heuristic")
@pytest.mark.points(1)
def test_heuristic_is_capped(solution):
    headers = {"date": http_date(T), "last-modified": http_date(T - 365 * 86400)}
    got = solution.freshness_lifetime(headers, T)
    assert got == 86400, f"The heuristic is capped at one day (86400 s); got {got}."


@pytest.mark.group("heuristic")
@pytest.mark.points(2)
def test_heuristic_only_for_cacheable_statuses(solution):
    headers = {"date": http_date(T), "last-modified": http_date(T - 1000)}
    assert solution.freshness_lifetime(headers, T, status=404) == pytest.approx(100), (
        "A 404 may be kept heuristically (it is in HEURISTIC_STATUSES)."
    )
    got = solution.freshness_lifetime(headers, T, status=302)
    assert got == 0, f"A 302 has no heuristic lifetime (not in HEURISTIC_STATUSES); got {got}."


@pytest.mark.group("heuristic")
@pytest.mark.points(1)
def test_nothing_to_go_on_is_zero(solution):
    got = solution.freshness_lifetime({"date": http_date(T)}, T)
    assert got == 0, f"No max-age, Expires or Last-Modified: the lifetime is 0; got {got}."
