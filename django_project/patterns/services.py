"""The studio's one door to course_lib: render patterns, store them safely, encode previews."""

from __future__ import annotations

from django.core.files.base import ContentFile
from django.db import transaction
from PIL import Image

from course_lib.imaging import to_data_url, to_png_bytes
from course_lib.patterns import create_pattern

from .forms import ImageGeneratorForm
from .models import GeneratedImage

PREVIEW_SIZE = 150


def render_pattern(
    pattern_type: str,
    width: int,
    height: int,
    primary: str,
    secondary: str,
    seed: int | None = None,
) -> Image.Image:
    """Draw one pattern as an RGB image (numpy / ImageDraw inside, no per-pixel Python loops)."""
    return create_pattern(pattern_type, width, height, primary, secondary, seed=seed)


def store_pattern(form: ImageGeneratorForm) -> GeneratedImage:
    """Render a validated form's pattern and save the PNG and its row together, or neither."""
    data = form.cleaned_data
    image = render_pattern(
        data["pattern_type"],
        data["width"],
        data["height"],
        data["primary_color"],
        data["secondary_color"],
    )
    png = to_png_bytes(image)  # encode before touching storage: a failure here writes nothing

    record = form.save(commit=False)
    filename = f"{record.pattern_type}_{record.pk.hex[:12]}.png"
    try:
        with transaction.atomic():
            record.image_file.save(filename, ContentFile(png), save=False)
            record.save()
    except BaseException:
        # The row was rolled back, so the file it would have pointed at must go too.
        if record.image_file.name:
            record.image_file.storage.delete(record.image_file.name)
        raise
    return record


def preview_data_url(
    pattern_type: str, primary: str, secondary: str, seed: int | None = None
) -> str:
    """Render a 150x150 preview and return it as a ``data:image/png;base64,...`` URL."""
    image = render_pattern(pattern_type, PREVIEW_SIZE, PREVIEW_SIZE, primary, secondary, seed)
    return to_data_url(image)
