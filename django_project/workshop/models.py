"""A record of one trained model: where its checkpoint is, what it is, how well it does.

It generalises the lesson's ``AutoencoderRecord`` (name, model file, input and latent
dimension, training loss, creation time) to every family the course trains. The weights stay
in the checkpoint file, written and read only by ``course_lib.checkpoints``; a record holds its
path (relative to the shared checkpoint folder) and fingerprint, never a second copy.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path, PurePosixPath

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models, transaction
from django.db.models.signals import post_delete
from django.dispatch import receiver
from django.utils import timezone

from course_lib.paths import checkpoint_dir

#: A "running" record with no progress written for this long has lost its worker (it writes
#: after every epoch, and an epoch takes seconds).
DEFAULT_STALE_SECONDS = 600

#: Web-trained checkpoints live here, inside the shared checkpoint folder, one file per record.
WEB_FOLDER = "web"


class ModelKind(models.TextChoices):
    """The model families (the command line's names)."""

    AUTOENCODER = "ae", "Autoencoder"
    VAE = "vae", "Variational autoencoder"
    GAN = "gan", "GAN"
    FLOW = "flow", "Latent flow"


#: The gallery's generation method (``/create/?method=``) of each kind.
GALLERY_METHODS = {
    ModelKind.AUTOENCODER: "AUTOENCODER",
    ModelKind.VAE: "VAE",
    ModelKind.GAN: "GAN",
    ModelKind.FLOW: "FLOW",
}


class ModelStatus(models.TextChoices):
    """Where a record is in its life: waiting for the worker, training, trained, or failed."""

    QUEUED = "queued", "Queued"
    RUNNING = "running", "Training"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class ModelSource(models.TextChoices):
    """Who made the checkpoint: a course recipe / the command line, or training from the web."""

    SHARED = "shared", "Shared checkpoint"
    WEB = "web", "Trained from the web"


class ModelRecordQuerySet(models.QuerySet):
    def finished(self) -> ModelRecordQuerySet:
        """Records whose checkpoint is trained and can be loaded."""
        return self.filter(status=ModelStatus.DONE).exclude(checkpoint="")

    def active(self) -> ModelRecordQuerySet:
        """Queued or running records whose worker has not gone silent (they count as a job)."""
        fresh = timezone.now() - timedelta(seconds=stale_seconds())
        return self.filter(
            models.Q(status=ModelStatus.QUEUED)
            | models.Q(status=ModelStatus.RUNNING, updated__gte=fresh)
        )


def stale_seconds() -> float:
    """How long a running record may stay silent before it is shown as failed."""
    return float(getattr(settings, "WORKSHOP_STALE_SECONDS", DEFAULT_STALE_SECONDS))


class ModelRecord(models.Model):
    """One trained (or training) model of any family, and the checkpoint that holds it."""

    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=10, choices=ModelKind.choices, db_index=True)
    architecture = models.CharField(max_length=60, blank=True, help_text="course_lib class name")
    source = models.CharField(
        max_length=10, choices=ModelSource.choices, default=ModelSource.WEB, db_index=True
    )
    # Relative to course_lib.paths.checkpoint_dir(), so COURSE_DATA_DIR can move the folder.
    checkpoint = models.CharField(max_length=255, blank=True)
    fingerprint = models.CharField(max_length=16, blank=True, help_text="checkpoints.fingerprint")
    input_dim = models.PositiveIntegerField(null=True, blank=True)
    latent_dim = models.PositiveIntegerField(null=True, blank=True)
    parameters = models.PositiveIntegerField(null=True, blank=True)
    final_loss = models.FloatField(null=True, blank=True)
    metrics = models.JSONField(default=dict, blank=True)
    training_history = models.JSONField(default=list, blank=True)
    dataset = models.CharField(max_length=40, default="mnist5k")
    seed = models.IntegerField(default=0)
    epochs = models.PositiveIntegerField(null=True, blank=True)
    batch_size = models.PositiveIntegerField(null=True, blank=True)
    status = models.CharField(
        max_length=10, choices=ModelStatus.choices, default=ModelStatus.QUEUED, db_index=True
    )
    progress = models.FloatField(
        default=0.0, validators=[MinValueValidator(0.0), MaxValueValidator(1.0)]
    )
    error = models.TextField(blank=True)
    task_result_id = models.CharField(max_length=64, blank=True)
    seconds = models.FloatField(null=True, blank=True, help_text="Wall time of the training.")
    is_default = models.BooleanField(
        default=False, help_text="The model the gallery serves for this kind (one per kind)."
    )
    created = models.DateTimeField(auto_now_add=True, db_index=True)
    # Touched by every progress write, so a silent worker can be told from a slow one.
    updated = models.DateTimeField(auto_now=True)
    finished = models.DateTimeField(null=True, blank=True)

    objects = ModelRecordQuerySet.as_manager()

    class Meta:
        ordering = ["-created", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["kind"], condition=models.Q(is_default=True), name="one_default_per_kind"
            ),
            models.UniqueConstraint(
                fields=["checkpoint"],
                condition=~models.Q(checkpoint=""),
                name="one_record_per_checkpoint",
            ),
            models.CheckConstraint(
                condition=models.Q(progress__gte=0.0, progress__lte=1.0), name="progress_0_to_1"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.name}"

    def save(self, *args, **kwargs) -> None:
        """Making a record the default of its kind takes the flag from the previous one."""
        if not self.is_default:
            super().save(*args, **kwargs)
            return
        with transaction.atomic():
            others = ModelRecord.objects.filter(kind=self.kind, is_default=True)
            others.exclude(pk=self.pk).update(is_default=False)
            super().save(*args, **kwargs)

    # --- the checkpoint ----------------------------------------------------------------------

    @property
    def checkpoint_path(self) -> Path | None:
        """The checkpoint's absolute path, or None while there is none (or a bad stored name)."""
        if not self.checkpoint:
            return None
        relative = PurePosixPath(self.checkpoint)
        if relative.is_absolute() or ".." in relative.parts:
            return None
        return checkpoint_dir() / relative

    @property
    def gallery_method(self) -> str:
        """The gallery's name for this kind (``/create/?method=...``)."""
        return GALLERY_METHODS.get(self.kind, self.kind.upper())

    # --- status as shown ---------------------------------------------------------------------

    @property
    def is_stale(self) -> bool:
        """True for a record "running" whose worker has written nothing for too long."""
        return (
            self.status == ModelStatus.RUNNING
            and self.updated is not None
            and timezone.now() - self.updated > timedelta(seconds=stale_seconds())
        )

    @property
    def shown_status(self) -> str:
        """The status to show: a stale "running" record is shown as failed."""
        return ModelStatus.FAILED if self.is_stale else self.status

    @property
    def shown_status_label(self) -> str:
        """The human label of :attr:`shown_status`."""
        return ModelStatus(self.shown_status).label

    @property
    def shown_error(self) -> str:
        """Why the training failed, including the stale case."""
        if self.is_stale:
            return (
                f"The worker stopped: no training progress for over {stale_seconds() / 60:g} "
                "minutes. Start the training again to retry."
            )
        return self.error

    @property
    def is_active(self) -> bool:
        """Still waiting or training (so the page keeps polling)."""
        return self.shown_status in (ModelStatus.QUEUED, ModelStatus.RUNNING)

    @property
    def percent(self) -> int:
        """Progress as a whole percentage for the progress bar."""
        return round(100 * min(max(self.progress, 0.0), 1.0))


@receiver(post_delete, sender=ModelRecord)
def _delete_web_checkpoint(sender: type[ModelRecord], instance: ModelRecord, **_: object) -> None:
    """A deleted web-trained record takes its checkpoint with it, once the deletion commits.

    Shared checkpoints (recipes, the command line) are never deleted here: the notebooks and
    the gallery use them.
    """
    path = instance.checkpoint_path
    if (
        instance.source == ModelSource.WEB
        and path is not None
        and instance.checkpoint.startswith(f"{WEB_FOLDER}/")
    ):
        transaction.on_commit(lambda: path.unlink(missing_ok=True))
