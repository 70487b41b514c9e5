"""The lab: demo sites, kitchens and both proxies on loopback, started and stopped as one.

A notebook about proxies needs a small internet that works offline and leaves nothing
behind. ``Lab`` is that internet::

    with Lab() as lab:
        friend = lab.forward_proxy(privacy="elite")
        print(lab.client(via_proxy=True).get("http://news.test/whoami").json())

Key ideas:

- Names, not ports. Sites answer to ``news.test``, ``social.test``, ``video.test`` and
  ``school.test`` (``.test`` is reserved for exactly this, RFC 6761). ``lab.resolver``
  maps each name to the ``(host, port)`` really listening; the forward proxy gets this
  map as its ``resolve`` setting, and ``lab.client()`` uses it for direct requests, like
  an ``/etc/hosts`` file that also knows ports.
- Real addresses. On Linux and Windows every ``127.x.y.z`` is a loopback address, so
  "you" are ``127.0.0.10``, the forward proxy listens and dials from ``127.0.0.2``, the
  reverse proxy (the waiter) listens and dials from ``127.0.0.3``, and every site and
  kitchen gets its own address. A site's ``/whoami`` then shows a different IP with and
  without the proxy, and a kitchen's shows the waiter.
  macOS has only ``127.0.0.1`` unless aliases are added, so there the lab falls back to
  ``127.0.0.1`` with different ports and sets ``distinct_addresses = False``: the
  difference shows in ports and headers instead. The lab finds out by trying to bind.
- One owner. Everything the lab starts (sites, kitchens, black holes, proxies, clients)
  is registered and stopped by ``close()``: threads joined, sockets closed, in reverse
  order of dependency. ``close`` is idempotent and also registered with ``atexit``, so a
  notebook that never reaches its last cell still shuts down cleanly.
- One event log. ``lab.events`` receives the records of both proxies, the health checks,
  the sites and the kitchens; ``charts`` draws from it.

Left out on purpose: real DNS, IPv6, HTTPS origins behind the forward proxy, anything that
leaves the machine.

Why one long module: ``Lab`` is the one object a notebook talks to; each method only
starts and wires a piece that lives in its own module.

Layer 5 (an edge).
"""

from __future__ import annotations

import atexit
import threading
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal

import httpx

from proxylab.cache.http_cache import HttpCache
from proxylab.errors import ConfigError
from proxylab.forward.filters import FilterPolicy
from proxylab.forward.privacy import PrivacyPolicy
from proxylab.forward.proxy import ForwardProxy, ForwardSettings
from proxylab.forward.rules import Rule
from proxylab.lab.kitchens import (
    DEFAULT_LATENCY,
    HEALTH_PATH,
    Kitchen,
    Latency,
)
from proxylab.lab.network import LabAddresses, make_client
from proxylab.lab.sites import SITE_NAMES, BlackHole, Site
from proxylab.metrics import EventLog
from proxylab.net.connection import Timeouts
from proxylab.net.server import Server
from proxylab.reverse.balancers import Balancer

if TYPE_CHECKING:
    from proxylab.net.tls import LabCertificates
    from proxylab.reverse.proxy import ReverseProxy
    from proxylab.reverse.routes import ReverseSettings

__all__ = [
    "ForwardRun",
    "Lab",
    "ReverseRun",
    "wait_until",
]


def wait_until(condition: Callable[[], bool], timeout: float = 10.0, every: float = 0.005) -> bool:
    """Check ``condition`` every ``every`` seconds until it holds; False after ``timeout``.

    Things in the lab happen in other threads: a proxy records its event just *after*
    sending the response, a health check notices a stopped kitchen a moment later. A
    bounded poll waits exactly as long as needed and never forever, where a fixed sleep
    would be too short on a busy laptop and too long everywhere else.
    """
    deadline, tick = time.monotonic() + timeout, threading.Event()
    while not condition():
        if time.monotonic() > deadline:
            return False
        tick.wait(every)
    return True


@dataclass(frozen=True, slots=True)
class ForwardRun:
    """A running forward proxy: its ``Server`` and its ``ForwardProxy`` (cache, settings)."""

    server: Server
    proxy: ForwardProxy

    @property
    def url(self) -> str:
        """The proxy's own URL, e.g. for ``httpx.Client(proxy=...)`` or ``curl -x``."""
        return self.server.url

    @property
    def cache(self) -> HttpCache | None:
        """The proxy's cache, if it has one (``.stats()`` for hit counts)."""
        return self.proxy.cache


@dataclass(frozen=True, slots=True)
class ReverseRun:
    """A running reverse proxy (the waiter): server, proxy, lab name and its kitchens."""

    server: Server
    proxy: ReverseProxy
    name: str
    kitchens: tuple[Kitchen, ...]
    tls: bool

    @property
    def url(self) -> str:
        """``http://waiter.test`` (or https): reachable with ``lab.client()``."""
        return f"{'https' if self.tls else 'http'}://{self.name}"

    def stats(self) -> Any:
        """The proxy's per-backend statistics (see ``ReverseProxy.stats``)."""
        return self.proxy.stats()


class Lab:
    """Sites, kitchens, black holes and proxies on loopback, owned by one object.

    ``with Lab() as lab:`` or ``lab = Lab().start()`` ... ``lab.close()``. ``seed`` makes
    the kitchens repeatable; ``distinct_addresses`` forces (True/False) or, by default,
    detects whether each role gets its own 127.0.0.x address.
    """

    def __init__(
        self,
        *,
        seed: int = 0,
        distinct_addresses: bool | None = None,
        sites: Sequence[str] = SITE_NAMES,
        events: EventLog | None = None,
    ) -> None:
        self.seed = seed
        self.events = events if events is not None else EventLog()
        self.addresses = LabAddresses.detect(distinct_addresses)
        #: lab name -> (host, port) really listening; shared (live) with every proxy
        self.resolver: dict[str, tuple[str, int]] = {}
        self.sites: dict[str, Site] = {}
        self._site_names = tuple(sites)
        self._kitchens: list[Kitchen] = []
        self._holes: list[BlackHole] = []
        self._forwards: list[ForwardRun] = []
        self._reverses: list[ReverseRun] = []
        self._clients: list[httpx.Client] = []
        self._certificates: LabCertificates | None = None
        self._lock = threading.Lock()
        self._state = "new"

    @property
    def distinct_addresses(self) -> bool:
        """True when you, the proxies and the sites each have their own 127.0.0.x address."""
        return self.addresses.distinct

    # -- life cycle --------------------------------------------------------------------
    def start(self) -> Lab:
        """Start the sites (idempotent); returns self. A closed lab cannot restart."""
        if self._state == "closed":
            raise ConfigError("This lab was closed; create a new Lab() instead.")
        if self._state == "new":
            self._state = "running"
            atexit.register(self.close)
            try:
                for index, name in enumerate(self._site_names):
                    self.add_site(name, index)
            except BaseException:
                self.close()
                raise
        return self

    def close(self) -> None:
        """Stop everything the lab started, join every thread, close every socket (idempotent).

        Order matters: clients first, then what never answers, then the kitchens and
        sites (waking their waiting requests), and the proxies last, so no proxy thread
        is left waiting on an origin that is still up.
        """
        with self._lock:
            if self._state == "closed":
                return
            self._state = "closed"
            clients, self._clients = self._clients, []
        atexit.unregister(self.close)
        steps: list[Any] = [client.close for client in clients]
        steps += [hole.close for hole in self._holes]
        steps += [kitchen.stop for kitchen in self._kitchens]
        steps += [site.stop for site in self.sites.values()]
        for run in self._reverses:
            steps += [run.server.stop, run.proxy.close]
        for forward in self._forwards:
            steps += [forward.server.stop, forward.proxy.close]
        if self._certificates is not None:
            steps.append(self._certificates.close)
        _run_all(steps)

    def __enter__(self) -> Lab:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _require_running(self) -> None:
        if self._state != "running":
            raise ConfigError("Start the lab first: `with Lab() as lab:` or `Lab().start()`.")

    # -- origins -----------------------------------------------------------------------
    def add_site(self, name: str, index: int | None = None) -> Site:
        """Start one more demo site called ``name`` (usually ``something.test``)."""
        self._require_running()
        index = len(self.sites) if index is None else index
        site = Site(name, (self.addresses.site(index), 0), events=self.events).start()
        self.sites[name] = site
        self.resolver[name] = site.address
        return site

    def site(self, name: str) -> Site:
        """The running site called ``name``."""
        try:
            return self.sites[name]
        except KeyError:
            raise ConfigError(f"No site {name!r}; the lab has {', '.join(self.sites)}.") from None

    def kitchen(
        self,
        name: str,
        latency: Latency = DEFAULT_LATENCY,
        error_rate: float = 0.0,
        capacity: int = 4,
        *,
        weight: int = 1,
        seed: int | None = None,
    ) -> Kitchen:
        """Open a kitchen, reachable as ``name`` and ``name.test`` through the lab."""
        self._require_running()
        address = (self.addresses.kitchen(len(self._kitchens) + len(self._holes)), 0)
        seed = zlib.crc32(f"{self.seed}:{name}".encode()) if seed is None else seed
        kitchen = Kitchen(
            name, latency, error_rate, capacity, address=address, weight=weight, seed=seed,
            events=self.events,
        )  # fmt: skip
        self._kitchens.append(kitchen.start())
        self._register(name, kitchen.address)
        return kitchen

    def kitchens(
        self, count: int, latency: Latency = DEFAULT_LATENCY, **options: Any
    ) -> list[Kitchen]:
        """Open ``count`` alike kitchens named kitchen-a, kitchen-b, ... (then kitchen-27 ...)."""
        numbers = range(len(self._kitchens), len(self._kitchens) + count)
        names = [f"kitchen-{chr(97 + n) if n < 26 else n + 1}" for n in numbers]
        return [self.kitchen(name, latency, **options) for name in names]

    def black_hole(self, name: str = "blackhole.test") -> BlackHole:
        """An origin that accepts connections and never answers, reachable as ``name``."""
        self._require_running()
        hole = BlackHole((self.addresses.kitchen(len(self._kitchens) + len(self._holes)), 0))
        self._holes.append(hole)
        self._register(name, hole.address)
        return hole

    def _register(self, name: str, address: tuple[str, int]) -> None:
        self.resolver[name] = address
        if not name.endswith(".test"):
            self.resolver[f"{name}.test"] = address

    def url(self, name: str, path: str = "/") -> str:
        """``http://name/path``: the URL a browser would use (resolved by the lab)."""
        return f"http://{name}{path if path.startswith('/') else '/' + path}"

    # -- proxies -----------------------------------------------------------------------
    def forward_proxy(
        self,
        privacy: str = "anonymous",
        *,
        block: Sequence[str] = (),
        allow: Sequence[str] = (),
        rules: Sequence[Rule] | None = None,
        default: Literal["allow", "deny"] = "allow",
        filters: FilterPolicy | None = None,
        scrub: Sequence[str] = (),
        cache_size: int = 0,
        max_object_size: int = 1024 * 1024,
        cache_clock: Callable[[], float] | None = None,
        cache: HttpCache | None = None,
        timeout: float = 5.0,
        max_connections: int = 1024,
        head_timeout: float | None = None,
    ) -> ForwardRun:
        """Start a forward proxy (the friend) that knows the lab's names; the lab stops it.

        ``block``/``allow`` are command-line patterns (``*.social.test``); ``rules`` with
        ``default`` ("allow" or "deny") build the filter from ``Rule`` objects instead;
        ``filters`` gives a whole ``FilterPolicy`` (e.g. with a fake clock for time windows).
        ``cache_size`` in bytes, 0 for no cache; or ``cache``, an ``HttpCache`` built by
        hand (to change one of its knobs). ``timeout`` bounds connecting to and waiting for
        an origin (the 504 of a black hole comes after it). ``max_connections`` bounds the
        clients served at once (1: one at a time); ``head_timeout`` is the deadline for a
        client's whole request head (``Timeouts.head``, 408 after it).
        """
        self._require_running()
        if cache is not None and cache_size > 0:
            raise ConfigError("Give either cache_size= or cache=HttpCache(...), not both.")
        if filters is not None:
            if rules is not None or block or allow:
                raise ConfigError("Give filters=FilterPolicy(...) or rules/block/allow, not both.")
        elif rules is not None:
            filters = FilterPolicy(tuple(rules), default)
        else:
            filters = FilterPolicy.from_patterns(block=list(block), allow=list(allow))
        settings = ForwardSettings(
            privacy=PrivacyPolicy.from_names(privacy, scrub),
            filters=filters,
            resolve=self.resolver,
            source_address=(self.addresses.proxy, 0),
            timeouts=_forward_timeouts(timeout, head_timeout),
        )
        if cache_size > 0:
            clock = time.time if cache_clock is None else cache_clock
            cache = HttpCache(cache_size, max_object_size, clock=clock)
        proxy = ForwardProxy(settings, cache=cache, events=self.events)
        server = proxy.serve((self.addresses.proxy, 0), max_connections=max_connections)
        run = ForwardRun(server.start(), proxy)
        self._forwards.append(run)
        return run

    def reverse_proxy(
        self,
        kitchens: Sequence[Kitchen],
        balancer: str | Balancer = "round-robin",
        *,
        tls: bool = False,
        name: str | None = None,
        settings: ReverseSettings | None = None,
        **setting_options: Any,
    ) -> ReverseRun:
        """Start a reverse proxy (the waiter) in front of ``kitchens``; the lab stops it.

        It is reachable as ``run.url`` (``http://waiter.test``, a second one
        ``waiter-2.test`` ...). ``tls=True`` terminates HTTPS with a lab certificate that
        ``lab.client()`` trusts. ``settings`` is a ``ReverseSettings``; otherwise
        ``setting_options`` build one, with active health checks on ``/health`` and
        orders leaving from the waiter's own address, so kitchens see the waiter.
        """
        from proxylab.reverse.proxy import ReverseProxy
        from proxylab.reverse.routes import ReverseSettings

        self._require_running()
        name = name or (
            "waiter.test" if not self._reverses else f"waiter-{len(self._reverses) + 1}.test"
        )
        if settings is not None and setting_options:
            raise ConfigError("Give either settings=ReverseSettings(...) or options, not both.")
        if settings is None:
            defaults = {
                "health_check_path": HEALTH_PATH,
                "source_address": (self.addresses.waiter, 0),
            }
            settings = ReverseSettings(**{**defaults, **setting_options})
        proxy = ReverseProxy(
            backends=[kitchen.backend for kitchen in kitchens], balancer=balancer, settings=settings,
            events=self.events,
        )  # fmt: skip
        context = self.certificates.server_context(name, self.addresses.waiter) if tls else None
        try:
            server = proxy.serve((self.addresses.waiter, 0), ssl_context=context).start()
        except BaseException:
            proxy.close()
            raise
        run = ReverseRun(server, proxy, name, tuple(kitchens), tls)
        self._reverses.append(run)
        self.resolver[name] = server.address
        return run

    @property
    def certificates(self) -> LabCertificates:
        """The lab's certificate authority (created on first use; needs trustme)."""
        if self._certificates is None:
            from proxylab.net.tls import LabCertificates

            self._certificates = LabCertificates()
        return self._certificates

    # -- clients -----------------------------------------------------------------------
    def client(
        self, via_proxy: bool | ForwardRun | str = False, *, timeout: float = 5.0, **options: Any
    ) -> httpx.Client:
        """An httpx client that connects from "you" (127.0.0.10) and knows the lab's names.

        ``via_proxy=True`` goes through the most recent forward proxy (one is started if
        there is none); a ``ForwardRun`` or a proxy URL picks one. The lab closes the
        client at the end; closing it earlier is fine. ``options`` go to ``httpx.Client``.
        """
        self._require_running()
        verify = self.certificates.client_context()  # trusts the lab CA, and only it
        proxy_url = self._proxy_url(via_proxy)
        client = make_client(
            self.resolver, self.addresses.you, proxy_url, verify, timeout, **options
        )
        with self._lock:
            # kept (not weakly) so that even a throw-away client's sockets get closed
            self._clients = [c for c in self._clients if not c.is_closed] + [client]
        return client

    def _proxy_url(self, via_proxy: bool | ForwardRun | str) -> str | None:
        if isinstance(via_proxy, ForwardRun):
            return via_proxy.url
        if isinstance(via_proxy, str):
            return via_proxy
        if not via_proxy:
            return None
        return (self._forwards[-1] if self._forwards else self.forward_proxy()).url

    def __repr__(self) -> str:
        where = "distinct 127.0.0.x addresses" if self.distinct_addresses else "127.0.0.1 only"
        return (
            f"Lab({self._state}, {len(self.sites)} sites, {len(self._kitchens)} kitchens, {where})"
        )


def _forward_timeouts(timeout: float, head_timeout: float | None) -> Timeouts:
    """The friend's deadlines: ``timeout`` towards origins, ``head_timeout`` for clients' heads."""
    timeouts = Timeouts(connect=timeout, upstream_read=timeout)
    return timeouts if head_timeout is None else replace(timeouts, head=head_timeout)


def _run_all(steps: Sequence[Any]) -> None:
    """Call every step even if some fail; then re-raise the first failure."""
    first: BaseException | None = None
    for step in steps:
        try:
            step()
        except Exception as error:  # noqa: BLE001 - keep closing the rest
            first = first or error
    if first is not None:
        raise first
