"""Every chart renders (Agg) from REAL records of a small lab scenario, and saves as PNG."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import matplotlib
import pytest

matplotlib.use("Agg")

from matplotlib.figure import Figure  # noqa: E402 - after choosing the backend

from proxylab.lab import charts, diagrams  # noqa: E402
from proxylab.lab.figures import save_all  # noqa: E402
from proxylab.lab.kitchens import Fixed, LogNormal
from proxylab.lab.lab import Lab, wait_until  # noqa: E402
from proxylab.lab.loadgen import run_load  # noqa: E402
from proxylab.lab.simulate import SimBackend, simulate  # noqa: E402


def _browse(lab: Lab) -> None:
    """You and the friend: privacy, a block, cache misses, hits and a revalidation, a 504."""
    lab.black_hole()
    friend = lab.forward_proxy(
        "transparent", block=["*.social.test"], cache_size=200_000, timeout=0.3
    )
    client = lab.client(via_proxy=friend)
    for path in (
        "http://news.test/whoami",
        "http://social.test/",
        "http://news.test/images/logo.png",
    ):
        client.get(path)
    client.get("http://news.test/images/logo.png")
    client.get("http://news.test/revalidate")
    client.get("http://news.test/revalidate")
    client.get("http://blackhole.test/")
    urls = [f"http://video.test/images/thumb-{n % 4}.png" for n in range(24)]
    run_load(urls, users=2, client=functools.partial(lab.client, friend), progress=False)


def _hit_ratios(lab: Lab) -> dict[int, float]:
    """Measured hit ratio of a skewed workload for three cache sizes."""
    popular = [f"http://news.test/bytes/1000?item={n % 3 if n % 2 else n}" for n in range(30)]
    ratios = {}
    for size in (1_500, 4_000, 40_000):
        friend = lab.forward_proxy(cache_size=size, max_object_size=2_000)
        result = run_load(popular, users=1, requests=30, proxy=friend.url, progress=False)
        ratios[size] = sum(r.cache == "hit" for r in result.records) / len(result.records)
    return ratios


def _balance(lab: Lab) -> dict[str, Any]:
    kitchens = [
        lab.kitchen("kitchen-a", Fixed(0.002)),
        lab.kitchen("kitchen-b", LogNormal(0.004, 0.5)),
        lab.kitchen("kitchen-c", Fixed(0.006)),
    ]
    results = {}
    for balancer in ("round-robin", "least-connections"):
        waiter = lab.reverse_proxy(kitchens, balancer)
        results[balancer] = run_load(
            f"{waiter.url}/order", users=4, requests=30, client=lab.client, progress=False
        )
    return {"results": results, "kitchens": kitchens}


def _failover(lab: Lab, kitchens: list[Any]) -> list[Any]:
    waiter = lab.reverse_proxy(kitchens, check_interval=0.05, rise=1, fall=1, fail_timeout=0.2)
    url = f"{waiter.url}/order"
    records = list(run_load(url, users=2, requests=15, client=lab.client, progress=False).records)
    kitchens[2].stop()
    assert wait_until(lambda: _health(lab, "kitchen-c", "down"))
    records += run_load(url, users=2, requests=15, client=lab.client, progress=False).records
    kitchens[2].start()
    assert wait_until(lambda: _health(lab, "kitchen-c", "up"))
    records += run_load(url, users=2, requests=15, client=lab.client, progress=False).records
    return records


def _health(lab: Lab, name: str, note: str) -> bool:
    return any(e.upstream == name and e.note == note for e in lab.events.snapshot("health"))


@pytest.fixture(scope="module")
def scenario() -> dict[str, Any]:
    """Run the lab once; keep only records (the lab is closed before any test runs)."""
    with Lab() as lab:
        _browse(lab)
        ratios = _hit_ratios(lab)
        balance = _balance(lab)
        failover = _failover(lab, balance["kitchens"])
    events = lab.events.snapshot()  # after close: every thread has finished recording
    simulated = simulate("p2c", [SimBackend("sim-a", 0.01, 2), SimBackend("sim-b", 0.02, 2)], 300)
    return {
        "events": events,
        "ratios": ratios,
        "results": balance["results"],
        "failover": failover,
        "simulated": simulated,
    }


def _figures(data: dict[str, Any]) -> dict[str, Figure]:
    events, results = data["events"], data["results"]
    forward = [e for e in events if e.source == "forward"]
    return {
        "requests_per_backend": charts.requests_per_backend(results),
        "latency_percentiles": charts.latency_percentiles(results),
        "latency_cdf": charts.latency_cdf(results),
        "backend_timeline": charts.backend_timeline(data["failover"], health_events=events),
        "cache_timeline": charts.cache_timeline(forward),
        "hit_ratio_by_cache_size": charts.hit_ratio_by_cache_size(data["ratios"]),
        "allowed_vs_blocked": charts.allowed_vs_blocked(forward),
        "forward_sequence": diagrams.forward_sequence(events),
        "reverse_sequence": diagrams.reverse_sequence(events),
        "simulated_per_backend": charts.requests_per_backend({"p2c": data["simulated"]}),
    }


def _labelled(figure: Figure) -> None:
    axes = figure.axes[0]
    assert axes.get_title() and axes.get_xlabel() and axes.get_ylabel()


def test_the_scenario_produced_what_the_charts_need(scenario: dict[str, Any]) -> None:
    events = scenario["events"]
    caches = {e.cache for e in events if e.source == "forward"}
    assert {"hit", "miss", "revalidated"} <= caches
    assert {"allowed", "blocked"} <= {e.decision for e in events if e.source == "forward"}
    assert {e.note for e in events if e.source == "health"} >= {"down", "up"}
    assert 504 in {e.status for e in events if e.source == "forward"}
    ratios = list(scenario["ratios"].values())
    assert ratios == sorted(ratios) and ratios[-1] > ratios[0]  # a bigger cache hits more


def test_every_chart_is_titled_labelled_and_saves_as_png(
    scenario: dict[str, Any], tmp_path: Path
) -> None:
    figures = _figures(scenario)
    for figure in figures.values():
        _labelled(figure)
    paths = save_all(figures, tmp_path / "charts", dpi=50)
    assert sorted(p.stem for p in paths) == sorted(figures)
    for path in paths:
        data = path.read_bytes()
        assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 2_000


def test_bars_count_each_backend(scenario: dict[str, Any]) -> None:
    figure = charts.requests_per_backend(scenario["results"])
    axes = figure.axes[0]
    heights = [round(bar.get_height()) for bar in axes.patches]
    assert heights[:3] == [10, 10, 10]  # round robin: 30 requests, 10 to each kitchen
    assert sum(heights[3:]) == 30  # least connections: uneven, but every request counted
    assert [t.get_text() for t in axes.get_xticklabels()] == ["kitchen-a", "kitchen-b", "kitchen-c"]


def test_the_sequence_diagrams_tell_the_stories(scenario: dict[str, Any]) -> None:
    events = scenario["events"]
    forward_texts = " | ".join(
        t.get_text() for t in diagrams.forward_sequence(events, 8).axes[0].texts
    )
    assert "blocked" in forward_texts and "cache hit" in forward_texts
    assert "the origin saw 127.0.0." in forward_texts
    reverse = diagrams.reverse_sequence(events, 8).axes[0]
    lanes = [t.get_text() for t in reverse.get_xticklabels()]
    assert lanes[:2] == ["diner", "waiter\n(reverse proxy)"] and len(lanes) == 5
    assert any("in " in t.get_text() and " ms" in t.get_text() for t in reverse.texts)


def test_rows_as_dicts_work_too(scenario: dict[str, Any]) -> None:
    rows = {label: result.rows() for label, result in scenario["results"].items()}
    _labelled(charts.latency_cdf(rows))
    _labelled(charts.backend_timeline([e.as_row() for e in scenario["failover"]]))
    _labelled(charts.hit_ratio_by_cache_size([(1024, 0.1), (4096, 0.5)]))
    sim_rows = [r._asdict() for r in scenario["simulated"].records]
    _labelled(charts.latency_percentiles({"simulated": sim_rows}))


def test_empty_records_still_give_a_labelled_figure() -> None:
    for make in (
        charts.requests_per_backend,
        charts.latency_percentiles,
        charts.latency_cdf,
        charts.backend_timeline,
        charts.cache_timeline,
        charts.hit_ratio_by_cache_size,
        charts.allowed_vs_blocked,
        diagrams.forward_sequence,
        diagrams.reverse_sequence,
    ):
        _labelled(make([]))
