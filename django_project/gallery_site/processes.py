"""Start a web server process, wait until it answers HTTP, stop it: once, for every caller.

Notebook 08 runs ``manage.py runserver`` through :mod:`gallery_site.notebook_support`, and
``make bench`` runs gunicorn through ``bench/serving.py``; both use these functions. Each
server gets its own session (process group) and a log file, so :func:`stop` reaches any
worker it forked, and a failed start says why with the end of the log. Standard library only.
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
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

__all__ = [
    "HOST",
    "free_port",
    "port_is_free",
    "spawn",
    "stop",
    "wait_until_answers",
    "wait_until_logged",
]

HOST = "127.0.0.1"


def free_port(host: str = HOST) -> int:
    """A TCP port the operating system says is unused right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def port_is_free(port: int, host: str = HOST) -> bool:
    """True if nothing listens on ``host:port`` (a connection attempt is refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(2.0)
        try:
            probe.connect((host, port))
        except OSError:
            return True
    return False


def spawn(
    command: Sequence[str], *, cwd: Path, env: Mapping[str, str], log: Path
) -> subprocess.Popen:
    """Start ``command`` in its own process group, its output (both streams) appended to
    ``log``; returns at once (see :func:`wait_until_answers`)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:  # the child keeps its own copy of the file descriptor
        return subprocess.Popen(
            list(command),
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _log_tail(log: Path, chars: int = 3000) -> str:
    return log.read_text(errors="replace")[-chars:] if log.is_file() else ""


def wait_until_answers(
    process: subprocess.Popen,
    url: str,
    *,
    log: Path,
    timeout: float = 60.0,
    accept: Callable[[int], bool] = lambda status: True,
) -> None:
    """Poll ``GET url`` until an answer whose status ``accept`` takes comes back.

    Raises RuntimeError with the end of ``log`` if the process exits first or ``timeout``
    seconds pass. By default any HTTP answer counts (an error page still means "up").
    """
    deadline = time.monotonic() + timeout
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via a proxy
    while True:
        if process.poll() is not None:
            raise RuntimeError(
                f"the server exited with code {process.returncode} before answering; "
                f"its log ends with:\n{_log_tail(log)}"
            )
        try:
            with opener.open(url, timeout=5) as answer:
                status = answer.status
        except urllib.error.HTTPError as error:
            status = error.code
            error.close()
        except (urllib.error.URLError, OSError):
            status = None  # not listening yet
        if status is not None and accept(status):
            return
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"the server did not answer GET {url} within {timeout:.0f} s; its log ends "
                f"with:\n{_log_tail(log)}"
            )
        time.sleep(0.2)


def wait_until_logged(
    process: subprocess.Popen, text: str, *, log: Path, timeout: float = 60.0
) -> None:
    """Wait until ``text`` appears in ``log`` (a process with no HTTP port, e.g. a task worker,
    saying it is ready); RuntimeError with the end of the log if it exits first or times out."""
    deadline = time.monotonic() + timeout
    while True:
        if log.is_file() and text in log.read_text(errors="replace"):
            return
        if process.poll() is not None:
            raise RuntimeError(
                f"the process exited with code {process.returncode} before logging {text!r}; "
                f"its log ends with:\n{_log_tail(log)}"
            )
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"the process did not log {text!r} within {timeout:.0f} s; its log ends "
                f"with:\n{_log_tail(log)}"
            )
        time.sleep(0.1)


def stop(process: subprocess.Popen, grace: float = 10.0) -> None:
    """SIGTERM the process's group, SIGKILL it after ``grace`` seconds (at once for 0), reap.

    Signals go only while the process is unreaped, so its group id cannot belong to anyone
    else yet. Stopping a stopped process does nothing.
    """
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM if grace > 0 else signal.SIGKILL)
        try:
            process.wait(timeout=grace if grace > 0 else None)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
    process.wait()
