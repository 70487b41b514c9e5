"""The layering of design section 1, checked by walking every module's imports with ``ast``.

A module may import only from its own layer or lower, and the pure layers (0-2) may not
open sockets or start threads: that is what keeps policies testable without a network.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "proxylab"

LAYERS: dict[str, int] = {
    "errors": 0,
    "messages": 1,
    "wire": 2,
    "framing": 2,
    "balancers": 2,
    "cache": 2,
    "cache_policy": 2,
    "cache_store": 2,
    "filters": 2,
    "filter_patterns": 2,
    "validators": 2,
    "privacy": 2,
    "metrics": 2,
    "stats": 2,
    "tls": 3,
    "server": 3,
    "sockets": 3,
    "splicing": 3,
    "upstream": 3,
    "health": 3,
    "accesslog": 3,
    "relaying": 3,
    "connection": 3,
    "forward": 4,
    "reverse": 4,
    "reverse_routes": 4,
}
EDGE = 5
PURE_FORBIDDEN = {"socket", "selectors", "ssl", "socketserver", "asyncio", "subprocess"}


def layer_of(module: str) -> int:
    """Layer of a dotted ``proxylab.x`` name; unknown top-level modules are edges."""
    name = module.split(".")[1] if module.startswith("proxylab.") else module
    return LAYERS.get(name, EDGE)


def modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if p.name not in ("__init__.py", "__main__.py"))


def dotted(path: Path) -> str:
    return "proxylab." + ".".join(path.relative_to(PACKAGE).with_suffix("").parts)


def imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            if node.module == "proxylab":
                found.update(f"proxylab.{alias.name}" for alias in node.names)
    return found


def starts_threads(path: Path) -> bool:
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Attribute) and node.attr == "Thread":
            return True
    return False


@pytest.mark.parametrize("path", modules(), ids=lambda p: p.stem)
def test_no_upward_imports(path: Path) -> None:
    own = layer_of(dotted(path))
    upward = sorted(
        name for name in imports(path) if name.startswith("proxylab.") and layer_of(name) > own
    )
    assert not upward, f"{dotted(path)} (layer {own}) imports higher layers: {upward}"


@pytest.mark.parametrize(
    "path", [p for p in modules() if layer_of(dotted(p)) <= 2], ids=lambda p: p.stem
)
def test_pure_layers_have_no_io(path: Path) -> None:
    io_modules = sorted(imports(path) & PURE_FORBIDDEN)
    assert not io_modules, f"{dotted(path)} is a pure layer but imports {io_modules}"
    assert not starts_threads(path), f"{dotted(path)} is a pure layer but starts threads"


def test_nothing_imports_an_edge() -> None:
    for path in modules():
        if layer_of(dotted(path)) == EDGE:
            continue
        edges = sorted(
            n for n in imports(path) if n.startswith("proxylab.") and layer_of(n) == EDGE
        )
        assert not edges, f"{dotted(path)} imports edge modules {edges}"
