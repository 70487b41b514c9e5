"""What every level must get right: scrubbing, order, the input, bad input."""

import pytest
from anonymity_helpers import BROWSER, names, values

CLIENT = "10.0.0.7"


@pytest.mark.group("scrubbing")
@pytest.mark.points(1)
@pytest.mark.parametrize("level", ["transparent", "anonymous", "elite"])
def test_scrub_removes_personal_fields_at_any_level(solution, level):
    fields = [*BROWSER, ("cookie", "theme=dark")]
    out = solution.forward_headers(fields, CLIENT, level, scrub={"Cookie", "user-agent"})
    assert "cookie" not in names(out) and "user-agent" not in names(out), (
        f"{level} with scrub={{'Cookie', 'user-agent'}}: every Cookie line and the "
        "User-Agent must be removed (scrub names are case-insensitive too)."
    )
    assert values(out, "Referer") == ["http://school.test/"], (
        "scrub removes only the fields it names: Referer was not named."
    )


@pytest.mark.group("scrubbing")
@pytest.mark.points(2)
def test_unknown_scrub_name_is_an_error(solution):
    """scrub={'host'}: Host is not one of SCRUBBABLE."""
    with pytest.raises(ValueError):
        solution.forward_headers(BROWSER, CLIENT, "anonymous", scrub={"host"})


@pytest.mark.group("order and input")
@pytest.mark.points(4)
def test_kept_fields_keep_their_order_and_values(solution):
    fields = [("Host", "news.test"), ("X-Real-IP", "1.2.3.4"), ("Accept", "*/*"),
              ("Accept-Language", "en"), ("Cookie", "a=1")]  # fmt: skip
    out = solution.forward_headers(fields, CLIENT, "anonymous")
    kept = [(n, v) for n, v in out if n.lower() != "via"]
    expected = [
        ("Host", "news.test"),
        ("Accept", "*/*"),
        ("Accept-Language", "en"),
        ("Cookie", "a=1"),
    ]
    assert kept == expected, (
        f"anonymous: the fields you keep must stay in order, with their names and values "
        f"as sent; expected {expected}, got {kept}."
    )
    assert names(out)[-1] == "via", "A new field (here Via) goes at the end."


@pytest.mark.group("order and input")
@pytest.mark.points(1)
@pytest.mark.parametrize("level", ["transparent", "elite"])
def test_input_is_not_changed(solution, level):
    fields = [*BROWSER, ("X-Forwarded-For", "203.0.113.9"), ("Via", "1.0 squid")]
    before = list(fields)
    solution.forward_headers(fields, CLIENT, level)
    assert fields == before, (
        f"{level}: forward_headers changed the list it was given; build a new list "
        "(the proxy may still need the original, e.g. for its log)."
    )


@pytest.mark.group("order and input")
@pytest.mark.points(2)
def test_level_names_any_case(solution):
    out = solution.forward_headers(BROWSER, CLIENT, "ELITE")
    assert out == BROWSER, "The level 'ELITE' is the same as 'elite'."


@pytest.mark.group("order and input")
@pytest.mark.points(1)
def test_unknown_level_is_an_error(solution):
    """level='invisible' is not a privacy level."""
    with pytest.raises(ValueError):
        solution.forward_headers(BROWSER, CLIENT, "invisible")


@pytest.mark.group("order and input")
@pytest.mark.points(1)
def test_default_level_is_anonymous(solution):
    fields = [*BROWSER, ("X-Forwarded-For", "203.0.113.9")]
    out = solution.forward_headers(fields, CLIENT)
    assert not values(out, "X-Forwarded-For") and values(out, "Via") == ["1.1 proxylab"], (
        "Without a level, forward_headers works as 'anonymous'."
    )
