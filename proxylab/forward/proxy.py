"""The forward proxy: the friend who phones the restaurant for you.

A forward proxy acts for the *client*. The browser is configured to send every request to
it, in absolute form (``GET http://news.test/ HTTP/1.1``, RFC 9112 section 3.2.2), and the
proxy makes the request to the origin on the client's behalf. The origin sees the proxy,
not the client (privacy); the proxy can refuse (filtering) and remember answers (caching).
Squid and Privoxy are forward proxies; so is this module.

What one request goes through (``ForwardProxy.__call__``):

1. who may use the proxy at all (loopback by default), proxy authentication (407), and
   loop detection (our own ``Via`` token coming back means a loop: 508);
2. CONNECT: port policy and filter, then a byte tunnel (HTTPS travels through it, still
   encrypted end to end: the proxy sees only the host name);
3. otherwise: the filter decides (403 with a block page naming the rule), hop-by-hop
   fields are removed (RFC 9110 section 7.6.1), ``Host`` is set from the target, the
   privacy policy rewrites what reveals the client, and the request is forwarded in
   origin-form over a pooled keep-alive connection, through the cache if there is one;
   a WebSocket handshake (``GET ws://host/chat`` or ``http://`` with ``Upgrade:
   websocket``, RFC 6455 section 4) goes on with its ``Upgrade``, on a connection of its
   own, and after the origin's ``101`` becomes a byte tunnel, as CONNECT does;
4. the response comes back with its own hop-by-hop fields removed, re-framed for this
   client, and every exchange becomes one ``Event``.

Left out on purpose: TLS interception (MITM) of CONNECT tunnels, FTP, ICAP, PAC files.

Why one long module: it is one exchange of the friend, read top to bottom (admit, parse,
filter, tunnel or forward, cache, respond, record); each policy is its own module.

Layer 4: composes server, upstream, privacy, filters, cache and metrics.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from proxylab.cache.http_cache import CacheOutcome, HttpCache
from proxylab.errors import (
    ConfigError,
    Forbidden,
    LoopDetected,
    ProtocolError,
    ProxyAuthRequired,
    ProxyLabError,
)
from proxylab.forward.access import ClientAccess
from proxylab.forward.block_page import block_page
from proxylab.forward.filters import FilterPolicy
from proxylab.forward.privacy import PrivacyPolicy, add_response_via, is_loop
from proxylab.forward.rules import Block, Decision, FilterRequest
from proxylab.http.framing import CHUNKED, LENGTH, NO_BODY, BodyKind, Limits, request_framing
from proxylab.http.messages import (
    ASTERISK_FORM,
    HOP_BY_HOP,
    ORIGIN_FORM,
    Headers,
    Request,
    Response,
    Target,
    parse_target,
)
from proxylab.http.relaying import (
    body_finished,
    check_upgrade,
    end_to_end,
    persistence_field,
    strip_hop_by_hop,
    upgrade_protocols,
)
from proxylab.http.wire import serialize_response_head
from proxylab.metrics import Event, EventLog
from proxylab.net.connection import ClientConnection, Timeouts
from proxylab.net.pool import ConnectionPool
from proxylab.net.relay import rejected_event, relay_response
from proxylab.net.server import Server, answer_error
from proxylab.net.tunnel import relay, upgraded
from proxylab.net.upstream import UpstreamConnection, open_connection

__all__ = ["ForwardProxy", "ForwardSettings"]

#: Request fields that describe the client's connection, not the message (plus Expect,
#: which the proxy answers itself).
_NOT_FORWARDED = HOP_BY_HOP | {"expect"}

#: ``outcome.value`` runs Python code on 3.10/3.11 (enum's property); a dict look-up does not
_OUTCOME_NAMES = {outcome: outcome.value for outcome in CacheOutcome}


@dataclass(frozen=True, slots=True)
class ForwardSettings:
    """Everything that shapes the forward proxy's behaviour, in one value.

    ``resolve`` maps a host name to the ``(host, port)`` really dialled, which is how the
    offline lab's ``*.test`` sites are reached. ``auth`` is ``(user, password)`` for Basic
    proxy authentication, or ``None`` for none. ``drop_underscore_headers``: request
    fields with ``_`` in the name are not passed on (nginx's default; see
    ``http.relaying.strip_hop_by_hop``). ``upgrade_protocols``: the protocols a client
    may switch to through the proxy (RFC 9110 section 7.8); any other gets a 501.
    """

    privacy: PrivacyPolicy = field(default_factory=PrivacyPolicy)
    filters: FilterPolicy = field(default_factory=FilterPolicy)
    access: ClientAccess = field(default_factory=ClientAccess)
    connect_ports: frozenset[int] = frozenset({443})
    resolve: Mapping[str, tuple[str, int]] = field(default_factory=dict)
    auth: tuple[str, str] | None = None
    source_address: tuple[str, int] | None = None
    timeouts: Timeouts = field(default_factory=Timeouts)
    tunnel_idle_timeout: float = 300.0
    drop_underscore_headers: bool = True
    upgrade_protocols: frozenset[str] = frozenset({"websocket"})


class ForwardProxy:
    """A forward proxy handler: plug it into a ``Server`` (or call ``serve``).

    >>> proxy = ForwardProxy(ForwardSettings(privacy=PrivacyPolicy.from_names("elite")))
    >>> with proxy.serve(("127.0.0.1", 0)) as server:  # doctest: +SKIP
    ...     httpx.get("http://news.test/", proxy=server.url)
    """

    def __init__(
        self,
        settings: ForwardSettings | None = None,
        *,
        cache: HttpCache | None = None,
        events: EventLog | None = None,
    ) -> None:
        self.settings = settings or ForwardSettings()
        self._privacy_level = self.settings.privacy.level.value  # named in every event
        self.cache = cache
        self.events = events if events is not None else EventLog()
        self.pool = ConnectionPool(
            connect_timeout=self.settings.timeouts.connect,
            read_timeout=self.settings.timeouts.upstream_read,
            idle_timeout=self.settings.timeouts.upstream_idle,
            source_address=self.settings.source_address,
        )
        if self.settings.auth is not None and ":" in self.settings.auth[0]:
            raise ConfigError("A proxy user name cannot contain ':'.")

    def serve(
        self,
        address: tuple[str, int] = ("127.0.0.1", 8080),
        *,
        max_connections: int = 1024,
        limits: Limits | None = None,
    ) -> Server:
        """A ``Server`` running this proxy (not started: use ``with`` or ``.start()``)."""
        return Server(
            self,
            address,
            max_connections=max_connections,
            limits=limits,
            timeouts=self.settings.timeouts,
            name="forward",
            on_rejected=self.rejected,
        )

    def close(self) -> None:
        """Close pooled upstream connections."""
        self.pool.close()

    def rejected(self, conn: ClientConnection, error: ProxyLabError) -> None:
        """Record a request the server refused before this proxy saw it (``on_rejected``)."""
        self.events.record(rejected_event("forward", conn, error))

    # -- the per-request path --------------------------------------------------------
    def __call__(self, conn: ClientConnection, request: Request) -> None:
        """Answer one request from ``conn`` (the ``Handler`` protocol of ``server``)."""
        event = Event(time.time(), "forward", client=conn.client_ip, method=request.method)
        if request.version != "HTTP/1.1":
            event.extra["version"] = request.version  # for the common log's request line
        record = _Record(event, time.monotonic())
        try:
            self._admit(conn, request, record)
            if request.method == "CONNECT":
                self._tunnel(conn, request, record)
            else:
                self._forward(conn, request, record)
        except ProxyLabError as error:
            record.event.status = error.status
            if not record.event.target:  # refused before it was parsed (407): as sent, as Squid
                record.event.target = request.target
            answer_error(conn, error)  # now, so that the record counts the page's bytes
            raise
        finally:
            self._finish(conn, record)

    def _admit(self, conn: ClientConnection, request: Request, record: _Record) -> None:
        if not self.settings.access.allows(conn.client_ip):
            _refused(record, "client not in the allowed networks")
            raise Forbidden("This proxy only serves clients from its allowed networks.")
        auth = self.settings.auth
        if auth is not None:
            if not _credentials_match(request.headers.get("proxy-authorization"), auth):
                _refused(record, "proxy authentication")
                raise ProxyAuthRequired(
                    "This proxy needs a user name and password.",
                    headers=(("Proxy-Authenticate", 'Basic realm="proxylab"'),),
                )
            record.event.extra["user"] = auth[0]  # Squid logs who it was
        if is_loop(request.headers, self.settings.privacy.via_token):
            raise LoopDetected()

    def _target(self, request: Request) -> Target:
        # no Host look-up: the origin-form, the one form that needs it, is refused below
        target = parse_target(request.method, request.target)
        if target.form is ORIGIN_FORM:
            raise ProtocolError(
                "This is a forward proxy: send the full URL (GET http://host/path), "
                "or configure it as your HTTP proxy."
            )
        if target.form is ASTERISK_FORM:
            raise ProtocolError("OPTIONS * is not forwarded by this proxy.")
        return target

    def _filter(
        self, conn: ClientConnection, target: Target, method: str, record: _Record
    ) -> Decision:
        """The filter's decision for this request, written into the record."""
        policy = self.settings.filters
        decision = policy.unconditional or policy.decide(
            FilterRequest(
                conn.client_ip, method, target.host, target.port, target.path, target.scheme
            )
        )
        record.event.rule = decision.rule.describe() if decision.rule is not None else ""
        record.event.decision = "blocked" if isinstance(decision, Block) else "allowed"
        return decision

    def _send_block_page(
        self, conn: ClientConnection, decision: Block, target: Target, request: Request,
        record: _Record,
    ) -> None:  # fmt: skip
        """Answer 403 with the page that names the rule (RFC 9110 section 15.5.4)."""
        record.event.status = 403
        connect = request.method == "CONNECT"
        body = block_page(decision, target.authority if connect else target.url)
        headers = Headers(
            [
                ("Content-Type", "text/html; charset=utf-8"),
                ("Content-Length", str(len(body))),
                ("Cache-Control", "no-store"),
            ]
        )
        if connect:
            conn.keep_alive = False  # the client wanted a tunnel, not a conversation
        persistence_field(request, headers, conn.keep_alive)
        conn.send_response(Response(403, headers, "Forbidden"), body)

    # -- CONNECT ---------------------------------------------------------------------
    def _tunnel(self, conn: ClientConnection, request: Request, record: _Record) -> None:
        target = self._target(request)
        record.event.target = target.authority
        record.event.kind = "tunnel"
        if target.port not in self.settings.connect_ports:
            allowed = ", ".join(str(p) for p in sorted(self.settings.connect_ports))
            _refused(record, f"CONNECT ports {allowed}")
            raise Forbidden(f"CONNECT to port {target.port} is not allowed (allowed: {allowed}).")
        decision = self._filter(conn, target, "CONNECT", record)
        if isinstance(decision, Block):
            self._send_block_page(conn, decision, target, request, record)
            return
        host, port = self._dial_address(target)
        upstream = open_connection(
            host, port, self.settings.timeouts.connect, self.settings.source_address
        )
        record.event.upstream = f"{host}:{port}"
        with upstream:
            conn.send(b"HTTP/1.1 200 Connection Established\r\n\r\n")
            record.event.status = 200
            client_sock, early = conn.take_over()
            sent, received = relay(client_sock, upstream, self.settings.tunnel_idle_timeout, early)
        record.event.bytes_in, record.event.bytes_out = sent, received

    # -- plain HTTP ------------------------------------------------------------------
    def _forward(self, conn: ClientConnection, request: Request, record: _Record) -> None:
        target = self._target(request)
        record.event.target = url = target.url
        decision = self._filter(conn, target, request.method, record)
        if isinstance(decision, Block):
            self._send_block_page(conn, decision, target, request, record)
            self._drain(conn, request)
            return
        if "upgrade" in request.headers.names():  # the rare case: a protocol switch
            protocols = upgrade_protocols(request)
            if protocols is not None:
                self._upgrade(conn, request, target, protocols, record)
                return
        framing = request_framing(request, conn.limits)
        conn.continue_if_expected(request)
        body = conn.read_framed(framing) if framing.kind is not NO_BODY else None
        host, port = self._dial_address(target)
        record.event.upstream = f"{host}:{port}"

        def fetch(wanted: Request) -> tuple[Response, Iterator[bytes]]:
            """Forward ``wanted``: the client's request, or the cache's conditional version."""
            outgoing, changes = self._outgoing(conn, wanted, target, framing.kind)
            record.event.privacy = "; ".join(changes)
            interim = conn.relay_interim if request.version == "HTTP/1.1" else None
            reply = self.pool.exchange(
                host,
                port,
                outgoing,
                body,
                framing.kind,
                tls=target.scheme == "https",
                on_interim=interim,
            )
            record.upstream_started, record.connection = reply.head_received, reply.connection
            # Which connection carried it (HAProxy logs it as %bi:%bp): the origin saw this
            # address and port, so its own log can be joined with ours, never by time.
            record.event.extra["upstream_from"] = reply.connection.local_address
            record.event.extra["privacy_level"] = self._privacy_level
            return end_to_end(reply.response), reply.body

        if self.cache is not None:
            # The cache sees the client's request, as Squid's does: a hit is answered
            # without building the request the origin would have seen.
            reply = self.cache.exchange(request, url, fetch)
            response, pieces = reply.response, reply.body
            record.event.cache = _OUTCOME_NAMES[reply.outcome]
        else:
            response, pieces = fetch(request)
        self._respond(conn, request, response, pieces, record)
        if not body_finished(body):
            conn.keep_alive = False  # the body was not read to its end: the stream is unsynced

    def _upgrade(
        self,
        conn: ClientConnection,
        request: Request,
        target: Target,
        protocols: list[str],
        record: _Record,
    ) -> None:
        """Carry a protocol switch (WebSocket) to the origin; after its ``101``, tunnel."""
        check_upgrade(protocols, self.settings.upgrade_protocols, request_framing(request).kind)
        outgoing, changes = self._outgoing(conn, request, target, NO_BODY)
        outgoing.headers.set("Upgrade", request.headers.get("upgrade") or "")
        outgoing.headers.set("Connection", "upgrade")  # RFC 9110 7.8: both, or neither
        record.event.privacy, record.event.extra["protocol"] = "; ".join(changes), protocols[0]
        host, port = self._dial_address(target)
        record.event.upstream = f"{host}:{port}"
        reply = self.pool.upgrade(host, port, outgoing, tls=target.scheme == "https")
        record.upstream_started = reply.head_received
        response = end_to_end(reply.response)
        if response.status != 101:  # refused by the origin: its answer, then the end
            self._respond(conn, request, response, reply.body, record)
            return
        headers = response.headers
        add_response_via(headers, self.settings.privacy.level, self.settings.privacy.via_token)
        headers.set("Upgrade", reply.response.headers.get("upgrade") or protocols[0])
        headers.set("Connection", "upgrade")
        record.event.status, record.event.kind = 101, "upgrade"
        head = serialize_response_head(Response(101, headers, response.reason))
        timeout = self.settings.tunnel_idle_timeout
        up, down = upgraded(conn, reply.connection, head, timeout)
        record.event.bytes_in, record.event.bytes_out = up, down

    def _outgoing(
        self, conn: ClientConnection, request: Request, target: Target, body_kind: BodyKind
    ) -> tuple[Request, tuple[str, ...]]:
        """The request the origin will see: origin-form, own Host, no hop-by-hop fields."""
        headers = strip_hop_by_hop(
            request.headers, _NOT_FORWARDED, self.settings.drop_underscore_headers
        )
        # RFC 9112 3.2.2: a proxy MUST replace Host with the authority of the target URI.
        headers.set("Host", target.host_header)
        if body_kind is CHUNKED:
            headers.add("Transfer-Encoding", "chunked")
        result = self.settings.privacy.apply(headers, conn.client_ip)
        return Request(request.method, target.path, result.headers), result.changes

    def _respond(
        self,
        conn: ClientConnection,
        request: Request,
        response: Response,
        pieces: Iterator[bytes],
        record: _Record,
    ) -> None:
        """Send the response head and stream the body, framed for this client."""
        # the response's fields are this exchange's own copy (see relaying.end_to_end)
        headers = response.headers
        add_response_via(headers, self.settings.privacy.level, self.settings.privacy.via_token)
        record.event.status = response.status
        content_type = headers.get("content-type")
        if content_type:
            record.event.extra["content_type"] = content_type
        relay_response(conn, request, response, headers, pieces)

    def _drain(self, conn: ClientConnection, request: Request) -> None:
        """After answering early, read away a small request body or give up the connection."""
        framing = request_framing(request, conn.limits)
        if framing.kind is NO_BODY:
            return
        if framing.kind is LENGTH and framing.length <= 65536:
            for _ in conn.read_framed(framing):
                pass
            return
        conn.keep_alive = False

    def _dial_address(self, target: Target) -> tuple[str, int]:
        """Where to really connect: the lab's resolver override, or the target itself."""
        mapped = self.settings.resolve.get(target.host)
        return mapped if mapped is not None else (target.host, target.port)

    def _finish(self, conn: ClientConnection, record: _Record) -> None:
        event, now = record.event, time.monotonic()
        event.duration = now - record.started
        if record.upstream_started:
            event.upstream_duration = now - record.upstream_started
        if not event.bytes_out:  # a tunnel counted its own; otherwise what the client got
            event.bytes_out = conn.bytes_out
        if record.connection is not None and record.connection.discard_reason:
            dropped = f"upstream connection closed: {record.connection.discard_reason}"
            event.note = f"{event.note}; {dropped}" if event.note else dropped
        self.events.record(event)


class _Record:
    """An exchange in progress: its ``Event``, filled in as the exchange goes, and the
    clock readings its durations are worked out from when it ends."""

    __slots__ = ("connection", "event", "started", "upstream_started")

    def __init__(self, event: Event, started: float) -> None:
        self.event, self.started, self.upstream_started = event, started, 0.0
        self.connection: UpstreamConnection | None = None  # the upstream one, once dialled


def _refused(record: _Record, rule: str) -> None:
    """Note in the event that a policy turned the request away (Squid's TCP_DENIED)."""
    record.event.decision, record.event.rule = "blocked", rule


def _credentials_match(value: str | None, expected: tuple[str, str]) -> bool:
    """Does a ``Proxy-Authorization`` value carry the expected Basic credentials (RFC 7617)?"""
    given = _decode_basic(value or "")
    if given is None:
        return False
    # compare_digest takes the same time whatever matches, so timing reveals nothing
    return hmac.compare_digest(given[0].encode(), expected[0].encode()) & hmac.compare_digest(
        given[1].encode(), expected[1].encode()
    )


def _decode_basic(value: str) -> tuple[str, str] | None:
    """``Basic dXNlcjpwdw==`` -> ``("user", "pw")``, or ``None`` when malformed."""
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, sep, password = base64.b64decode(token.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (user, password) if sep else None
