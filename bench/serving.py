"""Start WSGI apps under gunicorn and drive them with a bounded load loop over localhost HTTP.

The load loop runs in threads, each sending one request per new connection (the sync workers
close it after every answer) until a fixed number of seconds has passed. Throughput counts only
answers with status 200.

The client shares the machine's two cores with the server, so it must be cheap: each request
is built once as bytes, sent on a plain socket, and the answer is read to the end and judged
by its status line. ``http.client`` parses every header into objects and took about two
thirds of the CPU that an empty WSGI app's requests cost, which capped any server here at
half of what it can serve (measured: an empty app answered 4,900 requests/s to ``http.client``
and 10,300/s to this loop).
"""

from __future__ import annotations

import http.client
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path

DJANGO_DIR = Path(__file__).resolve().parent.parent / "django_project"
if str(DJANGO_DIR) not in sys.path:
    sys.path.insert(0, str(DJANGO_DIR))

from gallery_site import processes  # noqa: E402  (start, wait and stop: one copy, shared)

HOST = processes.HOST

#: One whole HTTP/1.1 request as bytes, sent as-is on a fresh connection.
Request = bytes


@dataclass
class Server:
    """A gunicorn master started by :func:`start`; ``log`` holds what it printed."""

    process: subprocess.Popen
    port: int
    log: Path

    def connection(self, timeout: float = 60.0) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(HOST, self.port, timeout=timeout)

    def wait_ready(self, path: str = "/", timeout: float = 120.0) -> None:
        """Poll ``GET path`` until it answers 200; fail early if gunicorn exits."""
        processes.wait_until_answers(
            self.process,
            f"http://{HOST}:{self.port}{path}",
            log=self.log,
            timeout=timeout,
            accept=lambda status: status == 200,
        )


def stop(servers: list[Server]) -> None:
    """KILL each server's whole process group (master and workers) and reap it.

    No graceful shutdown: these servers hold nothing worth saving (a throwaway database and
    media folder), and a torch-loaded worker can take seconds to exit politely.
    """
    for server in servers:
        processes.stop(server.process, grace=0)


def start(app: str, *, cwd: Path, env: dict[str, str], workers: int, log: Path) -> Server:
    """Start serving ``app`` (``module:callable``) with ``workers`` worker processes; no wait.

    gunicorn reads ``gunicorn.conf.py`` from ``cwd`` if there is one (the gallery's production
    settings); the bind address and the worker count given here win over it. It runs in its own
    process group, so :func:`stop` can make sure no worker outlives it. Call ``wait_ready``
    before sending load.
    """
    port = processes.free_port()
    command = [
        *(sys.executable, "-m", "gunicorn", app),
        *("--bind", f"{HOST}:{port}", "--workers", str(workers)),
        "--no-control-socket",  # the default one is per user: it would clash with other servers
    ]
    return Server(processes.spawn(command, cwd=cwd, env=env, log=log), port, log)


def csrf_token(server: Server, path: str) -> str:
    """GET ``path`` and return the ``csrftoken`` cookie Django sets on a page with a form."""
    connection = server.connection()
    connection.request("GET", path)
    response = connection.getresponse()
    response.read()
    connection.close()
    cookie = SimpleCookie()
    for header in response.headers.get_all("Set-Cookie") or []:
        cookie.load(header)
    if response.status != 200 or "csrftoken" not in cookie:
        raise RuntimeError(f"GET {path} answered {response.status} without a csrftoken cookie")
    return cookie["csrftoken"].value


def _request(method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None):
    lines = [
        f"{method} {path} HTTP/1.1",
        f"Host: {HOST}",
        "Connection: close",
        f"Content-Length: {len(body)}",
        *(f"{name}: {value}" for name, value in (headers or {}).items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def form_post(path: str, body: str, headers: dict[str, str] | None = None) -> Request:
    """A request that POSTs a urlencoded ``body`` to ``path``."""
    headers = {"Content-Type": "application/x-www-form-urlencoded", **(headers or {})}
    return _request("POST", path, body.encode(), headers)


def get(path: str) -> Request:
    """A request that GETs ``path``."""
    return _request("GET", path)


def send(port: int, request: Request, timeout: float = 60.0) -> tuple[int, bytes]:
    """Send one request on a new connection; (status, the whole answer as bytes).

    The answer is read until the server closes the connection, so a worker is never left
    writing to a client that went away."""
    with socket.create_connection((HOST, port), timeout=timeout) as sock:
        sock.sendall(request)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    answer = b"".join(chunks)
    status_line = answer[: answer.find(b"\r\n")].split(b" ", 2)
    if len(status_line) < 2 or not status_line[0].startswith(b"HTTP/"):
        raise http.client.BadStatusLine(repr(answer[:40]))
    return int(status_line[1]), answer


@dataclass
class LoadResult:
    """What a load loop saw: latencies of good answers, every status, the time it took."""

    seconds: float
    latencies: list[float] = field(default_factory=list)
    statuses: Counter = field(default_factory=Counter)
    failures: Counter = field(default_factory=Counter)  # exceptions by type name

    @property
    def ok(self) -> int:
        return len(self.latencies)

    @property
    def errors(self) -> int:
        return sum(self.failures.values()) + sum(
            count for status, count in self.statuses.items() if status != 200
        )

    @property
    def per_second(self) -> float:
        return self.ok / self.seconds if self.seconds > 0 else 0.0

    def percentile(self, q: float) -> float:
        """Latency percentile in seconds (nearest rank), 0 when nothing succeeded."""
        if not self.latencies:
            return 0.0
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]

    @property
    def median(self) -> float:
        return statistics.median(self.latencies) if self.latencies else 0.0


def load(server: Server, request: Request, *, threads: int, seconds: float) -> LoadResult:
    """Keep ``threads`` requests in flight for ``seconds``; wait for the last ones to finish."""
    lock = threading.Lock()
    start = time.perf_counter()
    deadline = start + seconds
    latencies: list[float] = []
    statuses: Counter = Counter()
    failures: Counter = Counter()

    def worker() -> None:
        while time.perf_counter() < deadline:
            tick = time.perf_counter()
            try:
                status, _ = send(server.port, request)
            except (OSError, http.client.HTTPException, ValueError) as err:
                with lock:
                    failures[type(err).__name__] += 1
                continue
            elapsed = time.perf_counter() - tick
            with lock:
                statuses[status] += 1
                if status == 200:
                    latencies.append(elapsed)

    pool = [threading.Thread(target=worker, daemon=True) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return LoadResult(time.perf_counter() - start, latencies, statuses, failures)
