"""10_ssl_termination: its questions (right answers from the running lab) and the tls_lab helpers."""

from __future__ import annotations

import json
import ssl
from collections.abc import Iterator

import pytest

from proxylab.course.checks import check
from proxylab.course.failover_lab import raw_exchange
from proxylab.course.tls_lab import (
    chain,
    cost_chart,
    fetch,
    handshake_times,
    peer_certificate,
    time_requests,
)
from proxylab.lab import Lab, ReverseRun
from proxylab.net.server import Server
from proxylab.net.tls import LabCertificates, hsts_value, redirect_to_https
from proxylab.reverse.proxy import ReverseProxy

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def lab() -> Iterator[Lab]:
    with Lab(sites=()) as running:
        yield running


@pytest.fixture
def waiter(lab: Lab) -> ReverseRun:
    return lab.reverse_proxy(lab.kitchens(2), tls=True, hsts=hsts_value())


# -- the questions ------------------------------------------------------------------------
def test_forwarded_proto_is_what_the_kitchen_saw(lab: Lab, waiter: ReverseRun) -> None:
    seen = lab.client().get(f"{waiter.url}/whoami").json()
    proto = dict((n.lower(), v) for n, v in seen["headers"])["x-forwarded-proto"]
    assert check("10.forwarded_proto", proto) and check("10.forwarded_proto", " HTTPS ")
    assert not check("10.forwarded_proto", "http") and not check("10.forwarded_proto", "tls")


def test_redirect_status_for_a_post_is_what_the_listener_sends(lab: Lab) -> None:
    with Server(redirect_to_https(8443), (lab.addresses.waiter, 0)) as redirector:
        post = (
            b"POST /o HTTP/1.1\r\nHost: w.test\r\nContent-Length: 1\r\nConnection: close\r\n\r\nx"
        )
        get = b"GET /o HTTP/1.1\r\nHost: w.test\r\nConnection: close\r\n\r\n"
        post_status = int(raw_exchange(redirector.address, post).split(b" ")[1])
        get_status = int(raw_exchange(redirector.address, get).split(b" ")[1])
    assert check("10.redirect_post_status", post_status)
    assert not check("10.redirect_post_status", get_status)  # 301: fine for GET, not for POST
    assert not check("10.redirect_post_status", 302)


def test_hsts_is_only_sent_over_https(lab: Lab, waiter: ReverseRun) -> None:
    plain = lab.reverse_proxy(list(waiter.kitchens), name="plain.test", hsts=hsts_value())
    diner = lab.client()
    assert "strict-transport-security" in diner.get(f"{waiter.url}/order").headers
    stored = "strict-transport-security" in diner.get(f"{plain.url}/order").headers
    assert check("10.hsts_over_http", stored) and check("10.hsts_over_http", "no")
    assert not check("10.hsts_over_http", True) and not check("10.hsts_over_http", "yes")


def test_handshakes_for_100_requests_are_counted_at_the_waiter(lab: Lab) -> None:
    """A server context that counts handshakes (SNI callback: once per handshake)."""
    handshakes: list[str | None] = []
    context = lab.certificates.server_context("waiter.test", lab.addresses.waiter)
    context.sni_callback = lambda sock, name, ctx: handshakes.append(name)  # type: ignore[assignment, misc]
    kitchen = lab.kitchen("k")
    proxy = ReverseProxy(backends=[kitchen.backend])
    with proxy.serve((lab.addresses.waiter, 0), ssl_context=context) as server:
        trust = lab.certificates.client_context()
        time_requests(server.address, "/order", "waiter.test", 100, context=trust)
    assert check("10.handshakes_for_100", len(handshakes))
    assert not check("10.handshakes_for_100", 100) and not check("10.handshakes_for_100", 0)


def test_hints_do_not_give_the_answers_away() -> None:
    assert "https" not in check("10.forwarded_proto", "x").message.lower()
    assert "308" not in check("10.redirect_post_status", 0).message
    assert "false" not in check("10.hsts_over_http", True).message.lower()


# -- the helpers --------------------------------------------------------------------------
def test_the_certificate_and_chain_are_read_from_the_live_connection(
    lab: Lab, waiter: ReverseRun
) -> None:
    trust = lab.certificates.client_context()
    peer = peer_certificate(waiter.server.address, waiter.name, trust, lab.addresses.you)
    assert "DNS:waiter.test" in peer.san and "proxylab lab CA" in peer.issuer
    assert peer.tls_version.startswith("TLSv1.") and peer.der and peer.not_after
    rows = chain(peer, lab.certificates.ca_pem_path)
    assert [row["signature checked"] for row in rows] == ["yes", "yes (self-signed root)"]
    assert [row["is a CA"] for row in rows] == ["False", "True"]
    other = lab.reverse_proxy(list(waiter.kitchens), tls=True, name="other.test")
    foreign = peer_certificate(other.server.address, other.name, trust)
    with LabCertificates() as stranger:  # another CA did not sign this one
        assert chain(foreign, stranger.ca_pem_path)[0]["signature checked"].startswith("no")
    with pytest.raises(ssl.SSLCertVerificationError):
        peer_certificate(waiter.server.address, "bank.test", trust)
    with pytest.raises(ssl.SSLCertVerificationError):
        peer_certificate(waiter.server.address, waiter.name, ssl.create_default_context())


def test_fetch_and_timings(lab: Lab, waiter: ReverseRun) -> None:
    trust, you = lab.certificates.client_context(), lab.addresses.you
    answer = fetch(waiter.server.address, "/whoami", waiter.name, trust, you)
    assert answer.status == 200 and answer.headers["strict-transport-security"]
    ports = {
        json.loads(fetch(waiter.server.address, "/whoami", waiter.name, trust, you).body)[
            "remote_port"
        ]
        for _ in range(6)
    }
    assert len(ports) <= 2  # six new TLS connections, the waiter's pooled ones to 2 kitchens
    new = time_requests(waiter.server.address, "/order", waiter.name, 5, context=trust,
                        keep_alive=False)  # fmt: skip
    kept = time_requests(waiter.server.address, "/order", waiter.name, 5, context=trust)
    assert len(new) == len(kept) == 5 and all(t > 0 for t in new + kept)
    connects, handshakes = handshake_times(waiter.server.address, waiter.name, trust, 3)
    assert len(connects) == len(handshakes) == 3 and min(handshakes) > 0
    figure = cost_chart(
        {"HTTPS, new connection each time": new, "HTTPS, one kept-alive connection": kept}
    )
    axes = figure.axes[0]
    assert axes.get_title() and "milliseconds" in axes.get_ylabel()
    assert len(axes.patches) == 2 and any("req/s" in t.get_text() for t in axes.texts)
