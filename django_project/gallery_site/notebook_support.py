"""Plumbing for notebooks 07 and 08: the gallery inside a Jupyter kernel, and as a real server.

- :func:`setup_django` configures Django in the notebook's own process, with a database and a
  media folder of the notebook's own (never the project's ``db.sqlite3``);
- :func:`show_artworks` and :func:`show_image_file` display stored images under a cell;
- :func:`manage` runs ``python manage.py ...`` in a child process with those same paths;
- :func:`start_server` / :func:`stop_server` run ``manage.py runserver`` in the background and
  make sure it never outlives the notebook (``atexit``, a context manager, a clean stop);
  :func:`start_worker` does the same for ``manage.py db_worker``, which runs the background
  tasks (the style studio's and ``/models/``'s trainings), and :func:`follow_training` polls a
  training's status URL until it ends;
- :class:`WebClient` is a tiny browser from the standard library: it keeps cookies (Django's
  CSRF cookie among them) and sends the CSRF token back with every POST, as ``site.js`` does.

Only :func:`setup_django`, :func:`show_artworks` and :func:`show_image_file` import Django, and
only when called, so notebook 08 can drive the server without configuring Django itself.
"""

from __future__ import annotations

import atexit
import contextlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from http.cookiejar import CookieJar
from pathlib import Path
from typing import Any

from gallery_site import processes
from gallery_site.processes import HOST, port_is_free

#: ``django_project/``: the folder that holds ``manage.py``.
PROJECT_DIR = Path(__file__).resolve().parent.parent
SETTINGS_MODULE = "gallery_site.settings"

__all__ = [
    "PROJECT_DIR",
    "Response",
    "Server",
    "WebClient",
    "Worker",
    "follow_training",
    "manage",
    "port_is_free",
    "reset_site",
    "setup_django",
    "show_artworks",
    "show_image_file",
    "show_pngs",
    "start_server",
    "start_worker",
    "stop_server",
    "url_table",
]


# --- the site's files -------------------------------------------------------------------------


def _check_safe_to_wipe(path: Path) -> None:
    """Refuse to delete a folder that holds the project, the home folder or a filesystem root."""
    protected = {Path.home().resolve(), PROJECT_DIR.resolve(), PROJECT_DIR.parent.resolve()}
    if path == path.parent or path in protected or any(p.is_relative_to(path) for p in protected):
        raise ValueError(f"refusing to delete {path}: it is not a folder of generated files")


def _web_checkpoints(db_path: Path) -> list[Path]:
    """The checkpoint files of the models this database's site trained from the web.

    They live in the shared checkpoint folder's ``web/`` subfolder, one per record; deleting the
    database without them would leave files no record names. Read with ``sqlite3`` (no Django).
    """
    import sqlite3

    from course_lib.paths import checkpoint_dir

    if not db_path.is_file():
        return []
    try:
        with contextlib.closing(sqlite3.connect(f"{db_path.as_uri()}?mode=ro", uri=True)) as db:
            rows = db.execute(
                "SELECT checkpoint FROM workshop_modelrecord WHERE source = 'web'"
            ).fetchall()
    except sqlite3.Error:  # not migrated yet, or not a site database: nothing of ours in it
        return []
    folder = (checkpoint_dir() / "web").resolve()
    paths = []
    for (relative,) in rows:
        path = (checkpoint_dir() / str(relative or "")).resolve()
        if relative and path.parent == folder:  # never a file outside web/ ("../", absolute)
            paths.append(path)
    return paths


def reset_site(db_path: str | Path, media_root: str | Path) -> None:
    """Delete a site's SQLite file and media folder, so the next migrate starts from nothing,
    and the checkpoints of the models that site trained from the web (``/models/train/``)."""
    db_path, media_root = Path(db_path).resolve(), Path(media_root).resolve()
    if db_path.suffix != ".sqlite3":
        raise ValueError(f"the database must be a .sqlite3 file, got {db_path.name!r}")
    _check_safe_to_wipe(media_root)
    for checkpoint in _web_checkpoints(db_path):
        checkpoint.unlink(missing_ok=True)
    for suffix in ("", "-journal", "-wal", "-shm"):
        Path(f"{db_path}{suffix}").unlink(missing_ok=True)
    shutil.rmtree(media_root, ignore_errors=True)
    db_path.parent.mkdir(parents=True, exist_ok=True)
    media_root.mkdir(parents=True, exist_ok=True)


def _site_env(db_path: str | Path, media_root: str | Path) -> dict[str, str]:
    """The environment variables that point the settings at this database and media folder."""
    return {
        "DJANGO_SETTINGS_MODULE": SETTINGS_MODULE,
        "GALLERY_DB": str(Path(db_path).resolve()),
        "GALLERY_MEDIA_ROOT": str(Path(media_root).resolve()),
    }


# --- Django inside the notebook's kernel ------------------------------------------------------


def setup_django(db_path: str | Path, media_root: str | Path, *, reset: bool = True) -> None:
    """Configure Django in this process to use ``db_path`` and ``media_root``, then set it up.

    ``reset`` deletes both first, so every run starts from an empty site. Jupyter runs each cell
    from inside an asyncio event loop, and Django refuses database calls made from a running loop
    (it cannot tell a notebook from an async web view); ``DJANGO_ALLOW_ASYNC_UNSAFE`` lifts that
    check, which is safe here because the notebook makes one call at a time.
    """
    import django
    from django.conf import settings
    from django.db import connections

    wanted = _site_env(db_path, media_root)
    if settings.configured:
        current = {
            "GALLERY_DB": str(settings.DATABASES["default"]["NAME"]),
            "GALLERY_MEDIA_ROOT": str(settings.MEDIA_ROOT),
        }
        if any(current[key] != wanted[key] for key in current):
            raise RuntimeError(
                f"Django is already set up in this kernel with the database {current['GALLERY_DB']}"
                " and the media folder "
                f"{current['GALLERY_MEDIA_ROOT']}; settings cannot change in a running process. "
                "Restart the kernel to use other paths."
            )
        connections.close_all()  # running the cell again: let go of the file before deleting it
    if reset:
        reset_site(db_path, media_root)
    if str(PROJECT_DIR) not in sys.path:
        sys.path.insert(0, str(PROJECT_DIR))
    os.environ.update(wanted)
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    django.setup()


def _display_png(png: bytes, width: int | None = None) -> None:
    from IPython.display import Image, display

    display(Image(data=png, width=width))


def show_image_file(image_file: Any, width: int | None = None) -> None:
    """Display one stored image (an ``ImageField`` value) under the cell, read via storage."""
    with image_file.open("rb") as handle:
        png = handle.read()
    _display_png(png, width)


def _grid_png(
    pngs: Iterable[bytes], nrow: int, labels: Iterable[str] = (), title: str = "", scale: int = 1
) -> bytes:
    """Tile PNG images of one size into one PNG (grayscale), each tile over its label if given,
    the title drawn above: the picture says what it shows wherever it is seen. ``scale``
    enlarges the images (nearest neighbour, pixels stay sharp) before the text is added."""
    import numpy as np
    from PIL import Image

    from course_lib.imaging import caption, make_grid, titled, to_pil, to_png_bytes

    pictures = [
        np.asarray(to_pil(Image.open(io.BytesIO(png)).convert("L"), scale=scale)) for png in pngs
    ]
    labels = list(labels)
    if labels:
        if len(labels) != len(pictures):
            raise ValueError(f"{len(labels)} labels for {len(pictures)} images")
        tiles = [caption(picture, label) for picture, label in zip(pictures, labels, strict=True)]
        width, height = max(t.width for t in tiles), max(t.height for t in tiles)
        pictures = []
        for tile in tiles:  # a label wider than its image widens the tile: pad all alike
            canvas = Image.new("RGB", (width, height), "white")
            canvas.paste(tile, ((width - tile.width) // 2, 0))
            pictures.append(np.asarray(canvas))
    grid = make_grid(pictures, nrow=nrow, padding=4)
    return to_png_bytes(titled(grid, title) if title else grid)


def show_pngs(
    pngs: Iterable[bytes],
    nrow: int = 8,
    *,
    labels: Iterable[str] = (),
    title: str = "",
    scale: int = 1,
) -> None:
    """Show PNG images of one size (e.g. the frames of an interpolation) as one grid, with a
    label under each image and a title above the grid when given, ``scale`` times larger."""
    _display_png(_grid_png(pngs, nrow, labels, title, scale))


def show_artworks(artworks: Iterable[Any], nrow: int = 6) -> None:
    """Print one line per artwork (id, method, title, likes) and show their stored images, each
    labelled with its id and title."""
    artworks = list(artworks)
    if not artworks:
        print("(no artworks)")
        return
    pngs = []
    for artwork in artworks:
        print(
            f"#{artwork.pk:<3} {artwork.generation_method:<11} {artwork.title!r}, "
            f"{artwork.likes} like{'s' if artwork.likes != 1 else ''}"
        )
        with artwork.image_file.open("rb") as handle:
            pngs.append(handle.read())
    show_pngs(pngs, nrow, labels=[f"#{a.pk} {a.title}" for a in artworks])


def url_table(fold_admin: bool = True) -> list[tuple[str, str]]:
    """Every route of the site's root URLconf as ``(route, "namespace:name")``, in order.

    The Django admin's many pages are folded into one row unless ``fold_admin`` is False.
    """
    from django.urls import URLResolver, get_resolver

    rows: list[tuple[str, str]] = []

    def walk(patterns: Iterable[Any], prefix: str, namespace: str) -> None:
        for entry in patterns:
            route = prefix + str(entry.pattern)
            if isinstance(entry, URLResolver):
                if fold_admin and entry.namespace == "admin":
                    rows.append((route, "admin:... (the Django admin's pages)"))
                    continue
                inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
                walk(entry.url_patterns, route, inner)
            else:
                rows.append((route, f"{namespace}{entry.name}" if entry.name else "(no name)"))

    walk(get_resolver().url_patterns, "", "")
    return rows


# --- manage.py in a child process -------------------------------------------------------------


def _child_env(
    db_path: str | Path, media_root: str | Path, env: Mapping[str, str] | None
) -> dict[str, str]:
    child = dict(os.environ)
    child.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)  # a real server must keep Django's safety check
    child.update(_site_env(db_path, media_root))
    child["PYTHONUNBUFFERED"] = "1"  # log lines reach the log file as they happen
    child.update(env or {})
    return child


def manage(
    *args: str,
    db_path: str | Path,
    media_root: str | Path,
    env: Mapping[str, str] | None = None,
    echo: bool = False,
    timeout: float = 900.0,
) -> str:
    """Run ``python manage.py *args`` with this site's paths and return what it printed.

    With ``echo`` its output (progress bars included) is also shown live, as it comes. Raises
    RuntimeError with the end of the output if the command fails.
    """
    command = [sys.executable, "manage.py", *args]
    child_env = _child_env(db_path, media_root, env)
    if echo:
        output, returncode = _run_echoing(command, child_env, timeout)
    else:
        result = subprocess.run(
            command,
            cwd=PROJECT_DIR,
            env=child_env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        output, returncode = result.stdout, result.returncode
        if returncode != 0:
            output += result.stderr
    if returncode != 0:
        raise RuntimeError(
            f"manage.py {' '.join(args)} failed (exit code {returncode}):\n" + output[-3000:]
        )
    return output


def _run_echoing(command: list[str], env: dict[str, str], timeout: float) -> tuple[str, int]:
    """Run a command, copying its output (stdout and stderr) to ours as it arrives."""
    import codecs

    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    chunks: list[str] = []
    deadline = time.monotonic() + timeout
    with subprocess.Popen(
        command,
        cwd=PROJECT_DIR,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    ) as process:
        try:
            while data := process.stdout.read1(4096):
                text = decoder.decode(data)
                chunks.append(text)
                sys.stdout.write(text)
                sys.stdout.flush()
                if time.monotonic() > deadline:
                    raise subprocess.TimeoutExpired(command, timeout)
        except BaseException:
            process.kill()
            raise
        returncode = process.wait()
    return "".join(chunks), returncode


# --- runserver in the background --------------------------------------------------------------


_REQUEST_LINE = re.compile(r'"(?P<method>[A-Z]+) (?P<path>\S+) HTTP/[\d.]+" (?P<status>\d{3})')


@dataclass(eq=False)
class Server:
    """A running ``manage.py runserver``: its address, its process and its log file."""

    port: int
    process: subprocess.Popen
    log_path: Path

    @property
    def url(self) -> str:
        """The site's address, e.g. ``http://127.0.0.1:8000``."""
        return f"http://{HOST}:{self.port}"

    @property
    def running(self) -> bool:
        """True while the server process is alive."""
        return self.process.poll() is None

    def log(self) -> str:
        """Everything the server printed so far (startup lines, one line per request, errors)."""
        return self.log_path.read_text(errors="replace")

    def requests(self) -> list[tuple[str, str, int]]:
        """The requests the server logged, as ``(method, path, status)``, oldest first."""
        return [
            (m["method"], m["path"], int(m["status"])) for m in _REQUEST_LINE.finditer(self.log())
        ]

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server (see :func:`stop_server`)."""
        stop_server(self, timeout=timeout)

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


_running: set[Server | Worker] = set()
_running_lock = threading.Lock()


def start_server(
    db_path: str | Path,
    media_root: str | Path,
    port: int | None = None,
    *,
    env: Mapping[str, str] | None = None,
    timeout: float = 60.0,
) -> Server:
    """Start ``manage.py runserver`` on ``127.0.0.1`` (a free port unless given), wait until it
    answers HTTP, and return it. It is stopped when the notebook's process exits at the latest.

    The server logs to ``server.log`` beside the database. If it dies or does not answer within
    ``timeout`` seconds, it is stopped and RuntimeError shows the end of its log.
    """
    port = processes.free_port() if port is None else port
    if not port_is_free(port):
        raise RuntimeError(f"port {port} is in use; stop what runs there or pass port=None")
    log_path = Path(db_path).resolve().with_name("server.log")
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log_path.write_bytes(b"")  # this server's requests only, not an earlier run's
    process = processes.spawn(
        [sys.executable, "manage.py", "runserver", f"{HOST}:{port}", "--noreload"],
        cwd=PROJECT_DIR,
        env=_child_env(db_path, media_root, env),
        log=log_path,
    )
    server = Server(port=port, process=process, log_path=log_path)
    with _running_lock:
        _running.add(server)
    try:
        processes.wait_until_answers(process, f"{server.url}/", log=log_path, timeout=timeout)
    except BaseException:
        stop_server(server)
        raise
    return server


def stop_server(server: Server, timeout: float = 10.0) -> None:
    """Ask the server to stop (SIGTERM), kill it if it has not within ``timeout`` s; idempotent."""
    processes.stop(server.process, grace=timeout)
    with _running_lock:
        _running.discard(server)


# --- the task worker in the background -----------------------------------------------------

#: What ``db_worker`` logs once it polls the task table (django-tasks' database backend).
WORKER_READY = "Starting worker"


@dataclass(eq=False)
class Worker:
    """A running ``manage.py db_worker``: it takes queued tasks (trainings) from the database."""

    process: subprocess.Popen
    log_path: Path

    @property
    def running(self) -> bool:
        """True while the worker process is alive."""
        return self.process.poll() is None

    def log(self) -> str:
        """Everything the worker printed so far (its start, each task run, errors)."""
        return self.log_path.read_text(errors="replace")

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM (the worker ends the task it runs), SIGKILL after ``timeout`` s; idempotent."""
        processes.stop(self.process, grace=timeout)
        with _running_lock:
            _running.discard(self)

    def __enter__(self) -> Worker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_worker(
    db_path: str | Path,
    media_root: str | Path,
    *,
    env: Mapping[str, str] | None = None,
    interval: float = 0.5,
    timeout: float = 60.0,
) -> Worker:
    """Start ``manage.py db_worker`` for this site, as ``make gallery`` does beside the server,
    and wait until it polls for tasks (every ``interval`` seconds). Stopped when the notebook's
    process exits at the latest; logs to ``worker.log`` beside the database.

    The site must be migrated first: the worker reads its tasks from the database.
    """
    log_path = Path(db_path).resolve().with_name("worker.log")
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log_path.write_bytes(b"")
    command = [sys.executable, "manage.py", "db_worker", "--no-reload", "--no-startup-delay"]
    process = processes.spawn(
        [*command, "--interval", f"{interval:g}"],
        cwd=PROJECT_DIR,
        env=_child_env(db_path, media_root, env),
        log=log_path,
    )
    worker = Worker(process=process, log_path=log_path)
    with _running_lock:
        _running.add(worker)
    try:
        processes.wait_until_logged(process, WORKER_READY, log=log_path, timeout=timeout)
    except BaseException:
        worker.stop()
        raise
    return worker


@atexit.register
def _stop_all() -> None:
    """Stop every server and worker this process started and did not stop (a failed cell, a
    kernel exit)."""
    with _running_lock:
        running = list(_running)
    for process in running:
        with contextlib.suppress(Exception):
            process.stop()


# --- a small browser --------------------------------------------------------------------------


@dataclass(frozen=True)
class Response:
    """An HTTP answer: status code, headers and body bytes."""

    status: int
    headers: Mapping[str, str]
    body: bytes

    @property
    def text(self) -> str:
        """The body decoded as UTF-8."""
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)

    @property
    def content_type(self) -> str:
        """The media type without parameters, e.g. ``text/html``."""
        return self.headers.get("Content-Type", "").split(";")[0].strip()


class WebClient:
    """Talk to a running site like a browser does: cookies kept, CSRF token sent on POST.

    Django sets a ``csrftoken`` cookie on pages that contain a form. A POST must send the same
    value back in the ``X-CSRFToken`` header (or a form field); a page from another site cannot
    read the cookie, so it cannot forge the header.
    """

    def __init__(self, base_url: str, timeout: float = 60.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.cookies = CookieJar()
        # No proxies: a proxy set in the environment must not intercept 127.0.0.1.
        self._opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({}), urllib.request.HTTPCookieProcessor(self.cookies)
        )

    @property
    def csrf_token(self) -> str | None:
        """The CSRF cookie's value, once a page has set it."""
        return next((c.value for c in self.cookies if c.name == "csrftoken"), None)

    def _send(self, request: urllib.request.Request) -> Response:
        try:
            with self._opener.open(request, timeout=self.timeout) as answer:
                return Response(answer.status, dict(answer.headers.items()), answer.read())
        except urllib.error.HTTPError as error:  # 4xx and 5xx still carry a useful body
            with error:
                return Response(error.code, dict(error.headers.items()), error.read())

    def _url(self, path: str) -> str:
        return path if path.startswith("http") else f"{self.base_url}/{path.lstrip('/')}"

    def get(self, path: str) -> Response:
        """GET a path (``/create/``) or a full URL."""
        return self._send(urllib.request.Request(self._url(path), method="GET"))

    def post_json(self, path: str, payload: Any, *, csrf: bool = True) -> Response:
        """POST a JSON body (``Content-Type: application/json``), the CSRF token in the header
        like :meth:`post`; for APIs such as ``/models/train/``."""
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if csrf and self.csrf_token:
            headers["X-CSRFToken"] = self.csrf_token
        body = json.dumps(payload).encode()
        request = urllib.request.Request(self._url(path), data=body, headers=headers, method="POST")
        return self._send(request)

    def post(self, path: str, data: Mapping[str, Any], *, csrf: bool = True) -> Response:
        """POST form fields; with ``csrf`` the token from the cookie goes in ``X-CSRFToken``."""
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        if csrf and self.csrf_token:
            headers["X-CSRFToken"] = self.csrf_token
        body = urllib.parse.urlencode({k: str(v) for k, v in data.items()}).encode()
        request = urllib.request.Request(self._url(path), data=body, headers=headers, method="POST")
        return self._send(request)


#: Statuses after which a training's status no longer changes (workshop.models.ModelStatus).
FINISHED = ("done", "failed")


def follow_training(
    client: WebClient, status_url: str, *, timeout: float = 120.0, interval: float = 0.5
) -> dict[str, Any]:
    """Poll ``GET status_url`` (``/models/<id>/status/``) until the training is done or failed,
    and return its last answer ``{status, progress, training_history, metrics, error}``.

    RuntimeError if the site answers anything but 200, or after ``timeout`` seconds with the
    last status seen (a worker that is not running leaves a training queued forever).
    """
    deadline = time.monotonic() + timeout
    while True:
        answer = client.get(status_url)
        if answer.status != 200:
            raise RuntimeError(f"GET {status_url} answered {answer.status}: {answer.text[:300]}")
        payload = answer.json()
        if payload.get("status") in FINISHED:
            return payload
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"the training is still {payload.get('status')!r} after {timeout:.0f} s "
                f"({len(payload.get('training_history') or [])} epochs so far); is a worker "
                "running (start_worker)?"
            )
        time.sleep(interval)
