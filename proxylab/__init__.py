"""proxylab: a real forward proxy and a real reverse proxy, small enough to read.

The headline names are re-exported here; each lives in a module with one job (see the
README's layout table). Importing ``proxylab`` starts nothing and configures nothing.
"""

from proxylab.cache.http_cache import HttpCache
from proxylab.errors import ConfigError, ProxyLabError
from proxylab.forward.access import ClientAccess
from proxylab.forward.filters import FilterPolicy
from proxylab.forward.privacy import PrivacyLevel, PrivacyPolicy
from proxylab.forward.proxy import ForwardProxy, ForwardSettings
from proxylab.http.messages import Headers, Request, Response
from proxylab.metrics import Event, EventLog
from proxylab.net.connection import Timeouts
from proxylab.net.server import Server
from proxylab.reverse.balancers import BALANCERS, Backend, Balancer, make_balancer
from proxylab.reverse.proxy import ReverseProxy
from proxylab.reverse.routes import ReverseSettings, Route

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
