"""TLS lab: the certificate a live connection presents, and what a handshake costs.

``10_ssl_termination.ipynb`` looks at TLS from the diner's side of the waiter:

- ``peer_certificate`` opens a real TLS connection with the standard ``ssl`` module and
  reads back what the server proved: subject, issuer, subject alternative names (SAN),
  validity, and the protocol version and cipher the two sides agreed on. ``chain`` puts
  that certificate next to the CA certificate the client trusts and checks, with
  ``cryptography``, that the CA really signed it (RFC 5280 section 6: path validation).
- ``fetch`` sends one GET with ``http.client``, over a given connection or a new one, and
  ``time_requests`` measures many: a new connection (TCP and, for HTTPS, a full TLS
  handshake) for every request, or one kept-alive connection for all (RFC 9112
  section 9.3). ``handshake_times`` times the TCP connect and the TLS handshake alone.
  ``cost_chart`` draws the comparison. The gap is the work a reverse proxy takes off its
  backends when it terminates TLS and keeps pooled plain connections behind it.

Left out on purpose: session resumption and TLS 1.3 0-RTT (they make a *new* connection
cheaper; the standard ``ssl`` module exposes them only partly), OCSP, client certificates.

Layer 5 (an edge).
"""

from __future__ import annotations

import http.client
import socket
import ssl
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from proxylab.lab.figures import new_figure
from proxylab.metrics import percentile

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "Fetched",
    "PeerCertificate",
    "chain",
    "cost_chart",
    "fetch",
    "handshake_times",
    "peer_certificate",
    "time_requests",
]


@dataclass(frozen=True, slots=True)
class PeerCertificate:
    """What a server proved in one live handshake (as ``ssl.getpeercert`` reports it)."""

    subject: str
    issuer: str
    san: tuple[str, ...]
    not_before: str
    not_after: str
    serial: str
    tls_version: str
    cipher: str
    der: bytes

    def rows(self) -> list[dict[str, str]]:
        """The certificate as field/value rows, for a table."""
        return [
            {"field": "subject", "value": self.subject},
            {"field": "issuer", "value": self.issuer},
            {"field": "subject alternative names", "value": ", ".join(self.san)},
            {"field": "valid from", "value": self.not_before},
            {"field": "valid until", "value": self.not_after},
            {"field": "serial number", "value": self.serial},
            {"field": "protocol", "value": self.tls_version},
            {"field": "cipher", "value": self.cipher},
        ]


def _name(parts: Any) -> str:
    """``((('commonName', 'x'),), ...)`` -> ``commonName=x, ...`` (getpeercert's shape)."""
    return ", ".join(f"{key}={value}" for rdn in parts for key, value in rdn)


def _connect(address: tuple[str, int], source: str | None, timeout: float = 5.0) -> socket.socket:
    return socket.create_connection(address, timeout, (source, 0) if source else None)


def peer_certificate(
    address: tuple[str, int], server_name: str, context: ssl.SSLContext, source: str | None = None
) -> PeerCertificate:
    """Handshake with ``address`` as ``server_name`` (SNI, host check) and read its certificate.

    The handshake fails (``ssl.SSLCertVerificationError``) unless ``context`` trusts the
    issuer and the certificate names ``server_name``: what you see here was verified.
    """
    with (
        _connect(address, source) as raw,
        context.wrap_socket(raw, server_hostname=server_name) as tls,
    ):
        info: dict[str, Any] | None = tls.getpeercert()
        der = tls.getpeercert(binary_form=True) or b""
        cipher = tls.cipher()
        version = tls.version() or "?"
    assert info is not None  # a verifying context always has the peer's certificate
    return PeerCertificate(
        subject=_name(info.get("subject", ())),
        issuer=_name(info.get("issuer", ())),
        san=tuple(f"{kind}:{value}" for kind, value in info.get("subjectAltName", ())),
        not_before=str(info.get("notBefore", "")),
        not_after=str(info.get("notAfter", "")),
        serial=str(info.get("serialNumber", "")),
        tls_version=version,
        cipher=cipher[0] if cipher else "?",
        der=der,
    )


def chain(peer: PeerCertificate, ca_pem_path: str) -> list[dict[str, str]]:
    """The chain as rows: the server's certificate (from the wire), then the CA (trusted file).

    ``signed by the next`` is checked for real: the CA's public key verifies the leaf's
    signature, and the CA verifies its own (a root is self-signed).
    """
    from cryptography import x509

    leaf = x509.load_der_x509_certificate(peer.der)
    ca = x509.load_pem_x509_certificate(Path(ca_pem_path).read_bytes())
    return [
        _chain_row("server (sent in the handshake)", leaf, ca),
        _chain_row("CA (the client's trust file)", ca, ca),
    ]


def _chain_row(role: str, cert: Any, issuer: Any) -> dict[str, str]:
    try:
        cert.verify_directly_issued_by(issuer)
        verified = "yes" if cert is not issuer else "yes (self-signed root)"
    except Exception as error:  # noqa: BLE001 - show why, do not stop the lesson
        verified = f"no ({type(error).__name__})"
    return {
        "certificate": role,
        "subject": cert.subject.rfc4514_string(),
        "issuer": cert.issuer.rfc4514_string(),
        "is a CA": str(_is_ca(cert)),
        "signature checked": verified,
    }


def _is_ca(cert: Any) -> bool:
    from cryptography import x509

    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


# -- requests, timed ----------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Fetched:
    """One response: status, fields (lower-case names), body, and how long it took."""

    status: int
    headers: dict[str, str]
    body: bytes
    seconds: float


def _open(
    address: tuple[str, int], context: ssl.SSLContext | None, source: str | None
) -> http.client.HTTPConnection:
    host, port = address
    where = (source, 0) if source else None
    if context is None:
        return http.client.HTTPConnection(host, port, timeout=5, source_address=where)
    return http.client.HTTPSConnection(host, port, timeout=5, source_address=where, context=context)


def fetch(
    address: tuple[str, int],
    path: str,
    host: str,
    context: ssl.SSLContext | None = None,
    source: str | None = None,
    connection: http.client.HTTPConnection | None = None,
) -> Fetched:
    """``GET path`` with ``Host: host``, on ``connection`` or a new one (closed afterwards).

    ``context`` set means HTTPS; the certificate must then name ``address``'s IP (the
    lab's waiter certificate names its name and its address).
    """
    own = connection is None
    conn = _open(address, context, source) if connection is None else connection
    started = time.perf_counter()
    try:
        conn.request(
            "GET", path, headers={"Host": host, "Connection": "close" if own else "keep-alive"}
        )
        response = conn.getresponse()
        body = response.read()
    finally:
        if own:
            conn.close()
    seconds = time.perf_counter() - started
    headers = {name.lower(): value for name, value in response.getheaders()}
    return Fetched(response.status, headers, body, seconds)


def time_requests(
    address: tuple[str, int],
    path: str,
    host: str,
    requests: int,
    *,
    context: ssl.SSLContext | None = None,
    keep_alive: bool = True,
    source: str | None = None,
) -> list[float]:
    """Seconds per request for ``requests`` GETs: one kept-alive connection, or one each."""
    times = []
    conn = _open(address, context, source) if keep_alive else None
    try:
        for _ in range(requests):
            times.append(fetch(address, path, host, context, source, conn).seconds)
    finally:
        if conn is not None:
            conn.close()
    return times


def handshake_times(
    address: tuple[str, int],
    server_name: str,
    context: ssl.SSLContext,
    count: int,
    source: str | None = None,
) -> tuple[list[float], list[float]]:
    """Seconds for the TCP connect and for the TLS handshake, ``count`` times each."""
    connects, handshakes = [], []
    for _ in range(count):
        started = time.perf_counter()
        raw = _connect(address, source)
        connected = time.perf_counter()
        with context.wrap_socket(raw, server_hostname=server_name):
            connects.append(connected - started)
            handshakes.append(time.perf_counter() - connected)
    return connects, handshakes


def cost_chart(
    measured: dict[str, Sequence[float]], title: str = "What a new connection costs"
) -> Figure:
    """Median milliseconds per request for each way of asking (the median: robust to noise).

    Bars named "... kept ..." are drawn green (one kept-alive connection), the others red.
    """
    from matplotlib.patches import Patch

    figure, axes = new_figure(title, "", "milliseconds per request (median)", size=(10, 5),
                              margins=(0.9, 1.0, 0.3, 0.5))  # fmt: skip
    names = list(measured)
    medians = [percentile(measured[n], 0.5) * 1000 for n in names]
    kept, new = "#2a9d8f", "#c1121f"
    colours = [kept if "kept" in n else new for n in names]
    xs = list(range(len(names)))
    axes.bar(xs, medians, color=colours)
    for x, median in zip(xs, medians, strict=True):
        rate = f"\n{1000 / median:.0f} req/s" if median > 0 else ""
        axes.annotate(f"{median:.2f} ms{rate}", (x, median), xytext=(0, 4),
                      textcoords="offset points", ha="center", fontsize=11)  # fmt: skip
    axes.set_xticks(xs, [n.replace(", ", "\n") for n in names], fontsize=11)
    axes.set_ylim(0, max([0.1, *medians]) * 1.35)
    handles = [Patch(color=new, label="new connection each time"),
               Patch(color=kept, label="one kept-alive connection")]  # fmt: skip
    axes.legend(handles=handles, loc="upper right", fontsize=10)
    return figure
