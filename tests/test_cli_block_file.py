"""``proxylab forward --block-file PATH``: block patterns read from a file (the capstone's rule file)."""

from __future__ import annotations

from pathlib import Path

import pytest

from proxylab.cli import build_parser
from proxylab.cli.config_file import apply_forward_config
from proxylab.cli.forward import settings_from_args
from proxylab.errors import ConfigError
from proxylab.forward.proxy import ForwardSettings
from proxylab.forward.rules import Block, FilterRequest


def decide(settings: ForwardSettings, host: str) -> str:
    request = FilterRequest(client_ip="127.0.0.1", method="GET", host=host, port=80, path="/")
    return "block" if isinstance(settings.filters.decide(request), Block) else "allow"


def test_patterns_from_a_file_are_blocked_with_the_command_line_ones(tmp_path: Path) -> None:
    rules = tmp_path / "rules.txt"
    rules.write_text("# blocked in class\nsocial.test\n\n*.video.test   # and its subdomains\n")
    args = build_parser().parse_args(
        ["forward", "--block", "news.test", "--block-file", str(rules)]
    )
    apply_forward_config(args)  # no --config: the flags not given get their defaults
    settings = settings_from_args(args)
    blocked = {h: decide(settings, h) for h in ("news.test", "social.test", "a.video.test")}
    assert blocked == dict.fromkeys(blocked, "block")
    assert decide(settings, "school.test") == "allow"


def test_an_unreadable_file_is_a_clear_error(tmp_path: Path) -> None:
    args = build_parser().parse_args(["forward", "--block-file", str(tmp_path / "missing.txt")])
    apply_forward_config(args)
    with pytest.raises(ConfigError, match="Cannot read --block-file"):
        settings_from_args(args)
