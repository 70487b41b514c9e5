"""Reference for exercise 02 (anonymity): ``proxylab.forward.privacy.PrivacyPolicy``.

The exercise passes header fields as a list of ``(name, value)`` pairs; the policy's
``apply`` rewrites them for one privacy level and the result is handed back as pairs.

Layer 5 (an edge).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from proxylab.forward.privacy import PrivacyPolicy
from proxylab.http.messages import Headers

__all__ = ["forward_headers"]


def forward_headers(
    headers: Sequence[tuple[str, str]],
    client_ip: str,
    level: str = "anonymous",
    scrub: Collection[str] = (),
) -> list[tuple[str, str]]:
    """The header fields the origin sees when the proxy forwards a request at ``level``."""
    policy = PrivacyPolicy.from_names(level, list(scrub))  # ConfigError is a ValueError
    return list(policy.apply(Headers(headers), client_ip).headers)
