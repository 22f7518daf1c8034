"""The service module: rendering through course_lib, storing atomically, preview data URLs."""

from __future__ import annotations

import base64
import io
from unittest import mock

import pytest
from django.db import DatabaseError
from PIL import Image

from patterns import services
from patterns.forms import ImageGeneratorForm
from patterns.models import PATTERN_CHOICES, GeneratedImage


@pytest.mark.parametrize("pattern_type", [name for name, _ in PATTERN_CHOICES])
def test_render_pattern_draws_every_type_at_the_asked_size(pattern_type: str) -> None:
    image = services.render_pattern(pattern_type, 130, 110, "#FF0000", "#0000FF", seed=1)
    assert image.mode == "RGB"
    assert image.size == (130, 110)


def test_render_pattern_is_reproducible_with_a_seed() -> None:
    first = services.render_pattern("noise", 100, 100, "#FF0000", "#0000FF", seed=7)
    again = services.render_pattern("noise", 100, 100, "#FF0000", "#0000FF", seed=7)
    other = services.render_pattern("noise", 100, 100, "#FF0000", "#0000FF", seed=8)
    assert first.tobytes() == again.tobytes() != other.tobytes()


def test_preview_data_url_is_a_150px_png() -> None:
    url = services.preview_data_url("gradient", "#000000", "#FFFFFF")
    prefix = "data:image/png;base64,"
    assert url.startswith(prefix)
    image = Image.open(io.BytesIO(base64.b64decode(url[len(prefix) :])))
    assert (image.format, image.size) == ("PNG", (150, 150))
    assert image.getpixel((0, 0))[:3] == (0, 0, 0)  # the gradient starts with the primary colour


@pytest.mark.django_db
def test_store_pattern_writes_the_row_and_the_file(recipe: dict, media_root, media_files) -> None:
    form = ImageGeneratorForm(recipe)
    assert form.is_valid()
    record = services.store_pattern(form)
    saved = GeneratedImage.objects.get(pk=record.pk)
    assert saved.image_file.name.startswith("generated/mandala_")
    assert media_files() == [media_root / saved.image_file.name]


@pytest.mark.django_db
def test_failed_database_write_leaves_no_orphan_file(recipe: dict, media_files) -> None:
    form = ImageGeneratorForm(recipe)
    assert form.is_valid()
    with (
        mock.patch.object(GeneratedImage, "save", side_effect=DatabaseError("disk full")),
        pytest.raises(DatabaseError),
    ):
        services.store_pattern(form)
    assert not GeneratedImage.objects.exists()
    assert media_files() == []
