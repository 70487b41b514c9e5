"""The current age (RFC 9111 4.2.3) and fresh or stale at the boundary."""

from email.utils import formatdate

import pytest

T = 1_700_000_000.0


def http_date(timestamp):
    return formatdate(timestamp, usegmt=True)


@pytest.mark.group("age")
@pytest.mark.points(2)
def test_age_is_time_since_arrival(solution):
    got = solution.current_age({"date": http_date(T)}, T, T, T + 30)
    assert got == 30, f"Made and received at T, asked at T+30: the age is 30; got {got}."


@pytest.mark.group("age")
@pytest.mark.points(2)
def test_age_field_and_response_delay(solution):
    got = solution.current_age({"date": http_date(T), "age": "10"}, T - 2, T, T + 5)
    assert got == 17, (
        f"Age: 10, a 2 s round trip and 5 s in the store: 10 + 2 + 5 = 17; got {got}. "
        "corrected_age_value adds the response delay to the Age field."
    )


@pytest.mark.group("age")
@pytest.mark.points(2)
def test_apparent_age_from_an_old_date(solution):
    got = solution.current_age({"date": http_date(T - 50), "age": "5"}, T, T, T + 10)
    assert got == 60, (
        f"Date 50 s before arrival beats Age: 5 (take the larger), plus 10 s in the store: "
        f"expected 60, got {got}."
    )


@pytest.mark.group("age")
@pytest.mark.points(2)
def test_date_in_the_future_does_not_go_negative(solution):
    got = solution.current_age({"date": http_date(T + 3600)}, T, T, T + 10)
    assert got == 10, (
        f"A Date an hour in the future (a fast origin clock): apparent_age is max(0, ...), "
        f"so the age is just the 10 s in the store; got {got}."
    )


@pytest.mark.group("age")
@pytest.mark.points(1)
@pytest.mark.parametrize("age", ["ten", "-5", ""])
def test_bad_age_field_counts_as_zero(solution, age):
    got = solution.current_age({"date": http_date(T), "age": age}, T, T, T + 1)
    assert got == 1, f"Age: {age!r} is not a number of seconds, so it counts as 0; got {got}."


@pytest.mark.group("age")
@pytest.mark.points(1)
def test_missing_date_uses_arrival(solution):
    got = solution.current_age({"age": "3"}, T, T, T + 4)
    assert got == 7, f"No Date: date_value is response_time; Age 3 + 4 s stored = 7; got {got}."


@pytest.mark.group("fresh or stale")
@pytest.mark.points(2)
def test_fresh_just_before_the_boundary(solution):
    headers = {"cache-control": "max-age=60", "date": http_date(T)}
    assert solution.is_fresh(headers, T, T, T + 59.5), (
        "max-age=60 and 59.5 s old: still fresh (lifetime 60 > age 59.5)."
    )


@pytest.mark.group("fresh or stale")
@pytest.mark.points(3)
def test_stale_exactly_at_the_boundary(solution):
    headers = {"cache-control": "max-age=60", "date": http_date(T)}
    assert not solution.is_fresh(headers, T, T, T + 60), (
        "max-age=60 and exactly 60 s old: STALE. Fresh means lifetime > age, strictly "
        "(RFC 9111 4.2: response_is_fresh = (freshness_lifetime > current_age))."
    )


@pytest.mark.group("fresh or stale")
@pytest.mark.points(2)
def test_age_field_counts_against_freshness(solution):
    headers = {"cache-control": "max-age=60", "date": http_date(T), "age": "55"}
    assert solution.is_fresh(headers, T, T, T + 4), "Age 55 + 4 s = 59 < 60: fresh."
    assert not solution.is_fresh(headers, T, T, T + 6), (
        "Age: 55 from an upstream cache + 6 s here = 61 > 60: stale. The Age field counts."
    )


@pytest.mark.group("fresh or stale")
@pytest.mark.points(3)
def test_no_cache_is_never_fresh(solution):
    headers = {"cache-control": "no-cache, max-age=3600", "date": http_date(T)}
    assert not solution.is_fresh(headers, T, T, T + 1), (
        "no-cache: the response must be revalidated before every use, so never fresh, "
        "whatever max-age says."
    )


@pytest.mark.group("fresh or stale")
@pytest.mark.points(1)
def test_max_age_zero_is_stale_at_once(solution):
    assert not solution.is_fresh({"cache-control": "max-age=0"}, T, T, T), (
        "max-age=0 at age 0: 0 > 0 is false, so stale at once."
    )
