"""The pages a learner shows, in a real browser: an artwork's page (like, download, neighbours,
morph from here), the morph player (play, pause, scrub, GIF) and choosing among 8 candidates
on /create/, each screenshotted at laptop and phone width."""

from __future__ import annotations

import re

import pytest
from PIL import Image
from playwright.sync_api import expect

from gallery import generation
from gallery.models import GeneratedArtwork

from .conftest import BLOCKING_IMPACTS, axe_violations, describe_violations, make_artwork

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("tiny_models")]
WIDTHS = {"desktop": (1280, 900), "phone": (390, 844)}


def _at(page, width: str) -> None:
    page.set_viewport_size(dict(zip(("width", "height"), WIDTHS[width], strict=True)))


def _loaded(page, selector: str) -> None:
    page.wait_for_function(
        "sel => Array.from(document.querySelectorAll(sel))"
        ".every(img => img.complete && img.naturalWidth > 0)",
        arg=selector,
    )


def _no_sideways_scroll(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


@pytest.mark.parametrize("width", WIDTHS)
def test_artwork_page_from_the_gallery_card_to_download_neighbours_and_morph(
    live_server, page, screenshot, width
):
    _at(page, width)
    artwork = make_artwork("VAE", seed=0, title="Morning digit")
    others = [make_artwork("VAE", seed=s, title=f"neighbour {s}") for s in (1, 2, 3)]
    page.goto(f"{live_server.url}/")
    page.click(f"#artwork-{artwork.pk} [data-artwork-link]")
    page.wait_for_url(f"{live_server.url}/artworks/{artwork.pk}/")
    _loaded(page, "main img")
    assert page.locator("h1").inner_text() == "Morning digit"

    # Large and crisp: at least 320 px on screen, scaled with nearest-neighbour pixels.
    image = page.locator("#artwork-image")
    box = image.bounding_box()
    assert box["width"] >= 320 and box["width"] == pytest.approx(box["height"])
    assert image.evaluate("img => getComputedStyle(img).imageRendering") == "pixelated"
    assert _no_sideways_scroll(page)
    screenshot(page, f"{width}-artwork-page")

    # Download PNG saves the stored file under the artwork's name.
    with page.expect_download() as info:
        page.click("[data-download]")
    download = info.value
    assert download.suggested_filename == f"morning-digit-{artwork.pk}.png"
    assert Image.open(download.path()).size == (224, 224)

    # The like button works here as on the gallery: one like, then pressed and off.
    like = page.locator(f"#artwork-{artwork.pk} [data-like-url]")
    like.click()
    expect(page.locator(f"#artwork-{artwork.pk} [data-likes]")).to_have_text("1")
    expect(like).to_be_disabled()

    # More like this: every other VAE artwork, nearest first, each linking to its page.
    neighbours = page.locator("#neighbours [data-neighbour]")
    assert neighbours.count() == len(others)
    first_id = int(neighbours.first.get_attribute("data-neighbour"))
    neighbours.first.click()
    page.wait_for_url(f"{live_server.url}/artworks/{first_id}/")

    # Morph from here leads to the strip between the two.
    page.go_back()
    page.locator("#morph-partners a").first.click()
    page.wait_for_url(re.compile(rf".*/interpolate/{artwork.pk}/\d+/$"))
    assert page.locator("#strip img").count() == generation.INTERPOLATION_STEPS
    assert page.js_errors == []
    GeneratedArtwork.objects.filter(pk=artwork.pk, likes=1).get()


@pytest.mark.parametrize("width", WIDTHS)
def test_the_morph_player_plays_pauses_scrubs_and_hands_out_the_gif(
    live_server, page, screenshot, width
):
    _at(page, width)
    a, b = make_artwork("GAN", seed=1, title="from"), make_artwork("GAN", seed=2, title="to")
    page.goto(f"{live_server.url}/interpolate/{a.pk}/{b.pk}/")
    _loaded(page, "#strip img")
    steps = generation.INTERPOLATION_STEPS
    frames = page.locator("#strip img")
    # One row: every frame's top edge at the same height, and nothing scrolls sideways.
    tops = {round(frames.nth(i).bounding_box()["y"]) for i in range(steps)}
    assert len(tops) == 1
    assert _no_sideways_scroll(page)

    stage = page.locator("[data-morph-stage]")
    sources = frames.evaluate_all("imgs => imgs.map(img => img.src)")
    assert stage.get_attribute("src") == sources[0]
    play = page.locator("[data-morph-play]")
    assert play.inner_text() == "Play"
    play.click()
    expect(play).to_have_text("Pause")
    # Playing moves the slider and the large frame on by itself.
    page.wait_for_function("document.querySelector('[data-morph-scrub]').value >= '3'")
    screenshot(page, f"{width}-morph-player")
    play.click()
    expect(play).to_have_text("Play")
    paused_at = page.input_value("[data-morph-scrub]")
    page.wait_for_timeout(500)
    assert page.input_value("[data-morph-scrub]") == paused_at  # paused means still

    # Scrubbing shows exactly the chosen step, large, and marks it in the strip.
    page.locator("[data-morph-scrub]").fill(str(steps - 1))
    assert stage.get_attribute("src") == sources[-1]
    expect(page.locator("[data-morph-position]")).to_have_text(f"step {steps} of {steps}")
    assert page.locator("#strip [aria-current=step]").get_attribute("data-frame") == str(steps - 1)
    page.locator("#strip [data-frame='4']").click()
    assert stage.get_attribute("src") == sources[4]
    assert page.input_value("[data-morph-scrub]") == "4"

    with page.expect_download() as info:
        page.click("[data-morph-gif]")
    gif = Image.open(info.value.path())
    assert gif.n_frames == 2 * steps - 2
    assert page.js_errors == []


@pytest.mark.parametrize("width", WIDTHS)
def test_choosing_one_of_eight_candidates_sets_the_seed_that_generate_keeps(
    live_server, page, screenshot, width
):
    _at(page, width)
    page.goto(f"{live_server.url}/create/")
    page.select_option("#create-form select[name=method]", "AUTOENCODER")
    page.locator("#create-form input[name=creativity]").fill("1.4")
    with page.expect_response(lambda r: "/generate/AUTOENCODER.png" in r.url):
        page.click("[data-show-candidates]")
    candidates = page.locator("[data-candidate-grid] [data-seed]")
    expect(candidates).to_have_count(8)
    _loaded(page, "[data-candidate-grid] img")
    expect(page.locator("[data-candidates-status]")).to_contain_text("8 candidates")
    seeds = candidates.evaluate_all("buttons => buttons.map(b => b.dataset.seed)")
    assert len(set(seeds)) == 8 and all(seed.isdigit() for seed in seeds)
    for seed, label in zip(seeds, candidates.all_inner_texts(), strict=True):
        assert label.strip().endswith(f"seed {seed}")  # each preview shows its seed
    assert _no_sideways_scroll(page)

    # The learner moves the slider after seeing them, then picks the third: the form takes the
    # candidate's seed and its creativity back, and the live preview shows it.
    page.locator("#create-form input[name=creativity]").fill("0.3")
    chosen = candidates.nth(2)
    with page.expect_response(lambda r: f"seed={seeds[2]}" in r.url and "creativity=1.4" in r.url):
        chosen.click()
    expect(chosen).to_have_attribute("aria-pressed", "true")
    assert candidates.nth(0).get_attribute("aria-pressed") == "false"
    assert page.input_value("#create-form input[name=seed]") == seeds[2]
    assert page.input_value("#create-form input[name=creativity]") == "1.4"
    expect(page.locator("#creativity-value")).to_have_text("1.4")
    expect(page.locator("#preview")).to_be_in_viewport()  # on a phone the form is above
    screenshot(page, f"{width}-create-candidates")
    violations = [v for v in axe_violations(page) if v["impact"] in BLOCKING_IMPACTS]
    assert not violations, describe_violations(violations)

    with page.expect_response(lambda r: r.url.endswith("/create/")) as info:
        page.click("#create-form button[type=submit]")
    assert info.value.json()["success"] is True
    artwork = GeneratedArtwork.objects.get()
    kept = generation.generate("AUTOENCODER", 1.4, seed=int(seeds[2]))
    assert artwork.latent_vector == kept.latent_vector  # exactly the chosen candidate
    assert page.js_errors == []
