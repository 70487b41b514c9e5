"""The in-notebook checker: right answers pass, wrong ones get the hint, typos are named."""

from __future__ import annotations

import pytest

from proxylab.course.checks import CheckResult, check, close_to, one_of, same_items, same_text
from proxylab.course.questions import all_questions


def test_a_right_answer_passes_and_a_wrong_one_gets_the_hint() -> None:
    right = check("00.acts_for_client", "Forward ")
    assert right and right.passed and "Well done" in str(right)
    wrong = check("00.acts_for_client", "reverse")
    assert not wrong
    assert wrong.message.startswith("Hint: ")
    assert "forward" not in wrong.message.lower()  # the hint must not give the answer away


def test_an_unknown_question_is_named_not_marked_wrong() -> None:
    with pytest.raises(KeyError, match="00.acts_for_client"):
        check("00.no_such_question", "forward")


def test_an_answer_of_the_wrong_type_is_wrong_not_an_error() -> None:
    assert not check("00.acts_for_client", None).passed


def test_results_render_as_html_for_jupyter() -> None:
    result = check("00.acts_for_client", "forward")
    assert isinstance(result, CheckResult)
    assert "\N{CHECK MARK}" in result._repr_html_()


def test_judges() -> None:
    assert close_to(0.5, 0.01)(0.505) and not close_to(0.5, 0.01)(0.52)
    assert same_items(["Via", "x-forwarded-for"])(["X-Forwarded-For", "via"])
    assert not same_items(["via"])(["via", "from"])
    assert same_text("Elite")(" elite") and one_of(1, "two")("TWO") and not one_of(1)(2)


def test_question_ids_name_their_notebook() -> None:
    for question_id in all_questions():
        number, _, name = question_id.partition(".")
        assert number.isdigit() and name, f"{question_id!r} is not 'NN.name'"


def test_table_and_wire_views() -> None:
    from proxylab.course.views import table, wire

    shown = table([{"who": "site", "saw": "127.0.0.2"}, {"who": "you", "saw": ["a", "b"]}])
    assert "who" in shown._repr_html_() and "127.0.0.2" in str(shown) and "a, b" in str(shown)
    raw = wire(b"GET / HTTP/1.1\r\nHost: news.test\r\n\r\n")
    assert raw.lines() == ["GET / HTTP/1.1\\r\\n", "Host: news.test\\r\\n", "\\r\\n"]
    assert "&lt;b&gt;" in wire(b"<b>")._repr_html_()
