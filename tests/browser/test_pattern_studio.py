"""The pattern studio as a visitor uses it: live preview, then save to the paginated gallery."""

from __future__ import annotations

import base64
import io
from datetime import timedelta

import pytest
from django.utils import timezone
from PIL import Image

from patterns import services
from patterns.forms import ImageGeneratorForm
from patterns.models import GeneratedImage
from patterns.views import PAGE_SIZE

pytestmark = pytest.mark.django_db(transaction=True)

IMAGE_LOADED = "img => img.complete && img.naturalWidth > 0"


def _preview_png(page) -> Image.Image:
    src = page.get_attribute("#preview-image", "src")
    assert src.startswith("data:image/png;base64,")
    return Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))).convert("RGB")


def _store_older_pattern(number: int) -> GeneratedImage:
    """Store a small pattern through the service, dated ``number`` hours ago."""
    form = ImageGeneratorForm(
        {
            "pattern_type": "spiral",
            "width": 100,
            "height": 100,
            "primary_color": f"#{number:02X}0000",
            "secondary_color": "#0000FF",
        }
    )
    assert form.is_valid(), form.errors
    record = services.store_pattern(form)
    GeneratedImage.objects.filter(pk=record.pk).update(
        created_at=timezone.now() - timedelta(hours=number)
    )
    return record


def test_preview_refreshes_when_the_colour_changes_and_saving_lands_in_the_gallery(
    live_server, page, screenshot
):
    page.goto(f"{live_server.url}/patterns/")
    page.select_option("#pattern-form select[name=pattern_type]", "gradient")
    page.wait_for_function(
        "document.querySelector('#preview-image').src.startsWith('data:image/png')"
    )
    before = page.get_attribute("#preview-image", "src")
    page.fill("input[name=primary_color]", "#00ff00")
    page.dispatch_event("input[name=primary_color]", "change")
    page.wait_for_function(
        "before => document.querySelector('#preview-image').src !== before", arg=before
    )
    preview = _preview_png(page)
    # The top row of a gradient is exactly the primary colour.
    assert preview.size == (150, 150)
    assert preview.getpixel((75, 0)) == (0, 255, 0)
    screenshot(page, "pattern-studio")

    page.fill("input[name=width]", "120")
    page.fill("input[name=height]", "100")
    page.click("#pattern-form button[type=submit]")
    page.wait_for_url(f"{live_server.url}/patterns/gallery/**")
    assert GeneratedImage.objects.count() == 1
    stored = GeneratedImage.objects.get()
    assert (stored.pattern_type, stored.width, stored.height) == ("gradient", 120, 100)
    assert stored.primary_color == "#00FF00"
    assert page.locator("img[src*='/media/generated/']").count() == 1
    assert page.js_errors == []


def test_a_new_pattern_opens_page_one_of_the_paginated_gallery(live_server, page, screenshot):
    older = [_store_older_pattern(number) for number in range(1, PAGE_SIZE + 1)]
    page.goto(f"{live_server.url}/patterns/")
    page.select_option("#pattern-form select[name=pattern_type]", "mandala")
    page.fill("input[name=primary_color]", "#123456")
    page.fill("input[name=width]", "110")
    page.fill("input[name=height]", "130")
    page.click("#pattern-form button[type=submit]")

    # The studio redirects to the gallery's first page, where the newest pattern comes first.
    page.wait_for_url(f"{live_server.url}/patterns/gallery/")
    new = GeneratedImage.objects.exclude(pk__in=[p.pk for p in older]).get()
    assert (new.pattern_type, new.primary_color) == ("mandala", "#123456")
    assert "Saved your Mandala Pattern." in page.locator("main .alert-success").inner_text()
    assert f"{PAGE_SIZE + 1} patterns, newest first." in page.locator("main").inner_text()
    cards = page.locator("main .art-card")
    assert cards.count() == PAGE_SIZE
    first = cards.first
    assert first.locator("img").get_attribute("src") == new.image_file.url
    assert "110×130 px" in first.inner_text()
    assert "#123456" in first.inner_text()
    page.wait_for_function(
        f"() => Array.from(document.querySelectorAll('main .art-card img')).every({IMAGE_LOADED})"
    )
    pagination = page.locator("nav[aria-label='Pattern gallery pages']")
    assert pagination.locator(".page-item.active").inner_text() == "1"
    screenshot(page, "pattern-gallery")

    # Page 2 holds the oldest pattern, and only that one.
    pagination.get_by_role("link", name="2", exact=True).click()
    page.wait_for_url(f"{live_server.url}/patterns/gallery/?page=2")
    assert page.locator("main .art-card").count() == 1
    oldest = older[-1]
    assert page.locator("main .art-card img").get_attribute("src") == oldest.image_file.url
    assert page.locator("nav .page-item.active").inner_text() == "2"
    assert page.js_errors == []


def _in_view(page, selector: str) -> bool:
    """True when the element is entirely inside the visible part of the window."""
    return page.eval_on_selector(
        selector,
        "el => { const r = el.getBoundingClientRect();"
        " return r.top >= 0 && r.bottom <= window.innerHeight && r.height > 0; }",
    )


def test_on_a_phone_the_preview_stays_in_sight_while_the_recipe_is_edited(
    live_server, page, screenshot
):
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live_server.url}/patterns/")
    page.wait_for_function(
        "document.querySelector('#preview-image').src.startsWith('data:image/png')"
    )
    assert _in_view(page, "#preview-image")
    # The last fields and the button are below the fold; editing them keeps the preview shown.
    for field in ["input[name=secondary_color]", "#pattern-form button[type=submit]"]:
        page.locator(field).scroll_into_view_if_needed()
        assert _in_view(page, field)
        assert _in_view(page, "#preview-image"), f"the preview is out of sight at {field}"
    page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
    assert _in_view(page, "#preview-image")
    # The preview covers no field: it sits above the form, not on it.
    preview = page.locator("#preview-column").bounding_box()
    button = page.locator("#pattern-form button[type=submit]").bounding_box()
    assert button["y"] >= preview["y"] + preview["height"]
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    screenshot(page, "pattern-studio-phone", full_page=False)

    # On a laptop the preview sits beside the form.
    page.set_viewport_size({"width": 1280, "height": 900})
    form = page.locator("#pattern-form").bounding_box()
    preview = page.locator("#preview-image").bounding_box()
    assert preview["x"] > form["x"] + form["width"]
    assert page.js_errors == []
