"""Questions of ``12_to_production.ipynb``: the lab setup in the real tools' words."""

from __future__ import annotations

from proxylab.course.checks import Question, equals, one_of, same_items

QUESTIONS = (
    Question(
        "12.nginx_p2c",
        one_of("random two least_conn", "random two least_conn;"),
        'Export a file with balancer = "p2c" to nginx and read the first line inside '
        "its upstream block: nginx draws two servers at random, then compares them.",
    ),
    Question(
        "12.squid_elite",
        same_items(["forwarded_for delete", "via off"]),
        "Elite hides the client AND the proxy: which header says 'a proxy was here', and "
        "which one carries the client's address? Look for both directives in the Squid file.",
    ),
    Question(
        "12.weighted_orders",
        equals(20),
        "A kitchen's share is its weight divided by the sum of the weights; or set WEIGHTS "
        "and ORDERS in the parameters cell, run again and read the nginx column.",
    ),
    Question(
        "12.not_exported",
        one_of("least-latency", "least latency", "leastlatency"),
        "Export every balancer and look at the warnings: which one needs nginx Plus and has "
        "no HAProxy algorithm at all? (Give its proxylab name.)",
    ),
)
