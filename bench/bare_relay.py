"""A yardstick, not a proxy: about the cheapest keep-alive HTTP relay CPython threads allow.

    .venv/bin/python bench/bare_relay.py LISTEN_PORT ORIGIN_PORT

The benchmarks measure it beside proxylab, in the same run, to show how far proxylab is
from the least any threaded Python relay must spend on this machine. One thread per
client connection and one upstream connection (to 127.0.0.1:ORIGIN_PORT) per client
connection; a head ends at the first ``b"\\r\\n\\r\\n"``; an absolute-form target
(``GET http://host/path``) becomes origin-form (``GET /path``); bodies are framed by
Content-Length only. Deliberately unguarded: no validation, no limits, no errors handled
(chunked bodies, pipelining, a closing origin or a malformed head simply go wrong). Never
use it for anything but a benchmark origin.
"""

from __future__ import annotations

import argparse
import contextlib
import socket
import threading


def read_head(sock: socket.socket, buffer: bytearray) -> bytes:
    """The next head (through its blank line), taken from ``buffer`` and then ``sock``."""
    while (end := buffer.find(b"\r\n\r\n")) < 0:
        chunk = sock.recv(65536)
        if not chunk:
            raise EOFError
        buffer += chunk
    head = bytes(buffer[: end + 4])
    del buffer[: end + 4]
    return head


def relay(head: bytes, source: socket.socket, buffer: bytearray, sink: socket.socket) -> None:
    """Send ``head`` and its Content-Length body (already in ``buffer``, or still to come)."""
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    body = bytes(buffer[:length])
    del buffer[:length]
    sink.sendall(head + body)
    remaining = length - len(body)
    while remaining:
        chunk = source.recv(min(remaining, 65536))
        sink.sendall(chunk)
        remaining -= len(chunk)


def serve(client: socket.socket, origin_port: int) -> None:
    upstream = socket.create_connection(("127.0.0.1", origin_port))
    for sock in (client, upstream):  # a head and its body may leave in two writes
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    from_client, from_origin = bytearray(), bytearray()
    with client, upstream, contextlib.suppress(EOFError):  # EOF: the client is done
        while True:
            head = read_head(client, from_client)
            method, target, rest = head.split(b" ", 2)
            if target.startswith(b"http://"):
                target = b"/" + target[7:].partition(b"/")[2]
            relay(b" ".join((method, target, rest)), client, from_client, upstream)
            relay(read_head(upstream, from_origin), upstream, from_origin, client)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("listen_port", type=int, help="port to listen on (127.0.0.1)")
    parser.add_argument("origin_port", type=int, help="port of the origin (127.0.0.1)")
    args = parser.parse_args()
    listen_port, origin_port = args.listen_port, args.origin_port
    listener = socket.create_server(("127.0.0.1", listen_port), backlog=1024)
    with contextlib.suppress(KeyboardInterrupt):
        while True:
            client, _ = listener.accept()
            threading.Thread(target=serve, args=(client, origin_port), daemon=True).start()


if __name__ == "__main__":
    main()
