"""One exception tree for the whole library.

Every error that can end an HTTP exchange carries the status code it maps to and a short,
human sentence for the response body. That gives the servers exactly one place where an
exception turns into a response (``server.error_response``): the layers below raise, the
server answers. A client never sees a traceback or ``str(exc)`` of some low-level error,
only ``status`` and ``message`` chosen here on purpose.

Layer 0: imports nothing from proxylab.
"""

from __future__ import annotations

__all__ = [
    "BadGateway",
    "BodyTooLarge",
    "ClientTimeout",
    "ConfigError",
    "Forbidden",
    "GatewayTimeout",
    "HeadersTooLarge",
    "IncompleteMessage",
    "LoopDetected",
    "NoRoute",
    "NotImplementedByProxy",
    "ProtocolError",
    "ProxyAuthRequired",
    "ProxyLabError",
    "RequestLineTooLong",
    "ServiceUnavailable",
    "UpstreamError",
    "VersionNotSupported",
]


class ProxyLabError(Exception):
    """Base of every proxylab error; ``status`` is the HTTP status it becomes."""

    status: int = 500
    default_message: str = "The proxy met an internal error."

    def __init__(
        self, message: str | None = None, headers: tuple[tuple[str, str], ...] = ()
    ) -> None:
        self.message = message or self.default_message
        #: extra response fields, e.g. ``Proxy-Authenticate`` for a 407
        self.headers = headers
        super().__init__(self.message)


class ConfigError(ProxyLabError, ValueError):
    """A setting or argument is wrong; the message says what to fix."""

    default_message = "Invalid configuration."


class ProtocolError(ProxyLabError):
    """The peer sent bytes that are not valid HTTP/1.1 (RFC 9112): answer 400 and close."""

    status = 400
    default_message = "The request is not valid HTTP/1.1."


class VersionNotSupported(ProtocolError):
    """A major HTTP version this proxy does not speak, e.g. ``HTTP/2.0`` in text form: 505."""

    status = 505
    default_message = "This proxy speaks HTTP/1.0 and HTTP/1.1 only."


class RequestLineTooLong(ProtocolError):
    """RFC 9112 section 3: a server that receives a too-long target answers 414."""

    status = 414
    default_message = "The request line is too long."


class HeadersTooLarge(ProtocolError):
    """RFC 6585 section 5: header fields too large, 431."""

    status = 431
    default_message = "The request header section is too large."


class BodyTooLarge(ProtocolError):
    """The body is over the configured limit: 413 Content Too Large (RFC 9110 15.5.14)."""

    status = 413
    default_message = "The request body is too large."


class IncompleteMessage(ProtocolError):
    """The connection closed before a message was complete (RFC 9112 section 8)."""

    default_message = "The connection closed before the message was complete."


class NotImplementedByProxy(ProxyLabError):
    """A feature the proxy does not offer, such as an unknown transfer coding (501)."""

    status = 501
    default_message = "The proxy does not implement this."


class ClientTimeout(ProxyLabError):
    """The client was too slow to send its request head: 408 Request Timeout."""

    status = 408
    default_message = "The request took too long to arrive."


class Forbidden(ProxyLabError):
    """Policy refused the request (filter rule, CONNECT port, client address): 403."""

    status = 403
    default_message = "Access to this address is not allowed by the proxy."


class ProxyAuthRequired(ProxyLabError):
    """The proxy wants credentials (RFC 9110 section 15.5.8): 407."""

    status = 407
    default_message = "The proxy requires authentication."


class LoopDetected(ProxyLabError):
    """The request already passed through this proxy (our Via token): 508."""

    status = 508
    default_message = "Forwarding loop detected: the request already passed through this proxy."


class UpstreamError(ProxyLabError):
    """Talking to the origin or backend failed: 502 Bad Gateway."""

    status = 502
    default_message = "The proxy could not get a valid response from the upstream server."


BadGateway = UpstreamError


class GatewayTimeout(UpstreamError):
    """The origin or backend did not answer in time: 504."""

    status = 504
    default_message = "The upstream server did not answer in time."


class ServiceUnavailable(ProxyLabError):
    """No capacity or no healthy backend: 503."""

    status = 503
    default_message = "The service is unavailable right now; try again shortly."


class NoRoute(ProxyLabError):
    """No route matches the request's host and path: 404."""

    status = 404
    default_message = "This proxy has no route for the requested path."
