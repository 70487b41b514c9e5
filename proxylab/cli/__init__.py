"""The ``proxylab`` command: one sub-command per job, each in its own module.

``proxylab lab`` starts the demo sites, kitchens and both proxies, ``proxylab forward`` runs
the forward proxy, ``proxylab reverse`` the reverse proxy, ``proxylab export`` writes nginx,
HAProxy or Squid configuration for a config file, ``proxylab tour`` the terminal walk-through
and ``proxylab grade`` the exercises' grader.
Each sub-command module offers ``add_parser(subparsers)`` and ``run(args) -> int``; this
module only wires them together, so adding a command never touches the others.

Layer 5 (an edge): nothing in the library imports the command line.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import Any

from proxylab.cli.console import INSTALL_LAB

__all__ = ["COMMANDS", "build_parser", "main"]

#: sub-command name -> module under proxylab.cli that implements it
COMMANDS: dict[str, str] = {
    "lab": "proxylab.cli.lab",
    "forward": "proxylab.cli.forward",
    "grade": "proxylab.cli.grade",
    "reverse": "proxylab.cli.reverse",
    "export": "proxylab.cli.export",
    "tour": "proxylab.cli.tour",
}


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser, with every sub-command."""
    parser = argparse.ArgumentParser(
        prog="proxylab",
        description="A forward proxy, a reverse proxy with load balancers, and a lab to learn them.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command, module_name in COMMANDS.items():
        _command_module(command, module_name).add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``proxylab`` script and of ``python -m proxylab``."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    module = _command_module(args.command, COMMANDS[args.command])
    try:
        return int(module.run(args))
    except KeyboardInterrupt:
        return 130


#: what ``pip install 'proxylab[lab]'`` adds; a command that needs one of them says so
LAB_EXTRA = frozenset({"httpx", "httpcore", "matplotlib", "trustme"})


def _command_module(command: str, module_name: str) -> Any:
    """The sub-command's module, or a stand-in that explains which extra is missing.

    ``pip install proxylab`` gives the proxies and their commands; the tour also needs the
    lab extra. Without it ``proxylab tour`` says how to get it, and the other commands
    still work, instead of every command failing with an ``ImportError`` traceback.
    """
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name not in LAB_EXTRA:
            raise
        return _NeedsExtra(command, error.name)


class _NeedsExtra:
    """Stands in for a sub-command whose optional dependency is not installed."""

    def __init__(self, command: str, missing: str) -> None:
        self.command, self.missing = command, missing

    def add_parser(self, subparsers: Any) -> None:
        parser = subparsers.add_parser(
            self.command, help=f"(needs the lab extra: {INSTALL_LAB})", add_help=False
        )
        parser.add_argument("rest", nargs=argparse.REMAINDER)

    def run(self, args: argparse.Namespace) -> int:
        print(
            f"proxylab {self.command} needs the lab extra ({self.missing} is not installed): "
            f"{INSTALL_LAB}",
            file=sys.stderr,
        )
        return 2


if __name__ == "__main__":
    sys.exit(main())
