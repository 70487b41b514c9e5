"""The three privacy levels."""

import pytest
from anonymity_helpers import BROWSER, names, values

CLIENT = "10.0.0.7"


@pytest.mark.group("transparent")
@pytest.mark.points(3)
def test_transparent_adds_client_ip_and_via(solution):
    out = solution.forward_headers(BROWSER, CLIENT, "transparent")
    assert values(out, "X-Forwarded-For") == [CLIENT], (
        f"transparent: X-Forwarded-For should be [{CLIENT!r}], got "
        f"{values(out, 'X-Forwarded-For')}. A transparent proxy tells the origin who the client is."
    )
    assert values(out, "Via") == ["1.1 proxylab"], (
        f"transparent: Via should be ['1.1 proxylab'], got {values(out, 'Via')}."
    )


@pytest.mark.group("transparent")
@pytest.mark.points(3)
def test_transparent_appends_to_an_earlier_chain(solution):
    fields = [*BROWSER, ("X-Forwarded-For", "203.0.113.9")]
    out = solution.forward_headers(fields, CLIENT, "transparent")
    got = values(out, "X-Forwarded-For")
    assert got == [f"203.0.113.9, {CLIENT}"], (
        f"transparent: with X-Forwarded-For: 203.0.113.9 already there, expected one line "
        f"'203.0.113.9, {CLIENT}', got {got}. Each proxy appends the address it received "
        "the request from; it does not replace the chain or add a second line."
    )


@pytest.mark.group("transparent")
@pytest.mark.points(2)
def test_transparent_joins_several_lines(solution):
    fields = [("x-forwarded-for", "1.1.1.1"), ("Host", "news.test"), ("X-Forwarded-For", "2.2.2.2")]
    out = solution.forward_headers(fields, CLIENT, "transparent")
    got = values(out, "X-Forwarded-For")
    assert got == [f"1.1.1.1, 2.2.2.2, {CLIENT}"], (
        f"transparent: two X-Forwarded-For lines (any case) should become one line "
        f"'1.1.1.1, 2.2.2.2, {CLIENT}', got {got}. RFC 9110 5.3: several lines of a list "
        "field mean the same as one line joined by ', '."
    )


@pytest.mark.group("transparent")
@pytest.mark.points(2)
def test_transparent_keeps_client_sent_fields(solution):
    fields = [*BROWSER, ("Forwarded", "for=198.51.100.1"), ("X-Real-IP", "198.51.100.1")]
    out = solution.forward_headers(fields, CLIENT, "transparent")
    assert values(out, "Forwarded") == ["for=198.51.100.1"], (
        "transparent keeps a client-sent Forwarded field."
    )
    assert values(out, "X-Real-IP") == ["198.51.100.1"], "transparent keeps X-Real-IP."


@pytest.mark.group("anonymous")
@pytest.mark.points(4)
def test_anonymous_adds_via_but_no_address(solution):
    out = solution.forward_headers(BROWSER, CLIENT, "anonymous")
    assert not values(out, "X-Forwarded-For"), (
        "anonymous must not add X-Forwarded-For: the point is to hide the client's address."
    )
    assert values(out, "Via") == ["1.1 proxylab"], (
        f"anonymous admits a proxy is there: Via should be ['1.1 proxylab'], got {values(out, 'Via')}."
    )
    assert CLIENT not in repr(out), "anonymous: the client's address appears in some field."


@pytest.mark.group("anonymous")
@pytest.mark.points(1)
@pytest.mark.parametrize(
    "field",
    ["X-Forwarded-For", "x-forwarded-for", "Forwarded", "X-Real-IP", "True-Client-IP",
     "CF-Connecting-IP", "X-CLIENT-IP"],
)  # fmt: skip
def test_anonymous_removes_client_sent_addresses(solution, field):
    out = solution.forward_headers([*BROWSER, (field, "198.51.100.1")], CLIENT, "anonymous")
    assert field.lower() not in names(out), (
        f"anonymous: a client-sent {field} field must be removed (compare names in lower "
        "case): it carries an address that would unmask the client."
    )


@pytest.mark.group("anonymous")
@pytest.mark.points(2)
def test_via_appends_to_an_earlier_proxy(solution):
    out = solution.forward_headers([*BROWSER, ("Via", "1.0 squid")], CLIENT, "anonymous")
    assert values(out, "Via") == ["1.0 squid, 1.1 proxylab"], (
        f"Via should become one line '1.0 squid, 1.1 proxylab', got {values(out, 'Via')}: "
        "each proxy appends its own element (RFC 9110 7.6.3)."
    )


@pytest.mark.group("elite")
@pytest.mark.points(4)
def test_elite_adds_nothing(solution):
    out = solution.forward_headers(BROWSER, CLIENT, "elite")
    assert out == BROWSER, (
        f"elite: a plain browser request should pass unchanged (no Via, no X-Forwarded-For); "
        f"got {out}."
    )


@pytest.mark.group("elite")
@pytest.mark.points(1)
@pytest.mark.parametrize(
    "field",
    ["Via", "Proxy-Connection", "X-Forwarded-Proto", "X-Forwarded-Host", "X-Proxy-ID",
     "x-proxy-anything", "Forwarded", "X-Forwarded-For"],
)  # fmt: skip
def test_elite_removes_every_proxy_trace(solution, field):
    out = solution.forward_headers([*BROWSER, (field, "1.1 squid")], CLIENT, "elite")
    assert field.lower() not in names(out), (
        f"elite: {field} must be removed; it betrays a proxy (or a client address). Remember "
        "the prefixes x-forwarded- and x-proxy-, in any case."
    )
