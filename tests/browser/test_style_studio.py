"""The style studio end to end: upload through the real form, train in a real worker, see it.

Django's live test server runs inside the test process with an in-memory database that no
other process can see, and style training runs in ``manage.py db_worker``. So this test serves
the site with ``manage.py runserver`` and runs the worker beside it, both on one temporary
SQLite file, with ``server_settings`` cutting the training to a few seconds. The page is never
reloaded by the test: it must reach "Done" by polling on its own.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image, ImageDraw
from playwright.sync_api import expect

from styles.models import Style, StyleStatus

from .servers import ONE_THREAD, REPO_ROOT, ServerProcess, free_port, wait_for_http

DJANGO_DIR = REPO_ROOT / "django_project"
N_SAMPLES = 6
N_VARIATIONS = 16  # styles.services.N_VARIATIONS: the detail page shows this many
TRAINED_WITHIN_S = 120  # queued + 3 s of training + the first page render, with a wide margin
IMAGE_LOADED = "img => img.complete && img.naturalWidth > 0"


@dataclass
class GallerySite:
    url: str
    db: Path
    media: Path
    server: ServerProcess
    worker: ServerProcess


def _server_env(root: Path) -> dict[str, str]:
    """The environment of the site's processes: private paths, test settings, one thread.

    Any DJANGO_* or DATABASE_URL variable of the surrounding shell is dropped, so a deployment
    setting (HTTPS redirects, PostgreSQL) cannot leak into this plain-HTTP local run.
    """
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("DJANGO_") and key != "DATABASE_URL"
    }
    pythonpath = [str(Path(__file__).parent), str(DJANGO_DIR)]
    if os.environ.get("PYTHONPATH"):
        pythonpath.append(os.environ["PYTHONPATH"])
    env.update(ONE_THREAD)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "server_settings",
            "PYTHONPATH": os.pathsep.join(pythonpath),
            "GALLERY_DB": str(root / "db.sqlite3"),
            "GALLERY_MEDIA_ROOT": str(root / "media"),
            "COURSE_DATA_DIR": str(root / "course_data"),  # no checkpoint here is touched
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


@pytest.fixture(scope="module")
def gallery_site(browser, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GallerySite]:
    """runserver + db_worker on one temporary SQLite file; both stopped even if a test fails.

    Depends on ``browser`` so that, without chromium, nothing is started before the skip.
    """
    root = tmp_path_factory.mktemp("style_site")
    env = _server_env(root)
    manage = [sys.executable, "manage.py"]
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    started: list[ServerProcess] = []
    try:
        # The server starts while the tables are made (each process spends seconds importing
        # torch); the worker polls the task table, so it starts once that exists.
        server = ServerProcess(
            "runserver",
            [*manage, "runserver", f"127.0.0.1:{port}", "--noreload"],
            env=env,
            cwd=DJANGO_DIR,
            log=root / "server.log",
        )
        started.append(server)
        migrate = subprocess.run(
            [*manage, "migrate", "--noinput"],
            cwd=DJANGO_DIR,
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert migrate.returncode == 0, f"migrate failed:\n{migrate.stdout}\n{migrate.stderr}"
        worker = ServerProcess(
            "db_worker",
            [*manage, "db_worker", "--no-reload", "--interval", "0.5", "--no-startup-delay"],
            env=env,
            cwd=DJANGO_DIR,
            log=root / "worker.log",
        )
        started.append(worker)
        wait_for_http(f"{url}/styles/", started, timeout=90)
        yield GallerySite(url, root / "db.sqlite3", root / "media", server, worker)
    finally:
        for process in reversed(started):
            process.stop()


def _sample_images(folder: Path) -> list[Path]:
    """Six small PNGs of one made-up style: warm diagonal stripes over a dark ground."""
    folder.mkdir()
    paths = []
    for number in range(N_SAMPLES):
        image = Image.new("RGB", (64, 64), (30 + 10 * number, 20, 60))
        draw = ImageDraw.Draw(image)
        for start in range(-64, 64, 12):
            offset = start + 2 * number
            colour = (240, 120 + 15 * number, 40)
            draw.line([(offset, 0), (offset + 64, 64)], fill=colour, width=4)
        path = folder / f"stripes-{number}.png"
        image.save(path)
        paths.append(path)
    return paths


def _style_row(db: Path, style_id: int) -> tuple[str, float, int]:
    """(status, progress, number of samples) of a style, read from the server's database."""
    with contextlib.closing(sqlite3.connect(db)) as connection:
        status, progress = connection.execute(
            "SELECT status, progress FROM styles_style WHERE id = ?", (style_id,)
        ).fetchone()
        (samples,) = connection.execute(
            "SELECT COUNT(*) FROM styles_stylesample WHERE style_id = ?", (style_id,)
        ).fetchone()
    return status, progress, samples


def test_uploaded_samples_train_in_the_worker_and_the_page_shows_variations(
    gallery_site: GallerySite, blank_page, screenshot, tmp_path: Path
):
    page = blank_page
    page.goto(f"{gallery_site.url}/styles/")
    page.fill("#upload-form input[name=name]", "Browser stripes")
    page.set_input_files("#upload-form input[name=images]", _sample_images(tmp_path / "samples"))
    page.click("#upload-form button[type=submit]")

    page.wait_for_url(re.compile(rf"{re.escape(gallery_site.url)}/styles/(\d+)/$"))
    style_id = int(page.url.rstrip("/").rsplit("/", 1)[1])
    assert f"Uploaded {N_SAMPLES} samples; training has been queued." in page.inner_text("main")
    assert page.locator("h1").inner_text() == "Browser stripes"

    # The page polls the status and reloads itself when the worker is done.
    badge = page.locator("[data-status-badge]")
    try:
        expect(badge).to_have_text("Done", timeout=TRAINED_WITHIN_S * 1000)
    except AssertionError as error:
        logs = f"{gallery_site.worker.describe()}\n{gallery_site.server.describe()}"
        raise AssertionError(f"the style never showed Done: {error}\n{logs}") from None
    assert page.locator("#training").count() == 0  # the progress card is gone
    assert re.search(r"trained in \d+ s", page.inner_text("main"))
    assert _style_row(gallery_site.db, style_id) == ("done", 1.0, N_SAMPLES)
    status = page.request.get(f"{gallery_site.url}/styles/{style_id}/status/")
    assert json.loads(status.text()) == {
        "status": "done",
        "label": "Done",
        "progress": 1.0,
        "error": "",
    }

    # What the model learned is on the page: the originals, new variations, a traversal.
    originals = page.locator("#originals img")
    variations = page.locator("#variations img")
    assert originals.count() == N_SAMPLES
    assert variations.count() == N_VARIATIONS
    page.wait_for_function(
        "() => Array.from(document.querySelectorAll('#originals img, #variations img'))"
        f".every({IMAGE_LOADED})"
    )
    sources = variations.evaluate_all("imgs => imgs.map(img => img.src)")
    assert all(src.startswith("data:image/png;base64,") for src in sources)
    assert len(set(sources)) == N_VARIATIONS  # sixteen different images, not one repeated
    sizes = variations.evaluate_all("imgs => imgs.map(i => [i.naturalWidth, i.naturalHeight])")
    assert {tuple(size) for size in sizes} == {(128, 128)}  # 32x32 shown 4x
    assert page.locator("#traversal img").count() > 1
    assert page.locator("#brief-report p").inner_text().strip() != ""
    trained_files = list((gallery_site.media / "styles" / "models").glob("*.pt"))
    assert len(trained_files) == 1
    screenshot(page, "style-done")

    # A variation can be kept: it is saved to the gallery without leaving the page.
    first = page.locator("#variation-1")
    first.get_by_role("button", name="Save to gallery").click()
    expect(first.locator("[data-save-message] a")).to_have_text("saved to the gallery")
    assert page.url.endswith(f"/styles/{style_id}/")
    with contextlib.closing(sqlite3.connect(gallery_site.db)) as connection:
        rows = connection.execute("SELECT title FROM gallery_generatedartwork").fetchall()
    titles = [title for (title,) in rows]
    assert titles == ["Browser stripes variation 1"]
    assert page.js_errors == []
    gallery_site.worker.check_running()
    gallery_site.server.check_running()


def test_sample_styles_fit_a_phone_with_one_line_buttons(gallery_site: GallerySite, blank_page):
    page = blank_page
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{gallery_site.url}/styles/")
    buttons = page.locator("#sample-styles button[name=sample]")
    assert buttons.count() >= 1
    # A wrapped label has one client rectangle per line.
    lines = buttons.evaluate_all(
        "buttons => buttons.map(b => { const r = document.createRange();"
        " r.selectNodeContents(b); return r.getClientRects().length; })"
    )
    assert lines == [1] * buttons.count()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert page.js_errors == []


@pytest.mark.django_db(transaction=True)
def test_the_status_badge_follows_the_job_while_the_page_polls(live_server, page):
    """Queued, then training at 78 %, then failed: the badge says each without a reload."""
    style = Style.objects.create(name="Watched stripes")
    page.goto(f"{live_server.url}/styles/{style.pk}/")
    page.evaluate("window.__marker = 1")  # survives only if the page is not reloaded
    badge = page.locator("[data-status-badge]")
    bar = page.locator("[data-progress-bar]")
    expect(badge).to_have_text("Queued")

    Style.objects.filter(pk=style.pk).update(status=StyleStatus.RUNNING, progress=0.78)
    expect(bar).to_have_text("78%")
    expect(badge).to_have_text("Training")
    assert badge.get_attribute("data-status") == "running"
    running_colour = badge.evaluate("el => getComputedStyle(el).backgroundColor")
    assert page.evaluate("window.__marker") == 1

    # A finished job reloads the page, which then renders the final state itself.
    Style.objects.filter(pk=style.pk).update(status=StyleStatus.FAILED, error="out of memory")
    expect(badge).to_have_text("Failed")
    assert "out of memory" in page.locator("#failure").inner_text()
    assert badge.evaluate("el => getComputedStyle(el).backgroundColor") != running_colour
    assert page.js_errors == []
