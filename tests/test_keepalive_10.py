"""HTTP/1.0 keep-alive on both proxies (RFC 9112 section 9.3 and appendix C.2.2).

A 1.0 client that sends ``Connection: keep-alive`` keeps its connection only if the
answer says ``Connection: keep-alive`` back; otherwise it waits for the close that
delimits the message. So each answer either confirms keep-alive (with a length) or says
``Connection: close`` and closes. Tested with raw sockets and with ``ab -k``.
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
from collections.abc import Iterator

import pytest
from helpers import Kitchen, reverse_proxy, running_forward_proxy
from origins import TEXT, Origin

from proxylab.forward.filters import FilterPolicy
from proxylab.forward.proxy import ForwardSettings

pytestmark = pytest.mark.timeout(40)

AB_MISSING = "needs ab: apt-get install apache2-utils"


def read_response(sock: socket.socket) -> tuple[str, dict[str, str], bytes]:
    """One response with a Content-Length (or up to the close): status line, fields, body."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"closed before the end of the head: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status, *lines = head.decode("latin-1").split("\r\n")
    fields = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    length = fields.get("content-length")
    while length is None or len(body) < int(length):
        chunk = sock.recv(65536)
        if not chunk:
            assert length is None, "closed before the end of the body"
            break
        body += chunk
    return status, fields, body


def closed(sock: socket.socket) -> bool:
    """Did the server close (EOF within the socket's timeout)?"""
    try:
        return sock.recv(1) == b""
    except TimeoutError:
        return False


@pytest.fixture
def kitchen() -> Iterator[Kitchen]:
    kitchen = Kitchen("k").start()
    yield kitchen
    kitchen.stop()


def test_waiter_confirms_keep_alive_to_a_10_client(kitchen: Kitchen) -> None:
    with (
        reverse_proxy([kitchen.backend]) as (server, _proxy),
        socket.create_connection(server.address, timeout=5) as sock,
    ):
        for _ in range(3):  # three requests on one connection
            sock.sendall(b"GET /a HTTP/1.0\r\nHost: x\r\nConnection: keep-alive\r\n\r\n")
            status, fields, body = read_response(sock)
            assert status.split()[1] == "200"
            assert fields["connection"].lower() == "keep-alive"
            assert int(fields["content-length"]) == len(body)


def test_waiter_closes_a_10_client_that_did_not_ask(kitchen: Kitchen) -> None:
    with (
        reverse_proxy([kitchen.backend]) as (server, _proxy),
        socket.create_connection(server.address, timeout=5) as sock,
    ):
        sock.sendall(b"GET /a HTTP/1.0\r\nHost: x\r\n\r\n")
        status, fields, _ = read_response(sock)
        assert status.split()[1] == "200" and "keep-alive" not in fields.get("connection", "")
        assert closed(sock)


def test_waiter_error_page_to_a_10_client_says_close(kitchen: Kitchen) -> None:
    with (
        reverse_proxy([kitchen.backend]) as (server, _proxy),
        socket.create_connection(server.address, timeout=5) as sock,
    ):
        sock.sendall(b"CONNECT a:443 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        status, fields, _ = read_response(sock)
        assert status.split()[1] == "501" and fields["connection"].lower() == "close"
        assert closed(sock)


def test_status_page_confirms_keep_alive_to_a_10_client(kitchen: Kitchen) -> None:
    with (
        reverse_proxy([kitchen.backend]) as (server, _proxy),
        socket.create_connection(server.address, timeout=5) as sock,
    ):
        for _ in range(2):
            sock.sendall(b"GET /proxylab/status HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            status, fields, _ = read_response(sock)
            assert status.split()[1] == "200" and fields["connection"] == "keep-alive"


def test_friend_confirms_keep_alive_and_closes_where_it_cannot(origin: Origin) -> None:
    settings = ForwardSettings(
        resolve={"origin.test": ("127.0.0.1", origin.port)},
        filters=FilterPolicy.from_patterns(block=["blocked.test"]),
    )
    with (
        running_forward_proxy(settings) as (server, _proxy),
        socket.create_connection(server.address, timeout=5) as sock,
    ):
        for target in (
            "http://origin.test/text",
            "http://blocked.test/",
            "http://origin.test/text",
        ):
            sock.sendall(f"GET {target} HTTP/1.0\r\nConnection: keep-alive\r\n\r\n".encode())
            status, fields, body = read_response(sock)
            assert fields["connection"] == "keep-alive", (target, fields)
            assert status.split()[1] == ("403" if "blocked" in target else "200")
        assert body == TEXT
        # no length to give (the origin chunks): a 1.0 client gets the body up to a close
        sock.sendall(b"GET http://origin.test/chunked HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        status, fields, body = read_response(sock)
        assert fields["connection"] == "close" and "content-length" not in fields and body


def _ab(*args: str) -> str:
    ab = shutil.which("ab")
    assert ab is not None
    done = subprocess.run(
        [ab, "-k", "-q", "-s", "10", "-n", "60", "-c", "3", *args],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def _ab_figures(output: str) -> tuple[int, int, int]:
    def number(label: str) -> int:
        match = re.search(rf"^{label}:\s+(\d+)", output, re.MULTILINE)
        assert match is not None, output
        return int(match.group(1))

    return number("Complete requests"), number("Failed requests"), number("Keep-Alive requests")


@pytest.mark.skipif(shutil.which("ab") is None, reason=AB_MISSING)
def test_ab_keep_alive_through_the_waiter(kitchen: Kitchen) -> None:
    with reverse_proxy([kitchen.backend]) as (server, _proxy):
        output = _ab(f"http://127.0.0.1:{server.address[1]}/bytes/1000")
    assert _ab_figures(output) == (60, 0, 60)  # every request on a kept-alive connection


@pytest.mark.skipif(shutil.which("ab") is None, reason=AB_MISSING)
def test_ab_keep_alive_through_the_friend(origin: Origin) -> None:
    settings = ForwardSettings(resolve={"origin.test": ("127.0.0.1", origin.port)})
    with running_forward_proxy(settings) as (server, _proxy):
        output = _ab("-X", f"127.0.0.1:{server.address[1]}", "http://origin.test/text")
    assert _ab_figures(output) == (60, 0, 60)
