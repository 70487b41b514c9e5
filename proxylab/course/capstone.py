"""The capstone driver: grade a student's own forward proxy, written in any language.

What it does. ``run_capstone("python my_proxy.py {port}")`` writes the rule file, starts
two origins on loopback (``capstone_origin``), starts the student's proxy with ``{port}``
and ``{rules}`` filled in (``capstone_process``), waits until it listens, runs every
check of ``capstone_checks.CHECKS`` against it and returns one ``TestResult`` per check
(group, points, and on failure what went wrong and a hint). Whatever happens, the proxy
and every process it started are stopped and the origins closed before it returns.

Key idea: the same parts and points as CMU's Proxy Lab driver (basic 40, concurrency 15,
cache 15) plus what a proxy of this course should also do (HTTP/1.1, privacy, filtering,
robustness: 30 more), and a message for every lost point. A proxy that never listens gets
one clear message and 0 points, with the last lines it printed.

The grader (``proxylab grade capstone --proxy-command "..."``) calls ``run_capstone`` and
prints, or writes for Gradescope, what it returns.

Layer 5 (an edge).
"""

from __future__ import annotations

import tempfile
from contextlib import ExitStack
from pathlib import Path

from proxylab.course.capstone_checks import CHECKS, RULES_TEXT, Check, CheckFailed, Context
from proxylab.course.capstone_origin import CapstoneOrigin
from proxylab.course.capstone_process import StudentProxy
from proxylab.course.results import TestResult
from proxylab.errors import ConfigError
from proxylab.lab.network import loopback_aliases_work

__all__ = ["CHECKS", "EXERCISE", "MAX_POINTS", "run_capstone"]

EXERCISE = "capstone"
MAX_POINTS = sum(check.points for check in CHECKS)
_CLIENT_ADDRESS = "127.0.0.2"  # the privacy check's client, when the OS has this alias


def run_capstone(
    proxy_command: str,
    timeout: float = 5.0,
    *,
    start_timeout: float = 10.0,
    concurrency_wait: float = 3.0,
) -> list[TestResult]:
    """Grade the proxy that ``proxy_command`` starts; one result per check, in order.

    ``timeout`` bounds each exchange, ``start_timeout`` the wait until the proxy listens,
    ``concurrency_wait`` how long a second client may wait behind a stuck one.
    """
    with tempfile.TemporaryDirectory(prefix="proxylab-capstone-") as folder, ExitStack() as stack:
        rules = Path(folder) / "rules.txt"
        rules.write_text(RULES_TEXT, encoding="utf-8")
        try:
            proxy = StudentProxy(proxy_command, rules)
        except ConfigError as error:
            return _all_failed(error.message)
        stack.callback(proxy.stop)  # registered first, so it runs last: after the origins
        origin = stack.enter_context(_started(CapstoneOrigin()))
        cache_origin = stack.enter_context(_started(CapstoneOrigin()))
        problem = _launch(proxy, start_timeout)
        if problem:
            return _all_failed(problem)
        source = _CLIENT_ADDRESS if loopback_aliases_work(_CLIENT_ADDRESS) else None
        ctx = Context(proxy.address, origin, cache_origin, timeout, concurrency_wait, source)
        return [_run(check, ctx, proxy) for check in CHECKS]


class _started:
    """Start an origin on entry and stop it on exit (``ExitStack`` keeps the order right)."""

    def __init__(self, origin: CapstoneOrigin) -> None:
        self.origin = origin

    def __enter__(self) -> CapstoneOrigin:
        return self.origin.start()

    def __exit__(self, *exc: object) -> None:
        self.origin.stop()


def _launch(proxy: StudentProxy, start_timeout: float) -> str:
    """Start the proxy and wait until it listens; what went wrong, or ``""``."""
    try:
        proxy.start()
    except (OSError, ConfigError) as error:
        text = error.message if isinstance(error, ConfigError) else str(error)
        return f"The proxy command could not be started: {text}. Command: {proxy.command}"
    if proxy.wait_listening(start_timeout):
        return ""
    host, port = proxy.address
    if proxy.alive:
        why = f"it runs, but nothing accepted a connection on {host}:{port} within {start_timeout:g} s"
    else:
        why = f"it exited with code {proxy.exit_code} before listening on {host}:{port}"
    return (
        f"The proxy never started listening: {why}. Listen on the port given as {{port}} "
        f"(also $PROXYLAB_PORT). Command run: {proxy.argv()}.{_tail(proxy)}"
    )


def _run(check: Check, ctx: Context, proxy: StudentProxy) -> TestResult:
    """Run one check; a failure keeps its message, plus the proxy's last words if it died."""
    if not proxy.alive:
        return _result(check, f"Not run: the proxy exited (code {proxy.exit_code}) earlier.")
    try:
        check.run(ctx)
    except CheckFailed as failed:
        message = str(failed)
    except Exception as error:  # a bug in the driver must not lose the other results
        message = f"The check itself failed: {type(error).__name__}: {error}"
    else:
        return _result(check, "", check.points)
    if not proxy.alive:
        message += f" The proxy exited during this check (code {proxy.exit_code}).{_tail(proxy)}"
    return _result(check, message)


def _tail(proxy: StudentProxy) -> str:
    output = proxy.output(1500).strip()
    return f"\nIts last output:\n{output}" if output else " It printed nothing."


def _result(check: Check, message: str, points: float = 0.0) -> TestResult:
    return TestResult(EXERCISE, check.group, check.name, points, check.points, message)


def _all_failed(message: str) -> list[TestResult]:
    """Every check at 0 points: the first with the whole message, the others pointing to it."""
    results = [_result(CHECKS[0], message)]
    results += [_result(check, "Not run: see the first result.") for check in CHECKS[1:]]
    return results
