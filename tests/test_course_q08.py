"""Questions of 08_millions_of_users: right answers (measured with the library) pass, wrong fail."""

from __future__ import annotations

from proxylab.course.balancing_lab import moved_share, simulate_each
from proxylab.course.checks import check
from proxylab.lab.simulate import SimBackend
from proxylab.reverse.balancers import Backend, ConsistentHash, IpHash

USERS = [f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}" for n in range(10_000)]
POOL = [Backend(f"10.1.0.{n}", 8080, name=f"kitchen-{n}") for n in range(1, 21)]


def test_herding_answer_is_the_balancer_stale_information_hurts_most() -> None:
    alike = [SimBackend(f"k{n}", "exp:0.010", capacity=1) for n in range(10)]
    names = ["least-connections", "p2c", "random"]
    fresh = simulate_each(names, alike, 8_000, 800, seed=1, quiet=True)
    stale = simulate_each(names, alike, 8_000, 800, seed=1, stale_info=0.1, quiet=True)
    worse = {name: stale[name].p99 / fresh[name].p99 for name in names}
    worst = max(worse, key=worse.__getitem__)
    assert check("08.herding", worst)
    assert check("08.herding", "Least Connections")
    assert not check("08.herding", "p2c")


def test_modulo_moves_is_what_ip_hash_does_from_19_to_20() -> None:
    share = moved_share(IpHash, USERS, POOL[:19], POOL[:20])
    assert check("08.modulo_moves", share)
    assert check("08.modulo_moves", round(share, 2))
    assert not check("08.modulo_moves", 1 / 20)
    assert not check("08.modulo_moves", "a lot")


def test_ring_moves_is_what_consistent_hash_does_from_19_to_20() -> None:
    share = moved_share(ConsistentHash, USERS, POOL[:19], POOL[:20])
    assert check("08.ring_moves", share)
    assert not check("08.ring_moves", 19 / 20)
    assert not check("08.ring_moves", 0.5)
