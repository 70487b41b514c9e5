"""The two complete, commented example files: the school's proxy and a shop's reverse proxy.

They are the schema's documentation (``proxylab forward --help`` and ``proxylab reverse
--help`` print them), and the same text is in ``examples/school-proxy.toml`` and
``examples/shop-reverse.toml`` (a test keeps the copies equal and loads both).

Layer 5 (an edge).
"""

from __future__ import annotations

__all__ = ["EXAMPLE_FORWARD", "EXAMPLE_REVERSE"]

EXAMPLE_FORWARD = """\
# The school's forward proxy: social media blocked in lessons, teachers exempt.
# Run it:     proxylab forward --config school-proxy.toml
# Export it:  proxylab export squid school-proxy.toml -o squid.conf

[forward]
listen = "127.0.0.1:3128"          # where browsers send their requests
privacy = "anonymous"              # transparent | anonymous | elite
scrub = ["referer"]                # also remove: user-agent, referer, cookie, from
connect_ports = [443]              # CONNECT (HTTPS tunnels) only to these ports
allow_clients = ["127.0.0.0/8", "10.0.0.0/8"]   # who may use the proxy at all
default = "allow"                  # when no rule matches: allow (block-list) | deny (allow-list)

[forward.cache]
size = "64MB"                      # 0 turns the cache off
max_object_size = "1MB"            # largest response kept

# Rules are tried in this order; the first that matches decides.
# Each has action = "block" | "allow" and one of: host (news.test or *.social.test),
# path (/ads; with host: only on that host), url_regex, client (a network) or pattern
# (the --block syntax); optionally clients = [networks], days = "mon-fri", hours = "08:00-16:00".

[[forward.rules]]                  # teachers may use social media
action = "allow"
host = "*.social.test"
clients = ["10.2.0.0/16"]

[[forward.rules]]                  # everybody else may not
action = "block"
host = "*.social.test"

[[forward.rules]]                  # videos only outside lesson hours
action = "block"
host = "video.test"
days = "mon-fri"
hours = "08:00-16:00"

[[forward.rules]]
action = "block"
path = "/ads"

[[forward.rules]]
action = "block"
url_regex = "\\\\.exe$"
"""

EXAMPLE_REVERSE = """\
# A shop's reverse proxy: three kitchens by weight, an API pool, checks, HTTPS.
# Run it:     proxylab reverse --config shop-reverse.toml
# Export it:  proxylab export nginx shop-reverse.toml   (or haproxy)

[reverse]
listen = "127.0.0.1:8443"
balancer = "weighted"              # round-robin, weighted, least-connections, random, p2c,
                                   # ip-hash, consistent-hash, least-latency
hash_key = "client-ip"             # consistent-hash only: client-ip, path, header:NAME, cookie:NAME
sticky = false                     # true: a cookie keeps a guest at one kitchen
hide_headers = ["server", "x-powered-by"]   # backend fields the guests never see
forwarded_header = false           # also send RFC 7239 Forwarded
backends = [                       # "HOST:PORT" or "HOST:PORT=WEIGHT"
    "127.0.0.1:9001=3",
    "127.0.0.1:9002=1",
    "127.0.0.1:9003=1",
]

[[reverse.routes]]                 # /api/ has its own pool (longest prefix wins)
name = "api"
prefix = "/api/"
balancer = "least-connections"
backends = [{ address = "127.0.0.1:9101" }, { address = "127.0.0.1:9102", weight = 2 }]

[reverse.health]
path = "/health"                   # active checks (leave out for passive checks only)
interval = "2s"
rise = 2                           # successes before a kitchen is back
fall = 3                           # failures before it is out
max_fails = 1                      # passive: failures within fail_timeout ...
fail_timeout = "10s"               # ... take it out for this long

[reverse.tls]
cert = "/etc/ssl/shop/fullchain.pem"
key = "/etc/ssl/shop/privkey.pem"  # or: self_signed = true (a throw-away lab CA)
redirect_http = "127.0.0.1:8080"   # plain HTTP here is redirected to HTTPS
hsts = true                        # Strict-Transport-Security, one year (or a max-age)
"""
