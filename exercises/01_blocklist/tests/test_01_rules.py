"""Ordered rules: first match wins, the default, and bad input."""

import pytest


@pytest.mark.group("first match wins")
@pytest.mark.points(2)
def test_block_list_blocks_matching_hosts(solution):
    rules = solution.Blocklist([("block", "*.social.test"), ("block", "video.test")])
    cases = {"www.social.test": "block", "video.test": "block", "news.test": "allow"}
    for host, expected in cases.items():
        got = rules.decide(host)
        assert got == expected, (
            f"With rules block *.social.test and block video.test, decide({host!r}) gave "
            f"{got!r}, expected {expected!r} (no rule matches news.test: the default allows)."
        )


@pytest.mark.group("first match wins")
@pytest.mark.points(4)
def test_first_match_wins_allow_before_block(solution):
    rules = solution.Blocklist([("allow", "school.social.test"), ("block", "*.social.test")])
    got = rules.decide("school.social.test")
    assert got == "allow", (
        f"Rules: 1. allow school.social.test, 2. block *.social.test. decide('school.social.test')"
        f" gave {got!r}: the FIRST matching rule decides (rule 1 allows), even though a later "
        "rule matches too. Do not let a later match override an earlier one."
    )
    assert rules.decide("www.social.test") == "block", (
        "decide('www.social.test') should be 'block': rule 1 does not match, rule 2 does."
    )


@pytest.mark.group("first match wins")
@pytest.mark.points(3)
def test_first_match_wins_block_before_allow(solution):
    rules = solution.Blocklist([("block", "*.social.test"), ("allow", "school.social.test")])
    got = rules.decide("school.social.test")
    assert got == "block", (
        f"Rules: 1. block *.social.test, 2. allow school.social.test. decide('school.social.test')"
        f" gave {got!r}: rule 1 matches first, so it blocks; the allow after it never counts. "
        "Order matters: a block-list is not 'any allow wins'."
    )


@pytest.mark.group("first match wins")
@pytest.mark.points(2)
def test_first_match_reports_the_deciding_rule(solution):
    rules = solution.Blocklist(
        [("block", "ads.test"), ("allow", "*.social.test"), ("block", "*.test")]
    )
    cases = {"ads.test": 0, "www.social.test": 1, "news.test": 2, "example.org": None}
    for host, expected in cases.items():
        got = rules.first_match(host)
        assert got == expected, (
            f"first_match({host!r}) gave {got!r}, expected {expected!r}: the index of the "
            "first rule that matches, or None when no rule matches."
        )


@pytest.mark.group("host and path rules")
@pytest.mark.points(3)
def test_host_and_path_patterns(solution):
    rules = solution.Blocklist([("block", "news.test/sports"), ("block", "/ads")])
    cases = [
        ("news.test", "/sports/football", "block"),
        ("news.test", "/sportswear", "allow"),
        ("news.test", "/politics", "allow"),
        ("other.test", "/sports", "allow"),
        ("other.test", "/ads/x.png", "block"),
        ("NEWS.TEST.", "/sports", "block"),
    ]
    for host, path, expected in cases:
        got = rules.decide(host, path)
        assert got == expected, (
            f"With rules block news.test/sports and block /ads, decide({host!r}, {path!r}) gave "
            f"{got!r}, expected {expected!r}. 'news.test/sports' needs BOTH the host and the "
            "path prefix; '/ads' is a path prefix on any host."
        )


@pytest.mark.group("host and path rules")
@pytest.mark.points(1)
def test_wildcard_host_with_path(solution):
    rules = solution.Blocklist([("block", "*.news.test/admin")])
    assert rules.decide("www.news.test", "/admin/users") == "block", (
        "'*.news.test/admin' should block /admin/users on www.news.test."
    )
    assert rules.decide("www.news.test", "/") == "allow", (
        "'*.news.test/admin' should not block / on www.news.test."
    )


@pytest.mark.group("defaults and errors")
@pytest.mark.points(2)
def test_default_block_is_an_allow_list(solution):
    rules = solution.Blocklist([("allow", "*.school.test")], default="block")
    assert rules.decide("www.school.test") == "allow", (
        "An allowed site should pass even when the default is 'block'."
    )
    assert rules.decide("social.test") == "block", (
        "With default='block', a host no rule matches must be blocked (an allow-list)."
    )
    assert rules.first_match("social.test") is None, (
        "first_match should be None when the default decides."
    )


@pytest.mark.group("defaults and errors")
@pytest.mark.points(1)
def test_no_rules_means_the_default(solution):
    assert solution.Blocklist([]).decide("news.test") == "allow", (
        "With no rules the default ('allow') decides."
    )


@pytest.mark.group("defaults and errors")
@pytest.mark.points(1)
@pytest.mark.parametrize(
    ("rules", "default"),
    [
        ([("drop", "news.test")], "allow"),
        ([("block", "news.test")], "deny"),
        ([("block", "")], "allow"),
    ],
)
def test_bad_input_raises_value_error(solution, rules, default):
    with pytest.raises(ValueError):
        solution.Blocklist(rules, default=default)
