"""Questions of ``05_many_clients.ipynb``: waiting in line, the pool, slowloris, Python's limit."""

from __future__ import annotations

from proxylab.course.checks import Question, close_to, one_of

QUESTIONS = (
    Question(
        "05.last_wait",
        close_to(500, 60),
        "A one-at-a-time friend finishes one call before it picks up the next. Count how many "
        "calls the last client waits through, its own included, in milliseconds.",
    ),
    Question(
        "05.waves",
        close_to(600, 60),
        "The pool serves its clients in waves of max_connections; the rest wait in the "
        "kernel's queue. How many waves does it take, and how long is each one (in ms)?",
    ),
    Question(
        "05.head_deadline",
        one_of("head", "Timeouts.head", "head_timeout"),
        "A timeout per read never fires when a byte arrives every quarter of a second. "
        "Which setting of Timeouts counts from the first byte of the request, whatever follows?",
    ),
    Question(
        "05.ceiling",
        close_to(2500, 100),
        "One core's worth of Python per second is 1 second of CPU. How many requests fit in "
        "it if each one costs that much CPU? Convert milliseconds to seconds first.",
    ),
)
