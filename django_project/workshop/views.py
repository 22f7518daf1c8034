"""Model workshop pages: the records as cards, the training form and API, a record's page.

Each view parses its input with :class:`TrainModelForm`, calls the service, and renders.
``POST /models/train/`` takes the lesson's JSON body ``{kind, epochs, batch_size}`` (or the
page's form) and answers at once: the training itself runs in the background worker.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from django.db import DatabaseError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from gallery_site.guards import allow

from . import services
from .forms import FIELDS, TrainModelForm
from .models import ModelRecord, ModelStatus

logger = logging.getLogger(__name__)

LATEST = 50  # records shown as cards on /models/
SAVE_FAILED = "The training could not be queued just now; please try again."


def _sends_json(request: HttpRequest) -> bool:
    return request.content_type == "application/json"


def _wants_json(request: HttpRequest) -> bool:
    return "application/json" in request.headers.get("Accept", "")


def _card(record: ModelRecord) -> dict[str, Any]:
    """A record and what its card shows: a grid of samples, or why there is none."""
    card: dict[str, Any] = {
        "record": record,
        "grid": None,
        "unavailable": "",
        "metrics": services.shown_metrics(record.metrics),
        "loss_keys": list(services.LOSS_KEYS.get(record.kind, ("loss",))),
        "history_id": f"history-{record.pk}",
    }
    if record.shown_status == ModelStatus.DONE:
        try:
            card["grid"] = services.sample_grid(record)
        except services.RecordUnavailable as error:
            card["unavailable"] = str(error)
    return card


def _index_page(
    request: HttpRequest, form: TrainModelForm | None = None, status: int = 200
) -> HttpResponse:
    records = list(ModelRecord.objects.all()[:LATEST])
    context = {
        "form": form or TrainModelForm(),
        "cards": [_card(record) for record in records],
        "latest": LATEST,
        "max_jobs": services.max_active_jobs(),
        "active_jobs": ModelRecord.objects.active().count(),
    }
    return render(request, "workshop/index.html", context, status=status)


@allow("GET")
def index(request: HttpRequest) -> HttpResponse:
    """Every record as a card, newest first, and the form that starts a training."""
    return _index_page(request)


def _json_form_data(request: HttpRequest) -> tuple[dict[str, Any] | None, str]:
    """The JSON body as form data, or None and why it cannot be used."""
    try:
        data = json.loads(request.body or b"")
    except (ValueError, UnicodeDecodeError) as error:
        return None, f"The body is not valid JSON ({error})."
    if not isinstance(data, dict):
        return None, (
            'The body must be a JSON object such as {"kind": "gan", "epochs": 10, '
            f'"batch_size": 64}}, not a {type(data).__name__}.'
        )
    unknown = sorted(str(key) for key in data if key not in FIELDS)
    if unknown:
        return None, f"Unknown field(s): {', '.join(unknown)}; send only {', '.join(FIELDS)}."
    for key, value in data.items():
        if isinstance(value, (dict, list)):
            return None, f"{key} must be a number or a text, not a {type(value).__name__}."
    return data, ""


def _form_errors(form: TrainModelForm) -> dict[str, list[str]]:
    return {field: list(messages) for field, messages in form.errors.items()}


@allow("POST", json=lambda request: _sends_json(request) or _wants_json(request))
def train(request: HttpRequest) -> HttpResponse:
    """Queue a training: JSON in, 202 ``{success, model_id, status_url}`` out; or the page's
    form, which then opens the record's page. Over the job limit: 429 / a form error."""
    as_json = _sends_json(request) or _wants_json(request)
    if _sends_json(request):
        data, problem = _json_form_data(request)
        if data is None:
            return JsonResponse({"success": False, "error": problem}, status=400)
        form = TrainModelForm(data)
    else:
        form = TrainModelForm(request.POST)
    if not form.is_valid():
        if as_json:
            errors = _form_errors(form)
            message = " ".join(m for messages in errors.values() for m in messages)
            return JsonResponse({"success": False, "error": message, "errors": errors}, status=400)
        return _index_page(request, form=form, status=400)
    try:
        record = services.start_training(**form.cleaned_data)
    except services.QueueFull as error:
        if as_json:
            return JsonResponse({"success": False, "error": str(error)}, status=429)
        form.add_error(None, str(error))
        return _index_page(request, form=form, status=429)
    except DatabaseError:
        logger.exception("could not queue a training")
        if as_json:
            return JsonResponse({"success": False, "error": SAVE_FAILED}, status=503)
        form.add_error(None, SAVE_FAILED)
        return _index_page(request, form=form, status=503)
    if not as_json:
        return redirect("workshop:detail", record.pk)
    return JsonResponse(
        {
            "success": True,
            "model_id": record.pk,
            "status_url": reverse("workshop:status", args=[record.pk]),
            "record_url": reverse("workshop:detail", args=[record.pk]),
        },
        status=202,
    )


def _record_or_404(request: HttpRequest, record_id: int) -> ModelRecord | JsonResponse:
    record = ModelRecord.objects.filter(pk=record_id).first()
    if record is not None:
        return record
    message = f"There is no model record #{record_id}."
    if _wants_json(request):
        return JsonResponse({"success": False, "error": message}, status=404)
    raise Http404(message)


@allow("GET", json=_wants_json)
def detail(request: HttpRequest, record_id: int) -> HttpResponse:
    """A record's page: the live progress and loss history while it trains, then its card.
    With ``Accept: application/json``, the record and its training history as JSON."""
    record = _record_or_404(request, record_id)
    if isinstance(record, JsonResponse):
        return record
    if _wants_json(request):
        return JsonResponse(services.record_payload(record))
    return render(request, "workshop/detail.html", {"card": _card(record), "record": record})


@allow("GET", json=True)
def status(request: HttpRequest, record_id: int) -> JsonResponse:
    """``{status, progress, training_history, metrics}``, polled by the record's page."""
    record = ModelRecord.objects.filter(pk=record_id).first()
    if record is None:
        return JsonResponse(
            {"success": False, "error": f"There is no model record #{record_id}."}, status=404
        )
    return JsonResponse(services.status_payload(record))
