"""Every command a startup panel (and the README's quick start) prints works exactly as printed.

Each test starts a real ``proxylab`` command as a subprocess on free ports, reads the
``try`` lines of its startup panel and runs each of them with the real ``curl``, once as
printed and once more with ``--fail`` added (curl then exits 22 on an HTTP error, such as
the 502 of a name that resolves nowhere).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from subprocesses import ROOT, OutputReader, start_proxylab
from test_cli_extras import run_cli

pytestmark = [
    pytest.mark.timeout(60),
    pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed"),
    pytest.mark.skipif(os.name != "posix", reason="SIGINT delivery to a child needs POSIX"),
]
CURL_LINE = re.compile(r"(curl [^│\n]*?)\s*│?\s*$", re.MULTILINE)
#: curl without the environment's proxy settings, which would change where it connects
CLEAN_ENV = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}


@contextmanager
def running(*args: str) -> Iterator[OutputReader]:
    """``python -m proxylab ARGS`` until its panel is printed; Ctrl-C and exit 0 after."""
    output = OutputReader(start_proxylab(*args))
    try:
        output.wait_for(r"╰")  # the panel's last line
        yield output
    finally:
        output.process.send_signal(signal.SIGINT)
        try:
            code = output.finish()
        finally:
            if output.process.poll() is None:
                output.process.kill()
                output.finish()
    assert code == 0, output.seen


def tried(panel: str) -> list[str]:
    """The curl commands a panel prints, as printed."""
    return [match.group(1) for match in CURL_LINE.finditer(panel)]


def curl(command: str) -> str:
    """Run ``command`` (a curl line) as printed, then with ``--fail``; its output."""
    argv = shlex.split(command)
    done = subprocess.run(argv, capture_output=True, text=True, timeout=20, env=CLEAN_ENV)
    assert done.returncode == 0, f"{command}\n{done.stderr}"
    strict = subprocess.run(
        [*argv, "--fail", "--silent", "--output", os.devnull],
        capture_output=True, text=True, timeout=20, env=CLEAN_ENV,
    )  # fmt: skip
    assert strict.returncode == 0, f"{command} --fail exited {strict.returncode}"
    return done.stdout


def test_forward_with_the_lab_prints_commands_that_work() -> None:
    with running("forward", "--lab", "--listen", "127.0.0.1:0") as output:
        commands = tried(output.seen)
        assert len(commands) == 2 and all("news.test" in c for c in commands)
        whoami, logo = (curl(command) for command in commands)
    assert '"site": "news.test"' in whoami and "Via" in whoami  # anonymous: a proxy, not you
    assert "HTTP/1.1 200" in logo and "image/png" in logo
    assert "lab sites" in output.seen and "example.test" not in output.seen


def test_forward_without_the_lab_prints_no_command_that_cannot_work() -> None:
    with running("forward", "--listen", "127.0.0.1:0") as output:
        panel = output.seen
    assert ".test" not in " ".join(tried(panel))  # no name that resolves nowhere
    assert "HOST:PORT" in panel and "--lab" in panel


def test_reverse_with_the_lab_prints_commands_that_work() -> None:
    with running("reverse", "--lab", "--listen", "127.0.0.1:0") as output:
        commands = tried(output.seen)
        assert len(commands) == 2
        answers = [curl(command) for command in commands]
        status = re.search(r"status\s+(http://\S+/proxylab/status)", output.seen)
        assert status is not None
        page = curl(f"curl {status.group(1)}")  # the status page the panel names
    assert "kitchen-a" in page and "kitchen-c" in page
    assert '"kitchen": "kitchen-' in answers[0]
    assert "x-kitchen: kitchen-" in answers[1].lower()
    assert "kitchen-a, kitchen-b, kitchen-c" in output.seen


def test_reverse_without_backends_says_what_to_start() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "proxylab", "reverse", "--listen", "127.0.0.1:0"],
        cwd=ROOT, capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    said = " ".join(done.stdout.split())
    assert done.returncode == 2 and "--lab" in said and "--backend" in said


def test_the_lab_command_prints_commands_for_both_proxies_that_work() -> None:
    with running("lab", "--forward", "127.0.0.1:0", "--reverse", "127.0.0.1:0") as output:
        commands = tried(output.seen)
        assert len(commands) == 4
        answers = [curl(command) for command in commands]
        output.wait_for(r"friend: .* GET http://news.test/whoami")  # the traffic is shown
    assert '"remote_address"' in answers[0] and "x-kitchen:" in answers[3].lower()


def test_lab_flags_without_the_lab_extra_say_what_to_install() -> None:
    result = run_cli("forward", "--lab", "--listen", "127.0.0.1:0")
    said = " ".join(result.stdout.split())
    assert result.returncode == 2, result.stderr
    assert "pip install 'proxylab[lab]'" in said and "pip install -e '.[lab]'" in said
    assert "Traceback" not in result.stdout + result.stderr


# -- the README ------------------------------------------------------------------------
README = (ROOT / "README.md").read_text(encoding="utf-8")
#: the default addresses the README's commands use, and which lab proxy listens there
DEFAULTS = {"127.0.0.1:8080": "friend", "127.0.0.1:8000": "waiter"}


def readme_curls(text: str) -> list[str]:
    """Every ``curl`` line inside the README's fenced code blocks."""
    blocks = re.findall(r"```[a-z]*\n(.*?)```", text, re.DOTALL)
    lines = [line.strip() for block in blocks for line in block.splitlines()]
    return [line.split("  #")[0].strip() for line in lines if line.startswith("curl ")]


@pytest.mark.skipif(
    "--lab" not in README, reason="README.md still shows the quick start from before issue 16"
)
def test_the_readmes_curl_commands_work_against_the_lab() -> None:
    """The README's commands with its default ports, run against ``proxylab lab`` on free ones."""
    commands = readme_curls(README)
    assert commands, "the README shows no curl command"
    with running("lab", "--forward", "127.0.0.1:0", "--reverse", "127.0.0.1:0") as output:
        urls = dict(re.findall(r"(friend|waiter)\s+http://(127\.0\.0\.1:\d+)", output.seen))
        for command in commands:
            for default, role in DEFAULTS.items():
                command = command.replace(default, urls[role])
            curl(command)


def test_readme_curls_are_found_in_code_blocks() -> None:
    text = "x\n```bash\nmake forward\ncurl -x http://127.0.0.1:8080 http://news.test/  # hi\n```\n"
    assert readme_curls(text) == ["curl -x http://127.0.0.1:8080 http://news.test/"]


def test_make_forward_and_reverse_run_the_commands_tested_here() -> None:
    """``make forward`` / ``make reverse`` start the proxies with the lab, as tested above."""
    recipes = dict(re.findall(r"^(\w+): setup\n\t(.+)$", (ROOT / "Makefile").read_text(), re.M))
    assert recipes["forward"] == "$(BIN)/proxylab forward --lab"
    assert recipes["reverse"] == "$(BIN)/proxylab reverse --lab"
