"""Admin for model records: filters, sample thumbnails, and the default model of each kind.

What training wrote (checkpoint, fingerprint, history, metrics, status) is read-only; the
instructor edits the name and chooses the default the gallery serves (one per kind: ticking
it takes the flag from the previous default).
"""

from django.contrib import admin
from django.utils.html import format_html

from . import services
from .models import ModelRecord, ModelStatus


def _thumbnail(record: ModelRecord, width: int) -> str:
    if record.shown_status != ModelStatus.DONE:
        return "-"
    try:
        url = services.sample_grid(record)
    except services.RecordUnavailable as error:
        return str(error)
    return format_html(
        '<img src="{}" width="{}" alt="Samples of {}" style="image-rendering: pixelated">',
        url,
        width,
        record.name,
    )


@admin.register(ModelRecord)
class ModelRecordAdmin(admin.ModelAdmin):
    """List, filter and inspect records; pick each kind's default."""

    list_display = (
        "name",
        "kind",
        "architecture",
        "status",
        "is_default",
        "dataset",
        "epochs",
        "final_loss",
        "created",
        "samples",
    )
    list_filter = ("kind", "status", "source", "is_default", "dataset", "architecture")
    search_fields = ("name", "checkpoint", "fingerprint")
    date_hierarchy = "created"
    readonly_fields = (
        "kind",
        "architecture",
        "source",
        "checkpoint",
        "fingerprint",
        "input_dim",
        "latent_dim",
        "parameters",
        "final_loss",
        "metrics",
        "training_history",
        "dataset",
        "seed",
        "epochs",
        "batch_size",
        "status",
        "progress",
        "error",
        "task_result_id",
        "seconds",
        "created",
        "updated",
        "finished",
        "sample_grid",
    )
    fields = ("name", "is_default", "sample_grid", *readonly_fields[:-1])

    def has_add_permission(self, request) -> bool:
        return False  # records come from training and register_models

    @admin.display(description="samples")
    def samples(self, record: ModelRecord) -> str:
        """A small grid of the model's samples."""
        return _thumbnail(record, 160)

    @admin.display(description="samples")
    def sample_grid(self, record: ModelRecord) -> str:
        """The model's sample grid at full size."""
        return _thumbnail(record, 460)
