"""Graded tests for exercise 09: a strict HTTP/1.1 request-head parser (RFC 9112)."""

from __future__ import annotations

from types import ModuleType

import pytest

OK = b"GET /index.html HTTP/1.1\r\nHost: news.test\r\n"


def head(*lines: bytes) -> bytes:
    """A head from its lines: CRLF after each, then the empty line."""
    return b"".join(line + b"\r\n" for line in lines) + b"\r\n"


def refused(solution: ModuleType, data: bytes, status: int, why: str, **limits: int) -> None:
    """``data`` must raise ParseError with ``status``."""
    try:
        result = solution.parse_request_head(data, **limits)
    except solution.ParseError as error:
        assert error.status == status, f"{why}: the status must be {status}, not {error.status}"
        return
    raise AssertionError(
        f"{why}: must be refused with {status}, but was accepted as {shown(result)}"
    )


def shown(head: object) -> str:
    """What the student's parser returned, readable even without a __repr__."""
    parts = [f"{name}={getattr(head, name, '?')!r}" for name in ("method", "headers", "body")]
    return f"RequestHead({', '.join(parts)})"


def refuse_all(solution: ModuleType, cases: list[tuple[bytes, str]], status: int = 400) -> None:
    for data, why in cases:
        refused(solution, data, status, f"{why} ({data!r})")


# --- well-formed heads ------------------------------------------------------------------


@pytest.mark.points(1)
@pytest.mark.group("valid")
def test_a_simple_get(solution: ModuleType) -> None:
    got = solution.parse_request_head(
        head(b"GET /a?b=1 HTTP/1.1", b"Host: news.test", b"Accept:  \t text/html \t ", b"X-Empty:")
    )
    assert (got.method, got.target, got.version) == ("GET", "/a?b=1", "HTTP/1.1")
    assert got.headers == [("Host", "news.test"), ("Accept", "text/html"), ("X-Empty", "")], (
        f"headers must keep their order and name case, with spaces/tabs around values removed: "
        f"{got.headers}"
    )
    assert (got.body, got.length) == ("none", 0), "a GET without Content-Length has no body"


@pytest.mark.points(1)
@pytest.mark.group("valid")
def test_absolute_form_and_http_1_0(solution: ModuleType) -> None:
    got = solution.parse_request_head(head(b"GET http://news.test/ HTTP/1.0"))
    assert (got.target, got.version) == ("http://news.test/", "HTTP/1.0"), (
        "an absolute-form target (what a forward proxy gets) is fine, and HTTP/1.0 needs no Host"
    )
    connect = solution.parse_request_head(
        head(b"CONNECT news.test:443 HTTP/1.1", b"Host: news.test:443")
    )
    assert connect.target == "news.test:443", "CONNECT takes an authority-form target host:port"


@pytest.mark.points(1)
@pytest.mark.group("valid")
def test_bare_lf_and_a_leading_empty_line(solution: ModuleType) -> None:
    got = solution.parse_request_head(b"\r\nGET / HTTP/1.1\nHost: a.test\n\n")
    assert (got.target, got.headers) == ("/", [("Host", "a.test")]), (
        "RFC 9112 2.2: a recipient may take a bare LF as the end of a line, and should ignore an "
        "empty line before the request line"
    )


@pytest.mark.points(1)
@pytest.mark.group("valid")
def test_where_the_body_ends(solution: ModuleType) -> None:
    post = solution.parse_request_head(
        head(b"POST /form HTTP/1.1", b"Host: a", b"Content-Length: 12")
    )
    assert (post.body, post.length) == ("length", 12), "Content-Length: 12 means a 12-byte body"
    same = solution.parse_request_head(
        head(b"POST / HTTP/1.1", b"Host: a", b"Content-Length: 5", b"Content-Length: 5, 5")
    )
    assert (same.body, same.length) == ("length", 5), (
        "repeated Content-Length values that all agree count as one (RFC 9110 8.6)"
    )
    chunked = solution.parse_request_head(
        head(b"POST / HTTP/1.1", b"Host: a", b"Transfer-Encoding: chunked")
    )
    assert chunked.body == "chunked", "Transfer-Encoding: chunked means a chunked body"


# --- the request line -------------------------------------------------------------------


@pytest.mark.points(3)
@pytest.mark.group("request_line")
def test_bad_request_lines(solution: ModuleType) -> None:
    refuse_all(solution, [
        (head(b"GET /", b"Host: a"), "a request line without a version"),
        (head(b"GET  / HTTP/1.1", b"Host: a"), "two spaces between method and target"),
        (head(b"GET / HTTP/1.1 ", b"Host: a"), "a space after the version"),
        (head(b"GET / HTTP/1", b"Host: a"), "a version that is not HTTP/x.y"),
        (head(b"GET / http/1.1", b"Host: a"), "the version name is case-sensitive: HTTP"),
        (head(b"G(T / HTTP/1.1", b"Host: a"), "a method that is not a token"),
        (head(b"GET index.html HTTP/1.1", b"Host: a"), "a target that is neither /path nor a URL"),
        (head(b"CONNECT /x HTTP/1.1", b"Host: a"), "CONNECT without host:port"),
        (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", "a TLS handshake, not HTTP"),
    ])  # fmt: skip


@pytest.mark.points(2)
@pytest.mark.group("request_line")
def test_host_rules(solution: ModuleType) -> None:
    refuse_all(solution, [
        (head(b"GET / HTTP/1.1"), "an HTTP/1.1 request without Host (RFC 9112 3.2)"),
        (head(b"GET / HTTP/1.1", b"Host: a", b"Host: b"), "two Host fields (RFC 9112 3.2)"),
    ])  # fmt: skip


# --- field lines ------------------------------------------------------------------------


@pytest.mark.points(2)
@pytest.mark.group("fields")
def test_obs_fold_refused(solution: ModuleType) -> None:
    refuse_all(solution, [
        (head(OK[:-2], b"X-Long: one", b" two"), "a line folded with a space (obs-fold, RFC 9112 5.2)"),
        (head(OK[:-2], b"X-Long: one", b"\ttwo"), "a line folded with a tab (obs-fold)"),
    ])  # fmt: skip


@pytest.mark.points(2)
@pytest.mark.group("fields")
def test_whitespace_before_colon_refused(solution: ModuleType) -> None:
    refuse_all(solution, [
        (head(b"GET / HTTP/1.1", b"Host : a"), "a space before the colon (RFC 9112 5.1)"),
        (head(b"GET / HTTP/1.1", b"Host: a", b"Content-Length\t: 0"), "a tab before the colon"),
    ])  # fmt: skip


@pytest.mark.points(2)
@pytest.mark.group("fields")
def test_names_must_be_tokens(solution: ModuleType) -> None:
    refuse_all(solution, [
        (head(OK[:-2], b"Bad Header: x"), "a space inside a field name"),
        (head(OK[:-2], b"X(a): b"), "a field name with ( in it"),
        (head(OK[:-2], b"X\xe9: b"), "a field name that is not ASCII"),
        (head(OK[:-2], b": empty"), "an empty field name"),
        (head(OK[:-2], b"No colon at all"), "a field line without a colon"),
    ])  # fmt: skip


@pytest.mark.points(2)
@pytest.mark.group("fields")
def test_bare_cr_and_control_characters_refused(solution: ModuleType) -> None:
    refuse_all(solution, [
        (OK + b"X-A: one\rX-B: two\r\n\r\n", "a bare CR as a line end (RFC 9112 2.2)"),
        (head(OK[:-2], b"X-A: one\rtwo"), "a bare CR inside a value"),
        (head(OK[:-2], b"X-A: nul\x00byte"), "a NUL byte in a value (RFC 9110 5.5)"),
        (head(OK[:-2], b"X-A: del\x7f"), "a DEL byte in a value"),
    ])  # fmt: skip


# --- framing ----------------------------------------------------------------------------


@pytest.mark.points(3)
@pytest.mark.group("framing")
def test_transfer_encoding_with_content_length_refused(solution: ModuleType) -> None:
    refuse_all(solution, [
        (head(b"POST / HTTP/1.1", b"Host: a", b"Transfer-Encoding: chunked", b"Content-Length: 5"),
         "Transfer-Encoding and Content-Length together: the request-smuggling classic (RFC 9112 6.1)"),
        (head(b"POST / HTTP/1.1", b"Host: a", b"Content-Length: 5", b"transfer-encoding: chunked"),
         "the same, in the other order and lower case"),
    ])  # fmt: skip


@pytest.mark.points(3)
@pytest.mark.group("framing")
def test_bad_content_lengths_refused(solution: ModuleType) -> None:
    refuse_all(solution, [
        (head(b"POST / HTTP/1.1", b"Host: a", b"Content-Length: 5", b"Content-Length: 6"),
         "two differing Content-Length lines (RFC 9112 6.3)"),
        (head(b"POST / HTTP/1.1", b"Host: a", b"Content-Length: 5, 6"), "differing values in one line"),
        (head(b"POST / HTTP/1.1", b"Host: a", b"Content-Length: -1"), "a negative length"),
        (head(b"POST / HTTP/1.1", b"Host: a", b"Content-Length: +5"), "a length with a sign"),
        (head(b"POST / HTTP/1.1", b"Host: a", b"Content-Length: 0x10"), "a length in hex"),
        (head(b"POST / HTTP/1.1", b"Host: a", b"Content-Length:"), "an empty length"),
    ])  # fmt: skip


@pytest.mark.points(2)
@pytest.mark.group("framing")
def test_bad_transfer_codings(solution: ModuleType) -> None:
    refuse_all(solution, [
        (head(b"POST / HTTP/1.1", b"Host: a", b"Transfer-Encoding: chunked, gzip"),
         "chunked must be the last coding of a request (RFC 9112 6.3)"),
        (head(b"POST / HTTP/1.1", b"Host: a", b"Transfer-Encoding: chunked, chunked"),
         "chunked applied twice (RFC 9112 6.1)"),
        (head(b"POST / HTTP/1.0", b"Transfer-Encoding: chunked"), "Transfer-Encoding in HTTP/1.0"),
    ])  # fmt: skip
    refused(
        solution,
        head(b"POST / HTTP/1.1", b"Host: a", b"Transfer-Encoding: gzip, chunked"),
        501,
        "a coding the proxy does not implement (gzip) is 501 Not Implemented (RFC 9112 6.1)",
    )


# --- limits -----------------------------------------------------------------------------


def line_of(length: int) -> bytes:
    """A request line of exactly ``length`` bytes (without its CRLF)."""
    return b"GET /" + b"a" * (length - len(b"GET / HTTP/1.1")) + b" HTTP/1.1"


@pytest.mark.points(2)
@pytest.mark.group("limits")
def test_long_request_line_is_414(solution: ModuleType) -> None:
    at_limit = head(line_of(100), b"Host: a")
    assert solution.parse_request_head(at_limit, max_line=100).target.startswith("/aaa"), (
        "a request line of exactly max_line bytes is allowed"
    )
    refused(solution, head(line_of(101), b"Host: a"), 414, "a request line of max_line + 1 bytes",
            max_line=100)  # fmt: skip


@pytest.mark.points(2)
@pytest.mark.group("limits")
def test_large_head_is_431(solution: ModuleType) -> None:
    base = head(b"GET / HTTP/1.1", b"Host: a", b"X-Pad: ")
    pad = b"p" * (200 - len(base))
    exact = head(b"GET / HTTP/1.1", b"Host: a", b"X-Pad: " + pad)
    assert len(exact) == 200
    assert solution.parse_request_head(exact, max_head=200).headers[1] == ("X-Pad", pad.decode()), (
        "a head of exactly max_head bytes (the empty line included) is allowed"
    )
    refused(solution, head(b"GET / HTTP/1.1", b"Host: a", b"X-Pad: p" + pad), 431,
            "a head of max_head + 1 bytes", max_head=200)  # fmt: skip
    many = head(b"GET / HTTP/1.1", b"Host: a", *[b"X-%d: v" % n for n in range(100)])
    refused(solution, many, 431, "101 field lines (more than 100)")


@pytest.mark.points(1)
@pytest.mark.group("limits")
def test_an_unfinished_head_is_400(solution: ModuleType) -> None:
    refused(solution, b"GET / HTTP/1.1\r\nHost: a\r\n", 400, "a head without its empty line")
