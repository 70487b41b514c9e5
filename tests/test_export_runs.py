"""The exported files RUN by nginx, HAProxy and Squid on loopback behave like proxylab.

Each program is started in the foreground in its own temporary directory, on a free port,
waited for by polling that port and stopped by its pid (``proxylab.export.programs``).
The same configuration file then drives proxylab and the real program, against the same
lab kitchens and sites, and the test compares what the kitchens and sites saw.
"""

from __future__ import annotations

import ssl
from collections import Counter
from pathlib import Path

import httpx
import pytest
from export_helpers import certificate_files, forward_config, needs, reverse_config

from proxylab.export import ReverseConfig, to_haproxy, to_nginx, to_squid
from proxylab.export.programs import RealProxy, free_port
from proxylab.forward import ForwardProxy
from proxylab.lab import Kitchen, Lab
from proxylab.reverse import ReverseProxy

pytestmark = pytest.mark.timeout(120)
EXPORTERS = {"nginx": to_nginx, "haproxy": to_haproxy}
ORDERS = 50


def shop_file(kitchens: list[Kitchen], weights: tuple[int, ...], balancer: str, port: int) -> str:
    backends = ", ".join(
        f'"{k.address[0]}:{k.address[1]}={w}"' for k, w in zip(kitchens, weights, strict=True)
    )
    listen = f'listen = "127.0.0.1:{port}"'
    return f'[reverse]\n{listen}\nbalancer = "{balancer}"\nbackends = [{backends}]\n'


def orders(client: httpx.Client, url: str, count: int = ORDERS) -> Counter[str]:
    """Which kitchen cooked each of ``count`` orders (one keep-alive client, in sequence)."""
    return Counter(client.get(f"{url}/order/{n}").json()["kitchen"] for n in range(count))


def proxylab_orders(lab: Lab, config: ReverseConfig) -> Counter[str]:
    proxy = ReverseProxy(config.routes(), settings=config.settings())
    try:
        with proxy.serve(("127.0.0.1", 0)) as server:
            return orders(lab.client(), server.url)
    finally:
        proxy.close()


@pytest.mark.parametrize("program", sorted(EXPORTERS))
@pytest.mark.parametrize(
    ("balancer", "weights"), [("round-robin", (1, 1, 1)), ("weighted", (3, 1, 1))]
)
def test_the_same_distribution_as_proxylab(
    tmp_path: Path, program: str, balancer: str, weights: tuple[int, ...]
) -> None:
    needs_mark = needs(program)
    if needs_mark.args[0]:
        pytest.skip(needs_mark.kwargs["reason"])
    with Lab() as lab:
        kitchens = lab.kitchens(3)
        port = free_port()
        config = reverse_config(tmp_path, shop_file(kitchens, weights, balancer, port))
        ours = proxylab_orders(lab, config)
        with RealProxy(program, EXPORTERS[program](config).text, port) as real:
            theirs = orders(lab.client(), real.url)
    total = sum(weights)
    expected = {k.name: ORDERS * w // total for k, w in zip(kitchens, weights, strict=True)}
    print(f"\n{program} {balancer} {weights}: proxylab {dict(ours)}  {program} {dict(theirs)}")
    assert sum(ours.values()) == sum(theirs.values()) == ORDERS
    assert ours == theirs
    assert all(abs(ours[name] - share) <= 1 for name, share in expected.items())


def forwarding_view(client: httpx.Client, url: str) -> tuple[dict[str, str], httpx.Response]:
    """The forwarding fields the kitchen saw, for a guest that tries to spoof its address."""
    response = client.get(f"{url}/whoami", headers={"X-Forwarded-For": "203.0.113.66"})
    seen = {name.lower(): value for name, value in response.json()["headers"]}
    fields = ("host", "x-forwarded-for", "x-forwarded-proto", "x-forwarded-host")
    return {name: seen.get(name, "-") for name in fields}, response


@pytest.mark.parametrize("program", sorted(EXPORTERS))
def test_the_kitchen_sees_the_same_forwarding_headers(tmp_path: Path, program: str) -> None:
    needs_mark = needs(program)
    if needs_mark.args[0]:
        pytest.skip(needs_mark.kwargs["reason"])
    with Lab() as lab:
        kitchens = lab.kitchens(2)
        port = free_port()
        config = reverse_config(tmp_path, shop_file(kitchens, (1, 1), "round-robin", port))
        proxy = ReverseProxy(config.routes(), settings=config.settings())
        try:
            with proxy.serve(("127.0.0.1", port)) as server:
                ours, our_reply = forwarding_view(lab.client(), server.url)
        finally:
            proxy.close()
        with RealProxy(program, EXPORTERS[program](config).text, port) as real:
            theirs, their_reply = forwarding_view(lab.client(), real.url)
    print(f"\n{program}: proxylab {ours}\n{' ' * len(program)}  {program} {theirs}")
    assert ours == theirs
    assert theirs["x-forwarded-for"] == lab.addresses.you  # the guest, not the spoofed value
    assert theirs["host"] == theirs["x-forwarded-host"] == f"127.0.0.1:{port}"
    assert theirs["x-forwarded-proto"] == "http"
    for reply in (our_reply, their_reply):  # the kitchen's own Server field stays hidden
        assert "proxylab-lab" not in reply.headers.get("server", "")


@pytest.mark.parametrize("program", sorted(EXPORTERS))
def test_tls_redirect_and_hsts(tmp_path: Path, program: str) -> None:
    needs_mark = needs(program)
    if needs_mark.args[0]:
        pytest.skip(needs_mark.kwargs["reason"])
    ca, cert, key, both = certificate_files(tmp_path)
    with Lab() as lab:
        kitchens = lab.kitchens(1)
        port, plain = free_port(), free_port()
        text = shop_file(kitchens, (1,), "round-robin", port) + (
            f'[reverse.tls]\ncert = "{both if program == "haproxy" else cert}"\nkey = "{key}"\n'
            f'redirect_http = "127.0.0.1:{plain}"\nhsts = 600\n'
        )
        config = reverse_config(tmp_path, text)
        with RealProxy(program, EXPORTERS[program](config).text, port) as real:
            verify = ssl.create_default_context(cafile=str(ca))
            with httpx.Client(verify=verify, trust_env=False, timeout=10) as client:
                secure = client.get(f"https://localhost:{port}/whoami")
                moved = client.get(f"http://localhost:{plain}/menu?x=1")
            assert real.address == ("127.0.0.1", port)
    seen = {name.lower(): value for name, value in secure.json()["headers"]}
    assert seen["x-forwarded-proto"] == "https"
    assert secure.headers["strict-transport-security"] == "max-age=600"
    assert moved.status_code == 301
    assert moved.headers["location"] == f"https://localhost:{port}/menu?x=1"


# -- Squid ---------------------------------------------------------------------------------
def school_file(port: int, privacy: str) -> str:
    return (
        f'[forward]\nlisten = "127.0.0.1:{port}"\nprivacy = "{privacy}"\nscrub = ["referer"]\n'
        '[[forward.rules]]\naction = "block"\nhost = "*.social.test"\n'
    )


def origin_view(client: httpx.Client, lab: Lab) -> tuple[set[str], dict[str, str], int]:
    """What news.test saw (proxy-revealing fields and values) and the status for social.test."""
    port = lab.resolver["news.test"][1]
    spoof = {
        "X-Real-IP": "203.0.113.7",
        "Referer": "http://school.test/secret",
        "X-Forwarded-Proto": "https",  # a proxy trace: only elite removes it
    }
    seen = client.get(f"http://news.test:{port}/whoami", headers=spoof).json()
    fields = {name.lower(): value for name, value in seen["headers"]}
    revealing = {"via", "x-forwarded-for", "x-real-ip", "referer", "x-forwarded-proto"}
    revealing &= set(fields)
    blocked = client.get(f"http://social.test:{lab.resolver['social.test'][1]}/").status_code
    return revealing, fields, blocked


@needs("squid")
@pytest.mark.parametrize("privacy", ["transparent", "anonymous", "elite"])
def test_squid_blocks_and_reveals_what_proxylab_does(tmp_path: Path, privacy: str) -> None:
    with Lab() as lab:
        port = free_port()
        config = forward_config(tmp_path, school_file(port, privacy))
        proxy = ForwardProxy(config.settings(resolve=lab.resolver))
        try:
            with proxy.serve(("127.0.0.1", 0)) as server:
                ours, our_fields, our_block = origin_view(lab.client(via_proxy=server.url), lab)
        finally:
            proxy.close()
        hosts = {name: address[0] for name, address in lab.resolver.items()}
        with RealProxy("squid", to_squid(config).text, port, hosts=hosts) as squid:
            theirs, their_fields, their_block = origin_view(lab.client(via_proxy=squid.url), lab)
    print(
        f"\nsquid {privacy}: proxylab {sorted(ours)} {our_block}; "
        f"squid {sorted(theirs)} {their_block}"
    )
    assert our_block == their_block == 403
    assert ours == theirs
    expected = {
        "transparent": {"via", "x-forwarded-for", "x-real-ip", "x-forwarded-proto"},
        "anonymous": {"via", "x-forwarded-proto"},
    }
    assert theirs == expected.get(privacy, set())
    if privacy == "transparent":
        assert their_fields["x-forwarded-for"] == our_fields["x-forwarded-for"] == lab.addresses.you
