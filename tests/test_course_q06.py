"""Questions of 06_the_waiter: right answers (taken from the waiter itself) pass, wrong ones fail."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from proxylab.course.balancing_lab import real_client_ip
from proxylab.course.checks import check
from proxylab.course.questions import all_questions
from proxylab.lab import Fixed, Lab
from proxylab.reverse.balancers import Backend
from proxylab.reverse.routes import ReverseSettings, Route, RouteTable


@pytest.fixture
def lab() -> Iterator[Lab]:
    with Lab(sites=()) as running:
        yield running


def test_hidden_headers_are_those_the_waiter_really_removed(lab: Lab) -> None:
    kitchen = lab.kitchen("menu-1", Fixed(0.001))
    waiter = lab.reverse_proxy([kitchen])
    client = lab.client()
    direct = {name.lower() for name in client.get(f"{kitchen.url}/order").headers}
    served = {name.lower() for name in client.get(f"{waiter.url}/order").headers}
    removed = sorted(direct - served)
    assert removed == sorted(ReverseSettings().hide_headers)
    assert check("06.hidden_headers", removed)
    assert check("06.hidden_headers", ["X-Powered-By", "Server"])
    assert not check("06.hidden_headers", ["Server"])
    assert not check("06.hidden_headers", [*removed, "X-Kitchen"])
    assert not check("06.hidden_headers", None)


def test_real_client_is_what_a_careful_backend_works_out() -> None:
    right = real_client_ip("127.0.0.3", "198.51.100.9, 127.0.0.10", ["127.0.0.3"])
    assert check("06.real_client", right)
    assert not check("06.real_client", "198.51.100.9")  # typed by the client
    assert not check("06.real_client", "127.0.0.3")  # the waiter itself


def test_route_answer_is_what_the_route_table_picks() -> None:
    menu = [Backend("127.0.0.30", 8001, name="menu-1"), Backend("127.0.0.31", 8002, name="menu-2")]
    bar = [Backend("127.0.0.32", 8003, name="bar-1")]
    table = RouteTable([Route("/", menu), Route("/drinks/", bar), Route("/", bar, host="bar.test")])
    site = table.match("bar.test", "/soup")
    pool = "bar" if site.backends == tuple(bar) else "menu"
    assert check("06.route", pool)
    assert check("06.route", "Bar ")
    assert not check("06.route", "menu")


def test_hints_do_not_give_the_answers_away() -> None:
    questions = all_questions()
    assert "x-powered-by" not in questions["06.hidden_headers"].hint.lower()
    assert "127.0.0.10" not in questions["06.real_client"].hint
    assert "bar" not in questions["06.route"].hint.lower()
