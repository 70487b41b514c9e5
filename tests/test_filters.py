"""Tests for proxylab.forward.filters: every rule kind, ordering, patterns, block page, access."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone
from html.parser import HTMLParser

import pytest

from proxylab.addresses import parse_ip
from proxylab.errors import ConfigError
from proxylab.forward.access import ClientAccess
from proxylab.forward.block_page import block_page
from proxylab.forward.filters import FilterPolicy
from proxylab.forward.patterns import PATTERN_SYNTAX, SCHOOL_SOCIAL_MEDIA, WORK_ONLY, parse_pattern
from proxylab.forward.rules import (
    Allow,
    AnyRequest,
    Block,
    ClientNetworkRule,
    FilterRequest,
    ForClients,
    HostRule,
    PathPrefixRule,
    Rule,
    TimeWindowRule,
    UrlRegexRule,
    WildcardHostRule,
)
from proxylab.http.messages import parse_target

MONDAY = datetime(2024, 5, 6, 12, 0)  # a Monday, noon
FRIDAY = MONDAY + timedelta(days=4)
SATURDAY = MONDAY + timedelta(days=5)


class FakeClock:
    """A clock that says what the test wants and counts how often it was asked."""

    def __init__(self, now: datetime = MONDAY) -> None:
        self.now = now
        self.calls = 0

    def __call__(self) -> datetime:
        self.calls += 1
        return self.now


def req(
    host: str = "news.test",
    path: str = "/",
    client: str = "127.0.0.1",
    port: int = 80,
    scheme: str = "http",
    method: str = "GET",
) -> FilterRequest:
    return FilterRequest(client, method, host, port, path, scheme)


def at(hour: int, minute: int = 0, day: datetime = MONDAY) -> datetime:
    return day.replace(hour=hour, minute=minute)


# -- FilterRequest -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("request_", "url"),
    [
        (req(), "http://news.test/"),
        (req(port=8080, path="/a?b=1"), "http://news.test:8080/a?b=1"),
        (req(scheme="https", port=443), "https://news.test/"),
        (req(host="[::1]", port=8000, path="/x"), "http://[::1]:8000/x"),
        (req(host="News.Test.", path="/X"), "http://news.test/X"),
    ],
)
def test_filter_request_url(request_: FilterRequest, url: str) -> None:
    assert request_.url == url


def test_filter_request_normalises_host_and_client_once() -> None:
    request = req(host="WWW.News.Test.", client="::ffff:10.1.2.3")
    assert request.host == "www.news.test"
    assert str(request.client_address) == "10.1.2.3"
    assert req(client="not an ip").client_address is None


def test_filter_request_from_target() -> None:
    target = parse_target("GET", "http://news.test:8080/a")
    assert FilterRequest.from_target("127.0.0.1", "GET", target) == req(port=8080, path="/a")
    connect = FilterRequest.from_target(
        "127.0.0.1", "CONNECT", parse_target("CONNECT", "x.test:443")
    )
    assert (connect.host, connect.port, connect.path, connect.scheme) == (
        "x.test",
        443,
        "",
        "https",
    )


# -- rule kinds ----------------------------------------------------------------------


def test_host_rule_accepts_ip_literals() -> None:
    assert HostRule("[2001:DB8::1]").matches(req("[2001:db8::1]"), MONDAY)
    assert HostRule("::1").host == "::1"
    assert HostRule("192.0.2.7").matches(req("192.0.2.7"), MONDAY)


def test_host_rule_is_exact_and_case_insensitive() -> None:
    rule = HostRule("News.TEST.")
    assert rule.host == "news.test" and rule.describe() == "news.test"
    assert rule.matches(req("news.test"), MONDAY)
    assert rule.matches(req("NEWS.test."), MONDAY)
    assert not rule.matches(req("www.news.test"), MONDAY)
    assert not rule.matches(req("news.test.evil"), MONDAY)


@pytest.mark.parametrize(
    "spelling", ["*.social.test", ".social.test", "social.test", "*.SOCIAL.test."]
)
def test_wildcard_spellings_mean_the_same(spelling: str) -> None:
    assert WildcardHostRule(spelling) == WildcardHostRule("*.social.test")
    assert WildcardHostRule(spelling).describe() == "*.social.test"


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("social.test", True),  # the bare domain too, like Squid's .social.test
        ("www.social.test", True),
        ("a.b.social.test", True),
        ("WWW.Social.Test.", True),
        ("notsocial.test", False),
        ("social.test.evil", False),
        ("social.testing", False),
    ],
)
def test_wildcard_host_rule(host: str, expected: bool) -> None:
    assert WildcardHostRule("*.social.test").matches(req(host), MONDAY) is expected


@pytest.mark.parametrize(
    "bad", ["", "*social.test", "so*cial.test", "a b", "news.test:80", "abc.de:80", "x/y"]
)
def test_bad_host_names_are_rejected(bad: str) -> None:
    with pytest.raises(ConfigError):
        WildcardHostRule(bad)
    with pytest.raises(ConfigError):
        HostRule(bad)


def test_url_regex_rule_searches_the_full_url() -> None:
    rule = UrlRegexRule(r"\.mp4(\?|$)")
    assert rule.matches(req(path="/films/a.mp4"), MONDAY)
    assert rule.matches(req(path="/films/a.mp4?start=10"), MONDAY)
    assert not rule.matches(req(path="/films/a.mp4x"), MONDAY)
    assert UrlRegexRule("^https://news").matches(req(scheme="https", port=443), MONDAY)
    assert UrlRegexRule(":8080/").matches(req(port=8080), MONDAY)
    with pytest.raises(ConfigError, match="regular expression"):
        UrlRegexRule("(")


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/ads", True),
        ("/ads/", True),
        ("/ads/banner.png", True),
        ("/ads?x=1", True),
        ("/adsense", False),
        ("/ADS", False),  # paths are case-sensitive
        ("/", False),
        ("", False),  # CONNECT: the path is inside the tunnel
    ],
)
def test_path_prefix_stops_at_segment_boundary(path: str, expected: bool) -> None:
    assert PathPrefixRule("/ads").matches(req(path=path), MONDAY) is expected


def test_path_prefix_with_trailing_slash_and_host() -> None:
    assert PathPrefixRule("/ads/").matches(req(path="/ads/x"), MONDAY)
    assert PathPrefixRule("/").matches(req(path="/anything"), MONDAY)
    rule = PathPrefixRule("/sports", host="News.Test")
    assert rule.matches(req("news.test", "/sports/today"), MONDAY)
    assert not rule.matches(req("other.test", "/sports/today"), MONDAY)
    assert rule.describe() == "news.test/sports"
    wild = PathPrefixRule("/watch", host="*.video.test")
    assert wild.matches(req("www.video.test", "/watch"), MONDAY)
    assert wild.matches(req("video.test", "/watch/1"), MONDAY)
    assert wild.describe() == "*.video.test/watch"
    with pytest.raises(ConfigError, match="starts with '/'"):
        PathPrefixRule("ads")


@pytest.mark.parametrize(
    ("network", "client", "expected"),
    [
        ("10.0.0.0/8", "10.200.3.4", True),
        ("10.0.0.0/8", "11.0.0.1", False),
        ("10.0.0.0/8", "::ffff:10.1.1.1", True),  # IPv4 client on a dual-stack socket
        ("10.0.0.5", "10.0.0.5", True),  # a single address
        ("10.0.0.5", "10.0.0.6", False),
        ("2001:db8::/32", "2001:db8::1", True),
        ("2001:db8::/32", "2001:db9::1", False),
        ("2001:db8::/32", "10.0.0.1", False),  # other family: no match, no error
        ("::1", "::1", True),
        ("10.0.0.0/8", "garbage", False),
    ],
)
def test_client_network_rule(network: str, client: str, expected: bool) -> None:
    assert ClientNetworkRule(network).matches(req(client=client), MONDAY) is expected


def test_client_network_rule_rejects_bad_networks_and_normalises() -> None:
    with pytest.raises(ConfigError, match="not an IP address or network"):
        ClientNetworkRule("10.0.0.0/33")
    assert ClientNetworkRule("10.1.2.3/16").describe() == "client:10.1.0.0/16"


def test_any_request_matches_everything() -> None:
    assert AnyRequest().matches(req(client="x", path=""), MONDAY)
    assert AnyRequest("allow").action == "allow"


def test_bad_action_is_rejected() -> None:
    with pytest.raises(ConfigError, match="'block' or 'allow'"):
        HostRule("news.test", "deny")  # type: ignore[arg-type]


# -- per-client policy ---------------------------------------------------------------

STUDENTS, TEACHERS = "10.1.0.0/16", "10.2.0.0/16"


def test_students_may_not_reach_social_but_teachers_may() -> None:
    rule = ForClients([STUDENTS], WildcardHostRule("*.social.test"))
    policy = FilterPolicy([rule], clock=FakeClock())
    assert isinstance(policy.decide(req("www.social.test", client="10.1.4.4")), Block)
    assert isinstance(policy.decide(req("www.social.test", client="10.2.4.4")), Allow)
    assert isinstance(policy.decide(req("news.test", client="10.1.4.4")), Allow)
    assert rule.describe() == "client:10.1.0.0/16 *.social.test"


def test_for_clients_takes_its_action_from_the_inner_rule() -> None:
    assert ForClients(TEACHERS, AnyRequest("allow")).action == "allow"
    assert ForClients((STUDENTS, TEACHERS), HostRule("x.test")).networks == (STUDENTS, TEACHERS)
    with pytest.raises(ConfigError):
        ForClients([], HostRule("x.test"))


# -- time windows --------------------------------------------------------------------

SCHOOL_HOURS = TimeWindowRule(time(8), time(16))


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (at(7, 59), False),
        (at(8, 0), True),
        (at(15, 59), True),
        (at(16, 0), False),  # the end is excluded
        (at(23, 0), False),
    ],
)
def test_time_window(now: datetime, expected: bool) -> None:
    assert SCHOOL_HOURS.matches(req(), now) is expected


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (at(21, 59), False),
        (at(22, 0), True),
        (at(23, 59), True),
        (at(0, 0), True),
        (at(5, 59), True),
        (at(6, 0), False),
        (at(12, 0), False),
    ],
)
def test_time_window_across_midnight(now: datetime, expected: bool) -> None:
    assert TimeWindowRule(time(22), time(6)).matches(req(), now) is expected


def test_midnight_window_belongs_to_the_day_it_starts() -> None:
    friday_night = TimeWindowRule(time(22), time(6), days={4})
    assert friday_night.matches(req(), at(23, day=FRIDAY))
    assert friday_night.matches(req(), at(2, day=SATURDAY))  # still Friday night
    assert not friday_night.matches(req(), at(2, day=FRIDAY))  # that was Thursday night
    assert not friday_night.matches(req(), at(23, day=SATURDAY))


def test_days_only_means_all_day_and_inner_must_match() -> None:
    weekend = TimeWindowRule(time(0), time(0), days={5, 6}, inner=HostRule("video.test"))
    assert weekend.matches(req("video.test"), at(0, day=SATURDAY))
    assert weekend.matches(req("video.test"), at(23, 59, day=SATURDAY))
    assert not weekend.matches(req("news.test"), at(12, day=SATURDAY))
    assert not weekend.matches(req("video.test"), at(12, day=FRIDAY))
    assert weekend.describe() == "video.test@sat-sun"


def test_time_window_action_and_validation() -> None:
    assert SCHOOL_HOURS.action == "block"
    assert TimeWindowRule(time(8), time(9), inner=AnyRequest("allow")).action == "allow"
    with pytest.raises(ConfigError, match="0 \\(Monday\\) to 6"):
        TimeWindowRule(time(8), time(9), days={7})
    with pytest.raises(ConfigError, match="time zone"):
        TimeWindowRule(time(8, tzinfo=timezone.utc), time(9))


def test_time_window_with_aware_clock_uses_its_wall_time() -> None:
    now = datetime(2024, 5, 6, 9, 0, tzinfo=timezone(timedelta(hours=2)))
    assert SCHOOL_HOURS.matches(req(), now)


# -- the policy ----------------------------------------------------------------------


def test_first_match_wins() -> None:
    teachers = HostRule("teachers.social.test", "allow")
    social = WildcardHostRule("*.social.test")
    allow_first = FilterPolicy([teachers, social])
    assert allow_first.decide(req("teachers.social.test")) == Allow(teachers)
    blocked = allow_first.decide(req("www.social.test"))
    assert isinstance(blocked, Block) and blocked.rule is social
    block_first = FilterPolicy([social, teachers])
    assert block_first.decide(req("teachers.social.test")).rule is social


def test_default_allow_returns_allow_without_rule() -> None:
    assert FilterPolicy().decide(req()) == Allow()
    assert FilterPolicy().decide(req()).rule is None


def test_allow_list_mode_blocks_what_no_rule_allows() -> None:
    policy = FilterPolicy(WORK_ONLY, default="deny")
    assert isinstance(policy.decide(req("www.school.test")), Allow)
    decision = policy.decide(req("games.test"))
    assert isinstance(decision, Block)
    assert decision.rule.name == "default deny (allow-list mode)"
    assert "allow" in decision.reason


def test_decisions_are_built_once_and_shared() -> None:
    policy = FilterPolicy(SCHOOL_SOCIAL_MEDIA)
    assert policy.decide(req("social.test")) is policy.decide(req("www.social.test"))


def test_clock_is_asked_once_per_decision() -> None:
    clock = FakeClock()
    policy = FilterPolicy([HostRule("a.test"), HostRule("b.test"), SCHOOL_HOURS], clock=clock)
    policy.decide(req())
    assert clock.calls == 1


def test_time_rule_follows_the_injected_clock() -> None:
    clock = FakeClock(at(9))
    policy = FilterPolicy(
        [TimeWindowRule(time(8), time(16), {0, 1, 2, 3, 4}, HostRule("x.test"))], clock=clock
    )
    assert isinstance(policy.decide(req("x.test")), Block)
    clock.now = at(17)
    assert isinstance(policy.decide(req("x.test")), Allow)
    clock.now = at(9, day=SATURDAY)
    assert isinstance(policy.decide(req("x.test")), Allow)


def test_policy_validates_its_arguments() -> None:
    with pytest.raises(ConfigError, match="'allow' or 'deny'"):
        FilterPolicy(default="block")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="not a filter Rule"):
        FilterPolicy(["news.test"])  # type: ignore[list-item]


@dataclass(frozen=True, slots=True)
class LongPathRule(Rule):
    """A student's rule: refuse absurdly long paths."""

    limit: int = 20

    def matches(self, req: FilterRequest, now: datetime) -> bool:
        return len(req.path) > self.limit

    def describe(self) -> str:
        return f"path longer than {self.limit}"


def test_a_student_rule_plugs_in() -> None:
    policy = FilterPolicy([LongPathRule()])
    decision = policy.decide(req(path="/" + "a" * 30))
    assert isinstance(decision, Block) and decision.rule.name == "path longer than 20"
    assert isinstance(policy.decide(req(path="/short")), Allow)


def test_school_social_media_sample() -> None:
    policy = FilterPolicy(SCHOOL_SOCIAL_MEDIA)
    for host in ("social.test", "www.video.test", "facebook.com", "m.facebook.com", "x.com"):
        assert isinstance(policy.decide(req(host)), Block), host
    for host in ("news.test", "school.test", "box.com", "example.com"):
        assert isinstance(policy.decide(req(host)), Allow), host


# -- patterns ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "kind", "shown"),
    [
        ("news.test", HostRule, "news.test"),
        ("  NEWS.test ", HostRule, "news.test"),
        ("*.social.test", WildcardHostRule, "*.social.test"),
        (".social.test", WildcardHostRule, "*.social.test"),
        (r"re:\.mp4$", UrlRegexRule, r"re:\.mp4$"),
        ("re:user@mail", UrlRegexRule, "re:user@mail"),  # '@' not followed by a window
        ("news.test/sports", PathPrefixRule, "news.test/sports"),
        ("*.video.test/watch", PathPrefixRule, "*.video.test/watch"),
        ("/ads", PathPrefixRule, "/ads"),
        ("http://news.test/sports", PathPrefixRule, "news.test/sports"),
        ("client:10.0.0.0/8", ClientNetworkRule, "client:10.0.0.0/8"),
        ("client:::1", ClientNetworkRule, "client:::1/128"),
        ("*", AnyRequest, "*"),
        ("*.social.test@08:00-16:00", TimeWindowRule, "*.social.test@08:00-16:00"),
        ("x.test@mon-fri,8:00-16:30", TimeWindowRule, "x.test@mon-fri,08:00-16:30"),
        ("x.test@sat,sun", TimeWindowRule, "x.test@sat-sun"),
        ("x.test@MON,wed", TimeWindowRule, "x.test@mon,wed"),
        ("*@22:00-06:00", TimeWindowRule, "*@22:00-06:00"),
        ("re:\\.mp4@fri", TimeWindowRule, "re:\\.mp4@fri"),
        ("client:10.1.0.0/16 *.social.test", ForClients, "client:10.1.0.0/16 *.social.test"),
        (
            "client:10.1.0.0/16,10.3.0.0/16 /games@mon-fri,08:00-16:00",
            ForClients,
            "client:10.1.0.0/16,10.3.0.0/16 /games@mon-fri,08:00-16:00",
        ),
    ],
)
def test_parse_pattern(text: str, kind: type[Rule], shown: str) -> None:
    rule = parse_pattern(text)
    assert isinstance(rule, kind)
    assert rule.describe() == shown
    assert parse_pattern(shown) == rule  # describe() gives the pattern back
    assert rule.action == "block"
    assert parse_pattern(text, "allow").action == "allow"


def test_parsed_window_matches() -> None:
    rule = parse_pattern("*.social.test@mon-fri,08:00-16:00")
    assert rule.matches(req("social.test"), at(9))
    assert not rule.matches(req("social.test"), at(9, day=SATURDAY))
    assert not rule.matches(req("news.test"), at(9))
    wrapped = parse_pattern("x.test@fri-mon")
    assert isinstance(wrapped, TimeWindowRule) and wrapped.days == {4, 5, 6, 0}


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("bad host!", "not a host name"),
        ("re:(", "regular expression"),
        ("client:10.0.0.0/33", "not an IP address"),
        ("client:nope *.social.test", "not an IP address"),
        ("x.test@funday", "not a day"),
        ("x.test@", "not a day"),
        ("x.test@25:00-26:00", "not a time span"),
        ("x.test@08:00-09:00,10:00-11:00", "at most one time span"),
        ("x.test@08:00", "not a day"),
    ],
)
def test_parse_pattern_errors_explain_the_syntax(text: str, says: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_pattern(text)
    assert says in info.value.message
    assert repr(text) in info.value.message
    assert PATTERN_SYNTAX in info.value.message


def test_parse_pattern_rejects_bad_action() -> None:
    with pytest.raises(ConfigError, match="'block' or 'allow'"):
        parse_pattern("news.test", "deny")  # type: ignore[arg-type]


def test_from_patterns_block_list() -> None:
    policy = FilterPolicy.from_patterns(block=["*.social.test", "news.test/sports"])
    assert policy.default == "allow"
    assert isinstance(policy.decide(req("www.social.test")), Block)
    assert isinstance(policy.decide(req("news.test", "/sports/x")), Block)
    assert isinstance(policy.decide(req("news.test", "/weather")), Allow)


def test_from_patterns_allow_makes_default_deny_and_blocks_carve_exceptions() -> None:
    policy = FilterPolicy.from_patterns(block=["school.test/admin"], allow=["*.school.test"])
    assert policy.default == "deny"
    assert [rule.action for rule in policy.rules] == ["block", "allow"]
    assert isinstance(policy.decide(req("school.test", "/lessons")), Allow)
    assert isinstance(policy.decide(req("school.test", "/admin")), Block)
    assert isinstance(policy.decide(req("news.test")), Block)


def test_from_patterns_uses_the_clock() -> None:
    clock = FakeClock(at(23))
    policy = FilterPolicy.from_patterns(block=["*@22:00-06:00"], clock=clock)
    assert isinstance(policy.decide(req()), Block)
    clock.now = at(12)
    assert isinstance(policy.decide(req()), Allow)


# -- block page ----------------------------------------------------------------------


class _TagChecker(HTMLParser):
    """Checks that non-void tags nest properly."""

    VOID = {"meta", "br", "hr", "img", "link", "input"}

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.doctype = ""

    def handle_decl(self, decl: str) -> None:
        self.doctype = decl

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.stack.pop() == tag


def test_block_page_is_valid_html5_naming_rule_and_url() -> None:
    decision = FilterPolicy(SCHOOL_SOCIAL_MEDIA).decide(req("www.social.test"))
    assert isinstance(decision, Block)
    page = block_page(decision, "http://www.social.test/feed")
    text = page.decode("utf-8")
    checker = _TagChecker()
    checker.feed(text)
    checker.close()
    assert checker.doctype.lower() == "doctype html" and checker.stack == []
    assert '<meta charset="utf-8">' in text
    assert "*.social.test" in text and "http://www.social.test/feed" in text


def test_block_page_escapes_url_and_rule() -> None:
    rule = UrlRegexRule("<script>")
    page = block_page(Block(rule, "Because <b>&"), 'http://x.test/"><script>alert(1)</script>')
    text = page.decode("utf-8")
    assert "<script>" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "&quot;&gt;" in text and "re:&lt;script&gt;" in text
    assert "Because &lt;b&gt;&amp;" in text


def test_block_page_is_utf8() -> None:
    page = block_page(Block(HostRule("news.test"), "r"), "http://news.test/café")
    assert "café".encode() in page


# -- who may use the proxy -----------------------------------------------------------


@pytest.mark.parametrize(
    ("client", "expected"),
    [
        ("127.0.0.1", True),
        ("127.0.0.53", True),
        ("::1", True),
        ("[::1]", True),
        ("::ffff:127.0.0.1", True),
        ("10.0.0.1", False),
        ("::2", False),
        ("", False),
        ("localhost", False),  # names are not addresses
    ],
)
def test_client_access_defaults_to_loopback(client: str, expected: bool) -> None:
    assert ClientAccess().allows(client) is expected


def test_client_access_custom_and_anyone() -> None:
    lab = ClientAccess(("10.1.0.0/16", "2001:db8::/32"))
    assert lab.allows("10.1.9.9") and lab.allows("2001:db8::5")
    assert not lab.allows("127.0.0.1")
    assert ClientAccess.anyone().allows("203.0.113.9") and ClientAccess.anyone().allows("2001::1")
    assert ClientAccess("10.0.0.1").allows("10.0.0.1")  # one address as a plain string
    with pytest.raises(ConfigError):
        ClientAccess(("10.0.0.0/99",))
    with pytest.raises(ConfigError):
        ClientAccess(())


def test_parse_address() -> None:
    assert str(parse_ip("::ffff:192.0.2.1")) == "192.0.2.1"
    assert str(parse_ip(" 2001:DB8::1 ")) == "2001:db8::1"
    assert parse_ip("300.1.1.1") is None
