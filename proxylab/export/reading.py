"""Reading a TOML configuration file, with errors that name the key, the line and the fix.

What: ``load_toml(path)`` parses the file with the standard library's ``tomllib`` (the
``tomli`` back-port on Python 3.10) and hands back a ``Section``: a table that remembers
where it sits in the file (``reverse.backends[2]``), so every later complaint can say
which key is wrong, on which line, and what is allowed instead.

Key idea: a configuration reader is a *strict* reader. A typo such as ``ballancer`` that is
silently ignored leaves the proxy running with a default nobody chose; so every key a
``Section`` was not asked about is an error (``Section.finish``), and every value is
checked for its type as it is read (``text``, ``number``, ``whole``, ``flag``, ``texts``).

Line numbers: ``tomllib`` reports them for syntax errors only. For a bad *value* this
module scans the file's text: it finds the table's header (``[reverse]``, the n-th
``[[reverse.backends]]``) and the first ``key =`` line after it. Keys written inline
(``tls = {cert = "a.pem"}``) are found by the header of the table that holds them.

Left out on purpose: includes, environment variables, and merging several files.

Layer 5 (an edge: ``proxylab.export``).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from proxylab.addresses import parse_host_port
from proxylab.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]

__all__ = ["Section", "load_toml"]

T = TypeVar("T")

_HEADER_RE = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?")
_TYPE_NAMES = {str: "a string", int: "a whole number", float: "a number", bool: "true or false"}


def load_toml(path: str | Path) -> Section:
    """The file's top-level table; syntax errors become ``ConfigError`` with the line."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(
            f"Cannot read the configuration file {str(file)!r}: {error.strerror}."
        ) from None
    except UnicodeDecodeError:
        raise ConfigError(f"{file}: the configuration file must be UTF-8 text.") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(_syntax_message(file.name, str(error))) from None
    return Section(data, "", _Source(file.name, text.splitlines()))


def _syntax_message(name: str, problem: str) -> str:
    """``school.toml line 4: not valid TOML: ...`` (tomllib puts the line in its text)."""
    found = re.search(r"\s*\(at line (\d+), column (\d+)\)", problem)
    if found is None:
        return f"{name}: not valid TOML: {problem}."
    reason = problem[: found.start()] + problem[found.end() :]
    return (
        f"{name} line {found.group(1)}, column {found.group(2)}: not valid TOML: {reason}. "
        "Strings need double quotes on one line; tables are written [name]."
    )


class _Source:
    """The file's name and lines, to point at the line of a key."""

    def __init__(self, name: str, lines: list[str]) -> None:
        self.name, self.lines = name, lines

    def line_of(self, table: str, index: int | None, key: str | None) -> int | None:
        """1-based line of ``key`` in ``table`` (its ``index``-th occurrence if an array)."""
        start, seen = None, -1
        for number, line in enumerate(self.lines, 1):
            match = _HEADER_RE.match(line)
            if match and match.group(2).replace(" ", "") == table:
                seen += 1
                if index is None or seen == index:
                    start = number
                    break
        if start is None:
            return None
        if key is None:
            return start
        key_re = re.compile(rf"^\s*[\"']?{re.escape(key)}[\"']?\s*=")
        for number in range(start, len(self.lines)):
            line = self.lines[number]
            if _HEADER_RE.match(line):
                break
            if key_re.match(line):
                return number + 1
        return start


class Section:
    """One TOML table of the file, read key by key; unread keys are errors at ``finish``."""

    def __init__(
        self, data: dict[str, Any], path: str, source: _Source, index: int | None = None
    ) -> None:
        self.data, self.path, self.source, self.index = data, path, source, index
        self._read: set[str] = set()

    # -- errors --------------------------------------------------------------------------
    def where(self, key: str | None = None) -> str:
        """``shop.toml line 7, reverse.backends[1].weight``: where a key is, for messages."""
        dotted = self.path + (f"[{self.index}]" if self.index is not None else "")
        if key is not None:
            dotted = f"{dotted}.{key}" if dotted else key
        line = self.source.line_of(self.path, self.index, key) if self.path else None
        if line is None and not self.path and key is not None:
            line = self.source.line_of(key, None, None)
        at = f" line {line}" if line is not None else ""
        return f"{self.source.name}{at}, {dotted or 'top level'}"

    def error(self, key: str | None, problem: str) -> ConfigError:
        """A ``ConfigError`` that says where (file, line, key) and what is wrong."""
        return ConfigError(f"{self.where(key)}: {problem}")

    # -- typed reads ---------------------------------------------------------------------
    def has(self, key: str) -> bool:
        return key in self.data

    def raw(self, key: str, default: Any = None) -> Any:
        self._read.add(key)
        return self.data.get(key, default)

    def _typed(self, key: str, kinds: tuple[type, ...], default: Any, allowed: str) -> Any:
        value = self.raw(key, default)
        if value is default:
            return value
        wrong_bool = isinstance(value, bool) and bool not in kinds
        if wrong_bool or not isinstance(value, kinds):
            raise self.error(key, f"expected {allowed}, not {_describe(value)}.")
        return value

    def text(self, key: str, default: str | None = None, *, choices: Sequence[str] = ()) -> Any:
        """A string; with ``choices``, one of them."""
        value = self._typed(key, (str,), default, "a string")
        if choices and value is not default and value not in choices:
            raise self.error(key, f"{value!r} is not allowed; choose one of: {', '.join(choices)}.")
        return value

    def number(self, key: str, default: float, *, minimum: float = 0.0) -> float:
        """A number of at least ``minimum`` (an int or float; ``"2s"`` also means 2)."""
        value = self.raw(key, default)
        if isinstance(value, str) and re.fullmatch(r"\d+(\.\d+)?s", value.strip()):
            value = float(value.strip()[:-1])
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.error(
                key, f'expected a number of seconds like 2 or "2s", not {_describe(value)}.'
            )
        if value < minimum:
            raise self.error(key, f"must be at least {minimum:g}, not {value:g}.")
        return float(value)

    def whole(self, key: str, default: int, *, minimum: int = 0, maximum: int | None = None) -> int:
        """A whole number in ``minimum..maximum``."""
        value = self._typed(key, (int,), default, "a whole number")
        top = f" and at most {maximum}" if maximum is not None else ""
        if value < minimum or (maximum is not None and value > maximum):
            raise self.error(
                key, f"must be a whole number of at least {minimum}{top}, not {value}."
            )
        return int(value)

    def flag(self, key: str, default: bool = False) -> bool:
        return bool(self._typed(key, (bool,), default, "true or false"))

    def texts(self, key: str, default: Sequence[str] = ()) -> tuple[str, ...]:
        """A list of strings (a single string is taken as a list of one)."""
        value = self.raw(key, None)
        if value is None:
            return tuple(default)
        if isinstance(value, str):
            return (value,)
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise self.error(key, f"expected a list of strings, not {_describe(value)}.")
        return tuple(value)

    def table(self, key: str) -> Section | None:
        """The sub-table ``key`` (``[reverse.health]``), or None when absent."""
        value = self.raw(key)
        if value is None:
            return None
        if not isinstance(value, dict):
            raise self.error(
                key, f"expected a table ([{self._child(key)}]), not {_describe(value)}."
            )
        return Section(value, self._child(key), self.source)

    def tables(self, key: str) -> list[Section]:
        """The array of tables ``key`` (``[[reverse.backends]]``); empty when absent."""
        value = self.raw(key, [])
        if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
            raise self.error(key, f"expected tables written [[{self._child(key)}]].")
        return [Section(item, self._child(key), self.source, n) for n, item in enumerate(value)]

    def check(self, key: str, build: Callable[[], T]) -> T:
        """Run ``build``; a ``ConfigError`` from the library gets this file, line and key."""
        try:
            return build()
        except ConfigError as error:
            message = error.message.split("\nFilter patterns:")[0]  # the file's syntax differs
            raise self.error(key, message) from None

    def address(self, key: str, default: str) -> str:
        """A ``HOST:PORT`` string, checked (``127.0.0.1:8080``, ``[::1]:8080``)."""
        text = str(self.text(key, default))
        self.check(key, lambda: parse_host_port(text))
        return text

    def _child(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def finish(self, allowed_help: str = "") -> None:
        """Refuse every key nobody read: a typo must not be a silent default."""
        unknown = sorted(set(self.data) - self._read)
        if unknown:
            known = ", ".join(sorted(self._read)) or "none"
            hint = f" {allowed_help}" if allowed_help else ""
            raise self.error(
                unknown[0], f"unknown key {unknown[0]!r}; allowed here: {known}.{hint}"
            )


def _describe(value: object) -> str:
    for kind, name in _TYPE_NAMES.items():
        if type(value) is kind:
            return f"{name} ({value!r})"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a table"
    return type(value).__name__
