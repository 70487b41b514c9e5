"""Who may use the forward proxy at all: client networks (Squid's ``http_access allow localnet``).

An open proxy on the internet is found and abused within hours, so the default is loopback
only; a lab or school network is opened on purpose, by naming it.

Layer 2: a pure policy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from proxylab.addresses import Network, parse_ip, parse_networks

__all__ = ["ClientAccess"]


@dataclass(frozen=True, slots=True)
class ClientAccess:
    """Who may use the proxy at all; loopback only by default (an open proxy gets abused)."""

    networks: Sequence[str] = ("127.0.0.0/8", "::1/128")
    _parsed: tuple[Network, ...] = field(init=False, repr=False, compare=False)
    _answers: dict[str, bool] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        parsed = parse_networks(self.networks, at_least_one=True)
        object.__setattr__(self, "networks", tuple(str(net) for net in parsed))
        object.__setattr__(self, "_parsed", parsed)
        object.__setattr__(self, "_answers", {})

    @classmethod
    def anyone(cls) -> ClientAccess:
        """Every IPv4 and IPv6 client: for a lab network you control, never the internet."""
        return cls(("0.0.0.0/0", "::/0"))

    def allows(self, client_ip: str) -> bool:
        """Whether ``client_ip`` may use the proxy; an unparsable address may not.

        Asked on every request, and clients are few: answers are remembered per address
        (at most 4096; a dict read and write are atomic, so threads may share it).
        """
        answer = self._answers.get(client_ip)
        if answer is None:
            address = parse_ip(client_ip)
            answer = address is not None and any(address in net for net in self._parsed)
            if len(self._answers) >= 4096:
                self._answers.clear()
            self._answers[client_ip] = answer
        return answer
