"""My forward proxy (capstone starter): it listens, and answers every request with 501.

Run it:   python my_proxy.py 8080 [RULES_FILE]
Grade it: proxylab grade capstone --proxy-command "python my_proxy.py {port} {rules}"

This starter starts and listens, so the driver can talk to it, and it scores about 0.
Replace ``handle`` step by step (see README.md): parse the absolute-form request, fetch
from the origin, relay the response; then threads, the cache, keep-alive, privacy,
filtering and robustness. Any language will do: only the command changes.
"""

from __future__ import annotations

import contextlib
import socket
import sys

NOT_IMPLEMENTED = (
    b"HTTP/1.1 501 Not Implemented\r\n"
    b"Content-Type: text/plain\r\nContent-Length: 20\r\nConnection: close\r\n\r\n"
    b"Not implemented yet\n"
)


def read_head(client: socket.socket) -> bytes:
    """Read until the empty line that ends the request head (b"" if the client left)."""
    data = b""
    while b"\r\n\r\n" not in data:
        piece = client.recv(4096)
        if not piece:
            return b""
        data += piece
    return data


def handle(client: socket.socket, blocked: set[str]) -> None:
    """Answer one client. TODO: parse, filter, look in the cache, fetch, relay."""
    head = read_head(client)
    if head:
        client.sendall(NOT_IMPLEMENTED)


def main() -> None:
    port = int(sys.argv[1])
    rules = sys.argv[2] if len(sys.argv) > 2 else None
    blocked: set[str] = set()
    if rules:  # one host a line; '#' starts a comment
        with open(rules, encoding="utf-8") as handle_:
            blocked = {line.split("#")[0].strip().lower() for line in handle_} - {""}
    listener = socket.create_server(("127.0.0.1", port))
    print(f"my_proxy listening on 127.0.0.1:{port}", flush=True)
    while True:
        client, _ = listener.accept()
        # TODO: one thread per client, so that a slow one cannot block the others
        with client, contextlib.suppress(OSError):  # a client that left is no reason to stop
            handle(client, blocked)


if __name__ == "__main__":
    main()
