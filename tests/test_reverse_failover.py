"""Failover, retries, health, sticky sessions and the stats page of the reverse proxy."""

from __future__ import annotations

import json
import socket
import threading

import httpx
import pytest
from helpers import client, dead_port, event_waiter, kitchens, reverse_proxy, wait_for, who

from proxylab.reverse.balancers import Backend
from proxylab.reverse.proxy import ReverseProxy
from proxylab.reverse.routes import ReverseSettings

pytestmark = pytest.mark.timeout(30)


def test_stopping_a_backend_costs_no_failed_get_and_it_comes_back() -> None:
    with kitchens("a", "b", "c") as (a, b, c), reverse_proxy(
        [k.backend for k in (a, b, c)], health_check_path="/health", check_interval=0.05,
        check_timeout=0.5, rise=2, fall=2,
    ) as (server, proxy):  # fmt: skip
        down = event_waiter(
            proxy.events, lambda e: e.source == "health" and e.upstream == "b" and e.note == "down"
        )
        up = event_waiter(
            proxy.events, lambda e: e.source == "health" and e.upstream == "b" and e.note == "up"
        )
        statuses: list[int] = []
        stop = threading.Event()

        def stream() -> None:
            with client() as http:
                while not stop.is_set():
                    statuses.append(http.get(f"{server.url}/").status_code)

        streamer = threading.Thread(target=stream)
        streamer.start()
        try:
            assert wait_for(lambda: len(statuses) >= 20)
            b.stop()
            assert down.wait(5), "b was not marked down"
            assert proxy.health.state(b.backend).value == "down"
            served_while_down = len(statuses)
            assert wait_for(lambda: len(statuses) >= served_while_down + 20)
            count_before = b.count
            b.restart()  # a new server on the same port
            assert up.wait(5), "b did not come back up"
            assert wait_for(lambda: b.count > count_before), "b gets no traffic after coming back"
        finally:
            stop.set()
            streamer.join()
    assert statuses and set(statuses) == {200}, sorted(set(statuses))
    notes = [e.note for e in proxy.events.snapshot("reverse") if e.note]
    rows = {row.name: row for row in proxy.stats()}
    assert rows["b"].state == "UP"
    assert all(note == "retried from b" for note in notes)
    assert rows["b"].retries == len(notes) and rows["b"].failures >= len(notes)


def test_a_get_is_retried_on_another_backend_but_a_post_is_not() -> None:
    dead = Backend("127.0.0.1", dead_port(), name="dead")
    with kitchens("a") as (a,):
        with reverse_proxy([dead, a.backend]) as (server, proxy), client() as http:
            response = http.get(f"{server.url}/")
        assert response.status_code == 200 and who(response) == "a"
        assert proxy.events.snapshot("reverse")[0].note == "retried from dead"
        with reverse_proxy([dead, a.backend]) as (server, proxy), client() as http:
            post = http.post(f"{server.url}/order", content=b"one soup")
            after = http.post(f"{server.url}/order", content=b"one soup")
        assert post.status_code == 502  # never sent twice: it may have been cooked already
        assert after.status_code == 200  # the dead backend is out (passive check)
        rows = {row.name: row for row in proxy.stats()}
        assert (
            rows["dead"].failures == 1
            and rows["dead"].retries == 0
            and rows["dead"].state == "DOWN"
        )


def test_post_is_retried_when_asked() -> None:
    dead = Backend("127.0.0.1", dead_port(), name="dead")
    with kitchens("a") as (a,), reverse_proxy([dead, a.backend], retry_non_idempotent=True) as (server, _), \
            client() as http:  # fmt: skip
        post = http.post(f"{server.url}/order", content=b"one soup")
    assert post.status_code == 200 and post.json()["body"] == 8


def test_passive_check_alone_brings_a_backend_back_after_fail_timeout() -> None:
    with (
        kitchens("a", "b") as (a, b),
        reverse_proxy([a.backend, b.backend], fail_timeout=0.3) as (server, proxy),
    ):
        up = event_waiter(proxy.events, lambda e: e.source == "health" and e.note == "up")
        port = b.port
        b.stop()
        with client() as http:
            assert {who(http.get(f"{server.url}/")) for _ in range(4)} == {"a"}
            b.restart()
            assert b.port == port
            assert wait_for(lambda: who(http.get(f"{server.url}/")) == "b")
        assert up.is_set()


def test_sticky_cookie_keeps_a_client_on_one_backend_and_falls_back() -> None:
    with (
        kitchens("a", "b", "c") as ks,
        reverse_proxy([k.backend for k in ks], sticky=True) as (server, _),
    ):
        with client() as first, client() as second:
            home = who(first.get(f"{server.url}/"))
            cookie = first.cookies["proxylab_backend"]
            assert all(who(first.get(f"{server.url}/")) == home for _ in range(6))
            others = {who(second.get(f"{server.url}/")) for _ in range(3)}
            response = first.get(f"{server.url}/")
            seen = [h for h in response.json()["headers"] if h[0].lower() == "cookie"]
            assert seen == []  # our own cookie is not passed on (HAProxy's "indirect")
            next(k for k in ks if k.name == home).stop()
            moved = first.get(f"{server.url}/")
        assert moved.status_code == 200 and who(moved) != home
        assert first.cookies["proxylab_backend"] != cookie
        assert "127.0.0.1" not in cookie and others


def test_stats_count_requests_and_the_status_page_serves_json_html_csv() -> None:
    with (
        kitchens("a", "b") as ks,
        reverse_proxy([k.backend for k in ks]) as (server, proxy),
        client() as http,
    ):
        for _ in range(10):
            http.get(f"{server.url}/")
        as_json = http.get(f"{server.url}/proxylab/status?format=json")
        also_json = http.get(f"{server.url}/proxylab/status.json")
        page = http.get(f"{server.url}/proxylab/status")
        csv_text = http.get(f"{server.url}/proxylab/status?format=csv").text
    rows = as_json.json()["backends"]
    assert as_json.headers["content-type"] == "application/json"
    assert [(r["name"], r["total"], r["current"], r["state"]) for r in rows] == [
        ("a", 5, 0, "UP"),
        ("b", 5, 0, "UP"),
    ]
    assert (
        rows[0]["share"] == 0.5
        and rows[0]["mean_ms"] > 0
        and rows[0]["p95_ms"] >= rows[0]["mean_ms"] * 0.5
    )
    assert also_json.json()["backends"][0]["name"] == "a"
    assert page.headers["content-type"].startswith("text/html") and "<td>a</td>" in page.text
    assert csv_text.splitlines()[0].startswith("name,address,weight,state,current,total")
    assert [s.total for s in proxy.stats()] == [5, 5]
    assert len(proxy.events.snapshot("reverse")) == 10  # the status page is not an exchange


def test_status_page_is_for_local_clients_only_and_can_live_elsewhere() -> None:
    with (
        kitchens("a") as (a,),
        reverse_proxy([a.backend], status_clients=("10.0.0.0/8",)) as (server, proxy),
    ):
        with client() as http:
            assert http.get(f"{server.url}/proxylab/status").status_code == 403
            http.get(f"{server.url}/")
        with proxy.serve_status(("127.0.0.1", 0)) as status, client() as http:
            rows = http.get(f"{status.url}/anything.json").json()["backends"]
    assert rows[0]["total"] == 1


def test_proxy_is_also_a_context_manager() -> None:
    with kitchens("a") as (a,):
        settings = ReverseSettings(health_check_path="/health", check_interval=0.05)
        with ReverseProxy(backends=[a.backend], settings=settings) as proxy:
            proxy_server = proxy.serve(("127.0.0.1", 0))
            with proxy_server, client() as http:
                assert http.get(f"{proxy_server.url}/").status_code == 200
                a.health_status = 503
                down = event_waiter(proxy.events, lambda e: e.note == "down")
                assert down.wait(5)
                assert http.get(f"{proxy_server.url}/").status_code == 503
    assert json.loads(proxy.stats_table.to_json())["backends"][0]["state"] == "DOWN"


def test_tls_listener_sets_forwarded_proto_https() -> None:
    from proxylab.net.tls import LabCertificates

    with LabCertificates() as certs, kitchens("a") as (a,), reverse_proxy(
        [a.backend], ssl_context=certs.server_context(), hsts="max-age=60"
    ) as (server, _):  # fmt: skip
        port = server.address[1]
        with httpx.Client(verify=certs.client_context(), trust_env=False) as http:
            response = http.get(f"https://localhost:{port}/")
    assert response.status_code == 200
    seen = dict((k.lower(), v) for k, v in response.json()["headers"])
    assert seen["x-forwarded-proto"] == "https"
    assert response.headers["strict-transport-security"] == "max-age=60"


def test_a_client_that_stops_sending_its_body_is_not_blamed_on_the_backend() -> None:
    with kitchens("a") as (a,), reverse_proxy([a.backend]) as (server, proxy):
        done = event_waiter(proxy.events, lambda e: e.source == "reverse")
        with socket.create_connection(server.address, timeout=5) as sock:
            sock.sendall(b"POST /order HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nabc")
            sock.shutdown(socket.SHUT_WR)
            assert done.wait(5)
        row = proxy.stats()[0]
        assert (row.state, row.failures, row.current, row.total) == ("UP", 0, 0, 1)
        assert proxy.events.snapshot("reverse")[0].status == 400
        with client() as http:
            assert http.get(f"{server.url}/").status_code == 200
