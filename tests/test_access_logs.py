"""Access logs read the way log analysers read them: Squid's 10 fields, nginx's combined regex.

A Squid log analyser splits each line on whitespace and expects ten fields; one missing
field (an empty URL) shifts every later one. nginx tools match the combined format with a
regular expression. Both are done here on logs the proxies really wrote.
"""

from __future__ import annotations

import base64
import os
import re
import signal
import socket
from pathlib import Path

import httpx
import pytest
from helpers import kitchens, running_forward_proxy, wait_for
from origins import Origin
from subprocesses import OutputReader, start_proxylab

from proxylab.forward.accesslog import AccessLog
from proxylab.forward.proxy import ForwardSettings
from proxylab.metrics import Event

pytestmark = pytest.mark.timeout(30)

#: nginx's ``log_format combined``, as GoAccess-style tools match it.
COMBINED = re.compile(
    r"^(?P<remote_addr>\S+) - (?P<remote_user>\S+) \[(?P<time_local>[^\]]+)\] "
    r'"(?P<request>[^"]*)" (?P<status>\d{3}) (?P<body_bytes_sent>\d+) '
    r'"(?P<http_referer>[^"]*)" "(?P<http_user_agent>[^"]*)"$'
)
SQUID_FIELDS = ("time", "elapsed", "client", "code_status", "bytes", "method", "url", "user",
                "hierarchy_peer", "type")  # fmt: skip


def squid_records(text: str) -> list[dict[str, str]]:
    """Parse Squid native lines the way log analysers do: exactly ten fields each."""
    records = []
    for line in text.splitlines():
        fields = line.split()
        assert len(fields) == 10, f"not ten fields: {line!r}"
        records.append(dict(zip(SQUID_FIELDS, fields, strict=True)))
    return records


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_squid_log_has_ten_fields_in_every_line_with_auth(origin: Origin, tmp_path: Path) -> None:
    path = tmp_path / "access.log"
    settings = ForwardSettings(
        resolve={"origin.test": ("127.0.0.1", origin.port)}, auth=("alice", "s3cret")
    )
    with AccessLog(str(path), "squid") as log, running_forward_proxy(settings) as (server, proxy):
        proxy.events.subscribe(log.record)
        with httpx.Client(proxy=server.url, trust_env=False, timeout=10) as client:
            refused = client.get("http://origin.test/text")
            ok = client.get(
                "http://origin.test/text", headers={"Proxy-Authorization": basic("alice", "s3cret")}
            )
        with socket.create_connection(server.address, timeout=5) as sock:
            sock.sendall(b"CONNECT origin.test:443 HTTP/1.1\r\nHost: origin.test:443\r\n\r\n")
            assert sock.recv(100).startswith(b"HTTP/1.1 407")
        with socket.create_connection(server.address, timeout=5) as sock:
            sock.sendall(b"NONSENSE\r\n\r\n")
            assert sock.recv(100).startswith(b"HTTP/1.1 400")
        assert wait_for(lambda: len(proxy.events) == 4)
    assert (refused.status_code, ok.status_code) == (407, 200)
    records = squid_records(path.read_text())
    by_code = {r["code_status"]: r for r in records}
    assert [r["code_status"] for r in records].count("TCP_DENIED/407") == 2
    denied = [r for r in records if r["code_status"] == "TCP_DENIED/407"]
    assert {r["url"] for r in denied} == {"http://origin.test/text", "origin.test:443"}
    assert {r["user"] for r in denied} == {"-"}  # nobody was authenticated
    assert by_code["TCP_MISS/200"]["user"] == "alice"  # Squid logs who it was
    assert by_code["TCP_MISS/200"]["url"] == "http://origin.test/text"
    assert by_code["NONE/400"]["url"] == "error:invalid-request"
    assert all(float(r["time"]) > 0 and r["elapsed"].isdigit() for r in records)


def test_health_changes_are_not_logged_and_quotes_are_escaped(tmp_path: Path) -> None:
    path = tmp_path / "combined.log"
    agent = 'evil" "agent\\'
    with AccessLog(str(path), "combined") as log:
        log.record(Event(1.0, "health", kind="health", upstream="a", note="down"))
        log.record(Event(1.0, "reverse", client="::1", method="GET", target="/", status=200,
                         bytes_out=5, extra={"user_agent": agent}))  # fmt: skip
    (line,) = path.read_text().splitlines()
    match = COMBINED.match(line)
    assert match is not None, line
    assert match["http_user_agent"] == "evil\\x22 \\x22agent\\x5C"  # nginx's escapes
    assert match["http_referer"] == "-" and match["remote_user"] == "-"


@pytest.mark.skipif(os.name != "posix", reason="sending SIGINT to a child needs POSIX")
def test_reverse_cli_writes_nginx_combined_log(tmp_path: Path) -> None:
    path = tmp_path / "access.log"
    with kitchens("a") as (a,):
        output = OutputReader(start_proxylab(
            "reverse", "--listen", "127.0.0.1:0", "--backend", f"127.0.0.1:{a.port}",
            "--access-log", str(path), "--quiet",
        ))  # fmt: skip
        try:
            url = output.wait_for(r"listening\s+(http://127\.0\.0\.1:\d+)").group(1)
            with httpx.Client(trust_env=False, timeout=10) as client:
                first = client.get(f"{url}/menu?x=1", headers={"Referer": "http://news.test/"})
                client.post(f"{url}/order", content=b"soup", headers={"User-Agent": "guest/1.0"})
                upgrade = {"Upgrade": "h2c", "Connection": "Upgrade"}  # not carried: 501
                client.get(f"{url}/chat", headers=upgrade)
        finally:
            output.process.send_signal(signal.SIGINT)
            code = output.finish()
    assert code == 0 and first.status_code == 200
    matches = [COMBINED.match(line) for line in path.read_text().splitlines()]
    assert all(matches), path.read_text()
    rows = [m.groupdict() for m in matches if m]
    assert [(r["request"], r["status"]) for r in rows] == [
        ("GET /menu?x=1 HTTP/1.1", "200"),
        ("POST /order HTTP/1.1", "200"),
        ("GET /chat HTTP/1.1", "501"),
    ]
    assert (
        rows[0]["http_referer"] == "http://news.test/" and rows[1]["http_user_agent"] == "guest/1.0"
    )
    assert rows[0]["remote_addr"] == "127.0.0.1" and int(rows[0]["body_bytes_sent"]) > 0
