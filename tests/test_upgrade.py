"""WebSocket (and any ``Upgrade``) through both proxies, with the real ``websockets`` package.

The waiter carries ``Upgrade: websocket`` to the backend it chose and, after the ``101``,
copies bytes both ways; the friend does the same for ``ws://`` in absolute form, and for
``wss``-style tunnels through CONNECT. A protocol the proxy is told not to carry gets the
proxy's own 501.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from helpers import (
    Kitchen,
    dead_port,
    raw_exchange,
    reverse_proxy,
    running_forward_proxy,
    wait_for,
    wait_for_event,
)

from proxylab.errors import ProtocolError
from proxylab.forward.proxy import ForwardSettings
from proxylab.http.messages import Headers, Request, parse_target
from proxylab.http.relaying import upgrade_protocols
from proxylab.reverse.balancers import Backend

websockets = pytest.importorskip(
    "websockets", reason="needs the websockets package: pip install -e '.[dev]'"
)
from websockets.client import ClientProtocol  # noqa: E402
from websockets.frames import Frame, Opcode  # noqa: E402
from websockets.http11 import Response  # noqa: E402
from websockets.protocol import State  # noqa: E402
from websockets.sync.client import connect  # noqa: E402
from websockets.sync.server import Server, ServerConnection, serve  # noqa: E402
from websockets.uri import parse_uri  # noqa: E402

pytestmark = pytest.mark.timeout(30)


@contextmanager
def ws_server(name: str) -> Iterator[Server]:
    """A real websockets echo server that says who it is: ``name:message``."""

    def echo(ws: ServerConnection) -> None:
        for message in ws:
            ws.send(f"{name}:{message}")

    with serve(echo, "127.0.0.1", 0, compression=None) as server:
        thread = threading.Thread(target=server.serve_forever)
        thread.start()
        try:
            yield server
        finally:
            server.shutdown()
            thread.join(10)


def port_of(server: Server) -> int:
    return int(server.socket.getsockname()[1])


def backend(server: Server, name: str) -> Backend:
    return Backend("127.0.0.1", port_of(server), name=name)


def test_websocket_through_the_waiter_reaches_each_backend_in_turn() -> None:
    with ws_server("a") as a, ws_server("b") as b:
        backends = [backend(a, "a"), backend(b, "b")]
        with reverse_proxy(backends) as (server, proxy):
            url = f"ws://127.0.0.1:{server.address[1]}/chat"
            answers = []
            for _ in range(2):
                with connect(url, proxy=None, open_timeout=10) as ws:
                    ws.send("hello")
                    answers.append(ws.recv(timeout=10))
                    ws.send("x" * 100_000)  # a large frame crosses the tunnel too
                    assert ws.recv(timeout=10).endswith("x" * 100_000)
            assert sorted(answers) == ["a:hello", "b:hello"]  # round robin, per upgrade
            events = [
                wait_for_event(proxy.events, lambda e, n=n: e.kind == "upgrade" and e.upstream == n)
                for n in ("a", "b")
            ]
            rows = {row.name: row for row in proxy.stats()}
            idle = proxy.pool.idle_count()
    for event in events:
        assert event.status == 101 and event.extra["protocol"] == "websocket"
        assert event.bytes_in > 100_000 and event.bytes_out > 100_000
    assert rows["a"].total == rows["b"].total == 1 and rows["a"].current == 0
    assert idle == 0  # an upgraded connection never goes back to the pool


def test_the_backend_sees_upgrade_and_connection_fields() -> None:
    seen: list[str] = []

    with (
        ws_server("a") as a,
        reverse_proxy([backend(a, "a")]) as (server, _proxy),
        connect(f"ws://127.0.0.1:{server.address[1]}/", proxy=None) as ws,
    ):
        seen.append(ws.response.headers["Upgrade"])
        seen.append(ws.response.headers["Connection"])
        assert "Server" not in ws.response.headers  # backends stay hidden
    assert [v.lower() for v in seen] == ["websocket", "upgrade"]


def test_a_protocol_the_waiter_does_not_carry_gets_its_own_501() -> None:
    with _kitchen() as kitchen, reverse_proxy([kitchen.backend]) as (server, proxy):
        answer = raw_exchange(
            server.address,
            b"GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\n"
            b"Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n",
        )
    assert answer.startswith(b"HTTP/1.1 501 ")
    assert b"does not carry h2c upgrades" in answer
    assert kitchen.count == 0  # the backend was never asked


@contextmanager
def _kitchen() -> Iterator[Kitchen]:
    kitchen = Kitchen("k").start()
    try:
        yield kitchen
    finally:
        kitchen.stop()


def test_the_waiter_can_be_told_to_carry_no_upgrades_at_all() -> None:
    none: frozenset[str] = frozenset()
    with (
        ws_server("a") as a,
        reverse_proxy([backend(a, "a")], upgrade_protocols=none) as (server, _proxy),
        pytest.raises(websockets.exceptions.InvalidStatus) as refused,
    ):
        connect(f"ws://127.0.0.1:{server.address[1]}/", proxy=None, open_timeout=10)
    assert refused.value.response.status_code == 501
    assert b"websocket" in refused.value.response.body


def test_a_backend_that_refuses_the_upgrade_answers_itself() -> None:
    with _kitchen() as kitchen, reverse_proxy([kitchen.backend]) as (server, proxy):
        with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
            connect(f"ws://127.0.0.1:{server.address[1]}/", proxy=None, open_timeout=10)
        assert refused.value.response.status_code == 200  # the kitchen ignored Upgrade
        assert kitchen.seen[0].headers.get("upgrade") == "websocket"
        assert proxy.pool.idle_count() == 0
        event = wait_for_event(proxy.events, lambda e: e.source == "reverse")
    assert event.kind == "exchange" and event.status == 200 and event.bytes_out > 0


def _handshake_absolute(
    proxy_port: int, url: str
) -> tuple[socket.socket, ClientProtocol, Response]:
    """The websockets client protocol (sans-I/O), with its request line in absolute form,
    as a client configured with an HTTP proxy sends it for ws:// URLs."""
    protocol = ClientProtocol(parse_uri(url))
    request = protocol.connect()
    request.path = url  # absolute-form: GET ws://host:port/path HTTP/1.1
    protocol.send_request(request)
    sock = socket.create_connection(("127.0.0.1", proxy_port), timeout=10)
    for data in protocol.data_to_send():
        sock.sendall(data)
    while protocol.state is State.CONNECTING:
        data = sock.recv(65536)
        assert data, "the proxy closed during the handshake"
        protocol.receive_data(data)
    response = protocol.events_received()[0]
    assert isinstance(response, Response)
    return sock, protocol, response


def _exchange_text(sock: socket.socket, protocol: ClientProtocol, text: str) -> str:
    protocol.send_text(text.encode())
    for data in protocol.data_to_send():
        sock.sendall(data)
    while True:
        for event in protocol.events_received():
            if isinstance(event, Frame) and event.opcode is Opcode.TEXT:
                return event.data.decode()
        data = sock.recv(65536)
        assert data, "the tunnel closed before the answer"
        protocol.receive_data(data)


def test_ws_url_in_absolute_form_through_the_friend() -> None:
    with ws_server("origin") as origin:
        settings = ForwardSettings(resolve={"chat.test": ("127.0.0.1", port_of(origin))})
        with running_forward_proxy(settings) as (server, proxy):
            sock, protocol, response = _handshake_absolute(server.address[1], "ws://chat.test/room")
            with sock:
                assert protocol.handshake_exc is None, protocol.handshake_exc
                assert response.status_code == 101
                assert "via" in {k.lower() for k in response.headers}
                assert _exchange_text(sock, protocol, "hi") == "origin:hi"
                protocol.send_close()
                for data in protocol.data_to_send():
                    sock.sendall(data)
            event = wait_for_event(proxy.events, lambda e: e.kind == "upgrade")
    assert event.status == 101 and event.target == "http://chat.test/room"
    assert event.bytes_in > 0 and event.bytes_out > 0


def test_websockets_client_through_connect_to_the_friend() -> None:
    with ws_server("origin") as origin:
        port = port_of(origin)
        settings = ForwardSettings(connect_ports=frozenset({port}))
        with running_forward_proxy(settings) as (server, proxy):
            proxy_url = f"http://127.0.0.1:{server.address[1]}"
            with connect(f"ws://127.0.0.1:{port}/", proxy=proxy_url, open_timeout=10) as ws:
                ws.send("through the tunnel")
                assert ws.recv(timeout=10) == "origin:through the tunnel"
            event = wait_for_event(proxy.events, lambda e: e.kind == "tunnel")
    assert event.status == 200 and event.bytes_in > 0


def test_the_friend_refuses_a_protocol_it_does_not_carry() -> None:
    settings = ForwardSettings(resolve={"chat.test": ("127.0.0.1", 9)})
    with running_forward_proxy(settings) as (server, _proxy):
        answer = raw_exchange(
            server.address,
            b"GET http://chat.test/ HTTP/1.1\r\nHost: chat.test\r\nConnection: upgrade\r\n"
            b"Upgrade: IRC/6.9\r\n\r\n",
        )
    assert answer.startswith(b"HTTP/1.1 501 ") and b"does not carry irc upgrades" in answer


def test_least_connections_counts_an_open_tunnel_as_a_connection() -> None:
    with (
        ws_server("a") as a,
        ws_server("b") as b,
        reverse_proxy([backend(a, "a"), backend(b, "b")], "least-connections") as (server, proxy),
    ):
        url = f"ws://127.0.0.1:{server.address[1]}/"
        with connect(url, proxy=None) as first, connect(url, proxy=None) as second:
            first.send("1")
            second.send("2")
            names = {first.recv(timeout=10)[0], second.recv(timeout=10)[0]}
            current = {row.name: row.current for row in proxy.stats()}
        assert names == {"a", "b"}  # the second went where no tunnel was open
        assert current == {"a": 1, "b": 1}  # both tunnels count while they last
        assert wait_for(lambda: all(row.current == 0 for row in proxy.stats()))


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        ("Upgrade: websocket\r\nConnection: Upgrade", ["websocket"]),
        ("Upgrade: WebSocket\r\nConnection: keep-alive, Upgrade", ["websocket"]),
        ("Upgrade: h2c, IRC/6.9\r\nConnection: upgrade", ["h2c", "irc"]),
        ("Upgrade: websocket", None),  # no upgrade option: meant for an earlier hop
        ("Connection: upgrade", None),
        ("", None),
    ],
)
def test_upgrade_protocols_reads_rfc_9110_section_7_8(head: str, expected: object) -> None:
    lines = [line.split(": ", 1) for line in head.split("\r\n") if line]
    request = Request("GET", "/", Headers((name, value) for name, value in lines))
    assert upgrade_protocols(request) == expected
    request.version = "HTTP/1.0"  # "A server MUST ignore an Upgrade ... in an HTTP/1.0 request"
    assert upgrade_protocols(request) is None


def test_ws_and_wss_urls_are_http_and_https_underneath() -> None:
    assert parse_target("GET", "ws://chat.test/room").url == "http://chat.test/room"
    wss = parse_target("GET", "wss://chat.test/")
    assert (wss.scheme, wss.port) == ("https", 443)
    with pytest.raises(ProtocolError):
        parse_target("GET", "ftp://files.test/")


def test_an_upgrade_to_a_dead_backend_fails_over_then_reports_502() -> None:
    dead = Backend("127.0.0.1", dead_port(), name="dead")
    with ws_server("a") as a, reverse_proxy([dead, backend(a, "a")]) as (server, proxy):
        url = f"ws://127.0.0.1:{server.address[1]}/"
        for _ in range(2):  # whichever comes first, the dead one is skipped
            with connect(url, proxy=None) as ws:
                ws.send("hi")
                assert ws.recv(timeout=10) == "a:hi"
        assert wait_for(lambda: len(proxy.events.snapshot("reverse")) == 2)
    with reverse_proxy([Backend("127.0.0.1", dead_port(), name="dead")]) as (server, proxy):
        with pytest.raises(websockets.exceptions.InvalidStatus) as failed:
            connect(f"ws://127.0.0.1:{server.address[1]}/", proxy=None, open_timeout=10)
        event = wait_for_event(proxy.events, lambda e: e.source == "reverse")
    assert failed.value.response.status_code == 502
    assert event.kind == "exchange" and event.status == 502 and event.bytes_out > 0
    assert event.extra["protocol"] == "websocket"
