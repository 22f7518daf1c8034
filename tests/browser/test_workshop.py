"""The model workshop end to end: queue a training from /models/, follow it, see its card.

Served like the style studio's test (``manage.py runserver`` and ``db_worker`` on one
temporary SQLite file, with an empty checkpoint folder). The page is never reloaded by the
test: it polls the status, draws the live loss history, and shows the finished card itself.
"""

from __future__ import annotations

import contextlib
import re
import sqlite3
from pathlib import Path

from playwright.sync_api import expect

from .test_style_studio import GallerySite, gallery_site  # noqa: F401 (the module's servers)

# 6 short epochs, then the digit judge is trained once in the empty folder (~15-30 s).
TRAINED_WITHIN_S = 240
IMAGE_LOADED = "img => img.complete && img.naturalWidth > 0"


def _record(db: Path, record_id: int) -> tuple[str, str, str]:
    with contextlib.closing(sqlite3.connect(db)) as connection:
        return connection.execute(
            "SELECT status, checkpoint, fingerprint FROM workshop_modelrecord WHERE id = ?",
            (record_id,),
        ).fetchone()


def test_a_model_trained_from_the_page_gets_its_card(
    gallery_site: GallerySite,  # noqa: F811
    blank_page,
    screenshot,
) -> None:
    page = blank_page
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"{gallery_site.url}/models/")
    expect(page.locator("#no-models")).to_be_visible()
    page.select_option("#train-form select[name=kind]", "ae")
    page.fill("#train-form input[name=epochs]", "6")
    page.select_option("#train-form select[name=batch_size]", "16")
    page.fill("#train-form input[name=name]", "Browser autoencoder")
    page.click("#train-form button[type=submit]")

    page.wait_for_url(re.compile(rf"{re.escape(gallery_site.url)}/models/(\d+)/$"))
    record_id = int(page.url.rstrip("/").rsplit("/", 1)[1])
    assert page.locator("h1").inner_text() == "Browser autoencoder"

    # While it trains, the page draws the loss of each finished epoch.
    try:
        expect(page.locator("[data-live-chart] polyline")).to_have_count(1, timeout=120_000)
    except AssertionError as error:
        logs = f"{gallery_site.worker.describe()}\n{gallery_site.server.describe()}"
        raise AssertionError(f"no live loss curve: {error}\n{logs}") from None
    expect(page.locator("[data-live-caption]")).to_contain_text("loss")
    screenshot(page, "workshop-training-1280")
    page.set_viewport_size({"width": 390, "height": 844})
    screenshot(page, "workshop-training-390")
    page.set_viewport_size({"width": 1280, "height": 900})

    badge = page.locator("[data-status-badge]").first
    try:
        expect(badge).to_have_text("Done", timeout=TRAINED_WITHIN_S * 1000)
    except AssertionError as error:
        logs = f"{gallery_site.worker.describe()}\n{gallery_site.server.describe()}"
        raise AssertionError(f"the training never showed Done: {error}\n{logs}") from None
    assert page.locator("#training").count() == 0
    status, checkpoint, fingerprint = _record(gallery_site.db, record_id)
    assert status == "done" and checkpoint.startswith(f"web/record-{record_id}-")
    assert (gallery_site.db.parent / "course_data" / "checkpoints" / checkpoint).is_file()

    card = page.locator(f"#model-{record_id}")
    grid = card.locator("[data-sample-grid]")
    page.wait_for_function(
        f"() => {{ const img = document.querySelector('#model-{record_id} [data-sample-grid]');"
        f" return img && ({IMAGE_LOADED})(img); }}"
    )
    assert grid.evaluate("img => img.naturalWidth") > 200  # 8 digits of 28 px, shown twice
    assert card.locator("[data-loss-chart] polyline").count() == 1
    assert "Classifier score" in card.locator("[data-metrics]").inner_text()
    assert fingerprint in card.inner_text()
    link = card.get_by_role("link", name="Make artworks with it")
    assert link.get_attribute("href") == f"/create/?method=AUTOENCODER&model={record_id}"
    screenshot(page, "workshop-record-1280")
    page.set_viewport_size({"width": 390, "height": 844})
    screenshot(page, "workshop-record-390")

    page.goto(f"{gallery_site.url}/models/")
    assert page.locator("[data-model-card]").count() == 1
    expect(page.locator(f"#model-{record_id} [data-sample-grid]")).to_be_visible()
    screenshot(page, "workshop-index-390")
    page.set_viewport_size({"width": 1280, "height": 900})
    screenshot(page, "workshop-index-1280")
    assert page.js_errors == []
    gallery_site.worker.check_running()
