"""The training task: through the immediate backend, the real db worker, and when it fails."""

from __future__ import annotations

import signal

import pytest
from django.core.management import call_command
from django.db import DatabaseError
from django_tasks_db.models import DBTaskResult

from course_lib import styles as course_styles
from styles import services
from styles.models import Style, StyleStatus
from styles.tasks import train_style_task

from .conftest import image_bytes


def new_style(n: int = 5) -> Style:
    """A committed style with ``n`` samples, queued for training."""
    images = [services.check_image(image_bytes(seed=i), f"s{i}.png") for i in range(n)]
    return services.create_style("Task test", images)


@pytest.mark.django_db
def test_the_task_trains_with_course_lib_and_stores_a_loadable_style(
    settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []
    real_train = course_styles.train_style

    def spy(images, **kwargs):
        calls.append((tuple(images.shape), kwargs))
        return real_train(images, **kwargs)

    monkeypatch.setattr(course_styles, "train_style", spy)
    settings.STYLE_TRAINING_SECONDS = 0.2
    style = new_style()
    result = train_style_task.enqueue(style.pk)
    style.refresh_from_db()
    assert result.return_value["status"] == "done"
    assert style.status == StyleStatus.DONE and style.progress == 1.0 and style.error == ""
    assert style.seconds is not None and style.seconds > 0
    ((shape, kwargs),) = calls
    assert shape == (5, 3, 32, 32)
    assert kwargs["time_budget"] == 0.2 and kwargs["progress"] is False
    loaded = course_styles.load_style(style.style_file.path)
    assert loaded.report == style.report
    assert loaded.originals.shape == (5, 3, 32, 32)


@pytest.mark.django_db
def test_progress_is_written_at_most_once_per_interval() -> None:
    style = Style.objects.create(name="p", status=StyleStatus.RUNNING)
    writer = services._ProgressWriter(style.pk, interval=3600)
    writer({"progress": 0.5})
    style.refresh_from_db()
    assert style.progress == 0.0  # too soon after the start
    writer = services._ProgressWriter(style.pk, interval=0)
    writer({"progress": 0.25})
    style.refresh_from_db()
    assert style.progress == 0.25


@pytest.mark.django_db
def test_a_style_that_is_not_queued_is_left_alone() -> None:
    style = Style.objects.create(name="done already", status=StyleStatus.DONE, progress=1.0)
    assert services.run_training(style.pk) == {"style_id": style.pk, "status": "skipped"}
    assert services.run_training(12345)["status"] == "skipped"
    style.refresh_from_db()
    assert style.status == StyleStatus.DONE


@pytest.mark.django_db
def test_a_stopped_worker_marks_the_style_failed(monkeypatch: pytest.MonkeyPatch) -> None:
    def stopped(*args, **kwargs):
        raise SystemExit(1)  # what db_worker's second Ctrl-C raises inside a task

    monkeypatch.setattr(course_styles, "train_style", stopped)
    style = new_style()
    with pytest.raises(SystemExit):
        services.run_training(style.pk)
    style.refresh_from_db()
    assert style.status == StyleStatus.FAILED
    assert style.error.startswith("The worker was stopped while training")


@pytest.mark.django_db
def test_unreadable_samples_fail_the_style_with_the_reason() -> None:
    style = new_style()
    sample = style.samples.first()
    with sample.image.open("wb") as handle:
        handle.write(b"no longer an image")
    with pytest.raises(ValueError):
        services.run_training(style.pk)
    style.refresh_from_db()
    assert style.status == StyleStatus.FAILED
    assert "not an image Pillow can read" in style.error


@pytest.mark.django_db
def test_the_style_file_is_removed_if_the_row_cannot_be_updated(
    monkeypatch: pytest.MonkeyPatch, media_files
) -> None:
    style = new_style()
    samples = set(media_files())

    class BrokenAtomic:
        def __enter__(self):
            raise DatabaseError("database is locked")

        def __exit__(self, *exc):
            return False

    monkeypatch.setattr(services.transaction, "atomic", BrokenAtomic)
    with pytest.raises(DatabaseError):
        services.run_training(style.pk)
    assert set(media_files()) == samples  # no orphan .pt file
    style.refresh_from_db()
    assert style.status == StyleStatus.FAILED
    assert "database is locked" in style.error


@pytest.mark.django_db(transaction=True)
def test_the_db_worker_trains_a_queued_style(settings) -> None:
    """The real path: the database backend queues the task, `db_worker --batch` runs it."""
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    style = new_style()  # autocommit here, so on_commit queues the task at once
    style.refresh_from_db()
    queued = DBTaskResult.objects.get()
    assert style.status == StyleStatus.QUEUED and style.task_result_id == str(queued.id)

    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        call_command("db_worker", batch=True, reload=False, startup_delay=False, verbosity=0)
    finally:
        for sig, handler in handlers.items():  # the worker installs its own
            signal.signal(sig, handler)

    style.refresh_from_db()
    queued.refresh_from_db()
    assert style.status == StyleStatus.DONE, style.error
    assert style.style_file and style.report["epochs"] >= 1
    assert queued.status == "SUCCESSFUL"
    assert queued.return_value["status"] == "done"
