"""Style studio pages: each view parses its input with a form, calls the service, renders."""

from __future__ import annotations

import logging
from typing import Any

from django.contrib import messages
from django.db import DatabaseError
from django.forms import Form
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from gallery_site.guards import allow

from . import services
from .forms import SampleStyleForm, StyleUploadForm, VariationForm
from .models import Style, StyleStatus

logger = logging.getLogger(__name__)

LATEST = 50  # styles listed on the studio page
SAVE_FAILED = "The style could not be saved just now; please try again."


def _index_page(
    request: HttpRequest,
    form: StyleUploadForm | None = None,
    sample_form: SampleStyleForm | None = None,
    status: int = 200,
) -> HttpResponse:
    context = {
        "form": form or StyleUploadForm(),
        "sample_form": sample_form or SampleStyleForm(),
        "samples": services.sample_previews(),
        "styles": Style.objects.prefetch_related("samples")[:LATEST],
        "latest": LATEST,
        "training_seconds": round(services.training_seconds()),
    }
    return render(request, "styles/index.html", context, status=status)


@allow("GET", "POST")
def index(request: HttpRequest) -> HttpResponse:
    """The upload form and the styles so far; a valid upload queues training and opens it."""
    if request.method != "POST":
        return _index_page(request)
    form = StyleUploadForm(request.POST, request.FILES)
    if not form.is_valid():
        return _index_page(request, form=form, status=400)
    try:
        style = services.create_style(form.cleaned_data["name"], form.cleaned_data["images"])
    except (DatabaseError, OSError):
        logger.exception("could not store a new style")
        form.add_error(None, SAVE_FAILED)
        return _index_page(request, form=form, status=503)
    messages.success(
        request, f"Uploaded {style.samples.count()} samples; training has been queued."
    )
    return redirect("styles:detail", style.pk)


@allow("POST")
def try_sample(request: HttpRequest) -> HttpResponse:
    """Start a new style from one of the shipped sample folders (for learners without images)."""
    form = SampleStyleForm(request.POST)
    if not form.is_valid():
        return _index_page(request, sample_form=form, status=400)
    try:
        style = services.create_sample_style(form.cleaned_data["sample"])
    except (DatabaseError, OSError, ValueError):
        logger.exception("could not start a sample style")
        form.add_error(None, SAVE_FAILED)
        return _index_page(request, sample_form=form, status=503)
    messages.success(request, f"Training has been queued for {style.name}.")
    return redirect("styles:detail", style.pk)


def _detail_context(style: Style) -> dict[str, Any]:
    context: dict[str, Any] = {"style": style, "samples": style.samples.all()}
    if style.shown_status == StyleStatus.DONE:
        try:
            context["showcase"] = services.showcase(style)
        except services.StyleUnavailable as error:
            context["unavailable"] = str(error)
    return context


def _style_or_404(style_id: int) -> Style:
    """The style, or a 404 that names the missing id (the 404 page shows the message)."""
    style = Style.objects.filter(pk=style_id).first()
    if style is None:
        raise Http404(f"There is no style #{style_id}.")
    return style


@allow("GET")
def detail(request: HttpRequest, style_id: int) -> HttpResponse:
    """A style's status while it trains; once trained, originals beside new variations."""
    style = _style_or_404(style_id)
    return render(request, "styles/detail.html", _detail_context(style))


@allow("GET", json=True)
def status(request: HttpRequest, style_id: int) -> JsonResponse:
    """The style's status as JSON, polled by the detail page while it trains."""
    style = Style.objects.filter(pk=style_id).first()
    if style is None:
        return JsonResponse({"error": f"There is no style #{style_id}."}, status=404)
    return JsonResponse(
        {
            "status": style.shown_status,
            "label": style.shown_status_label,
            "progress": round(style.progress, 4),
            "error": style.shown_error,
        }
    )


def _wants_json(request: HttpRequest) -> bool:
    return "application/json" in request.headers.get("Accept", "")


def _form_errors(form: Form) -> str:
    return " ".join(message for messages_ in form.errors.values() for message in messages_)


@allow("POST", json=_wants_json)
def save_variation(request: HttpRequest, style_id: int, index: int) -> HttpResponse:
    """Store one of the page's variations in the gallery as a STYLE artwork (once: saving it
    again answers the artwork already there)."""
    style = Style.objects.filter(pk=style_id).first()
    if style is None:
        message = f"There is no style #{style_id}."
        if _wants_json(request):
            return JsonResponse({"success": False, "error": message}, status=404)
        raise Http404(message)
    form = VariationForm({"index": index})
    error, code = None, 200
    if not form.is_valid():
        error, code = _form_errors(form), 400
    elif style.shown_status != StyleStatus.DONE:
        error, code = "This style has not finished training yet.", 409
    else:
        try:
            artwork, created = services.save_variation(style, form.cleaned_data["index"])
        except services.StyleUnavailable as exc:
            error, code = str(exc), 409
        except (DatabaseError, OSError):
            logger.exception("could not save variation %s of style %s", index, style_id)
            error, code = "The artwork could not be saved just now; please try again.", 503
    if error is not None:
        if _wants_json(request):
            return JsonResponse({"success": False, "error": error}, status=code)
        context = _detail_context(style) | {"save_error": error}
        return render(request, "styles/detail.html", context, status=code)
    gallery_url = reverse("gallery:index")
    if _wants_json(request):
        return JsonResponse(
            {
                "success": True,
                "artwork_id": artwork.pk,
                "title": artwork.title,
                "image_url": artwork.image_file.url,
                "gallery_url": gallery_url,
                "created": created,
            }
        )
    if created:
        messages.success(request, f'Saved "{artwork.title}" to the gallery.')
    else:
        messages.info(request, f'"{artwork.title}" is already in the gallery.')
    return redirect(f"{reverse('styles:detail', args=[style.pk])}#variation-{index + 1}")
