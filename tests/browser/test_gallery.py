"""The AI art gallery as a visitor uses it: create, like, morph, explore, on a phone too.

The models are tiny untrained checkpoints written to a temporary ``COURSE_DATA_DIR`` (as the
gallery's own tests do); the live server runs in a thread of this process, so the environment
variable and the service's model cache apply to it. Django's live server serves /media/ itself
from the current ``settings.MEDIA_ROOT`` (the ``page`` fixture's temporary folder).
"""

from __future__ import annotations

import io
import re
from urllib.parse import urlsplit

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import expect

from gallery import generation
from gallery.forms import CREATIVITY_ERROR
from gallery.models import GeneratedArtwork
from gallery_site.testing.checkpoints import LATENT

from .conftest import make_artwork

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("tiny_models")]
LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", "[::1]"}

IMAGE_LOADED = "img => img.complete && img.naturalWidth > 0"


def _wait_images_loaded(page, selector: str) -> None:
    page.wait_for_function(
        f"sel => Array.from(document.querySelectorAll(sel)).every({IMAGE_LOADED})", arg=selector
    )


def test_creating_an_artwork_shows_it_in_place_and_it_lands_in_the_gallery(
    live_server, page, screenshot
):
    create_url = f"{live_server.url}/create/"
    page.goto(create_url)
    page.select_option("#create-form select[name=method]", "GAN")
    slider = page.locator("#create-form input[name=creativity]")
    slider.focus()
    for _ in range(5):  # 1.0 -> 1.5 in steps of 0.1, as with the arrow keys
        slider.press("ArrowRight")
    page.wait_for_function("document.querySelector('#creativity-value').textContent === '1.5'")
    page.fill("#create-form input[name=title]", "Robot dream")

    with page.expect_response(lambda r: r.url == create_url and r.request.method == "POST") as info:
        page.click("#create-form button[type=submit]")
    response = info.value
    assert response.status == 200
    # The page posts FormData (multipart): the slider's new value is what was sent.
    assert re.search(r'name="creativity"\r\n\r\n1\.5\r\n', response.request.post_data)
    data = response.json()
    assert data["success"] is True
    assert data["image_url"].startswith("/media/generated_art/")

    card_image = page.locator(f"#created #artwork-{data['artwork_id']} img")
    card_image.wait_for(state="visible")
    assert card_image.get_attribute("src") == data["image_url"]
    card_image.evaluate("img => img.decode()")  # rejects if the image cannot be loaded
    assert card_image.evaluate(IMAGE_LOADED)
    assert page.url == create_url  # shown in place, no navigation
    assert page.locator("#created .card").count() == 1
    assert page.locator("[data-created-empty]").is_hidden()
    assert page.locator("#created .method-badge").inner_text() == "GAN"
    screenshot(page, "create-result")

    artwork = GeneratedArtwork.objects.get()
    assert artwork.pk == data["artwork_id"]
    assert (artwork.title, artwork.generation_method) == ("Robot dream", "GAN")
    assert len(artwork.latent_vector) == LATENT["GAN"]

    page.goto(f"{live_server.url}/")
    listed = page.locator(f"#artworks #artwork-{artwork.pk}")
    assert listed.locator("h2").inner_text() == "Robot dream"
    assert listed.locator("img").get_attribute("src") == data["image_url"]
    _wait_images_loaded(page, "#artworks img")
    assert page.locator("[data-count=GAN]").inner_text() == "1"
    assert page.locator("[data-count=total]").inner_text() == "1"
    assert page.js_errors == []


def test_like_button_counts_one_like_per_visitor_and_shows_it(live_server, page, browser):
    liked = make_artwork(title="liked")
    other = make_artwork(seed=1, title="other")
    page.goto(f"{live_server.url}/")
    page.evaluate("window.__marker = 1")  # survives only if the page is not reloaded
    button = page.locator(f"#artwork-{liked.pk} [data-like-url]")
    count = page.locator(f"#artwork-{liked.pk} [data-likes]")
    assert count.inner_text() == "0"
    assert button.get_attribute("aria-pressed") == "false"
    # The button's name starts with what it shows (axe's label-content-name-mismatch rule).
    name = button.evaluate("b => b.textContent.replace(/\\s+/g, ' ').trim()")
    assert name == "\u2665 0 likes, like \u201cliked\u201d"

    button.click()
    expect(count).to_have_text("1")
    expect(button).to_have_attribute("aria-pressed", "true")
    expect(button).to_be_disabled()  # one like per visitor: no second click
    # Filled with Bootstrap's danger red (once the button's colour transition has run).
    page.wait_for_function(
        "b => getComputedStyle(b).backgroundColor === 'rgb(220, 53, 69)'",
        arg=button.element_handle(),
    )
    liked.refresh_from_db()
    assert liked.likes == 1
    assert page.evaluate("window.__marker") == 1

    # Asked again by the same visitor (another tab, a script), the count stays.
    again = page.request.post(
        f"{live_server.url}/artworks/{liked.pk}/like/",
        headers={"X-CSRFToken": page.evaluate("courseSite.csrfToken()")},
    )
    assert again.json() == {"success": True, "likes": 1, "already_liked": True}
    # Back on the page later, the button still shows the like; the other one is free.
    page.reload()
    assert page.locator(f"#artwork-{liked.pk} [data-like-url]").is_disabled()
    assert page.locator(f"#artwork-{liked.pk} [data-likes]").inner_text() == "1"
    assert page.locator(f"#artwork-{other.pk} [data-like-url]").is_enabled()
    assert page.js_errors == []

    # Another visitor (a fresh browser context, so a new session) adds a like of their own.
    visitor = browser.new_context()
    try:
        theirs = visitor.new_page()
        theirs.goto(f"{live_server.url}/")
        theirs.locator(f"#artwork-{liked.pk} [data-like-url]").click()
        expect(theirs.locator(f"#artwork-{liked.pk} [data-likes]")).to_have_text("2")
    finally:
        visitor.close()
    liked.refresh_from_db()
    other.refresh_from_db()
    assert (liked.likes, other.likes) == (2, 0)


def test_picking_two_artworks_of_one_method_shows_the_morph_strip(live_server, page, screenshot):
    first = make_artwork("VAE", seed=1, title="start")
    second = make_artwork("VAE", seed=2, title="finish")
    gan = make_artwork("GAN", seed=3, title="gan")
    page.goto(f"{live_server.url}/")
    _wait_images_loaded(page, "#artworks img")
    screenshot(page, "gallery-home")
    go = page.locator("#pick-bar [data-pick-go]")
    assert go.is_disabled()

    # Two different methods cannot be morphed: the button stays off and the bar says why.
    page.check(f"#pick-{first.pk}")
    page.check(f"#pick-{gan.pk}")
    assert go.is_disabled()
    assert "different models" in page.locator("#pick-bar [data-pick-status]").inner_text()
    assert page.locator(f"#pick-{second.pk}").is_disabled()  # at most two picks

    page.uncheck(f"#pick-{gan.pk}")
    page.check(f"#pick-{second.pk}")
    assert go.is_enabled()
    go.click()
    # The strip runs between the two picked cards in the gallery's order (newest first).
    page.wait_for_url(re.compile(rf"{re.escape(live_server.url)}/interpolate/\d+/\d+/$"))
    start_id, end_id = (int(part) for part in urlsplit(page.url).path.split("/")[2:4])
    assert {start_id, end_id} == {first.pk, second.pk}
    titles = {first.pk: "start", second.pk: "finish"}

    frames = page.locator("#strip img")
    assert frames.count() == generation.INTERPOLATION_STEPS >= 10
    _wait_images_loaded(page, "#strip img")
    sources = page.eval_on_selector_all("#strip img", "imgs => imgs.map(img => img.src)")
    assert all(src.startswith("data:image/png;base64,") for src in sources)
    assert sources[0] != sources[-1]  # the strip really moves from one artwork to the other
    # The two ends are shown as stored images, and they load too.
    _wait_images_loaded(page, "figure img")
    assert page.locator("h1").inner_text() == (
        f"From \u201c{titles[start_id]}\u201d to \u201c{titles[end_id]}\u201d"
    )
    screenshot(page, "interpolate")
    assert page.js_errors == []


def test_explore_draws_the_plotly_map_with_nothing_from_outside(live_server, page, screenshot):
    make_artwork("VAE", title="star")
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(f"{live_server.url}/explore/")

    page.wait_for_selector("#latent-scatter.js-plotly-plot .main-svg")
    # plotly drew one SVG marker per encoded digit plus the artwork's star, in 11 traces.
    assert page.locator("#latent-scatter .scatterlayer .trace").count() == 10 + 1
    points = page.locator("#latent-scatter .scatterlayer .trace .point")
    assert points.count() == generation.EXPLORER_SAMPLES + 1
    assert page.locator("#latent-scatter .scatterlayer .trace:last-child .point").count() == 1
    assert f"{generation.EXPLORER_SAMPLES} digits" in page.locator("main").inner_text()
    assert "1 artwork marked" in page.locator("main").inner_text()
    screenshot(page, "explore")
    assert any(urlsplit(url).path.endswith("/plotly.min.js") for url in requested)
    outside = [
        url
        for url in requested
        if urlsplit(url).scheme not in ("data", "blob")
        and urlsplit(url).hostname not in LOCAL_HOSTS
    ]
    assert outside == []
    assert page.js_errors == []


def test_the_live_preview_follows_the_slider_and_generate_keeps_it(live_server, page, screenshot):
    page.goto(f"{live_server.url}/create/")
    preview = page.locator("#preview")
    page.wait_for_function(f"() => ({IMAGE_LOADED})(document.querySelector('#preview'))")
    assert preview.evaluate("img => img.naturalWidth") == 28  # the model's own pixels
    seed = page.input_value("#create-form input[name=seed]")
    assert seed.isdigit()

    first_src = preview.get_attribute("src")
    slider = page.locator("#create-form input[name=creativity]")
    slider.focus()
    with page.expect_response(lambda r: "/generate/VAE.png" in r.url) as info:
        slider.press("ArrowRight")
    assert info.value.status == 200 and f"seed={seed}" in info.value.url
    assert "creativity=1.1" in info.value.url
    page.wait_for_function("src => document.querySelector('#preview').src !== src", arg=first_src)

    with page.expect_response(lambda r: "/generate/VAE.png" in r.url):
        page.click("[data-new-seed]")
    kept_seed = page.input_value("#create-form input[name=seed]")
    assert kept_seed != seed
    screenshot(page, "create-preview")

    with page.expect_response(lambda r: r.url.endswith("/create/")) as info:
        page.click("#create-form button[type=submit]")
    assert info.value.json()["success"] is True
    shown = page.request.get(
        f"{live_server.url}/generate/VAE.png?creativity=1.1&seed={kept_seed}"
    ).body()
    artwork = GeneratedArtwork.objects.get()
    stored = np.asarray(Image.open(artwork.image_file.path))
    assert np.array_equal(stored[::8, ::8], np.asarray(Image.open(io.BytesIO(shown))))
    # after keeping it, the page moves on to a new seed
    assert page.input_value("#create-form input[name=seed]") != kept_seed


@pytest.mark.parametrize(
    "force_value",
    [
        # The range input clamps typed values, so widen its range, as a tampered page could.
        "slider => { slider.removeAttribute('min'); slider.removeAttribute('max');"
        " slider.value = '5'; }",
        # Not a number at all: a range input sanitizes that away, so make it a text box first.
        "slider => { slider.type = 'text'; slider.value = 'nan'; }",
    ],
    ids=["out-of-range", "nan"],
)
def test_invalid_creativity_shows_the_servers_message_and_creates_nothing(
    live_server, page, force_value
):
    page.goto(f"{live_server.url}/create/")
    page.eval_on_selector("#create-form input[name=creativity]", force_value)
    with page.expect_response(lambda r: r.request.method == "POST") as info:
        page.click("#create-form button[type=submit]")
    assert info.value.status == 400

    error = page.locator("#create-form [data-error-for=creativity]")
    page.wait_for_function(
        "document.querySelector('#create-form [data-error-for=creativity]').textContent !== ''"
    )
    assert error.inner_text() == CREATIVITY_ERROR
    assert error.is_visible()
    assert page.locator("#create-form [data-form-error]").is_hidden()
    assert page.locator("#created .card").count() == 0
    assert page.locator("#create-form button[type=submit]").is_enabled()
    assert GeneratedArtwork.objects.count() == 0
    assert page.js_errors == []


def test_gallery_fits_a_phone_screen(live_server, page, screenshot):
    for seed, method in enumerate(["VAE", "GAN", "AUTOENCODER", "VAE"]):
        make_artwork(method, seed=seed, title=f"A rather long artwork title number {seed}")
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live_server.url}/")
    _wait_images_loaded(page, "#artworks img")

    assert page.locator("#artworks .art-card").count() == 4
    assert page.evaluate("window.innerWidth") == 390
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert page.locator(".navbar-toggler").is_visible()
    assert page.locator("#site-nav").is_hidden()  # collapsed behind the toggler
    page.click(".navbar-toggler")
    page.locator("#site-nav a", has_text="Explore").wait_for(state="visible")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    screenshot(page, "gallery-phone")
    assert page.js_errors == []


def _box(page, selector: str) -> dict[str, float]:
    return page.locator(selector).first.bounding_box()


def test_explore_on_a_phone_gives_the_map_the_screen(live_server, page, screenshot):
    make_artwork("VAE", title="star")
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live_server.url}/explore/", timeout=60_000)
    page.wait_for_selector("#latent-scatter.js-plotly-plot .main-svg")
    # The phone layout is applied once plotly drew the map: the legend lies under the plot.
    page.wait_for_function(
        "document.getElementById('latent-scatter').layout.legend.orientation === 'h'"
    )
    plot_area = _box(page, "#latent-scatter .draglayer .nsewdrag")
    assert plot_area["height"] > 300
    assert plot_area["width"] > 250  # was about 110 px beside a vertical legend
    legend = _box(page, "#latent-scatter .legend")
    assert legend["y"] >= plot_area["y"] + plot_area["height"]
    # ... and the whole figure, legend included, stays inside its card.
    card, figure = _box(page, "main .card"), _box(page, "#latent-scatter .main-svg")
    assert figure["y"] + figure["height"] <= card["y"] + card["height"]
    assert legend["y"] + legend["height"] <= card["y"] + card["height"]
    # plotly's toolbar shows on touch/hover; it must not cover the map's title.
    page.hover("#latent-scatter .nsewdrag")
    toolbar = page.locator("#latent-scatter .modebar")
    toolbar.wait_for(state="visible")
    toolbar_box, title = toolbar.bounding_box(), _box(page, "#latent-scatter .gtitle")
    assert toolbar_box["y"] + toolbar_box["height"] <= title["y"]
    # The page header and the projection form sit above the map, not on it.
    assert (
        _box(page, "main form")["y"] + _box(page, "main form")["height"]
        <= _box(page, "#latent-scatter")["y"]
    )
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    screenshot(page, "explore-phone")
    assert page.js_errors == []


def test_spinners_show_while_the_preview_and_a_new_map_are_drawn(live_server, page):
    """The preview request is held in the browser, the map form kept from leaving the page,
    so the waiting state can be seen for sure."""
    held = []
    page.route("**/generate/VAE.png?*", lambda route: held.append(route))
    page.goto(f"{live_server.url}/create/")
    spinner = page.locator("[data-preview-spinner]")
    expect(spinner).to_be_visible()
    assert page.locator("[data-preview]").get_attribute("aria-busy") == "true"
    for route in held:
        route.continue_()
    page.unroute("**/generate/VAE.png?*")
    page.wait_for_function(f"() => ({IMAGE_LOADED})(document.querySelector('#preview'))")
    expect(spinner).to_be_hidden()
    assert page.locator("[data-preview]").get_attribute("aria-busy") is None

    make_artwork("VAE", title="star")
    page.goto(f"{live_server.url}/explore/", timeout=60_000)
    page.wait_for_selector("#latent-scatter.js-plotly-plot .main-svg")
    page.select_option("#projection-form select[name=method]", "tsne")
    # The page's own submit handler runs first; this one then keeps the browser on the page,
    # so the waiting state can be looked at.
    page.eval_on_selector(
        "#projection-form", "form => form.addEventListener('submit', e => e.preventDefault())"
    )
    page.click("#projection-form button[type=submit]")
    expect(page.locator("[data-map-spinner]")).to_be_visible()
    expect(page.locator("[data-map-status]")).to_contain_text("t-SNE map")
    assert page.locator("#projection-form button[type=submit]").is_disabled()
    page.eval_on_selector("#projection-form", "form => form.submit()")  # no handlers run
    page.wait_for_url("**/explore/?method=tsne", timeout=60_000)
    page.wait_for_selector("#latent-scatter.js-plotly-plot .main-svg", timeout=60_000)
    expect(page.locator("[data-map-spinner]")).to_be_hidden()
    assert page.locator("[data-map-status]").inner_text() == ""
    assert page.js_errors == []
