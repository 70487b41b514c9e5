"""proxylab.course.balancing_lab: the sums by hand agree with the library, runs and charts are sound."""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence

import matplotlib
import pytest

from proxylab.course.balancing_lab import (
    Swappable,
    bar_chart,
    kitchen_counts,
    line_chart,
    moved_share,
    percentiles_ms,
    real_client_ip,
    run_each,
    simulate_each,
    swrr_by_hand,
    timeline_chart,
)
from proxylab.http.messages import Request
from proxylab.lab import Fixed, Lab
from proxylab.lab.simulate import SimBackend, simulate
from proxylab.metrics import Event
from proxylab.reverse.balancers import (
    Backend,
    Balancer,
    ConsistentHash,
    IpHash,
    LeastConnections,
    RoundRobin,
    SmoothWeightedRoundRobin,
)

matplotlib.use("Agg")


# -- by hand -------------------------------------------------------------------------------
def test_swrr_by_hand_gives_nginx_order_for_5_1_1() -> None:
    rows = swrr_by_hand({"a": 5, "b": 1, "c": 1}, 7)
    assert "".join(row["chosen"] for row in rows) == "aabacaa"
    assert rows[0]["before"] == {"a": 5, "b": 1, "c": 1}
    assert rows[0]["after"] == {"a": -2, "b": 1, "c": 1}
    assert rows[-1]["after"] == {"a": 0, "b": 0, "c": 0}  # the cycle closes


def test_swrr_by_hand_agrees_with_the_library_on_random_weights() -> None:
    rng = random.Random(3)
    for _ in range(20):
        weights = {f"k{n}": rng.randint(1, 9) for n in range(rng.randint(1, 5))}
        pool = [Backend("10.0.0.1", 80 + i, w, name) for i, (name, w) in enumerate(weights.items())]
        balancer = SmoothWeightedRoundRobin()
        library = [balancer.choose(Request("GET", "/"), pool).name for _ in range(30)]
        assert [row["chosen"] for row in swrr_by_hand(weights, 30)] == library


@pytest.mark.parametrize(
    ("remote", "header", "expected"),
    [
        ("127.0.0.10", "203.0.113.7", "127.0.0.10"),  # not our proxy: the header is ignored
        ("127.0.0.3", "127.0.0.10", "127.0.0.10"),
        ("127.0.0.3", "203.0.113.7, 127.0.0.10", "127.0.0.10"),  # only the appended part
        ("127.0.0.3", "198.51.100.1, 10.0.0.2", "198.51.100.1"),  # a chain of our proxies
        ("127.0.0.3", "10.0.0.2", "10.0.0.2"),  # every hop is ours: the first one
        ("127.0.0.3", "", "127.0.0.3"),
    ],
)
def test_real_client_ip(remote: str, header: str, expected: str) -> None:
    assert real_client_ip(remote, header, ["127.0.0.3", "10.0.0.0/8"]) == expected


def test_moved_share() -> None:
    users = [f"10.0.{n >> 8}.{n & 255}" for n in range(4000)]
    pool = [Backend(f"10.1.0.{n}", 80, name=f"k{n}") for n in range(6)]
    assert moved_share(IpHash, users, pool[:4], pool[:4]) == 0.0
    assert moved_share(IpHash, users, pool[:4], pool[:5]) == pytest.approx(0.8, abs=0.03)
    assert moved_share(ConsistentHash, users, pool[:4], pool[:5]) == pytest.approx(0.2, abs=0.04)
    assert moved_share(IpHash, [], pool[:4], pool[:5]) == 0.0


# -- runs ----------------------------------------------------------------------------------
@pytest.fixture
def lab() -> Iterator[Lab]:
    with Lab(sites=()) as running:
        yield running


def test_run_each_runs_one_waiter_per_balancer(
    lab: Lab, capsys: pytest.CaptureFixture[str]
) -> None:
    kitchens = [lab.kitchen(name, Fixed(0.001)) for name in ("k-a", "k-b")]
    results = run_each(lab, kitchens, {"rr": "round-robin", "hash": "ip-hash"}, 20, users=2)
    assert list(results) == ["rr", "hash"]
    assert kitchen_counts(results["rr"]) == {"k-a": 10, "k-b": 10}
    assert len(kitchen_counts(results["hash"])) == 1  # one client address, one kitchen
    assert sum(kitchen_counts(results["hash"]).values()) == 20
    assert set(percentiles_ms(results["rr"])) == {"p50", "p99"}
    assert percentiles_ms(results["rr"])["p99"] >= 1.0  # cooking alone takes 1 ms
    assert "rr" in capsys.readouterr().out


def test_simulate_each_is_the_simulator_with_the_same_seed(
    capsys: pytest.CaptureFixture[str],
) -> None:
    backends = [SimBackend("a", "exp:0.01", 2), SimBackend("b", "exp:0.03", 2)]
    runs = simulate_each(["round-robin", "p2c"], backends, 2000, 100, seed=5)
    direct = simulate("p2c", backends, 2000, 100, 5, records=False)
    assert runs["p2c"].p99 == direct.p99 and runs["p2c"].per_backend == direct.per_backend
    assert kitchen_counts(runs["round-robin"]) == {"a": 1000, "b": 1000}
    assert percentiles_ms(runs["p2c"])["p50"] == pytest.approx(direct.p50 * 1000)
    out = capsys.readouterr().out
    assert "[#.]" in out and "[##]" in out and "2,000 requests" in out
    simulate_each(["random"], backends, 100, 100, quiet=True)
    assert capsys.readouterr().out == ""


# -- charts --------------------------------------------------------------------------------
def test_bar_chart_counts_have_whole_ticks_and_the_legend_sits_outside() -> None:
    figure = bar_chart({"rr": {"a": 3, "b": 2}, "p2c": {"a": 4}}, "Orders", "orders")
    axes = figure.axes[0]
    assert axes.get_title() == "Orders" and axes.get_ylabel() == "orders"
    ticks = axes.get_yticks()
    assert all(float(t).is_integer() for t in ticks)
    legend = axes.get_legend()
    assert legend is not None and legend.get_bbox_to_anchor().x0 > axes.bbox.x1 - 1
    heights = sorted(patch.get_height() for patch in axes.patches)
    assert heights == [0, 2, 3, 4]  # p2c's missing "b" is a zero bar


def test_bar_chart_with_one_series_has_no_legend() -> None:
    figure = bar_chart({"a": {"requests": 7}, "b": {"requests": 8}}, "T", "requests", labels=True)
    assert figure.axes[0].get_legend() is None
    assert [text.get_text() for text in figure.axes[0].texts] == ["7", "8"]


def test_line_chart_percent() -> None:
    figure = line_chart([1, 2, 3], {"x": [0.1, 0.5, 0.9]}, "T", "n", "share", True, True)
    axes = figure.axes[0]
    assert axes.get_ylim() == (0, 1.05)
    assert axes.yaxis.get_major_formatter().format_pct(0.5, 1.0) == "50%"
    assert len(axes.lines) == 1


def test_timeline_chart_draws_whole_bins_only() -> None:
    # 2.5 s of traffic in 1 s bins: two whole bins; the last half bin would look like a drop
    records = [Event(time=100.0 + t / 10, source="loadgen", upstream="k-a") for t in range(25)]
    records += [Event(time=100.05, source="loadgen", upstream="")]  # no kitchen: not counted
    figure = timeline_chart(records, 1.0, "Timeline", {"slow": 101.2})
    axes = figure.axes[0]
    (line,) = axes.lines[:1]
    assert list(line.get_xdata()) == [0.5, 1.5]
    assert list(line.get_ydata()) == [10.0, 10.0]
    assert axes.get_xlim() == (0.0, 2.0)
    assert axes.get_ylim()[1] > 10.0  # room above the lines for the marks' labels
    assert any(text.get_text() == "slow" for text in axes.texts)


def test_timeline_chart_of_nothing_is_still_a_chart() -> None:
    assert timeline_chart([], 1.0, "Empty").axes[0].get_title() == "Empty"


# -- a balancer plugged into a running waiter ----------------------------------------------
class _AlwaysLast(Balancer):
    name = "always-last"

    def choose(self, request: Request, backends: Sequence[Backend], client_ip: str = "") -> Backend:
        return backends[-1]


def test_swappable_changes_a_running_waiters_policy(lab: Lab) -> None:
    kitchens = [lab.kitchen(name, Fixed(0.001)) for name in ("k-a", "k-b")]
    seat = Swappable(RoundRobin())
    waiter = lab.reverse_proxy(kitchens, seat)
    client = lab.client()
    before = [client.get(f"{waiter.url}/order").headers["x-kitchen"] for _ in range(4)]
    assert before == ["k-a", "k-b", "k-a", "k-b"]
    seat.plug(_AlwaysLast())
    after = [client.get(f"{waiter.url}/order").headers["x-kitchen"] for _ in range(4)]
    assert after == ["k-b"] * 4
    assert isinstance(seat.current, _AlwaysLast)


def test_swappable_passes_the_notifications_on() -> None:
    pool = [Backend("10.0.0.1", 80, name="a"), Backend("10.0.0.2", 80, name="b")]
    learner = LeastConnections()
    seat = Swappable(learner)
    seat.on_start(pool[0])
    assert seat.choose(Request("GET", "/"), pool).name == "b"  # a is busy
    seat.on_end(pool[0], 200, 0.01)
    assert learner.in_flight.counts(pool) == [0, 0]
