"""Real server processes for the browser tests: start, wait until they answer, always stop.

The style studio needs a web server and a task worker that share one database file, and the
JupyterLab test needs ``jupyter lab`` itself, so these tests run real processes rather than
Django's in-process live server. Each process gets its own session (process group) and a log
file; a failed wait says which process died or stayed silent and shows the end of its log.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]

#: Environment for every process the tests start: one thread for PyTorch / OpenMP / BLAS, so
#: the servers share the CPU politely with the browser and the test itself.
ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServerProcess:
    """One background process with its output in ``log``; :meth:`stop` ends its whole group."""

    def __init__(
        self,
        name: str,
        command: Sequence[str],
        *,
        env: Mapping[str, str],
        cwd: Path,
        log: Path,
    ) -> None:
        self.name = name
        self.log = log
        self._log_file = log.open("wb")
        self.process = subprocess.Popen(
            list(command),
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own group, so stop() reaches any child it forks
        )

    def log_tail(self, chars: int = 4000) -> str:
        """The end of the process's output, for failure messages."""
        self._log_file.flush()
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return text[-chars:]

    def describe(self) -> str:
        """Name, state and log tail in one block, for a failure message."""
        code = self.process.poll()
        state = "running" if code is None else f"exited with code {code}"
        return f"--- {self.name} ({state}), log {self.log}:\n{self.log_tail()}"

    def check_running(self) -> None:
        """Raise with the log if the process has already exited."""
        if self.process.poll() is not None:
            raise RuntimeError(f"{self.name} stopped unexpectedly\n{self.describe()}")

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM to the process group, then SIGKILL if it has not exited within ``timeout``."""
        try:
            if self.process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGTERM)
                try:
                    self.process.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(self.process.pid, signal.SIGKILL)
                    self.process.wait(timeout=10)
        finally:
            self._log_file.close()


def wait_for_http(
    url: str,
    processes: Sequence[ServerProcess],
    timeout: float = 60.0,
    headers: Mapping[str, str] | None = None,
) -> None:
    """Poll ``url`` until it answers 200; fail early, with logs, if a process dies meanwhile."""
    deadline = time.monotonic() + timeout
    last_error = "no answer yet"
    while time.monotonic() < deadline:
        for process in processes:
            process.check_running()
        request = urllib.request.Request(url, headers=dict(headers or {}))
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                if response.status == 200:
                    return
                last_error = f"HTTP {response.status}"
        except (urllib.error.URLError, OSError) as error:
            last_error = str(error)
        time.sleep(0.25)
    logs = "\n".join(process.describe() for process in processes)
    raise TimeoutError(f"{url} did not answer within {timeout:.0f} s ({last_error})\n{logs}")


def processes_mentioning(text: str) -> list[int]:
    """Ids of the processes whose command line contains ``text`` (Linux ``/proc``).

    Used to find the kernels our own JupyterLab started: their command line holds the path of
    a connection file in the test's temporary runtime folder, which nothing else can name.
    """
    found = []
    needle = text.encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if needle in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
        except OSError:  # exited meanwhile, or not ours to read
            continue
    return found
