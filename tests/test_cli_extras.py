"""``pip install proxylab`` without the lab extra: the proxies work, the tour says what to add.

Each test runs a fresh interpreter in which the lab extra's packages cannot be imported
(``sys.modules[name] = None`` makes ``import name`` fail as if it were not installed).
"""

from __future__ import annotations

import subprocess
import sys

LAB_EXTRA = ("httpx", "httpcore", "matplotlib", "trustme")
WITHOUT_LAB_EXTRA = f"import sys\nfor name in {LAB_EXTRA!r}:\n    sys.modules[name] = None\n"


def run_without_lab_extra(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", WITHOUT_LAB_EXTRA + code],
        capture_output=True,
        text=True,
        timeout=30,
    )


def run_cli(*arguments: str) -> subprocess.CompletedProcess[str]:
    code = f"from proxylab.cli import main\nsys.exit(main({list(arguments)!r}))\n"
    return run_without_lab_extra(code)


def test_the_blocking_really_blocks() -> None:
    result = run_without_lab_extra("import httpx\n")
    assert result.returncode == 1 and "ModuleNotFoundError" in result.stderr


def test_both_proxies_import_without_the_lab_extra() -> None:
    result = run_without_lab_extra(
        "from proxylab.forward.proxy import ForwardProxy\n"
        "from proxylab.reverse.proxy import ReverseProxy\n"
        "from proxylab.cache.http_cache import HttpCache\n"
        "from proxylab.net.tls import server_context_from_files\n"
        "print('ok')\n"
    )
    assert result.stdout.strip() == "ok", result.stderr


def test_every_command_is_listed_and_the_proxies_parse_their_flags() -> None:
    listing = run_cli("--help")
    assert listing.returncode == 0, listing.stderr
    assert all(name in listing.stdout for name in ("forward", "reverse", "tour"))
    for command in ("forward", "reverse"):
        result = run_cli(command, "--help")
        assert result.returncode == 0 and "--listen" in result.stdout, result.stderr


def test_the_tour_says_which_extra_to_install() -> None:
    result = run_cli("tour")
    assert result.returncode == 2
    assert "pip install 'proxylab[lab]'" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_lab_certificates_say_which_extra_to_install() -> None:
    result = run_cli("reverse", "--listen", "127.0.0.1:0", "--backend", "127.0.0.1:9", "--tls")
    said = " ".join(result.stdout.split())  # rich wraps long lines
    assert result.returncode == 1
    assert "trustme" in said and "pip install 'proxylab[lab]'" in said
    assert "Traceback" not in result.stderr + result.stdout
