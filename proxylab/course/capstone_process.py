"""Start a student's proxy from a command line, wait until it listens, and stop it for sure.

What it does. The capstone may be written in any language, so the driver only knows a
command such as ``python my_proxy.py {port}`` or ``./proxy {port} {rules}``. ``StudentProxy``
fills in the placeholders (``{port}``: a free loopback port; ``{rules}``: the rule file
the driver wrote), starts the command with its output captured to a file, waits until
something accepts connections on the port, and at the end stops the process and every
process it started.

Key ideas:
- No shell. On POSIX the command is split with ``shlex.split`` and run with
  ``shell=False``, in a new session (its own process group), so that stopping it can
  signal the whole group: SIGTERM, a short grace, then SIGKILL. On Windows the command
  line is handed to ``CreateProcess`` as written (Windows programs parse their own
  command line), in a new process group, and stopped with ``taskkill /T /F`` (the whole
  tree) and then ``kill``.
- Output goes to a temporary file, not a pipe: a chatty proxy can never block on a full
  pipe, and the last lines are shown when it fails to start or dies.
- Readiness is a bounded poll: try to connect every 50 ms until the deadline, and notice
  at once when the process exited instead.

Layer 5 (an edge).
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import socket
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType

from proxylab.errors import ConfigError
from proxylab.lab.lab import wait_until

__all__ = ["StudentProxy", "free_port"]

_POSIX = os.name == "posix"


def free_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on right now (the OS picks it; it is free again after close)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def _can_connect(address: tuple[str, int]) -> bool:
    try:
        with socket.create_connection(address, timeout=0.25):
            return True
    except OSError:
        return False


class StudentProxy:
    """The student's proxy as a child process: ``start()``, ``alive``, ``output()``, ``stop()``."""

    def __init__(self, command: str, rules: Path, host: str = "127.0.0.1") -> None:
        if "{port}" not in command:
            raise ConfigError(
                "The proxy command must contain {port}, where the driver puts the port to "
                'listen on, e.g. --proxy-command "python my_proxy.py {port}".'
            )
        self.host, self.port = host, free_port(host)
        self.rules = rules
        self.command = command
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 - closed in stop()
        self._process: subprocess.Popen[bytes] | None = None
        self._final_output: str | None = None

    @property
    def address(self) -> tuple[str, int]:
        """Where the proxy is to listen."""
        return (self.host, self.port)

    def argv(self) -> list[str] | str:
        """The command with ``{port}`` and ``{rules}`` filled in (a string on Windows)."""
        fill = {"{port}": str(self.port), "{rules}": str(self.rules)}
        if not _POSIX:
            text = self.command.replace("{port}", fill["{port}"])
            return text.replace("{rules}", subprocess.list2cmdline([fill["{rules}"]]))
        try:
            words = shlex.split(self.command)
        except ValueError as error:
            raise ConfigError(f"Cannot split the proxy command: {error}.") from None
        for key, value in fill.items():
            words = [word.replace(key, value) for word in words]
        return words

    def start(self) -> StudentProxy:
        """Run the command; ``OSError`` (as a message) if it cannot even be started."""
        env = dict(os.environ, PROXYLAB_PORT=str(self.port), PROXYLAB_RULES=str(self.rules))
        env.setdefault("PYTHONUNBUFFERED", "1")  # a Python proxy's prints show up at once
        options: dict[str, object] = {"start_new_session": True} if _POSIX else {
            "creationflags": getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0)
        }  # fmt: skip
        self._process = subprocess.Popen(  # noqa: S603 - the instructor's or student's own command
            self.argv(),
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
            **options,  # type: ignore[call-overload]
        )
        return self

    @property
    def alive(self) -> bool:
        """Is the process still running?"""
        return self._process is not None and self._process.poll() is None

    @property
    def exit_code(self) -> int | None:
        """The exit code once it exited, else None."""
        return None if self._process is None else self._process.poll()

    def wait_listening(self, timeout: float) -> bool:
        """True once a connection to the port succeeds; False on exit or after ``timeout``."""
        wait_until(lambda: not self.alive or _can_connect(self.address), timeout, every=0.05)
        return self.alive and _can_connect(self.address)

    def output(self, most: int = 2000) -> str:
        """The last ``most`` characters the proxy printed (stdout and stderr together)."""
        if self._final_output is not None:
            return self._final_output[-most:]
        self._log.flush()
        size = self._log.seek(0, os.SEEK_END)
        self._log.seek(max(0, size - most))
        return self._log.read().decode("utf-8", "replace")

    def stop(self, grace: float = 2.0) -> None:
        """Stop the process and its whole group or tree; always leaves nothing running."""
        process = self._process
        if process is not None:
            if _POSIX:
                self._signal_group(signal.SIGTERM)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(grace)
                self._signal_group(signal.SIGKILL)  # also children that outlived the leader
            else:
                subprocess.run(  # noqa: S603, S607 - Windows' own tool, fixed arguments
                    ["taskkill", "/F", "/T", "/PID", str(process.pid)],
                    capture_output=True,
                    check=False,
                )
                process.kill()
            process.wait()
        if self._final_output is None:
            self._final_output = self.output(20_000)
            self._log.close()

    def _signal_group(self, sig: signal.Signals) -> None:
        assert self._process is not None
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._process.pid, sig)  # start_new_session: the group id is the pid

    def __enter__(self) -> StudentProxy:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
