"""The workshop's one door to course_lib: register checkpoints, train, measure, sample.

Views, the background task and the management command call only the functions here.
Training is ``course_lib.recipes.train_fresh`` (the course's own recipes, nothing written
twice), checkpoints are written and read by ``course_lib.checkpoints`` and named by
``checkpoints.fingerprint``, held-out figures come from ``course_lib.metrics``, and sample
grids from ``course_lib.imaging``. A loaded model is cached per process by record id and
fingerprint, so a retrained checkpoint is never served from a stale cache.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from torch import nn

from course_lib import checkpoints, imaging, metrics, recipes
from course_lib.data import load_dataset
from course_lib.models import DigitClassifier
from course_lib.paths import checkpoint_dir
from course_lib.runtime import use_threads
from gallery_site.model_cache import LoadOnce

from .models import GALLERY_METHODS, WEB_FOLDER, ModelKind, ModelRecord, ModelSource, ModelStatus

logger = logging.getLogger(__name__)

#: The recipe each kind is trained with from the web: the course's best model of the family.
WEB_RECIPES = {
    ModelKind.AUTOENCODER: "ae_mnist5k",
    ModelKind.VAE: "vae_mnist5k",
    ModelKind.GAN: "cgan_mnist5k",
}
#: Datasets a visitor may train on: digits, so every model is judged against real digits.
DATASETS = {"mnist5k": "MNIST, 5,000 digits", "digits": "scikit-learn's 8x8 digits, upscaled"}
EPOCHS_MIN, EPOCHS_MAX, EPOCHS_DEFAULT = 1, 50, 10
BATCH_SIZES = (16, 32, 64, 128, 256, 512)
BATCH_SIZE_DEFAULT = 64
DEFAULT_MAX_ACTIVE_JOBS = 2

#: Course classes that generate images, and their kind. Others in the folder (the digit
#: judge, critics) are not registered.
KIND_OF_CLASS = {
    "AutoencoderModel": ModelKind.AUTOENCODER,
    "VariationalAutoencoder": ModelKind.VAE,
    "MixturePriorVAE": ModelKind.VAE,
    "Generator": ModelKind.GAN,
    "ConvGenerator": ModelKind.GAN,
    "LatentFlowModel": ModelKind.FLOW,
}
#: The per-epoch losses drawn on a card, per kind; the last one's final value is the
#: record's training loss (for a GAN the generator's, as in the lesson's history).
LOSS_KEYS = {
    ModelKind.AUTOENCODER: ("loss",),
    ModelKind.VAE: ("loss",),
    ModelKind.GAN: ("d_loss", "g_loss"),
    ModelKind.FLOW: ("loss",),
}
N_JUDGED = 1000  # samples judged at the end of training (sample_quality's reference size)
GRID_SAMPLES, GRID_COLUMNS, GRID_SCALE, GRID_SEED = 16, 8, 2, 0
CACHE_SIZE = 32  # loaded models kept per process
INFERENCE_THREADS = 1  # as the gallery: one torch thread per web process or worker


class QueueFull(RuntimeError):
    """Too many trainings are queued or running; the message says how many are allowed."""


class RecordUnavailable(RuntimeError):
    """A record has no usable checkpoint (not trained yet, file missing, damaged or changed)."""


# --- limits -----------------------------------------------------------------------------------


def max_active_jobs() -> int:
    """How many trainings may be queued or running at once (WORKSHOP_MAX_ACTIVE_JOBS, 2)."""
    return int(getattr(settings, "WORKSHOP_MAX_ACTIVE_JOBS", DEFAULT_MAX_ACTIVE_JOBS))


# --- describing a model -----------------------------------------------------------------------


@dataclass(frozen=True)
class ModelFacts:
    """What a record says about a model, read from the model itself."""

    architecture: str
    input_dim: int
    latent_dim: int
    parameters: int


def facts(model: nn.Module) -> ModelFacts:
    """Class name, image size, code size and number of weights of a generative model."""
    config = getattr(model, "config", {})
    input_dim = config.get("input_dim") or config.get("output_dim") or 28 * 28
    return ModelFacts(
        architecture=type(model).__name__,
        input_dim=int(input_dim),
        latent_dim=int(model.latent_dim),
        parameters=sum(p.numel() for p in model.parameters()),
    )


def final_loss(kind: str, history: list[dict[str, Any]]) -> float | None:
    """The last epoch's training loss (for a GAN the generator's), or None without a history."""
    key = LOSS_KEYS.get(kind, ("loss",))[-1]
    if not history or not isinstance(history[-1], dict) or key not in history[-1]:
        return None
    return round(float(history[-1][key]), 4)


def _rounded(record: dict[str, Any]) -> dict[str, Any]:
    return {k: round(v, 5) if isinstance(v, float) else v for k, v in record.items()}


# --- measuring --------------------------------------------------------------------------------


def judge() -> DigitClassifier:
    """The course's digit judge (trained once and cached by course_lib.metrics)."""
    return metrics.digit_classifier()


def evaluate(model: nn.Module, kind: str, dataset: str) -> dict[str, float]:
    """Held-out figures the course reports, cheap enough for the end of a training.

    Nats per image on ``dataset``'s held-out split where defined (VAE: negative ELBO,
    autoencoder: reconstruction cross-entropy); for samples, the classifier score and
    Fréchet distance as ratios to real digits, and the memorisation ratio and copy share.
    """
    classifier = judge()  # outside no_grad: the first call trains the judge
    model.eval()
    train, test = load_dataset(dataset, "train"), load_dataset(dataset, "test")
    figures: dict[str, float] = {}
    if kind == ModelKind.VAE:
        figures["neg_elbo_nats"] = metrics.negative_elbo(model, test)
    elif kind == ModelKind.AUTOENCODER:
        figures["recon_bce_nats"] = metrics.reconstruction_bce(model, test)
    with torch.no_grad():
        samples = model.sample(N_JUDGED, seed=0).cpu()
    quality = metrics.sample_quality(samples, classifier=classifier)
    figures.update(
        score_ratio=quality["score_ratio"],
        fd_ratio=quality["fd_ratio"],
        score=quality["score"],
        real_score=quality["real_score"],
    )
    copying = metrics.memorisation_check(samples, train, test)
    figures.update(memorisation_ratio=copying["ratio"], copies=copying["copies"])
    return {key: round(float(value), 4) for key, value in figures.items()}


# --- training from the web --------------------------------------------------------------------


def start_training(
    kind: str, epochs: int, batch_size: int, dataset: str = "mnist5k", name: str = ""
) -> ModelRecord:
    """Store a queued record and queue its training, or raise QueueFull (nothing stored).

    The count and the insert share one transaction (on SQLite it holds the write lock from
    its start), and the task is queued on commit, so the worker never sees an uncommitted row.
    """
    if kind not in WEB_RECIPES:
        raise ValueError(f"unknown kind {kind!r}; choose one of {', '.join(WEB_RECIPES)}")
    limit = max_active_jobs()
    with transaction.atomic():
        active = ModelRecord.objects.active().count()
        if active >= limit:
            raise QueueFull(
                f"{active} trainings are already queued or running and this server allows "
                f"{limit} at a time; try again when one has finished."
            )
        label = ModelKind(kind).label
        record = ModelRecord.objects.create(
            name=name or f"{label}, {epochs} epochs on {dataset}",
            kind=kind,
            source=ModelSource.WEB,
            dataset=dataset,
            seed=recipes.RECIPES[WEB_RECIPES[kind]].seed,
            epochs=epochs,
            batch_size=batch_size,
        )
        transaction.on_commit(lambda: enqueue_training(record.pk))
    return record


def enqueue_training(record_id: int) -> None:
    """Queue the training task; if queueing fails, mark the record failed with the reason."""
    from .tasks import train_model_task  # tasks imports this module

    try:
        result = train_model_task.enqueue(record_id)
    except Exception as error:
        logger.exception("could not queue the training of model record %s", record_id)
        ModelRecord.objects.filter(pk=record_id).update(
            status=ModelStatus.FAILED,
            error=f"The training could not be queued: {type(error).__name__}: {error}",
            updated=timezone.now(),
        )
        return
    ModelRecord.objects.filter(pk=record_id).update(task_result_id=str(result.id))


class _EpochWriter:
    """The training loop's callback: progress and the live history, written after each epoch."""

    def __init__(self, record_id: int, epochs: int) -> None:
        self.record_id = record_id
        self.epochs = epochs
        self.history: list[dict[str, Any]] = []

    def __call__(self, record: dict[str, Any]) -> None:
        self.history.append(_rounded(record))
        ModelRecord.objects.filter(pk=self.record_id).update(
            progress=min(len(self.history) / self.epochs, 1.0),
            training_history=self.history,
            updated=timezone.now(),
        )


def run_training(record_id: int) -> dict[str, Any]:
    """Train a queued record with its kind's course recipe, measure it, save its checkpoint.

    Any exception marks the record failed with the reason and removes a checkpoint written
    for it (then is raised again, so the task result records it too): a crash never leaves a
    record "running" or an orphan file.
    """
    started = time.perf_counter()
    claimed = ModelRecord.objects.filter(pk=record_id, status=ModelStatus.QUEUED).update(
        status=ModelStatus.RUNNING, progress=0.0, error="", updated=timezone.now()
    )
    if not claimed:  # deleted meanwhile, or already handled by an earlier run of the task
        return {"model_id": record_id, "status": "skipped"}
    relative = f"{WEB_FOLDER}/record-{record_id}-{uuid.uuid4().hex[:8]}.pt"
    path = checkpoint_dir() / relative
    try:
        use_threads(INFERENCE_THREADS)
        record = ModelRecord.objects.get(pk=record_id)
        recipe = WEB_RECIPES[record.kind]
        model, history = recipes.train_fresh(
            recipe,
            load_dataset(record.dataset, "train"),
            epochs=record.epochs,
            batch_size=record.batch_size,
            callback=_EpochWriter(record_id, record.epochs),
        )
        figures = evaluate(model, record.kind, record.dataset)
        history = [_rounded(r) for r in history]
        checkpoints.save(
            model,
            path,
            recipe=recipe,
            kind=record.kind,
            dataset=record.dataset,
            seed=record.seed,
            epochs=record.epochs,
            batch_size=record.batch_size,
            metrics=figures,
            history=history,
        )
        described = facts(model)
        with transaction.atomic():
            updated = ModelRecord.objects.filter(pk=record_id).update(
                status=ModelStatus.DONE,
                progress=1.0,
                error="",
                checkpoint=relative,
                fingerprint=checkpoints.fingerprint(path),
                architecture=described.architecture,
                input_dim=described.input_dim,
                latent_dim=described.latent_dim,
                parameters=described.parameters,
                final_loss=final_loss(record.kind, history),
                metrics=figures,
                training_history=history,
                seconds=round(time.perf_counter() - started, 2),
                finished=timezone.now(),
                updated=timezone.now(),
            )
        if not updated:  # the record was deleted while it trained: its file belongs to no one
            path.unlink(missing_ok=True)
    except BaseException as error:
        path.unlink(missing_ok=True)
        if isinstance(error, Exception):
            reason = f"Training failed: {type(error).__name__}: {error}"
        else:  # SystemExit / KeyboardInterrupt: the worker was stopped mid-training
            reason = "The worker was stopped while training; start the training again."
        ModelRecord.objects.filter(pk=record_id).update(
            status=ModelStatus.FAILED,
            error=reason[:2000],
            finished=timezone.now(),
            updated=timezone.now(),
        )
        raise
    return {
        "model_id": record_id,
        "status": "done",
        "seconds": round(time.perf_counter() - started, 2),
    }


# --- registering the shared checkpoints -------------------------------------------------------


@dataclass(frozen=True)
class Registration:
    """What ``register_checkpoints`` did with one file: created, updated, unchanged, skipped."""

    checkpoint: str
    action: str
    detail: str = ""
    record: ModelRecord | None = None


def shared_checkpoints() -> list[Path]:
    """The ``*.pt`` files in the shared folder itself (recipes, CLI), not the web-trained ones."""
    folder = checkpoint_dir()
    return sorted(folder.glob("*.pt")) if folder.is_dir() else []


def register_checkpoints(paths: Iterable[Path] | None = None) -> list[Registration]:
    """Make or refresh a record for each shared checkpoint; idempotent.

    A record is keyed by its checkpoint's name: an unchanged fingerprint leaves it alone, a
    changed one (retrained) rewrites what the record says. Files that are not a course
    generative model, or cannot be read safely, are skipped with the reason. Then each kind
    without a default gets the checkpoint the gallery serves for it (the course's best).
    """
    done = []
    for path in shared_checkpoints() if paths is None else paths:
        done.append(_register(Path(path)))
    _choose_defaults()
    return done


def _register(path: Path) -> Registration:
    name = path.name
    try:
        meta = checkpoints.read_metadata(path)
        weights = checkpoints.fingerprint(path)
    except (ValueError, FileNotFoundError) as error:
        return Registration(name, "skipped", str(error))
    kind = KIND_OF_CLASS.get(meta.get("class", ""))
    if kind is None:
        return Registration(name, "skipped", f"{meta.get('class')} does not generate images")
    existing = ModelRecord.objects.filter(checkpoint=name).first()
    if existing is not None and existing.fingerprint == weights:
        return Registration(name, "unchanged", record=existing)
    try:
        model = checkpoints.load(path)
    except (ValueError, FileNotFoundError) as error:
        return Registration(name, "skipped", str(error))
    recipe = meta.get("recipe") if isinstance(meta.get("recipe"), dict) else {}
    history = [r for r in meta.get("history") or [] if isinstance(r, dict)]
    stored_metrics = meta.get("metrics") if isinstance(meta.get("metrics"), dict) else {}
    described = facts(model)
    values = dict(
        name=path.stem,
        kind=kind,
        source=ModelSource.SHARED,
        fingerprint=weights,
        architecture=described.architecture,
        input_dim=described.input_dim,
        latent_dim=described.latent_dim,
        parameters=described.parameters,
        final_loss=final_loss(kind, history),
        metrics={k: v for k, v in stored_metrics.items() if isinstance(v, (int, float))},
        training_history=history,
        dataset=str(recipe.get("dataset") or meta.get("dataset") or "")[:40],
        seed=int(recipe.get("seed", meta.get("seed", 0)) or 0),
        epochs=len(history) or None,
        batch_size=recipe.get("batch_size") or meta.get("batch_size"),
        status=ModelStatus.DONE,
        progress=1.0,
        error="",
        finished=_saved_at(meta.get("saved_at")),
    )
    _forget_record(existing.pk if existing else None)
    record, created = ModelRecord.objects.update_or_create(checkpoint=name, defaults=values)
    return Registration(name, "created" if created else "updated", record=record)


def _saved_at(value: Any) -> datetime:
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        return datetime.now(UTC)


def course_defaults() -> dict[str, str]:
    """The checkpoint file the gallery serves for each kind: the course's default models."""
    from gallery.generation import CHECKPOINTS  # the gallery's one list of served models

    return {
        str(kind): f"{CHECKPOINTS[method]}.pt"
        for kind, method in GALLERY_METHODS.items()
        if method in CHECKPOINTS
    }


def _choose_defaults() -> None:
    for kind, checkpoint in course_defaults().items():
        if ModelRecord.objects.filter(kind=kind, is_default=True).exists():
            continue
        record = ModelRecord.objects.finished().filter(kind=kind, checkpoint=checkpoint).first()
        if record is not None:
            record.is_default = True
            record.save(update_fields=["is_default"])


def default_record(kind: str) -> ModelRecord | None:
    """The record the gallery serves for ``kind``: the instructor's choice in the admin, else
    the course's default checkpoint, else the newest finished one."""
    finished = ModelRecord.objects.finished().filter(kind=kind)
    return (
        finished.filter(is_default=True).first()
        or finished.filter(checkpoint=course_defaults().get(kind, "")).first()
        or finished.first()
    )


# --- loading and showing ----------------------------------------------------------------------


#: Models loaded per process, keyed by record id and fingerprint, and their sample grids.
_models: LoadOnce[tuple[int, str], nn.Module] = LoadOnce(CACHE_SIZE)
_grids: LoadOnce[tuple[int, str], str] = LoadOnce(CACHE_SIZE)


def _forget_record(record_id: int | None) -> None:
    """Drop a record's cached model and grid (its checkpoint was replaced)."""
    for cache in (_models, _grids):
        cache.discard(lambda key: key[0] != record_id)


def load_model(record: ModelRecord) -> nn.Module:
    """The record's model, loaded once per process; refused if its file changed since."""
    path = record.checkpoint_path
    if record.status != ModelStatus.DONE or path is None:
        raise RecordUnavailable("This model has not finished training.")
    return _models.get((record.pk, record.fingerprint), lambda: _load_record(record, path))


def _load_record(record: ModelRecord, path: Any) -> nn.Module:
    use_threads(INFERENCE_THREADS)
    try:
        if checkpoints.fingerprint(path) != record.fingerprint:
            raise RecordUnavailable(
                f"The checkpoint {record.checkpoint} has changed since it was recorded; "
                "run `python manage.py register_models` to record the new weights."
            )
        return checkpoints.load(path)
    except ValueError as error:
        raise RecordUnavailable(f"The checkpoint cannot be used: {error}") from None


def sample_grid(record: ModelRecord) -> str:
    """A ``data:`` URL of 16 seeded samples from the record's model (``model.sample``)."""

    def draw() -> str:
        model = load_model(record)
        with torch.no_grad():
            images = model.sample(GRID_SAMPLES, seed=GRID_SEED)
        grid = imaging.make_grid(images, nrow=GRID_COLUMNS, scale=GRID_SCALE)
        return imaging.to_data_url(grid)

    return _grids.get((record.pk, record.fingerprint), draw)


def clear_cache() -> None:
    """Forget loaded models and grids (tests)."""
    _models.clear()
    _grids.clear()


def status_payload(record: ModelRecord) -> dict[str, Any]:
    """The status endpoint's answer: the lesson's ``training_history`` while it grows."""
    return {
        "status": record.shown_status,
        "progress": round(record.progress, 4),
        "training_history": record.training_history,
        "metrics": record.metrics,
        "error": record.shown_error,
    }


def record_payload(record: ModelRecord) -> dict[str, Any]:
    """A record as JSON: what it is, where its checkpoint is, how it trained and scores."""
    return {
        "id": record.pk,
        "name": record.name,
        "kind": record.kind,
        "architecture": record.architecture,
        "source": record.source,
        "checkpoint": record.checkpoint,
        "fingerprint": record.fingerprint,
        "input_dim": record.input_dim,
        "latent_dim": record.latent_dim,
        "parameters": record.parameters,
        "final_loss": record.final_loss,
        "dataset": record.dataset,
        "seed": record.seed,
        "epochs": record.epochs,
        "batch_size": record.batch_size,
        "is_default": record.is_default,
        "created": record.created.isoformat(),
        "finished": record.finished.isoformat() if record.finished else None,
        **status_payload(record),
    }


#: How the cards show the held-out figures: label, format, and what "good" means.
METRIC_LABELS = (
    ("neg_elbo_nats", "Held-out negative ELBO", "{:.1f} nats", "lower is better"),
    ("recon_bce_nats", "Held-out reconstruction", "{:.1f} nats", "lower is better"),
    ("score_ratio", "Classifier score", "{:.2f}× real", "1 = as good as real digits"),
    ("fd_ratio", "Fréchet distance", "{:.1f}× real", "1 = as close as real digits"),
    ("memorisation_ratio", "Distance to training digits", "{:.2f}× real", "below 1: copying"),
    ("copies", "Near-copies", "{:.1%}", "of the samples"),
)


def shown_metrics(figures: dict[str, Any]) -> list[tuple[str, str, str]]:
    """``(label, value, meaning)`` for each figure a record has, in the cards' order."""
    shown = []
    for key, label, fmt, meaning in METRIC_LABELS:
        value = figures.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            shown.append((label, fmt.format(value), meaning))
    return shown
