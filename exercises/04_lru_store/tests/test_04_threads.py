"""Many threads at once, as in a proxy (10 points).

The interpreter is told to switch threads as often as it can while these tests run, so
that a store without a lock shows its races here rather than one day in production.
"""

import random
import sys
import threading

import pytest

THREADS = 8
OPERATIONS = 3000
KEYS = [f"/k{i}" for i in range(12)]


@pytest.fixture
def busy_switching():
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(before)


def value_for(key, size):
    """A value that says which key it belongs to: b"/k3:" then filler."""
    head = key.encode() + b":"
    return (head + b"#" * size)[: max(size, len(head))]


def hammer(store, seed, errors):
    rng = random.Random(seed)
    try:
        for _ in range(OPERATIONS):
            key = rng.choice(KEYS)
            roll = rng.random()
            if roll < 0.5:
                store.put(key, value_for(key, rng.randint(5, 40)))
            elif roll < 0.9:
                store.get(key)
            else:
                store.delete(key)
    except Exception as error:  # reported by the test, not lost in a thread
        errors.append(f"{type(error).__name__}: {error}")


def run_threads(store):
    errors = []
    threads = [threading.Thread(target=hammer, args=(store, seed, errors)) for seed in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return errors


@pytest.mark.group("threads")
@pytest.mark.points(4)
@pytest.mark.usefixtures("busy_switching")
def test_no_errors_under_concurrent_use(solution):
    store = solution.LruStore(100)
    errors = run_threads(store)
    assert not errors, (
        f"{len(errors)} operations raised while {THREADS} threads shared one store, e.g. "
        f"{errors[0]}. Hold one lock in every method that reads or changes the store."
    )


@pytest.mark.group("threads")
@pytest.mark.points(6)
@pytest.mark.usefixtures("busy_switching")
def test_byte_count_stays_exact_under_threads(solution):
    problems = []
    for attempt in range(3):
        store = solution.LruStore(100)
        run_threads(store)
        present = {key: store.get(key) for key in KEYS}
        stored = {key: value for key, value in present.items() if value is not None}
        real = sum(len(value) for value in stored.values())
        if store.size != real or len(store) != len(stored) or real > 100:
            problems.append(
                f"run {attempt + 1}: size says {store.size} bytes and len {len(store)}, but the "
                f"values stored add up to {real} bytes in {len(stored)} keys"
            )
        wrong = [k for k, v in stored.items() if not v.startswith(k.encode() + b":")]
        if wrong:
            problems.append(f"run {attempt + 1}: keys {wrong} hold another key's value")
    assert not problems, (
        f"After {THREADS} threads used one store at once: {problems[0]}. Updates were lost "
        "between threads: read-modify-write of the byte count and the dict must happen under "
        "one lock, together."
    )
