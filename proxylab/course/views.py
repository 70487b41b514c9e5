"""Small views the notebooks share: a table of rows, and the raw bytes of a message on the wire.

A lesson keeps showing the same two things: what several parties saw, side by side (a
table), and exactly which bytes crossed the wire (CR LF and all). Both are values that
Jupyter renders as HTML and a terminal prints as text, so a notebook cell can end with one.

Layer 5 (an edge).
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["Table", "Wire", "table", "wire"]


@dataclass(frozen=True, slots=True)
class Table:
    """Rows under named columns, with an optional title; shown as HTML in Jupyter."""

    columns: Sequence[str]
    rows: Sequence[Sequence[Any]]
    title: str = ""

    def _repr_html_(self) -> str:
        head = "".join(f"<th style='text-align:left'>{html.escape(c)}</th>" for c in self.columns)
        body = "".join(
            "<tr>" + "".join(f"<td style='text-align:left'>{_cell(v)}</td>" for v in row) + "</tr>"
            for row in self.rows
        )
        caption = f"<caption style='font-weight:bold'>{html.escape(self.title)}</caption>"
        return f"<table>{caption if self.title else ''}<tr>{head}</tr>{body}</table>"

    def __str__(self) -> str:
        cells = [list(self.columns)] + [[_text(v) for v in row] for row in self.rows]
        widths = [max(len(row[i]) for row in cells) for i in range(len(self.columns))]
        lines = ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in cells]
        lines.insert(1, "  ".join("-" * w for w in widths))
        return "\n".join(([self.title] if self.title else []) + lines)

    __repr__ = __str__


def table(rows: Iterable[Mapping[str, Any]], columns: Sequence[str] = (), title: str = "") -> Table:
    """A ``Table`` from dict rows; ``columns`` picks and orders them (default: the first row's keys)."""
    rows = list(rows)
    names = list(columns) or (list(rows[0]) if rows else [])
    return Table(names, [[row.get(name, "") for name in names] for row in rows], title)


@dataclass(frozen=True, slots=True)
class Wire:
    """Raw bytes of an HTTP message, with each CR LF shown as ``\\r\\n`` at the end of its line."""

    data: bytes
    title: str = ""
    limit: int = 2000

    def lines(self) -> list[str]:
        """One text line per wire line, CR and LF made visible; cut after ``limit`` bytes."""
        shown = self.data[: self.limit].decode("latin-1")
        out = [line + "\\r\\n" for line in shown.split("\r\n")]
        out[-1] = out[-1][: -len("\\r\\n")]
        if len(self.data) > self.limit:
            out.append(f"... ({len(self.data) - self.limit} more bytes)")
        return [line for line in out if line] or [""]

    def _repr_html_(self) -> str:
        title = f"<b>{html.escape(self.title)}</b>" if self.title else ""
        return f"{title}<pre>{html.escape(chr(10).join(self.lines()))}</pre>"

    def __str__(self) -> str:
        return "\n".join(([self.title] if self.title else []) + self.lines())

    __repr__ = __str__


def wire(data: bytes, title: str = "") -> Wire:
    """A ``Wire`` view of ``data``: the bytes as they travel, line by line."""
    return Wire(bytes(data), title)


def _text(value: Any) -> str:
    return ", ".join(map(str, value)) if isinstance(value, (list, tuple, set)) else str(value)


def _cell(value: Any) -> str:
    return html.escape(_text(value))
