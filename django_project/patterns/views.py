"""Pattern studio pages: the form with a live preview, the stored-pattern gallery, previews."""

from __future__ import annotations

import logging

from django.contrib import messages
from django.core.paginator import Paginator
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render

from gallery_site.guards import allow

from . import services
from .forms import ImageGeneratorForm, PreviewForm
from .models import GeneratedImage

logger = logging.getLogger(__name__)

PAGE_SIZE = 9


@allow("GET", "POST")
def index(request: HttpRequest) -> HttpResponse:
    """Show the recipe form; a valid POST stores the pattern and opens the pattern gallery."""
    status = 200
    if request.method == "POST":
        form = ImageGeneratorForm(request.POST)
        if form.is_valid():
            try:
                record = services.store_pattern(form)
            except (DatabaseError, OSError):
                logger.exception("could not store a generated pattern")
                form.add_error(None, "The pattern could not be saved just now; please try again.")
                status = 503
            else:
                messages.success(request, f"Saved your {record.get_pattern_type_display()}.")
                return redirect("patterns:gallery")
        else:
            status = 400
    else:
        form = ImageGeneratorForm()
    context = {"form": form, "preview_size": services.PREVIEW_SIZE}
    return render(request, "patterns/index.html", context, status=status)


@allow("GET")
def gallery(request: HttpRequest) -> HttpResponse:
    """List stored patterns, newest first, nine per page (bad page numbers fall back safely)."""
    paginator = Paginator(GeneratedImage.objects.all(), PAGE_SIZE)
    page_obj = paginator.get_page(request.GET.get("page"))
    page_range = paginator.get_elided_page_range(page_obj.number, on_each_side=2, on_ends=1)
    context = {"page_obj": page_obj, "page_range": page_range}
    return render(request, "patterns/gallery.html", context)


@allow("POST", json=True)
def preview(request: HttpRequest) -> JsonResponse:
    """Return a 150x150 PNG preview as a data URL, or 400 with the field errors."""
    form = PreviewForm(request.POST)
    if not form.is_valid():
        errors = {field: [str(message) for message in msgs] for field, msgs in form.errors.items()}
        return JsonResponse({"success": False, "errors": errors}, status=400)
    data = form.cleaned_data
    image_data = services.preview_data_url(
        data["pattern_type"], data["primary_color"], data["secondary_color"], seed=data["seed"]
    )
    return JsonResponse({"success": True, "image_data": image_data})
