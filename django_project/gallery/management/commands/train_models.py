"""``python manage.py train_models``: train the gallery's models whose checkpoints are missing
or cannot be loaded."""

from __future__ import annotations

from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

from course_lib import recipes
from course_lib.paths import checkpoint_path
from course_lib.runtime import DEFAULT_THREADS, use_threads
from gallery import generation

LESSON = generation.LESSON_CHECKPOINTS


class Command(BaseCommand):
    help = (
        "Train the course models the gallery serves (the mixture-prior VAE, the conditional "
        "GAN, the autoencoder and the latent flow on mnist5k, and the lesson's VAE and MLP GAN "
        "beside them) if their checkpoints are missing from the shared folder or cannot be "
        "loaded (damaged, or not a safe course_lib checkpoint); --force trains them all again."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--force", action="store_true", help="retrain even if a checkpoint already exists"
        )
        parser.add_argument(
            "--method",
            choices=sorted(generation.CHECKPOINTS),
            action="append",
            help="only this method's models (repeatable); default: all",
        )

    def handle(
        self, *args: Any, force: bool = False, method: list[str] | None = None, **_: Any
    ) -> None:
        methods = method or list(generation.CHECKPOINTS)
        # Same thread count as the notebooks, so a checkpoint trained here is the same model.
        use_threads(DEFAULT_THREADS)
        trained = 0
        served = [(name, generation.CHECKPOINTS[name]) for name in methods]
        served += [(n, generation.LESSON_CHECKPOINTS[n]) for n in methods if n in LESSON]
        for name, recipe in served:
            path = checkpoint_path(recipe)
            retrain = force
            if force:
                reason = "retraining (--force)" if path.is_file() else "no checkpoint yet, training"
            elif not path.is_file():
                reason = "no checkpoint yet, training"
            else:
                # A damaged or foreign file would otherwise be "already trained" forever while
                # the gallery answers 503 for it: retrain it instead.
                try:
                    generation.check_checkpoint(name, recipe)
                except generation.ModelUnavailable as error:
                    reason = f"the checkpoint cannot be used ({error.reason}), retraining"
                    retrain = True
                else:
                    self.stdout.write(f"{name}: {recipe} is already trained ({path}), skipped.")
                    continue
            self.stdout.write(f"{name}: {reason} {recipe} ...")
            self.stdout.flush()
            recipes.get(recipe, progress=True, retrain=retrain)
            self.stdout.write(self.style.SUCCESS(f"{name}: saved {path}"))
            trained += 1
        generation.clear_cache()  # a process that serves after this must load the new weights
        summary = f"Trained {trained} model(s)" if trained else "All models were already trained"
        self.stdout.write(f"{summary}; checkpoints live in {checkpoint_path('x').parent}.")
        call_command("register_models", stdout=self.stdout)  # /models/ lists what is trained
