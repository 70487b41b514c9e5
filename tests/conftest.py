"""Shared fixtures: real origins and a real forward proxy, all on 127.0.0.1 with port 0."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterator

import pytest
from helpers import running_forward_proxy
from origins import BlackHole, Origin

from proxylab.cache.http_cache import HttpCache
from proxylab.forward.proxy import ForwardProxy, ForwardSettings
from proxylab.net.server import Server


@pytest.fixture
def origin() -> Iterator[Origin]:
    with Origin() as running:
        yield running


@pytest.fixture
def blackhole() -> Iterator[BlackHole]:
    with BlackHole() as hole:
        yield hole


@pytest.fixture
def forward_proxy(origin: Origin) -> Iterator[Callable[..., object]]:
    """Factory: ``forward_proxy(**settings)`` starts a proxy that resolves origin.test."""
    stack: list[object] = []

    def start(cache: HttpCache | None = None, **changes: object) -> tuple[Server, ForwardProxy]:
        resolve = {"origin.test": ("127.0.0.1", origin.port)}
        resolve.update(changes.pop("resolve", {}))  # type: ignore[arg-type]
        settings = dataclasses.replace(ForwardSettings(), resolve=resolve, **changes)  # type: ignore[arg-type]
        manager = running_forward_proxy(settings, cache)
        stack.append(manager)
        return manager.__enter__()

    yield start
    for manager in reversed(stack):
        manager.__exit__(None, None, None)  # type: ignore[attr-defined]


@pytest.fixture(autouse=True)
def no_leaked_threads() -> Iterator[None]:
    """Every thread a test starts must be gone when it ends."""
    before = set(threading.enumerate())
    yield
    leaked = [t for t in threading.enumerate() if t not in before and t.is_alive()]
    for thread in leaked:
        thread.join(timeout=5)
    still = [t.name for t in leaked if t.is_alive()]
    assert not still, f"threads left running: {still}"
