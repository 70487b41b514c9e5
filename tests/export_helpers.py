"""Shared by the export tests: skip markers for the real programs, config files, certificates."""

from __future__ import annotations

from pathlib import Path

import pytest

from proxylab.export import ForwardConfig, ReverseConfig, load_config
from proxylab.export.programs import INSTALL_HINT, installed


def needs(program: str) -> pytest.MarkDecorator:
    """Skip (saying how to install it) when ``program`` is not on this machine."""
    return pytest.mark.skipif(
        installed(program) is None, reason=f"{program} is not installed: {INSTALL_HINT}"
    )


def reverse_config(tmp_path: Path, text: str) -> ReverseConfig:
    path = tmp_path / "shop.toml"
    path.write_text(text)
    config = load_config(path)
    assert isinstance(config, ReverseConfig)
    return config


def forward_config(tmp_path: Path, text: str) -> ForwardConfig:
    path = tmp_path / "school.toml"
    path.write_text(text)
    config = load_config(path)
    assert isinstance(config, ForwardConfig)
    return config


def certificate_files(tmp_path: Path) -> tuple[Path, Path, Path, Path]:
    """A lab CA and a localhost certificate: (ca.pem, cert.pem, key.pem, cert+key.pem)."""
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    leaf = ca.issue_cert("localhost", "127.0.0.1")
    paths = [tmp_path / name for name in ("ca.pem", "cert.pem", "key.pem", "both.pem")]
    ca.cert_pem.write_to_path(str(paths[0]))
    leaf.cert_chain_pems[0].write_to_path(str(paths[1]))
    leaf.private_key_pem.write_to_path(str(paths[2]))
    paths[3].write_bytes(paths[1].read_bytes() + paths[2].read_bytes())
    return paths[0], paths[1], paths[2], paths[3]
