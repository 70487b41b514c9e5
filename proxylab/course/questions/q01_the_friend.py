"""Questions of ``01_the_friend.ipynb``: one request's journey through the forward proxy."""

from __future__ import annotations

from proxylab.course.checks import Question, equals, same_items, same_text

QUESTIONS = (
    Question(
        "01.origin_form",
        same_text("GET /article/2?lang=en HTTP/1.1"),
        "Look at the first line of what news.test heard in section 1: the friend keeps the "
        "method and the version; which part of the full URL does the restaurant not need?",
    ),
    Question(
        "01.hop_by_hop",
        same_items(["Connection", "X-Trace", "Proxy-Connection", "TE"]),
        "A field is hop-by-hop when it is about one connection: the fixed list of RFC 9110 "
        "section 7.6.1, plus every name the Connection field lists. Give names, not values.",
    ),
    Question(
        "01.tunnel_sees",
        same_items(["host", "port"]),
        "Reread the table 'What the friend could read of your HTTPS visit': only what was "
        "written outside the encrypted part counts.",
    ),
    Question(
        "01.upstream_connections",
        equals(1),
        "Look at the keep-alive chart: does the friend's line to the restaurant depend on "
        "how you talk to the friend?",
    ),
)
