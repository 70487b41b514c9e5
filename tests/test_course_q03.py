"""03_filtering's questions: the right answers, worked out live on the lab, pass; wrong ones fail."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, time

import pytest

from proxylab.course.checks import check
from proxylab.course.forward_views import FakeClock, SecureSite, ask
from proxylab.forward.filters import FilterPolicy
from proxylab.forward.patterns import SCHOOL_SOCIAL_MEDIA, WORK_ONLY
from proxylab.forward.rules import PathPrefixRule, TimeWindowRule, WildcardHostRule
from proxylab.lab.lab import Lab


@pytest.fixture
def lab() -> Iterator[Lab]:
    with Lab() as running:
        yield running


def test_first_match(lab: Lab) -> None:
    rules = [WildcardHostRule("*.video.test"), PathPrefixRule("/watch", "video.test", "allow")]
    decision = ask(lab, lab.forward_proxy(rules=rules), "http://video.test/watch?v=42")["decision"]
    assert check("03.first_match", decision)
    assert not check("03.first_match", {"allowed": "blocked", "blocked": "allowed"}[decision])


def test_allow_list(lab: Lab) -> None:
    office = lab.forward_proxy(rules=WORK_ONLY, default="deny")
    results = [ask(lab, office, f"http://{name}/") for name in lab.sites]
    reachable = sum(result["status"] == 200 for result in results)
    assert check("03.allow_list", reachable)
    assert not check("03.allow_list", len(lab.sites))
    assert not check("03.allow_list", reachable - 1)


def test_https_page(lab: Lab) -> None:
    strict = lab.forward_proxy(rules=[PathPrefixRule("/watch", "tube.test")])
    with SecureSite(lab, "tube.test", pages_of="video.test"), lab.client(via_proxy=strict) as web:
        page = web.get("https://tube.test/watch")
    could_block = page.status_code == 403
    assert check("03.https_page", could_block)
    assert check("03.https_page", "No")
    assert not check("03.https_page", not could_block)
    assert not check("03.https_page", 0)  # equal to False, but not an answer


def test_lunch(lab: Lab) -> None:
    lessons = [(time(8), time(12)), (time(13), time(16))]  # the notebook's school day
    rules = [
        TimeWindowRule(a, b, range(5), rule) for a, b in lessons for rule in SCHOOL_SOCIAL_MEDIA
    ]
    clock = FakeClock(datetime(2026, 3, 3, 12, 30))  # a Tuesday
    friend = lab.forward_proxy(filters=FilterPolicy(rules, clock=clock))
    at_lunch = ask(lab, friend, "http://social.test/")["decision"]
    assert check("03.lunch", at_lunch)
    clock.set(datetime(2026, 3, 3, 10, 30))
    in_a_lesson = ask(lab, friend, "http://social.test/")["decision"]
    assert in_a_lesson != at_lunch and not check("03.lunch", in_a_lesson)
