"""The course map in the terminal: the tour's last panel says where to go next.

A newcomer who has just watched seven panels fly by needs one thing: what to do now. The
panel names the steps in order (JupyterLab, the welcome notebook, notebooks 01-12, the
exercises) and, when the tour runs in a clone of the repository, the notebooks found.

Layer 5 (an edge).
"""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.panel import Panel
from rich.table import Table

__all__ = ["notebooks", "where_next"]


def notebooks() -> list[str]:
    """The course's notebooks, when the tour runs in a clone of the repository."""
    for folder in (Path("notebooks"), Path(__file__).resolve().parents[2] / "notebooks"):
        found = sorted(path.stem for path in folder.glob("[0-9][0-9]_*.ipynb"))
        if found:
            return found
    return []


def where_next(console: Console) -> None:
    """The last panel: the course map, the notebooks 00-12 and the exercises beside them."""
    table = Table(show_edge=False, header_style="bold")
    table.add_column("next")
    table.add_column("what")
    table.add_row("1. make lab", "JupyterLab on notebooks/ (it prints the URL to open)")
    table.add_row("2. 00_welcome", "the two proxies in ten minutes, live")
    table.add_row("3. 01 ... 12", "one notebook per idea, in order: the friend (forward proxy: "
                  "privacy, filtering, caching), then the waiter (reverse proxy: balancers, "
                  "health, failover, TLS)")  # fmt: skip
    table.add_row("4. exercises/", "graded exercises: each NN_topic folder has a task, a "
                  "starter file and its tests (proxylab grade); the course map says which notebook "
                  "prepares it")  # fmt: skip
    table.add_row("anytime", "proxylab lab: the sites, kitchens and both proxies, for curl")
    found = notebooks()
    if found:
        table.add_row("notebooks here", ", ".join(found))
    grid = Table.grid(padding=(1, 0))
    grid.add_row(table)
    grid.add_row(
        "[italic]The course map in README.md lists every notebook with its exercise.[/italic]"
    )
    title = "[bold]Where next: the course[/bold]"
    console.print(Panel(grid, title=title, border_style="cyan", expand=False))
