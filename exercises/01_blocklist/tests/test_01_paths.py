"""Path prefixes: a prefix ends at a segment boundary."""

import pytest


@pytest.mark.group("paths")
@pytest.mark.points(1)
@pytest.mark.parametrize("path", ["/ads", "/ads/", "/ads/banner.png", "/ads?id=3", "/ads;v=1"])
def test_prefix_matches_itself_and_below(solution, path):
    assert solution.path_matches("/ads", path), (
        f"path_matches('/ads', {path!r}) should be True: the prefix itself, anything under "
        "it, and a query or parameters right after it all count."
    )


@pytest.mark.group("paths")
@pytest.mark.points(1)
@pytest.mark.parametrize("path", ["/adsense", "/ad", "/", "/x/ads", "/ADS"])
def test_prefix_stops_at_a_segment_boundary(solution, path):
    assert not solution.path_matches("/ads", path), (
        f"path_matches('/ads', {path!r}) should be False. A plain startswith() would block "
        "/adsense too: check that the character after the prefix is '/', '?', ';' or '#' "
        "(or that there is none). Paths are case-sensitive."
    )


@pytest.mark.group("paths")
@pytest.mark.points(1)
def test_prefix_ending_in_slash(solution):
    assert solution.path_matches("/ads/", "/ads/x"), (
        "path_matches('/ads/', '/ads/x') should be True: the prefix ends in '/', so whatever "
        "starts with it is under it."
    )
    assert not solution.path_matches("/ads/", "/ads"), (
        "path_matches('/ads/', '/ads') should be False: '/ads' does not start with '/ads/'."
    )


@pytest.mark.group("paths")
@pytest.mark.points(1)
def test_root_prefix_matches_every_path(solution):
    for path in ("/", "/a", "/a/b?c"):
        assert solution.path_matches("/", path), (
            f"path_matches('/', {path!r}) should be True: every path is under '/'."
        )
