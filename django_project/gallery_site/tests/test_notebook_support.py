"""Notebook plumbing: a notebook-local site, the real server started and always stopped."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from gallery_site import notebook_support as support


def _alive(pid: int) -> bool:
    """True if a process with this id still runs (zombies count as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/status")
    return not (status.is_file() and "\nState:\tZ" in status.read_text())


def _run_script(code: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=support.PROJECT_DIR,
        env={**os.environ, "PYTHONPATH": str(support.PROJECT_DIR), **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


# --- files ------------------------------------------------------------------------------------


def test_reset_site_empties_the_database_and_media(tmp_path):
    db, media = tmp_path / "run" / "db.sqlite3", tmp_path / "run" / "media"
    media.joinpath("generated_art").mkdir(parents=True)
    media.joinpath("generated_art", "old.png").write_bytes(b"png")
    db.write_bytes(b"old database")
    Path(f"{db}-journal").write_bytes(b"journal")
    support.reset_site(db, media)
    assert not db.exists() and not Path(f"{db}-journal").exists()
    assert media.is_dir() and not any(media.iterdir())


@pytest.mark.parametrize(
    "media", [Path("/"), Path.home(), support.PROJECT_DIR, support.PROJECT_DIR.parent]
)
def test_reset_site_refuses_to_delete_precious_folders(tmp_path, media):
    with pytest.raises(ValueError, match="refusing to delete"):
        support.reset_site(tmp_path / "db.sqlite3", media)


def test_reset_site_only_deletes_sqlite_files(tmp_path):
    precious = tmp_path / "notes.txt"
    precious.write_text("keep me")
    with pytest.raises(ValueError, match=r"\.sqlite3"):
        support.reset_site(precious, tmp_path / "media")
    assert precious.read_text() == "keep me"


# --- Django in the notebook's process ---------------------------------------------------------


def test_setup_django_gives_a_working_orm_inside_an_event_loop(tmp_path, tiny_data_dir):
    """Like a Jupyter kernel: the ORM is used from code running inside an asyncio loop."""
    run = tmp_path / "run"
    run.mkdir()
    (run / "db.sqlite3").write_bytes(b"stale")  # the reset must remove it
    code = f"""
        import asyncio, json
        from pathlib import Path
        from gallery_site.notebook_support import setup_django

        async def cell():
            setup_django({str(run / "db.sqlite3")!r}, {str(run / "media")!r})
            from django.conf import settings
            from django.core.management import call_command
            from gallery import generation
            from gallery.models import GeneratedArtwork

            call_command("migrate", verbosity=0)
            image = generation.generate("VAE", 1.0, seed=0)
            art = GeneratedArtwork.objects.create_with_image(
                title="t", generation_method="VAE", png_bytes=image.png_bytes,
                latent_vector=image.latent_vector)
            first_file = Path(art.image_file.path).is_file()
            setup_django({str(run / "db.sqlite3")!r}, {str(run / "media")!r})  # run again
            call_command("migrate", verbosity=0)
            try:
                setup_django({str(tmp_path / "other.sqlite3")!r}, {str(run / "media")!r})
                other = "accepted"
            except RuntimeError as error:
                other = str(error)
            return {{
                "db": str(settings.DATABASES["default"]["NAME"]),
                "media": str(settings.MEDIA_ROOT),
                "first_file": first_file,
                "count_after_rerun": GeneratedArtwork.objects.count(),
                "other": other,
            }}

        print(json.dumps(asyncio.run(cell())))
    """
    result = _run_script(code, {"COURSE_DATA_DIR": str(tiny_data_dir)})
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.splitlines()[-1])
    assert report["db"] == str(run / "db.sqlite3")
    assert report["media"] == str(run / "media")
    assert report["first_file"] is True
    assert report["count_after_rerun"] == 0  # running the cell again starts from an empty site
    assert "Restart the kernel" in report["other"]


def test_setup_django_refuses_other_paths_once_configured(tmp_path):
    # pytest-django configured Django with the project's settings already.
    with pytest.raises(RuntimeError, match="already set up"):
        support.setup_django(tmp_path / "x.sqlite3", tmp_path / "site_media")
    assert not (tmp_path / "site_media").exists()  # nothing was wiped or created


def test_show_artworks_prints_each_and_shows_one_grid(make_artwork, monkeypatch, capsys):
    shown = []
    monkeypatch.setattr(support, "_display_png", lambda png, width=None: shown.append(png))
    arts = [make_artwork("VAE", seed=0, title="first"), make_artwork("GAN", seed=1, title="two")]
    arts[1].likes = 1
    support.show_artworks(arts, nrow=2)
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        f"#{arts[0].pk:<3} VAE         'first', 0 likes",
        f"#{arts[1].pk:<3} GAN         'two', 1 like",
    ]
    assert len(shown) == 1 and shown[0].startswith(b"\x89PNG")
    support.show_artworks([])
    assert capsys.readouterr().out == "(no artworks)\n"


def test_show_image_file_displays_the_stored_bytes(make_artwork, monkeypatch):
    shown = []
    monkeypatch.setattr(support, "_display_png", lambda png, width=None: shown.append(png))
    art = make_artwork("AUTOENCODER")
    support.show_image_file(art.image_file)
    assert shown == [Path(art.image_file.path).read_bytes()]


def test_url_table_lists_the_contract_routes_with_their_names():
    rows = support.url_table()
    table = dict(rows)
    assert table["create/"] == "gallery:create"
    assert table["interpolate/<int:first_id>/<int:second_id>/"] == "gallery:interpolate"
    assert table["patterns/preview/"] == "patterns:preview"
    assert [route for route, _ in rows].count("admin/") == 1
    unfolded = support.url_table(fold_admin=False)
    assert sum(route.startswith("admin/") for route, _ in unfolded) > 5


# --- manage.py and the server -----------------------------------------------------------------


@pytest.fixture(scope="module")
def migrated_site(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    """A site database migrated once by ``manage.py migrate`` in a child process."""
    root = tmp_path_factory.mktemp("site")
    db, media = root / "db.sqlite3", root / "media"
    output = support.manage("migrate", "--noinput", db_path=db, media_root=media)
    return db, media, output


def test_manage_runs_a_command_on_the_given_database(migrated_site):
    db, _, output = migrated_site
    assert "Applying gallery.0001_initial... OK" in output
    with sqlite3.connect(db) as connection:
        tables = {row[0] for row in connection.execute("select name from sqlite_master")}
    assert {"gallery_generatedartwork", "patterns_generatedimage"} <= tables


def test_manage_reports_a_failing_command(tmp_path, monkeypatch):
    (tmp_path / "manage.py").write_text("import sys; sys.exit('Unknown command: nope')")
    monkeypatch.setattr(support, "PROJECT_DIR", tmp_path)
    with pytest.raises(RuntimeError, match=r"manage.py nope failed \(exit code 1\)"):
        support.manage("nope", db_path=tmp_path / "db.sqlite3", media_root=tmp_path / "media")


def test_server_serves_pages_and_csrf_protected_posts_then_stops(migrated_site, tiny_data_dir):
    db, media, _ = migrated_site
    server = support.start_server(db, media, env={"COURSE_DATA_DIR": str(tiny_data_dir)})
    try:
        assert server.running and server in support._running
        assert not support.port_is_free(server.port)
        client = support.WebClient(server.url)
        assert client.csrf_token is None
        page = client.get("/")
        assert page.status == 200 and page.content_type == "text/html"
        assert client.csrf_token  # the gallery page set Django's CSRF cookie

        refused = client.post("/create/", {"method": "VAE", "creativity": 1}, csrf=False)
        assert refused.status == 403 and "CSRF" in refused.text

        bad = client.post("/create/", {"method": "VAE", "creativity": "nan"})
        assert bad.status == 400 and "creativity" in bad.json()["errors"]

        made = client.post("/create/", {"method": "GAN", "creativity": 1, "title": "web"})
        assert made.status == 200
        answer = made.json()
        assert answer["success"] is True and answer["title"] == "web"
        image = client.get(answer["image_url"])
        assert image.status == 200 and image.content_type == "image/png"
        assert image.body.startswith(b"\x89PNG")
        assert (media / answer["image_url"].removeprefix("/media/")).is_file()
        assert client.get("/").text.count('class="card art-card') == 1
    finally:
        server.stop()
    assert not server.running and server not in support._running
    assert not _alive(server.process.pid)
    assert support.port_is_free(server.port)
    assert server.requests()[:3] == [
        ("GET", "/", 200),  # start_server's check that it answers
        ("GET", "/", 200),
        ("POST", "/create/", 403),
    ]
    server.stop()  # stopping twice is harmless


def test_start_server_refuses_a_busy_port(tmp_path):
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(RuntimeError, match=f"port {port} is in use"):
            support.start_server(tmp_path / "db.sqlite3", tmp_path / "media", port=port)


def test_a_server_that_dies_is_reported_with_its_log(tmp_path, monkeypatch):
    started = []
    real_popen = subprocess.Popen

    def recording_popen(*args, **kwargs):
        started.append(real_popen(*args, **kwargs))
        return started[-1]

    monkeypatch.setattr(support.subprocess, "Popen", recording_popen)
    broken = {"DJANGO_SETTINGS_MODULE": "no_such_settings_module"}
    with pytest.raises(RuntimeError, match="exited with code") as error:
        support.start_server(tmp_path / "db.sqlite3", tmp_path / "media", env=broken)
    assert "no_such_settings_module" in str(error.value)
    assert len(started) == 1 and started[0].poll() is not None
    assert not support._running


def test_no_server_outlives_a_process_whose_cell_failed(tmp_path):
    """A notebook kernel that exits (here after an error) takes its server down with it."""
    code = f"""
        from gallery_site.notebook_support import start_server
        server = start_server({str(tmp_path / "db.sqlite3")!r}, {str(tmp_path / "media")!r})
        print(server.process.pid, server.port, flush=True)
        raise RuntimeError("a cell failed")
    """
    result = _run_script(code)
    assert "a cell failed" in result.stderr and result.returncode != 0
    pid, port = map(int, result.stdout.split())
    deadline = time.monotonic() + 10
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    try:
        assert not _alive(pid), "the server was left running"
        assert support.port_is_free(port)
    finally:
        if _alive(pid):
            os.kill(pid, 9)


def test_show_pngs_tiles_images_into_one_grid(monkeypatch):
    import io

    from PIL import Image

    from course_lib.imaging import to_png_bytes

    shown = []
    monkeypatch.setattr(support, "_display_png", lambda png, width=None: shown.append(png))
    tiles = [to_png_bytes(Image.new("L", (10, 10), value)) for value in (0, 128, 255)]
    support.show_pngs(tiles, nrow=2)
    with Image.open(io.BytesIO(shown[0])) as grid:
        assert grid.size == (2 * 10 + 3 * 4, 2 * 10 + 3 * 4)  # two columns, two rows, padding 4


def test_manage_echo_shows_the_output_live_and_returns_it(tmp_path, monkeypatch, capsys):
    (tmp_path / "manage.py").write_text(
        "import sys\nprint('to stdout')\nprint('to stderr', file=sys.stderr)\n"
    )
    monkeypatch.setattr(support, "PROJECT_DIR", tmp_path)
    output = support.manage("x", db_path=tmp_path / "db.sqlite3", media_root=tmp_path, echo=True)
    assert "to stdout" in output and "to stderr" in output
    assert capsys.readouterr().out == output
    (tmp_path / "manage.py").write_text("import sys; print('boom'); sys.exit(2)")
    with pytest.raises(RuntimeError, match=r"exit code 2\)[\s\S]*boom"):
        support.manage("x", db_path=tmp_path / "db.sqlite3", media_root=tmp_path, echo=True)
