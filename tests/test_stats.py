"""Per-backend statistics: counters, the bounded window, and the four views."""

from __future__ import annotations

import csv
import io
import json
import threading

from proxylab.reverse.balancers import Backend
from proxylab.reverse.stats import StatsTable

A = Backend("10.0.0.1", 8001, weight=2, name="a")
B = Backend("10.0.0.2", 8002, name="<b>")


def test_counters_and_derived_values() -> None:
    table = StatsTable([A, B], window=100)
    for duration in [0.010] * 19 + [0.100]:
        table.start("a")
        table.end("a", duration, bytes_out=100)
    table.start("<b>")
    table.retry("<b>")
    table.end("<b>", 5.0, failed=True)
    table.start("<b>")  # still in flight
    table.set_state("<b>", "DOWN")
    a, b = table.snapshot()
    assert (a.total, a.current, a.failures, a.bytes_out, a.mean_ms, a.p95_ms) == (
        20,
        0,
        0,
        2000,
        14.5,
        10.0,
    )
    assert (a.address, a.weight, a.state) == ("10.0.0.1:8001", 2, "UP")
    assert (b.total, b.current, b.failures, b.retries, b.state, b.mean_ms) == (
        2,
        1,
        1,
        1,
        "DOWN",
        0.0,
    )
    assert (a.share, b.share) == (round(20 / 22, 4), round(2 / 22, 4))


def test_the_window_keeps_only_recent_samples() -> None:
    table = StatsTable([A], window=10)
    for duration in [1.0] * 50 + [0.001] * 10:
        table.start("a")
        table.end("a", duration)
    assert table.snapshot()[0].mean_ms == 1.0


def test_counts_stay_exact_under_threads() -> None:
    table = StatsTable([A])

    def work() -> None:
        for _ in range(2000):
            table.start("a")
            table.end("a", 0.001)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    row = table.snapshot()[0]
    assert (row.total, row.current) == (16000, 0)


def test_views_csv_json_html() -> None:
    table = StatsTable([A, B])
    table.add(A)  # adding twice is harmless
    table.start("a")
    table.end("a", 0.002)
    rows = list(csv.DictReader(io.StringIO(table.to_csv())))
    assert [r["name"] for r in rows] == ["a", "<b>"] and rows[0]["total"] == "1"
    assert json.loads(table.to_json())["backends"] == table.rows()
    page = table.to_html("kitchen <status>")
    assert "<td>&lt;b&gt;</td>" in page and "kitchen &lt;status&gt;" in page
    assert page.count("<tr class='UP'>") == 2
