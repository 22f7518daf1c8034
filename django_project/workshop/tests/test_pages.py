"""/models/ and a record's page: cards with samples, loss history, figures and a create link."""

from __future__ import annotations

import json
import re

import pytest
from django.test import Client
from django.urls import reverse

from workshop.models import ModelRecord, ModelStatus

pytestmark = pytest.mark.django_db
INDEX = reverse("workshop:index")


def test_the_index_shows_the_form_and_every_record_newest_first(client: Client, done_record):
    queued = ModelRecord.objects.create(name="Waiting GAN", kind="gan", epochs=5, batch_size=64)
    html = client.get(INDEX).content.decode()
    assert 'id="train-form"' in html and "csrfmiddlewaretoken" in html
    assert html.index("Waiting GAN") < html.index("Tiny VAE")  # newest first
    card = html[html.index(f'id="model-{done_record.pk}"') :]
    grid = re.search(r'<img src="(data:image/png;base64,[^"]+)"[^>]*data-sample-grid', card)
    assert grid is not None
    history = re.search(rf'<script id="history-{done_record.pk}"[^>]*>(.*?)</script>', card, re.S)
    assert json.loads(history.group(1)) == done_record.training_history
    assert "250.0 nats" in card and "0.50× real" in card and "12.0× real" in card
    assert f"/create/?method=VAE&amp;model={done_record.pk}" in card
    assert done_record.fingerprint in card
    assert f'id="model-{queued.pk}"' in html and "Queued" in html


def test_an_empty_index_says_how_to_get_models(client: Client) -> None:
    html = client.get(INDEX).content.decode()
    assert 'id="no-models"' in html and "train_models" in html


def test_a_training_record_page_follows_the_job(client: Client) -> None:
    record = ModelRecord.objects.create(
        name="Live",
        kind="gan",
        epochs=4,
        status=ModelStatus.RUNNING,
        progress=0.5,
        training_history=[{"epoch": 1, "d_loss": 1.2, "g_loss": 0.8}],
    )
    html = client.get(reverse("workshop:detail", args=[record.pk])).content.decode()
    assert f'data-status-url="/models/{record.pk}/status/"' in html
    assert 'data-keys="d_loss,g_loss"' in html and 'aria-valuenow="50"' in html
    assert "workshop/workshop.js" in html


def test_a_failed_record_page_says_why(client: Client) -> None:
    record = ModelRecord.objects.create(
        name="Broken", kind="vae", status=ModelStatus.FAILED, error="Training failed: boom"
    )
    html = client.get(reverse("workshop:detail", args=[record.pk])).content.decode()
    assert "Training failed: boom" in html and "data-status-url" not in html


def test_a_changed_checkpoint_is_not_served(client: Client, done_record) -> None:
    done_record.checkpoint_path.write_bytes(b"retrained elsewhere")
    html = client.get(INDEX).content.decode()
    assert "has changed since it was recorded" in html
    assert "data-sample-grid" not in html


def test_the_admin_lists_records_with_thumbnails(admin_client: Client, done_record) -> None:
    html = admin_client.get("/admin/workshop/modelrecord/").content.decode()
    assert "Tiny VAE" in html and 'src="data:image/png;base64,' in html
    page = admin_client.get(f"/admin/workshop/modelrecord/{done_record.pk}/change/")
    assert page.status_code == 200 and done_record.fingerprint in page.content.decode()
    assert 'name="fingerprint"' not in page.content.decode()  # read-only
