"""Tests for proxylab.http.messages.parse_target: the four request-target forms of RFC 9112 3.2."""

from __future__ import annotations

import pytest

from proxylab.errors import ProtocolError
from proxylab.http.messages import Target, TargetForm, parse_target


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("http://news.test/a?b=1", ("http", "news.test", 80, "/a?b=1")),
        ("HTTP://News.Test/", ("http", "news.test", 80, "/")),
        ("http://news.test", ("http", "news.test", 80, "/")),
        ("http://news.test?q", ("http", "news.test", 80, "/?q")),
        ("http://news.test:8080/x", ("http", "news.test", 8080, "/x")),
        ("https://bank.test/login", ("https", "bank.test", 443, "/login")),
        ("http://[::1]:9000/v6", ("http", "::1", 9000, "/v6")),
        ("http://127.0.0.1/#frag", ("http", "127.0.0.1", 80, "/#frag")),
    ],
)
def test_absolute_form_is_taken_apart(target: str, expected: tuple[str, str, int, str]) -> None:
    parsed = parse_target("GET", target)
    assert parsed.form is TargetForm.ABSOLUTE
    assert (parsed.scheme, parsed.host, parsed.port, parsed.path) == expected


def test_the_url_leaves_out_a_default_port() -> None:
    assert parse_target("GET", "http://news.test:80/a").url == "http://news.test/a"
    assert parse_target("GET", "http://news.test:81/a").url == "http://news.test:81/a"
    assert parse_target("GET", "https://[::1]:443/").url == "https://[::1]/"


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("ftp://files.test/x", "http:// URL"),
        ("news.test/x", "http:// URL"),
        ("://news.test/", "http:// URL"),
        ("http://user:pw@news.test/", "User information"),
        ("http:///nohost", "Malformed host"),
        ("http://news.test:0/", "Malformed port"),
        ("http://news.test:65536/", "Malformed port"),
        ("http://news.test:8x/", "Malformed port"),
        ("http://[::1/", "Malformed host"),
        ("http://[::1]x/", "Malformed host"),
        ("http://bad\\host/", "Malformed host"),
    ],
)
def test_bad_absolute_targets_are_refused(target: str, message: str) -> None:
    with pytest.raises(ProtocolError, match=message):
        parse_target("GET", target)


def test_origin_form_takes_the_host_from_the_host_field() -> None:
    assert parse_target("GET", "/a", "Site.Test:8000") == Target(
        TargetForm.ORIGIN, "http", "site.test", 8000, "/a"
    )
    assert parse_target("GET", "/a").host == ""


def test_authority_and_asterisk_forms() -> None:
    assert parse_target("CONNECT", "bank.test:443") == Target(
        TargetForm.AUTHORITY, "https", "bank.test", 443, ""
    )
    asterisk = parse_target("OPTIONS", "*", "site.test")
    assert (asterisk.form, asterisk.host, asterisk.path) == (TargetForm.ASTERISK, "site.test", "*")
