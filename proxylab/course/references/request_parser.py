"""Reference for exercise 09 (a strict request-head parser): ``proxylab.http.wire`` and ``framing``.

The exercise returns a plain ``RequestHead`` and raises ``ParseError(status, message)``;
the library's ``parse_request_head`` returns a ``Request`` and raises ``ProxyLabError``
subclasses that carry the status (400, 414, 431, 501), and ``request_framing`` says
where the body ends. This module converts, and changes nothing else.

Layer 5 (an edge).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from proxylab.errors import ProxyLabError
from proxylab.http.framing import BodyKind, Limits, request_framing
from proxylab.http.wire import parse_request_head as _parse_request_head

__all__ = ["ParseError", "RequestHead", "parse_request_head"]


class ParseError(Exception):
    """The head is refused; ``status`` is the answer to send (400, 414, 431 or 501)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message


@dataclass
class RequestHead:
    """A parsed request head, and where its body ends."""

    method: str
    target: str
    version: str
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: str = "none"  # "none", "length" or "chunked"
    length: int = 0  # the Content-Length when body == "length"


def parse_request_head(data: bytes, max_line: int = 8192, max_head: int = 65536) -> RequestHead:
    """Parse exactly one request head (ending with its empty line) or raise ``ParseError``."""
    limits = Limits(max_request_line=max_line, max_header_bytes=max_head)
    try:
        request = _parse_request_head(data, limits)
        framing = request_framing(request, limits)
    except ProxyLabError as error:
        raise ParseError(error.status, error.message) from None
    body = {BodyKind.NONE: "none", BodyKind.LENGTH: "length", BodyKind.CHUNKED: "chunked"}
    return RequestHead(
        request.method,
        request.target,
        request.version,
        list(request.headers),
        body[framing.kind],
        framing.length,
    )
