"""What the three exporters share: a text being written, its warnings, and its first line.

``Writer`` collects lines with indentation and, beside them, the warnings: whatever the
target program cannot express is written as a comment at that place AND kept in
``warnings`` (the command prints them on stderr), so nothing is ever silently dropped.
``Exported`` is the result: the text and the warnings.

Layer 5 (an edge).
"""

from __future__ import annotations

from dataclasses import dataclass

import proxylab

__all__ = ["Exported", "Writer", "split_address"]


@dataclass(frozen=True, slots=True)
class Exported:
    """A configuration file for a real program, and what could not be said in it."""

    program: str
    text: str
    warnings: tuple[str, ...] = ()


class Writer:
    """Lines of a configuration file (``#`` comments: nginx, HAProxy and Squid agree)."""

    def __init__(self, program: str, source: str) -> None:
        self.program = program
        self.lines: list[str] = [
            f"# {program} configuration exported by proxylab {proxylab.__version__} from {source}",
            f"# (proxylab export {program} {source}); edit the source file, not this one.",
        ]
        self.warnings: list[str] = []
        self.depth = 0

    def line(self, text: str = "") -> None:
        self.lines.append(("    " * self.depth + text) if text else "")

    def comment(self, text: str) -> None:
        self.line(f"# {text}")

    def cannot(self, text: str) -> None:
        """Something the target lacks: a comment here and a warning for stderr."""
        self.comment(f"NOTE: {text}")
        self.warnings.append(f"{self.program}: {text}")

    def open(self, text: str) -> None:
        """``text {`` and indent (nginx blocks)."""
        self.line(text + " {")
        self.depth += 1

    def close(self) -> None:
        self.depth -= 1
        self.line("}")

    def result(self) -> Exported:
        return Exported(
            self.program, "\n".join(self.lines) + "\n", tuple(dict.fromkeys(self.warnings))
        )


def split_address(listen: str) -> tuple[str, int]:
    """``"127.0.0.1:8000"`` -> ``("127.0.0.1", 8000)`` (the file is already validated)."""
    host, _, port = listen.rpartition(":")
    return host.strip("[]"), int(port)
