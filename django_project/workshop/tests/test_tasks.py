"""The training task: a real course recipe, the live history, and every way it can fail."""

from __future__ import annotations

import signal

import pytest
import torch
from django.core.management import call_command
from django.db import DatabaseError
from django_tasks_db.models import DBTaskResult

from course_lib import checkpoints, recipes
from workshop import services, tasks
from workshop.models import ModelKind, ModelRecord, ModelStatus
from workshop.tasks import train_model_task

pytestmark = pytest.mark.django_db


def queued(kind: str = ModelKind.VAE, epochs: int = 2, batch_size: int = 512) -> ModelRecord:
    """A queued record, as start_training leaves it (the task is run by the test)."""
    return ModelRecord.objects.create(
        name="t", kind=kind, epochs=epochs, batch_size=batch_size, dataset="mnist5k"
    )


def test_the_task_trains_the_kinds_recipe_and_stores_a_loadable_checkpoint(
    monkeypatch: pytest.MonkeyPatch, checkpoint_files
) -> None:
    calls = []
    real = recipes.train_fresh

    def spy(name, data, **kwargs):
        calls.append((name, len(data), kwargs["epochs"], kwargs["batch_size"]))
        return real(name, data, **kwargs)

    monkeypatch.setattr(recipes, "train_fresh", spy)
    record = queued(epochs=2, batch_size=512)
    result = train_model_task.enqueue(record.pk)
    record.refresh_from_db()
    assert result.return_value["status"] == "done"
    assert calls == [("vae_mnist5k", 4000, 2, 512)]
    assert record.status == ModelStatus.DONE and record.progress == 1.0 and record.error == ""
    assert checkpoint_files() == [record.checkpoint]
    assert record.checkpoint.startswith(f"web/record-{record.pk}-")
    assert record.fingerprint == checkpoints.fingerprint(record.checkpoint_path)
    model = checkpoints.load(record.checkpoint_path)
    assert type(model).__name__ == record.architecture == "VariationalAutoencoder"
    assert record.latent_dim == model.latent_dim and record.input_dim == 784
    assert record.parameters == sum(p.numel() for p in model.parameters())
    assert [row["epoch"] for row in record.training_history] == [1, 2]
    assert record.final_loss == round(record.training_history[-1]["loss"], 4)
    assert model.metadata["history"] == record.training_history
    assert set(record.metrics) == {
        "neg_elbo_nats",
        "score_ratio",
        "fd_ratio",
        "score",
        "real_score",
        "memorisation_ratio",
        "copies",
    }
    assert 80 < record.metrics["neg_elbo_nats"] < 400  # nats per image of a barely trained VAE
    assert record.finished is not None and record.seconds > 0


def test_progress_and_the_history_are_written_after_every_epoch(
    monkeypatch: pytest.MonkeyPatch, fake_metrics
) -> None:
    seen = []
    real_call = services._EpochWriter.__call__

    def watch(self, row):
        real_call(self, row)
        record = ModelRecord.objects.get(pk=self.record_id)
        seen.append((record.status, record.progress, len(record.training_history)))

    monkeypatch.setattr(services._EpochWriter, "__call__", watch)
    record = queued(kind=ModelKind.AUTOENCODER, epochs=3)
    services.run_training(record.pk)
    assert seen == [("running", 1 / 3, 1), ("running", 2 / 3, 2), ("running", 1.0, 3)]


def test_a_gan_records_the_generator_and_both_losses(monkeypatch: pytest.MonkeyPatch) -> None:
    # The lesson's MLP GAN stands in for the conditional conv GAN to keep the test quick.
    monkeypatch.setitem(services.WEB_RECIPES, ModelKind.GAN, "gan_mnist5k")
    record = queued(kind=ModelKind.GAN, epochs=1)
    services.run_training(record.pk)
    record.refresh_from_db()
    assert record.architecture == "Generator" and record.latent_dim == 64
    assert {"d_loss", "g_loss"} <= set(record.training_history[0])
    assert record.final_loss == round(record.training_history[0]["g_loss"], 4)
    assert "neg_elbo_nats" not in record.metrics and "score_ratio" in record.metrics


def test_a_crash_after_the_checkpoint_is_written_fails_the_record_and_removes_the_file(
    monkeypatch: pytest.MonkeyPatch, checkpoint_files, fake_metrics
) -> None:
    def broken(path):
        assert checkpoint_files() != []  # the checkpoint was written ...
        raise ValueError("disk trouble")

    monkeypatch.setattr(checkpoints, "fingerprint", broken)
    record = queued(epochs=1)
    with pytest.raises(ValueError, match="disk trouble"):
        services.run_training(record.pk)
    record.refresh_from_db()
    assert record.status == ModelStatus.FAILED
    assert record.error == "Training failed: ValueError: disk trouble"
    assert record.checkpoint == "" and checkpoint_files() == []  # ... and removed again


def test_a_crash_while_training_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    def crash(*args, **kwargs):
        raise RuntimeError("out of memory")

    monkeypatch.setattr(recipes, "train_fresh", crash)
    record = queued()
    result = train_model_task.enqueue(record.pk)  # the task result records the failure too
    assert result.status.name == "FAILED"
    record.refresh_from_db()
    assert record.shown_status == "failed" and "RuntimeError: out of memory" in record.error


def test_a_stopped_worker_marks_the_record_failed(monkeypatch: pytest.MonkeyPatch) -> None:
    def stopped(*args, **kwargs):
        raise SystemExit(1)  # what db_worker's second Ctrl-C raises inside a task

    monkeypatch.setattr(services, "evaluate", stopped)
    record = queued(epochs=1)
    with pytest.raises(SystemExit):
        services.run_training(record.pk)
    record.refresh_from_db()
    assert record.status == ModelStatus.FAILED
    assert record.error.startswith("The worker was stopped while training")


def test_the_file_is_removed_if_the_row_cannot_be_updated(
    monkeypatch: pytest.MonkeyPatch, checkpoint_files, fake_metrics
) -> None:
    class BrokenAtomic:
        def __enter__(self):
            raise DatabaseError("database is locked")

        def __exit__(self, *exc):
            return False

    record = queued(epochs=1)
    monkeypatch.setattr(services.transaction, "atomic", BrokenAtomic)
    with pytest.raises(DatabaseError):
        services.run_training(record.pk)
    assert checkpoint_files() == []
    record.refresh_from_db()
    assert record.status == ModelStatus.FAILED and "database is locked" in record.error


def test_a_record_deleted_while_training_leaves_no_file(
    monkeypatch: pytest.MonkeyPatch, checkpoint_files
) -> None:
    def delete_then_evaluate(model, kind, dataset):
        ModelRecord.objects.all().delete()
        return {"score_ratio": 0.5}

    monkeypatch.setattr(services, "evaluate", delete_then_evaluate)
    record = queued(epochs=1)
    assert services.run_training(record.pk)["status"] == "done"
    assert checkpoint_files() == []


def test_a_record_that_is_not_queued_is_left_alone() -> None:
    record = ModelRecord.objects.create(name="d", kind="vae", status=ModelStatus.DONE)
    assert services.run_training(record.pk) == {"model_id": record.pk, "status": "skipped"}
    assert services.run_training(12345)["status"] == "skipped"


def test_a_training_that_cannot_be_queued_fails_with_the_reason(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class Unqueueable:
        def enqueue(self, *args):
            raise ConnectionError("queue is down")

    monkeypatch.setattr(tasks, "train_model_task", Unqueueable())
    record = queued()
    services.enqueue_training(record.pk)
    record.refresh_from_db()
    assert record.status == ModelStatus.FAILED
    assert "could not be queued: ConnectionError: queue is down" in record.error


@pytest.mark.django_db(transaction=True)
def test_the_db_worker_trains_a_queued_record(settings, fake_metrics) -> None:
    """The real path: the database backend queues the task, `db_worker --batch` runs it."""
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    record = services.start_training("ae", epochs=1, batch_size=512)  # autocommit: queued now
    record.refresh_from_db()
    queued_task = DBTaskResult.objects.get()
    assert record.status == ModelStatus.QUEUED and record.task_result_id == str(queued_task.id)

    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        call_command("db_worker", batch=True, reload=False, startup_delay=False, verbosity=0)
    finally:
        for sig, handler in handlers.items():  # the worker installs its own
            signal.signal(sig, handler)
    record.refresh_from_db()
    queued_task.refresh_from_db()
    assert record.status == ModelStatus.DONE, record.error
    assert queued_task.status == "SUCCESSFUL" and queued_task.return_value["status"] == "done"


def test_the_judge_is_asked_for_with_gradients_on(monkeypatch: pytest.MonkeyPatch) -> None:
    """The first call trains the digit judge; under no_grad that training would crash."""
    grad_enabled = []
    quick = services.judge

    def judge():
        grad_enabled.append(torch.is_grad_enabled())
        return quick()

    monkeypatch.setattr(services, "judge", judge)
    model, _ = recipes.train_fresh("ae_mnist5k", epochs=1, batch_size=512)
    figures = services.evaluate(model, ModelKind.AUTOENCODER, "mnist5k")
    assert grad_enabled == [True]
    assert figures["recon_bce_nats"] > 0 and 0 <= figures["copies"] <= 1
