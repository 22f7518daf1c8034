"""Saving a style variation to the gallery, and the gallery pages still working afterwards."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from django.db import DatabaseError, IntegrityError, transaction
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


def test_saving_a_variation_stores_a_style_artwork_with_its_latent_code(
    client: Client, done_style: Style
) -> None:
    response = client.post(save_url(done_style, 2))
    assert response.status_code == 302
    assert response.url.endswith("#variation-3")
    artwork = GeneratedArtwork.objects.get()
    assert artwork.title == "Warm test variation 3"
    assert artwork.generation_method == "STYLE"
    assert artwork.style == done_style and artwork.variation_index == 2
    # Which weights made it: the style's file, by name and fingerprint.
    assert artwork.checkpoint_name == done_style.style_file.name
    assert artwork.checkpoint_fingerprint == checkpoints.fingerprint(done_style.style_file.path)
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


def test_saving_the_same_variation_twice_stores_it_once(
    client: Client, done_style: Style, media_files
) -> None:
    first = client.post(save_url(done_style, 5), HTTP_ACCEPT="application/json").json()
    files = media_files()
    second = client.post(save_url(done_style, 5), HTTP_ACCEPT="application/json").json()
    assert first["created"] is True and second["created"] is False
    assert second["artwork_id"] == first["artwork_id"]
    assert GeneratedArtwork.objects.count() == 1 and media_files() == files
    again = client.post(save_url(done_style, 5))
    assert "is already in the gallery" in client.get(again.url).content.decode()
    client.post(save_url(done_style, 6))
    assert GeneratedArtwork.objects.count() == 2  # another variation is another artwork


def test_a_double_post_racing_past_the_check_still_stores_one(
    client: Client, done_style: Style, media_files, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two requests that both find no artwork yet: the unique constraint lets one row in, the
    other answers that row and leaves no orphan file."""
    client.post(save_url(done_style, 3))
    files = media_files()
    real_filter = GeneratedArtwork.objects.filter

    class NothingYet:
        def first(self) -> None:
            return None

    monkeypatch.setattr(
        GeneratedArtwork.objects,
        "filter",
        lambda *a, **k: NothingYet() if "variation_index" in k else real_filter(*a, **k),
    )
    racer = client.post(save_url(done_style, 3), HTTP_ACCEPT="application/json")
    assert racer.status_code == 200 and racer.json()["created"] is False
    assert GeneratedArtwork.objects.count() == 1 and media_files() == files


def test_the_database_refuses_a_second_row_for_one_variation(done_style: Style) -> None:
    artwork, created = services.save_variation(done_style, 0)
    assert created
    with pytest.raises(IntegrityError), transaction.atomic():
        GeneratedArtwork.objects.create(
            title="copy",
            generation_method="STYLE",
            image_file=artwork.image_file.name,
            latent_vector=artwork.latent_vector,
            style=done_style,
            variation_index=0,
        )


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
    """A style's 16-number code is its own kind: counted apart, never on the VAE's map."""
    client.post(save_url(done_style, 0))
    style_art = GeneratedArtwork.objects.get()
    digit_art = _digit_artwork()
    index = client.get(reverse("gallery:index"))
    page = index.content.decode()
    assert index.status_code == 200 and "Warm test variation 1" in page
    assert dict((code, count) for code, _, count in index.context["stats"]) == {
        "VAE": 1,
        "GAN": 0,
        "AUTOENCODER": 0,
        "FLOW": 0,
        "STYLE": 1,
    }
    # Only the digit artwork can be picked for morphing.
    assert f'id="pick-{digit_art.pk}"' in page and f'id="pick-{style_art.pk}"' not in page
    explore = client.get(reverse("gallery:explore"))
    assert explore.status_code == 200
    assert explore.context["map"].artworks_plotted == 1
    assert explore.context["map"].artworks_skipped == 0
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


def test_morphing_a_style_artwork_says_it_comes_from_the_style_studio(
    client: Client, done_style: Style, mnist_vae: None
) -> None:
    client.post(save_url(done_style, 0))
    style_art = GeneratedArtwork.objects.get()
    digit_art = _digit_artwork()
    for first, second in ((style_art, digit_art), (digit_art, style_art)):
        morph = client.get(reverse("gallery:interpolate", args=[first.pk, second.pk]))
        assert morph.status_code == 409
        message = morph.context["error"]
        assert message.startswith(f"#{style_art.pk} is a variation saved from the style studio")
        assert "retrained" not in message
        assert escape(message) in morph.content.decode()

    pick = client.get(
        reverse("gallery:interpolate_pick"), {"first": style_art.pk, "second": digit_art.pk}
    )
    assert pick.status_code == 400
    assert "is a style-studio variation, which the gallery cannot morph" in pick.content.decode()
    assert (
        f'value="{style_art.pk}"'
        not in client.get(reverse("gallery:interpolate_pick")).content.decode()
    )


def test_two_style_artworks_are_not_morphed_by_the_gallery(
    client: Client, done_style: Style, mnist_vae: None
) -> None:
    client.post(save_url(done_style, 0))
    client.post(save_url(done_style, 1))
    first, second = GeneratedArtwork.objects.order_by("pk")
    morph = client.get(reverse("gallery:interpolate", args=[first.pk, second.pk]))
    assert morph.status_code == 409
    message = morph.context["error"]
    assert message.startswith(f"#{first.pk} and #{second.pk} are variations saved from the style")
    assert "retrained" not in message
