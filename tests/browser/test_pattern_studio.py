"""The pattern studio as a visitor uses it: live preview, then save to the gallery."""

from __future__ import annotations

import base64
import io

import pytest
from PIL import Image

from patterns.models import GeneratedImage

pytestmark = pytest.mark.django_db(transaction=True)


def _preview_png(page) -> Image.Image:
    src = page.get_attribute("#preview-image", "src")
    assert src.startswith("data:image/png;base64,")
    return Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))).convert("RGB")


def test_preview_refreshes_when_the_colour_changes_and_saving_lands_in_the_gallery(
    live_server, page
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
