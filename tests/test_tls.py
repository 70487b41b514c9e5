"""TLS termination helpers: the lab CA, contexts, exported files, redirect and HSTS."""

from __future__ import annotations

import os
import socket
import ssl
from pathlib import Path

import httpx
import pytest
from helpers import kitchens, reverse_proxy

from proxylab.errors import ConfigError
from proxylab.net.server import Server
from proxylab.net.tls import (
    LabCertificates,
    hsts_value,
    redirect_to_https,
    server_context_from_files,
)

pytestmark = pytest.mark.timeout(20)


def test_a_client_trusting_the_lab_ca_reaches_a_backend_through_the_proxy() -> None:
    with LabCertificates() as certs, kitchens("a") as (a,), \
            reverse_proxy([a.backend], ssl_context=certs.server_context()) as (server, _):  # fmt: skip
        assert server.url.startswith("https://")
        port = server.address[1]
        with httpx.Client(verify=certs.client_context(), trust_env=False) as client:
            response = client.get(f"https://localhost:{port}/menu")
            by_ip = client.get(f"https://127.0.0.1:{port}/menu")
        with pytest.raises(httpx.ConnectError), httpx.Client(trust_env=False) as untrusting:
            untrusting.get(
                f"https://localhost:{port}/"
            )  # the system store does not know the lab CA
    assert response.status_code == by_ip.status_code == 200
    assert response.json()["backend"] == "a"
    seen = {k.lower(): v for k, v in response.json()["headers"]}
    assert seen["x-forwarded-proto"] == "https"  # the backend itself saw plain HTTP
    assert "strict-transport-security" not in response.headers  # HSTS is opt-in


def test_hsts_only_over_tls() -> None:
    with LabCertificates() as certs, kitchens("a") as (a,):
        with reverse_proxy([a.backend], ssl_context=certs.server_context(), hsts=hsts_value()) as (server, _), \
                httpx.Client(verify=certs.client_context(), trust_env=False) as client:  # fmt: skip
            secure = client.get(f"https://localhost:{server.address[1]}/")
        with (
            reverse_proxy([a.backend], hsts=hsts_value()) as (server, _),
            httpx.Client(trust_env=False) as client,
        ):
            plain = client.get(f"{server.url}/")
    assert secure.headers["strict-transport-security"] == "max-age=31536000"
    assert "strict-transport-security" not in plain.headers  # RFC 6797 section 7.2


def test_http_is_redirected_to_https() -> None:
    with (
        Server(redirect_to_https(8443), ("127.0.0.1", 0)) as server,
        httpx.Client(trust_env=False) as client,
    ):
        port = server.address[1]
        get = client.get(f"http://localhost:{port}/menu?dish=soup")
        post = client.post(f"http://localhost:{port}/order", content=b"soup")
        with socket.create_connection(server.address) as sock:  # HTTP/1.1 without Host: 400
            sock.sendall(b"GET / HTTP/1.1\r\n\r\n")
            bad = sock.recv(4096)
    assert (get.status_code, get.headers["location"]) == (
        301,
        "https://localhost:8443/menu?dish=soup",
    )
    assert (post.status_code, post.headers["location"]) == (308, "https://localhost:8443/order")
    assert bad.startswith(b"HTTP/1.1 400")
    assert (
        hsts_value(60, include_subdomains=True, preload=True)
        == "max-age=60; includeSubDomains; preload"
    )


def test_exported_files_work_and_are_removed_on_close() -> None:
    certs = LabCertificates()
    cert, key = certs.cert_and_key_paths("localhost")
    assert Path(certs.ca_pem_path).read_text().startswith("-----BEGIN CERTIFICATE-----")
    assert oct(os.stat(key).st_mode & 0o777) == "0o600"
    context = server_context_from_files(cert, key)
    with (
        Server(lambda conn, req: None, ("127.0.0.1", 0), ssl_context=context) as server,
        socket.create_connection(server.address) as raw,
        certs.client_context().wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        assert tls.version() in ("TLSv1.2", "TLSv1.3")
    certs.close()
    assert not Path(cert).exists() and not Path(certs.ca_pem_path).exists()
    with pytest.raises(ConfigError):
        server_context_from_files(cert, key)


def test_contexts_check_host_names() -> None:
    with LabCertificates() as certs:
        context = certs.client_context()
        assert context.check_hostname and context.verify_mode is ssl.CERT_REQUIRED
