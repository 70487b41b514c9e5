"""The pure caching rules of ``proxylab.cache.policy`` and ``proxylab.cache.validators``.

One test per rule, no clock, no network.
"""

from __future__ import annotations

import pytest

from proxylab.cache.policy import (
    DELTA_MAX,
    CachePolicy,
    CacheStatus,
    DontStore,
    Store,
    Timing,
    headers_to_store,
    invalidation_targets,
    parse_age,
    parse_cache_control,
    request_directives,
    stale_on_error_allowed,
    vary_key,
    vary_matches,
)
from proxylab.cache.validators import (
    client_not_modified,
    conditional_headers,
    format_http_date,
    freshen_headers,
    not_modified_headers,
    parse_http_date,
    same_validators,
    split_list,
)
from proxylab.http.messages import Headers, Request, Response

NOW = 1_700_000_000.0  # Tue, 14 Nov 2023 22:13:20 GMT
POLICY = CachePolicy()


def h(*pairs: tuple[str, str]) -> Headers:
    return Headers(pairs)


def date(offset: float = 0.0) -> str:
    return format_http_date(NOW + offset)


def fresh_timing(age: int = 0) -> Timing:
    return Timing(NOW, NOW, NOW, age)


def storable(response: Response, *request_headers: tuple[str, str], method: str = "GET") -> bool:
    decision = POLICY.storable(Request(method, "/", h(*request_headers)), response)
    return isinstance(decision, Store)


# -- Cache-Control parsing -------------------------------------------------------------------


def test_directive_names_are_case_insensitive_and_arguments_unquoted() -> None:
    cc = parse_cache_control(h(("Cache-Control", 'MaX-AgE="60", No-Store')))
    assert cc.seconds("max-age") == 60
    assert cc.has("no-store")


def test_a_comma_inside_a_quoted_string_does_not_split() -> None:
    cc = parse_cache_control(h(("Cache-Control", 'ext="max-age=100, s-maxage=5", max-age=1')))
    assert cc.seconds("max-age") == 1
    assert not cc.has("s-maxage")
    assert split_list('a, "b, c", d') == ["a", '"b, c"', "d"]


@pytest.mark.parametrize(
    "lines",
    [
        ['max-age=60, ext="x, no-store'],
        ['private="a, no-store'],
        ['ext="never closed', "no-store"],
    ],
)
def test_a_quote_that_never_closes_cannot_hide_the_directives_after_it(lines: list[str]) -> None:
    cc = parse_cache_control(h(*(("Cache-Control", line) for line in lines)))
    assert cc.has("no-store")


def test_the_first_of_duplicate_directives_wins_across_lines() -> None:
    cc = parse_cache_control(h(("Cache-Control", "max-age=1800"), ("Cache-Control", "max-age=1")))
    assert cc.seconds("max-age") == 1800


@pytest.mark.parametrize("member", ["max-age =100", "max-age= 100"])
def test_whitespace_around_equals_makes_the_member_invalid(member: str) -> None:
    assert not parse_cache_control(h(("Cache-Control", member))).has("max-age")


@pytest.mark.parametrize("value", ["a100", "100a", "-100", "3600.5", "'3600'"])
def test_a_malformed_delta_reads_as_zero_so_the_response_is_stale(value: str) -> None:
    assert parse_cache_control(h(("Cache-Control", f"max-age={value}"))).seconds("max-age") == 0


def test_huge_deltas_are_capped_and_absent_ones_are_none() -> None:
    cc = parse_cache_control(h(("Cache-Control", "max-age=99999999999")))
    assert cc.seconds("max-age") == DELTA_MAX
    assert cc.seconds("s-maxage") is None


def test_qualified_forms_list_field_names() -> None:
    cc = parse_cache_control(h(("Cache-Control", 'no-cache="Set-Cookie, X-A", private')))
    assert cc.field_names("no-cache") == ["set-cookie", "x-a"]
    assert not cc.unqualified("no-cache")
    assert cc.unqualified("private")


def test_pragma_no_cache_counts_only_without_cache_control() -> None:
    assert request_directives(h(("Pragma", "no-cache"))).has("no-cache")
    both = h(("Pragma", "no-cache"), ("Cache-Control", "max-age=5"))
    assert not request_directives(both).has("no-cache")


# -- dates and ages --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "Sun, 06 Nov 1994 08:49:37 GMT",
        "Sunday, 06-Nov-94 08:49:37 GMT",
        "Sun Nov  6 08:49:37 1994",
        "SUN, 06 NOV 1994 08:49:37 gmt",
    ],
)
def test_the_three_http_date_forms_parse_to_the_same_moment(text: str) -> None:
    assert parse_http_date(text, NOW) == 784111777.0


@pytest.mark.parametrize(
    "text",
    [
        "0",
        "Thu, 18 Aug 2050 02:01:18 UTC",
        "Thu, 18 Aug 50 02:01:18 GMT",
        "Thu 18 Aug 2050 02:01:18 GMT",
        "Thu, 18  Aug  2050 02:01:18 GMT",
        "Thu, 18-Aug-2050 02:01:18 GMT",
        "Thu, 18 Aug 2050 02.01.18 GMT",
        "Thu, 18 Aug 2050 2:01:18 GMT",
        "Thu, 31 Feb 2050 02:01:18 GMT",
    ],
)
def test_anything_else_is_not_a_date(text: str) -> None:
    assert parse_http_date(text, NOW) is None


def test_two_digit_years_more_than_50_years_ahead_are_last_century() -> None:
    assert parse_http_date("Monday, 01-Jan-73 00:00:00 GMT", NOW) == parse_http_date(
        "Mon, 01 Jan 2073 00:00:00 GMT", NOW
    )
    assert parse_http_date("Monday, 01-Jan-80 00:00:00 GMT", NOW) == parse_http_date(
        "Tue, 01 Jan 1980 00:00:00 GMT", NOW
    )


@pytest.mark.parametrize(
    ("lines", "expected"),
    [([], 0), (["30"], 30), (["abc"], 0), (["-5"], 0), (["7.5"], 0), (["7200, 0"], 7200)],
)
def test_age_is_delta_seconds_and_the_first_value_wins(lines: list[str], expected: int) -> None:
    assert parse_age(Headers(("Age", line) for line in lines)) == expected


def test_current_age_follows_rfc9111_4_2_3() -> None:
    # Asked at t=100, answered at t=102 with Date t=95 and Age 10; now t=130.
    timing = Timing(request_time=100.0, response_time=102.0, date_value=95.0, age_value=10)
    apparent_age = 102 - 95  # 7
    corrected_age_value = 10 + (102 - 100)  # 12
    assert timing.current_age(130.0) == max(apparent_age, corrected_age_value) + (130 - 102)


def test_a_date_in_the_future_gives_no_negative_apparent_age() -> None:
    assert Timing(100.0, 100.0, 500.0, 0).current_age(110.0) == 10.0


def test_timing_without_a_valid_date_uses_the_time_of_receipt() -> None:
    timing = Timing.of(h(("Date", "foo"), ("Age", "3")), NOW - 1, NOW)
    assert (timing.date_value, timing.age_value) == (NOW, 3)


# -- freshness lifetime ----------------------------------------------------------------------


def lifetime(*pairs: tuple[str, str], status: int = 200) -> float:
    return POLICY.freshness_lifetime(status, h(*pairs), NOW)


def test_s_maxage_wins_over_max_age_which_wins_over_expires() -> None:
    assert lifetime(("Cache-Control", "max-age=3600, s-maxage=1")) == 1
    assert lifetime(("Cache-Control", "max-age=60"), ("Expires", date(-10))) == 60


def test_expires_counts_from_date() -> None:
    assert lifetime(("Expires", date(300))) == 300
    assert lifetime(("Expires", date(-300))) == 0


def test_an_invalid_expires_means_already_expired_and_blocks_the_heuristic() -> None:
    assert lifetime(("Expires", "0"), ("Last-Modified", date(-86400))) == 0


def test_heuristic_is_a_tenth_of_the_time_since_last_modified_capped() -> None:
    assert lifetime(("Last-Modified", date(-1000))) == 100
    assert lifetime(("Last-Modified", date(-10 * 86400 * 10))) == 86400


def test_heuristic_only_for_heuristically_cacheable_statuses_or_public() -> None:
    assert lifetime(("Last-Modified", date(-1000)), status=404) == 100
    assert lifetime(("Last-Modified", date(-1000)), status=302) == 0
    assert lifetime(("Last-Modified", date(-1000)), ("Cache-Control", "public"), status=599) == 100


def test_no_last_modified_means_no_heuristic_freshness() -> None:
    assert lifetime() == 0


def test_heuristic_parameters_are_configurable() -> None:
    policy = CachePolicy(heuristic_fraction=0.5, heuristic_max=60.0)
    assert policy.freshness_lifetime(200, h(("Last-Modified", date(-100))), NOW) == 50
    assert policy.freshness_lifetime(200, h(("Last-Modified", date(-1000))), NOW) == 60


# -- storing (RFC 9111 section 3) ------------------------------------------------------------

FRESH = ("Cache-Control", "max-age=60")


def test_only_get_responses_are_stored() -> None:
    assert storable(Response(200, h(FRESH)))
    assert not storable(Response(200, h(FRESH)), method="POST")
    assert not storable(Response(200, h(FRESH)), method="HEAD")


@pytest.mark.parametrize("status", [100, 206, 304])
def test_interim_partial_and_not_modified_responses_are_not_stored(status: int) -> None:
    assert not storable(Response(status, h(FRESH)))


@pytest.mark.parametrize("cc", ["no-store", "No-StOrE, max-age=60", "private, max-age=60"])
def test_no_store_and_private_responses_are_not_stored(cc: str) -> None:
    assert not storable(Response(200, h(("Cache-Control", cc))))


def test_a_request_no_store_forbids_storing() -> None:
    assert not storable(Response(200, h(FRESH)), ("Cache-Control", "no-store"))


def test_qualified_private_still_lets_a_shared_cache_store_the_rest() -> None:
    assert storable(Response(200, h(("Cache-Control", 'private="Set-Cookie", max-age=60'))))


@pytest.mark.parametrize(
    ("cc", "ok"),
    [
        ("max-age=60", False),
        ("max-age=60, public", True),
        ("s-maxage=60", True),
        ("max-age=60, must-revalidate", True),
    ],
)
def test_authorization_requires_an_explicit_shared_permission(cc: str, ok: bool) -> None:
    response = Response(200, h(("Cache-Control", cc)))
    assert storable(response, ("Authorization", "Basic eDp5")) is ok


@pytest.mark.parametrize(("status", "ok"), [(200, True), (404, True), (302, False), (500, False)])
def test_without_explicit_freshness_only_heuristic_statuses_are_stored(
    status: int, ok: bool
) -> None:
    assert storable(Response(status, h())) is ok


@pytest.mark.parametrize("pair", [FRESH, ("Expires", "0"), ("Cache-Control", "public")])
def test_explicit_freshness_makes_any_final_status_storable(pair: tuple[str, str]) -> None:
    assert storable(Response(599, h(pair)))


def test_vary_star_is_never_stored_and_the_decision_says_why() -> None:
    decision = POLICY.storable(Request("GET", "/"), Response(200, h(FRESH, ("Vary", "Foo, *"))))
    assert isinstance(decision, DontStore)
    assert "Vary" in decision.reason


# -- reuse (RFC 9111 section 4) --------------------------------------------------------------


def reuse(cc: str, request_cc: str = "", age: int = 0, status: int = 200) -> tuple[bool, bool, str]:
    headers = h(("Cache-Control", cc), ("Date", date()))
    request_headers = h(("Cache-Control", request_cc)) if request_cc else h()
    stored = POLICY.freshness(status, headers, fresh_timing())
    decision = POLICY.reuse(stored, request_directives(request_headers), NOW + age)
    return decision.usable, decision.stale, decision.fwd


def test_fresh_is_usable_and_stale_is_not() -> None:
    assert reuse("max-age=60", age=59) == (True, False, "")
    assert reuse("max-age=60", age=60) == (False, True, "stale")


def test_the_age_header_counts_towards_staleness() -> None:
    headers = h(("Cache-Control", "max-age=10"), ("Date", date()), ("Age", "15"))
    timing = Timing.of(headers, NOW, NOW)
    stored = POLICY.freshness(200, headers, timing)
    assert not POLICY.reuse(stored, request_directives(h()), NOW).usable


def test_a_no_cache_response_is_revalidated_even_when_fresh() -> None:
    assert reuse("max-age=600, no-cache", age=1) == (False, True, "stale")
    assert reuse('max-age=600, no-cache="Set-Cookie"', age=1)[0]


def test_request_no_cache_goes_forward() -> None:
    assert reuse("max-age=60", "no-cache") == (False, False, "request")


def test_request_max_age_limits_the_age() -> None:
    assert reuse("max-age=600", "max-age=30", age=30)[0]
    assert reuse("max-age=600", "max-age=30", age=31) == (False, False, "request")


def test_request_min_fresh_needs_that_much_freshness_left() -> None:
    assert reuse("max-age=600", "min-fresh=100", age=500)[0]
    assert not reuse("max-age=600", "min-fresh=100", age=501)[0]


def test_request_max_stale_accepts_staleness_up_to_its_value() -> None:
    assert reuse("max-age=60", "max-stale=100", age=160) == (True, True, "")
    assert not reuse("max-age=60", "max-stale=100", age=161)[0]
    assert reuse("max-age=60", "max-stale", age=10**6)[0]


@pytest.mark.parametrize("cc", ["must-revalidate", "proxy-revalidate", "s-maxage=60", "no-cache"])
def test_some_response_directives_forbid_serving_stale(cc: str) -> None:
    assert not reuse(f"max-age=60, {cc}", "max-stale", age=120)[0]


def test_stale_on_error_when_disconnected_unless_forbidden() -> None:
    def allowed(cc: str, failed: int | None, request_cc: str = "") -> bool:
        req = request_directives(h(("Cache-Control", request_cc)))
        return stale_on_error_allowed(h(("Cache-Control", cc)), req, 40.0, failed)

    assert allowed("max-age=60", None)
    assert not allowed("max-age=60, must-revalidate", None)
    assert not allowed("max-age=60", 503)  # an answer is an answer ...
    assert allowed("max-age=60, stale-if-error=60", 503)  # ... unless RFC 5861 says otherwise
    assert not allowed("max-age=60, stale-if-error=30", 503)
    assert allowed("max-age=60", 500, "stale-if-error=40")
    assert not allowed("max-age=60, stale-if-error=600", 404)


# -- stored and updated header fields ---------------------------------------------------------


def test_headers_to_store_drops_per_connection_and_withheld_fields_and_adds_date() -> None:
    stored = headers_to_store(
        h(
            ("Connection", "a"),
            ("A", "1"),
            ("B", "2"),
            ("Age", "5"),
            ("Cache-Control", 'no-cache="b", private="c"'),
            ("C", "3"),
            ("D", "4"),
        ),
        NOW,
    )
    assert [name for name, _ in stored] == ["Cache-Control", "D", "Date"]
    assert stored.get("date") == date()


@pytest.mark.parametrize(
    "name",
    ["Keep-Alive", "Proxy-Authenticate", "Proxy-Authentication-Info", "Proxy-Authorization"]
    + ["Proxy-Connection", "TE", "Trailer", "Transfer-Encoding", "Upgrade"],
)
def test_hop_by_hop_and_proxy_credential_fields_are_never_stored(name: str) -> None:
    # RFC 9111 3.1: Proxy-Authenticate, Proxy-Authentication-Info, Proxy-Authorization "MUST NOT
    # be stored"; hop-by-hop fields describe one connection, not the response.
    stored = headers_to_store(h((name, "x"), ("Set-Cookie", "a=b"), ("Date", date())), NOW)
    assert name not in stored
    assert stored.get("set-cookie") == "a=b"


def test_freshen_replaces_fields_keeps_the_rest_and_never_content_length() -> None:
    stored = h(("Content-Length", "5"), ("X-A", "old"), ("Set-Cookie", "a=1"), ("X-Keep", "k"))
    update = h(
        ("Content-Length", "0"), ("X-A", "new"), ("Set-Cookie", "b=2"), ("Set-Cookie", "c=3")
    )
    merged = freshen_headers(stored, update)
    assert merged.get("content-length") == "5"
    assert merged.get("x-a") == "new"
    assert merged.get_all("set-cookie") == ["b=2", "c=3"]
    assert merged.get("x-keep") == "k"


def test_same_validators_compares_what_the_update_carries() -> None:
    stored = h(("ETag", '"v1"'), ("Last-Modified", date(-5)), ("Content-Length", "5"))
    assert same_validators(stored, h(("ETag", 'W/"v1"')))
    assert not same_validators(stored, h(("ETag", '"v2"')))
    assert not same_validators(stored, h(("Last-Modified", date(-1))))
    assert same_validators(stored, h())
    assert not same_validators(stored, h(("Content-Length", "6")), ("content-length",))


# -- conditional requests ---------------------------------------------------------------------


def test_the_cache_validates_with_its_own_validators_not_the_clients() -> None:
    client = h(("If-None-Match", '"client"'), ("If-Modified-Since", date(-9)), ("Foo", "1"))
    sent = conditional_headers(client, h(("ETag", '"v1"'), ("Last-Modified", date(-99))))
    assert sent.get_all("if-none-match") == ['"v1"']
    assert sent.get_all("if-modified-since") == [date(-99)]
    assert sent.get("foo") == "1"


def test_validation_quotes_a_bare_etag_and_falls_back_to_date() -> None:
    sent = conditional_headers(h(), h(("ETag", "abc"), ("Date", date())))
    assert (sent.get("if-none-match"), sent.get("if-modified-since")) == ('"abc"', date())


@pytest.mark.parametrize(
    ("inm", "match"),
    [('"v1"', True), ('W/"v1"', True), ('"a", "v1", "b"', True), ("*", True), ('"v2"', False)],
)
def test_if_none_match_uses_weak_comparison(inm: str, match: bool) -> None:
    stored = h(("ETag", '"v1"'))
    assert client_not_modified(h(("If-None-Match", inm)), stored, NOW) is match


def test_if_none_match_takes_precedence_over_if_modified_since() -> None:
    stored = h(("ETag", '"v1"'), ("Last-Modified", date(-100)))
    request = h(("If-None-Match", '"v2"'), ("If-Modified-Since", date()))
    assert not client_not_modified(request, stored, NOW)


def test_if_modified_since_against_last_modified_then_date() -> None:
    stored = h(("Last-Modified", date(-100)), ("Date", date()))
    assert client_not_modified(h(("If-Modified-Since", date(-100))), stored, NOW)
    assert not client_not_modified(h(("If-Modified-Since", date(-101))), stored, NOW)
    assert client_not_modified(h(("If-Modified-Since", date(-3))), h(("Date", date(-5))), NOW)
    assert not client_not_modified(h(("If-Modified-Since", "yesterday")), stored, NOW)


def test_a_304_carries_only_the_fields_rfc9110_lists() -> None:
    stored = h(
        ("Content-Type", "text/plain"),
        ("Content-Length", "5"),
        ("ETag", '"v1"'),
        ("Cache-Control", "max-age=5"),
        ("Date", date()),
        ("Vary", "Foo"),
        ("Age", "3"),
        ("Last-Modified", date(-5)),
    )
    names = [name.lower() for name, _ in not_modified_headers(stored)]
    assert names == ["etag", "cache-control", "date", "vary", "age"]
    assert "last-modified" in [
        n.lower() for n, _ in not_modified_headers(h(("Last-Modified", "x")))
    ]


# -- Vary and invalidation -------------------------------------------------------------------


def test_vary_key_normalises_whitespace_lines_and_name_case() -> None:
    key = vary_key(h(("Vary", "foo, BAR")), h(("Foo", "1,2"), ("Bar", "x")))
    assert key == (("foo", "1, 2"), ("bar", "x"))
    assert vary_matches(key, h(("FOO", " 1, 2 "), ("bar", "x")))
    assert vary_matches(key, h(("Foo", "1"), ("Foo", "2"), ("Bar", "x")))
    assert not vary_matches(key, h(("Foo", "1, 2"), ("Bar", "y")))


def test_caseless_selecting_fields_ignore_case_and_others_do_not() -> None:
    key = vary_key(
        h(("Vary", "Accept-Language, Foo")), h(("Accept-Language", "en-GB"), ("Foo", "a"))
    )
    assert vary_matches(key, h(("Accept-Language", "EN-gb"), ("Foo", "a")))
    assert not vary_matches(key, h(("Accept-Language", "en-GB"), ("Foo", "A")))


def test_an_absent_field_matches_only_an_absent_field() -> None:
    key = vary_key(h(("Vary", "Foo")), h())
    assert vary_matches(key, h(("Other", "1")))
    assert not vary_matches(key, h(("Foo", "")))


def test_unsafe_success_invalidates_the_url_and_same_origin_locations() -> None:
    response = Response(201, h(("Location", "/new"), ("Content-Location", "http://evil.test/x")))
    assert invalidation_targets("POST", "http://a.test/list", response) == [
        "http://a.test/list",
        "http://a.test/new",
    ]
    assert invalidation_targets("M-SEARCH", "http://a.test/", Response(200)) == ["http://a.test/"]


@pytest.mark.parametrize(
    ("location", "target"),
    [
        ("HTTP://A.test:80/new#top", "http://a.test/new"),
        ("//a.TEST/new?q=1", "http://a.test/new?q=1"),
        ("http://a.test", "http://a.test/"),
        ("http://a.test:8080/new", None),  # another port is another origin
        ("https://a.test/new", None),
        ("http://a.test:99999/new", None),  # not a URL at all
    ],
)
def test_locations_are_spelt_like_cache_keys_before_invalidating(
    location: str, target: str | None
) -> None:
    """The proxy keys ``Target.url``: lower-case host, no default port, no fragment."""
    targets = invalidation_targets(
        "PUT", "http://a.test/list", Response(200, h(("Location", location)))
    )
    assert targets == ["http://a.test/list"] + ([target] if target else [])


def test_safe_methods_and_errors_invalidate_nothing() -> None:
    assert invalidation_targets("GET", "http://a.test/", Response(200)) == []
    assert invalidation_targets("OPTIONS", "http://a.test/", Response(200)) == []
    assert invalidation_targets("DELETE", "http://a.test/", Response(500)) == []


# -- Cache-Status ----------------------------------------------------------------------------


def test_cache_status_renders_rfc9211_parameters_in_order() -> None:
    assert CacheStatus(hit=True, ttl=376.6).render("proxylab") == "proxylab; hit; ttl=377"
    miss = CacheStatus(fwd="uri-miss", fwd_status=200, ttl=60, stored=True, collapsed=False)
    assert (
        miss.render("proxylab")
        == "proxylab; fwd=uri-miss; fwd-status=200; ttl=60; stored; collapsed=?0"
    )
    assert (
        CacheStatus(detail="only-if-cached").render("my cache")
        == '"my cache"; detail=only-if-cached'
    )
