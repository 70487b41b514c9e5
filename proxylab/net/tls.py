"""TLS for the lab: a private certificate authority, server contexts, HTTP -> HTTPS.

A reverse proxy usually *terminates* TLS: browsers speak HTTPS to the proxy, which holds
the certificate and private key, decrypts, and talks plain HTTP to the backends on a
trusted network (nginx ``listen 443 ssl``, HAProxy ``bind :443 ssl crt``). The backends
learn that the client used HTTPS only from ``X-Forwarded-Proto: https``.

Key ideas:
- A certificate is trusted because a CA the client trusts signed it. For a lab on
  127.0.0.1 no public CA will sign, so ``LabCertificates`` makes a throw-away CA with
  ``trustme`` (the library the Python TLS ecosystem tests with) and issues certificates
  for ``localhost``/``127.0.0.1``. Clients trust the lab CA explicitly
  (``client_context()``, or ``curl --cacert ca_pem_path``), never the whole system.
- The standard ``ssl`` module does the cryptography; this module only builds contexts:
  TLS 1.2 at least, the library's default ciphers.
- ``redirect_to_https`` is the plain-HTTP listener most sites keep on port 80: it answers
  every request with a redirect to the same URL over HTTPS (301 for GET and HEAD, 308 for
  other methods because 308 keeps the method and body, RFC 9110 section 15.4.9).
- HSTS (RFC 6797) tells a browser to use HTTPS only for this host from now on. It must be
  sent over HTTPS only (section 7.2: "An HSTS Host MUST NOT include the STS header field
  in HTTP responses conveyed over non-secure transport"); ``hsts_value`` builds it and
  ``reverse`` adds it to TLS responses.

Left out on purpose: ACME/Let's Encrypt, OCSP stapling, client certificates (mTLS),
SNI-based certificate selection, session tickets tuning, TLS towards the backends.

Layer 3: ``ssl`` and files live here; the redirect handler plugs into ``server``.
"""

from __future__ import annotations

import html
import shutil
import ssl
import tempfile
import weakref
from pathlib import Path
from types import TracebackType
from typing import Any

from proxylab.errors import ConfigError, ProtocolError
from proxylab.http.messages import Headers, Request, Response, parse_target, reason_phrase
from proxylab.http.relaying import persistence_field
from proxylab.net.connection import ClientConnection
from proxylab.net.server import Handler

__all__ = [
    "DEFAULT_NAMES",
    "LabCertificates",
    "hsts_value",
    "redirect_to_https",
    "server_context_from_files",
]

#: The names a lab certificate covers unless told otherwise.
DEFAULT_NAMES: tuple[str, ...] = ("localhost", "127.0.0.1", "::1")


def _trustme() -> Any:
    """The trustme module, imported when a lab CA is first made (it comes with the lab extra).

    Imported here rather than at the top so that serving HTTPS with your own certificate
    files, and everything else in this module, works without it.
    """
    try:
        import trustme
    except ModuleNotFoundError:
        raise ConfigError(
            "Lab certificates need trustme: pip install 'proxylab[lab]' (in a clone of the "
            "repository: pip install -e '.[lab]'), or give your own certificate and key files."
        ) from None
    return trustme


class LabCertificates:
    """A private CA for the lab, with server and client contexts and exported PEM files.

    Files (the CA certificate, exported keys) go to a private temporary directory that
    ``close()`` removes; use it as a context manager. Certificates are issued once per
    set of names and cached.
    """

    def __init__(self, organization: str = "proxylab lab CA") -> None:
        self._ca: Any = _trustme().CA(organization_name=organization)
        self._issued: dict[tuple[str, ...], Any] = {}
        self._dir = Path(tempfile.mkdtemp(prefix="proxylab-tls-"))
        # close() removes the files; this also does it at exit if close() was forgotten
        self._cleanup = weakref.finalize(self, shutil.rmtree, self._dir, ignore_errors=True)
        self.ca_pem_path = str(self._dir / "proxylab-ca.pem")
        self._ca.cert_pem.write_to_path(self.ca_pem_path)

    def _leaf(self, names: tuple[str, ...]) -> Any:
        names = names or DEFAULT_NAMES
        if names not in self._issued:
            self._issued[names] = self._ca.issue_cert(*names)
        return self._issued[names]

    def server_context(self, *names: str) -> ssl.SSLContext:
        """A server-side context with a certificate for ``names`` (default: localhost...)."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        self._leaf(names).configure_cert(context)
        return context

    def client_context(self) -> ssl.SSLContext:
        """A client context that trusts the lab CA (and nothing else), checking host names."""
        context = ssl.create_default_context(cafile=self.ca_pem_path)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        return context

    def cert_and_key_paths(self, *names: str) -> tuple[str, str]:
        """Write the certificate chain and key for ``names`` to PEM files (for curl, nginx)."""
        leaf = self._leaf(names)
        stem = "-".join(n.replace(":", "_") for n in names or DEFAULT_NAMES)
        cert_path, key_path = self._dir / f"{stem}.crt", self._dir / f"{stem}.key"
        cert_path.write_bytes(b"".join(pem.bytes() for pem in leaf.cert_chain_pems))
        leaf.private_key_pem.write_to_path(str(key_path))
        key_path.chmod(0o600)
        return str(cert_path), str(key_path)

    def close(self) -> None:
        """Remove the temporary directory and every file written there."""
        self._cleanup()

    def __enter__(self) -> LabCertificates:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def server_context_from_files(cert: str, key: str) -> ssl.SSLContext:
    """A server context from a PEM certificate (chain) file and its private key file."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as error:
        raise ConfigError(f"Cannot load certificate {cert!r} with key {key!r}: {error}.") from None
    return context


def hsts_value(
    max_age: int = 31_536_000, include_subdomains: bool = False, preload: bool = False
) -> str:
    """A ``Strict-Transport-Security`` value (RFC 6797 section 6.1); one year by default."""
    value = f"max-age={max_age}"
    if include_subdomains:
        value += "; includeSubDomains"
    return value + "; preload" if preload else value


def redirect_to_https(https_port: int = 443) -> Handler:
    """A handler that sends every request to the same URL over HTTPS on ``https_port``.

    GET and HEAD get 301 (Moved Permanently); other methods get 308, which obliges the
    client to repeat the same method and body (RFC 9110 section 15.4.9).
    """

    def handle(conn: ClientConnection, request: Request) -> None:
        location = _https_location(request, https_port)
        status = 301 if request.method in ("GET", "HEAD") else 308
        link = html.escape(location)
        body = (
            f"<!doctype html><p>This site is served over HTTPS: <a href='{link}'>{link}</a></p>\n"
        )
        headers = Headers([
            ("Location", location),
            ("Content-Type", "text/html; charset=utf-8"),
            ("Content-Length", str(len(body))),
        ])  # fmt: skip
        if "content-length" in request.headers or "transfer-encoding" in request.headers:
            conn.keep_alive = False  # the body is not read: the connection cannot carry on
            headers.add("Connection", "close")
        persistence_field(request, headers, conn.keep_alive)
        payload = b"" if request.method == "HEAD" else body.encode()
        conn.send_response(Response(status, headers, reason_phrase(status)), payload)

    return handle


def _https_location(request: Request, https_port: int) -> str:
    """``https://host[:port]/path`` for ``request``; 400 if it names no host."""
    target = parse_target(request.method, request.target, request.headers.get("host"))
    if not target.host:
        raise ProtocolError("The request has no Host, so it cannot be redirected to HTTPS.")
    host = f"[{target.host}]" if ":" in target.host else target.host
    port = "" if https_port == 443 else f":{https_port}"
    path = target.path if target.path != "*" else "/"
    return f"https://{host}{port}{path}"
