"""``proxylab tour`` end to end, in-process: every step runs and every chart is a real PNG."""

from __future__ import annotations

import struct
import threading
from pathlib import Path

import pytest

from proxylab.cli import main

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
EXPECTED = {
    "forward_sequence",
    "allowed_vs_blocked",
    "cache_timeline",
    "hit_ratio_by_cache_size",
    "reverse_sequence",
    "requests_per_backend",
    "latency_percentiles",
    "latency_cdf",
    "backend_timeline",
}


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from the IHDR chunk that must follow the signature."""
    assert data[:8] == PNG_SIGNATURE and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_the_tour_runs_and_saves_its_charts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    threads = set(threading.enumerate())
    output = tmp_path / "tour"
    assert main(["tour", "--output", str(output)]) == 0
    assert set(threading.enumerate()) == threads  # the lab and every proxy were shut down
    saved = {path.stem: path for path in output.glob("*.png")}
    assert set(saved) == EXPECTED
    for path in saved.values():
        data = path.read_bytes()
        width, height = png_size(data)
        assert width >= 400 and height >= 200 and len(data) > 5_000
    printed = capsys.readouterr().out
    for heading in ("Privacy", "Filtering", "Caching", "Load balancing", "Failover", "TLS"):
        assert heading in printed
    assert "Tour done in" in printed
