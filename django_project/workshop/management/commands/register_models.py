"""``python manage.py register_models``: record the shared checkpoints as model records."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from course_lib.paths import checkpoint_dir
from workshop import services


class Command(BaseCommand):
    help = (
        "Make a model record for each checkpoint in the shared folder (the notebooks' and "
        "train_models' recipes, the command line's files). Idempotent: an unchanged "
        "fingerprint leaves its record alone, a retrained checkpoint updates it."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        results = services.register_checkpoints()
        for result in results:
            line = f"{result.checkpoint}: {result.action}"
            if result.detail:
                line += f" ({result.detail})"
            self.stdout.write(line)
        counts = {action: 0 for action in ("created", "updated", "unchanged", "skipped")}
        for result in results:
            counts[result.action] += 1
        summary = ", ".join(f"{n} {action}" for action, n in counts.items())
        self.stdout.write(f"Model records from {checkpoint_dir()}: {summary}.")
