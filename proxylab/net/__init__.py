"""The network: the only package that opens sockets, starts threads and turns socket errors into proxylab errors.

``server`` listens and runs one thread per client connection (bounded); ``connection`` reads
and writes one client connection; ``upstream`` dials and pools connections to origins and
backends; ``relay`` streams a response to the client; ``splicing`` moves large bodies in the
kernel; ``tls`` wraps sockets for HTTPS; ``sockets`` holds small socket settings.

This file is the package's face: the names a user types, re-exported from their modules.
"""

from proxylab.net.connection import ClientConnection, Timeouts
from proxylab.net.pool import ConnectionPool
from proxylab.net.server import Server
from proxylab.net.tls import LabCertificates

__all__ = [
    "ClientConnection",
    "ConnectionPool",
    "LabCertificates",
    "Server",
    "Timeouts",
]
