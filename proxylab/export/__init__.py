"""From the lab to production: one configuration file, exported to Nginx, HAProxy and Squid.

``config`` reads the TOML file (``load_config``) into a ``ForwardConfig`` or a
``ReverseConfig``; ``nginx``, ``haproxy`` and ``squid`` write the real programs'
configuration from them (``to_nginx``, ``to_haproxy``, ``to_squid``), each an
``Exported`` with the text and the warnings about what the target cannot say.
``programs`` asks the installed programs to check a file (``check_config``) or runs them
on loopback (``RealProxy``), so a notebook can put them beside proxylab.
"""

from proxylab.export.config import load_config
from proxylab.export.examples import EXAMPLE_FORWARD, EXAMPLE_REVERSE
from proxylab.export.haproxy import to_haproxy
from proxylab.export.model import ForwardConfig, ReverseConfig
from proxylab.export.nginx import to_nginx
from proxylab.export.programs import (
    INSTALL_HINT,
    PROGRAMS,
    Checked,
    RealProxy,
    check_config,
    free_port,
    installed,
)
from proxylab.export.squid import to_squid
from proxylab.export.writer import Exported

__all__ = [
    "EXAMPLE_FORWARD",
    "EXAMPLE_REVERSE",
    "INSTALL_HINT",
    "PROGRAMS",
    "Checked",
    "Exported",
    "ForwardConfig",
    "RealProxy",
    "ReverseConfig",
    "check_config",
    "free_port",
    "installed",
    "load_config",
    "to_haproxy",
    "to_nginx",
    "to_squid",
]
