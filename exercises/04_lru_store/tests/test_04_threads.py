"""Many threads at once, as in a proxy.

The interpreter is told to switch threads as often as it can while these tests run, so
that a store without a lock shows its races here rather than one day in production.
"""

import random
import sys
import threading

import pytest

THREADS = 8
OPERATIONS = 2000
ATTEMPTS = 10
KEYS = [f"/k{i}" for i in range(12)]


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
    threads = [
        threading.Thread(target=hammer, args=(store, seed, errors)) for seed in range(THREADS)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return errors


def check(store):
    """What is wrong with ``store`` after the threads are done (empty when all is well)."""
    present = {key: store.get(key) for key in KEYS}
    stored = {key: value for key, value in present.items() if value is not None}
    real = sum(len(value) for value in stored.values())
    problems = []
    if store.size != real or len(store) != len(stored) or real > 100:
        problems.append(
            f"size says {store.size} bytes and len {len(store)}, but the values stored add "
            f"up to {real} bytes in {len(stored)} keys"
        )
    wrong = [k for k, v in stored.items() if not v.startswith(k.encode() + b":")]
    if wrong:
        problems.append(f"keys {wrong} hold another key's value")
    return problems


@pytest.fixture(scope="module")
def hammered(solution):
    """Up to ATTEMPTS runs of THREADS threads on a fresh store each, until something breaks.

    Races are a matter of luck, so one run proves little; the runs stop at the first
    error or inconsistency, and a correct store goes through all of them.
    """
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as the interpreter can
    errors, problems = [], []
    try:
        for attempt in range(1, ATTEMPTS + 1):
            store = solution.LruStore(100)
            errors += run_threads(store)
            problems += [f"run {attempt}: {problem}" for problem in check(store)]
            if errors or problems:
                break
    finally:
        sys.setswitchinterval(before)
    return errors, problems


@pytest.mark.group("threads")
@pytest.mark.points(5)
def test_no_errors_under_concurrent_use(hammered):
    errors, _ = hammered
    assert not errors, (
        f"{len(errors)} operations raised while {THREADS} threads shared one store, e.g. "
        f"{errors[0]}. Hold one lock in every method that reads or changes the store."
    )


@pytest.mark.group("threads")
@pytest.mark.points(10)
def test_byte_count_stays_exact_under_threads(hammered):
    _, problems = hammered
    assert not problems, (
        f"After {THREADS} threads used one store at once: {problems[0]}. Updates were lost "
        "between threads: read-modify-write of the byte count and the dict must happen under "
        "one lock, together."
    )
