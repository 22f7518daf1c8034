"""Fixtures shared by the tests of the three apps and the site: a throwaway media folder, and
tiny untrained course models served from a temporary checkpoint folder."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch

from course_lib.runtime import use_threads
from gallery import generation
from gallery.models import GeneratedArtwork
from gallery_site.testing.checkpoints import write_tiny_checkpoints


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path: Path) -> Path:
    """Every test stores files in its own temporary MEDIA_ROOT, never in the repository."""
    root = tmp_path / "media"
    root.mkdir()
    settings.MEDIA_ROOT = root
    return root


@pytest.fixture
def media_files(media_root: Path) -> Callable[[], list[Path]]:
    """A function listing every file now stored under MEDIA_ROOT."""
    return lambda: sorted(path for path in media_root.rglob("*") if path.is_file())


@pytest.fixture(scope="session")
def tiny_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A COURSE_DATA_DIR holding tiny untrained models under the gallery's checkpoint names."""
    return write_tiny_checkpoints(tmp_path_factory.mktemp("course_data"))


@pytest.fixture
def fresh_generation() -> Iterator[None]:
    """The gallery's service with no cached models, load counts or latent map, before and
    after; torch's thread count (the service sets one thread) restored for other suites."""
    threads = torch.get_num_threads()
    generation.clear_cache()
    yield
    generation.clear_cache()
    use_threads(threads)


@pytest.fixture
def tiny_models(
    tiny_data_dir: Path, fresh_generation: None, monkeypatch: pytest.MonkeyPatch
) -> Path:
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
            checkpoint_name=image.checkpoint_name,
            checkpoint_fingerprint=image.checkpoint_fingerprint,
        )

    return make
