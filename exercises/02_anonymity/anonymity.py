"""Exercise 02: anonymity, the header fields a forward proxy removes or adds per privacy level.

Write ``forward_headers`` (see README.md for the whole task and the points). The proxy has
already opened its own connection to the origin, so the origin sees the proxy's address;
what it learns about the client now depends only on the header fields you pass on.

Run the grader with ``proxylab grade 02`` (or ``pytest exercises/02_anonymity``).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

#: Fields that carry a client's address (sent by clients, other proxies or CDNs).
CLIENT_IP_HEADERS = frozenset(
    {
        "x-forwarded-for",
        "forwarded",
        "x-real-ip",
        "client-ip",
        "x-client-ip",
        "true-client-ip",
        "x-cluster-client-ip",
        "x-originating-ip",
        "x-remote-ip",
        "x-remote-addr",
        "cf-connecting-ip",
        "fastly-client-ip",
        "x-proxyuser-ip",
    }
)

#: Fields that betray a proxy even without an address; elite also removes every field
#: whose name starts with one of PROXY_PREFIXES.
PROXY_HEADERS = frozenset(
    {"via", "proxy-connection", "proxy-authorization", "x-proxy-id", "x-bluecoat-via"}
)
PROXY_PREFIXES = ("x-forwarded-", "x-proxy-")

#: Fields that identify the person or the browser; ``scrub`` may name any of them.
SCRUBBABLE = frozenset({"user-agent", "referer", "cookie", "from"})

#: Our Via element (RFC 9110 section 7.6.3: received-protocol, then our name).
VIA_ELEMENT = "1.1 proxylab"


def forward_headers(
    headers: Sequence[tuple[str, str]],
    client_ip: str,
    level: str = "anonymous",
    scrub: Collection[str] = (),
) -> list[tuple[str, str]]:
    """The ``(name, value)`` fields the origin sees when the proxy forwards this request.

    ``level`` (any case):

    - ``"transparent"``: keep everything; append ``client_ip`` to X-Forwarded-For (one
      line, ``"earlier, client_ip"``, or a new field) and append ``VIA_ELEMENT`` to Via.
    - ``"anonymous"``: remove every field in ``CLIENT_IP_HEADERS``; add no
      X-Forwarded-For; append ``VIA_ELEMENT`` to Via.
    - ``"elite"``: remove ``CLIENT_IP_HEADERS``, ``PROXY_HEADERS`` and every field whose
      name starts with a ``PROXY_PREFIXES`` prefix; add nothing at all.

    ``scrub`` names fields of ``SCRUBBABLE`` to remove as well, at any level (any case).
    Field names are case-insensitive (``x-forwarded-for`` is ``X-Forwarded-For``). Fields
    you keep stay in their order with their values; new fields go at the end. Do not change
    ``headers`` itself. Raise ``ValueError`` for an unknown level or scrub name.
    """
    raise NotImplementedError("write forward_headers")
