"""``proxylab export nginx|haproxy|squid FILE``: the real program's configuration for a file.

The configuration goes to stdout (or ``-o PATH``); whatever the target cannot express goes
to stderr as a warning (it is also a comment at its place in the output). ``--check``
then asks the installed program itself whether it accepts the result.

nginx and HAProxy take a ``[reverse]`` file; Squid takes a ``[forward]`` one.

Layer 5 (an edge).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from rich.console import Console

from proxylab.cli.console import print_error
from proxylab.errors import ConfigError
from proxylab.export.config import load_config
from proxylab.export.haproxy import to_haproxy
from proxylab.export.model import ForwardConfig, ReverseConfig
from proxylab.export.nginx import to_nginx
from proxylab.export.programs import INSTALL_HINT, check_config, installed
from proxylab.export.squid import to_squid
from proxylab.export.writer import Exported

__all__ = ["add_parser", "export", "run"]

_KIND = {"nginx": "reverse", "haproxy": "reverse", "squid": "forward"}


def add_parser(subparsers: Any) -> None:
    """Register ``export`` and its arguments."""
    parser = subparsers.add_parser(
        "export",
        help="write nginx, HAProxy or Squid configuration for a proxylab config file",
        description=(
            "Turn a proxylab configuration file into the real program's configuration: "
            "nginx or haproxy for a [reverse] file, squid for a [forward] file."
        ),
    )
    parser.add_argument("program", choices=sorted(_KIND), help="the target program")
    parser.add_argument("file", metavar="FILE", help="the proxylab TOML configuration file")
    parser.add_argument("-o", "--output", metavar="PATH", help="write here instead of stdout")
    parser.add_argument(
        "--check", action="store_true", help="also ask the installed program to check the result"
    )


def export(program: str, path: str | Path) -> Exported:
    """The exported configuration of the file at ``path`` for ``program``."""
    config = load_config(path)
    if _KIND[program] == "reverse":
        if not isinstance(config, ReverseConfig):
            raise ConfigError(
                f"{program} is a reverse proxy: give a [reverse] file (squid takes [forward])."
            )
        return to_nginx(config) if program == "nginx" else to_haproxy(config)
    if not isinstance(config, ForwardConfig):
        raise ConfigError(
            "squid is a forward proxy: give a [forward] file (nginx and haproxy take [reverse])."
        )
    return to_squid(config)


def run(args: argparse.Namespace) -> int:
    """Export, write, warn; with ``--check``, run the program's own checker."""
    errors = Console(stderr=True)
    try:
        result = export(args.program, args.file)
    except ConfigError as error:
        print_error(errors, error.message)
        return 2
    if args.output:
        Path(args.output).write_text(result.text, encoding="utf-8")
    else:
        sys.stdout.write(result.text)
    for warning in result.warnings:
        errors.print(f"[yellow]warning:[/yellow] {warning}", markup=True, highlight=False)
    if args.check:
        return _check(errors, args.program, result.text)
    return 0


def _check(errors: Console, program: str, text: str) -> int:
    if installed(program) is None:
        print_error(
            errors, f"{program} is not installed, so it cannot check the file: {INSTALL_HINT}"
        )
        return 1
    verdict = check_config(program, text)
    if verdict.ok:
        errors.print(f"{program} accepts the configuration.", highlight=False)
        return 0
    print_error(errors, f"{program} rejects the configuration:\n{verdict.output}")
    return 1
