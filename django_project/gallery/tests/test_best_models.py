"""The gallery serves the course's best models: a digit choice for the conditional ones, the
latent flow as a fourth method, creativity with a visible meaning at both ends, and artworks
linked to the model record that made them (any finished record can draw)."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from django.urls import reverse

from course_lib import checkpoints
from course_lib.models import Generator
from gallery import generation
from gallery.models import GeneratedArtwork
from gallery_site.testing.checkpoints import LATENT, LESSON_LATENT
from workshop import services
from workshop.models import ModelRecord

pytestmark = pytest.mark.django_db
CREATE = reverse("gallery:create")


@pytest.fixture(autouse=True)
def fresh_records(tiny_models):
    """Tiny models, and no workshop model cached from another test."""
    services.clear_cache()
    yield
    services.clear_cache()


def _preview(client, method: str, **query):
    return client.get(reverse("gallery:preview", args=[method]), query)


def _class_part(method: str, digit: int) -> list[float]:
    """The class code a conditional model appends to its noise for ``digit``."""
    model = generation.get_model(method)
    table = model.class_codes if method == "GAN" else model.class_embedding
    return table(torch.tensor([digit]))[0].tolist()


def _records() -> dict[str, ModelRecord]:
    services.register_checkpoints()
    return {r.checkpoint.removesuffix(".pt"): r for r in ModelRecord.objects.all()}


# --- which digit? -------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["GAN", "FLOW"])
def test_a_conditional_model_draws_the_digit_asked_for(client, method):
    response = client.post(CREATE, {"method": method, "creativity": "1", "digit": "3"})
    assert response.status_code == 200 and response.json()["digit"] == 3
    code = GeneratedArtwork.objects.get().latent_vector
    assert len(code) == LATENT[method]
    # The stored code is the model's full code: noise, then the digit's class code.
    assert np.allclose(code[-len(_class_part(method, 3)) :], _class_part(method, 3), atol=1e-6)
    three = _preview(client, method, seed=1, digit=3).content
    seven = _preview(client, method, seed=1, digit=7).content
    assert three != seven and _preview(client, method, seed=1, digit=3).content == three


@pytest.mark.parametrize("method", ["GAN", "FLOW"])
def test_any_digit_is_picked_by_the_seed(client, method):
    digits = {
        client.post(CREATE, {"method": method, "creativity": "1", "seed": s}).json()["digit"]
        for s in range(12)
    }
    assert len(digits) >= 4  # not always the first class
    first = client.post(CREATE, {"method": method, "creativity": "1", "seed": 5}).json()
    again = client.post(CREATE, {"method": method, "creativity": "1", "seed": 5}).json()
    assert first["digit"] == again["digit"]


@pytest.mark.parametrize("method", ["VAE", "AUTOENCODER"])
def test_a_digit_for_an_unconditional_model_is_a_400(client, media_files, method):
    response = client.post(CREATE, {"method": method, "creativity": "1", "digit": "4"})
    assert response.status_code == 400
    assert "cannot be asked for one" in response.json()["errors"]["digit"][0]
    assert not GeneratedArtwork.objects.exists() and media_files() == []
    answer = _preview(client, method, digit=4)
    assert answer.status_code == 400 and "cannot be asked for one" in answer.json()["error"]


@pytest.mark.parametrize("digit", ["10", "-1", "x", "3.0", ""])
def test_a_digit_outside_0_to_9_is_a_400(client, digit):
    answer = _preview(client, "GAN", digit=digit)
    assert answer.status_code == 400 and "digit must be one of 0 to 9" in answer.json()["error"]
    if digit:
        response = client.post(CREATE, {"method": "GAN", "creativity": "1", "digit": digit})
        assert response.status_code == 400 and "digit" in response.json()["errors"]


def test_interpolation_between_two_digits_morphs_across_them(client):
    ids = [
        client.post(CREATE, {"method": "FLOW", "creativity": "1", "digit": d}).json()["artwork_id"]
        for d in ("1", "8")
    ]
    response = client.get(reverse("gallery:interpolate", args=ids))
    assert response.status_code == 200
    frames = response.context["frames"]
    assert len(frames) == generation.INTERPOLATION_STEPS and frames[0] != frames[-1]


# --- the flow -----------------------------------------------------------------------------------


def test_the_flow_is_a_fourth_method(client):
    response = client.post(CREATE, {"method": "FLOW", "creativity": "0.5", "seed": "9"})
    assert response.status_code == 200 and response.json()["method"] == "FLOW"
    artwork = GeneratedArtwork.objects.get()
    assert artwork.get_generation_method_display() == "Latent flow (diffusion)"
    assert artwork.checkpoint_name == "flow_mnist5k"
    assert generation.decode_latent("FLOW", artwork.latent_vector) == artwork.image_file.read()
    png = _preview(client, "FLOW", seed=9, creativity=0.5)
    assert png.status_code == 200 and png["Content-Type"] == "image/png"
    assert 'value="FLOW"' in client.get(CREATE).content.decode()


# --- creativity -------------------------------------------------------------------------------


def test_creativity_is_the_temperature_of_a_prior_with_typical_centres(client):
    """The conditional GAN: the noise part shrinks to a tenth of a trained sample at 0.1 and
    doubles at 2.0, while the class code (the typical digit) stays."""
    noise = {}
    for creativity in (0.1, 1.0, 2.0):
        data = {"method": "GAN", "creativity": creativity, "seed": 3, "digit": 2}
        code = client.post(CREATE, data).json() and GeneratedArtwork.objects.first().latent_vector
        noise[creativity] = np.array(code[:4])
    assert np.allclose(noise[0.1], noise[1.0] / 10, atol=1e-6)
    assert np.allclose(noise[2.0], noise[1.0] * 2, atol=1e-6)


def test_a_one_gaussian_prior_never_collapses_to_its_centre():
    """The autoencoder's fitted Gaussian (and the lesson's models) decode their centre into an
    average of all digits: creativity 0.1 is temperature 0.55 there, 1.0 stays 1.0."""
    ae, gan = generation.get_model("AUTOENCODER"), generation.get_model("GAN")
    assert generation.temperature_of(ae, 0.1) == pytest.approx(0.55)
    assert generation.temperature_of(ae, 1.0) == 1.0
    assert generation.temperature_of(ae, 2.0) == pytest.approx(1.5)
    assert generation.temperature_of(gan, 0.1) == pytest.approx(0.1)
    assert generation.temperature_of(Generator(noise_dim=2, hidden_dim=4), 0.1) == 0.55


# --- model records ------------------------------------------------------------------------------


def test_an_artwork_points_at_the_record_of_its_model(client):
    assert not ModelRecord.objects.exists()  # nothing registered yet: registered on the fly
    response = client.post(CREATE, {"method": "GAN", "creativity": "1"})
    artwork = GeneratedArtwork.objects.get()
    record = artwork.model_record
    assert record is not None and record.checkpoint == "cgan_mnist5k.pt"
    assert record.fingerprint == artwork.checkpoint_fingerprint
    assert response.json()["model_id"] == record.pk
    client.post(CREATE, {"method": "GAN", "creativity": "1"})
    assert ModelRecord.objects.filter(checkpoint="cgan_mnist5k.pt").count() == 1
    assert list(record.artworks.all()) == list(GeneratedArtwork.objects.all())


def test_any_finished_record_of_the_method_can_draw(client):
    lesson = _records()["gan_mnist5k"]
    data = {"method": "GAN", "creativity": "1", "model": lesson.pk}
    response = client.post(CREATE, data)
    assert response.status_code == 200 and response.json()["model_id"] == lesson.pk
    artwork = GeneratedArtwork.objects.get()
    assert artwork.model_record == lesson and artwork.checkpoint_name == "gan_mnist5k"
    assert len(artwork.latent_vector) == LESSON_LATENT["GAN"]
    png = _preview(client, "GAN", model=lesson.pk, seed=1)
    assert png.status_code == 200 and png.content != _preview(client, "GAN", seed=1).content
    # The lesson's MLP GAN is unconditional: asking it for a digit is a 400.
    refused = client.post(CREATE, {**data, "digit": "2"})
    assert refused.status_code == 400 and "digit" in refused.json()["errors"]


def test_the_admins_default_is_served_without_a_choice(client):
    lesson = _records()["vae_mnist5k"]
    assert services.default_record("vae").checkpoint == "mvae_mnist5k.pt"
    lesson.is_default = True
    lesson.save()
    client.post(CREATE, {"method": "VAE", "creativity": "1"})
    artwork = GeneratedArtwork.objects.get()
    assert artwork.model_record == lesson
    assert len(artwork.latent_vector) == LESSON_LATENT["VAE"]


def test_a_record_of_another_method_is_refused(client, media_files):
    vae = _records()["mvae_mnist5k"]
    response = client.post(CREATE, {"method": "GAN", "creativity": "1", "model": vae.pk})
    assert response.status_code == 400
    assert "cannot draw for GAN" in response.json()["errors"]["model"][0]
    assert media_files() == []
    answer = _preview(client, "GAN", model=vae.pk)
    assert answer.status_code == 400 and "cannot draw for GAN" in answer.json()["error"]
    for bad in ("999999", "x", ""):
        answer = _preview(client, "GAN", model=bad)
        assert answer.status_code == 400 and "no finished model" in answer.json()["error"]


def test_the_models_page_link_preselects_the_record(client):
    lesson = _records()["gan_mnist5k"]
    page = client.get(CREATE, {"method": "GAN", "model": lesson.pk})
    assert page.status_code == 200
    form = page.context["form"]
    assert form.initial == {"method": "GAN", "model": lesson.pk}
    html = page.content.decode()
    option = re.search(rf'<option value="{lesson.pk}"[^>]*>', html).group(0)
    assert 'data-method="GAN"' in option and "selected" in option, option
    missing = client.get(CREATE, {"model": "12345"})
    assert missing.status_code == 404 and "no finished model" in missing.content.decode()


def test_a_retrained_record_is_refused_for_old_codes(client):
    record = _records()["cgan_mnist5k"]
    ids = [
        client.post(CREATE, {"method": "GAN", "creativity": "1", "seed": s}).json()["artwork_id"]
        for s in (1, 2)
    ]
    url = reverse("gallery:interpolate", args=ids)
    assert client.get(url).status_code == 200
    torch.manual_seed(7)
    model = generation.get_model("GAN")
    for parameter in model.parameters():
        parameter.data.add_(torch.randn_like(parameter))
    checkpoints.save(model, record.checkpoint_path)
    services.register_checkpoints()  # the record now names the new weights
    response = client.get(url)
    assert response.status_code == 409 and "was retrained" in response.context["error"]


def test_artworks_of_two_records_are_not_morphed(client):
    records = _records()
    a = client.post(CREATE, {"method": "GAN", "creativity": "1"}).json()["artwork_id"]
    b = client.post(
        CREATE, {"method": "GAN", "creativity": "1", "model": records["gan_mnist5k"].pk}
    ).json()["artwork_id"]
    response = client.get(reverse("gallery:interpolate", args=[a, b]))
    assert response.status_code in (400, 409) and "different models" in response.context["error"]
