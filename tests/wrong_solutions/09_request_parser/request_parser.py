"""A plausible wrong exercise 09: a lenient parser, "be liberal in what you accept".

It unfolds obs-fold lines and strips the field name (so ``Host : a`` is accepted),
trusts Content-Length when Transfer-Encoding is also present, and answers a too-long
request line with 400 instead of 414. Everything a well-behaved client sends works.
"""

from __future__ import annotations

import re

TOKEN = re.compile(r"[-!#$%&'*+.^_`|~0-9A-Za-z]+")
VERSION = re.compile(r"HTTP/1\.[01]")


class ParseError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message


class RequestHead:
    def __init__(self, method, target, version, headers=None, body="none", length=0):  # type: ignore[no-untyped-def]
        self.method, self.target, self.version = method, target, version
        self.headers = headers or []
        self.body, self.length = body, length


def parse_request_head(data: bytes, max_line: int = 8192, max_head: int = 65536) -> RequestHead:
    if len(data) > max_head:
        raise ParseError(431, "head too large")
    text = data.decode("latin-1").replace("\r\n", "\n").lstrip("\n")
    if not text.endswith("\n\n"):
        raise ParseError(400, "no empty line")
    if "\r" in text or re.search(r"[\x00-\x08\x0b-\x1f\x7f]", text):
        raise ParseError(400, "control character")
    lines = text[:-2].split("\n")
    if len(lines[0]) > max_line:
        raise ParseError(400, "request line too long")  # should be 414
    parts = lines[0].split(" ")
    if len(parts) != 3 or not TOKEN.fullmatch(parts[0]) or not VERSION.fullmatch(parts[2]):
        raise ParseError(400, "bad request line")
    method, target, version = parts
    if method == "CONNECT":
        if not re.fullmatch(r"[^/:]+:\d+", target):
            raise ParseError(400, "bad CONNECT target")
    elif not (target.startswith("/") or re.match(r"https?://", target)):
        raise ParseError(400, "bad target")
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        if line[:1] in (" ", "\t") and headers:  # unfold obs-fold: lenient
            name, value = headers.pop()
            headers.append((name, value + " " + line.strip()))
            continue
        name, colon, value = line.partition(":")
        name = name.strip()  # accepts "Host : a"
        if not colon or not TOKEN.fullmatch(name):
            raise ParseError(400, "bad field line")
        headers.append((name, value.strip(" \t")))
    if len(headers) > 100:
        raise ParseError(431, "too many fields")
    return _framing(RequestHead(method, target, version, headers))


def _framing(head: RequestHead) -> RequestHead:
    names = [name.lower() for name, _ in head.headers]
    if names.count("host") > 1 or (head.version == "HTTP/1.1" and "host" not in names):
        raise ParseError(400, "Host")
    lengths = {
        p.strip() for n, v in head.headers if n.lower() == "content-length" for p in v.split(",")
    }
    if lengths:  # trusted even next to Transfer-Encoding: the smuggling bug
        if len(lengths) != 1 or not next(iter(lengths)).isdigit():
            raise ParseError(400, "bad Content-Length")
        head.body, head.length = "length", int(lengths.pop())
        return head
    codings = [
        c.strip().lower()
        for n, v in head.headers
        if n.lower() == "transfer-encoding"
        for c in v.split(",")
    ]
    if codings:
        if head.version == "HTTP/1.0" or codings[-1] != "chunked" or codings.count("chunked") > 1:
            raise ParseError(400, "bad Transfer-Encoding")
        if codings != ["chunked"]:
            raise ParseError(501, "unknown coding")
        head.body = "chunked"
    return head
