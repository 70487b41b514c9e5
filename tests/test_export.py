"""``proxylab export``: the directives each setting becomes, the notes for what a target lacks,
and the real programs' own checkers accepting every exported file."""

from __future__ import annotations

from pathlib import Path

import pytest
from export_helpers import certificate_files, forward_config, needs, reverse_config
from subprocesses import ROOT, OutputReader, start_proxylab

import proxylab
from proxylab.export import load_config, to_haproxy, to_nginx, to_squid
from proxylab.export.programs import check_config
from proxylab.reverse.balancers import BALANCERS

pytestmark = pytest.mark.timeout(120)

POOL = 'backends = ["127.0.0.1:9001=3", "127.0.0.1:9002", "127.0.0.1:9003"]\n'


def shop(balancer: str, extra: str = "") -> str:
    return f'[reverse]\nlisten = "127.0.0.1:8000"\nbalancer = "{balancer}"\n{POOL}{extra}'


NGINX_BALANCE = {
    "round-robin": None, "weighted": None, "least-connections": "least_conn;",
    "random": "random;", "p2c": "random two least_conn;", "ip-hash": "ip_hash;",
    "consistent-hash": "hash $remote_addr consistent;", "least-latency": "least_conn;",
}  # fmt: skip
HAPROXY_BALANCE = {
    "round-robin": "balance roundrobin", "weighted": "balance roundrobin",
    "least-connections": "balance leastconn", "random": "balance random",
    "p2c": "balance random(2)", "ip-hash": "balance source",
    "consistent-hash": "balance source", "least-latency": "balance leastconn",
}  # fmt: skip


def test_every_balancer_has_a_mapping() -> None:
    assert set(NGINX_BALANCE) == set(HAPROXY_BALANCE) == set(BALANCERS)


@pytest.mark.parametrize("balancer", sorted(BALANCERS))
def test_each_balancer_becomes_its_directive(tmp_path: Path, balancer: str) -> None:
    config = reverse_config(tmp_path, shop(balancer))
    nginx, haproxy = to_nginx(config), to_haproxy(config)
    if NGINX_BALANCE[balancer]:
        assert f"\n        {NGINX_BALANCE[balancer]}\n" in nginx.text
    assert f"\n    {HAPROXY_BALANCE[balancer]}\n" in haproxy.text
    weighted = balancer != "round-robin"  # proxylab's round robin ignores weights
    assert ("server 127.0.0.1:9001 weight=3 " in nginx.text) == weighted
    assert (" 127.0.0.1:9001 weight 3 " in haproxy.text) == weighted
    if balancer == "consistent-hash":
        assert "hash-type consistent" in haproxy.text
    lacks = balancer == "least-latency"  # neither open-source nginx nor HAProxy has it
    assert any("least-latency" in w for w in nginx.warnings) == lacks
    assert any("least-latency" in w for w in haproxy.warnings) == lacks
    if lacks:
        assert "# NOTE: least-latency needs nginx Plus" in nginx.text


@pytest.mark.parametrize(
    ("key", "nginx", "haproxy"),
    [
        ("path", "hash $uri consistent;", "balance uri path-only"),
        ("header:X-User", "hash $http_x_user consistent;", "balance hdr(X-User)"),
        ("cookie:session", "hash $cookie_session consistent;", "balance hash req.cook(session)"),
    ],
)
def test_hash_keys(tmp_path: Path, key: str, nginx: str, haproxy: str) -> None:
    config = reverse_config(tmp_path, shop("consistent-hash", f'hash_key = "{key}"\n'))
    assert nginx in to_nginx(config).text and haproxy in to_haproxy(config).text


def test_the_shop_example_in_nginx_and_haproxy_terms() -> None:
    config = load_config(ROOT / "examples" / "shop-reverse.toml")
    nginx, haproxy = to_nginx(config), to_haproxy(config)  # type: ignore[arg-type]
    version = f"exported by proxylab {proxylab.__version__} from shop-reverse.toml"
    assert nginx.text.startswith(f"# nginx configuration {version}")
    assert haproxy.text.startswith(f"# haproxy configuration {version}")
    for directive in (
        "server 127.0.0.1:9001 weight=3 max_fails=1 fail_timeout=10s;",
        "proxy_set_header X-Forwarded-For $remote_addr;",
        "proxy_set_header X-Forwarded-Proto $scheme;",
        "proxy_set_header Host $http_host;",
        "proxy_hide_header X-Powered-By;",
        "listen 127.0.0.1:8443 ssl;",
        "ssl_certificate /etc/ssl/shop/fullchain.pem;",
        'add_header Strict-Transport-Security "max-age=31536000" always;',
        "return 301 https://$host:8443$request_uri;",
        "location /api/ {",
        "least_conn;",
    ):
        assert directive in nginx.text, directive
    for directive in (
        "bind 127.0.0.1:8443 ssl crt /etc/ssl/shop/fullchain.pem",
        "option forwardfor",
        "http-request set-header X-Forwarded-Proto https if { ssl_fc }",
        "http-response del-header Server",
        "option httpchk GET /health",
        "server s1 127.0.0.1:9001 weight 3 check inter 2s rise 2 fall 3",
        "use_backend pool_api if { path_beg /api/ }",
        "default_backend pool_default",
        "code 301 unless { ssl_fc }",
        'http-response set-header Strict-Transport-Security "max-age=31536000"',
    ):
        assert directive in haproxy.text, directive
    # open-source nginx has passive checks only: said at the place and as a warning
    assert "# NOTE: active health checks (GET /health every 2s) are nginx Plus only" in nginx.text
    assert len(nginx.warnings) == 1 and not haproxy.warnings


def test_sticky_and_host_routes(tmp_path: Path) -> None:
    config = reverse_config(tmp_path, shop("round-robin", (
        'sticky = true\n[[reverse.routes]]\nname = "blog"\nhost = "blog.test"\n'
        'backends = ["127.0.0.1:9100"]\n'
    )))  # fmt: skip
    nginx, haproxy = to_nginx(config), to_haproxy(config)
    assert "cookie proxylab_backend insert indirect nocache" in haproxy.text
    assert (
        "server s1 127.0.0.1:9001 weight 1 check" in haproxy.text and " cookie s1" in haproxy.text
    )
    assert any("sticky" in w for w in nginx.warnings)
    assert "server_name blog.test;" in nginx.text
    routing = haproxy.text.index("use_backend pool_blog if { hdr(host),field(1,:) -i blog.test }")
    assert routing < haproxy.text.index("default_backend pool_default")


def test_the_school_example_in_squid_terms() -> None:
    config = load_config(ROOT / "examples" / "school-proxy.toml")
    squid = to_squid(config)  # type: ignore[arg-type]
    text = squid.text
    assert text.startswith(f"# squid configuration exported by proxylab {proxylab.__version__}")
    lines = [
        "http_port 127.0.0.1:3128",
        "acl SSL_ports port 443",
        "http_access deny CONNECT !SSL_ports",
        "acl clients src 127.0.0.0/8 10.0.0.0/8",
        "http_access deny !clients",
        "acl r1_clients src 10.2.0.0/16",
        "acl r1 dstdomain .social.test",
        "http_access allow r1_clients r1",
        "http_access deny r2",
        "acl r3_time time MTWHF 08:00-15:59",  # Squid includes its end minute
        "acl r3 dstdomain video.test",
        "http_access deny r3 r3_time",
        "acl r4 urlpath_regex ^/ads([/?;#]|$)",
        "acl r5 url_regex \\.exe$",
        "http_access allow all",
        "forwarded_for delete",
        "via on",
        "request_header_access Referer deny all",
        "cache_mem 64 MB",
        "maximum_object_size 1 MB",
    ]
    positions = [text.index(line + "\n") for line in lines]
    access = [p for line, p in zip(lines, positions, strict=True) if line.startswith("http_access")]
    assert access == sorted(access)  # the rule order is the http_access order, default last
    assert not squid.warnings


@pytest.mark.parametrize(
    ("level", "forwarded_for", "via"),
    [("transparent", "on", "on"), ("anonymous", "delete", "on"), ("elite", "delete", "off")],
)
def test_privacy_levels(tmp_path: Path, level: str, forwarded_for: str, via: str) -> None:
    squid = to_squid(forward_config(tmp_path, f'[forward]\nprivacy = "{level}"\n'))
    assert f"\nforwarded_for {forwarded_for}\nvia {via}\n" in squid.text
    assert ("request_header_access X-Real-Ip deny all" in squid.text) == (level != "transparent")
    elite = level == "elite"
    assert ("request_header_access X-Forwarded-Proto deny all" in squid.text) == elite
    assert any("X-Forwarded-*" in warning for warning in squid.warnings) == elite


def test_squid_rule_kinds_windows_and_notes(tmp_path: Path) -> None:
    config = forward_config(tmp_path, (
        '[forward]\ndefault = "deny"\n'
        '[[forward.rules]]\naction = "allow"\npath = "/lessons/"\nhost = "*.school.test"\n'
        '[[forward.rules]]\naction = "allow"\nclient = "10.9.0.0/16"\n'
        '[[forward.rules]]\naction = "block"\npattern = "*@fri,22:00-06:00"\n'
        '[[forward.rules]]\naction = "block"\nurl_regex = "\\\\d+\\\\.mp4"\n'
        '[forward.cache]\nsize = 0\n'
    ))  # fmt: skip
    squid = to_squid(config)
    for line in (
        "acl r1 urlpath_regex ^/lessons/",
        "acl r1_host dstdomain .school.test",
        "http_access allow r1_host r1",
        "acl r2 src 10.9.0.0/16",
        "acl r3_time1 time F 22:00-23:59",  # a window across midnight is two acls
        "acl r3_time2 time A 00:00-05:59",
        "http_access deny all r3_time1",
        "http_access deny all r3_time2",
        "http_access deny all\n",
        "cache deny all",
    ):
        assert line in squid.text, line
    assert any("Python-only regex" in w for w in squid.warnings)


# -- the real programs' own checkers -----------------------------------------------------
@needs("nginx")
@pytest.mark.parametrize("balancer", sorted(BALANCERS))
def test_nginx_accepts_every_balancer(tmp_path: Path, balancer: str) -> None:
    extra = 'forwarded_header = true\n[reverse.health]\npath = "/health"\n'
    config = reverse_config(tmp_path, shop(balancer, extra))
    verdict = check_config("nginx", to_nginx(config).text)
    assert verdict.ok, verdict.output


@needs("haproxy")
@pytest.mark.parametrize("balancer", sorted(BALANCERS))
def test_haproxy_accepts_every_balancer(tmp_path: Path, balancer: str) -> None:
    config = reverse_config(tmp_path, shop(balancer, "sticky = true\nforwarded_header = true\n"))
    verdict = check_config("haproxy", to_haproxy(config).text)
    assert verdict.ok, verdict.output


def _shop_with_real_certificates(tmp_path: Path, pem_for: str) -> str:
    _, cert, key, both = certificate_files(tmp_path)
    text = (ROOT / "examples" / "shop-reverse.toml").read_text()
    text = text.replace("/etc/ssl/shop/fullchain.pem", str(both if pem_for == "haproxy" else cert))
    return text.replace("/etc/ssl/shop/privkey.pem", str(key))


@needs("nginx")
def test_nginx_accepts_the_shop_example(tmp_path: Path) -> None:
    config = reverse_config(tmp_path, _shop_with_real_certificates(tmp_path, "nginx"))
    verdict = check_config("nginx", to_nginx(config).text)
    assert verdict.ok, verdict.output
    assert "test is successful" in verdict.output


@needs("haproxy")
def test_haproxy_accepts_the_shop_example(tmp_path: Path) -> None:
    config = reverse_config(tmp_path, _shop_with_real_certificates(tmp_path, "haproxy"))
    verdict = check_config("haproxy", to_haproxy(config).text)
    assert verdict.ok, verdict.output


@needs("squid")
def test_squid_accepts_the_school_example_and_every_rule_kind(tmp_path: Path) -> None:
    school = load_config(ROOT / "examples" / "school-proxy.toml")
    verdict = check_config("squid", to_squid(school).text)  # type: ignore[arg-type]
    assert verdict.ok, verdict.output
    config = forward_config(tmp_path, (
        '[forward]\nprivacy = "elite"\nscrub = ["user-agent", "cookie"]\n'
        "connect_ports = [443, 8443]\n[[forward.rules]]\naction = \"block\"\n"
        'pattern = "client:10.1.0.0/16 news.test/sports@sat,sun"\n'
        '[[forward.rules]]\naction = "block"\npattern = "*@22:00-06:00"\n'
    ))  # fmt: skip
    verdict = check_config("squid", to_squid(config).text)
    assert verdict.ok, verdict.output


@pytest.mark.parametrize(
    ("program", "broken"),
    [
        ("nginx", "upstream x {\n"),
        ("haproxy", "balance fastest\n"),
        ("squid", "acl x nosuchtype y\n"),
    ],
)
def test_the_checkers_do_reject_a_broken_file(program: str, broken: str) -> None:
    if needs(program).args[0]:
        pytest.skip(f"{program} is not installed")
    verdict = check_config(program, f"# broken\n{broken}")
    assert not verdict.ok


# -- the command -------------------------------------------------------------------------
def test_export_command_writes_the_file_and_warns_on_stderr(tmp_path: Path) -> None:
    target = tmp_path / "nginx.conf"
    output = OutputReader(start_proxylab(
        "export", "nginx", str(ROOT / "examples" / "shop-reverse.toml"), "-o", str(target)
    ))  # fmt: skip
    assert output.finish() == 0
    assert target.read_text().startswith("# nginx configuration exported by proxylab")
    assert "warning: nginx: active health checks" in output.seen


def test_export_command_to_stdout_and_the_wrong_kind(tmp_path: Path) -> None:
    output = OutputReader(
        start_proxylab("export", "squid", str(ROOT / "examples" / "school-proxy.toml"))
    )
    assert output.finish() == 0
    assert "http_access deny r2" in output.seen
    output = OutputReader(
        start_proxylab("export", "haproxy", str(ROOT / "examples" / "school-proxy.toml"))
    )
    assert output.finish() == 2
    assert "give a [reverse] file" in output.seen and "Traceback" not in output.seen


@needs("squid")
def test_export_command_check_runs_the_real_checker() -> None:
    output = OutputReader(start_proxylab(
        "export", "squid", str(ROOT / "examples" / "school-proxy.toml"), "--check"
    ))  # fmt: skip
    assert output.finish() == 0
    assert "squid accepts the configuration." in output.seen


@needs("nginx")
def test_export_command_check_reports_what_the_program_rejects() -> None:
    # the shop example names certificate files that do not exist on this machine
    output = OutputReader(start_proxylab(
        "export", "nginx", str(ROOT / "examples" / "shop-reverse.toml"), "--check"
    ))  # fmt: skip
    assert output.finish() == 1
    assert "nginx rejects the configuration" in output.seen
    assert "/etc/ssl/shop/fullchain.pem" in output.seen and "Traceback" not in output.seen
