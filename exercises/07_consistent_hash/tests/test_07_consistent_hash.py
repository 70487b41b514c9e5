"""Graded tests for exercise 07: a consistent-hash ring with virtual nodes."""

from __future__ import annotations

import bisect
import hashlib
from collections import Counter
from types import ModuleType

import pytest

KEYS = [f"/video/{n}.mp4" for n in range(20_000)]


def spec_hash(text: str) -> int:
    """The ring position the README specifies (computed here, not taken from the student)."""
    return int.from_bytes(hashlib.md5(text.encode(), usedforsecurity=False).digest()[:4], "little")


def spec_points(nodes: dict[str, int], vnodes: int) -> list[tuple[int, str]]:
    return sorted(
        (spec_hash(f"{node}-{i}"), node) for node, w in nodes.items() for i in range(vnodes * w)
    )


def spec_owner(points_: list[tuple[int, str]], key: str) -> str:
    index = bisect.bisect_left([p for p, _ in points_], spec_hash(key))
    return points_[index % len(points_)][1]


def owners(ring: object, keys: list[str]) -> dict[str, str]:
    return {key: ring.node_for(key) for key in keys}  # type: ignore[attr-defined]


# --- the ring ---------------------------------------------------------------------------


@pytest.mark.points(1)
@pytest.mark.group("ring")
def test_empty_ring_is_a_lookup_error(solution: ModuleType) -> None:
    with pytest.raises(LookupError):
        solution.HashRing().node_for("anything")
    ring = solution.HashRing(["a"])
    ring.remove("a")
    with pytest.raises(LookupError):
        ring.node_for("anything")


@pytest.mark.points(1)
@pytest.mark.group("ring")
def test_nodes_in_order_added(solution: ModuleType) -> None:
    ring = solution.HashRing(["b", "a"], vnodes=4)
    ring.add("c", weight=2)
    assert ring.nodes == ["b", "a", "c"], f"nodes should list b, a, c; got {ring.nodes}"


@pytest.mark.points(2)
@pytest.mark.group("ring")
def test_each_point_label_belongs_to_its_node(solution: ModuleType) -> None:
    ring = solution.HashRing(["a", "b", "c"], vnodes=10)
    wrong = [
        (label, got)
        for node in "abc"
        for label in (f"{node}-{i}" for i in range(10))
        if (got := ring.node_for(label)) != node
    ]
    assert not wrong, (
        f"the key 'b-7' hashes exactly onto b's point 'b-7', so b owns it (the first point AT "
        f"or after the key). Wrong owners (key, got): {wrong[:5]}"
    )


@pytest.mark.points(2)
@pytest.mark.group("ring")
def test_owners_match_the_ring_rule(solution: ModuleType) -> None:
    weights = {"cache-1": 1, "cache-2": 2, "cache-3": 1}
    ring = solution.HashRing(vnodes=20)
    for node, weight in weights.items():
        ring.add(node, weight)
    ring_points = spec_points(weights, 20)
    wrong = [
        (k, ring.node_for(k)) for k in KEYS[:2000] if ring.node_for(k) != spec_owner(ring_points, k)
    ]
    assert not wrong, (
        f"{len(wrong)} of 2000 keys have the wrong owner, e.g. {wrong[:3]}: a node of weight w "
        "has points ring_hash(f'{node}-{i}') for i < vnodes * w; a key goes to the first point "
        ">= ring_hash(key)"
    )


@pytest.mark.points(2)
@pytest.mark.group("ring")
def test_wraps_past_the_top(solution: ModuleType) -> None:
    weights = {"a": 1, "b": 1, "c": 1}
    ring_points = spec_points(weights, 5)
    top, lowest_owner = ring_points[-1][0], ring_points[0][1]
    key = next(k for k in KEYS if spec_hash(k) > top)
    got = solution.HashRing(list(weights), vnodes=5).node_for(key)
    assert got == lowest_owner, (
        f"{key!r} hashes past the last point on the ring, so it wraps around to the first "
        f"point, owned by {lowest_owner}; got {got}"
    )


@pytest.mark.points(1)
@pytest.mark.group("ring")
def test_order_of_adding_does_not_matter(solution: ModuleType) -> None:
    one = owners(solution.HashRing(["a", "b", "c", "d"], vnodes=40), KEYS[:3000])
    two = owners(solution.HashRing(["d", "b", "a", "c"], vnodes=40), KEYS[:3000])
    moved = sum(one[k] != two[k] for k in one)
    assert moved == 0, f"the same nodes added in another order gave {moved} keys another owner"


@pytest.mark.points(1)
@pytest.mark.group("ring")
def test_bad_arguments_refused(solution: ModuleType) -> None:
    with pytest.raises(ValueError):
        solution.HashRing(vnodes=0)
    ring = solution.HashRing(["a"])
    with pytest.raises(ValueError):
        ring.add("a")
    with pytest.raises(ValueError):
        ring.add("b", weight=0)
    with pytest.raises(KeyError):
        ring.remove("zzz")


# --- balance ----------------------------------------------------------------------------


@pytest.mark.points(3)
@pytest.mark.group("balance")
def test_virtual_nodes_spread_the_keys(solution: ModuleType) -> None:
    ring = solution.HashRing(["a", "b", "c", "d"])  # 160 points each
    shares = {n: c / len(KEYS) for n, c in Counter(owners(ring, KEYS).values()).items()}
    rounded = {n: round(s, 3) for n, s in shares.items()}
    assert len(shares) == 4 and all(0.17 < s < 0.33 for s in shares.values()), (
        f"with 160 virtual nodes each of 4 nodes should own about a quarter of the keys; "
        f"shares were {rounded}"
    )


@pytest.mark.points(1)
@pytest.mark.group("balance")
def test_weight_two_owns_twice_as_much(solution: ModuleType) -> None:
    ring = solution.HashRing(["b", "c"])
    ring.add("a", weight=2)
    counts = Counter(owners(ring, KEYS).values())
    share = counts["a"] / len(KEYS)
    assert 0.4 < share < 0.6, (
        f"a (weight 2) next to b and c (weight 1) should own ~50 %: {share:.1%}"
    )


# --- rebalancing ------------------------------------------------------------------------


@pytest.mark.points(3)
@pytest.mark.group("rebalancing")
def test_a_joining_node_moves_few_keys(solution: ModuleType) -> None:
    ring = solution.HashRing(["a", "b", "c", "d"])
    before = owners(ring, KEYS)
    ring.add("e")
    after = owners(ring, KEYS)
    moved = [k for k in KEYS if before[k] != after[k]]
    fraction = len(moved) / len(KEYS)
    assert 0.1 < fraction < 0.3, (
        f"a fifth node joined and {fraction:.1%} of the keys moved; about 1/5 (20 %) should "
        "move (hash % n would move about 80 %)"
    )
    elsewhere = Counter(after[k] for k in moved if after[k] != "e")
    assert not elsewhere, f"every moved key must move to the new node e; some went to {elsewhere}"


@pytest.mark.points(3)
@pytest.mark.group("rebalancing")
def test_a_leaving_node_moves_only_its_keys(solution: ModuleType) -> None:
    ring = solution.HashRing(["a", "b", "c", "d", "e"])
    before = owners(ring, KEYS)
    ring.remove("c")
    after = owners(ring, KEYS)
    others_moved = [k for k in KEYS if before[k] != "c" and after[k] != before[k]]
    assert not others_moved, f"{len(others_moved)} keys not owned by c moved when c left"
    heirs = Counter(after[k] for k in KEYS if before[k] == "c")
    assert len(heirs) == 4 and min(heirs.values()) > 0.1 * sum(heirs.values()), (
        f"c's keys should be shared by all four other nodes (virtual nodes); they went {heirs}"
    )
