"""The reverse proxy, the waiter between you and the kitchen: it acts for the servers.

``proxy`` is the proxy itself; ``routes`` its settings and routes; ``balancers`` choose a
backend per request (write your own: one class); ``health`` takes failing backends out and
back in; ``stats`` counts what each backend did, for the status page.

This file is the package's face: the names a user types, re-exported from their modules.
"""

from proxylab.reverse.balancers import BALANCERS, Backend, Balancer, make_balancer, require_backends
from proxylab.reverse.health import HealthChecker, HealthPolicy, HealthState
from proxylab.reverse.proxy import ReverseProxy
from proxylab.reverse.routes import COMBINED_LOG_FIELDS, ReverseSettings, Route
from proxylab.reverse.stats import StatsTable

__all__ = [
    "BALANCERS",
    "COMBINED_LOG_FIELDS",
    "Backend",
    "Balancer",
    "HealthChecker",
    "HealthPolicy",
    "HealthState",
    "ReverseProxy",
    "ReverseSettings",
    "Route",
    "StatsTable",
    "make_balancer",
    "require_backends",
]
