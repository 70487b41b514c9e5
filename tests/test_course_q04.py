"""04_caching's questions: right answers (worked out by the library itself) pass, wrong ones fail."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from proxylab.cache.http_cache import HttpCache
from proxylab.cache.policy import CachePolicy, Store, format_http_date
from proxylab.course.checks import check
from proxylab.course.concurrency_lab import burst
from proxylab.course.questions import all_questions
from proxylab.course.questions.q04_caching import QUESTIONS
from proxylab.http.messages import Headers, Request, Response
from proxylab.lab.lab import Lab

DATE = 1_700_000_000.0
DAY = 86400


def lifetime(*fields: tuple[str, str]) -> float:
    headers = Headers([("Date", format_http_date(DATE)), *fields])
    return CachePolicy().freshness_lifetime(200, headers, DATE)


def test_lifetime_is_what_a_shared_cache_computes() -> None:
    right = lifetime(
        ("Cache-Control", "max-age=600, s-maxage=60"), ("Expires", format_http_date(DATE + 3600))
    )
    assert check("04.lifetime", int(right))
    for wrong in (600, 3600, 0):
        assert not check("04.lifetime", wrong)


def test_heuristic_is_the_policys_tenth_of_five_days() -> None:
    right = lifetime(("Last-Modified", format_http_date(DATE - 5 * DAY)))
    assert check("04.heuristic", int(right))
    for wrong in (5 * DAY, DAY, 0.2 * 5 * DAY):  # the whole age, the cap, Squid's 20%
        assert not check("04.heuristic", wrong)


CHOICES = {
    "a": ([], "no-store"),
    "b": ([], "private"),
    "c": ([], "no-cache"),
    "d": ([], "max-age=60"),
    "e": ([("Authorization", "Basic dTpw")], "max-age=60"),
}


def test_storable_letters_are_the_responses_the_policy_stores() -> None:
    policy = CachePolicy()
    stored = {
        letter
        for letter, (request_fields, directive) in CHOICES.items()
        if isinstance(
            policy.storable(
                Request("GET", "/", Headers(request_fields)),
                Response(200, Headers([("Cache-Control", directive)])),
            ),
            Store,
        )
    }
    assert check("04.storable", sorted(stored))
    assert check("04.storable", {letter.upper() for letter in stored})
    for wrong in ({"d"}, {"b", "c", "d"}, {"c", "d", "e"}, set()):
        assert not check("04.storable", wrong)


@pytest.fixture
def lab() -> Iterator[Lab]:
    with Lab() as running:
        yield running


def test_herd_pair_follows_what_the_real_cache_does(lab: Lab) -> None:
    """A real herd of 5: collapsed, the origin is asked once whatever the crowd; else once each."""
    news, users, asked = lab.site("news.test"), 5, []
    for case, cache in enumerate([HttpCache(2**20), HttpCache(2**20, collapse_timeout=0)]):
        friend = lab.forward_proxy(cache=cache)
        before = news.count("/slow")
        url = f"http://news.test/slow?ms=800&max_age=60&c={case}"
        burst(lambda f=friend: lab.client(via_proxy=f), url, users)  # type: ignore[misc]
        asked.append(news.count("/slow") - before)
    assert asked == [1, users]
    fifty = (asked[0], asked[1] // users * 50)
    assert check("04.herd", fifty) and check("04.herd", list(fifty))
    for wrong in ((50, 50), (1, 1), (50, 1), (1, 50, 0), "1, 50"):
        assert not check("04.herd", wrong)


def test_every_question_is_collected_and_no_hint_gives_its_answer_away() -> None:
    assert {q.id for q in QUESTIONS} <= set(all_questions())
    answers = {"04.lifetime": "60", "04.heuristic": "43200", "04.herd": "50"}
    for question in QUESTIONS:
        assert question.id.startswith("04.")
        if question.id in answers:
            assert answers[question.id] not in question.hint
