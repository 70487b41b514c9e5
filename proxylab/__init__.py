"""proxylab: a real forward proxy and a real reverse proxy, small enough to read.

The headline names are re-exported here; each lives in a module with one job (see the
README's layout table). Importing ``proxylab`` starts nothing and configures nothing.
"""

from proxylab.balancers import BALANCERS, Backend, Balancer, make_balancer
from proxylab.cache import HttpCache
from proxylab.errors import ConfigError, ProxyLabError
from proxylab.filters import ClientAccess, FilterPolicy
from proxylab.forward import ForwardProxy, ForwardSettings
from proxylab.messages import Headers, Request, Response
from proxylab.metrics import Event, EventLog
from proxylab.privacy import PrivacyLevel, PrivacyPolicy
from proxylab.reverse import ReverseProxy, ReverseSettings, Route
from proxylab.server import Server, Timeouts

__all__ = [
    "BALANCERS",
    "Backend",
    "Balancer",
    "ClientAccess",
    "ConfigError",
    "Event",
    "EventLog",
    "FilterPolicy",
    "ForwardProxy",
    "ForwardSettings",
    "Headers",
    "HttpCache",
    "PrivacyLevel",
    "PrivacyPolicy",
    "ProxyLabError",
    "Request",
    "Response",
    "ReverseProxy",
    "ReverseSettings",
    "Route",
    "Server",
    "Timeouts",
    "make_balancer",
]

__version__ = "0.1.0"
