"""The lenient origin of ``bench_soak.py``: answers every GET with its own id, and misbehaves.

Run by the soak as a child process: ``python bench/soak_origin.py PORT SEED EXTRA,EARLY,CUT``;
it prints ``ready`` once it listens on 127.0.0.1:PORT and runs until it is killed (SIGKILL:
that is the point, pooled connections to it die unannounced). Standard library only, so that
it starts again quickly on the same port (``SO_REUSEADDR``, set by ``socket.create_server``).

``/r/<id>`` and ``/c/<k>`` (absolute-form too) get ``X-Request-Id: r<id>`` (``c<k>``), the
body ``expected_body`` spells for that id and ``Cache-Control: max-age=300``. Per request,
with the given odds: a whole second response (``X-Request-Id: poison``, itself cacheable)
or stray bytes written with the answer in one write; the connection closed instead of an
answer; or closed half-way through the body.
"""

from __future__ import annotations

import argparse
import contextlib
import random
import socket
import threading
from dataclasses import dataclass

POISON = (
    b"HTTP/1.1 200 OK\r\nCache-Control: max-age=300\r\nX-Request-Id: poison\r\n"
    b"Content-Length: 6\r\n\r\npoison"
)
STRAY = b"\r\nstray bytes\r\n"


def expected_body(ident: str) -> bytes:
    """The body an id gets: the id spelt out, more or less often (8 B to about 1 KiB)."""
    repeats = int(ident[1:]) % 97 + 1
    return f"<{ident}>".encode() * repeats


def ident_of(target: bytes) -> str:
    """``r123`` for ``/r/123`` (origin-form or absolute-form), ``c7`` for ``/c/7``."""
    if b"://" in target:
        rest = target.split(b"://", 1)[1]
        target = rest[rest.find(b"/") :]
    _, kind, number = target.decode("latin-1").split("/")[:3]
    return kind + number


@dataclass
class Misbehaviour:
    """How often the origin misbehaves (each a probability per request)."""

    extra: float = 0.03  # a whole second response (or stray bytes) after the answer
    early: float = 0.01  # close without answering
    cut: float = 0.01  # close half-way through the body


def serve(port: int, seed: int, odds: Misbehaviour) -> None:
    """Answer on ``port`` until killed."""
    listener = socket.create_server(("127.0.0.1", port), backlog=256)
    print("ready", flush=True)
    rng = random.Random(seed)
    while True:
        client, _ = listener.accept()
        # Daemon threads: this process only ever ends by being killed.
        worker = threading.Thread(
            target=_connection, args=(client, random.Random(rng.random()), odds), daemon=True
        )
        worker.start()


def _connection(client: socket.socket, rng: random.Random, odds: Misbehaviour) -> None:
    buffer = b""
    with contextlib.suppress(OSError), client:
        while True:
            while b"\r\n\r\n" not in buffer:
                data = client.recv(65536)
                if not data:
                    return
                buffer += data
            head, _, buffer = buffer.partition(b"\r\n\r\n")
            ident = ident_of(head.split(b" ", 2)[1])
            body = expected_body(ident)
            answer = (
                f"HTTP/1.1 200 OK\r\nCache-Control: max-age=300\r\nX-Request-Id: {ident}\r\n"
                f"Content-Type: text/plain\r\nContent-Length: {len(body)}\r\n\r\n"
            ).encode()
            roll = rng.random()
            if roll < odds.early:
                return  # closed without a word
            if roll < odds.early + odds.cut:
                client.sendall(answer + body[: len(body) // 2])
                return  # closed half-way through the body
            extra = b""
            if roll < odds.early + odds.cut + odds.extra:
                extra = POISON if rng.random() < 0.8 else STRAY
            client.sendall(answer + body + extra)  # one write: the extra bytes come with it


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("port", type=int, help="the port on 127.0.0.1 to listen on")
    parser.add_argument("seed", type=int, help="seeds the misbehaviour")
    parser.add_argument("odds", help="EXTRA,EARLY,CUT: probabilities per request")
    args = parser.parse_args(argv)
    try:
        odds = Misbehaviour(*(float(x) for x in args.odds.split(",")))
    except (TypeError, ValueError):
        parser.error("odds are three numbers: EXTRA,EARLY,CUT (e.g. 0.03,0.01,0.01)")
    with contextlib.suppress(KeyboardInterrupt):
        serve(args.port, args.seed, odds)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
