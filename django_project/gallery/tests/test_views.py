"""Every page and endpoint, including bad input, CSRF, failures and the model cache."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.db import DatabaseError
from django.test import Client
from django.urls import reverse

from course_lib import checkpoints
from gallery import generation, views
from gallery.models import GeneratedArtwork

pytestmark = pytest.mark.django_db

CREATE = reverse("gallery:create")


def _files(media_root: Path) -> list[Path]:
    return [p for p in media_root.rglob("*") if p.is_file()]


# --- index ------------------------------------------------------------------------------------


def test_empty_gallery_invites_to_create(client):
    response = client.get(reverse("gallery:index"))
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="empty-gallery"' in html and f'href="{CREATE}"' in html
    assert 'data-count="total">0<' in html


def test_index_shows_cards_counts_and_like_buttons(client, make_artwork):
    artworks = [make_artwork(m, seed=i) for i, m in enumerate(["VAE", "VAE", "GAN", "AUTOENCODER"])]
    html = client.get(reverse("gallery:index")).content.decode()
    for code, count in {"VAE": 2, "GAN": 1, "AUTOENCODER": 1, "total": 4}.items():
        assert f'data-count="{code}">{count}<' in html
    for artwork in artworks:
        assert artwork.image_file.url in html
        assert reverse("gallery:like", args=[artwork.pk]) in html
    assert 'class="card-img-top pixelated' in html
    assert "csrfmiddlewaretoken" in html  # the like buttons' fetch needs the token
    assert "gallery/gallery.js" in html


def test_index_lists_only_the_latest_50(client):
    GeneratedArtwork.objects.bulk_create(
        GeneratedArtwork(
            title=f"art {i}", generation_method="GAN", image_file=f"x{i}.png", latent_vector=[0.0]
        )
        for i in range(53)
    )
    response = client.get(reverse("gallery:index"))
    assert len(response.context["artworks"]) == 50
    assert response.content.decode().count("<article") == 50
    assert 'data-count="total">53<' in response.content.decode()


# --- create -----------------------------------------------------------------------------------


def test_create_page_documents_the_creativity_range(client):
    html = client.get(CREATE).content.decode()
    assert 'type="range"' in html and 'min="0.1"' in html and 'max="2.0"' in html
    assert "0.1 gives the plainest, most typical digits" in html
    assert "2.0 gives wild ones" in html and "N(0, I)" not in html
    for code in ("VAE", "GAN", "AUTOENCODER", "FLOW"):
        assert f'value="{code}"' in html
    assert 'id="create-form"' in html and "csrfmiddlewaretoken" in html


@pytest.mark.parametrize("method", ["VAE", "GAN", "AUTOENCODER"])
def test_create_stores_an_artwork(client, tiny_models, media_root, method):
    response = client.post(CREATE, {"method": method, "creativity": "0.7"})
    assert response.status_code == 200
    data = response.json()
    artwork = GeneratedArtwork.objects.get()
    assert data["success"] is True and data["artwork_id"] == artwork.pk
    assert data["image_url"] == artwork.image_file.url
    assert data["image_url"].startswith("/media/generated_art/")
    assert data["method"] == method and data["likes"] == 0
    assert data["title"].startswith("AI Creation ")
    assert (media_root / artwork.image_file.name).is_file()
    assert (
        generation.decode_latent(method, artwork.latent_vector)
        == (media_root / artwork.image_file.name).read_bytes()
    )


def test_create_records_which_checkpoint_made_the_artwork(client, tiny_models):
    client.post(CREATE, {"method": "GAN", "creativity": "1"})
    artwork = GeneratedArtwork.objects.get()
    path = tiny_models / "checkpoints" / "cgan_mnist5k.pt"
    assert artwork.checkpoint_name == generation.CHECKPOINTS["GAN"] == path.stem
    assert artwork.checkpoint_fingerprint == checkpoints.fingerprint(path)


def test_create_keeps_a_given_title(client, tiny_models):
    client.post(CREATE, {"method": "GAN", "creativity": "1", "title": "  Night digits "})
    assert GeneratedArtwork.objects.get().title == "Night digits"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"method": "VAE", "creativity": "nan"}, "creativity"),
        ({"method": "VAE", "creativity": "inf"}, "creativity"),
        ({"method": "VAE", "creativity": "abc"}, "creativity"),
        ({"method": "VAE", "creativity": "5"}, "creativity"),
        ({"method": "VAE", "creativity": "0.05"}, "creativity"),
        ({"method": "VAE"}, "creativity"),
        ({"method": "DIFFUSION", "creativity": "1"}, "method"),
        ({"creativity": "1"}, "method"),
    ],
)
def test_create_rejects_bad_input_with_400(client, tiny_models, media_root, payload, field):
    response = client.post(CREATE, payload)
    assert response.status_code == 400
    data = response.json()
    assert data["success"] is False and data["errors"][field]
    assert GeneratedArtwork.objects.count() == 0 and _files(media_root) == []


def test_create_without_models_is_503_with_instructions(client, no_models):
    response = client.post(CREATE, {"method": "VAE", "creativity": "1"})
    assert response.status_code == 503
    data = response.json()
    assert data["success"] is False and "python manage.py train_models" in data["error"]
    assert GeneratedArtwork.objects.count() == 0


def test_create_db_failure_leaves_no_row_and_no_file(client, tiny_models, media_root, monkeypatch):
    def broken_save(*args, **kwargs):
        raise DatabaseError("database is locked")

    monkeypatch.setattr(GeneratedArtwork, "save_base", broken_save)
    response = client.post(CREATE, {"method": "GAN", "creativity": "1"})
    assert response.status_code == 503 and response.json()["success"] is False
    assert GeneratedArtwork.objects.count() == 0
    assert _files(media_root) == []


def test_create_file_failure_leaves_no_row(client, tiny_models, media_root, monkeypatch):
    from django.core.files.storage import FileSystemStorage

    def broken_save(*args, **kwargs):
        raise OSError("No space left on device")

    monkeypatch.setattr(FileSystemStorage, "_save", broken_save)
    response = client.post(CREATE, {"method": "VAE", "creativity": "1"})
    assert response.status_code == 503
    assert GeneratedArtwork.objects.count() == 0 and _files(media_root) == []


def test_create_only_get_and_post(client):
    assert client.put(CREATE).status_code == 405


def test_a_hundred_requests_load_each_model_once(client, tiny_models):
    methods = ["VAE", "GAN", "AUTOENCODER"]
    for i in range(100):
        response = client.post(CREATE, {"method": methods[i % 3], "creativity": "1.0"})
        assert response.status_code == 200
    assert [generation.load_count(m) for m in methods] == [1, 1, 1]
    assert GeneratedArtwork.objects.count() == 100


# --- likes ------------------------------------------------------------------------------------


def test_like_increments_and_answers_json(client, make_artwork):
    artwork = make_artwork()
    url = reverse("gallery:like", args=[artwork.pk])
    assert client.post(url).json() == {"success": True, "likes": 1, "already_liked": False}
    artwork.refresh_from_db()
    assert artwork.likes == 1


def test_one_like_per_visitor_and_artwork(client, make_artwork):
    first, second = make_artwork(seed=1), make_artwork(seed=2)
    url = reverse("gallery:like", args=[first.pk])
    assert client.post(url).json()["likes"] == 1
    # The same visitor again: no error, the unchanged count, and why it did not move.
    again = client.post(url)
    assert again.status_code == 200
    assert again.json() == {"success": True, "likes": 1, "already_liked": True}
    # Another artwork is another like; another visitor (a new session) adds theirs.
    assert client.post(reverse("gallery:like", args=[second.pk])).json()["likes"] == 1
    assert Client().post(url).json() == {"success": True, "likes": 2, "already_liked": False}
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.likes, second.likes) == (2, 1)
    assert sorted(client.session[views.LIKED_SESSION_KEY]) == sorted([first.pk, second.pk])


def test_the_gallery_shows_what_this_visitor_liked(client, make_artwork):
    liked, other = make_artwork(seed=1), make_artwork(seed=2)
    client.post(reverse("gallery:like", args=[liked.pk]))
    html = client.get(reverse("gallery:index")).content.decode()
    buttons = dict(
        re.findall(r'data-like-url="/artworks/(\d+)/like/"\s+(aria-pressed="\w+"[^>]*)>', html)
    )
    assert buttons[str(liked.pk)] == 'aria-pressed="true" disabled'
    assert buttons[str(other.pk)] == 'aria-pressed="false"'
    # A new visitor sees every button free.
    fresh = Client().get(reverse("gallery:index")).content.decode()
    assert 'aria-pressed="true"' not in fresh


def test_a_like_of_a_missing_artwork_is_not_remembered(client):
    assert client.post(reverse("gallery:like", args=[424242])).status_code == 404
    assert views.LIKED_SESSION_KEY not in client.session


def test_like_unknown_artwork_is_404_json(client):
    response = client.post(reverse("gallery:like", args=[424242]))
    assert response.status_code == 404
    assert response.json() == {"success": False, "error": "There is no artwork #424242."}


def test_like_needs_post(client, make_artwork):
    artwork = make_artwork()
    assert client.get(reverse("gallery:like", args=[artwork.pk])).status_code == 405
    artwork.refresh_from_db()
    assert artwork.likes == 0


# --- CSRF -------------------------------------------------------------------------------------


def test_posts_without_csrf_token_are_refused(tiny_models, make_artwork):
    artwork = make_artwork()
    strict = Client(enforce_csrf_checks=True)
    assert strict.post(CREATE, {"method": "VAE", "creativity": "1"}).status_code == 403
    assert strict.post(reverse("gallery:like", args=[artwork.pk])).status_code == 403
    assert GeneratedArtwork.objects.count() == 1
    artwork.refresh_from_db()
    assert artwork.likes == 0


def test_posts_with_the_csrf_header_work(tiny_models, make_artwork):
    artwork = make_artwork()
    strict = Client(enforce_csrf_checks=True)
    strict.get(CREATE)  # sets the csrftoken cookie, as the browser's first visit does
    token = strict.cookies["csrftoken"].value
    response = strict.post(CREATE, {"method": "VAE", "creativity": "1"}, HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 200
    like = strict.post(reverse("gallery:like", args=[artwork.pk]), HTTP_X_CSRFTOKEN=token)
    assert like.json()["likes"] == 1


# --- interpolation ----------------------------------------------------------------------------


def test_interpolation_strip(client, make_artwork):
    a, b = make_artwork("AUTOENCODER", seed=1), make_artwork("AUTOENCODER", seed=2)
    response = client.get(reverse("gallery:interpolate", args=[a.pk, b.pk]))
    assert response.status_code == 200
    strip = re.search(r'id="strip"[^>]*>(.*?)</div>', response.content.decode(), re.S).group(1)
    frames = re.findall(r'<img src="data:image/png;base64,[^"]+" class="pixelated', strip)
    assert len(frames) == 12 >= 10


def test_interpolation_between_methods_is_400(client, make_artwork):
    a, b = make_artwork("VAE"), make_artwork("GAN")
    response = client.get(reverse("gallery:interpolate", args=[a.pk, b.pk]))
    assert response.status_code == 400
    assert "only artworks made by the same method" in response.content.decode()


def test_interpolation_of_missing_artwork_is_404(client, make_artwork):
    a = make_artwork()
    assert client.get(reverse("gallery:interpolate", args=[a.pk, 987654])).status_code == 404
    assert client.get(reverse("gallery:interpolate", args=[987654, a.pk])).status_code == 404


def test_interpolation_with_a_retrained_model_is_409(client, make_artwork):
    a, b = make_artwork("VAE"), make_artwork("VAE", seed=1)
    GeneratedArtwork.objects.filter(pk=b.pk).update(latent_vector=[0.0] * 32)
    response = client.get(reverse("gallery:interpolate", args=[a.pk, b.pk]))
    assert response.status_code == 409
    assert "has 32 numbers" in response.content.decode()


def test_interpolation_after_retraining_is_409_naming_the_model(client, make_artwork, retrain_vae):
    a, b = make_artwork("VAE"), make_artwork("VAE", seed=1)
    old = a.checkpoint_fingerprint
    assert old and b.checkpoint_fingerprint == old
    url = reverse("gallery:interpolate", args=[a.pk, b.pk])
    assert client.get(url).status_code == 200
    new = retrain_vae()
    assert new != old
    response = client.get(url)
    assert response.status_code == 409  # the codes still fit in size: only provenance tells
    message = response.context["error"]
    assert message.startswith("The Variational Autoencoder was retrained")
    assert f"checkpoint mvae_mnist5k now holds weights {new}" in message
    assert f"#{a.pk} (weights {old}) and #{b.pk} (weights {old}) were made" in message
    # An artwork made with the retrained model still cannot be morphed with an old one...
    c = make_artwork("VAE", seed=2)
    assert c.checkpoint_fingerprint == new
    mixed = client.get(reverse("gallery:interpolate", args=[a.pk, c.pk]))
    assert (
        mixed.status_code == 409 and f"#{a.pk} (weights {old}) was made" in mixed.context["error"]
    )
    # ...but two new ones can, and rows from before fingerprints were recorded are not refused.
    d = make_artwork("VAE", seed=3)
    assert client.get(reverse("gallery:interpolate", args=[c.pk, d.pk])).status_code == 200
    GeneratedArtwork.objects.filter(pk__in=[a.pk, b.pk]).update(checkpoint_fingerprint="")
    assert client.get(url).status_code == 200


def test_interpolation_without_models_is_503(client, make_artwork, monkeypatch, tmp_path):
    a, b = make_artwork("GAN"), make_artwork("GAN", seed=1)
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "nothing"))
    generation.clear_cache()
    response = client.get(reverse("gallery:interpolate", args=[a.pk, b.pk]))
    assert response.status_code == 503
    assert "python manage.py train_models" in response.content.decode()


def test_pick_page_and_redirect(client, make_artwork):
    a, b = make_artwork("GAN"), make_artwork("GAN", seed=1)
    page = client.get(reverse("gallery:interpolate_pick"))
    assert page.status_code == 200 and f'<option value="{a.pk}">' in page.content.decode()
    response = client.get(reverse("gallery:interpolate_pick"), {"first": a.pk, "second": b.pk})
    assert response.status_code == 302
    assert response.url == reverse("gallery:interpolate", args=[a.pk, b.pk])


@pytest.mark.parametrize("second", ["other-method", "999999", "abc", ""])
def test_pick_with_bad_choice_is_400_with_the_form(client, make_artwork, second):
    a, gan = make_artwork("VAE"), make_artwork("GAN")
    value = gan.pk if second == "other-method" else second
    response = client.get(reverse("gallery:interpolate_pick"), {"first": a.pk, "second": value})
    assert response.status_code == 400
    assert response.context["form"].errors
    assert 'class="alert' in response.content.decode() or "invalid-feedback" in (
        response.content.decode()
    )


# --- explorer ---------------------------------------------------------------------------------


def test_explore_page_uses_local_plotly(client, make_artwork):
    make_artwork("VAE")
    response = client.get(reverse("gallery:explore"))
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="latent-scatter"' in html and "Plotly.newPlot" in html
    assert '<script src="/static/plotly/plotly.min.js">' in html
    assert "cdn" not in html.lower() and "https://" not in html
    assert "1 artwork marked" in html


def test_explore_with_tsne(client, tiny_models, monkeypatch):
    monkeypatch.setattr(generation, "EXPLORER_SAMPLES", 60)
    response = client.get(reverse("gallery:explore"), {"method": "tsne"})
    assert response.status_code == 200 and "t-SNE" in response.content.decode()


def test_explore_rejects_unknown_projection(client, tiny_models):
    response = client.get(reverse("gallery:explore"), {"method": "umap"})
    assert response.status_code == 400
    assert "Projection must be" in response.content.decode()


def test_explore_without_models_is_503(client, no_models):
    response = client.get(reverse("gallery:explore"))
    assert response.status_code == 503
    assert "python manage.py train_models" in response.content.decode()
