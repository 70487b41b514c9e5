"""Unit tests for proxylab.http.wire: one test (or parametrised family) per rule it enforces.

Each rule names the RFC 9112 section it comes from; where we deliberately differ from
h11 (the oracle of test_wire_differential.py), the test says so in its name or docstring.
"""

from __future__ import annotations

import pytest

from proxylab.errors import (
    BodyTooLarge,
    ConfigError,
    HeadersTooLarge,
    IncompleteMessage,
    NotImplementedByProxy,
    ProtocolError,
    RequestLineTooLong,
    VersionNotSupported,
)
from proxylab.http.framing import (
    BodyDecoder,
    BodyKind,
    Framing,
    Limits,
    request_framing,
    response_framing,
)
from proxylab.http.messages import Headers, Request, Response
from proxylab.http.wire import (
    HeadParser,
    encode_chunk,
    last_chunk,
    parse_request_head,
    parse_response_head,
    serialize_request_head,
    serialize_response_head,
)

GET = b"GET /index.html?q=1 HTTP/1.1\r\nHost: news.test\r\nAccept: */*\r\n\r\n"


def request(head: bytes, limits: Limits | None = None) -> Request:
    return parse_request_head(head, limits or Limits())


def response(head: bytes, limits: Limits | None = None) -> Response:
    return parse_response_head(head, limits or Limits())


def req(*lines: str, version: str = "HTTP/1.1") -> bytes:
    """A request head for ``GET /`` with the given field lines (and Host unless given)."""
    fields = list(lines)
    if not any(line.lower().startswith("host:") for line in fields) and version == "HTTP/1.1":
        fields.insert(0, "Host: a.test")
    return "".join(f"{line}\r\n" for line in [f"GET / {version}", *fields, ""]).encode("latin-1")


def decode_all(framing: Framing, data: bytes, limits: Limits | None = None) -> BodyDecoder:
    decoder = BodyDecoder(framing, limits or Limits())
    decoder.feed(data)
    return decoder


def body_of(framing: Framing, data: bytes, step: int = 0) -> tuple[bytes, BodyDecoder]:
    """Decode ``data`` fed whole (step 0) or ``step`` bytes at a time."""
    decoder = BodyDecoder(framing)
    pieces: list[bytes] = []
    size = step or len(data) or 1
    for start in range(0, len(data), size):
        got = decoder.feed(data[start : start + size])
        assert all(got), "feed must never return empty pieces"
        pieces += got
    return b"".join(pieces), decoder


# --- request line (RFC 9112 3) -------------------------------------------------------------


def test_parses_a_request_head() -> None:
    parsed = request(GET)
    assert parsed.method == "GET"
    assert parsed.target == "/index.html?q=1"
    assert parsed.version == "HTTP/1.1"
    assert parsed.headers.items() == [("Host", "news.test"), ("Accept", "*/*")]


def test_field_names_keep_their_case_and_order() -> None:
    parsed = request(req("X-B: 1", "x-a: 2", "X-B: 3"))
    assert [name for name, _ in parsed.headers] == ["Host", "X-B", "x-a", "X-B"]
    assert parsed.headers.get_all("x-b") == ["1", "3"]


@pytest.mark.parametrize("method", ["PURGE", "M-SEARCH", "x!#$%&'*+.^_`|~9"])
def test_any_token_is_a_method(method: str) -> None:
    assert request(f"{method} / HTTP/1.1\r\nHost: a\r\n\r\n".encode()).method == method


@pytest.mark.parametrize("method", ["G(T", "GÉT", "G/T", "G@T", ""])
def test_method_must_be_a_token(method: str) -> None:
    with pytest.raises(ProtocolError):
        request(f"{method} / HTTP/1.1\r\nHost: a\r\n\r\n".encode("latin-1"))


@pytest.mark.parametrize(
    "line",
    [
        "GET  / HTTP/1.1",  # two spaces
        "GET / HTTP/1.1 ",  # trailing space
        " GET / HTTP/1.1",  # leading space
        "GET /",  # no version
        "GET\t/\tHTTP/1.1",  # HTAB is not SP
        "GET / a HTTP/1.1",  # space inside the target
    ],
)
def test_request_line_is_method_sp_target_sp_version(line: str) -> None:
    with pytest.raises(ProtocolError):
        request(f"{line}\r\nHost: a\r\n\r\n".encode())


@pytest.mark.parametrize(
    ("method", "target"),
    [
        ("GET", "/"),
        ("GET", "//double/slash"),
        ("GET", "http://news.test/path?q=1"),
        ("POST", "HTTPS://news.test:8443"),
        ("GET", "coap+tcp.x-y://host/"),
        ("CONNECT", "news.test:443"),
        ("CONNECT", "[::1]:8443"),
        ("CONNECT", "127.0.0.1:1"),
        ("OPTIONS", "*"),
        ("OPTIONS", "/x"),
    ],
)
def test_request_target_forms(method: str, target: str) -> None:
    head = f"{method} {target} HTTP/1.1\r\nHost: a\r\n\r\n".encode()
    assert request(head).target == target


@pytest.mark.parametrize(
    ("method", "target"),
    [
        ("GET", "news.test:443"),  # authority-form only with CONNECT (h11 accepts it)
        ("GET", "*"),  # asterisk-form only with OPTIONS (h11 accepts it)
        ("CONNECT", "/"),
        ("CONNECT", "http://news.test/"),
        ("CONNECT", "news.test"),  # the port is required
        ("CONNECT", "news.test:https"),
        ("CONNECT", "user@news.test:443"),
        ("GET", "news.test/path"),
        ("GET", "1http://x/"),
        ("GET", "mailto:someone"),  # absolute-form here means scheme://
    ],
)
def test_target_form_must_suit_the_method(method: str, target: str) -> None:
    with pytest.raises(ProtocolError):
        request(f"{method} {target} HTTP/1.1\r\nHost: a\r\n\r\n".encode())


@pytest.mark.parametrize("target", ["/caf\xe9", "/a\x7fb", "/a\x01b", "/a\tb", "/a\x00b"])
def test_target_must_be_visible_ascii(target: str) -> None:
    with pytest.raises(ProtocolError):
        request(f"GET {target} HTTP/1.1\r\nHost: a\r\n\r\n".encode("latin-1"))


def test_http_1_0_is_accepted_without_host() -> None:
    parsed = request(b"GET / HTTP/1.0\r\n\r\n")
    assert parsed.version == "HTTP/1.0"
    assert len(parsed.headers) == 0


@pytest.mark.parametrize("version", ["HTTP/2.0", "HTTP/0.9", "HTTP/3.0"])
def test_other_major_versions_are_505(version: str) -> None:
    # h11 accepts any HTTP/d.d; we only speak 1.0 and 1.1 and say so.
    with pytest.raises(VersionNotSupported, match="not supported"):
        request(f"GET / {version}\r\nHost: a\r\n\r\n".encode())
    with pytest.raises(VersionNotSupported, match="not supported"):
        response(f"{version} 200 OK\r\n\r\n".encode())


@pytest.mark.parametrize("minor", ["HTTP/1.2", "HTTP/1.9"])
def test_a_higher_minor_version_is_treated_as_http_1_1(minor: str) -> None:
    # RFC 9110 section 2.5, as nginx and Squid: forward it as the highest minor we know
    assert request(f"GET / {minor}\r\nHost: a\r\n\r\n".encode()).version == "HTTP/1.1"
    assert response(f"{minor} 200 OK\r\n\r\n".encode()).version == "HTTP/1.1"


def test_an_http_0_9_request_line_is_refused_as_soon_as_it_is_complete() -> None:
    parser = HeadParser("request")
    with pytest.raises(ProtocolError, match="HTTP/0.9"):
        parser.feed(b"GET /\r\n")  # no header section will ever follow: answer now
    with pytest.raises(ProtocolError, match="request line must be"):
        HeadParser("request").feed(b"GET / HTTP/1.1 extra\r\n")
    assert HeadParser("request").feed(b"GET / HTTP/1.1\r\nHost: a\r\n") is None  # waits


@pytest.mark.parametrize("version", ["http/1.1", "HTTP/1", "HTTP/11", "HTTP/1.1.1", "HTTP/1.x"])
def test_malformed_versions_are_refused(version: str) -> None:
    with pytest.raises(ProtocolError, match="look like"):
        request(f"GET / {version}\r\nHost: a\r\n\r\n".encode())


@pytest.mark.parametrize("prefix", [b"\r\n", b"\n", b"\r\n\r\n\n"])
def test_empty_lines_before_a_request_line_are_ignored(prefix: bytes) -> None:
    # RFC 9112 2.2 SHOULD ignore; h11 refuses them (deliberate difference).
    assert request(prefix + GET) == request(GET)
    parser = HeadParser("request")
    assert all(parser.feed(bytes([byte])) is None for byte in prefix)
    assert parser.feed(GET) == request(GET)


def test_a_bare_cr_before_the_request_line_is_refused() -> None:
    parser = HeadParser("request")
    assert parser.feed(b"\r") is None  # might still become CRLF
    with pytest.raises(ProtocolError, match="bare CR"):
        parser.feed(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")


# --- status line (RFC 9112 4) --------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "status", "reason"),
    [
        ("HTTP/1.1 200 OK", 200, "OK"),
        ("HTTP/1.1 404 Not Found", 404, "Not Found"),
        ("HTTP/1.1 200 ", 200, ""),
        ("HTTP/1.1 200", 200, ""),  # no SP at all: tolerated, as h11 does
        ("HTTP/1.0 503 Busy\tnow ", 503, "Busy\tnow "),
        ("HTTP/1.1 200 caf\xe9", 200, "caf\xe9"),  # obs-text in the reason
        ("HTTP/1.1 999 Custom", 999, "Custom"),
        ("HTTP/1.1 100 Continue", 100, "Continue"),
    ],
)
def test_status_lines(line: str, status: int, reason: str) -> None:
    parsed = response(f"{line}\r\n\r\n".encode("latin-1"))
    assert (parsed.status, parsed.reason) == (status, reason)


@pytest.mark.parametrize(
    "line",
    [
        "HTTP/1.1 099 Low",
        "HTTP/1.1 20 OK",
        "HTTP/1.1 2000 OK",
        "HTTP/1.1 2x0 OK",
        "HTTP/1.1  200 OK",
        "HTTP/1.1 +20 OK",
        "HTTP/1.1 \xb200 OK",  # superscript two is a digit to str.isdigit()
        "HTTP/1.1 200 O\x01K",
        "HTTP/1.1\t200 OK",
        "",
    ],
)
def test_malformed_status_lines(line: str) -> None:
    with pytest.raises(ProtocolError):
        response(f"{line}\r\nContent-Length: 0\r\n\r\n".encode("latin-1"))


def test_a_response_may_not_start_with_an_empty_line() -> None:
    with pytest.raises(ProtocolError):
        response(b"\r\nHTTP/1.1 200 OK\r\n\r\n")


# --- field lines (RFC 9112 5, RFC 9110 5.5) ------------------------------------------------


@pytest.mark.parametrize(
    ("line", "value"),
    [
        ("X: v", "v"),
        ("X:v", "v"),
        ("X: \t v \t", "v"),
        ("X:", ""),
        ("X: \t ", ""),
        ("X: a  b\tc", "a  b\tc"),
        ("X: a:b:c", "a:b:c"),
        ("X: caf\xe9 \xff", "caf\xe9 \xff"),  # obs-text is allowed (RFC 9110 5.5)
    ],
)
def test_field_values_lose_only_their_surrounding_ows(line: str, value: str) -> None:
    assert request(req(line)).headers.get("x") == value


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("Host : a", "whitespace before the colon"),
        ("X\t: a", "whitespace before the colon"),
        ("X y: a", "not a token"),
        ("X(y): a", "not a token"),
        ("X\xe9: a", "not a token"),
        (": a", "not a token"),
        ("no colon here", "no colon"),
        ("X: a\x00b", "control character"),
        ("X: a\x01b", "control character"),  # h11 accepts \x01..\x08, \x0e..\x1f, \x7f
        ("X: a\x1fb", "control character"),
        ("X: a\x7fb", "control character"),
        ("X: a\x0bb", "control character"),
        ("X: a\rb", "bare CR"),
        ("X: ab\r", "bare CR"),
    ],
)
def test_bad_field_lines_are_refused_with_a_reason(line: str, message: str) -> None:
    with pytest.raises(ProtocolError, match=message) as caught:
        request(req(line))
    assert caught.value.status == 400


@pytest.mark.parametrize("fold", [" folded", "\tfolded"])
def test_obs_fold_is_refused(fold: str) -> None:
    # RFC 9112 5.2 lets a server either reject or unfold; we reject, h11 unfolds.
    with pytest.raises(ProtocolError, match="obsolete line folding"):
        request(req("X-Long: first", fold))
    with pytest.raises(ProtocolError, match="obsolete line folding"):
        request(f"GET / HTTP/1.1\r\n{fold}\r\nHost: a\r\n\r\n".encode())


def test_bare_lf_line_endings_are_accepted_like_h11() -> None:
    # RFC 9112 2.2: "a recipient MAY recognize a single LF as a line terminator".
    lf = b"GET /index.html?q=1 HTTP/1.1\nHost: news.test\nAccept: */*\n\n"
    mixed = b"GET /index.html?q=1 HTTP/1.1\r\nHost: news.test\nAccept: */*\r\n\n"
    assert request(lf) == request(GET) == request(mixed)
    assert request(b"GET / HTTP/1.1\r\nHost: a\n\r\n").headers.get("host") == "a"


@pytest.mark.parametrize(
    "head",
    [
        b"GET / HTTP/1.1\rHost: a\r\n\r\n",
        b"GET / HTTP/1.1\r\r\nHost: a\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\r\n\r\n",
    ],
)
def test_bare_cr_is_refused_anywhere(head: bytes) -> None:
    with pytest.raises(ProtocolError, match="bare CR"):
        request(head)


def test_host_is_required_in_http_1_1() -> None:
    with pytest.raises(ProtocolError, match="must have a Host"):
        request(b"GET / HTTP/1.1\r\nAccept: */*\r\n\r\n")


@pytest.mark.parametrize("version", ["HTTP/1.1", "HTTP/1.0"])
def test_more_than_one_host_is_refused(version: str) -> None:
    with pytest.raises(ProtocolError, match="more than one Host"):
        request(req("Host: a", "HOST: a", version=version))


# --- limits --------------------------------------------------------------------------------


def test_bytes_that_cannot_start_a_request_are_refused_at_once() -> None:
    """No waiting for a line feed that a client not speaking HTTP will never send."""
    with pytest.raises(ProtocolError, match="TLS handshake"):
        HeadParser("request").feed(b"\x16\x03\x01\x02\x00\x01")  # a ClientHello begins so
    with pytest.raises(ProtocolError, match="start with a method"):
        HeadParser("request").feed(b"\x00\x01\x02")
    with pytest.raises(ProtocolError, match="start with a method"):
        HeadParser("request").feed(b"GET\t/ HTTP/1.1")  # a tab is not the space after it


def test_a_method_may_arrive_a_byte_at_a_time() -> None:
    parser = HeadParser("request")
    method = b"X-" + b"M" * 100  # any token, even one longer than the early check looks at
    assert all(parser.feed(bytes([byte])) is None for byte in method)
    head = parser.feed(b" / HTTP/1.1\r\nHost: a\r\n\r\n")
    assert isinstance(head, Request) and head.method == method.decode()


def test_request_line_limit_is_exact() -> None:
    line = "GET /" + "a" * 20 + " HTTP/1.1"
    head = f"{line}\r\nHost: a\r\n\r\n".encode()
    assert request(head, Limits(max_request_line=len(line))).target.endswith("a")
    with pytest.raises(RequestLineTooLong) as caught:
        request(head, Limits(max_request_line=len(line) - 1))
    assert caught.value.status == 414


def test_too_long_request_line_is_refused_before_its_line_feed_arrives() -> None:
    parser = HeadParser("request", Limits(max_request_line=32))
    assert parser.feed(b"GET /" + b"a" * 27) is None  # 32 bytes: still fine
    assert parser.feed(b"\r") is None  # a CR: could be the end of the line
    with pytest.raises(RequestLineTooLong):
        parser.feed(b"b")  # no: 33 bytes and still no line feed


def test_a_request_line_ending_exactly_at_the_limit_with_crlf_split() -> None:
    parser = HeadParser("request", Limits(max_request_line=18))
    line = b"GET /aaaa HTTP/1.1"
    assert len(line) == 18
    assert parser.feed(line + b"\r") is None
    assert parser.feed(b"\nHost: a\r\n\r\n") is not None


def test_a_big_head_in_tiny_pieces_is_still_one_head() -> None:
    # Every feed looks only at the new bytes (and the start line once), so this stays fast.
    line = "GET /" + "p" * 6000 + " HTTP/1.1"
    head = req(*[f"X-{n}: {'v' * 200}" for n in range(60)]).replace(
        b"GET / HTTP/1.1", line.encode()
    )
    parser = HeadParser("request")
    results = [parser.feed(head[at : at + 7]) for at in range(0, len(head), 7)]
    assert results[-1] == request(head) and not any(results[:-1])


def test_status_line_limit_is_a_protocol_error_not_a_414() -> None:
    head = b"HTTP/1.1 200 " + b"x" * 40 + b"\r\n\r\n"
    with pytest.raises(ProtocolError) as caught:
        response(head, Limits(max_request_line=20))
    assert type(caught.value) is ProtocolError
    with pytest.raises(ProtocolError) as caught:
        HeadParser("response", Limits(max_request_line=20)).feed(head[:30])
    assert type(caught.value) is ProtocolError


def test_header_section_limit_counts_the_whole_head() -> None:
    assert request(GET, Limits(max_header_bytes=len(GET))) == request(GET)
    with pytest.raises(HeadersTooLarge) as caught:
        request(GET, Limits(max_header_bytes=len(GET) - 1))
    assert caught.value.status == 431


def test_header_section_limit_applies_before_the_empty_line_arrives() -> None:
    limits = Limits(max_header_bytes=len(GET))
    parser = HeadParser("request", limits)
    assert parser.feed(GET[:-1]) is None  # one byte short: could still fit
    assert parser.feed(GET[-1:]) == request(GET)
    parser = HeadParser("request", limits)
    with pytest.raises(HeadersTooLarge):
        parser.feed(GET[:-2] + b"X:")  # as long as the head, and not finished


def test_response_heads_use_the_same_size_limit() -> None:
    head = b"HTTP/1.1 200 OK\r\nX: " + b"v" * 50 + b"\r\n\r\n"
    with pytest.raises(HeadersTooLarge, match="response"):
        response(head, Limits(max_header_bytes=40))


def test_header_count_limit() -> None:
    head = req(*[f"X-{n}: {n}" for n in range(9)])  # with Host: 10 fields
    assert len(request(head, Limits(max_header_count=10)).headers) == 10
    with pytest.raises(HeadersTooLarge):
        request(head, Limits(max_header_count=9))


def test_limits_must_be_non_negative_integers() -> None:
    with pytest.raises(ConfigError):
        Limits(max_header_count=-1)
    with pytest.raises(ConfigError):
        HeadParser("reply")  # type: ignore[arg-type]


# --- request framing (RFC 9112 6) ----------------------------------------------------------


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        ((), Framing(BodyKind.NONE)),
        (("Content-Length: 5",), Framing(BodyKind.LENGTH, 5)),
        (("Content-Length: 0",), Framing(BodyKind.LENGTH, 0)),
        (("Content-Length: 007",), Framing(BodyKind.LENGTH, 7)),
        (("Content-Length: 5", "content-length: 5"), Framing(BodyKind.LENGTH, 5)),
        (("Content-Length: 5, 5",), Framing(BodyKind.LENGTH, 5)),
        (("Transfer-Encoding: chunked",), Framing(BodyKind.CHUNKED)),
        (("Transfer-Encoding: CHUNKED",), Framing(BodyKind.CHUNKED)),
        (("Transfer-Encoding: , chunked",), Framing(BodyKind.CHUNKED)),
    ],
)
def test_request_framing(lines: tuple[str, ...], expected: Framing) -> None:
    assert request_framing(request(req(*lines))) == expected


@pytest.mark.parametrize(
    "lines",
    [
        ("Content-Length: 5", "Transfer-Encoding: chunked"),  # h11 accepts: TE wins there
        ("Transfer-Encoding: chunked", "Content-Length: 0"),
        ("Content-Length: 5", "Content-Length: 6"),
        ("Content-Length: 5, 6",),
        ("Content-Length: 5,",),
        ("Content-Length: +5",),
        ("Content-Length: -1",),
        ("Content-Length: 0x5",),
        ("Content-Length: 5 5",),
        ("Content-Length: \xb2",),
        ("Content-Length:",),
        ("Content-Length: 123456789012345678901",),
        ("Transfer-Encoding: chunked, gzip",),
        ("Transfer-Encoding: gzip",),
        ("Transfer-Encoding: chunked", "Transfer-Encoding: chunked"),
        ("Transfer-Encoding:",),
    ],
)
def test_bad_request_framing_is_a_400(lines: tuple[str, ...]) -> None:
    with pytest.raises(ProtocolError) as caught:
        request_framing(request(req(*lines)))
    assert caught.value.status == 400


def test_unknown_transfer_coding_before_chunked_is_a_501() -> None:
    with pytest.raises(NotImplementedByProxy) as caught:
        request_framing(request(req("Transfer-Encoding: gzip, chunked")))
    assert caught.value.status == 501


def test_transfer_encoding_in_http_1_0_is_refused() -> None:
    head = req("Transfer-Encoding: chunked", version="HTTP/1.0")
    with pytest.raises(ProtocolError, match="HTTP/1.0"):
        request_framing(request(head))


def test_declared_length_over_max_body_is_a_413_before_reading() -> None:
    parsed = request(req("Content-Length: 11"))
    assert request_framing(parsed, Limits(max_body=11)) == Framing(BodyKind.LENGTH, 11)
    with pytest.raises(BodyTooLarge) as caught:
        request_framing(parsed, Limits(max_body=10))
    assert caught.value.status == 413


# --- response framing (RFC 9112 6.3) -------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "lines", "method", "expected"),
    [
        (200, ("Content-Length: 5",), "HEAD", Framing(BodyKind.NONE)),
        (100, (), "GET", Framing(BodyKind.NONE)),
        (103, ("Link: </a.css>",), "GET", Framing(BodyKind.NONE)),
        (204, ("Content-Length: 5",), "GET", Framing(BodyKind.NONE)),
        (304, ("Transfer-Encoding: chunked",), "GET", Framing(BodyKind.NONE)),
        (200, (), "CONNECT", Framing(BodyKind.NONE)),
        (407, ("Content-Length: 3",), "CONNECT", Framing(BodyKind.LENGTH, 3)),
        (200, ("Transfer-Encoding: chunked",), "GET", Framing(BodyKind.CHUNKED)),
        (200, ("Transfer-Encoding: gzip, chunked",), "GET", Framing(BodyKind.CHUNKED)),
        (200, ("Transfer-Encoding: gzip",), "GET", Framing(BodyKind.UNTIL_CLOSE)),
        (200, ("Transfer-Encoding: chunked, gzip",), "GET", Framing(BodyKind.UNTIL_CLOSE)),
        (
            200,
            ("Content-Length: 9", "Transfer-Encoding: chunked"),
            "GET",
            Framing(BodyKind.CHUNKED),
        ),
        (200, ("Content-Length: 9",), "POST", Framing(BodyKind.LENGTH, 9)),
        (200, (), "GET", Framing(BodyKind.UNTIL_CLOSE)),
        (404, ("Content-Length: 0",), "GET", Framing(BodyKind.LENGTH, 0)),
    ],
)
def test_response_framing(
    status: int, lines: tuple[str, ...], method: str, expected: Framing
) -> None:
    head = "".join(f"{line}\r\n" for line in (f"HTTP/1.1 {status} X", *lines, ""))
    assert response_framing(response(head.encode()), method) == expected


@pytest.mark.parametrize(
    "lines",
    [
        ("Content-Length: x",),
        ("Content-Length: 1", "Content-Length: 2"),
        ("Transfer-Encoding: chunked, chunked",),
        ("Transfer-Encoding: ",),
    ],
)
@pytest.mark.parametrize("status", [200, 204])
def test_malformed_framing_fields_are_refused_even_without_a_body(
    lines: tuple[str, ...], status: int
) -> None:
    head = "".join(f"{line}\r\n" for line in (f"HTTP/1.1 {status} X", *lines, ""))
    with pytest.raises(ProtocolError):
        response_framing(response(head.encode()), "GET")


def test_http_1_0_response_with_transfer_encoding_is_refused() -> None:
    parsed = response(b"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
    with pytest.raises(ProtocolError, match="HTTP/1.0"):
        response_framing(parsed, "GET")


# --- body decoding -------------------------------------------------------------------------


def test_length_body_and_leftover() -> None:
    decoder = decode_all(Framing(BodyKind.LENGTH, 5), b"helloGET /")
    assert decoder.done and decoder.leftover == b"GET /" and decoder.received == 5


@pytest.mark.parametrize("step", [0, 1, 2, 3, 7])
def test_length_body_in_any_pieces(step: int) -> None:
    body, decoder = body_of(Framing(BodyKind.LENGTH, 11), b"hello world!!", step)
    assert body == b"hello world" and decoder.leftover == b"!!" and decoder.done


def test_zero_length_and_no_body_are_done_at_once() -> None:
    for framing in (Framing(BodyKind.LENGTH, 0), Framing(BodyKind.NONE)):
        decoder = BodyDecoder(framing)
        assert decoder.done
        assert decoder.feed(b"next") == [] and decoder.leftover == b"next"


def test_feeding_after_the_end_adds_to_leftover() -> None:
    decoder = decode_all(Framing(BodyKind.LENGTH, 2), b"abc")
    assert decoder.feed(b"de") == [] and decoder.leftover == b"cde"


def test_length_body_cut_short_is_incomplete() -> None:
    decoder = decode_all(Framing(BodyKind.LENGTH, 5), b"hel")
    with pytest.raises(IncompleteMessage):
        decoder.eof()


def test_until_close_body_ends_at_eof() -> None:
    body, decoder = body_of(Framing(BodyKind.UNTIL_CLOSE), b"all of it", 4)
    assert body == b"all of it" and not decoder.done
    decoder.eof()
    assert decoder.done and decoder.received == 9
    decoder.eof()  # a second eof is harmless


def test_until_close_body_respects_max_body() -> None:
    decoder = BodyDecoder(Framing(BodyKind.UNTIL_CLOSE), Limits(max_body=4))
    assert decoder.feed(b"1234") == [b"1234"]
    with pytest.raises(BodyTooLarge):
        decoder.feed(b"5")


def test_length_over_max_body_is_refused_by_the_decoder_too() -> None:
    with pytest.raises(BodyTooLarge):
        BodyDecoder(Framing(BodyKind.LENGTH, 5), Limits(max_body=4))


CHUNKED = b"5;name=value\r\nhello\r\n6\r\n world\r\n0\r\nExpires: never\r\nX-Sum: 1\r\n\r\nNEXT"


@pytest.mark.parametrize("step", [0, 1, 2, 3, 5, 11])
def test_chunked_body_in_any_pieces(step: int) -> None:
    body, decoder = body_of(Framing(BodyKind.CHUNKED), CHUNKED, step)
    assert body == b"hello world"
    assert decoder.done and decoder.leftover == b"NEXT" and decoder.received == 11
    assert decoder.trailers.items() == [("Expires", "never"), ("X-Sum", "1")]


@pytest.mark.parametrize(
    "data",
    [
        b"A\r\n0123456789\r\n0\r\n\r\n",
        b"a\r\n0123456789\r\n0\r\n\r\n",
        b"000a\r\n0123456789\r\n000\r\n\r\n",
        b"a \t\r\n0123456789\r\n0\r\n\r\n",  # trailing whitespace, as h11 allows
        b"a ;ext\r\n0123456789\r\n0;last\r\n\r\n",  # BWS before ';' (RFC 9112 7.1.1)
        b'a;a=1;b="x;y"\r\n0123456789\r\n0\r\n\r\n',
        b"a\r\n0123456789\r\n0\r\n\n",  # the empty line ending the trailers may be a bare LF
    ],
)
def test_chunk_sizes_and_extensions(data: bytes) -> None:
    body, decoder = body_of(Framing(BodyKind.CHUNKED), data)
    assert body == b"0123456789" and decoder.done and decoder.leftover == b""


def test_trailers_accept_bare_lf_like_the_head() -> None:
    _, decoder = body_of(Framing(BodyKind.CHUNKED), b"0\r\nA: 1\nB: 2\r\n\n")
    assert decoder.trailers.items() == [("A", "1"), ("B", "2")]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"5\r\nhelloXX0\r\n\r\n", "followed by CRLF"),
        (b"5\r\nhello\n0\r\n\r\n", "followed by CRLF"),
        (b"5\nhello\r\n0\r\n\r\n", "end with CRLF"),
        (b"g\r\n", "hexadecimal"),
        (b"0x5\r\nhello\r\n", "hexadecimal"),
        (b"\r\nhello\r\n", "hexadecimal"),
        (b" 5\r\nhello\r\n", "hexadecimal"),
        (b"-5\r\nhello\r\n", "hexadecimal"),
        (b"1" * 17 + b"\r\n", "hexadecimal"),
        (b"5;a\x00b\r\nhello\r\n", "control character"),
        (b"5;a\rb\r\nhello\r\n", "control character"),
        (b"0\r\n folded: x\r\n\r\n", "obsolete line folding"),
        (b"0\r\nA(1): x\r\n\r\n", "not a token"),
        (b"0\r\nA: 1\r\n  more\r\n\r\n", "obsolete line folding"),
        (b"0\r\nA : 1\r\n\r\n", "whitespace before the colon"),
    ],
)
def test_malformed_chunked_bodies(data: bytes, message: str) -> None:
    with pytest.raises(ProtocolError, match=message):
        decode_all(Framing(BodyKind.CHUNKED), data)


def test_chunk_size_over_the_limit_is_refused_at_the_size_line() -> None:
    limits = Limits(max_chunk_size=0x10)
    assert decode_all(Framing(BodyKind.CHUNKED), b"10\r\n", limits).received == 0
    with pytest.raises(ProtocolError, match="larger than"):
        decode_all(Framing(BodyKind.CHUNKED), b"11\r\n", limits)
    with pytest.raises(ProtocolError):
        decode_all(Framing(BodyKind.CHUNKED), b"ffffffffffffffff\r\n")  # > 2**40


def test_chunked_body_over_max_body_is_a_413_as_soon_as_the_size_says_so() -> None:
    decoder = BodyDecoder(Framing(BodyKind.CHUNKED), Limits(max_body=8))
    assert decoder.feed(b"5\r\nhello\r\n") == [b"hello"]
    with pytest.raises(BodyTooLarge):
        decoder.feed(b"4\r\n")


def test_chunk_size_line_limit() -> None:
    limits = Limits(max_chunk_line=10)
    assert decode_all(Framing(BodyKind.CHUNKED), b"5;abcdefgh\r\n", limits).received == 0
    with pytest.raises(ProtocolError, match="longer than"):
        decode_all(Framing(BodyKind.CHUNKED), b"5;abcdefghi\r\n", limits)
    with pytest.raises(ProtocolError, match="longer than"):
        decode_all(Framing(BodyKind.CHUNKED), b"5;" + b"x" * 20, limits)  # no LF yet


def test_trailer_section_limits() -> None:
    trailers = b"0\r\nA: 1\r\nB: 2\r\n\r\n"  # the trailer section is 14 bytes
    assert decode_all(Framing(BodyKind.CHUNKED), trailers, Limits(max_trailer_bytes=14)).done
    with pytest.raises(HeadersTooLarge):
        decode_all(Framing(BodyKind.CHUNKED), trailers, Limits(max_trailer_bytes=13))
    with pytest.raises(HeadersTooLarge):
        decode_all(Framing(BodyKind.CHUNKED), b"0\r\nA: 1234", Limits(max_trailer_bytes=7))
    with pytest.raises(HeadersTooLarge):
        decode_all(Framing(BodyKind.CHUNKED), trailers, Limits(max_header_count=1))


@pytest.mark.parametrize("cut", [1, 3, 8, 10, 12])
def test_chunked_body_cut_short_is_incomplete(cut: int) -> None:
    decoder = decode_all(Framing(BodyKind.CHUNKED), b"5\r\nhello\r\n0\r\n\r\n"[:cut])
    assert not decoder.done
    with pytest.raises(IncompleteMessage):
        decoder.eof()


# --- serialisation -------------------------------------------------------------------------


def test_serialize_request_head() -> None:
    head = Request("GET", "/a?b", Headers([("Host", "x.test"), ("Accept", "*/*")]))
    assert serialize_request_head(head) == (
        b"GET /a?b HTTP/1.1\r\nHost: x.test\r\nAccept: */*\r\n\r\n"
    )
    assert request(serialize_request_head(head)) == head


def test_serialize_response_head_defaults_the_reason() -> None:
    assert serialize_response_head(Response(404)) == b"HTTP/1.1 404 Not Found\r\n\r\n"
    assert serialize_response_head(Response(299)) == b"HTTP/1.1 299 Unknown\r\n\r\n"
    custom = Response(200, Headers([("Content-Length", "0")]), "Fine", "HTTP/1.0")
    assert serialize_response_head(custom) == b"HTTP/1.0 200 Fine\r\nContent-Length: 0\r\n\r\n"
    assert response(serialize_response_head(custom)) == custom


@pytest.mark.parametrize(
    "head",
    [
        Request("GET", "/", Headers([("X", "a\r\nInjected: yes")])),
        Request("GET", "/", Headers([("X\n", "a")])),
        Request("GET", "/\r\n", Headers()),
        Request("GET", "/", Headers([("X", "snowman \u2603")])),
    ],
)
def test_serialisation_refuses_what_would_split_or_corrupt_the_head(head: Request) -> None:
    with pytest.raises(ConfigError):
        serialize_request_head(head)
    with pytest.raises(ConfigError):
        serialize_response_head(Response(200, head.headers, head.target.strip("/")))


def test_chunk_encoding_round_trips() -> None:
    assert encode_chunk(b"") == b""
    assert encode_chunk(b"x" * 26) == b"1a\r\n" + b"x" * 26 + b"\r\n"
    assert last_chunk() == b"0\r\n\r\n"
    trailers = Headers([("Checksum", "abc")])
    assert last_chunk(trailers) == b"0\r\nChecksum: abc\r\n\r\n"
    wire = (
        encode_chunk(b"hello ") + encode_chunk(b"") + encode_chunk(b"world") + last_chunk(trailers)
    )
    body, decoder = body_of(Framing(BodyKind.CHUNKED), wire, 3)
    assert body == b"hello world" and decoder.trailers == trailers


# --- incremental feeding, pipelining, keep-alive -------------------------------------------


POST = (
    b"POST /upload HTTP/1.1\r\nHost: up.test\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"4\r\nWiki\r\n5;x\r\npedia\r\n0\r\nDigest: abc\r\n\r\n"
)
PIPELINE = GET + b"POST /form HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc" + b"\r\n" + GET


def read_requests(chunks: list[bytes]) -> list[tuple[Request, bytes, Headers]]:
    """A tiny server loop: heads, bodies and trailers out of a stream of chunks."""
    done: list[tuple[Request, bytes, Headers]] = []
    parser, decoder, head, body = HeadParser("request"), None, None, b""
    for chunk in chunks:
        while chunk:
            if decoder is None:
                head = parser.feed(chunk)
                chunk = b""
                if head is None:
                    break
                assert isinstance(head, Request)
                decoder = BodyDecoder(request_framing(head))
                chunk = parser.leftover
            body += b"".join(decoder.feed(chunk))
            chunk = b""
            if decoder.done:
                assert isinstance(head, Request)
                done.append((head, body, decoder.trailers))
                chunk, parser, decoder, body = decoder.leftover, HeadParser("request"), None, b""
    return done


@pytest.mark.parametrize("stream", [GET, POST, PIPELINE], ids=["get", "post", "pipeline"])
def test_split_at_every_byte_position(stream: bytes) -> None:
    whole = read_requests([stream])
    for cut in range(len(stream) + 1):
        assert read_requests([stream[:cut], stream[cut:]]) == whole, cut


@pytest.mark.parametrize("stream", [GET, POST, PIPELINE], ids=["get", "post", "pipeline"])
def test_one_byte_at_a_time(stream: bytes) -> None:
    assert read_requests([bytes([b]) for b in stream]) == read_requests([stream])


def test_pipelined_requests_come_out_in_order() -> None:
    got = read_requests([PIPELINE])
    assert [(r.method, r.target, body) for r, body, _ in got] == [
        ("GET", "/index.html?q=1", b""),
        ("POST", "/form", b"abc"),
        ("GET", "/index.html?q=1", b""),  # after an ignored empty line (RFC 9112 2.2)
    ]
    assert read_requests([POST])[0][1:] == (b"Wikipedia", Headers([("Digest", "abc")]))


def test_response_split_at_every_byte_position() -> None:
    stream = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
    for cut in range(len(stream) + 1):
        parser = HeadParser("response")
        first, second = parser.feed(stream[:cut]), parser.feed(stream[cut:])
        head = first or second
        assert isinstance(head, Response) and head.status == 200
        decoder = BodyDecoder(response_framing(head, "GET"))
        assert b"".join(decoder.feed(parser.leftover)) == b"hello" and decoder.done


def test_head_parser_bookkeeping() -> None:
    parser = HeadParser("request")
    assert parser.feed(GET[:10]) is None
    assert parser.buffered == 10 and parser.leftover == b""
    assert parser.feed(GET[10:] + b"body") == request(GET)
    assert parser.leftover == b"body" and parser.buffered == 4
    assert parser.feed(b"more") is None and parser.leftover == b"bodymore"


def test_parse_whole_head_helpers_insist_on_exactly_one_head() -> None:
    with pytest.raises(IncompleteMessage):
        request(GET[:-2])
    with pytest.raises(ProtocolError, match="after the end"):
        request(GET + b"x")


@pytest.mark.parametrize(
    ("head", "keep_alive"),
    [
        (b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", True),
        (b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", False),
        (b"GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, CLOSE\r\n\r\n", False),
        (b"GET / HTTP/1.0\r\n\r\n", False),
        (b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", True),
    ],
)
def test_keep_alive_follows_version_and_connection(head: bytes, keep_alive: bool) -> None:
    assert request(head).keep_alive is keep_alive
    status_head = head.replace(b"GET / HTTP/1.1", b"HTTP/1.1 200 OK")
    status_head = status_head.replace(b"GET / HTTP/1.0", b"HTTP/1.0 200 OK")
    assert response(status_head).keep_alive is keep_alive
