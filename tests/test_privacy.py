"""Tests for proxylab.forward.privacy: the level table, scrubbing, Via and loop detection."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from proxylab.errors import ConfigError
from proxylab.forward.privacy import (
    CLIENT_IP_HEADERS,
    PROXY_HEADERS,
    SCRUBBABLE,
    PrivacyLevel,
    PrivacyPolicy,
    PrivacyResult,
    is_loop,
    response_via,
)
from proxylab.http.messages import Headers

CLIENT = "10.0.0.7"


def browser_headers() -> Headers:
    """What a browser behind another proxy might send: XFF, Forwarded, Via and friends."""
    return Headers(
        [
            ("Host", "news.test"),
            ("User-Agent", "Firefox/128"),
            ("X-Forwarded-For", "192.0.2.1"),
            ("Forwarded", "for=192.0.2.1"),
            ("X-Real-IP", "192.0.2.1"),
            ("Client-IP", "192.0.2.1"),
            ("X-Client-IP", "192.0.2.1"),
            ("Via", "1.0 fred"),
            ("X-Forwarded-Host", "news.test"),
            ("X-Proxy-ID", "abc"),
            ("Cookie", "session=1"),
            ("Accept", "*/*"),
        ]
    )


def apply(level: PrivacyLevel, headers: Headers | None = None) -> PrivacyResult:
    return PrivacyPolicy(level).apply(browser_headers() if headers is None else headers, CLIENT)


# -- the level table (design.md section 4) ---------------------------------------------


def test_transparent_appends_client_ip_and_via_and_keeps_client_fields() -> None:
    result = apply(PrivacyLevel.TRANSPARENT)
    assert result.headers.get_all("x-forwarded-for") == [f"192.0.2.1, {CLIENT}"]
    assert result.headers.get_all("via") == ["1.0 fred, 1.1 proxylab"]
    for name in ("Forwarded", "X-Real-IP", "Client-IP", "X-Client-IP", "X-Proxy-ID"):
        assert result.headers.get(name) is not None, name
    assert "appended 10.0.0.7 to X-Forwarded-For" in result.changes
    assert "appended 1.1 proxylab to Via" in result.changes


def test_transparent_without_client_fields_adds_them() -> None:
    result = apply(PrivacyLevel.TRANSPARENT, Headers([("Host", "news.test")]))
    assert result.headers.items() == [
        ("Host", "news.test"),
        ("X-Forwarded-For", CLIENT),
        ("Via", "1.1 proxylab"),
    ]
    assert result.changes == ("added X-Forwarded-For: 10.0.0.7", "added Via: 1.1 proxylab")


def test_transparent_joins_several_xff_lines_into_one() -> None:
    headers = Headers([("X-Forwarded-For", "192.0.2.1"), ("x-forwarded-for", "192.0.2.2")])
    result = apply(PrivacyLevel.TRANSPARENT, headers)
    assert result.headers.get_all("X-Forwarded-For") == [f"192.0.2.1, 192.0.2.2, {CLIENT}"]


def test_anonymous_adds_via_and_removes_every_client_address() -> None:
    result = apply(PrivacyLevel.ANONYMOUS)
    headers = result.headers
    assert headers.get_all("via") == ["1.0 fred, 1.1 proxylab"]
    for name in ("X-Forwarded-For", "Forwarded", "X-Real-IP", "Client-IP", "X-Client-IP"):
        assert name not in headers, name
        assert f"removed {name}" in result.changes
    assert CLIENT not in str(headers) and "192.0.2.1" not in str(headers)
    assert headers.get("user-agent") == "Firefox/128"  # no scrubbing unless asked


def test_elite_reveals_neither_client_nor_proxy() -> None:
    result = apply(PrivacyLevel.ELITE)
    names = {name.lower() for name, _ in result.headers}
    assert names == {"host", "user-agent", "cookie", "accept"}
    assert {"removed Via", "removed X-Forwarded-Host", "removed X-Proxy-ID"} <= set(result.changes)
    assert not any("added" in change or "appended" in change for change in result.changes)


def test_elite_removes_proxy_connection_and_any_x_forwarded_field() -> None:
    headers = Headers(
        [("Proxy-Connection", "keep-alive"), ("X-Forwarded-Proto", "http"), ("A", "1")]
    )
    assert apply(PrivacyLevel.ELITE, headers).headers.items() == [("A", "1")]


def test_default_level_is_anonymous() -> None:
    assert PrivacyPolicy().level is PrivacyLevel.ANONYMOUS


def test_apply_leaves_the_input_untouched() -> None:
    headers = browser_headers()
    before = headers.items()
    for level in PrivacyLevel:
        PrivacyPolicy(level, frozenset(SCRUBBABLE)).apply(headers, CLIENT)
    assert headers.items() == before


def test_field_order_and_spelling_are_kept() -> None:
    headers = Headers([("b-Field", "1"), ("A-field", "2")])
    assert apply(PrivacyLevel.ELITE, headers).headers.items() == headers.items()


@settings(derandomize=True, database=None, max_examples=200)
@given(
    names=st.lists(
        st.sampled_from(sorted(CLIENT_IP_HEADERS | PROXY_HEADERS | SCRUBBABLE | {"host", "x-a"})),
        max_size=12,
    ),
    level=st.sampled_from(list(PrivacyLevel)),
)
def test_property_no_client_address_leaks_unless_transparent(
    names: list[str], level: PrivacyLevel
) -> None:
    headers = Headers((name.upper(), "192.0.2.99") for name in names)
    out = PrivacyPolicy(level).apply(headers, CLIENT).headers
    if level is PrivacyLevel.TRANSPARENT:
        assert out.get_list("x-forwarded-for")[-1] == CLIENT
    else:
        assert CLIENT not in str(out)
        assert not any(name.lower() in CLIENT_IP_HEADERS for name, _ in out)
    if level is PrivacyLevel.ELITE:
        assert not any(name.lower() in PROXY_HEADERS for name, _ in out)
    assert ("via" in out) is (level is not PrivacyLevel.ELITE)
    assert is_loop(out, "proxylab") is (level is not PrivacyLevel.ELITE)


# -- scrubbing -------------------------------------------------------------------------


@pytest.mark.parametrize("level", list(PrivacyLevel))
def test_scrub_removes_named_fields_at_every_level(level: PrivacyLevel) -> None:
    policy = PrivacyPolicy(level, frozenset({"user-agent", "Cookie"}))
    result = policy.apply(browser_headers(), CLIENT)
    assert "user-agent" not in result.headers and "cookie" not in result.headers
    assert result.headers.get("accept") == "*/*"
    assert {"scrubbed User-Agent", "scrubbed Cookie"} <= set(result.changes)


def test_scrub_all_four() -> None:
    headers = Headers(
        [("User-Agent", "x"), ("Referer", "http://a.test/"), ("From", "me@a.test"), ("Cookie", "c")]
    )
    assert len(PrivacyPolicy(scrub=SCRUBBABLE).apply(headers, CLIENT).headers) == 1  # only Via


def test_scrub_names_are_validated() -> None:
    with pytest.raises(ConfigError, match="cookie, from, referer, user-agent"):
        PrivacyPolicy(scrub=frozenset({"authorization"}))


def test_scrub_accepts_a_single_name_and_any_case() -> None:
    assert PrivacyPolicy.from_names("elite", ["COOKIE"]).scrub == {"cookie"}
    assert PrivacyPolicy(scrub="cookie").scrub == {"cookie"}  # type: ignore[arg-type]


# -- construction ----------------------------------------------------------------------


@pytest.mark.parametrize("name", ["transparent", "Anonymous", " ELITE "])
def test_from_names_accepts_level_names(name: str) -> None:
    assert PrivacyPolicy.from_names(name).level.value == name.strip().lower()


def test_from_names_rejects_unknown_level_with_the_choices() -> None:
    with pytest.raises(ConfigError, match="transparent, anonymous, elite"):
        PrivacyPolicy.from_names("invisible")


def test_level_given_as_string_is_accepted() -> None:
    assert PrivacyPolicy("elite").level is PrivacyLevel.ELITE  # type: ignore[arg-type]


@pytest.mark.parametrize("token", ["", "two words", "a,b", "x(y)"])
def test_via_token_must_be_one_word(token: str) -> None:
    with pytest.raises(ConfigError):
        PrivacyPolicy(via_token=token)


def test_custom_via_token_and_http_version() -> None:
    policy = PrivacyPolicy(via_token="lab-proxy:3128")
    headers = policy.apply(Headers(), CLIENT, version="HTTP/1.0").headers
    assert headers.get("via") == "1.0 lab-proxy:3128"


def test_policy_is_a_hashable_value() -> None:
    assert PrivacyPolicy() == PrivacyPolicy.from_names("anonymous")
    assert hash(PrivacyPolicy()) == hash(PrivacyPolicy.from_names("anonymous"))


# -- responses -------------------------------------------------------------------------


def test_response_via_adds_via_except_for_elite() -> None:
    headers = Headers([("Via", "1.1 origin-cdn"), ("Content-Type", "text/html")])
    out = response_via(headers, PrivacyLevel.ANONYMOUS, "proxylab")
    assert out.get("via") == "1.1 origin-cdn, 1.1 proxylab"
    assert headers.get("via") == "1.1 origin-cdn"  # the input is not changed
    assert response_via(headers, PrivacyLevel.ELITE, "proxylab") == headers
    assert PrivacyPolicy(PrivacyLevel.TRANSPARENT).response_headers(Headers()).get("via") == (
        "1.1 proxylab"
    )


# -- loops -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "via",
    [
        "1.1 proxylab",
        "HTTP/1.1 proxylab",
        "1.0 fred, 1.1 proxylab",
        "1.1 proxylab (proxylab/0.1)",
        "1.1 ProxyLab",
        "1.0 fred (a comment, with a comma), 1.1 proxylab (x)",
        "  1.1   proxylab  ",
    ],
)
def test_is_loop_finds_our_token(via: str) -> None:
    assert is_loop(Headers([("Via", via)]), "proxylab")


@pytest.mark.parametrize(
    "via",
    [
        "1.1 fred",
        "1.1 proxylabs",
        "1.1 fred (via proxylab)",  # only in a comment
        "1.1 fred (nested (x, 1.1 proxylab) y)",
        "1.1 fred (escaped \\) , 1.1 proxylab)",
        "proxylab",  # no received-by at all
        "1.1 my-proxylab",
    ],
)
def test_is_loop_ignores_other_elements(via: str) -> None:
    assert not is_loop(Headers([("Via", via)]), "proxylab")


def test_is_loop_reads_every_via_line_and_custom_tokens() -> None:
    headers = Headers([("Via", "1.1 a"), ("via", "1.1 b, 1.1 lab:3128")])
    assert is_loop(headers, "lab:3128")
    assert not is_loop(headers, "lab")
    assert not is_loop(Headers(), "proxylab")
