"""How long does it take to parse one message head? proxylab.http.wire against h11.

Run: ``.venv/bin/python bench/bench_wire.py``. Prints microseconds per head (best of
several rounds, so other load on the machine counts as little as possible). No assertions:
figures depend on the machine; the ratio between the two parsers is what to look at.

Both sides do comparable work: h11's ``next_event`` parses the head and validates the
framing fields, so we time ``HeadParser.feed`` alone and ``feed`` plus
``request_framing``/``response_framing``.
"""

from __future__ import annotations

import argparse
import timeit
from collections.abc import Callable

import h11

from proxylab.http import framing, wire
from proxylab.http.messages import Request, Response

REQUEST = (
    b"GET /articles/2024/proxy-basics?page=2&sort=new HTTP/1.1\r\n"
    b"Host: news.test\r\n"
    b"Connection: keep-alive\r\n"
    b'sec-ch-ua: "Chromium";v="124", "Google Chrome";v="124", "Not-A.Brand";v="99"\r\n'
    b"sec-ch-ua-mobile: ?0\r\n"
    b'sec-ch-ua-platform: "Linux"\r\n'
    b"Upgrade-Insecure-Requests: 1\r\n"
    b"User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    b"Chrome/124.0.0.0 Safari/537.36\r\n"
    b"Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,"
    b"image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7\r\n"
    b"Sec-Fetch-Site: none\r\n"
    b"Sec-Fetch-Mode: navigate\r\n"
    b"Sec-Fetch-User: ?1\r\n"
    b"Sec-Fetch-Dest: document\r\n"
    b"Accept-Encoding: gzip, deflate, br, zstd\r\n"
    b"Accept-Language: en-GB,en;q=0.9\r\n"
    b"Cookie: session=abc123; theme=dark\r\n"
    b"\r\n"
)

RESPONSE = (
    b"HTTP/1.1 200 OK\r\n"
    b"Date: Mon, 06 May 2024 10:00:00 GMT\r\n"
    b"Server: lab-origin\r\n"
    b"Content-Type: text/html; charset=utf-8\r\n"
    b"Content-Length: 5120\r\n"
    b"Cache-Control: max-age=60, public\r\n"
    b'ETag: "5f2b-18f4c1a2"\r\n'
    b"Last-Modified: Mon, 06 May 2024 09:00:00 GMT\r\n"
    b"Vary: Accept-Encoding\r\n"
    b"Connection: keep-alive\r\n"
    b"\r\n"
)


def wire_request() -> object:
    return wire.HeadParser("request").feed(REQUEST)


def wire_request_framed() -> object:
    request = wire.HeadParser("request").feed(REQUEST)
    assert isinstance(request, Request)
    return framing.request_framing(request)


def wire_response() -> object:
    return wire.HeadParser("response").feed(RESPONSE)


def wire_response_framed() -> object:
    response = wire.HeadParser("response").feed(RESPONSE)
    assert isinstance(response, Response)
    return framing.response_framing(response, "GET")


def h11_request() -> object:
    connection = h11.Connection(h11.SERVER)
    connection.receive_data(REQUEST)
    return connection.next_event()


_H11_GET = h11.Request(method="GET", target="/", headers=[("Host", "news.test")])


def h11_response() -> object:
    connection = h11.Connection(h11.CLIENT)
    connection.send(_H11_GET)
    connection.send(h11.EndOfMessage())
    connection.receive_data(RESPONSE)
    return connection.next_event()


def h11_connection_only() -> object:
    """What h11 spends before parsing anything; subtracted to be fair to h11."""
    connection = h11.Connection(h11.CLIENT)
    connection.send(_H11_GET)
    connection.send(h11.EndOfMessage())
    return connection


ROWS: list[tuple[str, Callable[[], object]]] = [
    ("request   wire feed", wire_request),
    ("request   wire feed + request_framing", wire_request_framed),
    ("request   h11 Connection + next_event", h11_request),
    ("response  wire feed", wire_response),
    ("response  wire feed + response_framing", wire_response_framed),
    ("response  h11 Connection + next_event", h11_response),
    ("          h11 Connection + send(GET), no parsing", h11_connection_only),
]


def best_times(rounds: int = 15, budget: float = 0.02) -> list[float]:
    """Microseconds per call for each row: the best of ``rounds`` interleaved rounds.

    Interleaving means a burst of load elsewhere on the machine slows every row alike,
    and the best round is the one least disturbed.
    """
    numbers = []
    for _, function in ROWS:  # calibrate: about ``budget`` seconds per round and row
        seconds = timeit.timeit(function, number=100) / 100
        numbers.append(max(1, int(budget / seconds)))
    best = [float("inf")] * len(ROWS)
    for _ in range(rounds):
        for index, ((_, function), number) in enumerate(zip(ROWS, numbers, strict=True)):
            per_call = timeit.timeit(function, number=number) / number
            best[index] = min(best[index], per_call * 1e6)
    return best


def main() -> None:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    for name, head in (("request", REQUEST), ("response", RESPONSE)):
        fields = head.count(b"\r\n") - 2
        print(f"{name} head: {len(head)} bytes, {fields} fields")
    times = best_times()
    for (label, _), micros in zip(ROWS, times, strict=True):
        print(f"{label:50s} {micros:8.2f} us")
    print(f"h11 / wire, request head with framing:  {times[2] / times[1]:5.1f}x")
    print(f"h11 / wire, response head with framing: {times[5] / times[4]:5.1f}x")


if __name__ == "__main__":
    main()
