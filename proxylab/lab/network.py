"""The lab's network: who gets which loopback address, and clients that know lab names.

Two small problems stand between a notebook and a realistic lab on one machine:

- Addresses. Every ``127.x.y.z`` address is loopback on Linux and Windows, so each role
  can have its own: "you" are ``127.0.0.10``, the forward proxy ``127.0.0.2``, the waiter
  ``127.0.0.3``, sites ``127.0.0.2x`` and kitchens ``127.0.0.3x``. A site then *sees* a
  different address with and without a proxy. Stock macOS has only ``127.0.0.1``;
  ``LabAddresses.detect`` tries to bind ``127.0.0.2`` and otherwise puts everyone on
  ``127.0.0.1`` (only ports differ).
- Names. ``news.test`` resolves nowhere. The forward proxy maps names itself (its
  ``resolve`` setting); a direct client needs the same map. ``make_client`` returns an
  httpx client whose transport sends requests for lab names to the mapped address while
  keeping the ``Host`` field and the TLS server name, like an ``/etc/hosts`` that also
  knows ports. Its connections start from "you" (httpx's ``local_address``).

Left out on purpose: IPv6 loopback, real DNS.

Layer 5 (an edge).
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import httpcore
import httpx

__all__ = ["LabAddresses", "loopback_aliases_work", "make_client"]


def loopback_aliases_work(address: str = "127.0.0.2") -> bool:
    """Can this machine bind ``address``? True on Linux and Windows, False on stock macOS."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind((address, 0))
    except OSError:
        return False
    return True


@dataclass(frozen=True, slots=True)
class LabAddresses:
    """Who is where: the client ("you"), the forward proxy, the waiter, sites and kitchens.

    With ``distinct`` False every role is ``127.0.0.1`` and only the ports differ.
    """

    distinct: bool
    you: str = "127.0.0.10"
    proxy: str = "127.0.0.2"
    waiter: str = "127.0.0.3"

    @classmethod
    def detect(cls, distinct: bool | None = None) -> LabAddresses:
        """Distinct addresses where the OS allows them (or as forced by ``distinct``)."""
        if distinct is None:
            distinct = loopback_aliases_work()
        return cls(True) if distinct else cls(False, "127.0.0.1", "127.0.0.1", "127.0.0.1")

    def site(self, index: int) -> str:
        """The address of the ``index``-th site (127.0.0.20 + index)."""
        return f"127.0.0.{20 + index % 10}" if self.distinct else "127.0.0.1"

    def kitchen(self, index: int) -> str:
        """The address of the ``index``-th kitchen or black hole (127.0.0.30 + index)."""
        return f"127.0.0.{30 + index % 200}" if self.distinct else "127.0.0.1"


class _LabTransport(httpx.BaseTransport):
    """Sends requests for lab names to the addresses in the resolver, keeping ``Host``.

    The URL's host is swapped for the real address only while the request is sent; the
    ``Host`` field and, for HTTPS, the TLS server name (``sni_hostname``) stay the name,
    so certificates and virtual hosts work as on the real web.
    """

    def __init__(self, inner: httpx.BaseTransport, resolver: Mapping[str, tuple[str, int]]) -> None:
        self.inner = inner
        self.resolver = resolver

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` to the resolved address (or as is, for names not in the lab)."""
        original = request.url
        mapped = self.resolver.get(original.host)
        if mapped is None:
            return self.inner.handle_request(request)
        if original.scheme == "https":
            request.extensions["sni_hostname"] = original.host
        request.url = original.copy_with(host=mapped[0], port=mapped[1])
        try:
            return self.inner.handle_request(request)
        finally:
            request.url = original

    def close(self) -> None:
        """Close the wrapped transport's connections."""
        self.inner.close()


class _FromAddress(httpcore.SyncBackend):
    """httpcore's network backend, but every TCP connection starts from one local address."""

    def __init__(self, local_address: str) -> None:
        self.local_address = local_address

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        """Connect to ``host:port`` from our local address (unless another is asked for)."""
        address = local_address or self.local_address
        return super().connect_tcp(host, port, timeout, address, socket_options)


def _proxy_transport(
    proxy_url: str, local_address: str, verify: ssl.SSLContext | bool
) -> httpx.HTTPTransport:
    """An httpx transport through ``proxy_url`` whose connections start at ``local_address``.

    httpx (0.28) and httpcore do not apply ``local_address`` to connections made for a
    proxy, so the transport's pool is rebuilt with a network backend that binds every
    socket. If httpx's insides change, the transport still works, only from the default
    source address (the proxy then sees 127.0.0.1 as the client).
    """
    transport = httpx.HTTPTransport(proxy=proxy_url, verify=verify, trust_env=False)
    if hasattr(transport, "_pool"):
        proxy = httpx.URL(proxy_url)
        transport._pool.close()
        transport._pool = httpcore.HTTPProxy(
            proxy_url=httpcore.URL(
                scheme=proxy.raw_scheme, host=proxy.raw_host, port=proxy.port, target=b"/"
            ),
            ssl_context=verify if isinstance(verify, ssl.SSLContext) else None,
            network_backend=_FromAddress(local_address),
        )
    return transport


def make_client(
    resolver: Mapping[str, tuple[str, int]],
    local_address: str,
    proxy_url: str | None = None,
    verify: ssl.SSLContext | bool = True,
    timeout: float = 5.0,
    **options: Any,
) -> httpx.Client:
    """An httpx client connecting from ``local_address``, through ``proxy_url`` or directly.

    Direct clients resolve lab names with ``resolver``; through a proxy, the proxy does.
    Environment proxy settings are ignored (``trust_env=False``): the lab is self-contained.
    """
    if proxy_url is None:
        inner = httpx.HTTPTransport(local_address=local_address, verify=verify, trust_env=False)
        transport: httpx.BaseTransport = _LabTransport(inner, resolver)
    else:
        transport = _proxy_transport(proxy_url, local_address, verify)
    return httpx.Client(transport=transport, timeout=timeout, trust_env=False, **options)
