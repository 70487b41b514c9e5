"""The lab on the command line: demo sites for ``forward --lab``, kitchens for ``reverse --lab``.

``.test`` names resolve nowhere (RFC 6761 keeps them for testing), so a forward proxy
started on its own cannot reach ``news.test``: every suggested ``curl`` would answer 502.
``--lab`` starts the lab's demo sites (or kitchens) next to the proxy, in the same
process, and hands the proxy the lab's resolver, the ``/etc/hosts`` of the lab. The
commands a startup panel prints then work exactly as printed.

The lab needs the ``lab`` extra (httpx for its clients); it is imported only when
``--lab`` is given, so the proxies keep working without it, and a missing extra is
reported with the command that installs it.

Layer 5 (an edge).
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from rich.console import Console

from proxylab.cli.console import INSTALL_LAB, print_error

if TYPE_CHECKING:
    from proxylab.lab.lab import Lab
    from proxylab.reverse.balancers import Backend

__all__ = [
    "LAB_KITCHENS",
    "forward_hints",
    "lab_kitchens",
    "lab_rows",
    "lab_sites",
    "reverse_hints",
]

#: The kitchens ``reverse --lab`` and ``proxylab lab`` open: two quick ones and a slow one.
LAB_KITCHENS = (("kitchen-a", 0.005), ("kitchen-b", 0.005), ("kitchen-c", 0.025))


def _lab_module(console: Console) -> Any:
    """``proxylab.lab.lab``, or None after saying which extra to install."""
    try:
        return importlib.import_module("proxylab.lab.lab")
    except ModuleNotFoundError as error:
        print_error(console, f"--lab needs the lab extra ({error.name} is missing): {INSTALL_LAB}")
        return None


@contextlib.contextmanager
def lab_sites(
    console: Console, seed: int = 0, sites: Sequence[str] | None = None
) -> Iterator[Lab | None]:
    """A started ``Lab`` for the body, closed after it; None without the extra.

    ``sites`` are the demo sites to start (all of them by default; none for kitchens only).
    """
    module = _lab_module(console)
    if module is None:
        yield None
        return
    options = {} if sites is None else {"sites": tuple(sites)}
    with module.Lab(seed=seed, **options) as lab:
        yield lab


def lab_kitchens(lab: Lab) -> list[Backend]:
    """Open ``LAB_KITCHENS`` in ``lab``; their addresses, as backends for a reverse proxy."""
    from proxylab.lab.kitchens import LogNormal

    return [lab.kitchen(name, LogNormal(median, 0.3)).backend for name, median in LAB_KITCHENS]


def lab_rows(lab: Lab | None) -> list[tuple[str, str]]:
    """Panel rows naming what the lab started (none without a lab)."""
    if lab is None:
        return []
    kitchens = [name for name in lab.resolver if name.startswith("kitchen-") and "." not in name]
    rows = [("lab sites", ", ".join(sorted(lab.sites)))]
    return rows + ([("lab kitchens", ", ".join(kitchens))] if kitchens else [])


def forward_hints(url: str, with_lab: bool) -> str:
    """The ``try`` lines of a forward proxy's panel: commands that work as printed."""
    if not with_lab:
        return (
            f"curl -x {url} http://HOST:PORT/\n"
            "(HOST:PORT: a web server this machine reaches; for the offline demo sites,\n"
            "news.test and the others, start the proxy with --lab)"
        )
    return (
        f"curl -x {url} http://news.test/whoami\ncurl -x {url} -I http://news.test/images/logo.png"
    )


def reverse_hints(url: str, cacert: str = "") -> str:
    """The ``try`` lines of a reverse proxy's panel (``cacert``: ``--cacert PATH `` or "")."""
    return f"curl {cacert}{url}/\ncurl -i {cacert}{url}/order"
