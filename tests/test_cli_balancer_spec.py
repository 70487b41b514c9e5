"""``--balancer MODULE:CLASS``: a student's own balancer behind the command-line waiter."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from subprocesses import OutputReader

from proxylab.cli.plugins import balancer_argument, describe_balancer
from proxylab.reverse.balancers import Balancer

pytestmark = pytest.mark.timeout(60)

ALWAYS_LAST = '''
from proxylab.reverse import Balancer, require_backends


class AlwaysLast(Balancer):
    """Every order to the last kitchen: easy to recognise from outside."""

    def choose(self, request, backends, client_ip=""):
        require_backends(backends)
        return backends[-1]


class NeedsArguments(AlwaysLast):
    def __init__(self, weight):
        self.weight = weight
'''


def start_in(folder: Path, *args: str) -> OutputReader:
    env = dict(os.environ, PYTHONUNBUFFERED="1", COLUMNS="160", NO_COLOR="1")
    process = subprocess.Popen(
        [sys.executable, "-m", "proxylab", *args], cwd=folder, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    return OutputReader(process)


@pytest.mark.skipif(os.name != "posix", reason="SIGINT delivery to a child needs POSIX")
def test_your_own_balancer_serves_behind_the_waiter(tmp_path: Path) -> None:
    (tmp_path / "mybalancer.py").write_text(ALWAYS_LAST)
    output = start_in(tmp_path, "reverse", "--lab", "--listen", "127.0.0.1:0",
                      "--balancer", "mybalancer:AlwaysLast")  # fmt: skip
    try:
        url = output.wait_for(r"listening\s+(http://127\.0\.0\.1:\d+)").group(1)
        output.wait_for(r"╰")
        with httpx.Client(trust_env=False, timeout=10) as client:
            cooks = {client.get(f"{url}/order").headers["x-kitchen"] for _ in range(6)}
    finally:
        output.process.send_signal(signal.SIGINT)
        code = output.finish()
    assert cooks == {"kitchen-c"} and code == 0
    assert "mybalancer:AlwaysLast (your own)" in output.seen


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("fastest", "MODULE:CLASS"),
        ("nosuchmodule:X", "cannot import 'nosuchmodule'"),
        ("mybalancer:Missing", "is not a Balancer subclass"),
        ("mybalancer:NeedsArguments", "buildable with no arguments"),
    ],
)
def test_bad_specs_say_what_to_fix(
    spec: str, message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "mybalancer.py").write_text(ALWAYS_LAST)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))  # the cwd it adds goes away after
    monkeypatch.delitem(sys.modules, "mybalancer", raising=False)
    with pytest.raises(argparse.ArgumentTypeError, match=message):
        balancer_argument(spec)


def test_names_stay_names_and_classes_become_instances(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "mybalancer.py").write_text(ALWAYS_LAST)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.delitem(sys.modules, "mybalancer", raising=False)
    assert balancer_argument("p2c") == "p2c"
    built = balancer_argument("mybalancer:AlwaysLast")
    assert isinstance(built, Balancer)
    assert describe_balancer(built) == "mybalancer:AlwaysLast (your own)"
    monkeypatch.delitem(sys.modules, "mybalancer", raising=False)
