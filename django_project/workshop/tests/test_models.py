"""ModelRecord: one default per kind, safe checkpoint paths, stale jobs, deleting a record."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction

from workshop.models import ModelRecord, ModelStatus

pytestmark = pytest.mark.django_db


def test_choosing_a_default_takes_the_flag_from_the_previous_one() -> None:
    first = ModelRecord.objects.create(name="a", kind="gan", is_default=True)
    second = ModelRecord.objects.create(name="b", kind="gan", is_default=True)
    other_kind = ModelRecord.objects.create(name="c", kind="vae", is_default=True)
    first.refresh_from_db()
    assert not first.is_default and second.is_default and other_kind.is_default


def test_the_database_refuses_two_defaults_of_one_kind() -> None:
    ModelRecord.objects.create(name="a", kind="gan", is_default=True)
    other = ModelRecord.objects.create(name="b", kind="gan")
    with pytest.raises(IntegrityError), transaction.atomic():
        ModelRecord.objects.filter(pk=other.pk).update(is_default=True)


def test_a_checkpoint_has_one_record_and_empty_ones_do_not_clash() -> None:
    ModelRecord.objects.create(name="a", kind="vae")
    ModelRecord.objects.create(name="b", kind="vae")  # no checkpoint yet: allowed twice
    ModelRecord.objects.create(name="c", kind="vae", checkpoint="vae_mnist5k.pt")
    with pytest.raises(IntegrityError), transaction.atomic():
        ModelRecord.objects.create(name="d", kind="vae", checkpoint="vae_mnist5k.pt")


@pytest.mark.parametrize("stored", ["../secrets.pt", "/etc/passwd", "web/../../x.pt", ""])
def test_a_stored_path_never_leaves_the_checkpoint_folder(stored: str) -> None:
    assert ModelRecord(name="x", kind="vae", checkpoint=stored).checkpoint_path is None


def test_a_path_inside_the_folder_resolves_under_it(data_dir) -> None:
    record = ModelRecord(name="x", kind="vae", checkpoint="web/record-1.pt")
    assert record.checkpoint_path == data_dir / "checkpoints" / "web" / "record-1.pt"


def test_a_silent_running_record_is_shown_failed(settings) -> None:
    record = ModelRecord.objects.create(name="x", kind="vae", status=ModelStatus.RUNNING)
    assert record.shown_status == "running" and record.is_active
    assert list(ModelRecord.objects.active()) == [record]
    settings.WORKSHOP_STALE_SECONDS = 0
    assert record.shown_status == "failed" and not record.is_active
    assert "no training progress" in record.shown_error
    assert list(ModelRecord.objects.active()) == []


def test_deleting_a_web_record_deletes_its_checkpoint(
    done_record, checkpoint_files, django_capture_on_commit_callbacks
) -> None:
    assert checkpoint_files() == ["web/record-test.pt"]
    with django_capture_on_commit_callbacks(execute=True):
        done_record.delete()
    assert checkpoint_files() == []
