"""The layering of design section 1, checked per file by walking every module's imports with ``ast``.

Every module of proxylab has a layer (a module this test does not know fails it, so a new
file must be placed on purpose). A module may import only from its own layer or lower;
no two modules may import each other, directly or round a longer loop, counting imports
inside functions (a lazy import hides a cycle, it does not remove it); and the pure layers
(0-2) may not open sockets or start threads: that is what keeps policies testable without
a network. The checks are plain functions over a graph, so their own tests below plant an
upward import and a cycle and see them caught.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "proxylab"

#: layer of every module below the edges; 0 errors and addresses ... 4 the two proxies
LAYERS: dict[str, int] = {
    "proxylab.errors": 0,
    "proxylab.addresses": 0,
    "proxylab.http.messages": 1,
    "proxylab.http.framing": 1,
    "proxylab.http.wire": 1,
    "proxylab.http.relaying": 1,
    "proxylab.metrics": 2,
    "proxylab.forward.rules": 2,
    "proxylab.forward.patterns": 2,
    "proxylab.forward.filters": 2,
    "proxylab.forward.access": 2,
    "proxylab.forward.block_page": 2,
    "proxylab.forward.privacy": 2,
    "proxylab.cache.validators": 2,
    "proxylab.cache.policy": 2,
    "proxylab.cache.store": 2,
    "proxylab.cache.ranges": 2,
    "proxylab.cache.http_cache": 2,
    "proxylab.reverse.balancers": 2,
    "proxylab.reverse.stats": 2,
    "proxylab.net.sockets": 3,
    "proxylab.net.splicing": 3,
    "proxylab.net.connection": 3,
    "proxylab.net.server": 3,
    "proxylab.net.upstream": 3,
    "proxylab.net.pool": 3,
    "proxylab.net.tunnel": 3,
    "proxylab.net.relay": 3,
    "proxylab.net.tls": 3,
    "proxylab.reverse.health": 3,
    "proxylab.forward.accesslog": 3,
    "proxylab.forward.proxy": 4,
    "proxylab.reverse.routes": 4,
    "proxylab.reverse.proxy": 4,
}
#: packages that are edges as a whole (layer 5): every module in them, now and later
EDGE_PACKAGES = ("proxylab.lab", "proxylab.cli", "proxylab.course", "proxylab.export")
EDGE = 5
PURE_FORBIDDEN = {"socket", "selectors", "ssl", "socketserver", "asyncio", "subprocess"}


def dotted(path: Path) -> str:
    """``proxylab/net/server.py`` -> ``proxylab.net.server`` (a package's ``__init__`` -> the package)."""
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> list[Path]:
    """Every module of proxylab except the package faces (``__init__``) and ``__main__``."""
    return sorted(p for p in PACKAGE.rglob("*.py") if p.name not in ("__init__.py", "__main__.py"))


def layer_of(module: str) -> int | None:
    """The layer of a module, or None when nobody assigned it one."""
    if module in LAYERS:
        return LAYERS[module]
    if any(module == pkg or module.startswith(pkg + ".") for pkg in EDGE_PACKAGES):
        return EDGE
    return None


def imports(source: str, known: set[str]) -> set[str]:
    """The proxylab modules ``source`` imports, anywhere in it (functions included).

    ``from proxylab.lab import charts`` names the module ``proxylab.lab.charts`` when
    that is a module; otherwise it names the package, whose face is its ``__init__``.
    """
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            subs = {f"{node.module}.{alias.name}" for alias in node.names} & known
            found.update(subs or {node.module})
    return {name for name in found if name == "proxylab" or name.startswith("proxylab.")}


def import_graph() -> dict[str, set[str]]:
    """Module -> the proxylab modules it imports, for every module of the package."""
    paths = {dotted(p): p for p in PACKAGE.rglob("*.py")}
    known = set(paths)
    return {name: imports(path.read_text(encoding="utf-8"), known) for name, path in paths.items()}


def upward_imports(graph: Mapping[str, set[str]], layers: Mapping[str, int]) -> list[str]:
    """Each import from a module to a higher layer, as ``"a (2) -> b (3)"``."""
    found = []
    for module, targets in graph.items():
        own = layers.get(module)
        for target in sorted(targets):
            theirs = layers.get(target)
            if own is not None and theirs is not None and theirs > own:
                found.append(f"{module} ({own}) -> {target} ({theirs})")
    return found


def find_cycle(graph: Mapping[str, set[str]]) -> list[str]:
    """One import cycle as ``[a, b, ..., a]``, or ``[]`` when there is none (depth-first search)."""
    state: dict[str, str] = {}  # "open" while on the current path, "done" after
    path: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = "open"
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        state[node] = "done"
        path.pop()
        return []

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            return cycle
    return []


def module_graph() -> dict[str, set[str]]:
    """The import graph between modules only: faces (``__init__``) left out, as they only re-export."""
    faces = {dotted(p) for p in PACKAGE.rglob("__init__.py")}
    return {
        m: {t for t in ts if t not in faces} for m, ts in import_graph().items() if m not in faces
    }


# -- the checks on the real package --------------------------------------------------------
@pytest.mark.parametrize("path", modules(), ids=dotted)
def test_every_module_has_a_layer(path: Path) -> None:
    assert layer_of(dotted(path)) is not None, (
        f"{dotted(path)} has no layer: add it to LAYERS in tests/test_architecture.py"
    )


def test_no_upward_imports() -> None:
    layers = {m: layer for m in import_graph() if (layer := layer_of(m)) is not None}
    assert upward_imports(module_graph(), layers) == []


def test_no_import_cycles() -> None:
    assert find_cycle(module_graph()) == []


def test_inside_proxylab_imports_name_the_defining_module() -> None:
    """Below the edges, no module imports through a package face (``from proxylab.net import X``)."""
    faces = {dotted(p) for p in PACKAGE.rglob("__init__.py")}
    through_faces = [
        f"{m} -> {t}"
        for m, ts in import_graph().items()
        if m not in faces and (layer_of(m) or EDGE) < EDGE
        for t in ts
        if t in faces
    ]
    assert through_faces == []


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=dotted)
def test_no_module_getattr(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    assert "__getattr__" not in names, f"{dotted(path)} defines a module __getattr__"


@pytest.mark.parametrize("path", modules(), ids=dotted)
def test_no_private_name_imported_from_another_module(path: Path) -> None:
    private = [
        f"{node.module}.{alias.name}"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("proxylab")
        for alias in node.names
        if alias.name.startswith("_")
    ]
    assert private == [], f"{dotted(path)} imports private names {private}"


@pytest.mark.parametrize(
    "path", [p for p in modules() if (layer_of(dotted(p)) or EDGE) <= 2], ids=dotted
)
def test_pure_layers_have_no_io(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    used = {
        a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names
    }
    used |= {
        n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module
    }
    assert not used & PURE_FORBIDDEN, (
        f"{dotted(path)} is a pure layer but imports {used & PURE_FORBIDDEN}"
    )
    threads = [n for n in ast.walk(tree) if isinstance(n, ast.Attribute) and n.attr == "Thread"]
    assert not threads, f"{dotted(path)} is a pure layer but starts threads"


# -- the checks catch what they must (planted faults) -------------------------------------
def test_a_planted_upward_import_is_caught() -> None:
    graph = {"proxylab.http.wire": {"proxylab.net.server"}, "proxylab.net.server": set()}
    layers = {"proxylab.http.wire": 1, "proxylab.net.server": 3}
    assert upward_imports(graph, layers) == ["proxylab.http.wire (1) -> proxylab.net.server (3)"]


def test_a_planted_cycle_is_caught_even_through_a_function_level_import() -> None:
    known = {"proxylab.a", "proxylab.b", "proxylab.c"}
    graph = {
        "proxylab.a": imports("from proxylab.b import x\n", known),
        "proxylab.b": imports("def f():\n    from proxylab.c import y\n", known),
        "proxylab.c": imports("import proxylab.a\n", known),
    }
    assert find_cycle(graph) == ["proxylab.a", "proxylab.b", "proxylab.c", "proxylab.a"]
    graph["proxylab.c"] = set()
    assert find_cycle(graph) == []


def test_an_unknown_module_has_no_layer() -> None:
    assert layer_of("proxylab.http.new_module") is None
    assert layer_of("proxylab.course.checks") == EDGE


#: private attributes of OTHER libraries that proxylab reads, each with its reason
THIRD_PARTY_PRIVATE = {
    # httpx 0.28 ignores local_address for proxied connections; the lab binds its proxied
    # clients to their own loopback address through the transport's pool (lab.network)
    ("proxylab.lab.network", "_pool"),
}


def private_reads(source: str) -> list[str]:
    """``obj._name`` reads on anything but ``self``/``cls`` of names this source never defines.

    A module may use its own classes' private state (``other._keys`` in ``Headers.__eq__``);
    reaching into another module's is what a public method is for.
    """
    tree = ast.parse(source)
    own = {
        n.attr
        for n in ast.walk(tree)
        if isinstance(n, ast.Attribute)
        and isinstance(n.value, ast.Name)
        and n.value.id in ("self", "cls")
    }
    own |= {n.name for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    own |= {
        e.value
        for n in ast.walk(tree)
        if isinstance(n, ast.Assign) and any(getattr(t, "id", "") == "__slots__" for t in n.targets)
        for e in getattr(n.value, "elts", [])
        if isinstance(e, ast.Constant)
    }
    own |= {
        n.target.id
        for n in ast.walk(tree)
        if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name)
    }
    return sorted(
        n.attr
        for n in ast.walk(tree)
        if isinstance(n, ast.Attribute)
        and n.attr.startswith("_")
        and not n.attr.startswith("__")
        and not (isinstance(n.value, ast.Name) and n.value.id in ("self", "cls"))
        and n.attr not in own
    )


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=dotted)
def test_no_private_attribute_read_across_modules(path: Path) -> None:
    reads = [
        name
        for name in private_reads(path.read_text(encoding="utf-8"))
        if (dotted(path), name) not in THIRD_PARTY_PRIVATE
    ]
    assert reads == [], f"{dotted(path)} reads private attributes of other modules: {reads}"


def test_a_planted_private_read_is_caught() -> None:
    assert private_reads("def f(conn):\n    return conn._timeout\n") == ["_timeout"]
    assert (
        private_reads(
            "class A:\n    def f(self, other):\n        self._x = 1\n        return other._x\n"
        )
        == []
    )
