"""Background tasks of the style studio, run by ``python manage.py db_worker``."""

from __future__ import annotations

from typing import Any

from django_tasks import task

from . import services


@task()
def train_style_task(style_id: int) -> dict[str, Any]:
    """Train one queued style (course_lib.styles.train_style) and store the result."""
    return services.run_training(style_id)
