"""02_privacy's questions: the right answers, worked out live on the lab, pass; wrong ones fail."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from proxylab.course.checks import check
from proxylab.course.forward_views import SecureSite
from proxylab.lab.lab import Lab

LEVELS = ("transparent", "anonymous", "elite")
BROWSER = {"User-Agent": "quiz/1.0", "Referer": "http://school.test/", "Cookie": "user=ada"}
NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "02_privacy.ipynb"


@pytest.fixture
def lab() -> Iterator[Lab]:
    with Lab() as running:
        yield running


def seen_at(lab: Lab, level: str, url: str = "http://news.test/whoami", **scrub: object) -> dict:
    friend = lab.forward_proxy(level, scrub=scrub.get("scrub", ()))  # type: ignore[arg-type]
    report: dict = lab.client(via_proxy=friend).get(url, headers=BROWSER).json()
    return report


def test_reveals_you_and_looks_direct(lab: Lab) -> None:
    reports = {level: seen_at(lab, level) for level in LEVELS}
    you = lab.addresses.you
    reveal = [lvl for lvl, r in reports.items() if you in json.dumps(r["headers"])]
    assert check("02.reveals_you", reveal)
    assert not check("02.reveals_you", [*reveal, "anonymous"])
    assert not check("02.reveals_you", [])
    no_sign = [level for level, report in reports.items() if not report["proxy_signs"]]
    assert len(no_sign) == 1 and check("02.looks_direct", no_sign[0].upper())
    assert not check("02.looks_direct", "anonymous")


def test_through_tunnel(lab: Lab) -> None:
    with SecureSite(lab, "bank.test") as bank:
        report = seen_at(
            lab, "elite", f"{bank.url}/whoami", scrub=("user-agent", "referer", "cookie")
        )
    received = {name.lower() for name, _ in report["headers"]}
    asked = ["User-Agent", "Referer", "Cookie", "Via", "X-Forwarded-For"]
    arrived = [name for name in asked if name.lower() in received]
    assert check("02.through_tunnel", arrived)
    assert not check("02.through_tunnel", [])  # what scrubbing does over http://
    assert not check("02.through_tunnel", [*arrived, "Via"])


def test_meanings_match_the_notebook_table() -> None:
    cells = json.loads(NOTEBOOK.read_text(encoding="utf-8"))["cells"]
    text = "".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    rows = {line.split("|")[1].strip(" *"): line for line in text.splitlines()
            if line.startswith("| **")}  # fmt: skip
    intercepting = [letter for letter, line in rows.items() if "intercept" in line.lower()]
    assert sorted(rows) == ["A", "B", "C"] and len(intercepting) == 1
    assert check("02.meanings", intercepting[0].lower())
    for other in sorted(set(rows) - set(intercepting)):
        assert not check("02.meanings", other)
