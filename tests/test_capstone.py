"""The capstone driver, proven on real proxies: proxylab's own, a naive one, the starter, broken ones.

Each test starts a real proxy process on loopback through ``run_capstone`` (which starts
its own origins) and looks at the scores: full marks for proxylab's forward proxy, the
expected points lost for proxies that lack a part, a clear message for a command that
never listens, and no process left behind.
"""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path

import pytest

from proxylab.course.capstone import MAX_POINTS, run_capstone
from proxylab.course.capstone_process import StudentProxy
from proxylab.course.results import TestResult
from proxylab.lab import wait_until

ROOT = Path(__file__).resolve().parent.parent
PYTHON = shlex.quote(sys.executable)
FORWARD = f"{PYTHON} -m proxylab forward --listen 127.0.0.1:{{port}} --quiet"
posix_only = pytest.mark.skipif(os.name != "posix", reason="process groups and /proc are POSIX")


def lost(results: list[TestResult]) -> dict[str, str]:
    """``group.name`` -> message, for every check that lost points."""
    return {f"{r.group}.{r.name}": r.message for r in results if not r.passed}


def score(results: list[TestResult], group: str | None = None) -> float:
    return sum(r.points for r in results if group is None or r.group == group)


def table(results: list[TestResult]) -> str:
    rows = [
        f"{r.group:12} {r.name:20} {r.points:>4g}/{r.max_points:<4g} {r.message}" for r in results
    ]
    return "\n".join(rows)


def test_proxylab_forward_proxy_scores_full_marks() -> None:
    results = run_capstone(f"{FORWARD} --block-file {{rules}}")
    assert lost(results) == {}, table(results)
    assert score(results) == MAX_POINTS == 100
    print("\n" + table(results))


def test_naive_proxy_passes_basic_and_loses_concurrency_and_cache() -> None:
    results = run_capstone(f"{PYTHON} {ROOT / 'tests' / 'naive_proxy.py'} {{port}}")
    print("\n" + table(results))
    assert score(results, "basic") == 40, table(results)
    assert score(results, "concurrency") == 0 and score(results, "cache") == 0, table(results)
    assert "concurrency.stuck_origin" in lost(results)
    assert "own thread" in lost(results)["concurrency.idle_client"]
    assert "After the origin stopped" in lost(results)["cache.served_from_cache"]
    assert set(lost(results)) == {
        "concurrency.stuck_origin",
        "concurrency.idle_client",
        "cache.served_from_cache",
        "cache.large_not_cached",
        "http11.keep_alive",
        "filtering.blocked_host",
    }, table(results)


def test_the_starter_listens_and_scores_zero() -> None:
    starter = ROOT / "exercises" / "10_capstone" / "my_proxy.py"
    results = run_capstone(f"{PYTHON} {starter} {{port}} {{rules}}", concurrency_wait=1.0)
    assert score(results) == 0, table(results)
    assert "never started listening" not in results[0].message, "the starter must listen"
    assert "answered 501" in results[0].message


@pytest.mark.parametrize(
    ("flags", "expected_lost"),
    [
        (
            "--privacy transparent --cache-size 0",
            {
                "cache.served_from_cache",
                "cache.large_not_cached",
                "privacy.client_hidden",
                "filtering.blocked_host",
            },
        ),
        ("--max-object-size 4MB --block-file {rules}", {"cache.large_not_cached"}),
    ],
    ids=["transparent-no-cache-no-rules", "caches-big-objects"],
)
def test_a_proxy_without_a_part_loses_exactly_its_points(
    flags: str, expected_lost: set[str]
) -> None:
    results = run_capstone(f"{FORWARD} {flags}")
    assert set(lost(results)) == expected_lost, table(results)


def test_a_command_that_exits_gets_a_clear_message_and_zero() -> None:
    command = f"{PYTHON} -c \"import sys; print('cannot bind, giving up'); sys.exit(3)\" {{port}}"
    results = run_capstone(command, start_timeout=5.0)
    assert score(results) == 0 and len(results) > 10
    message = results[0].message
    assert "never started listening" in message and "exited with code 3" in message, message
    assert "cannot bind, giving up" in message, "the proxy's own output is shown"
    assert all(r.message for r in results), "every check says why it has no points"


@posix_only
def test_a_command_that_never_listens_is_killed_with_its_children(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    script = tmp_path / "stuck.py"
    script.write_text(
        "import os, subprocess, sys, threading\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import threading; threading.Event().wait()'])\n"
        "open(sys.argv[1], 'w').write(f'{os.getpid()} {child.pid}')\n"
        "threading.Event().wait()\n"
    )
    results = run_capstone(f"{PYTHON} {script} {pids} {{port}}", start_timeout=1.5)
    assert "it runs, but nothing accepted a connection" in results[0].message, results[0].message
    assert score(results) == 0
    parent, child = (int(pid) for pid in pids.read_text().split())
    assert wait_until(lambda: gone(parent) and gone(child), timeout=5.0), "processes left running"


def gone(pid: int) -> bool:
    """Not running: no such process, or a zombie waiting for its (new) parent to reap it."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def test_a_command_without_the_port_placeholder_is_refused() -> None:
    results = run_capstone("python my_proxy.py 8080")
    assert score(results) == 0
    assert "must contain {port}" in results[0].message


def test_a_program_that_does_not_exist_gets_a_clear_message() -> None:
    results = run_capstone("no-such-proxy-program {port}")
    assert score(results) == 0
    assert "could not be started" in results[0].message, results[0].message


@posix_only
def test_placeholders_are_filled_per_word_without_a_shell() -> None:
    proxy = StudentProxy(
        "./proxy --rules {rules} -p {port} 'a b'", Path("/tmp/with space/rules.txt")
    )
    try:
        assert proxy.argv() == [
            "./proxy",
            "--rules",
            "/tmp/with space/rules.txt",
            "-p",
            str(proxy.port),
            "a b",
        ]
    finally:
        proxy.stop()


def test_the_grade_command_grades_the_capstone_for_gradescope(tmp_path: Path) -> None:
    """``proxylab grade capstone --proxy-command ...`` end to end, as an instructor runs it."""
    import json
    import subprocess

    results = tmp_path / "results.json"
    command = [
        sys.executable, "-m", "proxylab", "grade", "capstone", "--require-full",
        "--proxy-command", f"{FORWARD} --block-file {{rules}}", "--gradescope", str(results),
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "100 / 100" in done.stdout
    report = json.loads(results.read_text())
    assert report["score"] == 100 and report["tests"]
    assert sum(t["max_score"] for t in report["tests"]) == MAX_POINTS
    assert all(t["status"] == "passed" for t in report["tests"])
