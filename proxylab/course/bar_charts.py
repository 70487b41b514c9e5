"""A bar chart for lessons: counts per category, readable at projector size.

Lessons keep comparing a few numbers per category: allowed against blocked requests per
site, connections per hop, clues per privacy level. ``bar_chart`` draws them as horizontal
bars (category names stay readable however long they are), stacked for parts of a whole
or side by side for a comparison, with what a projected chart needs and a default chart
lacks: whole-number ticks for counts, a value on every bar, the legend *under* the axes
where it cannot cover a bar, and a subtitle that says what to look at.

Left out on purpose: vertical bars, log scales, styling options.

Layer 5 (an edge): matplotlib is imported when a chart is drawn.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["bar_chart"]


def bar_chart(
    values: Mapping[str, Mapping[str, float]],
    *,
    title: str,
    subtitle: str,
    xlabel: str,
    stacked: bool = True,
    whole_numbers: bool = True,
    colours: Mapping[str, str] | None = None,
) -> Figure:
    """Horizontal bars: one row per category (the keys of ``values``), one colour per series.

    ``values[category][series]``; ``stacked`` piles the series up (parts of a whole),
    otherwise they stand side by side (to compare). With ``whole_numbers`` (counts) the
    ticks are whole numbers. The legend sits under the axes, where it covers no bar, and
    the subtitle under the title says what to look at.
    """
    from matplotlib.ticker import MaxNLocator

    from proxylab.lab.figures import new_figure

    series = list(dict.fromkeys(name for row in values.values() for name in row))
    categories = list(values)[::-1]  # the first category on top
    rows = max(1, len(categories)) * (1 if stacked else max(1, len(series)) * 0.55)
    height = 2.3 + 0.6 * rows
    figure, axes = new_figure("", xlabel, "", (10, height), (2.2, 1.35, 0.4, 0.85))
    figure.text(0.5, 1 - 0.2 / height, title, ha="center", va="top", fontsize=15, weight="bold")
    figure.text(0.5, 1 - 0.52 / height, subtitle, ha="center", va="top", fontsize=11.5)
    _draw_bars(axes, values, categories, series, stacked, whole_numbers, colours or {})
    if whole_numbers:
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.tick_params(labelsize=12)
    axes.xaxis.label.set_fontsize(12)
    axes.legend(loc="upper center", bbox_to_anchor=(0.5, -0.72 / (height - 2.2)), frameon=False,
                ncol=max(1, len(series)), fontsize=11.5)  # fmt: skip
    return figure


def _draw_bars(
    axes: Any,
    values: Mapping[str, Mapping[str, float]],
    categories: list[str],
    series: list[str],
    stacked: bool,
    whole: bool,
    colours: Mapping[str, str],
) -> None:
    positions = list(range(len(categories)))
    left = [0.0] * len(categories)
    height = 0.7 if stacked else 0.8 / max(1, len(series))
    for n, name in enumerate(series):
        numbers = [float(values[c].get(name, 0)) for c in categories]
        ys = positions if stacked else [p + 0.4 - height * (n + 0.5) for p in positions]
        bars = axes.barh(ys, numbers, height, left=left if stacked else None, label=name,
                         color=colours.get(name))  # fmt: skip
        labels = [(f"{v:.0f}" if whole else f"{v:.1f}") if v else "" for v in numbers]
        axes.bar_label(bars, labels, label_type="center" if stacked else "edge", padding=3,
                       color="white" if stacked else "black", fontsize=11, weight="bold")  # fmt: skip
        if stacked:
            left = [a + b for a, b in zip(left, numbers, strict=True)]
    top = max([*left, *(float(v) for row in values.values() for v in row.values()), 1.0])
    axes.set_xlim(0, top * 1.12)
    for position, category in zip(positions, categories, strict=True):
        if not any(values[category].values()):  # an empty row says so, rather than nothing
            axes.text(top * 0.01, position, "none", va="center", fontsize=11, style="italic")
    axes.set_yticks(positions, categories)
