"""Storing, evicting and counting bytes."""

import pytest


@pytest.mark.group("store and fetch")
@pytest.mark.points(2)
def test_put_then_get(solution):
    store = solution.LruStore(100)
    store.put("/a", b"hello")
    assert store.get("/a") == b"hello", "get('/a') should return the value put under '/a'."
    assert store.get("/missing") is None, "get() of a key never stored should return None."


@pytest.mark.group("store and fetch")
@pytest.mark.points(2)
def test_size_and_len_count_values(solution):
    store = solution.LruStore(100)
    store.put("/a", b"12345")
    store.put("/b", b"123")
    assert (store.size, len(store)) == (8, 2), (
        f"After storing 5 and 3 bytes: size should be 8 and len 2, got size {store.size} and "
        f"len {len(store)}."
    )


@pytest.mark.group("store and fetch")
@pytest.mark.points(4)
def test_replacing_a_key_is_not_counted_twice(solution):
    store = solution.LruStore(100)
    store.put("/a", b"x" * 40)
    store.put("/a", b"y" * 10)
    assert store.get("/a") == b"y" * 10, "A second put() under the same key replaces the value."
    assert (store.size, len(store)) == (10, 1), (
        f"After replacing a 40-byte value by a 10-byte one: size 10, len 1; got size "
        f"{store.size}, len {len(store)}. Subtract the old value's bytes when you replace it."
    )


@pytest.mark.group("store and fetch")
@pytest.mark.points(2)
def test_delete(solution):
    store = solution.LruStore(100)
    store.put("/a", b"12345")
    store.delete("/a")
    store.delete("/never-stored")
    assert store.get("/a") is None, "After delete('/a'), get('/a') should be None."
    assert (store.size, len(store)) == (0, 0), (
        f"After deleting the only key: size 0 and len 0, got {store.size} and {len(store)}."
    )


@pytest.mark.group("store and fetch")
@pytest.mark.points(1)
def test_negative_budget_is_an_error(solution):
    """LruStore(-1): a negative budget."""
    with pytest.raises(ValueError):
        solution.LruStore(-1)


@pytest.mark.group("eviction")
@pytest.mark.points(3)
def test_evicts_least_recently_stored(solution):
    store = solution.LruStore(10)
    store.put("/a", b"aaaa")
    store.put("/b", b"bbbb")
    store.put("/c", b"cccc")  # 12 bytes would not fit: /a, the oldest, goes
    assert store.get("/a") is None, (
        "With 10 bytes, storing /c (4) after /a and /b (4 each) must evict /a."
    )
    assert store.get("/b") == b"bbbb" and store.get("/c") == b"cccc", (
        "Only /a should have been evicted: /b and /c fit together (8 bytes)."
    )


@pytest.mark.group("eviction")
@pytest.mark.points(5)
def test_a_hit_refreshes_recency(solution):
    store = solution.LruStore(10)
    store.put("/a", b"aaaa")
    store.put("/b", b"bbbb")
    store.get("/a")  # /a is now the most recently used: /b is the least
    store.put("/c", b"cccc")
    assert store.get("/b") is None, (
        "get('/a') made /a the most recently USED, so storing /c must evict /b, not /a. "
        "LRU is about use, not about when a key was stored."
    )
    assert store.get("/a") == b"aaaa", "/a was used after /b, so it must still be stored."


@pytest.mark.group("eviction")
@pytest.mark.points(2)
def test_a_put_refreshes_recency(solution):
    store = solution.LruStore(10)
    store.put("/a", b"aaaa")
    store.put("/b", b"bbbb")
    store.put("/a", b"AAAA")
    store.put("/c", b"cccc")
    assert store.get("/b") is None and store.get("/a") == b"AAAA", (
        "put('/a', ...) again makes /a the most recently used: storing /c must evict /b."
    )


@pytest.mark.group("eviction")
@pytest.mark.points(3)
def test_evicts_as_many_as_needed(solution):
    store = solution.LruStore(10)
    for key in ("/a", "/b", "/c"):
        store.put(key, b"123")
    store.put("/big", b"x" * 9)
    assert [store.get(k) for k in ("/a", "/b", "/c")] == [None, None, None], (
        "A 9-byte value in a 10-byte store needs all three 3-byte values evicted."
    )
    assert store.get("/big") == b"x" * 9 and store.size == 9, (
        f"/big should be stored and size be 9, got size {store.size}."
    )


@pytest.mark.group("eviction")
@pytest.mark.points(2)
def test_replacing_with_a_larger_value_evicts_others(solution):
    store = solution.LruStore(10)
    store.put("/a", b"aaaa")
    store.put("/b", b"bbbb")
    store.put("/a", b"A" * 8)
    assert store.get("/b") is None and store.get("/a") == b"A" * 8, (
        "Replacing /a (4 bytes) by 8 bytes: 8 + /b's 4 > 10, so /b must be evicted."
    )
    assert store.size == 8, f"size should be 8, got {store.size}."


@pytest.mark.group("the budget's edge")
@pytest.mark.points(4)
def test_a_value_of_exactly_the_budget_fits(solution):
    store = solution.LruStore(10)
    store.put("/a", b"a")
    store.put("/full", b"x" * 10)
    assert store.get("/full") == b"x" * 10, (
        "A value of exactly max_bytes fits (after evicting everything else): off by one?"
    )
    assert (store.size, len(store)) == (10, 1), f"size 10 and len 1 expected, got {store.size}."


@pytest.mark.group("the budget's edge")
@pytest.mark.points(4)
def test_a_value_too_large_changes_nothing(solution):
    store = solution.LruStore(10)
    store.put("/a", b"aaaa")
    store.put("/b", b"bbbb")
    store.put("/b", b"x" * 11)
    assert store.get("/b") == b"bbbb" and store.get("/a") == b"aaaa", (
        "An 11-byte value cannot fit in 10 bytes: it is not stored, and nothing is evicted "
        "for it (check the size BEFORE evicting); the old /b stays."
    )
    assert store.size == 8, f"size should still be 8, got {store.size}."


@pytest.mark.group("the budget's edge")
@pytest.mark.points(1)
def test_a_zero_budget_stores_nothing(solution):
    store = solution.LruStore(0)
    store.put("/a", b"a")
    assert store.get("/a") is None and len(store) == 0, "LruStore(0) can hold no bytes at all."
