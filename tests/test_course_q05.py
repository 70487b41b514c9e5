"""05_many_clients's questions: right answers (from the lesson's models) pass, wrong ones fail."""

from __future__ import annotations

from dataclasses import fields

from proxylab.course.checks import check
from proxylab.course.concurrency_lab import slowest_wait, throughput_ceiling
from proxylab.course.questions import all_questions
from proxylab.course.questions.q05_many_clients import QUESTIONS
from proxylab.net.connection import Timeouts


def test_last_wait_of_five_clients_at_a_one_at_a_time_friend() -> None:
    right = slowest_wait(clients=5, slots=1, service=0.100) * 1000
    assert check("05.last_wait", right) and check("05.last_wait", round(right) + 20)
    for wrong in (100, 250, 600):
        assert not check("05.last_wait", wrong)


def test_waves_of_a_pool_of_four() -> None:
    right = slowest_wait(clients=10, slots=4, service=0.200) * 1000
    assert check("05.waves", right)
    for wrong in (200, 500, 2000):  # one wave, 10/4 waves unrounded, one at a time
        assert not check("05.waves", wrong)


def test_head_deadline_names_the_timeouts_field() -> None:
    names = {field.name for field in fields(Timeouts)}
    assert "head" in names
    assert check("05.head_deadline", "head") and check("05.head_deadline", " Timeouts.head")
    for wrong in names - {"head"}:
        assert not check("05.head_deadline", wrong)


def test_ceiling_of_one_core_at_four_tenths_of_a_millisecond() -> None:
    right = throughput_ceiling(cpu_per_request=0.0004, cores=1)
    assert check("05.ceiling", right)
    for wrong in (250, 25000, throughput_ceiling(0.0004, cores=2)):
        assert not check("05.ceiling", wrong)


def test_every_question_is_collected_and_no_hint_gives_its_answer_away() -> None:
    assert {q.id for q in QUESTIONS} <= set(all_questions())
    answers = {"05.last_wait": "500", "05.waves": "600", "05.ceiling": "2500"}
    for question in QUESTIONS:
        assert question.id.startswith("05.")
        if question.id in answers:
            assert answers[question.id] not in question.hint
    assert "head" not in all_questions()["05.head_deadline"].hint.lower()
