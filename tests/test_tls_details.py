"""TLS termination details: plain HTTP sent to the TLS port, ALPN ``http/1.1``, wss://.

nginx answers a plain request on its TLS port with 400 "The plain HTTP request was sent
to HTTPS port", in plain HTTP, and so does the waiter (instead of a silent reset). ALPN
(RFC 7301) offers ``http/1.1``, the one protocol spoken; checked with Python's ``ssl``
and with ``openssl s_client -alpn``.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
from collections.abc import Iterator

import pytest
from helpers import kitchens, raw_exchange, reverse_proxy, wait_for_event

from proxylab.net.server import PLAIN_HTTP_TO_TLS
from proxylab.net.tls import LabCertificates
from proxylab.reverse.balancers import Backend

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def certs() -> Iterator[LabCertificates]:
    pytest.importorskip("trustme", reason="needs trustme: pip install -e '.[dev]'")
    with LabCertificates() as made:
        yield made


def test_plain_http_to_the_tls_port_gets_nginx_400(certs: LabCertificates) -> None:
    with (
        kitchens("a") as (a,),
        reverse_proxy([a.backend], ssl_context=certs.server_context()) as (server, proxy),
    ):
        answer = raw_exchange(server.address, b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        event = wait_for_event(proxy.events, lambda e: e.status == 400)
        # the port still speaks TLS to the next client
        with socket.create_connection(server.address, timeout=5) as raw:
            context = certs.client_context()
            with context.wrap_socket(raw, server_hostname="localhost") as tls:
                tls.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
                assert tls.recv(12) == b"HTTP/1.1 200"
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert b"Connection: close" in head and PLAIN_HTTP_TO_TLS.encode() in body
    assert event.method == "NONE" and event.note == PLAIN_HTTP_TO_TLS
    assert a.count == 1  # only the TLS request reached the kitchen


def test_alpn_offers_http11(certs: LabCertificates) -> None:
    with (
        kitchens("a") as (a,),
        reverse_proxy([a.backend], ssl_context=certs.server_context()) as (server, _),
        socket.create_connection(server.address, timeout=5) as raw,
    ):
        context = certs.client_context()
        context.set_alpn_protocols(["h2", "http/1.1"])  # as a browser offers them
        with context.wrap_socket(raw, server_hostname="localhost") as tls:
            assert tls.selected_alpn_protocol() == "http/1.1"


@pytest.mark.skipif(
    shutil.which("openssl") is None, reason="needs openssl: apt-get install openssl"
)
def test_openssl_s_client_negotiates_http11(certs: LabCertificates) -> None:
    with (
        kitchens("a") as (a,),
        reverse_proxy([a.backend], ssl_context=certs.server_context()) as (server, _),
    ):
        done = subprocess.run(
            ["openssl", "s_client", "-connect", f"127.0.0.1:{server.address[1]}",
             "-servername", "localhost", "-alpn", "http/1.1", "-CAfile", certs.ca_pem_path,
             "-ign_eof"],
            input=b"GET /menu HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
            capture_output=True, timeout=20, check=False,
        )  # fmt: skip
    assert b"ALPN protocol: http/1.1" in done.stdout, done.stdout + done.stderr
    assert b"Verify return code: 0 (ok)" in done.stdout
    assert b"\nHTTP/1.1 200 OK\r\n" in done.stdout  # and HTTP/1.1 is what it then spoke


def test_wss_through_the_tls_terminating_waiter(certs: LabCertificates) -> None:
    pytest.importorskip("websockets", reason="needs websockets: pip install -e '.[dev]'")
    from websockets.sync.client import connect
    from websockets.sync.server import ServerConnection, serve

    def echo(ws: ServerConnection) -> None:
        for message in ws:
            ws.send(f"echo:{message}")

    with serve(echo, "127.0.0.1", 0) as ws_server:
        thread = threading.Thread(target=ws_server.serve_forever)
        thread.start()
        try:
            port = int(ws_server.socket.getsockname()[1])
            backends = [Backend("127.0.0.1", port, name="ws")]
            with reverse_proxy(backends, ssl_context=certs.server_context()) as (server, _):
                url = f"wss://localhost:{server.address[1]}/"
                with connect(url, ssl=certs.client_context(), proxy=None) as ws:
                    ws.send("secret")
                    assert ws.recv(timeout=10) == "echo:secret"
        finally:
            ws_server.shutdown()
            thread.join(10)
