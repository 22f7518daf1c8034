"""The service: models loaded once and shared, images and codes that match, clear failures."""

from __future__ import annotations

import io
import threading

import numpy as np
import pytest
import torch
from PIL import Image

from course_lib import checkpoints
from course_lib.models import Discriminator
from gallery import generation
from gallery_site.testing.checkpoints import LATENT

METHODS = ["VAE", "GAN", "AUTOENCODER"]


@pytest.mark.parametrize("method", METHODS)
def test_generate_gives_a_crisp_224_png_and_its_code(tiny_models, method):
    data = generation.generate(method, 1.0, seed=3)
    with Image.open(io.BytesIO(data.png_bytes)) as image:
        assert image.format == "PNG" and image.size == (224, 224) and image.mode == "L"
        pixels = np.asarray(image)
    # Upscaled 8x with nearest neighbour: every 8x8 block is one flat colour.
    assert (pixels.reshape(28, 8, 28, 8) == pixels[::8, ::8][:, None, :, None]).all()
    assert len(data.latent_vector) == LATENT[method]
    assert all(isinstance(v, float) for v in data.latent_vector)


@pytest.mark.parametrize("method", METHODS)
def test_the_stored_code_is_the_one_that_was_decoded(tiny_models, method):
    data = generation.generate(method, 1.3, seed=7)
    assert generation.decode_latent(method, data.latent_vector) == data.png_bytes


def test_seed_repeats_and_creativity_scales_the_code(tiny_models):
    base = generation.generate("VAE", 1.0, seed=5)
    assert generation.generate("VAE", 1.0, seed=5) == base
    assert generation.generate("VAE", 1.0, seed=6).latent_vector != base.latent_vector
    # The mixture VAE: creativity is the temperature around one component's centre, so the
    # codes at 0.1, 1.0 and 2.0 lie on one line, spaced by the temperature.
    calm, mid, wild = (
        np.array(generation.generate("VAE", c, seed=5).latent_vector) for c in (0.1, 1.0, 2.0)
    )
    assert np.allclose(mid, base.latent_vector)
    assert np.allclose(wild - mid, (mid - calm) / 0.9, atol=1e-5)
    assert np.linalg.norm(wild - mid) > 0.1


def test_autoencoder_codes_come_from_its_fitted_gaussian(tiny_models):
    codes = np.array([generation.generate("AUTOENCODER", 1.0).latent_vector for _ in range(200)])
    # The tiny model's prior: mean 5, scale 0.5 (see conftest), not N(0, I).
    assert np.allclose(codes.mean(0), 5.0, atol=0.15)
    assert np.allclose(codes.std(0), 0.5, atol=0.1)
    # One Gaussian: creativity 0.1 is temperature 0.55, never the blob at the centre itself.
    calm = np.array([generation.generate("AUTOENCODER", 0.1).latent_vector for _ in range(200)])
    assert np.allclose(calm.mean(0), 5.0, atol=0.1)
    assert np.allclose(calm.std(0), 0.5 * 0.55, atol=0.06)


@pytest.mark.parametrize("creativity", [float("nan"), float("inf"), 0.0, 0.09, 2.5, -1.0])
def test_generate_refuses_creativity_out_of_range(tiny_models, creativity):
    with pytest.raises(ValueError, match="creativity must be a number from 0.1 to 2.0"):
        generation.generate("VAE", creativity)


def test_unknown_method_is_a_value_error(tiny_models):
    with pytest.raises(ValueError, match="unknown generation method"):
        generation.generate("DIFFUSION", 1.0)


def test_a_hundred_generate_calls_load_each_model_once(tiny_models):
    for i in range(100):
        generation.generate(METHODS[i % 3], 1.0)
    assert [generation.load_count(m) for m in METHODS] == [1, 1, 1]
    assert torch.get_num_threads() == generation.INFERENCE_THREADS


def test_concurrent_first_requests_load_once(tiny_models):
    barrier = threading.Barrier(8)
    models, errors = [], []

    def worker() -> None:
        try:
            barrier.wait()
            models.append(generation.get_model("GAN"))
            generation.generate("GAN", 1.0)
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert generation.load_count("GAN") == 1
    assert all(model is models[0] for model in models)


def test_clear_cache_forgets_models(tiny_models):
    generation.generate("VAE", 1.0)
    generation.clear_cache()
    assert generation.load_count("VAE") == 0
    generation.generate("VAE", 1.0)
    assert generation.load_count("VAE") == 1


def test_missing_checkpoint_says_how_to_train(no_models):
    with pytest.raises(generation.ModelUnavailable, match="python manage.py train_models") as info:
        generation.generate("GAN", 1.0)
    assert info.value.method == "GAN"
    assert generation.load_count("GAN") == 0


def test_corrupt_checkpoint_is_unavailable(no_models):
    path = no_models / "checkpoints" / f"{generation.CHECKPOINTS['VAE']}.pt"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(generation.ModelUnavailable, match="--force"):
        generation.get_model("VAE")


def test_checkpoint_of_the_wrong_class_is_unavailable(no_models):
    path = no_models / "checkpoints" / f"{generation.CHECKPOINTS['GAN']}.pt"
    checkpoints.save(Discriminator(hidden_dim=8), path)
    with pytest.raises(generation.ModelUnavailable, match="holds a Discriminator"):
        generation.get_model("GAN")


def test_interpolation_runs_from_one_code_to_the_other(tiny_models):
    a = generation.generate("VAE", 1.0, seed=1)
    b = generation.generate("VAE", 1.0, seed=2)
    frames = generation.interpolate("VAE", a.latent_vector, b.latent_vector)
    assert len(frames) == generation.INTERPOLATION_STEPS == 12
    assert frames[0] == a.png_bytes and frames[-1] == b.png_bytes
    assert len(set(frames)) > 2


@pytest.mark.parametrize("bad", [[1.0, 2.0], "abc", [[1.0] * 4], [float("nan")] * 4, None])
def test_codes_that_do_not_fit_the_model_are_refused(tiny_models, bad):
    with pytest.raises(generation.LatentMismatch):
        generation.decode_latent("VAE", bad)


def test_latent_map_is_a_local_plotly_fragment(tiny_models):
    vae = [generation.generate("VAE", 1.0, seed=s) for s in range(3)]
    points = [generation.LatentPoint(i, f"art {i}", d.latent_vector) for i, d in enumerate(vae)]
    points.append(generation.LatentPoint(99, "old", [0.0] * 32))  # another latent size: skipped
    result = generation.latent_map(points)
    assert 'id="latent-scatter"' in result.html and "Plotly.newPlot" in result.html
    assert "cdn" not in result.html.lower() and "<script src" not in result.html
    assert "gallery artworks" in result.html
    assert (result.dataset_points, result.artworks_plotted, result.artworks_skipped) == (120, 3, 1)


def test_latent_map_pca_matches_the_explorers_projection(tiny_models):
    generation.latent_map([])
    dataset_map = generation._get_dataset_map()
    ours = dataset_map.pca.transform(dataset_map.explorer.latent_vectors.astype(np.float64))
    assert np.allclose(ours, dataset_map.explorer.project_2d("pca"))


def test_latent_map_encodes_the_digits_once(tiny_models, monkeypatch):
    calls = []
    original = generation.load_dataset
    monkeypatch.setattr(
        generation, "load_dataset", lambda *a, **k: calls.append(a) or original(*a, **k)
    )
    for _ in range(3):
        generation.latent_map([])
    assert len(calls) == 1


def test_latent_map_with_tsne_places_artworks(tiny_models, monkeypatch):
    monkeypatch.setattr(generation, "EXPLORER_SAMPLES", 60)
    code = generation.generate("VAE", 1.0, seed=1).latent_vector
    result = generation.latent_map([generation.LatentPoint(1, "a", code)], projection="tsne")
    assert "t-SNE" in result.html and result.artworks_plotted == 1


def test_latent_map_escapes_titles(tiny_models):
    code = generation.generate("VAE", 1.0, seed=1).latent_vector
    title = "</script><script>alert(1)</script>"
    result = generation.latent_map([generation.LatentPoint(1, title, code)])
    assert "<script>alert(1)" not in result.html


def test_latent_map_refuses_unknown_projection(tiny_models):
    with pytest.raises(ValueError, match="pca"):
        generation.latent_map([], projection="umap")


def test_png_data_url():
    assert generation.png_data_url(b"\x89PNG").startswith("data:image/png;base64,iVBO")


def test_latent_map_shows_every_digit(tiny_models):
    generation.latent_map([])
    labels = generation._get_dataset_map().explorer.labels
    assert len(labels) == 120 and set(labels.tolist()) == set(range(10))
