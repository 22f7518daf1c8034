"""Hostile input for the workshop's endpoints: never a 5xx, always a reason, nothing half-stored.

The oracle for POST /models/train/ is the training form run on the same JSON object: a valid
request stores exactly one queued record (and queues it once), anything else is a 4xx whose
JSON says why and stores nothing.
"""

from __future__ import annotations

import json

import pytest
from django.test import Client
from django.urls import reverse
from hypothesis import event, given
from hypothesis import strategies as st

from gallery_site.testing.fuzzing import (
    assert_method_not_allowed,
    assert_refused,
    describe,
    fuzz_settings,
    hostile_text,
    snapshot,
)
from workshop import services
from workshop.forms import FIELDS, TrainModelForm
from workshop.models import ModelRecord

pytestmark = pytest.mark.django_db

TRAIN = reverse("workshop:train")
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=False),
    hostile_text,
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)
good_values = {
    "kind": st.sampled_from(list(services.WEB_RECIPES)),
    "epochs": st.integers(min_value=services.EPOCHS_MIN, max_value=services.EPOCHS_MAX),
    "batch_size": st.sampled_from(services.BATCH_SIZES),
    "dataset": st.sampled_from(list(services.DATASETS)),
}


@st.composite
def bodies(draw: st.DrawFn) -> object:
    """A JSON document: mostly a training request, often one field gone wrong, sometimes junk."""
    shape = draw(st.sampled_from(["good", "near", "object", "junk"]))
    event(f"body: {shape}")
    if shape == "junk":
        return draw(json_values)
    if shape == "object":
        keys = st.sampled_from([*FIELDS, "lr", ""]) | st.text(max_size=6)
        return draw(st.dictionaries(keys, json_values, max_size=5))
    body = draw(st.fixed_dictionaries(good_values))
    if shape == "near":
        key = draw(st.sampled_from([*good_values, "name"]))
        if draw(st.booleans()):
            body.pop(key, None)
        else:
            body[key] = draw(json_values)
    return body


def expected_valid(body: object) -> bool:
    """What the form says about the same object (the endpoint must agree)."""
    if not isinstance(body, dict) or any(key not in FIELDS for key in body):
        return False
    if any(isinstance(value, (dict, list)) for value in body.values()):
        return False
    return TrainModelForm(body).is_valid()


@pytest.fixture
def client() -> Client:
    """A client that turns a view's exception into the 500 a visitor would get, not a raise."""
    return Client(raise_request_exception=False)


@fuzz_settings(max_examples=60)
@given(body=bodies())
def test_train_answers_202_or_a_4xx_that_stores_nothing(
    client: Client, settings, monkeypatch: pytest.MonkeyPatch, body: object
) -> None:
    settings.WORKSHOP_MAX_ACTIVE_JOBS = 10**6
    monkeypatch.setattr(services, "enqueue_training", lambda record_id: None)
    before, rows = snapshot(), ModelRecord.objects.count()
    response = client.post(TRAIN, json.dumps(body), content_type="application/json")
    assert response.status_code < 500, describe(response)
    if expected_valid(body):
        assert response.status_code == 202, describe(response)
        assert ModelRecord.objects.count() == rows + 1
        record = ModelRecord.objects.get(pk=response.json()["model_id"])
        assert record.status == "queued" and 1 <= record.epochs <= services.EPOCHS_MAX
    else:
        assert_refused(response, before, json=True, status=400)
        assert ModelRecord.objects.count() == rows


@fuzz_settings(max_examples=40)
@given(raw=st.binary(max_size=200) | hostile_text.map(str.encode))
def test_train_never_fails_on_raw_bytes(client: Client, raw: bytes) -> None:
    before = snapshot()
    response = client.generic("POST", TRAIN, raw, CONTENT_TYPE="application/json")
    assert response.status_code < 500, describe(response)
    if response.status_code != 202:
        assert_refused(response, before, json=True)


@fuzz_settings(max_examples=30)
@given(record_id=st.integers(min_value=0, max_value=2**63 - 1))
def test_status_and_record_pages_of_any_id(client: Client, record_id: int) -> None:
    for url in (reverse("workshop:status", args=[record_id]), f"/models/{record_id}/"):
        response = client.get(url, headers={"Accept": "application/json"})
        assert response.status_code == 404, describe(response)
        assert "no model record" in response.json()["error"]


def test_wrong_methods_are_refused_in_words(client: Client) -> None:
    assert_method_not_allowed(client, TRAIN, ["POST"], json=False)  # a page or a script
    assert_method_not_allowed(
        client, reverse("workshop:status", args=[1]), ["GET", "HEAD"], json=True
    )
