"""The questions of notebook 12 pass the right answers (computed from the library) and fail
wrong ones."""

from __future__ import annotations

from pathlib import Path

from proxylab.course import check
from proxylab.export import ReverseConfig, load_config, to_haproxy, to_nginx, to_squid
from proxylab.http.messages import Headers, Request
from proxylab.reverse.balancers import BALANCERS, Backend, make_balancer


def _reverse(tmp_path: Path, balancer: str) -> ReverseConfig:
    path = tmp_path / f"{balancer}.toml"
    path.write_text(f'[reverse]\nbalancer = "{balancer}"\nbackends = ["127.0.0.1:9001"]\n')
    config = load_config(path)
    assert isinstance(config, ReverseConfig)
    return config


def test_nginx_p2c(tmp_path: Path) -> None:
    text = to_nginx(_reverse(tmp_path, "p2c")).text
    upstream = text[text.index("upstream ") :].splitlines()
    right = next(line.strip() for line in upstream if line.strip().startswith("random"))
    assert check("12.nginx_p2c", right)
    assert check("12.nginx_p2c", right.rstrip(";"))
    assert not check("12.nginx_p2c", "least_conn;")
    assert not check("12.nginx_p2c", "random;")


def test_squid_elite(tmp_path: Path) -> None:
    path = tmp_path / "elite.toml"
    path.write_text('[forward]\nprivacy = "elite"\n')
    lines = to_squid(load_config(path)).text.splitlines()  # type: ignore[arg-type]
    right = [line for line in lines if line.startswith(("forwarded_for", "via "))]
    assert check("12.squid_elite", right)
    assert check("12.squid_elite", list(reversed(right)))
    assert not check("12.squid_elite", ["forwarded_for on", "via on"])
    assert not check("12.squid_elite", ["forwarded_for delete", "via on"])


def test_weighted_orders() -> None:
    balancer = make_balancer("weighted")
    kitchens = [
        Backend("127.0.0.1", 9001, 2),
        Backend("127.0.0.1", 9002),
        Backend("127.0.0.1", 9003),
    ]
    request = Request("GET", "/", Headers())
    picks = [balancer.choose(request, kitchens) for _ in range(40)]
    right = picks.count(kitchens[0])  # nginx's own algorithm: the runs show nginx agrees
    assert check("12.weighted_orders", right)
    assert not check("12.weighted_orders", 40 // 3)
    assert not check("12.weighted_orders", "thirty")


def test_not_exported(tmp_path: Path) -> None:
    lacking = [
        name
        for name in BALANCERS
        if to_nginx(_reverse(tmp_path, name)).warnings
        and any(
            "no least" in w or "has no" in w for w in to_haproxy(_reverse(tmp_path, name)).warnings
        )
    ]
    assert len(lacking) == 1
    assert check("12.not_exported", lacking[0])
    assert not check("12.not_exported", "p2c")
    assert not check("12.not_exported", "ip-hash")
