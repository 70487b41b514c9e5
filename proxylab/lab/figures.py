"""Figure plumbing shared by the charts and the sequence diagrams: records, slices, figures.

A record is an ``Event`` (from a proxy, the lab or ``run_load``), a plain row dict, or a
row of the simulator; ``record_field`` reads a field from any of them, so a chart never
cares where its numbers came from. ``time_slices``/``count_per_slice`` cut a run into
equal slices that end where the run ends (a last, partly covered slice would show a drop
that never happened). ``new_figure`` makes a titled, labelled figure with fixed margins
(no ``pyplot``, no global state) and an optional caption that says what to see; the title
and caption become the figure's alt text, which ``show`` attaches to the image a notebook
displays. ``save_all`` writes figures as PNGs.

Layer 5 (an edge): used by ``charts`` and ``diagrams``, which both build on it.
"""

from __future__ import annotations

import base64
import html
import io
import re
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "BAD",
    "GOOD",
    "PLAIN",
    "AltImage",
    "alt_text",
    "backend_of",
    "count_per_slice",
    "is_health",
    "latency_of",
    "mark_empty",
    "new_figure",
    "record_field",
    "records_of",
    "save_all",
    "show",
    "time_slices",
    "whole_numbers",
]

#: Colours for answers that went well, went badly, and plain requests.
GOOD, BAD, PLAIN = "#1d3557", "#c1121f", "#333333"


# -- reading records --------------------------------------------------------------------
def record_field(record: Any, name: str, default: Any = None) -> Any:
    """Field ``name`` of an ``Event``, a row dict or any object with that attribute."""
    if isinstance(record, Mapping):
        return record.get(name, default)
    return getattr(record, name, default)


def records_of(records: Any) -> list[Any]:
    """A list of records from records, a ``LoadResult`` or a ``SimResult``."""
    return list(getattr(records, "records", records))


def backend_of(record: Any) -> str:
    """Who served the request: ``upstream`` (events) or ``backend`` (simulator rows)."""
    return str(record_field(record, "upstream") or record_field(record, "backend") or "")


def latency_of(record: Any) -> float:
    """Seconds the request took: ``latency`` (simulator rows) or ``duration`` (events)."""
    value = record_field(record, "latency")
    return float(value if value is not None else record_field(record, "duration", 0.0) or 0.0)


def is_health(record: Any) -> bool:
    """Is this a health change (``kind="health"``) rather than an exchange?"""
    return bool(
        record_field(record, "kind") == "health" or record_field(record, "source") == "health"
    )


# -- time slices --------------------------------------------------------------------------
def time_slices(begin: float, end: float, width: float | None) -> tuple[int, float]:
    """How many equal slices cover ``begin``..``end`` exactly, and their width.

    About 40 unless ``width`` is given; the width is then adjusted so that the slices
    end where the run ends: no last slice is only partly covered by the run.
    """
    span = max(end - begin, 1e-9)
    wanted = width or max(span / 40, 0.05)
    count = max(1, round(span / wanted))
    return count, span / count


def count_per_slice(
    rows: Sequence[Any], key: Any, width: float | None, start: float | None = None
) -> tuple[float, float, dict[str, list[int]]]:
    """Count ``rows`` per equal time slice, per ``key(row)``.

    Returns the start time, the slice width and ``{key: counts per slice}``.
    """
    times = [float(record_field(r, "time")) for r in rows]
    start = min(times) if start is None else start
    count, width = time_slices(start, max(times), width)
    counts: dict[str, list[int]] = {}
    for row, when in zip(rows, times, strict=True):
        slices = counts.setdefault(str(key(row)), [0] * count)
        slices[min(count - 1, int((when - start) / width))] += 1
    return start, width, counts


# -- figure plumbing ----------------------------------------------------------------------
def new_figure(
    title: str,
    xlabel: str,
    ylabel: str,
    size: tuple[float, float] = (8, 4.5),
    margins: tuple[float, float, float, float] = (0.8, 0.6, 0.25, 0.45),
    *,
    caption: str = "",
) -> tuple[Figure, Axes]:
    """A figure with one titled, labelled axes; ``margins`` (left, bottom, right, top) in inches.

    Fixed margins instead of a layout engine: several times faster to save, and the same
    chart always has the same geometry. ``caption`` says what to see; it is printed under
    the chart (the figure grows to make room) and starts the figure's alt text.
    """
    from matplotlib.figure import Figure

    wrapped = textwrap.wrap(caption, int(_CAPTION_WIDTH * size[0] / 8)) if caption else []
    lines = len(wrapped)
    extra = 0.2 * lines + (0.1 if lines else 0)
    size = (size[0], size[1] + extra)
    figure = Figure(figsize=size)
    (width, height), (left, bottom, right, top) = size, margins
    bottom += extra
    figure.subplots_adjust(left / width, bottom / height, 1 - right / width, 1 - top / height)
    axes = figure.add_subplot()
    axes.set_title(title)
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    if caption:
        figure.text(0.1 / width, 0.08 / height, "\n".join(wrapped), fontsize=9, style="italic",
                    color="#444444", va="bottom")  # fmt: skip
    figure.set_label(f"{title}. {caption}".strip())
    return figure, axes


#: characters of caption per line on an 8-inch-wide figure
_CAPTION_WIDTH = 105


def whole_numbers(axis: Any) -> None:
    """Ticks at whole numbers only: a count of requests is never 0.5."""
    from matplotlib.ticker import MaxNLocator

    axis.set_major_locator(MaxNLocator(integer=True))


def mark_empty(axes: Axes, what: str) -> None:
    """Say "no ... yet" in the middle of empty axes (a chart of nothing is still a chart)."""
    axes.text(0.5, 0.5, f"no {what} yet", ha="center", va="center", transform=axes.transAxes)


# -- saving -------------------------------------------------------------------------------
def save_all(figures: Mapping[str, Figure], folder: str | Path, dpi: int = 100) -> list[Path]:
    """Write each figure as ``folder/<name>.png`` (folder created); returns the paths."""
    target = Path(folder)
    target.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, figure in figures.items():
        path = target / f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', name)}.png"
        figure.savefig(path, dpi=dpi)
        paths.append(path)
    return paths


# -- showing, with alt text -------------------------------------------------------------
def alt_text(figure: Figure, details: str = "") -> str:
    """What the figure shows, in words: title, caption (its label) and ``details``."""
    return " ".join(part for part in (str(figure.get_label()), details) if part)


class AltImage:
    """A figure as an ``<img>`` with alt text, for Jupyter (``_repr_html_``) and as PNG.

    Jupyter shows a bare ``Figure`` as a PNG without any text for a screen reader;
    ``show(figure)`` gives the same picture with its description attached.
    """

    def __init__(self, figure: Figure, alt: str) -> None:
        self.figure, self.alt = figure, alt

    def _repr_png_(self) -> bytes:
        buffer = io.BytesIO()
        self.figure.savefig(buffer, format="png", dpi=100)
        return buffer.getvalue()

    def _repr_html_(self) -> str:
        data = base64.b64encode(self._repr_png_()).decode()
        alt = html.escape(self.alt, quote=True)
        return f'<img src="data:image/png;base64,{data}" alt="{alt}" title="{alt}">'


def show(figure: Figure, alt: str | None = None) -> AltImage:
    """Display ``figure`` in a notebook with alt text (by default ``alt_text(figure)``)."""
    return AltImage(figure, alt if alt is not None else alt_text(figure))
