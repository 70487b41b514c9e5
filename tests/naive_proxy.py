"""A deliberately naive forward proxy, for the capstone driver's tests: sequential, no cache.

It serves one client at a time: read the request head, dial the origin, send the request
with ``Connection: close``, copy the response back until the origin closes, close the
client. So it passes the basic checks and loses concurrency (one stuck client blocks
everyone), cache (it has none), keep-alive and filtering. Usage: ``python naive_proxy.py PORT``.
"""

from __future__ import annotations

import contextlib
import socket
import sys
from urllib.parse import urlsplit


def read_head(client: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        piece = client.recv(4096)
        if not piece:
            return b""
        data += piece
    return data


def handle(client: socket.socket) -> None:
    head = read_head(client)
    if not head:
        return
    lines = head.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    url = urlsplit(parts[1]) if len(parts) == 3 else None
    if url is None or not url.hostname or any(":" not in line for line in lines[1:]):
        client.sendall(b"HTTP/1.0 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
        return
    target = (url.path or "/") + (f"?{url.query}" if url.query else "")
    fields = [line for line in lines[1:] if not line.lower().startswith(("connection:", "proxy-"))]
    request = "\r\n".join([f"{parts[0]} {target} HTTP/1.1", *fields, "Connection: close", "", ""])
    with socket.create_connection((url.hostname, url.port or 80)) as origin:
        origin.sendall(request.encode("latin-1"))
        while piece := origin.recv(65536):
            client.sendall(piece)


def main() -> None:
    listener = socket.create_server(("127.0.0.1", int(sys.argv[1])))
    while True:
        client, _ = listener.accept()
        with client, contextlib.suppress(OSError):  # a peer went away: serve the next one
            handle(client)


if __name__ == "__main__":
    main()
