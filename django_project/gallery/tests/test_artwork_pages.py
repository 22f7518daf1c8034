"""The pages a learner shows: one artwork (download, morph partners, neighbours) and the morph
as an animated GIF. Hostile ids and methods for the new endpoints are fuzzed at the end."""

from __future__ import annotations

import io
import re

import numpy as np
import pytest
from django.test import Client
from django.urls import reverse
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image, ImageSequence

from course_lib import imaging
from gallery import generation, views
from gallery.models import GeneratedArtwork, GenerationMethod
from gallery_site.testing.fuzzing import (
    assert_method_not_allowed,
    assert_refused,
    describe,
    fuzz_settings,
    snapshot,
)
from styles.models import Style

pytestmark = pytest.mark.django_db


@pytest.fixture
def client() -> Client:
    """A client that turns a view's exception into the 500 a visitor would get, not a raise."""
    return Client(raise_request_exception=False)


def _page(artwork_id: int) -> str:
    return reverse("gallery:artwork", args=[artwork_id])


def _style_artwork(style: Style, index: int, code: list[float]) -> GeneratedArtwork:
    """A style-studio variation as the style page saves it (a 16-number code, its own model)."""
    return GeneratedArtwork.objects.create_with_image(
        title=f"{style.name} {index}",
        generation_method=GenerationMethod.STYLE,
        png_bytes=imaging.to_png_bytes(np.full((28, 28), index / 10)),
        latent_vector=code,
        checkpoint_name=f"style-{style.pk}",
        checkpoint_fingerprint=f"{style.pk:016x}",
        style=style,
        variation_index=index,
    )


# --- the artwork page -------------------------------------------------------------------------


def test_artwork_page_shows_the_image_large_with_everything_a_learner_needs(client, make_artwork):
    artwork = make_artwork("GAN", title="Night digit")
    response = client.get(_page(artwork.pk))
    assert response.status_code == 200
    html = response.content.decode()
    assert "<title>Night digit" in html
    assert re.search(r'<h1[^>]*>\s*<span class="text-break">Night digit</span>', html)
    large = re.search(r'<img src="([^"]+)" class="artwork-large pixelated[^"]*"', html)
    assert large and large.group(1) == artwork.image_file.url
    assert 'class="badge method-badge method-gan"' in html
    assert f'datetime="{artwork.creation_timestamp:%Y-%m-%dT%H:%M:%S}' in html
    assert reverse("gallery:like", args=[artwork.pk]) in html and 'aria-pressed="false"' in html
    assert f'href="{reverse("gallery:download", args=[artwork.pk])}" download' in html
    assert artwork.checkpoint_fingerprint in html
    assert "gallery/gallery.js" in html and "csrfmiddlewaretoken" in html  # the like's POST


def test_a_liked_artwork_shows_its_button_pressed_on_its_page(client, make_artwork):
    artwork = make_artwork()
    client.post(reverse("gallery:like", args=[artwork.pk]))
    html = client.get(_page(artwork.pk)).content.decode()
    assert re.search(
        r'aria-pressed="true" disabled>\s*<span aria-hidden="true">&hearts;</span> '
        r"<span data-likes>1</span>",
        html,
    )


def test_every_gallery_card_links_to_its_artwork_page(client, make_artwork):
    artworks = [make_artwork(m, seed=i) for i, m in enumerate(["VAE", "GAN", "AUTOENCODER"])]
    html = client.get(reverse("gallery:index")).content.decode()
    for artwork in artworks:
        card = html[html.index(f'id="artwork-{artwork.pk}"') :]
        card = card[: card.index("</article>")]
        assert card.count(f'href="{_page(artwork.pk)}"') == 2  # the picture and the title


def test_morph_partners_are_the_same_models_artworks_only(client, make_artwork):
    artwork = make_artwork("VAE", seed=0)
    same = [make_artwork("VAE", seed=s) for s in (1, 2)]
    make_artwork("GAN", seed=3)
    other_weights = make_artwork("VAE", seed=4)
    GeneratedArtwork.objects.filter(pk=other_weights.pk).update(checkpoint_fingerprint="0" * 16)
    other_size = make_artwork("VAE", seed=5)
    GeneratedArtwork.objects.filter(pk=other_size.pk).update(latent_vector=[0.0] * 32)

    response = client.get(_page(artwork.pk))
    assert [a.pk for a in response.context["partners"]] == [a.pk for a in reversed(same)]
    links = re.findall(r'href="/interpolate/(\d+)/(\d+)/"', response.content.decode())
    assert links == [(str(artwork.pk), str(a.pk)) for a in reversed(same)]
    for partner in same:  # each link really morphs
        url = reverse("gallery:interpolate", args=[artwork.pk, partner.pk])
        assert client.get(url).status_code == 200


def test_an_artwork_alone_offers_no_partner_nor_neighbour_but_says_so(client, make_artwork):
    artwork = make_artwork("AUTOENCODER")
    response = client.get(_page(artwork.pk))
    assert response.context["partners"] == [] and response.context["neighbours"] == []
    html = response.content.decode()
    assert 'id="morph-partners"' not in html and 'id="no-neighbours"' in html


def test_more_like_this_lists_the_nearest_codes_of_the_same_method_in_order(
    client, make_artwork, monkeypatch
):
    monkeypatch.setattr(views, "NEIGHBOURS", 4)
    artwork = make_artwork("VAE", seed=0)
    others = [make_artwork("VAE", seed=s) for s in range(1, 8)]
    gan = make_artwork("GAN", seed=1)
    GeneratedArtwork.objects.filter(pk=gan.pk).update(latent_vector=artwork.latent_vector[:4])
    broken = make_artwork("VAE", seed=99)
    GeneratedArtwork.objects.filter(pk=broken.pk).update(latent_vector=["x"] * 4)

    target = np.array(artwork.latent_vector)
    distance = {a.pk: float(np.linalg.norm(np.array(a.latent_vector) - target)) for a in others}
    expected = sorted(distance, key=distance.get)[:4]

    response = client.get(_page(artwork.pk))
    found = response.context["neighbours"]
    assert [a.pk for a, _ in found] == expected
    assert [d for _, d in found] == pytest.approx([distance[pk] for pk in expected])
    html = response.content.decode()
    assert re.findall(r'data-neighbour="(\d+)"', html) == [str(pk) for pk in expected]
    assert f"distance {distance[expected[0]]:.2f}" in html


def test_style_variations_find_neighbours_only_among_their_own_style(client, make_artwork):
    stripes, dots = Style.objects.create(name="stripes"), Style.objects.create(name="dots")
    mine = _style_artwork(stripes, 0, [0.0] * 16)
    near_other_style = _style_artwork(dots, 0, [0.0] * 16)  # the same code, another model
    GeneratedArtwork.objects.filter(pk=near_other_style.pk).update(
        checkpoint_fingerprint=mine.checkpoint_fingerprint
    )
    siblings = [_style_artwork(stripes, i, [float(i)] * 16) for i in (3, 1, 2)]
    make_artwork("VAE")

    response = client.get(_page(mine.pk))
    assert [a.pk for a, _ in response.context["neighbours"]] == [
        siblings[1].pk,
        siblings[2].pk,
        siblings[0].pk,
    ]
    assert response.context["partners"] == []  # the gallery cannot morph style variations
    html = response.content.decode()
    assert "cannot morph" in html and "/interpolate/" not in html.split("<main")[1]
    assert 'class="badge method-badge method-style"' in html
    assert reverse("styles:detail", args=[stripes.pk]) in html


def test_nearest_codes_skips_codes_it_cannot_compare():
    candidates = [
        (1, [0.0, 3.0]),
        (2, [1.0, 0.0]),
        (3, [0.0]),
        (4, "x"),
        (5, [10**400, 0]),
        (6, [float("nan"), 0.0]),
        (7, [2.0, 0.0]),
    ]
    assert generation.nearest_codes([0.0, 0.0], candidates, 5) == [(2, 1.0), (7, 2.0), (1, 3.0)]
    assert generation.nearest_codes([0.0, 0.0], candidates, 1) == [(2, 1.0)]
    assert generation.nearest_codes("junk", candidates, 5) == []
    assert generation.nearest_codes([0.0, 0.0], [], 5) == []


# --- Download PNG -----------------------------------------------------------------------------


def test_download_serves_the_stored_png_as_an_attachment_named_after_the_title(
    client, make_artwork, media_root
):
    artwork = make_artwork("VAE", title="Night digit: #1")
    response = client.get(reverse("gallery:download", args=[artwork.pk]))
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert response["Content-Disposition"] == (
        f'attachment; filename="night-digit-1-{artwork.pk}.png"'
    )
    body = b"".join(response.streaming_content)
    assert body == (media_root / artwork.image_file.name).read_bytes()
    assert Image.open(io.BytesIO(body)).size == (224, 224)


def test_download_of_an_untitled_or_unicode_title_still_gets_a_plain_file_name(
    client, make_artwork
):
    artwork = make_artwork("GAN", title="\U0001f3a8\U0001f3a8")
    response = client.get(reverse("gallery:download", args=[artwork.pk]))
    assert response["Content-Disposition"] == f'attachment; filename="artwork-{artwork.pk}.png"'


def test_download_of_a_vanished_file_is_a_404_that_says_so(client, make_artwork, media_root):
    artwork = make_artwork("VAE")
    (media_root / artwork.image_file.name).unlink()
    before = snapshot()
    response = client.get(reverse("gallery:download", args=[artwork.pk]))
    assert_refused(response, before, json=False, status=404, says=["missing from the media"])


# --- the morph as an animated GIF -------------------------------------------------------------


def test_morph_gif_runs_there_and_back_and_matches_the_strip(client, make_artwork):
    a, b = make_artwork("VAE", seed=1), make_artwork("VAE", seed=2)
    before = snapshot()
    response = client.get(reverse("gallery:morph_gif", args=[a.pk, b.pk]))
    assert response.status_code == 200, describe(response)
    assert response["Content-Type"] == "image/gif"
    assert response["Content-Disposition"] == f'attachment; filename="morph-{a.pk}-{b.pk}.gif"'
    assert snapshot() == before  # nothing stored

    gif = Image.open(io.BytesIO(response.content))
    assert gif.format == "GIF" and gif.is_animated and gif.info["loop"] == 0
    steps = generation.INTERPOLATION_STEPS
    assert gif.n_frames == 2 * steps - 2
    frames = [np.asarray(frame.convert("L")) for frame in ImageSequence.Iterator(gif)]
    strip = [
        np.asarray(Image.open(io.BytesIO(png)).convert("L"))
        for png in generation.interpolate("VAE", a.latent_vector, b.latent_vector)
    ]
    # Forward through every step, then back without repeating either end.
    order = list(range(steps)) + list(range(steps - 2, 0, -1))
    for frame, step in zip(frames, order, strict=True):
        assert np.abs(frame.astype(int) - strip[step]).max() <= 1  # GIF's palette rounding


def test_morph_gif_refuses_what_the_strip_refuses(client, make_artwork, retrain_vae):
    vae, gan = make_artwork("VAE"), make_artwork("GAN", seed=1)
    style = _style_artwork(Style.objects.create(name="s"), 0, [0.0] * 16)
    cases = [
        ((vae.pk, gan.pk), 400, "different models"),
        ((vae.pk, style.pk), 409, "style studio"),
    ]
    for ids, status, says in cases:
        before = snapshot()
        response = client.get(reverse("gallery:morph_gif", args=ids))
        assert_refused(response, before, json=False, status=status, says=[says])
    other = make_artwork("VAE", seed=2)
    retrain_vae()
    before = snapshot()
    response = client.get(reverse("gallery:morph_gif", args=[vae.pk, other.pk]))
    assert_refused(response, before, json=False, status=409, says=["was retrained"])


def test_morph_gif_without_the_model_is_the_503_page(client, make_artwork, monkeypatch, tmp_path):
    a, b = make_artwork("GAN"), make_artwork("GAN", seed=1)
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "nothing"))
    generation.clear_cache()
    response = client.get(reverse("gallery:morph_gif", args=[a.pk, b.pk]))
    assert response.status_code == 503 and "train_models" in response.content.decode()


# --- the morph player on the interpolation page -----------------------------------------------


def test_interpolation_page_is_a_player_with_one_row_of_frames(client, make_artwork):
    a, b = make_artwork("VAE", seed=1), make_artwork("VAE", seed=2)
    html = client.get(reverse("gallery:interpolate", args=[a.pk, b.pk])).content.decode()
    steps = generation.INTERPOLATION_STEPS
    assert html.count('class="morph-frame"') == steps
    assert f'style="--frames: {steps}"' in html  # one grid column per frame: a single row
    assert f'max="{steps - 1}"' in html and 'type="range"' in html and "data-morph-play" in html
    gif_url = reverse("gallery:morph_gif", args=[a.pk, b.pk])
    assert f'href="{gif_url}" download' in html
    assert "gallery/morph.js" in html


def test_create_page_offers_candidates_through_one_include(client):
    html = client.get(reverse("gallery:create")).content.decode()
    assert "Show 8 candidates" in html and "gallery/candidates.js" in html
    assert f'data-preview-url="{reverse("gallery:preview", args=["METHOD"])}"' in html


# --- hostile ids and methods ------------------------------------------------------------------

ids = st.one_of(st.integers(min_value=0, max_value=10**25), st.just(2**63))


@fuzz_settings(30)
@given(artwork_id=ids)
def test_unknown_artwork_ids_are_404_pages_naming_the_id(client, artwork_id):
    GeneratedArtwork.objects.filter(pk=artwork_id).delete()
    for name in ("artwork", "download"):
        before = snapshot()
        response = client.get(reverse(f"gallery:{name}", args=[artwork_id]))
        assert_refused(response, before, json=False, status=404, says=[f"#{artwork_id}"])


@fuzz_settings(20)
@given(first=ids, second=ids)
def test_morph_gif_of_unknown_ids_is_a_404_naming_the_missing_one(
    client, make_artwork, first, second
):
    known = GeneratedArtwork.objects.first() or make_artwork("GAN")
    pair = [known.pk if first % 2 == 0 else first + known.pk + 1, second + known.pk + 1]
    missing = next(i for i in pair if i != known.pk)
    before = snapshot()
    response = client.get(reverse("gallery:morph_gif", args=pair))
    assert_refused(response, before, json=False, status=404, says=[f"no artwork #{missing}"])


@pytest.mark.parametrize(
    "path",
    ["/artworks/-1/", "/artworks/abc/", "/artworks/1.5/download/", "/interpolate/1/x/morph.gif"],
)
def test_paths_that_are_not_ids_are_404(client, path):
    before = snapshot()
    assert_refused(client.get(path), before, json=False, status=404, says=["There is no page at"])


@fuzz_settings(20)
@given(params=st.lists(st.tuples(st.text(max_size=20), st.text(max_size=20)), max_size=4))
def test_artwork_page_and_download_ignore_query_parameters(client, make_artwork, params):
    artwork = GeneratedArtwork.objects.first() or make_artwork("VAE")
    for name in ("artwork", "download"):
        response = client.get(reverse(f"gallery:{name}", args=[artwork.pk]), dict(params))
        assert response.status_code == 200, describe(response)


@pytest.mark.parametrize(
    ("name", "args"), [("artwork", [1]), ("download", [1]), ("morph_gif", [1, 2])]
)
def test_new_endpoints_allow_only_get(client, name, args):
    refused = assert_method_not_allowed(
        client, reverse(f"gallery:{name}", args=args), ["GET", "HEAD"], json=False
    )
    assert "POST" in refused and "DELETE" in refused
