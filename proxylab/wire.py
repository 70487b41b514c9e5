"""Sans-I/O HTTP/1.1: read and write message heads and bodies as bytes (RFC 9112).

API CONTRACT (to be implemented; keep every name and signature):

    Limits(max_request_line=8192, max_header_bytes=65536, max_header_count=100,
           max_body=None, max_chunk_size=2**40, max_trailer_bytes=16384)   frozen dataclass

    HeadParser(kind: "request" | "response", limits: Limits = Limits())
        .feed(data: bytes) -> Request | Response | None
            accumulate bytes; return the parsed head once CRLFCRLF is seen (leading empty
            lines before a request line are ignored, RFC 9112 2.2), else None.
            Raises RequestLineTooLong (414), HeadersTooLarge (431), ProtocolError (400).
        .leftover: bytes      bytes received after the head (start of the body / next msg)
        .buffered: int        how many bytes are waiting (so callers can apply limits)

    parse_request_head(data: bytes, limits=Limits()) -> Request     (data = a whole head)
    parse_response_head(data: bytes, limits=Limits()) -> Response

    BodyKind(enum): NONE, LENGTH, CHUNKED, UNTIL_CLOSE
    Framing(kind: BodyKind, length: int = 0)   frozen dataclass

    request_framing(request, limits=Limits()) -> Framing
    response_framing(response, request_method: str) -> Framing

    BodyDecoder(framing: Framing, limits=Limits())
        .feed(data: bytes) -> list[bytes]     decoded body data (no empty pieces)
        .done: bool                           the body is complete
        .leftover: bytes                      bytes after the end of the body
        .trailers: Headers                    chunked trailers (empty otherwise)
        .received: int                        decoded bytes so far
        .eof() -> None                        the peer closed: completes UNTIL_CLOSE, raises
                                              IncompleteMessage for an unfinished body

    serialize_request_head(request) -> bytes
    serialize_response_head(response) -> bytes
    encode_chunk(data: bytes) -> bytes        b"" for empty data
    last_chunk(trailers: Headers | None = None) -> bytes
"""

from __future__ import annotations
