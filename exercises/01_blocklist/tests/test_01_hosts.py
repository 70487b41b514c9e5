"""Host patterns: exact hosts and wildcard domains."""

import pytest


@pytest.mark.group("exact hosts")
@pytest.mark.points(2)
def test_exact_host_matches_itself_only(solution):
    assert solution.host_matches("news.test", "news.test"), (
        "host_matches('news.test', 'news.test') should be True: a pattern matches its own host."
    )
    for other in ("www.news.test", "news.test.evil", "anews.test", "news.tes"):
        assert not solution.host_matches("news.test", other), (
            f"host_matches('news.test', {other!r}) should be False: an exact pattern matches "
            "only that one host, not its subdomains or look-alikes."
        )


@pytest.mark.group("exact hosts")
@pytest.mark.points(1)
@pytest.mark.parametrize("host", ["NEWS.test", "News.Test", "news.test.", "NEWS.TEST."])
def test_exact_host_ignores_case_and_trailing_dot(solution, host):
    assert solution.host_matches("news.test", host), (
        f"host_matches('news.test', {host!r}) should be True: host names are not "
        "case-sensitive, and a trailing dot is the fully qualified spelling of the same host. "
        "Hint: lower-case both and strip one trailing '.' before comparing."
    )


@pytest.mark.group("exact hosts")
@pytest.mark.points(1)
def test_pattern_is_normalised_too(solution):
    assert solution.host_matches("News.Test.", "news.test"), (
        "host_matches('News.Test.', 'news.test') should be True: normalise the pattern as "
        "well as the host (lower case, no trailing dot)."
    )


@pytest.mark.group("wildcards")
@pytest.mark.points(1)
@pytest.mark.parametrize("host", ["www.social.test", "a.b.social.test", "social.test"])
def test_wildcard_matches_domain_and_subdomains(solution, host):
    assert solution.host_matches("*.social.test", host), (
        f"host_matches('*.social.test', {host!r}) should be True: a wildcard covers every "
        "subdomain, at any depth, and the bare domain itself (as Squid's .social.test does)."
    )


@pytest.mark.group("wildcards")
@pytest.mark.points(1)
@pytest.mark.parametrize("host", ["notsocial.test", "social.test.evil", "social.tes", "test"])
def test_wildcard_needs_a_label_boundary(solution, host):
    assert not solution.host_matches("*.social.test", host), (
        f"host_matches('*.social.test', {host!r}) should be False. Hint: "
        "'notsocial.test'.endswith('social.test') is True, so compare with '.social.test' "
        "(dot included), or equality with the bare domain."
    )


@pytest.mark.group("wildcards")
@pytest.mark.points(1)
def test_leading_dot_spelling(solution):
    assert solution.host_matches(".social.test", "www.social.test"), (
        "host_matches('.social.test', 'www.social.test') should be True: '.social.test' is "
        "another spelling of '*.social.test'."
    )
    assert solution.host_matches(".social.test", "social.test"), (
        "host_matches('.social.test', 'social.test') should be True, as for '*.social.test'."
    )


@pytest.mark.group("wildcards")
@pytest.mark.points(2)
def test_wildcard_ignores_case_and_trailing_dot(solution):
    assert solution.host_matches("*.Social.Test", "WWW.SOCIAL.TEST."), (
        "host_matches('*.Social.Test', 'WWW.SOCIAL.TEST.') should be True: case and a "
        "trailing dot do not matter for wildcards either."
    )
