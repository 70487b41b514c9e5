"""The forward lessons' instruments, on the real lab: raw bytes, the wiretap, HTTPS, clock, charts."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from datetime import datetime, time, timedelta

import pytest

from proxylab.course.bar_charts import bar_chart
from proxylab.course.checks import check
from proxylab.course.forward_views import (
    FakeClock,
    RawConnection,
    SecureSite,
    Wiretap,
    ask,
    hexdump,
    raw_exchange,
    split_message,
)
from proxylab.errors import ConfigError
from proxylab.forward.filters import FilterPolicy
from proxylab.forward.rules import HostRule, TimeWindowRule
from proxylab.lab.lab import Lab

GET = b"GET http://news.test/whoami HTTP/1.1\r\nHost: news.test\r\n\r\n"


@pytest.fixture
def lab() -> Iterator[Lab]:
    with Lab() as running:
        yield running


def test_a_raw_connection_reads_exactly_one_response_at_a_time(lab: Lab) -> None:
    friend = lab.forward_proxy()
    with RawConnection(friend.server.address, source=lab.addresses.you) as conn:
        first, second = conn.exchange(GET), conn.exchange(GET)
    for reply in (first, second):
        head, body = split_message(reply)
        assert head.startswith(b"HTTP/1.1 200 ") and head.endswith(b"\r\n\r\n")
        length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
        assert len(body) == length and body.rstrip().endswith(b"}")


def test_a_body_that_ends_at_close_and_chunked_bytes_are_kept_as_sent() -> None:
    replies = [
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        b"HTTP/1.0 200 OK\r\n\r\nuntil the end",
    ]
    with socket.create_server(("127.0.0.1", 0)) as listener:

        def serve() -> None:
            for reply in replies:
                peer, _ = listener.accept()
                with peer:
                    peer.recv(1024)
                    peer.sendall(reply)

        thread = threading.Thread(target=serve)
        thread.start()
        try:
            got = [raw_exchange(listener.getsockname(), b"GET / HTTP/1.1\r\n\r\n") for _ in replies]
        finally:
            thread.join()
    assert got == replies


def test_the_wiretap_records_both_directions_and_counts_connections(lab: Lab) -> None:
    friend = lab.forward_proxy()
    real = lab.resolver["news.test"]
    with Wiretap(lab, "news.test") as tap:
        assert lab.resolver["news.test"] != real and tap.site_address == real
        for _ in range(3):
            reply = raw_exchange(friend.server.address, GET, source=lab.addresses.you)
        assert tap.to_origin.startswith(b"GET /whoami HTTP/1.1\r\n")
        assert tap.to_origin.count(b"GET /whoami") == 3 and tap.connections == 1
        assert tap.from_origin.endswith(split_message(reply)[1])
        # the site still sees the friend's address, not the tap's
        assert f'"remote_address": "{lab.addresses.proxy}"'.encode() in reply
        tap.clear()
        assert tap.to_origin == b"" == tap.from_origin
    assert lab.resolver["news.test"] == real


def test_the_wiretap_refuses_an_unknown_name(lab: Lab) -> None:
    with pytest.raises(ConfigError, match="no name"):
        Wiretap(lab, "nowhere.test")


def test_a_secure_site_answers_https_directly_and_through_the_tunnel(lab: Lab) -> None:
    with SecureSite(lab, "bank.test") as bank:
        direct = lab.client().get(f"{bank.url}/whoami").json()
        tunnelled = lab.client(via_proxy=lab.forward_proxy()).get(f"{bank.url}/whoami").json()
    assert direct["remote_address"] == lab.addresses.you
    assert tunnelled["remote_address"] == lab.addresses.proxy
    assert "bank.test" not in lab.resolver


def test_a_fake_clock_through_the_proxy(lab: Lab) -> None:
    clock = FakeClock(datetime(2026, 3, 3, 10, 30))  # a Tuesday
    lessons = TimeWindowRule(time(8), time(16), range(5), HostRule("social.test"))
    friend = lab.forward_proxy(filters=FilterPolicy([lessons], clock=clock))
    get = b"GET http://social.test/ HTTP/1.1\r\nHost: social.test\r\n\r\n"
    assert raw_exchange(friend.server.address, get).startswith(b"HTTP/1.1 403 ")
    clock.set(datetime(2026, 3, 3, 17, 0))
    assert raw_exchange(friend.server.address, get).startswith(b"HTTP/1.1 200 ")
    with pytest.raises(ConfigError, match="not both"):
        lab.forward_proxy(filters=FilterPolicy(), block=["x.test"])


def test_a_ticking_clock_moves_on_with_every_reading() -> None:
    clock = FakeClock(datetime(2026, 3, 3, 7, 0), step=timedelta(minutes=30))
    assert [clock().hour for _ in range(3)] == [7, 7, 8]


def test_hexdump_lines() -> None:
    dump = hexdump(bytes(range(20)) + b"AB", "title", limit=18)
    assert dump.lines()[0].startswith("0000  00 01 02") and dump.lines()[-1] == "... (4 more bytes)"
    assert "0010  10 11" in str(dump) and "<pre" in dump._repr_html_()


@pytest.mark.parametrize("stacked", [True, False])
def test_bar_chart_has_whole_ticks_and_a_legend_clear_of_the_bars(stacked: bool) -> None:
    pytest.importorskip("matplotlib")
    figure = bar_chart(
        {"news.test": {"allowed": 7, "blocked": 0}, "social.test": {"allowed": 2, "blocked": 9}},
        title="Title", subtitle="what to see", xlabel="requests", stacked=stacked,
    )  # fmt: skip
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    axes = figure.axes[0]
    ticks = [t for t in axes.get_xticks() if axes.get_xlim()[0] <= t <= axes.get_xlim()[1]]
    assert ticks and all(float(t).is_integer() for t in ticks)
    renderer = canvas.get_renderer()
    legend = axes.get_legend().get_window_extent(renderer)
    assert legend.y1 < axes.get_window_extent(renderer).y0  # under the axes: covers no bar
    texts = [t.get_text() for t in figure.texts]
    assert texts == ["Title", "what to see"]


def test_ask_reports_the_friends_decision_for_urls_and_connect(lab: Lab) -> None:
    friend = lab.forward_proxy(rules=[HostRule("social.test")])
    assert ask(lab, friend, "http://news.test/") == {
        "request": "GET http://news.test/", "status": 200, "decision": "allowed", "rule": "-",
    }  # fmt: skip
    refused = ask(lab, friend, "social.test:443", method="CONNECT", source=lab.addresses.you)
    assert (refused["status"], refused["decision"], refused["rule"]) == (
        403,
        "blocked",
        "social.test",
    )


def test_hints_never_contain_the_answer() -> None:
    from proxylab.course.questions.q01_the_friend import QUESTIONS as Q01
    from proxylab.course.questions.q02_privacy import QUESTIONS as Q02
    from proxylab.course.questions.q03_filtering import QUESTIONS as Q03

    answers: dict[str, tuple[object, str]] = {  # the right answer, and what would give it away
        "01.origin_form": ("GET /article/2?lang=en HTTP/1.1", "/article/2?lang=en"),
        "02.reveals_you": (["transparent"], "transparent"),
        "02.looks_direct": ("elite", "elite"),
        "03.first_match": ("blocked", "blocked"),
        "03.lunch": ("allowed", "allowed"),
    }
    hints = {question.id: question.hint.lower() for question in (*Q01, *Q02, *Q03)}
    assert len(hints) == 12
    for question_id, (answer, giveaway) in answers.items():
        assert check(question_id, answer) and giveaway not in hints[question_id]


def test_the_wiretap_hangs_up_when_the_site_is_gone(lab: Lab) -> None:
    friend = lab.forward_proxy()
    with Wiretap(lab, "news.test") as tap:
        lab.site("news.test").stop()
        assert raw_exchange(friend.server.address, GET).startswith(b"HTTP/1.1 502 ")
        assert tap.connections == 0
