"""From the lab to production: one configuration file, exported to Nginx, HAProxy and Squid.

``config`` reads the TOML file (``load_config``) into a ``ForwardConfig`` or a
``ReverseConfig``; ``nginx``, ``haproxy`` and ``squid`` write the real programs'
configuration from them (``to_nginx``, ``to_haproxy``, ``to_squid``), each an
``Exported`` with the text and the warnings about what the target cannot say.
"""

from proxylab.export.config import (
    EXAMPLE_FORWARD,
    EXAMPLE_REVERSE,
    ForwardConfig,
    ReverseConfig,
    load_config,
)
from proxylab.export.haproxy import to_haproxy
from proxylab.export.nginx import to_nginx
from proxylab.export.squid import to_squid
from proxylab.export.writer import Exported

__all__ = [
    "EXAMPLE_FORWARD",
    "EXAMPLE_REVERSE",
    "Exported",
    "ForwardConfig",
    "ReverseConfig",
    "load_config",
    "to_haproxy",
    "to_nginx",
    "to_squid",
]
