"""Exercise 09: a strict HTTP/1.1 request-head parser (write ``parse_request_head``).

A proxy reads every request before anyone else does. If it accepts a head that the
server behind it reads differently, an attacker can smuggle a second request past it,
so a proxy must refuse every malformed head, with the right status. Read README.md
(it lists the rules, each with its RFC 9112 section); run ``proxylab grade 09``.

``ParseError`` and ``RequestHead`` are given: they are the interface the tests use.
"""

from __future__ import annotations


class ParseError(Exception):
    """The head is refused; ``status`` is the answer to send (400, 414, 431 or 501)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message


class RequestHead:
    """A parsed request head, and where its body ends."""

    def __init__(
        self,
        method: str,
        target: str,
        version: str,
        headers: list[tuple[str, str]] | None = None,  # as received, in order
        body: str = "none",  # "none", "length" or "chunked"
        length: int = 0,  # the Content-Length when body == "length"
    ) -> None:
        self.method, self.target, self.version = method, target, version
        self.headers = headers if headers is not None else []
        self.body, self.length = body, length

    def __repr__(self) -> str:
        return (
            f"RequestHead({self.method!r}, {self.target!r}, {self.version!r}, "
            f"{self.headers!r}, body={self.body!r}, length={self.length})"
        )


def parse_request_head(data: bytes, max_line: int = 8192, max_head: int = 65536) -> RequestHead:
    """Parse ``data``, exactly one request head ending with its empty line.

    Return a ``RequestHead``: field names as sent, values with the spaces and tabs around
    them removed. Raise ``ParseError(status, message)`` for anything malformed:
    414 for a request line longer than ``max_line`` bytes (without its CRLF), 431 for a
    head longer than ``max_head`` bytes (everything, the empty line too) or with more
    than 100 field lines, 501 for a transfer coding other than chunked, 400 otherwise.
    """
    raise NotImplementedError
