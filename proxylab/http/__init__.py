"""The HTTP/1.1 messages and the wire they travel on: parsed, framed and written without sockets.

``messages`` holds ``Request``, ``Response`` and ``Headers``; ``wire`` parses and writes heads
(RFC 9112); ``framing`` decides where a body ends; ``relaying`` holds the header rules a proxy
applies to a message it passes on (hop-by-hop fields, ``Forwarded``). Nothing here touches a
socket, so every rule can be tested with bytes alone (the "sans-I/O" style of h11).

This file is the package's face: the names a user types, re-exported from their modules.
"""

from proxylab.http.framing import BodyKind, Framing, Limits
from proxylab.http.messages import Headers, Request, Response, Target, parse_target, reason_phrase
from proxylab.http.wire import (
    HeadParser,
    parse_request_head,
    parse_response_head,
    serialize_request_head,
    serialize_response_head,
)

__all__ = [
    "BodyKind",
    "Framing",
    "HeadParser",
    "Headers",
    "Limits",
    "Request",
    "Response",
    "Target",
    "parse_request_head",
    "parse_response_head",
    "parse_target",
    "reason_phrase",
    "serialize_request_head",
    "serialize_response_head",
]
