"""The lab: demo sites, kitchens, load, simulation and charts, all on loopback and offline.

``lab`` starts everything (``Lab``); ``sites`` are the demo origins (``news.test`` ...);
``kitchens`` the backends with latency and errors; ``network`` the loopback addresses;
``loadgen`` drives traffic; ``simulate`` runs balancers on a virtual clock; ``charts``,
``diagrams`` and ``figures`` draw what happened.

This file is the package's face: the names a user types, re-exported from their modules.
"""

from proxylab.lab.kitchens import Exponential, Fixed, Kitchen, LogNormal
from proxylab.lab.lab import ForwardRun, Lab, ReverseRun, wait_until
from proxylab.lab.loadgen import LoadResult, run_load
from proxylab.lab.network import LabAddresses, loopback_aliases_work
from proxylab.lab.simulate import SimBackend, SimResult, simulate
from proxylab.lab.sites import SITE_NAMES, BlackHole, Site

__all__ = [
    "BlackHole",
    "Exponential",
    "Fixed",
    "ForwardRun",
    "Kitchen",
    "Lab",
    "LabAddresses",
    "LoadResult",
    "LogNormal",
    "ReverseRun",
    "SITE_NAMES",
    "SimBackend",
    "SimResult",
    "Site",
    "loopback_aliases_work",
    "run_load",
    "simulate",
    "wait_until",
]
