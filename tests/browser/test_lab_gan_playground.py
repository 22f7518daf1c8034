"""Notebook 03 in a real JupyterLab: Run All, then play the GAN playground with its buttons.

Only a browser proves the whole chain: the buttons render, a click reaches the kernel, the
kernel takes a GAN step and sends a new picture and a new text line, and the page shows both
(``tests/browser/lab.py`` starts JupyterLab on copies of the notebooks).
"""

from __future__ import annotations

import re

from .lab import IMAGE_PIXELS, IMAGE_READY, Lab, run_all, wait_image_changed

NOTEBOOK = "03_gans.ipynb"
TITLE = "GANPlayground("  # the caption course_lib.playground.GANPlayground shows on top
COUNTS = re.compile(r"D steps: (\d+) · G steps: (\d+)")


def _counts(text) -> tuple[int, int]:
    found = COUNTS.search(text.inner_text())
    assert found, f"no step counts in the playground's text line: {text.inner_text()!r}"
    return int(found[1]), int(found[2])


def _wait_counts(page, text, want: tuple[int, int]) -> None:
    page.wait_for_function(
        "([el, want]) => el.textContent.includes(want)",
        arg=[text.element_handle(), f"D steps: {want[0]} · G steps: {want[1]}"],
        timeout=30_000,
    )


def test_run_all_then_step_the_gan_playground_with_its_buttons(
    jupyter_lab: Lab, blank_page, screenshot
):
    page = blank_page
    run_all(page, jupyter_lab, NOTEBOOK)

    widget = page.locator(".widget-vbox", has=page.locator(".widget-html", has_text=TITLE))
    assert widget.count() == 1
    widget.scroll_into_view_if_needed()
    buttons = widget.locator("button.widget-button")
    assert buttons.all_text_contents() == ["step D", "step G", "train 100 steps", "reset"]
    text = widget.locator(".widget-html").nth(1)
    image = widget.locator("img.widget-image")
    page.wait_for_function(IMAGE_READY, arg=image.element_handle())
    assert _counts(text) == (0, 0)
    assert "modes covered:" in text.inner_text()
    first_src, first_pixels = image.get_attribute("src"), image.evaluate(IMAGE_PIXELS)

    # One discriminator step: a new picture (D's map moved) and the count says so.
    buttons.filter(has_text="step D").click()
    wait_image_changed(page, image, first_src, "step D was clicked")
    _wait_counts(page, text, (1, 0))
    after_d = image.get_attribute("src")
    assert image.evaluate(IMAGE_PIXELS) != first_pixels

    # 100 rounds of one D and one G step: both counts move by 100.
    buttons.filter(has_text="train 100 steps").click()
    _wait_counts(page, text, (101, 100))
    wait_image_changed(page, image, after_d, "train 100 steps was clicked")

    widget.scroll_into_view_if_needed()
    screenshot(page, "jupyterlab-gan-playground", full_page=False)
    assert page.js_errors == []
