"""The "which digit?" choice on /create/, as a visitor uses it, on a laptop and a phone.

Tiny untrained models (see ``test_gallery.py``): the test checks what the page asks for and
what is stored (the digit's class code inside the stored code), not how the digit looks.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from playwright.sync_api import expect

from gallery import generation
from gallery.models import GeneratedArtwork

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("tiny_models")]


@pytest.mark.parametrize("width", [1280, 390])
def test_the_digit_choice_asks_a_conditional_model_for_that_digit(
    live_server, page, screenshot, width
):
    page.set_viewport_size({"width": width, "height": 900})
    create_url = f"{live_server.url}/create/"
    page.goto(create_url)
    method, digit = page.locator("select[name=method]"), page.locator("select[name=digit]")
    # The VAE draws whatever digit its code gives: the choice is off, and says why.
    method.select_option("VAE")
    expect(digit).to_be_disabled()
    expect(page.locator("[data-digit-help]")).to_contain_text("draw the digit you ask for")

    method.select_option("GAN")
    expect(digit).to_be_enabled()
    with page.expect_response(lambda r: "/generate/GAN.png" in r.url and "digit=7" in r.url) as p:
        digit.select_option("7")
    assert p.value.status == 200 and p.value.headers["content-type"] == "image/png"
    expect(page.locator("[data-preview-error]")).to_have_text("")
    screenshot(page, f"create-digit-{width}")
    assert page.evaluate("document.documentElement.scrollWidth") <= width  # no sideways scroll

    with page.expect_response(lambda r: r.url == create_url and r.request.method == "POST") as c:
        page.click("#create-form button[type=submit]")
    data = c.value.json()
    assert data["success"] is True and data["digit"] == 7
    code = GeneratedArtwork.objects.get(pk=data["artwork_id"]).latent_vector
    class_code = generation.get_model("GAN").class_codes(torch.tensor([7]))[0].tolist()
    assert np.allclose(code[-len(class_code) :], class_code, atol=1e-6)

    # Back to a model without digits: the choice is cleared, so the next POST asks for none.
    method.select_option("AUTOENCODER")
    expect(digit).to_be_disabled()
    expect(digit).to_have_value("")
    assert page.js_errors == []
