"""Fixtures for the gallery tests: tiny untrained checkpoints and a throwaway media folder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from course_lib import checkpoints
from course_lib.models import AutoencoderModel, Generator, VariationalAutoencoder
from gallery import generation
from gallery.models import GeneratedArtwork

LATENT = {"VAE": 4, "GAN": 8, "AUTOENCODER": 4}


@pytest.fixture(scope="session")
def tiny_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A COURSE_DATA_DIR holding tiny untrained models under the gallery's checkpoint names."""
    root = tmp_path_factory.mktemp("course_data")
    torch.manual_seed(0)
    autoencoder = AutoencoderModel(hidden_dim=16, latent_dim=LATENT["AUTOENCODER"])
    # A prior far from the origin, so tests can tell that AE codes come from it.
    autoencoder.latent_mean.fill_(5.0)
    autoencoder.latent_scale_tril.mul_(0.5)
    models = {
        "VAE": VariationalAutoencoder(hidden_dim=16, latent_dim=LATENT["VAE"]),
        "GAN": Generator(noise_dim=LATENT["GAN"], hidden_dim=16),
        "AUTOENCODER": autoencoder,
    }
    for method, model in models.items():
        checkpoints.save(model, root / "checkpoints" / f"{generation.CHECKPOINTS[method]}.pt")
    return root


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path: Path) -> Path:
    """Every test writes images into its own temporary MEDIA_ROOT, never into the repo."""
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture(autouse=True)
def fresh_service(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test starts with no cached models, load counts or latent map; torch threads restored.

    The service sets torch to one thread when it first loads a model; other test suites in the
    same pytest process must not inherit that.
    """
    threads = torch.get_num_threads()
    monkeypatch.setattr(generation, "_threads_configured", False)
    generation.clear_cache()
    yield
    generation.clear_cache()
    torch.set_num_threads(threads)


@pytest.fixture
def tiny_models(tiny_data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the checkpoint folder at the tiny models and keep the latent map small."""
    monkeypatch.setenv("COURSE_DATA_DIR", str(tiny_data_dir))
    monkeypatch.setattr(generation, "EXPLORER_SAMPLES", 120)
    return tiny_data_dir


@pytest.fixture
def no_models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty checkpoint folder: every model is missing."""
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "empty_data"))
    return tmp_path / "empty_data"


@pytest.fixture
def make_artwork(db, tiny_models: Path):
    """Create a stored artwork through the service, like a POST to /create/ would."""

    def make(method: str = "VAE", seed: int = 0, title: str = "test art") -> GeneratedArtwork:
        image = generation.generate(method, 1.0, seed=seed)
        return GeneratedArtwork.objects.create_with_image(
            title=title,
            generation_method=method,
            png_bytes=image.png_bytes,
            latent_vector=image.latent_vector,
        )

    return make
