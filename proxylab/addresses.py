"""Addresses: ``host:port`` pairs, IP addresses and networks, parsed in one place.

Both proxies, their command lines and their policies read addresses: where to listen
(``127.0.0.1:8080``), which clients may use the proxy (``10.0.0.0/8``), which proxies in
front of the waiter are trusted to say who the client was. Each spelling is parsed here,
once, with an error that says what was expected, so no other module writes its own.

Key idea: an IPv4 client on a dual-stack socket is reported as ``::ffff:10.0.0.1``;
``parse_ip`` unwraps it, so a rule for ``10.0.0.0/8`` matches it.

Layer 0: imports only ``errors``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from typing import TypeAlias

from proxylab.errors import ConfigError

__all__ = [
    "Address",
    "Network",
    "in_networks",
    "parse_host_port",
    "parse_ip",
    "parse_networks",
]

Address: TypeAlias = ipaddress.IPv4Address | ipaddress.IPv6Address
Network: TypeAlias = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_host_port(text: str, default_host: str = "127.0.0.1") -> tuple[str, int]:
    """``"HOST:PORT"``, ``":PORT"`` or ``"PORT"`` -> ``(host, port)`` with a clear error."""
    host, sep, port_text = text.rpartition(":")
    if not sep:
        host, port_text = "", text
    host = host.strip("[]") or default_host
    if not port_text.isdigit() or not 0 <= int(port_text) < 65536:
        raise ConfigError(f"Bad address {text!r}: expected HOST:PORT, e.g. 127.0.0.1:8080.")
    return host, int(port_text)


def parse_ip(text: str) -> Address | None:
    """The address as an IP object (``::ffff:10.0.0.1`` becomes IPv4), or None if it is none."""
    try:
        address = ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped  # a dual-stack socket reports IPv4 clients this way
    return address


def parse_networks(items: Sequence[str] | str, at_least_one: bool = False) -> tuple[Network, ...]:
    """Parse networks once; a plain address is a network of one (/32 or /128).

    ``at_least_one`` is for settings where an empty list would mean "nobody" by accident
    (the clients a rule applies to); an empty list of trusted proxies is a fine default.
    """
    networks: list[Network] = []
    for item in (items,) if isinstance(items, str) else items:
        try:
            networks.append(ipaddress.ip_network(item.strip(), strict=False))
        except ValueError:
            msg = f"{item!r} is not an IP address or network (10.1.0.0/16, ::1)."
            raise ConfigError(msg) from None
    if at_least_one and not networks:
        raise ConfigError("Give at least one client address or network.")
    return tuple(networks)


def in_networks(ip: str, networks: Sequence[Network]) -> bool:
    """Is the address ``ip`` inside one of ``networks``? (False for a malformed address.)"""
    address = parse_ip(ip)
    return address is not None and any(address in network for network in networks)
