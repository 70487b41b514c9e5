"""The ``proxylab`` command: one sub-command per job, each in its own module.

``proxylab forward`` runs the forward proxy, ``proxylab reverse`` the reverse proxy and
``proxylab tour`` the terminal walk-through.
Each sub-command module offers ``add_parser(subparsers)`` and ``run(args) -> int``; this
module only wires them together, so adding a command never touches the others.

Layer 5 (an edge): nothing in the library imports the command line.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

__all__ = ["COMMANDS", "build_parser", "main"]

#: sub-command name -> module under proxylab.cli that implements it
COMMANDS: dict[str, str] = {
    "forward": "proxylab.cli.forward",
    "reverse": "proxylab.cli.reverse",
    "tour": "proxylab.cli.tour",
}


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser, with every sub-command."""
    parser = argparse.ArgumentParser(
        prog="proxylab",
        description="A forward proxy, a reverse proxy with load balancers, and a lab to learn them.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in COMMANDS.values():
        importlib.import_module(module_name).add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``proxylab`` script and of ``python -m proxylab``."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    module = importlib.import_module(COMMANDS[args.command])
    try:
        return int(module.run(args))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
