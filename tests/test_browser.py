"""A real browser (headless Chromium) through the forward proxy: HTTP and HTTPS via CONNECT.

The proxy runs in allow-list mode for the test's own site only, so whatever else the
browser tries to reach (its update and sign-in services) is refused by the proxy with a
403 and never leaves the machine; the tests check that too.
"""

from __future__ import annotations

import base64
import hashlib
import shutil
import ssl
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from helpers import wait_for_event
from origins import TEXT, Origin

from proxylab.forward.filters import FilterPolicy
from proxylab.forward.proxy import ForwardProxy
from proxylab.metrics import Event

CHROMIUM = next(
    (
        found
        for name in ("chromium", "chromium-browser", "google-chrome")
        if (found := shutil.which(name))
    ),
    None,
)
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="Chromium is not installed (Debian: apt-get install chromium)"
)

StartProxy = Callable[..., Any]
QUIET = (  # no background traffic worth the name: it would only meet the proxy's 403
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-default-apps",
    "--disable-domain-reliability",
    "--disable-sync",
    "--no-first-run",
    "--no-pings",
)


def browse(proxy_url: str, url: str, profile: Path, *flags: str) -> str:
    """The page at ``url`` as Chromium renders it (its DOM), fetched through the proxy."""
    command = [
        str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", *QUIET,
        f"--user-data-dir={profile}", f"--proxy-server={proxy_url}", *flags, "--dump-dom", url,
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def only_our_site_went_out(proxy: ForwardProxy) -> None:
    """Every exchange for another host was refused by the proxy, so none reached out."""
    others = [e for e in proxy.events.snapshot() if "origin.test" not in e.target]
    assert all(e.decision == "blocked" and e.status == 403 and not e.upstream for e in others)


def test_a_browser_fetches_a_page_through_the_proxy(
    forward_proxy: StartProxy, origin: Origin, tmp_path: Path
) -> None:
    server, proxy = forward_proxy(filters=FilterPolicy.from_patterns(allow=["origin.test"]))
    page = browse(server.url, "http://origin.test/text", tmp_path)
    assert TEXT.decode().strip().splitlines()[0] in page
    event: Event = wait_for_event(proxy.events, lambda e: e.target == "http://origin.test/text")
    assert event.status == 200 and event.decision == "allowed"
    only_our_site_went_out(proxy)


@pytest.fixture
def tls_origin() -> Iterator[tuple[Origin, str]]:
    """An HTTPS origin for origin.test and the SPKI pin of its certificate for Chromium."""
    leaf = trustme.CA().issue_cert("origin.test")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    leaf.configure_cert(context)
    certificate = x509.load_pem_x509_certificate(leaf.cert_chain_pems[0].bytes())
    spki = certificate.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    with Origin(ssl_context=context) as running:
        yield running, base64.b64encode(hashlib.sha256(spki).digest()).decode()


def test_a_browser_opens_https_through_a_connect_tunnel(
    forward_proxy: StartProxy, tls_origin: tuple[Origin, str], tmp_path: Path
) -> None:
    origin, pin = tls_origin
    server, proxy = forward_proxy(
        resolve={"origin.test": ("127.0.0.1", origin.port)},
        connect_ports=frozenset({origin.port}),
        filters=FilterPolicy.from_patterns(allow=["origin.test"]),
    )
    # the pin trusts exactly this certificate (Chromium honours it with --user-data-dir)
    trust = f"--ignore-certificate-errors-spki-list={pin}"
    page = browse(server.url, f"https://origin.test:{origin.port}/text", tmp_path, trust)
    assert TEXT.decode().strip().splitlines()[0] in page
    # the browser may open a spare tunnel too; the page came through one of them
    tunnel = wait_for_event(proxy.events, lambda e: e.kind == "tunnel" and e.bytes_out > len(TEXT))
    assert tunnel.target == f"origin.test:{origin.port}" and tunnel.status == 200
    only_our_site_went_out(proxy)
