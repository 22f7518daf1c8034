"""Notebook 05 in a real JupyterLab: run every cell, then drag a latent slider in Chromium.

The sliders are the learner's main way to touch a model, and only a browser proves that the
whole chain works: the widget renders, a key press on its handle reaches the kernel, the kernel
decodes a new image and the page shows it (``tests/browser/lab.py`` starts JupyterLab).
"""

from __future__ import annotations

from .lab import (
    IMAGE_PIXELS,
    IMAGE_READY,
    READOUT_IS,
    Lab,
    readout,
    run_all,
    wait_image_changed,
)

NOTEBOOK = "05_latent_space.ipynb"
SLIDERS_TITLE = "LatentSliders("  # the caption course_lib.widgets.LatentSliders shows on top


def test_run_all_then_a_latent_slider_redraws_the_decoded_digit(
    jupyter_lab: Lab, blank_page, screenshot
):
    page = blank_page
    run_all(page, jupyter_lab, NOTEBOOK)

    # The LatentSliders widget: a caption, eight sliders z[0]..z[7], the decoded image.
    widget = page.locator(".widget-vbox", has=page.locator(".widget-html", has_text=SLIDERS_TITLE))
    assert widget.count() == 1
    widget.scroll_into_view_if_needed()  # JupyterLab skips laying out cells far off screen
    sliders = widget.locator(".widget-slider")
    assert sliders.count() == 8
    assert sliders.locator(".widget-label").all_text_contents() == [f"z[{i}]" for i in range(8)]
    image = widget.locator("img.widget-image")
    page.wait_for_function(IMAGE_READY, arg=image.element_handle())
    assert image.evaluate("img => [img.naturalWidth, img.naturalHeight]") == [224, 224]  # 28 x 8
    first_src = image.get_attribute("src")
    first_pixels = image.evaluate(IMAGE_PIXELS)

    # Move z[0] to the far end of its range with the keyboard, as a learner can.
    handle = sliders.first.locator(".noUi-handle")
    start = float(handle.get_attribute("aria-valuenow"))
    low = float(handle.get_attribute("aria-valuemin"))
    high = float(handle.get_attribute("aria-valuemax"))
    key, target = ("End", high) if high - start >= start - low else ("Home", low)
    handle.focus()
    handle.press(key)
    page.wait_for_function(READOUT_IS, arg=[readout(sliders.first), target])
    # The kernel decodes the new code and sends a new PNG: the image's source and pixels change.
    wait_image_changed(page, image, first_src, f"z[0] was moved to {target:.2f}")
    keyed_src = image.get_attribute("src")
    keyed_pixels = image.evaluate(IMAGE_PIXELS)
    assert keyed_pixels != first_pixels, "the slider moved but the decoded digit did not change"

    # Drag the next slider's handle to the left end with the mouse: the digit changes again.
    second = sliders.nth(1)
    box = second.locator(".noUi-handle").bounding_box()
    track = second.locator(".noUi-base").bounding_box()
    middle = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] / 2, middle)
    page.mouse.down()
    page.mouse.move(track["x"] - 10, middle, steps=8)
    page.mouse.up()
    second_low = float(second.locator(".noUi-handle").get_attribute("aria-valuemin"))
    page.wait_for_function(READOUT_IS, arg=[readout(second), second_low])
    wait_image_changed(page, image, keyed_src, "z[1] was dragged to its left end")
    assert image.evaluate(IMAGE_PIXELS) not in (first_pixels, keyed_pixels)

    # Every image a widget of this notebook shows is drawn at its own size: not stretched by
    # the flex box around it (a distorted digit), not blown up to the width of the page.
    images = page.locator(".jp-OutputArea-output img.widget-image")
    assert images.count() >= 3  # the sliders' digit, the interpolation frame and its strip
    for index in range(images.count()):
        shown = images.nth(index)
        shown.scroll_into_view_if_needed()
        page.wait_for_function(IMAGE_READY, arg=shown.element_handle())
        natural, client = shown.evaluate(
            "img => [[img.naturalWidth, img.naturalHeight], [img.clientWidth, img.clientHeight]]"
        )
        assert client == natural, f"widget image {index} is {natural} pixels but shown {client}"

    widget.scroll_into_view_if_needed()
    screenshot(page, "jupyterlab-latent-sliders", full_page=False)
    assert page.js_errors == []
