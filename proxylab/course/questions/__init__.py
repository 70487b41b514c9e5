"""The "Check yourself" questions of every notebook, one module per notebook.

A module here is named after its notebook (``q02_privacy`` for ``02_privacy.ipynb``) and
defines ``QUESTIONS``, a tuple of ``proxylab.course.checks.Question``. They are collected
by looking at this folder, so adding a lesson's questions is adding one file.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache

from proxylab.course.checks import Question

__all__ = ["all_questions"]


@cache
def all_questions() -> dict[str, Question]:
    """Every question of every notebook, by id; two questions with one id are an error."""
    found: dict[str, Question] = {}
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        for question in module.QUESTIONS:
            if question.id in found:
                raise ValueError(f"Two questions have the id {question.id!r}.")
            found[question.id] = question
    return found
