"""The reverse proxy: the waiter between the guests and the kitchen.

A reverse proxy acts for the *servers*. Clients think it is the site; behind it, a pool of
backends does the work. nginx (``proxy_pass`` + ``upstream``), HAProxy and Envoy are
reverse proxies; so is this module. What one request goes through
(``ReverseProxy.__call__``):

1. the status page (``/proxylab/status``) answers itself, for loopback clients only;
2. the route is found: host match first, then the longest path prefix (like nginx's
   ``server_name`` then ``location`` prefixes; ``routes`` holds the table);
3. the request head is rewritten for the backend: hop-by-hop fields removed (RFC 9110
   section 7.6.1); ``X-Forwarded-For`` appended, ``X-Forwarded-Proto`` and
   ``X-Forwarded-Host`` set, optionally RFC 7239 ``Forwarded``. Client-sent forwarding
   fields are dropped unless the client is a trusted proxy: anyone can type
   ``X-Forwarded-For: 10.0.0.1``. The client's ``Host`` is kept by default;
4. health says who may get traffic, the balancer picks one of them (per request), and the
   request goes out over a pooled keep-alive connection;
5. on a connect error or a timeout before any byte reached the client, another backend
   is tried (nginx's ``proxy_next_upstream error timeout``), but never for POST or PATCH
   unless asked: they may have changed something already. At most every backend once;
6. the response comes back without hop-by-hop fields, without ``Server`` and
   ``X-Powered-By``, and with any mention of the backend's address replaced by the
   client-facing one (nginx's ``proxy_redirect default``): the backends stay hidden.

A request that asks to switch protocols (``Upgrade: websocket`` with ``Connection:
upgrade``, RFC 9110 section 7.8 and RFC 6455 section 4) keeps those two fields on its way
to the chosen backend (nginx needs ``proxy_set_header Upgrade $http_upgrade`` for it), on
a connection of its own; after the backend's ``101 Switching Protocols`` the waiter just
carries bytes both ways, as a CONNECT tunnel does, until either side closes. A protocol
not in ``ReverseSettings.upgrade_protocols`` gets a 501 from the proxy that names it.

Every exchange becomes an ``Event`` (``source="reverse"``; ``kind="upgrade"`` with the
bytes both ways for a tunnel) and feeds the balancer (``on_start``/``on_end``: a tunnel
counts as a connection until it ends), the passive health check and the per-backend
``StatsTable``.

Left out on purpose: HTTP/2 (h2c) upgrades, response buffering, caching, TLS
towards the backends, rate limiting, rewriting of paths and of HTML bodies.

Why one long module: it is one exchange, read top to bottom (route, choose, send, retry,
respond, record), with the upgrade and the status page as its two side doors; the
policies it applies live in their own modules.

Layer 4: composes server, upstream, relaying, health, balancers, stats and the routes of
``routes`` (``Route``, ``ReverseSettings``; ``NoRoute`` is in ``errors``).
"""

from __future__ import annotations

import hashlib
import inspect
import secrets
import ssl
import threading
import time
from collections.abc import Iterator, Sequence
from types import TracebackType
from typing import Any

from proxylab.addresses import in_networks, parse_networks
from proxylab.errors import (
    Forbidden,
    GatewayTimeout,
    NotImplementedByProxy,
    ProtocolError,
    ProxyLabError,
    ServiceUnavailable,
    UpstreamError,
)
from proxylab.http.framing import CHUNKED, NO_BODY, Framing, request_framing
from proxylab.http.messages import (
    HOP_BY_HOP,
    Headers,
    Request,
    Response,
    cookie_value,
    parse_target,
)
from proxylab.http.relaying import (
    FORWARDING_FIELDS,
    body_finished,
    check_upgrade,
    forwarded_element,
    persistence_field,
    strip_hop_by_hop,
    upgrade_protocols,
    without_cookie,
)
from proxylab.http.wire import serialize_response_head
from proxylab.metrics import Event, EventLog
from proxylab.net.connection import ClientConnection
from proxylab.net.pool import ConnectionPool, UpstreamReply
from proxylab.net.relay import rejected_event, relay_response
from proxylab.net.server import Server, answer_error
from proxylab.net.tunnel import upgraded
from proxylab.reverse.balancers import Backend, Balancer
from proxylab.reverse.health import HealthChecker, HealthState
from proxylab.reverse.routes import ReverseSettings, Route, RouteTable, Site
from proxylab.reverse.stats import BackendStats, StatsTable

__all__ = [
    "ReverseProxy",
]

#: nginx's list of methods that are not retried on another backend by default.
NON_IDEMPOTENT = frozenset({"POST", "PATCH", "LOCK"})


class ReverseProxy:
    """A reverse proxy handler: plug it into a ``Server``, or call ``serve``.

    ``with proxy.serve(("127.0.0.1", 0)) as server:`` is all a notebook needs: the
    server returned by ``serve`` starts the health checks when it starts and, when the
    last such server stops, stops them and closes pooled connections. Used on its own
    (``Server(proxy, ...)``), call ``start_health_checks()`` and ``close()`` yourself,
    or use the proxy as a context manager.
    """

    def __init__(
        self,
        routes: Sequence[Route] | None = None,
        *,
        backends: Sequence[Backend] = (),
        balancer: Balancer | str = "round-robin",
        settings: ReverseSettings | None = None,
        events: EventLog | None = None,
    ) -> None:
        self.settings = s = settings or ReverseSettings()
        self.events = events if events is not None else EventLog()
        self._table = RouteTable(routes, backends, balancer)
        self.backends = self._table.backends
        self.pool = ConnectionPool(
            max_idle_per_origin=s.keepalive,
            connect_timeout=s.timeouts.connect,
            read_timeout=s.timeouts.upstream_read,
            idle_timeout=s.timeouts.upstream_idle,
            source_address=s.source_address,
        )
        self.stats_table = StatsTable(self.backends)
        self.health = HealthChecker(
            self.backends, s.health_policy(), events=self.events, on_change=self._health_changed
        )
        self._prepare_rewriting(s)
        self._servers = 0
        self._lock = threading.Lock()

    def _prepare_rewriting(self, s: ReverseSettings) -> None:
        """Compute once what the per-request path would otherwise rebuild every time."""
        self._trusted = parse_networks(s.trusted_proxies)
        self._status_clients = parse_networks(s.status_clients)
        # what to strip from requests: untrusted clients lose every forwarding field,
        # trusted proxies keep theirs (X-Forwarded-For and Forwarded are re-added extended)
        self._drop_all = HOP_BY_HOP | FORWARDING_FIELDS | {"expect"}
        self._keep_some = HOP_BY_HOP | {"expect", "x-forwarded-for", "forwarded"}
        self._hidden = HOP_BY_HOP | {name.lower() for name in s.hide_headers}
        self._authority = {b: f"{b.host}:{b.port}" for b in self.backends}
        self._cookie = s.sticky_cookie
        self._log_headers = tuple(name.lower() for name in s.log_headers)
        secret = secrets.token_bytes(16)  # sticky ids reveal nothing about addresses
        self._sticky_id = {b: _opaque_id(secret, b) for b in self.backends}
        self._sticky_backend = {value: b for b, value in self._sticky_id.items()}

    # -- lifecycle -----------------------------------------------------------------------
    def serve(
        self,
        address: tuple[str, int] = ("127.0.0.1", 8000),
        ssl_context: ssl.SSLContext | None = None,
        **server_options: Any,
    ) -> Server:
        """A ``Server`` running this proxy (not started: use ``with`` or ``.start()``)."""
        server_options.setdefault("timeouts", self.settings.timeouts)
        server_options.setdefault("name", "reverse")
        server_options.setdefault("on_rejected", self.rejected)
        return _ProxyServer(self, address, ssl_context=ssl_context, **server_options)

    def serve_status(self, address: tuple[str, int] = ("127.0.0.1", 8404)) -> Server:
        """A separate ``Server`` answering only the status page (HAProxy's ``stats`` bind)."""
        return Server(self._answer_status_anywhere, address, name="reverse-status")

    def start_health_checks(self) -> None:
        """Start the active health checks (no-op without ``health_check_path``)."""
        self.health.start()

    def rejected(self, conn: ClientConnection, error: ProxyLabError) -> None:
        """Record a request the server refused before this proxy saw it (``on_rejected``)."""
        self.events.record(rejected_event("reverse", conn, error))

    def close(self) -> None:
        """Stop the health checks (joining their thread) and close pooled connections."""
        self.health.stop()
        self.pool.close()

    def __enter__(self) -> ReverseProxy:
        self.start_health_checks()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _attach(self) -> None:
        with self._lock:
            self._servers += 1
        self.start_health_checks()

    def _detach(self) -> None:
        with self._lock:
            self._servers -= 1
            last = self._servers == 0
        if last:
            self.close()

    def routes(self) -> list[Route]:
        """The routes in the order they are tried (host routes first, longer prefixes first)."""
        return self._table.routes()

    def stats(self) -> list[BackendStats]:
        """One row per backend: requests, failures, retries, health, response times."""
        return self.stats_table.snapshot()

    def _health_changed(self, backend: Backend, state: HealthState) -> None:
        self.stats_table.set_state(backend.name, state.name)

    # -- the per-request path --------------------------------------------------------------
    def __call__(self, conn: ClientConnection, request: Request) -> None:
        """Answer one request from ``conn`` (the ``Handler`` protocol of ``server``)."""
        status_path = self.settings.status_path
        if status_path is not None and request.target.startswith(status_path):
            self._answer_status(conn, request)
            return
        x = _Exchange(conn, request)
        try:
            self._proxy(x)
        except ProxyLabError as error:
            x.status = error.status
            answer_error(conn, error)  # now, so that the record counts the page's bytes
            raise
        finally:
            self._finish(x)

    def _proxy(self, x: _Exchange) -> None:
        conn, request = x.conn, x.request
        if request.method == "CONNECT":
            raise NotImplementedByProxy("This is a reverse proxy: it does not open tunnels.")
        path, x.host = self._path_and_host(request)
        x.site = self._table.match(x.host, path)
        framing = request_framing(request, conn.limits)
        x.kind, x.tls = framing.kind, isinstance(conn.sock, ssl.SSLSocket)
        outgoing = Request(request.method, path, self._outgoing_headers(x))
        if "upgrade" in request.headers.names():  # the rare case: a protocol switch
            protocols = upgrade_protocols(request)
            if protocols is not None:
                self._upgrade(x, outgoing, protocols)
                return
        conn.continue_if_expected(request)
        x.body = _client_body(x, framing) if framing.kind is not NO_BODY else None
        if self.settings.sticky:
            x.sticky = self._sticky_backend.get(cookie_value(request.headers, self._cookie) or "")
        self._respond(x, self._send(x, outgoing))
        if x.body is not None and not body_finished(x.body):
            conn.keep_alive = False  # unread body bytes would be taken for the next request

    def _upgrade(self, x: _Exchange, outgoing: Request, protocols: list[str]) -> None:
        """Carry a protocol switch to a backend; after its ``101``, tunnel the bytes.

        RFC 9110 section 7.8: ``Upgrade`` is hop-by-hop, so it goes on only because this
        proxy chose to carry the protocol, with ``Connection: upgrade`` beside it. Any
        answer but ``101`` is relayed as an ordinary response.
        """
        check_upgrade(protocols, self.settings.upgrade_protocols, x.kind)
        outgoing.headers.set("Upgrade", x.request.headers.get("upgrade") or "")
        outgoing.headers.set("Connection", "upgrade")
        x.protocol, x.bytes_in, x.bytes_down = protocols[0], 0, 0
        reply = self._send(x, outgoing)
        if reply.response.status == 101:
            self._tunnel(x, reply)
        else:
            self._respond(x, reply)  # refused by the backend: its answer, then the end

    def _tunnel(self, x: _Exchange, reply: UpstreamReply) -> None:
        """Send the ``101`` on and carry bytes both ways; the tunnel counts as a request
        to its backend (balancer, stats) until it ends."""
        x.status, x.upstream_duration = 101, reply.head_received - x.sent
        headers = self._response_headers(x, reply.response)
        headers.set("Upgrade", reply.response.headers.get("upgrade") or x.protocol)
        headers.set("Connection", "upgrade")
        head = serialize_response_head(Response(101, headers, reply.response.reason))
        try:
            x.bytes_in, x.bytes_down = upgraded(
                x.conn, reply.connection, head, self.settings.tunnel_idle_timeout
            )
        finally:
            x.site.balancer.on_end(x.backend, 101, x.upstream_duration)
            self.stats_table.end(x.backend.name, x.upstream_duration, x.bytes_down, False)
            self.health.report_success(x.backend)

    def _path_and_host(self, request: Request) -> tuple[str, str | None]:
        """Origin-form path and the client-facing Host (RFC 9112 section 3.2)."""
        host = request.headers.get("host")
        if request.target.startswith("/") or request.target == "*":
            if host is None and request.version == "HTTP/1.1":
                # RFC 9112 3.2: "A server MUST respond with a 400 (Bad Request) status code
                # to any HTTP/1.1 request message that lacks a Host header field"
                raise ProtocolError("An HTTP/1.1 request must carry a Host header field.")
            return request.target, host
        # absolute-form: RFC 9112 3.2.2, the target's authority replaces Host
        target = parse_target(request.method, request.target, host)
        return target.path, target.host_header

    def _outgoing_headers(self, x: _Exchange) -> Headers:
        """The request fields the backend sees: one copy, forwarding fields added."""
        request, ip, host = x.request, x.conn.client_ip, x.host
        trusted = in_networks(ip, self._trusted) if self._trusted else False
        drop = self._keep_some if trusted else self._drop_all
        headers = strip_hop_by_hop(request.headers, drop, self.settings.drop_underscore_headers)
        proto = "https" if x.tls else "http"
        prior = ", ".join(request.headers.get_all("x-forwarded-for")) if trusted else ""
        headers.add("X-Forwarded-For", f"{prior}, {ip}" if prior else ip)
        # untrusted: the client's fields were stripped, so add (cheaper than set)
        if not (trusted and "x-forwarded-proto" in headers):
            headers.add("X-Forwarded-Proto", proto)
        if host is not None and not (trusted and "x-forwarded-host" in headers):
            headers.add("X-Forwarded-Host", host)
        if self.settings.forwarded_header:
            prior = ", ".join(request.headers.get_all("forwarded")) if trusted else ""
            element = forwarded_element(ip, proto, host)
            headers.add("Forwarded", f"{prior}, {element}" if prior else element)
        if self.settings.sticky and "cookie" in headers:
            without_cookie(headers, self._cookie)
        if x.kind is CHUNKED:
            headers.add("Transfer-Encoding", "chunked")
        if self.settings.preserve_host and host is not None and request.target[:1] != "/":
            headers.set("Host", host)  # absolute-form: the target's authority wins
        return headers

    # -- choosing, sending, retrying -------------------------------------------------------
    def _send(self, x: _Exchange, outgoing: Request) -> UpstreamReply:
        """Send to a chosen backend; on a retryable failure try another (nginx's rules)."""
        tried: list[Backend] = []
        set_host = not self.settings.preserve_host or x.host is None
        while True:
            x.backend = backend = self._choose(x, tried)
            if set_host:
                outgoing.headers.set("Host", self._authority[backend])
            x.site.balancer.on_start(backend)
            self.stats_table.start(backend.name)
            x.sent = time.monotonic()
            try:
                if x.protocol:  # a connection of its own, never pooled
                    return self.pool.upgrade(backend.host, backend.port, outgoing)
                return self.pool.exchange(
                    backend.host, backend.port, outgoing, x.body, x.kind, on_interim=x.interim
                )
            except ProxyLabError as error:
                if error is x.client_error:  # the client's body broke: not the backend's fault
                    self._failed(x, error, blame=False)
                    raise
                self._failed(x, error, blame=True)
                failure = _for_client(error)
                if not self._may_retry(x, tried):
                    x.note = f"{x.note}; {error.message}" if x.note else error.message
                    raise failure from None
            tried.append(backend)
            x.failure = failure
            self.stats_table.retry(backend.name)
            x.note = "retried from " + ", ".join(b.name for b in tried)

    def _choose(self, x: _Exchange, tried: list[Backend]) -> Backend:
        healthy = self.health.healthy(x.site.backends)
        if tried:
            healthy = [b for b in healthy if b not in tried]
        if not healthy:
            if x.failure is not None:  # the others are down: report the real failure
                raise x.failure
            raise ServiceUnavailable("No healthy backend is available to answer this request.")
        if x.sticky is not None and not tried and x.sticky in healthy:
            return x.sticky  # a sticky cookie for a down backend falls back to the balancer
        return x.site.balancer.choose(x.request, healthy, x.conn.client_ip)

    def _may_retry(self, x: _Exchange, tried: list[Backend]) -> bool:
        """nginx's rule: only if the body can be sent again and the method allows it."""
        if not self.settings.retries or len(tried) + 1 >= len(x.site.backends):
            return False
        if x.request.method in NON_IDEMPOTENT and not self.settings.retry_non_idempotent:
            return False
        # a streamed body that was (partly) read from the client cannot be sent again
        return x.body is None or inspect.getgeneratorstate(x.body) == inspect.GEN_CREATED  # type: ignore[arg-type]

    def _failed(self, x: _Exchange, error: ProxyLabError, blame: bool) -> None:
        duration = time.monotonic() - x.sent
        x.site.balancer.on_end(x.backend, error.status, duration)
        self.stats_table.end(x.backend.name, duration, failed=blame)
        if blame:
            self.health.report_failure(x.backend, error.message)

    # -- the response ----------------------------------------------------------------------
    def _respond(self, x: _Exchange, reply: UpstreamReply) -> None:
        """Send the rewritten head and stream the body; account for the exchange."""
        x.status, x.upstream_duration = reply.response.status, reply.head_received - x.sent
        headers = self._response_headers(x, reply.response)
        broken = False
        try:
            relay_response(x.conn, x.request, reply.response, headers, reply.body, reply.abandon)
            if reply.connection.discard_reason:
                dropped = f"backend connection closed: {reply.connection.discard_reason}"
                x.note = f"{x.note}; {dropped}" if x.note else dropped
        except ProxyLabError:  # the backend broke mid-body (a client hang-up is an OSError)
            broken, x.note = True, "backend broke mid-body"
            raise
        finally:
            backend = x.backend
            x.site.balancer.on_end(backend, 502 if broken else x.status, x.upstream_duration)
            self.stats_table.end(backend.name, x.upstream_duration, x.conn.bytes_out, broken)
            if broken:
                self.health.report_failure(backend, "the response broke off mid-body")
            else:
                self.health.report_success(backend)

    def _response_headers(self, x: _Exchange, response: Response) -> Headers:
        """End-to-end fields minus the hidden ones, the backend's address replaced."""
        headers = strip_hop_by_hop(response.headers, self._hidden)
        authority = self._authority[x.backend]
        if _mentions(headers, authority):  # nginx's proxy_redirect default
            public = x.host or "{}:{}".format(*x.conn.sock.getsockname()[:2])
            old, new = f"http://{authority}", f"{'https' if x.tls else 'http'}://{public}"
            headers = Headers(
                (k, v.replace(old, new).replace(authority, public)) for k, v in headers
            )
        if x.tls and self.settings.hsts:
            headers.set("Strict-Transport-Security", self.settings.hsts)
        if self.settings.sticky and x.backend is not x.sticky:
            secure = "; Secure" if x.tls else ""
            cookie = f"{self._cookie}={self._sticky_id[x.backend]}; Path=/; HttpOnly; SameSite=Lax"
            headers.add("Set-Cookie", cookie + secure)
        return headers

    def _finish(self, x: _Exchange) -> None:
        event = Event(
            time=x.wall,
            source="reverse",
            client=x.conn.client_ip,
            method=x.request.method,
            target=x.request.target,
            status=x.status,
            upstream=x.backend.name if x.backend is not None else "",
            bytes_out=x.conn.bytes_out,
            duration=time.monotonic() - x.started,
            upstream_duration=x.upstream_duration,
            note=x.note,
        )
        if self._log_headers:
            _log_fields(event, x.request, self._log_headers)
        if x.protocol:  # asked to switch; a tunnel if the backend agreed
            event.extra["protocol"] = x.protocol
            if x.status == 101:
                event.kind, event.bytes_in, event.bytes_out = "upgrade", x.bytes_in, x.bytes_down
        self.events.record(event)

    # -- the status page -------------------------------------------------------------------
    def _answer_status(self, conn: ClientConnection, request: Request) -> None:
        if not in_networks(conn.client_ip, self._status_clients):
            raise Forbidden("The status page is only served to local clients.")
        self._answer_status_anywhere(conn, request)

    def _answer_status_anywhere(self, conn: ClientConnection, request: Request) -> None:
        response, body = self.stats_table.status_response(request)
        conn.keep_alive = response.keep_alive  # a body sent to us is not read: close after
        persistence_field(request, response.headers, conn.keep_alive)
        conn.send_response(response, body)


class _ProxyServer(Server):
    """A ``Server`` that starts the proxy's health checks and closes it when it stops."""

    def __init__(self, proxy: ReverseProxy, *args: Any, **kwargs: Any) -> None:
        super().__init__(proxy, *args, **kwargs)
        self._proxy = proxy
        self._attached = False

    def start(self) -> Server:
        if not self._attached:
            self._attached = True
            self._proxy._attach()
        return super().start()

    def stop(self, grace: float = 5.0) -> None:
        super().stop(grace)
        if self._attached:
            self._attached = False
            self._proxy._detach()


class _Exchange:
    """Notes taken while one request runs (the hot path's only per-request object).

    ``site``, ``backend`` and ``sent`` are set before they are read; the rest has defaults.
    """

    __slots__ = ("backend", "body", "bytes_down", "bytes_in", "client_error", "conn", "failure",
                 "host", "interim", "kind", "note", "protocol", "request", "sent", "site",
                 "started", "status", "sticky", "tls", "upstream_duration", "wall")  # fmt: skip

    def __init__(self, conn: ClientConnection, request: Request) -> None:
        self.conn, self.request = conn, request
        self.wall, self.started, self.sent = time.time(), time.monotonic(), 0.0
        self.host: str | None = None
        self.site: Site
        self.backend: Backend = None  # type: ignore[assignment]  # set by _send before use
        self.sticky: Backend | None = None
        self.body: Iterator[bytes] | None = None
        self.kind, self.tls = NO_BODY, False
        self.failure: UpstreamError | None = None
        self.client_error: ProxyLabError | None = None
        self.status, self.note, self.upstream_duration = 0, "", 0.0
        # 1xx responses from the backend go on to an HTTP/1.1 client (RFC 9110 15.2)
        self.interim = conn.relay_interim if request.version == "HTTP/1.1" else None
        self.protocol = ""  # the protocol switched to (an upgrade), then the bytes tunnelled
        self.bytes_in: int  # set with protocol, by _upgrade (not here: every request would pay)
        self.bytes_down: int


def _log_fields(event: Event, request: Request, names: tuple[str, ...]) -> None:
    """Copy the request fields an access log wants into ``event.extra`` (those present),
    keyed as ``user_agent`` for ``User-Agent``; and the version if it is not 1.1."""
    headers, extra = request.headers, event.extra
    for name in names:
        value = headers.get(name)
        if value is not None:
            extra[name.replace("-", "_")] = value
    if request.version != "HTTP/1.1":
        extra["version"] = request.version


def _client_body(x: _Exchange, framing: Framing) -> Iterator[bytes]:
    """The client's body, streamed; remembers a client-side failure so it is not blamed
    on the backend (a client that stops sending is not a broken backend)."""
    try:
        yield from x.conn.read_framed(framing)
    except ProxyLabError as error:
        x.client_error = error
        raise


def _for_client(error: ProxyLabError) -> UpstreamError:
    """The failure as the client sees it: same status, but no backend address in the text
    (the event log keeps the detailed message)."""
    if isinstance(error, GatewayTimeout):
        return GatewayTimeout("The backend did not answer in time.")
    if isinstance(error, UpstreamError):
        return UpstreamError("The proxy could not get an answer from a backend.")
    return UpstreamError("A backend sent a response that is not valid HTTP/1.1.")


def _mentions(headers: Headers, text: str) -> bool:
    """Does any field value contain ``text``? (A plain loop: any() over a generator costs
    half as much again, and this runs on every response.)"""
    for _, value in headers:  # noqa: SIM110 - see the docstring
        if text in value:
            return True
    return False


def _opaque_id(secret: bytes, backend: Backend) -> str:
    """A sticky-cookie value that names a backend without revealing its address."""
    return hashlib.blake2s(backend.name.encode(), key=secret, digest_size=6).hexdigest()
