"""Running the real programs: check an exported file with nginx, HAProxy or Squid, or run it.

What: ``check_config("nginx", text)`` asks the program itself whether it accepts
the file (``nginx -t``, ``haproxy -c``, ``squid -k parse``); ``RealProxy("squid", text,
port)`` runs it on loopback until ``stop()``. Tests and notebook 12 use both to
show that the exported setup is the same setup.

Key idea: every run is private and bounded. The program gets its own directory for pid,
logs and temporary files (nothing under /var), listens on the port the file says (the
caller picks a free one), is started in the foreground (``daemon off``, ``-db``, ``-N``)
so its process id is ours to stop, and is waited for by polling its port, never by
sleeping. What the harness adds is paths only, never behaviour:

- nginx: ``-p DIR -e DIR/error.log -g "daemon off; pid DIR/nginx.pid;"`` and, inside
  ``http {``, the temp and access-log paths;
- HAProxy: nothing (``-db`` keeps it in the foreground);
- Squid: a small wrapper file with ``pid_filename``, ``cache_log``, ``access_log``,
  ``hosts_file`` (names of the lab) and ``shutdown_lifetime 0`` that ``include``\\ s the
  exported file. As root, Squid drops to its ``cache_effective_user``, so the directory is
  handed to that user.

Layer 5 (an edge).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from proxylab.errors import ConfigError

__all__ = [
    "INSTALL_HINT",
    "PROGRAMS",
    "Checked",
    "RealProxy",
    "check_config",
    "free_port",
    "installed",
]

PROGRAMS = ("nginx", "haproxy", "squid")
INSTALL_HINT = "apt-get install nginx-light haproxy squid  (Debian/Ubuntu; brew install on macOS)"
_SBIN = ("/usr/sbin", "/usr/local/sbin", "/sbin", "/opt/homebrew/bin", "/usr/local/bin")


def installed(program: str) -> str | None:
    """The program's path, or None (``/usr/sbin`` is searched too: it is often not on PATH)."""
    return shutil.which(program) or shutil.which(program, path=os.pathsep.join(_SBIN))


def free_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on right now (the kernel's choice for port 0)."""
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True, slots=True)
class Checked:
    """The program's verdict on a file: accepted or not, and what it printed."""

    program: str
    ok: bool
    output: str


def check_config(program: str, text: str, hosts: Mapping[str, str] | None = None) -> Checked:
    """Ask ``program`` itself whether it accepts ``text`` (exit status 0 and no error)."""
    with tempfile.TemporaryDirectory(prefix=f"proxylab-{program}-") as workdir:
        command = _prepare(program, text, Path(workdir), hosts or {})
        check = {"nginx": ["-t"], "haproxy": ["-c"], "squid": ["-k", "parse"]}[program]
        done = subprocess.run(
            command + check, capture_output=True, text=True, timeout=60, check=False
        )
    output = (done.stdout + done.stderr).strip()
    failed = done.returncode != 0 or "FATAL" in output or "ERROR:" in output
    return Checked(program, not failed, output)


class RealProxy:
    """nginx, HAProxy or Squid running ``text`` in the foreground; ``stop()`` ends it by pid.

    ``port`` is the one the file listens on; readiness is a bounded poll of that port
    (Squid can take a few seconds). Use it as a context manager.
    """

    def __init__(
        self,
        program: str,
        text: str,
        port: int,
        *,
        host: str = "127.0.0.1",
        hosts: Mapping[str, str] | None = None,
        ready_timeout: float = 20.0,
    ) -> None:
        self.program, self.address = program, (host, port)
        # its own directory, directly under the temp dir (Squid's user must reach it)
        self.workdir = Path(tempfile.mkdtemp(prefix=f"proxylab-{program}-"))
        command = _prepare(program, text, self.workdir, hosts or {})
        run = {"nginx": [], "haproxy": ["-db"], "squid": ["-N"]}[program]
        self._log = (self.workdir / f"{program}.out").open("w")
        self.process = subprocess.Popen(command + run, stdout=self._log, stderr=subprocess.STDOUT)
        try:
            self._wait_ready(ready_timeout)
        except BaseException:
            self.stop()
            raise

    @property
    def url(self) -> str:
        return f"http://{self.address[0]}:{self.address[1]}"

    def output(self) -> str:
        """What the program printed so far (and its own log files), for error messages."""
        return "\n".join(
            path.read_text(errors="replace")
            for path in sorted(self.workdir.glob("*"))
            if path.suffix in (".out", ".log") and path.is_file()
        )

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ConfigError(f"{self.program} exited at start:\n{self.output()}")
            with contextlib.suppress(OSError), socket.create_connection(self.address, 0.2):
                return
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(0.05)  # a bounded wait on the process, not a sleep
        raise ConfigError(f"{self.program} did not listen on {self.address} within {timeout:g} s")

    def stop(self) -> None:
        """End the process by its pid (TERM, then KILL after 15 s); remove its directory."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        if not self._log.closed:
            self._log.close()
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> RealProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _prepare(program: str, text: str, workdir: Path, hosts: Mapping[str, str]) -> list[str]:
    """Write the files into ``workdir`` and return the command (without the action flags)."""
    if program not in PROGRAMS:
        raise ConfigError(f"Unknown program {program!r}; choose one of: {', '.join(PROGRAMS)}.")
    path = installed(program)
    if path is None:
        raise ConfigError(f"{program} is not installed here; install it with: {INSTALL_HINT}")
    workdir.mkdir(parents=True, exist_ok=True)
    if program == "nginx":
        return _nginx(path, text, workdir)
    if program == "haproxy":
        (workdir / "haproxy.cfg").write_text(text)
        return [path, "-f", str(workdir / "haproxy.cfg")]
    return _squid(path, text, workdir, hosts)


def _nginx(path: str, text: str, workdir: Path) -> list[str]:
    paths = "".join(
        f"    {name}_temp_path {workdir / name};\n"
        for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    paths += f"    access_log {workdir / 'access.log'};\n"
    (workdir / "nginx.conf").write_text(text.replace("\nhttp {\n", "\nhttp {\n" + paths, 1))
    directives = f"daemon off; pid {workdir / 'nginx.pid'};"
    if _is_root():
        directives += " user root;"  # workers may then use the private temp dirs
    return [path, "-p", f"{workdir}/", "-e", str(workdir / "error.log"),
            "-c", str(workdir / "nginx.conf"), "-g", directives]  # fmt: skip


def _squid(path: str, text: str, workdir: Path, hosts: Mapping[str, str]) -> list[str]:
    (workdir / "exported.conf").write_text(text)
    (workdir / "hosts").write_text("".join(f"{ip} {name}\n" for name, ip in hosts.items()))
    wrapper = (
        f"pid_filename {workdir / 'squid.pid'}\n"
        f"cache_log {workdir / 'cache.log'}\n"
        f"access_log stdio:{workdir / 'access.log'}\n"
        f"coredump_dir {workdir}\n"
        f"hosts_file {workdir / 'hosts'}\n"
        "shutdown_lifetime 0 seconds\n"
        f"include {workdir / 'exported.conf'}\n"
    )
    (workdir / "squid.conf").write_text(wrapper)
    _hand_to_squid_user(workdir)
    return [path, "-f", str(workdir / "squid.conf")]


def _is_root() -> bool:
    """Running as root (POSIX only: Windows has no effective user id)."""
    return hasattr(os, "geteuid") and os.geteuid() == 0


def _hand_to_squid_user(workdir: Path) -> None:
    """As root, Squid works as its ``cache_effective_user`` (Debian: proxy): let it write."""
    if not _is_root():
        return
    import pwd

    for name in ("proxy", "squid", "nobody"):
        with contextlib.suppress(KeyError):
            user = pwd.getpwnam(name)
            for item in (workdir, *workdir.iterdir()):
                os.chown(item, user.pw_uid, user.pw_gid)
            return
