"""``GET /generate/<METHOD>.png``: the preview endpoint, a Django view like every other URL."""

from __future__ import annotations

import io
import json
from urllib.parse import quote, urlencode

import numpy as np
import pytest
from django.test import Client
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from gallery.models import GeneratedArtwork
from gallery_site.testing.fuzzing import fuzz_settings

pytestmark = pytest.mark.django_db


def _pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)))


def test_a_preview_is_a_28px_png_and_the_seed_fixes_it(client, tiny_models):
    first = client.get("/generate/GAN.png?seed=3")
    assert first.status_code == 200 and first["Content-Type"] == "image/png"
    assert Image.open(io.BytesIO(first.content)).size == (28, 28)
    assert first["Cache-Control"] == "private, max-age=60"
    assert client.get("/generate/GAN.png?seed=3").content == first.content
    assert client.get("/generate/GAN.png?seed=4").content != first.content
    bolder = client.get("/generate/GAN.png?seed=3&creativity=2.0")
    assert not np.array_equal(_pixels(bolder.content), _pixels(first.content))


def test_unseeded_previews_are_new_every_time_and_never_cached(client, tiny_models):
    answers = [client.get("/generate/VAE.png") for _ in range(3)]
    assert all(a.status_code == 200 and a["Cache-Control"] == "no-store" for a in answers)
    assert len({a.content for a in answers}) == 3


@pytest.mark.parametrize("method", ["VAE", "GAN", "AUTOENCODER"])
def test_keeping_a_preview_stores_the_same_image(client, tiny_models, method):
    preview = _pixels(client.get(f"/generate/{method}.png?seed=42&creativity=1.5").content)
    answer = client.post("/create/", {"method": method, "creativity": "1.5", "seed": "42"})
    assert answer.status_code == 200, answer.content
    artwork = GeneratedArtwork.objects.get(pk=answer.json()["artwork_id"])
    stored = _pixels(artwork.image_file.read())
    assert stored.shape == (224, 224)
    assert np.array_equal(stored[::8, ::8], preview)  # the 8x enlargement of the same pixels


def test_previews_store_nothing(client, tiny_models, media_root):
    for _ in range(3):
        assert client.get("/generate/AUTOENCODER.png").status_code == 200
    assert GeneratedArtwork.objects.count() == 0
    assert not media_root.exists() or not any(media_root.rglob("*.png"))


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("creativity=abc", "Creativity must be a number from 0.1 to 2.0"),
        ("creativity=nan", "Creativity must be a number"),
        ("creativity=5", "Creativity must be a number"),
        ("creativity=", "Creativity must be a number"),
        ("creativity=1&creativity=2", "Give creativity once"),
        ("seed=-1", "whole number from 0 to 4294967295"),
        ("seed=1.5", "whole number"),
        ("seed=4294967296", "whole number"),
        ("seed=%D9%A3", "whole number"),  # an Arabic-Indic digit: isdigit() but not ASCII
        ("seed=", "whole number"),
        ("&".join(f"x{i}=1" for i in range(30)), "too many fields"),
    ],
)
def test_bad_queries_are_400_with_a_message(client, tiny_models, query, message):
    answer = client.get(f"/generate/GAN.png?{query}")
    assert answer.status_code == 400
    assert answer.json() == {"success": False, "error": answer.json()["error"]}
    assert message in answer.json()["error"]


def test_unknown_method_wrong_verb_and_missing_model(client, tiny_models, no_models):
    unknown = client.get("/generate/DIFFUSION.png")
    assert unknown.status_code == 404 and "not a generation method" in unknown.json()["error"]
    post = client.post("/generate/GAN.png")
    assert post.status_code == 405 and post["Allow"] == "GET, HEAD"
    missing = client.get("/generate/GAN.png")
    assert missing.status_code == 503 and "train_models" in missing.json()["error"]


def test_previews_pass_through_djangos_middleware(client, tiny_models):
    answer = client.get("/generate/GAN.png?seed=7")
    assert answer.status_code == 200
    # Added by SecurityMiddleware and XFrameOptionsMiddleware, as on every other page.
    assert answer["X-Content-Type-Options"] == "nosniff"
    assert answer["X-Frame-Options"] == "DENY"
    assert answer["Referrer-Policy"] == "same-origin"


def test_previews_check_the_host_like_every_page(client, tiny_models, settings):
    settings.ALLOWED_HOSTS = ["gallery.example"]
    assert client.get("/generate/GAN.png", headers={"host": "gallery.example"}).status_code == 200
    refused = Client(raise_request_exception=False).get(
        "/generate/GAN.png", headers={"host": "evil.example"}
    )
    assert refused.status_code == 400


# --- hostile input ----------------------------------------------------------------------------

query_values = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["0.1", "2.0", "1e0", "nan", "-inf", "1" * 400, "0", "4294967295", "\uff11"]),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
)
query_pairs = st.lists(
    st.tuples(st.sampled_from(["creativity", "seed", "x", ""]), query_values), max_size=4
)


@fuzz_settings(60)
@given(
    pairs=query_pairs,
    method=st.sampled_from(["GAN", "VAE", "AUTOENCODER", "gan", "ÿ", "A" * 300]),
)
def test_any_query_is_a_png_or_a_4xx_that_says_why_and_stores_nothing(tiny_models, pairs, method):
    query = urlencode(pairs)
    before = GeneratedArtwork.objects.count()
    answer = Client(raise_request_exception=False).get(f"/generate/{quote(method)}.png?{query}")
    assert answer.status_code in (200, 400, 404), (answer.status_code, query)
    if answer.status_code == 200:
        assert answer["Content-Type"] == "image/png" and answer.content.startswith(b"\x89PNG")
    else:
        assert answer["Content-Type"] == "application/json"
        assert json.loads(answer.content)["error"]
    assert GeneratedArtwork.objects.count() == before
