"""Saving a style variation to the gallery, and the gallery pages still working afterwards."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from django.db import DatabaseError
from django.test import Client
from django.urls import reverse
from django.utils.html import escape
from PIL import Image

from course_lib import checkpoints
from course_lib import styles as course_styles
from course_lib.models import VariationalAutoencoder
from gallery import generation
from gallery.models import GeneratedArtwork
from styles import services
from styles.models import Style, StyleStatus

pytestmark = pytest.mark.django_db


def save_url(style: Style, index: int) -> str:
    return reverse("styles:save_variation", args=[style.pk, index])


def test_variation_codes_are_the_ones_course_lib_samples(trained_style_file: Path) -> None:
    model = course_styles.load_style(trained_style_file).model
    codes = services.variation_codes(model)
    expected = course_styles.variations(model, services.N_VARIATIONS, seed=services.VARIATION_SEED)
    with torch.no_grad():
        assert torch.equal(model.decode(codes), expected)


def test_saving_a_variation_stores_a_vae_artwork_with_its_latent_code(
    client: Client, done_style: Style
) -> None:
    response = client.post(save_url(done_style, 2))
    assert response.status_code == 302
    assert response.url.endswith("#variation-3")
    artwork = GeneratedArtwork.objects.get()
    assert artwork.title == "Warm test variation 3"
    assert artwork.generation_method == "VAE"
    model = services.get_trained(done_style).model
    expected = services.variation_codes(model)[2]
    assert artwork.latent_vector == pytest.approx(expected.tolist())
    assert Path(artwork.image_file.path).is_file()
    with artwork.image_file.open("rb") as handle:
        assert Image.open(handle).size == (224, 224)
    page = client.get(response.url).content.decode()
    assert "Saved &quot;Warm test variation 3&quot; to the gallery." in page


def test_saving_answers_json_to_a_fetch(client: Client, done_style: Style) -> None:
    response = client.post(save_url(done_style, 0), HTTP_ACCEPT="application/json")
    data = response.json()
    artwork = GeneratedArtwork.objects.get()
    assert data["success"] is True and data["artwork_id"] == artwork.pk
    assert data["image_url"] == artwork.image_file.url
    assert data["gallery_url"] == reverse("gallery:index")


def test_the_same_index_saves_the_same_image(client: Client, done_style: Style) -> None:
    client.post(save_url(done_style, 5))
    client.post(save_url(done_style, 5))
    first, second = GeneratedArtwork.objects.all()
    assert first.latent_vector == second.latent_vector
    assert first.image_file.read() == second.image_file.read()


def test_an_index_out_of_range_is_refused(client: Client, done_style: Style, media_files) -> None:
    before = media_files()
    response = client.post(save_url(done_style, 16), HTTP_ACCEPT="application/json")
    assert response.status_code == 400
    assert response.json()["error"] == "Variation numbers run from 1 to 16."
    html_response = client.post(save_url(done_style, 99))
    assert html_response.status_code == 400
    assert "Variation numbers run from 1 to 16." in html_response.content.decode()
    assert not GeneratedArtwork.objects.exists() and media_files() == before


def test_a_style_still_training_cannot_be_saved(client: Client) -> None:
    style = Style.objects.create(name="Busy", status=StyleStatus.RUNNING)
    response = client.post(save_url(style, 0), HTTP_ACCEPT="application/json")
    assert response.status_code == 409
    assert "not finished training" in response.json()["error"]
    assert client.get(save_url(style, 0)).status_code == 405
    assert client.post(reverse("styles:save_variation", args=[999, 0])).status_code == 404


def test_a_failed_save_leaves_no_artwork_and_no_file(
    client: Client, done_style: Style, media_files, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = media_files()

    def fail(*args, **kwargs):
        raise DatabaseError("database is locked")

    monkeypatch.setattr(GeneratedArtwork, "save", fail)
    response = client.post(save_url(done_style, 1), HTTP_ACCEPT="application/json")
    assert response.status_code == 503
    assert not GeneratedArtwork.objects.exists()
    assert media_files() == before


@pytest.fixture
def mnist_vae(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A tiny untrained MNIST VAE under the gallery's checkpoint name (latent size 4, not 16)."""
    checkpoints.save(
        VariationalAutoencoder(hidden_dim=16, latent_dim=4),
        tmp_path / "data" / "checkpoints" / f"{generation.CHECKPOINTS['VAE']}.pt",
    )
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setattr(generation, "EXPLORER_SAMPLES", 60)
    generation.clear_cache()
    yield
    generation.clear_cache()


def test_the_gallery_pages_still_work_with_a_style_artwork(
    client: Client, done_style: Style, mnist_vae: None
) -> None:
    """A style's 16-number code does not fit the MNIST VAE: the gallery skips it, never a 500."""
    client.post(save_url(done_style, 0))
    style_art = GeneratedArtwork.objects.get()
    digit = generation.generate("VAE", 1.0, seed=0)
    digit_art = GeneratedArtwork.objects.create_with_image(
        title="digit",
        generation_method="VAE",
        png_bytes=digit.png_bytes,
        latent_vector=digit.latent_vector,
    )
    index = client.get(reverse("gallery:index"))
    assert index.status_code == 200 and "Warm test variation 1" in index.content.decode()
    explore = client.get(reverse("gallery:explore"))
    assert explore.status_code == 200
    assert explore.context["map"].artworks_plotted == 1
    assert explore.context["map"].artworks_skipped == 1
    morph = client.get(reverse("gallery:interpolate", args=[style_art.pk, digit_art.pk]))
    assert morph.status_code == 409


def _digit_artwork() -> GeneratedArtwork:
    digit = generation.generate("VAE", 1.0, seed=0)
    return GeneratedArtwork.objects.create_with_image(
        title="digit",
        generation_method="VAE",
        png_bytes=digit.png_bytes,
        latent_vector=digit.latent_vector,
    )


def test_morphing_a_style_artwork_with_a_digit_says_they_come_from_different_models(
    client: Client, done_style: Style, mnist_vae: None
) -> None:
    """Both are stored as VAE artworks, but their codes come from two models (16 numbers from
    the style's VAE, 4 from the gallery's): the message says so, not "was it retrained?"."""
    client.post(save_url(done_style, 0))
    style_art = GeneratedArtwork.objects.get()
    digit_art = _digit_artwork()
    for first, second in ((style_art, digit_art), (digit_art, style_art)):
        morph = client.get(reverse("gallery:interpolate", args=[first.pk, second.pk]))
        assert morph.status_code == 409
        message = morph.context["error"]
        assert message.startswith("These artworks come from different models:")
        sizes = {style_art.pk: 16, digit_art.pk: 4}
        assert (
            f"#{first.pk}'s latent code has {sizes[first.pk]} numbers and "
            f"#{second.pk}'s has {sizes[second.pk]} numbers"
        ) in message
        assert "Variations saved from the style studio" in message
        assert "retrained" not in message
        assert escape(message) in morph.content.decode()

    pick = client.get(
        reverse("gallery:interpolate_pick"), {"first": style_art.pk, "second": digit_art.pk}
    )
    assert pick.status_code == 400
    assert "These artworks come from different models" in pick.content.decode()


def test_two_style_artworks_are_explained_as_made_by_another_model(
    client: Client, done_style: Style, mnist_vae: None
) -> None:
    client.post(save_url(done_style, 0))
    client.post(save_url(done_style, 1))
    first, second = GeneratedArtwork.objects.order_by("pk")
    morph = client.get(reverse("gallery:interpolate", args=[first.pk, second.pk]))
    assert morph.status_code == 409
    message = morph.context["error"]
    assert "has 16 numbers but the current model's latent space has 4" in message
    assert "another model made it (a style-studio style" in message
    assert "retrained" not in message
