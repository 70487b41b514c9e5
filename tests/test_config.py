"""The configuration file: the examples load, bad files get messages naming key, line and fix,
and ``proxylab forward|reverse --config FILE`` run it, with flags overriding the file."""

from __future__ import annotations

import signal
from datetime import datetime
from pathlib import Path

import httpx
import pytest
from subprocesses import ROOT, OutputReader, start_proxylab

from proxylab.errors import ConfigError
from proxylab.export import (
    EXAMPLE_FORWARD,
    EXAMPLE_REVERSE,
    ForwardConfig,
    ReverseConfig,
    load_config,
)
from proxylab.forward.rules import FilterRequest
from proxylab.lab import Lab

pytestmark = pytest.mark.timeout(60)


def write(tmp_path: Path, text: str, name: str = "proxy.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_the_example_files_are_the_documented_examples_and_load() -> None:
    assert (ROOT / "examples" / "school-proxy.toml").read_text() == EXAMPLE_FORWARD
    assert (ROOT / "examples" / "shop-reverse.toml").read_text() == EXAMPLE_REVERSE
    school = load_config(ROOT / "examples" / "school-proxy.toml")
    shop = load_config(ROOT / "examples" / "shop-reverse.toml")
    assert isinstance(school, ForwardConfig) and isinstance(shop, ReverseConfig)
    assert [rule.action for rule in school.rules] == ["allow", "block", "block", "block", "block"]
    assert [pool.prefix for pool in shop.pools] == ["/", "/api/"]
    assert [b.weight for b in shop.pools[0].backends] == [3, 1, 1]


def test_the_school_rules_decide_in_file_order() -> None:
    school = load_config(ROOT / "examples" / "school-proxy.toml")
    assert isinstance(school, ForwardConfig)
    policy = school.filters()
    monday_10 = datetime(2026, 1, 5, 10, 0)
    saturday = datetime(2026, 1, 10, 10, 0)

    def decide(client: str, host: str, path: str = "/", now: datetime = monday_10) -> str:
        decision = policy.decide(FilterRequest(client, "GET", host, 80, path))
        return type(decision).__name__ if now == monday_10 else "?"

    assert decide("10.2.3.4", "chat.social.test") == "Allow"  # teachers first
    assert decide("10.1.3.4", "chat.social.test") == "Block"
    assert decide("10.1.3.4", "news.test", "/ads/banner") == "Block"
    assert decide("10.1.3.4", "news.test", "/adsense") == "Allow"
    assert decide("10.1.3.4", "news.test", "/setup.exe") == "Block"
    video = school.rules[2]
    request = FilterRequest("10.1.3.4", "GET", "video.test", 80, "/")
    assert video.matches(request, monday_10) and not video.matches(request, saturday)


def test_settings_carry_every_value(tmp_path: Path) -> None:
    shop = load_config(ROOT / "examples" / "shop-reverse.toml")
    assert isinstance(shop, ReverseConfig)
    settings = shop.settings()
    assert (settings.health_check_path, settings.rise, settings.fall) == ("/health", 2, 3)
    assert settings.hsts == "max-age=31536000"
    assert [type(r.balancer).__name__ for r in shop.routes()] == [
        "SmoothWeightedRoundRobin",
        "LeastConnections",
    ]
    school = load_config(ROOT / "examples" / "school-proxy.toml")
    assert isinstance(school, ForwardConfig)
    forward = school.settings()
    assert forward.connect_ports == frozenset({443})
    assert forward.access.allows("10.9.9.9") and not forward.access.allows("192.0.2.1")
    assert forward.privacy.level.value == "anonymous" and "referer" in forward.privacy.scrub


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # unknown keys name the key, the line and what is allowed
        ('[forward]\nlisten = "127.0.0.1:3128"\nprivasy = "elite"\n',
         ["line 3", "forward.privasy", "unknown key 'privasy'", "privacy"]),
        ('[reverse]\nbackends = ["127.0.0.1:9001"]\n\n[reverse.health]\npath = "/h"\nrize = 2\n',
         ["line 6", "reverse.health.rize", "rise"]),
        ('[forward]\n[[forward.rules]]\naction = "block"\nhost = "a.test"\n'
         '[[forward.rules]]\naction = "block"\nhots = "b.test"\n',
         ["line 7", "forward.rules[1].hots", "unknown key"]),
        # bad values say what is allowed
        ('[forward]\nprivacy = "secret"\n', ["line 2", "forward.privacy", "transparent, anonymous, elite"]),
        ('[reverse]\nbalancer = "fastest"\nbackends = ["127.0.0.1:9001"]\n',
         ["line 2", "reverse.balancer", "round-robin", "least-latency"]),
        ('[reverse]\nbackends = ["127.0.0.1:9001=0"]\n', ["line 2", "weight", "at least 1"]),
        ('[reverse]\nbackends = ["nowhere"]\n', ["line 2", "reverse.backends", "HOST:PORT"]),
        ('[forward]\nscrub = ["password"]\n', ["line 2", "forward.scrub", "user-agent"]),
        ('[forward]\nconnect_ports = [0]\n', ["line 2", "forward.connect_ports", "1 to 65535"]),
        ('[forward]\n[forward.cache]\nsize = "lots"\n', ["line 3", "forward.cache.size", "64MB"]),
        ('[forward]\n[[forward.rules]]\naction = "block"\nurl_regex = "("\n',
         ["line 4", "forward.rules[0].url_regex", "regular expression"]),
        ('[forward]\n[[forward.rules]]\naction = "block"\nhost = "a.test"\nhours = "8-16"\n',
         ["forward.rules[0]", "time span"]),
        ('[forward]\n[[forward.rules]]\naction = "block"\nhost = "a.test"\nurl_regex = "x"\n',
         ["line 2", "exactly one of host, path", "host, url_regex"]),
        ('[forward]\n[[forward.rules]]\naction = "drop"\nhost = "a.test"\n',
         ["line 3", "action", "block, allow"]),
        ('[reverse]\nbackends = ["127.0.0.1:9001"]\n[reverse.tls]\ncert = "c.pem"\n',
         ["reverse.tls.key", "cert and key go together"]),
        ('[reverse]\nbackends = ["127.0.0.1:9001"]\n[reverse.tls]\nself_signed = true\nhsts = "yes"\n',
         ["line 5", "reverse.tls.hsts", "max-age"]),
        ('[reverse]\n', ["reverse", "backends"]),
        # wrong types
        ('[reverse]\nbackends = ["127.0.0.1:9001"]\nsticky = "yes"\n',
         ["line 3", "reverse.sticky", "true or false", "a string ('yes')"]),
        ('[reverse]\nbackends = ["127.0.0.1:9001"]\n[reverse.health]\nrise = "two"\n',
         ["line 4", "reverse.health.rise", "a whole number"]),
        ('[forward]\nprivacy = 3\n', ["line 2", "forward.privacy", "a string"]),
        ('[forward]\nallow_clients = "10.0.0.0/99"\n', ["line 2", "forward.allow_clients"]),
        ("[forward]\ncache = 5\n", ["line 2", "forward.cache", "a table"]),
        # the file as a whole
        ('[forward]\nlisten = "127.0.0.1:1"\n[reverse]\nbackends = []\n', ["exactly one", "forward and reverse"]),
        ('[proxy]\nlisten = "x"\n', ["exactly one [forward] or [reverse]"]),
        ('[forward]\nlisten = "127.0.0.1:1\n', ["not valid TOML", "line 2"]),
    ],
)  # fmt: skip
def test_bad_files_name_the_key_the_line_and_the_fix(
    tmp_path: Path, text: str, expected: list[str]
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, text))
    message = caught.value.message
    assert message.startswith("proxy.toml")
    for part in expected:
        assert part in message, f"{part!r} not in {message!r}"


def test_a_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="Cannot read the configuration file"):
        load_config(tmp_path / "missing.toml")


def test_sizes_seconds_and_table_backends(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, (
        '[reverse]\nbackends = [{ address = "127.0.0.1:9001", weight = 4 }, "127.0.0.1:9002=2"]\n'
        'balancer = "consistent-hash"\nhash_key = "header:X-User"\n'
        '[reverse.health]\ninterval = "5s"\nfail_timeout = 3\n'
    )))  # fmt: skip
    assert isinstance(config, ReverseConfig)
    assert [(b.port, b.weight) for b in config.pools[0].backends] == [(9001, 4), (9002, 2)]
    assert (config.health.interval, config.health.fail_timeout) == (5.0, 3.0)
    assert type(config.routes()[0].balancer).__name__ == "ConsistentHash"
    forward = load_config(write(tmp_path, '[forward]\n[forward.cache]\nsize = "512KB"\n'
                                          'max_object_size = 2048\n', "f.toml"))  # fmt: skip
    assert isinstance(forward, ForwardConfig)
    assert (forward.cache_size, forward.max_object_size) == (512 * 1024, 2048)


# -- the commands ------------------------------------------------------------------------
def test_forward_help_shows_the_complete_example_file() -> None:
    output = OutputReader(start_proxylab("forward", "--help"))
    assert output.finish() == 0
    assert "--config FILE" in output.seen
    assert "[[forward.rules]]" in output.seen and 'hours = "08:00-16:00"' in output.seen
    output = OutputReader(start_proxylab("reverse", "--help"))
    assert output.finish() == 0
    assert "[reverse.health]" in output.seen and "redirect_http" in output.seen


def test_forward_runs_the_file_and_flags_override_it(tmp_path: Path) -> None:
    with Lab(distinct_addresses=False) as lab:
        news, social = lab.resolver["news.test"], lab.resolver["social.test"]
        path = write(tmp_path, (
            '[forward]\nlisten = "127.0.0.1:1"\nprivacy = "elite"\n'
            f'[forward.resolve]\n"news.test" = "127.0.0.1:{news[1]}"\n'
            f'"social.test" = "127.0.0.1:{social[1]}"\n'
            '[[forward.rules]]\naction = "block"\nhost = "*.social.test"\n'
        ))  # fmt: skip
        output = OutputReader(start_proxylab(
            "forward", "--config", str(path), "--listen", "127.0.0.1:0", "--privacy", "transparent"
        ))  # fmt: skip
        try:
            url = output.wait_for(r"listening\s+(http://127\.0\.0\.1:\d+)").group(1)
            output.wait_for(r"try\s+curl")
            assert "1 rules from proxy.toml" in output.seen and "transparent" in output.seen
            with httpx.Client(proxy=url, trust_env=False, timeout=10) as client:
                seen = client.get("http://news.test/whoami").json()
                assert client.get("http://social.test/").status_code == 403  # the file's rule
            names = {name.lower() for name, _ in seen["headers"]}
            assert {"via", "x-forwarded-for"} <= names  # the flag's level, not the file's elite
        finally:
            output.process.send_signal(signal.SIGINT)
            assert output.finish() == 0


@pytest.mark.parametrize(
    ("flags", "expected"),
    [([], ["kitchen-a"] * 4 + ["kitchen-b"] * 2), (["--balancer", "round-robin"], ["kitchen-a", "kitchen-b"] * 3)],
)  # fmt: skip
def test_reverse_runs_the_file_and_a_flag_overrides_it(
    tmp_path: Path, flags: list[str], expected: list[str]
) -> None:
    with Lab(distinct_addresses=False) as lab:
        kitchens = [lab.kitchen("kitchen-a"), lab.kitchen("kitchen-b")]
        weights = zip(kitchens, (2, 1), strict=True)
        backends = ", ".join(f'"127.0.0.1:{k.address[1]}={w}"' for k, w in weights)
        path = write(tmp_path, (
            f'[reverse]\nlisten = "127.0.0.1:0"\nbalancer = "weighted"\nbackends = [{backends}]\n'
        ))  # fmt: skip
        output = OutputReader(start_proxylab("reverse", "--config", str(path), "--quiet", *flags))
        try:
            url = output.wait_for(r"listening\s+(http://127\.0\.0\.1:\d+)").group(1)
            output.wait_for(r"balancer\s+" + (flags[1] if flags else "weighted"))
            with httpx.Client(trust_env=False, timeout=10) as client:
                names = [client.get(f"{url}/order").json()["kitchen"] for _ in range(6)]
            assert sorted(names) == sorted(expected)
        finally:
            output.process.send_signal(signal.SIGINT)
            assert output.finish() == 0


@pytest.mark.parametrize("command", ["forward", "reverse"])
def test_a_bad_file_stops_the_command_with_the_message(tmp_path: Path, command: str) -> None:
    path = write(tmp_path, f"[{command}]\nlisten = 8080\n")
    output = OutputReader(start_proxylab(command, "--config", str(path)))
    assert output.finish() == 2
    assert f"line 2, {command}.listen: expected a string" in output.seen
    assert "Traceback" not in output.seen


def test_the_wrong_kind_of_file_says_which_command_runs_it() -> None:
    output = OutputReader(
        start_proxylab("forward", "--config", str(ROOT / "examples" / "shop-reverse.toml"))
    )
    assert output.finish() == 2
    assert "proxylab reverse --config" in output.seen
