"""Parallel requests against a real multi-threaded server: no lost likes, no lost artworks.

The server is ``manage.py runserver`` (one thread per request) in a subprocess, on a real
database file: a temporary SQLite file, or the PostgreSQL test database when the suite runs
with ``DATABASE_URL=postgres://...``. The test client cannot show races (it runs one request
at a time in the test's own thread), and an in-memory SQLite database shared by a live-server
thread serialises the requests too.

The server also routes a deliberately naive like view (read, wait, write). The control test
shows that it loses likes under the very same load, so the like test's exact count proves the
real view is atomic rather than proving that requests happened to run one by one.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from django.db import connection

from gallery.models import GeneratedArtwork

DJANGO_PROJECT = Path(__file__).resolve().parents[2]
STARTUP_SECONDS = 90
LIKES, CREATIONS = 50, 20

TEST_URLS = '''
"""The gallery's URLs plus a naive like view: the concurrency tests' negative control."""
import time

from django.http import JsonResponse
from django.urls import path

from gallery.models import GeneratedArtwork
from gallery_site.urls import urlpatterns as site_urlpatterns


def naive_like(request, artwork_id):
    """Read, wait, write: two requests that overlap both write the same count."""
    artwork = GeneratedArtwork.objects.get(pk=artwork_id)
    time.sleep(0.2)  # widen the window a real read-modify-write leaves open
    artwork.likes += 1
    artwork.save(update_fields=["likes"])
    return JsonResponse({"success": True, "likes": artwork.likes})


urlpatterns = [path("naive-like/<int:artwork_id>/", naive_like), *site_urlpatterns]
'''


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class LiveSite:
    """A running server, its media folder, and a way to read its database directly."""

    url: str
    media_root: Path
    sqlite_file: Path | None

    def query(self, sql: str, params: tuple = ()) -> list[tuple[Any, ...]]:
        """Run ``sql`` (``%s`` placeholders) on the server's database, committed data only."""
        if self.sqlite_file is not None:
            with sqlite3.connect(self.sqlite_file, timeout=20) as db:
                return db.execute(sql.replace("%s", "?"), params).fetchall()
        with connection.cursor() as cursor:  # the PostgreSQL test database itself
            cursor.execute(sql, params)
            return cursor.fetchall()

    def files(self) -> set[str]:
        folder = self.media_root / "generated_art"
        return {f"generated_art/{p.name}" for p in folder.iterdir()} if folder.exists() else set()


def _settings_module(folder: Path, database: dict, media_root: Path) -> str:
    (folder / "concurrency_urls.py").write_text(TEST_URLS)
    (folder / "concurrency_settings.py").write_text(
        "from gallery_site.settings import *  # noqa: F403\n"
        f"DATABASES = {{'default': {database!r}}}\n"
        f"MEDIA_ROOT = {str(media_root)!r}\n"
        "ROOT_URLCONF = 'concurrency_urls'\n"
        "DEBUG = False\n"
        "ALLOWED_HOSTS = ['127.0.0.1']\n"
        "SECURE_SSL_REDIRECT = SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = False\n"
        "SECURE_HSTS_SECONDS = 0\n"
    )
    return "concurrency_settings"


@pytest.fixture(scope="module")
def live_site(
    tmp_path_factory: pytest.TempPathFactory,
    tiny_data_dir: Path,
    django_db_setup: None,
    django_db_blocker: Any,
) -> Iterator[LiveSite]:
    """runserver in a subprocess on a database file that this process can read too."""
    folder = tmp_path_factory.mktemp("live_site")
    media_root = folder / "media"
    with django_db_blocker.unblock():
        vendor = connection.vendor
        database = dict(connection.settings_dict)  # NAME is the test database by now
    sqlite_file = None
    if vendor == "sqlite":  # the test database is in memory: give the server its own file
        sqlite_file = folder / "db.sqlite3"
        database = {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(sqlite_file),
            "OPTIONS": {"timeout": 20},
        }
    database = {**database, "CONN_MAX_AGE": 0, "TEST": {}}
    module = _settings_module(folder, database, media_root)

    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_URL"))}
    env.pop("GALLERY_DB", None)
    env.update(
        DJANGO_SETTINGS_MODULE=module,
        PYTHONPATH=os.pathsep.join([str(folder), str(DJANGO_PROJECT)]),
        COURSE_DATA_DIR=str(tiny_data_dir),
        OMP_NUM_THREADS="1",
    )
    manage = [sys.executable, str(DJANGO_PROJECT / "manage.py")]
    if sqlite_file is not None:
        subprocess.run([*manage, "migrate", "--noinput", "-v", "0"], env=env, check=True)

    port = _free_port()
    log = (folder / "server.log").open("w")
    server = subprocess.Popen(
        [*manage, "runserver", "--noreload", f"127.0.0.1:{port}"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    site = LiveSite(f"http://127.0.0.1:{port}", media_root, sqlite_file)
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            if server.poll() is not None:
                pytest.fail(f"the server exited:\n{(folder / 'server.log').read_text()}")
            try:
                if requests.get(site.url + "/", timeout=5).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                log_text = (folder / "server.log").read_text()
                pytest.fail(f"no answer in {STARTUP_SECONDS} s:\n{log_text}")
            time.sleep(0.2)
        yield site
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


def _session(site: LiveSite) -> tuple[requests.Session, str]:
    """A visitor of its own: a session whose csrftoken cookie came from a page visit."""
    session = requests.Session()
    session.get(site.url + "/create/", timeout=30).raise_for_status()
    return session, session.cookies["csrftoken"]


def _create(site: LiveSite, title: str) -> requests.Response:
    session, token = _session(site)
    return session.post(
        site.url + "/create/",
        data={"method": "VAE", "creativity": "1.0", "title": title},
        headers={"X-CSRFToken": token},
        timeout=60,
    )


def _parallel_posts(site: LiveSite, path: str, n: int) -> list[requests.Response]:
    """``n`` visitors, each with its own session and token, POST at the same moment."""
    visitors = [_session(site) for _ in range(n)]
    start = threading.Barrier(n)

    def post(visitor: tuple[requests.Session, str]) -> requests.Response:
        session, token = visitor
        start.wait()
        return session.post(site.url + path, headers={"X-CSRFToken": token}, timeout=120)

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(post, visitors))


def _likes(site: LiveSite, artwork_id: int) -> int:
    table = GeneratedArtwork._meta.db_table
    ((likes,),) = site.query(f"SELECT likes FROM {table} WHERE id = %s", (artwork_id,))
    return likes


@pytest.mark.django_db(transaction=True)
def test_50_parallel_likes_add_exactly_50(live_site: LiveSite) -> None:
    artwork_id = _create(live_site, "liked in parallel").json()["artwork_id"]
    before = _likes(live_site, artwork_id)
    responses = _parallel_posts(live_site, f"/artworks/{artwork_id}/like/", LIKES)
    assert [r.status_code for r in responses] == [200] * LIKES, [r.text for r in responses][:3]
    assert _likes(live_site, artwork_id) == before + LIKES
    # Each request saw its own increment: the answers are the counts before+1 ... before+50.
    assert sorted(r.json()["likes"] for r in responses) == list(
        range(before + 1, before + LIKES + 1)
    )


@pytest.mark.django_db(transaction=True)
def test_the_setup_really_runs_likes_concurrently(live_site: LiveSite) -> None:
    """Negative control: a read-modify-write like view loses likes under the same load."""
    artwork_id = _create(live_site, "naive likes").json()["artwork_id"]
    before = _likes(live_site, artwork_id)
    responses = _parallel_posts(live_site, f"/naive-like/{artwork_id}/", LIKES)
    assert [r.status_code for r in responses] == [200] * LIKES
    assert _likes(live_site, artwork_id) < before + LIKES, "requests ran one at a time"


@pytest.mark.django_db(transaction=True)
def test_20_parallel_creations_store_20_rows_and_20_files(live_site: LiveSite) -> None:
    table = GeneratedArtwork._meta.db_table
    rows_before = set(live_site.query(f"SELECT id, image_file FROM {table}"))
    files_before = live_site.files()
    start = threading.Barrier(CREATIONS)

    def create(i: int) -> requests.Response:
        start.wait()
        return _create(live_site, f"parallel {i}")

    with ThreadPoolExecutor(max_workers=CREATIONS) as pool:
        responses = list(pool.map(create, range(CREATIONS)))
    assert [r.status_code for r in responses] == [200] * CREATIONS, [r.text for r in responses]
    answers = [r.json() for r in responses]

    new_rows = set(live_site.query(f"SELECT id, image_file FROM {table}")) - rows_before
    new_files = live_site.files() - files_before
    assert len(new_rows) == CREATIONS
    assert {pk for pk, _ in new_rows} == {a["artwork_id"] for a in answers}  # no duplicates
    assert {name for _, name in new_rows} == new_files  # every file has its row, and back
    assert len({a["image_url"] for a in answers}) == CREATIONS
    assert {a["image_url"] for a in answers} == {f"/media/{name}" for name in new_files}
    for name in new_files:
        assert (live_site.media_root / name).read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
