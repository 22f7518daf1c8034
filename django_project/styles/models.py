"""A style learned from a visitor's sample images, and the samples it was learned from."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models, transaction
from django.db.models.signals import post_delete
from django.dispatch import receiver
from django.utils import timezone

#: A style "running" with no progress written for this long has lost its worker (it writes
#: progress about once a second while it trains).
DEFAULT_STALE_SECONDS = 600


class StyleStatus(models.TextChoices):
    """Where a style is in its life: waiting for the worker, training, trained, or failed."""

    QUEUED = "queued", "Queued"
    RUNNING = "running", "Training"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class Style(models.Model):
    """A personal style: the samples' name, the training's state and the trained model file."""

    name = models.CharField(max_length=100)
    created = models.DateTimeField(auto_now_add=True, db_index=True)
    # Touched by every progress write, so a silent worker can be told from a slow one.
    updated = models.DateTimeField(auto_now=True)
    status = models.CharField(
        max_length=10, choices=StyleStatus.choices, default=StyleStatus.QUEUED, db_index=True
    )
    progress = models.FloatField(
        default=0.0, validators=[MinValueValidator(0.0), MaxValueValidator(1.0)]
    )
    error = models.TextField(blank=True)
    task_result_id = models.CharField(max_length=64, blank=True)
    # The course_lib.styles.save_style file: weights, the 32x32 originals, report, history.
    style_file = models.FileField(upload_to="styles/models/", blank=True)
    report = models.JSONField(default=dict, blank=True)
    seconds = models.FloatField(null=True, blank=True, help_text="Wall time of the training task.")

    class Meta:
        ordering = ["-created", "-id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.status})"

    @property
    def is_stale(self) -> bool:
        """True for a style "running" whose worker has written nothing for too long."""
        limit = getattr(settings, "STYLE_STALE_SECONDS", DEFAULT_STALE_SECONDS)
        return (
            self.status == StyleStatus.RUNNING
            and self.updated is not None
            and timezone.now() - self.updated > timedelta(seconds=limit)
        )

    @property
    def shown_status(self) -> str:
        """The status to show: a stale "running" style is shown as failed."""
        return StyleStatus.FAILED if self.is_stale else self.status

    @property
    def shown_status_label(self) -> str:
        """The human label of :attr:`shown_status`."""
        return StyleStatus(self.shown_status).label

    @property
    def shown_error(self) -> str:
        """Why the style failed, including the stale case."""
        if self.is_stale:
            minutes = getattr(settings, "STYLE_STALE_SECONDS", DEFAULT_STALE_SECONDS) / 60
            return (
                f"The worker stopped: no training progress for over {minutes:g} minutes. "
                "Upload the samples again to retry."
            )
        return self.error

    @property
    def is_active(self) -> bool:
        """Still waiting or training (so the page keeps polling)."""
        return self.shown_status in (StyleStatus.QUEUED, StyleStatus.RUNNING)

    @property
    def percent(self) -> int:
        """Progress as a whole percentage for the progress bar."""
        return round(100 * min(max(self.progress, 0.0), 1.0))


class StyleSample(models.Model):
    """One uploaded sample image of a style, stored as the visitor sent it (after checks)."""

    style = models.ForeignKey(Style, on_delete=models.CASCADE, related_name="samples")
    image = models.ImageField(upload_to="styles/samples/")
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["style", "position", "id"]

    def __str__(self) -> str:
        return f"{self.style.name} sample {self.position + 1}"


def _delete_file_after_commit(field_file: models.fields.files.FieldFile) -> None:
    """Remove a stored file once the deletion of its row is committed."""
    if field_file:
        name, storage = field_file.name, field_file.storage
        transaction.on_commit(lambda: storage.delete(name))


@receiver(post_delete, sender=Style)
def _delete_style_file(sender: type[Style], instance: Style, **_: object) -> None:
    """A deleted style takes its trained model file with it."""
    _delete_file_after_commit(instance.style_file)


@receiver(post_delete, sender=StyleSample)
def _delete_sample_file(sender: type[StyleSample], instance: StyleSample, **_: object) -> None:
    """A deleted sample takes its image file with it."""
    _delete_file_after_commit(instance.image)
