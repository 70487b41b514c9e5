"""The forward proxy with real clients (httpx, urllib, requests, curl) and real origins."""

from __future__ import annotations

import json
import shutil
import ssl
import subprocess
import threading
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import trustme
from helpers import raw_exchange, wait_for_event
from origins import BINARY, TEXT, BlackHole, Origin

from proxylab.errors import ConfigError
from proxylab.forward.accesslog import squid_line
from proxylab.forward.proxy import ForwardProxy, ForwardSettings
from proxylab.net.connection import Timeouts

StartProxy = Callable[..., Any]


def direct(origin: Origin, path: str) -> bytes:
    return httpx.get(f"http://127.0.0.1:{origin.port}{path}").content


# -- real clients fetch byte-identical content -------------------------------------------


@pytest.mark.parametrize("path", ["/text", "/binary"])
def test_httpx_through_proxy_is_byte_identical(
    forward_proxy: StartProxy, origin: Origin, path: str
) -> None:
    server, _ = forward_proxy()
    with httpx.Client(proxy=server.url) as client:
        response = client.get(f"http://origin.test{path}")
    assert response.status_code == 200
    assert response.content == direct(origin, path) == (TEXT if path == "/text" else BINARY)


@pytest.mark.parametrize("path", ["/text", "/binary"])
def test_urllib_through_proxy(forward_proxy: StartProxy, origin: Origin, path: str) -> None:
    server, _ = forward_proxy()
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({"http": server.url}))
    with opener.open(f"http://origin.test{path}", timeout=10) as reply:
        assert reply.read() == direct(origin, path)


@pytest.mark.parametrize("path", ["/text", "/binary"])
def test_requests_through_proxy(forward_proxy: StartProxy, origin: Origin, path: str) -> None:
    requests = pytest.importorskip("requests")
    server, _ = forward_proxy()
    with requests.Session() as session:
        session.trust_env = False
        reply = session.get(f"http://origin.test{path}", proxies={"http": server.url}, timeout=10)
    assert reply.content == direct(origin, path)


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
@pytest.mark.parametrize("path", ["/text", "/binary"])
def test_curl_through_proxy(forward_proxy: StartProxy, origin: Origin, path: str) -> None:
    server, _ = forward_proxy()
    result = subprocess.run(
        ["curl", "-sS", "--noproxy", "", "-x", server.url, f"http://origin.test{path}"],
        capture_output=True,
        timeout=30,
        check=True,
    )
    assert result.stdout == direct(origin, path)


def test_post_bodies_stream_both_ways(forward_proxy: StartProxy) -> None:
    server, _ = forward_proxy()
    body = b"x" * 300_000
    with httpx.Client(proxy=server.url) as client:
        fixed = client.post("http://origin.test/upload", content=body)
        chunked = client.post("http://origin.test/upload", content=iter([body[:1000], body[1000:]]))
    assert fixed.content.endswith(b" 300000") and chunked.content == fixed.content


def test_chunked_response_is_passed_on(forward_proxy: StartProxy) -> None:
    server, _ = forward_proxy()
    with httpx.Client(proxy=server.url) as client:
        assert client.get("http://origin.test/chunked").content == b"first-second-third"


def test_three_requests_on_one_client_connection_reuse_one_upstream(
    forward_proxy: StartProxy, origin: Origin
) -> None:
    server, proxy = forward_proxy()
    with httpx.Client(proxy=server.url) as client:
        for _ in range(3):
            assert client.get("http://origin.test/text").status_code == 200
    assert origin.accepted == 1
    assert proxy.pool.opened == 1


def test_an_origin_that_never_answers_does_not_hold_up_others(
    forward_proxy: StartProxy, blackhole: BlackHole
) -> None:
    timeouts = Timeouts(upstream_read=2.0)
    server, _ = forward_proxy(
        resolve={"hole.test": ("127.0.0.1", blackhole.port)}, timeouts=timeouts
    )
    stuck: dict[str, int] = {}
    started = threading.Event()

    def ask_the_hole() -> None:
        with httpx.Client(proxy=server.url, timeout=10) as client:
            started.set()
            stuck["status"] = client.get("http://hole.test/").status_code

    thread = threading.Thread(target=ask_the_hole)
    thread.start()
    started.wait(5)
    with httpx.Client(proxy=server.url, timeout=5) as client:
        for _ in range(5):
            assert client.get("http://origin.test/text").status_code == 200
    thread.join(10)
    assert stuck["status"] == 504


def test_unreachable_origin_gives_502_with_a_short_page(forward_proxy: StartProxy) -> None:
    free = BlackHole()
    port = free.port
    free.sock.close()  # nothing listens there any more
    server, _ = forward_proxy(resolve={"gone.test": ("127.0.0.1", port)})
    with httpx.Client(proxy=server.url) as client:
        response = client.get("http://gone.test/")
    assert response.status_code == 502
    assert "text/html" in response.headers["content-type"]
    assert b"Traceback" not in response.content and len(response.content) < 2000


def test_the_event_of_an_error_page_counts_the_bytes_the_client_got(
    forward_proxy: StartProxy,
) -> None:
    """Squid logs the size of the error page it sent; so does the event (and access log)."""
    free = BlackHole()
    port = free.port
    free.sock.close()
    server, proxy = forward_proxy(resolve={"gone.test": ("127.0.0.1", port)})
    received = raw_exchange(
        server.address, b"GET http://gone.test/ HTTP/1.1\r\nHost: gone.test\r\n\r\n"
    )
    assert received.startswith(b"HTTP/1.1 502 ")
    event = wait_for_event(proxy.events, lambda e: e.target == "http://gone.test/")
    assert (event.status, event.bytes_out) == (502, len(received))


def test_origin_form_request_to_the_proxy_is_a_clear_400(forward_proxy: StartProxy) -> None:
    server, _ = forward_proxy()
    response = httpx.get(server.url + "/")
    assert response.status_code == 400
    assert b"forward proxy" in response.content


# -- CONNECT -----------------------------------------------------------------------------


@pytest.fixture
def tls_origin() -> Iterator[tuple[Origin, trustme.CA]]:
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("origin.test").configure_cert(context)
    with Origin(ssl_context=context) as running:
        yield running, ca


def test_https_through_connect_with_verification(
    forward_proxy: StartProxy, tls_origin: tuple[Origin, trustme.CA]
) -> None:
    origin, ca = tls_origin
    server, proxy = forward_proxy(
        resolve={"origin.test": ("127.0.0.1", origin.port)}, connect_ports=frozenset({origin.port})
    )
    verify = ssl.create_default_context()
    ca.configure_trust(verify)
    with httpx.Client(proxy=server.url, verify=verify) as client:
        response = client.get(f"https://origin.test:{origin.port}/binary")
    assert response.content == BINARY
    tunnel = wait_for_event(proxy.events, lambda e: e.kind == "tunnel")  # recorded at its end
    assert tunnel.target == f"origin.test:{origin.port}" and tunnel.status == 200
    assert tunnel.bytes_out > len(BINARY)


def test_connect_outside_the_port_policy_is_403(forward_proxy: StartProxy, origin: Origin) -> None:
    server, proxy = forward_proxy()
    reply = raw_exchange(
        server.address, f"CONNECT origin.test:{origin.port} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
    )
    assert reply.startswith(b"HTTP/1.1 403 ")
    assert b"port" in reply
    event = wait_for_event(proxy.events, lambda e: e.kind == "tunnel")
    assert (event.decision, event.rule, event.upstream) == ("blocked", "CONNECT ports 443", "")
    assert "TCP_DENIED/403" in squid_line(event)  # as Squid logs a CONNECT it refuses


# -- privacy -----------------------------------------------------------------------------


def seen_headers(server_url: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    with httpx.Client(proxy=server_url) as client:
        data = client.get("http://origin.test/headers", headers=extra or {}).json()
    return {name.lower(): value for name, value in data["headers"]}


@pytest.mark.parametrize(
    ("level", "via", "xff"),
    [
        ("transparent", True, "10.9.8.7, 127.0.0.1"),
        ("anonymous", True, None),
        ("elite", False, None),
    ],
)
def test_privacy_levels_match_the_table(
    forward_proxy: StartProxy, level: str, via: bool, xff: str | None
) -> None:
    from proxylab.forward.privacy import PrivacyPolicy

    server, _ = forward_proxy(privacy=PrivacyPolicy.from_names(level))
    seen = seen_headers(server.url, {"X-Forwarded-For": "10.9.8.7", "Forwarded": "for=10.9.8.7"})
    assert ("via" in seen) is via
    if via:
        assert "proxylab" in seen["via"]
    assert seen.get("x-forwarded-for") == xff
    assert ("forwarded" in seen) is (level == "transparent")
    if level == "elite":
        assert not any("proxy" in name or "proxylab" in value for name, value in seen.items())


def test_scrubbing_removes_identifying_headers(forward_proxy: StartProxy) -> None:
    from proxylab.forward.privacy import PrivacyPolicy

    server, _ = forward_proxy(
        privacy=PrivacyPolicy.from_names("anonymous", ["user-agent", "cookie"])
    )
    seen = seen_headers(server.url, {"Cookie": "id=42", "User-Agent": "student-browser"})
    assert "cookie" not in seen and "user-agent" not in seen


def test_a_request_carrying_our_via_is_a_loop(forward_proxy: StartProxy) -> None:
    server, _ = forward_proxy()
    with httpx.Client(proxy=server.url) as client:
        response = client.get("http://origin.test/text", headers={"Via": "1.1 proxylab"})
    assert response.status_code == 508


def test_hop_by_hop_headers_are_not_forwarded(forward_proxy: StartProxy) -> None:
    server, _ = forward_proxy()
    seen = seen_headers(
        server.url, {"Connection": "keep-alive, X-Secret", "X-Secret": "1", "TE": "trailers"}
    )
    assert "x-secret" not in seen and "te" not in seen and "proxy-connection" not in seen


# -- authentication and access -------------------------------------------------------------


def test_basic_proxy_authentication(forward_proxy: StartProxy) -> None:
    server, proxy = forward_proxy(auth=("ada", "lovelace"))
    with httpx.Client(proxy=server.url) as client:
        refused = client.get("http://origin.test/text")
    assert refused.status_code == 407
    assert refused.headers["proxy-authenticate"].startswith("Basic")
    event = wait_for_event(proxy.events, lambda e: e.status == 407)
    assert (event.decision, event.rule, event.upstream) == ("blocked", "proxy authentication", "")
    host, port = server.address
    with httpx.Client(proxy=f"http://ada:lovelace@{host}:{port}") as client:
        assert client.get("http://origin.test/text").status_code == 200
    with httpx.Client(proxy=f"http://ada:wrong@{host}:{port}") as client:
        assert client.get("http://origin.test/text").status_code == 407


def test_clients_outside_the_allowed_networks_are_refused(forward_proxy: StartProxy) -> None:
    from proxylab.forward.access import ClientAccess

    server, proxy = forward_proxy(access=ClientAccess(("10.0.0.0/8",)))
    with httpx.Client(proxy=server.url) as client:
        assert client.get("http://origin.test/text").status_code == 403
    event = wait_for_event(proxy.events, lambda e: e.status == 403)
    assert (event.decision, event.upstream) == ("blocked", "")
    assert event.rule == "client not in the allowed networks"


def test_user_name_with_colon_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="cannot contain"):
        ForwardProxy(ForwardSettings(auth=("a:b", "c")))


# -- events and access log ---------------------------------------------------------------


def test_each_exchange_becomes_an_event(forward_proxy: StartProxy) -> None:
    server, proxy = forward_proxy()
    with httpx.Client(proxy=server.url) as client:
        client.get("http://origin.test/text")
    event = wait_for_event(proxy.events, lambda e: e.source == "forward")
    assert (event.source, event.method, event.status) == ("forward", "GET", 200)
    assert event.target == "http://origin.test/text"
    assert event.bytes_out > len(TEXT) and event.duration > 0 and event.decision == "allowed"


def test_access_log_formats(tmp_path: Any, forward_proxy: StartProxy) -> None:
    from proxylab.forward.accesslog import AccessLog

    server, proxy = forward_proxy()
    squid, common = (
        AccessLog(str(tmp_path / "squid.log")),
        AccessLog(str(tmp_path / "clf.log"), "common"),
    )
    proxy.events.subscribe(squid.record)
    proxy.events.subscribe(common.record)
    with httpx.Client(proxy=server.url) as client:
        client.get("http://origin.test/text")
    wait_for_event(proxy.events, lambda e: e.target == "http://origin.test/text")
    squid.close()
    common.close()
    squid_fields = (tmp_path / "squid.log").read_text().split()
    assert squid_fields[2] == "127.0.0.1" and squid_fields[3].endswith("/200")
    assert squid_fields[5:7] == ["GET", "http://origin.test/text"]
    assert '"GET http://origin.test/text HTTP/1.1" 200' in (tmp_path / "clf.log").read_text()


def test_access_log_lines_reach_the_file_without_more_traffic(tmp_path: Any) -> None:
    from proxylab.forward.accesslog import AccessLog
    from proxylab.lab.lab import wait_until
    from proxylab.metrics import Event

    path = tmp_path / "squid.log"
    with AccessLog(str(path), flush_interval=0.01) as log:
        log.record(Event(1.0, "forward", client="127.0.0.1", method="GET", target="http://a.test/"))
        # no close, no further record: the background flush alone must bring the line out
        assert wait_until(lambda: "http://a.test/" in path.read_text(), timeout=5.0)
    assert not log._flusher.is_alive()
    log.record(Event(2.0, "forward"))  # after close: ignored, no error


def test_json_event_rows(forward_proxy: StartProxy) -> None:
    server, proxy = forward_proxy()
    with httpx.Client(proxy=server.url) as client:
        client.get("http://origin.test/text")
    wait_for_event(proxy.events, lambda e: e.source == "forward")
    assert json.dumps(proxy.events.rows())
