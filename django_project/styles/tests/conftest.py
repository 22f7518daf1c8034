"""Fixtures for the style studio tests: immediate tasks, in-memory images, a trained style."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from course_lib import styles as course_styles
from course_lib.runtime import use_threads
from styles import services
from styles.models import Style, StyleStatus

CONTENT_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp", "GIF": "image/gif"}


def image_bytes(
    fmt: str = "PNG", size: tuple[int, int] = (40, 40), seed: int = 0, pad_to: int = 0
) -> bytes:
    """A small random-coloured image encoded in ``fmt``; ``pad_to`` appends bytes up to a size."""
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format=fmt)
    data = buffer.getvalue()
    return data + b"\0" * max(0, pad_to - len(data))


def upload(data: bytes, name: str = "sample.png", content_type: str = "image/png"):
    """An uploaded file built in memory, as the test client sends it."""
    return SimpleUploadedFile(name, data, content_type=content_type)


def uploads(n: int, fmt: str = "PNG") -> list[SimpleUploadedFile]:
    """``n`` distinct valid images in one format."""
    ext = {"JPEG": "jpg"}.get(fmt, fmt.lower())
    return [
        upload(image_bytes(fmt, seed=i), f"sample_{i}.{ext}", CONTENT_TYPES[fmt]) for i in range(n)
    ]


@pytest.fixture(autouse=True)
def quick_tasks(settings) -> None:
    """Tasks run at once in the caller (no worker) and a style trains for a fraction of a second."""
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
    settings.STYLE_TRAINING_SECONDS = 0.3


@pytest.fixture(autouse=True)
def fresh_service(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No cached styles between tests; torch's thread count restored for other test suites."""
    threads = torch.get_num_threads()
    services.clear_cache()
    yield
    services.clear_cache()
    use_threads(threads)


@pytest.fixture(scope="session")
def trained_style_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A style trained briefly on a shipped sample, as save_style writes it (trained once)."""
    images = course_styles.load_style_images(course_styles.SAMPLE_STYLES_DIR / "warm_mandalas")
    result = course_styles.train_style(
        images, time_budget=None, max_epochs=2, n_variants=64, progress=False
    )
    return course_styles.save_style(result, tmp_path_factory.mktemp("style") / "style.pt")


@pytest.fixture
def done_style(db, trained_style_file: Path) -> Style:
    """A trained style row with its file in storage, as the worker leaves it."""
    report = course_styles.load_style(trained_style_file).report
    style = Style(name="Warm test", status=StyleStatus.DONE, progress=1.0, report=report, seconds=1)
    data = trained_style_file.read_bytes()
    style.style_file.save("style-test.pt", ContentFile(data), save=False)
    style.save()
    return style
