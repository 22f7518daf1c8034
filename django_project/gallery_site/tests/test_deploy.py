"""Deployment: `check --deploy` is clean, gunicorn serves the site, static and media files work
with DEBUG on and off, and nothing outside MEDIA_ROOT can be reached through /media/."""

from __future__ import annotations

import http.client
import io
import os
import runpy
import secrets
import socket
import subprocess
import sys
import time
from email.utils import formatdate
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from PIL import Image

from gallery_site.urls import MEDIA_CACHE_CONTROL

PROJECT = Path(settings.BASE_DIR)
GUNICORN_CONF = PROJECT / "gunicorn.conf.py"
BOOTSTRAP_CSS = "/static/bootstrap/css/bootstrap.min.css"
GUNICORN_VARIABLES = (
    "WEB_CONCURRENCY",
    "GUNICORN_BIND",
    "GUNICORN_ACCESSLOG",
    "GUNICORN_CONTROL_SOCKET",
)


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("L", (4, 4), 200).save(buffer, format="PNG")
    return buffer.getvalue()


def _clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without any deployment variable, plus ``extra``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "GUNICORN_")) and k not in ("DATABASE_URL", "GALLERY_DB")
    }
    env["DJANGO_SETTINGS_MODULE"] = "gallery_site.settings"
    env.update(extra)
    return env


def _production_env(**extra: str) -> dict[str, str]:
    production = {
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": "example.org",
    }
    return _clean_env(**{**production, **extra})


def _check_deploy(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


# --- manage.py check --deploy -----------------------------------------------------------------


def test_check_deploy_is_clean_with_the_documented_production_environment():
    result = _check_deploy(_production_env())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_check_deploy_refuses_to_start_without_a_secret_key():
    env = _production_env()
    del env["DJANGO_SECRET_KEY"]
    result = _check_deploy(env)
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY must be set" in result.stderr


def test_check_deploy_reports_the_plain_http_overrides():
    """The same check notices each protection switched off: the clean result above means it."""
    env = _production_env(
        DJANGO_SECURE_SSL_REDIRECT="false",
        DJANGO_SESSION_COOKIE_SECURE="false",
        DJANGO_CSRF_COOKIE_SECURE="false",
        DJANGO_SECURE_HSTS_SECONDS="0",
    )
    result = _check_deploy(env)
    assert result.returncode != 0
    for warning in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert warning in result.stderr + result.stdout


# --- gunicorn.conf.py -------------------------------------------------------------------------


def _gunicorn_conf(monkeypatch: pytest.MonkeyPatch, **env: str) -> dict:
    for name in GUNICORN_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(GUNICORN_CONF))


def test_gunicorn_defaults_suit_a_two_core_laptop(monkeypatch):
    conf = _gunicorn_conf(monkeypatch)
    assert conf["wsgi_app"] == "gallery_site.wsgi:application"
    assert conf["bind"] == ["127.0.0.1:8000"] and conf["workers"] == 2
    assert conf["chdir"] == str(PROJECT) and conf["preload_app"] is False
    # no per-user control socket that a second gunicorn (tests, benchmark) would fight over
    assert conf["control_socket_disable"] is True and "control_socket" not in conf


def test_gunicorn_workers_and_bind_come_from_the_environment(monkeypatch):
    conf = _gunicorn_conf(
        monkeypatch,
        WEB_CONCURRENCY="5",
        GUNICORN_BIND="0.0.0.0:9000, unix:/run/gallery.sock",
        GUNICORN_CONTROL_SOCKET="/run/gallery.ctl",
    )
    assert conf["workers"] == 5 and conf["bind"] == ["0.0.0.0:9000", "unix:/run/gallery.sock"]
    assert conf["control_socket"] == "/run/gallery.ctl" and "control_socket_disable" not in conf
    for bad in ("0", "two", ""):
        with pytest.raises(ValueError, match="WEB_CONCURRENCY"):
            _gunicorn_conf(monkeypatch, WEB_CONCURRENCY=bad)


# --- media, in process, DEBUG on and off ------------------------------------------------------


@pytest.fixture(params=[True, False], ids=["debug", "production"])
def debug_mode(request, settings):
    settings.DEBUG = request.param
    return request.param


@pytest.fixture
def stored_png(media_root: Path) -> bytes:
    png = _png()
    (media_root / "generated_art").mkdir(parents=True)
    (media_root / "generated_art" / "vae-0123456789ab.png").write_bytes(png)
    return png


def test_media_serves_images_with_long_caching(client, debug_mode, stored_png):
    response = client.get("/media/generated_art/vae-0123456789ab.png")
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == stored_png
    assert response["Content-Type"] == "image/png"
    assert response["Cache-Control"] == MEDIA_CACHE_CONTROL
    assert response["X-Content-Type-Options"] == "nosniff"
    # A browser revalidating an image it has gets a 304 and no body.
    again = client.get(
        "/media/generated_art/vae-0123456789ab.png",
        headers={"if-modified-since": response["Last-Modified"]},
    )
    assert again.status_code == 304


def test_media_refuses_paths_outside_media_root(client, debug_mode, media_root, tmp_path):
    secret = tmp_path / "secret.png"
    secret.write_bytes(_png())
    media_root.mkdir(parents=True, exist_ok=True)
    (media_root / "link.png").symlink_to(secret)
    for url in (
        "/media/../secret.png",
        "/media/%2e%2e/secret.png",
        "/media/generated_art/../../secret.png",
        f"/media/{secret}",  # an absolute path
        f"/media//{secret}",
        "/media/link.png",  # a symlink that leads out
    ):
        assert client.get(url).status_code == 404, url


def test_media_serves_only_images(client, debug_mode, media_root, stored_png):
    (media_root / "styles" / "models").mkdir(parents=True)
    (media_root / "styles" / "models" / "style-1.pt").write_bytes(b"weights")
    (media_root / "notes.html").write_text("<script>alert(1)</script>")
    (media_root / "folder.png").mkdir()
    for url in (
        "/media/styles/models/style-1.pt",
        "/media/notes.html",
        "/media/generated_art/",
        "/media/folder.png",
        "/media/generated_art/missing.png",
        "/media/" + "a" * 300 + ".png",  # longer than a file name may be
        "/media/nul%00.png",
    ):
        assert client.get(url).status_code == 404, url


# --- static files, in process, DEBUG on and off -----------------------------------------------


def test_whitenoise_serves_bootstrap_and_plotly(client, debug_mode):
    css = client.get(BOOTSTRAP_CSS)
    assert css.status_code == 200 and css["Content-Type"].startswith("text/css")
    assert b".btn" in b"".join(css.streaming_content)
    assert client.get("/static/plotly/plotly.min.js").status_code == 200
    assert client.get("/static/bootstrap/css/no-such.css").status_code == 404


# --- a real gunicorn with DEBUG off -----------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get(port: int, path: str, headers: dict[str, str] | None = None):
    """GET the path exactly as written (no client-side ``..`` clean-up); (status, headers, body)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


@pytest.fixture(scope="module")
def gunicorn_site(tmp_path_factory: pytest.TempPathFactory, tiny_data_dir: Path):
    """gunicorn started from another folder with gunicorn.conf.py, DEBUG off, plain HTTP,
    serving the tiny test models."""
    root = tmp_path_factory.mktemp("gunicorn")
    media = root / "media"
    (media / "generated_art").mkdir(parents=True)
    png = _png()
    (media / "generated_art" / "gan-0123456789ab.png").write_bytes(png)
    (root / "secret.png").write_bytes(png)
    port = _free_port()
    env = _production_env(
        DJANGO_ALLOWED_HOSTS="127.0.0.1",
        # plain HTTP on localhost, as the benchmark runs it
        DJANGO_SECURE_SSL_REDIRECT="false",
        DJANGO_SESSION_COOKIE_SECURE="false",
        DJANGO_CSRF_COOKIE_SECURE="false",
        GALLERY_DB=str(root / "db.sqlite3"),
        GALLERY_MEDIA_ROOT=str(media),
        GUNICORN_BIND=f"127.0.0.1:{port}",
        WEB_CONCURRENCY="1",
        COURSE_DATA_DIR=str(tiny_data_dir),
        OMP_NUM_THREADS="2",  # wsgi.py must bring each worker down to one thread anyway
    )
    # As a deployment does before serving: /create/ and the previews read the model records.
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "--skip-checks"],
        cwd=PROJECT,
        env=env,
        check=True,
        capture_output=True,
    )
    log_path = root / "gunicorn.log"
    with log_path.open("w") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", str(GUNICORN_CONF)],
            cwd=root,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 90
        while "torch threads" not in log_path.read_text():
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"gunicorn did not start:\n{log_path.read_text()}")
            time.sleep(0.2)
        yield {"port": port, "png": png, "log": log_path}
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def test_gunicorn_worker_runs_with_one_torch_thread(gunicorn_site):
    assert "torch threads: 1" in gunicorn_site["log"].read_text()


def test_gunicorn_runs_with_debug_off(gunicorn_site):
    status, _, body = _get(gunicorn_site["port"], "/no-such-page/")
    assert status == 404
    assert b"URLconf" not in body and b"DEBUG = True" not in body  # not the debug page
    status, _, body = _get(gunicorn_site["port"], "/create/")
    assert status == 200 and BOOTSTRAP_CSS.encode() in body  # the site's pages render


def test_gunicorn_serves_static_files_with_debug_off(gunicorn_site):
    status, headers, body = _get(gunicorn_site["port"], BOOTSTRAP_CSS)
    assert status == 200 and headers["Content-Type"].startswith("text/css")
    assert b".btn" in body and "max-age=60" in headers["Cache-Control"]


def test_gunicorn_serves_media_with_debug_off(gunicorn_site):
    port, png = gunicorn_site["port"], gunicorn_site["png"]
    status, headers, body = _get(port, "/media/generated_art/gan-0123456789ab.png")
    assert status == 200 and body == png
    assert headers["Content-Type"] == "image/png"
    assert headers["Cache-Control"] == MEDIA_CACHE_CONTROL
    status, _, body = _get(
        port,
        "/media/generated_art/gan-0123456789ab.png",
        {"If-Modified-Since": formatdate(time.time() + 60, usegmt=True)},
    )
    assert status == 304 and body == b""
    for path in ("/media/../secret.png", "/media/%2e%2e/secret.png", "/media/a/../../secret.png"):
        assert _get(port, path)[0] == 404, path


def test_gunicorn_serves_previews_through_django(gunicorn_site):
    port = gunicorn_site["port"]
    status, headers, body = _get(port, "/generate/GAN.png?seed=5")
    assert status == 200 and headers["Content-Type"] == "image/png"
    assert Image.open(io.BytesIO(body)).size == (28, 28)
    assert _get(port, "/generate/GAN.png?seed=5")[2] == body
    # Django's middleware ran, as for every page: the same security headers as /create/.
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == _get(port, "/create/")[1]["X-Frame-Options"] == "DENY"
    status, _, body = _get(port, "/generate/GAN.png?creativity=9")
    assert status == 400 and b"Creativity must be a number" in body
    status, _, body = _get(port, "/generate/GAN.png", {"Host": "evil.example"})
    assert status == 400 and b"host this site does not serve" in body


# --- HTTPS with the documented production environment, in process ----------------------------


@pytest.fixture
def production_security(settings, monkeypatch):
    """This process's settings with the HTTPS protections that the documented production
    environment (DEBUG off, a secret key, a host name) gives, read from settings.py itself."""
    for name in list(os.environ):
        if name.startswith("DJANGO_"):
            monkeypatch.delenv(name)
    for name, value in _production_env(DJANGO_ALLOWED_HOSTS="gallery.example.org").items():
        if name.startswith("DJANGO_"):
            monkeypatch.setenv(name, value)
    production = runpy.run_path(str(PROJECT / "gallery_site" / "settings.py"))
    assert production["DEBUG"] is False
    secure = [name for name in production if name.startswith("SECURE_")]
    for name in ("DEBUG", "ALLOWED_HOSTS", *secure):
        setattr(settings, name, production[name])
    return production


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/generate/GAN.png?seed=5", "/create/"])
def test_production_redirects_every_url_to_https_and_sends_hsts(
    production_security, tiny_models, path
):
    client = Client(headers={"host": "gallery.example.org"})
    plain = client.get(path)
    assert plain.status_code == 301
    assert plain["Location"] == f"https://gallery.example.org{path}"
    secure = client.get(path, secure=True)
    assert secure.status_code == 200
    seconds = production_security["SECURE_HSTS_SECONDS"]
    assert seconds >= 3600
    assert secure["Strict-Transport-Security"].startswith(f"max-age={seconds}")
