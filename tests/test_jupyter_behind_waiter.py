"""JupyterLab behind the waiter: its page loads and a kernel executes a cell.

A real application nobody here wrote: JupyterLab's REST API starts a kernel, and the
kernel's channels are a WebSocket (``/api/kernels/<id>/channels``). Before the reverse
proxy carried ``Upgrade``, the page loaded but the kernel never connected. Skips where
JupyterLab is not installed (it is in the ``notebook`` extra).
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from helpers import dead_port, reverse_proxy, wait_for, wait_for_event

from proxylab.reverse.balancers import Backend

pytest.importorskip("jupyterlab", reason="needs JupyterLab: pip install -e '.[notebook]'")
pytest.importorskip("jupyter_server", reason="needs jupyter_server: pip install -e '.[notebook]'")
pytest.importorskip("ipykernel", reason="needs ipykernel: pip install -e '.[dev]'")
websockets_client = pytest.importorskip(
    "websockets.sync.client", reason="needs the websockets package: pip install -e '.[dev]'"
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(60)]


@contextmanager
def jupyterlab(tmp_path: Path, token: str) -> Iterator[int]:
    """JupyterLab on a free loopback port with a token; stopped by its pid afterwards."""
    port = dead_port()
    env = dict(os.environ, JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"),
               JUPYTER_CONFIG_DIR=str(tmp_path / "config"), IPYTHONDIR=str(tmp_path / "ipython"),
               JUPYTER_PLATFORM_DIRS="1", HTTP_PROXY="", HTTPS_PROXY="")  # fmt: skip
    command = [
        sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root",
        "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={tmp_path}",
    ]  # fmt: skip
    log = (tmp_path / "jupyter.log").open("w")
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        yield port
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
        log.close()


def _ready(url: str, token: str) -> bool:
    try:
        status = httpx.get(f"{url}/api/status", params={"token": token}, timeout=2, trust_env=False)
    except httpx.HTTPError:
        return False
    return status.status_code == 200


def _execute_request(code: str, session: str) -> dict[str, Any]:
    """A Jupyter messaging protocol 5.3 ``execute_request`` for the shell channel."""
    return {
        "header": {"msg_id": uuid.uuid4().hex, "session": session, "username": "test",
                   "msg_type": "execute_request", "version": "5.3",
                   "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())},
        "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
        "content": {"code": code, "silent": False, "store_history": False,
                    "user_expressions": {}, "allow_stdin": False, "stop_on_error": True},
    }  # fmt: skip


def _run_cell(ws: Any, code: str, deadline: float) -> tuple[str, str]:
    """Send ``code`` to the kernel; returns (what it printed, execute_reply status)."""
    request = _execute_request(code, uuid.uuid4().hex)
    ws.send(json.dumps(request))
    printed, status = "", ""
    while not (printed and status) and time.monotonic() < deadline:
        message = json.loads(ws.recv(timeout=max(0.1, deadline - time.monotonic())))
        if message.get("parent_header", {}).get("msg_id") != request["header"]["msg_id"]:
            continue
        if message["msg_type"] == "stream":
            printed += message["content"]["text"]
        elif message["msg_type"] == "execute_reply":
            status = message["content"]["status"]
    return printed, status


def test_jupyterlab_kernel_executes_a_cell_behind_the_waiter(tmp_path: Path) -> None:
    token = secrets.token_hex(16)
    deadline = time.monotonic() + 40
    with jupyterlab(tmp_path, token) as port:
        direct = f"http://127.0.0.1:{port}"
        assert wait_for(lambda: _ready(direct, token), timeout=25), (
            "JupyterLab did not start:\n" + (tmp_path / "jupyter.log").read_text()[-2000:]
        )
        with reverse_proxy([Backend("127.0.0.1", port, name="lab")]) as (server, proxy):
            base = server.url
            auth = {"Authorization": f"token {token}"}
            with httpx.Client(base_url=base, headers=auth, timeout=20, trust_env=False) as web:
                page = web.get("/lab")
                assert page.status_code == 200 and "JupyterLab" in page.text
                started = web.post("/api/kernels", json={"name": "python3"})
                assert started.status_code == 201, started.text
                kernel = started.json()["id"]
                channels = f"ws://127.0.0.1:{server.address[1]}/api/kernels/{kernel}/channels"
                with websockets_client.connect(
                    channels, additional_headers=auth, proxy=None, open_timeout=20,
                    max_size=None,
                ) as ws:  # fmt: skip
                    printed, status = _run_cell(ws, "print(6 * 7)", deadline)
                assert web.delete(f"/api/kernels/{kernel}").status_code == 204
            tunnel = wait_for_event(proxy.events, lambda e: e.kind == "upgrade")
    assert (printed, status) == ("42\n", "ok")
    assert tunnel.status == 101 and tunnel.upstream == "lab"
    assert tunnel.bytes_in > 0 and tunnel.bytes_out > 0
