"""One configuration file for both proxies: TOML in, proxylab settings (and exports) out.

What: ``load_config("school-proxy.toml")`` reads a ``[forward]`` or a ``[reverse]`` table
and returns a ``ForwardConfig`` or a ``ReverseConfig``: plain values that say what the
file asked for. ``ForwardConfig.settings()`` and ``ReverseConfig.settings()`` turn them
into the library's ``ForwardSettings`` / ``ReverseSettings`` (what ``proxylab forward
--config`` runs); the exporters (``nginx``, ``haproxy``, ``squid``) turn the same values
into the real programs' configuration. One file, one reading, several outputs: that is
how "the lab setup" and "the production setup" stay the same setup.

Key idea: the file is validated once, on reading, with messages that name the key, the
line and what is allowed (``reading``; the tables in ``forward_table`` and
``reverse_table``, the values in ``model``); filter rules are built with the library's own
rule classes (through ``parse_pattern``), so the file can express nothing the proxy cannot do.

The schema is ``EXAMPLE_FORWARD`` and ``EXAMPLE_REVERSE`` in ``examples`` (complete,
commented files; the same text is in ``examples/`` of the repository). Rules are tried in the order of the file (first match wins, as Squid's
``http_access``), unlike ``--block``/``--allow`` on the command line.

Left out on purpose: several proxies in one file, authentication secrets (never put a
password in a file that is exported), access-log settings.

Layer 5 (an edge).
"""

from __future__ import annotations

from pathlib import Path

from proxylab.export.forward_table import read_forward
from proxylab.export.model import ForwardConfig, ReverseConfig
from proxylab.export.reading import load_toml
from proxylab.export.reverse_table import read_reverse

__all__ = ["load_config"]


def load_config(path: str | Path) -> ForwardConfig | ReverseConfig:
    """Read and check a configuration file: exactly one ``[forward]`` or ``[reverse]``."""
    top = load_toml(path)
    kinds = [kind for kind in ("forward", "reverse") if top.has(kind)]
    if len(kinds) != 1:
        found = " and ".join(kinds) or "neither"
        raise top.error(
            None, f"the file needs exactly one [forward] or [reverse] table (found {found})."
        )
    section = top.table(kinds[0])
    assert section is not None  # noqa: S101 - has() said so
    top.finish("A file holds one [forward] or one [reverse] table.")
    name = Path(path).name
    return read_forward(section, name) if kinds[0] == "forward" else read_reverse(section, name)
