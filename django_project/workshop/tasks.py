"""Background tasks of the model workshop, run by ``python manage.py db_worker``."""

from __future__ import annotations

from typing import Any

from django_tasks import task

from . import services


@task()
def train_model_task(record_id: int) -> dict[str, Any]:
    """Train one queued model record with its course recipe and store the checkpoint."""
    return services.run_training(record_id)
