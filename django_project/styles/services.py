"""The style studio's one door to course_lib.styles: store samples, train, show, save.

Views and the background task call only the functions here. Training is
``course_lib.styles.train_style`` (nothing is re-implemented); a trained style is the
``save_style`` file, stored with Django's storage API and loaded once per process, under a
lock, into a small cache keyed by style id and file name (a retrained style gets a new file).
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from django.conf import settings
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.db.models.fields.files import FieldFile
from django.utils import timezone
from PIL import Image

from course_lib import checkpoints, imaging
from course_lib import styles as course_styles
from course_lib.metrics import nearest_neighbour_distances
from course_lib.runtime import use_threads
from gallery.models import GeneratedArtwork, GenerationMethod
from gallery_site.model_cache import LoadOnce

from .models import Style, StyleSample, StyleStatus

logger = logging.getLogger(__name__)

N_VARIATIONS = 16  # variations on the detail page; each is saved to the gallery by its index
VARIATION_SEED = 0  # variation i is always decoded from row i of the same seeded draw
TRAVERSAL_STEPS = 8
DISPLAY_SCALE = 4  # 32x32 pixels shown at 128x128, nearest-neighbour (crisp)
GALLERY_SCALE = 7  # 32x32 stored at 224x224, the gallery's card size
PROGRESS_INTERVAL = 1.0  # seconds between progress writes while training
CACHE_SIZE = 16  # trained styles kept in memory per process (each is under 1 MB)
INFERENCE_THREADS = 1  # as the gallery: one intra-op thread per web process

EXTENSIONS = {"PNG": "png", "JPEG": "jpg", "WEBP": "webp", "GIF": "gif"}


class StyleUnavailable(RuntimeError):
    """A style has no usable trained model (not trained yet, file missing or damaged)."""


@dataclass(frozen=True)
class CheckedImage:
    """An uploaded image that passed the checks: its bytes and the format read from them."""

    label: str
    data: bytes
    format: str


@dataclass(frozen=True)
class Variation:
    """One generated image and how close it is to the nearest original (memorisation check)."""

    index: int
    data_url: str
    nearest: int  # index of the nearest original
    distance: float  # RMS pixel distance to it
    looks_copied: bool


@dataclass(frozen=True)
class Showcase:
    """Everything the detail page shows of a trained style."""

    originals: list[str]
    variations: list[Variation]
    traversal: list[str]
    report: dict[str, Any]
    brief: str


# --- uploads and new styles -------------------------------------------------------------------


def check_image(data: bytes, label: str = "image") -> CheckedImage:
    """Check an image's bytes with course_lib (format by content, size, bomb); ValueError if bad.

    Pillow's decoders raise more than OSError on damaged files (a PNG with a garbled chunk
    raises SyntaxError, found by the fuzz tests); every such failure means "damaged".
    """
    try:
        image = course_styles.validate_image_bytes(data)
    except ValueError:
        raise
    except Exception as error:
        raise ValueError(
            f"the image is damaged and could not be decoded ({type(error).__name__}: {error})"
        ) from None
    try:
        return CheckedImage(label=label, data=bytes(data), format=image.format)
    finally:
        image.close()


def _samples_dir() -> Path:
    return Path(getattr(settings, "STYLE_SAMPLES_DIR", course_styles.SAMPLE_STYLES_DIR))


def sample_style_names() -> list[str]:
    """The shipped sample styles: folder names under data/style_samples/ that hold images."""
    folder = _samples_dir()
    if not folder.is_dir():
        return []
    return sorted(
        path.name
        for path in folder.iterdir()
        if path.is_dir() and not path.name.startswith(".") and _sample_files(path)
    )


def _sample_files(folder: Path) -> list[Path]:
    suffixes = {f".{ext}" for ext in EXTENSIONS.values()} | {".jpeg"}
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in suffixes)
    return files[: course_styles.MAX_IMAGES]


def sample_label(name: str) -> str:
    """A folder name as a title: ``warm_mandalas`` -> ``Warm mandalas``."""
    return name.replace("_", " ").replace("-", " ").strip().capitalize()


def sample_previews(limit: int = 4) -> list[tuple[str, str, list[str]]]:
    """``(name, label, data URLs of its first images)`` for each shipped sample style."""
    previews = []
    for name in sample_style_names():
        files = _sample_files(_samples_dir() / name)[:limit]
        urls = [_file_data_url(path) for path in files]
        previews.append((name, sample_label(name), urls))
    return previews


def _file_data_url(path: Path) -> str:
    kind = {"jpg": "jpeg"}.get(path.suffix.lower().lstrip("."), path.suffix.lower().lstrip("."))
    return imaging.to_data_url(path.read_bytes(), mime=f"image/{kind}")


def create_style(name: str, images: Sequence[CheckedImage]) -> Style:
    """Store the style and its sample files together (or nothing), then queue its training.

    The task is queued with ``transaction.on_commit``, so the worker never sees a style whose
    samples are not committed yet.
    """
    written: list[tuple[Any, str]] = []
    try:
        with transaction.atomic():
            style = Style.objects.create(name=name)
            for position, image in enumerate(images):
                sample = StyleSample(style=style, position=position)
                filename = f"style-{style.pk}-{uuid.uuid4().hex[:12]}.{EXTENSIONS[image.format]}"
                sample.image.save(filename, ContentFile(image.data), save=False)
                written.append((sample.image.storage, sample.image.name))
                sample.save(force_insert=True)
            transaction.on_commit(lambda: enqueue_training(style.pk))
    except BaseException:
        for storage, stored_name in written:  # the rows were rolled back: remove their files
            storage.delete(stored_name)
        raise
    return style


def create_sample_style(sample: str) -> Style:
    """A new style from one of the shipped sample folders (the name is validated by the form)."""
    if sample not in sample_style_names():
        raise ValueError(f"there is no sample style called {sample!r}")
    files = _sample_files(_samples_dir() / sample)
    images = [check_image(path.read_bytes(), path.name) for path in files]
    return create_style(f"{sample_label(sample)} (sample)", images)


def enqueue_training(style_id: int) -> None:
    """Queue the training task; if queueing fails, mark the style failed with the reason."""
    from .tasks import train_style_task  # tasks imports this module

    try:
        result = train_style_task.enqueue(style_id)
    except Exception as error:
        logger.exception("could not queue the training of style %s", style_id)
        Style.objects.filter(pk=style_id).update(
            status=StyleStatus.FAILED,
            error=f"The training could not be queued: {type(error).__name__}: {error}",
            updated=timezone.now(),
        )
        return
    Style.objects.filter(pk=style_id).update(task_result_id=str(result.id))


# --- training (runs in the background worker) -------------------------------------------------


def training_seconds() -> float:
    """How long one style trains (the STYLE_TRAINING_SECONDS setting, 45 by default)."""
    return float(getattr(settings, "STYLE_TRAINING_SECONDS", 45))


def load_sample_images(style: Style) -> torch.Tensor:
    """The style's stored samples as ``(n, 3, 32, 32)``, through course_lib's checks again."""
    pictures: list[Image.Image] = []
    for sample in style.samples.all():
        with sample.image.open("rb") as handle:
            pictures.append(course_styles.validate_image_bytes(handle.read()))
    try:
        return course_styles.load_style_images(pictures)
    finally:
        for picture in pictures:
            picture.close()


class _ProgressWriter:
    """train_style's callback: writes the progress to the style's row at most once a second."""

    def __init__(self, style_id: int, interval: float = PROGRESS_INTERVAL) -> None:
        self.style_id = style_id
        self.interval = interval
        self.last = time.monotonic()

    def __call__(self, record: dict[str, Any]) -> None:
        now = time.monotonic()
        if now - self.last < self.interval:
            return
        self.last = now
        progress = min(max(float(record.get("progress", 0.0)), 0.0), 1.0)
        Style.objects.filter(pk=self.style_id).update(progress=progress, updated=timezone.now())


def run_training(style_id: int) -> dict[str, Any]:
    """Train a queued style with course_lib.styles.train_style and store the result.

    Any exception marks the style failed with the reason (and is raised again, so the task
    result records it too): a crash never leaves a style "running".
    """
    started = time.perf_counter()
    claimed = Style.objects.filter(pk=style_id, status=StyleStatus.QUEUED).update(
        status=StyleStatus.RUNNING, progress=0.0, error="", updated=timezone.now()
    )
    if not claimed:  # deleted meanwhile, or already handled by an earlier run of the task
        return {"style_id": style_id, "status": "skipped"}
    try:
        style = Style.objects.get(pk=style_id)
        images = load_sample_images(style)
        result = course_styles.train_style(
            images,
            time_budget=training_seconds(),
            progress=False,  # no tqdm bar in the worker's log
            callback=_ProgressWriter(style_id),
        )
        _store_trained(style, result, seconds=time.perf_counter() - started)
    except BaseException as error:
        if isinstance(error, Exception):
            reason = f"Training failed: {type(error).__name__}: {error}"
        else:  # SystemExit / KeyboardInterrupt: the worker was stopped mid-training
            reason = "The worker was stopped while training; upload the samples again to retry."
        Style.objects.filter(pk=style_id).update(
            status=StyleStatus.FAILED, error=reason[:2000], updated=timezone.now()
        )
        raise
    return {
        "style_id": style_id,
        "status": "done",
        "seconds": round(time.perf_counter() - started, 2),
    }


def _store_trained(style: Style, result: course_styles.StyleResult, seconds: float) -> None:
    """Save the style file through storage and mark the row done, together or not at all."""
    with tempfile.TemporaryDirectory() as folder:
        path = course_styles.save_style(result, Path(folder) / "style.pt")
        data = path.read_bytes()
    field = style.style_file
    field.save(f"style-{style.pk}-{uuid.uuid4().hex[:12]}.pt", ContentFile(data), save=False)
    try:
        with transaction.atomic():
            updated = Style.objects.filter(pk=style.pk).update(
                status=StyleStatus.DONE,
                progress=1.0,
                error="",
                style_file=field.name,
                report=result.report,
                seconds=round(seconds, 2),
                updated=timezone.now(),
            )
    except BaseException:
        field.storage.delete(field.name)
        raise
    if not updated:  # the style was deleted while it trained: its file has no row to belong to
        field.storage.delete(field.name)


# --- the trained-style cache ------------------------------------------------------------------

_cache: LoadOnce[tuple[int, str], course_styles.StyleResult] = LoadOnce(CACHE_SIZE)


def get_trained(style: Style) -> course_styles.StyleResult:
    """The style's trained model, originals and report, loaded once per process and cached."""
    if style.status != StyleStatus.DONE or not style.style_file:
        raise StyleUnavailable("This style has not finished training.")
    return _cache.get((style.pk, style.style_file.name), lambda: _load_trained(style))


def _load_trained(style: Style) -> course_styles.StyleResult:
    use_threads(INFERENCE_THREADS)
    try:
        with _local_copy(style.style_file) as path:
            return course_styles.load_style(path)
    except (OSError, ValueError) as error:
        raise StyleUnavailable(f"The trained style file could not be read ({error}).") from error


@contextlib.contextmanager
def _local_copy(field: FieldFile) -> Iterator[Path]:
    """A local path to a stored file: the file itself, or a temporary copy (remote storage)."""
    try:
        path = Path(field.path)
    except NotImplementedError:
        path = None
    if path is not None:
        yield path
        return
    with tempfile.TemporaryDirectory() as folder:
        copy = Path(folder) / "style.pt"
        with field.open("rb") as handle:
            copy.write_bytes(handle.read())
        yield copy


def load_count(style: Style) -> int:
    """How many times this process has loaded the style's file (1 once it is cached)."""
    return _cache.loads[(style.pk, style.style_file.name)]


def clear_cache() -> None:
    """Forget loaded styles and load counts (tests)."""
    _cache.clear()


# --- showing and saving -----------------------------------------------------------------------


def variation_codes(model: torch.nn.Module, n: int = N_VARIATIONS, seed: int = VARIATION_SEED):
    """The latent codes of the page's variations, drawn by the model itself (``model.codes``),
    as ``course_lib.styles.variations(model, n, seed)`` does: code i always makes variation i."""
    return model.codes(n, seed=seed)


def _data_url(image: torch.Tensor) -> str:
    return imaging.to_data_url(image, scale=DISPLAY_SCALE)


@torch.no_grad()
def showcase(style: Style) -> Showcase:
    """Originals, variations with their nearest-original distances, a traversal, the report."""
    result = get_trained(style)
    model = result.model
    images = model.decode(variation_codes(model))
    nearest, distances = nearest_neighbour_distances(images, result.originals)
    copy_distance = float(result.report.get("copy_distance", course_styles.SAME_LOOK))
    variations = [
        Variation(
            index=i,
            data_url=_data_url(image),
            nearest=int(nearest[i]),
            distance=round(float(distances[i]), 3),
            looks_copied=float(distances[i]) <= copy_distance,
        )
        for i, image in enumerate(images)
    ]
    traversal = course_styles.latent_traversal(model, steps=TRAVERSAL_STEPS, seed=VARIATION_SEED)
    return Showcase(
        originals=[_data_url(image) for image in result.originals],
        variations=variations,
        traversal=[_data_url(image) for image in traversal],
        report=result.report,
        brief=course_styles.brief_report(result.report) if result.report else "",
    )


def save_variation(style: Style, index: int) -> tuple[GeneratedArtwork, bool]:
    """Store variation ``index`` in the gallery as a STYLE artwork, with the code and the style
    file (name and fingerprint) that made it; ``(artwork, created)``.

    Each variation is stored once: saving it again (a second click, a double POST racing the
    first) answers the artwork already there, and the unique constraint on style and variation
    settles a race, the loser's file being removed with its failed row.
    """
    if not 0 <= index < N_VARIATIONS:
        raise ValueError(f"variation numbers run from 1 to {N_VARIATIONS}, got {index + 1}")
    existing = GeneratedArtwork.objects.filter(style=style, variation_index=index).first()
    if existing is not None:
        return existing, False
    result = get_trained(style)
    code = variation_codes(result.model)[index]
    with torch.no_grad():
        image = result.model.decode(code.unsqueeze(0))[0]
    png = imaging.to_png_bytes(image, scale=GALLERY_SCALE)
    with _local_copy(style.style_file) as path:
        fingerprint = checkpoints.fingerprint(path)
    try:
        # The gallery's own helper writes the file and the row together (or neither).
        artwork = GeneratedArtwork.objects.create_with_image(
            title=f"{style.name} variation {index + 1}"[:200],
            generation_method=GenerationMethod.STYLE,
            png_bytes=png,
            latent_vector=[float(v) for v in code],
            checkpoint_name=style.style_file.name,
            checkpoint_fingerprint=fingerprint,
            style=style,
            variation_index=index,
        )
    except IntegrityError:
        return GeneratedArtwork.objects.get(style=style, variation_index=index), False
    return artwork, True
