"""Graded tests for exercise 08: rise/fall active checks and passive failures."""

from __future__ import annotations

from types import ModuleType

import pytest


class Clock:
    """A clock the test moves by hand: no sleeping, exact boundaries."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def feed(machine: object, backend: str, results: str) -> list[str | None]:
    """Feed ``"ffo"`` (f = failed probe, o = good probe); the list of what observe returned."""
    return [machine.observe(backend, r == "o") for r in results]  # type: ignore[attr-defined]


def downed(module: ModuleType, backend: str = "k1", **settings: int) -> object:
    machine = module.RiseFall(**settings)
    machine.mark_down(backend)
    return machine


# --- rise and fall ----------------------------------------------------------------------


@pytest.mark.points(1)
@pytest.mark.group("rise_fall")
def test_a_new_backend_is_up(solution: ModuleType) -> None:
    assert solution.RiseFall().state("never-seen") == "up", "every backend starts up"


@pytest.mark.points(2)
@pytest.mark.group("rise_fall")
def test_down_after_fall_failures_in_a_row(solution: ModuleType) -> None:
    machine = solution.RiseFall(rise=2, fall=3)
    got = feed(machine, "k1", "ffff")
    assert got == [None, None, "down", None], (
        f"fall=3: the 3rd failure in a row takes k1 down and is reported once; observe "
        f"returned {got}"
    )
    assert machine.state("k1") == "down"


@pytest.mark.points(2)
@pytest.mark.group("rise_fall")
def test_up_after_rise_successes_in_a_row(solution: ModuleType) -> None:
    machine = solution.RiseFall(rise=2, fall=3)
    feed(machine, "k1", "fff")
    got = feed(machine, "k1", "ooo")
    assert got == [None, "up", None], f"rise=2: the 2nd good probe brings k1 back; got {got}"
    assert machine.state("k1") == "up"


@pytest.mark.points(1)
@pytest.mark.group("rise_fall")
def test_agreeing_results_change_nothing(solution: ModuleType) -> None:
    machine = solution.RiseFall()
    assert feed(machine, "k1", "oooooo") == [None] * 6, (
        "good probes of an up backend change nothing"
    )
    assert machine.state("k1") == "up"


@pytest.mark.points(1)
@pytest.mark.group("rise_fall")
def test_rise_one_fall_one_follows_every_probe(solution: ModuleType) -> None:
    machine = solution.RiseFall(rise=1, fall=1)
    got = feed(machine, "k1", "fofo")
    assert got == ["down", "up", "down", "up"], f"rise=1, fall=1 follows every probe: {got}"


@pytest.mark.points(1)
@pytest.mark.group("rise_fall")
def test_bad_settings_refused(solution: ModuleType) -> None:
    for settings in ({"rise": 0}, {"fall": 0}, {"rise": -2}, {"fall": 1.5}):
        with pytest.raises(ValueError):
            solution.RiseFall(**settings)


# --- flapping ---------------------------------------------------------------------------


@pytest.mark.points(2)
@pytest.mark.group("flapping")
def test_a_good_probe_restarts_the_fall_count(solution: ModuleType) -> None:
    machine = solution.RiseFall(rise=2, fall=3)
    got = feed(machine, "k1", "ffoff")
    assert machine.state("k1") == "up" and got == [None] * 5, (
        f"f f o f f: the good probe restarts the count, so only 2 failures are in a row; "
        f"k1 must stay up (observe returned {got})"
    )
    assert feed(machine, "k1", "f") == ["down"], "a 3rd failure in a row now takes k1 down"


@pytest.mark.points(2)
@pytest.mark.group("flapping")
def test_a_failed_probe_restarts_the_rise_count(solution: ModuleType) -> None:
    machine = downed(solution, rise=2, fall=3)
    got = feed(machine, "k1", "ofo")
    assert machine.state("k1") == "down" and got == [None] * 3, (
        f"o f o on a down backend: never 2 good probes in a row, it must stay down ({got})"
    )
    assert feed(machine, "k1", "o") == ["up"], "o o in a row now: k1 is up again"


@pytest.mark.points(2)
@pytest.mark.group("flapping")
def test_a_flapping_backend_keeps_its_state(solution: ModuleType) -> None:
    up = solution.RiseFall(rise=2, fall=3)
    changes = [c for c in feed(up, "k1", "fo" * 100) if c is not None]
    assert changes == [] and up.state("k1") == "up", (
        f"200 alternating probes of an up backend must not change it (changes: {changes[:4]})"
    )
    down = downed(solution, rise=2, fall=3)
    changes = [c for c in feed(down, "k1", "of" * 100) if c is not None]
    assert changes == [] and down.state("k1") == "down", (
        f"200 alternating probes of a down backend must not bring it back ({changes[:4]})"
    )


@pytest.mark.points(2)
@pytest.mark.group("flapping")
def test_backends_are_counted_apart(solution: ModuleType) -> None:
    machine = solution.RiseFall(rise=2, fall=2)
    got = [machine.observe("k1", False), machine.observe("k2", False), machine.observe("k1", False)]
    assert got == [None, None, "down"], f"k1 f, k2 f, k1 f: only k1 has 2 in a row ({got})"
    assert machine.state("k2") == "up", "one failure at k2 does not take it down"


# --- mark down --------------------------------------------------------------------------


@pytest.mark.points(2)
@pytest.mark.group("mark_down")
def test_mark_down_then_rise_probes(solution: ModuleType) -> None:
    machine = solution.RiseFall(rise=2, fall=3)
    assert machine.mark_down("k1") is True, "mark_down of an up backend returns True"
    assert machine.state("k1") == "down"
    assert feed(machine, "k1", "oo") == [None, "up"], (
        "after mark_down, rise=2 good probes bring it back"
    )


@pytest.mark.points(1)
@pytest.mark.group("mark_down")
def test_mark_down_when_down_restarts_the_rise_count(solution: ModuleType) -> None:
    machine = downed(solution, rise=2, fall=3)
    feed(machine, "k1", "o")
    assert machine.mark_down("k1") is False, "mark_down of a backend already down returns False"
    got = feed(machine, "k1", "oo")
    assert got == [None, "up"], f"mark_down restarts the count of good probes: o o gave {got}"


@pytest.mark.points(2)
@pytest.mark.group("mark_down")
def test_mark_down_restarts_the_fall_count(solution: ModuleType) -> None:
    machine = solution.RiseFall(rise=2, fall=3)
    feed(machine, "k1", "ff")
    machine.mark_down("k1")
    feed(machine, "k1", "oo")
    got = feed(machine, "k1", "ff")
    assert got == [None, None] and machine.state("k1") == "up", (
        f"failures from before mark_down must not count later: f f after coming back gave {got}"
    )


# --- passive ----------------------------------------------------------------------------


@pytest.mark.points(2)
@pytest.mark.group("passive")
def test_out_after_max_fails_within_the_window(solution: ModuleType) -> None:
    clock = Clock()
    passive = solution.PassiveHealth(max_fails=3, fail_timeout=10.0, clock=clock)
    got = []
    for _ in range(3):
        got.append(passive.failure("k1"))
        clock.now += 1
    assert got == [False, False, True], f"the 3rd failure within 10 s takes k1 out: {got}"
    assert passive.is_out("k1"), "k1 is out right after its 3rd failure"
    assert not passive.is_out("k2"), "k2 never failed"


@pytest.mark.points(2)
@pytest.mark.group("passive")
def test_out_for_fail_timeout_then_in(solution: ModuleType) -> None:
    clock = Clock()
    passive = solution.PassiveHealth(max_fails=1, fail_timeout=10.0, clock=clock)
    assert passive.failure("k1") is True, "max_fails=1: the first failure takes k1 out"
    clock.now += 9.999
    assert passive.is_out("k1"), "9.999 s later k1 is still out (fail_timeout=10)"
    clock.now += 0.001
    assert not passive.is_out("k1"), "exactly 10 s later k1 is in again"
    assert passive.failure("k1") is True, "a new failure after the out period takes it out again"


@pytest.mark.points(2)
@pytest.mark.group("passive")
def test_the_window_boundaries(solution: ModuleType) -> None:
    clock = Clock()
    edge = solution.PassiveHealth(max_fails=2, fail_timeout=10.0, clock=clock)
    edge.failure("k1")
    clock.now += 10.0
    assert edge.failure("k1") is True, "a failure exactly 10 s after the first still counts"
    late = solution.PassiveHealth(max_fails=2, fail_timeout=10.0, clock=clock)
    late.failure("k2")
    clock.now += 10.5
    assert late.failure("k2") is False, "10.5 s later the old failure is forgotten: a new window"
    clock.now += 1
    assert late.failure("k2") is True, "1 s into the new window a 2nd failure takes it out"


@pytest.mark.points(1)
@pytest.mark.group("passive")
def test_success_forgives(solution: ModuleType) -> None:
    clock = Clock()
    passive = solution.PassiveHealth(max_fails=2, fail_timeout=10.0, clock=clock)
    passive.failure("k1")
    passive.success("k1")
    assert passive.failure("k1") is False, "a success in between resets the count"
    assert passive.failure("k1") is True


@pytest.mark.points(2)
@pytest.mark.group("passive")
def test_reported_once_and_switchable_off(solution: ModuleType) -> None:
    clock = Clock()
    passive = solution.PassiveHealth(max_fails=1, fail_timeout=10.0, clock=clock)
    passive.failure("k1")
    assert passive.failure("k1") is False, "a failure while already out does not take it out again"
    off = solution.PassiveHealth(max_fails=0, fail_timeout=10.0, clock=clock)
    assert [off.failure("k1") for _ in range(5)] == [False] * 5 and not off.is_out("k1"), (
        "max_fails=0 turns passive checks off"
    )
