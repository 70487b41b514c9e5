"""Charts that do not mislead: whole-number counts, no partial last slice, phases marked,
a caption that says what to see, and alt text for notebooks. Records are real where a lab
is cheap, and plain rows where the point is the arithmetic of the slices."""

from __future__ import annotations

import functools
import re

import matplotlib
import pytest

matplotlib.use("Agg")

from proxylab.lab import charts, diagrams  # noqa: E402
from proxylab.lab.lab import Lab, wait_until  # noqa: E402
from proxylab.lab.loadgen import run_load  # noqa: E402


def steady(backends: tuple[str, ...], seconds: float, rate: int) -> list[dict[str, object]]:
    """Rows of a perfectly steady load: ``rate`` requests per second to each backend."""
    step = 1 / rate
    return [
        {"time": 100 + n * step, "upstream": name, "duration": 0.01, "status": 200}
        for n in range(int(seconds * rate))
        for name in backends
    ]


def test_a_steady_load_stays_level_to_its_last_slice() -> None:
    """The old timeline cut 40 slices plus a sliver, whose rate read as an outage."""
    figure = charts.backend_timeline(steady(("a", "b"), 2.5, 400))
    for line in figure.axes[0].get_lines():
        rates = line.get_ydata()
        assert min(rates) > 0.8 * max(rates), rates  # level everywhere, the end included


def test_counts_have_whole_number_ticks() -> None:
    rows = [
        {"time": 1.0, "target": "http://news.test/", "decision": "allowed"},
        {"time": 1.1, "target": "http://social.test/", "decision": "blocked"},
    ]
    for figure, axis in (
        (charts.allowed_vs_blocked(rows), "x"),
        (charts.requests_per_backend(steady(("a",), 0.1, 30)), "y"),
        (charts.cache_timeline([{"time": 1.0 + n / 10, "cache": "hit"} for n in range(3)]), "y"),
    ):
        axes = figure.axes[0]
        figure.canvas.draw()
        ticks = axes.get_xticks() if axis == "x" else axes.get_yticks()
        assert all(float(t).is_integer() for t in ticks), ticks


def test_back_to_back_runs_are_drawn_as_labelled_phases() -> None:
    with Lab() as lab:
        urls = [f"http://video.test/bytes/500?item={n % 5}" for n in range(20)]
        runs = {}
        for size in (1_000, 10_000):
            friend = lab.forward_proxy(cache_size=size)
            client = functools.partial(lab.client, friend)
            runs[f"{size} B cache"] = run_load(urls, users=1, client=client, progress=False)
    axes = charts.cache_timeline(runs).axes[0]
    labels = [text.get_text() for text in axes.texts]
    assert labels == ["1000 B cache", "10000 B cache"]
    assert len([p for p in axes.patches if p.get_alpha() in (0.04, 0.1)]) == 2  # two bands
    legend = [t.get_text() for t in axes.get_legend().get_texts()]
    assert sorted(legend) == sorted(set(legend))  # each outcome named once


def test_every_chart_has_a_caption_and_alt_text_that_shows_in_html() -> None:
    rows = steady(("kitchen-a", "kitchen-b"), 0.2, 20)
    for figure in (
        charts.requests_per_backend(rows),
        charts.latency_percentiles(rows),
        charts.latency_cdf(rows),
        charts.backend_timeline(rows),
        charts.cache_timeline([]),
        charts.hit_ratio_by_cache_size({1024: 0.2, 4096: 0.6}),
        charts.allowed_vs_blocked([]),
        diagrams.forward_sequence([]),
        diagrams.reverse_sequence([]),
    ):
        caption = [t.get_text() for t in figure.texts]
        assert caption and len(caption[0]) > 40  # a sentence, under the chart
        alt = charts.alt_text(figure)
        assert figure.axes[0].get_title() in alt and caption[0].split()[0] in alt
        html = charts.show(figure)._repr_html_()
        assert re.search(r'<img src="data:image/png;base64,[^"]+" alt="[^"]{40,}"', html)
    bars = charts.alt_text(charts.requests_per_backend(rows))
    assert "kitchen-a 4, kitchen-b 4" in bars  # the numbers themselves, in words


def test_a_caption_can_be_replaced_or_dropped() -> None:
    assert [t.get_text() for t in charts.latency_cdf([], caption="Look left.").texts] == [
        "Look left."
    ]
    assert charts.latency_cdf([], caption="").texts == []


@pytest.mark.parametrize("count", [1, 7])
def test_sequence_alt_text_tells_the_story_in_words(count: int) -> None:
    with Lab() as lab:
        client = lab.client(via_proxy=lab.forward_proxy("elite"))
        for _ in range(count):
            client.get("http://news.test/whoami")
        assert wait_until(lambda: len(lab.events.snapshot("forward")) == count)
        events = lab.events.snapshot()
    alt = charts.alt_text(diagrams.forward_sequence(events, limit=count))
    told = "friend (forward proxy) to restaurant (origin site): elite: GET /whoami"
    assert alt.count(told) == count
