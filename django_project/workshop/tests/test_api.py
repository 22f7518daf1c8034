"""POST /models/train/ (JSON and the page's form), the status and record JSON, the job limit."""

from __future__ import annotations

import json

import pytest
from django.test import Client
from django.urls import reverse

from workshop import services
from workshop.models import ModelRecord, ModelStatus

pytestmark = pytest.mark.django_db

TRAIN = reverse("workshop:train")
GOOD = {"kind": "gan", "epochs": 10, "batch_size": 64}


def post_json(client: Client, body, **extra):
    data = body if isinstance(body, (str, bytes)) else json.dumps(body)
    return client.post(TRAIN, data, content_type="application/json", **extra)


@pytest.fixture
def queued_tasks(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Record what would be queued instead of training (the API test is about the API)."""
    ids: list[int] = []
    monkeypatch.setattr(services, "enqueue_training", ids.append)
    return ids


def test_a_json_request_is_queued_and_answered_at_once_with_202(
    client: Client, queued_tasks, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        response = post_json(client, GOOD)
    assert response.status_code == 202, response.content
    data = response.json()
    record = ModelRecord.objects.get()
    assert data == {
        "success": True,
        "model_id": record.pk,
        "status_url": f"/models/{record.pk}/status/",
        "record_url": f"/models/{record.pk}/",
    }
    assert queued_tasks == [record.pk]  # queued once the row is committed
    assert (record.kind, record.epochs, record.batch_size, record.dataset) == (
        "gan",
        10,
        64,
        "mnist5k",
    )
    assert record.status == ModelStatus.QUEUED and record.source == "web"

    status = client.get(data["status_url"]).json()
    assert status == {
        "status": "queued",
        "progress": 0.0,
        "training_history": [],
        "metrics": {},
        "error": "",
    }


def test_the_whole_round_trip_trains_and_the_status_shows_the_history(
    client: Client, django_capture_on_commit_callbacks, fake_metrics
) -> None:
    body = {"kind": "vae", "epochs": 2, "batch_size": 512, "dataset": "digits", "name": "Mine"}
    with django_capture_on_commit_callbacks(execute=True):  # the immediate backend trains here
        response = post_json(client, body)
    status = client.get(response.json()["status_url"]).json()
    assert status["status"] == "done" and status["progress"] == 1.0
    assert [row["epoch"] for row in status["training_history"]] == [1, 2]
    assert status["metrics"] == fake_metrics
    record = client.get(
        response.json()["record_url"], headers={"Accept": "application/json"}
    ).json()
    assert record["name"] == "Mine" and record["dataset"] == "digits"
    assert record["training_history"] == status["training_history"]
    assert record["fingerprint"] and record["architecture"] == "VariationalAutoencoder"


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ("{not json", "not valid JSON"),
        (b"\xff\xfe", "not valid JSON"),
        ("[1, 2]", "must be a JSON object"),
        ('"gan"', "must be a JSON object"),
        ("null", "must be a JSON object"),
        ("12", "must be a JSON object"),
        ({**GOOD, "kind": "diffusion"}, "diffusion is not a kind of model"),
        ({**GOOD, "kind": ["gan"]}, "kind must be a number or a text"),
        ({**GOOD, "epochs": 0}, "at least 1 epoch"),
        ({**GOOD, "epochs": 10**9}, "at most 50 epochs"),
        ({**GOOD, "epochs": -3}, "at least 1 epoch"),
        ({**GOOD, "epochs": 2.5}, "whole number"),
        ({**GOOD, "epochs": True}, "whole number"),
        ({**GOOD, "epochs": "ten"}, "whole number"),
        ({**GOOD, "batch_size": 100}, "100 is not an offered batch size"),
        ({**GOOD, "batch_size": 10**6}, "not an offered batch size"),
        ({**GOOD, "dataset": "../etc"}, "not an offered dataset"),
        ({"kind": "gan", "batch_size": 64}, "how many epochs"),
        ({**GOOD, "learning_rate": 1}, "Unknown field(s): learning_rate"),
        ({**GOOD, "name": "a\x07b"}, "control characters"),
        ({**GOOD, "name": "a\x00b"}, "Null characters"),
        ({**GOOD, "name": "x" * 101}, "at most 100 characters"),
    ],
)
def test_bad_input_is_a_400_with_a_message_and_stores_nothing(
    client: Client, queued_tasks, body, says
) -> None:
    response = post_json(client, body)
    assert response.status_code == 400, response.content
    data = response.json()
    assert data["success"] is False and says in data["error"]
    assert ModelRecord.objects.count() == 0 and queued_tasks == []


def test_an_empty_json_body_is_a_400(client: Client) -> None:
    response = client.generic("POST", TRAIN, b"", CONTENT_TYPE="application/json")
    assert response.status_code == 400 and "not valid JSON" in response.json()["error"]


def test_a_missing_csrf_token_is_refused_and_the_header_is_accepted(queued_tasks) -> None:
    strict = Client(enforce_csrf_checks=True)
    response = post_json(strict, GOOD)
    assert response.status_code == 403 and b"CSRF" in response.content
    assert ModelRecord.objects.count() == 0
    strict.get(reverse("workshop:index"))  # sets the csrftoken cookie, as a first visit does
    token = strict.cookies["csrftoken"].value
    response = post_json(strict, GOOD, headers={"X-CSRFToken": token})
    assert response.status_code == 202 and ModelRecord.objects.count() == 1


def test_other_methods_are_refused_in_words(client: Client) -> None:
    response = client.get(TRAIN, headers={"Accept": "application/json"})
    assert response.status_code == 405 and response["Allow"] == "POST"
    assert "accepts POST" in response.json()["error"]
    response = client.post(reverse("workshop:status", args=[1]))
    assert response.status_code == 405


def test_the_job_limit_answers_429_and_stores_nothing(client: Client, settings, queued_tasks):
    settings.WORKSHOP_MAX_ACTIVE_JOBS = 2
    assert post_json(client, GOOD).status_code == 202
    assert post_json(client, GOOD).status_code == 202
    response = post_json(client, GOOD)
    assert response.status_code == 429
    assert "allows 2 at a time" in response.json()["error"]
    assert ModelRecord.objects.count() == 2
    # A finished job frees its place; a "running" job whose worker died does too.
    ModelRecord.objects.filter(pk=ModelRecord.objects.first().pk).update(status="done")
    assert post_json(client, GOOD).status_code == 202
    assert post_json(client, GOOD).status_code == 429


def test_a_stale_running_job_does_not_count(client: Client, settings, queued_tasks) -> None:
    settings.WORKSHOP_MAX_ACTIVE_JOBS = 1
    settings.WORKSHOP_STALE_SECONDS = 0
    ModelRecord.objects.create(name="lost", kind="vae", status=ModelStatus.RUNNING)
    assert post_json(client, GOOD).status_code == 202
    lost = ModelRecord.objects.get(name="lost")
    assert lost.shown_status == "failed" and "worker stopped" in lost.shown_error
    status = client.get(reverse("workshop:status", args=[lost.pk])).json()
    assert status["status"] == "failed" and "worker stopped" in status["error"]


def test_the_page_form_queues_and_opens_the_record(client: Client, queued_tasks) -> None:
    data = {"kind": "ae", "epochs": "3", "batch_size": "128", "dataset": "mnist5k"}
    response = client.post(TRAIN, data)
    record = ModelRecord.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/models/{record.pk}/"
    assert record.epochs == 3 and record.batch_size == 128


def test_the_page_form_shows_errors_and_the_job_limit(client: Client, settings, queued_tasks):
    response = client.post(TRAIN, {"kind": "ae", "epochs": "0", "batch_size": "64"})
    assert response.status_code == 400
    assert "Train for at least 1 epoch." in response.content.decode()
    settings.WORKSHOP_MAX_ACTIVE_JOBS = 1
    client.post(TRAIN, {"kind": "ae", "epochs": "1", "batch_size": "64"})
    response = client.post(TRAIN, {"kind": "ae", "epochs": "1", "batch_size": "64"})
    assert response.status_code == 429
    assert "allows 1 at a time" in response.content.decode()
    assert ModelRecord.objects.count() == 1


def test_unknown_records_are_404_with_a_message(client: Client) -> None:
    response = client.get(reverse("workshop:status", args=[999]))
    assert response.status_code == 404 and "no model record #999" in response.json()["error"]
    response = client.get(reverse("workshop:detail", args=[999]))
    assert response.status_code == 404 and b"no model record #999" in response.content
    response = client.get(
        reverse("workshop:detail", args=[999]), headers={"Accept": "application/json"}
    )
    assert response.status_code == 404 and response.json()["success"] is False
