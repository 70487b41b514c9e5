"""Questions of ``11_friend_and_waiter.ipynb``: the chain, and a closing quiz over the course."""

from __future__ import annotations

from proxylab.course.checks import Question, close_to, equals, one_of, same_text

QUESTIONS = (
    # -- check yourself: the chain ------------------------------------------------------
    Question(
        "11.kitchen_xff",
        one_of("friend", "the friend", "forward proxy", "the forward proxy"),
        "X-Forwarded-For is added by the waiter: it names the client the waiter itself talked "
        "to. Look at the 'talked to' column of the waiter's row in section 1.",
    ),
    Question(
        "11.hides_kitchens",
        one_of("reverse", "reverse proxy", "the waiter", "waiter"),
        "Which proxy works for the restaurant, and stands between you and its back rooms?",
    ),
    Question(
        "11.to_the_waiter",
        one_of("path", "the path", "origin-form", "origin form"),
        "Compare the 'request line named' column of the friend's row and the waiter's row.",
    ),
    Question(
        "11.company_addresses",
        equals(1),
        "Count the clients the shop's waiter saw, leaving out the public (that is you, "
        "straight from your own address).",
    ),
    # -- closing quiz: the whole course -------------------------------------------------
    Question(
        "11.quiz_no_via",
        same_text("elite"),
        "The privacy levels go from telling everything to telling nothing about a proxy; "
        "the level that admits it is a proxy is not this one.",
    ),
    Question(
        "11.quiz_cache_field",
        same_text("Cache-Status"),
        "X-Cache is an old custom field. The standard one (RFC 9211) carries the cache's "
        "name and 'hit' or 'fwd=...'.",
    ),
    Question(
        "11.quiz_connect_port",
        equals(443),
        "Squid's SSL_ports lists one port by default, and so does proxylab: look at "
        "ForwardSettings().connect_ports.",
    ),
    Question(
        "11.quiz_wrr_third",
        same_text("b"),
        "Work nginx's rule by hand: each pick, add every weight to its current weight, the "
        "largest wins and loses the total (7). Do it three times.",
    ),
    Question(
        "11.quiz_keys_moved",
        close_to(0.2, 0.05),
        "With a plain modulo hash almost every key moves. On a ring, only the keys the new "
        "backend takes over move: its fair share of all keys.",
    ),
)
